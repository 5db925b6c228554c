package userspace

import (
	"errors"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/ldird/sockcall"
)

// acceptBatch is how many connections one wake-up of a listener accepts
// at most (fewer when the limits leave less room).
const acceptBatch = 16

// serveTCP accepts until the listener is closed. Before each accept it
// takes slots from the service's gate and the proxy's: at a limit it stops
// accepting, and new connections wait in the kernel's listen queue (its
// backlog, net.core.somaxconn) until a connection ends, as under HAProxy's
// maxconn.
//
// Out of file descriptors or socket memory (EMFILE, ENFILE, ENOBUFS,
// ENOMEM, on accept or on the real's socket) it backs off, 5 ms doubling to
// 1 s, and retries early when a connection ends: it never spins, the
// established connections are served meanwhile, and a client accepted
// before its real's socket could be made is held, not reset, until one can.
func (s *service) serveTCP() {
	p := s.p
	defer p.wg.Done()
	raw, err := s.tcp.SyscallConn()
	if err != nil {
		p.log.Error("listener unusable", "service", s.key, "err", err)
		return
	}
	var (
		fds     [acceptBatch]int
		clients [acceptBatch]netip.AddrPort
		held    []*conn // accepted, waiting for a descriptor for their real's socket
		backoff time.Duration
	)
	defer func() {
		for _, c := range held {
			c.discard()
		}
	}()
	pause := func(err error) bool {
		s.stats.acceptErrors.Add(1)
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		p.rl.warn("out of file descriptors or socket memory: accepting paused", s.key, "err", err, "retry_in", backoff, "held", len(held))
		return p.gate.waitRelease(s.stopped, backoff)
	}
	for {
		if len(held) > 0 {
			var err error
			held, err = s.startHeld(held)
			if err != nil {
				if !pause(err) {
					return
				}
				continue
			}
		}
		if !s.gate.room() {
			s.stats.limitVirtual.Add(1)
			p.rl.warn("virtual service connection limit reached: new connections wait in the listen queue", s.key, "maxconn", s.gate.max.Load())
			if !s.gate.wait(s.stopped) {
				return
			}
		}
		if !p.gate.room() {
			s.stats.limitGlobal.Add(1)
			p.rl.warn("global connection limit reached: new connections wait in the listen queue", s.key, "maxconn", p.gate.max.Load())
			if !p.gate.wait(s.stopped) {
				return
			}
			continue
		}
		var n int
		var full bool
		var aerr error
		err := raw.Read(func(fd uintptr) bool {
			n, full, aerr = 0, false, nil
			k := s.gate.take(acceptBatch)
			if k == 0 {
				full = true
				return true
			}
			g := p.gate.take(k)
			if g < k {
				s.gate.release(k - g)
			}
			if g == 0 {
				full = true
				return true
			}
			for n < g {
				nfd, client, err := sockcall.Accept(int(fd))
				if err == unix.EINTR || err == unix.ECONNABORTED {
					continue
				}
				if err != nil {
					aerr = err
					break
				}
				fds[n], clients[n] = nfd, client
				n++
			}
			if n < g {
				s.gate.release(g - n)
				p.gate.release(g - n)
			}
			return n > 0 || aerr != unix.EAGAIN
		})
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				p.log.Error("listener failed", "service", s.key, "err", err)
			}
			return
		}
		for i := range n {
			c := &conn{s: s, cfd: fds[i], sfd: -1, client: clients[i]}
			if len(held) > 0 {
				held = append(held, c)
				continue
			}
			if err := s.start(c); err != nil {
				held = append(held, c)
				aerr = err
			}
		}
		if full {
			continue
		}
		if aerr != nil && aerr != unix.EAGAIN {
			if !pause(aerr) {
				return
			}
			continue
		}
		backoff = 0
	}
}

// startHeld starts the held clients in order; it returns those still
// waiting and the error that stopped it.
func (s *service) startHeld(held []*conn) ([]*conn, error) {
	for i, c := range held {
		c.attempts = 0 // a missing descriptor is no failed real
		if err := s.start(c); err != nil {
			return held[i:], err
		}
	}
	return held[:0], nil
}

// start hands an accepted connection to a relay loop once a connect to a
// real has begun. A client that cannot be served is reset, as close to
// IPVS's answer for "no destination" as a proxy gets. Out of descriptors
// for the real's socket it returns the error and leaves c to the caller.
func (s *service) start(c *conn) error {
	p := s.p
	ok, err := s.dial(c, nil)
	if err != nil {
		return err
	}
	if ok && p.loopFor().push(c) {
		return nil
	}
	if ok { // the proxy is closing
		sockcall.Close(c.sfd)
		c.sfd = -1
	} else {
		s.stats.refusedNoReal.Add(1)
	}
	c.discard()
	return nil
}

// dial schedules a real for c and starts a non-blocking connect to it. A
// connection asks the scheduler at most twice: a connect that fails (here
// at once, or later in the loop) is retried once without the failed real
// (IPVS cannot: it forwards the SYN and never learns). False when no
// connect could be started; then err is set when the cause was a shortage
// of descriptors or memory rather than the reals.
func (s *service) dial(c *conn, skip *real) (bool, error) {
	p := s.p
	for c.attempts < 2 {
		c.attempts++
		e, tp := s.schedule(c.client.Addr(), skip)
		if e == nil {
			p.rl.warn("no real server available: connection reset", s.key, "client", c.client)
			return false, nil
		}
		fd, err := connectTo(e.r)
		if err == nil {
			c.r, c.tp, c.sfd, c.state, c.started = e.r, tp, fd, stConnecting, p.clock()
			return true, nil
		}
		s.release(tp)
		if isShortage(err) {
			return false, err
		}
		p.rl.warn("connect to real server failed", s.key, "real", e.r.key, "client", c.client, "err", err)
		skip = e.r
	}
	return false, nil
}

// isShortage tells a local lack of descriptors or memory from a failure
// of the real.
func isShortage(err error) bool {
	return err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM
}

// connectTo opens a non-blocking socket and starts connecting it to r; the
// relay loop learns the outcome from the socket becoming writable.
func connectTo(r *real) (int, error) {
	fd, err := sockcall.Socket(r.sa.Family())
	if err != nil {
		return -1, err
	}
	// As net.Dial does: a relay writes what it has just read, and Nagle
	// would hold small replies back for an ACK.
	sockcall.SetInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	switch err := sockcall.Connect(fd, &r.sa); err {
	case nil, unix.EINPROGRESS, unix.EINTR: // EINTR: the connect goes on asynchronously
		return fd, nil
	default:
		sockcall.Close(fd)
		return -1, err
	}
}

// sockaddrFor fills r's raw socket address (read-only afterwards, so
// connects from any goroutine share it without allocating). A zone that
// names no interface leaves the address without one, and its connects
// fail.
func (r *real) sockaddrFor(ap netip.AddrPort) {
	r.sa, _ = sockcall.AddrOf(ap)
}
