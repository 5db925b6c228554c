// Command ldird is an ldirectord replacement: it reads ldirectord.cf,
// health-checks the real servers and keeps the IPVS table (or ldird's
// userspace proxy) in line with their health. This package is the command
// line and the daemon's life (detaching and the pid file, reload, the
// metrics listener); config, check, director, dataplane, metrics and
// control do the work.
//
// Usage, as ldirectord 4.12:
//
//	ldird [-d|--debug] [-f|--foreground] [--metrics ADDR] [-t|--test] [--] [configfile] start|stop|restart|try-restart|reload|force-reload|status
//	ldird [configfile] status --connections
//	ldird -h|--help|-?
//	ldird -v|--version
//
// A bare config name is looked up in /etc/ha.d/, then /etc/ha.d/conf/,
// then taken as a path; without one, /etc/ha.d/ldirectord.cf. The pid file
// is /var/run/ldirectord.<name>.pid, where <name> is the basename of the
// configfile argument, or "ldirectord" when none is given (ldirectord's
// naming, so its init scripts and resource agents work unchanged).
//
// Exit codes (ldirectord's):
//
//	0    success; start when already running; stop or try-restart when not
//	     running; status: running
//	1    config file not found; reload when not running; start failed (for
//	     example IPVS unavailable: use "dataplane = userspace"); stop did not
//	     end the daemon within 60 s; status: stopped with a stale pid file;
//	     -t: the configuration has errors
//	2    the configuration has errors (every error is printed as
//	     file:line: message)
//	3    status: stopped
//	255  usage error (unknown option, missing or unknown command)
//
// Differences from ldirectord, on purpose:
//
//   - -t/--test checks the configuration as start does (including what the
//     checks refuse, such as a receive pattern that does not compile, and
//     that the logfile and every monitorfile could be opened for append,
//     without creating them), prints every error and exits 1 if there is
//     any, 0 otherwise. The command is optional. ldirectord's -t only
//     reads the file.
//   - -h prints the usage and exits 0 (ldirectord runs perldoc).
//   - stop waits until the daemon has gone (cleanstop done), up to 60 s.
//   - status also prints the table in the layout of `ipvsadm -L -n`, and
//     then, per configured real, its health, weight in the table and last
//     check result and latency (asked of the daemon over its control
//     socket /var/run/ldird.<name>.sock, mode 0600), and then the
//     connection synchronisation (syncdaemon). status --connections
//     prints the connection table instead, in the layout of
//     `ipvsadm -Lnc` with each entry's origin (local, or sync: learnt
//     from another director).
//   - stop and status work with a broken configuration file (they do not
//     need it; ldirectord refuses with exit 2 and cannot be stopped).
//   - -d and supervised=yes stay in the foreground and also write the pid
//     file, so stop, reload and status work on them.
//   - A reload (SIGHUP, reload, autoreload) with errors keeps the running
//     configuration, globals included, and logs every error with
//     file:line; ldirectord resets the globals.
//   - autoreload watches the file with inotify (its directory, and those
//     of symlink targets): changes apply within milliseconds, not at the
//     next check pass.
//   - The global directive "dataplane = ipvs|userspace" (default ipvs)
//     chooses the kernel table or ldird's userspace proxy.
//   - -f/--foreground (an ldird option) stays in the foreground like -d
//     but logs at the info level to stderr, for systemd (Type=notify):
//     when stderr is the journal each line carries its syslog priority.
//     In the foreground ldird speaks sd_notify: READY=1 once the
//     configuration is loaded, the dataplane open, the control socket
//     listening and the first check round published; RELOADING=1 and
//     READY=1 around every reload; STOPPING=1 on stop; WATCHDOG=1 every
//     half WatchdogSec while its loops make progress.
//   - --metrics ADDR (an ldird option), or the global directive
//     "metrics = ADDR", serves Prometheus metrics on http://ADDR/metrics;
//     the option wins over the directive. A changed directive moves the
//     listener on reload.
//   - The global directive "syncdaemon = IFACE [syncid=N] [maxlen=N]
//     [mcast=GROUP[:PORT]] [ttl=N]" runs the kernel's IPVS master and
//     backup connection synchronisation daemons (started with the
//     daemon, changed on reload, stopped on stop unless someone else
//     started them; see ldird/syncd).
//   - reload and force-reload ask the daemon over its control socket and
//     wait for the answer: exit 0 when it applied the file, 2 (with every
//     error) when it kept the running configuration. A daemon without the
//     socket (ldirectord itself) gets SIGHUP as before.
//
// Environment: LDIRD_RUNDIR replaces /var/run (pid file and socket), for
// tests and unprivileged runs.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"lvsha/ldird/config"
	"lvsha/ldird/control"
	"lvsha/ldird/director"
)

// Version is what -v prints first.
const Version = "ldird (lvsha) 1.0, compatible with Linux Director v1.186-ha (ldirectord 4.12)"

const usageText = `Usage: ldird [-d|--debug] [-f|--foreground] [--metrics ADDR] [-t|--test] [--] [configfile] start|stop|restart|try-restart|reload|force-reload|status
       ldird [configfile] status --connections
       ldird -h|--help|-?
       ldird -v|--version

  -d, --debug       stay in the foreground and log to stderr at debug level
  -f, --foreground  stay in the foreground and log to stderr (systemd, sd_notify)
  --metrics ADDR    serve Prometheus metrics on http://ADDR/metrics (e.g. 127.0.0.1:9695)
  -t, --test        check the configuration, print every error (exit 1 if any)
  --connections     with status: print the connection table (as ipvsadm -Lnc)
  -h, --help        this text
  -v, --version     version

A bare configfile name is looked up in /etc/ha.d/ and /etc/ha.d/conf/;
the default is /etc/ha.d/ldirectord.cf.
`

// Exit codes.
const (
	exitOK        = 0
	exitFail      = 1
	exitConfig    = 2
	exitStopped   = 3
	exitUsage     = 255
	stopWaitLimit = 60 * time.Second
)

var commands = map[string]bool{"start": true, "stop": true, "restart": true, "try-restart": true,
	"reload": true, "force-reload": true, "status": true}

// invocation is a parsed command line.
type invocation struct {
	debug, test bool
	foreground  bool   // -f/--foreground
	connections bool   // status --connections
	metricsAddr string // --metrics ADDR
	config      string // as given (or the default name)
	cfgName     string // pid file name part
	cmd         string
	argv        []string
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(argv []string, stdout, stderr io.Writer) int {
	inv, code, done := parseArgs(argv[1:], stdout, stderr)
	if done {
		return code
	}
	inv.argv = argv
	if os.Getenv(envDaemonChild) == "1" {
		return daemonChild(inv, stderr)
	}
	return dispatch(inv, stdout, stderr)
}

// parseArgs follows ldirectord's Getopt::Long setup: bundling, no
// abbreviations, options before the arguments.
func parseArgs(args []string, stdout, stderr io.Writer) (inv invocation, code int, done bool) {
	usage := func(msg string) (invocation, int, bool) {
		if msg != "" {
			fmt.Fprintln(stderr, "ldird: "+msg)
		}
		fmt.Fprint(stderr, usageText)
		return inv, exitUsage, true
	}
	var help, version bool
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		if strings.HasPrefix(a, "--") {
			if v, ok := strings.CutPrefix(a, "--metrics="); ok {
				inv.metricsAddr = v
				if v == "" {
					return usage("--metrics needs an address")
				}
				continue
			}
			switch a {
			case "--metrics":
				if i+1 >= len(args) || args[i+1] == "" {
					return usage("--metrics needs an address")
				}
				i++
				inv.metricsAddr = args[i]
			case "--foreground":
				inv.foreground = true
			case "--connections":
				inv.connections = true
			case "--debug":
				inv.debug = true
			case "--test":
				inv.test = true
			case "--help":
				help = true
			case "--version":
				version = true
			default:
				return usage("unknown option " + a)
			}
			continue
		}
		for _, c := range a[1:] {
			switch c {
			case 'd':
				inv.debug = true
			case 'f':
				inv.foreground = true
			case 't':
				inv.test = true
			case 'h', '?':
				help = true
			case 'v':
				version = true
			default:
				return usage(fmt.Sprintf("unknown option -%c", c))
			}
		}
	}
	if help {
		fmt.Fprint(stdout, usageText)
		return inv, exitOK, true
	}
	if version {
		fmt.Fprintln(stdout, Version)
		return inv, exitOK, true
	}
	rest := args[i:]
	// `status --connections`: the one option allowed after the command.
	if n := len(rest); n >= 2 && rest[n-1] == "--connections" && rest[n-2] == "status" {
		inv.connections, rest = true, rest[:n-1]
	}
	inv.config, inv.cfgName = config.DefaultName, "ldirectord"
	switch {
	case inv.test && len(rest) == 1 && !commands[rest[0]]:
		inv.config, inv.cfgName = rest[0], filepath.Base(rest[0])
	case inv.test && len(rest) == 0:
	case len(rest) == 1:
		inv.cmd = rest[0]
	case len(rest) == 2:
		inv.config, inv.cfgName, inv.cmd = rest[0], filepath.Base(rest[0]), rest[1]
	case len(rest) == 0:
		return usage("no command given")
	default:
		return usage("too many arguments")
	}
	if inv.cmd != "" && !commands[inv.cmd] {
		return usage("unknown command " + inv.cmd)
	}
	if inv.connections && inv.cmd != "status" {
		return usage("--connections goes with status only")
	}
	return inv, 0, false
}

// loaded is a configuration file as read and parsed.
type loaded struct {
	path string // where it was found
	cfg  *config.Config
	data []byte // its content, for the watcher
}

// fileChecks is how much loadConfig checks the files the configuration
// names (logfile, monitorfile, maintenancedir).
type fileChecks int

const (
	filesNone  fileChecks = iota // syntax and meaning only
	filesProbe                   // also what start opens, touching nothing (-t)
	filesOpen                    // open them as ldirectord does, creating missing ones (start)
)

// loadConfig locates and parses the configuration; it prints what is
// wrong and returns the exit code when it fails.
func loadConfig(inv invocation, stderr io.Writer, files fileChecks) (loaded, int) {
	path, err := config.Locate(inv.config)
	if err != nil {
		fmt.Fprintf(stderr, "Config file %s not found\n", inv.config)
		return loaded{}, exitFail
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "Config file %s: %v\n", path, err)
		return loaded{}, exitFail
	}
	cfg, err := config.ParseBytes(path, data, config.Options{FileChecks: files != filesNone, NoCreate: files == filesProbe})
	if err == nil {
		err = director.Validate(cfg)
	}
	if err != nil {
		printErrors(stderr, err)
		return loaded{path: path, data: data}, exitConfig
	}
	return loaded{path: path, cfg: cfg, data: data}, exitOK
}

func printErrors(w io.Writer, err error) {
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintf(w, "Error: %s\n", e)
		}
		return
	}
	fmt.Fprintf(w, "Error: %v\n", err)
}

func dispatch(inv invocation, stdout, stderr io.Writer) int {
	if inv.test {
		return testConfig(inv, stdout, stderr)
	}
	cfgShown := inv.config
	if p, err := config.Locate(inv.config); err == nil {
		cfgShown = p
	}
	pid, stale := runningPid(inv.cfgName)
	switch inv.cmd {
	case "status":
		if pid == 0 {
			fmt.Fprintf(stdout, "ldirectord is stopped for %s\n", cfgShown)
			if stale {
				fmt.Fprintf(stderr, "ldirectord stale pid file %s for %s\n", pidPath(inv.cfgName), cfgShown)
				return exitFail
			}
			return exitStopped
		}
		fmt.Fprintf(stderr, "ldirectord for %s is running with pid: %d\n", cfgShown, pid)
		if inv.connections {
			if err := control.Connections(sockPath(inv.cfgName), stdout); err != nil {
				fmt.Fprintf(stderr, "ldird: connection table unavailable: %v\n", err)
				return exitFail
			}
			return exitOK
		}
		if err := control.Status(sockPath(inv.cfgName), stdout); err != nil {
			fmt.Fprintf(stderr, "ldird: table unavailable: %v\n", err)
		}
		return exitOK
	case "stop":
		if pid == 0 {
			return exitOK
		}
		return stopAndWait(pid, inv.cfgName, stderr)
	case "reload", "force-reload":
		if _, code := loadConfig(inv, stderr, filesNone); code != exitOK {
			return code
		}
		if pid == 0 {
			fmt.Fprintf(stderr, "ldirectord is stopped for %s\n", cfgShown)
			return exitFail
		}
		if code, answered := requestReload(sockPath(inv.cfgName), stderr); answered {
			return code
		}
		// No control socket that knows "reload" (ldirectord itself, or
		// the socket is gone): signal as ldirectord does.
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			fmt.Fprintf(stderr, "ldird: signal %d: %v\n", pid, err)
			return exitFail
		}
		return exitOK
	case "try-restart", "restart":
		if pid == 0 && inv.cmd == "try-restart" {
			return exitOK
		}
		l, code := loadConfig(inv, stderr, filesOpen)
		if code != exitOK {
			return code
		}
		if pid != 0 {
			if code := stopAndWait(pid, inv.cfgName, stderr); code != exitOK {
				return code
			}
		}
		return start(inv, l, stderr)
	case "start":
		l, code := loadConfig(inv, stderr, filesOpen)
		if code != exitOK {
			return code
		}
		if pid != 0 {
			return exitOK
		}
		return start(inv, l, stderr)
	}
	return exitUsage
}

// stopAndWait sends SIGTERM and waits for the process to end.
func stopAndWait(pid int, cfgName string, stderr io.Writer) int {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return exitOK
		}
		fmt.Fprintf(stderr, "ldird: signal %d: %v\n", pid, err)
		return exitFail
	}
	deadline := time.Now().Add(stopWaitLimit)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return exitOK
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(stderr, "ldird: pid %d still running %v after SIGTERM\n", pid, stopWaitLimit)
	return exitFail
}

// requestReload asks the daemon over its control socket to reload and
// reports its answer: exit 0 when the file was applied, 2 with every error
// printed when the daemon kept its configuration, 1 when it did not
// answer. answered is false when no daemon that knows "reload" listens
// (the caller then sends SIGHUP).
func requestReload(path string, stderr io.Writer) (code int, answered bool) {
	err := control.Reload(path)
	var refused *control.RefusedError
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, control.ErrNotServed):
		return 0, false
	case errors.As(err, &refused):
		for _, p := range refused.Problems {
			fmt.Fprintf(stderr, "Error: %s\n", p)
		}
		fmt.Fprintln(stderr, "ldird: the daemon kept its running configuration")
		return exitConfig, true
	}
	fmt.Fprintf(stderr, "ldird: reload: %v\n", err)
	return exitFail, true
}
