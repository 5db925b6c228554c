// Package sockcall makes the system calls of ldird's non-blocking TCP
// sockets, the checks' and the userspace dataplane's, as raw system calls.
// None of them can block on a non-blocking socket (close(2) included,
// with no SO_LINGER or a zero one), so the calling goroutine keeps its P:
// x/sys/unix's wrappers tell the scheduler that a call may block, and the
// runtime's monitor thread then wakes every 20 µs to look at it and may
// hand the P to another thread. That polling was 2 % of a core at 10,000
// connect checks a second, and 6 % of the proxy's CPU with a new
// connection per request.
//
// Errors are the bare unix.Errno; callers add what the call was for.
// Read and Write retry EINTR; Connect does not (a connect interrupted goes
// on by itself), nor does Accept (its caller loops anyway).
package sockcall

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Addr is a TCP address as connect(2) takes it, made once and then only
// read, so that connects from any goroutine share it without allocating.
type Addr struct {
	family int
	in4    unix.RawSockaddrInet4
	in6    unix.RawSockaddrInet6
}

// AddrOf is ap as connect(2) takes it: an IPv4-mapped address connects
// over IPv4; an IPv6 zone names the interface of a link-local address.
// A zone that names no interface is an error, and the address returned
// then has none.
func AddrOf(ap netip.AddrPort) (Addr, error) {
	var a Addr
	port := ap.Port()
	if ip := ap.Addr(); ip.Is4() || ip.Is4In6() {
		a.family = unix.AF_INET
		a.in4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(port), Addr: ip.Unmap().As4()}
		return a, nil
	}
	a.family = unix.AF_INET6
	a.in6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(port), Addr: ap.Addr().As16()}
	if z := ap.Addr().Zone(); z != "" {
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			return a, err
		}
		a.in6.Scope_id = uint32(ifi.Index)
	}
	return a, nil
}

// Family is the address's socket family: AF_INET or AF_INET6.
func (a *Addr) Family() int { return a.family }

// Socket is a non-blocking, close-on-exec TCP socket of family.
func Socket(family int) (int, error) {
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// Connect is connect(2): on a non-blocking socket EINPROGRESS while the
// handshake goes on (EINTR too: the connect goes on all the same).
func Connect(fd int, a *Addr) error {
	ptr, size := unsafe.Pointer(&a.in4), unsafe.Sizeof(a.in4)
	if a.family == unix.AF_INET6 {
		ptr, size = unsafe.Pointer(&a.in6), unsafe.Sizeof(a.in6)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(ptr), size); e != 0 {
		return e
	}
	return nil
}

// Close is close(2) of a socket that does not linger.
func Close(fd int) error {
	if _, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0); e != 0 {
		return e
	}
	return nil
}

// NoLinger makes the socket's close send a reset (SO_LINGER 0): the
// connection is dropped at once, with no FIN exchange and no TIME_WAIT.
func NoLinger(fd int) error {
	l := unix.Linger{Onoff: 1, Linger: 0}
	if _, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_LINGER, uintptr(unsafe.Pointer(&l)), unsafe.Sizeof(l), 0); e != 0 {
		return e
	}
	return nil
}

// Reset closes the socket with a reset (NoLinger, then Close).
func Reset(fd int) {
	_ = NoLinger(fd)
	_ = Close(fd)
}

// SetInt sets an int socket option.
func SetInt(fd, level, opt, v int) error {
	v32 := int32(v)
	if _, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v32)), 4, 0); e != 0 {
		return e
	}
	return nil
}

// SoError is the socket's pending error (SO_ERROR), which the call
// clears: a failed connect's, once its handshake ended. nil when none.
func SoError(fd int) error {
	var v int32
	l := uint32(4)
	if _, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR, uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
		return e
	}
	if v != 0 {
		return unix.Errno(v)
	}
	return nil
}

// ShutdownWrite sends a FIN and keeps reading (shutdown(2), SHUT_WR).
func ShutdownWrite(fd int) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), unix.SHUT_WR, 0); e != 0 {
		return e
	}
	return nil
}

// Read is read(2).
func Read(fd int, b []byte) (int, error) { return transfer(unix.SYS_READ, fd, b, 0) }

// Write is write(2) to a socket, except that a reset peer gives EPIPE and
// not SIGPIPE (send(2) with MSG_NOSIGNAL).
func Write(fd int, b []byte) (int, error) { return transfer(unix.SYS_SENDTO, fd, b, unix.MSG_NOSIGNAL) }

// transfer is read(2) or sendto(2) of b, retried on EINTR (read(2) takes
// no flags and ignores the argument).
func transfer(trap uintptr, fd int, b []byte, flags uintptr) (int, error) {
	for {
		n, _, e := unix.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), flags, 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

// Accept accepts one connection, non-blocking and close-on-exec, and
// returns the client's address (IPv4-mapped addresses unmapped).
func Accept(lfd int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	l := uint32(unsafe.Sizeof(rsa))
	fd, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	var ap netip.AddrPort
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		ap = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		ap = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return int(fd), ap, nil
}

// ntohs and htons convert a port between host order and the network order
// a raw sockaddr holds.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func htons(p uint16) uint16 {
	var n uint16
	b := (*[2]byte)(unsafe.Pointer(&n))
	b[0], b[1] = byte(p>>8), byte(p)
	return n
}

// Disconnect dissolves the socket's connection, connect(2) to AF_UNSPEC:
// a reset when it was established (as a close with SO_LINGER 0 sends),
// and the socket, unbound from its port, can connect again.
func Disconnect(fd int) error {
	var sa unix.RawSockaddrInet4 // Family 0: AF_UNSPEC
	if _, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa)); e != 0 {
		return e
	}
	return nil
}
