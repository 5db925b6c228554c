package rm

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"lvsha/hbd/wire"
)

// sim runs two Machines against each other with instant, in-order delivery
// and instant group jobs, recording which groups each node really runs.
type sim struct {
	t         *testing.T
	now       time.Time
	nodes     map[string]*simNode
	cut       bool      // the link between them is down
	oneway    string    // messages from this node are lost (asymmetric loss)
	noGap     bool      // a release must leave the group running on the peer
	announced []string  // "alpha:web": re-announcements of running groups
	alone     []string  // the same, made while the peer did not run the group
	sent      []string  // "alpha:resource rsc_hold=local isstable=1"
	pending   []simItem // undelivered work
	fences    []fenceCall
	// acquiredAt records when each node first acquired anything after a
	// reset was asked for (fence ordering checks).
	acquires []string // "beta@<unix ms>:10.0.0.100 web"
}

type simNode struct {
	name    string
	m       *Machine
	up      bool
	running map[string]bool
	hold    bool // hold jobs instead of finishing them
	exited  bool
	held    []Action
	// fenceResult answers this node's reset attempts (nil: FenceOK); with
	// holdFence they wait in heldFence for finishFence.
	fenceResult func(attempt int) FenceResult
	holdFence   bool
	heldFence   []Fence
}

type simItem struct {
	to    string
	msg   *wire.Message
	job   *Action
	fence *Fence
}

// fenceCall is one reset attempt a node asked for.
type fenceCall struct {
	by, node string
	attempt  int
	at       time.Time
}

var testGroups = []Group{{Key: "10.0.0.100", Node: "alpha"}, {Key: "web", Node: "alpha"}, {Key: "10.0.0.200", Node: "beta"}}

func newSim(t *testing.T, mode Mode, mut func(*Config)) *sim {
	s := &sim{t: t, now: time.Unix(1000, 0), nodes: map[string]*simNode{}}
	for _, n := range []string{"alpha", "beta"} {
		cfg := Config{Self: n, Nodes: []string{"alpha", "beta"}, Groups: testGroups, Mode: mode}
		if mut != nil {
			mut(&cfg)
		}
		s.nodes[n] = &simNode{name: n, m: New(cfg, nil), running: map[string]bool{}}
	}
	return s
}

func (s *sim) peer(n string) string {
	if n == "alpha" {
		return "beta"
	}
	return "alpha"
}

// act processes a node's actions: messages go to the peer (if both are up
// and the link is), jobs change what runs and finish at once.
func (s *sim) act(from string, acts []Action) {
	n := s.nodes[from]
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			a.Msg.Set("src", from)
			s.sent = append(s.sent, from+":"+describe(a.Msg))
			p := s.nodes[s.peer(from)]
			if p.up && !s.cut && n.up && s.oneway != from {
				s.pending = append(s.pending, simItem{to: p.name, msg: a.Msg})
			}
		case Exit:
			n.exited = true
		case Announce:
			for _, k := range a.Keys {
				if n.running[k] {
					s.announced = append(s.announced, from+":"+k)
					if !s.nodes[s.peer(from)].running[k] {
						s.alone = append(s.alone, from+":"+k)
					}
				}
			}
		case Fence:
			s.fences = append(s.fences, fenceCall{by: from, node: a.Node, attempt: a.Attempt, at: s.now})
			if n.holdFence {
				n.heldFence = append(n.heldFence, a)
				continue
			}
			fa := a
			s.pending = append(s.pending, simItem{to: from, fence: &fa})
		case Acquire, Release:
			if acq, ok := a.(Acquire); ok {
				s.acquires = append(s.acquires, fmt.Sprintf("%s@%d:%s", from, s.now.UnixMilli(), strings.Join(acq.Keys, " ")))
			}
			aa := a
			if n.hold {
				n.held = append(n.held, aa)
				continue
			}
			s.pending = append(s.pending, simItem{to: from, job: &aa})
		}
	}
}

func describe(m *wire.Message) string {
	var parts []string
	for _, k := range []string{"rsc_hold", "isstable", "info", "ipaddr", "result"} {
		if v, ok := m.Lookup(k); ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.TrimSpace(m.Type() + " " + strings.Join(parts, " "))
}

func (s *sim) runJob(n *simNode, a Action) {
	switch a := a.(type) {
	case Acquire:
		for _, k := range a.Keys {
			n.running[k] = true
		}
		s.act(n.name, n.m.JobDone(s.now, a.ID, nil))
	case Release:
		for _, k := range a.Keys {
			delete(n.running, k)
			if p := s.nodes[s.peer(n.name)]; s.noGap && !p.running[k] {
				s.t.Fatalf("%s released %s while %s does not run it: the group is down everywhere", n.name, k, p.name)
			}
		}
		s.act(n.name, n.m.JobDone(s.now, a.ID, nil))
	}
}

// settle delivers everything pending.
func (s *sim) settle() {
	for i := 0; len(s.pending) > 0; i++ {
		if i > 1000 {
			s.t.Fatalf("no quiescence; sent: %v", s.sent)
		}
		it := s.pending[0]
		s.pending = s.pending[1:]
		n := s.nodes[it.to]
		if !n.up {
			continue
		}
		if it.job != nil {
			s.runJob(n, *it.job)
			continue
		}
		if it.fence != nil {
			res := FenceOK
			if n.fenceResult != nil {
				res = n.fenceResult(it.fence.Attempt)
			}
			s.finishFence(n, *it.fence, res)
			continue
		}
		s.act(n.name, n.m.Message(s.now, it.msg))
	}
}

// advance moves the clock in small steps, ticking both machines.
func (s *sim) advance(d time.Duration) {
	end := s.now.Add(d)
	for s.now.Before(end) {
		s.now = s.now.Add(50 * time.Millisecond)
		for _, name := range []string{"alpha", "beta"} {
			if n := s.nodes[name]; n.up {
				s.act(name, n.m.Tick(s.now))
			}
		}
		s.settle()
	}
}

// start brings a node up: it hears the peer (if up) and comm comes up.
func (s *sim) start(name string) {
	n := s.nodes[name]
	n.up = true
	p := s.nodes[s.peer(name)]
	if p.up && !s.cut {
		s.act(name, n.m.PeerStatus(s.now, p.name, "active"))
		s.act(p.name, p.m.PeerStatus(s.now, name, "up"))
	} else {
		s.act(name, n.m.NodeDead(s.now, p.name)) // initdead expired
	}
	s.act(name, n.m.CommUp(s.now))
	s.settle()
}

// kill stops a node without a word (kill -9); the peer declares it dead.
func (s *sim) kill(name string) {
	n := s.nodes[name]
	n.up = false
	n.running = map[string]bool{} // its addresses are cleaned at restart
	cfg := n.m.cfg
	n.m = New(cfg, nil)
	p := s.nodes[s.peer(name)]
	s.act(p.name, p.m.NodeDead(s.now, name))
	s.settle()
}

// finishFence completes a reset attempt; a successful one really resets
// the target (it stops, its groups with it).
func (s *sim) finishFence(n *simNode, a Fence, res FenceResult) {
	if res == FenceOK {
		if tg := s.nodes[a.Node]; tg.up {
			tg.up = false
			tg.running = map[string]bool{}
			tg.m = New(tg.m.cfg, nil)
		}
	}
	s.act(n.name, n.m.FenceDone(s.now, a.ID, res, "test"))
	s.settle()
}

func (s *sim) running(name string) string {
	var keys []string
	for k := range s.nodes[name].running {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, " ")
}

func (s *sim) expect(alpha, beta string) {
	s.t.Helper()
	if a, b := s.running("alpha"), s.running("beta"); a != alpha || b != beta {
		s.t.Fatalf("running: alpha %q beta %q, want alpha %q beta %q\nsent: %s", a, b, alpha, beta, strings.Join(s.sent, "\n      "))
	}
}

const (
	alphaGroups = "10.0.0.100 web"
	betaGroups  = "10.0.0.200"
	allGroups   = "10.0.0.100 10.0.0.200 web"
)

func TestBothStartTogetherTakeOwnGroupsAtOnce(t *testing.T) {
	s := newSim(t, AutoFailback, nil)
	s.nodes["alpha"].up, s.nodes["beta"].up = true, true
	for _, n := range []string{"alpha", "beta"} {
		s.act(n, s.nodes[n].m.PeerStatus(s.now, s.peer(n), "up"))
	}
	s.act("alpha", s.nodes["alpha"].m.CommUp(s.now))
	s.act("beta", s.nodes["beta"].m.CommUp(s.now))
	s.settle()
	// No clock has passed: the simultaneous start is resolved without
	// Heartbeat's 10 s deadlock timer.
	s.expect(alphaGroups, betaGroups)
	for _, n := range []string{"alpha", "beta"} {
		if st := s.nodes[n].m.State(); st != StateStable {
			t.Errorf("%s state %s, want stable", n, st)
		}
		if h := s.nodes[n].m.Holding(); h != "local" {
			t.Errorf("%s rscstatus %s, want local", n, h)
		}
	}
}

func TestHeartbeatStartupWaitsForDeadlockTimer(t *testing.T) {
	s := newSim(t, AutoFailback, func(c *Config) { c.HeartbeatStartup = true })
	s.nodes["alpha"].up, s.nodes["beta"].up = true, true
	for _, n := range []string{"alpha", "beta"} {
		s.act(n, s.nodes[n].m.PeerStatus(s.now, s.peer(n), "up"))
	}
	s.act("alpha", s.nodes["alpha"].m.CommUp(s.now))
	s.act("beta", s.nodes["beta"].m.CommUp(s.now))
	s.settle()
	s.expect("", "")
	s.advance(9 * time.Second)
	s.expect("", "")
	s.advance(2 * time.Second)
	s.expect(alphaGroups, betaGroups)
}

func TestFailoverAndFailback(t *testing.T) {
	tests := []struct {
		mode           Mode
		afterStartA    string
		afterStartB    string
		afterReturnA   string
		afterReturnB   string
		rscstatusAfter string
	}{
		{AutoFailback, alphaGroups, betaGroups, alphaGroups, betaGroups, "local"},
		{NiceFailback, allGroups, "", "", allGroups, "all"},
	}
	for _, tc := range tests {
		t.Run(tc.mode.String(), func(t *testing.T) {
			s := newSim(t, tc.mode, nil)
			s.start("alpha") // beta is dead: alpha takes everything
			s.expect(allGroups, "")
			s.start("beta")
			s.advance(2 * time.Second)
			s.expect(tc.afterStartA, tc.afterStartB)
			s.kill("alpha")
			s.expect("", allGroups)
			if h := s.nodes["beta"].m.Holding(); h != "all" {
				t.Fatalf("beta rscstatus %s after takeover, want all", h)
			}
			s.start("alpha")
			s.advance(3 * time.Second)
			s.expect(tc.afterReturnA, tc.afterReturnB)
			if h := s.nodes["beta"].m.Holding(); h != tc.rscstatusAfter {
				t.Fatalf("beta rscstatus %s, want %s", h, tc.rscstatusAfter)
			}
			if len(s.announced) > 0 {
				t.Errorf("re-announcements outside a healed partition: %v", s.announced)
			}
		})
	}
}

func TestStandbyAndTakeover(t *testing.T) {
	tests := []struct {
		name       string
		do         func(s *sim) error
		wantA      string
		wantB      string
		wantAState string
	}{
		{"standby all", func(s *sim) error { return s.standby("alpha", All) }, "", allGroups, "none"},
		{"standby local", func(s *sim) error { return s.standby("alpha", Local) }, "", allGroups, "none"},
		{"standby foreign moves nothing held", func(s *sim) error { return s.standby("alpha", Foreign) }, alphaGroups, betaGroups, "local"},
		{"takeover all", func(s *sim) error { return s.takeover("beta", "all") }, "", allGroups, "none"},
		{"takeover foreign", func(s *sim) error { return s.takeover("beta", "foreign") }, "", allGroups, "none"},
		{"takeover local from beta's view", func(s *sim) error { return s.takeover("alpha", "local") }, alphaGroups, betaGroups, "local"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, NiceFailback, nil)
			s.start("alpha")
			s.start("beta")
			s.expect(allGroups, "")
			s.standby("alpha", Foreign) // hand beta its own group first
			s.expect(alphaGroups, betaGroups)
			err := tc.do(s)
			if tc.name == "standby foreign moves nothing held" {
				if err == nil {
					t.Fatal("standby of a set we do not hold was accepted")
				}
			} else if err != nil {
				t.Fatal(err)
			}
			s.expect(tc.wantA, tc.wantB)
			if h := s.nodes["alpha"].m.Holding(); h != tc.wantAState {
				t.Errorf("alpha rscstatus %s, want %s", h, tc.wantAState)
			}
			// And back: the moved groups return with the opposite request.
			if tc.wantA == "" {
				if err := s.takeover("alpha", "all"); err != nil {
					t.Fatal(err)
				}
				s.expect(allGroups, "")
				if h := s.nodes["beta"].m.Holding(); h != "none" {
					t.Errorf("beta rscstatus %s after takeover back, want none", h)
				}
			}
			if len(s.announced) > 0 {
				t.Errorf("re-announcements outside a healed partition: %v", s.announced)
			}
		})
	}
}

func (s *sim) standby(n string, set Set) error {
	acts, err := s.nodes[n].m.Standby(s.now, set)
	s.act(n, acts)
	s.settle()
	return err
}

func (s *sim) takeover(n string, set string) error {
	acts, err := s.nodes[n].m.Takeover(s.now, set)
	s.act(n, acts)
	s.settle()
	return err
}

func TestStandbyRefusedWhileInFluxOrAlone(t *testing.T) {
	s := newSim(t, AutoFailback, nil)
	s.start("alpha")
	if err := s.standby("alpha", All); err == nil || !strings.Contains(err.Error(), "no other node") {
		t.Fatalf("standby with no peer: %v", err)
	}
	s.start("beta")
	s.nodes["beta"].hold = true // beta's group jobs hang
	if err := s.standby("alpha", All); err != nil {
		t.Fatal(err)
	}
	if err := s.standby("alpha", All); err == nil || !strings.Contains(err.Error(), "in progress") {
		t.Fatalf("second standby: %v", err)
	}
	if h := s.nodes["beta"].m.Holding(); h != "transition" {
		t.Fatalf("beta rscstatus while its jobs run: %s", h)
	}
}

func TestStandbyNoReplyCancelled(t *testing.T) {
	s := newSim(t, NiceFailback, nil)
	s.start("alpha")
	s.start("beta")
	s.cut = true // the request is lost
	if err := s.standby("alpha", All); err != nil {
		t.Fatal(err)
	}
	s.advance(11 * time.Second)
	if s.nodes["alpha"].m.standby != standbyNot {
		t.Fatal("standby not cancelled after 10 s without a reply")
	}
	s.expect(allGroups, "")
}

func TestGracefulShutdownHandsOver(t *testing.T) {
	s := newSim(t, AutoFailback, nil)
	s.start("alpha")
	s.start("beta")
	s.expect(alphaGroups, betaGroups)
	s.act("alpha", s.nodes["alpha"].m.Shutdown(s.now))
	s.settle()
	s.expect("", allGroups)
	if !s.nodes["alpha"].exited {
		t.Fatal("shutdown finished without Exit")
	}
	last := s.sent[len(s.sent)-1]
	if !slices.ContainsFunc(s.sent, func(x string) bool { return x == "alpha:shutdone" }) {
		t.Fatalf("no shutdone sent; last %s", last)
	}
	if !slices.ContainsFunc(s.sent, func(x string) bool { return x == "alpha:resource rsc_hold=none isstable=0 info=shutdown" }) {
		t.Fatalf("no resource info=shutdown: %v", s.sent)
	}
}

func TestLegacyIPRequest(t *testing.T) {
	s := newSim(t, Legacy, nil)
	s.start("beta")
	s.expect("", allGroups)
	s.start("alpha") // the preferred node always reclaims its groups
	s.expect(alphaGroups, betaGroups)
	if !slices.Contains(s.sent, "alpha:ip-request ipaddr=10.0.0.100") {
		t.Fatalf("no ip-request: %v", s.sent)
	}
	if _, err := s.nodes["alpha"].m.Standby(s.now, All); err == nil {
		t.Fatal("standby accepted in legacy mode")
	}
}

// TestLegacyRscstatusShowsWhatRuns: in legacy mode Heartbeat never updates
// i_hold, so its rscstatus always says none; hbd's reports the groups that
// run on the node (Holding's contract), through every legacy job: the
// unopposed take and the ip-request-resp take (legacy_take), mach_down, the
// release for an ip-request and the shutdown.
func TestLegacyRscstatusShowsWhatRuns(t *testing.T) {
	s := newSim(t, Legacy, nil)
	holding := func(step, alpha, beta string) {
		t.Helper()
		a, b := s.nodes["alpha"].m.Holding(), s.nodes["beta"].m.Holding()
		if a != alpha || b != beta {
			t.Fatalf("%s: rscstatus alpha %q beta %q, want %q %q (running: alpha %q beta %q)",
				step, a, b, alpha, beta, s.running("alpha"), s.running("beta"))
		}
	}
	s.start("beta") // alone: its own group unopposed, alpha's by mach_down
	s.expect("", allGroups)
	holding("beta alone", "none", "all")
	s.start("alpha") // ip-request for each of its groups: beta releases them
	s.expect(alphaGroups, betaGroups)
	holding("alpha back", "local", "local")
	s.kill("alpha")
	s.expect("", allGroups)
	holding("alpha killed", "none", "all")
	s.start("alpha")
	s.expect(alphaGroups, betaGroups)
	s.act("alpha", s.nodes["alpha"].m.Shutdown(s.now))
	s.settle()
	s.expect("", allGroups)
	holding("alpha shut down", "none", "all")
}

// TestLegacyFailedGroupNotHeld: a group that failed to start in legacy mode
// is not reported held; the others of the same job are.
func TestLegacyFailedGroupNotHeld(t *testing.T) {
	s := newSim(t, Legacy, nil)
	a := s.nodes["alpha"]
	a.hold = true
	s.start("alpha") // alone: legacy_take of its groups, mach_down of beta's
	if len(a.held) != 2 {
		t.Fatalf("alpha queued %d jobs, want 2 (own groups, beta's groups)", len(a.held))
	}
	for _, j := range a.held {
		acq := j.(Acquire)
		failed := []string{"web"}
		if slices.Contains(acq.Keys, "10.0.0.200") {
			failed = acq.Keys // beta's only group fails too
		}
		s.act("alpha", a.m.JobDone(s.now, acq.ID, failed))
	}
	if h := a.m.Holding(); h != "local" {
		t.Fatalf("rscstatus %q with only 10.0.0.100 started, want local", h)
	}
}

// TestEveryMessageTypeHandled sends each message type of the protocol to
// a running machine: those Handles claims reach a case of Message (it
// panics otherwise), the others are ignored.
func TestEveryMessageTypeHandled(t *testing.T) {
	ownership := []string{wire.MsgStarting, wire.MsgResource, wire.MsgAskResources, wire.MsgTakeover,
		wire.MsgIPRequest, wire.MsgIPRequestResp, wire.MsgShutdone, wire.MsgStonith}
	others := []string{wire.MsgStatus, wire.MsgRexmit, wire.MsgNakRexmit, wire.MsgAck, wire.MsgReqNodes, wire.MsgRepNodes, "bogus"}
	for _, typ := range append(append([]string{}, ownership...), others...) {
		want := slices.Contains(ownership, typ)
		if Handles(typ) != want {
			t.Errorf("Handles(%q) = %v, want %v", typ, !want, want)
		}
		for _, mode := range []Mode{Legacy, AutoFailback} {
			s := newSim(t, mode, nil)
			s.start("alpha")
			msg := wire.New(typ)
			msg.Set(wire.FieldSrc, "beta")
			msg.Set(wire.FieldRscHold, "all")
			msg.Set(wire.FieldIPAddr, "web")
			acts := s.nodes["alpha"].m.Message(s.now, msg)
			if !want && len(acts) > 0 {
				t.Errorf("%s: %q is not the ownership protocol's, yet acted on: %v", mode, typ, acts)
			}
		}
	}
}

// TestEveryJobKindCompletes walks every job kind through JobDone in each
// mode: each has a completion (JobDone panics on a kind without one) and a
// name for the logs.
func TestEveryJobKindCompletes(t *testing.T) {
	names := map[string]jobKind{}
	for k := jobKind(0); k < numJobKinds; k++ {
		name := k.String()
		if prev, dup := names[name]; dup || strings.HasPrefix(name, "jobKind(") {
			t.Errorf("job kind %d is named %q (also %d)", int(k), name, int(prev))
		}
		names[name] = k
		k.startsOwnedGroups() // panics on a kind it does not know
		for _, mode := range []Mode{Legacy, NiceFailback, AutoFailback} {
			s := newSim(t, mode, nil)
			s.start("alpha")
			m := s.nodes["alpha"].m
			m.nextJob++
			m.jobs[m.nextJob] = continuation{kind: k, acquire: true, keys: []string{"web"}, node: "beta", key: "web", dest: "beta"}
			s.act("alpha", m.JobDone(s.now, m.nextJob, []string{"web"}))
		}
	}
	if len(names) != int(numJobKinds) {
		t.Errorf("%d distinct names for %d kinds", len(names), numJobKinds)
	}
}

// TestLateReportIgnored: a retransmitted resource report from the split
// ("beta holds all") arriving after beta's newer "local" must not make
// alpha believe beta holds a copy again.
func TestLateReportIgnored(t *testing.T) {
	s := newSim(t, AutoFailback, nil)
	s.start("alpha")
	s.start("beta")
	m := s.nodes["alpha"].m
	report := func(gen, seq, hold string) {
		msg := wire.New("resource")
		for k, v := range map[string]string{"src": "beta", "hg": gen, "seq": seq, "rsc_hold": hold, "rtype": "full", "isstable": "1"} {
			msg.Set(k, v)
		}
		s.act("alpha", m.Message(s.now, msg))
		s.settle()
	}
	report("10", "2a", "local")
	report("10", "1f", "all") // the late copy
	if m.other != Local {
		t.Fatalf("after a late report alpha believes beta holds %v, want local", m.other)
	}
	if len(s.announced) > 0 {
		t.Fatalf("a late report made alpha announce: %v", s.announced)
	}
	report("11", "1", "none") // beta restarted: a new generation counts
	if m.other != None {
		t.Fatalf("after beta's restart alpha believes beta holds %v, want none", m.other)
	}
}

func TestHealedPartitionKeepsEachGroupOnce(t *testing.T) {
	// alphaOnly: beta has no groups of its own (a hot standby), yet takes
	// "all" in the partition like Heartbeat does.
	alphaOnly := []Group{testGroups[0], testGroups[1]}
	for _, mode := range []Mode{NiceFailback, AutoFailback} {
		for _, tc := range []struct {
			name   string
			groups []Group
			oneway string // "" cuts both directions
			// betaFirst: beta hears alpha again and acts on it before
			// alpha hears beta (alpha sees beta's copy only as gone).
			betaFirst bool
		}{
			{"split", testGroups, "", false}, {"alpha_unheard", testGroups, "alpha", false}, {"beta_unheard", testGroups, "beta", false},
			{"split_beta_first", testGroups, "", true},
			{"standby_split", alphaOnly, "", false}, {"standby_alpha_unheard", alphaOnly, "alpha", false}, {"standby_beta_unheard", alphaOnly, "beta", false},
			{"standby_split_beta_first", alphaOnly, "", true},
		} {
			t.Run(mode.String()+"/"+tc.name, func(t *testing.T) {
				s := newSim(t, mode, func(c *Config) { c.Groups = tc.groups })
				betaOwn, every := betaGroups, allGroups
				if len(tc.groups) == 2 {
					betaOwn, every = "", alphaGroups
				}
				s.start("alpha")
				s.start("beta")
				if mode == NiceFailback && betaOwn != "" {
					s.standby("alpha", Foreign) // beta's group to beta
				}
				s.expect(alphaGroups, betaOwn)
				// The partition: a node that hears nothing from its peer
				// declares it dead and takes its groups.
				if tc.oneway == "" {
					s.cut = true
					s.act("alpha", s.nodes["alpha"].m.NodeDead(s.now, "beta"))
					s.act("beta", s.nodes["beta"].m.NodeDead(s.now, "alpha"))
					s.settle()
					s.expect(every, every)
				} else {
					s.oneway = tc.oneway
					other := s.peer(tc.oneway)
					s.act(other, s.nodes[other].m.NodeDead(s.now, tc.oneway))
					s.settle()
					if got := s.running(other); got != every {
						t.Fatalf("%s runs %q after declaring %s dead", other, got, tc.oneway)
					}
				}
				s.advance(2 * time.Second)
				// The links return: whoever declared the peer dead hears it
				// again (same generation). Nothing else prompts a message.
				s.cut, s.oneway, s.noGap = false, "", true
				order := []string{"alpha", "beta"}
				if tc.betaFirst {
					order = []string{"beta", "alpha"}
				}
				for _, n := range order {
					if tc.oneway == "" || n != tc.oneway {
						s.act(n, s.nodes[n].m.PeerReturned(s.now, s.peer(n)))
						s.act(n, s.nodes[n].m.PeerStatus(s.now, s.peer(n), "active"))
					}
					if tc.betaFirst {
						s.settle()
					}
				}
				s.settle()
				// Each group stays, without a gap, on the node it belongs to.
				s.expect(alphaGroups, betaOwn)
				// The keeper told the neighbours again wherever the peer
				// held a copy: while the copy ran and once it had gone.
				want := map[string][]string{
					"":      {"alpha:10.0.0.100", "alpha:web", "beta:10.0.0.200"},
					"alpha": {"alpha:10.0.0.100", "alpha:web"},
					"beta":  {"beta:10.0.0.200"},
				}[tc.oneway]
				if betaOwn == "" {
					want = slices.DeleteFunc(slices.Clone(want), func(w string) bool { return strings.HasPrefix(w, "beta:") })
				}
				for _, w := range want {
					if count(s.announced, w) < 2 || !slices.Contains(s.alone, w) {
						t.Errorf("%s announced %d times, %d of them after the peer's release; want one before and one after: %v", w, count(s.announced, w), count(s.alone, w), s.announced)
					}
				}
				if len(want) == 0 {
					// Only the precaution on hearing the peer again.
					for _, k := range s.announced {
						if count(s.announced, k) > 1 {
							t.Errorf("%s announced %d times with no copy on the peer: %v", k, count(s.announced, k), s.announced)
							break
						}
					}
				}
				s.advance(3 * time.Second)
				s.expect(alphaGroups, betaOwn)
				for _, n := range []string{"alpha", "beta"} {
					// rscstatus names what runs (with no foreign groups
					// "all" and "local" are the same, as are "local" and
					// "none" with no own groups).
					h := s.nodes[n].m.Holding()
					set, err := ParseSet(h)
					if err != nil {
						t.Fatal(err)
					}
					keys := s.nodes[n].m.setKeys(set, n)
					sort.Strings(keys)
					if got := strings.Join(keys, " "); got != s.running(n) || (len(tc.groups) == 3 && h != "local") {
						t.Errorf("%s rscstatus %s after the heal (groups %q) while it runs %q", n, h, got, s.running(n))
					}
				}
				// And the cluster still works: a standby moves everything
				// (stop, then start: a gap is the protocol's).
				s.noGap = false
				s.standby("alpha", All)
				s.expect("", every)
			})
		}
	}
}

func count(xs []string, x string) (n int) {
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

func TestFailedStartOffersGroupToPeer(t *testing.T) {
	s := newSim(t, NiceFailback, func(c *Config) { c.FailedStartStandby = time.Second })
	s.start("alpha")
	s.start("beta")
	s.standby("alpha", Foreign)
	// alpha's next acquisition of its own groups fails.
	m := s.nodes["alpha"].m
	m.retrySet = None
	acts := m.JobDone(s.now, func() int {
		m.nextJob++
		m.jobs[m.nextJob] = continuation{kind: jobAcquireOwn, acquire: true, keys: m.nodeKeys("alpha")}
		return m.nextJob
	}(), []string{"web"})
	s.act("alpha", acts)
	s.settle()
	if m.retrySet != Local {
		t.Fatalf("retry set %s, want local", m.retrySet)
	}
	s.advance(2 * time.Second)
	s.expect("", allGroups)
}

func TestStartingBeforeCommUpIsAnswered(t *testing.T) {
	s := newSim(t, AutoFailback, nil)
	s.nodes["alpha"].up, s.nodes["beta"].up = true, true
	for _, n := range []string{"alpha", "beta"} {
		s.act(n, s.nodes[n].m.PeerStatus(s.now, s.peer(n), "up"))
	}
	// alpha's comm comes up and its starting reaches beta before beta's
	// own comm up.
	s.act("alpha", s.nodes["alpha"].m.CommUp(s.now))
	s.settle()
	s.act("beta", s.nodes["beta"].m.CommUp(s.now))
	s.settle()
	s.expect(alphaGroups, betaGroups)
}

func TestLostStartingIsRepeated(t *testing.T) {
	s := newSim(t, AutoFailback, nil)
	s.nodes["alpha"].up, s.nodes["beta"].up = true, true
	for _, n := range []string{"alpha", "beta"} {
		s.act(n, s.nodes[n].m.PeerStatus(s.now, s.peer(n), "up"))
	}
	s.cut = true // both starting messages are lost
	s.act("alpha", s.nodes["alpha"].m.CommUp(s.now))
	s.act("beta", s.nodes["beta"].m.CommUp(s.now))
	s.settle()
	s.cut = false
	s.advance(1500 * time.Millisecond)
	s.expect(alphaGroups, betaGroups)
}

func TestIpfailGivesResourcesToBetterConnectedPeer(t *testing.T) {
	s := newSim(t, NiceFailback, func(c *Config) { c.PingHysteresis = time.Second })
	s.start("alpha")
	s.start("beta")
	s.expect(allGroups, "")
	a := s.nodes["alpha"].m
	// Equal reachability: nothing moves.
	s.act("alpha", a.Connectivity(s.now, 2, 2))
	s.advance(2 * time.Second)
	s.expect(allGroups, "")
	// alpha loses a ping node; beta still sees both. Not before the
	// hysteresis, then everything moves to beta.
	s.act("alpha", a.Connectivity(s.now, 1, 2))
	s.settle()
	s.expect(allGroups, "")
	s.now = s.now.Add(1100 * time.Millisecond)
	s.act("alpha", a.Connectivity(s.now, 1, 2))
	s.settle()
	s.expect("", allGroups)
	// beta, now holding everything, is not moved back while it is better.
	s.act("beta", s.nodes["beta"].m.Connectivity(s.now, 2, 1))
	s.settle()
	s.expect("", allGroups)
}
