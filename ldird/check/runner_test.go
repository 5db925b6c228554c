package check

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/internal/testenv"
)

// scripted answers from a list (repeating the last), counting calls.
type scripted struct {
	mu    sync.Mutex
	oks   []bool
	calls atomic.Int64
}

func (s *scripted) Check(ctx context.Context, _ Target) Result {
	n := int(s.calls.Add(1)) - 1
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := s.oks[min(n, len(s.oks)-1)]
	if ok {
		return Result{OK: true, Detail: "ok"}
	}
	return Result{Err: errors.New("scripted failure")}
}

// hung blocks until its context ends.
type hung struct{ calls atomic.Int64 }

func (h *hung) Check(ctx context.Context, _ Target) Result {
	h.calls.Add(1)
	<-ctx.Done()
	return Result{Err: ctx.Err()}
}

type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func (r *recorder) notify(e Event) { r.mu.Lock(); r.evs = append(r.evs, e); r.mu.Unlock() }
func (r *recorder) events(key string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.evs {
		if e.Key == key {
			out = append(out, e)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var tgA = Target{IP: netip.MustParseAddr("10.0.0.1"), Port: 80}

func states(evs []Event) string {
	s := ""
	for _, e := range evs {
		s += e.State.String()[:1]
	}
	return s
}

func TestRunnerFailureCount(t *testing.T) {
	rec := &recorder{}
	r := NewRunner(RunnerOptions{Notify: rec.notify, EveryResult: true})
	defer r.Stop()
	// up, 2 failures (soft), up (reset), 3 failures -> down at the 3rd, stays down, up.
	sc := &scripted{oks: []bool{true, false, false, true, false, false, false, false, true}}
	if err := r.Add(RealConfig{Key: "a", Target: tgA, Checker: sc, Interval: time.Millisecond, FailureCount: 3}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "9 checks", func() bool { return len(rec.events("a")) >= 9 })
	evs := rec.events("a")[:9]
	if got := states(evs); got != "uuuuuuddu" {
		t.Errorf("states %s, want uuuuuuddu", got)
	}
	wantFail := []int{0, 1, 2, 0, 1, 2, 3, 3, 0}
	for i, e := range evs {
		if e.Failures != wantFail[i] {
			t.Errorf("event %d failures %d, want %d", i, e.Failures, wantFail[i])
		}
	}
	if !evs[0].Initial || !evs[0].Changed || evs[1].Initial {
		t.Errorf("initial flags wrong: %+v %+v", evs[0], evs[1])
	}
	changed := 0
	for _, e := range evs {
		if e.Changed {
			changed++
		}
	}
	if changed != 3 { // unknown->up, up->down, down->up
		t.Errorf("%d changes, want 3", changed)
	}
}

func TestRunnerChangesOnlyAndInitialUp(t *testing.T) {
	rec := &recorder{}
	r := NewRunner(RunnerOptions{Notify: rec.notify})
	defer r.Stop()
	// Known up at start (in the kernel table); first check fails but
	// failurecount 2 keeps it up: the startup round does not flap it.
	sc := &scripted{oks: []bool{false, true, true, false, false, true}}
	r.Add(RealConfig{Key: "a", Target: tgA, Checker: sc, Interval: time.Millisecond, FailureCount: 2, Initial: Up})
	waitFor(t, "6 checks", func() bool { return sc.calls.Load() >= 7 })
	r.Stop()
	evs := rec.events("a")
	// initial (up, unchanged, soft failure), then down, then up.
	if got := states(evs); got != "udu" {
		t.Fatalf("states %s, want udu: %+v", got, evs)
	}
	if !evs[0].Initial || evs[0].Changed || evs[0].Failures != 1 {
		t.Errorf("startup event %+v", evs[0])
	}
}

func TestRunnerInitialDownFromUnknown(t *testing.T) {
	rec := &recorder{}
	r := NewRunner(RunnerOptions{Notify: rec.notify})
	defer r.Stop()
	sc := &scripted{oks: []bool{false}}
	r.Add(RealConfig{Key: "a", Target: tgA, Checker: sc, Interval: time.Hour, FailureCount: 5})
	if err := r.WaitStartup(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := rec.events("a")
	if len(evs) != 1 || evs[0].State != Down || !evs[0].Initial || !evs[0].Changed {
		t.Fatalf("events %+v", evs)
	}
}

func TestRunnerHungRealDoesNotDelayOthers(t *testing.T) {
	r := NewRunner(RunnerOptions{})
	defer r.Stop()
	h := &hung{}
	fast := &scripted{oks: []bool{true}}
	r.Add(RealConfig{Key: "hung", Target: tgA, Checker: h, Interval: time.Millisecond, Timeout: time.Hour})
	r.Add(RealConfig{Key: "fast", Target: tgA, Checker: fast, Interval: time.Millisecond})
	waitFor(t, "fast real checked 50 times", func() bool { return fast.calls.Load() >= 50 })
	if h.calls.Load() != 1 {
		t.Errorf("hung real started %d checks", h.calls.Load())
	}
	st, _ := r.Status("hung")
	if st.Checks != 0 || st.State != Unknown {
		t.Errorf("hung status %+v", st)
	}
	// WaitStartup reports the hung real as not done.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.WaitStartup(ctx); err == nil {
		t.Error("WaitStartup returned with a hung real outstanding")
	}
	// Remove aborts the hung check.
	if !r.Remove("hung") {
		t.Error("Remove(hung) = false")
	}
	if err := r.WaitStartup(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestRunnerTimeoutMarksDown(t *testing.T) {
	rec := &recorder{}
	r := NewRunner(RunnerOptions{Notify: rec.notify})
	defer r.Stop()
	r.Add(RealConfig{Key: "h", Target: tgA, Checker: &hung{}, Interval: time.Millisecond, Timeout: 20 * time.Millisecond})
	waitFor(t, "down event", func() bool { return len(rec.events("h")) > 0 })
	if e := rec.events("h")[0]; e.State != Down || !errors.Is(e.Result.Err, context.DeadlineExceeded) {
		t.Errorf("event %+v", e)
	}
}

func TestRunnerAddRemoveReplace(t *testing.T) {
	rec := &recorder{}
	r := NewRunner(RunnerOptions{Notify: rec.notify, EveryResult: true})
	defer r.Stop()
	a := &scripted{oks: []bool{true}}
	b := &scripted{oks: []bool{true}}
	r.Add(RealConfig{Key: "a", Target: tgA, Checker: a, Interval: time.Millisecond})
	r.Add(RealConfig{Key: "b", Target: tgA, Checker: b, Interval: time.Millisecond})
	if err := r.Add(RealConfig{Key: "a", Target: tgA, Checker: a}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate Add: %v", err)
	}
	waitFor(t, "both checked", func() bool { return a.calls.Load() > 3 && b.calls.Load() > 3 })
	if !r.Remove("b") {
		t.Fatal("Remove(b) false")
	}
	nb := len(rec.events("b"))
	na := a.calls.Load()
	waitFor(t, "a keeps going", func() bool { return a.calls.Load() > na+10 })
	if len(rec.events("b")) != nb {
		t.Error("events for b after Remove")
	}
	if r.Remove("b") {
		t.Error("second Remove(b) true")
	}
	// Replace keeps the state: the new checker fails once with
	// failurecount 2 -> soft failure, still up, not initial.
	c := &scripted{oks: []bool{false, true}}
	if err := r.Replace(RealConfig{Key: "a", Target: tgA, Checker: c, Interval: time.Millisecond, FailureCount: 2}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replacement checked", func() bool { return c.calls.Load() >= 2 })
	for _, e := range rec.events("a") {
		if e.State != Up {
			t.Errorf("a went %s across Replace", e.State)
		}
	}
	if got := r.Keys(); len(got) != 1 || got[0] != "a" {
		t.Errorf("keys %v", got)
	}
	r.Stop()
	if err := r.Add(RealConfig{Key: "z", Target: tgA, Checker: a}); !errors.Is(err, ErrStopped) {
		t.Errorf("Add after Stop: %v", err)
	}
}

func TestRunnerCombinedForgetOnRemove(t *testing.T) {
	neg := &scripted{oks: []bool{true}}
	con := &scripted{oks: []bool{true}}
	c := newCombined(neg, con, 3)
	r := NewRunner(RunnerOptions{})
	r.Add(RealConfig{Key: "a", Target: tgA, Checker: c, Interval: time.Millisecond})
	waitFor(t, "checks", func() bool { return con.calls.Load() > 2 })
	r.Remove("a")
	r.Stop()
	if len(c.count) != 0 {
		t.Error("combined state kept after Remove")
	}
}

// TestRunnerManyReals runs 5000 reals at a short interval with real connect
// checks disabled (on), then checks that Stop leaves no goroutine behind.
func TestRunnerManyReals(t *testing.T) {
	testenv.SkipShort(t, "5000 reals")
	before := runtime.NumGoroutine()
	on := mustNew(t, Spec{Type: "on"})
	var n atomic.Int64
	r := NewRunner(RunnerOptions{Notify: func(Event) { n.Add(1) }, EveryResult: true})
	const reals = 5000
	for i := 0; i < reals; i++ {
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		if err := r.Add(RealConfig{Key: fmt.Sprint(i), Target: Target{IP: ip, Port: 80}, Checker: on, Interval: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.WaitStartup(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "several rounds", func() bool { return n.Load() > 3*reals })
	r.Stop()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before+2 })
}

// BenchmarkRunner measures the scheduler's own cost per check (1000 reals,
// checktype on, 1 ms interval): timers, state machine, notification.
func BenchmarkRunner(b *testing.B) {
	b.ReportAllocs()
	c := mustNewB(b, Spec{Type: "on"})
	var n atomic.Int64
	r := NewRunner(RunnerOptions{Notify: func(Event) { n.Add(1) }, EveryResult: true})
	for i := 0; i < 1000; i++ {
		ip := netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
		r.Add(RealConfig{Key: fmt.Sprint(i), Target: Target{IP: ip}, Checker: c, Interval: time.Millisecond})
	}
	b.ResetTimer()
	for n.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	r.Stop()
}

func mustNewB(b *testing.B, s Spec) Checker {
	c, err := New(s)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// TestNextWait: pauses end on the check grid; a real keeps its slot (the
// next check is due an interval after the last was due) while its checks
// take at most half the interval, and a slower check is followed by a full
// interval; the first pause is drawn from the interval so reals started
// together spread over it; short intervals are used as they are.
func TestNextWait(t *testing.T) {
	now := time.Unix(1700000000, 123456789)
	for range 1000 {
		w := nextWait(now, 0, time.Second, false)
		at := now.Add(w).UnixNano()
		if at%int64(checkGrid) != 0 || w < time.Second-checkGrid/2 || w > time.Second+checkGrid/2 {
			t.Fatalf("pause %v ends at %d", w, at)
		}
	}
	due := time.Unix(1700000000, 0) // a slot
	for _, tc := range []struct {
		took   time.Duration // from due to completion
		period time.Duration // due to next due
	}{
		{3 * time.Millisecond, time.Second},
		{44 * time.Millisecond, time.Second},  // slower than half a grid step: same slot all the same
		{365 * time.Millisecond, time.Second}, // a p99 under load
		{500 * time.Millisecond, time.Second},
		{600 * time.Millisecond, 1600 * time.Millisecond}, // slow: a full interval after it ended
		{5 * time.Second, 6 * time.Second},                // a timeout
	} {
		done := due.Add(tc.took)
		next := done.Add(nextWait(done, tc.took, time.Second, false))
		if got := next.Sub(due); got != tc.period {
			t.Errorf("check taking %v: next due %v after the last, want %v", tc.took, got, tc.period)
		}
	}
	slots := map[int64]bool{}
	for range 2000 {
		w := nextWait(now, 0, time.Second, true)
		if w < 0 || w > time.Second+checkGrid/2 {
			t.Fatalf("first pause %v", w)
		}
		slots[now.Add(w).UnixNano()/int64(checkGrid)] = true
	}
	if want := int(time.Second / checkGrid); len(slots) < want*9/10 {
		t.Fatalf("first pauses fill only %d of ~%d slots", len(slots), want)
	}
	if w := nextWait(now, 0, 50*time.Millisecond, true); w != 50*time.Millisecond {
		t.Fatalf("short interval: %v", w)
	}
}

func TestBatchSize(t *testing.T) {
	for _, c := range []struct{ n, size int }{
		{1, 1}, {127, 127}, {128, 128}, {129, 65}, {200, 100}, {300, 100}, {1000, 125}, {1025, 114},
	} {
		size := batchSize(c.n)
		if size != c.size {
			t.Errorf("batchSize(%d) = %d, want %d", c.n, size, c.size)
		}
		if batches := (c.n + size - 1) / size; size > quickBatch || batches != (c.n+quickBatch-1)/quickBatch {
			t.Errorf("batchSize(%d) = %d: %d batches", c.n, size, batches)
		}
	}
}

// batchWorker is a real with a connect check as the schedule hands it to
// a batch: its first check in flight.
func batchWorker(t *testing.T, r *Runner, key string, tg Target, timeout time.Duration) *worker {
	t.Helper()
	return checkWorker(r, key, tg, mustNew(t, Spec{Type: "connect", ConnectTimeout: timeout, NegotiateTimeout: timeout}))
}

// checkWorker is a real with checker c as the schedule hands it to a
// batch: due, its first check not yet claimed (runBatch claims it).
func checkWorker(r *Runner, key string, tg Target, c Checker) *worker {
	w := &worker{r: r, first: make(chan struct{}), initial: true,
		cfg: RealConfig{Key: key, Target: tg, Checker: c, Interval: time.Hour, FailureCount: 1}}
	w.rctx.init()
	w.rctx.socks = &r.socks
	w.ctx = &w.rctx
	return w
}

// inFlight is w with its check in flight, as a batch hands it to waitAll.
func inFlight(w *worker) *worker {
	w.inflight.Add(1)
	return w
}

// TestRunBatch: a batch of connect checks, as the schedule runs the
// reals of one slot, has reported every real whose handshake was over
// (up, or refused) when it returns, and leaves a real whose handshake
// hangs to the batch's wait set on another goroutine: the batch does not
// wait for it, and its timeout is still reported.
func TestRunBatch(t *testing.T) {
	upTg, err := closingServer(t, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hangAP, _ := fullBacklog(t)
	rec := &recorder{}
	r := NewRunner(RunnerOptions{Notify: rec.notify})
	defer r.Stop()
	mk := func(key string, tg Target, timeout time.Duration) *worker { return batchWorker(t, r, key, tg, timeout) }
	hang := mk("hang", Target{IP: hangAP.Addr(), Port: hangAP.Port(), Protocol: "tcp"}, time.Second)
	ws := []*worker{mk("up1", upTg, 30*time.Second), mk("refused", closedPort(t), 30*time.Second), hang, mk("up2", upTg, 30*time.Second)}
	for _, w := range ws {
		if w.quick() == nil {
			t.Fatalf("%s: a connect check is not a quick one", w.cfg.Key)
		}
	}
	runBatch(&r.sched, ws)
	for _, k := range []string{"up1", "up2"} {
		if evs := rec.events(k); len(evs) != 1 || !evs[0].Up() || !evs[0].Initial {
			t.Errorf("%s: events when the batch returned: %+v, want one: up", k, evs)
		}
	}
	if evs := rec.events("hang"); len(evs) != 0 {
		t.Fatalf("the batch waited for the real whose handshake hangs: %+v", evs)
	}
	for _, w := range ws {
		w.inflight.Wait()
	}
	if evs := rec.events("refused"); len(evs) != 1 || evs[0].Up() || !errors.Is(evs[0].Result.Err, unix.ECONNREFUSED) {
		t.Errorf("refused: %+v, want one event: down, connection refused", evs)
	}
	if evs := rec.events("hang"); len(evs) != 1 || evs[0].Up() || !errors.Is(evs[0].Result.Err, os.ErrDeadlineExceeded) {
		t.Errorf("hang: %+v, want one event: down, i/o timeout", evs)
	}
	for _, w := range ws {
		w.stop()
	}
}

// TestRunBatchClaims: a batch checks only the reals still scheduled when
// it runs (the loop hands them over without looking at them): a real
// stopped since it was due is skipped, without a check, a result or a
// check in flight; a check that is not a quick one goes to a goroutine of
// its own, so the batch does not wait for it.
func TestRunBatchClaims(t *testing.T) {
	upTg, err := closingServer(t, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	r := NewRunner(RunnerOptions{Notify: rec.notify})
	defer r.Stop()
	gone := batchWorker(t, r, "gone", upTg, 30*time.Second)
	up := batchWorker(t, r, "up", upTg, 30*time.Second)
	h := &hung{}
	slow := checkWorker(r, "slow", upTg, h)
	if slow.quick() != nil {
		t.Fatal("a hung checker is a quick one")
	}
	r.sched.drop(gone)
	runBatch(&r.sched, []*worker{gone, up, slow})
	if evs := rec.events("up"); len(evs) != 1 || !evs[0].Up() {
		t.Errorf("up: events when the batch returned: %+v, want one: up", evs)
	}
	if evs := rec.events("gone"); len(evs) != 0 {
		t.Errorf("a real stopped before its batch ran was checked: %+v", evs)
	}
	waitGroupIdle(t, "gone", &gone.inflight)
	waitFor(t, "the slow check to start on a goroutine of its own", func() bool { return h.calls.Load() == 1 })
	slow.stop() // cancels the hung check and waits for it
	if evs := rec.events("slow"); len(evs) != 0 {
		t.Errorf("slow: events of a check cancelled by its removal: %+v", evs)
	}
}

// waitGroupIdle fails unless wg's counter is zero (Wait returns at once).
func waitGroupIdle(t *testing.T, what string, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatalf("%s: a check is still counted in flight", what)
	}
}
