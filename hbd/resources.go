package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"lvsha/hbd/config"
	"lvsha/hbd/daemon"
	"lvsha/hbd/fence"
	"lvsha/hbd/ping"
	"lvsha/hbd/realtime"
	"lvsha/hbd/rm"
	"lvsha/hbd/wire"
	"lvsha/resources"
	"lvsha/resources/netif"
)

// newManager builds the resource manager for the haresources groups.
func newManager(o options, cfg *config.Config, node string, d *daemon.Daemon, log *slog.Logger, pinger *ping.Pinger, fencer *fence.Stonith) (*rm.Manager, error) {
	res := &resources.Resolver{HADir: o.confDir, InitDir: o.initDir, OCFRoot: o.ocfRoot,
		Timeout: o.rscTimeout, Logger: log, Native: !o.scriptAgents, LdirdPath: o.ldird,
		Start: realtime.StartNormal} // agents run at normal priority when hbd is real-time
	// One netlink socket kept open for the native agents: a takeover's
	// address change is a handful of requests on the path to the VIP.
	if k, err := netif.NewKernel(); err == nil {
		res.Net = k
	} else {
		log.Warn("native agents open a netlink socket per request", "err", err)
	}
	ex := &rm.Executor{Groups: map[string][]resources.Agent{}, Log: log, StopRetries: 10, StopRetryDelay: time.Second}
	var groups []rm.Group
	for _, g := range cfg.Groups {
		groups = append(groups, rm.Group{Key: g.Key, Node: g.Node})
		for _, r := range g.Resources {
			a, err := res.Resolve(r.Name, r.Args)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", cfg.Dir+"/haresources", g.Line, r.Token, err)
			}
			ex.Groups[g.Key] = append(ex.Groups[g.Key], a)
		}
	}
	ex.OnStopFailure = func(group string, r resources.Agent, err error) {
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
	var reach func() int
	if pinger != nil {
		reach = func() int { n, _ := pinger.Reachable(); return n }
	}
	var fencing rm.Fencer
	if fencer != nil {
		fencing = rmFencer{fencer}
	}
	return rm.NewManager(rm.Options{
		Ping: reach,
		Machine: rm.Config{Self: node, Nodes: cfg.HA.Nodes, Groups: groups, Mode: mode, HeartbeatStartup: o.heartbeatStartup,
			Fencing: fencer != nil, FenceRetry: o.stonithRetry, FenceDelay: o.stonithDelay},
		Fencer: fencing,
		Exec:   ex,
		Send:   d.Send,
		Log:    log.With("component", "rm"),
		Keep:   o.keepResources,
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

// startPing watches ha.cf's ping nodes, lists them for cl_status and adds
// our reachability to each heartbeat (the built-in ipfail). nil when there
// are none.
func startPing(ctx context.Context, cfg *config.Config, d *daemon.Daemon, b *daemon.Backend, log *slog.Logger) *ping.Pinger {
	var targets []ping.Target
	for _, m := range cfg.HA.Media {
		if !m.IsPing() {
			continue
		}
		t := ping.Target{Name: m.LinkName()}
		for _, ip := range m.Hosts {
			if a, ok := netip.AddrFromSlice(ip); ok {
				t.Addrs = append(t.Addrs, a.Unmap())
			}
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return nil
	}
	conn, err := ping.Open(targets)
	if err != nil {
		log.Error("ping nodes disabled", "err", err)
		return nil
	}
	deadping := cfg.HA.Deadping
	if deadping == 0 {
		deadping = cfg.HA.Deadtime
	}
	p := ping.New(targets, cfg.HA.Keepalive, deadping, conn, log.With("component", "ping"))
	go p.Run(ctx)
	b.SetPing(func() []daemon.PingNode {
		var out []daemon.PingNode
		for _, s := range p.Status() {
			out = append(out, daemon.PingNode{Name: s.Name, Up: s.Up})
		}
		return out
	})
	d.SetStatusExtra(func(m *wire.Message) {
		n, _ := p.Reachable()
		m.Set(rm.PingField, strconv.Itoa(n))
	})
	log.Info("ping nodes watched; their reachability decides who holds resources (ipfail built in)", "nodes", len(targets))
	return p
}
