//go:build bench

package bench

// TestLdirdBench: ldird and ldirectord 4.12 side by side, same machine, same
// run, checkinterval 1 (rig: ldird_rig_test.go). It prints figures and
// ratios and fails only when something does not work (a real never
// detected, a table never built).
//
// ldirectord drives a stand-in ipvsadm (this test binary; the kernel has no
// IPVS). The stand-in logs its own wall time and CPU per call, so every
// ldirectord figure the stand-in is part of is also given without it (the
// third column): what ldirectord itself costs, with an ipvsadm that costs
// nothing. A real ipvsadm costs something too, so ldirectord's truth lies
// between the two columns.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"lvsha/tests/netns"
)

const (
	colLdird  = "ldird"
	colLd     = "ldirectord 4.12"
	colLdBare = "ldirectord 4.12 − stand-in ipvsadm"
)

func ldCols() []string { return []string{colLdird, colLd, colLdBare} }

func ldTable(title string) *table {
	return newTable(title, ldCols(), [2]string{colLdird, colLd}, [2]string{colLdird, colLdBare})
}

// ldScale is the size of each phase.
type ldScale struct {
	window     time.Duration // steady-state CPU and rounds window
	fromStart  time.Duration // 10,000 reals: both tools measured from start
	hangWatch  time.Duration // how long the other reals are watched while one hangs
	startBound time.Duration // ldirectord's first round with 1,000 reals
	floor      time.Duration // each run of the bare loop: as long as window
	loads      []cfOpts
}

func ldScaleNow() ldScale {
	return ldScale{
		window:     pick(15*time.Second, 5*time.Second),
		fromStart:  pick(30*time.Second, 10*time.Second),
		hangWatch:  5 * time.Second, // ldirectord's period while one real hangs is 2 s
		startBound: pick(5*time.Minute, 3*time.Minute),
		// As long as ldird's window: at 3 s, the paced floor of 10,000
		// connect checks spread 29–36 % between runs (2026-12-07-10, -11),
		// more than ldird's 34–39 % over its 15 s.
		floor: pick(15*time.Second, 5*time.Second),
		loads: []cfOpts{
			{reals: 1000, checktype: "connect"}, {reals: 1000, checktype: "negotiate"},
			{reals: 10000, checktype: "connect"}, {reals: 10000, checktype: "negotiate"},
			{reals: 10000, checktype: "connect", lan: true}, {reals: 10000, checktype: "negotiate", lan: true},
		},
	}
}

func requireLdirectord(t *testing.T) {
	netns.Require(t)
	for _, p := range []string{ldirectord, "/usr/sbin/ipvsadm", "/usr/sbin/nft"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s not installed (make bench installs ldirectord, ipvsadm, nftables: scripts/deps.sh bench)", p)
		}
	}
}

func ldTools() []string { return []string{toolLdird, toolLdirectord} }

func colOf(tool string) string {
	if tool == toolLdird {
		return colLdird
	}
	return colLd
}

// TestLdirdBench measures, for ldird and ldirectord 4.12: start-up with 10
// reals; detection of a real that dies (connection refused) or hangs
// (accepts, never answers), raw and from the check that saw it; its
// return; the other reals' check period while one hangs; autoreload
// latency; then CPU, memory and check rounds with 1,000 and 10,000 reals.
// The loads run in the loopback rig and, for ldird, in the LAN rig too.
// LVSHA_BENCH_LDIRD=detect or load runs one half, lan the LAN rig's loads.
func TestLdirdBench(t *testing.T) {
	requireLdirectord(t)
	sc := ldScaleNow()
	only := os.Getenv("LVSHA_BENCH_LDIRD")
	if only == "" || only == "detect" {
		tb := ldTable("ldird vs ldirectord 4.12: 10 reals, service http, checkinterval 1, negotiatetimeout 1 (bench/ldird_test.go)")
		for i := 0; i < cfg.runs; i++ {
			for _, tool := range ldTools() {
				progress("ldird: start-up with 10 reals, %s run %d/%d", tool, i+1, cfg.runs)
				t.Run(fmt.Sprintf("startup/%s/%d", tool, i), func(t *testing.T) { ldStartup(t, tool, tb) })
			}
		}
		for _, tool := range ldTools() {
			progress("ldird: detection, recovery and reload, %s (%d trials each)", tool, cfg.runs)
			t.Run("detect/"+tool, func(t *testing.T) { ldDetect(t, tool, sc, tb) })
		}
		tb.note("detection 'raw': from the failure to the table change, the failure at a random point of the real's check period (uniform, so the raw figure spreads over one period)")
		tb.note("'from the check': from the first check after the failure to the table change. Refused connections never reach the reals server, so for a dead real that check is predicted (its last check + its period, both seen by the server); a hung or revived real's check is seen")
		tb.note("ldirectord − stand-in: minus the stand-in ipvsadm's own wall time in that interval (its calls are sequential); exec of a real ipvsadm (below) stays in both")
		publish(t, tb.render())
	}
	if only == "" || only == "load" || only == "lan" {
		for _, o := range sc.loads {
			if only == "lan" && !o.lan {
				continue
			}
			label := fmt.Sprintf("%s %s checks", thousands(o.reals), map[string]string{"connect": "connect", "negotiate": "http"}[o.checktype])
			tb := ldTable(fmt.Sprintf("ldird vs ldirectord 4.12: %s, checkinterval 1 (bench/ldird_test.go)", label))
			tools := ldTools()
			if o.lan {
				// ldirectord's figures are the loopback rig's: its cost is its
				// own (Perl, a process per check), not the network's.
				label += ", reals a veth pair away (LAN rig)"
				tb = newTable(fmt.Sprintf("ldird: %s, checkinterval 1 (bench/ldird_test.go)", label), []string{colLdird})
				tools = []string{toolLdird}
			}
			for i := 0; i < cfg.runs; i++ {
				for _, tool := range tools {
					progress("ldird: %s, %s run %d/%d", label, tool, i+1, cfg.runs)
					t.Run(fmt.Sprintf("load/%d-%s%s/%s/%d", o.reals, o.checktype, map[bool]string{true: "-lan"}[o.lan], tool, i), func(t *testing.T) { ldLoad(t, tool, o, sc, tb) })
				}
			}
			if o.lan {
				tb.note("the reals in a network namespace of their own behind a veth pair, routed (10.1.0.0/16), each side's receive path on its own core (RPS): ldird and the floor on core 0, the reals and their kernel work on core 1, as a LAN's machines would be. Unlike loopback, a handshake is not complete when connect(2) returns: the SYN-ACK comes back from the other core, as from across a LAN")
				tb.note("steady state: a %v window after the first full round and 2 s more; rounds on time: gaps between two checks of one real ≤ 1.25 s", sc.window)
				tb.note("floor: a bare blocking %s loop on core 0 in the same rig after ldird stops, %s: each blocking call sleeps until the other core answers", map[string]string{"connect": "connect+close", "negotiate": "http-check"}[o.checktype], floorPace)
				publish(t, tb.render())
				continue
			}
			if o.reals > 1000 {
				tb.note("'first %v from start': both tools measured over the same window from their start (ldirectord's start-up grows with the square of the reals: at %s it does not end within the bench). 'steady state': a %v window after the first full round and 2 s more; ldirectord never gets there", sc.fromStart, thousands(o.reals), sc.window)
			} else {
				tb.note("steady state for both: a %v window after the first full round and 2 s more. ldirectord starts with every real already in its table (as after a restart; from an empty table its start-up at 1,000 reals takes minutes), ldird from an empty one", sc.window)
			}
			tb.note("rounds on time: gaps between two checks of one real ≤ 1.25 s; CPU includes reaped children (ldirectord's stand-in ipvsadm and shells)")
			switch {
			case o.checktype == "connect":
				tb.note("floor: a bare blocking connect+close loop in the same rig after ldird stops, %s: on loopback both ends of each handshake are charged to the checking machine", floorPace)
			case o.reals > 1000:
				tb.note("floor: a bare blocking loop of http checks (connect, the request, the reply read to its end, a close with a reset, as ldird's) in the same rig after ldird stops, %s: on loopback the reals' kernel work for every packet the checker sends is charged to the checker", floorPace)
			}
			publish(t, tb.render())
		}
	}
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// ldStartup: start → all 10 reals in the table.
func ldStartup(t *testing.T, tool string, tb *table) {
	const n = 10
	r := newLdRig(t, tool, cfOpts{reals: n, checktype: "negotiate"})
	defer r.stop()
	at, ok := r.events.waitUp(n, 60*time.Second)
	if !ok {
		t.Fatalf("%s: only %d of %d reals in the table after 60 s", tool, r.events.upCount(), n)
	}
	const row = "start-up: start → all 10 reals in the table"
	tb.addDur(row, colOf(tool), at.Sub(r.start))
	if tool == toolLdirectord {
		_, wall, _ := r.standIn(r.start, at)
		tb.addDur(row, colLdBare, at.Sub(r.start)-wall)
		tb.addDur("stand-in ipvsadm -L -n (10 reals): wall time per call, exec included", colLd, r.execCost(20, "/usr/sbin/ipvsadm -L -n"))
		tb.addDur("real ipvsadm -v on the host: wall time per exec (for scale)", colLd, hostExecCost(t, 20, "/usr/sbin/ipvsadm -v"))
	}
}

// atPhase waits for a random point (10-90 %) of real i's check period and
// runs inject. It returns when it injected and the predicted next check
// (last check seen + the real's period); ok is false when the real's
// checks were too irregular to predict, and then inject ran anyway.
func (r *ldRig) atPhase(i int, inject func()) (t0, next time.Time, ok bool) {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		ts := r.checkTimes(i)
		if len(ts) < 3 {
			time.Sleep(300 * time.Millisecond)
			continue
		}
		var gaps []float64
		for x := max(1, len(ts)-4); x < len(ts); x++ {
			gaps = append(gaps, float64(ts[x].Sub(ts[x-1])))
		}
		period := time.Duration(median(gaps))
		last := ts[len(ts)-1]
		at := last.Add(time.Duration((0.1 + 0.8*rand.Float64()) * float64(period)))
		if time.Until(at) < 5*time.Millisecond {
			time.Sleep(50 * time.Millisecond) // past that point: try the next period
			continue
		}
		time.Sleep(time.Until(at))
		if ts2 := r.checkTimes(i); !ts2[len(ts2)-1].Equal(last) {
			continue // checked meanwhile (an irregular period)
		}
		inject()
		return time.Now(), last.Add(period), true
	}
	inject()
	return time.Now(), time.Time{}, false
}

// firstCheckAfter is real i's first check at or after t0, waiting up to
// timeout for the server to see it.
func (r *ldRig) firstCheckAfter(i int, t0 time.Time, timeout time.Duration) (time.Time, bool) {
	var at time.Time
	ok := waitFor(timeout, 10*time.Millisecond, func() bool {
		for _, x := range r.checkTimes(i) {
			if !x.Before(t0) {
				at = x
				return true
			}
		}
		return false
	})
	return at, ok
}

// ldDetect: 10 reals, service http, checkinterval 1, negotiatetimeout 1;
// cfg.runs trials of each.
func ldDetect(t *testing.T, tool string, sc ldScale, tb *table) {
	const n = 10
	o := cfOpts{reals: n, checktype: "negotiate"}
	r := newLdRig(t, tool, o)
	defer r.stop()
	if _, ok := r.events.waitUp(n, 60*time.Second); !ok {
		t.Fatalf("%s: only %d of %d reals in the table after 60 s", tool, r.events.upCount(), n)
	}
	col := colOf(tool)
	// add records d (from ref to the event at) with and without the
	// stand-in's wall time in that interval.
	add := func(row string, ref, at time.Time) {
		tb.addDur(row, col, at.Sub(ref))
		if tool == toolLdirectord {
			_, wall, _ := r.standIn(ref, at)
			tb.addDur(row, colLdBare, at.Sub(ref)-wall)
		}
	}
	isDel := func(i int) func(tableEvent) bool {
		return func(ev tableEvent) bool { return ev.real == realAddr(i) && ev.op == "del" }
	}
	isUp := func(i int) func(tableEvent) bool {
		return func(ev tableEvent) bool { return ev.real == realAddr(i) && ev.op != "del" && ev.weight > 0 }
	}
	time.Sleep(1500 * time.Millisecond)
	for k := 0; k < cfg.runs; k++ {
		i := 1 + k%(n-1)
		t0, next, ok := r.atPhase(i, func() { r.setDead(i, true) })
		ev, found := r.events.wait(t0, 15*time.Second, isDel(i))
		if !found {
			t.Fatalf("%s: dead real %s never removed", tool, realAddr(i))
		}
		add("real dies (refused): failure → out of the table, raw", t0, ev.at)
		if ok {
			add("real dies (refused): its next check → out of the table", next, ev.at)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
		// From before the change: nft takes effect before it returns, and
		// under load a check may see the real back before it has.
		t0 = time.Now()
		r.setDead(i, false)
		if ev, found = r.events.wait(t0, 15*time.Second, isUp(i)); !found {
			t.Fatalf("%s: revived real %s never added back", tool, realAddr(i))
		}
		add("real answers again → back in the table, raw", t0, ev.at)
		// The server stamps an accept when its loop gets to it, which may be
		// just after the daemon has its answer: a negative figure is kept.
		if c, ok := r.firstCheckAfter(i, t0, 5*time.Second); ok {
			add("real answers again: its next check → back in the table", c, ev.at)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for k := 0; k < cfg.runs; k++ {
		i := 1 + k%(n-1)
		t0, _, _ := r.atPhase(i, func() { r.setHung(i, true) })
		ev, found := r.events.wait(t0, 15*time.Second, isDel(i))
		if !found {
			t.Fatalf("%s: hung real %s never removed", tool, realAddr(i))
		}
		add("real hangs (no reply): failure → out of the table, raw", t0, ev.at)
		if c, ok := r.firstCheckAfter(i, t0, time.Second); ok {
			add("real hangs: its next check → out of the table", c, ev.at)
		}
		// The other reals' check period while this one hangs (each trial
		// gives the median of the gaps seen).
		w0 := time.Now()
		time.Sleep(sc.hangWatch)
		var gaps []float64
		for j := 0; j < n; j++ {
			if j == i {
				continue
			}
			var prev time.Time
			for _, x := range r.checkTimes(j) {
				if x.Before(w0) {
					continue
				}
				if !prev.IsZero() {
					gaps = append(gaps, x.Sub(prev).Seconds())
				}
				prev = x
			}
		}
		if len(gaps) == 0 {
			t.Fatalf("%s: no other real checked twice in %v while one hung", tool, sc.hangWatch)
		}
		tb.add("other reals' check period while one hangs (median of each trial)", kDur, col, median(gaps))
		unhung := time.Now()
		r.setHung(i, false)
		if _, found = r.events.wait(unhung, 15*time.Second, isUp(i)); !found {
			t.Fatalf("%s: unhung real %s never added back", tool, realAddr(i))
		}
	}
	// autoreload: real 0's weight 1 → 2 → 1, each edit a rename into place.
	for k := 0; k < cfg.runs; k++ {
		w := 2
		if k%2 == 1 {
			w = 1
		}
		time.Sleep(1100*time.Millisecond + time.Duration(rand.Int64N(int64(time.Second)))) // ldirectord compares whole-second mtimes
		o.weights = map[int]int{0: w}
		r.writeCf(o)
		t0 := time.Now()
		ev, ok := r.events.wait(t0, 30*time.Second, func(ev tableEvent) bool {
			return ev.real == realAddr(0) && ev.op == "edit" && ev.weight == w
		})
		if !ok {
			t.Fatalf("%s: weight %d of %s never applied after the edit", tool, w, realAddr(0))
		}
		add("autoreload: file renamed into place → weight applied", t0, ev.at)
	}
}

// window is what the reals server saw in [a, b] (offsets from its reset).
type windowFig struct {
	checks, checked int
	gaps            []time.Duration
}

func windowOf(seen map[string][]time.Duration, o cfOpts, a, b time.Duration) windowFig {
	var w windowFig
	for i := 0; i < o.reals; i++ {
		var prev time.Duration = -1
		hit := false
		for _, x := range seen[o.realIP(i)] {
			if x < a || x > b {
				continue
			}
			w.checks++
			hit = true
			if prev >= 0 {
				w.gaps = append(w.gaps, x-prev)
			}
			prev = x
		}
		if hit {
			w.checked++
		}
	}
	slices.Sort(w.gaps)
	return w
}

// ldLoad: CPU, memory and check rounds with many reals. With 1,000 reals
// both tools are measured in steady state; with 10,000 both over the same
// window from their start, and ldird also in steady state (ldirectord never
// gets there).
func ldLoad(t *testing.T, tool string, o cfOpts, sc ldScale, tb *table) {
	col := colOf(tool)
	fromStart := o.reals > 1000
	steady := tool == toolLdird || o.reals <= 1000
	o.prefilled = tool == toolLdirectord
	r := newLdRig(t, tool, o)
	defer r.stop()
	bare := func(row string, k kind, v float64) { // ldirectord's figure without the stand-in
		if tool == toolLdirectord {
			tb.add(row, k, colLdBare, v)
		}
	}
	// The from-start sample is taken on time by its own goroutine while the
	// steady-state window runs.
	type sample struct {
		cpu, sys time.Duration
		at       time.Time
		err      error
	}
	fsCh := make(chan sample, 1)
	if fromStart {
		go func() {
			time.Sleep(time.Until(r.start.Add(sc.fromStart)))
			c, err := procCPU(r.proc.PID)
			fsCh <- sample{cpu: c, at: time.Now(), err: err}
		}()
	}
	var s0, s1 sample
	if steady {
		// Start-up rows first in the table, whichever daemon reports first.
		tb.declare("start → every real checked once", kDur)
		tb.declare("start → every real in the table", kDur)
		bound := 120 * time.Second
		if tool == toolLdirectord {
			bound = sc.startBound
		}
		if !r.waitChecked(o.reals, bound) {
			t.Fatalf("%s: not every real checked within %v of its start", tool, bound)
		}
		first := time.Now()
		const row = "start → every real checked once"
		tb.addDur(row, col, first.Sub(r.start))
		if tool == toolLdirectord {
			_, wall, _ := r.standIn(r.start, first)
			tb.addDur(row, colLdBare, first.Sub(r.start)-wall)
			tb.setText(row, kDur, colLd, "(table already full)")
		} else if at, ok := r.events.waitUp(o.reals, 60*time.Second); ok {
			tb.addDur("start → every real in the table", col, at.Sub(r.start))
		} else {
			t.Fatalf("%s: only %d of %d reals in the table 60 s after every real was checked", tool, r.events.upCount(), o.reals)
		}
		time.Sleep(2 * time.Second)
		s0.at = time.Now()
		if s0.cpu, s0.sys, s0.err = procTimes(r.proc.PID); s0.err != nil {
			t.Fatalf("%s died: %v\n%s", tool, s0.err, tail(r.proc.Output(), 2000))
		}
		time.Sleep(sc.window)
		s1.at = time.Now()
		s1.cpu, s1.sys, s1.err = procTimes(r.proc.PID)
		if s1.err != nil {
			t.Fatalf("%s died: %v\n%s", tool, s1.err, tail(r.proc.Output(), 2000))
		}
	}
	var fs sample
	if fromStart {
		fs = <-fsCh
		if fs.err != nil {
			t.Fatalf("%s died: %v\n%s", tool, fs.err, tail(r.proc.Output(), 2000))
		}
	}
	rss, _ := procMem(r.proc.PID)
	t0, seen := r.checksSeen()
	if fromStart {
		win := fs.at.Sub(r.start)
		pre := fmt.Sprintf("first %v from start: ", sc.fromStart)
		pct := 100 * float64(fs.cpu) / float64(win)
		tb.add(pre+"CPU, % of a core", kPct, col, pct)
		calls, _, cpu := r.standIn(r.start, fs.at)
		bare(pre+"CPU, % of a core", kPct, 100*float64(fs.cpu-cpu)/float64(win))
		w := windowOf(seen, o, r.start.Sub(t0), fs.at.Sub(t0))
		tb.add(pre+"checks", kCount, col, float64(w.checks))
		tb.higher(pre+"checks", kCount)
		tb.add(pre+"reals checked at least once", kCount, col, float64(w.checked))
		tb.higher(pre+"reals checked at least once", kCount)
		if tool == toolLdirectord {
			tb.add(pre+"stand-in ipvsadm calls", kCount, col, float64(calls))
			if calls > 0 {
				tb.add(pre+"stand-in ipvsadm CPU per call", kDur, col, (cpu / time.Duration(calls)).Seconds())
			}
		}
	}
	if !steady {
		for _, row := range []string{"steady state: CPU, % of a core", "steady state: rounds on time"} {
			tb.setText(row, kPct, col, fmt.Sprintf("not reached: still starting after %v", sc.fromStart))
		}
		return
	}
	win := s1.at.Sub(s0.at)
	w := windowOf(seen, o, s0.at.Sub(t0), s1.at.Sub(t0))
	if w.checks == 0 {
		t.Fatalf("%s: no check reached any real in the %v window", tool, win)
	}
	cpu := s1.cpu - s0.cpu
	pct := 100 * float64(cpu) / float64(win)
	rate := float64(w.checks) / win.Seconds()
	calls, _, scpu := r.standIn(s0.at, s1.at)
	tb.add("steady state: CPU, % of a core", kPct, col, pct)
	bare("steady state: CPU, % of a core", kPct, 100*float64(cpu-scpu)/float64(win))
	// The kernel's part: on loopback it includes the reals' side of every
	// handshake and exchange, which no checker can avoid.
	tb.add("steady state: of which system (kernel) CPU, % of a core", kPct, col, 100*float64(s1.sys-s0.sys)/float64(win))
	tb.add("steady state: checks per second", kCount, col, rate)
	tb.higher("steady state: checks per second", kCount)
	tb.add("steady state: CPU per check", kUs, col, float64(cpu)/float64(time.Microsecond)/float64(w.checks))
	bare("steady state: CPU per check", kUs, float64(cpu-scpu)/float64(time.Microsecond)/float64(w.checks))
	tb.add("steady state: round (reals ÷ checks per second)", kDur, col, float64(o.reals)/rate)
	if len(w.gaps) > 0 {
		late := 0
		for _, g := range w.gaps {
			if g > 1250*time.Millisecond {
				late++
			}
		}
		p := func(q float64) float64 { return w.gaps[min(len(w.gaps)-1, int(q*float64(len(w.gaps))))].Seconds() }
		tb.add("steady state: rounds on time", kPct, col, 100*float64(len(w.gaps)-late)/float64(len(w.gaps)))
		tb.higher("steady state: rounds on time", kPct)
		tb.add("steady state: gap between two checks of a real, p50", kDur, col, p(0.5))
		tb.add("steady state: gap between two checks of a real, p99", kDur, col, p(0.99))
	} else {
		tb.setText("steady state: rounds on time", kPct, col, "no real checked twice")
	}
	tb.add("steady state: reals not checked in the window", kCount, col, float64(o.reals-w.checked))
	tb.add("RSS at the end", kMiB, col, rss)
	if tool == toolLdirectord && calls > 0 {
		tb.add("steady state: stand-in ipvsadm calls", kCount, col, float64(calls))
	}
	// Reload with 1,000 reals: real 0's weight 1 → 2.
	if o.reals == 1000 && o.checktype == "connect" {
		time.Sleep(1100 * time.Millisecond)
		o.weights = map[int]int{0: 2}
		r.writeCf(o)
		t0 := time.Now()
		ev, ok := r.events.wait(t0, sc.startBound, func(ev tableEvent) bool {
			return ev.real == realAddr(0) && ev.op == "edit" && ev.weight == 2
		})
		const row = "autoreload: file renamed into place → weight applied"
		switch {
		case ok:
			tb.addDur(row, col, ev.at.Sub(t0))
			if tool == toolLdirectord {
				_, wall, _ := r.standIn(t0, ev.at)
				tb.addDur(row, colLdBare, ev.at.Sub(t0)-wall)
			}
		case tool == toolLdird:
			t.Fatalf("%s: weight change of %s not applied within %v", tool, realAddr(0), sc.startBound)
		default:
			tb.setText(row, kDur, col, fmt.Sprintf("> %v", sc.startBound))
		}
	}
	if tool == toolLdird && (o.checktype == "connect" || o.reals > 1000) {
		r.stop() // the loop alone on the CPU
		// The floor runs at ldird's rate, in slots as ldird's: flat out,
		// the same loop can cost less per check (4 points less at 10,000
		// connect checks on the host's loopback, −2 to +5 in this rig:
		// bench/results/2026-12-07-pace.txt). Its cost per check flat out
		// times ldird's rate, the floor until 2026-12-07, is shown too.
		what := map[string]string{"connect": "connect", "negotiate": "http"}[o.checktype]
		floorPct := r.floor(o.reals, int(math.Round(rate)), sc.floor) * rate / 1e4
		flatPct := r.floor(o.reals, 0, sc.floor) * rate / 1e4
		tb.add("floor: bare blocking "+what+" loop at ldird's rate, % of a core", kPct, col, floorPct)
		tb.add("ldird's CPU above the floor", kPts, col, pct-floorPct)
		tb.add("floor flat out: the loop's CPU per check without pauses × ldird's rate, % of a core", kPct, col, flatPct)
		tb.add("ldird's CPU above the flat-out floor", kPts, col, pct-flatPct)
	}
}
