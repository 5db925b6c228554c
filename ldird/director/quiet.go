package director

import (
	"strings"
	"sync/atomic"
	"time"

	"lvsha/ldird/check"
)

// A check result that changes nothing (OK, the real already up, and the
// check's previous result OK too) takes nothing from the planner: the
// real's state and maintenance stay as the previous result left them,
// and no table pass is due. All it does is count in the Observer (and
// write a monitorfile line, where one is configured). At 10,000 checks a
// second nearly every result is such a one, and handing each to the loop
// (the queue, a look-up by key, then two label look-ups in the metrics)
// cost about a tenth of ldird's CPU (10,000 connect checks, builds
// alternated: 40.3 → 36.0 % of a core). So onEvent tells such a result
// to the Observer itself, through sinks the loop looked up when it last
// (re)loaded the configuration, and the loop never sees it.
//
// Results still reach the planner in order: a quiet result follows an OK
// one of the same check, whatever that one changed is queued before it,
// and the quiet one would change nothing after it.

// CheckSinker is an Observer that can hand out what CheckResult(v,
// outcome, latency) does as a function of the latency alone, safe to call
// from any goroutine (ldird/metrics: its counter and histogram, looked
// up once). With an Observer that is no CheckSinker every result goes
// through the loop.
type CheckSinker interface {
	CheckSink(v VirtualID, outcome string) func(latency time.Duration)
}

// checkTag is what a check's results carry to onEvent (RealConfig.Tag):
// one per check key, with the key's history, kept across reloads while
// the key is configured. What every result touches comes first, in one
// cache line with the history's (realHistory).
type checkTag struct {
	// quiet tells a result that changes nothing; nil while such results
	// must go through the loop: a monitorfile to write, an Observer that
	// is no CheckSinker, a check not (or no longer) configured.
	quiet atomic.Pointer[quietSinks]
	// lastOK: the check's previous result was OK. Only onEvent touches
	// it, and a check reports one result at a time (Replace waits for the
	// old worker's check in flight before the new worker starts).
	lastOK bool
	hist   realHistory
}

// quietSinks counts a quiet result once for each virtual that checks the
// real, as checkResult's observeCheck actions do.
type quietSinks []func(time.Duration)

// tell handles ev on the check's goroutine when it changes nothing, and
// reports whether it did.
func (t *checkTag) tell(ev check.Event) bool {
	quiet := ev.Result.OK && !ev.Changed && !ev.Initial && t.lastOK
	t.lastOK = ev.Result.OK
	if !quiet {
		return false
	}
	q := t.quiet.Load()
	if q == nil {
		return false
	}
	for _, sink := range *q {
		sink(ev.Result.Latency)
	}
	return true
}

// setQuiet drops the tags and histories of checks no longer configured
// and gives every configured check the sinks of its quiet results, once
// the planner has the configuration; on the loop. A result of a removed
// check that was already under way when Remove returned goes through the
// loop, which drops it.
func (d *Director) setQuiet() {
	d.hist.retain(func(key string, t *checkTag) bool {
		_, configured := d.checks[key]
		if !configured {
			t.quiet.Store(nil)
		}
		return configured
	})
	sinker, ok := d.o.Observer.(CheckSinker)
	if d.o.Observer != nil && !ok {
		return // every result through the loop
	}
	// Checks counted in the same virtuals share one list: every quiet
	// result reads its list, and a list of their own for each of 10,000
	// reals (a slice header and its array, two small objects apart from
	// the tag) was two cache misses per result.
	sinks := map[VirtualID]func(time.Duration){}
	lists := map[string]*quietSinks{}
	var key strings.Builder
	d.hist.each(func(ck string, t *checkTag) {
		ids, ok := d.p.quietIDs(ck)
		if !ok {
			t.quiet.Store(nil)
			return
		}
		if sinker == nil {
			ids = nil // no Observer: nothing to count
		}
		key.Reset()
		for _, id := range ids {
			key.WriteString(id.Protocol)
			key.WriteByte(0)
			key.WriteString(id.Virtual)
			key.WriteByte(0)
		}
		q := lists[key.String()]
		if q == nil {
			q = new(quietSinks)
			for _, id := range ids {
				s := sinks[id]
				if s == nil {
					s = sinker.CheckSink(id, OutcomeOK)
					sinks[id] = s
				}
				*q = append(*q, s)
			}
			lists[key.String()] = q
		}
		t.quiet.Store(q)
	})
}
