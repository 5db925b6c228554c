package check

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
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
	c, err := dialRaw(ctx, ap, time.Now().Add(timeout), true)
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
		// No merged ACK: the connection must reach the accept queue now.
		c, err := dialRaw(context.Background(), ap, time.Now().Add(time.Second), false)
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

// TestMergedAck: connect and http checks send the handshake's last ACK
// with their first segment (the FIN, the request): fewer segments per
// check than the same exchange on a bare connection. The reals are in a
// network namespace of their own, so the checker's namespace counts the
// checker's segments alone (TcpOutSegs).
func TestMergedAck(t *testing.T) {
	inNetns(t, func() {
		ln := realsNetns(t)
		defer ln.Close()
		var served sync.WaitGroup
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer served.Done()
					defer c.Close()
					var req []byte
					buf := make([]byte, 512)
					for !bytes.HasSuffix(req, []byte("\r\n\r\n")) {
						n, err := c.Read(buf)
						req = append(req, buf[:n]...)
						if err != nil {
							return // a connect check's FIN
						}
					}
					_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"))
				}()
			}
		}()
		tg := targetOf(t, ln.Addr())
		ap := apOf(tg)
		ctx := context.Background()
		connect := mustNew(t, Spec{Type: "connect", ConnectTimeout: 5 * time.Second})
		http := mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/", Receive: "ok", NegotiateTimeout: 5 * time.Second})
		req := []byte("GET / HTTP/1.0\r\n\r\n")
		bare := func(send bool) error {
			c, err := dialRaw(ctx, ap, time.Now().Add(5*time.Second), false)
			if err != nil {
				return err
			}
			if !send {
				defer c.Close()
				return c.established()
			}
			if _, err := c.Write(req); err != nil {
				c.Close()
				return err
			}
			buf := make([]byte, 512)
			for {
				_, err := c.Read(buf)
				if err == io.EOF {
					return c.closeAfterReply(true) // a reset, as the http check's
				}
				if err != nil {
					c.Close()
					return err
				}
			}
		}
		const n = 100
		// segments is what the checker sent for n exchanges of one kind,
		// up to its ACK of the reals' FIN.
		segments := func(one func() error) int {
			before := outSegs(t)
			served.Add(n)
			for range n {
				if err := one(); err != nil {
					t.Fatal(err)
				}
			}
			served.Wait()
			return outSegs(t) - before
		}
		for _, tc := range []struct {
			name        string
			check, bare func() error
		}{
			{"connect", func() error { return connect.Check(ctx, tg).Err }, func() error { return bare(false) }},
			{"http", func() error { return http.Check(ctx, tg).Err }, func() error { return bare(true) }},
		} {
			withBare, withCheck := segments(tc.bare), segments(tc.check)
			t.Logf("%s: %d segments sent for %d bare exchanges, %d for %d checks", tc.name, withBare, n, withCheck, n)
			// A connect check saves its ACK (84 to 100 segments fewer per
			// 100 in runs of this test), an http check its ACK and its ACK
			// of the reply (200 fewer; the reset follows the reply at once).
			if withBare-withCheck < n/2 {
				t.Errorf("%s: %d checks sent %d segments, the same exchange on bare connections %d: want about one fewer per check or more", tc.name, n, withCheck, withBare)
			}
		}
	})
}

// realsNetns listens on 10.9.8.2 (an ephemeral port) in a network
// namespace of its own, a veth pair away from the calling thread's
// (which gets 10.9.8.1/24; see inNetns).
func realsNetns(t *testing.T) net.Listener {
	t.Helper()
	nsfd := make(chan int, 1)
	moved := make(chan struct{})
	type listening struct {
		ln  net.Listener
		err error
	}
	result := make(chan listening, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			nsfd <- -1
			result <- listening{err: err}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			nsfd <- -1
			result <- listening{err: err}
			return
		}
		nsfd <- fd
		<-moved
		b0, err := netlink.LinkByName("b0")
		if err == nil {
			err = netlink.AddrAdd(b0, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 9, 8, 2), Mask: net.CIDRMask(24, 32)}})
		}
		if err == nil {
			err = netlink.LinkSetUp(b0)
		}
		if err != nil {
			result <- listening{err: err}
			return
		}
		ln, err := net.Listen("tcp4", "10.9.8.2:0")
		result <- listening{ln, err}
	}()
	fd := <-nsfd
	if fd >= 0 {
		defer unix.Close(fd)
		err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "a0"}, PeerName: "b0"})
		var a0, b0 netlink.Link
		if err == nil {
			b0, err = netlink.LinkByName("b0")
		}
		if err == nil {
			err = netlink.LinkSetNsFd(b0, fd)
		}
		if err == nil {
			a0, err = netlink.LinkByName("a0")
		}
		if err == nil {
			err = netlink.AddrAdd(a0, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 9, 8, 1), Mask: net.CIDRMask(24, 32)}})
		}
		if err == nil {
			err = netlink.LinkSetUp(a0)
		}
		if err != nil {
			t.Fatalf("veth pair to the reals' namespace: %v", err)
		}
		close(moved)
	}
	r := <-result
	if r.err != nil {
		t.Fatalf("reals' namespace: %v", r.err)
	}
	return r.ln
}

// outSegs is TcpOutSegs of the calling thread's network namespace.
func outSegs(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "OutSegs" && i < len(f) {
				v, err := strconv.Atoi(f[i])
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
	}
	t.Fatal("no Tcp OutSegs in /proc/thread-self/net/snmp")
	return 0
}
