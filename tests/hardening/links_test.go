package hardening

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"lvsha/tests/netns"
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
	nft(t, l.alpha, "cut1", "in "+hbIn(`"eth1"`)+" drop", "out "+hbOut(`"eth1"`)+" drop")

	da := waitLink(t, l.alpha, "beta", "eth1", "dead", 5*time.Second)
	db := waitLink(t, l.beta, "alpha", "eth1", "dead", 5*time.Second)
	t.Logf("eth1 dropped: alpha saw beta/eth1 dead after %v, beta saw alpha/eth1 dead after %v", da.Round(time.Millisecond), db.Round(time.Millisecond))
	// For 3 s (3 deadtimes): the peer stays active over eth2 and the VIP
	// stays on alpha, answered every time.
	p := l.poll(50 * time.Millisecond)
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		for _, n := range l.dirs {
			if st, _ := cl(n, "nodestatus", l.peer(n).Name); st != "active" {
				t.Fatalf("%s sees %s %q with eth2 still up", n.Name, l.peer(n).Name, st)
			}
			if got, _ := cl(n, "hblinkstatus", l.peer(n).Name, "eth2"); got != "up" {
				t.Fatalf("%s sees link %s/eth2 %q", n.Name, l.peer(n).Name, got)
			}
		}
		if h := l.holders(); len(h) != 1 || h[0] != "alpha" {
			t.Fatalf("VIP holders %v with one link dropped", h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ok, fail, worst, servers := p.finish()
	t.Logf("client during the cut: %d answers %v, %d failures (longest %v)", ok, servers, fail, worst)
	if fail > 0 || servers["beta"] > 0 {
		t.Fatalf("client saw failures or beta with one link down: %d failures, %v", fail, servers)
	}
	waitRsc(t, l.alpha, "local", time.Second)
	waitRsc(t, l.beta, "local", time.Second)
	// Back: the link comes up again.
	nftDelete(t, l.alpha, "cut1")
	d := waitLink(t, l.alpha, "beta", "eth1", "up", 5*time.Second)
	waitLink(t, l.beta, "alpha", "eth1", "up", 5*time.Second)
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
	c0 := map[string]map[string]uint64{"alpha": counters(t, l.alpha), "beta": counters(t, l.beta)}
	const loss = `numgen random mod 100 < 30 drop`
	nft(t, l.alpha, "loss", "in "+hbIn(`"eth1", "eth2"`)+" "+loss, "out "+hbOut(`"eth1", "eth2"`)+" "+loss)
	p := l.poll(100 * time.Millisecond)
	end := time.Now().Add(20 * time.Second)
	samples := 0
	for time.Now().Before(end) {
		samples++
		for _, n := range l.dirs {
			if st, _ := cl(n, "nodestatus", l.peer(n).Name); st != "active" {
				t.Fatalf("sample %d: %s sees %s %q under 30%% loss", samples, n.Name, l.peer(n).Name, st)
			}
			if r, _ := cl(n, "rscstatus"); r != before.rsc[n.Name] {
				t.Fatalf("sample %d: %s rscstatus %q, was %q", samples, n.Name, r, before.rsc[n.Name])
			}
		}
		if h := l.holders(); !reflect.DeepEqual(h, before.vip) {
			t.Fatalf("sample %d: VIP holders %v, were %v", samples, h, before.vip)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ok, fail, worst, servers := p.finish()
	nftDelete(t, l.alpha, "loss")
	for _, n := range l.dirs {
		c := counters(t, n)
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
	nft(t, l.alpha, "oneway", "out "+hbOut(`"eth1", "eth2"`)+" drop")
	cut := time.Now()
	d := waitStatus(t, l.beta, "alpha", "dead", 5*time.Second)
	netns.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		return hasVIP(l.beta), "beta has not taken the VIP"
	})
	t.Logf("alpha→beta cut: beta declared alpha dead after %v and holds the VIP after %v", d.Round(time.Millisecond), time.Since(cut).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	sa, _ := cl(l.alpha, "nodestatus", "beta")
	ra, _ := cl(l.alpha, "rscstatus")
	rb, _ := cl(l.beta, "rscstatus")
	t.Logf("during the one-way partition: alpha sees beta %q, alpha holds %q, beta holds %q, VIP on %v", sa, ra, rb, l.holders())

	nftDelete(t, l.alpha, "oneway")
	healed := time.Now()
	waitStatus(t, l.beta, "alpha", "active", 5*time.Second)
	// Stable: exactly one holder, and it stays so for 2 s.
	var one []string
	netns.Eventually(t, 15*time.Second, 50*time.Millisecond, func() (bool, string) {
		one = l.holders()
		return len(one) == 1, fmt.Sprintf("VIP holders %v %v after the links recovered", one, time.Since(healed).Round(time.Millisecond))
	})
	t.Logf("links recovered: exactly one holder (%v) after %v", one, time.Since(healed).Round(time.Millisecond))
	end := time.Now().Add(2 * time.Second)
	for time.Now().Before(end) {
		if h := l.holders(); !reflect.DeepEqual(h, one) {
			t.Fatalf("VIP holders changed to %v", h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ra, _ = cl(l.alpha, "rscstatus")
	rb, _ = cl(l.beta, "rscstatus")
	served := l.get(time.Second)
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
// hold the VIP: expected without fencing). When the links return exactly
// one director keeps the VIP, and a client polling it every 20 ms through
// the heal never goes unanswered for more than 1 s.
func TestSplitBrainHeal(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	both := `"eth1", "eth2"`
	nft(t, l.alpha, "split", "in "+hbIn(both)+" drop", "out "+hbOut(both)+" drop")
	cut := time.Now()
	waitStatus(t, l.alpha, "beta", "dead", 5*time.Second)
	waitStatus(t, l.beta, "alpha", "dead", 5*time.Second)
	netns.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		h := l.holders()
		return len(h) == 2, fmt.Sprintf("VIP holders %v during the split", h)
	})
	waitRsc(t, l.alpha, "all", 5*time.Second)
	waitRsc(t, l.beta, "all", 5*time.Second)
	t.Logf("split: both hold every group after %v; client served by %q", time.Since(cut).Round(time.Millisecond), l.get(time.Second))
	time.Sleep(time.Second)

	p := l.poll(20 * time.Millisecond)
	time.Sleep(500 * time.Millisecond) // a baseline before the heal
	nftDelete(t, l.alpha, "split")
	healed := time.Now()
	waitStatus(t, l.alpha, "beta", "active", 5*time.Second)
	waitStatus(t, l.beta, "alpha", "active", 5*time.Second)
	var holders []string
	ok := func() bool {
		end := time.Now().Add(15 * time.Second)
		for time.Now().Before(end) {
			if holders = l.holders(); len(holders) == 1 {
				return true
			}
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}()
	one := time.Since(healed)
	if ok {
		time.Sleep(2 * time.Second) // keep polling past the release
	}
	answers, fails, worst, servers := p.finish()
	ra, _ := cl(l.alpha, "rscstatus")
	rb, _ := cl(l.beta, "rscstatus")
	t.Logf("heal: VIP holders %v after %v; alpha holds %q, beta %q; client %d answers %v, %d failures, longest gap %v",
		holders, one.Round(time.Millisecond), ra, rb, answers, servers, fails, worst.Round(time.Millisecond))
	if !ok {
		t.Errorf("15 s after the links returned the VIP is still on %v (alpha holds %q, beta %q): the healed partition was not resolved", holders, ra, rb)
	}
	if worst > time.Second {
		t.Errorf("the VIP went unanswered for %v during the heal (bound 1 s)", worst)
	}
	if pa.Exited() || pb.Exited() {
		t.Fatal("hbd exited")
	}
}
