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
	"syscall"
	"time"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
	"lvsha/ldird/dataplane/ipvs"
	"lvsha/ldird/dataplane/userspace"
	"lvsha/ldird/director"
)

// envDaemonChild marks the re-executed daemon process; Go cannot fork, so
// `start` re-executes itself detached and waits for a readiness line on fd 3.
const envDaemonChild = "LDIRD_DAEMON_CHILD"

// readyTimeout bounds how long `start` waits for the daemon to say it runs.
const readyTimeout = 30 * time.Second

// start runs the daemon: in the foreground with -d or supervised=yes,
// else detached (setsid, stdio on /dev/null, cwd /), returning once the
// daemon has its pid file, dataplane and control socket.
func start(inv invocation, path string, cfg *config.Config, data []byte, stderr io.Writer) int {
	if inv.debug || cfg.Global.Supervised {
		return runDaemon(inv, path, cfg, data, stderr, func(error) {})
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
	case <-time.After(readyTimeout):
		fmt.Fprintf(stderr, "ldird: daemon not ready after %v\n", readyTimeout)
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
	code = runDaemon(inv, path, cfg, data, stderr, report)
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

	mu  sync.Mutex // serialises reloads (SIGHUP and the watcher)
	cfg *config.Config
}

func newDataplane(name string, log *slog.Logger) (dataplane.Dataplane, string, error) {
	if name == config.DataplaneUserspace {
		return userspace.New(userspace.Options{Logger: log.With("component", "userspace")}), "ldird userspace proxy (dataplane = userspace)", nil
	}
	v, err := ipvs.New()
	if err != nil {
		// ipvs.New's error already says to use `dataplane = userspace`.
		return nil, "", fmt.Errorf("cannot use IPVS: %w", err)
	}
	return v, "", nil
}

func runDaemon(inv invocation, path string, cfg *config.Config, data []byte, stderr io.Writer, report func(error)) int {
	h, closer, err := newLogHandler(inv.debug, cfg.Global.Supervised, cfg.Global.LogFile, stderr)
	if err != nil {
		h = slog.NewTextHandler(stderr, nil)
		slog.New(h).Warn("logging to stderr", "err", err)
	}
	swap := newSwapHandler(h)
	log := slog.New(swap).With("cfg", inv.cfgName, "pid", os.Getpid())
	d := &daemon{inv: inv, path: path, log: log, swap: swap, closer: closer, cfg: cfg}
	log.Info("Invoking ldird invoked as: "+strings.Join(inv.argv, " "), "version", Version)
	fail := func(err error) int {
		log.Error("Exiting with exit_status 1: "+err.Error(), "err", err)
		report(err)
		if cfg.Global.Supervised && !inv.debug { // -d already logged it on stderr
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
	dp, header, err := newDataplane(d.dpName, log)
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
	d.dir = director.New(opts)
	ln, err := listenControl(sockPath(inv.cfgName))
	if err != nil {
		return fail(err)
	}
	defer os.Remove(sockPath(inv.cfgName))
	defer ln.Close()
	go d.serveControl(ln)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGXCPU, syscall.SIGXFSZ)
	signal.Ignore(syscall.SIGPIPE)
	log.Info("Starting ldird", "config", path, "dataplane", d.dpName, "virtuals", len(cfg.Virtuals))
	report(nil)
	d.execute(cfg.Global.Execute, "start")
	if err := d.dir.Start(context.Background(), cfg); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	d.watcher, err = director.WatchFile(path, data, 5*time.Millisecond, log, d.fileChanged)
	if err != nil {
		log.Error("cannot watch the configuration; autoreload and callback are off", "err", err)
	}
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			log.Info("Reloading Linux Director Daemon config on signal")
			d.reloadFromFile(time.Now(), "signal")
			continue
		}
		log.Info("Linux Director Daemon terminating on signal: "+sig.String(), "signal", sig.String())
		break
	}
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
		d.reload(data, firstEvent, "autoreload")
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

func (d *daemon) reloadFromFile(at time.Time, trigger string) {
	data, err := os.ReadFile(d.path)
	if err != nil {
		d.log.Error("reload: keeping the running configuration", "err", err)
		return
	}
	if d.watcher != nil {
		d.watcher.Seen(data)
	}
	d.reload(data, at, trigger)
}

// reload applies new file content, or keeps everything as it runs and
// logs every error with file:line.
func (d *daemon) reload(data []byte, since time.Time, trigger string) {
	d.mu.Lock()
	defer d.mu.Unlock()
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
		d.logConfigErrors(err, trigger)
		return
	}
	old := d.cfg
	if err := d.dir.Reload(cfg); err != nil {
		d.logConfigErrors(err, trigger)
		return
	}
	d.cfg = cfg
	if g, o := cfg.Global, old.Global; g.LogFile != o.LogFile || g.Supervised != o.Supervised {
		if h, closer, err := newLogHandler(d.inv.debug, g.Supervised, g.LogFile, os.Stderr); err != nil {
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

func (d *daemon) logConfigErrors(err error, trigger string) {
	var list []error
	var es config.Errors
	switch {
	case errors.As(err, &es):
		for _, e := range es {
			list = append(list, e)
		}
	default:
		if u, ok := err.(interface{ Unwrap() []error }); ok {
			list = u.Unwrap()
		} else {
			list = []error{err}
		}
	}
	for _, e := range list {
		var ce *config.Error
		if errors.As(e, &ce) {
			d.log.Error("configuration error; keeping the running configuration", "trigger", trigger,
				"file", ce.File, "line", ce.Line, "error", ce.Msg, "where", fmt.Sprintf("%s:%d", ce.File, ce.Line))
			continue
		}
		d.log.Error("configuration error; keeping the running configuration", "trigger", trigger, "error", e.Error())
	}
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
			default:
				fmt.Fprintln(c, "error: unknown request")
			}
		}()
	}
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
