package director

import (
	"fmt"
	"sort"

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
}

// ServiceState is one service: desired (with Dests exactly as wanted) or
// actual (as read from the dataplane; the flags are then unused).
type ServiceState struct {
	Service dataplane.Service
	Dests   []DestState
	// Remove marks a service that was ours and is no longer configured:
	// delete it if it is in the table.
	Remove bool
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
	Fallback bool // the desired server is the fallback
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
				ops = append(ops, Op{Kind: DelService, Service: as.Service})
			}
			continue
		}
		switch {
		case !present:
			ops = append(ops, Op{Kind: AddService, Service: ds.Service})
		case !sameService(ds.Service, as.Service):
			ops = append(ops, Op{Kind: UpdateService, Service: ds.Service})
		}
		have := make(map[string]dataplane.Dest, len(as.Dests))
		for _, d := range as.Dests {
			have[d.Key()] = d.Dest
		}
		want := append([]DestState(nil), ds.Dests...)
		sort.SliceStable(want, func(i, j int) bool { return want[i].Key() < want[j].Key() })
		wanted := make(map[string]bool, len(want))
		for _, d := range want {
			wanted[d.Key()] = true
			old, ok := have[d.Key()]
			switch {
			case !ok && d.IfPresent:
			case !ok:
				ops = append(ops, Op{Kind: AddDest, Service: ds.Service, Dest: d.Dest, Fallback: d.Fallback})
			case !sameDest(old, d.Dest):
				ops = append(ops, Op{Kind: UpdateDest, Service: ds.Service, Dest: d.Dest, Prev: old, Fallback: d.Fallback})
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
			ops = append(ops, Op{Kind: DelDest, Service: ds.Service, Dest: d, Prev: d})
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
	if sa != sb || a.Persistent != b.Persistent {
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
