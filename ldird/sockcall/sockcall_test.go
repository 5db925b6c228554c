package sockcall

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestAddrOf(t *testing.T) {
	for _, c := range []struct {
		ap     string
		family int
		err    bool
	}{
		{"127.0.0.1:80", unix.AF_INET, false},
		{"[::ffff:10.0.0.1]:8080", unix.AF_INET, false}, // mapped: over IPv4
		{"[2001:db8::1]:443", unix.AF_INET6, false},
		{"[fe80::1%lo]:22", unix.AF_INET6, false},
		{"[fe80::1%no-such-if0]:22", unix.AF_INET6, true},
	} {
		ap := netip.MustParseAddrPort(c.ap)
		a, err := AddrOf(ap)
		if (err != nil) != c.err || a.Family() != c.family {
			t.Errorf("AddrOf(%s) = family %d, %v; want family %d, error %v", c.ap, a.Family(), err, c.family, c.err)
			continue
		}
		if err != nil {
			continue
		}
		// The port in network order, the address as given (unmapped).
		var port [2]byte
		var got netip.Addr
		if a.family == unix.AF_INET {
			port = *(*[2]byte)(unsafe.Pointer(&a.in4.Port))
			got = netip.AddrFrom4(a.in4.Addr)
		} else {
			port = *(*[2]byte)(unsafe.Pointer(&a.in6.Port))
			got = netip.AddrFrom16(a.in6.Addr)
		}
		if p := uint16(port[0])<<8 | uint16(port[1]); p != ap.Port() || got != ap.Addr().Unmap().WithZone("") {
			t.Errorf("AddrOf(%s): %s port %d", c.ap, got, p)
		}
		if c.ap == "[fe80::1%lo]:22" {
			lo, err := net.InterfaceByName("lo")
			if err != nil || a.in6.Scope_id != uint32(lo.Index) {
				t.Errorf("scope %d, lo %v %v", a.in6.Scope_id, lo, err)
			}
		}
	}
}

// A connection made, used and reset with the raw calls, seen from a
// listener on loopback.
func TestConnectReadWriteReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := AddrOf(netip.MustParseAddrPort(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	fd, err := Socket(a.Family())
	if err != nil {
		t.Fatal(err)
	}
	if err := Connect(fd, &a); err != nil && err != unix.EINPROGRESS {
		Close(fd)
		t.Fatalf("connect: %v", err)
	}
	c, err := ln.Accept()
	if err != nil {
		Close(fd)
		t.Fatal(err)
	}
	defer c.Close()
	if err := SoError(fd); err != nil {
		t.Errorf("SoError of a connected socket: %v", err)
	}
	if n, err := Write(fd, []byte("ping")); n != 4 || err != nil {
		t.Errorf("Write = %d, %v", n, err)
	}
	b := make([]byte, 8)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(b); string(b[:n]) != "ping" || err != nil {
		t.Errorf("peer read %q, %v", b[:n], err)
	}
	// Nothing to read yet: EAGAIN, as a non-blocking socket says.
	if _, err := Read(fd, b); err != unix.EAGAIN {
		t.Errorf("Read with nothing sent: %v, want EAGAIN", err)
	}
	c.Write([]byte("pong"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := Read(fd, b)
		if err == unix.EAGAIN && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			continue
		}
		if string(b[:n]) != "pong" || err != nil {
			t.Errorf("Read = %q, %v", b[:n], err)
		}
		break
	}
	Reset(fd)
	if _, err := c.Read(b); !errors.Is(err, unix.ECONNRESET) {
		t.Errorf("peer after Reset: %v, want a reset", err)
	}
}

// A refused connect leaves its error in SO_ERROR, once.
func TestSoErrorRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := AddrOf(netip.MustParseAddrPort(ln.Addr().String()))
	ln.Close() // nobody listens there now
	fd, err := Socket(a.Family())
	if err != nil {
		t.Fatal(err)
	}
	defer Close(fd)
	err = Connect(fd, &a)
	if err == unix.EINPROGRESS {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		unix.Poll(p, 5000)
		err = SoError(fd)
	}
	if err != unix.ECONNREFUSED {
		t.Fatalf("connect to a closed port: %v, want ECONNREFUSED", err)
	}
	if err := SoError(fd); err != nil {
		t.Errorf("SO_ERROR read twice: %v", err)
	}
}

// Accept returns the client's address, unmapped.
func TestAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File() // a blocking dup: Accept waits
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	unix.SetNonblock(int(f.Fd()), false)
	fd, ap, err := Accept(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer Close(fd)
	if ap.String() != c.LocalAddr().String() {
		t.Errorf("Accept: client %s, want %s", ap, c.LocalAddr())
	}
}

// Disconnect resets an established connection (the peer reads a reset)
// and leaves the socket able to connect again, here to another listener,
// where it carries data as a fresh socket would.
func TestDisconnectAndConnectAgain(t *testing.T) {
	listen := func() (net.Listener, Addr) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		a, err := AddrOf(netip.MustParseAddrPort(ln.Addr().String()))
		if err != nil {
			t.Fatal(err)
		}
		return ln, a
	}
	ln1, a1 := listen()
	ln2, a2 := listen()
	fd, err := Socket(a1.Family())
	if err != nil {
		t.Fatal(err)
	}
	defer Close(fd)
	accept := func(ln net.Listener, a *Addr) net.Conn {
		t.Helper()
		if err := Connect(fd, a); err != nil && err != unix.EINPROGRESS {
			t.Fatalf("connect: %v", err)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	c1 := accept(ln1, &a1)
	if err := Disconnect(fd); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	b := make([]byte, 8)
	if _, err := c1.Read(b); !errors.Is(err, unix.ECONNRESET) {
		t.Errorf("peer after Disconnect: %v, want a reset", err)
	}
	c2 := accept(ln2, &a2)
	// The reset's error does not outlive the connection it ended: a
	// pending one would show as POLLERR on the new connect's handshake.
	if err := SoError(fd); err != nil {
		t.Errorf("SoError after connecting again: %v, want none", err)
	}
	if c2.RemoteAddr().String() == c1.RemoteAddr().String() {
		t.Errorf("the second connection came from the first one's address %s", c1.RemoteAddr())
	}
	if n, err := Write(fd, []byte("ping")); n != 4 || err != nil {
		t.Fatalf("Write on the socket connected again = %d, %v", n, err)
	}
	if n, err := c2.Read(b); string(b[:n]) != "ping" || err != nil {
		t.Errorf("second peer read %q, %v", b[:n], err)
	}
}
