package resources

import (
	"net"
	"net/netip"
	"sync"
	"testing"

	"lvsha/resources/garp"
	"lvsha/resources/netif"
)

// fakeHost is a machine for the native agents' unit tests: a netif.Fake
// with lo, eth0 and eth1, a routing table, and a recorder in place of the
// packet sockets the announcements go out on.
type fakeHost struct {
	net        *netif.Fake
	lo         netif.Link
	eth0, eth1 netif.Link
	frames     *frameRecorder
	opts       NativeOptions
	stateDir   string
}

// The routing table of the fake host, in this order (the order matters
// for findif's last-of-equals rule):
//
//	default via eth0                  not a candidate (no prefix length in ip's output)
//	10.0.0.0/16 dev eth0 scope link
//	10.0.0.0/24 dev eth0 scope link
//	10.1.0.0/24 dev eth1 scope link
//	10.2.0.0/24 dev eth0 scope link
//	10.2.0.0/24 dev eth1 scope link   the last of two equals
//	10.3.0.5 dev eth0 scope link      a host route: not a candidate
//	10.4.0.0/24 via ... dev eth0      scope global: not a candidate for IPv4
//	fd00:1::/64 dev eth1              IPv6 routes have no link scope
//	default via ... dev eth0 (IPv6)
func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	f := netif.NewFake()
	h := &fakeHost{net: f, frames: &frameRecorder{}, stateDir: t.TempDir()}
	h.lo, _ = f.LinkByName("lo")
	h.eth0 = f.AddLink("eth0", net.HardwareAddr{2, 0, 0, 0, 0, 1})
	h.eth1 = f.AddLink("eth1", net.HardwareAddr{2, 0, 0, 0, 0, 2})
	for _, r := range []struct {
		dst   string
		link  netif.Link
		scope netif.Scope
	}{
		{"0.0.0.0/0", h.eth0, netif.ScopeUniverse},
		{"10.0.0.0/16", h.eth0, netif.ScopeLink},
		{"10.0.0.0/24", h.eth0, netif.ScopeLink},
		{"10.1.0.0/24", h.eth1, netif.ScopeLink},
		{"10.2.0.0/24", h.eth0, netif.ScopeLink},
		{"10.2.0.0/24", h.eth1, netif.ScopeLink},
		{"10.3.0.5/32", h.eth0, netif.ScopeLink},
		{"10.4.0.0/24", h.eth0, netif.ScopeUniverse},
		{"fd00:1::/64", h.eth1, netif.ScopeUniverse},
		{"::/0", h.eth0, netif.ScopeUniverse},
	} {
		f.AddRoute(netif.Route{Dst: netip.MustParsePrefix(r.dst), LinkIndex: r.link.Index, Scope: r.scope})
	}
	h.opts = NativeOptions{Logger: quietLogger(), StateDir: h.stateDir, Net: f, Conf: f,
		Announcer: &garp.Announcer{Open: h.frames.open, Logger: quietLogger()}}
	return h
}

// sentFrame is one frame an agent sent.
type sentFrame struct {
	nic       string
	etherType uint16
	data      []byte
}

// frameRecorder stands in for the AF_PACKET sockets.
type frameRecorder struct {
	mu     sync.Mutex
	frames []sentFrame
}

func (r *frameRecorder) open(ifi *net.Interface, etherType uint16) (garp.Conn, error) {
	return &recordingConn{r: r, nic: ifi.Name, etherType: etherType}, nil
}

// count returns how many frames went out on nic with etherType.
func (r *frameRecorder) count(nic string, etherType uint16) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, f := range r.frames {
		if f.nic == nic && f.etherType == etherType {
			n++
		}
	}
	return n
}

func (r *frameRecorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.frames)
}

type recordingConn struct {
	r         *frameRecorder
	nic       string
	etherType uint16
}

func (c *recordingConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.r.frames = append(c.r.frames, sentFrame{nic: c.nic, etherType: c.etherType, data: append([]byte(nil), b...)})
	return len(b), nil
}

func (c *recordingConn) Close() error { return nil }
