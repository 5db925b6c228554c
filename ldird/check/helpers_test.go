package check

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineServer runs a loopback TCP server; handle gets each connection.
func lineServer(t *testing.T, handle func(c net.Conn, rd *bufio.Reader)) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	return targetOf(t, ln.Addr())
}

func targetOf(t testing.TB, a net.Addr) Target {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return Target{IP: ap.Addr(), Port: ap.Port(), Protocol: "tcp"}
}

// hungServer accepts connections and never writes; reads are drained. The
// returned function fails the test unless the checker closed its connection
// (a timed-out check must not leave sockets behind).
func hungServer(t *testing.T) (Target, func()) {
	closed := make(chan struct{}, 16)
	tg := lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		buf := make([]byte, 512)
		for {
			if _, err := rd.Read(buf); err != nil {
				closed <- struct{}{}
				return
			}
		}
	})
	return tg, func() {
		t.Helper()
		select {
		case <-closed:
		case <-time.After(3 * time.Second):
			t.Errorf("checker left its connection to the hung real open")
		}
	}
}

// closingServer listens on addr and closes every connection it accepts
// (all a connect check needs), until the test ends.
func closingServer(t *testing.T, network, addr string) (Target, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return Target{}, err
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return targetOf(t, ln.Addr()), nil
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := targetOf(t, ln.Addr())
	ln.Close()
	return tg
}

func mustNew(t *testing.T, s Spec) Checker {
	t.Helper()
	c, err := New(s)
	if err != nil {
		t.Fatalf("New(%+v): %v", s, err)
	}
	return c
}

func expectOK(t *testing.T, c Checker, tg Target) Result {
	t.Helper()
	r := c.Check(context.Background(), tg)
	if !r.OK {
		t.Fatalf("check of %s failed, want ok: %v (detail %q)", tg, r.Err, r.Detail)
	}
	return r
}

func expectFail(t *testing.T, c Checker, tg Target) Result {
	t.Helper()
	r := c.Check(context.Background(), tg)
	if r.OK || r.Err == nil {
		t.Fatalf("check of %s succeeded, want failure (detail %q)", tg, r.Detail)
	}
	return r
}

// expectTimeout checks that a hung real fails near the deadline, not later.
func expectTimeout(t *testing.T, c Checker, tg Target, deadline time.Duration) {
	t.Helper()
	start := time.Now()
	r := c.Check(context.Background(), tg)
	el := time.Since(start)
	if r.OK {
		t.Fatalf("hung real reported up")
	}
	if el > deadline+3*time.Second {
		t.Fatalf("hung real took %s, deadline %s", el, deadline)
	}
}

// readHead reads a request's head from a fake client, up to and with
// its blank line: what was read, and the error that cut it short.
func readHead(rd *bufio.Reader) (string, error) {
	var head strings.Builder
	for {
		l, err := rd.ReadString('\n')
		head.WriteString(l)
		if err != nil || l == "\r\n" {
			return head.String(), err
		}
	}
}

// readLine reads one CRLF line from a fake client.
func readLine(rd *bufio.Reader) (string, error) {
	l, err := rd.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

var loop = netip.MustParseAddr("127.0.0.1")
