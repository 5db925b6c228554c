package userspace

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"lvsha/ldird/dataplane"
)

// Request/response sizes of a small HTTP exchange.
const (
	benchReq  = 128
	benchResp = 512
)

// startBenchServer answers every benchReq bytes with benchResp bytes; with
// closeAfter it closes after one answer (a connection per request).
func startBenchServer(b *testing.B, addr string, closeAfter bool) netip.AddrPort {
	ln, err := net.Listen("tcp4", addr+":0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	resp := make([]byte, benchResp)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				req := make([]byte, benchReq)
				for {
					if _, err := io.ReadFull(c, req); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return addrPortOf(ln.Addr())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTCPProxy measures a request/response through the proxy on
// loopback against the same exchange straight to the server. Everything
// (clients, proxy, server) runs in this process, so the proxy's own cost
// is the difference in cpu-ns/op between the proxied and direct cases.
// Modes: direct (no proxy) and proxy.
func BenchmarkTCPProxy(b *testing.B) {
	for _, kind := range []string{"keepalive", "newconn"} {
		for _, mode := range []string{"direct", "proxy"} {
			b.Run(kind+"/"+mode, func(b *testing.B) {
				benchProxy(b, kind == "newconn", mode)
			})
		}
	}
}

func benchProxy(b *testing.B, newConn bool, mode string) {
	srv := startBenchServer(b, "127.0.0.11", newConn)
	target := srv
	if mode != "direct" {
		p := New(Options{})
		b.Cleanup(func() { p.Close() })
		svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("127.0.0.10"), Scheduler: "wlc"}
		l, err := net.Listen("tcp4", "127.0.0.10:0")
		if err != nil {
			b.Fatal(err)
		}
		svc.Port = uint16(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		if err := p.AddService(svc); err != nil {
			b.Fatal(err)
		}
		if err := p.AddDest(svc, dataplane.Dest{Addr: srv.Addr(), Port: srv.Port(), Weight: 1, Method: "masq"}); err != nil {
			b.Fatal(err)
		}
		target = netip.AddrPortFrom(svc.Addr, svc.Port)
	}
	addr := net.TCPAddrFromAddrPort(target)
	b.SetParallelism(16) // 32 clients on 2 cores, like wrk -c64 on this box
	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := make([]byte, benchReq)
		resp := make([]byte, benchResp)
		var c *net.TCPConn
		for pb.Next() {
			if c == nil {
				var err error
				if c, err = net.DialTCP("tcp4", nil, addr); err != nil {
					b.Error(err)
					return
				}
			}
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(c, resp); err != nil {
				b.Error(err)
				return
			}
			if newConn {
				c.Close()
				c = nil
			}
		}
		if c != nil {
			c.Close()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
