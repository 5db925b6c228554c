package director

import (
	"net/netip"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

// Health tells Desired whether a real of a virtual is up (checked up and
// not in maintenance) and whether its entry has been published before.
type Health interface {
	Up(v *config.Virtual, r *config.Real) bool
	// Seeded reports whether the real's down entry was already put in the
	// table once; with readdquiescent=no a seeded quiescent real that is
	// missing is not added back.
	Seeded(v *config.Virtual, r *config.Real) bool
}

// DesiredOptions adjust how config maps to table entries.
type DesiredOptions struct {
	// KernelPorts applies IPVS's rule that a gate or ipip real of a
	// non-fwmark service always has the service's port (the kernel
	// rewrites it), so the desired entry matches what the table reads
	// back. Without it (userspace), only a real without a port gets the
	// service's port.
	KernelPorts    bool
	ReaddQuiescent bool // global readdquiescent
}

// ServiceFor is the dataplane service of a configured virtual.
func ServiceFor(v *config.Virtual) dataplane.Service {
	s := dataplane.Service{Protocol: v.Protocol, IPv6: v.IPv6, Scheduler: v.Scheduler}
	if v.Protocol == "fwm" {
		s.FWMark = v.FWMark
	} else {
		s.Addr, s.Port = v.Addr.Addr(), v.Addr.Port()
	}
	if v.Persistent > 0 {
		s.Persistent = v.Persistent
		s.PersistentMask = v.Netmask
	}
	s.SchedFlags, s.OnePacket = v.Flags, v.OPS
	// Userspace proxy only: config refuses them with the ipvs dataplane.
	s.MaxConns, s.ClientTimeout, s.ServerTimeout = v.MaxConn, v.ClientTimeout, v.ServerTimeout
	return s
}

// DestFor is the table entry of a real (or the fallback) of v at weight.
func DestFor(v *config.Virtual, r *config.Real, weight int, o DesiredOptions) dataplane.Dest {
	port := r.Port
	if v.Protocol != "fwm" {
		if port == 0 || (o.KernelPorts && r.Method != "masq") {
			port = v.Addr.Port()
		}
	}
	return dataplane.Dest{Addr: r.Addr, Port: port, Weight: weight, Method: r.Method}
}

// Desired is the table the configuration and the health of the reals ask
// for: for every virtual its service; a real that is up at its weight; a
// real that is down at weight 0 (quiescent=yes) or absent (quiescent=no);
// the fallback at weight 1 only while no real is up. retired lists services
// that were ours and are no longer configured (marked Remove). Every entry
// names the virtual and the real or fallback it stands for, absent ones
// included (DestState.Absent), so the ops Diff makes carry them.
//
// When h is also Administered, an administrator's override wins over the
// check: a drained real is in the table at weight 0 and a disabled one is
// not, whatever its health and quiescent say.
func Desired(cfg *config.Config, h Health, retired []dataplane.Service, o DesiredOptions) []ServiceState {
	out := make([]ServiceState, 0, len(cfg.Virtuals)+len(retired))
	adm, _ := h.(Administered)
	for _, v := range cfg.Virtuals {
		ss := ServiceState{Service: ServiceFor(v), Virtual: v}
		var fbKey netip.AddrPort
		if v.Fallback != nil {
			fd := DestFor(v, v.Fallback, 1, o)
			fbKey = netip.AddrPortFrom(fd.Addr, fd.Port)
		}
		anyUp := false
		seen := map[netip.AddrPort]bool{}
		for _, r := range v.Reals {
			d := DestFor(v, r, r.Weight, o)
			k := netip.AddrPortFrom(d.Addr, d.Port)
			if seen[k] {
				continue // the kernel would hold one entry for both
			}
			seen[k] = true
			if adm != nil {
				switch adm.Admin(v, r) {
				case AdminDrained:
					d.Weight = 0
					ss.Dests = append(ss.Dests, DestState{Dest: d, Real: r})
					continue
				case AdminDisabled:
					ss.Dests = append(ss.Dests, DestState{Dest: d, Real: r, Absent: true,
						Fallback: v.Fallback != nil && k == fbKey})
					continue
				}
			}
			if h.Up(v, r) {
				anyUp = true
				ss.Dests = append(ss.Dests, DestState{Dest: d, Real: r})
				continue
			}
			if !v.Quiescent {
				// A real that is also the fallback is deleted as the
				// fallback (ldirectord compares the server, not the line).
				ss.Dests = append(ss.Dests, DestState{Dest: d, Real: r, Absent: true,
					Fallback: v.Fallback != nil && k == fbKey})
				continue
			}
			d.Weight = 0
			ss.Dests = append(ss.Dests, DestState{Dest: d, Real: r, IfPresent: !o.ReaddQuiescent && h.Seeded(v, r)})
		}
		if v.Fallback != nil && !seen[fbKey] {
			d := DestFor(v, v.Fallback, 1, o)
			ss.Dests = append(ss.Dests, DestState{Dest: d, Real: v.Fallback, Fallback: true, Absent: anyUp})
		}
		out = append(out, ss)
	}
	for _, s := range retired {
		out = append(out, ServiceState{Service: s, Remove: true})
	}
	return out
}

// AnyUp reports whether some real of v is up.
func AnyUp(v *config.Virtual, h Health) bool {
	for _, r := range v.Reals {
		if h.Up(v, r) {
			return true
		}
	}
	return false
}
