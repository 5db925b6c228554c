package resources

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"

	"lvsha/internal/testenv"
	"lvsha/resources/garp"
	"lvsha/tests/netns"
)

// innerEnv names the test that is being re-run inside a namespace node.
const innerEnv = "LVSHA_RESOURCES_INNER"

// inNode re-runs the calling test inside a fresh network namespace (a
// tests/netns node) and returns false; in that inner run it returns true
// and the test does its work there. Everything the agents touch (links,
// addresses, ARP, /run) is private to the node, torn down by t.Cleanup.
func inNode(t *testing.T) bool {
	t.Helper()
	if os.Getenv(innerEnv) == t.Name() {
		return true
	}
	netns.Require(t)
	n := netns.NewNode(t, "rsc")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, errOut, code, err := n.Run(ctx, "env", innerEnv+"="+t.Name(), testenv.StrictEnv+"="+os.Getenv(testenv.StrictEnv), os.Args[0],
		"-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=170s")
	t.Logf("inner run in node:\n%s%s", out, errOut)
	if err != nil || code != 0 {
		t.Fatalf("inner run failed: exit %d, %v", code, err)
	}
	if !strings.Contains(out, "--- PASS: "+t.Name()) {
		t.Fatalf("inner run did not pass")
	}
	return false
}

// veth makes a veth pair with addr on a and returns both ends.
func veth(t *testing.T, a, b, addr string) (netlink.Link, netlink.Link) {
	t.Helper()
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	la, err := netlink.LinkByName(a)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := netlink.LinkByName(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []netlink.Link{la, lb} {
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	if addr != "" {
		ad, err := netlink.ParseAddr(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.AddrAdd(la, ad); err != nil {
			t.Fatalf("add %s: %v", addr, err)
		}
	}
	return la, lb
}

// frameCapture records frames of one EtherType arriving on an interface.
type frameCapture struct {
	mu     sync.Mutex
	frames [][]byte
	times  []time.Time
	conn   *packet.Conn
}

func startCapture(t *testing.T, ifname string, etherType int) *frameCapture {
	t.Helper()
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	c, err := packet.Listen(ifi, packet.Raw, etherType, nil)
	if err != nil {
		t.Fatalf("AF_PACKET listen on %s: %v", ifname, err)
	}
	cp := &frameCapture{conn: c}
	t.Cleanup(func() { c.Close() })
	go func() {
		b := make([]byte, 2048)
		for {
			n, _, err := c.ReadFrom(b)
			if err != nil {
				return
			}
			cp.mu.Lock()
			cp.frames = append(cp.frames, append([]byte(nil), b[:n]...))
			cp.times = append(cp.times, time.Now())
			cp.mu.Unlock()
		}
	}()
	return cp
}

// arpFor returns the captured ARP frames whose sender IP is ip.
func (c *frameCapture) arpFor(ip netip.Addr) ([][]byte, []time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var fs [][]byte
	var ts []time.Time
	want := ip.As4()
	for i, f := range c.frames {
		if len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == garp.EtherTypeARP && bytes.Equal(f[28:32], want[:]) {
			fs, ts = append(fs, f), append(ts, c.times[i])
		}
	}
	return fs, ts
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addrOn returns the address ip on link, or nil.
func addrOn(t *testing.T, link string, ip string) *netlink.Addr {
	t.Helper()
	l, err := netlink.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for i := range addrs {
		if addrs[i].IP.Equal(net.ParseIP(ip)) {
			return &addrs[i]
		}
	}
	return nil
}

// TestIPaddr2Netns: the native IPaddr2 adds, detects and removes an
// address found by route lookup, and its gratuitous ARPs arrive on the
// peer end of the veth with the right count, addresses and spacing.
func TestIPaddr2Netns(t *testing.T) {
	if !inNode(t) {
		return
	}
	ctx := context.Background()
	la, _ := veth(t, "veth0", "veth1", "10.50.0.1/24")
	capARP := startCapture(t, "veth1", garp.EtherTypeARP)
	opts := NativeOptions{Logger: quietLogger(), StateDir: t.TempDir()}

	a, err := NewIPAgent("IPaddr2", map[string]string{"ip": "10.50.0.100", "arp_count": "3", "arp_interval": "100"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := a.Status(ctx); st != Stopped || err != nil {
		t.Fatalf("status before start: %v %v", st, err)
	}
	start := time.Now()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	// Foreground (Background false): the burst is over when Start returns.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("start returned after %v, before its ARP burst could finish", d)
	}
	ad := addrOn(t, "veth0", "10.50.0.100")
	if ad == nil {
		t.Fatal("address not on veth0 (nic and netmask come from the route of 10.50.0.0/24)")
	}
	if ones, _ := ad.Mask.Size(); ones != 24 || !ad.Broadcast.Equal(net.ParseIP("10.50.0.255")) {
		t.Errorf("address %v brd %v, want /24 brd 10.50.0.255", ad.IPNet, ad.Broadcast)
	}
	if st, _ := a.Status(ctx); st != Running {
		t.Errorf("status after start: %v", st)
	}
	if err := a.Start(ctx); err != nil {
		t.Errorf("second start: %v", err)
	}

	vip := netip.MustParseAddr("10.50.0.100")
	var frames [][]byte
	var times []time.Time
	waitFor(t, "6 ARP frames", 3*time.Second, func() bool { frames, times = capARP.arpFor(vip); return len(frames) >= 6 })
	time.Sleep(300 * time.Millisecond)
	frames, times = capARP.arpFor(vip)
	if len(frames) != 6 {
		t.Errorf("%d ARP frames for the VIP, want 6 (3 rounds of request+reply; the second start sends none)", len(frames))
	}
	for i, f := range frames {
		if !bytes.Equal(f[0:6], garp.Broadcast) || !bytes.Equal(f[6:12], la.Attrs().HardwareAddr) {
			t.Errorf("frame %d: dst %x src %x", i, f[0:6], f[6:12])
		}
		if op := binary.BigEndian.Uint16(f[20:22]); op != uint16(garp.OpRequest+i%2) {
			t.Errorf("frame %d op %d", i, op)
		}
		if !bytes.Equal(f[22:28], la.Attrs().HardwareAddr) || !bytes.Equal(f[28:32], f[38:42]) {
			t.Errorf("frame %d: sender %x/%x target ip %x", i, f[22:28], f[28:32], f[38:42])
		}
	}
	if len(times) >= 6 {
		if span := times[5].Sub(times[0]); span < 150*time.Millisecond || span > 2*time.Second {
			t.Errorf("burst spanned %v, want about 250ms (5 gaps of 50ms)", span)
		}
	}

	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if addrOn(t, "veth0", "10.50.0.100") != nil {
		t.Error("address still there after stop")
	}
	if st, _ := a.Status(ctx); st != Stopped {
		t.Errorf("status after stop: %v", st)
	}
	if err := a.Stop(ctx); err != nil {
		t.Errorf("stop of stopped: %v", err)
	}

	t.Run("label and refresh", func(t *testing.T) {
		o := opts
		o.Background = true
		b, err := NewIPAgent("IPaddr2", map[string]string{"ip": "10.50.0.101", "nic": "veth0", "cidr_netmask": "32",
			"iflabel": "vip", "arp_count": "1", "arp_interval": "50", "arp_count_refresh": "2"}, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ad := addrOn(t, "veth0", "10.50.0.101")
		if ad == nil || ad.Label != "veth0:vip" {
			t.Fatalf("address %+v, want label veth0:vip", ad)
		}
		ip := netip.MustParseAddr("10.50.0.101")
		waitFor(t, "start burst", 2*time.Second, func() bool { f, _ := capARP.arpFor(ip); return len(f) >= 2 })
		if st, _ := b.Status(ctx); st != Running { // monitor re-announces 2 rounds
			t.Fatalf("status %v", st)
		}
		waitFor(t, "refresh burst", 2*time.Second, func() bool { f, _ := capARP.arpFor(ip); return len(f) >= 6 })
		if err := b.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("IPaddr alias", func(t *testing.T) {
		b, err := NewIPAgent("IPaddr", map[string]string{"ip": "10.50.0.102", "ARP_REPEAT": "1", "ARP_INTERVAL_MS": "10"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if ad := addrOn(t, "veth0", "10.50.0.102"); ad == nil || ad.Label != "veth0:0" {
			t.Fatalf("address %+v, want alias label veth0:0", ad)
		}
		if err := b.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("lvs_support", func(t *testing.T) {
		lo, _ := netlink.LinkByName("lo")
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("10.50.0.103"), Mask: net.CIDRMask(32, 32)}}); err != nil {
			t.Fatal(err)
		}
		p, _, _ := IPParamsFromArgs("IPaddr2", []string{"10.50.0.103/24/veth0"}) // lvs_support=1 as the wrapper sets
		b, err := NewIPAgent("IPaddr2", p, opts)
		if err != nil {
			t.Fatal(err)
		}
		b.ARPCount = 1
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if addrOn(t, "lo", "10.50.0.103") != nil || addrOn(t, "veth0", "10.50.0.103") == nil {
			t.Fatal("lvs_support: the lo copy must move to veth0")
		}
		if err := b.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if addrOn(t, "lo", "10.50.0.103") == nil || addrOn(t, "veth0", "10.50.0.103") != nil {
			t.Fatal("lvs_support: stop must restore the lo copy")
		}
	})

	t.Run("IPv6 unsolicited NA", func(t *testing.T) {
		capNA := startCapture(t, "veth1", garp.EtherTypeIPv6)
		b, err := NewIPAgent("IPaddr2", map[string]string{"ip": "fd00:50::100", "nic": "veth0", "cidr_netmask": "64",
			"nodad": "true", "arp_count": "2", "arp_interval": "50"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if addrOn(t, "veth0", "fd00:50::100") == nil {
			t.Fatal("IPv6 address not added")
		}
		target := netip.MustParseAddr("fd00:50::100").As16()
		count := func() int {
			capNA.mu.Lock()
			defer capNA.mu.Unlock()
			n := 0
			for _, f := range capNA.frames {
				if len(f) >= 86 && f[20] == 58 && f[54] == 136 && bytes.Equal(f[62:78], target[:]) && bytes.Equal(f[0:6], garp.AllNodesMAC) {
					n++
				}
			}
			return n
		}
		waitFor(t, "2 neighbour advertisements", 2*time.Second, func() bool { return count() >= 2 })
		if err := b.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if addrOn(t, "veth0", "fd00:50::100") != nil {
			t.Fatal("IPv6 address not removed")
		}
	})

	t.Run("errors", func(t *testing.T) {
		b, _ := NewIPAgent("IPaddr2", map[string]string{"ip": "10.50.0.104", "nic": "nosuch0"}, opts)
		if err := b.Start(ctx); OCFCode(err) != OCFErrConfigured {
			t.Errorf("unknown nic: %v", err)
		}
		if st, _ := b.Status(ctx); st != Stopped {
			t.Errorf("status with unknown nic: %v", st)
		}
		if err := b.Stop(ctx); err != nil {
			t.Errorf("stop with unknown nic: %v", err)
		}
		c, _ := NewIPAgent("IPaddr2", map[string]string{"ip": "192.0.2.1"}, opts)
		if err := c.Start(ctx); OCFCode(err) != OCFErrGeneric || !strings.Contains(err.Error(), "unable to find nic") {
			t.Errorf("no route: %v", err)
		}
	})
}

// TestRealOCFAgentsNetns runs resource-agents' own IPaddr2 and Dummy
// through the OCF runner, directly and as OCF::agent::instance.
func TestRealOCFAgentsNetns(t *testing.T) {
	const root = "/usr/lib/ocf"
	for _, a := range []string{"IPaddr2", "Dummy"} {
		if !isExecutableFile(filepath.Join(root, "resource.d/heartbeat", a)) {
			testenv.Skipf(t, "resource-agents is not installed (%s missing; Debian package resource-agents)", a)
		}
	}
	if !inNode(t) {
		return
	}
	ctx := context.Background()
	veth(t, "veth0", "veth1", "10.60.0.1/24")
	runner := &Runner{Timeout: 30 * time.Second, Logger: quietLogger()}
	cycle := func(t *testing.T, a Agent, check func(bool)) {
		t.Helper()
		if st, err := a.Status(ctx); st != Stopped {
			t.Fatalf("%s before start: %v %v", a, st, err)
		}
		if err := a.Start(ctx); err != nil {
			t.Fatalf("%s start: %v", a, err)
		}
		if st, err := a.Status(ctx); st != Running {
			t.Fatalf("%s after start: %v %v", a, st, err)
		}
		check(true)
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("%s stop: %v", a, err)
		}
		if st, err := a.Status(ctx); st != Stopped {
			t.Fatalf("%s after stop: %v %v", a, st, err)
		}
		check(false)
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("%s second stop: %v", a, err)
		}
	}
	t.Run("IPaddr2", func(t *testing.T) {
		a := &OCFAgent{Path: filepath.Join(root, "resource.d/heartbeat/IPaddr2"), Root: root, Type: "IPaddr2",
			Instance: "vip", Params: map[string]string{"ip": "10.60.0.100", "cidr_netmask": "24", "nic": "veth0"}, Runner: runner}
		cycle(t, a, func(up bool) {
			if got := addrOn(t, "veth0", "10.60.0.100") != nil; got != up {
				t.Errorf("address present %v, want %v", got, up)
			}
		})
	})
	t.Run("Dummy", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "dummy.state")
		a := &OCFAgent{Path: filepath.Join(root, "resource.d/heartbeat/Dummy"), Root: root, Type: "Dummy",
			Instance: "d1", Params: map[string]string{"state": state}, Runner: runner}
		cycle(t, a, func(up bool) {
			if _, err := os.Stat(state); (err == nil) != up {
				t.Errorf("state file present %v, want %v", err == nil, up)
			}
		})
	})
	t.Run("OCF wrapper", func(t *testing.T) {
		ha := t.TempDir()
		state := filepath.Join(t.TempDir(), "d2.state")
		conf := filepath.Join(ha, "conf/OCF/Dummy/d2")
		os.MkdirAll(filepath.Dir(conf), 0o755)
		os.WriteFile(conf, []byte("OCF_RESKEY_state="+state+"\n"), 0o644)
		r := &Resolver{HADir: ha, OCFRoot: root, Logger: quietLogger(), Timeout: 30 * time.Second}
		a, err := r.Resolve("OCF", []string{"Dummy", "d2"})
		if err != nil {
			t.Fatal(err)
		}
		cycle(t, a, func(up bool) {
			if _, err := os.Stat(state); (err == nil) != up {
				t.Errorf("state file present %v, want %v", err == nil, up)
			}
		})
	})
}
