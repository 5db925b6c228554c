package membership

import (
	"strconv"
	"testing"
	"time"

	"lvsha/hbd/wire"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func cfg() Config {
	return Config{Self: "alpha", Nodes: []string{"alpha", "beta"}, Links: []string{"eth1", "eth2"},
		Keepalive: 100 * time.Millisecond, Deadtime: time.Second, Warntime: 500 * time.Millisecond,
		Initdead: 3 * time.Second, Seed: 1}
}

func msg(src, t string, seq, gen uint64, kv ...string) *wire.Message {
	m := wire.New(t)
	for i := 0; i+1 < len(kv); i += 2 {
		m.Set(kv[i], kv[i+1])
	}
	m.Set("src", src)
	if seq > 0 {
		m.Set("seq", strconv.FormatUint(seq, 16))
	}
	m.Set("hg", strconv.FormatUint(gen, 16))
	m.Set("ts", "6b02e491")
	return m
}

func status(seq, gen uint64, st string) *wire.Message {
	return msg("beta", "status", seq, gen, "st", st, "dt", "3e8", "protocol", "1")
}

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func kinds(evs []Event) []string {
	var out []string
	for _, e := range evs {
		s := e.Kind.String() + ":" + e.Node
		if e.Link != "" {
			s += "/" + e.Link
		}
		out = append(out, s)
	}
	return out
}

func hasEvent(evs []Event, k EventKind) bool {
	for _, e := range evs {
		if e.Kind == k {
			return true
		}
	}
	return false
}

func view(t *testing.T, m *Membership, node string) NodeView {
	t.Helper()
	v, ok := m.Node(node)
	if !ok {
		t.Fatalf("node %s missing", node)
	}
	return v
}

func TestJoinDuplicateAndCommUp(t *testing.T) {
	m := New(cfg(), t0)
	if m.OwnStatus() != StatusUp || m.CommUp() {
		t.Fatalf("start: own %s commUp %v", m.OwnStatus(), m.CommUp())
	}
	r := m.Receive(at(10), 0, status(1, 7, "active"))
	if r.Verdict != Accept || !r.Deliver {
		t.Fatalf("first status: %+v", r)
	}
	if !hasEvent(r.Events, LinkUp) || !hasEvent(r.Events, NodeStatusChanged) {
		t.Fatalf("events %v", kinds(r.Events))
	}
	// The same packet on the second link: a duplicate that brings that link up.
	r = m.Receive(at(11), 1, status(1, 7, "active"))
	if r.Verdict != Duplicate || r.Deliver {
		t.Fatalf("second copy: %+v", r)
	}
	if got := kinds(r.Events); len(got) != 1 || got[0] != "link-up:beta/eth2" {
		t.Fatalf("second copy events %v", got)
	}
	evs, _ := m.Tick(at(20))
	if !hasEvent(evs, CommUp) || !m.CommUp() || m.OwnStatus() != StatusActive {
		t.Fatalf("comm up: %v", kinds(evs))
	}
	v := view(t, m, "beta")
	if v.Status != StatusActive || !v.Links[0].Up || !v.Links[1].Up || !v.Protocol || v.Deadtime != time.Second {
		t.Fatalf("beta view %+v", v)
	}
}

// feed sends beta's heartbeats every 100 ms from..to on the given links.
func feed(m *Membership, seq *uint64, fromMS, toMS int, links ...int) (evs []Event) {
	for ms := fromMS; ms <= toMS; ms += 100 {
		*seq++
		for _, l := range links {
			evs = append(evs, m.Receive(at(ms), l, status(*seq, 7, "active")).Events...)
		}
		e, _ := m.Tick(at(ms + 50))
		evs = append(evs, e...)
	}
	return evs
}

func TestLinkDeathIsNotNodeDeath(t *testing.T) {
	m := New(cfg(), t0)
	var seq uint64
	feed(m, &seq, 0, 1000, 0, 1)
	// eth1 goes silent; eth2 keeps carrying heartbeats.
	evs := feed(m, &seq, 1100, 3000, 1)
	if got := kinds(evs); len(got) != 1 || got[0] != "link-dead:beta/eth1" {
		t.Fatalf("events %v", got)
	}
	v := view(t, m, "beta")
	if v.Status != StatusActive || v.Links[0].Up || !v.Links[1].Up {
		t.Fatalf("beta %+v", v)
	}
	// eth1 comes back.
	evs = feed(m, &seq, 3100, 3200, 0, 1)
	if got := kinds(evs); len(got) != 1 || got[0] != "link-up:beta/eth1" {
		t.Fatalf("events %v", got)
	}
}

func TestNodeDeathAtAdvertisedDeadtime(t *testing.T) {
	c := cfg()
	c.Deadtime = 500 * time.Millisecond
	m := New(c, t0)
	var seq uint64
	feed(m, &seq, 0, 1000, 0, 1) // beta advertises dt=0x3e8 = 1000 ms
	last := at(1000)
	for ms := 1010; ms <= 3000; ms += 10 {
		evs, _ := m.Tick(at(ms))
		if hasEvent(evs, NodeDead) {
			silent := at(ms).Sub(last)
			if silent <= time.Second || silent > time.Second+10*time.Millisecond {
				t.Fatalf("declared dead after %v, want just over beta's dt of 1s", silent)
			}
			if v := view(t, m, "beta"); v.Status != StatusDead || v.Links[0].Up || v.Links[1].Up {
				t.Fatalf("beta %+v", v)
			}
			// It comes back: status changes from dead, links up again.
			seq++
			r := m.Receive(at(ms+500), 0, status(seq, 7, "active"))
			if r.Verdict != Accept || !hasEvent(r.Events, NodeStatusChanged) || !hasEvent(r.Events, NodeReturned) {
				t.Fatalf("return: %+v %v", r, kinds(r.Events))
			}
			return
		}
	}
	t.Fatal("never declared dead")
}

// TestLateHeartbeat: as Heartbeat, the warning comes when the late status
// arrives and gives the real interval since the previous one; silence alone
// warns nothing (it ends in death), a gap under warntime warns nothing.
func TestLateHeartbeat(t *testing.T) {
	tests := []struct {
		name     string
		gap      int // ms between two statuses
		want     int // late warnings
		critical bool
	}{
		{"under warntime", 400, 0, false},
		{"over warntime", 700, 1, false},
		{"over deadtime", 1200, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(cfg(), t0)
			var seq uint64
			evs := feed(m, &seq, 0, 200, 0)
			// Silence: ticks see nothing late.
			for ms := 210; ms < 200+tc.gap; ms += 10 {
				e, _ := m.Tick(at(ms))
				evs = append(evs, e...)
			}
			for _, e := range evs {
				if e.Kind == LateHeartbeat {
					t.Fatalf("late heartbeat during the silence: %+v", e)
				}
			}
			seq++
			r := m.Receive(at(200+tc.gap), 0, status(seq, 7, "active"))
			evs = append(r.Events, feed(m, &seq, 300+tc.gap, 800+tc.gap, 0)...)
			var late []Event
			for _, e := range evs {
				if e.Kind == LateHeartbeat {
					late = append(late, e)
				}
			}
			if len(late) != tc.want {
				t.Fatalf("%d late warnings, want %d: %+v", len(late), tc.want, late)
			}
			if tc.want == 1 {
				if late[0].Interval != time.Duration(tc.gap)*time.Millisecond || late[0].OverDeadtime != tc.critical {
					t.Fatalf("late %+v, want interval %d ms, over deadtime %v", late[0], tc.gap, tc.critical)
				}
			}
		})
	}
}

// TestSlowLinkCopiesAreDuplicates: a status that came first over eth2 and
// then, late, over eth1 refreshes eth1 (the link works, it is only slow),
// while the same packet again on a link it already came over is stale.
func TestSlowLinkCopiesAreDuplicates(t *testing.T) {
	m := New(cfg(), t0)
	var seq uint64
	feed(m, &seq, 0, 8000, 1) // eth2 only: 81 statuses, more than remembered
	late := status(seq-3, 7, "active")
	r := m.Receive(at(8010), 0, late) // three statuses behind, over eth1
	if r.Verdict != Duplicate || !hasEvent(r.Events, LinkUp) {
		t.Fatalf("late copy on the slow link: %+v %v, want a duplicate bringing eth1 up", r, kinds(r.Events))
	}
	for _, link := range []int{0, 1} {
		if r := m.Receive(at(8020), link, status(seq-3, 7, "active")); r.Verdict != Drop || r.Reason != ReasonOldStatus {
			t.Fatalf("the same copy again on link %d: %+v, want dropped as %s", link, r, ReasonOldStatus)
		}
	}
	// Too old to be remembered: stale, whatever the link.
	if r := m.Receive(at(8030), 0, status(1, 7, "active")); r.Verdict != Drop || r.Reason != ReasonOldStatus {
		t.Fatalf("a status from the start on eth1: %+v", r)
	}
	// A slow link stays up on its late copies alone.
	for ms := 8100; ms < 11000; ms += 100 {
		seq++
		m.Receive(at(ms), 1, status(seq, 7, "active"))
		m.Receive(at(ms+50), 0, status(seq-3, 7, "active"))
		evs, _ := m.Tick(at(ms + 60))
		if hasEvent(evs, LinkDead) {
			t.Fatalf("eth1 declared dead at %d ms while its copies arrive 300 ms late: %v", ms, kinds(evs))
		}
	}
}

func TestInitdead(t *testing.T) {
	m := New(cfg(), t0)
	evs, _ := m.Tick(at(2900))
	if len(evs) != 0 || m.CommUp() {
		t.Fatalf("before initdead: %v", kinds(evs))
	}
	evs, _ = m.Tick(at(3010))
	if got := kinds(evs); len(got) != 2 || got[0] != "node-dead:beta" || got[1] != "comm-up:alpha" {
		t.Fatalf("after initdead: %v", got)
	}
}

func TestDrops(t *testing.T) {
	tests := []struct {
		name    string
		prep    []*wire.Message
		in      *wire.Message
		verdict Verdict
		reason  string
	}{
		{name: "unknown node", in: msg("gamma", "status", 1, 7, "st", "up"), verdict: Drop, reason: ReasonUnknownNode},
		{name: "no src", in: func() *wire.Message { m := wire.New("status"); m.Set("ts", "1"); return m }(), verdict: Drop, reason: ReasonMissingFields},
		{name: "zero ts", in: func() *wire.Message { m := status(1, 7, "up"); m.Set("ts", "0"); return m }(), verdict: Drop, reason: ReasonMissingFields},
		{name: "no seq", in: msg("beta", "starting", 0, 7), verdict: Drop, reason: ReasonBadSeq},
		{name: "old generation", prep: []*wire.Message{status(5, 7, "active")}, in: status(6, 6, "active"), verdict: Drop, reason: ReasonOldGeneration},
		{name: "old status seq", prep: []*wire.Message{status(5, 7, "active")}, in: status(4, 7, "active"), verdict: Drop, reason: ReasonOldStatus},
		{name: "replay far behind", prep: []*wire.Message{status(900, 7, "active")}, in: msg("beta", "resource", 3, 7), verdict: Drop, reason: ReasonReplay},
		{name: "own message", in: msg("alpha", "status", 1, 7, "st", "up"), verdict: Own},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(cfg(), t0)
			for _, p := range tc.prep {
				if r := m.Receive(at(0), 0, p); r.Verdict != Accept {
					t.Fatalf("prep: %+v", r)
				}
			}
			r := m.Receive(at(10), 1, tc.in)
			if r.Verdict != tc.verdict || r.Reason != tc.reason || r.Deliver {
				t.Fatalf("got %v %q deliver=%v, want %v %q", r.Verdict, r.Reason, r.Deliver, tc.verdict, tc.reason)
			}
			if tc.verdict == Drop {
				if v := view(t, m, "beta"); len(tc.prep) == 0 && (v.Status != StatusInit || v.Links[1].Up) {
					t.Fatalf("a dropped packet changed state: %+v", v)
				}
			}
		})
	}
}

func TestRestartResetsSequence(t *testing.T) {
	m := New(cfg(), t0)
	var seq uint64
	feed(m, &seq, 0, 500, 0)
	r := m.Receive(at(600), 0, status(1, 8, "up"))
	if r.Verdict != Accept || !hasEvent(r.Events, NodeRestarted) {
		t.Fatalf("restart: %+v %v", r, kinds(r.Events))
	}
	if v := view(t, m, "beta"); v.Generation != 8 || v.Status != StatusUp {
		t.Fatalf("beta %+v", v)
	}
}

func TestGapRetransmission(t *testing.T) {
	m := New(cfg(), t0)
	m.Receive(at(0), 0, status(1, 7, "active"))
	// 2 and 3 lost.
	if r := m.Receive(at(100), 0, msg("beta", "resource", 4, 7)); r.Verdict != Accept {
		t.Fatalf("gap packet: %+v", r)
	}
	_, rx := m.Tick(at(140)) // before the earliest possible request (50 ms)
	if len(rx) != 0 {
		t.Fatalf("requested too early: %v", rx)
	}
	_, rx = m.Tick(at(100 + 251))
	if len(rx) != 2 || rx[0] != (Rexmit{Node: "beta", Seq: 2}) || rx[1].Seq != 3 {
		t.Fatalf("requests %v", rx)
	}
	// Repeated every 250 ms while missing.
	if _, rx = m.Tick(at(100 + 251 + 100)); len(rx) != 0 {
		t.Fatalf("repeated too soon: %v", rx)
	}
	if _, rx = m.Tick(at(100 + 251 + 251)); len(rx) != 2 {
		t.Fatalf("not repeated: %v", rx)
	}
	// The retransmission of 2 is accepted and delivered; a second copy is a duplicate.
	if r := m.Receive(at(700), 0, msg("beta", "resource", 2, 7)); r.Verdict != Accept || !r.Deliver {
		t.Fatalf("rexmit: %+v", r)
	}
	if r := m.Receive(at(701), 1, msg("beta", "resource", 2, 7)); r.Verdict != Duplicate {
		t.Fatalf("rexmit copy: %+v", r)
	}
	// A nak for 3 stops the requests.
	nak := msg("beta", "NS_nak_rexmit", 0, 7, "firstseq", "3", "dest", "alpha")
	if r := m.Receive(at(710), 0, nak); r.Verdict != Accept {
		t.Fatalf("nak: %+v", r)
	}
	if _, rx = m.Tick(at(2000)); len(rx) != 0 {
		t.Fatalf("still requesting: %v", rx)
	}
}

func TestRetransmittedOldStatusFillsGap(t *testing.T) {
	m := New(cfg(), t0)
	m.Receive(at(0), 0, status(1, 7, "active"))
	m.Receive(at(100), 0, status(3, 7, "active")) // 2 lost
	r := m.Receive(at(400), 0, status(2, 7, "active"))
	if r.Verdict != Duplicate {
		t.Fatalf("retransmitted status: %+v", r)
	}
	if _, rx := m.Tick(at(2000)); len(rx) != 0 {
		t.Fatalf("still requesting after the retransmission: %v", rx)
	}
}

func TestHugeGapResets(t *testing.T) {
	m := New(cfg(), t0)
	m.Receive(at(0), 0, status(1, 7, "active"))
	m.Receive(at(10), 0, status(1000, 7, "active"))
	if _, rx := m.Tick(at(1000)); len(rx) != 0 {
		t.Fatalf("asked for %d retransmissions after a gap beyond the flow-control limit", len(rx))
	}
}

func TestDestNotUs(t *testing.T) {
	m := New(cfg(), t0)
	r := m.Receive(at(0), 0, msg("beta", "ip-request-resp", 1, 7, "dest", "gamma"))
	if r.Verdict != Accept || r.Deliver {
		t.Fatalf("%+v", r)
	}
	r = m.Receive(at(0), 0, msg("beta", "ip-request-resp", 2, 7, "dest", "ALPHA"))
	if r.Verdict != Accept || !r.Deliver {
		t.Fatalf("%+v", r)
	}
}

func TestOwnLink(t *testing.T) {
	m := New(cfg(), t0)
	r := m.Receive(at(0), 1, msg("alpha", "status", 1, 7, "st", "up"))
	if r.Verdict != Own || !hasEvent(r.Events, LinkUp) {
		t.Fatalf("%+v", r)
	}
	if v := view(t, m, "alpha"); v.Links[0].Up || !v.Links[1].Up {
		t.Fatalf("alpha %+v", v)
	}
}

func TestShutdownStatusDead(t *testing.T) {
	m := New(cfg(), t0)
	m.Receive(at(0), 0, status(1, 7, "active"))
	r := m.Receive(at(100), 0, status(2, 7, "dead"))
	if !hasEvent(r.Events, NodeStatusChanged) || view(t, m, "beta").Status != StatusDead {
		t.Fatalf("%v", kinds(r.Events))
	}
	if m.Alive("beta") {
		t.Fatal("beta alive after st=dead")
	}
}

// TestStall: a gap between two Ticks longer than StallAfter is a stall of
// our own; the time beyond StallAfter is not held against a peer heard
// before it, and the peer dies that much later if it stays silent. What
// is heard after the stall counts from then. Without StallAfter, the
// stall declares the peer dead at once.
func TestStall(t *testing.T) {
	tests := []struct {
		name       string
		stallAfter time.Duration
		heard      int // ms: a heartbeat taken in after the tick at 1100 (0: none)
		dead       int // ms: the first tick (every 10 ms after the stall) that declares beta dead
	}{
		{"not counted", 100 * time.Millisecond, 0, 3410}, // last 1000 + dt 1000 + (1500 - 100)
		{"heard after the stall", 100 * time.Millisecond, 2590, 3600},
		{"heard after the last tick, before the stall", 100 * time.Millisecond, 1105, 3510}, // 1105 + 1000 + 1400
		{"off", 0, 0, 2600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg()
			c.StallAfter = tc.stallAfter
			m := New(c, t0)
			var seq uint64
			feed(m, &seq, 0, 1000, 0, 1) // beta's dt is 1 s; heard last at 1000, ticked at 1050
			for ms := 1060; ms <= 1100; ms += 10 {
				if evs, _ := m.Tick(at(ms)); len(evs) != 0 {
					t.Fatalf("tick at %d: %v", ms, kinds(evs))
				}
			}
			if tc.heard > 0 {
				seq++
				m.Receive(at(tc.heard), 0, status(seq, 7, "active"))
				m.Receive(at(tc.heard), 1, status(seq, 7, "active"))
			}
			var all []Event
			for ms := 2600; ms <= 5000; ms += 10 { // nothing ran from 1100 to 2600
				evs, _ := m.Tick(at(ms))
				all = append(all, evs...)
				if ms == 2600 && tc.stallAfter > 0 {
					if len(evs) != 1 || evs[0].Kind != Stalled || evs[0].Node != "alpha" || evs[0].Interval != 1500*time.Millisecond {
						t.Fatalf("events at the end of the stall: %+v, want one: stalled for 1.5s", evs)
					}
				}
				if hasEvent(evs, LinkDead) && !hasEvent(evs, NodeDead) {
					t.Fatalf("a link declared dead before its node, at %d ms: %v", ms, kinds(evs))
				}
				if hasEvent(evs, NodeDead) {
					if ms != tc.dead {
						t.Fatalf("beta declared dead at %d ms, want %d (events %v)", ms, tc.dead, kinds(all))
					}
					return
				}
			}
			t.Fatalf("beta never declared dead (events %v)", kinds(all))
		})
	}
}

// TestStallInitdead: a stall during initdead is not counted either.
func TestStallInitdead(t *testing.T) {
	c := cfg()
	c.StallAfter = 100 * time.Millisecond
	m := New(c, t0)
	for ms := 10; ms <= 1000; ms += 10 {
		m.Tick(at(ms))
	}
	for ms := 4000; ms <= 7000; ms += 10 { // stalled from 1000 to 4000
		evs, _ := m.Tick(at(ms))
		if hasEvent(evs, NodeDead) {
			if want := 3000 + 2900 + 10; ms != want { // initdead 3 s + the stall beyond StallAfter
				t.Fatalf("beta declared dead at %d ms, want %d", ms, want)
			}
			return
		}
	}
	t.Fatal("beta never declared dead")
}
