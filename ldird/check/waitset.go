package check

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/ldird/sockcall"
)

// waiter is a check that waits for its socket: with the other waits of
// its batch in a wait set (events, ready, stop), or on its own in the
// runtime's poller (alone). Each ends by closing its socket.
type waiter interface {
	sock() *rawConn
	// events is what to watch the socket for (epoll events).
	events() uint32
	// ready takes the socket's events: over, with res, once the check
	// has ended; or rest, the part left to do on a goroutine of its own
	// (it may block); or neither, to wait on.
	ready(events uint32) (res Result, over bool, rest func() Result)
	// stop ends the check with err: its deadline, its real removed.
	stop(err error) Result
	// alone ends the check on its own, in the runtime's poller.
	alone() Result
}

// connWait is a connect check whose handshake was still under way when
// begin looked: a real a round trip away (on a LAN, most of them), a
// lost SYN, a slow refusal.
type connWait struct {
	conn  *rawConn
	start time.Time
	ap    netip.AddrPort
}

// result is the check's result once its wait ended with err.
func (c *connWait) result(err error) Result { return connectResult(c.start, c.ap, err) }

// connectResult is a connect check's result: up when err is nil.
func connectResult(start time.Time, ap netip.AddrPort, err error) Result {
	if err != nil {
		return finish(start, fmt.Errorf("connect tcp/%s: %w", ap, err), "")
	}
	return finish(start, nil, "connected")
}

func (c *connWait) sock() *rawConn { return c.conn }

// events: writable is connected; a refusal shows as an error.
func (c *connWait) events() uint32 { return unix.EPOLLOUT }

func (c *connWait) ready(ev uint32) (Result, bool, func() Result) {
	var err error
	if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		err = soError(c.conn.fd)
	}
	return c.stop(err), true, nil
}

func (c *connWait) stop(err error) Result {
	sockcall.Close(c.conn.fd)
	return c.result(err)
}

// alone waits in the runtime's poller: a check run on its own (Check),
// or a batch's when no wait set could be made.
func (c *connWait) alone() Result {
	err := c.conn.waitConnected()
	c.conn.Close()
	return c.result(err)
}

// pendingCheck is a batch's check that waits in the batch's wait set.
type pendingCheck struct {
	w       *worker
	c       waiter
	initial bool
	rc      *realCtx // the real's context, which interrupts set when cancelled
	set     *waitSet
	done    bool
}

// The waits of a batch go into one wait set: an epoll instance of their
// own, watched by one goroutine, which moves each check on as its socket
// becomes ready (a connect check ends when it is writable or fails; an
// http check sends its request, then reads and parses the reply as it
// comes), and ends it at its deadline or when its real is removed.
// Waiting in the runtime's poller instead cost each check a goroutine, an
// os.File (fcntl(2) and two epoll_ctl(2)), a timer and two more looks at
// the socket: on a LAN, where most connects wait, a sixth of ldird's CPU. Here a wait costs one epoll_ctl(2); closing the
// socket takes it out of the set. An http check always waits (for the
// reply) and saved as much: see httpExchange.
//
// The set's own descriptor waits in the runtime's poller (an epoll
// instance is readable when one of its sockets is ready), so a batch
// that waits parks a goroutine and holds no thread: with a rack of reals
// that do not answer, hundreds of batches wait for seconds at a time.
type waitSet struct {
	ep int      // the epoll instance
	f  *os.File // ep in the runtime's poller
	rc syscall.RawConn
	// interrupted: a real's context was cancelled since the last look.
	interrupted atomic.Bool
}

func newWaitSet() (*waitSet, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		return nil, os.NewSyscallError("fcntl", err)
	}
	s := &waitSet{ep: ep, f: os.NewFile(uintptr(ep), "waitset")}
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.f.Close()
		return nil, err
	}
	return s, nil
}

// interrupt wakes the wait (a real's context was cancelled): the flag,
// then a deadline in the past. wait sets its deadline before it reads
// the flag, so the wakeup is never lost. It is called under the
// realCtx's lock, so never once waitOff has returned, and the set is
// closed only after every waitOff.
func (s *waitSet) interrupt() {
	s.interrupted.Store(true)
	_ = s.f.SetReadDeadline(time.Unix(1, 0))
}

// wait waits until a socket of the set is ready, until, or an interrupt,
// and returns the ready ones' events (none at until or on an interrupt).
func (s *waitSet) wait(events []unix.EpollEvent, until time.Time) ([]unix.EpollEvent, error) {
	if err := s.f.SetReadDeadline(until); err != nil {
		return nil, err
	}
	if s.interrupted.Swap(false) {
		return nil, nil
	}
	var n int
	var werr error
	err := s.rc.Read(func(uintptr) bool {
		n, werr = unix.EpollWait(s.ep, events, 0)
		return werr != unix.EINTR && (werr != nil || n > 0)
	})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, nil
	case err != nil:
		return nil, err
	case werr != nil:
		return nil, os.NewSyscallError("epoll_wait", werr)
	}
	return events[:n], nil
}

func (s *waitSet) close() { s.f.Close() }

// waitAll ends every check of ps: each as its socket's events take it to
// its end, at its deadline, or when its real's context ends.
func waitAll(ps []pendingCheck) {
	s, err := newWaitSet()
	if err != nil {
		// Out of descriptors or memory: each waits on its own.
		for _, p := range ps {
			p.w.r.sched.start(job{w: p.w, rest: p.c.alone, initial: p.initial})
		}
		return
	}
	defer s.close()
	left := 0
	for i := range ps {
		p := &ps[i]
		conn := p.c.sock()
		rc, ok := conn.ctx.(*realCtx)
		ev := unix.EpollEvent{Events: p.c.events(), Fd: int32(i)}
		if !ok || unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, conn.fd, &ev) != nil {
			// Not a Runner's check, or the set is full: on its own.
			p.done = true
			p.w.r.sched.start(job{w: p.w, rest: p.c.alone, initial: p.initial})
			continue
		}
		conn.set = s
		if !rc.waitOn(s) { // removed meanwhile
			p.end(p.c.stop(context.Canceled))
			continue
		}
		p.rc, p.set = rc, s
		left++
	}
	events := make([]unix.EpollEvent, min(len(ps), quickBatch))
	scan := true // look at every deadline and context
	var next time.Time
	for left > 0 {
		if scan || !time.Now().Before(next) {
			now := time.Now()
			next = time.Time{}
			for i := range ps {
				p := &ps[i]
				if p.done {
					continue
				}
				conn := p.c.sock()
				switch d := conn.deadline; {
				case conn.ctx.Err() != nil:
					p.end(p.c.stop(conn.ctx.Err()))
					left--
				case !now.Before(d):
					p.end(p.c.stop(os.ErrDeadlineExceeded))
					left--
				case next.IsZero() || d.Before(next):
					next = d
				}
			}
			if left == 0 {
				break
			}
		}
		ready, err := s.wait(events, next)
		if err != nil {
			// Cannot happen with a valid instance and buffer; should it,
			// the checks still end, each on its own.
			for i := range ps {
				if p := &ps[i]; !p.done {
					p.unhook()
					p.leave()
					p.done = true
					p.w.r.sched.start(job{w: p.w, rest: p.c.alone, initial: p.initial})
				}
			}
			return
		}
		scan = len(ready) == 0 // the deadline, or an interrupt
		for _, ev := range ready {
			p := &ps[ev.Fd]
			if p.done {
				continue
			}
			switch res, over, rest := p.c.ready(ev.Events); {
			case rest != nil:
				// The rest may block: a goroutine of its own, with the
				// real's cancellation hooked there.
				p.unhook()
				p.leave()
				p.done = true
				left--
				p.w.r.sched.start(job{w: p.w, rest: rest, initial: p.initial})
			case over:
				p.end(res)
				left--
			}
		}
	}
}

// soError is a failed handshake's error, from SO_ERROR.
func soError(fd int) error {
	if err := sockcall.SoError(fd); err != nil {
		return os.NewSyscallError("connect", err)
	}
	return os.NewSyscallError("connect", unix.ECONNRESET) // hung up without an error: reset
}

// unhook ends p's cancellation hook.
func (p *pendingCheck) unhook() {
	if p.rc != nil {
		p.rc.waitOff(p.set)
		p.rc = nil
	}
}

// leave takes p's socket out of the wait set before the rest of its check
// goes on elsewhere, where it may outlive the set: a socket given back to
// the pool (closeAfterReply) must be in no set, and the set's descriptor
// may be closed and its number taken by then.
func (p *pendingCheck) leave() {
	if conn := p.c.sock(); conn.set != nil {
		_ = unix.EpollCtl(conn.set.ep, unix.EPOLL_CTL_DEL, conn.fd, nil)
		conn.set = nil
	}
}

// end reports the result of p, whose socket is closed (which took it out
// of the wait set).
func (p *pendingCheck) end(res Result) {
	p.done = true
	p.unhook()
	p.w.report(res, p.initial)
	p.w.done()
}
