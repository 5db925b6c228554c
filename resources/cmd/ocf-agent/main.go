// Command ocf-agent runs lvsha's Go-native resource agents (IPaddr,
// IPaddr2, SendArp, ldirectord, DRRealServer) as OCF agents, installed as
// links /usr/lib/ocf/resource.d/<provider>/AGENT to the one binary. It
// picks the agent from the name it is run as (or `ocf-agent AGENT ACTION`),
// reads OCF_RESKEY_* and exits with OCF's codes.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"lvsha/resources"
)

func main() {
	os.Exit(run(os.Args, os.Environ(), os.Stdout, os.Stderr))
}

func run(argv, environ []string, stdout, stderr io.Writer) int {
	name := filepath.Base(argv[0])
	args := argv[1:]
	if _, ok := metas[name]; !ok && len(args) > 0 {
		if _, ok := metas[args[0]]; ok {
			name, args = args[0], args[1:]
		}
	}
	if _, ok := metas[name]; !ok {
		fmt.Fprintf(stderr, "%s: run me as one of %s (symlink), or as ocf-agent AGENT ACTION\n", name, agentNames())
		return resources.OCFErrUnimplemented
	}
	if len(args) != 1 {
		usage(stderr, name)
		return resources.OCFErrArgs
	}
	act := args[0]
	switch act {
	case "meta-data":
		md, _ := metadata(name)
		fmt.Fprint(stdout, md)
		return resources.OCFSuccess
	case "usage", "help":
		usage(stdout, name)
		return resources.OCFSuccess
	case "start", "stop", "monitor", "status", "validate-all":
	default:
		usage(stderr, name)
		return resources.OCFErrUnimplemented
	}

	env := envMap(environ)
	level := slog.LevelInfo
	if env["HA_debug"] == "1" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("agent", name, "action", act)
	timeout := 20 * time.Second
	if ms, err := time.ParseDuration(env["OCF_RESKEY_CRM_meta_timeout"] + "ms"); err == nil && ms > 0 {
		timeout = ms
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	opts := resources.NativeOptions{
		Logger:   log,
		StateDir: env["HA_RSCTMP"],
		Runner:   &resources.Runner{Logger: log, Timeout: timeout},
		// This process ends with the action: announcements must be sent
		// before it returns.
		Background: false,
	}
	if opts.StateDir == "" {
		opts.StateDir = resources.DefaultStateDir
	}
	agent, err := build(name, params(env), env, opts)
	if err != nil {
		return fail(stderr, log, err)
	}
	switch act {
	case "start":
		err = agent.Start(ctx)
	case "stop":
		err = agent.Stop(ctx)
	case "validate-all":
		err = agent.(resources.Validator).Validate(ctx)
	case "monitor", "status":
		st, serr := agent.Status(ctx)
		switch st {
		case resources.Running:
			if act == "status" {
				fmt.Fprintln(stdout, "running")
			}
			return resources.OCFSuccess
		case resources.Stopped:
			if act == "status" {
				fmt.Fprintln(stdout, "stopped")
			}
			return resources.OCFNotRunning
		}
		if serr == nil {
			serr = fmt.Errorf("%s: state failed", agent)
		}
		err = serr
	}
	if err != nil {
		return fail(stderr, log, err)
	}
	return resources.OCFSuccess
}

// build makes the native agent for name from the OCF parameters.
func build(name string, p map[string]string, env map[string]string, opts resources.NativeOptions) (resources.Agent, error) {
	switch name {
	case "IPaddr", "IPaddr2":
		return resources.NewIPAgent(name, p, opts)
	case "SendArp":
		a, err := resources.NewSendArp(p, opts)
		if err == nil && env["OCF_RESOURCE_INSTANCE"] != "" {
			a.Instance = env["OCF_RESOURCE_INSTANCE"]
		}
		return a, err
	case "ldirectord":
		if opts.HADir == "" {
			opts.HADir = resources.DefaultHADir
		}
		a, err := resources.NewLdirectord(p, opts)
		if err == nil {
			// ocf-tester's probe sets this to check that a missing binary
			// gives "not installed"; agents that do not source
			// ocf-shellfuncs must honour it themselves.
			a.FailHaveBinary = env["OCF_TESTER_FAIL_HAVE_BINARY"] == "1"
		}
		return a, err
	case "DRRealServer":
		return resources.NewDRRealServer(p, opts)
	}
	return nil, fmt.Errorf("unknown agent %s", name)
}

func fail(stderr io.Writer, log *slog.Logger, err error) int {
	code := resources.OCFCode(err)
	log.Error("action failed", "rc", code, "err", err)
	// Pacemaker shows this line as the failure reason.
	fmt.Fprintf(stderr, "ocf-exit-reason:%s\n", err)
	return code
}

// params collects OCF_RESKEY_<name>, leaving out meta attributes
// (CRM_meta_*), the feature set and the *_default convention variables.
func params(env map[string]string) map[string]string {
	p := map[string]string{}
	for k, v := range env {
		n, ok := strings.CutPrefix(k, "OCF_RESKEY_")
		if !ok || strings.HasPrefix(n, "CRM_meta_") || n == "crm_feature_set" || strings.HasSuffix(n, "_default") {
			continue
		}
		p[n] = v
	}
	return p
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func agentNames() string {
	var n []string
	for k := range metas {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

func usage(w io.Writer, name string) {
	fmt.Fprintf(w, "usage: %s {start|stop|status|monitor|validate-all|meta-data|usage}\n", name)
}
