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

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// IPAgent is the Go-native IPaddr / IPaddr2: it adds a service address to
// an interface with netlink and announces it with gratuitous ARP (IPv4) or
// unsolicited neighbour advertisements (IPv6). Parameters and their
// defaults are those of resource-agents 4.12 (spec/ocf.md §9, §10).
type IPAgent struct {
	Kind  string // "IPaddr" or "IPaddr2"
	Token string

	IP            netip.Addr
	NIC           string // "" = find from the routing table (findif)
	Label         string // iflabel; IPv4 only
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
	if kind != "IPaddr" && kind != "IPaddr2" {
		return nil, fmt.Errorf("unknown IP agent kind %q", kind)
	}
	a := &IPAgent{Kind: kind, CIDR: -1, PreferredLft: -1, opts: opts}
	for k := range p {
		if !ipParamNames[k] {
			opts.Logger.Warn("ignoring unknown parameter", "agent", kind, "param", k)
		}
	}
	ipStr := p["ip"]
	if ipStr == "" {
		return nil, ocfErrorf(OCFErrConfigured, "%s: parameter ip is required", kind)
	}
	ip, err := netip.ParseAddr(ipStr)
	if err != nil {
		return nil, ocfErrorf(OCFErrConfigured, "%s: ip=%q is not an IP address", kind, ipStr)
	}
	a.IP = ip.Unmap()
	a.Token = kind + "::" + a.IP.String()

	nic := p["nic"]
	if n, l, ok := strings.Cut(nic, ":"); ok { // eth0:label form
		nic, a.Label = n, l
	}
	a.NIC = nic
	if l := p["iflabel"]; l != "" {
		a.Label = l
	}
	if a.Label != "" && a.IP.Is6() {
		return nil, ocfErrorf(OCFErrConfigured, "%s: iflabel is IPv4 only", kind)
	}
	if a.Label != "" && a.NIC != "" && len(a.NIC)+1+len(a.Label) > 15 {
		return nil, ocfErrorf(OCFErrConfigured, "%s: label %s:%s is longer than 15 characters", kind, a.NIC, a.Label)
	}

	mask := p["cidr_netmask"]
	if mask == "" {
		mask = p["netmask"]
	}
	if mask != "" {
		if a.CIDR, err = parseCIDR(mask, a.IP); err != nil {
			return nil, ocfErrorf(OCFErrConfigured, "%s: %v", kind, err)
		}
		if strings.Contains(mask, ".") {
			opts.Logger.Warn("Please convert dotted quad netmask to CIDR notation", "agent", kind, "netmask", mask, "cidr", a.CIDR)
		}
	}
	a.Broadcast = p["broadcast"]
	if b := a.Broadcast; b != "" && b != "+" && b != "-" {
		bip, err := netip.ParseAddr(b)
		if err != nil || !bip.Is4() || !a.IP.Is4() {
			return nil, ocfErrorf(OCFErrConfigured, "%s: broadcast=%q is not an IPv4 address (or + or -)", kind, b)
		}
	}
	a.LVSSupport = paramBool(p, "lvs_support", false) && a.IP.Is4()
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
	if kind == "IPaddr2" {
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

// parseCIDR accepts a prefix length or (IPv4) a contiguous dotted quad.
func parseCIDR(s string, ip netip.Addr) (int, error) {
	max := ip.BitLen()
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > max {
			return 0, fmt.Errorf("cidr_netmask %d out of range 1..%d", n, max)
		}
		return n, nil
	}
	m := net.ParseIP(s).To4()
	if m == nil || !ip.Is4() {
		return 0, fmt.Errorf("invalid cidr_netmask %q", s)
	}
	ones, bits := net.IPMask(m).Size()
	if bits == 0 {
		return 0, fmt.Errorf("netmask %q is not contiguous", s)
	}
	return ones, nil
}

func (a *IPAgent) String() string { return a.Token }

func (a *IPAgent) family() int {
	if a.IP.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// target is the result of findif: where the address goes.
type target struct {
	link  netlink.Link
	bits  int
	brd   net.IP // nil: none
	label string
}

// findif resolves the interface and prefix length, from the parameters or
// from the routing table (the longest link-scope route containing IP, as
// resource-agents' findif.sh does).
func (a *IPAgent) findif() (*target, error) {
	var link netlink.Link
	if a.NIC != "" {
		l, err := netlink.LinkByName(a.NIC)
		if err != nil {
			return nil, ocfErrorf(OCFErrConfigured, "%s: unknown interface [%s]: %v", a.Kind, a.NIC, err)
		}
		link = l
	}
	bits := a.CIDR
	if link == nil || bits < 0 {
		routes, err := netlink.RouteListFiltered(a.family(), &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, ocfErrorf(OCFErrGeneric, "%s: list routes: %v", a.Kind, err)
		}
		best := -1
		var bestRoute netlink.Route
		for _, r := range routes {
			if r.Dst == nil || r.Scope != netlink.SCOPE_LINK && a.IP.Is4() {
				continue
			}
			if link != nil && r.LinkIndex != link.Attrs().Index {
				continue
			}
			ones, _ := r.Dst.Mask.Size()
			if bits >= 0 && ones > bits {
				continue // route narrower than the requested netmask
			}
			if ip := net.IP(a.IP.AsSlice()); r.Dst.Contains(ip) && ones > best {
				best, bestRoute = ones, r
			}
		}
		if best < 0 {
			return nil, ocfErrorf(OCFErrGeneric, "%s: unable to find nic or netmask for %s (no link-scope route contains it; give nic and cidr_netmask)", a.Kind, a.IP)
		}
		if link == nil {
			l, err := netlink.LinkByIndex(bestRoute.LinkIndex)
			if err != nil {
				return nil, ocfErrorf(OCFErrGeneric, "%s: interface of route %s: %v", a.Kind, bestRoute.Dst, err)
			}
			link = l
		}
		if bits < 0 {
			bits = best
		}
	}
	t := &target{link: link, bits: bits}
	if a.IP.Is4() {
		switch a.Broadcast {
		case "-":
			t.brd = net.IPv4zero // netlink: explicit "no broadcast"
		case "", "+":
			if bits < 31 {
				ip := a.IP.As4()
				m := net.CIDRMask(bits, 32)
				b := make(net.IP, 4)
				for i := range b {
					b[i] = ip[i] | ^m[i]
				}
				t.brd = b
			} else {
				t.brd = net.IPv4zero
			}
		default:
			t.brd = net.ParseIP(a.Broadcast).To4()
		}
		if a.Label != "" {
			t.label = link.Attrs().Name + ":" + a.Label
		}
	}
	return t, nil
}

func (a *IPAgent) ipNet(bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.IP.AsSlice()), Mask: net.CIDRMask(bits, a.IP.BitLen())}
}

// served reports whether IP/bits is on the interface (ip addr show | grep " IP/MASK").
func (a *IPAgent) served(t *target) (*netlink.Addr, error) {
	addrs, err := netlink.AddrList(t.link, a.family())
	if err != nil {
		return nil, fmt.Errorf("%s: list addresses of %s: %w", a.Kind, t.link.Attrs().Name, err)
	}
	want := net.IP(a.IP.AsSlice())
	for i := range addrs {
		ones, _ := addrs[i].Mask.Size()
		if addrs[i].IP.Equal(want) && ones == t.bits {
			return &addrs[i], nil
		}
	}
	return nil, nil
}

// netlinkErr maps permission errors to OCF_ERR_PERM.
func netlinkErr(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return ocfErrorf(OCFErrPerm, "%s: %v (root required)", msg, err)
	}
	return ocfErrorf(OCFErrGeneric, "%s: %v", msg, err)
}

// Start adds the address (if not already there), brings the interface up
// and announces the address.
func (a *IPAgent) Start(ctx context.Context) error {
	t, err := a.findif()
	if err != nil {
		return err
	}
	nic := t.link.Attrs().Name
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
	if t.label == "" && a.Kind == "IPaddr" && a.IP.Is4() {
		// IPaddr's ifconfig alias: the first free NIC:j.
		if t.label, err = freeAlias(t.link); err != nil {
			return err
		}
	}
	addr := &netlink.Addr{IPNet: a.ipNet(t.bits), Label: t.label, Broadcast: t.brd}
	if a.NoPrefixRoute {
		addr.Flags |= unix.IFA_F_NOPREFIXROUTE
	}
	if a.IP.Is6() {
		if a.NoDAD {
			addr.Flags |= unix.IFA_F_NODAD
		}
		addr.ValidLft = int(^uint32(0)) // forever
		addr.PreferedLft = addr.ValidLft
		if a.PreferredLft >= 0 {
			addr.PreferedLft = a.PreferredLft
		}
	}
	if err := netlink.AddrAdd(t.link, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
		return netlinkErr(err, "%s: add %s/%d to %s", a.Kind, a.IP, t.bits, nic)
	}
	if err := netlink.LinkSetUp(t.link); err != nil {
		return netlinkErr(err, "%s: set %s up", a.Kind, nic)
	}
	log.Info("address added", "ip", a.IP, "cidr", t.bits, "label", t.label, "broadcast", t.brd)
	if a.IP.Is6() && !a.NoDAD {
		if err := a.waitDAD(ctx, t); err != nil {
			return err
		}
	}
	if strings.HasPrefix(nic, "lo") {
		return nil // nobody to tell
	}
	return a.announce(ctx, nic, a.ARPCount, a.ARPBackground)
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
	nic := t.link.Attrs().Name
	if strings.HasPrefix(nic, "lo") {
		return nil
	}
	a.opts.Logger.Info("announcing the address again", "resource", a.Token, "nic", nic, "ip", a.IP)
	return a.announce(ctx, nic, a.ARPCount, false)
}

func (a *IPAgent) announce(ctx context.Context, nic string, count int, background bool) error {
	a.mu.Lock()
	if a.cancelBG != nil {
		a.cancelBG()
	}
	bg, cancel := context.WithCancel(context.Background())
	a.cancelBG = cancel
	a.mu.Unlock()
	switch err := a.opts.announce(ctx, bg, nic, a.IP, count, a.ARPInterval, background); {
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

// waitDAD waits (up to 10 s, as IPaddr2) for IPv6 duplicate address
// detection; a failed DAD removes the address and is an error.
func (a *IPAgent) waitDAD(ctx context.Context, t *target) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, err := a.served(t)
		if err != nil {
			return err
		}
		if cur == nil {
			return ocfErrorf(OCFErrGeneric, "%s: %s vanished during duplicate address detection", a.Kind, a.IP)
		}
		if cur.Flags&unix.IFA_F_DADFAILED != 0 {
			_ = netlink.AddrDel(t.link, &netlink.Addr{IPNet: a.ipNet(t.bits)})
			return ocfErrorf(OCFErrGeneric, "%s: duplicate address detection failed for %s: another node has it", a.Kind, a.IP)
		}
		if cur.Flags&unix.IFA_F_TENTATIVE == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			a.opts.Logger.Warn("duplicate address detection still running after 10s; continuing", "resource", a.Token)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeAlias returns the first NIC:j (j < 512) label not in use.
func freeAlias(link netlink.Link) (string, error) {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return "", netlinkErr(err, "IPaddr: list addresses of %s", link.Attrs().Name)
	}
	used := map[string]bool{}
	for _, ad := range addrs {
		used[ad.Label] = true
	}
	name := link.Attrs().Name
	for j := 0; j < 512; j++ {
		l := name + ":" + strconv.Itoa(j)
		if len(l) > 15 {
			break
		}
		if !used[l] {
			return l, nil
		}
	}
	return "", ocfErrorf(OCFErrGeneric, "IPaddr: no free alias on %s", name)
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
		if err := netlink.AddrDel(t.link, &netlink.Addr{IPNet: a.ipNet(t.bits)}); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return netlinkErr(err, "%s: delete %s/%d from %s", a.Kind, a.IP, t.bits, t.link.Attrs().Name)
		}
		a.opts.Logger.Info("address removed", "resource", a.Token, "ip", a.IP, "nic", t.link.Attrs().Name)
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
	if a.ARPRefresh > 0 && !strings.HasPrefix(t.link.Attrs().Name, "lo") {
		_ = a.announce(ctx, t.link.Attrs().Name, a.ARPRefresh, true)
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
	links, err := netlink.LinkList()
	if err != nil {
		return netlinkErr(err, "%s: list links", a.Kind)
	}
	for _, l := range links {
		if !strings.HasPrefix(l.Attrs().Name, "lo") {
			continue
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return netlinkErr(err, "%s: list addresses of %s", a.Kind, l.Attrs().Name)
		}
		for _, ad := range addrs {
			if ones, _ := ad.Mask.Size(); ones == 32 && ad.IP.Equal(net.IP(a.IP.AsSlice())) {
				if err := os.MkdirAll(a.opts.StateDir, 0o755); err != nil {
					return ocfErrorf(OCFErrGeneric, "%s: %v", a.Kind, err)
				}
				if err := os.WriteFile(a.loopbackFile(), []byte(l.Attrs().Name+"\n"), 0o644); err != nil {
					return ocfErrorf(OCFErrGeneric, "%s: %v", a.Kind, err)
				}
				if err := netlink.AddrDel(l, &ad); err != nil {
					return netlinkErr(err, "%s: remove %s/32 from %s", a.Kind, a.IP, l.Attrs().Name)
				}
				a.opts.Logger.Info("lvs_support: removed loopback copy of the address", "resource", a.Token, "dev", l.Attrs().Name)
			}
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
	l, err := netlink.LinkByName(dev)
	if err == nil {
		err = netlink.AddrAdd(l, &netlink.Addr{IPNet: a.ipNet(32), Broadcast: net.IPv4zero})
		if errors.Is(err, syscall.EEXIST) {
			err = nil
		}
	}
	if err != nil {
		return netlinkErr(err, "%s: restore %s/32 on %s", a.Kind, a.IP, dev)
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
		return ocfErrorf(OCFErrGeneric, "%s: %v", a.Kind, err)
	}
	if res.Code != 0 {
		return ocfErrorf(OCFErrGeneric, "%s: %s exited %d%s", a.Kind, script, res.Code, detail(res))
	}
	return nil
}
