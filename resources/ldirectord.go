package resources

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LdirectordAgent is the Go-native ldirectord agent: it drives
// `ldird CONF start|stop|status` with the semantics of resource-agents'
// ocf:heartbeat:ldirectord (spec/ocf.md §12).
type LdirectordAgent struct {
	Token      string
	ConfigFile string
	Binary     string
	// FailHaveBinary treats the binary as missing (OCF_TESTER_FAIL_HAVE_BINARY).
	FailHaveBinary bool

	opts NativeOptions
}

// NewLdirectord builds the agent from OCF parameters configfile (a bare
// name is looked up in HADir, as ldirectord does) and ldirectord (the
// binary; opts.LdirdPath by default).
func NewLdirectord(p map[string]string, opts NativeOptions) (*LdirectordAgent, error) {
	opts.fill()
	for k := range p {
		if k != "configfile" && k != "ldirectord" {
			opts.Logger.Warn("ignoring unknown parameter", "agent", "ldirectord", "param", k)
		}
	}
	conf := p["configfile"]
	if conf == "" {
		conf = filepath.Join(opts.HADir, "ldirectord.cf")
	} else if !strings.ContainsRune(conf, '/') {
		conf = filepath.Join(opts.HADir, conf)
	}
	bin := p["ldirectord"]
	if bin == "" {
		bin = opts.LdirdPath
	}
	return &LdirectordAgent{
		Token:      "ldirectord::" + conf,
		ConfigFile: conf,
		Binary:     bin,
		opts:       opts,
	}, nil
}

func (a *LdirectordAgent) String() string { return a.Token }

// installed is the agent's check before every action: the config file
// exists and the binary is executable, else OCF_ERR_INSTALLED.
func (a *LdirectordAgent) installed() error {
	if _, err := os.Stat(a.ConfigFile); err != nil {
		return ocfErrorf(OCFErrInstalled, "ldirectord: configuration file %s: %v", a.ConfigFile, err)
	}
	if a.FailHaveBinary || !isExecutableFile(a.Binary) {
		return ocfErrorf(OCFErrInstalled, "ldirectord: %s is not installed or not executable", a.Binary)
	}
	return nil
}

func (a *LdirectordAgent) run(ctx context.Context, action string) (Result, error) {
	res, err := a.opts.Runner.Run(ctx, a.Binary, []string{a.ConfigFile, action}, nil)
	if err != nil {
		return res, ocfErrorf(OCFErrGeneric, "ldirectord %s: %v", action, err)
	}
	return res, nil
}

// status returns the OCF code of the agent's ldirectord_status.
func (a *LdirectordAgent) status(ctx context.Context) (int, error) {
	res, err := a.run(ctx, "status")
	if err != nil {
		return OCFErrGeneric, err
	}
	switch res.Code {
	case 0:
		return OCFSuccess, nil
	case 1:
		if strings.Contains(res.Stdout+res.Stderr, "ldirectord stale pid file") {
			return OCFNotRunning, nil
		}
		return OCFErrGeneric, ocfErrorf(OCFErrGeneric, "ldirectord status: exit 1%s", detail(res))
	case 2:
		return OCFErrGeneric, ocfErrorf(OCFErrGeneric, "ldirectord status: exit 2 (configuration error)%s", detail(res))
	case 3:
		return OCFNotRunning, nil
	}
	return OCFErrGeneric, ocfErrorf(OCFErrGeneric, "ldirectord status: exit %d%s", res.Code, detail(res))
}

// Start: already running is success; otherwise `CONF start`, then the
// status must say running.
func (a *LdirectordAgent) Start(ctx context.Context) error {
	if err := a.installed(); err != nil {
		return err
	}
	code, err := a.status(ctx)
	if code == OCFSuccess {
		return nil
	}
	if code != OCFNotRunning {
		return err
	}
	res, err := a.run(ctx, "start")
	if err != nil {
		return err
	}
	if res.Code != 0 {
		return ocfErrorf(OCFErrGeneric, "ldirectord start: exit %d%s", res.Code, detail(res))
	}
	if code, err := a.status(ctx); code != OCFSuccess {
		if err == nil {
			err = ocfErrorf(code, "ldirectord start: started but status says not running")
		}
		return err
	}
	a.opts.Logger.Info("ldirectord started", "resource", a.Token)
	return nil
}

// Stop: `CONF stop`, except when status is in error (a daemon that does
// not answer), where the processes of `BIN CONF start` are killed.
func (a *LdirectordAgent) Stop(ctx context.Context) error {
	if err := a.installed(); err != nil {
		return err
	}
	code, _ := a.status(ctx)
	if code == OCFErrGeneric {
		return a.killStart(ctx)
	}
	res, err := a.run(ctx, "stop")
	if err != nil {
		return err
	}
	if res.Code != 0 {
		return ocfErrorf(OCFErrGeneric, "ldirectord stop: exit %d%s", res.Code, detail(res))
	}
	return nil
}

// Status: 0 running, 7 stopped, else failed.
func (a *LdirectordAgent) Status(ctx context.Context) (State, error) {
	if err := a.installed(); err != nil {
		return Failed, err
	}
	switch code, err := a.status(ctx); code {
	case OCFSuccess:
		return Running, nil
	case OCFNotRunning:
		return Stopped, nil
	default:
		return Failed, err
	}
}

// Validate checks that the configuration file and the binary exist.
func (a *LdirectordAgent) Validate(ctx context.Context) error { return a.installed() }

// killStart does the agent's `pkill -f "BIN CONF start"`: TERM, then KILL
// what is left after a grace period. Processes are found by command line.
func (a *LdirectordAgent) killStart(ctx context.Context) error {
	pattern := a.Binary + " " + a.ConfigFile + " start"
	pids := findProcs(pattern)
	if len(pids) == 0 {
		return nil
	}
	a.opts.Logger.Warn("ldirectord not answering; killing its processes", "resource", a.Token, "pids", pids)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(findProcs(pattern)) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, p := range findProcs(pattern) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	if left := findProcs(pattern); len(left) > 0 {
		return ocfErrorf(OCFErrGeneric, "ldirectord stop: processes %v survive SIGKILL", left)
	}
	return nil
}

// findProcs lists PIDs whose command line (arguments joined by spaces)
// contains pattern, as pkill -f matches.
func findProcs(pattern string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := string(bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '}))
		if strings.Contains(cmd, pattern) {
			pids = append(pids, pid)
		}
	}
	return pids
}

var (
	_ Agent     = (*LdirectordAgent)(nil)
	_ Validator = (*LdirectordAgent)(nil)
)
