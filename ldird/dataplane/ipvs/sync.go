package ipvs

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"

	"lvsha/ldird/dataplane"
)

// The sync daemon half of the IPVS generic netlink family, which moby/ipvs
// does not speak: IPVS_CMD_NEW_DAEMON, _DEL_DAEMON and _GET_DAEMON with
// the nested IPVS_DAEMON_ATTR_* attributes. Numbers from the kernel's
// include/uapi/linux/ip_vs.h.
const (
	genlVersion = 1 // IPVS_GENL_VERSION

	cmdNewDaemon = 9  // IPVS_CMD_NEW_DAEMON
	cmdDelDaemon = 10 // IPVS_CMD_DEL_DAEMON
	cmdGetDaemon = 11 // IPVS_CMD_GET_DAEMON (dump only)

	cmdAttrDaemon = 3 // IPVS_CMD_ATTR_DAEMON, nested

	daemonAttrState       = 1 // u32: IP_VS_STATE_MASTER or _BACKUP
	daemonAttrMcastIfn    = 2 // NUL-terminated string, at most 15 bytes
	daemonAttrSyncID      = 3 // u32 (the protocol carries 8 bits)
	daemonAttrSyncMaxLen  = 4 // u16, Linux 4.3 and later like the rest
	daemonAttrMcastGroup  = 5 // IPv4 address, network order
	daemonAttrMcastGroup6 = 6 // IPv6 address
	daemonAttrMcastPort   = 7 // u16, host order
	daemonAttrMcastTTL    = 8 // u8

	stateMaster = 1 // IP_VS_STATE_MASTER
	stateBackup = 2 // IP_VS_STATE_BACKUP

	ifNameMax = 15 // IP_VS_IFNAME_MAXLEN - 1
)

var _ dataplane.SyncDaemons = (*IPVS)(nil)

// syncConn is a generic netlink socket for the daemon commands: the
// family's id and a socket of the namespace the handle belongs to.
type syncConn struct {
	c      *netlink.Conn
	family uint16
}

func roleState(r dataplane.SyncRole) (uint32, error) {
	switch r {
	case dataplane.SyncMaster:
		return stateMaster, nil
	case dataplane.SyncBackup:
		return stateBackup, nil
	}
	return 0, fmt.Errorf("unknown sync daemon role %q", r)
}

// requestTimeout bounds one daemon command: a kernel that does not answer
// (a stop was seen to hang on an interface without an address) must not
// hang ldird's stop or reload with it.
const requestTimeout = 10 * time.Second

// request sends one IPVS command and returns the replies' attributes (the
// generic netlink header cut off).
func (s *syncConn) request(cmd uint8, flags netlink.HeaderFlags, attrs []byte) ([][]byte, error) {
	_ = s.c.SetDeadline(time.Now().Add(requestTimeout)) // test sockets have none
	msg := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(s.family), Flags: netlink.Request | flags},
		Data:   append([]byte{cmd, genlVersion, 0, 0}, attrs...),
	}
	replies, err := s.c.Execute(msg)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(replies))
	for _, m := range replies {
		if len(m.Data) < 4 {
			return nil, fmt.Errorf("short generic netlink reply (%d bytes)", len(m.Data))
		}
		out = append(out, m.Data[4:])
	}
	return out, nil
}

// encodeDaemon is IPVS_CMD_ATTR_DAEMON for d; only the role for a stop.
func encodeDaemon(d dataplane.SyncDaemon, full bool) ([]byte, error) {
	state, err := roleState(d.Role)
	if err != nil {
		return nil, err
	}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(cmdAttrDaemon, func(n *netlink.AttributeEncoder) error {
		n.Uint32(daemonAttrState, state)
		if !full {
			return nil
		}
		n.String(daemonAttrMcastIfn, d.Interface)
		n.Uint32(daemonAttrSyncID, uint32(d.SyncID))
		if d.MaxLen != 0 {
			n.Uint16(daemonAttrSyncMaxLen, d.MaxLen)
		}
		if d.Group.IsValid() {
			if d.Group.Is4() {
				a := d.Group.As4()
				n.Bytes(daemonAttrMcastGroup, a[:])
			} else {
				a := d.Group.As16()
				n.Bytes(daemonAttrMcastGroup6, a[:])
			}
		}
		if d.Port != 0 {
			n.Uint16(daemonAttrMcastPort, d.Port)
		}
		if d.TTL != 0 {
			n.Uint8(daemonAttrMcastTTL, d.TTL)
		}
		return nil
	})
	return ae.Encode()
}

// decodeDaemon reads one GET_DAEMON reply. params says whether the kernel
// reported the attributes of Linux 4.3 (maxlen, group, port, ttl).
func decodeDaemon(b []byte) (d dataplane.SyncDaemon, params bool, err error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return d, false, err
	}
	found := false
	for ad.Next() {
		if ad.Type() != cmdAttrDaemon {
			continue
		}
		found = true
		ad.Nested(func(n *netlink.AttributeDecoder) error {
			for n.Next() {
				switch n.Type() {
				case daemonAttrState:
					switch s := n.Uint32(); s {
					case stateMaster:
						d.Role = dataplane.SyncMaster
					case stateBackup:
						d.Role = dataplane.SyncBackup
					default:
						return fmt.Errorf("unknown sync daemon state %d", s)
					}
				case daemonAttrMcastIfn:
					d.Interface = n.String()
				case daemonAttrSyncID:
					d.SyncID = uint8(n.Uint32())
				case daemonAttrSyncMaxLen:
					d.MaxLen, params = n.Uint16(), true
				case daemonAttrMcastGroup:
					if a, ok := netip.AddrFromSlice(n.Bytes()); ok && a.Is4() {
						d.Group = a
					}
				case daemonAttrMcastGroup6:
					if a, ok := netip.AddrFromSlice(n.Bytes()); ok {
						d.Group = a
					}
				case daemonAttrMcastPort:
					d.Port, params = n.Uint16(), true
				case daemonAttrMcastTTL:
					d.TTL, params = n.Uint8(), true
				}
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return d, false, err
	}
	if !found || d.Role == "" {
		return d, false, errors.New("reply without a sync daemon")
	}
	return d, params, nil
}

// daemons asks the kernel for its running sync daemons.
func (s *syncConn) daemons() ([]dataplane.SyncDaemon, bool, error) {
	replies, err := s.request(cmdGetDaemon, netlink.Dump, nil)
	if err != nil {
		return nil, false, err
	}
	params := false
	var out []dataplane.SyncDaemon
	for _, r := range replies {
		d, p, err := decodeDaemon(r)
		if err != nil {
			return nil, false, err
		}
		params = params || p
		out = append(out, d)
	}
	// Master first, whatever order the kernel used.
	if len(out) == 2 && out[0].Role == dataplane.SyncBackup {
		out[0], out[1] = out[1], out[0]
	}
	return out, params, nil
}

// SyncDaemons implements dataplane.SyncDaemons: the daemons running in this
// handle's network namespace, master first.
func (v *IPVS) SyncDaemons() ([]dataplane.SyncDaemon, error) {
	s, err := v.syncConn()
	if err != nil {
		return nil, err
	}
	ds, _, err := s.daemons()
	if err != nil {
		return nil, fmt.Errorf("ipvs: list sync daemons: %w", mapSyncErr(err))
	}
	return ds, nil
}

// StartSyncDaemon implements dataplane.SyncDaemons. The kernel fills in its
// defaults for what d leaves zero, and clamps MaxLen (a master's to
// 1..65507, a backup's to 1024..65507). Kernels before Linux 4.3 ignore
// MaxLen, Group, Port and TTL without a word; the daemon is read back after
// the start, and when the kernel ignored a value that was asked for the
// daemon is stopped again and the start refused, so that a director never
// syncs on a group or port other than the one configured.
func (v *IPVS) StartSyncDaemon(d dataplane.SyncDaemon) error {
	if err := CheckSyncDaemon(d); err != nil {
		return fmt.Errorf("ipvs: start sync daemon: %w", err)
	}
	s, err := v.syncConn()
	if err != nil {
		return err
	}
	attrs, err := encodeDaemon(d, true)
	if err != nil {
		return fmt.Errorf("ipvs: start sync daemon: %w", err)
	}
	if _, err := s.request(cmdNewDaemon, netlink.Acknowledge, attrs); err != nil {
		return fmt.Errorf("ipvs: start %s sync daemon on %s: %w", d.Role, d.Interface, mapStartErr(err, d))
	}
	ds, params, err := s.daemons()
	if err != nil {
		return fmt.Errorf("ipvs: read back the %s sync daemon: %w", d.Role, mapSyncErr(err))
	}
	asked := d.MaxLen != 0 || d.Group.IsValid() || d.Port != 0 || d.TTL != 0
	for _, got := range ds {
		if got.Role != d.Role {
			continue
		}
		if got.Interface != d.Interface || got.SyncID != d.SyncID {
			return fmt.Errorf("ipvs: the %s sync daemon runs on %s syncid %d, not %s syncid %d as asked", d.Role, got.Interface, got.SyncID, d.Interface, d.SyncID)
		}
		if asked && !params {
			_ = v.StopSyncDaemon(d.Role)
			return fmt.Errorf("ipvs: this kernel ignores the sync daemon's maxlen, group, port and ttl (Linux 4.3 added them): "+
				"the %s daemon would use 224.0.0.81:8848 ttl 1; it was stopped again: remove maxlen=, mcast= and ttl= from syncdaemon", d.Role)
		}
		if (d.Group.IsValid() && got.Group != d.Group) || (d.Port != 0 && got.Port != d.Port) || (d.TTL != 0 && got.TTL != d.TTL) {
			_ = v.StopSyncDaemon(d.Role)
			return fmt.Errorf("ipvs: the kernel started the %s sync daemon as %s, not as asked (%s); it was stopped again", d.Role, got, d)
		}
		return nil
	}
	return fmt.Errorf("ipvs: the %s sync daemon the kernel accepted is not running", d.Role)
}

// StopSyncDaemon implements dataplane.SyncDaemons.
func (v *IPVS) StopSyncDaemon(role dataplane.SyncRole) error {
	s, err := v.syncConn()
	if err != nil {
		return err
	}
	attrs, err := encodeDaemon(dataplane.SyncDaemon{Role: role}, false)
	if err != nil {
		return fmt.Errorf("ipvs: stop sync daemon: %w", err)
	}
	if _, err := s.request(cmdDelDaemon, netlink.Acknowledge, attrs); err != nil {
		return fmt.Errorf("ipvs: stop the %s sync daemon: %w", role, mapSyncErr(err))
	}
	return nil
}

// CheckSyncDaemon refuses what the kernel would refuse with a bare EINVAL:
// an interface name it cannot hold, a group that is not multicast.
func CheckSyncDaemon(d dataplane.SyncDaemon) error {
	if _, err := roleState(d.Role); err != nil {
		return err
	}
	if d.Interface == "" || len(d.Interface) > ifNameMax {
		return fmt.Errorf("sync daemon interface %q: want a name of 1 to %d bytes", d.Interface, ifNameMax)
	}
	if d.Group.IsValid() && !d.Group.IsMulticast() {
		return fmt.Errorf("sync daemon group %s is not a multicast address", d.Group)
	}
	return nil
}

// mapSyncErr adds dataplane's sentinels: the kernel answers ESRCH for a
// role that is not running and EEXIST for one that is.
func mapSyncErr(err error) error {
	switch {
	case errors.Is(err, syscall.ESRCH):
		return fmt.Errorf("not running: %w (%w)", dataplane.ErrNotExist, err)
	case errors.Is(err, syscall.EEXIST):
		return fmt.Errorf("already running: %w (%w)", dataplane.ErrExist, err)
	}
	return err
}

// mapStartErr explains the errnos of IPVS_CMD_NEW_DAEMON.
func mapStartErr(err error, d dataplane.SyncDaemon) error {
	switch {
	case errors.Is(err, syscall.ENODEV):
		return fmt.Errorf("no interface %q in this network namespace (%w)", d.Interface, err)
	case errors.Is(err, syscall.EAFNOSUPPORT):
		return fmt.Errorf("this kernel has no IPv6 IPVS (CONFIG_IP_VS_IPV6) for group %s (%w)", d.Group, err)
	case errors.Is(err, syscall.EINVAL):
		return fmt.Errorf("the kernel refused the parameters (a table with real servers of another address family than their service cannot be synchronised) (%w)", err)
	}
	return mapSyncErr(err)
}
