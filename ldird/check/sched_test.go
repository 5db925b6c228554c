package check

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSchedHeap: entries come out by due time, however they went in.
func TestSchedHeap(t *testing.T) {
	var s sched
	s.init()
	var want []time.Duration
	for i := range 1000 {
		d := time.Duration(rand.IntN(50)) * time.Millisecond // many equal dues, as on the grid
		want = append(want, d)
		s.push(&worker{due: d, cfg: RealConfig{Key: string(rune('a' + i%26))}})
	}
	slices.Sort(want)
	for i, d := range want {
		if w := s.pop(); w.due != d {
			t.Fatalf("pop %d: due %v, want %v", i, w.due, d)
		}
	}
	if len(s.heap) != 0 {
		t.Fatalf("%d entries left", len(s.heap))
	}
}

// TestSchedHeapInterleaved: as the loop uses it, pops of what is due
// between pushes of later dues, at sizes that leave the last parent with
// one to four children; what comes out is in order and is what went in.
func TestSchedHeapInterleaved(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 6, 17, 1000, 10007} {
		var s sched
		s.init()
		in := map[time.Duration]int{}
		for range n {
			d := time.Duration(rand.IntN(20)) * time.Millisecond
			in[d]++
			s.push(&worker{due: d})
		}
		var last time.Duration
		for round := range 3 * n {
			w := s.pop()
			if w.due < last {
				t.Fatalf("n=%d: pop %d: due %v after %v", n, round, w.due, last)
			}
			if in[w.due]--; in[w.due] < 0 {
				t.Fatalf("n=%d: due %v popped more often than pushed", n, w.due)
			}
			last = w.due
			if round < 2*n { // back in, due later (the next check)
				w.due += time.Duration(1+rand.IntN(40)) * time.Millisecond
				in[w.due]++
				s.push(w)
			}
		}
		if len(s.heap) != 0 {
			t.Fatalf("n=%d: %d entries left", n, len(s.heap))
		}
	}
}

// TestSchedDropped: a removed real's entry never starts a check (the
// entry stays in the heap until due and is skipped then), and a stopped
// schedule takes nothing back.
func TestSchedDropped(t *testing.T) {
	r := NewRunner(RunnerOptions{})
	a := &scripted{oks: []bool{true}}
	b := &scripted{oks: []bool{true}}
	for key, c := range map[string]*scripted{"a": a, "b": b} {
		if err := r.Add(RealConfig{Key: key, Target: tgA, Checker: c, Interval: time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "checks", func() bool { return a.calls.Load() > 3 })
	r.Remove("a")
	n := a.calls.Load()
	// a's entry was due within a millisecond of its last check, before
	// any entry b makes from now on: once b has run 20 more checks, a's
	// entry has come out of the heap.
	nb := b.calls.Load()
	waitFor(t, "b checked on", func() bool { return b.calls.Load() > nb+20 })
	if got := a.calls.Load(); got != n {
		t.Fatalf("%d checks after Remove", got-n)
	}
	r.Stop()
	before := len(r.sched.heap)
	r.sched.again(&worker{r: r}, time.Second, false)
	if len(r.sched.heap) != before {
		t.Fatal("a stopped schedule took an entry")
	}
}

// BenchmarkSchedHeap10k: a pop and a push of 10,000 reals checked every
// second on the 20 ms grid, as the loop and again do.
func BenchmarkSchedHeap10k(b *testing.B) {
	var s sched
	s.init()
	for i := range 10000 {
		s.push(&worker{due: time.Duration(rand.IntN(50)) * 20 * time.Millisecond, cfg: RealConfig{Key: string(rune('a' + i%26))}})
	}
	b.ResetTimer()
	for range b.N {
		w := s.pop()
		w.due += time.Second
		s.push(w)
	}
}

// TestClaimLags: claim tells, for each real it claims, how long after its
// due time that was, from one clock reading, in the order of the reals it
// returns; a stopped real is skipped with its lag, and a real claimed
// before its time has none.
func TestClaimLags(t *testing.T) {
	r := NewRunner(RunnerOptions{})
	defer r.Stop()
	s := &r.sched
	s.epoch = time.Now().Add(-10 * time.Second)
	mk := func(key string, due time.Duration) *worker {
		w := checkWorker(r, key, Target{}, nil)
		w.due = due
		return w
	}
	late := mk("late", 10*time.Second-300*time.Millisecond)
	stopped := mk("stopped", 5*time.Second)
	early := mk("early", 10*time.Second+time.Hour)
	onTime := mk("on time", 10*time.Second)
	s.drop(stopped)
	before := s.now()
	ws, lags := s.claim([]*worker{late, stopped, early, onTime}, nil)
	after := s.now()
	if len(ws) != 3 || ws[0] != late || ws[1] != early || ws[2] != onTime {
		t.Fatalf("claimed %d reals, want late, early, on time", len(ws))
	}
	if len(lags) != len(ws) {
		t.Fatalf("%d lags for %d reals", len(lags), len(ws))
	}
	within := func(what string, got, lo, hi time.Duration) {
		if got < lo || got > hi {
			t.Errorf("%s: lag %v, want between %v and %v", what, got, lo, hi)
		}
	}
	within("late", lags[0], before-late.due, after-late.due)
	within("early", lags[1], 0, 0)
	within("on time", lags[2], before-onTime.due, after-onTime.due)
	for _, w := range ws {
		w.inflight.Done()
	}
}
