package resources

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"lvsha/hbd/config"
	"lvsha/resources/garp"
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
}

// Validator is implemented by native agents: the OCF validate-all action.
type Validator interface {
	Validate(ctx context.Context) error
}

// IPParamsFromArgs maps haresources arguments of IPaddr/IPaddr2 to OCF
// parameters as the resource.d wrappers (hto-mapfuncs) do: the first
// argument is ip[/cidr[/nic[:label]][/broadcast]]; IPaddr sets
// lvs_support=0 and IPaddr2 lvs_support=1.
func IPParamsFromArgs(kind string, args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%s needs an address argument (ip[/cidr[/nic[:label]][/broadcast]])", kind)
	}
	if len(args) > 1 {
		return nil, fmt.Errorf("%s takes one argument, got %q", kind, args)
	}
	spec, err := config.ParseIPSpec(args[0])
	if err != nil {
		return nil, err
	}
	p := map[string]string{"ip": spec.IP.String(), "lvs_support": "0"}
	if kind == "IPaddr2" {
		p["lvs_support"] = "1"
	}
	if spec.CIDR >= 0 {
		p["cidr_netmask"] = strconv.Itoa(spec.CIDR)
	}
	if spec.NIC != "" {
		p["nic"] = spec.NIC
	}
	if spec.Label != "" {
		p["iflabel"] = spec.Label
	}
	if spec.Broadcast != nil {
		p["broadcast"] = spec.Broadcast.String()
	}
	return p, nil
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
	switch strings.ToLower(v) {
	case "yes", "true", "1", "on":
		return true
	}
	return false
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

// announce sends a burst on the named interface, in the background when
// allowed. The background burst is bound to stop (cancel) so that a stop
// does not race a takeover's ARPs.
func (o *NativeOptions) announce(ctx context.Context, bg context.Context, nic string, ip netip.Addr, count int, interval time.Duration, background bool) error {
	ifi, err := net.InterfaceByName(nic)
	if err != nil {
		return fmt.Errorf("announce %s: interface %s: %w", ip, nic, err)
	}
	if ifi.Flags&net.FlagLoopback != 0 || len(ifi.HardwareAddr) != 6 {
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
