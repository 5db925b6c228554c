package check

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"
)

// connectChecker is checktype=connect: a TCP connect within checktimeout.
// ldirectord's _check_real runs a ping instead for UDP virtual services (a
// UDP connect() sends nothing), and fwm services connect over TCP.
type connectChecker struct {
	// What every check reads, copied out of b: at 10,000 reals each
	// checker is cold by its next check, and b's protocol, ports and
	// timeout lie on three cache lines of their own.
	udp     bool
	port    uint16 // checkport, or 0
	timeout time.Duration
	b       *base
	ping    *pingChecker
}

func newConnect(b *base) (*connectChecker, error) {
	return &connectChecker{udp: b.spec.Protocol == "udp", port: b.checkPort(),
		timeout: b.connectTimeout, b: b, ping: newPing(b, b.connectTimeout)}, nil
}

func (c *connectChecker) Check(ctx context.Context, real Target) Result {
	return checkQuick(c, ctx, real)
}

// begin is the connect check up to its first wait: socket(2),
// connect(2) and a look at the socket (poll(2)), which on loopback and
// near reals shows the handshake complete (or refused). Only a handshake
// still under way (a far real, a lost SYN) is left to wait (connWait).
// (Looking at a whole batch of sockets with one poll(2) saved the calls
// but cost more: by then each socket had gone cold in the cache.)
func (c *connectChecker) begin(ctx context.Context, real Target) quickStart {
	if c.udp {
		return quickStart{rest: func() Result { return c.ping.Check(ctx, real) }}
	}
	start := time.Now()
	if !real.IP.IsValid() {
		return quickStart{res: finish(start, errors.New("real server has no IP address"), "")}
	}
	port, err := portOf(c.port, real, c.b)
	if err != nil {
		return quickStart{res: finish(start, err, "")}
	}
	ap := netip.AddrPortFrom(real.IP, port)
	conn, err := dialRaw(ctx, ap, start.Add(c.timeout))
	if err != nil {
		return quickStart{res: connectResult(start, ap, err)}
	}
	if conn.pending {
		done, err := handshake(conn.fd)
		if !done {
			// A real on a LAN is here: its SYN-ACK is a round trip away.
			return quickStart{wait: &connWait{conn: conn, start: start, ap: ap}}
		}
		conn.Close()
		return quickStart{res: connectResult(start, ap, err)}
	}
	conn.Close()
	return quickStart{res: connectResult(start, ap, nil)}
}

// combined is ldirectord's checktype=N: the first check is a negotiate; after
// a successful negotiate, N connect checks follow; a failed connect forces the
// next check to be a negotiate. State is kept per real (num_connects).
type combined struct {
	neg, conn Checker
	n         int
	mu        sync.Mutex
	count     map[Target]int // connects done since the last good negotiate
}

func newCombined(neg, conn Checker, n int) *combined {
	return &combined{neg: neg, conn: conn, n: n, count: make(map[Target]int)}
}

// forceNegotiate is ldirectord's 999999.
const forceNegotiate = int(^uint(0) >> 1)

func (c *combined) Check(ctx context.Context, real Target) Result {
	c.mu.Lock()
	k, seen := c.count[real]
	if !seen {
		k = forceNegotiate
	}
	c.mu.Unlock()
	if k >= c.n {
		r := c.neg.Check(ctx, real)
		c.mu.Lock()
		if r.OK {
			c.count[real] = 0
		} else {
			c.count[real] = forceNegotiate
		}
		c.mu.Unlock()
		return r
	}
	r := c.conn.Check(ctx, real)
	c.mu.Lock()
	if r.OK {
		c.count[real] = k + 1
	} else {
		c.count[real] = forceNegotiate
	}
	c.mu.Unlock()
	return r
}

// Forget drops the per-real state of a combined checker (used when a real is
// removed so a long-lived checker does not grow).
func (c *combined) Forget(real Target) {
	c.mu.Lock()
	delete(c.count, real)
	c.mu.Unlock()
}
