package resources

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// ScriptAgent is a Heartbeat resource.d script: `PATH ARGS... start|stop|status`.
// start and stop are judged by the exit status; status by its stdout, as
// ResourceManager's we_own_resource does (the exit status is ignored).
type ScriptAgent struct {
	Path   string
	Args   []string
	Token  string
	Runner *Runner
}

func (a *ScriptAgent) String() string { return a.Token }

func (a *ScriptAgent) call(ctx context.Context, action string) (Result, error) {
	args := append(append([]string(nil), a.Args...), action)
	return a.Runner.Run(ctx, a.Path, args, nil)
}

// Start runs `script args start`; non-zero is an error.
func (a *ScriptAgent) Start(ctx context.Context) error { return a.simple(ctx, "start") }

// Stop runs `script args stop`; non-zero is an error (a script that fails to
// stop a stopped resource is not LSB-compliant; the caller's status check
// decides what that means, as in ResourceManager).
func (a *ScriptAgent) Stop(ctx context.Context) error { return a.simple(ctx, "stop") }

func (a *ScriptAgent) simple(ctx context.Context, action string) error {
	res, err := a.call(ctx, action)
	if err != nil {
		return fmt.Errorf("%s %s: %w", a.Token, action, err)
	}
	if res.Code != 0 {
		return fmt.Errorf("%s %s: return code %d from %s%s", a.Token, action, res.Code, a.Path, detail(res))
	}
	return nil
}

// Status runs `script args status` and reads its stdout.
func (a *ScriptAgent) Status(ctx context.Context) (State, error) {
	res, err := a.call(ctx, "status")
	if err != nil {
		return Failed, fmt.Errorf("%s status: %w", a.Token, err)
	}
	return StatusFromOutput(res.Stdout), nil
}

// The shell patterns of we_own_resource: `*[Nn][Oo][Tt] *[Rr]unning*` is
// "not owned"; else `*[Rr]unning*` or `*OK*` is owned. In a shell case
// pattern `*` also matches newlines, hence (?s).
var (
	notRunningRE = regexp.MustCompile(`(?s)[Nn][Oo][Tt] .*[Rr]unning`)
	runningRE    = regexp.MustCompile(`[Rr]unning|OK`)
)

// StatusFromOutput applies Heartbeat's classic status convention to the
// stdout of a status call. The shell's $(...) drops trailing newlines,
// which cannot change the outcome here.
func StatusFromOutput(stdout string) State {
	switch {
	case notRunningRE.MatchString(stdout):
		return Stopped
	case runningRE.MatchString(stdout):
		return Running
	}
	return Stopped
}

// detail formats the tail of a failed call's output for an error message.
func detail(res Result) string {
	out := strings.TrimSpace(res.Stderr)
	if out == "" {
		out = strings.TrimSpace(res.Stdout)
	}
	if out == "" {
		return ""
	}
	return ": " + lastLine(out)
}
