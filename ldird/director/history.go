package director

import (
	"sync"
	"time"

	"lvsha/ldird/check"
)

// How much check history is kept per check: the last RecentChecks results
// in full (time, outcome, latency, detail), and HistoryBuckets buckets of
// HistoryBucket each (counts and latency) for the plots of the last hour.
// About 4 KiB per real, so 10,000 reals cost some 40 MiB.
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
// goroutines and read by status. Each check's history is its Tag in the
// Runner (entry), so a result is recorded without a look-up by key and
// under the lock of its own real: at 10,000 checks a second, the map
// look-up by key and one lock for all were a tenth of ldird's own CPU.
type checkHistory struct {
	mu sync.Mutex
	m  map[string]*realHistory
}

type realHistory struct {
	mu      sync.Mutex
	recent  [RecentChecks]CheckRecord
	n, next int
	buckets [HistoryBuckets]CheckBucket // ring by bucket number
}

func newCheckHistory() *checkHistory { return &checkHistory{m: map[string]*realHistory{}} }

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

// entry is key's history, made on first use.
func (h *checkHistory) entry(key string) *realHistory {
	h.mu.Lock()
	defer h.mu.Unlock()
	rh := h.m[key]
	if rh == nil {
		rh = &realHistory{}
		h.m[key] = rh
	}
	return rh
}

// record adds a result.
func (rh *realHistory) record(ev check.Event, now time.Time) {
	rec := CheckRecord{At: now, OK: ev.Result.OK, Outcome: Outcome(ev.Result), Latency: ev.Result.Latency,
		Detail: resultDetail(ev.Result), Up: ev.State == check.Up}
	rh.mu.Lock()
	defer rh.mu.Unlock()
	rh.recent[rh.next] = rec
	rh.next = (rh.next + 1) % RecentChecks
	rh.n = min(rh.n+1, RecentChecks)
	start := now.Truncate(HistoryBucket)
	b := &rh.buckets[int(start.Unix()/int64(HistoryBucket/time.Second))%HistoryBuckets]
	if !b.Start.Equal(start) {
		*b = CheckBucket{Start: start}
	}
	if rec.OK {
		b.OK++
	} else {
		b.Failed++
	}
	b.SumLatency += rec.Latency
	b.MaxLatency = max(b.MaxLatency, rec.Latency)
	b.Down = b.Down || !rec.Up
}

// get returns a check's recent results (oldest first) and the buckets of
// the hour before now (oldest first, empty ones left out).
func (h *checkHistory) get(key string, now time.Time) ([]CheckRecord, []CheckBucket) {
	h.mu.Lock()
	rh := h.m[key]
	h.mu.Unlock()
	if rh == nil {
		return nil, nil
	}
	rh.mu.Lock()
	defer rh.mu.Unlock()
	recent := make([]CheckRecord, 0, rh.n)
	for i := range rh.n {
		recent = append(recent, rh.recent[(rh.next-rh.n+i+RecentChecks)%RecentChecks])
	}
	oldest := now.Add(-HistoryBucket * HistoryBuckets)
	var buckets []CheckBucket
	for _, b := range rh.buckets {
		if !b.Start.IsZero() && b.Start.After(oldest) {
			buckets = append(buckets, b)
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
func (h *checkHistory) retain(keep func(string) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.m {
		if !keep(k) {
			delete(h.m, k)
		}
	}
}
