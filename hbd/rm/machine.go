// Package rm decides which node holds each haresources group and starts and
// stops the groups this node holds. It runs the ownership protocol Heartbeat
// 3.0.6 runs between two nodes (starting, resource, ask_resources,
// hb_takeover, ip-request, shutdone, mach_down; spec/wire.md §6), so hbd and
// a real Heartbeat agree on it.
//
// Machine is the protocol alone: it takes inputs (messages, membership
// events, local requests, finished jobs, the clock) and returns actions
// (messages to send, groups to acquire or release). It does no I/O and reads
// no clock, so tests step it one input at a time. Manager drives it.
package rm

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"lvsha/hbd/membership"
	"lvsha/hbd/wire"
)

// Mode is the auto_failback setting.
type Mode int

const (
	Legacy       Mode = iota // auto_failback legacy: ip-request, the preferred node always reclaims
	NiceFailback             // auto_failback off: resources stay where they are
	AutoFailback             // auto_failback on: a returning node gets its groups back
)

// ParseMode maps ha.cf's auto_failback value.
func ParseMode(s string) Mode {
	switch s {
	case "on":
		return AutoFailback
	case "off":
		return NiceFailback
	}
	return Legacy
}

func (m Mode) String() string {
	return [...]string{"legacy", "off", "on"}[m]
}

// Group is one haresources line as the manager needs it.
type Group struct {
	Key  string // the first resource token: Heartbeat's group key
	Node string // preferred node, lowercased
}

// Config is the static input of a Machine.
type Config struct {
	Self   string
	Nodes  []string // normal nodes, self included
	Groups []Group
	Mode   Mode
	// Timers; zero means Heartbeat's value.
	RscrcvdDelay   time.Duration // deadlock breaker for a simultaneous start (10 s)
	StandbyTimeout time.Duration // no reply to a standby request (10 s)
	FailbackRetry  time.Duration // auto failback retry while not stable (1 s)
	// FailedStartStandby is how long after a failed group start the node
	// offers that set to the peer (ResourceManager sleeps 30 s).
	FailedStartStandby time.Duration
	// PingHysteresis is how long the peer must reach more ping nodes than
	// we do before we hand it our resources (2 s).
	PingHysteresis time.Duration
	// HeartbeatStartup keeps Heartbeat's fixed wait when both nodes start at
	// once instead of resolving it at once (for side-by-side measurements).
	HeartbeatStartup bool
	// Fencing says a STONITH device is configured for this node: a dead
	// peer that may hold resources is reset (the Fence action) and its
	// groups are taken only after the reset succeeded.
	Fencing bool
	// FenceRetry is the wait before the second attempt of a failed reset
	// (Heartbeat retries every 5 s); each further failure doubles it, up
	// to FenceRetryMax (1 min).
	FenceRetry    time.Duration
	FenceRetryMax time.Duration
	// FenceDelay is how long the node that is not preferred waits before
	// its first reset when both nodes must fence each other (each held
	// groups, or neither has heard the other), so that the two do not
	// reset each other at once. Zero: no wait (Heartbeat's behaviour).
	FenceDelay time.Duration
}

// State is Heartbeat's resourcestate.
type State int

const (
	StateInit State = iota
	StateStarting
	StateBothStarting
	StateRscRcvd
	StateStable
	StateShutdown
)

func (s State) String() string {
	return [...]string{"init", "starting", "both_starting", "rsc_rcvd", "stable", "shutdown"}[s]
}

type standbyPhase int

const (
	standbyNot   standbyPhase = iota
	standbyMe                 // I asked; waiting for "other"
	standbyOther              // the peer asked; waiting for its "done"
	standbyDone               // my part finished; waiting for the peer's "done"
)

// Action is what the Machine asks its driver to do, in order.
type Action interface{ isAction() }

// Send a cluster message.
type Send struct{ Msg *wire.Message }

// Acquire starts the groups (Heartbeat's takegroup for each key, in order);
// the driver reports back with JobDone(ID).
type Acquire struct {
	ID   int
	Keys []string
	Why  string
}

// Release stops the groups (givegroup for each key); JobDone(ID) follows.
type Release struct {
	ID   int
	Keys []string
	Why  string
}

// Exit tells the driver the shutdown is complete.
type Exit struct{}

// Announce asks the driver to re-announce the running groups' addresses
// (gratuitous ARP) without stopping or starting anything; no JobDone.
type Announce struct {
	Keys []string
	Why  string
}

// Fence resets Node through the STONITH device (Heartbeat's
// Initiate_Reset); the driver reports back with FenceDone(ID).
type Fence struct {
	ID      int
	Node    string
	Attempt int // 1 for the first attempt of this fencing
}

func (Send) isAction()     {}
func (Acquire) isAction()  {}
func (Release) isAction()  {}
func (Exit) isAction()     {}
func (Announce) isAction() {}
func (Fence) isAction()    {}

// FenceResult is how one reset went, as Heartbeat's stonith message
// names it (result=OK|badhost|bad).
type FenceResult int

const (
	FenceOK      FenceResult = iota // the device reset the node
	FenceBadHost                    // the device cannot reset that node
	FenceFailed                     // the reset did not happen
)

func (r FenceResult) String() string {
	switch r {
	case FenceOK:
		return "OK"
	case FenceBadHost:
		return "badhost"
	}
	return "bad"
}

// FenceState is the fencing in progress, for cl_status fencestatus and
// the metrics.
type FenceState struct {
	Node     string    // the node being fenced; "" when none is
	Since    time.Time // when it was found to need fencing
	Attempts int       // attempts made so far (the running one included)
	Running  bool      // an attempt is running now
	NextAt   time.Time // when the next attempt starts (a retry, or the first one delayed); zero while one runs
	Delayed  bool      // the first attempt waits for FenceDelay
}

// jobKind says why a group job runs, and so what JobDone does when it
// finishes. Every kind has a case in JobDone (it panics on one without);
// TestEveryJobKindCompletes walks them all.
type jobKind int

const (
	jobAcquireOwn       jobKind = iota // req_our_resources: our own groups (nice modes)
	jobTakeover                        // mach_down: the groups of a dead or departed peer
	jobStandbyRelease                  // go_standby(ME): the set we give the peer
	jobStandbyAcquire                  // the peer stood by: the set it gave us
	jobPartitionRelease                // healed partition: our copy of the peer's groups
	jobIPRequestRelease                // legacy: the group the peer asked back (ip-request)
	jobLegacyAcquire                   // legacy: our own group, answered (ip-request-resp) or unopposed
	jobShutdown                        // graceful stop: every group
	numJobKinds
)

// String is the name the logs give the job (Heartbeat's where it has one).
func (k jobKind) String() string {
	switch k {
	case jobAcquireOwn:
		return "req_our_resources"
	case jobTakeover:
		return "mach_down"
	case jobStandbyRelease:
		return "standby_released"
	case jobStandbyAcquire:
		return "standby_acquired"
	case jobPartitionRelease:
		return "partition_release"
	case jobIPRequestRelease:
		return "ip_request"
	case jobLegacyAcquire:
		return "legacy_take"
	case jobShutdown:
		return "shutdown"
	}
	return fmt.Sprintf("jobKind(%d)", int(k))
}

// startsOwnedGroups reports whether the job starts groups this node is to
// hold by the protocol: when one fails to start, the set is offered to the
// peer later (ResourceManager's hb_standby after a failed takegroup).
func (k jobKind) startsOwnedGroups() bool {
	switch k {
	case jobAcquireOwn, jobTakeover, jobStandbyAcquire:
		return true
	case jobStandbyRelease, jobPartitionRelease, jobIPRequestRelease, jobShutdown:
		return false
	case jobLegacyAcquire:
		return false // legacy mode has no standby to offer them with
	}
	panic(fmt.Sprintf("rm: %v: unknown job kind", k))
}

// continuation says what to do when a job finishes.
type continuation struct {
	kind    jobKind
	acquire bool     // Acquire (start) or Release (stop)
	keys    []string // the groups the job runs
	set     Set      // standby jobs: the set moved
	node    string   // jobTakeover: the peer whose groups are taken
	key     string   // jobIPRequestRelease: the group released
	dest    string   // jobIPRequestRelease: who asked for it
}

// Machine is the ownership protocol of one node.
type Machine struct {
	cfg Config
	log *slog.Logger

	commUp  bool
	state   State
	iHold   Set
	other   Set // what the peer says it holds, relative to the peer
	otherOK bool
	// peerStable is the isstable of the peer's last full resource
	// message: a healed partition is only resolved against a settled peer.
	peerStable bool
	// announcing: the peer was seen holding a copy of our groups (or came
	// back from a partition); we have re-announced them once and do it
	// again when a report received since (reportSince) shows the copy gone.
	announcing  bool
	reportSince bool
	lastReport  map[string]seqMark // the newest resource report applied, per node
	alive       map[string]bool    // peers currently not dead
	heard       map[string]bool    // peers heard at least once
	deadAtUp    []string           // peers declared dead before comm up
	early       []string           // peers whose "starting" arrived before our comm up
	startedAt   time.Time          // when we last sent "starting"

	rscrcvdAt time.Time // when the deadlock breaker fires

	worseSince     time.Time // since when the peer reaches more ping nodes than we do
	retrySet       Set       // groups whose start failed: offered to the peer at retryAt
	retryAt        time.Time // (ResourceManager: sleep 30; hb_standby local|foreign)
	standby        standbyPhase
	standbySet     Set // relative to the requester
	standbyUntil   time.Time
	needsFailback  bool
	failbackActive bool
	failbackAt     time.Time

	// legacyHeld is what runs here in legacy mode, by group key. Heartbeat
	// never updates i_hold in that mode; we derive it from this so
	// rscstatus shows what the node really holds.
	legacyHeld map[string]bool

	// fence is the reset in progress: a dead peer that may hold
	// resources, whose groups are taken only once it is reset. Nothing is
	// acquired while it is set.
	fence *fenceOp
	// gaveUp: legacy mode's has_resources=0: the peer sent shutdone (or
	// was reset), so its death needs no STONITH.
	gaveUp map[string]bool
	// legacyOwnAfterFence: legacy comm up found the peer dead and fencing
	// needed: our own groups are taken after the reset.
	legacyOwnAfterFence bool

	jobs    map[int]continuation
	nextJob int
	out     []Action
}

type fenceOp struct {
	node     string
	since    time.Time
	id       int // the running attempt's ID; 0 when none runs
	attempts int
	nextAt   time.Time // next attempt; zero while one runs
	delayed  bool
}

// New returns a Machine in the INIT state.
func New(cfg Config, log *slog.Logger) *Machine {
	if cfg.RscrcvdDelay == 0 {
		cfg.RscrcvdDelay = 10 * time.Second
	}
	if cfg.StandbyTimeout == 0 {
		cfg.StandbyTimeout = 10 * time.Second
	}
	if cfg.FailedStartStandby == 0 {
		cfg.FailedStartStandby = 30 * time.Second
	}
	if cfg.PingHysteresis == 0 {
		cfg.PingHysteresis = 2 * time.Second
	}
	if cfg.FailbackRetry == 0 {
		cfg.FailbackRetry = time.Second
	}
	if cfg.FenceRetry == 0 {
		cfg.FenceRetry = 5 * time.Second
	}
	if cfg.FenceRetryMax == 0 {
		cfg.FenceRetryMax = max(time.Minute, cfg.FenceRetry)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Machine{cfg: cfg, log: log, alive: map[string]bool{}, heard: map[string]bool{}, jobs: map[int]continuation{}, lastReport: map[string]seqMark{},
		legacyHeld: map[string]bool{}, gaveUp: map[string]bool{}}
}

// seqMark is a message's place in its sender's stream: generation, then
// sequence number.
type seqMark struct{ gen, seq uint64 }

// staleReport tells a resource report older than one already applied from
// the same node. Retransmissions arrive out of order (after a healed
// partition the peer's reports from the split come in late) and an old
// "I hold all" must not undo a newer "I hold local".
func (m *Machine) staleReport(src string, msg *wire.Message) bool {
	gen, err1 := strconv.ParseUint(msg.Get(wire.FieldGeneration), 16, 64)
	seq, err2 := strconv.ParseUint(msg.Get(wire.FieldSeq), 16, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	last, ok := m.lastReport[src]
	if ok && (gen < last.gen || (gen == last.gen && seq < last.seq)) {
		m.log.Info("resource report older than one already applied: ignored", "node", src, "seq", seq, "newest", last.seq)
		return true
	}
	m.lastReport[src] = seqMark{gen, seq}
	return false
}

// Holding is what cl_status rscstatus prints: none, local, foreign, all, or
// transition while groups are being started or stopped. In legacy mode
// Heartbeat never updates i_hold and always says none; we report what the
// groups really are (legacyHeld), which is what an administrator asks
// rscstatus for.
func (m *Machine) Holding() string {
	if len(m.jobs) > 0 {
		return "transition"
	}
	return m.iHold.String()
}

// Holds is the current i_hold.
func (m *Machine) Holds() Set { return m.iHold }

// State is the current resource state.
func (m *Machine) State() State { return m.state }

// Busy reports whether group jobs are running.
func (m *Machine) Busy() bool { return len(m.jobs) > 0 }

// drainActions hands the actions queued by one input to the caller.
func (m *Machine) drainActions() []Action {
	out := m.out
	m.out = nil
	return out
}

func (m *Machine) send(msg *wire.Message) { m.out = append(m.out, Send{Msg: msg}) }

// startJob queues an Acquire or Release of keys; JobDone(id) carries on
// as c says.
func (m *Machine) startJob(acquire bool, keys []string, why string, c continuation) {
	m.nextJob++
	c.acquire, c.keys = acquire, keys
	m.jobs[m.nextJob] = c
	if acquire {
		m.out = append(m.out, Acquire{ID: m.nextJob, Keys: keys, Why: why})
	} else {
		m.out = append(m.out, Release{ID: m.nextJob, Keys: keys, Why: why})
	}
}

// setKeys returns the group keys of a set relative to node.
func (m *Machine) setKeys(set Set, node string) []string {
	var out []string
	for _, g := range m.cfg.Groups {
		own := g.Node == node
		if (own && set&Local != 0) || (!own && set&Foreign != 0) {
			out = append(out, g.Key)
		}
	}
	return out
}

// nodeKeys returns the keys of the groups whose preferred node is node.
func (m *Machine) nodeKeys(node string) []string {
	var out []string
	for _, g := range m.cfg.Groups {
		if g.Node == node {
			out = append(out, g.Key)
		}
	}
	return out
}

func (m *Machine) groupOf(key string) (Group, bool) {
	for _, g := range m.cfg.Groups {
		if g.Key == key {
			return g, true
		}
	}
	return Group{}, false
}

// niceFailback is Heartbeat's nice_failback: auto_failback on or off, the
// modes with the starting/resource handshake and standby; legacy has neither.
func (m *Machine) niceFailback() bool { return m.cfg.Mode != Legacy }

func (m *Machine) peerAlive() bool {
	for _, a := range m.alive {
		if a {
			return true
		}
	}
	return false
}

func (m *Machine) resourceMsg(stable bool, info string) *wire.Message {
	msg := wire.New(wire.MsgResource)
	msg.Set(wire.FieldRscHold, m.iHold.String())
	msg.Set(wire.FieldRType, wire.RTypeFull)
	if stable {
		msg.Set(wire.FieldIsStable, wire.Stable)
	} else {
		msg.Set(wire.FieldIsStable, wire.Unstable)
	}
	if info != "" {
		msg.Set(wire.FieldInfo, info)
	}
	return msg
}

// Assume records the groups (by key) found running at start that this node
// keeps from a previous run (a re-exec after an ha.cf change, Heartbeat's
// -R), and returns what it now holds.
func (m *Machine) Assume(keys []string) Set {
	var set Set
	for _, k := range keys {
		g, ok := m.groupOf(k)
		if !ok {
			continue
		}
		m.legacyHeld[k] = true
		if g.Node == m.cfg.Self {
			set |= Local
		} else {
			set |= Foreign
		}
	}
	m.iHold = set
	return set
}

// PeerStatus records a peer's membership state (from status changes).
func (m *Machine) PeerStatus(now time.Time, node string, status membership.Status) []Action {
	if node == m.cfg.Self {
		return nil
	}
	if status != membership.StatusDead {
		if !m.alive[node] {
			delete(m.gaveUp, node) // back (or restarted): it may hold resources again
		}
		m.heard[node] = true
		m.alive[node] = true
		m.peerBack(node)
	}
	return m.drainActions()
}

// CommUp is Heartbeat's comm_now_up: every node heard or declared dead.
func (m *Machine) CommUp(now time.Time) []Action {
	if m.commUp {
		return nil
	}
	m.commUp = true
	if !m.niceFailback() {
		m.log.Info("auto_failback legacy: acquiring our resources with ip-request")
		dead := m.deadAtUp
		m.deadAtUp = nil
		if slices.ContainsFunc(dead, func(n string) bool { return m.cfg.Fencing && m.stonithNeeded(n) }) {
			// A peer that may hold our groups is reset first.
			m.legacyOwnAfterFence = true
		} else {
			m.reqOurResourcesLegacy()
		}
		for _, n := range dead {
			m.nodeDeadLegacy(now, n)
		}
		return m.drainActions()
	}
	m.state = StateStarting
	m.send(wire.New(wire.MsgStarting))
	m.startedAt = now
	for _, n := range m.early {
		if m.alive[n] {
			m.peerStarting(n)
		}
	}
	m.early = nil
	dead := m.deadAtUp
	m.deadAtUp = nil
	for _, n := range dead {
		m.nodeDeadNice(now, n)
	}
	if len(dead) > 0 && !m.peerAlive() {
		// Nobody to agree with: Heartbeat waits its 10 s deadlock timer
		// here; the outcome is the same, so settle now.
		m.becomeStable(now, false)
	}
	return m.drainActions()
}

// NodeDead handles a peer declared dead (mark_node_dead and
// hb_rsc_recover_dead_resources).
func (m *Machine) NodeDead(now time.Time, node string) []Action {
	if node == m.cfg.Self {
		return nil
	}
	wasAlive := m.alive[node]
	m.alive[node] = false
	m.announcing = false
	if !m.commUp {
		if !slices.Contains(m.deadAtUp, node) {
			m.deadAtUp = append(m.deadAtUp, node)
		}
		return m.drainActions()
	}
	if !wasAlive && !m.heard[node] {
		return m.drainActions()
	}
	if m.standby != standbyNot {
		m.log.Warn("peer died during a standby: standby cancelled", "node", node)
		m.standby = standbyNot
		m.failbackActive = false
	}
	if m.niceFailback() {
		m.nodeDeadNice(now, node)
		if m.state != StateStable && m.state != StateShutdown && !m.peerAlive() {
			m.becomeStable(now, false)
		}
	} else {
		m.nodeDeadLegacy(now, node)
	}
	return m.drainActions()
}

func (m *Machine) nodeDeadNice(now time.Time, node string) {
	if m.state == StateShutdown {
		return
	}
	if m.stonith(now, node) {
		m.takeOverDead(node)
	}
}

func (m *Machine) nodeDeadLegacy(now time.Time, node string) {
	if m.state == StateShutdown {
		return
	}
	if m.stonith(now, node) {
		m.takeoverFrom(node)
	}
}

// takeOverDead is the nice-mode takeover after a death: our own groups if
// we lack them, the dead node's if we lack them.
func (m *Machine) takeOverDead(node string) {
	if m.iHold == All {
		m.otherOK = true
		return
	}
	if m.iHold&Local == 0 {
		m.reqOurResources(true)
	}
	if m.iHold&Foreign == 0 {
		m.takeoverFrom(node)
	}
}

// stonithNeeded is Heartbeat's need_stonith: the dead node may hold
// resources, unless we heard from it and it said it held none (nice
// modes) or it sent shutdone (legacy). Unlike Heartbeat, a set without
// groups behind it counts as none: a node with no groups of its own says
// "local" once it has "taken" them, and holds nothing to protect.
func (m *Machine) stonithNeeded(node string) bool {
	if !m.heard[node] {
		return true
	}
	if m.niceFailback() {
		return len(m.setKeys(m.other, node)) > 0
	}
	return !m.gaveUp[node]
}

// stonith is the STONITH step of hb_rsc_recover_dead_resources. It tells
// the peer whether the dead node needed a reset (the stonith message) and
// starts the reset when a device is configured; it reports whether the
// takeover goes on now (false: it waits for the reset).
func (m *Machine) stonith(now time.Time, node string) bool {
	msg := wire.New(wire.MsgStonith)
	msg.Set(wire.FieldNode, node)
	switch {
	case !m.stonithNeeded(node):
		m.log.Info(fmt.Sprintf("Dead node %s gave up resources.", node), "node", node)
		msg.Set(wire.FieldResult, "unneeded")
	case m.cfg.Fencing:
		m.startFence(now, node)
		return false
	default:
		m.log.Warn("No STONITH device configured.", "node", node)
		m.log.Warn("Shared disks are not protected.", "node", node)
		msg.Set(wire.FieldResult, "n_stnth")
	}
	m.send(msg)
	return true
}

// startFence begins resetting node; nothing is acquired until it is reset.
func (m *Machine) startFence(now time.Time, node string) {
	if m.fence != nil && m.fence.node == node {
		return
	}
	m.log.Warn(fmt.Sprintf("STONITH needed: node %s may still hold resources; taking nothing over until it is reset", node), "node", node)
	m.fence = &fenceOp{node: node, since: now}
	if d := m.fenceDelay(node); d > 0 {
		m.fence.nextAt, m.fence.delayed = now.Add(d), true
		m.log.Warn(fmt.Sprintf("both nodes must reset each other: %s is preferred, so this node waits %v before its reset", node, d), "node", node)
		return
	}
	m.fenceAttempt()
}

func (m *Machine) fenceAttempt() {
	f := m.fence
	f.attempts++
	m.nextJob++
	f.id, f.nextAt, f.delayed = m.nextJob, time.Time{}, false
	m.out = append(m.out, Fence{ID: f.id, Node: f.node, Attempt: f.attempts})
}

// fenceDelay is the wait before the first reset. When the peer must reset
// us too (it never heard us, or we hold groups), both would fire at
// once and, with a device per node, both go down (Heartbeat does nothing
// about it). So the node that is not preferred waits FenceDelay: the
// preferred one resets it first and keeps the groups.
func (m *Machine) fenceDelay(node string) time.Duration {
	if m.cfg.FenceDelay <= 0 {
		return 0
	}
	mutual := !m.heard[node] || !m.niceFailback() || len(m.setKeys(m.iHold, m.cfg.Self)) > 0
	if !mutual || m.preferred(node) {
		return 0
	}
	return m.cfg.FenceDelay
}

// preferred reports whether this node wins against peer when both must
// reset each other: the one holding more groups (both sides see the same
// counts: each one's i_hold is the other's belief), and on a tie (or in
// legacy mode, which keeps no belief) the one whose name sorts first.
func (m *Machine) preferred(peer string) bool {
	if m.niceFailback() && m.heard[peer] {
		mine, theirs := len(m.setKeys(m.iHold, m.cfg.Self)), len(m.setKeys(m.other, peer))
		if mine != theirs {
			return mine > theirs
		}
	}
	return m.cfg.Self < peer
}

// FenceDone reports a finished reset attempt (the driver's answer to a
// Fence action). On success the dead node's groups are taken over; on
// failure the reset is retried with backoff, for as long as it takes,
// unless the node is heard again.
func (m *Machine) FenceDone(now time.Time, id int, res FenceResult, detail string) []Action {
	f := m.fence
	if f == nil || f.id != id {
		return nil
	}
	f.id = 0
	msg := wire.New(wire.MsgStonith)
	msg.Set(wire.FieldNode, f.node)
	msg.Set(wire.FieldResult, res.String())
	m.send(msg)
	if res == FenceOK {
		m.fence = nil
		m.log.Info(fmt.Sprintf("node %s was reset: taking over its resources", f.node), "node", f.node, "attempts", f.attempts)
		m.fenced(now, f.node)
		return m.drainActions()
	}
	if m.alive[f.node] {
		m.fence = nil
		m.log.Warn(fmt.Sprintf("STONITH of %s failed, and it is heard again: no retry, nothing taken over", f.node), "node", f.node, "result", res.String(), "detail", detail)
		return m.drainActions()
	}
	wait := m.cfg.FenceRetry
	for i := 1; i < f.attempts && wait < m.cfg.FenceRetryMax; i++ {
		wait *= 2
	}
	wait = min(wait, m.cfg.FenceRetryMax)
	f.nextAt = now.Add(wait)
	m.log.Error(fmt.Sprintf("STONITH of %s failed.  Retrying...", f.node), "node", f.node, "attempt", f.attempts,
		"result", res.String(), "detail", detail, "retry_in", wait)
	return m.drainActions()
}

// fenced takes over after a successful reset (Heartbeat's
// StonithProcessDied → takeover_from_node).
func (m *Machine) fenced(now time.Time, node string) {
	m.gaveUp[node] = true
	m.alive[node] = false // reset, whatever was heard from it since
	if m.state == StateShutdown {
		m.log.Info("Resource takeover cancelled - shutdown in progress.")
		return
	}
	if !m.niceFailback() {
		m.takeoverFrom(node)
		if m.legacyOwnAfterFence {
			m.legacyOwnAfterFence = false
			m.reqOurResourcesLegacy()
		}
		return
	}
	m.takeOverDead(node)
	if m.state != StateStable && !m.peerAlive() {
		m.becomeStable(now, false)
	}
}

// peerBack cancels a reset that is waiting to be retried (or delayed) when
// the node is heard again: it was not dead (a healed partition, a frozen
// process resumed) and nothing was taken from it. A running attempt is
// let finish: a device may already have acted.
func (m *Machine) peerBack(node string) {
	f := m.fence
	if f == nil || f.node != node || f.id != 0 {
		return
	}
	m.log.Warn(fmt.Sprintf("node %s is heard again: STONITH cancelled, nothing taken over", node), "node", node, "attempts", f.attempts)
	m.fence = nil
	if m.legacyOwnAfterFence {
		// Our own groups waited for the reset: ask for them now.
		m.legacyOwnAfterFence = false
		m.reqOurResourcesLegacy()
	}
}

// FenceState reports the reset in progress.
func (m *Machine) FenceState() FenceState {
	f := m.fence
	if f == nil {
		return FenceState{}
	}
	return FenceState{Node: f.node, Since: f.since, Attempts: f.attempts, Running: f.id != 0, NextAt: f.nextAt, Delayed: f.delayed}
}

// takeoverFrom is takeover_from_node: mach_down takes the dead node's groups.
func (m *Machine) takeoverFrom(node string) {
	keys := m.nodeKeys(node)
	m.log.Info(fmt.Sprintf("Taking over resource group(s) of %s", node), "node", node, "groups", strings.Join(keys, " "))
	if m.niceFailback() {
		m.iHold |= Foreign
		m.other = None
		m.otherOK = true
		m.needsFailback = true
	}
	m.startJob(true, keys, "mach_down "+node, continuation{kind: jobTakeover, node: node})
}

// reqOurResources is req_our_resources in the nice modes.
func (m *Machine) reqOurResources(getAnyway bool) {
	if !getAnyway && (m.other&Foreign != 0 || m.iHold&Local != 0) {
		m.log.Info("Local Resource acquisition completed. (none)")
		return
	}
	m.iHold |= Local
	m.startJob(true, m.nodeKeys(m.cfg.Self), "req_our_resources", continuation{kind: jobAcquireOwn})
}

// reqOurResourcesLegacy asks for each own group with ip-request, or takes
// it when no other node is active (HA_DONTASK).
func (m *Machine) reqOurResourcesLegacy() {
	keys := m.nodeKeys(m.cfg.Self)
	if len(keys) == 0 {
		return
	}
	if !m.peerAlive() {
		m.startJob(true, keys, "req_our_resources (no other node active)", continuation{kind: jobLegacyAcquire})
		return
	}
	for _, k := range keys {
		req := wire.New(wire.MsgIPRequest)
		req.Set(wire.FieldIPAddr, k)
		m.send(req)
	}
}

func (m *Machine) becomeStable(now time.Time, getAnyway bool) {
	if m.state == StateStable || m.state == StateShutdown || m.fence != nil {
		return // while a reset is pending, nothing is acquired; fenced settles
	}
	m.reqOurResources(getAnyway)
	m.state = StateStable
	m.send(m.resourceMsg(true, ""))
	m.tryFailback(now)
}

// Message handles a cluster message from a peer.
func (m *Machine) Message(now time.Time, msg *wire.Message) []Action {
	src := strings.ToLower(msg.Get(wire.FieldSrc))
	if src == m.cfg.Self || src == "" {
		return nil
	}
	t := msg.Type()
	if !Handles(t) {
		return nil
	}
	if t == wire.MsgShutdone {
		m.peerShutdone(now, src)
		return m.drainActions()
	}
	if !m.commUp && t == wire.MsgStarting {
		// The peer came up a moment before us; its starting would be
		// lost (Heartbeat registers the handler only at comm up) and
		// both sides would wait for each other. Answer it at comm up.
		if !slices.Contains(m.early, src) {
			m.early = append(m.early, src)
		}
		return nil
	}
	if !m.commUp || (m.state == StateShutdown && t != wire.MsgStarting) {
		return nil
	}
	if dest := msg.Get(wire.FieldDest); dest != "" && !strings.EqualFold(dest, m.cfg.Self) {
		return nil
	}
	switch t {
	case wire.MsgStarting:
		m.peerStarting(src)
	case wire.MsgResource:
		if !m.staleReport(src, msg) {
			m.peerResource(now, msg)
		}
	case wire.MsgAskResources:
		m.peerAsk(now, msg)
	case wire.MsgTakeover:
		set := msg.Get(wire.FieldRscHold)
		want := All
		if set != "failback" {
			s, err := ParseSet(set)
			if err != nil {
				m.log.Warn("hb_takeover with an unknown set ignored", "rsc_hold", set)
				return nil
			}
			want = s.Swap()
			if s == All {
				want = All
			}
		}
		m.log.Info("peer asks us to stand by", "node", src, "set", want)
		if err := m.standbyRequest(now, want); err != nil {
			m.log.Warn("hb_takeover from peer refused", "node", src, "err", err)
		}
	case wire.MsgIPRequest:
		m.ipRequest(src, msg.Get(wire.FieldIPAddr))
	case wire.MsgIPRequestResp:
		key := msg.Get(wire.FieldIPAddr)
		if _, ok := m.groupOf(key); !ok {
			m.log.Warn("ip-request-resp for an unknown group ignored", "key", key)
			return nil
		}
		m.startJob(true, []string{key}, "ip-request-resp from "+src, continuation{kind: jobLegacyAcquire})
	case wire.MsgStonith:
		m.log.Info("peer reports STONITH result", "node", msg.Get(wire.FieldNode), "result", msg.Get(wire.FieldResult), "from", src)
	case wire.MsgShutdone:
		// Handled above: it counts even before comm up and after shutdown.
	default:
		panic(fmt.Sprintf("rm: Handles(%q) but Message has no case for it", t))
	}
	return m.drainActions()
}

// Handles reports whether t belongs to the ownership protocol: the message
// types Message acts on. The driver passes only these.
func Handles(t string) bool {
	switch t {
	case wire.MsgStarting, wire.MsgResource, wire.MsgAskResources, wire.MsgTakeover,
		wire.MsgIPRequest, wire.MsgIPRequestResp, wire.MsgShutdone, wire.MsgStonith:
		return true
	}
	return false
}

func (m *Machine) peerStarting(src string) {
	m.log.Info("peer is starting", "node", src)
	switch m.state {
	case StateStarting:
		m.state = StateBothStarting
	case StateBothStarting, StateRscRcvd, StateStable, StateShutdown:
	default:
		return
	}
	m.otherOK = false
	m.send(m.resourceMsg(m.state == StateStable, ""))
}

func (m *Machine) peerResource(now time.Time, msg *wire.Message) {
	hold, err := ParseSet(msg.Get(wire.FieldRscHold))
	if err != nil {
		m.log.Warn("resource message with an unknown rsc_hold ignored", "rsc_hold", msg.Get(wire.FieldRscHold))
		return
	}
	m.reportSince = true
	if msg.Get(wire.FieldRType) == wire.RTypeFull || hold == None {
		m.other = hold
	} else {
		m.other |= hold
	}
	if v, ok := msg.Lookup(wire.FieldIsStable); ok {
		m.peerStable = v == wire.Stable
	}
	if m.state == StateStarting || m.state == StateBothStarting {
		m.state = StateRscRcvd
		m.rscrcvdAt = now.Add(m.cfg.RscrcvdDelay)
	}
	switch msg.Get(wire.FieldIsStable) {
	case wire.Stable:
		if !m.otherOK {
			m.otherOK = true
			m.send(m.resourceMsg(m.state == StateStable, ""))
			m.tryFailback(now)
		}
	case wire.Unstable:
		m.otherOK = false
	}
	if m.state != StateStable && m.state != StateShutdown {
		switch {
		case m.otherOK:
			m.becomeStable(now, false)
		case m.state == StateRscRcvd && !m.cfg.HeartbeatStartup && msg.Get(wire.FieldIsStable) == wire.Unstable && m.other == None:
			// Both nodes are starting and neither holds anything. Heartbeat
			// lets a 10 s timer break this tie; each side would then take
			// only its own groups, which is safe to do now.
			m.log.Info("both nodes starting and the peer holds nothing: acquiring our groups now")
			m.becomeStable(now, false)
		}
	}
	m.resolveDoubleHold()
}

// resolveDoubleHold handles a healed partition: both nodes hold the same
// groups. The node a group belongs to keeps it and the other releases its
// copy, so the group is never down anywhere (Heartbeat restarts itself
// instead and leaves the VIP nowhere for 15–25 s). It works from the peer's
// last resource message and runs again whenever our own jobs finish, so a
// message that arrived while we were busy is not lost.
func (m *Machine) resolveDoubleHold() {
	if !m.niceFailback() || m.state != StateStable || m.standby != standbyNot || len(m.jobs) > 0 || !m.peerStable || !m.peerAlive() {
		return
	}
	// A set bit only matters where there are groups behind it: a node
	// without groups of its own still takes "all" in a partition.
	ourKeys, foreignKeys := m.nodeKeys(m.cfg.Self), m.setKeys(Foreign, m.cfg.Self)
	if len(foreignKeys) == 0 && m.iHold&Foreign != 0 && m.other&Local != 0 {
		m.iHold &^= Foreign // nothing of the peer's to release
	}
	// Neighbours (the client's ARP cache) may point at the peer's copy of
	// the groups we keep: announce ours before the peer drops its copy and
	// once more after, so the address never goes unanswered.
	ours := len(ourKeys) > 0 && m.iHold&Local != 0 && m.other&Foreign != 0
	switch {
	case ours && !m.announcing:
		m.announcing = true
		m.out = append(m.out, Announce{Keys: ourKeys, Why: "healed partition: the peer holds a copy of our groups"})
	case !ours && m.announcing && m.reportSince:
		m.announcing = false
		m.out = append(m.out, Announce{Keys: ourKeys, Why: "healed partition: the peer released its copy"})
	}
	switch {
	case m.iHold&Foreign != 0 && m.other&Local != 0:
		// The peer holds its own groups (its local) while we also hold
		// them (our foreign): release ours.
		m.log.Warn("the peer holds its own groups and so do we (healed partition): releasing our copies")
		m.iHold &^= Foreign
		m.needsFailback = false
		m.send(m.resourceMsg(false, "standby"))
		m.startJob(false, foreignKeys, "healed partition", continuation{kind: jobPartitionRelease})
	case ours:
		// The peer holds our groups while we do too: tell it what we
		// hold, so it releases its copies by the rule above. It answers
		// only a full stable message, so this cannot ping-pong: once it
		// has released, its foreign is empty.
		m.log.Warn("the peer holds our groups and so do we (healed partition): telling it we hold them")
		m.send(m.resourceMsg(true, ""))
	}
}

// PeerReturned handles a peer heard again after we declared it dead with
// no restart in between (a healed partition): announce what we hold so each
// side can see a doubly held group and resolve it.
func (m *Machine) PeerReturned(now time.Time, node string) []Action {
	if node == m.cfg.Self {
		return nil
	}
	m.heard[node] = true
	m.alive[node] = true
	m.peerBack(node)
	if !m.commUp || m.state == StateShutdown {
		return m.drainActions()
	}
	if m.niceFailback() && m.state == StateStable {
		m.log.Info("peer returned after a partition: announcing what we hold", "node", node, "holds", m.iHold)
		m.send(m.resourceMsg(true, ""))
		// The peer may have taken our groups, and may drop its copy
		// before we ever see its report of it: re-announce ours now and
		// again once it reports holding none of them.
		if keys := m.nodeKeys(m.cfg.Self); len(keys) > 0 && m.iHold&Local != 0 {
			m.announcing, m.reportSince = true, false
			m.out = append(m.out, Announce{Keys: keys, Why: "healed partition: the peer may hold a copy of our groups"})
		}
	}
	return m.drainActions()
}

// peerAsk handles ask_resources (the standby protocol, §6.4).
func (m *Machine) peerAsk(now time.Time, msg *wire.Message) {
	set, err := ParseSet(msg.Get(wire.FieldRscHold))
	if err != nil {
		m.log.Warn("ask_resources with an unknown set ignored", "rsc_hold", msg.Get(wire.FieldRscHold))
		return
	}
	switch msg.Get(wire.FieldInfo) {
	case wire.AskMe:
		switch {
		case m.standby != standbyNot:
			m.log.Info("Standby in progress- new request from other node ignored")
			return
		case m.state != StateStable:
			m.log.Info("Standby request from the other node ignored: local resources in flux", "state", m.state)
			return
		}
		m.log.Info(fmt.Sprintf("%s resources are being moved to us at the peer's request", set.Swap()))
		m.otherOK = false
		m.standby = standbyOther
		m.standbySet = set
		m.standbyUntil = now.Add(time.Hour)
		reply := wire.New(wire.MsgAskResources)
		reply.Set(wire.FieldRscHold, set.String())
		reply.Set(wire.FieldInfo, wire.AskOther)
		m.send(reply)
	case wire.AskOther:
		if m.standby != standbyMe {
			return
		}
		m.goStandbyMe(set)
	case wire.AskDone:
		switch m.standby {
		case standbyOther:
			// The requester has released: take the complementary groups.
			mine := set.Swap()
			if set == All {
				mine = All
			}
			m.startJob(true, m.setKeys(mine, m.cfg.Self), "standby of the peer", continuation{kind: jobStandbyAcquire, set: mine})
		case standbyDone:
			m.standby = standbyNot
			m.failbackActive = false
			m.send(m.resourceMsg(m.state == StateStable, ""))
		}
	}
}

// goStandbyMe releases the set after the peer agreed (go_standby(ME)).
func (m *Machine) goStandbyMe(set Set) {
	m.log.Info(fmt.Sprintf("Giving up %s HA resources (standby).", set))
	m.iHold &^= set
	m.send(m.resourceMsg(false, "standby"))
	m.startJob(false, m.setKeys(set, m.cfg.Self), "standby", continuation{kind: jobStandbyRelease, set: set})
}

func (m *Machine) ipRequest(src, key string) {
	g, ok := m.groupOf(key)
	if !ok {
		m.log.Warn("ip-request for an unknown group ignored", "key", key, "from", src)
		return
	}
	m.log.Info("peer asks for its group (ip-request): releasing it", "key", key, "node", g.Node, "from", src)
	m.startJob(false, []string{key}, "ip-request from "+src, continuation{kind: jobIPRequestRelease, key: key, dest: src})
}

func (m *Machine) peerShutdone(now time.Time, src string) {
	m.log.Info(fmt.Sprintf("Received shutdown notice from '%s'.", src), "node", src)
	m.gaveUp[src] = true
	if !m.commUp || m.state == StateShutdown {
		return
	}
	if m.standby != standbyNot {
		m.standby = standbyNot
		m.failbackActive = false
	}
	m.other = None
	m.otherOK = true
	if m.niceFailback() && m.iHold == All {
		return
	}
	m.takeoverFrom(src)
	if m.niceFailback() {
		m.needsFailback = true
		if m.iHold&Local == 0 {
			m.reqOurResources(true)
		}
		if m.state != StateStable {
			m.becomeStable(now, false)
		}
	}
}

// Standby is hb_standby on this node: move set (relative to us) to the peer.
func (m *Machine) Standby(now time.Time, set Set) ([]Action, error) {
	err := m.standbyRequest(now, set)
	return m.drainActions(), err
}

func (m *Machine) standbyRequest(now time.Time, set Set) error {
	switch {
	case !m.niceFailback():
		return fmt.Errorf("Standby mode only implemented when nice_failback on (auto_failback on|off)")
	case !m.commUp:
		return fmt.Errorf("not started yet (communications are not up)")
	case m.standby != standbyNot:
		return fmt.Errorf("Standby in progress")
	case !m.peerAlive():
		return fmt.Errorf("no other node is alive to take the resources")
	case m.state != StateStable:
		return fmt.Errorf("local resources in flux (state %s)", m.state)
	case !m.otherOK:
		return fmt.Errorf("Other side is in flux")
	case m.iHold&set == None:
		return fmt.Errorf("this node holds no %s resources", set)
	}
	m.standby = standbyMe
	m.standbySet = set
	m.standbyUntil = now.Add(m.cfg.StandbyTimeout)
	ask := wire.New(wire.MsgAskResources)
	ask.Set(wire.FieldRscHold, set.String())
	ask.Set(wire.FieldInfo, wire.AskMe)
	m.send(ask)
	return nil
}

// Takeover is hb_takeover on this node: ask the peer to hand us set
// (relative to us).
func (m *Machine) Takeover(now time.Time, set string) ([]Action, error) {
	if !m.niceFailback() {
		return nil, fmt.Errorf("Standby mode only implemented when nice_failback on (auto_failback on|off)")
	}
	if !m.peerAlive() {
		return nil, fmt.Errorf("no other node is alive to take resources from")
	}
	if set == "" {
		set = "all"
	}
	if _, err := ParseSet(set); err != nil {
		return nil, err
	}
	msg := wire.New(wire.MsgTakeover)
	msg.Set(wire.FieldRscHold, set)
	m.send(msg)
	return m.drainActions(), nil
}

// tryFailback is §6.5: give a returned node its groups back.
func (m *Machine) tryFailback(now time.Time) {
	if m.cfg.Mode != AutoFailback || !m.needsFailback || m.iHold&Foreign == 0 || m.failbackActive {
		return
	}
	if m.state != StateStable || !m.otherOK || m.standby != standbyNot || !m.peerAlive() {
		m.failbackAt = now.Add(m.cfg.FailbackRetry)
		return
	}
	m.log.Info("Initiating automatic failback: giving the peer back its groups")
	m.failbackActive = true
	if err := m.standbyRequest(now, Foreign); err != nil {
		m.failbackActive = false
		m.failbackAt = now.Add(m.cfg.FailbackRetry)
	}
}

// Connectivity is the built-in ipfail: mine and peer are the ping nodes
// each side reaches. When the peer reaches more than we do and we hold
// resources, hand them over (hb_standby all), as ipfail did; the peer's own
// comparison does the rest. Called on every tick with fresh figures.
func (m *Machine) Connectivity(now time.Time, mine, peer int) []Action {
	if mine >= peer || m.iHold == None || !m.niceFailback() {
		m.worseSince = time.Time{}
		return nil
	}
	if m.worseSince.IsZero() {
		m.worseSince = now
	}
	// A moment of hysteresis: the peer's figure arrives with its next
	// heartbeat, ours with the next ping round.
	if now.Sub(m.worseSince) < m.cfg.PingHysteresis || m.state != StateStable || m.standby != standbyNot || !m.otherOK || !m.peerAlive() {
		return nil
	}
	m.log.Warn(fmt.Sprintf("ipfail: we reach %d ping nodes, the peer %d: giving our resources to the peer", mine, peer))
	m.worseSince = time.Time{}
	if err := m.standbyRequest(now, m.iHold); err != nil {
		m.log.Warn("cannot hand resources to the better-connected peer", "err", err)
	}
	return m.drainActions()
}

// Tick runs the timers.
func (m *Machine) Tick(now time.Time) []Action {
	if m.state == StateStarting && m.peerAlive() && now.Sub(m.startedAt) >= time.Second {
		// Nobody answered our starting (lost, or sent before the peer's
		// comm up): say it again.
		m.startedAt = now
		m.send(wire.New(wire.MsgStarting))
	}
	if f := m.fence; f != nil && f.id == 0 && !f.nextAt.IsZero() && !now.Before(f.nextAt) {
		m.fenceAttempt()
	}
	if m.state == StateRscRcvd && m.fence == nil && !m.rscrcvdAt.IsZero() && !now.Before(m.rscrcvdAt) {
		m.log.Info("no stable peer within the deadlock timeout: acquiring our resources")
		m.becomeStable(now, false)
	}
	if m.standby == standbyMe && !now.Before(m.standbyUntil) {
		m.log.Warn("No reply to standby request.  Standby request cancelled.")
		m.standby = standbyNot
		m.failbackActive = false
		m.otherOK = true
	}
	if m.standby == standbyOther && !now.Before(m.standbyUntil) {
		m.standby = standbyNot
	}
	if m.retrySet != None && !now.Before(m.retryAt) {
		set := m.retrySet
		m.retrySet = None
		if err := m.standbyRequest(now, set); err != nil {
			m.log.Warn("cannot hand the failed groups to the peer", "set", set, "err", err)
		} else {
			m.log.Info("handing the groups that failed to start to the peer", "set", set)
		}
	}
	if !m.failbackAt.IsZero() && !now.Before(m.failbackAt) {
		m.failbackAt = time.Time{}
		m.tryFailback(now)
	}
	return m.drainActions()
}

// Shutdown starts a graceful stop (§6.8): release every group, then shutdone.
func (m *Machine) Shutdown(now time.Time) []Action {
	if m.state == StateShutdown {
		return nil
	}
	m.state = StateShutdown
	m.standby = standbyNot
	m.iHold = None
	if m.fence != nil {
		m.log.Info("shutting down: the pending STONITH is abandoned", "node", m.fence.node)
		m.fence = nil
	}
	if m.niceFailback() {
		m.send(m.resourceMsg(false, "shutdown"))
	}
	var all []string
	for _, g := range m.cfg.Groups {
		all = append(all, g.Key)
	}
	m.startJob(false, all, "shutdown", continuation{kind: jobShutdown})
	return m.drainActions()
}

// JobDone reports a finished Acquire or Release; failed lists the group keys
// that could not be started or stopped.
func (m *Machine) JobDone(now time.Time, id int, failed []string) []Action {
	c, ok := m.jobs[id]
	if !ok {
		return nil
	}
	delete(m.jobs, id)
	switch c.kind {
	case jobAcquireOwn:
		msg := m.resourceMsg(true, "req_our_resources()")
		m.send(msg)
	case jobTakeover:
		if m.niceFailback() {
			msg := wire.New(wire.MsgResource)
			msg.Set(wire.FieldRscHold, Foreign.String())
			msg.Set(wire.FieldInfo, "mach_down")
			m.send(msg)
		}
		m.log.Info(fmt.Sprintf("mach_down takeover complete for node %s.", c.node))
	case jobStandbyRelease:
		m.iHold &^= c.set
		m.standby = standbyDone
		done := wire.New(wire.MsgAskResources)
		done.Set(wire.FieldRscHold, c.set.String())
		done.Set(wire.FieldInfo, wire.AskDone)
		m.send(done)
		if c.set&Foreign != 0 {
			m.needsFailback = false
		}
	case jobStandbyAcquire:
		m.iHold |= c.set
		done := wire.New(wire.MsgAskResources)
		done.Set(wire.FieldRscHold, m.standbySet.String())
		done.Set(wire.FieldInfo, wire.AskDone)
		m.send(done)
		m.standby = standbyNot
		if c.set&Foreign != 0 && m.standbySet != All {
			// We hold the peer's groups because it asked us to: no failback.
			m.needsFailback = false
		}
		m.send(m.resourceMsg(m.state == StateStable, ""))
	case jobPartitionRelease:
		m.send(m.resourceMsg(true, ""))
	case jobIPRequestRelease:
		resp := wire.New(wire.MsgIPRequestResp)
		resp.Set(wire.FieldDest, c.dest)
		resp.Set(wire.FieldIPAddr, c.key)
		resp.Set(wire.FieldWeOwn, "yes")
		resp.Set(wire.FieldOK, "OK")
		m.send(resp)
	case jobLegacyAcquire:
		// Heartbeat's rc.d/ip-request-resp only runs takegroup: nothing
		// to tell the peer. What we now hold is recorded below.
	case jobShutdown:
		done := wire.New(wire.MsgShutdone)
		done.Set(wire.FieldStatus, string(membership.StatusDead))
		m.send(done)
		m.out = append(m.out, Exit{})
	default:
		panic(fmt.Sprintf("rm: JobDone has no case for %v", c.kind))
	}
	if !m.niceFailback() {
		m.recordLegacyHolding(c, failed)
	}
	if len(failed) > 0 {
		m.log.Error("resource groups failed", "groups", strings.Join(failed, " "), "during", c.kind.String())
		if m.niceFailback() && m.state != StateShutdown && c.kind.startsOwnedGroups() {
			for _, k := range failed {
				if g, ok := m.groupOf(k); ok && g.Node == m.cfg.Self {
					m.retrySet |= Local
				} else if ok {
					m.retrySet |= Foreign
				}
			}
			m.retryAt = now.Add(m.cfg.FailedStartStandby)
		}
	}
	m.resolveDoubleHold()
	return m.drainActions()
}

// recordLegacyHolding keeps legacyHeld and i_hold in step with a finished
// job in legacy mode: the groups started are held, the groups stopped are
// not, and a group that failed stays as it was (a failed start is stopped
// again; a failed stop leaves it running).
func (m *Machine) recordLegacyHolding(c continuation, failed []string) {
	for _, k := range c.keys {
		if slices.Contains(failed, k) {
			if c.acquire {
				delete(m.legacyHeld, k)
			}
			continue
		}
		if c.acquire {
			m.legacyHeld[k] = true
		} else {
			delete(m.legacyHeld, k)
		}
	}
	var set Set
	for k := range m.legacyHeld {
		if g, ok := m.groupOf(k); ok && g.Node == m.cfg.Self {
			set |= Local
		} else if ok {
			set |= Foreign
		}
	}
	m.iHold = set
}
