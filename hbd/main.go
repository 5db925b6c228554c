// Command hbd is a Heartbeat 3.0.x compatible cluster daemon (classic
// haresources mode). It reads /etc/ha.d/ha.cf, authkeys and haresources as
// Heartbeat does and speaks its wire protocol. Invoked as cl_status,
// hb_standby or hb_takeover it acts as those tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/hbd/api"
	"lvsha/hbd/config"
	"lvsha/hbd/ctl"
	"lvsha/hbd/daemon"
	"lvsha/hbd/fence"
	"lvsha/hbd/metrics"
	"lvsha/hbd/realtime"
	"lvsha/hbd/rm"
)

// Version is what cl_status hbparameter -p hbversion reports: the Heartbeat
// version we are compatible with, then ours.
const Version = "3.0.6 (lvsha hbd)"

// LSB exit codes Heartbeat uses.
const (
	exitOK            = 0
	exitFail          = 1
	exitUsage         = 2
	exitNotRunning    = 3
	exitPerm          = 4
	exitNotConfigured = 6
)

func main() {
	switch prog := filepath.Base(os.Args[0]); prog {
	case "cl_status", "hb_standby", "hb_takeover":
		os.Exit(ctl.Main(prog, os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	confDir, stateDir, pidFile, socket                        string
	check, stop, status, reload, version, foreground, verbose bool
	debug                                                     int
	noRealtime                                                bool // -l

	// Resource management.
	initDir, ocfRoot, ldird string
	rscTimeout              time.Duration
	scriptAgents            bool // run IPaddr & co. as scripts instead of in-process
	keepResources           bool // -R: groups found running are ours (re-exec)
	heartbeatStartup        bool
	onStopFailure           rm.StopFailure
	metricsAddr             string
	consoleAddr             string // -console: the web console's address (overrides ha.cf)

	// STONITH (the stonith / stonith_host lines).
	stonithTimeout, stonithRetry, stonithDelay time.Duration
}

type counter struct{ n *int }

func (c counter) String() string   { return "" }
func (c counter) Set(string) error { *c.n++; return nil }
func (c counter) IsBoolFlag() bool { return true }

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("hbd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.confDir, "c", "/etc/ha.d", "configuration directory (ha.cf, authkeys, haresources)")
	fs.StringVar(&o.stateDir, "state-dir", "/var/lib/heartbeat", "state directory (hb_uuid, hb_generation)")
	fs.StringVar(&o.pidFile, "pidfile", "/var/run/heartbeat.pid", "pid file")
	fs.StringVar(&o.socket, "socket", api.DefaultSocket, "control socket for cl_status, hb_standby, hb_takeover")
	fs.BoolVar(&o.check, "t", false, "check the configuration, print every error, exit non-zero if any")
	fs.BoolVar(&o.stop, "k", false, "stop the running daemon (waits until it is gone)")
	fs.BoolVar(&o.status, "s", false, "report whether the daemon is running")
	fs.BoolVar(&o.reload, "r", false, "validate the configuration and make the running daemon reload it")
	fs.BoolVar(&o.version, "V", false, "print the version")
	fs.BoolVar(&o.foreground, "f", false, "stay in the foreground")
	fs.BoolVar(&o.verbose, "v", false, "verbose: log the parsed configuration")
	fs.Var(counter{&o.debug}, "d", "raise the debug level (repeatable)")
	fs.BoolVar(&o.noRealtime, "l", false, "do not run at real-time priority (overrides ha.cf's realtime)")
	fs.StringVar(&o.initDir, "init-dir", "/etc/init.d", "where LSB init scripts named in haresources are looked up")
	fs.StringVar(&o.ocfRoot, "ocf-root", "/usr/lib/ocf", "OCF_ROOT for OCF agents")
	fs.StringVar(&o.ldird, "ldird", "/usr/sbin/ldird", "ldird binary run by the ldirectord resource")
	fs.DurationVar(&o.rscTimeout, "rsc-timeout", 60*time.Second, "bound on one resource start, stop or status call")
	fs.BoolVar(&o.scriptAgents, "script-agents", false, "run IPaddr, IPaddr2, SendArp and ldirectord through resource.d scripts instead of the built-in agents")
	fs.BoolVar(&o.keepResources, "R", false, "keep resources found running (used when hbd re-executes itself)")
	fs.BoolVar(&o.heartbeatStartup, "heartbeat-startup", false, "wait Heartbeat's fixed 10 s when both nodes start at once (for comparisons)")
	fs.StringVar(&o.metricsAddr, "metrics", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9694); off when empty")
	fs.StringVar(&o.consoleAddr, "console", "", "serve the web console on this address (overrides ha.cf's console line for this node)")
	fs.DurationVar(&o.stonithTimeout, "stonith-timeout", 2*time.Minute, "bound on one STONITH reset (the plugin's process group is killed and the reset retried); meatware is never timed out")
	fs.DurationVar(&o.stonithRetry, "stonith-retry", 5*time.Second, "wait before retrying a failed STONITH reset (Heartbeat's 5 s); it doubles with each failure, up to 1 min")
	fs.DurationVar(&o.stonithDelay, "stonith-delay", 5*time.Second, "when both nodes must reset each other, how long the node that is not preferred waits before its reset (0: none, as Heartbeat)")
	o.onStopFailure = rm.StopFailureReboot
	fs.Var(stopFailureFlag{&o.onStopFailure}, "on-stop-failure", "when a resource cannot be stopped: reboot (Heartbeat's behaviour), exit, or ignore")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hbd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	switch {
	case o.version:
		fmt.Fprintln(stdout, Version)
		return exitOK
	case o.check:
		return checkConfig(o, stdout, stderr)
	case o.stop:
		return stopDaemon(o, stdout, stderr)
	case o.status:
		return statusDaemon(o, stdout)
	case o.reload:
		return reloadDaemon(o, stdout, stderr)
	}
	if pid, ok := runningPID(o.pidFile); ok {
		fmt.Fprintf(stderr, "heartbeat: already running [pid %d].\n", pid)
		return exitOK
	}
	cfg, code := load(o, stderr)
	if cfg == nil {
		return code
	}
	if !o.foreground {
		return background(o, stderr)
	}
	return serve(o, cfg, stderr)
}

func nodeName(o options) (string, error) { return daemon.NodeName(o.confDir) }

// configOptions are the checks against this machine that every reading of
// the configuration makes (hbd -t, start, -r and SIGHUP), so -t, the
// systemd ExecStartPre, accepts exactly what start accepts.
func configOptions(node string) config.Options {
	return config.Options{NodeName: node, IfaceExists: ifaceExists, UserExists: userExists, Executable: executable,
		StonithCheck: (&fence.Checker{}).Check}
}

// readConfig reads the configuration directory with configOptions.
func readConfig(o options) (*config.Config, error) {
	node, err := nodeName(o)
	if err != nil {
		return nil, err
	}
	return config.Load(o.confDir, configOptions(node))
}

// load reads and validates the configuration, printing every error.
func load(o options, stderr io.Writer) (*config.Config, int) {
	if _, err := nodeName(o); err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitNotConfigured
	}
	cfg, err := readConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "Configuration error, heartbeat not started.")
		if errors.Is(err, fs.ErrPermission) {
			return nil, exitPerm
		}
		return nil, exitNotConfigured
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "WARN: %s\n", w)
	}
	return cfg, exitOK
}

// ifaceExists asks the kernel, not /sys, which may belong to another
// network namespace than ours.
func ifaceExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// userExists is Heartbeat's getpwnam check of a respawn user (through NSS,
// as the child is started with that user's credentials).
func userExists(name string) bool {
	_, err := user.Lookup(name)
	return err == nil
}

// executable is Heartbeat's access(X_OK) check of a respawn program, which
// also refuses a directory (access would pass it; exec would not). The
// error says why, without repeating the path.
func executable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	if st.IsDir() {
		return errors.New("is a directory")
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return fmt.Errorf("not executable (%w)", err)
	}
	return nil
}

func checkConfig(o options, stdout, stderr io.Writer) int {
	cfg, code := load(o, stderr)
	if cfg == nil {
		return code
	}
	node, _ := nodeName(o)
	if err := checkConsole(o, cfg, node); err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "Configuration error, heartbeat not started.")
		return exitNotConfigured
	}
	fmt.Fprintf(stdout, "%s: configuration OK (%d nodes, %d media, %d resource groups)\n",
		o.confDir, len(cfg.HA.Nodes), len(cfg.HA.Media), len(cfg.Groups))
	if s, ok := cfg.HA.StonithDevice(node); ok {
		fmt.Fprintf(stdout, "STONITH device for %s: %s\n", node, fence.DeviceFrom(s, filepath.Join(o.confDir, "ha.cf")))
	}
	return exitOK
}

// background re-executes hbd in the foreground in a new session, as
// Heartbeat daemonizes, and returns once the child has written its pid file.
func background(o options, stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	args := append([]string{"-f"}, os.Args[1:]...)
	cmd := exec.Command(self, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "start:", err)
		return exitFail
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(10 * time.Second)
	for {
		if pid, ok := runningPID(o.pidFile); ok && pid == cmd.Process.Pid {
			return exitOK
		}
		select {
		case err := <-done:
			fmt.Fprintf(stderr, "hbd exited during start-up: %v (see the log)\n", err)
			return exitFail
		case <-deadline:
			fmt.Fprintln(stderr, "hbd did not start within 10 s")
			return exitFail
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func serve(o options, cfg *config.Config, stderr io.Writer) int {
	node, _ := nodeName(o)
	log, closeLog, err := newLogger(cfg.HA, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitNotConfigured
	}
	defer closeLog()
	goRealtime(cfg.HA, o, log)
	smallHeap(log)
	if o.verbose {
		log.Info("configuration", "dir", o.confDir, "nodes", cfg.HA.Nodes, "keepalive", cfg.HA.Keepalive,
			"deadtime", cfg.HA.Deadtime, "warntime", cfg.HA.Warntime, "initdead", cfg.HA.Initdead,
			"auto_failback", cfg.HA.AutoFailback, "groups", len(cfg.Groups))
	}
	if err := writePID(o.pidFile); err != nil {
		log.Error("pid file", "err", err)
		return exitPerm
	}
	defer os.Remove(o.pidFile)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := daemon.New(ctx, daemon.Options{Config: cfg, Node: node, StateDir: o.stateDir, Log: log, Version: Version})
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFail
	}
	defer d.Close()
	backend := daemon.NewBackend(d, cfg, Version)
	var mgr *rm.Manager
	mgrDone := make(chan struct{})
	pinger := startPing(ctx, cfg, d, backend, log)
	fencer := newFencer(o, cfg, node, log)
	if fencer != nil {
		go checkDevice(ctx, fencer)
	}
	backend.SetFencing(func() api.FenceStatus { return fenceStatus(fencer, mgr) })
	if len(cfg.Groups) > 0 {
		if mgr, err = newManager(o, cfg, node, d, log, pinger, fencer); err != nil {
			log.Error("resources", "err", err)
			return exitNotConfigured
		}
		d.AddHandler(mgr)
		backend.SetResources(mgr)
		go func() { mgr.Run(ctx); close(mgrDone) }()
	} else {
		close(mgrDone)
	}
	st := startStatus(ctx, o, cfg, node, d, backend, mgr, log)
	srv, err := api.NewServer(o.socket, st.backend, log)
	if err != nil {
		log.Error("control socket", "path", o.socket, "err", err)
		return exitFail
	}
	go srv.Serve(ctx)
	if o.metricsAddr != "" {
		go func() {
			if err := metrics.Serve(ctx, o.metricsAddr, backend, log, st.routes...); err != nil {
				log.Error("metrics", "err", err)
			}
		}()
	}
	loadedAt := time.Now()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	sd := notifySystemd(ctx, d, log)
	runRespawns(ctx, cfg.HA.Respawns, log)
	for {
		select {
		case err := <-runErr:
			sd.Stopping()
			if err != nil {
				log.Error("daemon stopped", "err", err)
				return exitFail
			}
			return exitOK
		case s := <-sigs:
			switch s {
			case syscall.SIGINT:
				// Heartbeat ignores SIGINT; so do we (a stray ^C must not stop the cluster).
			case syscall.SIGHUP:
				if reexec := reload(o, loadedAt, d, log); reexec {
					sd.Reloading()
					cancel()
					<-runErr
					d.Close()
					os.Remove(o.socket)
					os.Remove(o.pidFile)
					self, _ := os.Executable()
					log.Info("ha.cf changed: restarting with the new configuration, keeping resources")
					argv := os.Args
					if mgr != nil && !slices.Contains(argv[1:], "-R") {
						argv = append([]string{argv[0], "-R"}, argv[1:]...)
					}
					// The new image starts from this thread's scheduling:
					// normal, so that a changed realtime directive counts.
					runtime.LockOSThread()
					realtime.LeaveThread()
					err := syscall.Exec(self, argv, os.Environ())
					log.Error("re-exec failed", "err", err)
					return exitFail
				}
			case syscall.SIGTERM:
				log.Info("received SIGTERM: shutting down")
				sd.Stopping()
				if mgr != nil {
					// Heartbeat's graceful stop: release every group, tell
					// the peer (shutdone), then exit.
					sctx, scancel := context.WithTimeout(context.Background(), 15*time.Minute)
					if err := mgr.Shutdown(sctx); err != nil {
						log.Error("resources not released cleanly", "err", err)
					}
					scancel()
				}
				cancel()
				<-runErr
				<-mgrDone
				log.Info("hbd stopped")
				return exitOK
			}
		}
	}
}

// goRealtime honours ha.cf's realtime (on unless -l): SCHED_RR at rtprio
// (Heartbeat's default: the lowest real-time priority) and memory locked,
// so heartbeats keep their times when other programs keep the CPUs busy.
// Without the privilege hbd runs on at normal priority, as Heartbeat does.
func goRealtime(ha *config.HACF, o options, log *slog.Logger) {
	if !ha.Realtime || o.noRealtime {
		log.Info("real-time scheduling off", "ha.cf", ha.Realtime, "-l", o.noRealtime)
		return
	}
	prio := ha.RTPrio
	if prio == 0 {
		prio = realtime.MinPriority()
	}
	st, err := realtime.Enable(prio)
	switch {
	case err != nil && st.Threads == 0:
		log.Warn("cannot run at real-time priority: heartbeats may be late when the CPUs are busy", "err", err)
	case err != nil:
		log.Warn("running at real-time priority, but memory is not locked", "priority", st.Priority, "err", err)
	default:
		log.Info("running at real-time priority with memory locked", "policy", "SCHED_RR", "priority", st.Priority, "threads", st.Threads)
	}
}

// gcPercent is hbd's GOGC unless the environment sets one. The daemon's
// live heap is a few hundred KiB and it allocates steadily (each message
// is encoded or decoded afresh), so with Go's default of 100 the heap
// grows to the 4 MiB minimum goal between collections and stays resident
// (with memory locked it cannot be returned at all). 50 halves that goal
// for a collection every second or two at 20 ms timers, each well under a
// millisecond.
const gcPercent = 50

func smallHeap(log *slog.Logger) {
	if v, ok := os.LookupEnv("GOGC"); ok {
		log.Info("garbage collector as GOGC says", "GOGC", v)
		return
	}
	debug.SetGCPercent(gcPercent)
}

// reload re-reads the configuration. A broken file keeps the running
// configuration. Changed authkeys are applied live; a changed ha.cf or
// haresources makes the daemon re-execute itself, as Heartbeat does.
func reload(o options, loadedAt time.Time, d *daemon.Daemon, log *slog.Logger) (reexec bool) {
	next, err := readConfig(o)
	if err != nil {
		log.Error("reload refused: configuration has errors; keeping the running configuration", "err", err.Error())
		d.Count("reloads_failed")
		return false
	}
	if fileChanged(filepath.Join(o.confDir, "ha.cf"), loadedAt) || fileChanged(filepath.Join(o.confDir, "haresources"), loadedAt) {
		return true
	}
	d.ReloadKeys(next.Keys)
	d.Count("reloads_ok")
	log.Info("reloaded authkeys")
	return false
}

// fileChanged reports whether a file was modified after the running
// configuration was loaded.
func fileChanged(path string, loadedAt time.Time) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	return st.ModTime().After(loadedAt)
}

func writePID(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// runningPID reads the pid file and reports whether that process lives and
// is an hbd.
func runningPID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return pid, false
	}
	return pid, true
}

func stopDaemon(o options, stdout, stderr io.Writer) int {
	pid, ok := runningPID(o.pidFile)
	if !ok {
		fmt.Fprintln(stdout, "INFO: Heartbeat already stopped.")
		return exitOK
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		fmt.Fprintf(stderr, "cannot signal pid %d: %v\n", pid, err)
		if errors.Is(err, syscall.EPERM) {
			return exitPerm
		}
		return exitFail
	}
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(50 * time.Millisecond)
	}
	return exitOK
}

func statusDaemon(o options, stdout io.Writer) int {
	pid, ok := runningPID(o.pidFile)
	if !ok {
		fmt.Fprintln(stdout, "heartbeat is stopped. No process")
		if pid != 0 {
			return exitFail
		}
		return exitNotRunning
	}
	var uts syscall.Utsname
	syscall.Uname(&uts)
	host := utsString(uts.Nodename[:])
	node, _ := nodeName(o)
	fmt.Fprintf(stdout, "heartbeat OK [pid %d et al] is running on %s [%s]...\n", pid, host, node)
	return exitOK
}

func utsString(b []int8) string {
	var s strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		s.WriteByte(byte(c))
	}
	return s.String()
}

func reloadDaemon(o options, stdout, stderr io.Writer) int {
	cfg, code := load(o, stderr)
	if cfg == nil {
		if code == exitPerm {
			return exitPerm
		}
		return exitFail
	}
	pid, ok := runningPID(o.pidFile)
	if !ok {
		return run([]string{"-c", o.confDir, "-state-dir", o.stateDir, "-pidfile", o.pidFile, "-socket", o.socket}, stdout, stderr)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	return exitOK
}
