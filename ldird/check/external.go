package check

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// externalChecker is checktype=external: checkcommand is executed (no shell)
// as `checkcommand <vip|fwmark> <vport> <rip> <rport>`, IPv6 addresses in
// brackets, exactly as ldirectord's check_external/system_timeout. Exit 0
// means up. On checktimeout the whole process group gets SIGTERM, then
// SIGKILL after a grace period (ldirectord only TERMs the direct child).
//
// external-perl runs the file with perl(1) and the same arguments: the
// effect of ldirectord's in-process eval (exit N trapped, 0 = up) without
// embedding Perl.
type externalChecker struct {
	b    *base
	perl string // path of perl for external-perl, "" for external
}

// killGrace is how long a timed-out command may take to die after SIGTERM.
const killGrace = 2 * time.Second

func newExternal(b *base, perl bool) (*externalChecker, error) {
	e := &externalChecker{b: b}
	if perl {
		p, err := exec.LookPath("perl")
		if err != nil {
			return nil, configErr("checktype external-perl needs perl(1): %v", err)
		}
		e.perl = p
	}
	return e, nil
}

// hostArg formats an address as ldirectord stores it: IPv6 in brackets.
func hostArg(t Target) string {
	if !t.IP.IsValid() {
		return strconv.FormatUint(uint64(t.FwMark), 10)
	}
	if t.IP.Is6() && !t.IP.Is4In6() {
		return "[" + t.IP.String() + "]"
	}
	return t.IP.Unmap().String()
}

// ExternalArgs returns the argument list ldirectord passes to an external check.
func ExternalArgs(virtual, real Target) []string {
	return []string{hostArg(virtual), strconv.Itoa(int(virtual.Port)), hostArg(real), strconv.Itoa(int(real.Port))}
}

func (e *externalChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	ctx, cancel := withTimeout(ctx, e.b.connectTimeout)
	defer cancel()
	args := ExternalArgs(e.b.spec.Virtual, real)
	name := e.b.spec.CheckCommand
	if e.perl != "" {
		args = append([]string{name}, args...)
		name = e.perl
	}
	cmd := exec.CommandContext(ctx, name, args...)
	// Own process group so a timeout reaches the command's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = killGrace
	err := cmd.Run()
	if ctx.Err() != nil && cmd.Process != nil {
		// Whatever survived SIGTERM in the group goes now.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return finish(start, fmt.Errorf("%s timed out after %s: %w", e.b.spec.CheckCommand, time.Since(start).Round(time.Millisecond), ctx.Err()), "")
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return finish(start, fmt.Errorf("%s exited with status %d", e.b.spec.CheckCommand, ee.ExitCode()), "")
		}
		return finish(start, fmt.Errorf("run %s: %w", e.b.spec.CheckCommand, err), "")
	}
	return finish(start, nil, "exit 0")
}
