package resources

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// OCF exit codes (resource-agents ocf-returncodes).
const (
	OCFSuccess          = 0
	OCFErrGeneric       = 1
	OCFErrArgs          = 2
	OCFErrUnimplemented = 3
	OCFErrPerm          = 4
	OCFErrInstalled     = 5
	OCFErrConfigured    = 6
	OCFNotRunning       = 7
	OCFRunningMaster    = 8
	OCFFailedMaster     = 9
)

var ocfNames = [...]string{
	"OCF_SUCCESS", "OCF_ERR_GENERIC", "OCF_ERR_ARGS", "OCF_ERR_UNIMPLEMENTED",
	"OCF_ERR_PERM", "OCF_ERR_INSTALLED", "OCF_ERR_CONFIGURED", "OCF_NOT_RUNNING",
	"OCF_RUNNING_MASTER", "OCF_FAILED_MASTER",
}

// OCFCodeName names an OCF exit code ("OCF_NOT_RUNNING"); codes outside
// 0..9 are "unknown OCF code N".
func OCFCodeName(code int) string {
	if code >= 0 && code < len(ocfNames) {
		return ocfNames[code]
	}
	return "unknown OCF code " + strconv.Itoa(code)
}

// OCFError is an error with the OCF exit code an agent would return for it.
// Native agents use it so that the ocf-agent binary exits with the right
// code; errors from OCF scripts carry the script's code.
type OCFError struct {
	Code int
	Err  error
}

func (e *OCFError) Error() string { return OCFCodeName(e.Code) + ": " + e.Err.Error() }
func (e *OCFError) Unwrap() error { return e.Err }

func ocfErrorf(code int, format string, args ...any) error {
	return &OCFError{Code: code, Err: fmt.Errorf(format, args...)}
}

// OCFCode is the exit code for err: 0 for nil, the OCFError's code when
// there is one in the chain, else OCF_ERR_GENERIC.
func OCFCode(err error) int {
	if err == nil {
		return OCFSuccess
	}
	var oe *OCFError
	if errors.As(err, &oe) {
		return oe.Code
	}
	return OCFErrGeneric
}

// OCFAgent runs an OCF resource agent script: `PATH action` with the
// configuration in the environment.
type OCFAgent struct {
	Path     string            // OCF_ROOT/resource.d/<provider>/<type>
	Root     string            // OCF_ROOT
	Type     string            // OCF_RESOURCE_TYPE
	Instance string            // OCF_RESOURCE_INSTANCE
	Params   map[string]string // OCF_RESKEY_<name>
	// VarsFile, if set, is sourced by /bin/sh with every assignment
	// exported before the agent runs, as resource.d/OCF does with
	// conf/OCF/<agent>/<instance> (so shell quoting works as there).
	VarsFile string
	Token    string
	Runner   *Runner
}

func (a *OCFAgent) String() string {
	if a.Token != "" {
		return a.Token
	}
	return "OCF::" + a.Type + "::" + a.Instance
}

// Env is the environment given to the agent for one call.
func (a *OCFAgent) Env() []string {
	root := a.Root
	if root == "" {
		root = DefaultOCFRoot
	}
	env := []string{
		"OCF_ROOT=" + root,
		"OCF_RA_VERSION_MAJOR=1",
		"OCF_RA_VERSION_MINOR=0",
		"OCF_RESOURCE_INSTANCE=" + a.Instance,
		"OCF_RESOURCE_TYPE=" + a.Type,
		"OCF_RESOURCE_PROVIDER=" + filepath.Base(filepath.Dir(a.Path)),
		// The agent may size its own waits by this (milliseconds).
		"OCF_RESKEY_CRM_meta_timeout=" + strconv.FormatInt(a.Runner.timeout().Milliseconds(), 10),
	}
	keys := make([]string, 0, len(a.Params))
	for k := range a.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, "OCF_RESKEY_"+k+"="+a.Params[k])
	}
	return env
}

// Action runs one OCF action and returns its exit code. err is set only
// when the agent could not be run or timed out.
func (a *OCFAgent) Action(ctx context.Context, action string) (int, Result, error) {
	path, args := a.Path, []string{action}
	if a.VarsFile != "" {
		path = "/bin/sh"
		args = []string{"-c", `set -a; . "$1" || exit 6; set +a; shift; exec "$@"`, "ocf-vars", a.VarsFile, a.Path, action}
	}
	res, err := a.Runner.Run(ctx, path, args, a.Env())
	if err != nil {
		return -1, res, fmt.Errorf("%s %s: %w", a, action, err)
	}
	return res.Code, res, nil
}

func (a *OCFAgent) codeError(action string, code int, res Result) error {
	msg := exitReason(res.Stderr)
	if msg == "" {
		msg = strings.TrimPrefix(detail(res), ": ")
	}
	if msg != "" {
		msg = ": " + msg
	}
	return &OCFError{Code: code, Err: fmt.Errorf("%s %s: exit %d (%s)%s", a, action, code, OCFCodeName(code), msg)}
}

// exitReason finds the last "ocf-exit-reason:" line ocf_exit_reason printed.
func exitReason(stderr string) string {
	reason := ""
	for _, l := range strings.Split(stderr, "\n") {
		if i := strings.Index(l, "ocf-exit-reason:"); i >= 0 {
			reason = strings.TrimSpace(l[i+len("ocf-exit-reason:"):])
		}
	}
	return reason
}

// Start runs `agent start`; 0 is success.
func (a *OCFAgent) Start(ctx context.Context) error {
	code, res, err := a.Action(ctx, "start")
	if err != nil {
		return err
	}
	if code != OCFSuccess {
		return a.codeError("start", code, res)
	}
	return nil
}

// Stop runs `agent stop`. 0 is success; 7 is accepted too: OCF requires 0
// for stopping a stopped resource, but "not running" is the goal anyway.
func (a *OCFAgent) Stop(ctx context.Context) error {
	code, res, err := a.Action(ctx, "stop")
	if err != nil {
		return err
	}
	if code != OCFSuccess && code != OCFNotRunning {
		return a.codeError("stop", code, res)
	}
	return nil
}

// Status runs `agent monitor` (falling back to the legacy `status` action
// for agents that answer 3, unimplemented): 0 (and 8, running as master)
// is running, 7 stopped, anything else failed.
func (a *OCFAgent) Status(ctx context.Context) (State, error) {
	action := "monitor"
	code, res, err := a.Action(ctx, action)
	if err == nil && code == OCFErrUnimplemented {
		action = "status"
		code, res, err = a.Action(ctx, action)
	}
	if err != nil {
		return Failed, err
	}
	switch code {
	case OCFSuccess, OCFRunningMaster:
		return Running, nil
	case OCFNotRunning:
		return Stopped, nil
	}
	return Failed, a.codeError(action, code, res)
}
