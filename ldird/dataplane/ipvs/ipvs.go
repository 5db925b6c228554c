// Package ipvs is the kernel dataplane: dataplane.Dataplane on Linux IPVS
// through github.com/moby/ipvs (generic netlink, as ipvsadm uses), the
// kernel's connection synchronisation daemons (dataplane.SyncDaemons, over
// the same family with github.com/mdlayher/netlink: moby/ipvs has no daemon
// commands) and its connection table (dataplane.ConnLister, from
// /proc/net/ip_vs_conn_sync).
//
// What it hides from its callers (measured against a real kernel, see
// tests/vm): moby/ipvs's UpdateDestination sends every field, so the
// forwarding method is always passed; the IPv4 persistence netmask goes out
// in host byte order; IPv6 services need a netmask of 1..128; weights read
// back as 16 bits; the kernel adds a "hashed" flag to every service; errors
// are bare errnos, mapped here to dataplane.ErrExist / ErrNotExist.
//
// A handle belongs to the network namespace current when New ran.
package ipvs

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"syscall"

	mdnetlink "github.com/mdlayher/netlink"
	mobyipvs "github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"lvsha/ldird/dataplane"
)

// IPVS is the kernel's virtual server table in one network namespace.
type IPVS struct {
	// mu serialises requests: moby/ipvs shares one netlink socket per handle
	// and matches replies by sequence number, so concurrent callers could
	// read each other's replies.
	mu sync.Mutex
	h  *mobyipvs.Handle
	sc *syncConn // the sync daemon commands
	// procNet is where the connection table is read (/proc/net).
	procNet string
}

var _ dataplane.Dataplane = (*IPVS)(nil)

// Available reports why IPVS cannot be used here, or nil. It asks the
// kernel for the "IPVS" generic netlink family; the kernel loads ip_vs on
// that request when it is a module, so a nil answer means the table works.
func Available() error {
	if _, err := family(); err != nil {
		return fmt.Errorf("IPVS is not available in this kernel (no IPVS generic netlink family: %v): "+
			"load ip_vs (modprobe ip_vs) or use `dataplane = userspace` in ldirectord.cf", err)
	}
	return nil
}

// family is the IPVS generic netlink family's id (families are global,
// not per network namespace).
func family() (uint16, error) {
	f, err := netlink.GenlFamilyGet("IPVS")
	if err != nil {
		return 0, err
	}
	return f.ID, nil
}

// New opens the IPVS table of the current network namespace.
func New() (*IPVS, error) {
	// Ask first: ipvs.New only logs a failed family lookup and then returns a
	// handle whose every request goes to the wrong netlink family.
	if err := Available(); err != nil {
		return nil, err
	}
	fam, err := family()
	if err != nil {
		return nil, fmt.Errorf("ipvs: %w", err)
	}
	h, err := mobyipvs.New("")
	if err != nil {
		return nil, fmt.Errorf("ipvs: open netlink handle: %w", err)
	}
	// The first real request proves the handle talks to IPVS.
	if _, err := h.GetServices(); err != nil {
		h.Close()
		return nil, fmt.Errorf("ipvs: list services: %w (is IPVS usable here? otherwise use `dataplane = userspace` in ldirectord.cf)", err)
	}
	// Opened here, on the caller's thread, so it is in the same namespace.
	c, err := mdnetlink.Dial(unix.NETLINK_GENERIC, nil)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("ipvs: open generic netlink socket: %w", err)
	}
	return &IPVS{h: h, sc: &syncConn{c: c, family: fam}, procNet: "/proc/net"}, nil
}

// Close releases the netlink sockets. The kernel table and its sync
// daemons are left as they are: ldird never flushes on exit or reload.
func (v *IPVS) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.h != nil {
		v.h.Close()
		v.h = nil
	}
	if v.sc != nil {
		v.sc.c.Close()
		v.sc = nil
	}
	return nil
}

func (v *IPVS) syncConn() (*syncConn, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.sc == nil {
		return nil, errors.New("ipvs: handle closed")
	}
	return v.sc, nil
}

func (v *IPVS) handle() (*mobyipvs.Handle, error) {
	if v.h == nil {
		return nil, errors.New("ipvs: handle closed")
	}
	return v.h, nil
}

// Services implements dataplane.Dataplane, sorted by key.
func (v *IPVS) Services() ([]dataplane.Service, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	h, err := v.handle()
	if err != nil {
		return nil, err
	}
	raw, err := h.GetServices()
	if err != nil {
		return nil, fmt.Errorf("ipvs: list services: %w", err)
	}
	out := make([]dataplane.Service, 0, len(raw))
	for _, r := range raw {
		s, err := fromService(r)
		if err != nil {
			return nil, fmt.Errorf("ipvs: list services: %w", err)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

// Dests implements dataplane.Dataplane, sorted by key. A missing service is
// ErrNotExist (the kernel's dump alone would answer with an empty list).
func (v *IPVS) Dests(svc dataplane.Service) ([]dataplane.Dest, error) {
	ks, err := toService(svc)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	h, err := v.handle()
	if err != nil {
		return nil, err
	}
	raw, err := h.GetDestinations(ks)
	if err != nil {
		return nil, fmt.Errorf("ipvs: list real servers of %s: %w", svc.Key(), mapErr(err, opDests))
	}
	if len(raw) == 0 {
		if _, err := h.GetService(ks); err != nil {
			return nil, fmt.Errorf("ipvs: service %s: %w", svc.Key(), mapErr(err, opDests))
		}
	}
	out := make([]dataplane.Dest, 0, len(raw))
	for _, r := range raw {
		d, err := fromDest(r)
		if err != nil {
			return nil, fmt.Errorf("ipvs: list real servers of %s: %w", svc.Key(), err)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

// AddService implements dataplane.Dataplane. An empty scheduler means wlc,
// as for ipvsadm.
func (v *IPVS) AddService(svc dataplane.Service) error {
	return v.svcOp(opAddSvc, svc, (*mobyipvs.Handle).NewService)
}

// UpdateService implements dataplane.Dataplane: scheduler and persistence.
func (v *IPVS) UpdateService(svc dataplane.Service) error {
	return v.svcOp(opUpdSvc, svc, (*mobyipvs.Handle).UpdateService)
}

// DelService implements dataplane.Dataplane; its real servers go with it.
func (v *IPVS) DelService(svc dataplane.Service) error {
	return v.svcOp(opDelSvc, svc, (*mobyipvs.Handle).DelService)
}

func (v *IPVS) svcOp(op op, svc dataplane.Service, fn func(*mobyipvs.Handle, *mobyipvs.Service) error) error {
	ks, err := toService(svc)
	if err != nil {
		return fmt.Errorf("ipvs: %s: %w", op, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	h, err := v.handle()
	if err != nil {
		return err
	}
	if err := fn(h, ks); err != nil {
		if op != opDelSvc && errors.Is(err, syscall.ENOENT) {
			// On add/edit the kernel's only ENOENT is a missing scheduler.
			return fmt.Errorf("ipvs: %s %s: scheduler %q not available in this kernel (module ip_vs_%s): %w",
				op, svc.Key(), ks.SchedName, ks.SchedName, err)
		}
		return fmt.Errorf("ipvs: %s %s: %w", op, svc.Key(), mapErr(err, op))
	}
	return nil
}

// AddDest implements dataplane.Dataplane. An empty method means gate, as
// for ipvsadm.
func (v *IPVS) AddDest(svc dataplane.Service, d dataplane.Dest) error {
	return v.destOp(opAddDest, svc, d, (*mobyipvs.Handle).NewDestination)
}

// UpdateDest implements dataplane.Dataplane: weight and forwarding method.
func (v *IPVS) UpdateDest(svc dataplane.Service, d dataplane.Dest) error {
	return v.destOp(opUpdDest, svc, d, (*mobyipvs.Handle).UpdateDestination)
}

// DelDest implements dataplane.Dataplane.
func (v *IPVS) DelDest(svc dataplane.Service, d dataplane.Dest) error {
	return v.destOp(opDelDest, svc, d, (*mobyipvs.Handle).DelDestination)
}

func (v *IPVS) destOp(op op, svc dataplane.Service, d dataplane.Dest,
	fn func(*mobyipvs.Handle, *mobyipvs.Service, *mobyipvs.Destination) error) error {
	ks, err := toService(svc)
	if err != nil {
		return fmt.Errorf("ipvs: %s: %w", op, err)
	}
	kd, err := toDest(d, ks.AddressFamily == syscall.AF_INET6)
	if err != nil {
		return fmt.Errorf("ipvs: %s to %s: %w", op, svc.Key(), err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	h, err := v.handle()
	if err != nil {
		return err
	}
	if err := fn(h, ks, kd); err != nil {
		return fmt.Errorf("ipvs: %s %s (%s w=%d) in %s: %w", op, d.Key(), methodName(kd.ConnectionFlags), d.Weight, svc.Key(), mapErr(err, op))
	}
	return nil
}

// op names a request for messages and for mapping its errors.
type op string

const (
	opDests   op = "list real servers"
	opAddSvc  op = "add service"
	opUpdSvc  op = "update service"
	opDelSvc  op = "delete service"
	opAddDest op = "add real server"
	opUpdDest op = "update real server"
	opDelDest op = "delete real server"
)

// mapErr adds dataplane's sentinel to a kernel errno, keeping the errno:
// EEXIST is "already there"; ESRCH is the kernel's "no such service" and
// ENOENT its "no such real server".
func mapErr(err error, op op) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch errno {
	case syscall.EEXIST:
		return fmt.Errorf("%w (%w)", dataplane.ErrExist, err)
	case syscall.ESRCH:
		return fmt.Errorf("service %w (%w)", dataplane.ErrNotExist, err)
	case syscall.ENOENT:
		if op == opDelSvc || op == opDests {
			return fmt.Errorf("service %w (%w)", dataplane.ErrNotExist, err)
		}
		return fmt.Errorf("real server %w (%w)", dataplane.ErrNotExist, err)
	}
	return err
}
