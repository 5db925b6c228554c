package check

import (
	"sync"

	"golang.org/x/sys/unix"

	"lvsha/ldird/sockcall"
)

// sockPool keeps a Runner's check sockets between checks. An http check
// whose real has closed its side ends with a reset; instead of close(2)
// with SO_LINGER 0, its connection is dissolved with connect(2) to
// AF_UNSPEC (the same reset) and the socket waits here for the next
// check's connect. That saves socket(2) and close(2), and with them the
// kernel's making and freeing of a socket, its inode and its file: at
// 10,000 http checks a second on loopback, 5.6 points of a core (47.4 →
// 41.8 %, with and without the pool in turn every 2 s in one process for
// 4 minutes; bench/results/2026-12-08-sockpool.txt). The real sees what
// it saw before: a connection from a new port, reset once the reply is
// read. Only sockets the runtime's poller never took come here (an
// os.File owns the others).
type sockPool struct {
	mu     sync.Mutex
	fds    [2][]int // by family: AF_INET, AF_INET6
	closed bool
}

// sockPoolMax bounds the sockets kept per family: two batches' worth.
const sockPoolMax = 2 * quickBatch

func poolIndex(family int) int {
	if family == unix.AF_INET6 {
		return 1
	}
	return 0
}

// get is a disconnected socket of family, if one is kept.
func (p *sockPool) get(family int) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fds := p.fds[poolIndex(family)]
	n := len(fds)
	if n == 0 {
		return -1, false
	}
	fd := fds[n-1]
	p.fds[poolIndex(family)] = fds[:n-1]
	return fd, true
}

// release ends fd's connection with a reset and keeps the socket, or
// closes it when the pool is full or closed (or the disconnect failed:
// then with SO_LINGER 0, for the same reset).
func (p *sockPool) release(family, fd int) {
	if err := sockcall.Disconnect(fd); err != nil {
		sockcall.Reset(fd)
		return
	}
	p.mu.Lock()
	i := poolIndex(family)
	if !p.closed && len(p.fds[i]) < sockPoolMax {
		p.fds[i] = append(p.fds[i], fd)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	sockcall.Close(fd) // disconnected: nothing left to send
}

// close closes the kept sockets; later ones are closed as they come.
func (p *sockPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for i, fds := range p.fds {
		for _, fd := range fds {
			sockcall.Close(fd)
		}
		p.fds[i] = nil
	}
}
