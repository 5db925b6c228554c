package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"lvsha/hbd/api"
	"lvsha/hbd/config"
)

// Resources is what the resource manager tells the API: what this node holds
// (none|local|foreign|all|transition) and how to move groups.
type Resources interface {
	State() string
	Standby(set string) error
	Takeover(set string) error
}

// Backend serves the control socket from a running daemon.
type Backend struct {
	d       *Daemon
	cfg     *config.Config
	version string
	rsc     Resources
	ping    func() []PingNode
	fencing func() api.FenceStatus
}

// PingNode is a ping node (or group) as cl_status lists it.
type PingNode struct {
	Name string
	Up   bool
}

// SetPing attaches the ping-node watcher. Call before serving.
func (b *Backend) SetPing(f func() []PingNode) { b.ping = f }

// NewBackend adapts d for api.Server.
func NewBackend(d *Daemon, cfg *config.Config, version string) *Backend {
	return &Backend{d: d, cfg: cfg, version: version}
}

// SetResources attaches the resource manager. Call before serving.
func (b *Backend) SetResources(r Resources) { b.rsc = r }

// Nodes implements api.Backend.
func (b *Backend) Nodes() []api.NodeInfo {
	var out []api.NodeInfo
	for _, v := range b.d.Nodes() {
		n := api.NodeInfo{Name: v.Name, Type: "normal", Status: string(v.Status), Weight: 100}
		for _, l := range v.Links {
			st := "dead"
			if l.Up {
				st = "up"
			}
			n.Links = append(n.Links, api.LinkInfo{Name: l.Name, Status: st})
		}
		out = append(out, n)
	}
	if b.ping != nil {
		for _, p := range b.ping() {
			st := "dead"
			if p.Up {
				st = "ping"
			}
			out = append(out, api.NodeInfo{Name: p.Name, Type: "ping", Status: st, Weight: 100})
		}
	}
	return out
}

// Param implements api.Backend: the raw values recorded from ha.cf.
func (b *Backend) Param(name string) (string, bool) {
	if name == "hbversion" {
		return strings.Fields(b.version)[0], true
	}
	v, ok := b.cfg.HA.Params[name]
	return v, ok
}

// ResourceState implements api.Backend. Without a resource manager (no
// haresources groups, or hbd -M) the node holds nothing.
func (b *Backend) ResourceState() string {
	if b.rsc == nil {
		return "none"
	}
	return b.rsc.State()
}

// ClientStatus implements api.Backend. hbd's API has no long-lived clients
// (cl_status connects per request), so on this node every client id is
// offline; other nodes are not queried.
func (b *Backend) ClientStatus(_ context.Context, node, client string) (string, error) {
	if !strings.EqualFold(node, b.d.opt.Node) {
		return "", fmt.Errorf("client status of other nodes is not available from hbd")
	}
	return "offline", nil
}

// Counters implements api.Backend: the daemon's packet counters plus the
// resource manager's, when it keeps any.
func (b *Backend) Counters() map[string]uint64 {
	out := b.d.Counters()
	if c, ok := b.rsc.(interface{ Counters() map[string]uint64 }); ok {
		for k, v := range c.Counters() {
			out[k] += v
		}
	}
	return out
}

var errNoResources = errors.New("resource management is not running on this node (no haresources groups)")

// Standby implements api.Backend.
func (b *Backend) Standby(set string) error {
	if b.rsc == nil {
		return errNoResources
	}
	return b.rsc.Standby(set)
}

// Takeover implements api.Backend.
func (b *Backend) Takeover(set string) error {
	if b.rsc == nil {
		return errNoResources
	}
	return b.rsc.Takeover(set)
}

// Version implements api.Backend.
func (b *Backend) Version() string { return b.version }
