package hardening

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
)

// TestCrashLoop: kill -9 the hbd holding the VIP five times, alternating as
// the holder changes, and restart the killed one each time. After each
// kill the survivor declares its peer dead no sooner than deadtime after
// the last heartbeat it heard (at most a keepalive, and the sender's
// jitter, before the kill: 0.1 s allowed) and no later than deadtime after
// the kill (plus a keepalive for the log line on a loaded machine), and the client is answered by the
// survivor within deadtime plus the group's start time (rm's took=, from
// the survivor's log) plus hbdlab.FailoverMargin. The killed node's kernel keeps
// the VIP address until its hbd restarts (a dead daemon cannot remove it:
// that is what fencing is for), and the restarted hbd clears that
// leftover, so exactly one node holds the VIP again. auto_failback off,
// so the holder alternates.
func TestCrashLoop(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	procs := map[*netns.Node]*netns.Proc{l.Alpha: pa, l.Beta: pb}
	holder := l.Alpha
	for i := 1; i <= 5; i++ {
		victim, survivor := holder, l.Peer(holder)
		marks := l.logMarks()
		if err := procs[victim].Kill(); err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		killed := time.Now()
		l.WaitServer(t, survivor.Name, deadtime+5*time.Second)
		served := time.Since(killed)
		if !l.HasVIP(survivor) {
			t.Fatalf("kill %d: %s answers but has no VIP", i, survivor.Name)
		}
		leftover := l.Holders()
		deadAt, start := takeoverTimes(t, survivor, victim.Name, marks)
		dead := deadAt.Sub(killed)
		bound := deadtime + start + hbdlab.FailoverMargin
		t.Logf("kill %d of %s: %s declared it dead after %v, started the group in %v, answered the client after %v (bound %v); VIP then on %v",
			i, victim.Name, survivor.Name, dead.Round(time.Millisecond), start, served.Round(time.Millisecond), bound, leftover)
		if lo, hi := deadtime-keepalive-100*time.Millisecond, deadtime+keepalive; dead < lo || dead > hi {
			t.Errorf("kill %d: %s declared %s dead %v after the kill, want %v..%v (deadtime %v from the last heartbeat heard, at most a keepalive %v and the sender's jitter before the kill)",
				i, survivor.Name, victim.Name, dead.Round(time.Millisecond), lo, hi, deadtime, keepalive)
		}
		if served > bound {
			t.Errorf("kill %d of %s: client answered by %s only after %v (bound: deadtime %v + group start %v + margin %v)",
				i, victim.Name, survivor.Name, served.Round(time.Millisecond), deadtime, start, hbdlab.FailoverMargin)
		}

		marks = l.logMarks()
		procs[victim] = hbdlab.StartDirector(t, victim)
		restarted := time.Now()
		cleared := l.waitOneHolder(survivor, 10*time.Second)
		hbdlab.Ours.WaitRsc(t, survivor, "all", 5*time.Second)
		hbdlab.Ours.WaitRsc(t, victim, "none", 5*time.Second)
		// The restarted node must have joined (comm up, starting/resource
		// exchanged: it has seen that its peer holds everything) before
		// its peer is the next victim.
		hbdlab.Ours.WaitStatus(t, victim, survivor.Name, "active", 5*time.Second)
		netns.Eventually(t, 5*time.Second, 20*time.Millisecond, func() (bool, string) {
			return strings.Contains(logSince(victim, marks), "Local Resource acquisition completed. (none)"),
				fmt.Sprintf("restarted %s has not settled its resources with %s", victim.Name, survivor.Name)
		})
		if got := l.Get(time.Second); got != survivor.Name {
			t.Fatalf("kill %d: after %s's restart the client got %q", i, victim.Name, got)
		}
		t.Logf("kill %d: %s restarted, leftover cleared after %v, both settled after %v",
			i, victim.Name, cleared.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
		holder = survivor
	}
	for n, p := range procs {
		if p.Exited() {
			t.Fatalf("hbd on %s exited", n.Name)
		}
	}
}
