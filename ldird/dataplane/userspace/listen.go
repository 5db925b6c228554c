package userspace

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// freebind lets a service bind its VIP before IPaddr2 has configured it
// (IP_FREEBIND / IPV6_FREEBIND, per socket, so no sysctl
// net.ipv4.ip_nonlocal_bind is needed). Without it ldird could not add a
// service on a standby director or ahead of the address resource.
func freebind(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) { serr = freebindFD(int(fd), network) })
	if err == nil {
		err = serr
	}
	return err
}

func freebindFD(fd int, network string) error {
	var err error
	if network == "tcp6" || network == "udp6" {
		err = unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
	} else {
		err = unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_FREEBIND, 1)
	}
	if err != nil {
		return fmt.Errorf("set IP_FREEBIND: %w", err)
	}
	return nil
}

// listenTCP opens a listening socket the way net.Listen does (non-blocking,
// SO_REUSEADDR, the backlog capped by net.core.somaxconn) plus IP_FREEBIND
// and TCP_NODELAY, which accepted sockets inherit. It is an *os.File, not a
// net.Listener, because the accept loop accepts raw descriptors for the
// relay loops (a net.Listener's RawConn cannot wait for readiness), and an
// os.File over a non-blocking socket still waits in Go's netpoller.
func listenTCP(ap netip.AddrPort) (*os.File, error) {
	var sa unix.Sockaddr
	family, network := unix.AF_INET, "tcp4"
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family, network = unix.AF_INET6, "tcp6"
		sa6 := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
		if z := ap.Addr().Zone(); z != "" {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return nil, fmt.Errorf("zone %s: %w", z, err)
			}
			sa6.ZoneId = uint32(ifi.Index)
		}
		sa = sa6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	fail := func(what string, err error) (*os.File, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("set SO_REUSEADDR", err)
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("set IPV6_V6ONLY", err)
		}
	}
	if err := freebindFD(fd, network); err != nil {
		return fail("listen", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fail("set TCP_NODELAY", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind "+ap.String(), err)
	}
	if err := unix.Listen(fd, 1<<16-1); err != nil { // the kernel caps it at somaxconn
		return fail("listen", err)
	}
	return os.NewFile(uintptr(fd), "tcp listener "+ap.String()), nil
}

// listen opens the service's socket on exactly its address and port.
func (s *service) listen() error {
	svc := s.tab.Load().svc
	network := svc.Protocol + "4"
	if !svc.Addr.Unmap().Is4() {
		network = svc.Protocol + "6"
	}
	if svc.Protocol == "tcp" {
		f, err := listenTCP(netip.AddrPortFrom(svc.Addr.Unmap(), svc.Port))
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		s.tcp = f
		return nil
	}
	lc := net.ListenConfig{Control: freebind}
	addr := net.JoinHostPort(svc.Addr.Unmap().String(), fmt.Sprint(svc.Port))
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.udp = pc.(*net.UDPConn)
	return nil
}

// stop closes the listener (the port is free again on return) and ends
// the UDP sessions. Established TCP connections are left to finish.
func (s *service) stop() {
	close(s.stopped)
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.udp != nil {
		s.udp.Close()
		s.sessMu.Lock()
		s.closed = true
		sess := make([]*udpSession, 0, len(s.sessions))
		for _, u := range s.sessions {
			sess = append(sess, u)
		}
		s.sessMu.Unlock()
		for _, u := range sess {
			u.conn.Close()
		}
	}
}
