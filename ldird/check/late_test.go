package check

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// TestLateLog: the first late check is told at once; those within a
// minute of a warning are counted and told together when the minute is
// up (flush, as its timer does), with their number and the worst lag;
// after stop nothing more is told.
func TestLateLog(t *testing.T) {
	var buf testenv.Buffer
	t0 := time.Now()
	now := t0
	l := &lateLog{log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return now }}
	defer l.stop()
	warnings := func() []string {
		var ws []string
		for _, line := range strings.Split(buf.String(), "\n") {
			if strings.Contains(line, "started late") {
				ws = append(ws, line)
			}
		}
		return ws
	}
	l.note(300 * time.Millisecond)
	if ws := warnings(); len(ws) != 1 || !strings.Contains(ws[0], "checks=1 ") || !strings.Contains(ws[0], "worst=300ms") {
		t.Fatalf("after the first late check: %q, want one warning: checks=1 worst=300ms", ws)
	}
	now = t0.Add(10 * time.Second)
	l.note(2 * time.Second)
	now = t0.Add(20 * time.Second)
	l.note(400 * time.Millisecond)
	if ws := warnings(); len(ws) != 1 {
		t.Fatalf("late checks within a minute of a warning were told at once: %q", ws)
	}
	l.mu.Lock()
	armed := l.timer != nil
	l.mu.Unlock()
	if !armed {
		t.Fatal("no warning is due for the late checks counted since the last one")
	}
	now = t0.Add(time.Minute)
	l.flush()
	if ws := warnings(); len(ws) != 2 || !strings.Contains(ws[1], "checks=2 ") || !strings.Contains(ws[1], "worst=2s") || !strings.Contains(ws[1], "within=50s") {
		t.Fatalf("when the minute is up: %q, want a second warning: checks=2 worst=2s within=50s", ws)
	}
	l.flush() // nothing counted since: no warning
	if ws := warnings(); len(ws) != 2 {
		t.Fatalf("a warning with nothing to tell: %q", ws)
	}
	l.stop()
	now = t0.Add(3 * time.Minute)
	l.note(time.Second)
	if ws := warnings(); len(ws) != 2 {
		t.Fatalf("told after stop: %q", ws)
	}
}

// TestRunnerLateStart: a scheduled check that starts late (its schedule
// held up past its due time, as a busy machine would) is told to
// StartDelay with at least the time it was held up, and warned about in
// the log; a real's first check, started at once, is not counted.
func TestRunnerLateStart(t *testing.T) {
	upTg, err := closingServer(t, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lags []time.Duration
	var buf testenv.Buffer
	rec := &recorder{}
	r := NewRunner(RunnerOptions{
		Notify: rec.notify, EveryResult: true, Logger: slog.New(slog.NewTextHandler(&buf, nil)),
		StartDelay: func(d time.Duration) { mu.Lock(); lags = append(lags, d); mu.Unlock() },
	})
	defer r.Stop()
	if err := r.Add(RealConfig{Key: "up", Target: upTg, Interval: time.Second, FailureCount: 1,
		Checker: mustNew(t, Spec{Type: "connect", ConnectTimeout: time.Second, NegotiateTimeout: time.Second})}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first check", func() bool { return len(rec.events("up")) == 1 })
	mu.Lock()
	if len(lags) != 0 {
		t.Errorf("the first check, started at once, was told to StartDelay: %v", lags)
	}
	mu.Unlock()
	// Hold the schedule up until 400 ms past the next check's due time
	// (a quarter of the interval is 250 ms).
	const held = 400 * time.Millisecond
	r.mu.Lock()
	w := r.workers["up"]
	r.mu.Unlock()
	waitFor(t, "the next check to be scheduled", func() bool {
		r.sched.mu.Lock()
		defer r.sched.mu.Unlock()
		return len(r.sched.heap) == 1 && r.sched.heap[0].w == w
	})
	r.sched.mu.Lock()
	time.Sleep(time.Until(r.sched.epoch.Add(w.due + held)))
	r.sched.mu.Unlock()
	waitFor(t, "the second check", func() bool { return len(rec.events("up")) == 2 })
	mu.Lock()
	got := append([]time.Duration(nil), lags...)
	mu.Unlock()
	if len(got) != 1 || got[0] < held {
		t.Fatalf("StartDelay was told %v, want one lag of at least %v", got, held)
	}
	if !strings.Contains(buf.String(), "health checks started late") || !strings.Contains(buf.String(), "checks=1 ") {
		t.Fatalf("no warning of the late check in the log:\n%s", buf.String())
	}
}
