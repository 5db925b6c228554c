// Package director keeps ldird's table: it runs the health checks of every
// real server (ldird/check), turns configuration plus health into the
// desired table (Desired), compares it with what the dataplane holds and
// applies only the differences (Diff). It never flushes: services that are
// not in the configuration are left alone, on start, reload and stop.
//
// Behaviour follows ldirectord 4.12: quiescent (weight 0) or removal of a
// failed real, readdquiescent, fallback only while every real of a virtual
// is down, fallbackcommand "start"/"stop" on the transitions, maintenancedir,
// monitorfile, cleanstop, and email alerts (emailalert, emailalertfreq,
// emailalertstatus, emailalertfrom, smtp) with ldirectord's subjects and
// bodies. Differences on purpose: checks run concurrently (check.Runner);
// on start a real already in the table with weight > 0 is taken as up and
// nothing is published until the first check round has completed, so a
// restart does not flap the table (ldirectord adds every real and takes
// the unknown ones down before checking); table changes are applied within
// milliseconds of a check result (no ipvsadm process per change).
//
// For operations, an Observer (Options.Observer; ldird/metrics) is told
// every check result and table operation, Snapshot reads health, weights
// and the table at one moment, and LoopStall says whether the reconcile
// loop is wedged (the systemd watchdog feed).
package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

// Options configure a Director.
type Options struct {
	Dataplane dataplane.Dataplane
	Logger    *slog.Logger
	// NewChecker builds a real's checker; nil means check.New.
	NewChecker func(check.Spec) (check.Checker, error)
	// KernelPorts: the dataplane is IPVS (see DesiredOptions.KernelPorts).
	KernelPorts bool
	// SMTPPort is the port of the smtp= server (default 25; tests use a
	// loopback listener elsewhere).
	SMTPPort int
	// Hostname appears in alerts; default os.Hostname.
	Hostname string
	// Sendmail is the program that sends alerts when no smtp= server is
	// set (ldirectord's Mail::Send); default sendmail from PATH or
	// /usr/sbin/sendmail.
	Sendmail string
	// Shell runs fallbackcommand; default /bin/sh.
	Shell string
	// CommandTimeout bounds a fallbackcommand; default 5 minutes.
	CommandTimeout time.Duration
	// TuneReal, when set, may adjust each real's check schedule (tests use
	// it for sub-second intervals; ldirectord.cf only has whole seconds).
	TuneReal func(*check.RealConfig)
	// LookupAddr is the reverse lookup for maintenancedir names; default
	// net.DefaultResolver.LookupAddr.
	LookupAddr func(ctx context.Context, addr string) ([]string, error)
	// Conns, when set, gives the active and inactive connection counts of
	// a server for the status table (key: Service.Key()+" "+Dest.Key()).
	Conns func() map[string][2]int64
	// Header is the first line of the status table; default ipvsadm's.
	Header string
	// Observer, when set, is told every check result and table operation
	// (metrics).
	Observer Observer
}

// Director owns the check runner, the dataplane handle and the running
// configuration.
type Director struct {
	o      Options
	log    *slog.Logger
	dp     dataplane.Dataplane
	runner *check.Runner
	maint  *maintState
	mailer *mailer
	cmds   *cmdQueue

	poke     chan struct{}
	stopCh   chan struct{}
	loopDone chan struct{}
	started  bool

	applyMu sync.Mutex // one reconcile, reload or stop at a time

	// busySince is when the loop's current iteration began (UnixNano), 0
	// while it waits (LoopStall).
	busySince atomic.Int64
	// checkVirt maps check keys to the virtuals checking them (Observer).
	checkVirt atomic.Pointer[map[string][]VirtualID]

	mu      sync.Mutex // guards what follows (read from check callbacks and Status)
	cfg     *config.Config
	checks  map[string]checkEntry
	seeded  map[string]bool
	retired map[string]dataplane.Service
	fbcmd   map[string]string // virtual key -> last fallbackcommand status
	status  config.AlertStatus
	alerts  map[string]*alertTrack
	applied uint64 // reconciles that changed something
}

type alertTrack struct {
	v       *config.Virtual
	rserver string
	last    time.Time
}

// checkEntry is one scheduled check and what identifies its configuration.
type checkEntry struct {
	rc check.RealConfig
	fp fingerprint
}

type fingerprint struct {
	spec     check.Spec
	target   check.Target
	interval time.Duration
	failures int
	maintDir string
}

// New returns a Director; call Start.
func New(o Options) *Director {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.NewChecker == nil {
		o.NewChecker = check.New
	}
	if o.SMTPPort == 0 {
		o.SMTPPort = 25
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	if o.Sendmail == "" {
		if p, err := exec.LookPath("sendmail"); err == nil {
			o.Sendmail = p
		} else if _, err := os.Stat("/usr/sbin/sendmail"); err == nil {
			o.Sendmail = "/usr/sbin/sendmail"
		}
	}
	if o.Shell == "" {
		o.Shell = "/bin/sh"
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	if o.LookupAddr == nil {
		o.LookupAddr = net.DefaultResolver.LookupAddr
	}
	if o.Header == "" {
		o.Header = "IP Virtual Server version 1.2.1 (size=4096)"
	}
	d := &Director{
		o: o, log: o.Logger, dp: o.Dataplane,
		poke: make(chan struct{}, 1), stopCh: make(chan struct{}), loopDone: make(chan struct{}),
		checks: map[string]checkEntry{}, seeded: map[string]bool{}, retired: map[string]dataplane.Service{},
		fbcmd: map[string]string{}, alerts: map[string]*alertTrack{}, status: config.AlertStarting,
	}
	d.maint = &maintState{on: map[string]bool{}, changed: d.Poke, lookup: o.LookupAddr}
	d.runner = check.NewRunner(check.RunnerOptions{Notify: d.onEvent, EveryResult: true, Logger: o.Logger})
	user := "root"
	if u, err := userCurrent(); err == nil {
		user = u
	}
	d.mailer = newMailer(o.Logger, o.SMTPPort, o.Hostname, user+"@"+o.Hostname, o.Sendmail, d.emailFrom)
	d.cmds = newCmdQueue(o.Logger, o.Shell, o.CommandTimeout)
	return d
}

func userCurrent() (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

func (d *Director) emailFrom() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cfg == nil {
		return ""
	}
	return d.cfg.Global.EmailAlertFrom
}

// Poke asks for a reconcile (coalesced: many pokes during one reconcile
// cause one more).
func (d *Director) Poke() {
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

// Validate builds every check of cfg once, so problems the checks refuse
// (an unknown service, a receive pattern Go cannot compile, ...) are
// reported with file:line before anything runs.
func Validate(cfg *config.Config) error {
	var errs config.Errors
	seen := map[string]bool{}
	for _, v := range cfg.Virtuals {
		for _, r := range v.Reals {
			k := v.CheckKey(r)
			if seen[k] {
				continue
			}
			seen[k] = true
			if _, err := check.New(SpecFor(v, r)); err != nil {
				errs = append(errs, &config.Error{File: cfg.Path, Line: r.Line, Msg: err.Error(), Err: err})
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// SpecFor is the check of real r of virtual v.
func SpecFor(v *config.Virtual, r *config.Real) check.Spec {
	c := v.Check
	return check.Spec{
		Type: string(c.Type), Combined: c.Connects, Service: c.Service, Protocol: v.Protocol,
		Request: r.Request, Receive: r.Receive, VirtualHost: c.VirtualHost, HTTPMethod: c.HTTPMethod,
		Login: c.Login, Passwd: c.Passwd, Database: c.Database, Secret: c.Secret,
		CheckPort: int(c.CheckPort), CheckCount: c.CheckCount, CheckCommand: c.CheckCommand,
		Virtual:        check.Target{IP: v.Addr.Addr(), Port: v.Addr.Port(), Protocol: v.Protocol, FwMark: v.FWMark},
		ConnectTimeout: c.CheckTimeout, NegotiateTimeout: c.NegotiateTimeout,
	}
}

// buildChecks makes the check of every (virtual, real), one per
// config.CheckKey as ldirectord checks a real once per round however many
// virtuals list it. A real present in actual with weight > 0 starts Up.
func (d *Director) buildChecks(cfg *config.Config, actual map[string]ServiceState) (map[string]checkEntry, error) {
	out := map[string]checkEntry{}
	var errs []error
	for _, v := range cfg.Virtuals {
		svc := ServiceFor(v)
		for _, r := range v.Reals {
			k := v.CheckKey(r)
			inTable := false
			if as, ok := actual[svc.Key()]; ok {
				want := DestFor(v, r, 0, d.desiredOpts(cfg)).Key()
				for _, ad := range as.Dests {
					if ad.Key() == want && ad.Weight > 0 {
						inTable = true
					}
				}
			}
			if e, ok := out[k]; ok {
				if inTable && e.rc.Initial != check.Up {
					e.rc.Initial = check.Up
					out[k] = e
				}
				continue
			}
			spec := SpecFor(v, r)
			c, err := d.o.NewChecker(spec)
			if err != nil {
				errs = append(errs, &config.Error{File: cfg.Path, Line: r.Line, Msg: err.Error(), Err: err})
				continue
			}
			fp := fingerprint{spec: spec, target: check.Target{IP: r.Addr, Port: r.Port, Protocol: v.Protocol},
				interval: v.Check.CheckInterval, failures: v.Check.FailureCount, maintDir: cfg.Global.MaintenanceDir}
			if fp.maintDir != "" {
				c = &maintChecker{inner: c, dir: fp.maintDir, port: r.Port, key: k, m: d.maint}
			}
			rc := check.RealConfig{Key: k, Target: fp.target, Checker: c, Interval: fp.interval, FailureCount: fp.failures}
			if inTable {
				rc.Initial = check.Up
			}
			if d.o.TuneReal != nil {
				d.o.TuneReal(&rc)
			}
			out[k] = checkEntry{rc: rc, fp: fp}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (d *Director) desiredOpts(cfg *config.Config) DesiredOptions {
	return DesiredOptions{KernelPorts: d.o.KernelPorts, ReaddQuiescent: cfg.Global.ReaddQuiescent}
}

// StartupBound is how long Start waits for the first check round: the
// longest deadline any check has, plus a margin. Checks enforce their own
// deadlines, so this only guards against a checker that ignores them.
func StartupBound(cfg *config.Config) time.Duration {
	longest := time.Duration(0)
	for _, v := range cfg.Virtuals {
		t := v.Check.CheckTimeout
		if v.Check.Type == config.CheckNegotiate || v.Check.Type == config.CheckCombined {
			t = max(t, v.Check.NegotiateTimeout)
		}
		if v.Check.Type == config.CheckPing {
			t *= time.Duration(max(1, v.Check.CheckCount))
		}
		longest = max(longest, t)
	}
	return longest + time.Second
}

// Start takes over the table for cfg: it reads the dataplane, schedules
// every check (reals already in the table with weight > 0 start up), waits
// for the first round, publishes the result and then follows the checks.
func (d *Director) Start(ctx context.Context, cfg *config.Config) error {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	if d.started {
		return errors.New("director already started")
	}
	actual, err := d.readActual(keysOf(cfg, nil))
	if err != nil {
		return fmt.Errorf("read the table: %w", err)
	}
	entries, err := d.buildChecks(cfg, actual)
	if err != nil {
		return fmt.Errorf("checks: %w", err)
	}
	d.mu.Lock()
	d.cfg, d.checks, d.status = cfg, entries, config.AlertStarting
	d.mu.Unlock()
	cv := checkVirtuals(cfg)
	d.checkVirt.Store(&cv)
	initialUp := 0
	for _, e := range entries {
		if e.rc.Initial == check.Up {
			initialUp++
		}
		if err := d.runner.Add(e.rc); err != nil {
			return fmt.Errorf("schedule check %s: %w", e.rc.Key, err)
		}
	}
	start := time.Now()
	bound := StartupBound(cfg)
	wctx, cancel := context.WithTimeout(ctx, bound)
	err = d.runner.WaitStartup(wctx)
	cancel()
	if err != nil {
		d.log.Warn("first check round incomplete; publishing what is known", "bound", bound, "err", err)
	}
	d.log.Info("first check round done", "checks", len(entries), "initially_up_from_table", initialUp,
		"elapsed", time.Since(start))
	d.reconcile()
	d.mu.Lock()
	d.status = config.AlertRunning
	d.mu.Unlock()
	d.started = true
	go d.loop()
	return nil
}

// Reload switches to a new configuration without flushing: checks whose
// settings did not change keep running with their state, changed ones keep
// their state (check.Runner.Replace), virtuals no longer configured are
// deleted from the table, new ones added. On error (a check that cannot be
// built) nothing changes.
func (d *Director) Reload(cfg *config.Config) error {
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	d.mu.Lock()
	old := d.cfg
	oldChecks := d.checks
	d.mu.Unlock()
	actual, err := d.readActual(keysOf(cfg, old))
	if err != nil {
		return fmt.Errorf("read the table: %w", err)
	}
	entries, err := d.buildChecks(cfg, actual)
	if err != nil {
		return fmt.Errorf("checks: %w", err)
	}
	d.setStatus(config.AlertReloading)
	defer d.setStatus(config.AlertRunning)
	// Results of checks that keep running are counted for the new set of
	// virtuals from now on.
	cv := checkVirtuals(cfg)
	d.checkVirt.Store(&cv)
	added, replaced, removed := 0, 0, 0
	// Runner calls wait for check goroutines, which may be inside onEvent:
	// never hold d.mu here.
	for k := range oldChecks {
		if _, ok := entries[k]; !ok {
			d.runner.Remove(k)
			d.maint.set(k, false)
			removed++
		}
	}
	for k, e := range entries {
		o, ok := oldChecks[k]
		switch {
		case !ok:
			if err := d.runner.Add(e.rc); err != nil {
				d.log.Error("schedule check", "key", k, "err", err)
			}
			added++
		case o.fp != e.fp:
			if err := d.runner.Replace(e.rc); err != nil {
				d.log.Error("reschedule check", "key", k, "err", err)
			}
			replaced++
		default:
			entries[k] = o // keep the running checker
		}
	}
	d.mu.Lock()
	newKeys := map[string]bool{}
	newIDs := map[VirtualID]bool{}
	for _, v := range cfg.Virtuals {
		newKeys[ServiceFor(v).Key()] = true
		newIDs[IDOf(v)] = true
	}
	var gone []VirtualID
	for _, v := range old.Virtuals {
		s := ServiceFor(v)
		if !newKeys[s.Key()] {
			d.retired[s.Key()] = s
			delete(d.fbcmd, v.Key())
		}
		if id := IDOf(v); !newIDs[id] {
			gone = append(gone, id)
		}
	}
	for k := range newKeys {
		delete(d.retired, k)
	}
	d.cfg, d.checks = cfg, entries
	d.mu.Unlock()
	if d.o.Observer != nil {
		for _, id := range gone {
			d.o.Observer.VirtualRemoved(id)
		}
	}
	d.log.Info("configuration reloaded", "virtuals", len(cfg.Virtuals), "checks_added", added,
		"checks_changed", replaced, "checks_removed", removed)
	d.reconcile()
	return nil
}

func (d *Director) setStatus(s config.AlertStatus) {
	d.mu.Lock()
	d.status = s
	d.mu.Unlock()
}

// Stop ends the checks and, for each virtual with cleanstop=yes, deletes
// its servers and then the service (ldirectord's ld_stop); with
// cleanstop=no the table is left as it is. Queued alerts and commands get
// a few seconds to finish.
func (d *Director) Stop() {
	if d.started {
		close(d.stopCh)
		<-d.loopDone
	}
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	d.setStatus(config.AlertStopping)
	d.runner.Stop()
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	if cfg != nil {
		for _, v := range cfg.Virtuals {
			if !v.CleanStop {
				continue
			}
			svc := ServiceFor(v)
			dests, err := d.dp.Dests(svc)
			if err != nil {
				if !errors.Is(err, dataplane.ErrNotExist) {
					d.log.Error("cleanstop: read servers", "virtual", vname(v), "err", err)
				}
				continue
			}
			for _, dst := range dests {
				if err := d.dp.DelDest(svc, dst); err != nil && !errors.Is(err, dataplane.ErrNotExist) {
					d.log.Error("cleanstop: delete server", "virtual", vname(v), "real", dst.Key(), "err", err)
					continue
				}
				msg := fmt.Sprintf("Purged real server (stop): %s (%s)", dst.Key(), vname(v))
				d.log.Info(msg, "virtual", vname(v), "real", dst.Key())
				d.alert(v, msg, dst.Key(), false)
			}
			if err := d.dp.DelService(svc); err != nil && !errors.Is(err, dataplane.ErrNotExist) {
				d.log.Error("cleanstop: delete virtual", "virtual", vname(v), "err", err)
				continue
			}
			d.log.Info("Purged virtual server (stop): "+vname(v), "virtual", vname(v))
		}
	}
	d.mailer.close(5 * time.Second)
	d.cmds.close(10 * time.Second)
}

func (d *Director) loop() {
	defer close(d.loopDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-d.stopCh:
			return
		case <-d.poke:
			d.busySince.Store(time.Now().UnixNano())
			d.applyMu.Lock()
			d.reconcile()
			d.applyMu.Unlock()
			d.busySince.Store(0)
		case <-tick.C:
			d.busySince.Store(time.Now().UnixNano())
			d.resendAlerts(time.Now())
			d.busySince.Store(0)
		}
	}
}

// onEvent receives check results. It only writes monitorfile lines and
// asks for a reconcile on changes; the loop does the work, so a burst of
// results becomes one pass over the table.
func (d *Director) onEvent(ev check.Event) {
	if obs := d.o.Observer; obs != nil {
		if cv := d.checkVirt.Load(); cv != nil {
			outcome := Outcome(ev.Result)
			for _, id := range (*cv)[ev.Key] {
				obs.CheckResult(id, outcome, ev.Result.Latency)
			}
		}
	}
	d.writeMonitor(ev)
	if ev.Changed || ev.Initial {
		d.Poke()
	}
}

// keysOf lists the service keys the director looks at in the table: the
// configured virtuals, the old configuration's and the retired ones.
func keysOf(cfg, old *config.Config) map[string]bool {
	keys := map[string]bool{}
	for _, c := range []*config.Config{cfg, old} {
		if c == nil {
			continue
		}
		for _, v := range c.Virtuals {
			keys[ServiceFor(v).Key()] = true
		}
	}
	return keys
}

// readActual reads the services named in keys (and their servers) from the
// dataplane; other services are not even read.
func (d *Director) readActual(keys map[string]bool) (map[string]ServiceState, error) {
	svcs, err := d.dp.Services()
	if err != nil {
		return nil, err
	}
	out := map[string]ServiceState{}
	for _, s := range svcs {
		if !keys[s.Key()] {
			continue
		}
		ds, err := d.dp.Dests(s)
		if errors.Is(err, dataplane.ErrNotExist) {
			continue // deleted meanwhile by someone else
		}
		if err != nil {
			return nil, fmt.Errorf("servers of %s: %w", s.Key(), err)
		}
		ss := ServiceState{Service: s}
		for _, x := range ds {
			ss.Dests = append(ss.Dests, DestState{Dest: x})
		}
		out[s.Key()] = ss
	}
	return out, nil
}

// health implements Health over the runner and the maintenance flags; it
// is used with d.mu held.
type health struct{ d *Director }

func (h health) Up(v *config.Virtual, r *config.Real) bool {
	k := v.CheckKey(r)
	if h.d.maint.get(k) {
		return false
	}
	st, ok := h.d.runner.Status(k)
	return ok && st.State == check.Up
}

func (h health) Seeded(v *config.Virtual, r *config.Real) bool {
	return h.d.seeded[v.Key()+"|"+r.Key()]
}

// reconcile computes the desired table, reads the actual one, applies the
// difference, runs fallbackcommands whose state changed, and retries later
// if something failed. d.applyMu is held.
func (d *Director) reconcile() {
	start := time.Now()
	d.mu.Lock()
	cfg := d.cfg
	if cfg == nil {
		d.mu.Unlock()
		return
	}
	retired := make([]dataplane.Service, 0, len(d.retired))
	for _, s := range d.retired {
		retired = append(retired, s)
	}
	h := health{d}
	desired := Desired(cfg, h, retired, d.desiredOpts(cfg))
	up := map[string]bool{}
	for _, v := range cfg.Virtuals {
		up[v.Key()] = AnyUp(v, h)
	}
	d.mu.Unlock()

	keys := keysOf(cfg, nil)
	for _, s := range retired {
		keys[s.Key()] = true
	}
	actualMap, err := d.readActual(keys)
	if err != nil {
		d.log.Error("read the table", "err", err)
		d.retryLater()
		return
	}
	actual := make([]ServiceState, 0, len(actualMap))
	for _, s := range actualMap {
		actual = append(actual, s)
	}
	ops := Diff(desired, actual)
	byKey := map[string]*config.Virtual{}
	for _, v := range cfg.Virtuals {
		byKey[ServiceFor(v).Key()] = v
	}
	failed := false
	for _, op := range ops {
		err := d.apply(op)
		if d.o.Observer != nil {
			d.o.Observer.TableOp(op.Kind, err)
		}
		if err != nil {
			d.log.Error("table change failed", "op", op.String(), "err", err)
			failed = true
			continue
		}
		d.report(op, byKey[op.Service.Key()], up)
	}
	d.mu.Lock()
	if !failed {
		for _, s := range retired {
			delete(d.retired, s.Key())
		}
	}
	for _, v := range cfg.Virtuals {
		for _, r := range v.Reals {
			d.seeded[v.Key()+"|"+r.Key()] = true
		}
	}
	var cmds []string
	for _, v := range cfg.Virtuals {
		want := "start"
		if up[v.Key()] {
			want = "stop"
		}
		if d.fbcmd[v.Key()] == want {
			continue
		}
		d.fbcmd[v.Key()] = want
		if v.FallbackCommand != "" {
			cmds = append(cmds, fmt.Sprintf("%s %s %s %s", v.FallbackCommand, want, fallbackArg(v), v.Protocol))
		}
	}
	if len(ops) > 0 {
		d.applied++
	}
	d.mu.Unlock()
	for _, c := range cmds {
		d.log.Info("running fallbackcommand", "command", c)
		d.cmds.enqueue(c)
	}
	if len(ops) > 0 {
		d.log.Info("table reconciled", "ops", len(ops), "elapsed", time.Since(start))
	}
	if failed {
		d.retryLater()
	}
}

func (d *Director) retryLater() {
	time.AfterFunc(time.Second, d.Poke)
}

// apply performs one op, tolerating the races a table shared with other
// tools has (an entry added or removed behind our back).
func (d *Director) apply(op Op) error {
	dp := d.dp
	switch op.Kind {
	case AddService:
		err := dp.AddService(op.Service)
		if errors.Is(err, dataplane.ErrExist) {
			err = dp.UpdateService(op.Service)
		}
		return err
	case UpdateService:
		return dp.UpdateService(op.Service)
	case DelService:
		if err := dp.DelService(op.Service); err != nil && !errors.Is(err, dataplane.ErrNotExist) {
			return err
		}
	case AddDest:
		err := dp.AddDest(op.Service, op.Dest)
		if errors.Is(err, dataplane.ErrExist) {
			err = dp.UpdateDest(op.Service, op.Dest)
		}
		return err
	case UpdateDest:
		err := dp.UpdateDest(op.Service, op.Dest)
		if errors.Is(err, dataplane.ErrNotExist) {
			err = dp.AddDest(op.Service, op.Dest)
		}
		return err
	case DelDest:
		if err := dp.DelDest(op.Service, op.Dest); err != nil && !errors.Is(err, dataplane.ErrNotExist) {
			return err
		}
	}
	return nil
}

// vname is ldirectord's get_virtual: "ip:port" or the fwmark.
func vname(v *config.Virtual) string {
	if v.Protocol == "fwm" {
		return strconv.FormatUint(uint64(v.FWMark), 10)
	}
	return v.Addr.String()
}

// fallbackArg is the VIP:PORT argument of fallbackcommand (":0" for a
// fwmark, whose server ldirectord leaves undefined).
func fallbackArg(v *config.Virtual) string {
	if v.Protocol == "fwm" {
		return ":0"
	}
	return v.Addr.String()
}

// report logs an applied op with ldirectord's wording and sends the alert
// ldirectord would send for it.
func (d *Director) report(op Op, v *config.Virtual, up map[string]bool) {
	if v == nil { // a retired service
		if op.Kind == DelService {
			d.log.Info("Purged virtual server (start): "+op.Service.Key(), "virtual", op.Service.Key())
		}
		return
	}
	V := vname(v)
	R := op.Dest.Key()
	switch op.Kind {
	case AddService:
		d.log.Info("Added virtual server: "+V, "virtual", V, "scheduler", op.Service.Scheduler)
		return
	case UpdateService:
		d.log.Info("Changed virtual server: "+V, "virtual", V, "scheduler", op.Service.Scheduler)
		return
	case DelService:
		return
	}
	tag := "real"
	configured := false
	if op.Fallback || (op.Kind == DelDest && v.Fallback != nil &&
		DestFor(v, v.Fallback, 1, d.desiredOpts(d.cfgSnapshot())).Key() == R) {
		tag = "fallback"
	} else {
		opts := d.desiredOpts(d.cfgSnapshot())
		for _, r := range v.Reals {
			if DestFor(v, r, 0, opts).Key() == R {
				configured = true
			}
		}
	}
	var msg string
	down := false
	switch {
	case op.Kind == DelDest && tag == "real" && !configured:
		msg = fmt.Sprintf("Purged real server (start): %s (%s)", R, V)
	case op.Kind == DelDest:
		msg = fmt.Sprintf("Deleted %s server: %s (%s)", tag, R, V)
		down = tag == "real"
	case op.Dest.Weight == 0 && tag == "real":
		msg = fmt.Sprintf("Quiescent %s server: %s (%s) (Weight set to 0)", tag, R, V)
		down = true
	case op.Kind == AddDest:
		msg = fmt.Sprintf("Added %s server: %s (%s) (Weight set to %d)", tag, R, V, op.Dest.Weight)
	default:
		msg = fmt.Sprintf("Restored %s server: %s (%s) (Weight set to %d)", tag, R, V, op.Dest.Weight)
	}
	lvl := slog.LevelInfo
	if down {
		lvl = slog.LevelWarn
	}
	d.log.Log(context.Background(), lvl, msg, "virtual", V, "server", R, "role", tag, "weight", op.Dest.Weight,
		"op", op.Kind.String(), "any_real_up", up[v.Key()])
	d.alert(v, msg, R, down)
}

func (d *Director) cfgSnapshot() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// alert is ldirectord's ld_emailalert_send: track a downed real for
// emailalertfreq repeats (or stop tracking it), then send if the daemon
// state passes emailalertstatus and emailalert is set.
func (d *Director) alert(v *config.Virtual, subject, rserver string, down bool) {
	id := rserver + " (" + vname(v) + ")"
	d.mu.Lock()
	if down && v.EmailAlertFreq > 0 {
		d.alerts[id] = &alertTrack{v: v, rserver: rserver, last: time.Now()}
	} else {
		delete(d.alerts, id)
	}
	status := d.status
	d.mu.Unlock()
	d.sendAlert(v, subject, status)
}

func (d *Director) sendAlert(v *config.Virtual, subject string, status config.AlertStatus) {
	if v.EmailAlertStatus&status == 0 || v.EmailAlert == "" {
		return
	}
	if v.ServiceName != "" {
		subject = "[" + v.ServiceName + "] " + subject
	}
	d.log.Info("emailalert: "+subject, "to", v.EmailAlert)
	d.mailer.enqueue(mail{smtp: v.SMTP, to: v.EmailAlert, subject: subject,
		body: alertBody(d.o.Hostname, subject, statusName(status), v)})
}

// resendAlerts is ldirectord's ld_emailalert_resend: every emailalertfreq
// a real that stays down is reported again.
func (d *Director) resendAlerts(now time.Time) {
	type due struct {
		v       *config.Virtual
		subject string
	}
	var out []due
	d.mu.Lock()
	ids := make([]string, 0, len(d.alerts))
	for id := range d.alerts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := d.alerts[id]
		if now.Sub(a.last) < a.v.EmailAlertFreq {
			continue
		}
		a.last = now
		out = append(out, due{a.v, "Inaccessible real server: " + id})
	}
	status := d.status
	d.mu.Unlock()
	for _, x := range out {
		d.sendAlert(x.v, x.subject, status)
	}
}

// Applied counts reconciles that changed the table (for tests and status).
func (d *Director) Applied() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.applied
}

// Config returns the running configuration.
func (d *Director) Config() *config.Config { return d.cfgSnapshot() }

// writeMonitor appends ldirectord's monitorfile line for a check result to
// the monitorfile of every virtual that checks this real.
func (d *Director) writeMonitor(ev check.Event) {
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	if cfg == nil {
		return
	}
	for _, v := range cfg.Virtuals {
		if v.MonitorFile == "" {
			continue
		}
		for _, r := range v.Reals {
			if v.CheckKey(r) != ev.Key {
				continue
			}
			state := "down"
			if ev.Result.OK {
				state = "up"
			}
			msg := ev.Result.Detail
			if !ev.Result.OK && ev.Result.Err != nil {
				msg = ev.Result.Err.Error()
			}
			if msg == "" {
				msg = "-"
			}
			line := fmt.Sprintf("[%s] [%d] %s [%s] %s\n", time.Now().Format("Mon Jan _2 15:04:05 2006"),
				os.Getpid(), monitorID(v, r), state, escapeMonitor(msg))
			f, err := os.OpenFile(v.MonitorFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err == nil {
				_, err = f.WriteString(line)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				d.log.Error("write monitorfile", "file", v.MonitorFile, "err", err)
			}
		}
	}
}

// monitorID is ldirectord's real id string with ':' runs as spaces.
func monitorID(v *config.Virtual, r *config.Real) string {
	check := string(v.Check.Type)
	if v.Check.Type == config.CheckNegotiate || v.Check.Type == config.CheckCombined {
		check += " " + v.Check.Service
	}
	f := []string{check, v.Protocol, r.Addr.String(), strconv.Itoa(int(r.Port))}
	if v.Check.VirtualHost != "" {
		f = append(f, v.Check.VirtualHost)
	}
	if v.Check.CheckPort != 0 {
		f = append(f, strconv.Itoa(int(v.Check.CheckPort)))
	}
	f = append(f, strconv.Itoa(r.Weight), r.Method, r.Request, r.Receive)
	// ldirectord joins with ':' and squeezes runs of ':' into one space,
	// so empty fields vanish.
	out := f[:0]
	for _, x := range f {
		if x != "" {
			out = append(out, x)
		}
	}
	return strings.Join(out, " ")
}

func escapeMonitor(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch c {
		case '%', '|', '\r', '\n':
			fmt.Fprintf(&b, "%%%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
