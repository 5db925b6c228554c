package check

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"lvsha/ldird/sockcall"
)

// rawConn is a TCP connection made with a bare non-blocking socket: what
// net.Dialer would do, without what a one-shot check never needs (address
// parsing, keepalive and TCP_NODELAY options, local and peer address
// look-ups). The socket joins the runtime's poller only when it has to
// wait, so a check that never waits (a connect to a near real) costs
// socket(2), connect(2), a poll(2) that does not wait, and close(2). The
// calls are raw ones (ldird/sockcall): none of them blocks. Every wait ends at
// the deadline, or when ctx ends (Remove and Stop cancel it).
type rawConn struct {
	fd       int
	f        *os.File // the socket in the poller, once registered
	rc       syscall.RawConn
	ctx      context.Context
	deadline time.Time
	stop     func() bool // ends the cancellation hook
	real     *realCtx    // or this one
	// pending: connect(2) said EINPROGRESS and the handshake has not been
	// seen to complete yet.
	pending bool
	// pool, when the socket came from a Runner's check: where it goes
	// back after a reply the real closed (closeAfterReply); family is
	// the socket's. set is the batch's wait set the socket is in.
	pool   *sockPool
	family int
	set    *waitSet
}

// dialRaw starts a TCP connection to ap; the handshake may still be in
// progress when it returns (see pending). deadline bounds every later
// wait; ctx's own deadline applies when earlier.
func dialRaw(ctx context.Context, ap netip.AddrPort, deadline time.Time) (*rawConn, error) {
	sa, err := sockcall.AddrOf(ap)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var pool *sockPool
	if rc, ok := ctx.(*realCtx); ok {
		pool = rc.socks
	}
	fd, ok := -1, false
	if pool != nil {
		fd, ok = pool.get(sa.Family())
	}
	if !ok {
		var err error
		if fd, err = sockcall.Socket(sa.Family()); err != nil {
			return nil, os.NewSyscallError("socket", err)
		}
	}
	c := &rawConn{fd: fd, ctx: ctx, deadline: deadline, pool: pool, family: sa.Family()}
	switch err := sockcall.Connect(fd, &sa); {
	case err == nil:
	case errors.Is(err, unix.EINPROGRESS), errors.Is(err, unix.EINTR):
		c.pending = true
	default:
		sockcall.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	return c, nil
}

// register puts the socket into the runtime's poller (once) with the
// deadline and ctx's cancellation.
func (c *rawConn) register() error {
	if c.f != nil {
		return nil
	}
	c.f = os.NewFile(uintptr(c.fd), "check") // non-blocking: uses the poller
	_ = c.f.SetDeadline(c.deadline)
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	c.rc = rc
	f := c.f
	if rc, ok := c.ctx.(*realCtx); ok && rc.waitOn(fileWaiter{f}) {
		c.real = rc // the Runner's context: cheap to hook
		return nil
	}
	c.stop = context.AfterFunc(c.ctx, func() { _ = f.SetDeadline(time.Unix(1, 0)) })
	return nil
}

// waitErr turns the poller's error into the check's: a cancellation
// (Remove, Stop) reads as such, a deadline as os.ErrDeadlineExceeded
// ("i/o timeout").
func (c *rawConn) waitErr(err error) error {
	if cerr := c.ctx.Err(); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
		return cerr
	}
	return err
}

// established waits for the handshake to complete, if it has not.
func (c *rawConn) established() error {
	if !c.pending {
		return nil
	}
	// On loopback and near reals the handshake is complete already.
	if connected(c.fd) {
		c.pending = false
		return nil
	}
	return c.waitConnected()
}

// waitConnected waits in the poller for a handshake that was not
// complete when last looked at.
func (c *rawConn) waitConnected() error {
	if err := c.register(); err != nil {
		return err
	}
	// The callback asks before the first wait too: the poller forgets a
	// readiness it saw before the wait began (internal/poll's
	// prepareWrite), so a wait that did not ask first could miss a
	// handshake completed just now, until the deadline.
	var cerr error
	werr := c.rc.Write(func(fd uintptr) bool {
		switch err := sockcall.SoError(int(fd)); {
		case err != nil:
			cerr = os.NewSyscallError("connect", err)
		case !connected(int(fd)):
			return false // woken early: keep waiting
		}
		return true
	})
	if werr != nil {
		return c.waitErr(werr)
	}
	if cerr == nil {
		c.pending = false
	}
	return cerr
}

// Write writes all of b. On a connection still being made it writes at
// once all the same: the kernel says EAGAIN while the handshake is on
// (then it is waited for) and the connect's error when it failed, so a
// near real costs no separate look at the handshake.
func (c *rawConn) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := sockcall.Write(c.fd, b[done:])
		if n > 0 {
			done += n
			c.pending = false
		}
		switch {
		case err == nil:
			continue
		case !errors.Is(err, unix.EAGAIN) && c.pending:
			return done, os.NewSyscallError("connect", err)
		case !errors.Is(err, unix.EAGAIN):
			return done, os.NewSyscallError("write", err)
		case c.pending:
			if err := c.established(); err != nil {
				return done, err
			}
			continue
		}
		if err := c.register(); err != nil {
			return done, err
		}
		var werr error
		if err := c.rc.Write(func(fd uintptr) bool {
			n, werr = sockcall.Write(int(fd), b[done:])
			if errors.Is(werr, unix.EAGAIN) {
				return false
			}
			if n > 0 {
				done += n
			}
			return true
		}); err != nil {
			return done, c.waitErr(err)
		}
		if werr != nil {
			return done, os.NewSyscallError("write", werr)
		}
	}
	return done, nil
}

// Read reads into b, waiting in the poller for data. It returns io.EOF
// at the end of the stream.
func (c *rawConn) Read(b []byte) (int, error) {
	if err := c.register(); err != nil {
		return 0, err
	}
	var n int
	var rerr error
	if err := c.rc.Read(func(fd uintptr) bool {
		// Ask before any wait (see established).
		n, rerr = sockcall.Read(int(fd), b)
		return !errors.Is(rerr, unix.EAGAIN)
	}); err != nil {
		return 0, c.waitErr(err)
	}
	switch {
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr)
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// closeAfterReply closes a connection whose reply has been read whole:
// when the real has closed its side too (eof, or a last read says so),
// with a reset instead of a FIN. The real's application has closed its
// socket already and sees nothing; its kernel drops the connection
// instead of keeping it in TIME_WAIT, and on loopback, where the checker
// is charged for both ends, that saves about a tenth of an http check's CPU.
// A Runner's socket that only ever waited in a wait set then goes back to
// the Runner's pool (sockPool), out of the set first.
func (c *rawConn) closeAfterReply(eof bool) error {
	if !eof {
		var b [1]byte
		n, err := sockcall.Read(c.fd, b[:])
		eof = n == 0 && err == nil
	}
	switch {
	case eof && c.pool != nil && c.f == nil:
		if c.set != nil {
			_ = unix.EpollCtl(c.set.ep, unix.EPOLL_CTL_DEL, c.fd, nil)
		}
		c.pool.release(c.family, c.fd)
		return nil
	case eof:
		_ = sockcall.NoLinger(c.fd)
	}
	return c.Close()
}

// Close closes the socket and ends the cancellation hook.
func (c *rawConn) Close() error {
	if c.stop != nil {
		c.stop()
	}
	if c.real != nil {
		c.real.waitOff(fileWaiter{c.f})
	}
	if c.f != nil {
		return c.f.Close()
	}
	return sockcall.Close(c.fd)
}

// connected reports whether the socket's connect has completed (writable
// and no error pending; a refused connect shows as POLLERR/POLLHUP and is
// read from SO_ERROR after the wait).
func connected(fd int) bool {
	return pollOut(fd)&(unix.POLLOUT|unix.POLLERR|unix.POLLHUP) == unix.POLLOUT
}

// handshake reports whether the socket's connect has ended, and how: nil
// when it is connected, the connect's error (SO_ERROR) when it failed.
func handshake(fd int) (done bool, err error) {
	switch ev := pollOut(fd); {
	case ev&(unix.POLLERR|unix.POLLHUP) != 0:
		return true, soError(fd)
	case ev&unix.POLLOUT != 0:
		return true, nil
	}
	return false, nil
}

// pollOut is poll(2) for POLLOUT without a wait: the events seen (0 when
// none, or when poll failed).
func pollOut(fd int) int16 {
	p := unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT}
	var ts unix.Timespec // no wait
	n, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&p)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if e != 0 || n != 1 {
		return 0
	}
	return p.Revents
}
