package userspace

import (
	"errors"
	"io"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// serveTCP accepts until the listener is closed.
func (s *service) serveTCP() {
	defer s.p.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.tcp.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off rather than spin on the error.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.p.log.Warn("accept failed", "service", s.key, "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.p.wg.Add(1)
		go s.handleTCP(c)
	}
}

// relay is one proxied connection as Close sees it: the backend side is
// attached once connected, and a Close in between closes it on arrival.
type relay struct {
	c      *net.TCPConn
	mu     sync.Mutex
	b      *net.TCPConn
	closed bool
}

func (r *relay) attach(b *net.TCPConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.b = b
	return true
}

func (r *relay) Close() error {
	r.mu.Lock()
	r.closed = true
	b := r.b
	r.mu.Unlock()
	r.c.Close()
	if b != nil {
		b.Close()
	}
	return nil
}

func (s *service) handleTCP(c *net.TCPConn) {
	p := s.p
	defer p.wg.Done()
	rl := &relay{c: c}
	if !p.track(rl) {
		c.Close()
		return
	}
	defer p.untrack(rl)

	client := addrPortOf(c.RemoteAddr())
	b, r, tp := s.connect(client)
	if b == nil {
		// As close to IPVS's RST for "no destination" as a proxy gets.
		c.SetLinger(0)
		c.Close()
		return
	}
	defer s.release(tp)
	if !rl.attach(b) {
		c.Close()
		b.Close()
		return
	}
	r.conns.Add(1)
	s.stats.conns.Add(1)
	r.active.Add(1)
	s.relay(c, b, r)
}

// connect schedules a real and connects to it; if that fails it asks the
// scheduler once more, without the failed real.
func (s *service) connect(client netip.AddrPort) (*net.TCPConn, *real, *template) {
	var skip *real
	for range 2 {
		e, tp := s.schedule(client.Addr(), skip)
		if e == nil {
			s.p.log.Warn("no real server available, connection dropped", "service", s.key, "client", client)
			return nil, nil, nil
		}
		conn, err := s.p.dialer.DialContext(s.p.ctx, "tcp", e.r.dial)
		if err == nil {
			return conn.(*net.TCPConn), e.r, tp
		}
		s.release(tp)
		s.p.log.Warn("connect to real server failed", "service", s.key, "real", e.r.key, "client", client, "err", err)
		skip = e.r
	}
	return nil, nil, nil
}

// relay copies both ways until both are done. An orderly end of one
// direction (EOF) is passed on as a half-close; an error aborts both.
func (s *service) relay(c, b *net.TCPConn, r *real) {
	p := s.p
	var half atomic.Bool
	halfDone := func() {
		// IPVS counts a connection past its first FIN as inactive.
		if half.CompareAndSwap(false, true) {
			r.active.Add(-1)
			r.inactive.Add(1)
		}
	}
	var w *idleWatch
	splice := p.opts.Splice && p.opts.IdleTimeout <= 0
	if p.opts.IdleTimeout > 0 {
		w = newIdleWatch(p.opts.IdleTimeout, func() {
			p.log.Debug("idle timeout", "service", s.key, "real", r.key)
			abort(c, b)
		})
		defer w.stop()
	}
	done := make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(done)
		pipe(b, c, splice, w, &r.inBytes, &s.stats.inBytes)
		halfDone()
	}()
	pipe(c, b, splice, w, &r.outBytes, &s.stats.outBytes)
	halfDone()
	<-done
	c.Close()
	b.Close()
	r.inactive.Add(-1)
}

// pipe copies src to dst: with splice, io.Copy between two *net.TCPConn
// (the runtime uses splice(2)); otherwise a read/write loop that counts
// bytes as they pass and feeds the idle watch, if any.
func pipe(dst, src *net.TCPConn, splice bool, w *idleWatch, rc, sc *atomic.Uint64) {
	var err error
	if splice {
		var n int64
		n, err = io.Copy(dst, src)
		rc.Add(uint64(n))
		sc.Add(uint64(n))
	} else {
		err = copyLoop(dst, src, w, rc, sc)
	}
	if err != nil {
		abort(dst, src)
		return
	}
	dst.CloseWrite()
}

// abort ends both sides with a reset, as a reset passes through IPVS.
func abort(a, b *net.TCPConn) {
	a.SetLinger(0)
	b.SetLinger(0)
	a.Close()
	b.Close()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// idleWatch closes a connection when neither direction moved data for a
// whole period. Copies count reads; the timer checks the count changed.
type idleWatch struct {
	ticks atomic.Uint64
	seen  uint64 // only touched by fire, which never runs concurrently with itself
	d     time.Duration
	t     *time.Timer
	abort func()
}

func newIdleWatch(d time.Duration, abort func()) *idleWatch {
	w := &idleWatch{d: d, abort: abort}
	w.t = time.AfterFunc(math.MaxInt64, w.fire)
	w.t.Reset(d) // armed only once w.t is set: fire uses it
	return w
}

func (w *idleWatch) fire() {
	if n := w.ticks.Load(); n != w.seen {
		w.seen = n
		w.t.Reset(w.d)
		return
	}
	w.abort()
}

func (w *idleWatch) stop() { w.t.Stop() }

func copyLoop(dst, src *net.TCPConn, w *idleWatch, rc, sc *atomic.Uint64) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if w != nil {
				w.ticks.Add(1)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
			rc.Add(uint64(n))
			sc.Add(uint64(n))
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
