package resources

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"lvsha/resources/ipspec"
	"lvsha/resources/netif"
)

// IPAgent is the Go-native IPaddr / IPaddr2: it adds a service address to
// an interface and announces it with gratuitous ARP (IPv4) or unsolicited
// neighbour advertisements (IPv6). Parameters and their defaults are those
// of resource-agents 4.12 (spec/ocf.md §9, §10); the address parameters
// are checked by package ipspec with each agent's own rules. Its changes
// to the network go through opts.Net (netif), so a fake can stand in.
type IPAgent struct {
	Kind  string // "IPaddr" or "IPaddr2"
	Token string

	IP            netip.Addr
	NIC           string // "" = find from the routing table (findif)
	Label         string // IPaddr2 (IPv4): the label is NIC:Label; IPaddr picks NIC:n itself
	CIDR          int    // -1 = from the routing table
	Broadcast     string // "" or "+" = computed, "-" = none, or an IPv4 address
	LVSSupport    bool
	ARPCount      int
	ARPInterval   time.Duration
	ARPRefresh    int // arp_count_refresh: ARPs re-sent by each monitor
	ARPBackground bool
	NoDAD         bool
	NoPrefixRoute bool
	PreferredLft  int // seconds; -1 = forever (IPv6)
	LocalStart    string
	LocalStop     string

	opts NativeOptions

	mu       sync.Mutex
	cancelBG context.CancelFunc // pending background announcements
}

// ipParamNames lists the parameters the native agents understand, so
// that anything else is reported instead of silently ignored.
var ipParamNames = map[string]bool{
	"ip": true, "nic": true, "cidr_netmask": true, "netmask": true, "broadcast": true,
	"iflabel": true, "lvs_support": true, "arp_interval": true, "arp_count": true,
	"arp_count_refresh": true, "arp_bg": true, "arp_sender": true, "send_arp_opts": true,
	"flush_routes": true, "run_arping": true, "nodad": true, "noprefixroute": true,
	"preferred_lft": true, "network_namespace": true, "lvs_ipv6_addrlabel": true,
	"lvs_ipv6_addrlabel_value": true, "mac": true, "clusterip_hash": true,
	"unique_clone_address": true, "local_start_script": true, "local_stop_script": true,
	"ARP_INTERVAL_MS": true, "ARP_REPEAT": true, "ARP_BACKGROUND": true, "ARP_NETMASK": true,
}

// NewIPAgent builds an IPaddr or IPaddr2 agent from OCF parameters
// (names without the OCF_RESKEY_ prefix). Errors are OCF_ERR_CONFIGURED.
func NewIPAgent(kind string, p map[string]string, opts NativeOptions) (*IPAgent, error) {
	opts.fill()
	if kind != ipspec.IPaddr && kind != ipspec.IPaddr2 {
		return nil, fmt.Errorf("unknown IP agent kind %q", kind)
	}
	for k := range p {
		if !ipParamNames[k] {
			opts.Logger.Warn("ignoring unknown parameter", "agent", kind, "param", k)
		}
	}
	spec, err := ipspec.Check(kind, p)
	if err != nil {
		return nil, ocfErrorf(OCFErrConfigured, "%s: %w", kind, err)
	}
	for _, w := range spec.Warnings {
		opts.Logger.Warn(w, "agent", kind, "ip", spec.IP)
	}
	a := &IPAgent{Kind: kind, Token: kind + "::" + spec.IP.String(), IP: spec.IP, NIC: spec.NIC, Label: spec.Label,
		CIDR: spec.CIDR, Broadcast: spec.Broadcast, LVSSupport: spec.LVSSupport, PreferredLft: -1, opts: opts}
	a.NoDAD = paramBool(p, "nodad", false)
	a.NoPrefixRoute = paramBool(p, "noprefixroute", false)
	if v := p["preferred_lft"]; v != "" && v != "forever" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, ocfErrorf(OCFErrConfigured, "%s: preferred_lft=%q must be forever or seconds", kind, v)
		}
		a.PreferredLft = n
	}

	// ARP defaults differ: IPaddr2 200 ms x 5 (arp_*), IPaddr 500 ms x 10
	// (ARP_*). Each agent honours its own names.
	var intervalMS int
	if kind == ipspec.IPaddr2 {
		if a.ARPCount, err = paramPositive(p, "arp_count", 5); err != nil {
			return nil, err
		}
		if intervalMS, err = paramPositive(p, "arp_interval", 200); err != nil {
			return nil, err
		}
		if a.ARPRefresh, err = paramNonNegative(p, "arp_count_refresh", 0); err != nil {
			return nil, err
		}
		a.ARPBackground = paramBool(p, "arp_bg", a.IP.Is4())
		switch s := p["arp_sender"]; s {
		case "", "send_arp", "iputils_arping", "libnet_arping", "ipoibarping":
			// All mean "announce the address"; the native agent does it itself.
		default:
			return nil, ocfErrorf(OCFErrConfigured, "%s: unrecognized arp_sender %q", kind, s)
		}
	} else {
		if a.ARPCount, err = paramPositive(p, "ARP_REPEAT", 10); err != nil {
			return nil, err
		}
		if intervalMS, err = paramPositive(p, "ARP_INTERVAL_MS", 500); err != nil {
			return nil, err
		}
		a.ARPBackground = paramBool(p, "ARP_BACKGROUND", true)
		a.LocalStart, a.LocalStop = p["local_start_script"], p["local_stop_script"]
	}
	a.ARPInterval = time.Duration(intervalMS) * time.Millisecond

	// Features that need machinery outside this agent are refused rather
	// than ignored: the administrator must know they are not in effect.
	for _, f := range []string{"run_arping", "lvs_ipv6_addrlabel"} {
		if paramBool(p, f, false) {
			return nil, ocfErrorf(OCFErrConfigured, "%s: %s=true is not supported by the native agent; use the resource-agents script (native agents off)", kind, f)
		}
	}
	if p["network_namespace"] != "" {
		return nil, ocfErrorf(OCFErrConfigured, "%s: network_namespace is not supported by the native agent; use the resource-agents script (native agents off)", kind)
	}
	return a, nil
}

func (a *IPAgent) String() string { return a.Token }

// target is the result of findif: where the address goes.
type target struct {
	link  netif.Link
	bits  int
	brd   netip.Addr // IPv4; the zero Addr = none
	label string     // IPaddr2's NIC:label; IPaddr's alias is chosen at start
}

func (a *IPAgent) prefix(bits int) netip.Prefix { return netip.PrefixFrom(a.IP, bits) }

// findif resolves the interface and prefix length, from the parameters or
// from the routing table as resource-agents' findif.sh reads `ip route
// list match IP[/MASK] [scope link]`: among the routes of the main table
// containing the address (link scope for IPv4, on NIC when given, no
// longer than a given netmask), the longest prefix wins and the last of
// equals. ip prints neither the default route nor host routes (/32, /128)
// with a prefix length, so findif.sh never picks them; nor does this.
func (a *IPAgent) findif() (*target, error) {
	n := a.opts.Net
	t := &target{bits: a.CIDR}
	haveLink := a.NIC != ""
	if haveLink {
		l, err := n.LinkByName(a.NIC)
		if err != nil {
			return nil, ocfErrorf(OCFErrConfigured, "%s: unknown interface [%s]: %w", a.Kind, a.NIC, err)
		}
		t.link = l
	}
	if !haveLink || t.bits < 0 {
		routes, err := n.Routes(netif.FamilyOf(a.IP))
		if err != nil {
			return nil, ocfErrorf(OCFErrGeneric, "%s: %w", a.Kind, err)
		}
		best, bestLink := -1, 0
		for _, r := range routes {
			ones := r.Dst.Bits()
			switch {
			case a.IP.Is4() && r.Scope != netif.ScopeLink,
				ones == 0 || ones == a.IP.BitLen() || r.LinkIndex == 0,
				haveLink && r.LinkIndex != t.link.Index,
				t.bits >= 0 && ones > t.bits,
				!r.Dst.Contains(a.IP):
				continue
			}
			if ones >= best {
				best, bestLink = ones, r.LinkIndex
			}
		}
		if best < 0 {
			return nil, ocfErrorf(OCFErrGeneric, "%s: unable to find nic or netmask for %s (no link-scope route contains it; give nic and cidr_netmask)", a.Kind, a.IP)
		}
		if !haveLink {
			l, err := n.LinkByIndex(bestLink)
			if err != nil {
				return nil, ocfErrorf(OCFErrGeneric, "%s: interface of the route to %s: %w", a.Kind, a.IP, err)
			}
			t.link = l
		}
		if t.bits < 0 {
			t.bits = best
		}
	}
	if a.IP.Is4() {
		switch a.Broadcast {
		case "-":
		case "", "+":
			if t.bits < 31 {
				ip, m := a.IP.As4(), net.CIDRMask(t.bits, 32)
				for i := range ip {
					ip[i] |= ^m[i]
				}
				t.brd = netip.AddrFrom4(ip)
			}
		default:
			t.brd = netip.MustParseAddr(a.Broadcast) // checked by ipspec
		}
		if a.Label != "" {
			t.label = t.link.Name + ":" + a.Label
			if len(t.label) > ipspec.MaxLabel {
				return nil, ocfErrorf(OCFErrConfigured, "%s: interface label [%s] exceeds maximum character limit of %d", a.Kind, t.label, ipspec.MaxLabel)
			}
		}
	}
	return t, nil
}

// served returns the address if IP/bits is on the interface (ip addr show
// | grep " IP/MASK"), nil if not.
func (a *IPAgent) served(t *target) (*netif.Addr, error) {
	addrs, err := a.opts.Net.Addrs(t.link, netif.FamilyOf(a.IP))
	if err != nil {
		return nil, netErr(err, "%s", a.Kind)
	}
	want := a.prefix(t.bits)
	for i := range addrs {
		if addrs[i].Prefix == want {
			return &addrs[i], nil
		}
	}
	return nil, nil
}

// netErr makes an OCF error of a failed system call: OCF_ERR_PERM for a
// missing privilege, OCF_ERR_GENERIC otherwise.
func netErr(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return ocfErrorf(OCFErrPerm, "%s: %w (root required)", msg, err)
	}
	return ocfErrorf(OCFErrGeneric, "%s: %w", msg, err)
}

// Start adds the address (if not already there), brings the interface up
// and announces the address.
func (a *IPAgent) Start(ctx context.Context) error {
	t, err := a.findif()
	if err != nil {
		return err
	}
	nic := t.link.Name
	log := a.opts.Logger.With("resource", a.Token, "nic", nic)
	if cur, err := a.served(t); err != nil {
		return err
	} else if cur != nil {
		log.Info("address already served", "ip", a.IP, "cidr", t.bits)
		return nil
	}
	if a.LocalStart != "" {
		if err := a.runLocal(ctx, a.LocalStart); err != nil {
			return err
		}
	}
	if a.LVSSupport {
		if err := a.saveLoopback(); err != nil {
			return err
		}
	}
	if a.Kind == ipspec.IPaddr && a.IP.Is4() {
		// IPaddr's ifconfig alias: the first free NIC:j.
		if t.label, err = a.freeAlias(t.link); err != nil {
			return err
		}
	}
	addr := netif.Addr{Prefix: a.prefix(t.bits), Label: t.label, Broadcast: t.brd, NoPrefixRoute: a.NoPrefixRoute}
	if a.IP.Is6() {
		addr.NoDAD = a.NoDAD
		addr.ValidLft, addr.PreferredLft = netif.Forever, netif.Forever
		if a.PreferredLft >= 0 {
			addr.PreferredLft = a.PreferredLft
		}
	}
	if err := a.opts.Net.AddAddr(t.link, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
		return netErr(err, "%s", a.Kind)
	}
	if !t.link.Up { // ip link set NIC up; findif has just read the flag
		if err := a.opts.Net.SetUp(t.link); err != nil {
			return netErr(err, "%s", a.Kind)
		}
	}
	if a.IP.Is6() && !a.NoDAD {
		if err := a.waitDAD(ctx, t); err != nil {
			return err
		}
	}
	if !strings.HasPrefix(nic, "lo") { // on lo, nobody to tell
		// Announce before anything else: until the neighbours hear it,
		// they send the address's traffic to the node that released it.
		err = a.announce(ctx, t.link, a.ARPCount, a.ARPBackground)
	}
	log.Info("address added", "ip", a.IP, "cidr", t.bits, "label", t.label, "broadcast", t.brd)
	return err
}

// Announce sends the start-time announcement again (gratuitous ARP, or
// unsolicited NA for IPv6) if the address is served here: after a healed
// partition the neighbours may still point at the peer's copy that is
// being removed. Not served is not an error (there is nothing to announce).
func (a *IPAgent) Announce(ctx context.Context) error {
	t, err := a.findif()
	if err != nil {
		return err
	}
	cur, err := a.served(t)
	if err != nil || cur == nil {
		return err
	}
	if strings.HasPrefix(t.link.Name, "lo") {
		return nil
	}
	a.opts.Logger.Info("announcing the address again", "resource", a.Token, "nic", t.link.Name, "ip", a.IP)
	return a.announce(ctx, t.link, a.ARPCount, false)
}

func (a *IPAgent) announce(ctx context.Context, link netif.Link, count int, background bool) error {
	a.mu.Lock()
	if a.cancelBG != nil {
		a.cancelBG()
	}
	bg, cancel := context.WithCancel(context.Background())
	a.cancelBG = cancel
	a.mu.Unlock()
	switch err := a.opts.announce(ctx, bg, link, a.IP, count, a.ARPInterval, background); {
	case err == nil:
	case ctx.Err() != nil:
		// The caller stopped it (a newer burst, shutdown): nothing failed.
		a.opts.Logger.Info("address announcement stopped", "resource", a.Token, "why", context.Cause(ctx))
	default:
		// The address is up; a failed announcement only delays neighbours.
		a.opts.Logger.Warn("address announcement failed", "resource", a.Token, "err", err)
	}
	return nil
}

// dadWait bounds the wait for IPv6 duplicate address detection, as
// IPaddr2's; dadPoll is how often the address is looked at meanwhile.
const (
	dadWait = 10 * time.Second
	dadPoll = 100 * time.Millisecond
)

// waitDAD waits for IPv6 duplicate address detection; a failed DAD
// removes the address and is an error.
func (a *IPAgent) waitDAD(ctx context.Context, t *target) error {
	deadline := time.Now().Add(dadWait)
	for {
		cur, err := a.served(t)
		if err != nil {
			return err
		}
		if cur == nil {
			return ocfErrorf(OCFErrGeneric, "%s: %s vanished during duplicate address detection", a.Kind, a.IP)
		}
		if cur.DADFailed {
			_ = a.opts.Net.DelAddr(t.link, cur.Prefix)
			return ocfErrorf(OCFErrGeneric, "%s: duplicate address detection failed for %s: another node has it", a.Kind, a.IP)
		}
		if !cur.Tentative {
			return nil
		}
		if time.Now().After(deadline) {
			a.opts.Logger.Warn("duplicate address detection still running after 10s; continuing", "resource", a.Token)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(dadPoll):
		}
	}
}

// maxAliases is IPaddr's bound on NIC:j.
const maxAliases = 512

// freeAlias returns the first NIC:j (j < 512) label not in use.
func (a *IPAgent) freeAlias(link netif.Link) (string, error) {
	addrs, err := a.opts.Net.Addrs(link, netif.V4)
	if err != nil {
		return "", netErr(err, "IPaddr")
	}
	used := map[string]bool{}
	for _, ad := range addrs {
		used[ad.Label] = true
	}
	for j := 0; j < maxAliases; j++ {
		l := link.Name + ":" + strconv.Itoa(j)
		if len(l) > ipspec.MaxLabel {
			break
		}
		if !used[l] {
			return l, nil
		}
	}
	return "", ocfErrorf(OCFErrGeneric, "IPaddr: no free alias on %s", link.Name)
}

// Stop removes the address if it is there. An unresolvable interface
// means nothing is served: success, as IPaddr2 does.
func (a *IPAgent) Stop(ctx context.Context) error {
	a.mu.Lock()
	if a.cancelBG != nil {
		a.cancelBG()
		a.cancelBG = nil
	}
	a.mu.Unlock()
	t, err := a.findif()
	if err != nil {
		a.opts.Logger.Info("cannot resolve interface; treating address as not served", "resource", a.Token, "err", err)
		return nil
	}
	cur, err := a.served(t)
	if err != nil {
		return err
	}
	if cur != nil {
		if err := a.opts.Net.DelAddr(t.link, cur.Prefix); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return netErr(err, "%s", a.Kind)
		}
		a.opts.Logger.Info("address removed", "resource", a.Token, "ip", a.IP, "nic", t.link.Name)
	}
	if a.LVSSupport {
		if err := a.restoreLoopback(); err != nil {
			return err
		}
	}
	if a.LocalStop != "" {
		return a.runLocal(ctx, a.LocalStop)
	}
	return nil
}

// Status: served is running (and re-announces arp_count_refresh times),
// otherwise stopped. An unresolvable interface is stopped, as IPaddr2's
// probe says.
func (a *IPAgent) Status(ctx context.Context) (State, error) {
	t, err := a.findif()
	if err != nil {
		return Stopped, nil
	}
	cur, err := a.served(t)
	if err != nil {
		return Failed, err
	}
	if cur == nil {
		return Stopped, nil
	}
	if a.ARPRefresh > 0 && !strings.HasPrefix(t.link.Name, "lo") {
		_ = a.announce(ctx, t.link, a.ARPRefresh, true)
	}
	return Running, nil
}

// Validate checks that the interface and netmask can be found.
func (a *IPAgent) Validate(ctx context.Context) error {
	_, err := a.findif()
	return err
}

// loopbackFile remembers which lo* device held the /32 copy lvs_support
// removed, so stop can put it back (IPaddr2's $VLDIR/<ip> file).
func (a *IPAgent) loopbackFile() string {
	return filepath.Join(a.opts.StateDir, a.Kind+"-lvs-"+a.IP.String())
}

func (a *IPAgent) saveLoopback() error {
	links, err := a.opts.Net.Links()
	if err != nil {
		return netErr(err, "%s", a.Kind)
	}
	host := a.prefix(32)
	for _, l := range links {
		if !strings.HasPrefix(l.Name, "lo") {
			continue
		}
		addrs, err := a.opts.Net.Addrs(l, netif.V4)
		if err != nil {
			return netErr(err, "%s", a.Kind)
		}
		for _, ad := range addrs {
			if ad.Prefix != host {
				continue
			}
			if err := os.MkdirAll(a.opts.StateDir, 0o755); err != nil {
				return ocfErrorf(OCFErrGeneric, "%s: %w", a.Kind, err)
			}
			if err := os.WriteFile(a.loopbackFile(), []byte(l.Name+"\n"), 0o644); err != nil {
				return ocfErrorf(OCFErrGeneric, "%s: %w", a.Kind, err)
			}
			if err := a.opts.Net.DelAddr(l, host); err != nil {
				return netErr(err, "%s: remove the loopback copy", a.Kind)
			}
			a.opts.Logger.Info("lvs_support: removed loopback copy of the address", "resource", a.Token, "dev", l.Name)
		}
	}
	return nil
}

func (a *IPAgent) restoreLoopback() error {
	data, err := os.ReadFile(a.loopbackFile())
	if err != nil {
		return nil // nothing was removed
	}
	dev := strings.TrimSpace(string(data))
	l, err := a.opts.Net.LinkByName(dev)
	if err == nil {
		err = a.opts.Net.AddAddr(l, netif.Addr{Prefix: a.prefix(32)})
		if errors.Is(err, syscall.EEXIST) {
			err = nil
		}
	}
	if err != nil {
		return netErr(err, "%s: restore %s/32 on %s", a.Kind, a.IP, dev)
	}
	_ = os.Remove(a.loopbackFile())
	a.opts.Logger.Info("lvs_support: restored loopback copy of the address", "resource", a.Token, "dev", dev)
	return nil
}

// runLocal runs IPaddr's local_start_script / local_stop_script.
func (a *IPAgent) runLocal(ctx context.Context, script string) error {
	if st, err := os.Stat(script); err != nil || st.Mode().Perm()&0o111 == 0 {
		return nil // IPaddr runs it only when [ -x ]
	}
	res, err := a.opts.Runner.Run(ctx, script, nil, nil)
	if err != nil {
		return ocfErrorf(OCFErrGeneric, "%s: %w", a.Kind, err)
	}
	if res.Code != 0 {
		return ocfErrorf(OCFErrGeneric, "%s: %s exited %d%s", a.Kind, script, res.Code, detail(res))
	}
	return nil
}
