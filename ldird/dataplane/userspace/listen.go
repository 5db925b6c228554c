package userspace

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// freebind lets a service bind its VIP before IPaddr2 has configured it
// (IP_FREEBIND / IPV6_FREEBIND, per socket, so no sysctl
// net.ipv4.ip_nonlocal_bind is needed). Without it ldird could not add a
// service on a standby director or ahead of the address resource.
func freebind(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if network == "tcp6" || network == "udp6" {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("set IP_FREEBIND: %w", err)
	}
	return nil
}

// listen opens the service's socket on exactly its address and port.
func (s *service) listen() error {
	svc := s.tab.Load().svc
	network := svc.Protocol + "4"
	if !svc.Addr.Unmap().Is4() {
		network = svc.Protocol + "6"
	}
	lc := net.ListenConfig{Control: freebind}
	addr := net.JoinHostPort(svc.Addr.Unmap().String(), fmt.Sprint(svc.Port))
	if svc.Protocol == "tcp" {
		ln, err := lc.Listen(context.Background(), network, addr)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		s.tcp = ln.(*net.TCPListener)
		return nil
	}
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
