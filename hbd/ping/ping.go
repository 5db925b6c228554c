// Package ping watches Heartbeat's ping nodes (`ping HOST`, `ping6 HOST`,
// `ping_group NAME HOST...`): ICMP echo every keepalive, a node dead after
// deadping without a reply, a group alive while any member answers. The
// count of reachable ping nodes is what ipfail compared between the two
// directors; hbd does that comparison itself (see rm).
package ping

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Target is one ping node or ping group as cl_status lists it.
type Target struct {
	Name  string // host as written, or the group name
	Addrs []netip.Addr
}

// Status is one target's state.
type Status struct {
	Name string
	Up   bool
}

// Conn sends echo requests and reads replies; icmpConn wraps the real
// sockets, tests use an in-memory one.
type Conn interface {
	Send(dst netip.Addr, id, seq int) error
	// Read returns the source of one echo reply with our id, or an error
	// (a deadline or a closed socket).
	Read(deadline time.Time, id int) (netip.Addr, error)
	Close() error
}

// Pinger watches the targets.
type Pinger struct {
	targets  []Target
	interval time.Duration
	deadping time.Duration
	conn     Conn
	id       int
	log      *slog.Logger
	now      func() time.Time

	mu    sync.Mutex
	last  map[netip.Addr]time.Time
	start time.Time
}

// New builds a Pinger over conn (Open gives the real one).
func New(targets []Target, interval, deadping time.Duration, conn Conn, log *slog.Logger) *Pinger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pinger{targets: targets, interval: interval, deadping: deadping, conn: conn,
		id: os.Getpid() & 0xffff, log: log, now: time.Now, last: map[netip.Addr]time.Time{}}
}

// Run pings until ctx ends.
func (p *Pinger) Run(ctx context.Context) {
	p.mu.Lock()
	p.start = p.now()
	p.mu.Unlock()
	go func() {
		for ctx.Err() == nil {
			src, err := p.conn.Read(time.Now().Add(200*time.Millisecond), p.id)
			if err != nil {
				continue
			}
			p.mu.Lock()
			p.last[src] = p.now()
			p.mu.Unlock()
		}
	}()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	prev := map[string]bool{}
	for seq := 1; ; seq++ {
		for _, tg := range p.targets {
			for _, a := range tg.Addrs {
				if err := p.conn.Send(a, p.id, seq&0xffff); err != nil {
					p.log.Debug("ping send failed", "node", tg.Name, "addr", a, "err", err)
				}
			}
		}
		for _, s := range p.Status() {
			if was, seen := prev[s.Name]; !seen || was != s.Up {
				if s.Up {
					p.log.Info(fmt.Sprintf("Ping node %s is up.", s.Name), "node", s.Name)
				} else if seen {
					p.log.Warn(fmt.Sprintf("Ping node %s is dead.", s.Name), "node", s.Name)
				}
				prev[s.Name] = s.Up
			}
		}
		select {
		case <-ctx.Done():
			p.conn.Close()
			return
		case <-t.C:
		}
	}
}

// Status reports each target. A target that has never answered counts as
// up until deadping has passed since start (Heartbeat gives ping nodes the
// same grace as other nodes).
func (p *Pinger) Status() []Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	out := make([]Status, 0, len(p.targets))
	for _, tg := range p.targets {
		up := false
		for _, a := range tg.Addrs {
			if t, ok := p.last[a]; ok && now.Sub(t) <= p.deadping {
				up = true
			}
		}
		if !up && !p.start.IsZero() && now.Sub(p.start) <= p.deadping {
			up = true
		}
		out = append(out, Status{Name: tg.Name, Up: up})
	}
	return out
}

// Reachable counts targets up, out of total.
func (p *Pinger) Reachable() (up, total int) {
	for _, s := range p.Status() {
		if s.Up {
			up++
		}
	}
	return up, len(p.targets)
}

// icmpConn is the real Conn: raw ICMP sockets for IPv4 and IPv6 (root).
type icmpConn struct {
	c4, c6 *icmp.PacketConn
	mu     sync.Mutex
	rbuf   []byte
	which  int
}

// Open opens the ICMP sockets the targets need.
func Open(targets []Target) (Conn, error) {
	c := &icmpConn{rbuf: make([]byte, 1500)}
	var need4, need6 bool
	for _, t := range targets {
		for _, a := range t.Addrs {
			if a.Is4() {
				need4 = true
			} else {
				need6 = true
			}
		}
	}
	var err error
	if need4 {
		if c.c4, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0"); err != nil {
			return nil, fmt.Errorf("ICMP socket for ping nodes: %w", err)
		}
	}
	if need6 {
		if c.c6, err = icmp.ListenPacket("ip6:ipv6-icmp", "::"); err != nil {
			if c.c4 != nil {
				c.c4.Close()
			}
			return nil, fmt.Errorf("ICMPv6 socket for ping nodes: %w", err)
		}
	}
	return c, nil
}

func (c *icmpConn) Send(dst netip.Addr, id, seq int) error {
	var typ icmp.Type = ipv4.ICMPTypeEcho
	conn := c.c4
	if dst.Is6() && !dst.Is4In6() {
		typ, conn = ipv6.ICMPTypeEchoRequest, c.c6
	}
	if conn == nil {
		return fmt.Errorf("no ICMP socket for %s", dst)
	}
	b, err := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("hbd ping node")}}).Marshal(nil)
	if err != nil {
		return err
	}
	_, err = conn.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

// Read alternates between the two sockets so neither starves.
func (c *icmpConn) Read(deadline time.Time, id int) (netip.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conns := []*icmp.PacketConn{c.c4, c.c6}
	c.which ^= 1
	conn := conns[c.which]
	proto := 1
	if c.which == 1 {
		proto = 58
	}
	if conn == nil {
		conn, proto = conns[c.which^1], map[bool]int{true: 1, false: 58}[c.which == 1]
	}
	if conn == nil {
		time.Sleep(time.Until(deadline))
		return netip.Addr{}, fmt.Errorf("no ICMP socket")
	}
	conn.SetReadDeadline(deadline)
	n, from, err := conn.ReadFrom(c.rbuf)
	if err != nil {
		return netip.Addr{}, err
	}
	m, err := icmp.ParseMessage(proto, c.rbuf[:n])
	if err != nil {
		return netip.Addr{}, err
	}
	echo, ok := m.Body.(*icmp.Echo)
	if !ok || (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) || echo.ID != id {
		return netip.Addr{}, fmt.Errorf("not our echo reply")
	}
	ip, ok := from.(*net.IPAddr)
	if !ok {
		return netip.Addr{}, fmt.Errorf("unexpected source %v", from)
	}
	a, _ := netip.AddrFromSlice(ip.IP)
	return a.Unmap(), nil
}

func (c *icmpConn) Close() error {
	if c.c4 != nil {
		c.c4.Close()
	}
	if c.c6 != nil {
		c.c6.Close()
	}
	return nil
}
