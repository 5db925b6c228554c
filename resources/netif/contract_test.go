package netif

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"lvsha/internal/testenv"
)

// system is a Net and Conf with the means to set up what the agents only
// read (links and routes are made by the administrator, not the agents).
type system struct {
	net      Net
	conf     Conf
	addLink  func(t *testing.T, name string) Link
	addRoute func(t *testing.T, r Route)
}

// contract is what the agents rely on; the Fake must behave as the Kernel
// does for each of these.
func contract(t *testing.T, s system) {
	n := s.net
	if _, err := n.LinkByName("nosuch0"); !errors.Is(err, ErrNoLink) {
		t.Errorf("LinkByName(nosuch0): %v, want ErrNoLink", err)
	}
	lo, err := n.LinkByName("lo")
	if err != nil || !lo.Loopback {
		t.Fatalf("lo: %+v %v", lo, err)
	}
	l := s.addLink(t, "ct0")
	if got, err := n.LinkByIndex(l.Index); err != nil || got.Name != "ct0" || len(got.HardwareAddr) != 6 {
		t.Fatalf("LinkByIndex(%d) = %+v, %v", l.Index, got, err)
	}
	if err := n.SetUp(l); err != nil {
		t.Fatal(err)
	}
	if got, _ := n.LinkByName("ct0"); !got.Up {
		t.Error("SetUp: link not up")
	}
	links, err := n.Links()
	if err != nil || !slices.ContainsFunc(links, func(x Link) bool { return x.Name == "ct0" }) {
		t.Errorf("Links() = %v, %v", links, err)
	}

	p := netip.MustParsePrefix("10.99.0.2/24")
	add := Addr{Prefix: p, Label: "ct0:vip", Broadcast: netip.MustParseAddr("10.99.0.255")}
	if err := n.AddAddr(l, add); err != nil {
		t.Fatal(err)
	}
	if err := n.AddAddr(l, add); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("second AddAddr: %v, want EEXIST", err)
	}
	if err := n.AddAddr(l, Addr{Prefix: netip.MustParsePrefix("10.99.0.3/24")}); err != nil {
		t.Fatal(err)
	}
	if err := n.AddAddr(l, Addr{Prefix: netip.MustParsePrefix("10.99.0.5/24"), Label: "ct0:0123456789ab"}); err == nil {
		t.Error("a label longer than 15 characters was accepted")
	}
	v4, err := n.Addrs(l, V4)
	if err != nil {
		t.Fatal(err)
	}
	byIP := map[netip.Addr]Addr{}
	for _, a := range v4 {
		byIP[a.Prefix.Addr()] = a
	}
	if a := byIP[p.Addr()]; a.Prefix != p || a.Label != "ct0:vip" || a.Broadcast != add.Broadcast {
		t.Errorf("read back %+v, want %v label ct0:vip brd %v", a, p, add.Broadcast)
	}
	if a := byIP[netip.MustParseAddr("10.99.0.3")]; a.Label != "ct0" || a.Broadcast.IsValid() && !a.Broadcast.IsUnspecified() {
		t.Errorf("no label, no broadcast: read back %+v, want label ct0 and no broadcast", a)
	}
	if len(v4) != 2 {
		t.Errorf("IPv4 addresses %v, want 2", v4)
	}

	p6 := netip.MustParsePrefix("fd00:99::2/64")
	if err := n.AddAddr(l, Addr{Prefix: p6, NoDAD: true, Label: "ct0:x", ValidLft: Forever, PreferredLft: 30}); err != nil {
		t.Fatal(err)
	}
	v6, err := n.Addrs(l, V6)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(v6, func(a Addr) bool { return a.Prefix == p6 })
	if i < 0 || v6[i].Tentative || v6[i].Label != "" || !v6[i].NoDAD {
		t.Errorf("IPv6 nodad address read back as %v (want not tentative, no label, nodad)", v6)
	}
	for _, a := range v6 {
		if a.Prefix.Addr().Is4() {
			t.Errorf("Addrs(V6) returned %v", a)
		}
	}

	if err := n.DelAddr(l, p); err != nil {
		t.Fatal(err)
	}
	if err := n.DelAddr(l, p); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("second DelAddr: %v, want EADDRNOTAVAIL", err)
	}
	if err := n.DelAddr(l, p6); err != nil {
		t.Fatal(err)
	}

	s.addRoute(t, Route{Dst: netip.MustParsePrefix("10.98.0.0/16"), LinkIndex: l.Index, Scope: ScopeLink})
	s.addRoute(t, Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), LinkIndex: l.Index})
	rs, err := n.Routes(V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Route{
		{Dst: netip.MustParsePrefix("10.98.0.0/16"), LinkIndex: l.Index, Scope: ScopeLink},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), LinkIndex: l.Index},
	} {
		if !slices.ContainsFunc(rs, func(r Route) bool {
			return r.Dst == want.Dst && r.LinkIndex == want.LinkIndex && r.Scope == want.Scope
		}) {
			t.Errorf("Routes(V4) = %+v, want %+v among them", rs, want)
		}
	}

	c := s.conf
	if err := c.SetIPv4Conf("ct0", "arp_ignore", 2); err != nil {
		t.Fatal(err)
	}
	if v, err := c.IPv4Conf("ct0", "arp_ignore"); v != 2 || err != nil {
		t.Errorf("arp_ignore = %d, %v; want 2", v, err)
	}
	if _, err := c.IPv4Conf("nosuch0", "arp_ignore"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("IPv4Conf of a missing interface: %v, want fs.ErrNotExist", err)
	}
	if err := c.SetIPv4Conf("nosuch0", "arp_ignore", 1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SetIPv4Conf of a missing interface: %v, want fs.ErrNotExist", err)
	}
}

func TestFakeContract(t *testing.T) {
	f := NewFake()
	contract(t, system{
		net: f, conf: f,
		addLink: func(t *testing.T, name string) Link {
			return f.AddLink(name, net.HardwareAddr{2, 0, 0, 0, 0, 1})
		},
		addRoute: func(t *testing.T, r Route) { f.AddRoute(r) },
	})
}

// TestKernelContract runs the contract against the kernel, in a network
// namespace of its own, so the Fake is held to what Kernel does: once with
// a kept-open netlink socket (NewKernel, hbd's) and once with a socket per
// request (the zero Kernel, the ocf-agent command's), each in a fresh
// namespace. The test goroutine's thread is unshared and never unlocked:
// it ends with the test and nothing else runs in the namespaces. Root; run
// it under the heavy-test lock like the other namespace tests.
func TestKernelContract(t *testing.T) {
	testenv.RequireRoot(t, "a network namespace")
	runtime.LockOSThread()
	for _, c := range []struct {
		name string
		make func(t *testing.T) Kernel
	}{
		{"kept-open socket", func(t *testing.T) Kernel {
			k, err := NewKernel()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(k.Close)
			return k
		}},
		{"socket per request", func(*testing.T) Kernel { return Kernel{} }},
	} {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Fatalf("unshare: %v", err)
		}
		// Subtests run on other goroutines (other threads, other
		// namespaces): this one runs inline.
		kernelContract(t, c.name, c.make(t))
	}
}

func kernelContract(t *testing.T, name string, k Kernel) {
	t.Logf("contract with a %s", name)
	lo, err := k.LinkByName("lo")
	if err == nil {
		err = k.SetUp(lo)
	}
	if err != nil {
		t.Fatalf("%s: lo: %v", name, err)
	}
	contract(t, system{
		net: k, conf: k,
		addLink: func(t *testing.T, name string) Link {
			if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}); err != nil {
				t.Fatalf("add veth: %v", err)
			}
			peer, _ := netlink.LinkByName(name + "p")
			netlink.LinkSetUp(peer)
			l, err := k.LinkByName(name)
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		addRoute: func(t *testing.T, r Route) {
			nr := &netlink.Route{LinkIndex: r.LinkIndex, Scope: netlink.Scope(r.Scope),
				Dst: &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())}}
			if r.Dst.Bits() == 0 {
				// A default route needs a gateway on the link.
				ad := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 97, 0, 2), Mask: net.CIDRMask(24, 32)}}
				if err := netlink.AddrAdd(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: r.LinkIndex}}, ad); err != nil {
					t.Fatal(err)
				}
				nr.Gw = net.IPv4(10, 97, 0, 1)
			}
			if err := netlink.RouteAdd(nr); err != nil {
				t.Fatalf("add route %v: %v", r.Dst, err)
			}
		},
	})
}
