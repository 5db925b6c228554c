package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
	"lvsha/ldird/dataplane/ipvs"
	"lvsha/ldird/dataplane/userspace"
	"lvsha/ldird/director"
	"lvsha/ldird/metrics"
)

// envDaemonChild marks the re-executed daemon process; Go cannot fork, so
// `start` re-executes itself detached and waits for a readiness line on fd 3.
const envDaemonChild = "LDIRD_DAEMON_CHILD"

// readyTimeout bounds how long `start` waits for the daemon to say it runs,
// beyond its first check round (director.StartupBound).
const readyTimeout = 30 * time.Second

// reloadReplyTimeout bounds how long `ldird reload` waits for the daemon
// to apply a configuration (a large table takes a while over netlink).
const reloadReplyTimeout = 2 * time.Minute

// start runs the daemon: in the foreground with -d, -f or supervised=yes,
// else detached (setsid, stdio on /dev/null, cwd /), returning once the
// daemon has its pid file, dataplane and control socket.
func start(inv invocation, path string, cfg *config.Config, data []byte, stderr io.Writer) int {
	if inv.debug || inv.foreground || cfg.Global.Supervised {
		return runDaemon(inv, path, cfg, data, stderr, func(error) {}, false)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "ldird: %v\n", err)
		return exitFail
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "ldird: %v\n", err)
		return exitFail
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "ldird: %v\n", err)
		return exitFail
	}
	defer null.Close()
	cmd := exec.Command(exe, inv.argv[1:]...)
	cmd.Env = append(os.Environ(), envDaemonChild+"=1")
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "ldird: start daemon: %v\n", err)
		return exitFail
	}
	w.Close()
	_ = cmd.Process.Release()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		if s == "OK" {
			return exitOK
		}
		if s == "" {
			s = "daemon exited before it was ready"
		}
		fmt.Fprintf(stderr, "ldird: %s\n", strings.TrimPrefix(s, "ERR "))
		return exitFail
	case <-time.After(readyTimeout + director.StartupBound(cfg)):
		fmt.Fprintf(stderr, "ldird: daemon not ready after %v\n", readyTimeout+director.StartupBound(cfg))
		return exitFail
	}
}

// daemonChild is the detached process: it re-reads the configuration
// (as the parent did) and runs, reporting readiness on fd 3.
func daemonChild(inv invocation, stderr io.Writer) int {
	ready := os.NewFile(3, "ready")
	report := func(err error) {
		if ready == nil {
			return
		}
		if err != nil {
			fmt.Fprintf(ready, "ERR %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		} else {
			fmt.Fprintln(ready, "OK")
		}
		ready.Close()
		ready = nil
	}
	os.Unsetenv(envDaemonChild)
	path, cfg, data, code := loadConfig(inv, io.Discard, true)
	if code != exitOK {
		report(fmt.Errorf("configuration changed while starting; run ldird -t %s", inv.config))
		return code
	}
	code = runDaemon(inv, path, cfg, data, stderr, report, true)
	report(errors.New("daemon exited"))
	return code
}

// daemon is one running ldird.
type daemon struct {
	inv     invocation
	path    string
	log     *slog.Logger
	swap    *swapHandler
	closer  io.Closer // syslog writer of the current handler
	dp      dataplane.Dataplane
	dpName  string
	dir     *director.Director
	watcher *director.Watcher
	sd      *sdNotifier
	metrics *metrics.Metrics
	// reloadSince is when the reload in progress began (UnixNano), 0 when
	// none runs (the watchdog feed looks at it).
	reloadSince atomic.Int64
	running     atomic.Bool // start-up done: reload requests are served

	mu       sync.Mutex // serialises reloads (SIGHUP, the watcher, the control socket)
	cfg      *config.Config
	msrv     *metrics.Server // the metrics listener, nil when off
	msrvAddr string
}

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

// runDaemon is the daemon. detached: it runs as the re-executed child of
// `start` (so it is nobody's main process and does not speak sd_notify).
func runDaemon(inv invocation, path string, cfg *config.Config, data []byte, stderr io.Writer, report func(error), detached bool) int {
	h, closer, err := newLogHandler(inv.debug, inv.foreground, cfg.Global.Supervised, cfg.Global.LogFile, stderr)
	if err != nil {
		h = slog.NewTextHandler(stderr, nil)
		slog.New(h).Warn("logging to stderr", "err", err)
	}
	swap := newSwapHandler(h)
	log := slog.New(swap).With("cfg", inv.cfgName, "pid", os.Getpid())
	d := &daemon{inv: inv, path: path, log: log, swap: swap, closer: closer, cfg: cfg}
	d.sd = newSDNotifier(log, !detached)
	log.Info("Invoking ldird invoked as: "+strings.Join(inv.argv, " "), "version", Version)
	fail := func(err error) int {
		log.Error("Exiting with exit_status 1: "+err.Error(), "err", err)
		report(err)
		if cfg.Global.Supervised && !inv.debug && !inv.foreground { // -d and -f logged it on stderr
			fmt.Fprintf(stderr, "ldird: %v\n", err)
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
	d.dpName = cfg.Global.Dataplane
	if d.dpName == "" {
		d.dpName = config.DataplaneIPVS
	}
	dp, header, err := newDataplane(d.dpName, cfg.Global, log)
	if err != nil {
		return fail(err)
	}
	d.dp = dp
	defer dp.Close()
	opts := director.Options{Dataplane: dp, Logger: log, KernelPorts: d.dpName == config.DataplaneIPVS, Header: header}
	if p, ok := dp.(*userspace.Proxy); ok {
		opts.Conns = func() map[string][2]int64 {
			out := map[string][2]int64{}
			for _, s := range p.Stats() {
				for _, r := range s.Reals {
					out[s.Service.Key()+" "+r.Dest.Key()] = [2]int64{r.ActiveConns, r.InactiveConns}
				}
			}
			return out
		}
	}
	// Counters run whether or not metrics are served, so a reload that
	// turns them on shows the whole history.
	mopts := metrics.Options{Version: Version, Dataplane: d.dpName}
	if p, ok := dp.(*userspace.Proxy); ok {
		mopts.Proxy = p
	}
	d.metrics = metrics.New(metrics.SourceFunc(func() director.Snapshot { return d.dir.Snapshot() }), mopts)
	opts.Observer = d.metrics
	d.dir = director.New(opts)
	ln, err := listenControl(sockPath(inv.cfgName))
	if err != nil {
		return fail(err)
	}
	defer os.Remove(sockPath(inv.cfgName))
	defer ln.Close()
	go d.serveControl(ln)
	d.setMetricsListener(d.metricsAddr(cfg))
	defer func() {
		d.mu.Lock()
		d.setMetricsListener("")
		d.mu.Unlock()
	}()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGXCPU, syscall.SIGXFSZ)
	signal.Ignore(syscall.SIGPIPE)
	log.Info("Starting ldird", "config", path, "dataplane", d.dpName, "virtuals", len(cfg.Virtuals))
	d.execute(cfg.Global.Execute, "start")
	if err := d.dir.Start(context.Background(), cfg); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	// Only now is `start` answered: the table has been read and the first
	// check round published, so exit 0 means the director runs (and a
	// table that cannot be read fails the start, as the caller must know).
	report(nil)
	d.watcher, err = director.WatchFile(path, data, 5*time.Millisecond, log, d.fileChanged)
	if err != nil {
		log.Error("cannot watch the configuration; autoreload and callback are off", "err", err)
	}
	// The main loop: signals, and the systemd watchdog, fed only while
	// the director's loop and reloads make progress.
	var watchdog <-chan time.Time
	if d.sd.watchdog > 0 {
		t := time.NewTicker(d.sd.watchdog / 2)
		defer t.Stop()
		watchdog = t.C
	}
	d.running.Store(true)
	d.mu.Lock()
	d.sd.Ready(d.statusLine())
	d.mu.Unlock()
loop:
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				log.Info("Reloading Linux Director Daemon config on signal")
				_ = d.reloadFromFile(time.Now(), metrics.TriggerSIGHUP)
				continue
			}
			log.Info("Linux Director Daemon terminating on signal: "+sig.String(), "signal", sig.String())
			break loop
		case <-watchdog:
			d.sd.watchdogTick(max(d.dir.LoopStall(), d.reloadStall()))
		}
	}
	d.sd.Stopping()
	signal.Stop(sigs)
	if d.watcher != nil {
		d.watcher.Close()
	}
	d.mu.Lock()
	d.execute(d.cfg.Global.Execute, "stop")
	d.mu.Unlock()
	d.dir.Stop()
	log.Info("Linux Director Daemon terminated")
	if d.closer != nil {
		d.closer.Close()
	}
	return exitOK
}

func writePidFile(path string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
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

// fileChanged is the watcher's callback: ldirectord's check_cfgfile.
func (d *daemon) fileChanged(data []byte, firstEvent time.Time) {
	d.mu.Lock()
	auto := d.cfg.Global.AutoReload
	d.mu.Unlock()
	d.log.Info("Configuration file '"+d.path+"' has changed on disk", "autoreload", auto)
	if auto {
		d.log.Info(" - reread new configuration")
		_ = d.reload(data, firstEvent, metrics.TriggerAutoreload)
	} else {
		d.log.Info(" - ignore new configuration")
	}
	d.mu.Lock()
	cb := d.cfg.Global.Callback
	d.mu.Unlock()
	if cb != "" {
		if st, err := os.Stat(cb); err == nil && st.Mode()&0o111 != 0 {
			go director.RunShell(d.log, "/bin/sh", cb+" "+d.path, 5*time.Minute)
		}
	}
}

// metricsAddr is where metrics are served for cfg: --metrics, else the
// metrics directive, else nowhere ("").
func (d *daemon) metricsAddr(cfg *config.Config) string {
	if d.inv.metricsAddr != "" {
		return d.inv.metricsAddr
	}
	return cfg.Global.Metrics
}

// setMetricsListener serves metrics on addr ("" = off). A new address is
// opened before the old listener closes; if it cannot be opened the old
// one stays. d.mu is held, or the daemon is still single-threaded.
func (d *daemon) setMetricsListener(addr string) {
	if addr == d.msrvAddr && (addr == "" || d.msrv != nil) {
		return
	}
	if addr == "" {
		if err := d.msrv.Close(); err != nil {
			d.log.Warn("metrics listener", "err", err)
		}
		d.log.Info("metrics off", "addr", d.msrvAddr)
		d.msrv, d.msrvAddr = nil, ""
		return
	}
	s, err := metrics.Listen(addr, d.metrics, d.log)
	if err != nil {
		d.log.Error("metrics not served at the new address; the director runs on", "addr", addr, "err", err,
			"still_serving", d.msrvAddr)
		return
	}
	if d.msrv != nil {
		if err := d.msrv.Close(); err != nil {
			d.log.Warn("metrics listener", "err", err)
		}
	}
	d.msrv, d.msrvAddr = s, addr
}

// statusLine is systemd's STATUS= text; d.mu is held.
func (d *daemon) statusLine() string {
	reals := 0
	for _, v := range d.cfg.Virtuals {
		reals += len(v.Reals)
	}
	return fmt.Sprintf("%d virtual services, %d real servers, dataplane %s", len(d.cfg.Virtuals), reals, d.dpName)
}

// reloadStall is how long the reload in progress has been running.
func (d *daemon) reloadStall() time.Duration {
	since := d.reloadSince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}

func (d *daemon) reloadFromFile(at time.Time, trigger string) error {
	data, err := os.ReadFile(d.path)
	if err != nil {
		d.log.Error("reload: keeping the running configuration", "trigger", trigger, "err", err)
		d.metrics.Reload(trigger, false, 0)
		return fmt.Errorf("read %s: %w", d.path, err)
	}
	if d.watcher != nil {
		d.watcher.Seen(data)
	}
	return d.reload(data, at, trigger)
}

// reload applies new file content, or keeps everything as it runs and
// logs every error with file:line (and returns them).
func (d *daemon) reload(data []byte, since time.Time, trigger string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reloadSince.Store(time.Now().UnixNano())
	defer d.reloadSince.Store(0)
	d.sd.Reloading()
	defer func() { d.sd.ReloadDone(d.statusLine()) }()
	cfg, err := config.ParseBytes(d.path, data, config.Options{FileChecks: true})
	if err == nil {
		err = director.Validate(cfg)
	}
	if err == nil {
		dpName := cfg.Global.Dataplane
		if dpName == "" {
			dpName = config.DataplaneIPVS
		}
		if dpName != d.dpName {
			err = fmt.Errorf("%s: dataplane cannot change from %s to %s on reload; restart ldird", d.path, d.dpName, dpName)
		}
	}
	if err != nil {
		d.metrics.Reload(trigger, false, d.logConfigErrors(err, trigger))
		return err
	}
	old := d.cfg
	if err := d.dir.Reload(cfg); err != nil {
		d.metrics.Reload(trigger, false, d.logConfigErrors(err, trigger))
		return err
	}
	d.cfg = cfg
	if p, ok := d.dp.(*userspace.Proxy); ok {
		p.SetMaxConns(cfg.Global.MaxConn) // per-virtual limits and timeouts came with the table
	}
	d.metrics.Reload(trigger, true, 0)
	d.setMetricsListener(d.metricsAddr(cfg))
	if g, o := cfg.Global, old.Global; g.LogFile != o.LogFile || g.Supervised != o.Supervised {
		if h, closer, err := newLogHandler(d.inv.debug, d.inv.foreground, g.Supervised, g.LogFile, os.Stderr); err != nil {
			d.log.Error("new logfile unusable; logging stays where it was", "logfile", g.LogFile, "err", err)
		} else {
			d.swap.set(h)
			if d.closer != nil {
				d.closer.Close()
			}
			d.closer = closer
		}
	}
	d.reloadExecute(old.Global.Execute, cfg.Global.Execute)
	d.log.Info("configuration applied", "trigger", trigger, "latency", time.Since(since), "virtuals", len(cfg.Virtuals))
	return nil
}

func (d *daemon) reloadExecute(old, cur []string) {
	in := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	for _, n := range old {
		if !in(cur, n) {
			d.execute([]string{n}, "stop")
		}
	}
	for _, n := range cur {
		if in(old, n) {
			d.execute([]string{n}, "reload")
		} else {
			d.execute([]string{n}, "start")
		}
	}
}

// errorList flattens a configuration error into its single errors.
func errorList(err error) []error {
	var es config.Errors
	if errors.As(err, &es) {
		list := make([]error, 0, len(es))
		for _, e := range es {
			list = append(list, e)
		}
		return list
	}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()
	}
	return []error{err}
}

// logConfigErrors logs every error of a refused configuration and returns
// how many there were.
func (d *daemon) logConfigErrors(err error, trigger string) int {
	list := errorList(err)
	for _, e := range list {
		var ce *config.Error
		if errors.As(e, &ce) {
			d.log.Error("configuration error; keeping the running configuration", "trigger", trigger,
				"file", ce.File, "line", ce.Line, "error", ce.Msg, "where", fmt.Sprintf("%s:%d", ce.File, ce.Line))
			continue
		}
		d.log.Error("configuration error; keeping the running configuration", "trigger", trigger, "error", e.Error())
	}
	return len(list)
}

// listenControl opens the control socket (status queries), replacing a
// stale one left by a killed daemon.
func listenControl(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s is in use by another ldird", path)
	}
	os.Remove(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	_ = os.Chmod(path, 0o600)
	return ln, nil
}

// serveControl answers "status" with the table and health.
func (d *daemon) serveControl(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			switch strings.TrimSpace(line) {
			case "status":
				if err := d.dir.WriteStatus(c); err != nil {
					fmt.Fprintf(c, "error: %v\n", err)
				}
			case "reload":
				_ = c.SetDeadline(time.Now().Add(reloadReplyTimeout))
				if !d.running.Load() {
					fmt.Fprintln(c, "error: ldird is still starting (first check round); try again")
					return
				}
				d.log.Info("Reloading Linux Director Daemon config on request")
				if err := d.reloadFromFile(time.Now(), metrics.TriggerCommand); err != nil {
					for _, e := range errorList(err) {
						fmt.Fprintf(c, "error: %s\n", strings.ReplaceAll(e.Error(), "\n", "; "))
					}
					return
				}
				fmt.Fprintln(c, "ok")
			default:
				fmt.Fprintln(c, "error: unknown request")
			}
		}()
	}
}

// requestReload asks the daemon over its control socket to reload and
// reports its answer: exit 0 when the file was applied, 2 with every error
// printed when the daemon kept its configuration, 1 when it did not
// answer. answered is false when no daemon that knows "reload" listens
// (the caller then sends SIGHUP).
func requestReload(path string, stderr io.Writer) (code int, answered bool) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return 0, false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(reloadReplyTimeout + 5*time.Second))
	if _, err := io.WriteString(c, "reload\n"); err != nil {
		return 0, false
	}
	var lines []string
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	switch {
	case len(lines) == 1 && lines[0] == "error: unknown request":
		return 0, false
	case len(lines) == 1 && lines[0] == "ok":
		return exitOK, true
	case len(lines) == 0:
		msg := "connection closed"
		if err := sc.Err(); err != nil {
			msg = err.Error()
		}
		fmt.Fprintf(stderr, "ldird: reload: no answer from the daemon: %s\n", msg)
		return exitFail, true
	}
	for _, l := range lines {
		fmt.Fprintf(stderr, "Error: %s\n", strings.TrimPrefix(l, "error: "))
	}
	fmt.Fprintln(stderr, "ldird: the daemon kept its running configuration")
	return exitConfig, true
}

func queryStatus(path string, w io.Writer) error {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "status\n"); err != nil {
		return err
	}
	_, err = io.Copy(w, c)
	return err
}
