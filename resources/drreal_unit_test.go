package resources

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"lvsha/resources/netif"
)

// arpConf reads all's and iface's arp_ignore and arp_announce.
func arpConf(t *testing.T, c netif.Conf, iface string) [4]int {
	t.Helper()
	var v [4]int
	for i, k := range []struct{ iface, name string }{{"all", "arp_ignore"}, {"all", "arp_announce"}, {iface, "arp_ignore"}, {iface, "arp_announce"}} {
		n, err := c.IPv4Conf(k.iface, k.name)
		if err != nil {
			t.Fatal(err)
		}
		v[i] = n
	}
	return v
}

func setArpConf(t *testing.T, c netif.Conf, iface string, v [4]int) {
	t.Helper()
	for i, k := range []struct{ iface, name string }{{"all", "arp_ignore"}, {"all", "arp_announce"}, {iface, "arp_ignore"}, {iface, "arp_announce"}} {
		if err := c.SetIPv4Conf(k.iface, k.name, v[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDRRealServerIfaces: the sysctls are set on all plus the interfaces
// the director's traffic arrives on: nic, or those of the IPv4 default
// route (every hop of a multipath one); none for IPv6-only VIPs.
func TestDRRealServerIfaces(t *testing.T) {
	for _, c := range []struct {
		name   string
		p      map[string]string
		routes []netif.Route // replace the fake host's IPv4 default route
		want   []string
		code   int
	}{
		{name: "default route", p: map[string]string{"vip": "10.0.0.100"}, want: []string{"all", "eth0"}},
		{name: "nic", p: map[string]string{"vip": "10.0.0.100", "nic": "eth1,eth0,eth1"}, want: []string{"all", "eth1", "eth0"}},
		{name: "unknown nic", p: map[string]string{"vip": "10.0.0.100", "nic": "nosuch0"}, code: OCFErrConfigured},
		{name: "multipath default route", p: map[string]string{"vip": "10.0.0.100"},
			routes: []netif.Route{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Nexthops: []int{2, 3}}}, want: []string{"all", "eth0", "eth1"}},
		{name: "no default route", p: map[string]string{"vip": "10.0.0.100"}, routes: []netif.Route{}, want: []string{"all"}},
		{name: "IPv6 only", p: map[string]string{"vip": "fd00::100"}, want: nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newFakeHost(t)
			if c.routes != nil {
				h.net.DelLink("eth0") // takes its routes, the default among them
				h.eth0 = h.net.AddLink("eth0", h.eth0.HardwareAddr)
				for _, r := range c.routes {
					r.Nexthops = slices.Clone(r.Nexthops)
					for i, idx := range r.Nexthops {
						if idx == 2 {
							r.Nexthops[i] = h.eth0.Index
						}
					}
					h.net.AddRoute(r)
				}
			}
			a, err := NewDRRealServer(c.p, h.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.ifaces()
			if OCFCode(err) != c.code {
				t.Fatalf("ifaces: %v, want code %d", err, c.code)
			}
			if c.code == 0 && !slices.Equal(got, c.want) {
				t.Errorf("ifaces %v, want %v", got, c.want)
			}
		})
	}
}

// TestDRRealServerFake drives start, status and stop on the fake host:
// the sysctls set before the VIPs go on lo, the previous values restored
// by the last stop, the failed states status reports.
func TestDRRealServerFake(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost(t)
	odd := [4]int{0, 1, 2, 0}
	setArpConf(t, h.net, "eth0", odd)
	a, err := NewDRRealServer(map[string]string{"vip": "10.0.0.100 fd00::100"}, h.opts)
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := netip.MustParsePrefix("10.0.0.100/32"), netip.MustParsePrefix("fd00::100/128")
	onLo := func(p netip.Prefix) bool { _, ok := h.net.Has("lo", p); return ok }
	if err := a.Validate(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Status(ctx); st != Stopped || err != nil {
		t.Fatalf("status before start: %v %v", st, err)
	}
	for i := 0; i < 2; i++ {
		if err := a.Start(ctx); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		if !onLo(v4) || !onLo(v6) {
			t.Fatalf("start %d: VIPs not on lo as host addresses", i+1)
		}
		if got := arpConf(t, h.net, "eth0"); got != [4]int{1, 2, 1, 2} {
			t.Fatalf("start %d: sysctls %v, want 1 2 1 2", i+1, got)
		}
		if st, err := a.Status(ctx); st != Running || err != nil {
			t.Fatalf("status after start %d: %v %v", i+1, st, err)
		}
	}
	saved, _ := os.ReadFile(filepath.Join(h.stateDir, drSysctlFile))
	if string(saved) != "all arp_ignore 0\nall arp_announce 1\neth0 arp_ignore 2\neth0 arp_announce 0\n" {
		t.Errorf("saved values (the second start must not record its own):\n%s", saved)
	}

	// A VIP gone from lo, then a sysctl reset: failed, each with its reason.
	if err := h.net.DelAddr(h.lo, v6); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Status(ctx); st != Failed || !strings.Contains(err.Error(), "fd00::100 not on lo") {
		t.Errorf("one VIP missing: %v %v", st, err)
	}
	if err := a.Start(ctx); err != nil || !onLo(v6) {
		t.Fatalf("start repairs: %v", err)
	}
	h.net.SetIPv4Conf("eth0", "arp_ignore", 0)
	if st, err := a.Status(ctx); st != Failed || !strings.Contains(err.Error(), "net.ipv4.conf.eth0.arp_ignore=0 (want 1)") {
		t.Errorf("sysctl reset: %v %v", st, err)
	}

	for i := 0; i < 2; i++ {
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("stop %d: %v", i+1, err)
		}
		if onLo(v4) || onLo(v6) {
			t.Fatalf("stop %d: VIPs still on lo", i+1)
		}
		if got := arpConf(t, h.net, "eth0"); got != odd {
			t.Fatalf("stop %d: sysctls %v, want the previous %v", i+1, got, odd)
		}
		if st, err := a.Status(ctx); st != Stopped || err != nil {
			t.Fatalf("status after stop %d: %v %v", i+1, st, err)
		}
	}
	if _, err := os.Stat(filepath.Join(h.stateDir, drSysctlFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("saved values left after the last stop: %v", err)
	}
}

// TestDRRealServerShared: with two instances the values come back only
// when the last stops; an interface gone meanwhile is skipped.
func TestDRRealServerShared(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost(t)
	h.net.SetIPv4Conf("eth1", "arp_announce", 1)
	b, _ := NewDRRealServer(map[string]string{"vip": "10.0.0.101"}, h.opts)
	c, _ := NewDRRealServer(map[string]string{"vip": "10.0.0.102", "nic": "eth0,eth1"}, h.opts)
	for _, x := range []*DRRealServer{b, c} {
		if err := x.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := arpConf(t, h.net, "eth0"); got != [4]int{1, 2, 1, 2} {
		t.Fatalf("after the first stop: %v; the other instance still needs 1 2 1 2", got)
	}
	h.net.DelLink("eth1")
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("stop with eth1 gone: %v", err)
	}
	if got := arpConf(t, h.net, "eth0"); got != [4]int{} {
		t.Fatalf("after the last stop: %v, want all 0", got)
	}
}

// TestDRRealServerIPv6Only: no ARP, so no sysctl is read or written.
func TestDRRealServerIPv6Only(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost(t)
	a, _ := NewDRRealServer(map[string]string{"vip": "fd00::101"}, h.opts)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Status(ctx); st != Running {
		t.Fatalf("status %v %v", st, err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.net.Calls["IPv4Conf"] + h.net.Calls["SetIPv4Conf"]; n != 0 {
		t.Errorf("%d sysctl calls for an IPv6-only real server", n)
	}
}

// TestDRRealServerErrors: the system's refusals become OCF codes.
func TestDRRealServerErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		fail string
		err  error
		code int
	}{
		{"SetIPv4Conf", syscall.EACCES, OCFErrPerm},
		{"AddAddr", syscall.EPERM, OCFErrPerm},
		{"IPv4Conf", syscall.EIO, OCFErrGeneric},
		{"Routes", syscall.EIO, OCFErrGeneric},
	} {
		h := newFakeHost(t)
		a, _ := NewDRRealServer(map[string]string{"vip": "10.0.0.100"}, h.opts)
		h.net.Errs[c.fail] = c.err
		if err := a.Start(ctx); OCFCode(err) != c.code || !errors.Is(err, c.err) {
			t.Errorf("%s fails with %v: start %v (code %d), want code %d", c.fail, c.err, err, OCFCode(err), c.code)
		}
	}
	h := newFakeHost(t)
	h.net.DelLink("eth0")
	h.eth0 = h.net.AddLink("eth0", nil)
	a, _ := NewDRRealServer(map[string]string{"vip": "10.0.0.100", "nic": "eth0"}, h.opts)
	h.net.Errs["IPv4Conf"] = os.ErrNotExist
	if err := a.Validate(ctx); OCFCode(err) != OCFErrInstalled {
		t.Errorf("validate without the sysctls: %v", err)
	}
}
