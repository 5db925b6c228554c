package rm

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func withFencing(delay time.Duration) func(*Config) {
	return func(c *Config) { c.Fencing, c.FenceDelay = true, delay }
}

// startPair starts alpha alone (it resets beta, which it never heard, and
// takes everything: TestFenceAtStartup), then beta, and forgets that reset.
func (s *sim) startPair() {
	s.start("alpha")
	s.start("beta")
	s.advance(2 * time.Second)
	s.fences = nil
}

// acquiredBy lists the acquisitions of node, in order.
func (s *sim) acquiredBy(node string) []string {
	var out []string
	for _, a := range s.acquires {
		if strings.HasPrefix(a, node+"@") {
			out = append(out, a)
		}
	}
	return out
}

// TestFenceBeforeTakeover: a dead holder is reset first; while the reset
// runs nothing is acquired (not even our own groups); the takeover starts
// only after the device reported success, and the peer is told (stonith
// result=OK).
func TestFenceBeforeTakeover(t *testing.T) {
	for _, mode := range []Mode{NiceFailback, AutoFailback, Legacy} {
		t.Run(mode.String(), func(t *testing.T) {
			s := newSim(t, mode, withFencing(0))
			s.startPair()
			if mode == NiceFailback {
				if err := s.standby("alpha", Foreign); err != nil {
					t.Fatal(err)
				}
			}
			s.expect(alphaGroups, betaGroups)
			if len(s.fences) != 0 {
				t.Fatalf("fenced with both nodes up: %+v", s.fences)
			}
			beta := s.nodes["beta"]
			beta.holdFence = true
			before := len(s.acquiredBy("beta"))
			s.kill("alpha")
			if len(s.fences) != 1 || s.fences[0] != (fenceCall{by: "beta", node: "alpha", attempt: 1, at: s.now}) {
				t.Fatalf("fences %+v", s.fences)
			}
			if got := s.acquiredBy("beta")[before:]; len(got) != 0 {
				t.Fatalf("beta acquired while alpha is not reset yet: %v", got)
			}
			if st := beta.m.FenceState(); st.Node != "alpha" || !st.Running || st.Attempts != 1 {
				t.Fatalf("fence state %+v", st)
			}
			s.advance(15 * time.Second) // a reset may take long: still nothing
			s.expect("", betaGroups)
			s.finishFence(beta, beta.heldFence[0], FenceOK)
			s.settle()
			s.expect("", allGroups)
			if !slices.Contains(s.sent, "beta:stonith result=OK") {
				t.Errorf("no stonith result=OK sent: %v", s.sent)
			}
			if st := beta.m.FenceState(); st.Node != "" {
				t.Errorf("fence state after success %+v", st)
			}
		})
	}
}

// TestFenceRetriesWithBackoff: a failing reset is retried after 5 s, then
// 10, 20, 40 and 60 s (capped), each failure reported as stonith
// result=bad; nothing is taken over while it fails, and the takeover
// follows the first success at once.
func TestFenceRetriesWithBackoff(t *testing.T) {
	s := newSim(t, NiceFailback, withFencing(0))
	s.startPair()
	s.expect(allGroups, "")
	fails := 6
	s.nodes["beta"].fenceResult = func(attempt int) FenceResult {
		if attempt <= fails {
			return FenceFailed
		}
		return FenceOK
	}
	killed := s.now
	s.kill("alpha")
	for i := 0; i < 4000 && len(s.fences) <= fails; i++ {
		s.expect("", "") // never a takeover while the reset fails
		s.advance(50 * time.Millisecond)
	}
	var gaps []time.Duration
	prev := killed
	for _, f := range s.fences {
		gaps = append(gaps, f.at.Sub(prev))
		prev = f.at
	}
	want := []time.Duration{0, 5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}
	if !slices.Equal(gaps, want) {
		t.Fatalf("attempts after %v, want %v", gaps, want)
	}
	s.expect("", allGroups)
	if n := count(s.sent, "beta:stonith result=bad"); n != fails {
		t.Errorf("%d stonith result=bad sent, want %d", n, fails)
	}
	if len(s.acquiredBy("beta")) == 0 || !strings.HasPrefix(s.acquiredBy("beta")[0], "beta@") {
		t.Fatalf("acquires %v", s.acquires)
	}
}

// TestNoFenceWhenUnneeded: a graceful stop (shutdone) and a node that had
// handed everything over (hb_standby) need no reset: stonith
// result=unneeded, and the takeover (if any) is immediate.
func TestNoFenceWhenUnneeded(t *testing.T) {
	s := newSim(t, AutoFailback, withFencing(0))
	s.startPair()
	s.expect(alphaGroups, betaGroups)
	s.act("alpha", s.nodes["alpha"].m.Shutdown(s.now))
	s.settle()
	s.expect("", allGroups)
	s.kill("alpha") // it exits after shutdone: declared dead later
	if len(s.fences) != 0 {
		t.Fatalf("fenced a node that shut down: %+v", s.fences)
	}
	if !slices.Contains(s.sent, "beta:stonith result=unneeded") {
		t.Errorf("no stonith result=unneeded: %v", s.sent)
	}

	s = newSim(t, NiceFailback, withFencing(0))
	s.startPair()
	if err := s.standby("alpha", All); err != nil {
		t.Fatal(err)
	}
	s.expect("", allGroups)
	s.kill("alpha")
	if len(s.fences) != 0 {
		t.Fatalf("fenced a node that held nothing: %+v", s.fences)
	}
	s.expect("", allGroups)

	// A node without groups of its own holds "local" and nothing behind
	// it: no reset (Heartbeat would reset it).
	s = newSim(t, AutoFailback, func(c *Config) {
		c.Groups, c.Fencing = []Group{{Key: "a1", Node: "alpha"}}, true
	})
	s.startPair()
	s.expect("a1", "")
	s.kill("beta")
	if len(s.fences) != 0 {
		t.Fatalf("fenced a node that held no group: %+v", s.fences)
	}
	if h := s.nodes["alpha"].m.Holding(); h != "all" {
		t.Errorf("alpha holds %s", h)
	}

	// Legacy: shutdone is what makes the reset unneeded.
	s = newSim(t, Legacy, withFencing(0))
	s.startPair()
	s.act("beta", s.nodes["beta"].m.Shutdown(s.now))
	s.settle()
	s.kill("beta")
	if len(s.fences) != 0 {
		t.Fatalf("legacy: fenced a node that sent shutdone: %+v", s.fences)
	}
	s.expect(allGroups, "")
}

// TestFenceCancelledWhenHeardAgain: a reset that keeps failing is dropped
// when the node is heard again (a frozen process resumed, a healed
// partition): it was not dead and nothing was taken from it.
func TestFenceCancelledWhenHeardAgain(t *testing.T) {
	s := newSim(t, NiceFailback, withFencing(0))
	s.startPair()
	s.expect(allGroups, "")
	s.nodes["beta"].fenceResult = func(int) FenceResult { return FenceFailed }
	s.cut = true
	s.act("beta", s.nodes["beta"].m.NodeDead(s.now, "alpha"))
	s.settle()
	s.advance(6 * time.Second)
	if len(s.fences) != 2 {
		t.Fatalf("attempts %+v", s.fences)
	}
	s.cut = false
	s.act("beta", s.nodes["beta"].m.PeerReturned(s.now, "alpha"))
	s.settle()
	s.advance(2 * time.Minute)
	if len(s.fences) != 2 {
		t.Fatalf("still fencing after the node was heard again: %+v", s.fences)
	}
	s.expect(allGroups, "")
	if st := s.nodes["beta"].m.FenceState(); st.Node != "" {
		t.Errorf("fence state %+v", st)
	}
}

// TestFenceDelayForTheNodeNotPreferred: in a partition where both nodes
// hold groups, both must reset each other. The one holding more groups
// (on a tie: whose name sorts first) fires at once; the other waits
// FenceDelay, so it is reset before it fires and the first keeps
// everything. Without a delay both fire at once, as with Heartbeat.
func TestFenceDelayForTheNodeNotPreferred(t *testing.T) {
	const delay = 5 * time.Second
	for _, c := range []struct {
		name      string
		groups    []Group
		delay     time.Duration
		winner    string
		immediate []string
	}{
		{"more groups wins", []Group{{"a1", "alpha"}, {"b1", "beta"}, {"b2", "beta"}}, delay, "beta", []string{"beta"}},
		{"tie: name order", []Group{{"a1", "alpha"}, {"b1", "beta"}}, delay, "alpha", []string{"alpha"}},
		{"no delay: both fire", []Group{{"a1", "alpha"}, {"b1", "beta"}}, 0, "", []string{"alpha", "beta"}},
		// beta holds no group: alpha need not reset it, so beta, which
		// must reset alpha, has no race to lose and fires at once.
		{"one-sided: no delay", []Group{{"a1", "alpha"}}, delay, "", []string{"beta"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSim(t, AutoFailback, func(cfg *Config) {
				cfg.Groups, cfg.Fencing, cfg.FenceDelay = c.groups, true, c.delay
			})
			s.startPair()
			for _, n := range s.nodes {
				n.holdFence = true
			}
			s.cut = true
			s.act("alpha", s.nodes["alpha"].m.NodeDead(s.now, "beta"))
			s.act("beta", s.nodes["beta"].m.NodeDead(s.now, "alpha"))
			s.settle()
			var fired []string
			for _, f := range s.fences {
				fired = append(fired, f.by)
			}
			slices.Sort(fired)
			if !slices.Equal(fired, c.immediate) {
				t.Fatalf("fired at once: %v, want %v", fired, c.immediate)
			}
			if c.winner == "" {
				return
			}
			loser := s.peer(c.winner)
			if st := s.nodes[loser].m.FenceState(); !st.Delayed || st.NextAt != s.now.Add(delay) {
				t.Fatalf("%s fence state %+v", loser, st)
			}
			w := s.nodes[c.winner]
			s.finishFence(w, w.heldFence[0], FenceOK) // resets the loser
			s.advance(2 * delay)
			if len(s.fences) != 1 {
				t.Fatalf("the reset node fired anyway: %+v", s.fences)
			}
			var all []string
			for _, g := range c.groups {
				all = append(all, g.Key)
			}
			slices.Sort(all)
			if got := s.running(c.winner); got != strings.Join(all, " ") {
				t.Fatalf("%s runs %q", c.winner, got)
			}
		})
	}
}

// TestFenceAtStartup: a node that starts alone has never heard its peer,
// which may hold anything: it resets the peer before taking any group, as
// Heartbeat does.
func TestFenceAtStartup(t *testing.T) {
	for _, mode := range []Mode{AutoFailback, Legacy} {
		s := newSim(t, mode, withFencing(0))
		s.nodes["alpha"].holdFence = true
		s.start("alpha")
		if len(s.fences) != 1 || s.fences[0].node != "beta" {
			t.Fatalf("%v: fences %+v", mode, s.fences)
		}
		s.advance(time.Minute)
		s.expect("", "")
		a := s.nodes["alpha"]
		s.finishFence(a, a.heldFence[0], FenceOK)
		s.advance(time.Second)
		s.expect(allGroups, "")
	}
}

// TestShutdownAbandonsFence: a stop while a reset is pending takes
// nothing over, as Heartbeat cancels the takeover during a shutdown.
func TestShutdownAbandonsFence(t *testing.T) {
	s := newSim(t, NiceFailback, withFencing(0))
	s.startPair()
	b := s.nodes["beta"]
	b.holdFence = true
	s.kill("alpha")
	s.act("beta", b.m.Shutdown(s.now))
	s.settle()
	s.finishFence(b, b.heldFence[0], FenceOK)
	s.expect("", "")
	if !b.exited {
		t.Fatal("no exit")
	}
}
