//go:build bench

package bench

// TestLdirdBench: ldird and ldirectord 4.12 side by side, same machine, same
// run, checkinterval 1 (rig: ldird_rig_test.go). It prints figures and
// ratios and fails only when something does not work (a real never
// detected, a table never built).

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
)

// ldScale is the size of each phase; quick (LVSHA_BENCH_QUICK) tries the
// bench itself in a few minutes.
type ldScale struct {
	trials        int           // detection / reload trials per tool
	window        time.Duration // CPU and rounds window
	boundedWindow time.Duration // ldirectord with 10,000 reals: window from its start
	hangWatch     time.Duration // how long the other reals are watched while one hangs
	loads         []cfOpts
	startBound    time.Duration // ldirectord start-up / reload with 1,000 reals
	// emptyStart: ldirectord's 1,000-real connect run starts from an empty
	// table (its start-up measured: minutes); otherwise, and for its other
	// runs, from a table already holding every real (as after a restart).
	emptyStart bool
}

func ldScaleNow() ldScale {
	s := ldScale{
		trials: 7, window: 30 * time.Second, boundedWindow: 90 * time.Second, hangWatch: 5 * time.Second,
		startBound: 10 * time.Minute, emptyStart: true,
		loads: []cfOpts{
			{reals: 1000, checktype: "connect"}, {reals: 1000, checktype: "negotiate"},
			{reals: 10000, checktype: "connect"}, {reals: 10000, checktype: "negotiate"},
		},
	}
	if os.Getenv("LVSHA_BENCH_QUICK") != "" {
		s.trials, s.window, s.boundedWindow, s.hangWatch = 3, 10*time.Second, 30*time.Second, 3*time.Second
		s.startBound, s.emptyStart = 3*time.Minute, false
	}
	return s
}

// ldResults: metric -> tool -> samples (durations) or scalar values.
type ldResults struct {
	notes []string
	order []string
	durs  map[string]map[string][]time.Duration
	vals  map[string]map[string]string
	ratio map[string]float64 // set for scalar metrics with a ratio
	num   map[string]map[string]float64
	lower map[string]bool // for num metrics: lower is better
}

func newLdResults() *ldResults {
	return &ldResults{durs: map[string]map[string][]time.Duration{}, vals: map[string]map[string]string{},
		ratio: map[string]float64{}, num: map[string]map[string]float64{}, lower: map[string]bool{}}
}

func (r *ldResults) metric(m string) {
	if !slices.Contains(r.order, m) {
		r.order = append(r.order, m)
	}
}

func (r *ldResults) add(m, tool string, d time.Duration) {
	r.metric(m)
	if r.durs[m] == nil {
		r.durs[m] = map[string][]time.Duration{}
	}
	r.durs[m][tool] = append(r.durs[m][tool], d)
}

func (r *ldResults) set(m, tool, v string) {
	r.metric(m)
	if r.vals[m] == nil {
		r.vals[m] = map[string]string{}
	}
	r.vals[m][tool] = v
}

// setNum records a scalar shown as text, with the number a ratio is made
// of (lowerBetter: CPU, memory; else: checks per second).
func (r *ldResults) setNum(m, tool, text string, v float64, lowerBetter bool) {
	r.set(m, tool, text)
	if r.num[m] == nil {
		r.num[m] = map[string]float64{}
	}
	r.num[m][tool] = v
	r.lower[m] = lowerBetter
	a, okA := r.num[m][toolLdird]
	c, okC := r.num[m][toolLdirectord]
	if okA && okC && a > 0 && c > 0 {
		if lowerBetter {
			r.ratio[m] = c / a
		} else {
			r.ratio[m] = a / c
		}
	}
}

func (r *ldResults) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-52s %26s %26s %8s\n", "ldird vs ldirectord 4.12 (checkinterval 1)", "ldird", "ldirectord 4.12", "ratio")
	for _, m := range r.order {
		if d := r.durs[m]; d != nil {
			cell := func(tool string) (string, time.Duration) {
				s := d[tool]
				if len(s) == 0 {
					if v := r.vals[m][tool]; v != "" {
						return v, 0
					}
					return "-", 0
				}
				lo, med, hi := stats(s)
				if len(s) == 1 {
					return fmtDur(med), med
				}
				return fmt.Sprintf("%s/%s/%s", fmtDur(lo), fmtDur(med), fmtDur(hi)), med
			}
			a, am := cell(toolLdird)
			c, cm := cell(toolLdirectord)
			ratio := "-"
			if am > 0 && cm > 0 {
				ratio = fmt.Sprintf("%.1fx", float64(cm)/float64(am))
			}
			fmt.Fprintf(&b, "%-52s %26s %26s %8s\n", m, a, c, ratio)
			continue
		}
		v := r.vals[m]
		ratio := "-"
		if x, ok := r.ratio[m]; ok {
			ratio = fmt.Sprintf("%.1fx", x)
		}
		get := func(tool string) string {
			if v[tool] == "" {
				return "-"
			}
			return v[tool]
		}
		fmt.Fprintf(&b, "%-52s %26s %26s %8s\n", m, get(toolLdird), get(toolLdirectord), ratio)
	}
	b.WriteString("durations are min/median/max over the trials; ratio > 1: better for ldird (ldirectord/ldird, or ldird/ldirectord for checks per second)\n")
	for _, n := range r.notes {
		b.WriteString(n + "\n")
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	default:
		return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds())
	}
}

func requireLdirectord(t *testing.T) {
	netns.Require(t)
	for _, p := range []string{ldirectord, "/usr/sbin/ipvsadm", "/usr/sbin/nft"} {
		if _, err := os.Stat(p); err != nil {
			testenv.Skipf(t, "%s is not installed (make bench installs ldirectord, ipvsadm, nftables)", p)
		}
	}
}

func ldTools() []string { return []string{toolLdird, toolLdirectord} }

// TestLdirdBench measures, for ldird and ldirectord 4.12: detection of a
// real that dies (connection refused) or hangs (accepts, never answers),
// its return, the other reals' check period while one hangs, autoreload
// latency (10 reals); then CPU, memory and check rounds with 1,000 and
// 10,000 reals, start-up and reload with 1,000.
func TestLdirdBench(t *testing.T) {
	requireLdirectord(t)
	sc := ldScaleNow()
	res := newLdResults()
	only := os.Getenv("LVSHA_BENCH_LDIRD") // "detect", "load" or empty for both
	if only == "" || only == "detect" {
		for _, tool := range ldTools() {
			t.Run("detect/"+tool, func(t *testing.T) { ldDetect(t, tool, sc, res) })
		}
	}
	if only == "" || only == "load" {
		for _, o := range sc.loads {
			for _, tool := range ldTools() {
				t.Run(fmt.Sprintf("load/%d-%s/%s", o.reals, o.checktype, tool), func(t *testing.T) { ldLoad(t, tool, o, sc, res) })
			}
		}
	}
	out := res.table()
	t.Log(out)
	fmt.Print(out)
}

// ldDetect: 10 reals, service http (negotiate), checkinterval 1,
// negotiatetimeout 1.
func ldDetect(t *testing.T, tool string, sc ldScale, res *ldResults) {
	const n = 10
	o := cfOpts{reals: n, checktype: "negotiate"}
	r := newLdRig(t, tool, o)
	defer r.stop()
	at, ok := r.events.waitUp(n, 60*time.Second)
	if !ok {
		t.Fatalf("%s: only %d of %d reals in the table after 60 s", tool, r.events.upCount(), n)
	}
	res.add(fmt.Sprintf("start-up, %d reals (start → all in table)", n), tool, at.Sub(r.start))
	if tool == toolLdirectord {
		stand := r.execCost(20, "/usr/sbin/ipvsadm -L -n")
		t0 := time.Now()
		for range 20 {
			exec.Command("/usr/sbin/ipvsadm", "-v").Run() // the real one, outside the node
		}
		realCost := time.Since(t0) / 20
		res.notes = append(res.notes, fmt.Sprintf("stand-in ipvsadm: %s per call (-L -n, 10 reals); the real ipvsadm -v: %s per exec here",
			fmtDur(stand), fmtDur(realCost)))
	}
	time.Sleep(1500 * time.Millisecond)
	phase := func() { time.Sleep(time.Duration(rand.Int64N(int64(time.Second)))) }
	isDel := func(i int) func(tableEvent) bool {
		return func(ev tableEvent) bool { return ev.real == realAddr(i) && ev.op == "del" }
	}
	isUp := func(i int) func(tableEvent) bool {
		return func(ev tableEvent) bool { return ev.real == realAddr(i) && ev.op != "del" && ev.weight > 0 }
	}
	for k := 0; k < sc.trials; k++ {
		i := 1 + k%(n-1)
		phase()
		r.setDead(i, true)
		t0 := time.Now()
		ev, ok := r.events.wait(t0, 15*time.Second, isDel(i))
		if !ok {
			t.Fatalf("%s: dead real %s never removed", tool, realAddr(i))
		}
		res.add("detection: real dies (conn. refused) → removed", tool, ev.at.Sub(t0))
		phase()
		r.setDead(i, false)
		t0 = time.Now()
		if ev, ok = r.events.wait(t0, 15*time.Second, isUp(i)); !ok {
			t.Fatalf("%s: revived real %s never added back", tool, realAddr(i))
		}
		res.add("recovery: real answers again → back in table", tool, ev.at.Sub(t0))
	}
	var otherGaps []time.Duration
	for k := 0; k < sc.trials; k++ {
		i := 1 + k%(n-1)
		phase()
		r.setHung(i, true)
		t0 := time.Now()
		ev, ok := r.events.wait(t0, 15*time.Second, isDel(i))
		if !ok {
			t.Fatalf("%s: hung real %s never removed", tool, realAddr(i))
		}
		res.add("detection: real hangs (no reply) → removed", tool, ev.at.Sub(t0))
		if k == 0 { // the other reals' check period while one hangs
			r.mustControl("reset")
			time.Sleep(sc.hangWatch)
			_, seen := r.checksSeen()
			for j := 0; j < n; j++ {
				if j == i {
					continue
				}
				ts := seen[realIP(j)]
				for x := 1; x < len(ts); x++ {
					otherGaps = append(otherGaps, ts[x]-ts[x-1])
				}
			}
		}
		r.setHung(i, false)
		t0 = time.Now()
		if _, ok = r.events.wait(t0, 15*time.Second, isUp(i)); !ok {
			t.Fatalf("%s: unhung real %s never added back", tool, realAddr(i))
		}
	}
	if len(otherGaps) == 0 {
		t.Fatalf("%s: no other real checked twice in %v while one hung", tool, sc.hangWatch)
	}
	for _, g := range otherGaps {
		res.add("other reals' check period while one hangs", tool, g)
	}
	// autoreload: real 0's weight 1 → 2 → 1, each edit a rename into place.
	for k := 0; k < sc.trials; k++ {
		w := 2
		if k%2 == 1 {
			w = 1
		}
		time.Sleep(1100 * time.Millisecond) // ldirectord compares whole-second mtimes
		phase()
		o.weights = map[int]int{0: w}
		r.writeCf(o)
		t0 := time.Now()
		ev, ok := r.events.wait(t0, 30*time.Second, func(ev tableEvent) bool {
			return ev.real == realAddr(0) && ev.op == "edit" && ev.weight == w
		})
		if !ok {
			t.Fatalf("%s: weight %d of %s never applied after the edit", tool, w, realAddr(0))
		}
		res.add(fmt.Sprintf("reload: edit → weight applied (%d reals)", n), tool, ev.at.Sub(t0))
	}
}

// ldLoad: CPU, memory and rounds with many reals; start-up and reload.
func ldLoad(t *testing.T, tool string, o cfOpts, sc ldScale, res *ldResults) {
	label := fmt.Sprintf("%d reals %s", o.reals, map[string]string{"connect": "connect", "negotiate": "http"}[o.checktype])
	bounded := tool == toolLdirectord && o.reals > 1000
	emptyStart := tool == toolLdird || (sc.emptyStart && o.reals == 1000 && o.checktype == "connect")
	o.prefilled = !emptyStart
	r := newLdRig(t, tool, o)
	defer r.stop()
	bound := 120 * time.Second
	if tool == toolLdirectord {
		bound = sc.startBound
	}
	var winStart time.Time
	var cpu0 time.Duration
	window := sc.window
	if bounded {
		// Its start-up alone grows with the square of the reals: measure a
		// fixed window from its start instead of waiting for the table.
		winStart, window = r.start, sc.boundedWindow
		time.Sleep(window)
	} else {
		startRow := label + ": start-up, empty table (start → all in)"
		if o.prefilled {
			// Every real is in the table from the start: wait for the first
			// round instead (its reals checked once).
			r.waitChecked(o.reals, bound)
			if !emptyStart && o.reals == 1000 && o.checktype == "connect" {
				res.set(startRow, tool, "(full run only)")
			}
		} else if at, ok := r.events.waitUp(o.reals, bound); !ok {
			res.set(startRow, tool, fmt.Sprintf("> %v (%d in table)", bound, r.events.upCount()))
			t.Logf("%s: start-up not done within %v; measuring what it does now", tool, bound)
		} else {
			res.add(startRow, tool, at.Sub(r.start))
		}
		time.Sleep(2 * time.Second)
		r.mustControl("reset")
		winStart = time.Now()
		var err error
		if cpu0, err = procCPU(r.proc.PID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(window)
	}
	cpu1, err := procCPU(r.proc.PID)
	if err != nil {
		t.Fatalf("%s died: %v\n%s", tool, err, tail(r.proc.Output(), 2000))
	}
	wall := time.Since(winStart)
	_, seen := r.checksSeen()
	rss, hwm := procMem(r.proc.PID)
	total, checked := 0, 0
	var gaps []time.Duration
	for i := 0; i < o.reals; i++ {
		ts := seen[realIP(i)]
		total += len(ts)
		if len(ts) > 0 {
			checked++
		}
		for x := 1; x < len(ts); x++ {
			gaps = append(gaps, ts[x]-ts[x-1])
		}
	}
	if total == 0 && !bounded {
		t.Fatalf("%s: no check reached any real in %v", tool, wall)
	}
	cpuPct := 100 * float64(cpu1-cpu0) / float64(wall)
	rate := float64(total) / wall.Seconds()
	res.setNum(label+": CPU, % of one core", tool, fmt.Sprintf("%.1f %%", cpuPct), cpuPct, true)
	res.setNum(label+": RSS (peak) MiB", tool, fmt.Sprintf("%.0f (%.0f)", rss, hwm), rss, true)
	res.setNum(label+": checks per second", tool, fmt.Sprintf("%.0f", rate), rate, false)
	if total > 0 {
		us := float64(cpu1-cpu0) / float64(time.Microsecond) / float64(total)
		res.setNum(label+": CPU per check", tool, fmt.Sprintf("%.0f µs", us), us, true)
	}
	round, roundS := "-", 0.0
	if rate > 0 {
		roundS = float64(o.reals) / rate
		round = fmtDur(time.Duration(roundS * float64(time.Second)))
	}
	if bounded {
		calls := 0
		if hp, err := r.n.HostPath(fakeCallsPath); err == nil {
			b, _ := os.ReadFile(hp)
			calls = strings.Count(string(b), "\n")
		}
		round = fmt.Sprintf("≥ %s (%d of %d reals checked in %s)", round, checked, o.reals, fmtDur(wall))
		if total == 0 {
			round = fmt.Sprintf("> %s (starting: %d ipvsadm runs, no check yet)", fmtDur(wall), calls)
		}
	}
	res.setNum(label+": round (reals / checks per s)", tool, round, roundS, true)
	if len(gaps) > 0 {
		slices.Sort(gaps)
		late := 0
		for _, g := range gaps {
			if g > 1250*time.Millisecond {
				late++
			}
		}
		p := func(q float64) time.Duration { return gaps[min(len(gaps)-1, int(q*float64(len(gaps))))] }
		res.set(label+": gap between checks p50/p99/max", tool, fmt.Sprintf("%s/%s/%s", fmtDur(p(0.5)), fmtDur(p(0.99)), fmtDur(gaps[len(gaps)-1])))
		res.set(label+": rounds on time (gap ≤ 1.25 s)", tool, fmt.Sprintf("%.1f %% (%d unchecked)", 100*float64(len(gaps)-late)/float64(len(gaps)), o.reals-checked))
	}
	// Reload with 1,000 reals: real 0's weight 1 → 2.
	if o.reals == 1000 && o.checktype == "connect" {
		time.Sleep(1100 * time.Millisecond)
		o.weights = map[int]int{0: 2}
		r.writeCf(o)
		t0 := time.Now()
		ev, ok := r.events.wait(t0, bound, func(ev tableEvent) bool {
			return ev.real == realAddr(0) && ev.op == "edit" && ev.weight == 2
		})
		switch {
		case ok:
			res.add(label+": reload (edit → weight applied)", tool, ev.at.Sub(t0))
		case tool == toolLdird:
			t.Fatalf("%s: weight change of %s not applied within %v", tool, realAddr(0), bound)
		default:
			res.set(label+": reload (edit → weight applied)", tool, fmt.Sprintf("> %v", bound))
		}
	}
	if tool == toolLdird && o.checktype == "connect" {
		r.stop() // the loop alone on the CPU
		us := r.floor(o.reals, 2*time.Second)
		res.notes = append(res.notes, fmt.Sprintf("rig floor, %d reals: a bare blocking connect+close loop costs %.1f µs of CPU per connection "+
			"(%.1f %% of a core at %d/s): on loopback both ends of each handshake are charged to the checker", o.reals, us,
			us*float64(o.reals)/1e4, o.reals))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
