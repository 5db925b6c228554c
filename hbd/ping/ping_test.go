package ping

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeConn answers echo requests for the addresses marked alive.
type fakeConn struct {
	mu      sync.Mutex
	alive   map[netip.Addr]bool
	replies chan netip.Addr
	sent    int
	last    map[netip.Addr]time.Time // when each address last answered
}

func (f *fakeConn) Send(dst netip.Addr, id, seq int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent++
	if f.alive[dst] {
		f.last[dst] = time.Now()
		select {
		case f.replies <- dst:
		default:
		}
	}
	return nil
}

func (f *fakeConn) Read(deadline time.Time, id int) (netip.Addr, error) {
	select {
	case a := <-f.replies:
		return a, nil
	case <-time.After(time.Until(deadline)):
		return netip.Addr{}, errors.New("timeout")
	}
}

func (f *fakeConn) Close() error { return nil }

func (f *fakeConn) lastReply(a netip.Addr) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last[a]
}

func (f *fakeConn) set(a netip.Addr, up bool) {
	f.mu.Lock()
	f.alive[a] = up
	f.mu.Unlock()
}

func TestPingNodesAndGroups(t *testing.T) {
	r1, g1, g2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	fc := &fakeConn{alive: map[netip.Addr]bool{r1: true, g1: true}, replies: make(chan netip.Addr, 64), last: map[netip.Addr]time.Time{}}
	const deadping = 100 * time.Millisecond
	p := New([]Target{{Name: "router", Addrs: []netip.Addr{r1}}, {Name: "group", Addrs: []netip.Addr{g1, g2}}},
		10*time.Millisecond, deadping, fc, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	wait := func(want string, up int) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if n, total := p.Reachable(); n == up && total == 2 {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		n, _ := p.Reachable()
		t.Fatalf("%s: %d reachable, want %d (%v)", want, n, up, p.Status())
	}
	wait("both answer", 2)
	fc.set(g1, false)
	fc.set(g2, true) // the group lives while any member answers
	// Until g1 has been silent for well past deadping (while g2 answers),
	// both targets stay reachable at every look.
	deadline := time.Now().Add(3 * time.Second)
	for time.Since(fc.lastReply(g1)) < 2*deadping || fc.lastReply(g2).IsZero() {
		if n, total := p.Reachable(); n != 2 || total != 2 {
			t.Fatalf("group member swapped: %d of %d reachable (%v)", n, total, p.Status())
		}
		if time.Now().After(deadline) {
			t.Fatalf("g1 last answered %v ago, g2 at %v", time.Since(fc.lastReply(g1)), fc.lastReply(g2))
		}
		time.Sleep(5 * time.Millisecond)
	}
	wait("group member swapped", 2)
	fc.set(r1, false)
	wait("router silent past deadping", 1)
	for _, s := range p.Status() {
		if s.Name == "router" && s.Up {
			t.Fatal("router still up")
		}
	}
	fc.set(r1, true)
	wait("router back", 2)
}
