package resources

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SendArpAgent is the Go-native SendArp: a pseudo resource whose start
// announces ip on nic (5 gratuitous ARP rounds, 200 ms apart, as the
// agent's fixed defaults) and whose state is a file under StateDir.
type SendArpAgent struct {
	Token      string
	IP         netip.Addr
	NIC        string
	Instance   string // names the pseudo-resource file
	Background bool
	Count      int
	Interval   time.Duration

	opts NativeOptions

	mu       sync.Mutex
	cancelBG context.CancelFunc
}

// NewSendArp builds a SendArp agent from OCF parameters ip, nic and
// background. instance defaults to SendArp_<ip> (the wrapper's name).
func NewSendArp(p map[string]string, opts NativeOptions) (*SendArpAgent, error) {
	opts.fill()
	for k := range p {
		if k != "ip" && k != "nic" && k != "background" {
			opts.Logger.Warn("ignoring unknown parameter", "agent", "SendArp", "param", k)
		}
	}
	if p["ip"] == "" || p["nic"] == "" {
		return nil, ocfErrorf(OCFErrConfigured, "SendArp: parameters ip and nic are required")
	}
	ip, err := netip.ParseAddr(p["ip"])
	if err != nil || !ip.Unmap().Is4() {
		return nil, ocfErrorf(OCFErrConfigured, "SendArp: ip=%q is not an IPv4 address", p["ip"])
	}
	ip = ip.Unmap()
	return &SendArpAgent{
		Token:      "SendArp::" + ip.String() + "/" + p["nic"],
		IP:         ip,
		NIC:        p["nic"],
		Instance:   "SendArp_" + ip.String(),
		Background: paramBool(p, "background", true),
		Count:      5,
		Interval:   200 * time.Millisecond,
		opts:       opts,
	}, nil
}

func (a *SendArpAgent) String() string { return a.Token }

func (a *SendArpAgent) stateFile() string {
	return filepath.Join(a.opts.StateDir, "SendArp_"+filepath.Base(a.Instance))
}

// Start announces the address (unless already "running") and records the
// pseudo resource as started.
func (a *SendArpAgent) Start(ctx context.Context) error {
	if st, _ := a.Status(ctx); st == Running {
		return nil
	}
	link, err := a.opts.Net.LinkByName(a.NIC)
	if err != nil {
		return ocfErrorf(OCFErrConfigured, "SendArp: %w", err)
	}
	if err := os.MkdirAll(a.opts.StateDir, 0o755); err != nil {
		return ocfErrorf(OCFErrGeneric, "SendArp: %v", err)
	}
	if err := os.WriteFile(a.stateFile(), nil, 0o644); err != nil {
		return ocfErrorf(OCFErrGeneric, "SendArp: %v", err)
	}
	a.mu.Lock()
	if a.cancelBG != nil {
		a.cancelBG()
	}
	bg, cancel := context.WithCancel(context.Background())
	a.cancelBG = cancel
	a.mu.Unlock()
	if err := a.opts.announce(ctx, bg, link, a.IP, a.Count, a.Interval, a.Background); err != nil {
		return ocfErrorf(OCFErrGeneric, "SendArp: %v", err)
	}
	a.opts.Logger.Info("gratuitous ARP sent", "resource", a.Token, "background", a.Background && a.opts.Background)
	return nil
}

// Stop cancels a running burst and removes the pseudo-resource file.
func (a *SendArpAgent) Stop(ctx context.Context) error {
	a.mu.Lock()
	if a.cancelBG != nil {
		a.cancelBG()
		a.cancelBG = nil
	}
	a.mu.Unlock()
	if err := os.Remove(a.stateFile()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ocfErrorf(OCFErrGeneric, "SendArp: %v", err)
	}
	return nil
}

// Status is running while the pseudo-resource file exists.
func (a *SendArpAgent) Status(ctx context.Context) (State, error) {
	if _, err := os.Stat(a.stateFile()); err == nil {
		return Running, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Failed, ocfErrorf(OCFErrGeneric, "SendArp: %v", err)
	}
	return Stopped, nil
}

// Validate checks the parameters (done by NewSendArp) and the interface.
func (a *SendArpAgent) Validate(ctx context.Context) error {
	if _, err := a.opts.Net.LinkByName(a.NIC); err != nil {
		return ocfErrorf(OCFErrConfigured, "SendArp: %w", err)
	}
	return nil
}

// compile-time checks
var (
	_ Agent     = (*SendArpAgent)(nil)
	_ Validator = (*SendArpAgent)(nil)
	_ Agent     = (*IPAgent)(nil)
	_ Validator = (*IPAgent)(nil)
	_ Agent     = (*ScriptAgent)(nil)
	_ Agent     = (*LSBAgent)(nil)
	_ Agent     = (*OCFAgent)(nil)
)
