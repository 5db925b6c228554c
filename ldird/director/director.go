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
	// AdminFile keeps the administrator's overrides (drain, disable) across
	// restarts; empty keeps them in memory only.
	AdminFile string
}

// Director drives the planner: one goroutine (the loop) owns it and does
// what it asks, with the check runner, the dataplane, the mailer, the
// command queue and the monitorfiles.
type Director struct {
	o      Options
	log    *slog.Logger
	dp     dataplane.Dataplane
	runner *check.Runner
	hist   *checkHistory
	mailer *mailer
	cmds   *cmdQueue
	now    func() time.Time

	// Inputs for the loop, handled in order. The queue is unbounded so a
	// check goroutine reporting a result never waits.
	mu    sync.Mutex
	queue []input
	wake  chan struct{} // handle the queue now
	lazy  chan struct{} // handle the queue within lazyDelay
	quit  chan struct{}
	done  chan struct{}
	stop  sync.Once

	// busySince is when the loop's current step began (UnixNano), 0 while
	// it waits (LoopStall).
	busySince atomic.Int64
	// published is the planner's state for readers (Snapshot, status).
	published atomic.Pointer[view]

	// Owned by the loop.
	p       *planner
	checks  map[string]checkEntry
	started bool
	monitor monitorBuffer
	waiters []chan struct{} // calls that finish with the current step
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
		o: o, log: o.Logger, dp: o.Dataplane, now: time.Now,
		wake: make(chan struct{}, 1), lazy: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		checks: map[string]checkEntry{}, hist: newCheckHistory(),
		p: newPlanner(o.Logger, plannerOptions{DesiredOptions: DesiredOptions{KernelPorts: o.KernelPorts},
			hostname: o.Hostname, pid: os.Getpid()}),
	}
	d.published.Store(d.p.view())
	ro := check.RunnerOptions{Notify: d.onEvent, EveryResult: true, Logger: o.Logger}
	if o.Observer != nil {
		ro.StartDelay = o.Observer.CheckStartDelay
	}
	d.runner = check.NewRunner(ro)
	user := "root"
	if u, err := userCurrent(); err == nil {
		user = u
	}
	d.mailer = newMailer(o.Logger, o.SMTPPort, o.Hostname, user+"@"+o.Hostname, o.Sendmail)
	d.cmds = newCmdQueue(o.Logger, o.Shell, o.CommandTimeout)
	go d.loop()
	return d
}

func userCurrent() (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

// input is a check result or a function to run on the loop (a check
// result is not wrapped in a closure: there are thousands a second).
type input struct {
	ev check.Event
	f  func()
}

// lazyDelay bounds how long a check result that changes nothing (a real
// that stays up) waits in the queue when it comes to the loop at all (a
// monitorfile line to write; otherwise see checkTag): such results are
// handled in batches, sparing the loop a wakeup for each of thousands a
// second. Any other input wakes the loop at once.
const lazyDelay = 50 * time.Millisecond

// post queues an input for the loop and wakes it (now, or within
// lazyDelay when lazy).
func (d *Director) post(in input, lazy bool) {
	d.mu.Lock()
	d.queue = append(d.queue, in)
	d.mu.Unlock()
	ch := d.wake
	if lazy {
		ch = d.lazy
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// errStopped is returned by calls after Stop.
var errStopped = errors.New("director stopped")

// call runs f on the loop and returns its error once the step that ran it
// has ended (its table pass done, monitorfile lines written, the view
// published).
func (d *Director) call(f func() error) error {
	ended := make(chan struct{})
	var err error
	d.post(input{f: func() {
		err = f()
		d.waiters = append(d.waiters, ended)
	}}, false)
	select {
	case <-ended:
		return err
	case <-d.done:
		return errStopped
	}
}

// Poke asks for a table pass (coalesced: many pokes during one pass cause
// one more).
func (d *Director) Poke() { d.post(input{f: d.p.poke}, false) }

// onEvent receives check results, on the checks' goroutines: the loop
// handles them in order, and a burst of results becomes one table pass.
// A result that changes nothing is told to the Observer here (checkTag).
func (d *Director) onEvent(ev check.Event) {
	t := ev.Tag.(*checkTag) // buildChecks set it
	t.hist.record(ev, time.Now())
	if t.tell(ev) {
		return
	}
	d.post(input{ev: ev}, ev.Result.OK && !ev.Changed && !ev.Initial)
}

// loop is the director's one goroutine.
func (d *Director) loop() {
	defer close(d.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := time.NewTimer(time.Hour)
	batch.Stop()
	lazy := d.lazy // nil while a batch is pending
	for {
		select {
		case <-d.quit:
			return
		case <-lazy:
			batch.Reset(lazyDelay)
			lazy = nil
			continue
		case <-batch.C:
			d.step(nil)
		case <-d.wake:
			d.step(nil)
		case <-timer.C:
			d.step(func() { d.do(d.p.tick(d.now())) })
		}
		// The queue is empty now.
		batch.Stop()
		lazy = d.lazy
		if at := d.p.deadline(); at.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(max(at.Sub(d.now()), 0))
		}
	}
}

// step runs what is queued (and first, if set), then the table pass the
// planner asks for, writes the monitorfile lines and publishes the view.
func (d *Director) step(first func()) {
	d.busySince.Store(time.Now().UnixNano())
	defer d.busySince.Store(0)
	if first != nil {
		first()
	}
	for {
		d.mu.Lock()
		q := d.queue
		d.queue = nil
		d.mu.Unlock()
		if len(q) == 0 {
			break
		}
		now := d.now()
		for _, in := range q {
			if in.f != nil {
				in.f()
			} else {
				d.do(d.p.checkResult(now, in.ev))
			}
		}
	}
	if d.p.due(d.now()) {
		d.reconcile()
	}
	d.monitor.flush(func(file string, err error) {
		d.log.Error("write monitorfile", "file", file, "err", err)
	})
	if d.p.version != d.published.Load().version {
		d.published.Store(d.p.view())
	}
	for _, w := range d.waiters {
		close(w)
	}
	d.waiters = d.waiters[:0]
}

// do carries out the planner's actions in order.
func (d *Director) do(acts []action) {
	for _, a := range acts {
		switch a := a.(type) {
		case sendAlert:
			d.mailer.enqueue(a.mail)
		case runCommand:
			d.cmds.enqueue(a.cmdline)
		case writeMonitor:
			d.monitor.add(a.file, a.line)
		case observeCheck:
			if d.o.Observer != nil {
				d.o.Observer.CheckResult(a.id, a.outcome, a.latency)
			}
		case virtualRemoved:
			if d.o.Observer != nil {
				d.o.Observer.VirtualRemoved(a.id)
			}
		}
	}
}

// reconcile is one table pass: read the table, apply the planner's ops,
// report their outcome back.
func (d *Director) reconcile() {
	actual, err := readActual(d.dp, d.p.tableKeys())
	if err != nil {
		d.p.tableUnreadable(d.now(), err)
		return
	}
	states := make([]ServiceState, 0, len(actual))
	for _, s := range actual {
		states = append(states, s)
	}
	ops := d.p.plan(d.now(), states)
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = applyOp(d.dp, op)
		if d.o.Observer != nil {
			d.o.Observer.TableOp(op.Kind, errs[i])
		}
	}
	d.do(d.p.applied(d.now(), errs))
}

// Start takes over the table for cfg: it reads the dataplane, schedules
// every check (reals already in the table with weight > 0 start up), waits
// for the first round, publishes the result and then follows the checks.
func (d *Director) Start(ctx context.Context, cfg *config.Config) error {
	var n, initialUp int
	err := d.call(func() error {
		if d.started {
			return errors.New("director already started")
		}
		admin, err := loadAdmin(d.o.AdminFile)
		if err != nil {
			return err
		}
		d.p.admin = admin
		actual, err := readActual(d.dp, keysOf(cfg, nil))
		if err != nil {
			return fmt.Errorf("read the table: %w", err)
		}
		seeds := seedStates(cfg, actual, d.p.opt.DesiredOptions)
		entries, err := d.buildChecks(cfg, seeds)
		if err != nil {
			return fmt.Errorf("checks: %w", err)
		}
		d.p.start(cfg, seeds)
		d.checks, d.started = entries, true
		d.setQuiet()
		n = len(entries)
		for _, e := range entries {
			if e.rc.Initial == check.Up {
				initialUp++
			}
			if err := d.runner.Add(e.rc); err != nil {
				return fmt.Errorf("schedule check %s: %w", e.rc.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	start := time.Now()
	bound := StartupBound(cfg)
	wctx, cancel := context.WithTimeout(ctx, bound)
	err = d.runner.WaitStartup(wctx)
	cancel()
	if err != nil {
		d.log.Warn("first check round incomplete; publishing what is known", "bound", bound, "err", err)
	}
	d.log.Info("first check round done", "checks", n, "initially_up_from_table", initialUp,
		"elapsed", time.Since(start))
	// Every first result was queued before WaitStartup returned, so the
	// loop has them before this.
	return d.call(func() error {
		d.p.firstRound()
		d.reconcile()
		d.p.setStatus(config.AlertRunning)
		return nil
	})
}

// Reload switches to a new configuration without flushing: checks whose
// settings did not change keep running with their state, changed ones keep
// their state (check.Runner.Replace), virtuals no longer configured are
// deleted from the table, new ones added. On error (a check that cannot be
// built) nothing changes.
func (d *Director) Reload(cfg *config.Config) error {
	return d.call(func() error {
		if !d.started {
			return errors.New("director not started")
		}
		actual, err := readActual(d.dp, keysOf(cfg, d.p.cfg))
		if err != nil {
			return fmt.Errorf("read the table: %w", err)
		}
		seeds := seedStates(cfg, actual, d.p.opt.DesiredOptions)
		entries, err := d.buildChecks(cfg, seeds)
		if err != nil {
			return fmt.Errorf("checks: %w", err)
		}
		added, replaced, removed := 0, 0, 0
		// A removed check reports nothing once Remove returns; results it
		// queued before are dropped by the planner, which no longer
		// knows its key.
		for k := range d.checks {
			if _, ok := entries[k]; !ok {
				d.runner.Remove(k)
				removed++
			}
		}
		d.do(d.p.reload(cfg, seeds))
		for k, e := range entries {
			o, ok := d.checks[k]
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
		d.checks = entries
		d.setQuiet()
		d.log.Info("configuration reloaded", "virtuals", len(cfg.Virtuals), "checks_added", added,
			"checks_changed", replaced, "checks_removed", removed)
		d.reconcile()
		d.p.setStatus(config.AlertRunning)
		return nil
	})
}

// Stop ends the checks and, for each virtual with cleanstop=yes, deletes
// its servers and then the service (ldirectord's ld_stop); with
// cleanstop=no the table is left as it is. Queued alerts and commands get
// a few seconds to finish. Stop is done once; later calls return at once.
func (d *Director) Stop() {
	d.stop.Do(func() {
		_ = d.call(func() error {
			d.p.stop()
			d.runner.Stop()
			var read []ServiceState
			for _, s := range d.p.cleanStopServices() {
				dests, err := d.dp.Dests(s.Service)
				if err != nil {
					if !errors.Is(err, dataplane.ErrNotExist) {
						d.log.Error("cleanstop: read servers", "virtual", vname(s.Virtual), "err", err)
					}
					continue
				}
				for _, x := range dests {
					s.Dests = append(s.Dests, DestState{Dest: x})
				}
				read = append(read, s)
			}
			ops := d.p.cleanStop(d.now(), read)
			errs := make([]error, len(ops))
			for i, op := range ops {
				errs[i] = applyOp(d.dp, op)
			}
			d.do(d.p.stopped(d.now(), errs))
			return nil
		})
		close(d.quit)
		<-d.done
		d.mailer.close(5 * time.Second)
		d.cmds.close(10 * time.Second)
	})
}

// Applied counts table passes that changed the table (for tests and
// status).
func (d *Director) Applied() uint64 { return d.published.Load().applied }

// Config returns the running configuration.
func (d *Director) Config() *config.Config { return d.published.Load().cfg }

// LoopStall is how long the director's loop has been inside its current
// step (a table pass, a reload, alert repeats); 0 while it waits for
// work. A loop that stays busy is wedged: the systemd watchdog feed uses
// this.
func (d *Director) LoopStall() time.Duration {
	since := d.busySince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}
