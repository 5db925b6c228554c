package director

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/dataplane"
)

// recObserver records what the director reports.
type recObserver struct {
	mu      sync.Mutex
	results map[VirtualID]map[string]int
	ops     map[string]int
	removed []VirtualID
	starts  int // scheduled checks told by CheckStartDelay
}

func newRec() *recObserver {
	return &recObserver{results: map[VirtualID]map[string]int{}, ops: map[string]int{}}
}

func (r *recObserver) CheckResult(v VirtualID, outcome string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.results[v] == nil {
		r.results[v] = map[string]int{}
	}
	r.results[v][outcome]++
}

func (r *recObserver) TableOp(k OpKind, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := "ok"
	if err != nil {
		res = "failed"
	}
	r.ops[k.String()+" "+res]++
}

func (r *recObserver) VirtualRemoved(v VirtualID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removed = append(r.removed, v)
}

func (r *recObserver) CheckStartDelay(time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
}

func (r *recObserver) count(v VirtualID, outcome string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.results[v][outcome]
}

func (r *recObserver) op(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ops[s]
}

const twoVirtualsCf = `checkinterval=1
checktimeout=1
quiescent=yes
virtual=10.0.0.100:80
	real=10.0.1.2:80 gate 1
	real=10.0.1.3:80 gate 2
	fallback=127.0.0.1:80 gate
	checktype=connect
virtual=10.0.0.101:80
	real=10.0.1.2:80 gate 1
	checktype=connect
`

func TestObserverAndSnapshot(t *testing.T) {
	rec := newRec()
	dp := newFake()
	h := newHarness(t, dp, func(o *Options) { o.Observer = rec })
	h.start(twoVirtualsCf)
	cfg := h.d.Config()
	v100 := VirtualID{Protocol: "tcp", Virtual: "10.0.0.100:80"}
	v101 := VirtualID{Protocol: "tcp", Virtual: "10.0.0.101:80"}
	if got := IDOf(cfg.Virtuals[0]); got != v100 {
		t.Fatalf("IDOf = %+v", got)
	}
	if n := rec.op("AddService ok"); n != 2 {
		t.Errorf("AddService ok = %d, want 2", n)
	}
	if n := rec.op("AddDest ok"); n != 3 {
		t.Errorf("AddDest ok = %d, want 3", n)
	}
	// 10.0.1.2 is one check shared by both virtuals: its results count in both.
	waitUntil(t, "ok results for both virtuals", func() bool { return rec.count(v100, OutcomeOK) > 2 && rec.count(v101, OutcomeOK) > 0 })
	// A real checked twice had its second check scheduled: its start is told.
	rec.mu.Lock()
	starts := rec.starts
	rec.mu.Unlock()
	if starts == 0 {
		t.Error("no scheduled check's start was told to CheckStartDelay")
	}

	s := h.d.Snapshot()
	if s.TableErr != nil || s.TableServices != 2 || s.TableDests != 3 || len(s.Virtuals) != 2 {
		t.Fatalf("snapshot: %+v", s)
	}
	if r := s.Virtuals[0].Reals[1]; r.Real != "10.0.1.3:80" || !r.Up || !r.InTable || r.Weight != 2 || r.State != check.Up {
		t.Fatalf("real B: %+v", r)
	}

	// Every real of 10.0.0.100 fails: failures counted there (and for
	// 10.0.0.101, which shares 10.0.1.2), reals quiesced, fallback active.
	h.checks.set("10.0.1.2", false)
	h.checks.set("10.0.1.3", false)
	waitUntil(t, "fallback active", func() bool {
		s := h.d.Snapshot()
		return s.Virtuals[0].FallbackActive
	})
	s = h.d.Snapshot()
	for _, r := range s.Virtuals[0].Reals {
		if r.Up || !r.InTable || r.Weight != 0 || r.State != check.Down {
			t.Errorf("failed real: %+v", r)
		}
	}
	if s.Virtuals[1].FallbackActive {
		t.Error("10.0.0.101 has no fallback configured but shows one active")
	}
	if rec.count(v100, OutcomeFailed) == 0 || rec.count(v101, OutcomeFailed) == 0 {
		t.Errorf("failed results: %v", rec.results)
	}
	if rec.op("UpdateDest ok") < 2 || rec.op("AddDest ok") < 4 {
		t.Errorf("ops: %v", rec.ops)
	}

	// Dropping a virtual on reload reports it and stops its counting.
	if err := h.d.Reload(parse(t, `checkinterval=1
checktimeout=1
virtual=10.0.0.100:80
	real=10.0.1.2:80 gate 1
	checktype=connect
`)); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	removed := append([]VirtualID(nil), rec.removed...)
	rec.mu.Unlock()
	if len(removed) != 1 || removed[0] != v101 {
		t.Fatalf("removed %v, want [%v]", removed, v101)
	}
	// The shared check goes on for 10.0.0.100 alone: once it has
	// reported a few more times, 10.0.0.101 has not counted one of them.
	before, stay := rec.count(v101, OutcomeFailed), rec.count(v100, OutcomeFailed)
	waitUntil(t, "more results for the remaining virtual", func() bool { return rec.count(v100, OutcomeFailed) >= stay+3 })
	if after := rec.count(v101, OutcomeFailed); after != before {
		t.Errorf("results still counted for the removed virtual: %d -> %d", before, after)
	}
}

func TestObserverFailedOp(t *testing.T) {
	rec := newRec()
	dp := newFake()
	dp.f.Fail = map[string]error{"AddDest": errors.New("no memory")}
	h := newHarness(t, dp, func(o *Options) { o.Observer = rec })
	h.start(fmt.Sprintf(baseCf, "", ""))
	if n := rec.op("AddDest failed"); n != 2 {
		t.Errorf("AddDest failed = %d, want 2 (%v)", n, rec.ops)
	}
}

func TestOutcome(t *testing.T) {
	for _, c := range []struct {
		r    check.Result
		want string
	}{
		{check.Result{OK: true}, OutcomeOK},
		{check.Result{Err: errors.New("connection refused")}, OutcomeFailed},
		{check.Result{Err: fmt.Errorf("negotiate: %w", context.DeadlineExceeded)}, OutcomeTimeout},
		{check.Result{Err: fmt.Errorf("read: %w", os.ErrDeadlineExceeded)}, OutcomeTimeout},
		{check.Result{Err: &net.OpError{Op: "dial", Err: timeoutErr{}}}, OutcomeTimeout},
	} {
		if got := Outcome(c.r); got != c.want {
			t.Errorf("Outcome(%v) = %s, want %s", c.r.Err, got, c.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// gatedFake blocks UpdateDest until released, to wedge a reconcile.
type gatedFake struct {
	*lockedFake
	gate chan struct{}
}

func (g *gatedFake) UpdateDest(s dataplane.Service, d dataplane.Dest) error {
	<-g.gate
	return g.lockedFake.UpdateDest(s, d)
}

// A reconcile stuck in the dataplane shows as a growing LoopStall; an
// idle loop reports 0.
func TestLoopStall(t *testing.T) {
	g := &gatedFake{lockedFake: newFake(), gate: make(chan struct{})}
	checks := &fakeChecks{ok: map[string]bool{"10.0.1.2": true, "10.0.1.3": true}}
	d := New(Options{Dataplane: g, NewChecker: func(check.Spec) (check.Checker, error) { return checks, nil },
		TuneReal: func(rc *check.RealConfig) { rc.Interval = 10 * time.Millisecond }})
	if err := d.Start(context.Background(), parse(t, fmt.Sprintf(baseCf, "quiescent=yes", ""))); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(g.gate)
		}
	}
	defer func() { release(); d.Stop() }()
	// Check results pass through the loop every 10 ms; between them it
	// waits, and reports 0.
	waitUntil(t, "an idle loop", func() bool { return d.LoopStall() == 0 })
	checks.set("10.0.1.3", false) // quiesce: UpdateDest, which blocks
	waitUntil(t, "a stall of 300 ms", func() bool { return d.LoopStall() > 300*time.Millisecond })
	release()
	waitUntil(t, "the loop to go idle", func() bool { return d.LoopStall() == 0 })
	waitUntil(t, "the quiesce", func() bool { return len(g.calls()) > 0 })
}
