// Package media carries heartbeat datagrams over the links ha.cf names:
// bcast, mcast and ucast (UDP, port 694 by default). Each medium is a
// PacketConn plus where to send, so tests can stand in loopback or in-memory
// connections and need no root; the constructors here build the real,
// device-bound sockets Heartbeat uses.
package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MaxDatagram is the largest datagram read (Heartbeat's MAXMSG).
const MaxDatagram = 256 * 1024

// Packet is one datagram received on a link.
type Packet struct {
	Data []byte
	Link int // index of the medium in the daemon's list
	From net.Addr
	At   time.Time
}

// Medium is one heartbeat path.
type Medium interface {
	Name() string // link name as cl_status shows it (the interface)
	Send(b []byte) error
	// Receive reads datagrams until ctx is done or the connection fails, handing
	// each to deliver. Read errors other than closure are counted and retried.
	Receive(ctx context.Context, link int, deliver func(Packet)) error
	Close() error
	Stats() Stats
}

// Stats counts traffic on one medium.
type Stats struct {
	Sent, SendErrors, Received, ReadErrors uint64
}

// UDP is a medium over a PacketConn: the destinations are the broadcast
// address, multicast group or unicast peer(s).
type UDP struct {
	name string
	conn net.PacketConn
	dsts []net.Addr
	log  *slog.Logger

	sent, sendErr, recv, readErr atomic.Uint64
}

// NewUDP wraps an existing connection (used by tests and by the constructors).
func NewUDP(name string, conn net.PacketConn, dsts []net.Addr, log *slog.Logger) *UDP {
	if log == nil {
		log = slog.Default()
	}
	return &UDP{name: name, conn: conn, dsts: dsts, log: log}
}

// Name is the link name.
func (u *UDP) Name() string { return u.name }

// Send writes b to every destination. A failure on one destination does not
// stop the others; the first error is returned.
func (u *UDP) Send(b []byte) error {
	var first error
	for _, d := range u.dsts {
		if _, err := u.conn.WriteTo(b, d); err != nil {
			u.sendErr.Add(1)
			if first == nil {
				first = fmt.Errorf("%s: send to %s: %w", u.name, d, err)
			}
			continue
		}
		u.sent.Add(1)
	}
	return first
}

// Receive implements Medium.
func (u *UDP) Receive(ctx context.Context, link int, deliver func(Packet)) error {
	go func() { <-ctx.Done(); u.conn.Close() }()
	buf := make([]byte, MaxDatagram)
	for {
		n, from, err := u.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			u.readErr.Add(1)
			u.log.Warn("read failed", "link", u.name, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		u.recv.Add(1)
		data := make([]byte, n)
		copy(data, buf[:n])
		deliver(Packet{Data: data, Link: link, From: from, At: time.Now()})
	}
}

// Close closes the connection.
func (u *UDP) Close() error { return u.conn.Close() }

// Stats implements Medium.
func (u *UDP) Stats() Stats {
	return Stats{Sent: u.sent.Load(), SendErrors: u.sendErr.Load(), Received: u.recv.Load(), ReadErrors: u.readErr.Load()}
}

// rcvBuf is the receive buffer asked for on every heartbeat socket.
const rcvBuf = 2 << 20

// listen opens a UDP socket on addr bound to device iface, with the options
// Heartbeat sets: SO_REUSEADDR and SO_REUSEPORT so several media can share a
// port, SO_BINDTODEVICE so each link hears only its own interface.
func listen(ctx context.Context, network, addr, iface string, extra func(fd int) error) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			f := int(fd)
			if serr = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); serr != nil {
				return
			}
			// A burst (a flood of forged packets, a retransmission storm)
			// must not push real heartbeats out of a small default
			// buffer. Root may exceed rmem_max; otherwise the kernel caps it.
			if unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
				_ = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
			}
			if iface != "" {
				if serr = unix.BindToDevice(f, iface); serr != nil {
					serr = fmt.Errorf("bind to device %s: %w", iface, serr)
					return
				}
			}
			if extra != nil {
				serr = extra(f)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.ListenPacket(ctx, network, addr)
}
