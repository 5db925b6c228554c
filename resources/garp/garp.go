// Package garp announces an address taken over by this node: gratuitous ARP
// for IPv4 (as Heartbeat's send_arp) and unsolicited neighbour
// advertisements for IPv6 (as resource-agents' send_ua). Frames go to a
// Conn, an AF_PACKET socket (github.com/mdlayher/packet) in service and a
// recorder in tests, so their timing and contents are tested without root.
package garp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/packet"
)

// EtherTypes used in the frames.
const (
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd
)

// ARP operations.
const (
	OpRequest = 1
	OpReply   = 2
)

var (
	// Broadcast is the destination of gratuitous ARPs.
	Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// AllNodesMAC is the Ethernet address of ff02::1.
	AllNodesMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
	allNodes    = netip.MustParseAddr("ff02::1")
)

// ARPFrame builds an Ethernet frame carrying a gratuitous ARP for ip:
// sender and target protocol address are both ip, the destination is
// broadcast. As Debian's send_arp sends them (captured): a request has an
// all-zero target hardware address, a reply has the sender's own.
func ARPFrame(op uint16, mac net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("gratuitous ARP needs a 6-byte Ethernet address, interface has %q", mac)
	}
	if !ip.Is4() {
		return nil, fmt.Errorf("gratuitous ARP needs an IPv4 address, got %s", ip)
	}
	b := make([]byte, 14+28)
	copy(b[0:6], Broadcast)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:14], EtherTypeARP)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:2], 1)      // hardware type Ethernet
	binary.BigEndian.PutUint16(a[2:4], 0x0800) // protocol IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	copy(a[8:14], mac)
	ip4 := ip.As4()
	copy(a[14:18], ip4[:])
	if op == OpReply {
		copy(a[18:24], mac)
	}
	copy(a[24:28], ip4[:])
	return b, nil
}

// NAFrame builds an Ethernet frame carrying an unsolicited neighbour
// advertisement for ip: from ip to ff02::1, hop limit 255, Override flag
// set, Solicited clear, with the target link-layer address option.
func NAFrame(mac net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("neighbour advertisement needs a 6-byte Ethernet address, interface has %q", mac)
	}
	if !ip.Is6() || ip.Is4In6() {
		return nil, fmt.Errorf("neighbour advertisement needs an IPv6 address, got %s", ip)
	}
	const icmpLen = 4 + 4 + 16 + 8 // header, flags, target, option
	b := make([]byte, 14+40+icmpLen)
	copy(b[0:6], AllNodesMAC)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:14], EtherTypeIPv6)
	h := b[14:54]
	h[0] = 6 << 4
	binary.BigEndian.PutUint16(h[4:6], icmpLen)
	h[6] = 58  // next header ICMPv6
	h[7] = 255 // hop limit: receivers drop ND with any other value
	src, dst := ip.As16(), allNodes.As16()
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])
	m := b[54:]
	m[0] = 136  // neighbour advertisement
	m[4] = 0x20 // Override
	copy(m[8:24], src[:])
	m[24], m[25] = 2, 1 // target link-layer address, 1 unit of 8 bytes
	copy(m[26:32], mac)
	binary.BigEndian.PutUint16(m[2:4], icmpv6Checksum(src, dst, m))
	return b, nil
}

func icmpv6Checksum(src, dst [16]byte, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	var pseudo [8]byte
	binary.BigEndian.PutUint32(pseudo[0:4], uint32(len(msg)))
	pseudo[7] = 58
	add(pseudo[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Conn is where frames are written; *packet.Conn satisfies it.
type Conn interface {
	WriteTo(b []byte, addr net.Addr) (int, error)
	Close() error
}

// OpenFunc opens a Conn for raw frames of an EtherType on an interface.
type OpenFunc func(ifi *net.Interface, etherType uint16) (Conn, error)

// OpenPacket opens an AF_PACKET socket (needs CAP_NET_RAW).
func OpenPacket(ifi *net.Interface, etherType uint16) (Conn, error) {
	c, err := packet.Listen(ifi, packet.Raw, int(etherType), nil)
	if err != nil {
		return nil, fmt.Errorf("open packet socket on %s: %w", ifi.Name, err)
	}
	return c, nil
}

// Announcer sends bursts of announcements.
type Announcer struct {
	Open   OpenFunc     // OpenPacket when nil
	Logger *slog.Logger // slog.Default() when nil
}

// Announce sends count rounds, interval apart, for ip on ifi and returns
// when done or when ctx ends. For IPv4 each round is a gratuitous ARP
// request and, half an interval later, a reply: both kinds of neighbours'
// caches update, and it is what send_arp -i interval -r count puts on the
// wire. For IPv6 each round is one unsolicited neighbour advertisement.
func (a *Announcer) Announce(ctx context.Context, ifi *net.Interface, ip netip.Addr, count int, interval time.Duration) error {
	if count <= 0 {
		return nil
	}
	ip = ip.Unmap()
	var frames [][]byte
	etherType := uint16(EtherTypeARP)
	dst := Broadcast
	if ip.Is4() {
		req, err := ARPFrame(OpRequest, ifi.HardwareAddr, ip)
		if err != nil {
			return fmt.Errorf("announce %s on %s: %w", ip, ifi.Name, err)
		}
		rep, _ := ARPFrame(OpReply, ifi.HardwareAddr, ip)
		frames = [][]byte{req, rep}
	} else {
		na, err := NAFrame(ifi.HardwareAddr, ip)
		if err != nil {
			return fmt.Errorf("announce %s on %s: %w", ip, ifi.Name, err)
		}
		frames, etherType, dst = [][]byte{na}, EtherTypeIPv6, AllNodesMAC
	}
	open := a.Open
	if open == nil {
		open = OpenPacket
	}
	conn, err := open(ifi, etherType)
	if err != nil {
		return fmt.Errorf("announce %s on %s: %w", ip, ifi.Name, err)
	}
	defer conn.Close()
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	addr := &packet.Addr{HardwareAddr: dst}
	step := interval / time.Duration(len(frames))
	sent := 0
	var errs []error
	for i := 0; i < count; i++ {
		for j, f := range frames {
			if i > 0 || j > 0 {
				if err := sleep(ctx, step); err != nil {
					log.Debug("announcement burst cut short", "ip", ip, "nic", ifi.Name, "sent", sent, "err", err)
					return err
				}
			}
			if _, err := conn.WriteTo(f, addr); err != nil {
				// Keep going: a transient ENOBUFS must not cancel the burst.
				errs = append(errs, err)
				continue
			}
			sent++
		}
	}
	log.Debug("announced address", "ip", ip, "nic", ifi.Name, "frames", sent, "rounds", count, "interval", interval)
	if sent == 0 && len(errs) > 0 {
		return fmt.Errorf("announce %s on %s: %w", ip, ifi.Name, errors.Join(errs...))
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
