package userspace

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// udpSession is one client's flow: a socket connected to the chosen real,
// so the real's replies can be told apart per client and sent back from
// the service's address. It ends after UDPTimeout without traffic.
type udpSession struct {
	s      *service
	client netip.AddrPort
	conn   *net.UDPConn
	r      *real
	tp     *template
	last   atomic.Int64 // UnixNano of the last datagram either way
}

// Close implements io.Closer for Proxy.Close; run does the bookkeeping.
func (u *udpSession) Close() error { return u.conn.Close() }

// udpPool holds receive buffers so that a session idle in read holds none:
// the buffer is taken only once the socket is readable.
var udpPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func (s *service) serveUDP() {
	defer s.p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, client, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.p.rl.warn("udp receive failed", s.key, "err", err)
			time.Sleep(10 * time.Millisecond) // never spin on a persistent error
			continue
		}
		client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
		// A session may expire between lookup and write: then retry once
		// with a fresh one.
		for range 2 {
			u := s.session(client)
			if u == nil {
				break
			}
			u.last.Store(time.Now().UnixNano())
			if _, err := u.conn.Write(buf[:n]); err != nil {
				// ECONNREFUSED (an earlier ICMP port unreachable): the real
				// is not listening; end the session so the next datagram
				// is scheduled afresh.
				u.conn.Close()
				if errors.Is(err, net.ErrClosed) {
					continue
				}
				s.p.log.Debug("udp send to real failed", "service", s.key, "real", u.r.key, "client", client, "err", err)
				break
			}
			u.r.inBytes.Add(uint64(n))
			s.stats.inBytes.Add(uint64(n))
			break
		}
	}
}

// session returns the client's live session or schedules a new one. Only
// serveUDP calls it, so two sessions for one client cannot race.
func (s *service) session(client netip.AddrPort) *udpSession {
	s.sessMu.Lock()
	u := s.sessions[client]
	s.sessMu.Unlock()
	if u != nil {
		return u
	}
	// A session holds a socket: it counts against the limits like a TCP
	// connection. A datagram cannot wait in a queue, so at a limit a new
	// client's datagram is dropped (and counted).
	if s.gate.take(1) == 0 {
		s.stats.refusedLimit.Add(1)
		s.p.rl.warn("virtual service connection limit reached: datagram of a new UDP client dropped", s.key, "client", client, "maxconn", s.gate.max.Load())
		return nil
	}
	if s.p.gate.take(1) == 0 {
		s.gate.release(1)
		s.stats.refusedLimit.Add(1)
		s.p.rl.warn("global connection limit reached: datagram of a new UDP client dropped", s.key, "client", client, "maxconn", s.p.gate.max.Load())
		return nil
	}
	ok := false
	defer func() {
		if !ok {
			s.gate.release(1)
			s.p.gate.release(1)
		}
	}()
	e, tp := s.schedule(client.Addr(), nil)
	if e == nil {
		s.stats.refusedNoReal.Add(1)
		s.p.rl.warn("no real server available: datagram dropped", s.key, "client", client)
		return nil
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(e.r.target))
	if err != nil {
		s.release(tp)
		if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
			s.stats.refusedFD.Add(1)
		} else {
			s.stats.refusedNoReal.Add(1)
		}
		s.p.rl.warn("udp socket to real server failed: datagram dropped", s.key, "real", e.r.key, "err", err)
		return nil
	}
	u = &udpSession{s: s, client: client, conn: conn, r: e.r, tp: tp}
	u.last.Store(time.Now().UnixNano())
	if !s.p.track(u) {
		conn.Close()
		s.release(tp)
		return nil
	}
	s.sessMu.Lock()
	if s.closed {
		s.sessMu.Unlock()
		s.p.untrack(u)
		conn.Close()
		s.release(tp)
		return nil
	}
	ok = true // the session's end releases the slots
	s.sessions[client] = u
	s.sessMu.Unlock()
	e.r.conns.Add(1)
	s.stats.conns.Add(1)
	e.r.inactive.Add(1) // IPVS counts UDP connections as inactive
	s.p.wg.Add(1)
	go u.run()
	return u
}

// run relays the real's replies to the client until the session idles out
// or its socket fails or is closed.
func (u *udpSession) run() {
	s := u.s
	defer s.p.wg.Done()
	defer u.end()
	rc, err := u.conn.SyscallConn()
	if err != nil {
		return
	}
	timeout := s.p.opts.UDPTimeout
	for {
		deadline := time.Unix(0, u.last.Load()).Add(timeout)
		if !time.Now().Before(deadline) {
			return
		}
		u.conn.SetReadDeadline(deadline)
		var bp *[]byte
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			bp = udpPool.Get().(*[]byte)
			for {
				n, rerr = unix.Read(int(fd), *bp)
				if rerr != unix.EINTR {
					break
				}
			}
			if rerr == unix.EAGAIN {
				udpPool.Put(bp)
				bp = nil
				return false
			}
			return true
		})
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue // re-check: the client may have sent meanwhile
			}
			return
		}
		if rerr != nil {
			udpPool.Put(bp)
			s.p.log.Debug("udp receive from real failed", "service", s.key, "real", u.r.key, "client", u.client, "err", rerr)
			return
		}
		u.last.Store(time.Now().UnixNano())
		_, werr := s.udp.WriteToUDPAddrPort((*bp)[:n], u.client)
		udpPool.Put(bp)
		if werr != nil {
			if errors.Is(werr, net.ErrClosed) {
				return
			}
			continue
		}
		u.r.outBytes.Add(uint64(n))
		s.stats.outBytes.Add(uint64(n))
	}
}

func (u *udpSession) end() {
	s := u.s
	s.sessMu.Lock()
	if s.sessions[u.client] == u {
		delete(s.sessions, u.client)
	}
	s.sessMu.Unlock()
	u.conn.Close()
	s.p.untrack(u)
	s.release(u.tp)
	u.r.inactive.Add(-1)
	s.gate.release(1)
	s.p.gate.release(1)
}
