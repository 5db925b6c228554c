package userspace

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/ldird/dataplane"
)

// udpBackend answers each datagram with "<name>:<payload>".
type udpBackend struct {
	name string
	pc   *net.UDPConn
}

func startUDPBackend(t *testing.T, name, addr string) *udpBackend {
	t.Helper()
	pc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(addr), 0)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			pc.WriteToUDPAddrPort([]byte(name+":"+string(buf[:n])), from)
		}
	}()
	return &udpBackend{name: name, pc: pc}
}

func (b *udpBackend) dest(weight int) dataplane.Dest {
	ap := addrPortOf(b.pc.LocalAddr())
	return dataplane.Dest{Addr: ap.Addr(), Port: ap.Port(), Weight: weight, Method: "masq"}
}

func udpService(t *testing.T, p *Proxy, vip, sched string, weights ...int) (dataplane.Service, []*udpBackend) {
	t.Helper()
	svc := dataplane.Service{Protocol: "udp", Addr: netip.MustParseAddr(vip), Port: freePort(t, "udp", vip), Scheduler: sched}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	var bs []*udpBackend
	for i, w := range weights {
		b := startUDPBackend(t, string(rune('A'+i)), fmt.Sprintf("127.0.0.%d", 11+i))
		if err := p.AddDest(svc, b.dest(w)); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	return svc, bs
}

// udpDial makes an unconnected client socket (so the reply's source can
// be checked) and remembers the service address.
type udpClient struct {
	*net.UDPConn
	to netip.AddrPort
}

func udpDial(t *testing.T, from string, svc dataplane.Service) *udpClient {
	t.Helper()
	if from == "" {
		from = "127.0.0.1"
	}
	pc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &udpClient{UDPConn: pc, to: netip.AddrPortFrom(svc.Addr, svc.Port)}
}

// udpAsk sends msg and returns which real answered, retrying a lost
// datagram a few times (loopback does not lose them, but stay bounded).
func udpAsk(t *testing.T, c *udpClient, msg string) string {
	t.Helper()
	buf := make([]byte, 2048)
	for range 5 {
		if _, err := c.WriteToUDPAddrPort([]byte(msg), c.to); err != nil {
			t.Errorf("send: %v", err)
			return ""
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		if from != c.to {
			t.Errorf("reply from %s, want the service address %s", from, c.to)
		}
		name, payload, _ := strings.Cut(string(buf[:n]), ":")
		if payload != msg {
			t.Errorf("reply %q to %q", buf[:n], msg)
		}
		return name
	}
	t.Errorf("no reply to %q", msg)
	return ""
}

func TestUDPSessions(t *testing.T) {
	p := newTestProxy(t, Options{UDPTimeout: 200 * time.Millisecond})
	svc, bs := udpService(t, p, "127.0.0.10", "rr", 1, 1)
	c1 := udpDial(t, "127.0.0.20", svc)
	c2 := udpDial(t, "127.0.0.20", svc) // same address, other port: its own session
	first := udpAsk(t, c1, "one")
	for range 3 {
		if r := udpAsk(t, c1, "again"); r != first {
			t.Fatalf("session moved from %s to %s", first, r)
		}
	}
	if r := udpAsk(t, c2, "two"); r == first {
		t.Fatalf("second client shares real %s under rr", r)
	}
	st := realStats(p, svc, bs[0].dest(1))
	if st.InactiveConns != 1 || st.Conns != 1 || st.BytesIn != uint64(len("one")+3*len("again")) {
		t.Fatalf("stats %+v", st)
	}
	// Expiry: both sessions end, counters return to zero, and the next
	// datagram is scheduled afresh (rr continues with A).
	waitFor(t, "session expiry", func() bool {
		for _, r := range p.Stats()[0].Reals {
			if r.InactiveConns != 0 {
				return false
			}
		}
		return true
	})
	if r := udpAsk(t, c1, "after"); r != "A" {
		t.Fatalf("after expiry got %s, want A", r)
	}
}

func TestUDPPersistenceAndQuiescent(t *testing.T) {
	p := newTestProxy(t, Options{UDPTimeout: 100 * time.Millisecond})
	svc, bs := udpService(t, p, "127.0.0.10", "rr", 1, 1)
	svc.Persistent = time.Minute
	if err := p.UpdateService(svc); err != nil {
		t.Fatal(err)
	}
	// Different client ports, one address: persistence keeps them together.
	first := udpAsk(t, udpDial(t, "127.0.0.20", svc), "a")
	for range 3 {
		if r := udpAsk(t, udpDial(t, "127.0.0.20", svc), "b"); r != first {
			t.Fatalf("persistent UDP client moved: %s then %s", first, r)
		}
	}
	// Quiescing the other real sends every new client to this one.
	other := bs[1]
	if first == "B" {
		other = bs[0]
	}
	if err := p.UpdateDest(svc, other.dest(0)); err != nil {
		t.Fatal(err)
	}
	for x := 30; x < 34; x++ {
		if r := udpAsk(t, udpDial(t, fmt.Sprintf("127.0.0.%d", x), svc), "c"); r != first {
			t.Fatalf("new client on quiescent real %s", r)
		}
	}
}

func TestUDPDeadRealEndsSession(t *testing.T) {
	p := newTestProxy(t, Options{})
	svc, _ := udpService(t, p, "127.0.0.10", "rr", 1)
	dead := dataplane.Dest{Addr: netip.MustParseAddr("127.0.0.13"), Port: freePort(t, "udp", "127.0.0.13"), Weight: 1, Method: "masq"}
	if err := p.AddDest(svc, dead); err != nil {
		t.Fatal(err)
	}
	c := udpDial(t, "", svc)
	// The first datagram goes to A; a second client's to the dead real gets
	// ICMP port unreachable, which ends that session so a retry re-picks.
	if r := udpAsk(t, c, "1"); r != "A" {
		t.Fatalf("got %s", r)
	}
	c2 := udpDial(t, "", svc)
	if r := udpAsk(t, c2, "2"); r != "A" {
		t.Fatalf("retry landed on %q", r)
	}
}
