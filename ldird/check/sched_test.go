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
