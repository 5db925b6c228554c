package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"lvsha/internal/sdnotify"
	"lvsha/ldird/config"
	"lvsha/ldird/control"
	"lvsha/ldird/dataplane"
	"lvsha/ldird/dataplane/ipvs"
	"lvsha/ldird/dataplane/userspace"
	"lvsha/ldird/director"
	"lvsha/ldird/metrics"
	"lvsha/ldird/statusapi"
	"lvsha/ldird/syncd"
)

// launch says how the daemon was started.
type launch struct {
	stderr io.Writer
	// ready is told once whether start-up succeeded (the detached child
	// tells `start` through it).
	ready func(error)
	// detached: the re-executed child of `start`, nobody's main process,
	// so it does not speak sd_notify.
	detached bool
}

// daemon is one running ldird.
type daemon struct {
	inv     invocation
	path    string
	log     *slog.Logger
	swap    *swapHandler
	closer  io.Closer // syslog connection of the current handler
	dp      dataplane.Dataplane
	dpName  string
	dir     *director.Director
	watcher *director.Watcher
	sd      *sdnotify.Notifier
	metrics *metrics.Metrics
	syncd   *syncd.Manager // the kernel's sync daemons; nil when the dataplane has none
	// reloadSince is when the reload in progress began (UnixNano), 0 when
	// none runs (the watchdog feed looks at it).
	reloadSince atomic.Int64
	running     atomic.Bool // start-up done: reload requests are served

	reloads statusapi.Reloads // load and reload history (status API)
	started time.Time

	mu       sync.Mutex // serialises reloads (SIGHUP, the watcher, the control socket)
	cfg      *config.Config
	msrv     *metrics.Server // the metrics listener, nil when off
	msrvAddr string
}

// The userspace proxy counts connections itself; `ldird status` shows them.
var _ dataplane.ConnCounter = (*userspace.Proxy)(nil)

// It also takes a global connection limit (maxconn), changed on reload.
var _ dataplane.ConnLimiter = (*userspace.Proxy)(nil)

func newDataplane(name string, g config.Global, log *slog.Logger) (dataplane.Dataplane, string, error) {
	if name == config.DataplaneUserspace {
		return userspace.New(userspace.Options{Logger: log.With("component", "userspace"), MaxConns: g.MaxConn}), "ldird userspace proxy (dataplane = userspace)", nil
	}
	v, err := ipvs.New()
	if err != nil {
		// ipvs.New's error already says to use `dataplane = userspace`.
		return nil, "", fmt.Errorf("cannot use IPVS: %w", err)
	}
	return v, "", nil
}

// dataplaneName is the dataplane cfg asks for.
func dataplaneName(cfg *config.Config) string {
	if cfg.Global.Dataplane == "" {
		return config.DataplaneIPVS
	}
	return cfg.Global.Dataplane
}

// runDaemon is the daemon, from opening its log to its exit code.
func runDaemon(inv invocation, l loaded, how launch) int {
	cfg := l.cfg
	h, closer, err := newLogHandler(inv.debug, inv.foreground, cfg.Global.Supervised, cfg.Global.LogFile, how.stderr)
	if err != nil {
		h = slog.NewTextHandler(how.stderr, nil)
		slog.New(h).Warn("logging to stderr", "err", err)
	}
	swap := newSwapHandler(h)
	log := slog.New(swap).With("cfg", inv.cfgName, "pid", os.Getpid())
	d := &daemon{inv: inv, path: l.path, log: log, swap: swap, closer: closer, cfg: cfg, dpName: dataplaneName(cfg),
		started: time.Now()}
	d.reloads.Add(d.started, "start", nil)
	d.sd = sdnotify.New(log, sdnotify.Options{Silent: how.detached})
	log.Info("Invoking ldird invoked as: "+strings.Join(inv.argv, " "), "version", Version)
	fail := func(err error) int {
		log.Error("Exiting with exit_status 1: "+err.Error(), "err", err)
		how.ready(err)
		if cfg.Global.Supervised && !inv.debug && !inv.foreground { // -d and -f logged it on stderr
			fmt.Fprintf(how.stderr, "ldird: %v\n", err)
		}
		return exitFail
	}
	if err := os.MkdirAll(runDir(), 0o755); err != nil {
		return fail(fmt.Errorf("run directory: %w", err))
	}
	if err := writePidFile(pidPath(inv.cfgName)); err != nil {
		return fail(err)
	}
	defer os.Remove(pidPath(inv.cfgName))
	dp, header, err := newDataplane(d.dpName, cfg.Global, log)
	if err != nil {
		return fail(err)
	}
	d.dp = dp
	defer dp.Close()
	if k, ok := dp.(dataplane.SyncDaemons); ok {
		d.syncd = syncd.New(k, syncPath(inv.cfgName), log.With("component", "syncd"))
	}
	d.newDirector(header)
	ctl, err := control.Listen(sockPath(inv.cfgName), d, log)
	if err != nil {
		return fail(err)
	}
	defer ctl.Close()
	go ctl.Serve()
	d.setMetricsListener(d.metricsAddr(cfg))
	defer func() {
		d.mu.Lock()
		d.setMetricsListener("")
		d.mu.Unlock()
	}()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGXCPU, syscall.SIGXFSZ)
	signal.Ignore(syscall.SIGPIPE)
	log.Info("Starting ldird", "config", l.path, "dataplane", d.dpName, "virtuals", len(cfg.Virtuals))
	d.execute(cfg.Global.Execute, "start")
	if err := d.dir.Start(context.Background(), cfg); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	// The sync daemons after the table, so a backup that learns a
	// connection already has its service and real server to bind it to.
	if err := d.applySync(cfg, nil); err != nil {
		d.dir.Stop()
		return fail(err)
	}
	if d.syncd != nil && cfg.Global.SyncDaemon != nil {
		if ds, _, err := d.syncd.Status(); err == nil {
			log.Info("connection synchronisation on", "daemons", syncLogValue(ds), "record", d.syncd.Path())
		}
	}
	// Only now is `start` answered: the table has been read and the first
	// check round published, so exit 0 means the director runs (and a
	// table that cannot be read fails the start, as the caller must know).
	how.ready(nil)
	d.watcher, err = director.WatchFile(l.path, l.data, 5*time.Millisecond, log, d.fileChanged)
	if err != nil {
		log.Error("cannot watch the configuration; autoreload and callback are off", "err", err)
	}
	d.running.Store(true)
	d.mu.Lock()
	d.sd.Ready(d.statusLine())
	d.mu.Unlock()
	d.loop(sigs)
	d.sd.Stopping()
	signal.Stop(sigs)
	if d.watcher != nil {
		d.watcher.Close()
	}
	d.mu.Lock()
	d.execute(d.cfg.Global.Execute, "stop")
	d.mu.Unlock()
	d.dir.Stop()
	if d.syncd != nil {
		// Only the daemons ldird started; someone else's stay.
		if err := d.syncd.Stop(); err != nil {
			log.Error("sync daemons not stopped", "err", err)
		}
	}
	log.Info("Linux Director Daemon terminated")
	if d.closer != nil {
		d.closer.Close()
	}
	return exitOK
}

// newDirector makes the director on d's dataplane, with the counters.
func (d *daemon) newDirector(header string) {
	opts := director.Options{Dataplane: d.dp, Logger: d.log, KernelPorts: d.dpName == config.DataplaneIPVS, Header: header,
		AdminFile: control.AdminFile(d.inv.cfgName)}
	if cc, ok := d.dp.(dataplane.ConnCounter); ok {
		opts.Conns = func() map[string][2]int64 {
			out := map[string][2]int64{}
			for k, c := range cc.ConnCounts() {
				out[k] = [2]int64{c.Active, c.Inactive}
			}
			return out
		}
	}
	// Counters run whether or not metrics are served, so a reload that
	// turns them on shows the whole history.
	mopts := metrics.Options{Version: Version, Dataplane: d.dpName}
	if p, ok := d.dp.(metrics.Proxy); ok {
		mopts.Proxy = p
	}
	if d.syncd != nil {
		mopts.Sync = d.syncState
	}
	d.metrics = metrics.New(metrics.SourceFunc(func() director.Snapshot { return d.dir.Snapshot() }), mopts)
	opts.Observer = d.metrics
	d.dir = director.New(opts)
	d.metrics.Handle(statusapi.Path, statusapi.Handler(d.statusDoc))
}

// loop runs until a signal to stop: SIGHUP reloads, and the systemd
// watchdog is fed only while the director's loop and reloads make
// progress.
func (d *daemon) loop(sigs <-chan os.Signal) {
	var watchdog <-chan time.Time
	if wd := d.sd.Watchdog(); wd > 0 {
		t := time.NewTicker(wd / 2)
		defer t.Stop()
		watchdog = t.C
	}
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				d.log.Info("Reloading Linux Director Daemon config on signal")
				_ = d.reloadFromFile(time.Now(), metrics.TriggerSIGHUP)
				continue
			}
			d.log.Info("Linux Director Daemon terminating on signal: "+sig.String(), "signal", sig.String())
			return
		case <-watchdog:
			d.sd.WatchdogTick(max(d.dir.LoopStall(), d.reloadStall()))
		}
	}
}

// WriteStatus is control.Backend: the table, every real's health and the
// connection synchronisation.
func (d *daemon) WriteStatus(w io.Writer) error {
	if err := d.dir.WriteStatus(w); err != nil {
		return err
	}
	d.writeSyncStatus(w)
	return nil
}

// statusDoc is the JSON status document (ldird/statusapi).
func (d *daemon) statusDoc() *statusapi.Status {
	host, _ := os.Hostname()
	info := statusInfo{Version: Version, Host: host, Config: d.path, Instance: d.inv.cfgName,
		Dataplane: d.dpName, PID: os.Getpid(), Started: d.started}
	return buildStatus(d.dir.Detail(), info, d.reloads.List(), d.syncStatus(), time.Now())
}

// syncStatus is the kernel's connection synchronisation for the status
// document: the sync daemons running (ldird's or another's) and the
// connection table by origin; nil (null) when the dataplane has none
// (userspace).
func (d *daemon) syncStatus() *statusapi.Sync {
	if d.syncd == nil {
		return nil
	}
	st := d.syncState()
	out := &statusapi.Sync{Daemons: []statusapi.SyncDaemon{}}
	if st.Err != nil {
		e := st.Err.Error()
		out.Error = &e
	}
	for _, x := range st.Daemons {
		by := "other"
		if x.Ours {
			by = "ldird"
		}
		out.Daemons = append(out.Daemons, statusapi.SyncDaemon{Role: x.Role, Interface: x.Interface,
			SyncID: x.SyncID, Group: x.Group, StartedBy: by})
	}
	if st.ConnErr == nil {
		out.Connections = &statusapi.SyncConnections{Local: st.Local, Synced: st.Synced}
	}
	return out
}

// WriteStatusJSON is control.JSONStatuser: the status document on one line.
func (d *daemon) WriteStatusJSON(w io.Writer) error {
	b, err := json.Marshal(d.statusDoc())
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// SetAdmin is control.Administrator: drain, disable or enable a real.
func (d *daemon) SetAdmin(req control.AdminRequest) error {
	st, err := director.ParseAdminState(req.State)
	if err != nil {
		return err
	}
	if !d.running.Load() {
		return control.ErrStarting
	}
	return d.dir.SetAdmin(req.Virtual, req.Real, st, req.By)
}

// Reload is control.Backend: `ldird reload`.
func (d *daemon) Reload() error {
	if !d.running.Load() {
		return control.ErrStarting
	}
	d.log.Info("Reloading Linux Director Daemon config on request")
	return d.reloadFromFile(time.Now(), metrics.TriggerCommand)
}

// execute runs `ldird NAME cmd` for each execute= instance, as ldirectord's
// ld_cmd_children does.
func (d *daemon) execute(names []string, cmd string) {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	for _, n := range names {
		c := exec.Command(exe, n, cmd)
		out, err := c.CombinedOutput()
		d.log.Info("execute", "instance", n, "command", cmd, "err", err, "output", strings.TrimSpace(string(out)))
	}
}

// statusLine is systemd's STATUS= text; d.mu is held.
func (d *daemon) statusLine() string {
	reals := 0
	for _, v := range d.cfg.Virtuals {
		reals += len(v.Reals)
	}
	return fmt.Sprintf("%d virtual services, %d real servers, dataplane %s", len(d.cfg.Virtuals), reals, d.dpName)
}
