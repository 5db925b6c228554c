package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Kernel is the real Net and Conf: netlink for links, addresses and
// routes (in the caller's network namespace), ProcSys for the settings.
// The zero Kernel opens a netlink socket per request (a short-lived
// command); NewKernel keeps one open, which halves the cost of each
// request on a takeover's path in a daemon.
type Kernel struct {
	ProcSys string // root of the sysctl tree; /proc/sys when empty
	nl      *netlink.Handle
}

// netlinkTimeout bounds one request on a kept-open socket (the per-request
// sockets have the library's own timeout).
const netlinkTimeout = 10 * time.Second

// NewKernel returns a Kernel whose netlink socket stays open, in the
// network namespace of the calling thread. Close releases it.
func NewKernel() (Kernel, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return Kernel{}, fmt.Errorf("netlink socket: %w", err)
	}
	if err := h.SetSocketTimeout(netlinkTimeout); err != nil {
		h.Close()
		return Kernel{}, fmt.Errorf("netlink socket: %w", err)
	}
	return Kernel{nl: h}, nil
}

// Close closes the kept-open socket, if any.
func (k Kernel) Close() {
	if k.nl != nil {
		k.nl.Close()
	}
}

// handle is the kept-open socket, or a zero Handle that opens one per
// request (what the package-level netlink functions do).
func (k Kernel) handle() *netlink.Handle {
	if k.nl != nil {
		return k.nl
	}
	return &netlink.Handle{}
}

var (
	_ Net  = Kernel{}
	_ Conf = Kernel{}
)

// dumpRetries bounds the retries of a dump the kernel interrupted (the
// table changed while it was read); the next read is consistent.
const dumpRetries = 3

func nlFamily(f Family) int {
	switch f {
	case V4:
		return netlink.FAMILY_V4
	case V6:
		return netlink.FAMILY_V6
	}
	return netlink.FAMILY_ALL
}

func fromNetlink(l netlink.Link) Link {
	a := l.Attrs()
	return Link{
		Index:        a.Index,
		Name:         a.Name,
		HardwareAddr: a.HardwareAddr,
		Loopback:     a.Flags&net.FlagLoopback != 0,
		Up:           a.Flags&net.FlagUp != 0,
	}
}

// toNetlink is enough of a netlink.Link for the calls below, which use
// only its index and name.
func toNetlink(l Link) netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: l.Index, Name: l.Name}}
}

func linkErr(err error, what string) error {
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("%s: %w", what, ErrNoLink)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// LinkByName implements Net.
func (k Kernel) LinkByName(name string) (Link, error) {
	l, err := k.handle().LinkByName(name)
	if err != nil {
		return Link{}, linkErr(err, "interface "+name)
	}
	return fromNetlink(l), nil
}

// LinkByIndex implements Net.
func (k Kernel) LinkByIndex(index int) (Link, error) {
	l, err := k.handle().LinkByIndex(index)
	if err != nil {
		return Link{}, linkErr(err, "interface index "+strconv.Itoa(index))
	}
	return fromNetlink(l), nil
}

// Links implements Net.
func (k Kernel) Links() ([]Link, error) {
	var ls []netlink.Link
	var err error
	for i := 0; i < dumpRetries; i++ {
		if ls, err = k.handle().LinkList(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make([]Link, len(ls))
	for i, l := range ls {
		out[i] = fromNetlink(l)
	}
	return out, nil
}

// SetUp implements Net.
func (k Kernel) SetUp(l Link) error {
	if err := k.handle().LinkSetUp(toNetlink(l)); err != nil {
		return fmt.Errorf("set %s up: %w", l.Name, err)
	}
	return nil
}

// Addrs implements Net.
func (k Kernel) Addrs(l Link, f Family) ([]Addr, error) {
	var as []netlink.Addr
	var err error
	for i := 0; i < dumpRetries; i++ {
		if as, err = k.handle().AddrList(toNetlink(l), nlFamily(f)); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", l.Name, err)
	}
	out := make([]Addr, 0, len(as))
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.IPNet == nil {
			continue
		}
		ones, _ := a.Mask.Size()
		ad := Addr{
			Prefix:        netip.PrefixFrom(ip.Unmap(), ones),
			Label:         a.Label,
			NoDAD:         a.Flags&unix.IFA_F_NODAD != 0,
			NoPrefixRoute: a.Flags&unix.IFA_F_NOPREFIXROUTE != 0,
			Tentative:     a.Flags&unix.IFA_F_TENTATIVE != 0,
			DADFailed:     a.Flags&unix.IFA_F_DADFAILED != 0,
			ValidLft:      a.ValidLft,
			PreferredLft:  a.PreferedLft,
		}
		if b, ok := netip.AddrFromSlice(a.Broadcast); ok {
			ad.Broadcast = b.Unmap()
		}
		out = append(out, ad)
	}
	return out, nil
}

func toNetlinkAddr(a Addr) *netlink.Addr {
	ip := a.Prefix.Addr()
	n := &netlink.Addr{
		IPNet:       &net.IPNet{IP: net.IP(ip.AsSlice()), Mask: net.CIDRMask(a.Prefix.Bits(), ip.BitLen())},
		Label:       a.Label,
		ValidLft:    a.ValidLft,
		PreferedLft: a.PreferredLft,
	}
	if ip.Is4() {
		// netlink derives a broadcast address when none is given; the
		// zero address asks for none.
		n.Broadcast = net.IPv4zero
		if a.Broadcast.IsValid() {
			n.Broadcast = net.IP(a.Broadcast.AsSlice())
		}
	}
	if a.NoDAD {
		n.Flags |= unix.IFA_F_NODAD
	}
	if a.NoPrefixRoute {
		n.Flags |= unix.IFA_F_NOPREFIXROUTE
	}
	return n
}

// AddAddr implements Net.
func (k Kernel) AddAddr(l Link, a Addr) error {
	if err := k.handle().AddrAdd(toNetlink(l), toNetlinkAddr(a)); err != nil {
		return fmt.Errorf("add %s to %s: %w", a.Prefix, l.Name, err)
	}
	return nil
}

// DelAddr implements Net.
func (k Kernel) DelAddr(l Link, p netip.Prefix) error {
	if err := k.handle().AddrDel(toNetlink(l), toNetlinkAddr(Addr{Prefix: p})); err != nil {
		return fmt.Errorf("delete %s from %s: %w", p, l.Name, err)
	}
	return nil
}

// Routes implements Net.
func (k Kernel) Routes(f Family) ([]Route, error) {
	var rs []netlink.Route
	var err error
	for i := 0; i < dumpRetries; i++ {
		rs, err = k.handle().RouteListFiltered(nlFamily(f), &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	out := make([]Route, 0, len(rs))
	for _, r := range rs {
		if r.Dst == nil {
			continue // not an IP route
		}
		ip, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		rt := Route{Dst: netip.PrefixFrom(ip.Unmap(), ones), LinkIndex: r.LinkIndex, Scope: Scope(r.Scope)}
		for _, nh := range r.MultiPath {
			rt.Nexthops = append(rt.Nexthops, nh.LinkIndex)
		}
		out = append(out, rt)
	}
	return out, nil
}

func (k Kernel) confPath(iface, name string) string {
	root := k.ProcSys
	if root == "" {
		root = "/proc/sys"
	}
	return filepath.Join(root, "net/ipv4/conf", iface, name)
}

// IPv4Conf implements Conf.
func (k Kernel) IPv4Conf(iface, name string) (int, error) {
	b, err := os.ReadFile(k.confPath(iface, name))
	if err != nil {
		return 0, fmt.Errorf("read net.ipv4.conf.%s.%s: %w", iface, name, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read net.ipv4.conf.%s.%s: %w", iface, name, err)
	}
	return n, nil
}

// SetIPv4Conf implements Conf.
func (k Kernel) SetIPv4Conf(iface, name string, v int) error {
	// O_WRONLY without O_CREATE: a setting that does not exist is an
	// error, never a new file.
	f, err := os.OpenFile(k.confPath(iface, name), os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		_, err = f.WriteString(strconv.Itoa(v) + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("set net.ipv4.conf.%s.%s=%d: %w", iface, name, v, err)
	}
	return nil
}
