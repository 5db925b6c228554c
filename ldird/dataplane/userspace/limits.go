package userspace

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// gate counts connections against a limit (HAProxy's maxconn): one per
// service and one for the whole proxy. Slots are taken with a CAS, so the
// limit is exact however many goroutines accept at once, and released when
// a connection (UDP session) ends, which wakes whoever waits for room.
type gate struct {
	cur     atomic.Int64
	max     atomic.Int64 // 0 = no limit
	waiters atomic.Int32

	mu   sync.Mutex
	wake chan struct{} // closed (and replaced) to wake every waiter
}

func newGate(max int) *gate {
	g := &gate{wake: make(chan struct{})}
	g.max.Store(int64(max))
	return g
}

// room says whether a slot is free right now.
func (g *gate) room() bool {
	m := g.max.Load()
	return m <= 0 || g.cur.Load() < m
}

// take reserves up to n slots and returns how many it got (0 at the limit).
func (g *gate) take(n int) int {
	for {
		cur, m := g.cur.Load(), g.max.Load()
		k := int64(n)
		if m > 0 {
			k = min(k, m-cur)
		}
		if k <= 0 {
			return 0
		}
		if g.cur.CompareAndSwap(cur, cur+k) {
			return int(k)
		}
	}
}

// release returns n slots and wakes the waiters, if any.
func (g *gate) release(n int) {
	if n <= 0 {
		return
	}
	g.cur.Add(int64(-n))
	if g.waiters.Load() > 0 {
		g.broadcast()
	}
}

// setMax changes the limit; a raised one lets waiters in at once. Slots
// already taken stay taken: a lowered limit is reached as connections end.
func (g *gate) setMax(n int) {
	g.max.Store(int64(n))
	g.broadcast()
}

func (g *gate) broadcast() {
	g.mu.Lock()
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}

// wait blocks until a slot is free; false when stop closes first. The
// waiter registers before it looks, and release looks for waiters after it
// frees, so a release between the look and the wait is never missed.
func (g *gate) wait(stop <-chan struct{}) bool {
	for {
		g.waiters.Add(1)
		g.mu.Lock()
		ch := g.wake
		g.mu.Unlock()
		if g.room() {
			g.waiters.Add(-1)
			return true
		}
		select {
		case <-ch:
			g.waiters.Add(-1)
		case <-stop:
			g.waiters.Add(-1)
			return false
		}
	}
}

// waitRelease blocks until some slot is released, d passes or stop closes
// (false). Out of file descriptors, an ended connection is the moment one
// is likely free again.
func (g *gate) waitRelease(stop <-chan struct{}, d time.Duration) bool {
	g.waiters.Add(1)
	defer g.waiters.Add(-1)
	g.mu.Lock()
	ch := g.wake
	g.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-stop:
		return false
	}
	return true
}

// DefaultMaxConns is the proxy-wide connection limit when none is given:
// HAProxy's rule, derived from the file descriptor limit. A relayed TCP
// connection holds two descriptors; a quarter of the limit (at least 256,
// at most half) stays free for listeners, health checks, logs and the
// control socket, so a flood of connections cannot starve the checks and
// mark every real down.
func DefaultMaxConns() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 512
	}
	return maxConnsFor(rl.Cur)
}

func maxConnsFor(nofile uint64) int {
	n := int64(min(nofile, 1<<24)) // RLIM_INFINITY and the like
	reserve := max(n/4, min(256, n/2))
	return int(max(1, (n-reserve)/2))
}
