// Package dataplane is the interface to the table ldird keeps, virtual
// services and their real servers, whatever holds it: ipvs/ (the kernel,
// through moby/ipvs), userspace/ (an embedded L4 proxy for hosts without
// IPVS) or Fake (in memory, for tests). The director reconciles a desired
// table against what a Dataplane reports and applies only the differences.
package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Service is a virtual service.
type Service struct {
	Protocol  string     // "tcp", "udp" or "fwm"
	Addr      netip.Addr // zero for fwm
	Port      uint16     // zero for fwm
	FWMark    uint32     // fwm only
	IPv6      bool       // address family (fwm services need it said)
	Scheduler string     // rr wrr lc wlc lblc lblcr dh sh sed nq (ipvsadm names)
	// Persistent > 0 makes the service persistent for that long;
	// PersistentMask is the client netmask persistence groups by
	// (ipvsadm -M; a prefix length, 0 means /32 or /128).
	Persistent     time.Duration
	PersistentMask int
	// SchedFlags are the scheduler's flags (ipvsadm -b); OnePacket is
	// one-packet scheduling (ipvsadm -o, UDP only): every datagram is
	// scheduled on its own and leaves no connection entry.
	SchedFlags SchedFlags
	OnePacket  bool

	// Userspace proxy only (ldird's maxconn, clienttimeout and
	// servertimeout extension directives); zero with IPVS, which has no
	// per-service limit and keeps its idle timeouts kernel-wide.
	MaxConns      int           // connections (UDP sessions) at once; 0 = no per-service limit
	ClientTimeout time.Duration // idle time allowed on the client side; 0 = the dataplane's default
	ServerTimeout time.Duration // idle time allowed on the real's side; 0 = the dataplane's default
}

// Key identifies a service: what ipvsadm shows before the scheduler.
func (s Service) Key() string {
	if s.Protocol == "fwm" {
		if s.IPv6 {
			return fmt.Sprintf("fwm %d ipv6", s.FWMark)
		}
		return fmt.Sprintf("fwm %d", s.FWMark)
	}
	return s.Protocol + " " + netip.AddrPortFrom(s.Addr, s.Port).String()
}

// Dest is a real server of a service.
type Dest struct {
	Addr   netip.Addr
	Port   uint16
	Weight int    // 0 = quiescent: no new connections, existing ones drain
	Method string // "gate" (DR), "masq" (NAT) or "ipip" (tunnel)
}

// Key identifies a real server within its service.
func (d Dest) Key() string { return netip.AddrPortFrom(d.Addr, d.Port).String() }

// Dataplane is one table: the kernel's IPVS, or the userspace proxy.
// Errors wrap ErrExist / ErrNotExist where the cause is that.
type Dataplane interface {
	Services() ([]Service, error)
	Dests(svc Service) ([]Dest, error)
	AddService(svc Service) error
	UpdateService(svc Service) error
	DelService(svc Service) error
	AddDest(svc Service, d Dest) error
	UpdateDest(svc Service, d Dest) error
	DelDest(svc Service, d Dest) error
	Close() error
}

// ConnCounter is optional: a Dataplane that counts each real server's
// connections itself (the userspace proxy; ldird does not read IPVS's
// counters, which ipvsadm shows) implements it, and `ldird status` shows
// the counts.
type ConnCounter interface {
	// ConnCounts returns the connections of every real server, keyed by
	// ConnKey.
	ConnCounts() map[string]ConnCount
}

// ConnLimiter is optional: a Dataplane that bounds how many connections it
// holds at once over every service (the userspace proxy's global maxconn;
// IPVS has no such limit) implements it. Per-service limits travel with
// the Service.
type ConnLimiter interface {
	// SetMaxConns sets the global limit; 0 means the dataplane's default.
	SetMaxConns(n int)
}

// ConnCount is one real server's connections, as ipvsadm's ActiveConn and
// InActConn columns count them.
type ConnCount struct {
	Active   int64 // TCP connections with both directions open
	Inactive int64 // half-closed TCP connections and UDP sessions
}

// ConnKey identifies real server d of service s in ConnCounts.
func ConnKey(s Service, d Dest) string { return s.Key() + " " + d.Key() }

// SyncDaemons is optional: a Dataplane whose table the kernel can copy to
// other directors (IPVS's connection synchronisation daemons) implements
// it. The kernel runs at most one daemon per role in a network namespace,
// whoever started it; ldird starts both roles on every director so that a
// backup already knows the connections when it takes the virtual IPs over.
// The userspace proxy cannot: its connections end in ldird itself.
type SyncDaemons interface {
	// SyncDaemons lists the daemons running now, master first.
	SyncDaemons() ([]SyncDaemon, error)
	// StartSyncDaemon starts d.Role's daemon; ErrExist if one runs.
	StartSyncDaemon(d SyncDaemon) error
	// StopSyncDaemon stops role's daemon; ErrNotExist if none runs.
	StopSyncDaemon(role SyncRole) error
}

// SyncRole is what a sync daemon does.
type SyncRole string

// The two roles.
const (
	SyncMaster SyncRole = "master" // sends the connections this director forwards
	SyncBackup SyncRole = "backup" // receives a master's connections into the table
)

// SyncDaemon is one of the kernel's sync daemons. Zero optional fields mean
// the kernel's default (224.0.0.81:8848, TTL 1, a message size from the
// interface's MTU); read back from the kernel they hold the values in use,
// except on kernels older than Linux 4.3, which report none of them.
type SyncDaemon struct {
	Role      SyncRole
	Interface string // the multicast interface
	SyncID    uint8  // only messages with this id are accepted
	MaxLen    uint16 // UDP payload size of a sync message
	Group     netip.Addr
	Port      uint16
	TTL       uint8
}

// String is the daemon as `ldird status` shows it.
func (d SyncDaemon) String() string {
	s := fmt.Sprintf("%s %s syncid %d", d.Role, d.Interface, d.SyncID)
	if d.Group.IsValid() || d.Port != 0 {
		s += " group " + groupString(d.Group, d.Port)
	}
	if d.TTL != 0 {
		s += fmt.Sprintf(" ttl %d", d.TTL)
	}
	if d.MaxLen != 0 {
		s += fmt.Sprintf(" maxlen %d", d.MaxLen)
	}
	return s
}

// GroupPort is the multicast group and port the daemon uses, the kernel's
// defaults for what is not known.
func (d SyncDaemon) GroupPort() string { return groupString(d.Group, d.Port) }

// groupString is GROUP:PORT with the kernel's defaults for what is unset.
func groupString(g netip.Addr, port uint16) string {
	if !g.IsValid() {
		g = DefaultSyncGroup
	}
	if port == 0 {
		port = DefaultSyncPort
	}
	return netip.AddrPortFrom(g, port).String()
}

// The kernel's defaults for a sync daemon (include/net/ip_vs.h).
var (
	DefaultSyncGroup        = netip.AddrFrom4([4]byte{224, 0, 0, 81})
	DefaultSyncPort  uint16 = 8848
)

// ConnLister is optional: a Dataplane that can list its connection table
// (IPVS: /proc/net/ip_vs_conn) implements it, and `ldird status
// --connections` prints it.
type ConnLister interface {
	Connections() ([]Conn, error)
}

// Conn is one entry of the connection table, as ipvsadm -Lnc shows it.
type Conn struct {
	Protocol string // "TCP", "UDP", "SCTP", "IP" (firewall-mark templates)
	Client   netip.AddrPort
	Virtual  netip.AddrPort
	Real     netip.AddrPort
	State    string        // ESTABLISHED, FIN_WAIT, ...; a persistence template's is NONE or ASSURED
	Expires  time.Duration // until the entry expires
	// Synced: the entry was learnt from another director's master sync
	// daemon, not made by this director's scheduler.
	Synced bool
}

var (
	// ErrExist: the service or real server is already there.
	ErrExist = errors.New("already exists")
	// ErrNotExist: no such service or real server.
	ErrNotExist = errors.New("does not exist")
)
