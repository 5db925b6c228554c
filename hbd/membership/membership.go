// Package membership decides which cluster nodes and which of their links are
// alive. It is a pure state machine: the daemon feeds it decoded, authenticated
// messages with the link they came in on and the time, and calls Tick with the
// time; it answers with verdicts (deliver, duplicate, drop and why) and events.
// No sockets, no clocks: tests step it with injected time.
//
// The rules follow Heartbeat 3.0.6 (spec/wire.md §4): per-peer generation and
// sequence tracking, duplicates dropped by (src, seq) while still refreshing the
// link they arrived on, gaps recorded and retransmission requested, a node dead
// when no link has heard it for the deadtime it advertises (`dt`), initdead
// until comm is up.
package membership

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"lvsha/hbd/wire"
)

// Status is a node's status as Heartbeat names it (cl_status nodestatus).
type Status string

// Node statuses. init/up/active are what a node advertises in its heartbeats.
const (
	StatusInit   Status = "init"
	StatusUp     Status = "up"
	StatusActive Status = "active"
	StatusDead   Status = "dead"
)

// Heartbeat's limits (hb_rexmit.c, heartbeat.c).
const (
	maxMissing       = 500 // entries kept per peer
	flowControlLimit = 250 // a bigger gap resets tracking instead of asking
	rexmitRepeat     = 250 * time.Millisecond
	minRexmitDelay   = 50 * time.Millisecond
)

// Config is what the state machine needs from ha.cf.
type Config struct {
	Self      string   // local node name, lowercased
	Nodes     []string // normal nodes in config order, including Self
	Links     []string // local link names; a packet's link is an index into this
	Keepalive time.Duration
	Deadtime  time.Duration
	Warntime  time.Duration
	Initdead  time.Duration
	// MaxRexmitDelay bounds the random delay before the first retransmit
	// request (ha.cf max_rexmit_delay, 250 ms by default).
	MaxRexmitDelay time.Duration
	Seed           uint64 // for the retransmit delay jitter; tests fix it
	// StallAfter, when > 0, is the longest gap between two Ticks that is
	// not a stall of our own. Over it, this node (the process, or the whole
	// machine: a paused VM, a throttled container) did not run, and peers
	// could not be heard either: the time beyond StallAfter is not held
	// against any peer last heard before the gap (Stalled event). A peer
	// that died meanwhile is declared dead that much later; without it, a
	// stall longer than the deadtime declares every live peer dead the
	// moment the node runs again, before their next heartbeat can arrive.
	StallAfter time.Duration
}

// Verdict says what to do with a received message.
type Verdict int

// Verdicts.
const (
	Accept    Verdict = iota // new message: process it (if Deliver)
	Duplicate                // already seen: it refreshed its link only
	Drop                     // rejected: Reason says why
	Own                      // our own message heard back: refreshed our link
)

func (v Verdict) String() string {
	return [...]string{"accept", "duplicate", "drop", "own"}[v]
}

// Drop reasons, used as counter labels.
const (
	ReasonMissingFields = "missing_fields"
	ReasonUnknownNode   = "unknown_node"
	ReasonOldGeneration = "old_generation"
	ReasonOldStatus     = "old_status_seq"
	ReasonBadSeq        = "bad_seq"
	ReasonReplay        = "replayed_seq"
)

// Result is the outcome of Receive.
type Result struct {
	Verdict Verdict
	Reason  string // for Drop
	// Deliver is true when the message is for us (no dest, or dest = us) and
	// was accepted: the daemon hands it on to the resource manager and API.
	Deliver bool
	Events  []Event
}

// EventKind classifies events.
type EventKind int

// Events the daemon acts on and logs.
const (
	NodeStatusChanged EventKind = iota // Old → Status (includes a dead node coming back)
	NodeDead                           // no link heard it within its deadtime
	NodeRestarted                      // higher generation: the peer restarted
	NodeReturned                       // same generation after we declared it dead: a partition healed
	LinkUp
	LinkDead
	LateHeartbeat   // a status arrived more than warntime after the previous one (Interval)
	CommUp          // every node heard or declared dead: start resource handling
	DeadtimeChanged // the peer advertises another dt (Interval); it governs its death
	Stalled         // no Tick for Interval, more than StallAfter: the excess was not counted (Node is us)
)

var eventNames = [...]string{"node-status", "node-dead", "node-restarted", "node-returned", "link-up", "link-dead", "late-heartbeat", "comm-up", "deadtime-changed", "stalled"}

func (k EventKind) String() string { return eventNames[k] }

// Event is something that changed.
type Event struct {
	Kind     EventKind
	Node     string
	Link     string
	Status   Status
	Old      Status
	Interval time.Duration // LateHeartbeat: time since the previous status; DeadtimeChanged: the new dt; Stalled: the gap
	// OverDeadtime: a LateHeartbeat whose interval exceeds the node's
	// deadtime (Heartbeat logs it as critical, "(> deadtime)").
	OverDeadtime bool
}

// Rexmit is a retransmission request the daemon should send:
// t=NS_rexmit dest=Node firstseq=Seq lastseq=Seq.
type Rexmit struct {
	Node string
	Seq  uint64
}

// LinkView and NodeView are read-only snapshots for the API.
type LinkView struct {
	Name string
	Up   bool
	// Heard is when the link last carried a message from the node (zero:
	// never).
	Heard time.Time
	// Statuses counts the node's status heartbeats that arrived on this
	// link, copies included (the first copy over another link and the
	// later one over this one both count).
	Statuses uint64
	// Loss is the share of the node's recent heartbeats (the last
	// LossWindow status sequence numbers, the newest left out: its copy
	// may still be on its way) that arrived over another link but not
	// over this one; LossSample is how many that was measured over (0:
	// unknown, Loss is 0).
	Loss       float64
	LossSample int
}

// LossWindow is how many of a node's latest status sequence numbers
// LinkView.Loss looks at.
const LossWindow = recentStatus

// NodeView describes one node.
type NodeView struct {
	Name       string
	Status     Status
	Links      []LinkView
	Generation uint64
	Protocol   bool // advertises protocol=1 (flow control)
	LastHeard  time.Time
	Deadtime   time.Duration // the deadtime in force for it
}

type link struct {
	heard    time.Time
	up       bool
	statuses uint64 // status heartbeats heard on it
}

type node struct {
	name   string
	self   bool
	status Status
	heard  bool // any accepted packet ever
	last   time.Time
	dead   time.Duration // from the peer's dt
	links  []link
	// lastStatus is when the newest status arrived: Heartbeat's
	// local_lastupdate, from which a late heartbeat's interval is measured.
	lastStatus time.Time
	// recent remembers, per recent status seq, the links it arrived on, so
	// a copy delayed on a slow link is known for a duplicate (it refreshes
	// that link) while a replay on the same link is still dropped.
	recent [recentStatus]seenStatus

	gen, lastSeq, statusSeq uint64
	seqKnown, genKnown      bool
	protocol                bool
	missing                 map[uint64]time.Time // seq -> next request time
}

// recentStatus is how many status sequence numbers a node remembers the
// links of: at keepalive 100 ms, a copy up to 6 s late on a slow link.
const recentStatus = 64

type seenStatus struct {
	seq   uint64
	links uint64 // bit per link index
}

func (n *node) sawStatus(seq uint64, link int) (first bool) {
	if link < 0 || link >= 64 {
		return false
	}
	e := &n.recent[seq%recentStatus]
	if e.seq != seq {
		*e = seenStatus{seq: seq}
	}
	bit := uint64(1) << link
	first = e.links&bit == 0
	e.links |= bit
	return first
}

// loss is the share of the node's recent status heartbeats, among those
// that arrived over some link, that did not arrive over link; the newest
// is left out (its copy over a slower link may be on its way).
func (n *node) loss(link int) (float64, int) {
	if link < 0 || link >= 64 || n.statusSeq == 0 {
		return 0, 0
	}
	bit := uint64(1) << link
	seen, missed := 0, 0
	for _, e := range n.recent {
		if e.links == 0 || e.seq >= n.statusSeq || n.statusSeq-e.seq >= recentStatus {
			continue
		}
		seen++
		if e.links&bit == 0 {
			missed++
		}
	}
	if seen == 0 {
		return 0, 0
	}
	return float64(missed) / float64(seen), seen
}

func (n *node) seenStatusOn(seq uint64, link int) (known, onThisLink bool) {
	e := n.recent[seq%recentStatus]
	if e.seq != seq || e.links == 0 || link < 0 || link >= 64 {
		return false, false
	}
	return true, e.links&(uint64(1)<<link) != 0
}

// Membership is the state machine. It is not safe for concurrent use: the
// daemon drives it from one goroutine.
type Membership struct {
	cfg      Config
	start    time.Time
	lastTick time.Time
	commUp   bool
	nodes    map[string]*node
	order    []*node
	rng      *rand.Rand
}

// New starts the clock at now. The local node is up; peers are init until
// heard and are given initdead before they are declared dead.
func New(cfg Config, now time.Time) *Membership {
	if cfg.MaxRexmitDelay < minRexmitDelay {
		cfg.MaxRexmitDelay = 250 * time.Millisecond
	}
	m := &Membership{cfg: cfg, start: now, nodes: map[string]*node{},
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
	for _, name := range cfg.Nodes {
		name = strings.ToLower(name)
		if _, dup := m.nodes[name]; dup {
			continue
		}
		n := &node{name: name, status: StatusInit, dead: cfg.Deadtime,
			links: make([]link, len(cfg.Links)), missing: map[uint64]time.Time{}}
		if name == cfg.Self {
			n.self, n.status, n.heard, n.last = true, StatusUp, true, now
		}
		m.nodes[name] = n
		m.order = append(m.order, n)
	}
	return m
}

// CommUp reports whether comm is up (every node heard or declared dead).
func (m *Membership) CommUp() bool { return m.commUp }

// OwnStatus is the status we advertise: up until comm is up, then active.
func (m *Membership) OwnStatus() Status {
	if m.commUp {
		return StatusActive
	}
	return StatusUp
}

// Receive judges one authenticated, decoded message that arrived on link.
func (m *Membership) Receive(now time.Time, linkIdx int, msg *wire.Message) Result {
	src := strings.ToLower(msg.Get(wire.FieldSrc))
	t := msg.Type()
	ts, tsErr := strconv.ParseUint(msg.Get(wire.FieldTime), 16, 64)
	if src == "" || t == "" || tsErr != nil || ts == 0 {
		return Result{Verdict: Drop, Reason: ReasonMissingFields}
	}
	n := m.nodes[src]
	if n == nil {
		return Result{Verdict: Drop, Reason: ReasonUnknownNode}
	}
	var r Result
	if n.self {
		// Our own broadcast heard back: proof that this link carries traffic.
		m.touchLink(now, n, linkIdx, t == "status", &r)
		r.Verdict = Own
		return r
	}
	unsequenced := wire.Unsequenced(t)
	if !unsequenced {
		prevStatus := n.statusSeq
		if reason, verdict := m.sequence(now, n, t, linkIdx, msg, &r); verdict != Accept {
			if verdict == Duplicate {
				m.touchLink(now, n, linkIdx, t == "status", &r)
			}
			r.Verdict, r.Reason = verdict, reason
			return r
		}
		if t == wire.MsgStatus && n.statusSeq > prevStatus {
			// A new status: was it late? (Heartbeat measures on arrival.)
			if !n.lastStatus.IsZero() {
				if iv := now.Sub(n.lastStatus); iv > m.cfg.Warntime {
					r.Events = append(r.Events, Event{Kind: LateHeartbeat, Node: n.name, Interval: iv, OverDeadtime: iv > n.dead})
				}
			}
			n.lastStatus = now
			n.sawStatus(n.statusSeq, linkIdx)
		}
	} else if t == wire.MsgNakRexmit && m.forUs(msg) {
		// The origin cannot resend it: stop asking.
		if seq, err := strconv.ParseUint(msg.Get(wire.FieldFirstSeq), 16, 64); err == nil {
			delete(n.missing, seq)
		}
	}
	m.touchLink(now, n, linkIdx, t == "status", &r)
	n.heard, n.last = true, now
	if t == wire.MsgStatus {
		m.status(n, msg, &r)
	}
	r.Verdict = Accept
	r.Deliver = m.forUs(msg)
	return r
}

func (m *Membership) forUs(msg *wire.Message) bool {
	d, ok := msg.Lookup(wire.FieldDest)
	return !ok || strings.EqualFold(d, m.cfg.Self)
}

// sequence applies generation and sequence rules (should_drop_message).
func (m *Membership) sequence(now time.Time, n *node, t string, linkIdx int, msg *wire.Message, r *Result) (string, Verdict) {
	seq, err := strconv.ParseUint(msg.Get(wire.FieldSeq), 16, 64)
	if err != nil {
		return ReasonBadSeq, Drop
	}
	gen, err := strconv.ParseUint(msg.Get(wire.FieldGeneration), 16, 64)
	if err != nil {
		return ReasonBadSeq, Drop
	}
	switch {
	case !n.genKnown:
		n.gen, n.genKnown = gen, true
	case gen < n.gen:
		return ReasonOldGeneration, Drop
	case gen > n.gen:
		// A new incarnation: forget what we knew of its sequence.
		restarted := n.heard
		n.gen, n.seqKnown, n.statusSeq = gen, false, 0
		n.lastStatus, n.recent = time.Time{}, [recentStatus]seenStatus{}
		clear(n.missing)
		if restarted {
			r.Events = append(r.Events, Event{Kind: NodeRestarted, Node: n.name})
		}
	case t == wire.MsgStatus:
		if n.status == StatusDead && seq > n.statusSeq {
			r.Events = append(r.Events, Event{Kind: NodeReturned, Node: n.name})
		} else if seq <= n.statusSeq && n.seqKnown {
			if _, asked := n.missing[seq]; asked {
				// The retransmission we asked for: it fills the gap, but a
				// status older than the one we have changes nothing.
				delete(n.missing, seq)
				return "", Duplicate
			}
			if seq == n.statusSeq {
				n.sawStatus(seq, linkIdx)
				return "", Duplicate
			}
			// Older than the newest status: the copy of one that came
			// first over another link (this one is slower) proves this
			// link works; anything else is stale or a replay.
			if known, here := n.seenStatusOn(seq, linkIdx); known && !here {
				n.sawStatus(seq, linkIdx)
				return "", Duplicate
			}
			return ReasonOldStatus, Drop
		}
	}
	switch {
	case !n.seqKnown:
		n.lastSeq, n.seqKnown = seq, true
	case seq == n.lastSeq+1:
		n.lastSeq = seq
	case seq > n.lastSeq+1:
		gap := seq - n.lastSeq - 1
		if gap > flowControlLimit {
			clear(n.missing)
		} else {
			for s := n.lastSeq + 1; s < seq && len(n.missing) < maxMissing; s++ {
				n.missing[s] = now.Add(m.rexmitDelay())
			}
		}
		n.lastSeq = seq
	default: // seq <= lastSeq
		if _, ok := n.missing[seq]; ok {
			delete(n.missing, seq) // a retransmission we asked for
			break
		}
		if seq == n.lastSeq || n.lastSeq-seq < maxMissing {
			return "", Duplicate
		}
		return ReasonReplay, Drop
	}
	if t == wire.MsgStatus && seq > n.statusSeq {
		n.statusSeq = seq
	}
	return "", Accept
}

func (m *Membership) rexmitDelay() time.Duration {
	span := m.cfg.MaxRexmitDelay - minRexmitDelay
	return minRexmitDelay + time.Duration(m.rng.Int64N(int64(span)+1))
}

func (m *Membership) status(n *node, msg *wire.Message, r *Result) {
	if dt, err := strconv.ParseUint(msg.Get(wire.FieldDeadtime), 16, 64); err == nil && dt > 0 {
		if d := time.Duration(dt) * time.Millisecond; d != n.dead {
			n.dead = d
			r.Events = append(r.Events, Event{Kind: DeadtimeChanged, Node: n.name, Interval: d})
		}
	}
	_, n.protocol = msg.Lookup(wire.FieldProtocol)
	st := Status(msg.Get(wire.FieldStatus))
	switch st {
	case StatusInit, StatusUp, StatusActive:
	case StatusDead:
		// A node saying it is dead (shutdown): believe it at once.
	default:
		return
	}
	if st != n.status {
		r.Events = append(r.Events, Event{Kind: NodeStatusChanged, Node: n.name, Old: n.status, Status: st})
		n.status = st
	}
}

func (m *Membership) touchLink(now time.Time, n *node, idx int, status bool, r *Result) {
	if idx < 0 || idx >= len(n.links) {
		return
	}
	l := &n.links[idx]
	l.heard = now
	if status {
		l.statuses++
	}
	if !l.up {
		l.up = true
		r.Events = append(r.Events, Event{Kind: LinkUp, Node: n.name, Link: m.cfg.Links[idx]})
	}
}

// Tick applies timers: link and node death, comm up. It
// returns the events and the retransmission requests now due.
func (m *Membership) Tick(now time.Time) ([]Event, []Rexmit) {
	var evs []Event
	var rx []Rexmit
	if gap := now.Sub(m.lastTick); m.cfg.StallAfter > 0 && !m.lastTick.IsZero() && gap > m.cfg.StallAfter {
		m.forgive(now, now.Add(-m.cfg.StallAfter), gap-m.cfg.StallAfter)
		evs = append(evs, Event{Kind: Stalled, Node: m.cfg.Self, Interval: gap})
	}
	m.lastTick = now
	for _, n := range m.order {
		for i := range n.links {
			l := &n.links[i]
			if l.up && now.Sub(l.heard) > n.dead {
				l.up = false
				evs = append(evs, Event{Kind: LinkDead, Node: n.name, Link: m.cfg.Links[i]})
			}
		}
		if n.self || n.status == StatusDead {
			continue
		}
		if !n.heard {
			if now.Sub(m.start) > m.cfg.Initdead {
				evs = append(evs, m.markDead(n))
			}
			continue
		}
		if now.Sub(n.last) > n.dead {
			evs = append(evs, m.markDead(n))
			continue
		}
		rx = append(rx, m.dueRexmits(now, n)...)
	}
	if !m.commUp {
		up := true
		for _, n := range m.order {
			if !n.self && !n.heard && n.status != StatusDead {
				up = false
			}
		}
		if up {
			m.commUp = true
			evs = append(evs, Event{Kind: CommUp, Node: m.cfg.Self})
		}
	}
	return evs, rx
}

// forgive moves forward by d (capped at now) what was heard before
// cutoff: peers' last heartbeat, every link's (our own links too), and
// initdead's start. Nothing is heard during a stall, so what is older than
// cutoff (now - StallAfter) was heard before it, and what is newer came
// in after it and is fresh already.
func (m *Membership) forgive(now, cutoff time.Time, d time.Duration) {
	move := func(t *time.Time) {
		if t.Before(cutoff) {
			if *t = t.Add(d); t.After(now) {
				*t = now
			}
		}
	}
	move(&m.start)
	for _, n := range m.order {
		if n.heard && !n.self {
			move(&n.last)
		}
		for i := range n.links {
			if n.links[i].up {
				move(&n.links[i].heard)
			}
		}
	}
}

func (m *Membership) dueRexmits(now time.Time, n *node) []Rexmit {
	var rx []Rexmit
	for seq, due := range n.missing {
		if !now.Before(due) {
			rx = append(rx, Rexmit{Node: n.name, Seq: seq})
			n.missing[seq] = now.Add(rexmitRepeat)
		}
	}
	sort.Slice(rx, func(i, j int) bool { return rx[i].Seq < rx[j].Seq })
	return rx
}

func (m *Membership) markDead(n *node) Event {
	old := n.status
	n.status = StatusDead
	clear(n.missing)
	for i := range n.links {
		n.links[i].up = false
	}
	return Event{Kind: NodeDead, Node: n.name, Old: old, Status: StatusDead}
}

// Nodes returns a snapshot of every node in config order. The local node's
// status is what it advertises.
func (m *Membership) Nodes() []NodeView {
	out := make([]NodeView, 0, len(m.order))
	for _, n := range m.order {
		v := NodeView{Name: n.name, Status: n.status, Generation: n.gen, Protocol: n.protocol,
			LastHeard: n.last, Deadtime: n.dead}
		if n.self {
			v.Status = m.OwnStatus()
		}
		for i, l := range n.links {
			lv := LinkView{Name: m.cfg.Links[i], Up: l.up, Heard: l.heard, Statuses: l.statuses}
			if !n.self {
				lv.Loss, lv.LossSample = n.loss(i)
			}
			v.Links = append(v.Links, lv)
		}
		out = append(out, v)
	}
	return out
}

// Node returns one node's snapshot.
func (m *Membership) Node(name string) (NodeView, bool) {
	for _, v := range m.Nodes() {
		if v.Name == strings.ToLower(name) {
			return v, true
		}
	}
	return NodeView{}, false
}

// Alive reports whether a peer is currently not dead (and has been heard).
func (m *Membership) Alive(name string) bool {
	n := m.nodes[strings.ToLower(name)]
	return n != nil && n.heard && n.status != StatusDead
}

// AllPeersProtocol reports whether every live peer advertises protocol=1, the
// condition for Heartbeat's flow control (ACKs) to be in force.
func (m *Membership) AllPeersProtocol() bool {
	for _, n := range m.order {
		if !n.self && n.heard && n.status != StatusDead && !n.protocol {
			return false
		}
	}
	return true
}
