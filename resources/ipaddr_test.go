package resources

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"lvsha/resources/garp"
	"lvsha/resources/netif"
)

// TestIPAgentFindif: where the address goes, from the parameters and the
// fake host's routing table (see newFakeHost), as findif.sh decides.
func TestIPAgentFindif(t *testing.T) {
	for _, c := range []struct {
		kind string
		p    map[string]string
		nic  string
		bits int
		brd  string // "" = none
		lbl  string
		code int // OCF code of the error, 0 = none
		errs string
	}{
		{kind: "IPaddr2", p: map[string]string{"ip": "10.0.0.100"}, nic: "eth0", bits: 24, brd: "10.0.0.255"},
		// The longest route no longer than the given netmask.
		{kind: "IPaddr2", p: map[string]string{"ip": "10.0.0.100", "cidr_netmask": "16"}, nic: "eth0", bits: 16, brd: "10.0.255.255"},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.0.5.1"}, nic: "eth0", bits: 16, brd: "10.0.255.255"},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.0.0.100", "cidr_netmask": "8"}, code: OCFErrGeneric, errs: "unable to find nic"},
		// The last of equal routes, unless nic says.
		{kind: "IPaddr2", p: map[string]string{"ip": "10.2.0.7"}, nic: "eth1", bits: 24, brd: "10.2.0.255"},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.2.0.7", "nic": "eth0"}, nic: "eth0", bits: 24, brd: "10.2.0.255"},
		// nic without netmask needs a route on that nic; both need none.
		{kind: "IPaddr2", p: map[string]string{"ip": "10.1.0.9", "nic": "eth0"}, code: OCFErrGeneric, errs: "unable to find nic"},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.1.0.9", "nic": "eth0", "cidr_netmask": "24"}, nic: "eth0", bits: 24, brd: "10.1.0.255"},
		{kind: "IPaddr2", p: map[string]string{"ip": "192.0.2.1", "nic": "eth1", "cidr_netmask": "32"}, nic: "eth1", bits: 32},
		// Neither the default route, a host route nor a global-scope IPv4 route.
		{kind: "IPaddr2", p: map[string]string{"ip": "192.0.2.1"}, code: OCFErrGeneric, errs: "unable to find nic"},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.3.0.5"}, code: OCFErrGeneric, errs: "unable to find nic"},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.4.0.9"}, code: OCFErrGeneric, errs: "unable to find nic"},
		// IPv6 routes have no link scope; no broadcast.
		{kind: "IPaddr2", p: map[string]string{"ip": "fd00:1::5"}, nic: "eth1", bits: 64},
		{kind: "IPaddr2", p: map[string]string{"ip": "fd00:9::5"}, code: OCFErrGeneric, errs: "unable to find nic"},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.0.0.100", "nic": "nosuch0"}, code: OCFErrConfigured, errs: "unknown interface [nosuch0]"},
		// Broadcast: + and empty are computed, - is none, /31 and /32 have none.
		{kind: "IPaddr2", p: map[string]string{"ip": "10.0.0.100", "broadcast": "+"}, nic: "eth0", bits: 24, brd: "10.0.0.255"},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.0.0.100", "broadcast": "-"}, nic: "eth0", bits: 24},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.0.0.100", "broadcast": "10.0.0.127"}, nic: "eth0", bits: 24, brd: "10.0.0.127"},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.0.0.100", "nic": "eth0", "cidr_netmask": "31"}, nic: "eth0", bits: 31},
		// Labels: IPaddr2 keeps nic:label (also on a found interface),
		// IPaddr picks its alias at start.
		{kind: "IPaddr2", p: map[string]string{"ip": "10.0.0.100", "nic": "eth0:web"}, nic: "eth0", bits: 24, brd: "10.0.0.255", lbl: "eth0:web"},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.2.0.7", "nic": ":web"}, nic: "eth1", bits: 24, brd: "10.2.0.255", lbl: "eth1:web"},
		{kind: "IPaddr2", p: map[string]string{"ip": "10.2.0.7", "nic": ":0123456789a"}, code: OCFErrConfigured, errs: "exceeds maximum character limit of 15"},
		{kind: "IPaddr", p: map[string]string{"ip": "10.0.0.100", "nic": "eth0:10"}, nic: "eth0", bits: 24, brd: "10.0.0.255"},
	} {
		h := newFakeHost(t)
		a, err := NewIPAgent(c.kind, c.p, h.opts)
		if err != nil {
			t.Errorf("%s %v: %v", c.kind, c.p, err)
			continue
		}
		got, err := a.findif()
		if c.code != 0 {
			if OCFCode(err) != c.code || !strings.Contains(err.Error(), c.errs) {
				t.Errorf("%s %v: %v, want code %d with %q", c.kind, c.p, err, c.code, c.errs)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", c.kind, c.p, err)
			continue
		}
		brd := ""
		if got.brd.IsValid() {
			brd = got.brd.String()
		}
		if got.link.Name != c.nic || got.bits != c.bits || brd != c.brd || got.label != c.lbl {
			t.Errorf("%s %v: %s/%d brd %q label %q, want %s/%d brd %q label %q", c.kind, c.p,
				got.link.Name, got.bits, brd, got.label, c.nic, c.bits, c.brd, c.lbl)
		}
	}
}

// TestIPAgentLifecycle: start adds and announces once, start and stop are
// idempotent, status follows, on the fake host.
func TestIPAgentLifecycle(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		kind   string
		p      map[string]string
		link   string
		prefix string
		label  string
		frames int // announcement frames start sends
		ether  uint16
	}{
		{name: "IPaddr2 found by route", kind: "IPaddr2", p: map[string]string{"ip": "10.0.0.100", "arp_count": "3", "arp_interval": "1"},
			link: "eth0", prefix: "10.0.0.100/24", label: "eth0", frames: 6, ether: garp.EtherTypeARP},
		{name: "IPaddr2 label", kind: "IPaddr2", p: map[string]string{"ip": "10.1.0.100", "nic": "eth1:vip", "cidr_netmask": "32", "arp_count": "1", "arp_interval": "1"},
			link: "eth1", prefix: "10.1.0.100/32", label: "eth1:vip", frames: 2, ether: garp.EtherTypeARP},
		{name: "IPaddr first free alias", kind: "IPaddr", p: map[string]string{"ip": "10.0.0.101", "nic": "eth0:10", "ARP_REPEAT": "2", "ARP_INTERVAL_MS": "1"},
			link: "eth0", prefix: "10.0.0.101/24", label: "eth0:0", frames: 4, ether: garp.EtherTypeARP},
		{name: "IPv6 with DAD", kind: "IPaddr2", p: map[string]string{"ip": "fd00:1::5", "arp_count": "2", "arp_interval": "1"},
			link: "eth1", prefix: "fd00:1::5/64", frames: 2, ether: garp.EtherTypeIPv6},
		{name: "on lo nobody is told", kind: "IPaddr2", p: map[string]string{"ip": "10.9.0.1", "nic": "lo", "cidr_netmask": "32", "arp_count": "1", "arp_interval": "1"},
			link: "lo", prefix: "10.9.0.1/32", label: "lo", frames: 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newFakeHost(t)
			a, err := NewIPAgent(c.kind, c.p, h.opts)
			if err != nil {
				t.Fatal(err)
			}
			p := netip.MustParsePrefix(c.prefix)
			if st, err := a.Status(ctx); st != Stopped || err != nil {
				t.Fatalf("status before start: %v %v", st, err)
			}
			for i := 0; i < 2; i++ {
				if err := a.Start(ctx); err != nil {
					t.Fatalf("start %d: %v", i+1, err)
				}
				ad, ok := h.net.Has(c.link, p)
				if !ok || ad.Label != c.label || ad.Tentative {
					t.Fatalf("start %d: %s on %s: %+v %v, want label %q, not tentative", i+1, p, c.link, ad, ok, c.label)
				}
				if st, err := a.Status(ctx); st != Running || err != nil {
					t.Fatalf("status after start %d: %v %v", i+1, st, err)
				}
			}
			if n := h.net.Calls["AddAddr"]; n != 1 {
				t.Errorf("AddAddr called %d times, want once (the second start finds it served)", n)
			}
			if n := h.frames.total(); n != c.frames || c.frames > 0 && h.frames.count(c.link, c.ether) != n {
				t.Errorf("%d frames (%d on %s), want %d there, from the first start only", n, h.frames.count(c.link, c.ether), c.link, c.frames)
			}
			if l, _ := h.net.LinkByName(c.link); !l.Up {
				t.Errorf("%s not brought up", c.link)
			}
			for i := 0; i < 2; i++ {
				if err := a.Stop(ctx); err != nil {
					t.Fatalf("stop %d: %v", i+1, err)
				}
				if _, ok := h.net.Has(c.link, p); ok {
					t.Fatalf("stop %d: address still there", i+1)
				}
				if st, err := a.Status(ctx); st != Stopped || err != nil {
					t.Fatalf("status after stop %d: %v %v", i+1, st, err)
				}
			}
		})
	}
}

// TestIPAgentAddressDetails: what start asks the kernel for, beyond the
// address: flags, lifetimes, broadcast, the alias numbering of IPaddr.
func TestIPAgentAddressDetails(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost(t)
	start := func(kind string, p map[string]string) *IPAgent {
		t.Helper()
		a, err := NewIPAgent(kind, p, h.opts)
		if err != nil {
			t.Fatal(err)
		}
		a.ARPCount, a.ARPInterval = 1, 0
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return a
	}
	start("IPaddr2", map[string]string{"ip": "fd00:1::7", "nodad": "yes", "noprefixroute": "true", "preferred_lft": "0"})
	if ad, ok := h.net.Has("eth1", netip.MustParsePrefix("fd00:1::7/64")); !ok || !ad.NoDAD || !ad.NoPrefixRoute ||
		ad.PreferredLft != 0 || ad.ValidLft != netif.Forever || ad.Tentative {
		t.Errorf("nodad, noprefixroute, preferred_lft 0: %+v", ad)
	}
	start("IPaddr2", map[string]string{"ip": "fd00:1::8", "nodad": "1"})
	if ad, _ := h.net.Has("eth1", netip.MustParsePrefix("fd00:1::8/64")); ad.PreferredLft != netif.Forever {
		t.Errorf("preferred_lft forever: %+v", ad)
	}
	start("IPaddr2", map[string]string{"ip": "10.0.0.10", "broadcast": "-"})
	if ad, _ := h.net.Has("eth0", netip.MustParsePrefix("10.0.0.10/24")); ad.Broadcast.IsValid() {
		t.Errorf("broadcast -: %+v", ad)
	}
	start("IPaddr2", map[string]string{"ip": "10.0.0.11"})
	if ad, _ := h.net.Has("eth0", netip.MustParsePrefix("10.0.0.11/24")); ad.Broadcast != netip.MustParseAddr("10.0.0.255") {
		t.Errorf("computed broadcast: %+v", ad)
	}
	// IPaddr takes the first NIC:j free: eth0:0 and eth0:2 are taken.
	h.net.AddAddr(h.eth0, netif.Addr{Prefix: netip.MustParsePrefix("10.0.0.20/24"), Label: "eth0:0"})
	h.net.AddAddr(h.eth0, netif.Addr{Prefix: netip.MustParsePrefix("10.0.0.22/24"), Label: "eth0:2"})
	start("IPaddr", map[string]string{"ip": "10.0.0.30"})
	start("IPaddr", map[string]string{"ip": "10.0.0.31"})
	for ip, label := range map[string]string{"10.0.0.30/24": "eth0:1", "10.0.0.31/24": "eth0:3"} {
		if ad, _ := h.net.Has("eth0", netip.MustParsePrefix(ip)); ad.Label != label {
			t.Errorf("IPaddr %s: label %q, want %q", ip, ad.Label, label)
		}
	}
}

// TestIPAgentLVSSupport: a /32 copy of the address on lo moves to the
// interface on start and back on stop; without one, stop adds none.
func TestIPAgentLVSSupport(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost(t)
	host := netip.MustParsePrefix("10.0.0.50/32")
	if err := h.net.AddAddr(h.lo, netif.Addr{Prefix: host}); err != nil {
		t.Fatal(err)
	}
	p, _, err := IPParamsFromArgs("IPaddr2", []string{"10.0.0.50/24/eth0"}) // the wrapper sets lvs_support=1
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewIPAgent("IPaddr2", p, h.opts)
	if err != nil {
		t.Fatal(err)
	}
	a.ARPCount, a.ARPInterval = 1, 0
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, onLo := h.net.Has("lo", host); onLo {
		t.Error("start left the /32 on lo")
	}
	if _, ok := h.net.Has("eth0", netip.MustParsePrefix("10.0.0.50/24")); !ok {
		t.Error("start did not add the address")
	}
	if b, err := os.ReadFile(a.loopbackFile()); err != nil || string(b) != "lo\n" {
		t.Errorf("loopback record %q %v", b, err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, onLo := h.net.Has("lo", host); !onLo {
		t.Error("stop did not put the /32 back on lo")
	}
	if _, err := os.Stat(a.loopbackFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("loopback record left: %v", err)
	}

	// No lo copy: nothing recorded, nothing restored.
	b, _ := NewIPAgent("IPaddr2", map[string]string{"ip": "10.0.0.51", "lvs_support": "1"}, h.opts)
	b.ARPCount, b.ARPInterval = 1, 0
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, onLo := h.net.Has("lo", netip.MustParsePrefix("10.0.0.51/32")); onLo {
		t.Error("stop added a /32 on lo that was never there")
	}
}

// TestIPAgentDAD: a duplicate found by IPv6 duplicate address detection
// fails the start and removes the address.
func TestIPAgentDAD(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost(t)
	h.net.Duplicates[netip.MustParseAddr("fd00:1::9")] = true
	a, err := NewIPAgent("IPaddr2", map[string]string{"ip": "fd00:1::9", "arp_count": "1", "arp_interval": "1"}, h.opts)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Start(ctx)
	if OCFCode(err) != OCFErrGeneric || !strings.Contains(err.Error(), "duplicate address detection failed") {
		t.Fatalf("start: %v", err)
	}
	if _, ok := h.net.Has("eth1", netip.MustParsePrefix("fd00:1::9/64")); ok {
		t.Error("the duplicate address was left on eth1")
	}
	if n := h.frames.total(); n != 0 {
		t.Errorf("%d announcements for an address another node holds", n)
	}
}

// TestIPAgentAnnounce: re-announcing (after a healed partition) and the
// monitor's refresh send frames only while the address is served.
func TestIPAgentAnnounce(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost(t)
	a, err := NewIPAgent("IPaddr2", map[string]string{"ip": "10.0.0.60", "arp_count": "2", "arp_interval": "1", "arp_count_refresh": "1"}, h.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Announce(ctx); err != nil || h.frames.total() != 0 {
		t.Fatalf("announce while not served: %v, %d frames", err, h.frames.total())
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.frames.total(); n != 4 {
		t.Fatalf("start sent %d frames, want 4", n)
	}
	if err := a.Announce(ctx); err != nil || h.frames.total() != 8 {
		t.Fatalf("announce: %v, %d frames in all, want 8", err, h.frames.total())
	}
	if st, _ := a.Status(ctx); st != Running || h.frames.total() != 10 {
		t.Fatalf("monitor: %v, %d frames in all, want 10 (arp_count_refresh 1)", st, h.frames.total())
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Status(ctx); st != Stopped || h.frames.total() != 10 {
		t.Fatalf("monitor after stop: %v, %d frames", st, h.frames.total())
	}
}

// TestIPAgentErrors: what the agent makes of the system's errors.
func TestIPAgentErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		fail   string // Fake method that fails
		err    error
		action string
		code   int // OCF code of the action's error
		state  State
	}{
		{name: "no privilege to add", fail: "AddAddr", err: syscall.EPERM, action: "start", code: OCFErrPerm},
		{name: "add fails", fail: "AddAddr", err: syscall.ENOBUFS, action: "start", code: OCFErrGeneric},
		{name: "link cannot go up", fail: "SetUp", err: syscall.EPERM, action: "start", code: OCFErrPerm},
		{name: "routes unreadable", fail: "Routes", err: syscall.EIO, action: "start", code: OCFErrGeneric},
		{name: "addresses unreadable", fail: "Addrs", err: syscall.EIO, action: "status", state: Failed, code: OCFErrGeneric},
		{name: "routes unreadable: not served", fail: "Routes", err: syscall.EIO, action: "status", state: Stopped},
		{name: "delete fails", fail: "DelAddr", err: syscall.EPERM, action: "stop", code: OCFErrPerm},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newFakeHost(t)
			a, err := NewIPAgent("IPaddr2", map[string]string{"ip": "10.0.0.70", "arp_count": "1", "arp_interval": "1"}, h.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.action == "stop" {
				if err := a.Start(ctx); err != nil {
					t.Fatal(err)
				}
			}
			h.net.Errs[c.fail] = c.err
			switch c.action {
			case "start":
				err = a.Start(ctx)
			case "stop":
				err = a.Stop(ctx)
			case "status":
				var st State
				st, err = a.Status(ctx)
				if st != c.state {
					t.Errorf("status %v, want %v", st, c.state)
				}
			}
			if OCFCode(err) != c.code || c.code != 0 && !errors.Is(err, c.err) {
				t.Errorf("%s: %v (code %d), want code %d wrapping %v", c.action, err, OCFCode(err), c.code, c.err)
			}
		})
	}

	// An interface that cannot be resolved: start is a configuration
	// error, status says stopped, stop succeeds (IPaddr2's probe and stop).
	h := newFakeHost(t)
	a, _ := NewIPAgent("IPaddr2", map[string]string{"ip": "10.0.0.71", "nic": "nosuch0"}, h.opts)
	if err := a.Start(ctx); OCFCode(err) != OCFErrConfigured {
		t.Errorf("start: %v", err)
	}
	if st, err := a.Status(ctx); st != Stopped || err != nil {
		t.Errorf("status: %v %v", st, err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := a.Validate(ctx); OCFCode(err) != OCFErrConfigured {
		t.Errorf("validate: %v", err)
	}
}

// TestIPAgentFromHaresources: the haresources forms as hbd runs them
// (wrapper parameters, then the agent), on the fake host.
func TestIPAgentFromHaresources(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		kind, arg    string
		link, prefix string
		label, brd   string
	}{
		// Issue 12: a run of slashes is one separator.
		{kind: "IPaddr2", arg: "10.0.30.15//8/eth0:10", link: "eth0", prefix: "10.0.30.15/8", label: "eth0:10", brd: "10.255.255.255"},
		{kind: "IPaddr", arg: "10.0.30.15//8/eth0:10", link: "eth0", prefix: "10.0.30.15/8", label: "eth0:0", brd: "10.255.255.255"},
		{kind: "IPaddr2", arg: "10.0.30.15///8///eth1///10.0.30.255", link: "eth1", prefix: "10.0.30.15/8", label: "eth1", brd: "10.0.30.255"},
		{kind: "IPaddr2", arg: "10.1.0.7", link: "eth1", prefix: "10.1.0.7/24", label: "eth1", brd: "10.1.0.255"},
		{kind: "IPaddr2", arg: "10.1.0.7/24/10.1.0.127", link: "eth1", prefix: "10.1.0.7/24", label: "eth1", brd: "10.1.0.127"},
	} {
		h := newFakeHost(t)
		p, _, err := IPParamsFromArgs(c.kind, []string{c.arg})
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewIPAgent(c.kind, p, h.opts)
		if err != nil {
			t.Errorf("%s::%s: %v", c.kind, c.arg, err)
			continue
		}
		a.ARPInterval = 0
		if err := a.Start(ctx); err != nil {
			t.Errorf("%s::%s: start: %v", c.kind, c.arg, err)
			continue
		}
		ad, ok := h.net.Has(c.link, netip.MustParsePrefix(c.prefix))
		if !ok || ad.Label != c.label || ad.Broadcast.String() != c.brd {
			t.Errorf("%s::%s: %s on %s: %+v %v, want label %s brd %s", c.kind, c.arg, c.prefix, c.link, ad, ok, c.label, c.brd)
		}
	}
}
