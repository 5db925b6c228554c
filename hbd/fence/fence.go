// Package fence resets (STONITHs) a node through cluster-glue's STONITH
// plugins, the ones Heartbeat 3.0.6 uses: it runs the `stonith` program
// (Debian package cluster-glue) with the device an ha.cf stonith or
// stonith_host line configures, so every plugin that ships with it
// (external/ipmi, external/libvirt, external/ssh, meatware, null, ...) and
// every site-made external/ script works unchanged. The package does not
// decide when to fence: hbd/rm does.
package fence

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

	"lvsha/hbd/config"
	"lvsha/hbd/realtime"
)

// DefaultProgram is cluster-glue's command-line front end to the plugins.
const DefaultProgram = "/usr/sbin/stonith"

// Exit codes of the stonith program for a reset: the plugin library's
// S_* codes (stonith/stonith.h).
const (
	exitOK      = 0 // S_OK: the node was reset
	exitBadHost = 4 // S_BADHOST: the device does not control that node
)

// Device is the STONITH device configured for this node: the last stonith
// or stonith_host line of ha.cf that applies to it.
type Device struct {
	Type string // plugin type as `stonith -L` lists it, e.g. external/ipmi
	// File is the parameter file of a `stonith TYPE CONFIGFILE` line; empty
	// for stonith_host.
	File string
	// Params are the parameters of a stonith_host line, in the plugin's
	// order (the last one takes the rest of the line).
	Params string
	Source string // where it was configured, e.g. /etc/ha.d/ha.cf:14
}

// DeviceFrom makes the Device of an ha.cf line read from file.
func DeviceFrom(s config.Stonith, file string) Device {
	d := Device{Type: s.Type, Source: fmt.Sprintf("%s:%d", file, s.Line)}
	if s.IsFile() {
		d.File = s.Params
	} else {
		d.Params = s.Params
	}
	return d
}

// WaitsForOperator reports whether a reset waits for a person: meatware
// returns only once an operator has power-cycled the node and said so with
// `meatclient -c NODE`, so it is never timed out.
func (d Device) WaitsForOperator() bool { return d.Type == "meatware" }

// String names the device in logs: "external/ipmi (ha.cf:14)". Parameters
// are never shown: they often hold a password.
func (d Device) String() string { return d.Type + " (" + d.Source + ")" }

// Outcome is the result of one reset, with the names Heartbeat's stonith
// message carries (spec/wire.md §5).
type Outcome int

const (
	OK      Outcome = iota // the device reset the node
	BadHost                // the device cannot reset that node (S_BADHOST)
	Failed                 // anything else: the reset did not happen
)

// Wire is the result= value of the stonith message: OK, badhost or bad.
func (o Outcome) Wire() string {
	switch o {
	case OK:
		return "OK"
	case BadHost:
		return "badhost"
	}
	return "bad"
}

func (o Outcome) String() string { return o.Wire() }

// Result is what one reset attempt did.
type Result struct {
	Node     string
	Outcome  Outcome
	ExitCode int    // the stonith program's exit code; -1 when it did not exit by itself
	Detail   string // why it failed: the program's last words, or the error running it
	Started  time.Time
	Took     time.Duration
}

// Stonith runs resets (and status checks) through the stonith program.
// It is safe for concurrent use; it keeps counts of what it did for
// cl_status fencestatus and the metrics.
type Stonith struct {
	Device  Device
	Program string // DefaultProgram when empty
	// Timeout bounds one reset or status call (the process group is killed
	// after it); zero means none. meatware is never timed out.
	Timeout time.Duration
	Log     *slog.Logger

	mu    sync.Mutex
	stats Stats
}

// Stats counts reset attempts by outcome and keeps the last one.
type Stats struct {
	Attempts map[Outcome]uint64
	Last     *Result
	// StatusOK is the last device status check (`stonith ... -S`, at start
	// and every hour, as Heartbeat's); nil before the first.
	StatusOK  *bool
	StatusAt  time.Time
	StatusErr string
}

// Stats returns a copy of the counts.
func (s *Stonith) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Attempts = map[Outcome]uint64{}
	for k, v := range s.stats.Attempts {
		out.Attempts[k] = v
	}
	if s.stats.Last != nil {
		l := *s.stats.Last
		out.Last = &l
	}
	if s.stats.StatusOK != nil {
		v := *s.stats.StatusOK
		out.StatusOK = &v
	}
	return out
}

func (s *Stonith) program() string {
	if s.Program != "" {
		return s.Program
	}
	return DefaultProgram
}

func (s *Stonith) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Reset resets node through the device, as Heartbeat's Initiate_Reset
// does (stonith_req_reset with ST_GENERIC_RESET), and returns how it went.
// It blocks until the plugin answers, the timeout passes or ctx ends.
func (s *Stonith) Reset(ctx context.Context, node string) Result {
	r := Result{Node: node, Started: time.Now()}
	if s.Device.WaitsForOperator() {
		s.log().Warn(fmt.Sprintf("OPERATOR INTERVENTION REQUIRED to reset %s: power it off or disconnect it, then run 'meatclient -c %s'", node, node),
			"node", node, "device", s.Device.String())
	} else {
		s.log().Info(fmt.Sprintf("Resetting node %s with [%s]", node, s.Device.Type), "node", node, "device", s.Device.String())
	}
	code, detail, err := s.run(ctx, !s.Device.WaitsForOperator(), "-T", "reset", node)
	r.Took = time.Since(r.Started)
	r.ExitCode, r.Detail = code, detail
	switch {
	case err != nil:
		r.Outcome, r.Detail = Failed, err.Error()
	case code == exitOK:
		r.Outcome = OK
	case code == exitBadHost:
		r.Outcome = BadHost
	default:
		r.Outcome = Failed
		if r.Detail == "" {
			r.Detail = fmt.Sprintf("stonith exited %d", code)
		}
	}
	switch r.Outcome {
	case OK:
		s.log().Info(fmt.Sprintf("node %s now reset.", node), "node", node, "took", r.Took.Round(time.Millisecond))
	case BadHost:
		s.log().Error(fmt.Sprintf("Device %s cannot reset host %s.", s.Device.Type, node), "node", node, "detail", r.Detail)
	default:
		s.log().Error(fmt.Sprintf("Host %s not reset!", node), "node", node, "exit", r.ExitCode, "detail", r.Detail,
			"took", r.Took.Round(time.Millisecond))
	}
	s.mu.Lock()
	if s.stats.Attempts == nil {
		s.stats.Attempts = map[Outcome]uint64{}
	}
	s.stats.Attempts[r.Outcome]++
	last := r
	s.stats.Last = &last
	s.mu.Unlock()
	return r
}

// Status asks the device whether it works (`stonith ... -S`), as
// Heartbeat does when communication comes up and every hour after.
func (s *Stonith) Status(ctx context.Context) error {
	code, detail, err := s.run(ctx, true, "-S")
	if err == nil && code != 0 {
		err = fmt.Errorf("stonith -S exited %d: %s", code, detail)
	}
	ok := err == nil
	s.mu.Lock()
	s.stats.StatusOK, s.stats.StatusAt = &ok, time.Now()
	s.stats.StatusErr = ""
	if err != nil {
		s.stats.StatusErr = err.Error()
	}
	s.mu.Unlock()
	if err != nil {
		s.log().Error(fmt.Sprintf("STONITH device %s not operational!", s.Device.Type), "device", s.Device.String(), "err", err)
		return err
	}
	return nil
}

// paramPipe returns the read end of a pipe that holds text, its write end
// closed. text must fit in the pipe's buffer (64 KiB on Linux, where a
// stonith_host line is a few hundred bytes), so nothing waits for the
// program to read.
func paramPipe(text string) (*os.File, error) {
	const capacity = 64 << 10
	if len(text) > capacity {
		return nil, fmt.Errorf("%d bytes of parameters, more than %d", len(text), capacity)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	_, err = w.WriteString(text)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// run runs the stonith program with the device's parameters and args. The
// parameters of a stonith_host line go through a pipe given as a file
// (-F /dev/fd/3), not the command line, where every local user could read
// a password in ps; a parameter file is read by the same library call as
// Heartbeat's line.
func (s *Stonith) run(ctx context.Context, timed bool, args ...string) (code int, detail string, err error) {
	if timed && s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	argv := []string{"-t", s.Device.Type}
	var params *os.File
	switch {
	case s.Device.File != "":
		argv = append(argv, "-F", s.Device.File)
	case strings.TrimSpace(s.Device.Params) == "":
		argv = append(argv, "-p", "") // a plugin without parameters (suicide)
	default:
		// The parameters go through a pipe the program opens as
		// /dev/fd/3: a file would outlive an hbd killed mid-call and
		// leave a device's password on disk.
		r, err := paramPipe(s.Device.Params + "\n")
		if err != nil {
			return -1, "", fmt.Errorf("parameter pipe: %w", err)
		}
		defer r.Close()
		params = r
		argv = append(argv, "-F", "/dev/fd/3")
	}
	argv = append(argv, args...)
	cmd := exec.Command(s.program(), argv...)
	if params != nil {
		cmd.ExtraFiles = []*os.File{params} // fd 3
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so a timeout kills the plugin's children too
	// (an external/ script and what it runs).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A reset is the plugin's work, not the heartbeat's: it runs at
	// normal priority when hbd is real-time.
	if err := realtime.StartNormal(cmd); err != nil {
		return -1, "", fmt.Errorf("cannot run %s: %w", s.program(), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(2 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-done
		}
		why := "cancelled"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = fmt.Sprintf("timed out after %v", s.Timeout)
		}
		return -1, lastWords(out.String()), fmt.Errorf("stonith %s: %s (process group killed)", strings.Join(args, " "), why)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, lastWords(out.String()), nil
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), lastWords(out.String()), nil
	default:
		return -1, lastWords(out.String()), fmt.Errorf("stonith %s: %w", strings.Join(args, " "), err)
	}
}

// lastWords keeps the end of what the program printed: enough to say why,
// short enough for a log line and cl_status.
func lastWords(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	out := strings.Join(lines, " | ")
	if len(out) > 400 {
		out = "…" + out[len(out)-400:]
	}
	return out
}
