package hardening

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
)

// Heartbeat traffic on a link, as nft matches it inside a director.
func hbIn(ifs string) string  { return `iifname { ` + ifs + ` } udp dport 694` }
func hbOut(ifs string) string { return `oifname { ` + ifs + ` } udp dport 694` }

// TestOneLinkDropped: every heartbeat on eth1 dropped (both directions, in
// alpha): the link is declared dead on both sides, the nodes stay active
// and nothing moves.
func TestOneLinkDropped(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	nft(t, l.Alpha, "cut1", "in "+hbIn(`"eth1"`)+" drop", "out "+hbOut(`"eth1"`)+" drop")

	da := hbdlab.Ours.WaitLink(t, l.Alpha, "beta", "eth1", "dead", 5*time.Second)
	db := hbdlab.Ours.WaitLink(t, l.Beta, "alpha", "eth1", "dead", 5*time.Second)
	t.Logf("eth1 dropped: alpha saw beta/eth1 dead after %v, beta saw alpha/eth1 dead after %v", da.Round(time.Millisecond), db.Round(time.Millisecond))
	// For 3 s (3 deadtimes): the peer stays active over eth2 and the VIP
	// stays on alpha, answered every time.
	p := l.poll(50 * time.Millisecond)
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		for _, n := range l.Directors() {
			if st, _ := hbdlab.Ours.Ask(n, "nodestatus", l.Peer(n).Name); st != "active" {
				t.Fatalf("%s sees %s %q with eth2 still up", n.Name, l.Peer(n).Name, st)
			}
			if got, _ := hbdlab.Ours.Ask(n, "hblinkstatus", l.Peer(n).Name, "eth2"); got != "up" {
				t.Fatalf("%s sees link %s/eth2 %q", n.Name, l.Peer(n).Name, got)
			}
		}
		if h := l.Holders(); len(h) != 1 || h[0] != "alpha" {
			t.Fatalf("VIP holders %v with one link dropped", h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ok, fail, worst, servers := p.finish()
	t.Logf("client during the cut: %d answers %v, %d failures (longest %v)", ok, servers, fail, worst)
	if fail > 0 || servers["beta"] > 0 {
		t.Fatalf("client saw failures or beta with one link down: %d failures, %v", fail, servers)
	}
	hbdlab.Ours.WaitRsc(t, l.Alpha, "local", time.Second)
	hbdlab.Ours.WaitRsc(t, l.Beta, "local", time.Second)
	// Back: the link comes up again.
	nftDelete(t, l.Alpha, "cut1")
	d := hbdlab.Ours.WaitLink(t, l.Alpha, "beta", "eth1", "up", 5*time.Second)
	hbdlab.Ours.WaitLink(t, l.Beta, "alpha", "eth1", "up", 5*time.Second)
	t.Logf("eth1 restored: up again after %v", d.Round(time.Millisecond))
	if pa.Exited() || pb.Exited() {
		t.Fatal("hbd exited")
	}
}

// TestLossyLinks: 30 % random loss on both links in both directions for
// 20 s, with keepalive 100 ms and deadtime 1 s (10 keepalives; a node dies
// only if about 10 heartbeats in a row are lost on both links, p ~ 1e-10):
// no false failover. Sampled every ~200 ms, and the logs are checked for any
// death between samples.
func TestLossyLinks(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	before := l.snapshot()
	c0 := map[string]map[string]uint64{"alpha": hbdlab.Counters(t, l.Alpha), "beta": hbdlab.Counters(t, l.Beta)}
	const loss = `numgen random mod 100 < 30 drop`
	nft(t, l.Alpha, "loss", "in "+hbIn(`"eth1", "eth2"`)+" "+loss, "out "+hbOut(`"eth1", "eth2"`)+" "+loss)
	p := l.poll(100 * time.Millisecond)
	end := time.Now().Add(20 * time.Second)
	samples := 0
	for time.Now().Before(end) {
		samples++
		for _, n := range l.Directors() {
			if st, _ := hbdlab.Ours.Ask(n, "nodestatus", l.Peer(n).Name); st != "active" {
				t.Fatalf("sample %d: %s sees %s %q under 30%% loss", samples, n.Name, l.Peer(n).Name, st)
			}
			if r, _ := hbdlab.Ours.Ask(n, "rscstatus"); r != before.rsc[n.Name] {
				t.Fatalf("sample %d: %s rscstatus %q, was %q", samples, n.Name, r, before.rsc[n.Name])
			}
		}
		if h := l.Holders(); !reflect.DeepEqual(h, before.vip) {
			t.Fatalf("sample %d: VIP holders %v, were %v", samples, h, before.vip)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ok, fail, worst, servers := p.finish()
	nftDelete(t, l.Alpha, "loss")
	for _, n := range l.Directors() {
		c := hbdlab.Counters(t, n)
		c0 := c0[n.Name]
		log := readLogs(n)
		t.Logf("%s over 20 s of 30%% loss: accepted %d, duplicates %d, rexmit requests %d, retransmits %d, late-heartbeat warnings %d, link deaths %d",
			n.Name, c["rx_accepted"]-c0["rx_accepted"], c["rx_duplicates"]-c0["rx_duplicates"], c["tx_rexmit_requests"]-c0["tx_rexmit_requests"],
			c["tx_retransmits"]-c0["tx_retransmits"], strings.Count(log, "Late heartbeat"), strings.Count(log, " dead.\""))
		if strings.Contains(log, "is dead") {
			t.Errorf("%s declared its peer dead under 30%% loss", n.Name)
		}
	}
	t.Logf("%d samples; client: %d answers %v, %d failures (longest %v)", samples, ok, servers, fail, worst)
	if servers["beta"] > 0 {
		t.Errorf("beta served the VIP %d times", servers["beta"])
	}
	if pa.Exited() || pb.Exited() {
		t.Fatal("hbd exited")
	}
}

// TestAsymmetricLoss: alpha's heartbeats never reach beta (100 % loss
// alpha→beta on both links) while beta's reach alpha. beta declares alpha
// dead and takes over; alpha, still hearing beta, keeps its group, so the
// VIP is on both for the duration (expected: without fencing a one-way
// partition looks like a dead node to one side). When the links recover,
// exactly one director must hold the VIP once stable.
func TestAsymmetricLoss(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	nft(t, l.Alpha, "oneway", "out "+hbOut(`"eth1", "eth2"`)+" drop")
	cut := time.Now()
	d := hbdlab.Ours.WaitStatus(t, l.Beta, "alpha", "dead", 5*time.Second)
	netns.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		return l.HasVIP(l.Beta), "beta has not taken the VIP"
	})
	t.Logf("alpha→beta cut: beta declared alpha dead after %v and holds the VIP after %v", d.Round(time.Millisecond), time.Since(cut).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	sa, _ := hbdlab.Ours.Ask(l.Alpha, "nodestatus", "beta")
	ra, _ := hbdlab.Ours.Ask(l.Alpha, "rscstatus")
	rb, _ := hbdlab.Ours.Ask(l.Beta, "rscstatus")
	t.Logf("during the one-way partition: alpha sees beta %q, alpha holds %q, beta holds %q, VIP on %v", sa, ra, rb, l.Holders())

	nftDelete(t, l.Alpha, "oneway")
	healed := time.Now()
	hbdlab.Ours.WaitStatus(t, l.Beta, "alpha", "active", 5*time.Second)
	// Stable: exactly one holder, and it stays so for 2 s.
	var one []string
	netns.Eventually(t, 15*time.Second, 50*time.Millisecond, func() (bool, string) {
		one = l.Holders()
		return len(one) == 1, fmt.Sprintf("VIP holders %v %v after the links recovered", one, time.Since(healed).Round(time.Millisecond))
	})
	t.Logf("links recovered: exactly one holder (%v) after %v", one, time.Since(healed).Round(time.Millisecond))
	end := time.Now().Add(2 * time.Second)
	for time.Now().Before(end) {
		if h := l.Holders(); !reflect.DeepEqual(h, one) {
			t.Fatalf("VIP holders changed to %v", h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ra, _ = hbdlab.Ours.Ask(l.Alpha, "rscstatus")
	rb, _ = hbdlab.Ours.Ask(l.Beta, "rscstatus")
	served := l.Get(time.Second)
	t.Logf("after recovery: alpha holds %q, beta holds %q; client served by %q", ra, rb, served)
	if served != one[0] {
		// The holder must have re-announced the VIP: the client's ARP
		// entry pointed at the peer's copy, which is gone.
		t.Errorf("client served by %q, want the one holder %q", served, one[0])
	}
	if pa.Exited() || pb.Exited() {
		t.Fatal("hbd exited")
	}
}

// TestSplitBrainHeal: both links cut, each side takes every group (both
// hold the VIP: expected without fencing). When the links return, the
// group's own node (alpha) keeps the VIP all along and beta releases its
// copy within healBound of the links' return (beta's "address removed",
// timed by its own log); exactly one holder from then on. A client polling
// the VIP every 20 ms through the heal is moved to alpha by alpha's
// gratuitous ARPs; what it may lose is bounded by healLost and healGap: a
// request that reached beta's copy just as beta stops it (its web server
// first, then the address) fails, as a stopped service fails the requests
// in progress. Both auto_failback on and off (legacy keeps Heartbeat's
// behaviour), and two partition lengths: "short" heals while beta's own
// takeover announcement (5 gratuitous ARPs 200 ms apart) still runs,
// "long" after it ended.
func TestSplitBrainHeal(t *testing.T) {
	for _, failback := range []string{"on", "off"} {
		for _, long := range []bool{false, true} {
			name := "auto_failback_" + failback + "/short"
			if long {
				name = "auto_failback_" + failback + "/long"
			}
			t.Run(name, func(t *testing.T) { splitBrainHeal(t, failback, long) })
		}
	}
}

// The README's bounds for a healed partition: exactly one holder within
// 0.2 s of the links' return (a keepalive for each side to hear the other,
// the resource exchange, and beta's stop of its copy); a client polling
// every 20 ms loses at most healLost requests, never going unanswered for
// longer than healGap (one failed request is its 0.3 s timeout).
const (
	healBound = 200 * time.Millisecond
	healLost  = 3
	healGap   = 500 * time.Millisecond
)

func splitBrainHeal(t *testing.T, failback string, long bool) {
	l := directors(t, withFailback(failback))
	pa, pb := l.startBoth()
	l.waitStable()
	both := `"eth1", "eth2"`
	nft(t, l.Alpha, "split", "in "+hbIn(both)+" drop", "out "+hbOut(both)+" drop")
	cut := time.Now()
	hbdlab.Ours.WaitStatus(t, l.Alpha, "beta", "dead", 5*time.Second)
	hbdlab.Ours.WaitStatus(t, l.Beta, "alpha", "dead", 5*time.Second)
	netns.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		h := l.Holders()
		return len(h) == 2, fmt.Sprintf("VIP holders %v during the split", h)
	})
	hbdlab.Ours.WaitRsc(t, l.Alpha, "all", 5*time.Second)
	hbdlab.Ours.WaitRsc(t, l.Beta, "all", 5*time.Second)
	t.Logf("split: both hold every group after %v; client served by %q", time.Since(cut).Round(time.Millisecond), l.Get(time.Second))
	if long {
		// The partition lasts until beta's takeover announcement (5
		// rounds 200 ms apart from adding the address) is over.
		added, ok := hbdlab.LogTime(hbdlab.Log(l.Beta), "address added")
		if !ok {
			t.Fatalf("beta's log has no \"address added\" for its takeover")
		}
		time.Sleep(time.Until(added.Add(4*200*time.Millisecond + 100*time.Millisecond)))
	}

	p := l.poll(20 * time.Millisecond)
	// A baseline before the heal: the client is answered by one copy.
	netns.Eventually(t, 5*time.Second, 20*time.Millisecond, func() (bool, string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.ok >= 5, fmt.Sprintf("client answered %d times during the split", p.ok)
	})
	marks := l.logMarks()
	healed := time.Now()
	nftDelete(t, l.Alpha, "split")
	// Sample the holders until beta has released its copy and for 2 s
	// after: alpha must hold the VIP in every sample.
	var first time.Duration
	var changes []string // each change of holders, with when
	prev := []string{"alpha", "beta"}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		h := l.Holders()
		at := time.Since(healed)
		if !reflect.DeepEqual(h, prev) {
			changes = append(changes, fmt.Sprintf("%v at %v", h, at.Round(time.Millisecond)))
			prev = h
		}
		if len(h) == 0 || h[0] != "alpha" {
			t.Errorf("%v after the links returned alpha does not hold the VIP (holders %v)", at.Round(time.Millisecond), h)
		}
		if len(h) == 1 && first == 0 {
			first = at
			end = time.Now().Add(2 * time.Second)
		}
		if len(h) == 2 && first != 0 {
			t.Errorf("%v after the links returned beta holds the VIP again", at.Round(time.Millisecond))
		}
		time.Sleep(10 * time.Millisecond)
	}
	answers, fails, worst, servers := p.finish()
	hbdlab.Ours.WaitStatus(t, l.Alpha, "beta", "active", time.Second)
	hbdlab.Ours.WaitStatus(t, l.Beta, "alpha", "active", time.Second)
	ra, _ := hbdlab.Ours.Ask(l.Alpha, "rscstatus")
	rb, _ := hbdlab.Ours.Ask(l.Beta, "rscstatus")
	released, ok := hbdlab.LogTime(logSince(l.Beta, marks), "address removed")
	t.Logf("heal (auto_failback %s, long %v): beta removed its copy %v after the links returned (first sample with one holder %v; holders %v); alpha holds %q, beta %q; client %d answers %v, %d failures, longest gap %v",
		failback, long, released.Sub(healed).Round(time.Millisecond), first.Round(time.Millisecond), changes, ra, rb, answers, servers, fails, worst.Round(time.Millisecond))
	switch {
	case !ok:
		t.Errorf("beta never removed its copy of the VIP (its log has no \"address removed\"); holders now %v", l.Holders())
	case released.Sub(healed) > healBound:
		t.Errorf("beta removed its copy %v after the links returned (bound %v)", released.Sub(healed).Round(time.Millisecond), healBound)
	}
	if first == 0 {
		t.Errorf("the VIP was never on exactly one node after the links returned")
	}
	// rscstatus is Heartbeat's i_hold: beta's own set of groups (empty)
	// is still "local" to it.
	if ra != "local" || rb != "local" {
		t.Errorf("after the heal alpha holds %q and beta %q, want local and local", ra, rb)
	}
	var at []string
	for _, f := range p.failures {
		at = append(at, f.Sub(healed).Round(time.Millisecond).String())
	}
	if fails > 0 {
		t.Logf("failed requests began %v after the links returned", at)
	}
	if fails > healLost || worst > healGap {
		t.Errorf("the client went unanswered %d times during the heal (requests begun at %v after the links returned; longest gap %v), servers %v; bounds %d requests, %v\nalpha:\n%s\nbeta:\n%s",
			fails, at, worst.Round(time.Millisecond), servers, healLost, healGap, logSince(l.Alpha, marks), logSince(l.Beta, marks))
	}
	if got := l.Get(time.Second); got != "alpha" {
		t.Errorf("after the heal the client is served by %q, want alpha", got)
	}
	if strings.Contains(logSince(l.Alpha, marks), "address removed") {
		t.Errorf("alpha removed the VIP during the heal")
	}
	if pa.Exited() || pb.Exited() {
		t.Fatal("hbd exited")
	}
}
