package hardening

import (
	"fmt"
	"testing"
	"time"

	"lvsha/tests/netns"
)

// TestCrashLoop: kill -9 the hbd holding the VIP five times, alternating as
// the holder changes, and restart the killed one each time. After each
// kill the survivor holds the VIP and answers the client within deadtime
// plus a bound; the killed node's kernel keeps the VIP address until its
// hbd restarts (a dead daemon cannot remove it: that is what fencing is
// for), and the restarted hbd clears that leftover, so exactly one node
// holds the VIP again. auto_failback off, so the holder alternates.
func TestCrashLoop(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	procs := map[*netns.Node]*netns.Proc{l.alpha: pa, l.beta: pb}
	// Death after deadtime (1 s), then the group start (IPaddr2 and the web
	// server, ~0.25 s), plus slack for a loaded 2-core CI machine.
	const bound = deadtime + 3*time.Second
	holder := l.alpha
	for i := 1; i <= 5; i++ {
		victim, survivor := holder, l.peer(holder)
		if err := procs[victim].Kill(); err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		killed := time.Now()
		netns.Eventually(t, bound+2*time.Second, 20*time.Millisecond, func() (bool, string) {
			return hasVIP(survivor), fmt.Sprintf("%s has not taken the VIP", survivor.Name)
		})
		took := time.Since(killed)
		l.waitServer(survivor.Name, bound+2*time.Second)
		served := time.Since(killed)
		leftover := l.holders()
		if served > bound {
			t.Errorf("kill %d of %s: client answered by %s only after %v (bound %v)", i, victim.Name, survivor.Name, served, bound)
		}

		procs[victim] = startHbd(t, victim)
		restarted := time.Now()
		cleared := l.waitOneHolder(survivor, 10*time.Second)
		waitRsc(t, survivor, "all", 5*time.Second)
		waitRsc(t, victim, "none", 5*time.Second)
		// The restarted node must have joined (comm up, starting/resource
		// exchanged) before its peer is the next victim.
		waitStatus(t, victim, survivor.Name, "active", 5*time.Second)
		time.Sleep(500 * time.Millisecond)
		if got := l.get(time.Second); got != survivor.Name {
			t.Fatalf("kill %d: after %s's restart the client got %q", i, victim.Name, got)
		}
		t.Logf("kill %d of %s: %s holds the VIP after %v, answers the client after %v (VIP then on %v); %s restarted, leftover cleared after %v, both settled after %v",
			i, victim.Name, survivor.Name, took.Round(time.Millisecond), served.Round(time.Millisecond), leftover,
			victim.Name, cleared.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
		holder = survivor
	}
	for n, p := range procs {
		if p.Exited() {
			t.Fatalf("hbd on %s exited", n.Name)
		}
	}
}
