package director

import (
	"sync"
	"time"

	"lvsha/ldird/check"
)

// How much check history is kept per check: the last RecentChecks results
// in full (time, outcome, latency, detail), and HistoryBuckets buckets of
// HistoryBucket each (counts and latency) for the plots of the last hour.
// About 3 KiB per real (checkTag), so 10,000 reals cost some 30 MiB.
const (
	RecentChecks   = 20
	HistoryBucket  = time.Minute
	HistoryBuckets = 60
	maxDetail      = 200 // bytes of a result's detail kept
)

// CheckRecord is one check result.
type CheckRecord struct {
	At      time.Time
	OK      bool
	Outcome string // OutcomeOK, OutcomeFailed, OutcomeTimeout
	Latency time.Duration
	Detail  string // the reply's status line, or why it failed
	Up      bool   // the real's state after this result (failurecount applied)
}

// CheckBucket sums the results of one HistoryBucket.
type CheckBucket struct {
	Start      time.Time
	OK, Failed int
	// SumLatency / (OK+Failed) is the mean; MaxLatency the worst.
	SumLatency, MaxLatency time.Duration
	// Down: the real was down after some result of the bucket.
	Down bool
}

// checkHistory is every check's recent results, written by the checks'
// goroutines and read by status. Each check's history is in its Tag in
// the Runner (entry), so a result is recorded without a look-up by key
// and under the lock of its own real: at 10,000 checks a second, the map
// look-up by key and one lock for all were a tenth of ldird's own CPU.
type checkHistory struct {
	mu sync.Mutex
	m  map[string]*checkTag
}

// realHistory is one check's. A result touches only the first cache line
// of its checkTag (with the lock, the ring's position and the current
// minute's bucket) and the one record it writes: at 10,000 checks a
// second every real's history is cold by its next result, and the tag,
// the lock, the ring's position (behind the records) and the minute's
// bucket had been four misses. Telling and recording a result of one of
// 10,000 checks in random order took some 280 ns that way, 110 ns this
// way (BenchmarkHistoryRecord10k). The bucket goes into the hour's ring
// when its minute ends.
type realHistory struct {
	mu      sync.Mutex
	n, next int32
	cur     bucket
	recent  [RecentChecks]record
	buckets [HistoryBuckets]bucket // ring by minute number, cur not yet in it
}

// record is a CheckRecord as kept: without time.Time's location and
// with the outcome as a number, 40 bytes instead of 88.
type record struct {
	at      int64 // Unix nanoseconds
	latency time.Duration
	detail  string
	ok, up  bool
	outcome outcome
}

type outcome uint8

const (
	outcomeOK outcome = iota
	outcomeFailed
	outcomeTimeout
)

var outcomes = [...]string{outcomeOK: OutcomeOK, outcomeFailed: OutcomeFailed, outcomeTimeout: OutcomeTimeout}

func outcomeOf(r check.Result) outcome {
	switch Outcome(r) {
	case OutcomeOK:
		return outcomeOK
	case OutcomeTimeout:
		return outcomeTimeout
	}
	return outcomeFailed
}

// bucket is a CheckBucket as kept, in 32 bytes; minute 0 (1970) marks an
// empty one.
type bucket struct {
	minute     int32 // Unix time ÷ HistoryBucket: good until the year 6000
	ok, failed int32
	down       bool
	sum, max   time.Duration
}

func (b bucket) export() CheckBucket {
	return CheckBucket{Start: time.Unix(int64(b.minute)*int64(HistoryBucket/time.Second), 0), OK: int(b.ok),
		Failed: int(b.failed), SumLatency: b.sum, MaxLatency: b.max, Down: b.down}
}

func newCheckHistory() *checkHistory { return &checkHistory{m: map[string]*checkTag{}} }

// resultDetail is what status shows of a result: the reply's status line,
// or the error of a failed check.
func resultDetail(r check.Result) string {
	d := r.Detail
	if !r.OK && r.Err != nil {
		d = r.Err.Error()
	}
	if len(d) > maxDetail {
		d = d[:maxDetail] + "…"
	}
	return d
}

// entry is key's tag with its history, made on first use.
func (h *checkHistory) entry(key string) *checkTag {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.m[key]
	if t == nil {
		t = &checkTag{}
		h.m[key] = t
	}
	return t
}

// each calls f with every check's tag; f must not call h.
func (h *checkHistory) each(f func(key string, t *checkTag)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, t := range h.m {
		f(k, t)
	}
}

// record adds a result.
func (rh *realHistory) record(ev check.Event, now time.Time) {
	r := ev.Result
	rec := record{at: now.UnixNano(), ok: r.OK, outcome: outcomeOf(r), latency: r.Latency, detail: resultDetail(r),
		up: ev.State == check.Up}
	minute := int32(now.Unix() / int64(HistoryBucket/time.Second))
	rh.mu.Lock()
	defer rh.mu.Unlock()
	rh.recent[rh.next] = rec
	rh.next = (rh.next + 1) % RecentChecks
	rh.n = min(rh.n+1, RecentChecks)
	b := &rh.cur
	if b.minute != minute {
		if b.minute != 0 {
			rh.buckets[b.minute%HistoryBuckets] = *b
		}
		*b = bucket{minute: minute}
	}
	if rec.ok {
		b.ok++
	} else {
		b.failed++
	}
	b.sum += rec.latency
	b.max = max(b.max, rec.latency)
	b.down = b.down || !rec.up
}

// get returns a check's recent results (oldest first) and the buckets of
// the hour before now (oldest first, empty ones left out).
func (h *checkHistory) get(key string, now time.Time) ([]CheckRecord, []CheckBucket) {
	h.mu.Lock()
	t := h.m[key]
	h.mu.Unlock()
	if t == nil {
		return nil, nil
	}
	rh := &t.hist
	rh.mu.Lock()
	defer rh.mu.Unlock()
	recent := make([]CheckRecord, 0, rh.n)
	for i := range rh.n {
		r := rh.recent[(rh.next-rh.n+i+RecentChecks)%RecentChecks]
		recent = append(recent, CheckRecord{At: time.Unix(0, r.at), OK: r.ok, Outcome: outcomes[r.outcome],
			Latency: r.latency, Detail: r.detail, Up: r.up})
	}
	oldest := now.Add(-HistoryBucket * HistoryBuckets)
	var buckets []CheckBucket
	for i, b := range rh.buckets {
		if rh.cur.minute != 0 && int32(i) == rh.cur.minute%HistoryBuckets {
			b = rh.cur // the ring's entry, if any, is an hour old
		}
		if b.minute != 0 {
			if e := b.export(); e.Start.After(oldest) {
				buckets = append(buckets, e)
			}
		}
	}
	for i := 1; i < len(buckets); i++ { // at most 60: insertion sort
		for j := i; j > 0 && buckets[j].Start.Before(buckets[j-1].Start); j-- {
			buckets[j], buckets[j-1] = buckets[j-1], buckets[j]
		}
	}
	return recent, buckets
}

// retain forgets the checks keep says no to (removed by a reload).
func (h *checkHistory) retain(keep func(string, *checkTag) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, t := range h.m {
		if !keep(k, t) {
			delete(h.m, k)
		}
	}
}
