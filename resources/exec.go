package resources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MaxOutput bounds how much of each of stdout and stderr a call keeps.
const MaxOutput = 64 << 10

// outputGrace is how long we wait, after the script itself exited, for its
// output pipes to close. A script that starts a daemon often leaves it
// holding stdout; we must not wait for the daemon.
const outputGrace = 100 * time.Millisecond

// Runner runs agent processes: each call in its own process group, bounded
// by Timeout; on timeout the whole group gets SIGTERM, then SIGKILL after
// KillGrace.
type Runner struct {
	Timeout   time.Duration // DefaultTimeout when zero
	KillGrace time.Duration // DefaultKillGrace when zero
	Logger    *slog.Logger
	Env       []string // appended to os.Environ() and before per-call env
	// Start starts the process; cmd.Start when nil. A real-time hbd
	// passes one that gives the child normal scheduling.
	Start func(*exec.Cmd) error
}

// Result is the outcome of one finished call.
type Result struct {
	Code     int    // exit status; -1 if killed by a signal
	Stdout   string // at most MaxOutput bytes
	Stderr   string // at most MaxOutput bytes
	Duration time.Duration
}

// TimeoutError is returned when a call did not finish in time.
type TimeoutError struct {
	Cmd     string
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: timed out after %s (process group killed)", e.Cmd, e.Timeout)
}

func (r *Runner) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

func (r *Runner) killGrace() time.Duration {
	if r.KillGrace > 0 {
		return r.KillGrace
	}
	return DefaultKillGrace
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

// Run runs path with args and extra environment. A non-zero exit is a
// Result with err nil; err is set when the program could not be started,
// timed out (*TimeoutError) or ctx was cancelled.
func (r *Runner) Run(ctx context.Context, path string, args []string, env []string) (Result, error) {
	timeout := r.timeout()
	desc := strings.TrimSpace(path + " " + strings.Join(args, " "))
	log := r.logger().With("cmd", desc)

	cmd := exec.Command(path, args...)
	cmd.Env = append(append(ChildEnv(), r.Env...), env...)
	cmd.Stdin = nil
	// Own process group: a timeout kills the script and everything it
	// forked, and signals meant for hbd's terminal do not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	// Pipes we read ourselves instead of exec's copying goroutines, so that
	// Wait returns when the script exits even if a daemon it started keeps
	// the write ends open.
	stdout, err := newCapture()
	if err != nil {
		return Result{Code: -1}, fmt.Errorf("%s: %w", desc, err)
	}
	stderr, err := newCapture()
	if err != nil {
		stdout.abandon()
		return Result{Code: -1}, fmt.Errorf("%s: %w", desc, err)
	}
	cmd.Stdout, cmd.Stderr = stdout.w, stderr.w
	start := time.Now()
	startCmd := r.Start
	if startCmd == nil {
		startCmd = (*exec.Cmd).Start
	}
	if err := startCmd(cmd); err != nil {
		stdout.abandon()
		stderr.abandon()
		return Result{Code: -1}, fmt.Errorf("start %s: %w", desc, err)
	}
	stdout.started()
	stderr.started()
	pgid := cmd.Process.Pid

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var waitErr, callErr error
	select {
	case waitErr = <-done:
	case <-timer.C:
		callErr = &TimeoutError{Cmd: desc, Timeout: timeout}
		waitErr = r.killGroup(log, pgid, done)
	case <-ctx.Done():
		callErr = fmt.Errorf("%s: %w", desc, ctx.Err())
		waitErr = r.killGroup(log, pgid, done)
	}
	res := Result{Duration: time.Since(start), Code: exitCode(cmd, waitErr)}
	res.Stdout = stdout.result()
	res.Stderr = stderr.result()

	attrs := []any{"exit", res.Code, "duration", res.Duration.Round(time.Millisecond)}
	if res.Stdout != "" {
		attrs = append(attrs, "stdout", res.Stdout)
	}
	if res.Stderr != "" {
		attrs = append(attrs, "stderr", res.Stderr)
	}
	if callErr != nil {
		log.Error("agent call failed", append(attrs, "err", callErr)...)
		return res, callErr
	}
	if waitErr != nil && res.Code == -1 {
		var ee *exec.ExitError
		if !errors.As(waitErr, &ee) {
			log.Error("agent call failed", append(attrs, "err", waitErr)...)
			return res, fmt.Errorf("%s: %w", desc, waitErr)
		}
	}
	log.Debug("agent call", attrs...)
	return res, nil
}

// killGroup sends SIGTERM to the process group, waits up to KillGrace for
// the leader, then SIGKILLs whatever is left of the group (children that
// ignored SIGTERM) and returns the leader's wait error.
func (r *Runner) killGroup(log *slog.Logger, pgid int, done <-chan error) error {
	log.Warn("killing agent process group", "pgid", pgid, "signal", "SIGTERM")
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(r.killGrace())
	defer grace.Stop()
	var err error
	select {
	case err = <-done:
		// The leader is gone; members that ignored SIGTERM may remain.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return err
	case <-grace.C:
	}
	log.Warn("killing agent process group", "pgid", pgid, "signal", "SIGKILL")
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return <-done // SIGKILL cannot be ignored: the leader exits now
}

func exitCode(cmd *exec.Cmd, err error) int {
	if cmd.ProcessState != nil {
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Exited() {
			return ws.ExitStatus()
		}
		return -1
	}
	if err == nil {
		return 0
	}
	return -1
}

// capture is one output pipe read into a bounded buffer.
type capture struct {
	r, w *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	eof  chan struct{}
}

func newCapture() (*capture, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	return &capture{r: r, w: w, eof: make(chan struct{})}, nil
}

// started closes our copy of the write end and starts draining. The
// reader keeps draining (and discarding beyond MaxOutput) until every
// writer is gone, so a daemon writing to it never blocks.
func (c *capture) started() {
	c.w.Close()
	go func() {
		defer close(c.eof)
		defer c.r.Close()
		b := make([]byte, 4096)
		for {
			n, err := c.r.Read(b)
			if n > 0 {
				c.mu.Lock()
				if room := MaxOutput - c.buf.Len(); room > 0 {
					c.buf.Write(b[:min(n, room)])
				}
				c.mu.Unlock()
			}
			if err != nil { // EOF: every writer closed
				return
			}
		}
	}()
}

func (c *capture) abandon() {
	c.w.Close()
	c.r.Close()
}

// result waits briefly for EOF and returns what was read so far.
func (c *capture) result() string {
	t := time.NewTimer(outputGrace)
	defer t.Stop()
	select {
	case <-c.eof:
	case <-t.C:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// lastLine returns the last non-empty line of s (for short error messages).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// ChildEnv is the daemon's environment less systemd's notify and watchdog
// variables: a script or a daemon it starts must not speak to systemd in
// hbd's name (NotifyAccess=main ignores it, but another setting would not).
func ChildEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID":
			continue
		}
		out = append(out, kv)
	}
	return out
}
