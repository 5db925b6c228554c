package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"lvsha/ldird/control"
	"lvsha/ldird/director"
)

// envDaemonChild marks the re-executed daemon process; Go cannot fork, so
// `start` re-executes itself detached and waits for a readiness line on fd 3.
const envDaemonChild = "LDIRD_DAEMON_CHILD"

// readyTimeout bounds how long `start` waits for the daemon to say it runs,
// beyond its first check round (director.StartupBound).
const readyTimeout = 30 * time.Second

// start runs the daemon: in the foreground with -d, -f or supervised=yes,
// else detached (setsid, stdio on /dev/null, cwd /), returning once the
// daemon has its pid file, dataplane and control socket.
func start(inv invocation, l loaded, stderr io.Writer) int {
	if inv.debug || inv.foreground || l.cfg.Global.Supervised {
		return runDaemon(inv, l, launch{stderr: stderr, ready: func(error) {}})
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
	wait := readyTimeout + director.StartupBound(l.cfg)
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
	case <-time.After(wait):
		fmt.Fprintf(stderr, "ldird: daemon not ready after %v\n", wait)
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
	l, code := loadConfig(inv, io.Discard, filesOpen)
	if code != exitOK {
		report(fmt.Errorf("configuration changed while starting; run ldird -t %s", inv.config))
		return code
	}
	code = runDaemon(inv, l, launch{stderr: stderr, ready: report, detached: true})
	report(errors.New("daemon exited"))
	return code
}

// writePidFile writes our pid to path atomically (a reader never sees it
// half written).
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

// runDir holds the pid file and the control socket.
func runDir() string { return control.RunDir() }

func pidPath(cfgName string) string {
	return filepath.Join(runDir(), "ldirectord."+cfgName+".pid")
}

func sockPath(cfgName string) string { return control.SocketPath(cfgName) }

// runningPid returns the pid of the running daemon for cfgName, or 0; stale
// reports a pid file whose process is gone or is not ldird/ldirectord.
func runningPid(cfgName string) (pid int, stale bool) {
	b, err := os.ReadFile(pidPath(cfgName))
	if err != nil {
		return 0, false
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, true
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, true
	}
	s := string(cmdline)
	if !strings.Contains(s, "ldird") && !strings.Contains(s, "ldirectord") {
		return 0, true
	}
	if !alive(pid) {
		return 0, true
	}
	return pid, false
}

// alive reports whether pid exists and is not a zombie (an orphaned daemon
// may stay a zombie where PID 1 does not reap, e.g. in containers).
func alive(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(st), ')')
	return !(i > 0 && i+2 < len(st) && (st[i+2] == 'Z' || st[i+2] == 'X'))
}
