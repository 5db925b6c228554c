package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every "eventually" in these tests; loopback delivery
// takes microseconds, so hitting it means the behaviour is wrong.
const waitTimeout = 5 * time.Second

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// loopback opens an IPv4 UDP socket on 127.0.0.1 with a kernel-chosen port.
func loopback(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receiver runs m.Receive in the background, handing packets to a channel.
// stop cancels it and waits (bounded) for Receive to return, reporting its
// error.
type receiver struct {
	pkts chan Packet
	done chan error
	stop context.CancelFunc
}

func startReceive(t *testing.T, m Medium, link int) *receiver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &receiver{pkts: make(chan Packet, 64), done: make(chan error, 1), stop: cancel}
	go func() { r.done <- m.Receive(ctx, link, func(p Packet) { r.pkts <- p }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(waitTimeout):
			t.Errorf("Receive on %s did not return after cancel", m.Name())
		}
	})
	return r
}

func (r *receiver) next(t *testing.T) Packet {
	t.Helper()
	select {
	case p := <-r.pkts:
		return p
	case <-time.After(waitTimeout):
		t.Fatalf("no packet within %v", waitTimeout)
		return Packet{}
	}
}

func TestUDPSendReceive(t *testing.T) {
	ca, cb := loopback(t), loopback(t)
	a := NewUDP("lnk-a", ca, []net.Addr{cb.LocalAddr()}, quietLog())
	b := NewUDP("lnk-b", cb, []net.Addr{ca.LocalAddr()}, quietLog())
	if a.Name() != "lnk-a" || b.Name() != "lnk-b" {
		t.Fatalf("names %q %q", a.Name(), b.Name())
	}
	rb := startReceive(t, b, 3)

	// The second datagram is shorter and different: if Receive handed out
	// its read buffer instead of a copy, the first packet's bytes would change.
	first := bytes.Repeat([]byte("A"), 1000)
	second := []byte("zz")
	before := time.Now()
	for _, msg := range [][]byte{first, second} {
		if err := a.Send(msg); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	p1, p2 := rb.next(t), rb.next(t)
	if !bytes.Equal(p1.Data, first) || !bytes.Equal(p2.Data, second) {
		t.Fatalf("got %q / %q, want the datagrams as sent", clipB(p1.Data), clipB(p2.Data))
	}
	for _, p := range []Packet{p1, p2} {
		if p.Link != 3 {
			t.Errorf("Link = %d, want 3 (the index given to Receive)", p.Link)
		}
		if p.From == nil || p.From.String() != ca.LocalAddr().String() {
			t.Errorf("From = %v, want %v", p.From, ca.LocalAddr())
		}
		if p.At.Before(before) || time.Since(p.At) > waitTimeout {
			t.Errorf("At = %v, not a receive time", p.At)
		}
	}
	if len(p1.Data) != len(first) || cap(p1.Data) >= MaxDatagram {
		t.Errorf("Data is len %d cap %d: want an exact-size copy, not the read buffer", len(p1.Data), cap(p1.Data))
	}

	// And back the other way.
	ra := startReceive(t, a, 0)
	if err := b.Send([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if p := ra.next(t); string(p.Data) != "pong" || p.Link != 0 {
		t.Fatalf("got %+v", p)
	}

	if got, want := a.Stats(), (Stats{Sent: 2, Received: 1}); got != want {
		t.Errorf("a.Stats() = %+v, want %+v", got, want)
	}
	if got, want := b.Stats(), (Stats{Sent: 1, Received: 2}); got != want {
		t.Errorf("b.Stats() = %+v, want %+v", got, want)
	}
}

func clipB(b []byte) string {
	if len(b) > 20 {
		return string(b[:20]) + "..."
	}
	return string(b)
}

// A failed destination is counted and reported, and the other destinations
// still get the datagram whatever their position in the list.
func TestUDPSendErrorOneDestination(t *testing.T) {
	bad := []struct {
		name string
		addr net.Addr
	}{
		{"ipv6 address on an udp4 socket", &net.UDPAddr{IP: net.ParseIP("::1"), Port: 9}},
		{"not an UDP address", &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}},
	}
	for _, tc := range bad {
		for _, badFirst := range []bool{true, false} {
			name := tc.name + "/bad last"
			if badFirst {
				name = tc.name + "/bad first"
			}
			t.Run(name, func(t *testing.T) {
				cs, g1, g2 := loopback(t), loopback(t), loopback(t)
				dsts := []net.Addr{g1.LocalAddr(), g2.LocalAddr()}
				if badFirst {
					dsts = append([]net.Addr{tc.addr}, dsts...)
				} else {
					dsts = append(dsts, tc.addr)
				}
				s := NewUDP("lnk", cs, dsts, quietLog())
				r1 := startReceive(t, NewUDP("g1", g1, nil, quietLog()), 0)
				r2 := startReceive(t, NewUDP("g2", g2, nil, quietLog()), 1)

				err := s.Send([]byte("hb"))
				if err == nil {
					t.Fatal("Send returned nil with a failing destination")
				}
				if !strings.Contains(err.Error(), "lnk") {
					t.Errorf("error %q does not name the link", err)
				}
				for _, r := range []*receiver{r1, r2} {
					if p := r.next(t); string(p.Data) != "hb" {
						t.Errorf("good destination got %q", p.Data)
					}
				}
				if got, want := s.Stats(), (Stats{Sent: 2, SendErrors: 1}); got != want {
					t.Errorf("Stats() = %+v, want %+v", got, want)
				}
			})
		}
	}
}

func TestUDPReceiveStops(t *testing.T) {
	tests := []struct {
		name string
		stop func(cancel context.CancelFunc, m *UDP)
	}{
		{"context cancelled", func(cancel context.CancelFunc, _ *UDP) { cancel() }},
		{"medium closed", func(_ context.CancelFunc, m *UDP) { m.Close() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewUDP("lnk", loopback(t), nil, quietLog())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- m.Receive(ctx, 0, func(Packet) {}) }()
			time.Sleep(10 * time.Millisecond) // let it block in ReadFrom (not required for correctness)
			tc.stop(cancel, m)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Receive returned %v, want nil on a requested stop", err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("Receive did not return")
			}
			if s := m.Stats(); s.ReadErrors != 0 {
				t.Errorf("a requested stop was counted as a read error: %+v", s)
			}
		})
	}
}

// flakyConn fails its first reads with a non-closure error, then serves one
// datagram, then blocks until closed.
type flakyConn struct {
	net.PacketConn // only for the methods not overridden; nil
	mu             sync.Mutex
	fails          int
	data           []byte
	closed         chan struct{}
	once           sync.Once
}

func (c *flakyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.mu.Lock()
	if c.fails > 0 {
		c.fails--
		c.mu.Unlock()
		return 0, nil, errors.New("transient: connection refused")
	}
	d := c.data
	c.data = nil
	c.mu.Unlock()
	if d != nil {
		return copy(b, d), &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 694}, nil
	}
	<-c.closed
	return 0, nil, net.ErrClosed
}

func (c *flakyConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func TestUDPReadErrorsRetried(t *testing.T) {
	c := &flakyConn{fails: 2, data: []byte("after errors"), closed: make(chan struct{})}
	m := NewUDP("lnk", c, nil, quietLog())
	r := startReceive(t, m, 1)
	p := r.next(t)
	if string(p.Data) != "after errors" || p.Link != 1 {
		t.Fatalf("got %+v", p)
	}
	if got, want := m.Stats(), (Stats{Received: 1, ReadErrors: 2}); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Receive returned %v", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(waitTimeout):
		t.Fatal("Receive did not return after cancel")
	}
}

// Medium is what the daemon holds; UDP must satisfy it.
var _ Medium = (*UDP)(nil)
