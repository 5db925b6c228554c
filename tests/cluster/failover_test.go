package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
)

// The classic two-director scenario: alpha and beta heartbeat over eth1 and
// eth2 and share a LAN (eth0, through a bridge) with a client. alpha's
// haresources group is a VIP and an httpd-like script that serves the
// node's name.

const (
	lanNet = "10.42.0" // eth0: the directors .1 and .2, the client .10
	vip    = lanNet + ".100"
)

// directors builds the topology and writes both directors' files.
func directors(t *testing.T, failback string) *hbdlab.LAN {
	l := hbdlab.NewLAN(t, hbdlab.Net{LAN: lanNet, HB: "10.41"})
	l.Configure(haCF(failback), hbdlab.Authkeys("sha1", "failover-key"), "alpha IPaddr2::"+vip+"/24/eth0 webserver\n")
	return l
}

// onlyOneVIP checks, for a while, that exactly one director has the VIP.
func onlyOneVIP(t *testing.T, l *hbdlab.LAN, holder *netns.Node, d time.Duration) {
	t.Helper()
	other := l.Peer(holder)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if !l.HasVIP(holder) || l.HasVIP(other) {
			t.Fatalf("VIP: %s has it %v, %s has it %v; want only %s", holder.Name, l.HasVIP(holder), other.Name, l.HasVIP(other), holder.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// garps counts gratuitous ARPs for the VIP in a tcpdump capture.
func garps(out string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "ARP") && (strings.Contains(line, "who-has "+vip+" tell "+vip) || strings.Contains(line, "Reply "+vip+" is-at")) {
			n++
		}
	}
	return n
}

func TestClassicFailover(t *testing.T) {
	for _, failback := range []string{"on", "off"} {
		t.Run("auto_failback_"+failback, func(t *testing.T) {
			l := directors(t, failback)
			pa := hbdlab.StartDirector(t, l.Alpha)
			hbdlab.StartDirector(t, l.Beta)
			// rscstatus is Heartbeat's i_hold: a node that took its own
			// (here empty) set of groups holds "local".
			hbdlab.Ours.WaitRsc(t, l.Alpha, "local", 10*time.Second)
			hbdlab.Ours.WaitRsc(t, l.Beta, "local", 5*time.Second)
			l.WaitServer(t, "alpha", 5*time.Second)
			onlyOneVIP(t, l, l.Alpha, 500*time.Millisecond)

			capture, err := l.Client.Start("tcpdump", "-i", "eth0", "-nn", "-l", "arp")
			if err != nil {
				t.Fatal(err)
			}
			// tcpdump says "listening on" once its socket is bound and
			// capturing.
			netns.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
				return strings.Contains(capture.Output(), "listening on eth0"), "tcpdump is not capturing yet: " + capture.Output()
			})
			mark := logLen(l.Beta)
			pa.Kill()
			killed := time.Now()
			l.WaitServer(t, "beta", deadtime+5*time.Second)
			served := time.Since(killed)
			if !l.HasVIP(l.Beta) {
				t.Fatal("beta answers but has no VIP")
			}
			// Within deadtime plus the group's start time (from beta's
			// own log) plus hbdlab.FailoverMargin; death declared no sooner than
			// earliestDeath and within deadtime (plus a keepalive for the
			// log line on a loaded machine).
			deadAt, start := takeoverTimes(t, l.Beta, "alpha", mark)
			dead := deadAt.Sub(killed)
			bound := deadtime + start + hbdlab.FailoverMargin
			t.Logf("kill -9 of alpha's hbd: beta declared it dead after %v, started the group in %v; the client is answered by beta after %v (bound %v)",
				dead.Round(time.Millisecond), start, served.Round(time.Millisecond), bound)
			if dead < earliestDeath || dead > deadtime+keepalive {
				t.Errorf("beta declared alpha dead %v after the kill, want %v..%v", dead.Round(time.Millisecond), earliestDeath, deadtime+keepalive)
			}
			if served > bound {
				t.Errorf("the client was answered by beta %v after the kill (bound: deadtime %v + group start %v + margin %v)",
					served.Round(time.Millisecond), deadtime, start, hbdlab.FailoverMargin)
			}
			hbdlab.Ours.WaitRsc(t, l.Beta, "all", 5*time.Second)
			netns.Eventually(t, 3*time.Second, 100*time.Millisecond, func() (bool, string) {
				n := garps(capture.Output())
				return n >= 3, fmt.Sprintf("%d gratuitous ARPs for %s seen by the client:\n%s", n, vip, capture.Output())
			})
			t.Logf("gratuitous ARPs seen by the client: %d", garps(capture.Output()))

			// alpha comes back: it first clears what its killed run left
			// (VIP, web server), then fails back only with auto_failback on.
			hbdlab.StartDirector(t, l.Alpha)
			if failback == "on" {
				l.WaitServer(t, "alpha", 15*time.Second)
				hbdlab.Ours.WaitRsc(t, l.Alpha, "local", 5*time.Second)
				hbdlab.Ours.WaitRsc(t, l.Beta, "local", 5*time.Second)
				onlyOneVIP(t, l, l.Alpha, time.Second)
			} else {
				hbdlab.Ours.WaitRsc(t, l.Alpha, "none", 10*time.Second)
				netns.Eventually(t, 5*time.Second, 50*time.Millisecond, func() (bool, string) {
					return !l.HasVIP(l.Alpha), "alpha still has the VIP from its killed run"
				})
				// Nothing fails back: beta keeps the VIP alone for 3 s.
				hbdlab.Ours.WaitRsc(t, l.Beta, "all", time.Second)
				onlyOneVIP(t, l, l.Beta, 3*time.Second)
				hbdlab.Ours.WaitRsc(t, l.Beta, "all", time.Second)
				if got := l.Get(500 * time.Millisecond); got != "beta" {
					t.Fatalf("after alpha's return with auto_failback off the client got %q", got)
				}
			}
		})
	}
}

func TestStandbyTakeoverAndOneLinkDown(t *testing.T) {
	l := directors(t, "off")
	hbdlab.StartDirector(t, l.Alpha)
	hbdlab.StartDirector(t, l.Beta)
	hbdlab.Ours.WaitRsc(t, l.Alpha, "local", 10*time.Second)
	l.WaitServer(t, "alpha", 5*time.Second)

	run := func(n *netns.Node, tool string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, errOut, code, err := n.Run(ctx, hbdlab.Bin(tool), args...)
		if err != nil || code != 0 {
			t.Fatalf("%s %v on %s: exit %d %v %s%s", tool, args, n.Name, code, err, out, errOut)
		}
	}
	steps := []struct {
		node       *netns.Node
		tool       string
		args       []string
		alpha, bet string
		server     string
	}{
		{l.Alpha, "hb_standby", nil, "none", "all", "beta"},
		{l.Alpha, "hb_takeover", nil, "all", "none", "alpha"},
		{l.Beta, "hb_takeover", []string{"all"}, "none", "all", "beta"},
		{l.Beta, "hb_standby", []string{"foreign"}, "local", "local", "alpha"},
		{l.Alpha, "hb_standby", []string{"all"}, "none", "all", "beta"},
		{l.Beta, "hb_standby", nil, "all", "none", "alpha"},
	}
	for _, s := range steps {
		start := time.Now()
		run(s.node, s.tool, s.args...)
		l.WaitServer(t, s.server, 5*time.Second)
		t.Logf("%s %v on %s: VIP served by %s after %v", s.tool, s.args, s.node.Name, s.server, time.Since(start).Round(time.Millisecond))
		hbdlab.Ours.WaitRsc(t, l.Alpha, s.alpha, 3*time.Second)
		hbdlab.Ours.WaitRsc(t, l.Beta, s.bet, 3*time.Second)
		holder := l.Alpha
		if s.server == "beta" {
			holder = l.Beta
		}
		onlyOneVIP(t, l, holder, 300*time.Millisecond)
	}

	// One link of two down: the peer stays up, nothing moves.
	if err := l.Alpha.SetLink("eth1", false); err != nil {
		t.Fatal(err)
	}
	hbdlab.Ours.WaitLink(t, l.Alpha, "beta", "eth1", "dead", 5*time.Second)
	onlyOneVIP(t, l, l.Alpha, 2*time.Second)
	hbdlab.Ours.WaitRsc(t, l.Alpha, "all", time.Second)
	hbdlab.Ours.WaitRsc(t, l.Beta, "none", time.Second)
	if got := l.Get(500 * time.Millisecond); got != "alpha" {
		t.Fatalf("with one link down the client got %q", got)
	}
}

// TestPingNodesMoveResources: ping nodes (the built-in ipfail). Both
// directors ping the client; when alpha can no longer reach it and beta
// can, alpha hands its groups to beta.
func TestPingNodesMoveResources(t *testing.T) {
	l := directors(t, "off")
	for _, n := range []*netns.Node{l.Alpha, l.Beta} {
		cf, _ := n.ReadFile("/etc/ha.d/ha.cf")
		n.WriteFile("/etc/ha.d/ha.cf", append(cf, []byte("ping 10.42.0.10\n")...), 0o644)
	}
	hbdlab.StartDirector(t, l.Alpha)
	hbdlab.StartDirector(t, l.Beta)
	hbdlab.Ours.WaitRsc(t, l.Alpha, "local", 10*time.Second)
	l.WaitServer(t, "alpha", 5*time.Second)
	for _, n := range []*netns.Node{l.Alpha, l.Beta} {
		netns.Eventually(t, 5*time.Second, 50*time.Millisecond, func() (bool, string) {
			st, _ := hbdlab.Ours.Ask(n, "nodestatus", "10.42.0.10")
			typ, _ := hbdlab.Ours.Ask(n, "nodetype", "10.42.0.10")
			return st == "ping" && typ == "ping", fmt.Sprintf("%s: ping node status %q type %q", n.Name, st, typ)
		})
	}
	// alpha loses the ping node (its echo requests are dropped).
	l.Alpha.MustRun("nft", "add table inet hbtest")
	l.Alpha.MustRun("nft", "add chain inet hbtest out { type filter hook output priority 0 ; }")
	l.Alpha.MustRun("nft", "add rule inet hbtest out ip daddr 10.42.0.10 icmp type echo-request drop")
	start := time.Now()
	l.WaitServer(t, "beta", 15*time.Second)
	t.Logf("alpha lost the ping node: groups on beta after %v", time.Since(start).Round(time.Millisecond))
	if st, _ := hbdlab.Ours.Ask(l.Alpha, "nodestatus", "10.42.0.10"); st != "dead" {
		t.Fatalf("alpha's ping node status %q, want dead", st)
	}
	hbdlab.Ours.WaitRsc(t, l.Alpha, "none", 5*time.Second)
	onlyOneVIP(t, l, l.Beta, time.Second)
	// Back to equal reachability: nothing moves again.
	l.Alpha.MustRun("nft", "delete table inet hbtest")
	hbdlab.Ours.WaitStatus(t, l.Alpha, "10.42.0.10", "ping", 5*time.Second)
	onlyOneVIP(t, l, l.Beta, 4*time.Second)
}

// takeoverTimes waits until the survivor's logfile (from offset mark)
// shows its peer's death and its groups acquired, and returns when it
// declared the peer dead and how long starting the groups took (rm's
// took=).
func takeoverTimes(t *testing.T, n *netns.Node, peer string, mark int) (deadAt time.Time, start time.Duration) {
	t.Helper()
	deadAt = waitLogLine(t, n, mark, fmt.Sprintf("node %s: is dead", peer), 10*time.Second)
	netns.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		var err error
		start, err = hbdlab.GroupStart(logSince(n, mark))
		return err == nil, fmt.Sprintf("%s's log: %v", n.Name, err)
	})
	return deadAt, start
}
