package director

import (
	"fmt"
	"sort"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

// DestState is one server of a service as the director wants it.
type DestState struct {
	dataplane.Dest
	// IfPresent: hold this weight if the server is in the table, but do
	// not add it. A quiescent real with readdquiescent=no that someone
	// deleted by hand stays deleted, as in ldirectord.
	IfPresent bool
	// Fallback marks the fallback server (for logs and alerts).
	Fallback bool
	// Absent: the server must not be in the table (a down real with
	// quiescent=no, the fallback while a real is up). The entry only names
	// what a deletion removes; a server no entry names is deleted too
	// (purged), with no name.
	Absent bool
	// Real is the configured real this entry stands for (with Fallback,
	// the virtual's fallback); nil in a table as read.
	Real *config.Real
}

// ServiceState is one service: desired (with Dests exactly as wanted) or
// actual (as read from the dataplane; the flags are then unused).
type ServiceState struct {
	Service dataplane.Service
	Dests   []DestState
	// Remove marks a service that was ours and is no longer configured:
	// delete it if it is in the table.
	Remove bool
	// Virtual is the configured virtual this service stands for; nil for a
	// retired service and in a table as read.
	Virtual *config.Virtual
}

// OpKind is one dataplane call.
type OpKind int

// The operations, in the order Diff emits them: services first, then
// additions and updates of servers before deletions, so that swapping a
// real for the fallback never leaves a service empty.
const (
	AddService OpKind = iota
	UpdateService
	AddDest
	UpdateDest
	DelDest
	DelService
)

func (k OpKind) String() string {
	return [...]string{"AddService", "UpdateService", "AddDest", "UpdateDest", "DelDest", "DelService"}[k]
}

// Op is one change to apply.
type Op struct {
	Kind    OpKind
	Service dataplane.Service
	Dest    dataplane.Dest // AddDest, UpdateDest, DelDest
	// Prev is the server as it was in the table (UpdateDest, DelDest).
	Prev     dataplane.Dest
	Fallback bool // the server is the fallback
	// Virtual is the configured virtual of the service (nil: a retired
	// service), Real the configured real or fallback the server stands
	// for (nil: a server in our service that the configuration does not
	// name, which is purged). Reports use them as they are.
	Virtual *config.Virtual
	Real    *config.Real
}

func (o Op) String() string {
	switch o.Kind {
	case AddService, UpdateService, DelService:
		return fmt.Sprintf("%s %s", o.Kind, o.Service.Key())
	}
	return fmt.Sprintf("%s %s %s %s w=%d", o.Kind, o.Service.Key(), o.Dest.Key(), methodOf(o.Dest), o.Dest.Weight)
}

// Diff is the reconcile: the operations that turn actual into desired.
// Services of actual that desired does not mention are not ours and are
// never touched; within a desired service every server not desired is
// deleted (ldirectord purges untracked reals). Nothing is ever flushed.
// The result is deterministic: by kind, then service key, then server key.
func Diff(desired, actual []ServiceState) []Op {
	act := make(map[string]ServiceState, len(actual))
	for _, s := range actual {
		act[s.Service.Key()] = s
	}
	des := append([]ServiceState(nil), desired...)
	sort.SliceStable(des, func(i, j int) bool { return des[i].Service.Key() < des[j].Service.Key() })

	var ops []Op
	for _, ds := range des {
		key := ds.Service.Key()
		as, present := act[key]
		if ds.Remove {
			if present {
				ops = append(ops, Op{Kind: DelService, Service: as.Service, Virtual: ds.Virtual})
			}
			continue
		}
		switch {
		case !present:
			ops = append(ops, Op{Kind: AddService, Service: ds.Service, Virtual: ds.Virtual})
		case !sameService(ds.Service, as.Service):
			ops = append(ops, Op{Kind: UpdateService, Service: ds.Service, Virtual: ds.Virtual})
		}
		have := make(map[string]dataplane.Dest, len(as.Dests))
		for _, d := range as.Dests {
			have[d.Key()] = d.Dest
		}
		want := append([]DestState(nil), ds.Dests...)
		sort.SliceStable(want, func(i, j int) bool { return want[i].Key() < want[j].Key() })
		wanted := make(map[string]bool, len(want))
		named := map[string]DestState{} // absent entries: who a deletion removes
		for _, d := range want {
			if d.Absent {
				if _, ok := named[d.Key()]; !ok {
					named[d.Key()] = d
				}
				continue
			}
			wanted[d.Key()] = true
			old, ok := have[d.Key()]
			op := Op{Service: ds.Service, Dest: d.Dest, Fallback: d.Fallback, Virtual: ds.Virtual, Real: d.Real}
			switch {
			case !ok && d.IfPresent:
			case !ok:
				op.Kind = AddDest
				ops = append(ops, op)
			case !sameDest(old, d.Dest):
				op.Kind, op.Prev = UpdateDest, old
				ops = append(ops, op)
			}
		}
		gone := make([]dataplane.Dest, 0)
		for _, d := range as.Dests {
			if !wanted[d.Key()] {
				gone = append(gone, d.Dest)
			}
		}
		sort.Slice(gone, func(i, j int) bool { return gone[i].Key() < gone[j].Key() })
		for _, d := range gone {
			n := named[d.Key()]
			ops = append(ops, Op{Kind: DelDest, Service: ds.Service, Dest: d, Prev: d,
				Fallback: n.Fallback, Virtual: ds.Virtual, Real: n.Real})
		}
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Kind < ops[j].Kind })
	return ops
}

// sameService compares what UpdateService can change. An empty scheduler
// is ipvsadm's default, wlc; the persistence mask matters only when the
// service is persistent, and 0 means a full-length mask. The userspace
// proxy's limit and timeouts count too (always zero with IPVS).
func sameService(a, b dataplane.Service) bool {
	sa, sb := a.Scheduler, b.Scheduler
	if sa == "" {
		sa = "wlc"
	}
	if sb == "" {
		sb = "wlc"
	}
	if sa != sb || a.Persistent != b.Persistent || a.SchedFlags != b.SchedFlags || a.OnePacket != b.OnePacket {
		return false
	}
	if a.MaxConns != b.MaxConns || a.ClientTimeout != b.ClientTimeout || a.ServerTimeout != b.ServerTimeout {
		return false
	}
	if a.Persistent == 0 {
		return true
	}
	return fullMask(a) == fullMask(b)
}

func fullMask(s dataplane.Service) int {
	if s.PersistentMask != 0 {
		return s.PersistentMask
	}
	if s.IPv6 || s.Addr.Is6() {
		return 128
	}
	return 32
}

func methodOf(d dataplane.Dest) string {
	if d.Method == "" {
		return "gate"
	}
	return d.Method
}

func sameDest(a, b dataplane.Dest) bool {
	return a.Weight == b.Weight && methodOf(a) == methodOf(b)
}
