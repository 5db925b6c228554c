package userspace

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/ldird/sockcall"
)

// A loop relays TCP connections. Each loop is one goroutine waiting on a
// private epoll set (edge-triggered) through Go's own netpoller: the epoll
// descriptor is itself pollable, so no OS thread blocks in epoll_wait and
// the loops add no threads. An idle connection owns no goroutine, no stack
// and no buffer: only its conn and its two sockets. Data is read into the
// loop's scratch buffer and written straight on; only what the receiver
// cannot take yet is kept, in a pooled buffer, until it can.
//
// The proxy runs GOMAXPROCS loops and hands connections out round robin.
// Accepting, scheduling and starting the connect happen in the service's
// accept goroutine; the loop takes over from there.
type loop struct {
	p    *Proxy
	epfd int
	ep   *os.File // epfd as the netpoller sees it
	raw  syscall.RawConn
	evfd int // eventfd: new connections, or Close

	mu      sync.Mutex
	in      []*conn
	closing bool

	conns   []*conn // by slot; nil = free
	free    []int32
	freed   []int32 // freed during this batch: reusable after it
	again   []*conn // budget used up with data still to move
	live    int
	tag     uint32
	events  [128]unix.EpollEvent
	scratch []byte

	now       int64 // the proxy's clock at the start of this batch
	every     int64 // sweep interval for the current connections
	nextSweep int64
	deadline  int64 // set on ep; 0 none, -1 unknown
	stop      bool
}

const (
	stConnecting = iota
	stRelaying
)

// conn is one relayed TCP connection; only its loop touches it once
// handed over.
type conn struct {
	s      *service
	r      *real
	tp     *template
	client netip.AddrPort

	cfd, sfd   int    // client and real sockets; sfd -1 while none
	ctag, stag uint32 // registration tags: events carry them, stale ones are ignored
	slot       int32
	state      uint8
	attempts   uint8 // times the scheduler was asked
	half       bool  // a direction has ended: counted inactive, as IPVS does
	counted    bool  // counted on r (once connected)
	queued     bool  // in loop.again

	cIn, cOut, sIn, sOut bool // readiness seen and not used up (edge-triggered)
	cHup, sHup           bool // EPOLLRDHUP seen: a short read no longer means drained
	cErr, sErr           bool // EPOLLERR seen: the stream may end in an error, not a FIN

	up, down flow // client → real, real → client

	started, lastC, lastS int64 // connect start; last progress on each side
}

// flow is one direction of a connection.
type flow struct {
	buf      *[]byte // read but not yet written; nil when none
	off, end int
	eof      bool // the source sent FIN
	shut     bool // the FIN was passed on
}

const (
	scratchSize = 32 << 10
	// readBudget bounds the reads one connection gets per turn, so a bulk
	// transfer cannot starve the loop's other connections.
	readBudget = 16
	minSweep   = 5 * time.Millisecond
	maxSweep   = time.Second
)

// bufPool holds the buffers of flows whose receiver is not keeping up.
var bufPool = sync.Pool{New: func() any { b := make([]byte, scratchSize); return &b }}

func newLoop(p *Proxy) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	// Level-triggered: it stays readable until drained.
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("epoll fd: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "userspace-epoll") // non-blocking: registered with the netpoller
	raw, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		unix.Close(evfd)
		return nil, fmt.Errorf("epoll fd: %w", err)
	}
	return &loop{p: p, epfd: epfd, ep: ep, raw: raw, evfd: evfd, scratch: make([]byte, scratchSize), every: int64(maxSweep)}, nil
}

// push hands c to the loop; false when the loop is closing (c is the
// caller's to clean up).
func (l *loop) push(c *conn) bool {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return false
	}
	wake := len(l.in) == 0
	l.in = append(l.in, c)
	l.mu.Unlock()
	if wake {
		sysWake(l.evfd)
	}
	return true
}

// close asks the loop to reset its connections and end.
func (l *loop) close() {
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	sysWake(l.evfd)
}

func (l *loop) run() {
	defer l.p.wg.Done()
	var (
		n      int
		werr   error
		parked bool
	)
	// One closure for the loop's life: one made per turn escaped to the
	// heap, three allocations per wake-up and a GC cycle every few seconds.
	poll := func(fd uintptr) bool {
		n, werr = sysEpollPoll(int(fd), l.events[:])
		if n > 0 || werr != nil || len(l.again) > 0 {
			return true
		}
		if !parked {
			parked = true
			l.p.parked.Add(1)
		}
		return false
	}
	for {
		n, werr, parked = 0, nil, false
		err := l.raw.Read(poll)
		if parked && l.p.parked.Add(-1) > 0 && n > 0 {
			// This loop took the netpoller's waiting thread, and
			// another loop waits there.
			l.p.wakePoller()
		}
		l.now = l.p.clock()
		sweep := false
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				werr = err
			}
			sweep, l.deadline = true, -1
		}
		if werr != nil {
			l.p.log.Error("relay loop failed: resetting its connections", "err", werr)
			l.shutdown()
			return
		}
		for i := range n {
			l.event(&l.events[i])
		}
		if len(l.again) > 0 {
			again := l.again
			l.again = nil
			for _, c := range again {
				c.queued = false
				if l.conns[c.slot] == c {
					l.pump(c)
				}
			}
		}
		if l.stop {
			l.shutdown()
			return
		}
		if l.live > 0 && (sweep || l.now >= l.nextSweep) {
			l.sweep()
		}
		l.free = append(l.free, l.freed...)
		l.freed = l.freed[:0]
		l.arm()
	}
}

// arm sets the netpoller deadline that wakes the loop for its next sweep,
// and clears it when there is nothing to time out.
func (l *loop) arm() {
	var want int64
	if l.live > 0 {
		want = l.nextSweep
	}
	if want == l.deadline {
		return
	}
	l.deadline = want
	if want == 0 {
		l.ep.SetReadDeadline(time.Time{})
		return
	}
	l.ep.SetReadDeadline(l.p.base.Add(time.Duration(want)))
}

func (l *loop) event(ev *unix.EpollEvent) {
	if ev.Fd < 0 {
		l.drain()
		return
	}
	c := l.conns[ev.Fd]
	if c == nil {
		return // ended earlier in this batch
	}
	e, tag := ev.Events, uint32(ev.Pad)
	in := e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
	out := e&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0
	switch tag {
	case c.ctag:
		c.cIn, c.cOut = c.cIn || in, c.cOut || out
		c.cHup = c.cHup || e&unix.EPOLLRDHUP != 0
		c.cErr = c.cErr || e&unix.EPOLLERR != 0
	case c.stag:
		c.sIn, c.sOut = c.sIn || in, c.sOut || out
		c.sHup = c.sHup || e&unix.EPOLLRDHUP != 0
		c.sErr = c.sErr || e&unix.EPOLLERR != 0
		if c.state == stConnecting {
			if out {
				l.connected(c, e)
			}
			return
		}
	default:
		return // a socket this slot had before
	}
	if c.state == stRelaying {
		l.pump(c)
	}
}

// drain takes the connections handed over since the last wake-up.
func (l *loop) drain() {
	sysTakeWakes(l.evfd)
	l.mu.Lock()
	in := l.in
	l.in = nil
	l.stop = l.closing
	l.mu.Unlock()
	for _, c := range in {
		l.register(c)
	}
}

func (l *loop) nextTag() uint32 {
	l.tag++
	if l.tag == 0 {
		l.tag++
	}
	return l.tag
}

func (l *loop) watch(fd int, slot int32, tag uint32) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: slot, Pad: int32(tag)}
	return sysEpollAdd(l.epfd, fd, &ev)
}

// register gives c a slot and watches its sockets. A socket that is ready
// already reports it at once (epoll checks on ADD).
func (l *loop) register(c *conn) {
	if n := len(l.free); n > 0 {
		c.slot = l.free[n-1]
		l.free = l.free[:n-1]
		l.conns[c.slot] = c
	} else {
		c.slot = int32(len(l.conns))
		l.conns = append(l.conns, c)
	}
	l.live++
	c.started, c.lastC, c.lastS = l.now, l.now, l.now
	c.ctag, c.stag = l.nextTag(), l.nextTag()
	if err := l.watch(c.cfd, c.slot, c.ctag); err != nil {
		l.p.rl.warn("cannot watch a connection: reset", c.s.key, "err", err)
		l.end(c, true)
		return
	}
	if err := l.watch(c.sfd, c.slot, c.stag); err != nil {
		l.p.rl.warn("cannot watch a connection: reset", c.s.key, "err", err)
		l.end(c, true)
		return
	}
	if d := c.shortest(l.p); d/8 < l.every {
		l.every = max(d/8, int64(minSweep))
	}
	if l.nextSweep == 0 || l.nextSweep > l.now+l.every {
		l.nextSweep = l.now + l.every
	}
}

// shortest is the shortest timeout c is subject to.
func (c *conn) shortest(p *Proxy) int64 {
	ct, st := c.timeouts(p)
	return min(ct, st, int64(p.opts.ConnectTimeout))
}

func (c *conn) timeouts(p *Proxy) (client, server int64) {
	svc := &c.s.tab.Load().svc
	ct, st := svc.ClientTimeout, svc.ServerTimeout
	if ct <= 0 {
		ct = p.opts.ClientTimeout
	}
	if st <= 0 {
		st = p.opts.ServerTimeout
	}
	return int64(ct), int64(st)
}

// connected runs when the real's socket turns writable while connecting
// (events e). Writable without an error or hang-up means the handshake is
// done, so only a failure costs the look at SO_ERROR (as HAProxy).
func (l *loop) connected(c *conn, e uint32) {
	if e&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		err := sockcall.SoError(c.sfd)
		if err == nil {
			err = unix.ECONNRESET // hung up without saying why
		}
		l.connectFailed(c, err)
		return
	}
	c.state = stRelaying
	c.lastC, c.lastS = l.now, l.now
	c.counted = true
	c.r.conns.Add(1)
	c.s.stats.conns.Add(1)
	c.r.active.Add(1)
	l.pump(c)
}

// connectFailed tries another real once; then the client is reset.
func (l *loop) connectFailed(c *conn, err error) {
	s := c.s
	l.p.rl.warn("connect to real server failed", s.key, "real", c.r.key, "client", c.client, "err", err)
	sockcall.Close(c.sfd)
	c.sfd, c.sIn, c.sOut, c.sHup, c.sErr = -1, false, false, false, false
	s.release(c.tp)
	c.tp = nil
	ok, derr := s.dial(c, c.r)
	if ok {
		c.stag = l.nextTag()
		if err := l.watch(c.sfd, c.slot, c.stag); err == nil {
			return
		}
		l.p.rl.warn("cannot watch a connection: reset", s.key, "err", err)
	} else if derr != nil {
		s.stats.refusedFD.Add(1)
		l.p.rl.warn("no socket for another real server: connection reset", s.key, "client", c.client, "err", derr)
	} else {
		s.stats.refusedNoReal.Add(1)
	}
	l.end(c, true)
}

// pump moves data both ways as far as the sockets allow, and ends the
// connection once both directions have ended or on an error.
func (l *loop) pump(c *conn) {
	budget := readBudget
	if err := l.move(c, &c.up, &c.down, c.cfd, c.sfd, &c.cIn, &c.sOut, c.cHup, c.cErr, true, &budget); err != nil {
		l.end(c, true)
		return
	}
	if err := l.move(c, &c.down, &c.up, c.sfd, c.cfd, &c.sIn, &c.cOut, c.sHup, c.sErr, false, &budget); err != nil {
		l.end(c, true)
		return
	}
	if c.up.shut && c.down.shut {
		l.end(c, false)
		return
	}
	if budget <= 0 && !c.queued {
		c.queued = true
		l.again = append(l.again, c)
	}
}

// move copies one direction (f; back is the other): pending bytes first,
// then reads until the source is drained, the receiver is full or the
// budget is spent. A FIN is passed on (shutdown) once everything before it
// has been written. srcHup: the source's end has arrived (EPOLLRDHUP), so
// a short read no longer means drained. Without srcErr it was a FIN, which
// the kernel queues only after every byte before it: a short read has
// taken the last data, and the end needs no read of its own. With srcErr
// (a reset) the next read tells the error.
func (l *loop) move(c *conn, f, back *flow, src, dst int, srcIn, dstOut *bool, srcHup, srcErr, up bool, budget *int) error {
	for {
		if f.buf != nil {
			if !*dstOut {
				return nil
			}
			n, err := sockcall.Write(dst, (*f.buf)[f.off:f.end])
			if n > 0 {
				f.off += n
				c.moved(up, n, l.now)
			}
			if err != nil && err != unix.EAGAIN {
				return err
			}
			if f.off < f.end {
				*dstOut = false
				return nil
			}
			bufPool.Put(f.buf)
			f.buf = nil
		}
		if f.eof {
			if !f.shut {
				// The last direction to end needs no shutdown: the
				// connection ends now, and close(2) of dst, whose
				// stream was read to its end, sends the FIN.
				if !back.shut {
					if err := sockcall.ShutdownWrite(dst); err != nil && err != unix.ENOTCONN {
						return err
					}
				}
				f.shut = true
				c.halfClose()
			}
			return nil
		}
		if !*srcIn {
			return nil
		}
		if *budget <= 0 {
			return nil
		}
		*budget--
		n, err := sockcall.Read(src, l.scratch)
		switch {
		case err == unix.EAGAIN:
			*srcIn = false
			return nil
		case err != nil:
			return err
		case n == 0:
			f.eof = true
			c.touch(up, true, l.now)
			continue
		}
		c.touch(up, true, l.now)
		switch {
		case n == len(l.scratch):
		case !srcHup:
			// A short read took all there was; new data brings a new edge.
			*srcIn = false
		case !srcErr:
			f.eof = true // the FIN is next: no read to see it
		}
		w := 0
		if *dstOut {
			var werr error
			w, werr = sockcall.Write(dst, l.scratch[:n])
			if w > 0 {
				c.moved(up, w, l.now)
			}
			if werr != nil && werr != unix.EAGAIN {
				return werr
			}
		}
		if w < n {
			*dstOut = false
			bp := bufPool.Get().(*[]byte)
			f.buf, f.off, f.end = bp, 0, copy(*bp, l.scratch[w:n])
		}
	}
}

// touch notes progress on the source (src) or destination side of a
// direction, for the idle timeouts.
func (c *conn) touch(up, src bool, now int64) {
	if up == src {
		c.lastC = now
	} else {
		c.lastS = now
	}
}

// moved counts n bytes written in a direction and notes the progress.
func (c *conn) moved(up bool, n int, now int64) {
	c.touch(up, false, now)
	if up {
		c.r.inBytes.Add(uint64(n))
		c.s.stats.inBytes.Add(uint64(n))
	} else {
		c.r.outBytes.Add(uint64(n))
		c.s.stats.outBytes.Add(uint64(n))
	}
}

// halfClose counts the connection inactive from its first FIN, as IPVS.
func (c *conn) halfClose() {
	if !c.half && c.counted {
		c.r.active.Add(-1)
		c.r.inactive.Add(1)
	}
	c.half = true
}

// end closes c: with an RST on both sides when rst (errors, timeouts,
// Close), else plainly (both FINs have been passed on).
func (l *loop) end(c *conn, rst bool) {
	for _, fd := range []int{c.cfd, c.sfd} {
		if fd < 0 {
			continue
		}
		if rst {
			sockcall.Reset(fd)
		} else {
			sockcall.Close(fd)
		}
	}
	c.cfd, c.sfd = -1, -1
	for _, f := range []*flow{&c.up, &c.down} {
		if f.buf != nil {
			bufPool.Put(f.buf)
			f.buf = nil
		}
	}
	if c.counted {
		if c.half {
			c.r.inactive.Add(-1)
		} else {
			c.r.active.Add(-1)
		}
	}
	c.s.release(c.tp)
	c.tp = nil
	c.s.gate.release(1)
	l.p.gate.release(1)
	l.conns[c.slot] = nil
	l.freed = append(l.freed, c.slot)
	l.live--
}

// sweep ends connections idle past their timeouts and connects past the
// connect timeout. It runs every eighth of the shortest timeout among the
// loop's connections (5 ms to 1 s), so a timeout is enforced within that
// much after it expires.
func (l *loop) sweep() {
	now := l.now
	cto := int64(l.p.opts.ConnectTimeout)
	shortest := int64(maxSweep) * 8
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		if c.state == stConnecting {
			if now-c.started >= cto {
				l.connectFailed(c, unix.ETIMEDOUT)
			}
			shortest = min(shortest, cto)
			continue
		}
		ct, st := c.timeouts(l.p)
		switch {
		case now-c.lastC >= ct:
			c.s.stats.timeoutClient.Add(1)
			l.p.rl.debug("client idle timeout: connection reset", c.s.key, "client", c.client, "real", c.r.key, "timeout", time.Duration(ct))
			l.end(c, true)
		case now-c.lastS >= st:
			c.s.stats.timeoutServer.Add(1)
			l.p.rl.debug("server idle timeout: connection reset", c.s.key, "client", c.client, "real", c.r.key, "timeout", time.Duration(st))
			l.end(c, true)
		default:
			shortest = min(shortest, ct, st)
		}
	}
	l.every = min(max(shortest/8, int64(minSweep)), int64(maxSweep))
	l.nextSweep = now + l.every
}

// shutdown resets every connection (Proxy.Close) and closes the loop.
func (l *loop) shutdown() {
	l.mu.Lock()
	l.closing = true
	in := l.in
	l.in = nil
	l.mu.Unlock()
	for _, c := range in {
		c.discard()
	}
	for _, c := range l.conns {
		if c != nil {
			l.end(c, true)
		}
	}
	unix.Close(l.evfd)
	l.ep.Close()
}

// discard resets a connection no loop took.
func (c *conn) discard() {
	sockcall.Reset(c.cfd)
	if c.sfd >= 0 {
		sockcall.Reset(c.sfd)
	}
	c.s.release(c.tp)
	c.tp = nil
	c.s.gate.release(1)
	c.s.p.gate.release(1)
}
