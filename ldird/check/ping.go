package check

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pingChecker is checktype=ping (Net::Ping "icmp"): up to checkcount echo
// requests, each waiting checktimeout; any echo reply means up.
type pingChecker struct {
	b       *base
	timeout time.Duration
	id      uint16
	seq     atomic.Uint32
}

func newPing(b *base, timeout time.Duration) *pingChecker {
	var buf [2]byte
	_, _ = rand.Read(buf[:])
	return &pingChecker{b: b, timeout: timeout, id: uint16(buf[0])<<8 | uint16(buf[1])}
}

func (p *pingChecker) Check(ctx context.Context, real Target) Result {
	start := time.Now()
	if !real.IP.IsValid() {
		return finish(start, errors.New("ping: real server has no IP address"), "")
	}
	var err error
	for attempt := 0; attempt < p.b.spec.CheckCount; attempt++ {
		if err = p.once(ctx, real.IP.Unmap()); err == nil {
			return finish(start, nil, "echo reply")
		}
		if ctx.Err() != nil {
			break
		}
	}
	return finish(start, fmt.Errorf("ping %s: %w", real.IP, err), "")
}

// listenICMP prefers an unprivileged ICMP datagram socket (the kernel then
// filters replies for us) and falls back to a raw socket (needs CAP_NET_RAW).
func listenICMP(v6 bool) (*icmp.PacketConn, bool, error) {
	dgram, raw, laddr := "udp4", "ip4:icmp", "0.0.0.0"
	if v6 {
		dgram, raw, laddr = "udp6", "ip6:ipv6-icmp", "::"
	}
	if c, err := icmp.ListenPacket(dgram, laddr); err == nil {
		return c, true, nil
	}
	c, err := icmp.ListenPacket(raw, laddr)
	if err != nil {
		return nil, false, fmt.Errorf("open ICMP socket (needs net.ipv4.ping_group_range or CAP_NET_RAW): %w", err)
	}
	return c, false, nil
}

func (p *pingChecker) once(ctx context.Context, ip netip.Addr) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	v6 := ip.Is6()
	conn, dgram, err := listenICMP(v6)
	if err != nil {
		return err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	seq := int(uint16(p.seq.Add(1)))
	var typ, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1
	if v6 {
		typ, replyType, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	payload := make([]byte, 56) // Net::Ping sends 64-byte packets by default here
	_, _ = rand.Read(payload[:8])
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(p.id), Seq: seq, Data: payload}}
	wb, err := msg.Marshal(nil)
	if err != nil {
		return fmt.Errorf("marshal echo: %w", err)
	}
	var dst net.Addr = &net.IPAddr{IP: ip.AsSlice()}
	if dgram {
		dst = &net.UDPAddr{IP: ip.AsSlice()}
	}
	if _, err := conn.WriteTo(wb, dst); err != nil {
		return fmt.Errorf("send echo: %w", err)
	}
	rb := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(rb)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("no echo reply: %w", ctx.Err())
			}
			return fmt.Errorf("read: %w", err)
		}
		if !sameIP(from, ip) {
			continue
		}
		m, err := icmp.ParseMessage(proto, rb[:n])
		if err != nil || m.Type != replyType {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		// Datagram sockets rewrite the ID to the local port; match seq+data.
		if !ok || echo.Seq != seq || (!dgram && echo.ID != int(p.id)) || len(echo.Data) < 8 || string(echo.Data[:8]) != string(payload[:8]) {
			continue
		}
		return nil
	}
}

func sameIP(a net.Addr, ip netip.Addr) bool {
	var got net.IP
	switch v := a.(type) {
	case *net.IPAddr:
		got = v.IP
	case *net.UDPAddr:
		got = v.IP
	default:
		return false
	}
	g, ok := netip.AddrFromSlice(got)
	return ok && g.Unmap() == ip
}
