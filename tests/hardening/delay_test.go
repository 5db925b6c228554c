package hardening

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
)

// TestDelayHarness proves the delay line itself, between two bare nodes:
// a delay with jitter holds every datagram at least the delay and keeps
// their order; a hold releases everything queued during it together, in
// order, at its end; Stop releases what is still held at once instead of
// dropping it; with the rule left and no reader, --queue-bypass lets
// packets through. No thread of the test binary is left in a node's
// namespace.
func TestDelayHarness(t *testing.T) {
	netns.Require(t)
	requireIptables(t)
	a, b := netns.NewNode(t, "qa"), netns.NewNode(t, "qb")
	netns.Connect(t, a, b, "eth1", "10.53.1")
	d := delayIn(t, b, 7, 0, "eth1")
	rx := udpIn(t, b, "10.53.1.2:694")
	tx := udpIn(t, a, "10.53.1.1:0")
	checkThreadsInHostNS(t)
	to := &net.UDPAddr{IP: net.ParseIP("10.53.1.2"), Port: 694}

	// send n datagrams every gap; return the send times and the arrival
	// order and times (waiting up to wait for them all).
	var next uint32
	send := func(n int, gap, wait time.Duration) (sent, got []time.Time, order []uint32) {
		t.Helper()
		first := next
		for i := 0; i < n; i++ {
			buf := binary.BigEndian.AppendUint32(nil, next)
			next++
			sent = append(sent, time.Now())
			if _, err := tx.WriteToUDP(buf, to); err != nil {
				t.Fatal(err)
			}
			time.Sleep(gap)
		}
		buf := make([]byte, 64)
		rx.SetReadDeadline(time.Now().Add(wait))
		for len(order) < n {
			m, _, err := rx.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("%d of %d datagrams arrived: %v", len(order), n, err)
			}
			got = append(got, time.Now())
			order = append(order, binary.BigEndian.Uint32(buf[:m])-first)
		}
		return sent, got, order
	}
	inOrder := func(order []uint32) bool {
		for i, v := range order {
			if v != uint32(i) {
				return false
			}
		}
		return true
	}

	const delay, jitter = 150 * time.Millisecond, 50 * time.Millisecond
	d.Set(delay, jitter)
	sent, got, order := send(20, 10*time.Millisecond, 3*time.Second)
	minL, maxL := time.Hour, time.Duration(0)
	for i := range got {
		l := got[i].Sub(sent[order[i]])
		minL, maxL = min(minL, l), max(maxL, l)
	}
	t.Logf("delay %v + jitter %v: 20 datagrams 10 ms apart arrived after %v..%v, order %v", delay, jitter, minL.Round(time.Millisecond), maxL.Round(time.Millisecond), order)
	if !inOrder(order) {
		t.Errorf("reordered: %v", order)
	}
	if minL < delay {
		t.Errorf("a datagram arrived after %v, less than the delay %v", minL, delay)
	}

	d.Set(0, 0)
	const hold = 400 * time.Millisecond
	d.HoldFor(hold)
	start := time.Now()
	_, got, order = send(10, 10*time.Millisecond, 3*time.Second)
	t.Logf("hold %v: 10 datagrams sent during it arrived %v..%v after it began, order %v", hold,
		got[0].Sub(start).Round(time.Millisecond), got[len(got)-1].Sub(start).Round(time.Millisecond), order)
	if !inOrder(order) {
		t.Errorf("reordered: %v", order)
	}
	if got[0].Sub(start) < hold {
		t.Errorf("a held datagram arrived %v after the hold began (hold %v)", got[0].Sub(start), hold)
	}

	// Stop with a datagram held for 3 s: it is accepted at once.
	d.Set(3*time.Second, 0)
	buf := binary.BigEndian.AppendUint32(nil, next)
	next++
	sentAt := time.Now()
	if _, err := tx.WriteToUDP(buf, to); err != nil {
		t.Fatal(err)
	}
	netns.Eventually(t, 2*time.Second, 5*time.Millisecond, func() (bool, string) {
		return d.Stats().Queued == 31, fmt.Sprintf("queued %d, want 31", d.Stats().Queued)
	})
	d.Stop()
	rx.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := rx.ReadFromUDP(make([]byte, 64)); err != nil {
		t.Fatalf("the datagram held at Stop never arrived: %v", err)
	}
	t.Logf("Stop with a datagram held for 3 s: it arrived %v after it was sent", time.Since(sentAt).Round(time.Millisecond))
	st := d.Stats()
	t.Logf("delay line: queued %d, released %d, held %v..%v", st.Queued, st.Released, st.MinHeld.Round(time.Millisecond), st.MaxHeld.Round(time.Millisecond))
	if st.Queued != 31 || st.Released != 31 {
		t.Errorf("queued %d, released %d, want 31 each", st.Queued, st.Released)
	}

	// A rule with nobody bound to its queue: --queue-bypass lets it pass.
	rule := []string{"INPUT", "-i", "eth1", "-p", "udp", "--dport", "694", "-j", "NFQUEUE", "--queue-num", "9", "--queue-bypass"}
	ipt := iptAdd(t, b, rule)
	defer b.MustRun(ipt, append([]string{"-w", "-D"}, rule...)...)
	if _, _, order := send(3, 0, 2*time.Second); !inOrder(order) {
		t.Errorf("reordered without a reader: %v", order)
	}
	t.Logf("queue without a reader: 3 of 3 datagrams passed (--queue-bypass)")
}

// checkThreadsInHostNS fails the test if any thread of the test binary is
// in another network namespace than the process's main thread.
func checkThreadsInHostNS(t *testing.T) {
	t.Helper()
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, p := range tasks {
		if ns, err := os.Readlink(p); err == nil && ns != host {
			t.Errorf("thread %s is in %s, not the host's %s", p, ns, host)
		}
	}
}

// warntime is haCF's: the late-heartbeat threshold the tests reason with.
var warntime = func() time.Duration {
	m := regexp.MustCompile(`(?m)^warntime (\S+)$`).FindStringSubmatch(haCF("off"))
	if m == nil {
		panic("haCF has no warntime line")
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		panic(err)
	}
	return d
}()

// delayBoth puts a delay line in each director for the heartbeats it
// receives on ifaces: both directions of those links are delayed.
func (l *lan) delayBoth(queue uint16, delay time.Duration, ifaces ...string) []*delayLine {
	return []*delayLine{delayIn(l.t, l.Alpha, queue, delay, ifaces...), delayIn(l.t, l.Beta, queue, delay, ifaces...)}
}

// logMarks notes where each director's logfile ends now.
func (l *lan) logMarks() map[string]int {
	m := map[string]int{}
	for _, n := range l.Directors() {
		m[n.Name] = len(hbdlab.Log(n))
	}
	return m
}

func logSince(n *netns.Node, marks map[string]int) string {
	s := hbdlab.Log(n)
	if m := marks[n.Name]; m <= len(s) {
		return s[m:]
	}
	return s
}

var lateRE = regexp.MustCompile(`Late heartbeat: Node (\S+): interval (\d+) ms`)

// lateWarnings returns the intervals of the "Late heartbeat" warnings
// about peer in log.
func lateWarnings(log, peer string) []time.Duration {
	var iv []time.Duration
	for _, m := range lateRE.FindAllStringSubmatch(log, -1) {
		if m[1] == peer {
			ms, _ := strconv.Atoi(m[2])
			iv = append(iv, time.Duration(ms)*time.Millisecond)
		}
	}
	return iv
}

// watch samples the cluster (node and link views on both sides,
// rscstatus, VIP holders) for dur and returns how many samples it took and
// what differed from before in each sample that differed.
func (l *lan) watch(before snapshot, dur time.Duration) (samples int, changes []string) {
	for end := time.Now().Add(dur); time.Now().Before(end); {
		samples++
		s := l.snapshot()
		var diff []string
		for _, m := range []struct{ now, was map[string]string }{{s.node, before.node}, {s.link, before.link}, {s.rsc, before.rsc}} {
			for k, v := range m.was {
				if m.now[k] != v {
					diff = append(diff, fmt.Sprintf("%s %s→%s", k, v, m.now[k]))
				}
			}
		}
		if !reflect.DeepEqual(s.vip, before.vip) {
			diff = append(diff, fmt.Sprintf("VIP on %v→%v", before.vip, s.vip))
		}
		if len(diff) > 0 {
			sort.Strings(diff)
			changes = append(changes, fmt.Sprintf("sample %d: %s", samples, strings.Join(diff, ", ")))
		}
	}
	return samples, changes
}

// staleOK are the drop reasons a late copy of a message may get: older
// than the newest status already seen. Anything else (bad MAC, bad seq,
// replay, old generation, queue full) would be a wrong verdict on a
// genuine message.
var staleOK = map[string]bool{"rx_dropped_old_status_seq": true}

func wrongDrops(by map[string]uint64) map[string]uint64 {
	w := map[string]uint64{}
	for k, v := range by {
		if !staleOK[k] {
			w[k] = v
		}
	}
	return w
}

// drops sums the rx_dropped_* counters.
func drops(c map[string]uint64) (sum uint64, by map[string]uint64) {
	by = map[string]uint64{}
	for k, v := range c {
		if strings.HasPrefix(k, "rx_dropped_") {
			sum += v
			by[k] = v
		}
	}
	return sum, by
}

func delta(c1, c0 map[string]uint64) map[string]uint64 {
	d := map[string]uint64{}
	for k, v := range c1 {
		if v != c0[k] {
			d[k] = v - c0[k]
		}
	}
	return d
}

func (l *lan) alive(pa, pb *netns.Proc) {
	l.t.Helper()
	for _, n := range l.Directors() {
		if strings.Contains(readLogs(n), "panic:") {
			l.t.Errorf("%s: hbd panicked:\n%s", n.Name, readLogs(n))
		}
	}
	if pa.Exited() || pb.Exited() {
		l.t.Fatalf("hbd exited (alpha %v, beta %v)", pa.Exited(), pb.Exited())
	}
}

// report fails the test with the changes watch saw (the first few).
func reportChanges(t *testing.T, what string, changes []string) {
	t.Helper()
	if len(changes) == 0 {
		return
	}
	shown := changes
	if len(shown) > 5 {
		shown = shown[:5]
	}
	t.Errorf("%s: the cluster changed in %d samples:\n  %s", what, len(changes), strings.Join(shown, "\n  "))
}

func (l *lan) counters() map[string]map[string]uint64 {
	return map[string]map[string]uint64{"alpha": hbdlab.Counters(l.t, l.Alpha), "beta": hbdlab.Counters(l.t, l.Beta)}
}

func clientAlwaysAlpha(t *testing.T, p *poller, samples int) {
	t.Helper()
	ok, fail, worst, servers := p.finish()
	t.Logf("%d samples of both sides' views; client: %d answers %v, %d failures (longest %v)", samples, ok, servers, fail, worst)
	if fail > 0 || len(servers) != 1 || servers["alpha"] == 0 {
		t.Errorf("client: %d failures, servers %v; want every answer from alpha", fail, servers)
	}
}

// TestDelayBelowWarntime: every heartbeat on both links, both directions,
// delayed 150 ms for 8 s (keepalive 100 ms, warntime 500 ms, deadtime 1 s).
// A constant delay shifts arrivals but leaves the interval between them at
// the keepalive; the step into it stretches one interval to at most
// keepalive + 150 ms, below warntime. So: no late-heartbeat warning, no
// death, no link down, nothing moves, the client always answered by alpha.
// The delay line releases in batches when its timer fires late, and hbd's
// two link readers may then take a copy after a newer status from the other
// link: such a copy may be dropped as stale, for no other reason.
func TestDelayBelowWarntime(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	before := l.snapshot()
	marks := l.logMarks()
	c0 := l.counters()
	const delay = 150 * time.Millisecond
	lines := l.delayBoth(1, delay, "eth1", "eth2")
	p := l.poll(50 * time.Millisecond)
	samples, changes := l.watch(before, 8*time.Second)
	clientAlwaysAlpha(t, p, samples)
	reportChanges(t, fmt.Sprintf("%v delay on both links", delay), changes)
	for i, n := range l.Directors() {
		st := lines[i].Stats()
		c := delta(hbdlab.Counters(t, n), c0[n.Name])
		log := logSince(n, marks)
		late := lateWarnings(log, l.Peer(n).Name)
		dropped, by := drops(c)
		t.Logf("%s: delay line held %d heartbeats %v..%v; accepted %d, duplicates %d, dropped %d %v; late-heartbeat warnings %v",
			n.Name, st.Released, st.MinHeld.Round(time.Millisecond), st.MaxHeld.Round(time.Millisecond),
			c["rx_accepted"], c["rx_duplicates"], dropped, by, late)
		if st.Released == 0 || st.MinHeld < delay {
			t.Errorf("%s: the delay line did not delay (released %d, shortest hold %v)", n.Name, st.Released, st.MinHeld)
		}
		if len(late) > 0 {
			t.Errorf("%s warned of late heartbeats %v under a constant %v delay (warntime %v)", n.Name, late, delay, warntime)
		}
		if strings.Contains(log, "is dead") || strings.Contains(log, " dead.") {
			t.Errorf("%s logged a death under a %v delay:\n%s", n.Name, delay, log)
		}
		if w := wrongDrops(by); len(w) > 0 {
			t.Errorf("%s dropped genuine messages under a constant %v delay: %v", n.Name, delay, w)
		}
	}
	l.alive(pa, pb)
}

// TestDelayLateHeartbeat: twice, every heartbeat on both links in both
// directions is held for 700 ms and then released at once (a link stall;
// warntime 500 ms < 700 ms < deadtime 1 s). Heartbeat measures the interval
// between two heartbeats on arrival (HBDoMsg_T_STATUS): each stall makes
// exactly one late heartbeat on each side, the first one released, whose
// interval is at least the 700 ms stall (nothing arrived during it) and
// below deadtime. So each director logs "Late heartbeat: Node <peer>:
// interval N ms" once per stall with 700 ms <= N < 1000 ms, never declares
// its peer dead, links stay up and nothing moves; the client is always
// answered by alpha. The burst after a stall may reach hbd's two link
// readers in either order, so a copy can come after a newer status from
// the other link: it may be dropped as stale, for no other reason.
// Measured with the real Heartbeat 3.0.6 under this delay line (keepalive
// 200 ms, one 700 ms stall): "Late heartbeat: Node beta: interval 800 ms"
// on one side and "... Node alpha: interval 1000 ms" on the other, once.
func TestDelayLateHeartbeat(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	before := l.snapshot()
	marks := l.logMarks()
	c0 := l.counters()
	const hold, stalls = 700 * time.Millisecond, 2
	lines := l.delayBoth(1, 0, "eth1", "eth2")
	p := l.poll(50 * time.Millisecond)
	samples := 0
	var changes []string
	for i := 0; i < stalls; i++ {
		for _, d := range lines {
			d.HoldFor(hold)
		}
		n, c := l.watch(before, 2*time.Second)
		samples += n
		changes = append(changes, c...)
	}
	clientAlwaysAlpha(t, p, samples)
	reportChanges(t, fmt.Sprintf("%d stalls of %v", stalls, hold), changes)
	for i, n := range l.Directors() {
		peer := l.Peer(n).Name
		st := lines[i].Stats()
		c := delta(hbdlab.Counters(t, n), c0[n.Name])
		log := logSince(n, marks)
		late := lateWarnings(log, peer)
		dropped, by := drops(c)
		t.Logf("%s: %d stalls of %v: delay line held %d heartbeats up to %v; accepted %d, duplicates %d, dropped %d %v; late-heartbeat warnings about %s: %v",
			n.Name, stalls, hold, st.Released, st.MaxHeld.Round(time.Millisecond), c["rx_accepted"], c["rx_duplicates"], dropped, by, peer, late)
		// The first heartbeat of a stall arrives up to a keepalive (and
		// some scheduling) after it began, so it is held that much less.
		if st.MaxHeld < hold-2*keepalive {
			t.Errorf("%s: the delay line held nothing for the stall (longest %v, want >= %v)", n.Name, st.MaxHeld, hold-2*keepalive)
		}
		if strings.Contains(log, "is dead") || strings.Contains(log, " dead.") {
			t.Errorf("%s logged a death after a %v stall (deadtime %v):\n%s", n.Name, hold, deadtime, log)
		}
		if len(late) != stalls {
			t.Errorf("%s logged %d late-heartbeat warnings about %s, want %d (one per %v stall): %v", n.Name, len(late), peer, stalls, hold, late)
		}
		for _, iv := range late {
			switch {
			case iv <= warntime || iv >= deadtime:
				t.Errorf("%s: late heartbeat interval %v is not between warntime %v and deadtime %v", n.Name, iv, warntime, deadtime)
			case iv < hold:
				t.Errorf("%s: late heartbeat interval logged as %v, but no heartbeat arrived for the whole %v stall: Heartbeat logs the interval between two heartbeats, measured when the late one arrives", n.Name, iv, hold)
			}
		}
		if w := wrongDrops(by); len(w) > 0 {
			t.Errorf("%s dropped genuine messages released by a stall: %v", n.Name, w)
		}
	}
	l.alive(pa, pb)
}

// TestDelayHoldPastDeadtime: every heartbeat on both links in both
// directions held 2.5 s once (deadtime 1 s, and time for beta's takeover to
// finish inside the stall). Each side declares the other dead; beta takes
// the VIP. Then the stall ends and every held message arrives at once,
// 0..2.5 s late, including what each side sent about its takeover: each is
// accepted in order or dropped as a duplicate or stale copy, nothing
// crashes, both see each other active again, and once stable exactly one
// director holds the VIP (and serves the client).
func TestDelayHoldPastDeadtime(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	marks := l.logMarks()
	c0 := l.counters()
	const hold = 2500 * time.Millisecond
	lines := l.delayBoth(1, 0, "eth1", "eth2")
	stall := time.Now()
	for _, d := range lines {
		d.HoldFor(hold)
	}
	took := netns.Eventually(t, hold, 20*time.Millisecond, func() (bool, string) {
		return l.HasVIP(l.Beta), fmt.Sprintf("beta has not taken the VIP %v into the stall (holders %v)", time.Since(stall).Round(time.Millisecond), l.Holders())
	})
	during := l.Holders()
	// Each side's deadtime runs from the last heartbeat it heard, so alpha
	// may declare beta dead up to a keepalive after beta took over.
	for _, n := range l.Directors() {
		netns.Eventually(t, time.Until(stall.Add(hold)), 20*time.Millisecond, func() (bool, string) {
			return strings.Contains(logSince(n, marks), fmt.Sprintf("node %s: is dead", l.Peer(n).Name)),
				fmt.Sprintf("%s has not declared %s dead %v into a %v stall", n.Name, l.Peer(n).Name, time.Since(stall).Round(time.Millisecond), hold)
		})
	}
	t.Logf("stall of %v: beta holds the VIP %v into it; holders %v", hold, took.Round(time.Millisecond), during)
	time.Sleep(time.Until(stall.Add(hold)))
	healed := time.Now()
	hbdlab.Ours.WaitStatus(t, l.Alpha, "beta", "active", 5*time.Second)
	hbdlab.Ours.WaitStatus(t, l.Beta, "alpha", "active", 5*time.Second)
	var one []string
	netns.Eventually(t, 15*time.Second, 50*time.Millisecond, func() (bool, string) {
		one = l.Holders()
		return len(one) == 1, fmt.Sprintf("VIP holders %v %v after the stall ended", one, time.Since(healed).Round(time.Millisecond))
	})
	settled := time.Since(healed)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		if h := l.Holders(); !reflect.DeepEqual(h, one) {
			t.Fatalf("VIP holders changed from %v to %v after settling", one, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ra, _ := hbdlab.Ours.Ask(l.Alpha, "rscstatus")
	rb, _ := hbdlab.Ours.Ask(l.Beta, "rscstatus")
	served := l.Get(time.Second)
	t.Logf("stall over: both active; exactly one holder %v after %v; alpha holds %q, beta %q; client served by %q", one, settled.Round(time.Millisecond), ra, rb, served)
	if served != one[0] {
		t.Errorf("client served by %q, want the one holder %q", served, one[0])
	}
	for i, n := range l.Directors() {
		st := lines[i].Stats()
		c := delta(hbdlab.Counters(t, n), c0[n.Name])
		log := logSince(n, marks)
		dropped, by := drops(c)
		t.Logf("%s: delay line held %d messages up to %v; accepted %d, duplicates %d, dropped %d %v; %d \"returning after partition\"",
			n.Name, st.Released, st.MaxHeld.Round(time.Millisecond), c["rx_accepted"], c["rx_duplicates"], dropped, by,
			strings.Count(log, "returning after partition"))
		if w := wrongDrops(by); len(w) > 0 {
			t.Errorf("%s dropped genuine messages released after the stall: %v", n.Name, w)
		}
		if !strings.Contains(log, fmt.Sprintf("Cluster node %s returning after partition.", l.Peer(n).Name)) {
			t.Errorf("%s declared %s dead and heard it again, but never logged it returning after partition", n.Name, l.Peer(n).Name)
		}
	}
	l.alive(pa, pb)
}

// TestDelayOneLink: eth1 delayed 300 ms in both directions, eth2 not, for
// 6 s. Every message now arrives on eth2 first and its copy 300 ms (three
// keepalives) later on eth1: the copy must be recognised by its sequence
// number as one already seen (a duplicate, counted in rx_duplicates) and
// must still prove eth1 alive, as each valid packet proves its link alive.
// So both links stay up on both sides, nothing is dropped but stale
// copies, and nothing moves.
//
// This is hbd's own rule (membership: a duplicate still refreshes the link
// it came on; DESIGN: every valid packet marks its link alive), and more
// than Heartbeat 3.0.6 does: its should_drop_message returns DROPIT, not
// DUPLICATE, for a sequence number below the last one, so late copies never
// refresh their link. Measured under this delay line (eth1 +600 ms,
// keepalive 200 ms), the real Heartbeat's eth1 went dead and up again every
// 1-2 s.
func TestDelayOneLink(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	before := l.snapshot()
	marks := l.logMarks()
	const delay = 300 * time.Millisecond
	lines := l.delayBoth(1, delay, "eth1")
	// The first slow copies are in on both sides.
	for _, d := range lines {
		netns.Eventually(t, 5*time.Second, 20*time.Millisecond, func() (bool, string) {
			return d.Stats().Released > 0, "no heartbeat has come through eth1's delay line yet"
		})
	}
	c0 := l.counters()
	r0 := []delayStats{lines[0].Stats(), lines[1].Stats()}
	p := l.poll(50 * time.Millisecond)
	samples, changes := l.watch(before, 6*time.Second)
	r1 := []delayStats{lines[0].Stats(), lines[1].Stats()}
	clientAlwaysAlpha(t, p, samples)
	reportChanges(t, fmt.Sprintf("eth1 delayed %v", delay), changes)
	for i, n := range l.Directors() {
		c := delta(hbdlab.Counters(t, n), c0[n.Name])
		slow := r1[i].Released - r0[i].Released
		dropped, by := drops(c)
		log := logSince(n, marks)
		t.Logf("%s: %d copies came %v..%v late on eth1; accepted %d, duplicates %d, dropped %d %v; %d link deaths; late-heartbeat warnings %v",
			n.Name, slow, r1[i].MinHeld.Round(time.Millisecond), r1[i].MaxHeld.Round(time.Millisecond), c["rx_accepted"], c["rx_duplicates"], dropped, by,
			strings.Count(log, " dead."), lateWarnings(log, l.Peer(n).Name))
		if slow == 0 || r1[i].MinHeld < delay {
			t.Errorf("%s: eth1 was not delayed (released %d, shortest hold %v)", n.Name, slow, r1[i].MinHeld)
		}
		// Unsequenced NS_* messages (acks, about one in ten) are not
		// duplicates by sequence; every other slow copy is.
		if c["rx_duplicates"] < uint64(slow)*8/10 {
			t.Errorf("%s counted %d duplicates for %d late copies on eth1", n.Name, c["rx_duplicates"], slow)
		}
		if w := wrongDrops(by); len(w) > 0 {
			t.Errorf("%s dropped genuine messages: %v", n.Name, w)
		}
		if strings.Contains(log, "is dead") || strings.Contains(log, " dead.") {
			t.Errorf("%s logged %d deaths with eth1 only slow, e.g. %q", n.Name, strings.Count(log, " dead."), firstLine(log, " dead."))
		}
	}
	l.alive(pa, pb)
}

func firstLine(log, sub string) string {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}
