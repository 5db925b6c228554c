package check

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connWait is a connect check whose handshake was still under way when
// begin looked: a real a round trip away (on a LAN, most of them), a
// lost SYN, a slow refusal.
type connWait struct {
	conn  *rawConn
	start time.Time
	ap    netip.AddrPort
}

// result is the check's result once its wait ended with err.
func (c *connWait) result(err error) Result {
	if err != nil {
		return finish(c.start, fmt.Errorf("connect tcp/%s: %w", c.ap, err), "")
	}
	return finish(c.start, nil, "connected")
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
	c       *connWait
	initial bool
	rc      *realCtx // the real's context, which interrupts set when cancelled
	set     *waitSet
	done    bool
}

// The waits of a batch go into one wait set: an epoll instance of their
// own, watched by one goroutine, which ends each check as its socket
// becomes writable (connected) or fails, at its deadline, or when its
// real is removed. Waiting in the runtime's poller instead cost each
// check a goroutine, an os.File (fcntl(2) and two epoll_ctl(2)), a timer
// and two more looks at the socket: on a LAN, where most connects wait,
// a sixth of ldird's CPU. Here a wait costs one epoll_ctl(2); closing the
// socket takes it out of the set.
type waitSet struct {
	ep, wake int // the epoll instance; an eventfd that interrupts the wait
}

const wakeTag = -1 // the eventfd's tag in the epoll events

func newWaitSet() (*waitSet, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(ep)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeTag}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(ep)
		unix.Close(wake)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &waitSet{ep: ep, wake: wake}, nil
}

// interrupt wakes the wait (a real's context was cancelled). It is
// called under the realCtx's lock, so it never runs once waitOff has
// returned, and the eventfd is closed only after every waitOff.
func (s *waitSet) interrupt() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(s.wake, one[:])
}

func (s *waitSet) close() {
	unix.Close(s.ep)
	unix.Close(s.wake)
}

// waitAll ends every check of ps: each as its handshake completes or
// fails, at its deadline, or when its real's context ends.
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
		rc, ok := p.c.conn.ctx.(*realCtx)
		ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(i)}
		if !ok || unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, p.c.conn.fd, &ev) != nil {
			// Not a Runner's check, or the set is full: on its own.
			p.done = true
			p.w.r.sched.start(job{w: p.w, rest: p.c.alone, initial: p.initial})
			continue
		}
		if !rc.waitOn(s) { // removed meanwhile
			p.end(context.Canceled)
			continue
		}
		p.rc, p.set = rc, s
		left++
	}
	events := make([]unix.EpollEvent, min(len(ps)+1, quickBatch+1))
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
				switch d := p.c.conn.deadline; {
				case p.c.conn.ctx.Err() != nil:
					p.end(p.c.conn.ctx.Err())
					left--
				case !now.Before(d):
					p.end(os.ErrDeadlineExceeded)
					left--
				case next.IsZero() || d.Before(next):
					next = d
				}
			}
			scan = false
			if left == 0 {
				break
			}
		}
		msec := int((time.Until(next) + time.Millisecond - 1) / time.Millisecond)
		n, err := unix.EpollWait(s.ep, events, max(msec, 0))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			// Cannot happen with a valid instance and buffer; should it,
			// the checks still end, each on its own.
			for i := range ps {
				if p := &ps[i]; !p.done {
					p.unhook()
					p.done = true
					p.w.r.sched.start(job{w: p.w, rest: p.c.alone, initial: p.initial})
				}
			}
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == wakeTag {
				var b [8]byte
				_, _ = unix.Read(s.wake, b[:])
				scan = true
				continue
			}
			p := &ps[ev.Fd]
			if p.done {
				continue
			}
			var err error
			if ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				err = soError(p.c.conn.fd)
			}
			p.end(err)
			left--
		}
	}
}

// soError is a failed handshake's error, from SO_ERROR.
func soError(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		return os.NewSyscallError("getsockopt", err)
	case v != 0:
		return os.NewSyscallError("connect", syscall.Errno(v))
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

// end closes p's socket (which takes it out of the wait set) and reports
// its result.
func (p *pendingCheck) end(err error) {
	p.done = true
	p.unhook()
	closeRaw(p.c.conn.fd)
	p.w.report(p.c.result(err), p.initial)
	p.w.done()
}
