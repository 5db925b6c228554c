package resources

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"lvsha/resources/garp"
	"lvsha/resources/ipspec"
	"lvsha/resources/netif"
)

// NativeOptions configures the Go-native agents.
type NativeOptions struct {
	Logger    *slog.Logger
	StateDir  string // HA_RSCTMP equivalent: pseudo-resource files
	LdirdPath string // default binary of the ldirectord agent
	HADir     string // where a bare ldirectord config name is looked up
	Runner    *Runner
	// Background lets ARP bursts run after Start returns (goroutines). The
	// ocf-agent binary turns it off: its process ends with the action.
	Background bool
	// Announcer sends gratuitous ARPs / unsolicited NAs; a default one
	// (AF_PACKET sockets) when nil. Tests inject a fake Conn through it.
	Announcer *garp.Announcer
	// Net and Conf are the links, addresses, routes and IPv4 settings the
	// agents change: the kernel's when nil, a netif.Fake in unit tests.
	Net  netif.Net
	Conf netif.Conf
}

func (o *NativeOptions) fill() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.LdirdPath == "" {
		o.LdirdPath = DefaultLdirdPath
	}
	if o.HADir == "" {
		o.HADir = DefaultHADir
	}
	if o.Runner == nil {
		o.Runner = &Runner{Logger: o.Logger}
	}
	if o.Announcer == nil {
		o.Announcer = &garp.Announcer{Logger: o.Logger}
	}
	if o.Net == nil {
		o.Net = netif.Kernel{}
	}
	if o.Conf == nil {
		o.Conf = netif.Kernel{}
	}
}

// Validator is implemented by native agents: the OCF validate-all action.
type Validator interface {
	Validate(ctx context.Context) error
}

// IPParamsFromArgs maps haresources arguments of IPaddr/IPaddr2 to OCF
// parameters exactly as the resource.d wrappers do (ipspec.WrapperParams):
// one argument ip[/netmask[/nic[:label]][/broadcast]], a run of slashes
// being one separator; IPaddr sets lvs_support=0 and IPaddr2 lvs_support=1.
// Text the wrappers ignore is reported as a warning.
func IPParamsFromArgs(kind string, args []string) (map[string]string, []string, error) {
	if len(args) == 0 {
		return nil, nil, fmt.Errorf("%s needs an address argument (ip[/netmask[/nic[:label]][/broadcast]])", kind)
	}
	if len(args) > 1 {
		return nil, nil, fmt.Errorf("%s takes one argument, got %q (an IPv6 address with :: is split there, as Heartbeat splits it)", kind, args)
	}
	p, ignored := ipspec.WrapperParams(kind, args[0])
	var warns []string
	if ignored != "" {
		warns = append(warns, fmt.Sprintf("%q after the broadcast address is ignored, as Heartbeat's %s wrapper ignores it", ignored, kind))
	}
	return p, warns, nil
}

// SendArpParamsFromArgs maps SendArp::IP/IFACE.
func SendArpParamsFromArgs(args []string) (map[string]string, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("SendArp takes one argument IP/IFACE, got %q", args)
	}
	ip, nic, ok := strings.Cut(args[0], "/")
	if !ok || ip == "" || nic == "" {
		return nil, fmt.Errorf("SendArp argument %q is not IP/IFACE", args[0])
	}
	return map[string]string{"ip": ip, "nic": nic}, nil
}

// paramBool reads an OCF boolean as ocf_is_true does.
func paramBool(p map[string]string, name string, def bool) bool {
	v, ok := p[name]
	if !ok || v == "" {
		return def
	}
	return ipspec.IsTrue(v)
}

// paramPositive reads a decimal > 0 (IPaddr2's arp_count/arp_interval rule).
func paramPositive(p map[string]string, name string, def int) (int, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, ocfErrorf(OCFErrConfigured, "%s=%q: must be a decimal number greater than 0", name, v)
	}
	return n, nil
}

// paramNonNegative reads a decimal >= 0.
func paramNonNegative(p map[string]string, name string, def int) (int, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, ocfErrorf(OCFErrConfigured, "%s=%q: must be a decimal number", name, v)
	}
	return n, nil
}

// announce sends a burst on link, in the background when allowed. The
// background burst is bound to stop (cancel) so that a stop does not race
// a takeover's ARPs.
func (o *NativeOptions) announce(ctx context.Context, bg context.Context, link netif.Link, ip netip.Addr, count int, interval time.Duration, background bool) error {
	ifi, nic := link.Interface(), link.Name
	if link.Loopback || len(ifi.HardwareAddr) != 6 {
		o.Logger.Debug("no gratuitous ARP on an interface without an Ethernet address", "nic", nic, "ip", ip)
		return nil
	}
	if background && o.Background {
		go func() {
			if err := o.Announcer.Announce(bg, ifi, ip, count, interval); err != nil && bg.Err() == nil {
				o.Logger.Warn("address announcement failed", "ip", ip, "nic", nic, "err", err)
			}
		}()
		return nil
	}
	return o.Announcer.Announce(ctx, ifi, ip, count, interval)
}
