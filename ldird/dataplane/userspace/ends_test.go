package userspace

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"lvsha/ldird/dataplane"
)

// scriptedReal is a real that plays serve on every connection it accepts
// and reports what serve returns.
func scriptedReal(t *testing.T, addr string, serve func(c *net.TCPConn) string) (dataplane.Dest, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp4", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 64)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(ioTimeout))
			out <- serve(c.(*net.TCPConn))
			c.Close()
		}
	}()
	ap := addrPortOf(ln.Addr())
	return dataplane.Dest{Addr: ap.Addr(), Port: ap.Port(), Weight: 1, Method: "masq"}, out
}

// TestEndsOfStream: how a connection's ends pass through the relay, whose
// loop saves the system calls it can there (a FIN that came with the last
// data is not read for separately; the last direction to end is closed
// without a shutdown first). Every byte arrives, a FIN stays a FIN and a
// reset stays a reset, and the counters come back to zero.
func TestEndsOfStream(t *testing.T) {
	p := newTestProxy(t, Options{})
	big := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16) // several of the loop's 32 KiB reads
	for _, tc := range []struct {
		name string
		// serve is the real's side; client the client's, through the proxy.
		serve  func(c *net.TCPConn) string
		client func(t *testing.T, c *net.TCPConn)
		// real: what serve must report.
		real string
		// resetRace: the real's reset may reach the relay with its
		// handshake, before the loop has seen the connection up; then
		// (as HAProxy) it is a failed connect, and with no other real the
		// client is reset, counted as refused for want of a real.
		resetRace bool
	}{
		{
			name: "reply and close at once (small)",
			serve: func(c *net.TCPConn) string {
				c.Write([]byte("hello"))
				return "sent"
			},
			client: func(t *testing.T, c *net.TCPConn) { expectAllThenEOF(t, c, []byte("hello")) },
			real:   "sent",
		},
		{
			name: "reply and close at once (100 KiB)",
			serve: func(c *net.TCPConn) string {
				c.Write(big)
				return "sent"
			},
			client: func(t *testing.T, c *net.TCPConn) { expectAllThenEOF(t, c, big) },
			real:   "sent",
		},
		{
			// The real's FIN first, then the client's, which ends the
			// connection: the real must still get the client's last
			// bytes and then its FIN, not a reset.
			name: "real half-closes first, client's last bytes follow",
			serve: func(c *net.TCPConn) string {
				c.Write([]byte("reply"))
				c.CloseWrite()
				b, err := io.ReadAll(c)
				if err != nil {
					return "error: " + err.Error()
				}
				return "read " + string(b)
			},
			client: func(t *testing.T, c *net.TCPConn) {
				expectAllThenEOF(t, c, []byte("reply"))
				if _, err := c.Write([]byte("more")); err != nil {
					t.Fatal(err)
				}
				c.CloseWrite()
			},
			real: "read more",
		},
		{
			// The client's FIN first; the real answers and closes, which
			// ends the connection.
			name: "client half-closes first, real answers and closes",
			serve: func(c *net.TCPConn) string {
				b, err := io.ReadAll(c)
				if err != nil {
					return "error: " + err.Error()
				}
				c.Write(append([]byte("got "), b...))
				return "read " + string(b)
			},
			client: func(t *testing.T, c *net.TCPConn) {
				c.Write([]byte("question"))
				c.CloseWrite()
				expectAllThenEOF(t, c, []byte("got question"))
			},
			real: "read question",
		},
		{
			// Data and then a reset from the real, most often in one
			// event: the client must see the reset, never a clean end.
			name: "reply then reset",
			serve: func(c *net.TCPConn) string {
				c.Write([]byte("partial"))
				c.SetLinger(0)
				return "reset"
			},
			client: func(t *testing.T, c *net.TCPConn) {
				b, err := io.ReadAll(c)
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("read %q then %v, want a reset", b, err)
				}
			},
			real:      "reset",
			resetRace: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("127.0.0.10"), Port: freePort(t, "tcp", "127.0.0.10"), Scheduler: "rr"}
			if err := p.AddService(svc); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.DelService(svc) })
			d, served := scriptedReal(t, "127.0.0.11", tc.serve)
			if err := p.AddDest(svc, d); err != nil {
				t.Fatal(err)
			}
			const rounds = 20 // the ends race the loop's wake-ups: several orders
			for i := range rounds {
				c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(svc.Addr, svc.Port).String(), ioTimeout)
				switch {
				case err == nil:
					c.SetDeadline(time.Now().Add(ioTimeout))
					tc.client(t, c.(*net.TCPConn))
					c.Close()
				case tc.resetRace && errors.Is(err, syscall.ECONNRESET):
					// The whole exchange, the reset passed on included,
					// was over before the client's connect returned.
				default:
					t.Fatal(err)
				}
				select {
				case got := <-served:
					if got != tc.real {
						t.Fatalf("round %d: the real says %q, want %q", i, got, tc.real)
					}
				case <-time.After(ioTimeout):
					t.Fatalf("round %d: the real did not finish", i)
				}
			}
			waitFor(t, "every connection ended", func() bool {
				st, ss := realStats(p, svc, d), serviceStats(p, svc)
				done := st.ActiveConns == 0 && st.InactiveConns == 0 && ss.Current == 0
				if tc.resetRace {
					return done && st.Conns+ss.Refused[RefusedNoReal] == rounds
				}
				return done && st.Conns == rounds && ss.Refused[RefusedNoReal] == 0
			})
		})
	}
}

// expectAllThenEOF reads want whole and then a clean end of stream.
func expectAllThenEOF(t *testing.T, c *net.TCPConn, want []byte) {
	t.Helper()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d of %d bytes: %v", len(got), len(want), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d (equal: %v)", len(got), len(want), bytes.Equal(got[:min(len(got), len(want))], want[:min(len(got), len(want))]))
	}
}
