package check

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/internal/testenv"
)

func apOf(tg Target) netip.AddrPort { return netip.AddrPortFrom(tg.IP, tg.Port) }

// connectCheck is one connect check of ap on its own: its error.
func connectCheck(t *testing.T, ctx context.Context, ap netip.AddrPort, timeout time.Duration) error {
	t.Helper()
	c := mustNew(t, Spec{Type: "connect", ConnectTimeout: timeout, NegotiateTimeout: timeout})
	return c.Check(ctx, Target{IP: ap.Addr(), Port: ap.Port(), Protocol: "tcp"}).Err
}

// exchange sends req on a rawConn to ap and reads to the end of the reply.
func exchange(ctx context.Context, ap netip.AddrPort, req string, timeout time.Duration) (string, error) {
	c, err := dialRaw(ctx, ap, time.Now().Add(timeout))
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := c.Write([]byte(req)); err != nil {
		return "", err
	}
	var out []byte
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return string(out), nil
		}
		if err != nil {
			return string(out), err
		}
	}
}

// TestRawConnExchange: the request goes out, the reply comes back
// whole, in pieces smaller than it.
func TestRawConnExchange(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		reply := "you said: " + string(buf[:n]) + " " + string(make([]byte, 200))
		c.Write([]byte(reply))
	}()
	got, err := exchange(context.Background(), apOf(targetOf(t, ln.Addr())), "hello", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := "you said: hello " + string(make([]byte, 200)); got != want {
		t.Fatalf("reply %q", got)
	}
}

// TestRawConnRefused: a refused connect reads as the connect's error.
func TestRawConnRefused(t *testing.T) {
	_, err := exchange(context.Background(), apOf(closedPort(t)), "hello", 5*time.Second)
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("err %v, want connection refused", err)
	}
	if err := connectCheck(t, context.Background(), apOf(closedPort(t)), 5*time.Second); !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("connect check: %v, want connection refused", err)
	}
}

// fullBacklog returns a listener whose accept queue is full, so that a
// new connection's SYN is dropped and its handshake stays in progress;
// accept takes the queued connections (the next SYN retransmit, a second
// later, then gets through).
func fullBacklog(t *testing.T) (ap netip.AddrPort, accept func()) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(os.NewFile(uintptr(fd), "backlog"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ap = apOf(targetOf(t, ln.Addr()))
	// Fill the queue: connections that complete until one does not.
	var held []*rawConn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := 0; ; i++ {
		if i == 16 {
			testenv.Skip(t, "the accept queue never filled up (a listen backlog of 0 should hold at most one connection)")
		}
		c, err := dialRaw(context.Background(), ap, time.Now().Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if c.pending && !connected(c.fd) {
			c.Close()
			break
		}
		held = append(held, c)
	}
	return ap, func() {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					buf := make([]byte, 100)
					n, _ := c.Read(buf)
					c.Write(buf[:n])
				}()
			}
		}()
	}
}

// TestRawConnHandshakeInProgress: a request to a real whose handshake is
// not done waits for it within the deadline: past it, an i/o timeout;
// when the handshake completes, the exchange goes through.
func TestRawConnHandshakeInProgress(t *testing.T) {
	ap, accept := fullBacklog(t)
	if _, err := exchange(context.Background(), ap, "hello", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err %v, want i/o timeout", err)
	}
	if err := connectCheck(t, context.Background(), ap, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connect check: %v, want i/o timeout", err)
	}
	done := make(chan struct{})
	var got string
	var err error
	go func() {
		defer close(done)
		got, err = exchange(context.Background(), ap, "hello", 10*time.Second)
	}()
	accept()
	<-done
	if err != nil || got != "hello" {
		t.Fatalf("reply %q, err %v", got, err)
	}
}

// TestRawConnCancel: cancelling the context ends a wait at once, with the
// cancellation as the error, and closes the connection.
func TestRawConnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted, closed := make(chan struct{}), make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		close(accepted)
		io.Copy(io.Discard, c) // until the checker closes
		close(closed)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := exchange(ctx, apOf(targetOf(t, ln.Addr())), "hello", time.Hour)
		errc <- err
	}()
	<-accepted
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled exchange kept waiting")
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection stayed open")
	}
}

// TestConnectIPv6: the connect check's own socket address works for
// IPv6 (the port in network byte order, as for IPv4): up on a listener
// on ::1, refused on a closed port there.
func TestConnectIPv6(t *testing.T) {
	tg, err := closingServer(t, "tcp6", "[::1]:0")
	if err != nil {
		testenv.Skip(t, "no IPv6 loopback here: "+err.Error())
	}
	ap := apOf(tg)
	if !ap.Addr().Is6() || ap.Addr().Is4In6() {
		t.Fatalf("listener address %v is not IPv6", ap)
	}
	if err := connectCheck(t, context.Background(), ap, 5*time.Second); err != nil {
		t.Fatalf("connect [::1]: %v", err)
	}
	closed, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	cap := apOf(targetOf(t, closed.Addr()))
	closed.Close()
	if err := connectCheck(t, context.Background(), cap, 5*time.Second); !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("connect to a closed port on ::1: %v, want connection refused", err)
	}
}
