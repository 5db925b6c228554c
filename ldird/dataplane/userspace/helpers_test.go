package userspace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/ldird/dataplane"
)

const ioTimeout = 5 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("USERSPACE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newTestProxy(t *testing.T, opts Options) *Proxy {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	p := New(opts)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// freePort returns a port free on addr for the protocol right now.
func freePort(t *testing.T, proto, addr string) uint16 {
	t.Helper()
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", addr+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port)
	}
	l, err := net.Listen("tcp4", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// backend is a TCP real: it greets with its name, echoes lines, and after
// the client's half-close says "<name> bye" and closes.
type backend struct {
	name  string
	ln    net.Listener
	mu    sync.Mutex
	seen  []netip.Addr // peer addresses, to check the director is the source
	conns []net.Conn   // closed at cleanup, so a failed test does not wait
}

func startBackend(t *testing.T, name, addr string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp4", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.seen = append(b.seen, addrPortOf(c.RemoteAddr()).Addr())
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				fmt.Fprintf(c, "%s\n", name)
				io.Copy(c, c)
				fmt.Fprintf(c, "%s bye\n", name)
			}()
		}
	}()
	return b
}

func (b *backend) dest(weight int) dataplane.Dest {
	ap := addrPortOf(b.ln.Addr())
	return dataplane.Dest{Addr: ap.Addr(), Port: ap.Port(), Weight: weight, Method: "gate"}
}

// client is a connection through the proxy that knows which real it got.
type client struct {
	c    *net.TCPConn
	r    *bufio.Reader
	real string
}

func dialVia(t *testing.T, from string, svc dataplane.Service) *client {
	t.Helper()
	c, err := tryDial(from, svc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tryDial(from string, svc dataplane.Service) (*client, error) {
	d := net.Dialer{Timeout: ioTimeout}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp4", netip.AddrPortFrom(svc.Addr, svc.Port).String())
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	cl := &client{c: c.(*net.TCPConn), r: bufio.NewReader(c)}
	line, err := cl.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	cl.real = strings.TrimSpace(line)
	return cl, nil
}

func (c *client) echo(t *testing.T, msg string) {
	t.Helper()
	if err := c.tryEcho(msg); err != nil {
		t.Fatal(err)
	}
}

func (c *client) tryEcho(msg string) error {
	c.c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := fmt.Fprintf(c.c, "%s\n", msg); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != msg {
		return fmt.Errorf("echo %q, got %q", msg, line)
	}
	return nil
}

// finish half-closes and expects the real's goodbye, then EOF.
func (c *client) finish(t *testing.T) {
	t.Helper()
	c.c.CloseWrite()
	line, err := c.r.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != c.real+" bye" {
		t.Fatalf("after half-close: %q, %v", line, err)
	}
	if _, err := c.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF after bye, got %v", err)
	}
	c.c.Close()
}

// oneShot connects, notes the real and finishes cleanly.
func oneShot(t *testing.T, from string, svc dataplane.Service) string {
	t.Helper()
	c := dialVia(t, from, svc)
	c.finish(t)
	return c.real
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// realStats finds a real's counters.
func realStats(p *Proxy, svc dataplane.Service, d dataplane.Dest) RealStats {
	for _, s := range p.Stats() {
		if s.Service.Key() != svc.Key() {
			continue
		}
		for _, r := range s.Reals {
			if r.Dest.Key() == d.Key() {
				return r
			}
		}
	}
	return RealStats{}
}

// tcpService adds a TCP service on vip with the given backends (named A,
// B, ... on 127.0.0.11, .12, ...) and weights.
func tcpService(t *testing.T, p *Proxy, vip, sched string, weights ...int) (dataplane.Service, []*backend) {
	t.Helper()
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr(vip), Port: freePort(t, "tcp", vip), Scheduler: sched}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	var bs []*backend
	for i, w := range weights {
		b := startBackend(t, string(rune('A'+i)), fmt.Sprintf("127.0.0.%d", 11+i))
		if err := p.AddDest(svc, b.dest(w)); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	return svc, bs
}
