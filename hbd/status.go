package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"lvsha/hbd/api"
	"lvsha/hbd/config"
	"lvsha/hbd/console"
	"lvsha/hbd/daemon"
	"lvsha/hbd/metrics"
	"lvsha/hbd/rm"
	"lvsha/hbd/statusapi"
	"lvsha/hbd/wire"
)

// statusBackend is the control socket's backend with the "status"
// operation.
type statusBackend struct {
	*daemon.Backend
	doc func() *statusapi.Status
}

// StatusJSON implements api.StatusJSONer.
func (b statusBackend) StatusJSON() ([]byte, error) { return json.Marshal(b.doc()) }

// status is the JSON status API and the web console of one run.
type status struct {
	backend api.Backend     // for the control socket
	routes  []metrics.Route // next to /metrics
}

// consoleAddr is where this node's console listens: -console, else ha.cf
// ("" when off).
func consoleAddr(o options, cfg *config.Config, node string) string {
	if o.consoleAddr != "" {
		return o.consoleAddr
	}
	return cfg.HA.Console.Addr(node)
}

// startStatus records what the status document needs (membership events,
// group moves, heartbeat arrivals, holders), serves the document on the
// control socket and next to the metrics, and starts the console when
// one is configured. Call before d.Run.
func startStatus(ctx context.Context, o options, cfg *config.Config, node string, d *daemon.Daemon, b *daemon.Backend,
	mgr *rm.Manager, log *slog.Logger) status {
	rec := statusapi.NewRecorder()
	d.AddHandler(rec)
	started := time.Now()
	caddr := consoleAddr(o, cfg, node)
	info := statusapi.Info{Version: Version, Node: node, Generation: d.Generation(), Started: started,
		Keepalive: cfg.HA.Keepalive, Warntime: cfg.HA.Warntime, Deadtime: cfg.HA.Deadtime, Initdead: cfg.HA.Initdead,
		AutoFailback: cfg.HA.AutoFailback, Console: caddr}
	for _, g := range cfg.Groups {
		gi := statusapi.GroupInfo{Key: g.Key, Node: g.Node}
		for _, r := range g.Resources {
			gi.Resources = append(gi.Resources, r.Token)
		}
		info.Groups = append(info.Groups, gi)
	}
	src := statusapi.Sources{Nodes: d.Nodes, Counters: b.Counters, State: b.ResourceState,
		// STONITH: the device and the reset in progress; null without one.
		Fencing: func() json.RawMessage {
			st := b.Fencing()
			if !st.Configured {
				return nil
			}
			j, err := json.Marshal(st)
			if err != nil {
				return nil
			}
			return j
		},
		Ping: func() []statusapi.PingNode {
			var out []statusapi.PingNode
			for _, n := range b.Nodes() {
				if n.Type == "ping" {
					st := "dead"
					if n.Status == "ping" {
						st = "up"
					}
					out = append(out, statusapi.PingNode{Name: n.Name, Status: st})
				}
			}
			return out
		}}
	var holders func() map[string]string
	if mgr != nil {
		rec.SetJournal(mgr.Transitions)
		src.Holdings = func() (rm.Holdings, bool) { return mgr.Holdings(), true }
		peer := ""
		for _, n := range cfg.HA.Nodes {
			if n != node {
				peer = n
				break
			}
		}
		holders = func() map[string]string {
			h := mgr.Holdings()
			out := map[string]string{}
			for _, g := range cfg.Groups {
				out[g.Key] = h.Holder(g.Key, peer)
			}
			return out
		}
	}
	doc := func() *statusapi.Status { return statusapi.Build(info, src, rec, time.Now()) }
	go rec.Run(ctx, node, d.Nodes, holders)
	st := status{backend: statusBackend{Backend: b, doc: doc},
		routes: []metrics.Route{{Path: statusapi.Path, Handler: statusapi.Handler(doc)}}}
	if caddr == "" {
		return st
	}
	srv, err := newConsole(o, cfg, node, caddr, d, b, doc, log)
	if err != nil {
		// The cluster runs on without it; hbd -t reports the same error.
		log.Error("web console not started", "err", err)
		return st
	}
	go func() {
		if err := srv.Serve(ctx); err != nil {
			log.Error("web console stopped", "err", err)
		}
	}()
	return st
}

// newConsole builds the console (and checks its files, for hbd -t).
func newConsole(o options, cfg *config.Config, node, addr string, d *daemon.Daemon, b *daemon.Backend,
	doc func() *statusapi.Status, log *slog.Logger) (*console.Server, error) {
	opts := console.Options{Node: node, Nodes: cfg.HA.Nodes, Config: cfg.HA.Console, Addr: addr, HACF: cfg.HA.Path,
		Status: doc, Log: log.With("component", "console"),
		Keys: func() *wire.Keyring { return cfg.Keys }, ReloadHbd: func() error { return reloadRequest(o) }}
	if d != nil {
		opts.Keys = d.Keys
		opts.Standby, opts.Takeover = b.Standby, b.Takeover
	}
	return console.New(opts)
}

// reloadRequest is the console's "reload hbd": the configuration is
// checked first (its errors come back, nothing changes), then hbd reloads
// as on SIGHUP.
func reloadRequest(o options) error {
	node, err := nodeName(o)
	if err != nil {
		return err
	}
	if _, err := config.Load(o.confDir, config.Options{NodeName: node, IfaceExists: ifaceExists}); err != nil {
		return err
	}
	return syscall.Kill(os.Getpid(), syscall.SIGHUP)
}

// checkConsole is hbd -t's check of the console's files.
func checkConsole(o options, cfg *config.Config, node string) error {
	addr := consoleAddr(o, cfg, node)
	if addr == "" {
		return nil
	}
	_, err := newConsole(o, cfg, node, addr, nil, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}
