package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"lvsha/hbd/config"
	"lvsha/hbd/daemon"
	"lvsha/hbd/rm"
	"lvsha/resources"
)

// agentResource adapts a resources.Agent to the resource manager: a
// resource is owned when its status says running (Heartbeat's
// we_own_resource); a failed state counts as running so that it is stopped
// rather than assumed gone.
type agentResource struct{ resources.Agent }

func (a agentResource) Running(ctx context.Context) (bool, error) {
	st, err := a.Status(ctx)
	if err != nil && st != resources.Failed {
		return false, err
	}
	return st != resources.Stopped, nil
}

// newManager builds the resource manager for the haresources groups.
func newManager(o options, cfg *config.Config, node string, d *daemon.Daemon, log *slog.Logger) (*rm.Manager, error) {
	res := &resources.Resolver{HADir: o.confDir, InitDir: o.initDir, OCFRoot: o.ocfRoot,
		Timeout: o.rscTimeout, Logger: log, Native: !o.scriptAgents, LdirdPath: o.ldird}
	ex := &rm.Executor{Groups: map[string][]rm.Resource{}, Log: log, StopRetries: 10, StopRetryDelay: time.Second}
	var groups []rm.Group
	for _, g := range cfg.Groups {
		groups = append(groups, rm.Group{Key: g.Key, Node: g.Node})
		for _, r := range g.Resources {
			a, err := res.Resolve(r.Name, r.Args)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", cfg.Dir+"/haresources", g.Line, r.Token, err)
			}
			ex.Groups[g.Key] = append(ex.Groups[g.Key], agentResource{a})
		}
	}
	ex.OnStopFailure = func(group string, r rm.Resource, err error) {
		switch o.onStopFailure {
		case rm.StopFailureReboot:
			log.Error("a resource cannot be stopped and is still running: rebooting so the peer can take over safely (ResourceManager's RecoverFromFailedStop)",
				"group", group, "resource", r.String(), "err", err)
			syscall.Sync()
			if rerr := syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART); rerr != nil {
				log.Error("reboot failed: exiting instead", "err", rerr)
				os.Exit(exitFail)
			}
		case rm.StopFailureExit:
			log.Error("a resource cannot be stopped: exiting without shutdone so the peer takes over after deadtime",
				"group", group, "resource", r.String(), "err", err)
			os.Exit(exitFail)
		default:
			log.Error("a resource cannot be stopped; continuing (-on-stop-failure ignore)", "group", group, "resource", r.String(), "err", err)
		}
	}
	mode := rm.ParseMode(cfg.HA.AutoFailback)
	return rm.NewManager(rm.Options{
		Machine: rm.Config{Self: node, Nodes: cfg.HA.Nodes, Groups: groups, Mode: mode, HeartbeatStartup: o.heartbeatStartup},
		Exec:    ex,
		Send:    d.Send,
		Log:     log.With("component", "rm"),
		Keep:    o.keepResources,
	}), nil
}

// stopFailureFlag parses -on-stop-failure.
type stopFailureFlag struct{ v *rm.StopFailure }

func (f stopFailureFlag) String() string {
	if f.v == nil {
		return ""
	}
	return string(*f.v)
}

func (f stopFailureFlag) Set(s string) error {
	v, err := rm.ParseStopFailure(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	*f.v = v
	return nil
}
