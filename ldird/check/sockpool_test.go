package check

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/ldird/sockcall"
)

// pooled is how many sockets of family p keeps.
func (p *sockPool) pooled(family int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.fds[poolIndex(family)])
}

// kept is the socket of family p would hand out next (-1: none).
func (p *sockPool) kept(family int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	fds := p.fds[poolIndex(family)]
	if len(fds) == 0 {
		return -1
	}
	return fds[len(fds)-1]
}

// TestHTTPSocketReuse: an http check whose real closed its side after the
// reply gives its socket back to the Runner's pool; the next check, to
// another real, connects on that socket and gets its reply. A real that
// keeps its connection open is closed with a FIN, and its socket is not
// kept. Stop closes the kept sockets.
func TestHTTPSocketReuse(t *testing.T) {
	var seenA, seenB atomic.Int32
	serve := func(seen *atomic.Int32) func(net.Conn, *bufio.Reader) {
		return func(c net.Conn, rd *bufio.Reader) {
			if _, err := readHead(rd); err != nil {
				return
			}
			seen.Add(1)
			c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nstatus: ok\n")) // then closes
		}
	}
	a, b := lineServer(t, serve(&seenA)), lineServer(t, serve(&seenB))
	held := make(chan error, 1)
	keeps := lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		if _, err := readHead(rd); err != nil {
			return
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nstatus: ok\n"))
		_, err := rd.ReadByte()
		held <- err
	})
	r := NewRunner(RunnerOptions{})
	stopped := false
	defer func() {
		if !stopped {
			r.Stop()
		}
	}()
	c := mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/", Receive: "status: ok", NegotiateTimeout: 5 * time.Second})
	check := func(key string, tg Target) Result {
		t.Helper()
		w := checkWorker(r, key, tg, c)
		runBatch(&r.sched, []*worker{w})
		w.inflight.Wait()
		if !w.last.OK {
			t.Fatalf("%s: %+v, want up", key, w.last)
		}
		return w.last
	}
	check("a", a)
	if n := r.socks.pooled(unix.AF_INET); n != 1 {
		t.Fatalf("after a reply the real closed: %d sockets kept, want 1", n)
	}
	first := r.socks.kept(unix.AF_INET)
	check("b", b)
	// Had the second check made a socket of its own, the first would
	// still be kept beside it.
	if n, fd := r.socks.pooled(unix.AF_INET), r.socks.kept(unix.AF_INET); n != 1 || fd != first {
		t.Fatalf("after the second check: %d sockets kept, the next %d; want the first check's socket (%d) alone: the second connects on it", n, fd, first)
	}
	if seenA.Load() != 1 || seenB.Load() != 1 {
		t.Fatalf("requests seen: a %d, b %d; want one each", seenA.Load(), seenB.Load())
	}
	check("keeps", keeps) // takes the kept socket, and does not give it back
	select {
	case err := <-held:
		if err != io.EOF {
			t.Errorf("the real that kept its connection saw it end with %v, want a FIN (EOF)", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the connection the real kept open was not closed")
	}
	if n := r.socks.pooled(unix.AF_INET); n != 0 {
		t.Fatalf("after a check closed with a FIN: %d sockets kept, want 0", n)
	}
	check("a again", a)
	fd := r.socks.kept(unix.AF_INET)
	r.Stop()
	stopped = true
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("a kept socket after Stop: fcntl says %v, want EBADF (closed)", err)
	}
}

// TestSockPoolBounds: the pool keeps at most sockPoolMax sockets of a
// family and closes the others; once closed it keeps none.
func TestSockPoolBounds(t *testing.T) {
	var p sockPool
	defer p.close()
	socket := func() int {
		fd, err := sockcall.Socket(unix.AF_INET)
		if err != nil {
			t.Fatal(err)
		}
		return fd
	}
	open := func(fd int) bool {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		return err == nil
	}
	for range sockPoolMax {
		p.release(unix.AF_INET, socket())
	}
	extra := socket()
	p.release(unix.AF_INET, extra)
	if n := p.pooled(unix.AF_INET); n != sockPoolMax {
		t.Fatalf("%d kept, want %d", n, sockPoolMax)
	}
	if open(extra) {
		t.Error("the socket past the bound was kept open")
	}
	if fd, ok := p.get(unix.AF_INET6); ok {
		t.Errorf("an IPv6 socket from a pool of IPv4 ones: %d", fd)
	}
	p.close()
	late := socket()
	p.release(unix.AF_INET, late)
	if open(late) || p.pooled(unix.AF_INET) != 0 {
		t.Error("a closed pool kept a socket")
	}
}

// TestPendingCheckLeave: a check whose rest goes on elsewhere leaves the
// batch's wait set first, so that its socket, should it go back to the
// pool, is in no set (the set may be closed and its number reused by
// then).
func TestPendingCheckLeave(t *testing.T) {
	tg := lineServer(t, func(c net.Conn, rd *bufio.Reader) { io.Copy(io.Discard, rd) }) // never answers
	r := NewRunner(RunnerOptions{})
	defer r.Stop()
	w := inFlight(checkWorker(r, "leaves", tg, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/", NegotiateTimeout: 5 * time.Second})))
	x, ok := w.quick().begin(w.ctx, w.cfg.Target).wait.(*httpExchange)
	if !ok {
		t.Fatal("begin: the exchange does not wait for its reply")
	}
	defer func() { x.stop(context.Canceled); w.inflight.Done() }()
	s, err := newWaitSet()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	ev := unix.EpollEvent{Events: x.events()}
	if err := unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, x.conn.fd, &ev); err != nil {
		t.Fatal(err)
	}
	x.conn.set = s
	p := pendingCheck{w: w, c: x}
	p.leave()
	if x.conn.set != nil {
		t.Error("the socket still names the wait set it left")
	}
	if err := unix.EpollCtl(s.ep, unix.EPOLL_CTL_DEL, x.conn.fd, nil); !errors.Is(err, unix.ENOENT) {
		t.Errorf("the socket after leave: EPOLL_CTL_DEL says %v, want ENOENT (not in the set)", err)
	}
}
