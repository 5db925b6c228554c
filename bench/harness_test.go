//go:build bench

// Package bench holds `make bench`: side-by-side measurements of lvsha and
// the real tools (Heartbeat 3.0.6, ldirectord 4.12, HAProxy 2.6), in one
// run on the same machine. They are not timed tests: they print figures
// and ratios and fail only when something does not work.
//
// Every figure is a set of runs (cfg.runs, 7 unless LVSHA_BENCH_QUICK)
// printed as min / median / max; the tables go to stdout and, under
// bench/run.sh (make bench), to the dated results file it names in
// LVSHA_BENCH_RESULTS. The methods are in bench/README.md.
package bench

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Names under which the test binary acts as one of the bench's helper
// programs (each maps to its main).
var helpers = map[string]func(args []string) int{}

func init() {
	// Registered here rather than in each file's init so the order of
	// init functions cannot matter.
	helpers[fakeIPVSADMName] = func(args []string) int { return fakeIPVSADM(args, os.Stdout, os.Stderr) }
	helpers[realsName] = realsMain
	helpers[floorName] = floorMain
	helpers[hogName] = hogMain
	helpers[httpdName] = httpdMain
	helpers[idleName] = idleMain
	if main, ok := helpers[filepath.Base(os.Args[0])]; ok {
		os.Exit(main(os.Args[1:]))
	}
}

var (
	binDir   string // hbd, ldird and links to this binary under helper names
	selfPath string // this test binary
	benchT0  = time.Now()
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lvsha-bench-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := func() int {
		defer os.RemoveAll(dir)
		exe, err := os.Executable()
		if err == nil {
			selfPath, err = filepath.EvalSymlinks(exe)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, b := range []struct{ out, pkg string }{{"hbd", "lvsha/hbd"}, {"ldird", "lvsha/ldird"}} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as the Makefile builds them
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
				return 1
			}
		}
		for _, n := range []string{"cl_status", "hb_standby", "hb_takeover"} {
			if err := os.Symlink("hbd", filepath.Join(dir, n)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		for n := range helpers {
			if n == fakeIPVSADMName {
				continue // bind-mounted over /usr/sbin/ipvsadm inside a node instead
			}
			if err := os.Symlink(selfPath, filepath.Join(dir, n)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		progress("bench: %s; %d run(s) per figure; binaries in %s", cfg.mode(), cfg.runs, dir)
		return m.Run()
	}()
	os.Exit(code)
}

// ---------------------------------------------------------------------------
// Size of the bench.

// benchConfig is how much each part measures. Full is the citable run;
// quick (LVSHA_BENCH_QUICK=1) tries the bench itself in a few minutes.
type benchConfig struct {
	quick bool
	runs  int           // independent runs per figure
	soak  time.Duration // false-failover soak under a CPU hog
}

var cfg = loadConfig()

func loadConfig() benchConfig {
	c := benchConfig{runs: 7, soak: 10 * time.Minute}
	if os.Getenv("LVSHA_BENCH_QUICK") != "" {
		c = benchConfig{quick: true, runs: 2, soak: 30 * time.Second}
	}
	if s := os.Getenv("LVSHA_BENCH_RUNS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			c.runs = n
		}
	}
	if s := os.Getenv("LVSHA_BENCH_SOAK"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			c.soak = d
		}
	}
	return c
}

// citable: at least 7 runs per figure and not the quick mode.
func (c benchConfig) citable() bool { return !c.quick && c.runs >= 7 }

func (c benchConfig) mode() string {
	if c.citable() {
		return "full"
	}
	return "QUICK (not citable)"
}

// pick returns full or quick.
func pick[T any](full, quick T) T {
	if cfg.quick {
		return quick
	}
	return full
}

// ---------------------------------------------------------------------------
// Progress and results.

var outMu sync.Mutex

// progress prints one line of progress with the time since the bench
// started (go test -v streams stdout).
func progress(format string, a ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	e := time.Since(benchT0).Round(time.Second)
	fmt.Printf("[%02d:%02d] %s\n", int(e.Minutes()), int(e.Seconds())%60, fmt.Sprintf(format, a...))
}

// publish prints a finished table and appends it to the results file.
func publish(t *testing.T, text string) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Print(text)
	p := os.Getenv("LVSHA_BENCH_RESULTS")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Errorf("results file: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Errorf("results file: %v", err)
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// ---------------------------------------------------------------------------
// Tables of figures: rows of samples per column, printed min / median / max
// with the number of runs, and the ratio of two columns' medians.

type kind int

const (
	kDur   kind = iota // seconds
	kPct               // percent
	kMiB               // mebibytes
	kKiB               // kibibytes
	kUs                // microseconds
	kCount             // a plain number
	kPts               // percentage points
)

func (k kind) format(v float64) string {
	switch k {
	case kDur:
		d := time.Duration(v * float64(time.Second))
		switch {
		case d >= 10*time.Second:
			return fmt.Sprintf("%.1f s", d.Seconds())
		case d >= time.Second:
			return fmt.Sprintf("%.2f s", d.Seconds())
		case d >= 10*time.Millisecond:
			return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
		default:
			return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
		}
	case kPct:
		return fmt.Sprintf("%.1f %%", v)
	case kPts:
		return fmt.Sprintf("%+.1f pts", v)
	case kMiB:
		return fmt.Sprintf("%.1f MiB", v)
	case kKiB:
		return fmt.Sprintf("%.1f KiB", v)
	case kUs:
		if v >= 100 {
			return fmt.Sprintf("%.0f µs", v)
		}
		return fmt.Sprintf("%.1f µs", v)
	default:
		if v == math.Trunc(v) || math.Abs(v) >= 100 {
			return strconv.FormatFloat(v, 'f', 0, 64)
		}
		return fmt.Sprintf("%.1f", v)
	}
}

// unitless formats a min/median/max triple with the unit once, at the end.
func (k kind) triple(lo, med, hi float64) string {
	a, b, c := k.format(lo), k.format(med), k.format(hi)
	ua, ub, uc := splitUnit(a), splitUnit(b), splitUnit(c)
	if ua[1] == ub[1] && ub[1] == uc[1] && ua[1] != "" {
		return fmt.Sprintf("%s / %s / %s %s", ua[0], ub[0], uc[0], ua[1])
	}
	return fmt.Sprintf("%s / %s / %s", a, b, c)
}

func splitUnit(s string) [2]string {
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		return [2]string{s[:i], s[i+1:]}
	}
	return [2]string{s, ""}
}

type row struct {
	name         string
	kind         kind
	higherBetter bool
	vals         map[string][]float64
	text         map[string]string // a cell that is no sample: a bound, "n/a"
}

type table struct {
	title  string
	cols   []string
	ratios [][2]string // each: median(ours) / median(theirs)
	rows   []*row
	notes  []string
	load0  string
	t0     time.Time
	mu     sync.Mutex
}

// newTable: ratios are pairs of column names {ours, theirs}.
func newTable(title string, cols []string, ratios ...[2]string) *table {
	return &table{title: title, cols: cols, ratios: ratios, load0: loadavg(), t0: time.Now()}
}

func (t *table) row(name string, k kind) *row {
	for _, r := range t.rows {
		if r.name == name {
			return r
		}
	}
	r := &row{name: name, kind: k, vals: map[string][]float64{}, text: map[string]string{}}
	t.rows = append(t.rows, r)
	return r
}

// declare makes sure a row exists (so rows come in the order a test wants,
// not the order of the first sample).
func (t *table) declare(name string, k kind) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.row(name, k)
}

// add records one sample.
func (t *table) add(name string, k kind, col string, v float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.row(name, k)
	r.vals[col] = append(r.vals[col], v)
}

func (t *table) addDur(name, col string, d time.Duration) { t.add(name, kDur, col, d.Seconds()) }

// higher marks a row where more is better (checks per second).
func (t *table) higher(name string, k kind) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.row(name, k).higherBetter = true
}

// setText puts text in a cell instead of samples.
func (t *table) setText(name string, k kind, col, text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.row(name, k).text[col] = text
}

func (t *table) note(format string, a ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notes = append(t.notes, fmt.Sprintf(format, a...))
}

// median of a copy of v (mean of the middle two for an even count).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (r *row) cell(col string) (string, float64, int) {
	v := r.vals[col]
	if len(v) == 0 {
		if s := r.text[col]; s != "" {
			return s, math.NaN(), 0
		}
		return "-", math.NaN(), 0
	}
	med := median(v)
	var s string
	if len(v) == 1 {
		s = r.kind.format(v[0])
	} else {
		s = r.kind.triple(slices.Min(v), med, slices.Max(v))
	}
	if t := r.text[col]; t != "" {
		s += " " + t
	}
	return fmt.Sprintf("%s (%d)", s, len(v)), med, len(v)
}

// render is the table as text: the summary, then every sample.
func (t *table) render() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	mark := ""
	if !cfg.citable() {
		mark = " [QUICK: not citable]"
	}
	fmt.Fprintf(&b, "\n== %s%s\n", t.title, mark)
	fmt.Fprintf(&b, "   %s to %s, load average %s -> %s\n", t.t0.Format("15:04:05"), time.Now().Format("15:04:05"), t.load0, loadavg())
	nameW := len("figure")
	for _, r := range t.rows {
		nameW = max(nameW, len([]rune(r.name))+2) // room for " ↑"
	}
	cells := make([][]string, len(t.rows))
	colW := make([]int, len(t.cols))
	for i, c := range t.cols {
		colW[i] = len([]rune(c))
	}
	ratios := make([][]string, len(t.rows))
	for ri, r := range t.rows {
		meds := map[string]float64{}
		for ci, c := range t.cols {
			s, med, _ := r.cell(c)
			meds[c] = med
			cells[ri] = append(cells[ri], s)
			colW[ci] = max(colW[ci], len([]rune(s)))
		}
		for _, rt := range t.ratios {
			a, c := meds[rt[0]], meds[rt[1]]
			x := "-"
			if a > 0 && c > 0 && r.kind != kPts { // a ratio of figures at or below zero means nothing
				x = fmt.Sprintf("×%.2f", a/c)
			}
			ratios[ri] = append(ratios[ri], x)
		}
	}
	pad := func(s string, w int) string { return s + strings.Repeat(" ", max(0, w-len([]rune(s)))) }
	b.WriteString("   " + pad("figure", nameW))
	for i, c := range t.cols {
		b.WriteString(" | " + pad(c, colW[i]))
	}
	ratioW := make([]int, len(t.ratios))
	for i, rt := range t.ratios {
		h := rt[0] + " ÷ " + rt[1]
		ratioW[i] = len([]rune(h))
		b.WriteString(" | " + h)
	}
	b.WriteString("\n")
	for ri, r := range t.rows {
		name := r.name
		if r.higherBetter {
			name += " ↑"
		}
		b.WriteString("   " + pad(name, nameW))
		for ci := range t.cols {
			b.WriteString(" | " + pad(cells[ri][ci], colW[ci]))
		}
		for i := range t.ratios {
			b.WriteString(" | " + pad(ratios[ri][i], ratioW[i]))
		}
		b.WriteString("\n")
	}
	b.WriteString("   cells: min / median / max (runs)")
	if len(t.ratios) > 0 {
		b.WriteString("; ratios: median ÷ median, below 1 is better for the first named, except on rows marked ↑ (more is better)")
	}
	b.WriteString("\n")
	for _, n := range t.notes {
		b.WriteString("   note: " + n + "\n")
	}
	b.WriteString("   samples:\n")
	for _, r := range t.rows {
		for _, c := range t.cols {
			v := r.vals[c]
			if len(v) == 0 {
				continue
			}
			parts := make([]string, len(v))
			for i, x := range v {
				parts[i] = strconv.FormatFloat(x, 'g', 6, 64)
			}
			fmt.Fprintf(&b, "     %s | %s: %s\n", r.name, c, strings.Join(parts, " "))
		}
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Process figures from /proc.

const clockTicks = 100 // USER_HZ on Linux

// procCPU is utime+stime of pid plus those of its reaped children.
func procCPU(pid int) (time.Duration, error) {
	total, _, err := procTimes(pid)
	return total, err
}

// procTimes is procCPU and its system (kernel) part, stime + cstime, from
// one reading of /proc/PID/stat.
func procTimes(pid int) (total, sys time.Duration, err error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, 0, err
	}
	var t [4]int64 // utime stime cutime cstime
	for i, x := range f[11:15] {
		t[i], _ = strconv.ParseInt(x, 10, 64)
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }
	return tick(t[0] + t[1] + t[2] + t[3]), tick(t[1] + t[3]), nil
}

// procStat returns the fields of /proc/PID/stat after the command name
// (field 3, the state, is index 0).
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 39 {
		return nil, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return f, nil
}

// schedPolicy names pid's scheduling policy (SCHED_OTHER, SCHED_RR, ...).
func schedPolicy(pid int) string {
	f, err := procStat(pid)
	if err != nil {
		return "?"
	}
	switch f[38] { // field 41
	case "0":
		return "SCHED_OTHER"
	case "1":
		return "SCHED_FIFO"
	case "2":
		return "SCHED_RR"
	case "3":
		return "SCHED_BATCH"
	case "5":
		return "SCHED_IDLE"
	}
	return "policy " + f[38]
}

// procStatus returns the numeric fields of /proc/PID/status (kB values in
// kB, counts as counts).
func procStatus(pid int) map[string]float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	m := map[string]float64{}
	for _, ln := range strings.Split(string(b), "\n") {
		f := strings.Fields(ln)
		if len(f) < 2 {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			m[strings.TrimSuffix(f[0], ":")] = v
		}
	}
	return m
}

// procMem returns VmRSS and VmHWM of pid in MiB.
func procMem(pid int) (rss, hwm float64) {
	m := procStatus(pid)
	return m["VmRSS"] / 1024, m["VmHWM"] / 1024
}

// procPSS returns the proportional set size of pid in MiB (shared pages
// divided among the processes sharing them).
func procPSS(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, ln := range strings.Split(string(b), "\n") {
		f := strings.Fields(ln)
		if len(f) >= 2 && f[0] == "Pss:" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v / 1024
		}
	}
	return 0
}

// procFDs counts pid's open file descriptors.
func procFDs(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// waitFor polls cond every poll until it holds or timeout passes.
func waitFor(timeout, poll time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(poll)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
