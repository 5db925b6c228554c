package resources

import (
	"context"
	"fmt"
)

// LSBAgent is an init script: `PATH start|stop|status`, exit codes per LSB.
type LSBAgent struct {
	Path   string
	Token  string
	Runner *Runner
}

// LSB exit codes (Linux Standard Base, init script actions).
var lsbNames = map[int]string{
	0: "success",
	1: "generic or unspecified error",
	2: "invalid or excess argument(s)",
	3: "unimplemented feature",
	4: "user had insufficient privilege",
	5: "program is not installed",
	6: "program is not configured",
	7: "program is not running",
}

// lsbStatusNames are the codes of the status action, which differ.
var lsbStatusNames = map[int]string{
	0:   "program is running or service is OK",
	1:   "program is dead and /var/run pid file exists",
	2:   "program is dead and /var/lock lock file exists",
	3:   "program is not running",
	4:   "program or service status is unknown",
	150: "not installed",
	151: "insufficient privileges",
}

func lsbName(m map[int]string, code int) string {
	if n, ok := m[code]; ok {
		return n
	}
	return "unknown exit code"
}

func (a *LSBAgent) String() string { return a.Token }

// Start runs `script start`: 0 is success, anything else an error.
func (a *LSBAgent) Start(ctx context.Context) error {
	res, err := a.Runner.Run(ctx, a.Path, []string{"start"}, nil)
	if err != nil {
		return fmt.Errorf("%s start: %w", a.Token, err)
	}
	if res.Code != 0 {
		return fmt.Errorf("%s start: exit %d (%s)%s", a.Token, res.Code, lsbName(lsbNames, res.Code), detail(res))
	}
	return nil
}

// Stop runs `script stop`. 0, and 7 (not running), are success. Any other
// failure is forgiven when status then says stopped: the resource is where
// we want it, and ResourceManager also only warns in that case.
func (a *LSBAgent) Stop(ctx context.Context) error {
	res, err := a.Runner.Run(ctx, a.Path, []string{"stop"}, nil)
	if err != nil {
		return fmt.Errorf("%s stop: %w", a.Token, err)
	}
	if res.Code == 0 || res.Code == 7 {
		return nil
	}
	stopErr := fmt.Errorf("%s stop: exit %d (%s)%s", a.Token, res.Code, lsbName(lsbNames, res.Code), detail(res))
	if st, serr := a.Status(ctx); serr == nil && st == Stopped {
		a.Runner.logger().Warn("stop failed but status says stopped; script probably not LSB-compliant",
			"resource", a.Token, "err", stopErr)
		return nil
	}
	return stopErr
}

// Status runs `script status`: 0 running; 1, 2, 3 stopped; else failed.
func (a *LSBAgent) Status(ctx context.Context) (State, error) {
	res, err := a.Runner.Run(ctx, a.Path, []string{"status"}, nil)
	if err != nil {
		return Failed, fmt.Errorf("%s status: %w", a.Token, err)
	}
	switch res.Code {
	case 0:
		return Running, nil
	case 1, 2, 3:
		return Stopped, nil
	}
	return Failed, fmt.Errorf("%s status: exit %d (%s)%s", a.Token, res.Code, lsbName(lsbStatusNames, res.Code), detail(res))
}
