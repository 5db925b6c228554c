package media

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Bcast opens the broadcast medium on iface: it listens on port bound to the
// device and sends to the interface's IPv4 broadcast address (SO_BROADCAST,
// SO_DONTROUTE, as Heartbeat's bcast plugin does).
func Bcast(ctx context.Context, iface string, port int, log *slog.Logger) (*UDP, error) {
	bc, err := broadcastAddr(iface)
	if err != nil {
		return nil, fmt.Errorf("bcast %s: %w", iface, err)
	}
	conn, err := listen(ctx, "udp4", ":"+strconv.Itoa(port), iface, func(fd int) error {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
			return fmt.Errorf("SO_BROADCAST: %w", err)
		}
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DONTROUTE, 1)
	})
	if err != nil {
		return nil, fmt.Errorf("bcast %s: %w", iface, err)
	}
	return NewUDP(iface, conn, []net.Addr{&net.UDPAddr{IP: bc, Port: port}}, log), nil
}

// broadcastAddr reads the interface's broadcast address from the kernel,
// computing it from the first IPv4 address when none is set.
func broadcastAddr(iface string) (net.IP, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", iface, err)
	}
	for _, a := range addrs {
		if a.Broadcast != nil && !a.Broadcast.IsUnspecified() {
			return a.Broadcast.To4(), nil
		}
		if ip4 := a.IP.To4(); ip4 != nil && a.Mask != nil {
			bc := make(net.IP, 4)
			for i := range bc {
				bc[i] = ip4[i] | ^a.Mask[len(a.Mask)-4+i]
			}
			return bc, nil
		}
	}
	return nil, fmt.Errorf("interface %s has no IPv4 address", iface)
}

// Mcast opens a multicast medium: joins group on iface and sends to
// group:port with the given TTL (0..4 in ha.cf) and loopback flag.
func Mcast(ctx context.Context, iface string, group net.IP, port, ttl int, loop bool, log *slog.Logger) (*UDP, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("mcast %s: %w", iface, err)
	}
	v4 := group.To4() != nil
	network, bind := "udp6", net.JoinHostPort(group.String(), strconv.Itoa(port))
	if v4 {
		network = "udp4"
	}
	loopv := 0
	if loop {
		loopv = 1
	}
	conn, err := listen(ctx, network, bind, iface, func(fd int) error {
		if v4 {
			mreq := &unix.IPMreqn{Ifindex: int32(ifi.Index)}
			copy(mreq.Multiaddr[:], group.To4())
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
				return fmt.Errorf("join %s: %w", group, err)
			}
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)}); err != nil {
				return fmt.Errorf("IP_MULTICAST_IF: %w", err)
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, ttl); err != nil {
				return fmt.Errorf("IP_MULTICAST_TTL: %w", err)
			}
			return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, loopv)
		}
		mreq := &unix.IPv6Mreq{Interface: uint32(ifi.Index)}
		copy(mreq.Multiaddr[:], group.To16())
		if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq); err != nil {
			return fmt.Errorf("join %s: %w", group, err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index); err != nil {
			return fmt.Errorf("IPV6_MULTICAST_IF: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, ttl); err != nil {
			return fmt.Errorf("IPV6_MULTICAST_HOPS: %w", err)
		}
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, loopv)
	})
	if err != nil {
		return nil, fmt.Errorf("mcast %s %s: %w", iface, group, err)
	}
	dst := &net.UDPAddr{IP: group, Port: port}
	if !v4 {
		dst.Zone = iface
	}
	return NewUDP(iface, conn, []net.Addr{dst}, log), nil
}

// Ucast opens a unicast medium to peer: it listens on port on every address,
// bound to the device, and sends to peer:port.
func Ucast(ctx context.Context, iface string, peer net.IP, port int, log *slog.Logger) (*UDP, error) {
	network, bind := "udp4", ":"+strconv.Itoa(port)
	if peer.To4() == nil {
		network = "udp6"
	}
	conn, err := listen(ctx, network, bind, iface, nil)
	if err != nil {
		return nil, fmt.Errorf("ucast %s %s: %w", iface, peer, err)
	}
	return NewUDP(iface, conn, []net.Addr{&net.UDPAddr{IP: peer, Port: port}}, log), nil
}
