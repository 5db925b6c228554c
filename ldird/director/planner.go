package director

import (
	"fmt"
	"log/slog"
	"maps"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

// retryDelay is how long after a failed table read or change the planner
// asks for the next pass.
const retryDelay = time.Second

// planner makes every decision of the director. It takes inputs (the
// configuration, check results, the table as read, the outcome of the ops
// it asked for, the time) and returns what to do: table ops, and actions
// (alerts, fallbackcommands, monitorfile lines, observer reports). It
// reads no clock and does no I/O apart from logging its decisions, so
// tests step it one input at a time; the Director drives it from one
// goroutine.
//
// A table pass is two calls: plan (the table as read in, the ops out),
// then applied (each op's error in, the reports and commands out).
type planner struct {
	log *slog.Logger
	opt plannerOptions

	cfg    *config.Config
	status config.AlertStatus
	// holding: no table pass is due, before the first check round has
	// completed (start) and once stopping.
	holding bool
	// checks is every check by config.CheckKey: whom it serves and its
	// health as its results said. maint lists the checks in maintenance
	// for readers: it is replaced, never changed in place.
	checks map[string]*checkState
	maint  map[string]bool
	// seeded: reals (virtual key -> real keys) whose entry a table pass
	// has published: with readdquiescent=no, a quiescent one deleted by
	// hand stays deleted.
	seeded  map[string]map[string]bool
	retired map[string]dataplane.Service // services we own but no longer configure
	fbcmd   map[string]string            // virtual key -> last fallbackcommand argument
	// admin holds the administrator's overrides (drain, disable); like
	// maint it is replaced, never changed in place.
	admin   map[adminKey]AdminEntry
	alerts  map[string]*alertTrack // reals reported down, for emailalertfreq
	changes uint64                 // table passes that changed something
	version uint64                 // counts changes of what view shows

	dirty   bool      // a pass is due
	retryAt time.Time // a failed pass is retried then (zero: none)
	pass    *pass     // the ops of the pass being applied
	out     []action
}

type plannerOptions struct {
	DesiredOptions // KernelPorts; ReaddQuiescent is taken from the configuration
	hostname       string
	pid            int
}

// checkState is one check: the (virtual, real) pairs it serves, in
// configuration order, and what its last result said.
type checkState struct {
	uses  []checkUse
	ids   []VirtualID // the virtuals its results count in, once each (observedIDs)
	state check.State // the runner's state (failurecount applied)
	maint bool        // the last result was "in maintenance"
}

// checkUse is one (virtual, real) that a check serves.
type checkUse struct {
	v  *config.Virtual
	r  *config.Real
	id VirtualID
}

// pass is a table pass between plan and applied.
type pass struct {
	start   time.Time
	ops     []Op
	up      map[string]bool // virtual key -> some real up
	retired []dataplane.Service
}

// action is something the planner asks the driver to do, in order.
type action interface{ isAction() }

// sendAlert queues an email alert.
type sendAlert struct{ mail mail }

// runCommand queues a fallbackcommand.
type runCommand struct{ cmdline string }

// writeMonitor appends a line to a monitorfile.
type writeMonitor struct{ file, line string }

// observeCheck reports a check result to the Observer.
type observeCheck struct {
	id      VirtualID
	outcome string
	latency time.Duration
}

// virtualRemoved reports a virtual a reload dropped to the Observer.
type virtualRemoved struct{ id VirtualID }

func (sendAlert) isAction()      {}
func (runCommand) isAction()     {}
func (writeMonitor) isAction()   {}
func (observeCheck) isAction()   {}
func (virtualRemoved) isAction() {}

func newPlanner(log *slog.Logger, opt plannerOptions) *planner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &planner{log: log, opt: opt, status: config.AlertStarting, holding: true,
		checks: map[string]*checkState{}, maint: map[string]bool{},
		seeded: map[string]map[string]bool{}, retired: map[string]dataplane.Service{},
		fbcmd: map[string]string{}, alerts: map[string]*alertTrack{}}
}

func (p *planner) take() []action {
	out := p.out
	p.out = nil
	return out
}

func (p *planner) desiredOpts() DesiredOptions {
	o := p.opt.DesiredOptions
	o.ReaddQuiescent = p.cfg.Global.ReaddQuiescent
	return o
}

// start takes cfg as the running configuration, in state "starting": the
// checks that seeds marks (reals found in the table with weight > 0) are
// up, the others unknown, and no table pass is due until firstRound.
func (p *planner) start(cfg *config.Config, seeds map[string]bool) {
	p.cfg, p.status, p.holding = cfg, config.AlertStarting, true
	p.version++
	p.checks = checksOf(cfg, nil, seeds)
}

func seedState(up bool) check.State {
	if up {
		return check.Up
	}
	return check.Unknown
}

// firstRound: every check has reported once (or the wait for it ended);
// the table may be published.
func (p *planner) firstRound() {
	p.holding, p.dirty = false, true
}

// setStatus is the daemon state alerts are filtered by (emailalertstatus).
func (p *planner) setStatus(s config.AlertStatus) { p.status = s }

// reload switches to cfg in state "reloading": checks that stay keep their
// state, new ones start from seeds, services no longer configured are
// retired (deleted by the next pass), and the virtuals dropped are
// reported to the Observer.
func (p *planner) reload(cfg *config.Config, seeds map[string]bool) []action {
	old := p.cfg
	p.status, p.dirty = config.AlertReloading, true
	newKeys := map[string]bool{}
	newIDs := map[VirtualID]bool{}
	for _, v := range cfg.Virtuals {
		newKeys[ServiceFor(v).Key()] = true
		newIDs[IDOf(v)] = true
	}
	for _, v := range old.Virtuals {
		s := ServiceFor(v)
		if !newKeys[s.Key()] {
			p.retired[s.Key()] = s
			delete(p.fbcmd, v.Key())
		}
		if id := IDOf(v); !newIDs[id] {
			p.out = append(p.out, virtualRemoved{id})
		}
	}
	for k := range newKeys {
		delete(p.retired, k)
	}
	// A real configured anew is published as a new one is: a quiescent
	// real that is down is added at weight 0 whatever readdquiescent says.
	configured := map[string]map[string]bool{}
	for _, v := range cfg.Virtuals {
		rs := configured[v.Key()]
		if rs == nil {
			rs = map[string]bool{}
			configured[v.Key()] = rs
		}
		for _, r := range v.Reals {
			rs[r.Key()] = true
		}
	}
	for vk, reals := range p.seeded {
		keep, ok := configured[vk]
		if !ok {
			delete(p.seeded, vk)
			continue
		}
		maps.DeleteFunc(reals, func(rk string, _ bool) bool { return !keep[rk] })
	}
	p.cfg = cfg
	p.version++
	p.checks = checksOf(cfg, p.checks, seeds)
	for k := range p.maint {
		if _, ok := p.checks[k]; !ok {
			m := maps.Clone(p.maint)
			maps.DeleteFunc(m, func(k string, _ bool) bool { _, ok := p.checks[k]; return !ok })
			p.maint = m
			break
		}
	}
	return p.take()
}

// checksOf is the checks of cfg: a check in old keeps its health, a new
// one starts up if seeds marks it, else unknown.
func checksOf(cfg *config.Config, old map[string]*checkState, seeds map[string]bool) map[string]*checkState {
	out := map[string]*checkState{}
	for _, v := range cfg.Virtuals {
		id := IDOf(v)
		for _, r := range v.Reals {
			k := v.CheckKey(r)
			cs := out[k]
			if cs == nil {
				cs = &checkState{state: seedState(seeds[k])}
				if o, ok := old[k]; ok {
					cs.state, cs.maint = o.state, o.maint
				}
				out[k] = cs
			}
			cs.uses = append(cs.uses, checkUse{v: v, r: r, id: id})
		}
	}
	for _, cs := range out {
		cs.ids = observedIDs(cs.uses)
	}
	return out
}

// checkResult takes one check result: it records the real's state and
// maintenance, writes the monitorfile lines, reports the result to the
// Observer once per virtual that checks the real, and asks for a table
// pass when the real's state or maintenance changed.
func (p *planner) checkResult(now time.Time, ev check.Event) []action {
	cs, ok := p.checks[ev.Key]
	if !ok {
		return nil // a check that a reload removed, reporting late
	}
	cs.state = ev.State
	if in := inMaintenance(ev.Result); in != cs.maint {
		cs.maint = in
		m := maps.Clone(p.maint)
		if in {
			m[ev.Key] = true
		} else {
			delete(m, ev.Key)
		}
		p.maint = m
		p.dirty = true
		p.version++
	}
	if ev.Changed || ev.Initial {
		p.dirty = true
	}
	outcome := Outcome(ev.Result)
	for _, id := range cs.ids {
		p.out = append(p.out, observeCheck{id: id, outcome: outcome, latency: ev.Result.Latency})
	}
	for _, u := range cs.uses {
		if u.v.MonitorFile != "" {
			p.out = append(p.out, writeMonitor{file: u.v.MonitorFile, line: monitorLine(now, p.opt.pid, u.v, u.r, ev.Result)})
		}
	}
	return p.take()
}

// quietIDs is who hears of a result of check key that changes nothing
// (see checkTag): the virtuals checkResult reports it to, in its order;
// ok is false when such a result must still come here, for a
// monitorfile line, or because the check is not configured.
func (p *planner) quietIDs(key string) (ids []VirtualID, ok bool) {
	cs, ok := p.checks[key]
	if !ok {
		return nil, false
	}
	for _, u := range cs.uses {
		if u.v.MonitorFile != "" {
			return nil, false
		}
	}
	return cs.ids, true
}

// observedIDs is the virtuals that a check's results count in: those of
// uses, in order, a virtual listing the real twice counted once.
func observedIDs(uses []checkUse) []VirtualID {
	var ids []VirtualID
	for i, u := range uses {
		if i == 0 || u.id != uses[i-1].id {
			ids = append(ids, u.id)
		}
	}
	return ids
}

// poke asks for a table pass.
func (p *planner) poke() { p.dirty = true }

// due reports whether a table pass is wanted now.
func (p *planner) due(now time.Time) bool {
	if p.holding || p.cfg == nil {
		return false
	}
	return p.dirty || (!p.retryAt.IsZero() && !now.Before(p.retryAt))
}

// deadline is when the planner next needs the clock (tick): a retry or an
// alert to repeat. Zero: nothing is scheduled.
func (p *planner) deadline() time.Time {
	var at time.Time
	if !p.retryAt.IsZero() && !p.holding {
		at = p.retryAt
	}
	for _, a := range p.alerts {
		if t := a.last.Add(a.v.EmailAlertFreq); at.IsZero() || t.Before(at) {
			at = t
		}
	}
	return at
}

// tick repeats the alerts that are due (ldirectord's
// ld_emailalert_resend); a retry that is due shows in due.
func (p *planner) tick(now time.Time) []action {
	p.resendAlerts(now)
	return p.take()
}

// tableKeys are the services a table pass reads: the configured ones and
// the retired ones.
func (p *planner) tableKeys() map[string]bool {
	keys := keysOf(p.cfg, nil)
	for k := range p.retired {
		keys[k] = true
	}
	return keys
}

// Up implements Health: checked up, not in maintenance and not drained
// or disabled by an administrator.
func (p *planner) Up(v *config.Virtual, r *config.Real) bool {
	cs := p.checks[v.CheckKey(r)]
	return cs != nil && cs.state == check.Up && !cs.maint && p.Admin(v, r) == AdminEnabled
}

// Seeded implements Health.
func (p *planner) Seeded(v *config.Virtual, r *config.Real) bool {
	return p.seeded[v.Key()][r.Key()]
}

// plan starts a table pass over actual (the services of tableKeys as
// read): the ops that make it what configuration and health ask for. The
// driver applies them in order and reports with applied.
func (p *planner) plan(now time.Time, actual []ServiceState) []Op {
	retired := make([]dataplane.Service, 0, len(p.retired))
	for _, s := range p.retired {
		retired = append(retired, s)
	}
	up := make(map[string]bool, len(p.cfg.Virtuals))
	for _, v := range p.cfg.Virtuals {
		up[v.Key()] = AnyUp(v, p)
	}
	ops := Diff(Desired(p.cfg, p, retired, p.desiredOpts()), actual)
	p.dirty, p.retryAt = false, time.Time{}
	p.pass = &pass{start: now, ops: ops, up: up, retired: retired}
	return ops
}

// tableUnreadable ends a pass whose table read failed: retried later.
func (p *planner) tableUnreadable(now time.Time, err error) {
	p.log.Error("read the table", "err", err)
	p.dirty, p.retryAt = false, now.Add(retryDelay)
}

// applied ends the pass plan started: errs[i] is the outcome of its op i.
// It logs and alerts each change as ldirectord does, runs the
// fallbackcommands whose state changed, and schedules a retry if an op
// failed.
func (p *planner) applied(now time.Time, errs []error) []action {
	ps := p.pass
	p.pass = nil
	failed := false
	for i, op := range ps.ops {
		if errs[i] != nil {
			p.log.Error("table change failed", "op", op.String(), "err", errs[i])
			failed = true
			continue
		}
		p.report(now, op, ps.up)
	}
	if !failed {
		for _, s := range ps.retired {
			delete(p.retired, s.Key())
		}
	}
	for _, v := range p.cfg.Virtuals {
		if p.seeded[v.Key()] == nil {
			p.seeded[v.Key()] = map[string]bool{}
		}
		for _, r := range v.Reals {
			p.seeded[v.Key()][r.Key()] = true
		}
	}
	for _, v := range p.cfg.Virtuals {
		want := "start"
		if ps.up[v.Key()] {
			want = "stop"
		}
		if p.fbcmd[v.Key()] == want {
			continue
		}
		p.fbcmd[v.Key()] = want
		if v.FallbackCommand != "" {
			c := fmt.Sprintf("%s %s %s %s", v.FallbackCommand, want, fallbackArg(v), v.Protocol)
			p.log.Info("running fallbackcommand", "command", c)
			p.out = append(p.out, runCommand{c})
		}
	}
	if len(ps.ops) > 0 {
		p.changes++
		p.version++
		p.log.Info("table reconciled", "ops", len(ps.ops), "elapsed", now.Sub(ps.start))
	}
	if failed {
		p.retryAt = now.Add(retryDelay)
	}
	return p.take()
}

// stop enters state "stopping": no table pass is due any more.
func (p *planner) stop() {
	p.status, p.holding = config.AlertStopping, true
}

// cleanStopServices are the services cleanstop empties: those of the
// virtuals with cleanstop=yes, in configuration order. The driver reads
// their servers into Dests and passes them to cleanStop.
func (p *planner) cleanStopServices() []ServiceState {
	if p.cfg == nil {
		return nil
	}
	var out []ServiceState
	for _, v := range p.cfg.Virtuals {
		if v.CleanStop {
			out = append(out, ServiceState{Service: ServiceFor(v), Virtual: v})
		}
	}
	return out
}

// cleanStop is ldirectord's ld_stop for the services as read: each of
// their servers deleted, then the service. Report with applied.
func (p *planner) cleanStop(now time.Time, read []ServiceState) []Op {
	var ops []Op
	for _, s := range read {
		for _, d := range s.Dests {
			ops = append(ops, Op{Kind: DelDest, Service: s.Service, Dest: d.Dest, Prev: d.Dest, Virtual: s.Virtual})
		}
		ops = append(ops, Op{Kind: DelService, Service: s.Service, Virtual: s.Virtual})
	}
	p.pass = &pass{start: now, ops: ops}
	return ops
}

// stopped ends the pass cleanStop started.
func (p *planner) stopped(now time.Time, errs []error) []action {
	ps := p.pass
	p.pass = nil
	for i, op := range ps.ops {
		p.reportStop(now, op, errs[i])
	}
	return p.take()
}

// view is what status readers (Snapshot, WriteStatus, Config, Applied)
// see: published by the driver after a step that changed it (version),
// never changed after.
type view struct {
	cfg     *config.Config
	maint   map[string]bool
	admin   map[adminKey]AdminEntry
	applied uint64
	version uint64
}

func (p *planner) view() *view {
	return &view{cfg: p.cfg, maint: p.maint, admin: p.admin, applied: p.changes, version: p.version}
}
