package director

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sinkObserver is a recObserver that is also a CheckSinker: what its
// sinks count is kept apart from what the loop reports.
type sinkObserver struct {
	*recObserver
	mu   sync.Mutex
	sunk map[VirtualID]map[string]int
}

func newSinkObserver() *sinkObserver {
	return &sinkObserver{recObserver: newRec(), sunk: map[VirtualID]map[string]int{}}
}

func (s *sinkObserver) CheckSink(v VirtualID, outcome string) func(time.Duration) {
	return func(time.Duration) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sunk[v] == nil {
			s.sunk[v] = map[string]int{}
		}
		s.sunk[v][outcome]++
	}
}

func (s *sinkObserver) sunkCount(v VirtualID, outcome string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sunk[v][outcome]
}

// Results that change nothing are counted through the sinks and never
// reach the loop; every other result does, and a shared real counts in
// each of its virtuals either way.
func TestQuietResults(t *testing.T) {
	obs := newSinkObserver()
	h := newHarness(t, newFake(), func(o *Options) { o.Observer = obs })
	h.start(twoVirtualsCf)
	v100 := VirtualID{Protocol: "tcp", Virtual: "10.0.0.100:80"}
	v101 := VirtualID{Protocol: "tcp", Virtual: "10.0.0.101:80"}
	waitUntil(t, "quiet results in both virtuals", func() bool {
		return obs.sunkCount(v100, OutcomeOK) > 20 && obs.sunkCount(v101, OutcomeOK) > 10
	})
	h.settle()
	// Only each check's first result went through the loop: two checks
	// for 10.0.0.100, one (the shared real) for 10.0.0.101.
	if a, b := obs.count(v100, OutcomeOK), obs.count(v101, OutcomeOK); a != 2 || b != 1 {
		t.Errorf("OK results through the loop: %d and %d, want 2 and 1", a, b)
	}
	if n := obs.sunkCount(v100, OutcomeFailed) + obs.sunkCount(v101, OutcomeFailed); n != 0 {
		t.Errorf("%d failures through the sinks", n)
	}

	// A failure goes through the loop and takes the real out; the OK
	// result that brings it back does too, then it is quiet again.
	h.checks.set("10.0.1.3", false)
	waitUntil(t, "real B down", func() bool {
		r := h.d.Snapshot().Virtuals[0].Reals[1]
		return !r.Up && obs.count(v100, OutcomeFailed) > 0
	})
	h.checks.set("10.0.1.3", true)
	waitUntil(t, "real B up", func() bool { return h.d.Snapshot().Virtuals[0].Reals[1].Up })
	before := obs.sunkCount(v100, OutcomeOK)
	waitUntil(t, "quiet results again", func() bool { return obs.sunkCount(v100, OutcomeOK) > before+10 })
	h.settle()
	if n := obs.count(v100, OutcomeOK); n != 3 {
		t.Errorf("OK results through the loop after real B came back: %d, want 3", n)
	}

	// A reload that drops 10.0.0.101: its sinks go quiet, the kept
	// virtual's keep counting.
	if err := h.d.Reload(parse(t, `checkinterval=1
checktimeout=1
virtual=10.0.0.100:80
	real=10.0.1.2:80 gate 1
	real=10.0.1.3:80 gate 2
	checktype=connect
`)); err != nil {
		t.Fatal(err)
	}
	dropped, kept := obs.sunkCount(v101, OutcomeOK), obs.sunkCount(v100, OutcomeOK)
	waitUntil(t, "quiet results after the reload", func() bool { return obs.sunkCount(v100, OutcomeOK) > kept+20 })
	if n := obs.sunkCount(v101, OutcomeOK); n != dropped {
		t.Errorf("a dropped virtual still counts: %d → %d", dropped, n)
	}
	obs.mu.Lock()
	removed := fmt.Sprint(obs.removed)
	obs.mu.Unlock()
	if removed != fmt.Sprint([]VirtualID{v101}) {
		t.Errorf("removed: %s", removed)
	}
}

// With a monitorfile every result goes through the loop, which writes
// its line.
func TestQuietResultsMonitorFile(t *testing.T) {
	mf := filepath.Join(t.TempDir(), "mon.log")
	obs := newSinkObserver()
	h := newHarness(t, newFake(), func(o *Options) { o.Observer = obs })
	h.start(fmt.Sprintf(baseCf, "", "monitorfile="+mf))
	v := VirtualID{Protocol: "tcp", Virtual: "10.0.0.100:80"}
	waitUntil(t, "results through the loop", func() bool { return obs.count(v, OutcomeOK) > 20 })
	before := obs.count(v, OutcomeOK)
	h.settle() // the lines of those results are written
	b, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	after := obs.count(v, OutcomeOK)
	if lines := strings.Count(string(b), "[up] fake ok\n"); lines < before || lines > after {
		t.Errorf("%d monitorfile lines for %d to %d results", lines, before, after)
	}
	if n := obs.sunkCount(v, OutcomeOK); n != 0 {
		t.Errorf("%d results through the sinks with a monitorfile", n)
	}
}

// A check removed by a reload and added back by the next has a history
// again, whether the Observer is a CheckSinker or not (with one that is
// not, the removed check's tag had been kept, and the re-added check
// wrote into a history that status no longer read).
func TestHistoryAfterRemoveAndReAdd(t *testing.T) {
	for _, tc := range []struct {
		name string
		obs  Observer
	}{{"sinker", newSinkObserver()}, {"no sinker", newRec()}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, newFake(), func(o *Options) { o.Observer = tc.obs })
			two := `checkinterval=1
checktimeout=1
virtual=10.0.0.100:80
	real=10.0.1.2:80 gate 1
	real=10.0.1.3:80 gate 2
	checktype=connect
`
			h.start(two)
			recent := func() int {
				for _, r := range h.d.Detail().Virtuals[0].Reals {
					if r.Key == "10.0.1.3:80" {
						return len(r.Recent)
					}
				}
				return -1
			}
			waitUntil(t, "results of 10.0.1.3", func() bool { return recent() > 0 })
			if err := h.d.Reload(parse(t, strings.Replace(two, "\treal=10.0.1.3:80 gate 2\n", "", 1))); err != nil {
				t.Fatal(err)
			}
			if n := recent(); n != -1 {
				t.Fatalf("10.0.1.3 still shown after its removal (%d results)", n)
			}
			if err := h.d.Reload(parse(t, two)); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "results of 10.0.1.3 after it came back", func() bool { return recent() > 0 })
		})
	}
}

// Checks counted in the same virtuals share one list of sinks (every
// quiet result reads it); a check in other virtuals has a list of its own
// (TestQuietResults shows that each counts in its virtuals).
func TestQuietSinksShared(t *testing.T) {
	obs := newSinkObserver()
	h := newHarness(t, newFake(), func(o *Options) { o.Observer = obs })
	h.start(`checkinterval=1
checktimeout=1
virtual=10.0.0.100:80
	real=10.0.1.2:80 gate 1
	real=10.0.1.3:80 gate 1
	real=10.0.1.4:80 gate 1
	checktype=connect
virtual=10.0.0.101:80
	real=10.0.1.2:80 gate 1
	real=10.0.1.5:80 gate 1
	checktype=connect
`)
	v100 := VirtualID{Protocol: "tcp", Virtual: "10.0.0.100:80"}
	v101 := VirtualID{Protocol: "tcp", Virtual: "10.0.0.101:80"}
	waitUntil(t, "quiet results", func() bool {
		return obs.sunkCount(v100, OutcomeOK) > 0 && obs.sunkCount(v101, OutcomeOK) > 0
	})
	lists := map[string]*quietSinks{}
	h.d.hist.each(func(key string, tag *checkTag) {
		for _, ip := range []string{"10.0.1.2", "10.0.1.3", "10.0.1.4", "10.0.1.5"} {
			if strings.Contains(key, "|"+ip+"|") {
				lists[ip] = tag.quiet.Load()
			}
		}
	})
	if len(lists) != 4 {
		t.Fatalf("tags found: %v", lists)
	}
	for ip, q := range lists {
		if q == nil {
			t.Fatalf("%s: no sinks", ip)
		}
	}
	if lists["10.0.1.3"] != lists["10.0.1.4"] {
		t.Error("10.0.1.3 and 10.0.1.4, both only in 10.0.0.100, have lists of their own")
	}
	for _, ip := range []string{"10.0.1.2", "10.0.1.5"} {
		if lists[ip] == lists["10.0.1.3"] {
			t.Errorf("%s shares the list of a check in other virtuals", ip)
		}
	}
	if lists["10.0.1.2"] == lists["10.0.1.5"] {
		t.Error("10.0.1.2 (both virtuals) and 10.0.1.5 (10.0.0.101 only) share a list")
	}
	for ip, want := range map[string]int{"10.0.1.2": 2, "10.0.1.3": 1, "10.0.1.5": 1} {
		if n := len(*lists[ip]); n != want {
			t.Errorf("%s: %d sinks, want %d", ip, n, want)
		}
	}
}
