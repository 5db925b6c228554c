package director

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

// VirtualID names a virtual service for metrics: its protocol ("tcp",
// "udp", "fwm") and its address ("10.0.0.1:80", "[2001:db8::1]:80") or
// firewall mark ("5", "5 ipv6"). Two configured virtuals never share one.
type VirtualID struct {
	Protocol string
	Virtual  string
}

// IDOf is the VirtualID of v.
func IDOf(v *config.Virtual) VirtualID {
	if v.Protocol == "fwm" {
		s := strconv.FormatUint(uint64(v.FWMark), 10)
		if v.IPv6 {
			s += " ipv6"
		}
		return VirtualID{Protocol: "fwm", Virtual: s}
	}
	return VirtualID{Protocol: v.Protocol, Virtual: v.Addr.String()}
}

// Check outcomes reported to an Observer.
const (
	OutcomeOK      = "ok"
	OutcomeFailed  = "failed"
	OutcomeTimeout = "timeout"
)

// Observer is told what the director does (ldird/metrics implements it).
// Its methods are called from the director's goroutine, and must not
// block: the table waits meanwhile. An Observer that is also a
// CheckSinker hears of the results that change nothing through its sinks
// instead, on the checks' goroutines (see checkTag).
type Observer interface {
	// CheckResult reports one check result once for each virtual that
	// checks the real: a real listed with the same check by several
	// virtuals is checked once (as ldirectord does) and counts in each.
	// outcome is OutcomeOK, OutcomeFailed or OutcomeTimeout.
	CheckResult(v VirtualID, outcome string, latency time.Duration)
	// TableOp reports one dataplane operation the director attempted and
	// its error (nil when applied).
	TableOp(kind OpKind, err error)
	// VirtualRemoved reports a virtual that a reload took out of the
	// configuration, so per-virtual series can be dropped.
	VirtualRemoved(v VirtualID)
	// CheckStartDelay reports how long after its due time a scheduled
	// check started (check.RunnerOptions.StartDelay): called from the
	// checks' goroutines, thousands of times a second, so it must be
	// quick and safe for concurrent use.
	CheckStartDelay(delay time.Duration)
}

// Outcome classifies a check result: ok, a timeout (the check's deadline
// passed), or any other failure.
func Outcome(r check.Result) string {
	if r.OK {
		return OutcomeOK
	}
	var ne net.Error
	if errors.Is(r.Err, context.DeadlineExceeded) || errors.Is(r.Err, os.ErrDeadlineExceeded) ||
		(errors.As(r.Err, &ne) && ne.Timeout()) {
		return OutcomeTimeout
	}
	return OutcomeFailed
}

// Snapshot is the director's view at one moment, for metrics.
type Snapshot struct {
	Virtuals []VirtualSnapshot // in configuration order
	// TableServices and TableDests count the whole dataplane table, ours
	// and foreign services alike (what `ipvsadm -L -n` lists).
	TableServices, TableDests int
	// TableErr is set when the table could not be read; InTable, Weight,
	// FallbackActive and the counts are then unknown (zero).
	TableErr error
}

// VirtualSnapshot is one configured virtual.
type VirtualSnapshot struct {
	ID VirtualID
	// FallbackActive: the fallback server is in the table.
	FallbackActive bool
	Reals          []RealSnapshot // one per table entry a real maps to, in configuration order
}

// RealSnapshot is one configured real of a virtual.
type RealSnapshot struct {
	Real        string      // ip:port as in the table
	State       check.State // the check's state
	Maintenance bool        // taken out by maintenancedir
	Up          bool        // checked up and not in maintenance: what the table follows
	InTable     bool
	Weight      int // weight in the table; 0 when not in it
}

// Snapshot reads the configuration, every real's check state and the
// table. It does not go through the director's loop, so a scrape never
// waits for a table pass: the configuration and maintenance flags are
// those the loop last published, the check states the runner's, and the
// table is read as the dataplane holds it now.
func (d *Director) Snapshot() Snapshot {
	var snap Snapshot
	pub := d.published.Load()
	cfg := pub.cfg
	tv := d.readTable()
	table := tv.byService
	snap.TableServices, snap.TableDests, snap.TableErr = tv.services, tv.dests, tv.err
	if cfg == nil {
		return snap
	}
	opts := d.p.opt.DesiredOptions
	for _, v := range cfg.Virtuals {
		inTable := table[ServiceFor(v).Key()]
		vs := VirtualSnapshot{ID: IDOf(v)}
		seen := map[string]bool{}
		for _, r := range v.Reals {
			dst := DestFor(v, r, r.Weight, opts)
			key := dst.Key()
			if seen[key] {
				continue
			}
			seen[key] = true
			k := v.CheckKey(r)
			st, _ := d.runner.Status(k)
			rs := RealSnapshot{Real: key, State: st.State, Maintenance: pub.maint[k]}
			rs.Up = st.State == check.Up && !rs.Maintenance
			if x, ok := inTable[key]; ok {
				rs.InTable, rs.Weight = true, x.Weight
			}
			vs.Reals = append(vs.Reals, rs)
		}
		if v.Fallback != nil {
			fk := DestFor(v, v.Fallback, 1, opts).Key()
			_, active := inTable[fk]
			// A fallback that is also a configured real is that real.
			vs.FallbackActive = active && !seen[fk]
		}
		snap.Virtuals = append(snap.Virtuals, vs)
	}
	return snap
}

// tableView is the dataplane's whole table as read now: each service's
// destinations by key, the counts, and the last error of the reading (a
// service deleted meanwhile is no error).
type tableView struct {
	byService       map[string]map[string]dataplane.Dest
	services, dests int
	err             error
}

func (d *Director) readTable() tableView {
	tv := tableView{byService: map[string]map[string]dataplane.Dest{}}
	svcs, err := d.dp.Services()
	if err != nil {
		tv.err = err
	}
	for _, s := range svcs {
		ds, err := d.dp.Dests(s)
		if errors.Is(err, dataplane.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			tv.err = err
			continue
		}
		tv.services++
		tv.dests += len(ds)
		m := make(map[string]dataplane.Dest, len(ds))
		for _, x := range ds {
			m[x.Key()] = x
		}
		tv.byService[s.Key()] = m
	}
	return tv
}
