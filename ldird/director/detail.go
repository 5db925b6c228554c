package director

import (
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/config"
)

// Detail is everything the status API shows of the director at one
// moment: per virtual its service and check, per real its health, the
// administrator's override, its entry in the table and connection counts,
// and its recent check results. Like Snapshot it does not go through the
// director's loop.
type Detail struct {
	Virtuals []VirtualDetail
	// TableServices and TableDests count the whole table; TableErr is set
	// when it could not be read (weights and counts are then unknown).
	TableServices, TableDests int
	TableErr                  error
	// Applied counts the table passes that changed the table.
	Applied uint64
}

// VirtualDetail is one configured virtual.
type VirtualDetail struct {
	ID            VirtualID
	Key           string // config.Virtual.Key: how the admin API names it
	Line          int
	Scheduler     string
	Persistent    time.Duration
	Check         string // "negotiate/http", "connect", "3/http", ...
	CheckInterval time.Duration
	CheckTimeout  time.Duration
	FailureCount  int
	Quiescent     bool
	InTable       bool
	// Fallback is the fallback server as the table would hold it ("" when
	// none); FallbackActive: it is in the table.
	Fallback       string
	FallbackActive bool
	Reals          []RealDetail
}

// RealDetail is one configured real of a virtual.
type RealDetail struct {
	Key         string // config.Real.Key: how the admin API names it
	Dest        string // ip:port as in the table
	Line        int
	Method      string // gate, masq, ipip
	Weight      int    // configured weight
	State       check.State
	Maintenance bool // maintenancedir
	Admin       AdminState
	AdminBy     string
	AdminAt     time.Time
	Up          bool // what the table follows: checked up, no maintenance, no override
	InTable     bool
	TableWeight int
	// Conns: active and inactive connections (when the dataplane counts
	// them; HasConns says whether it does).
	HasConns         bool
	Active, Inactive int64
	Checks           uint64 // completed checks
	Failures         int    // consecutive failures
	Recent           []CheckRecord
	Buckets          []CheckBucket
}

// Detail reads the view the loop last published, the checks' states and
// histories, and the table as the dataplane holds it now.
func (d *Director) Detail() Detail {
	var det Detail
	now := time.Now()
	pub := d.published.Load()
	det.Applied = pub.applied
	tv := d.readTable()
	table := tv.byService
	det.TableServices, det.TableDests, det.TableErr = tv.services, tv.dests, tv.err
	var conns map[string][2]int64
	if d.o.Conns != nil {
		conns = d.o.Conns()
	}
	cfg := pub.cfg
	if cfg == nil {
		return det
	}
	opts := d.p.opt.DesiredOptions
	for _, v := range cfg.Virtuals {
		svc := ServiceFor(v)
		inTable, ok := table[svc.Key()]
		vd := VirtualDetail{ID: IDOf(v), Key: v.Key(), Line: v.Line, Scheduler: v.Scheduler, Persistent: v.Persistent,
			Check: checkName(v), CheckInterval: v.Check.CheckInterval, CheckTimeout: v.Check.CheckTimeout,
			FailureCount: v.Check.FailureCount, Quiescent: v.Quiescent, InTable: ok}
		if v.Check.Type == config.CheckNegotiate || v.Check.Type == config.CheckCombined {
			vd.CheckTimeout = v.Check.NegotiateTimeout
		}
		seen := map[string]bool{}
		for _, r := range v.Reals {
			dst := DestFor(v, r, r.Weight, opts)
			if seen[dst.Key()] {
				continue
			}
			seen[dst.Key()] = true
			k := v.CheckKey(r)
			st, _ := d.runner.Status(k)
			rd := RealDetail{Key: r.Key(), Dest: dst.Key(), Line: r.Line, Method: r.Method, Weight: r.Weight,
				State: st.State, Maintenance: pub.maint[k], Admin: AdminEnabled, Checks: st.Checks, Failures: st.Failures}
			if e, ok := pub.admin[adminKey{Virtual: v.Key(), Real: r.Key()}]; ok {
				rd.Admin, rd.AdminBy, rd.AdminAt = e.State, e.By, e.At
			}
			rd.Up = st.State == check.Up && !rd.Maintenance && rd.Admin == AdminEnabled
			if x, ok := inTable[dst.Key()]; ok {
				rd.InTable, rd.TableWeight = true, x.Weight
			}
			if conns != nil {
				c := conns[svc.Key()+" "+dst.Key()]
				rd.HasConns, rd.Active, rd.Inactive = true, c[0], c[1]
			}
			rd.Recent, rd.Buckets = d.hist.get(k, now)
			vd.Reals = append(vd.Reals, rd)
		}
		if v.Fallback != nil {
			fk := DestFor(v, v.Fallback, 1, opts).Key()
			vd.Fallback = fk
			_, active := inTable[fk]
			vd.FallbackActive = active && !seen[fk]
		}
		det.Virtuals = append(det.Virtuals, vd)
	}
	return det
}
