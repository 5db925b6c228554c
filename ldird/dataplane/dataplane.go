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

var (
	// ErrExist: the service or real server is already there.
	ErrExist = errors.New("already exists")
	// ErrNotExist: no such service or real server.
	ErrNotExist = errors.New("does not exist")
)
