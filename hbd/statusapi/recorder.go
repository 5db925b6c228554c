package statusapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"lvsha/hbd/membership"
	"lvsha/hbd/rm"
	"lvsha/hbd/wire"
)

// Bounds of what the Recorder keeps.
const (
	MaxEvents      = 300              // membership events
	MaxTransitions = 300              // in a document: events and group moves together
	MaxHolders     = 200              // holder changes
	Bucket         = 10 * time.Second // heartbeat arrivals are summed per bucket
	Buckets        = 360              // one hour
	sampleEvery    = 100 * time.Millisecond
)

// Recorder keeps the membership events (it is a daemon.Handler), samples
// heartbeat arrivals per link and who holds each group (Run), and merges
// the resource manager's group moves (SetJournal).
type Recorder struct {
	mu      sync.Mutex
	events  []Transition
	journal func() []rm.Transition
	links   map[linkID]*linkRing
	order   []linkID
	holders []HolderChange
	last    map[string]string // group -> holder at the last sample
}

type linkID struct{ node, link string }

// linkRing is one peer link's buckets.
type linkRing struct {
	start    time.Time // start of the bucket at index head
	head     int       // index of the newest bucket
	n        int       // buckets filled
	arrivals [Buckets]int
	maxAge   [Buckets]int64
	lastSeen uint64 // the link's heartbeat count at the last sample
	primed   bool
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{links: map[linkID]*linkRing{}, last: map[string]string{}}
}

// SetJournal attaches the resource manager's group moves.
func (r *Recorder) SetJournal(f func() []rm.Transition) {
	r.mu.Lock()
	r.journal = f
	r.mu.Unlock()
}

// Message implements daemon.Handler (messages are not recorded).
func (r *Recorder) Message(*wire.Message) {}

// Event implements daemon.Handler. It is called with the daemon's lock
// held, so it only appends.
func (r *Recorder) Event(ev membership.Event) { r.event(ev, time.Now()) }

func (r *Recorder) event(ev membership.Event, now time.Time) {
	t := Transition{At: now.UTC(), Kind: ev.Kind.String(), Node: ev.Node, Link: ev.Link, OK: true}
	switch ev.Kind {
	case membership.NodeStatusChanged:
		t.Cause = fmt.Sprintf("status %s → %s", orNone(string(ev.Old)), ev.Status)
	case membership.NodeDead:
		t.Cause = "no heartbeat on any link within its deadtime"
	case membership.NodeRestarted:
		t.Cause = "a new generation: the node restarted"
	case membership.NodeReturned:
		t.Cause = "heard again after it was declared dead: a partition healed"
	case membership.LinkUp:
		t.Cause = "heartbeats arrive on this link"
	case membership.LinkDead:
		t.Cause = "no heartbeat on this link within the deadtime"
	case membership.LateHeartbeat:
		t.Cause = fmt.Sprintf("a heartbeat %d ms after the previous one", ev.Interval.Milliseconds())
		if ev.OverDeadtime {
			t.Cause += " (> deadtime)"
		}
	case membership.CommUp:
		t.Cause = "every node heard or declared dead: resources may be taken"
	case membership.DeadtimeChanged:
		t.Cause = fmt.Sprintf("it advertises deadtime %d ms", ev.Interval.Milliseconds())
	case membership.Stalled:
		t.Cause = fmt.Sprintf("this node did not run for %d ms: not counted against its peers", ev.Interval.Milliseconds())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, t)
	if len(r.events) > MaxEvents {
		r.events = slices.Clone(r.events[len(r.events)-MaxEvents:])
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Transitions are the membership events and group moves, oldest first,
// the last MaxTransitions.
func (r *Recorder) Transitions() []Transition {
	r.mu.Lock()
	out := slices.Clone(r.events)
	journal := r.journal
	r.mu.Unlock()
	if journal != nil {
		for _, j := range journal() {
			t := Transition{At: j.At.UTC(), Kind: "release", Groups: j.Groups, OK: len(j.Failed) == 0,
				Cause: fmt.Sprintf("%s (took %d ms)", j.Why, j.Took.Milliseconds())}
			if j.Acquire {
				t.Kind = "acquire"
			}
			if len(j.Failed) > 0 {
				t.Cause += "; failed: " + strings.Join(j.Failed, " ")
			}
			out = append(out, t)
		}
	}
	sortTransitions(out)
	if len(out) > MaxTransitions {
		out = out[len(out)-MaxTransitions:]
	}
	if out == nil {
		out = []Transition{}
	}
	return out
}

// Run samples until ctx ends: the peers' links (nodes) every 100 ms, and
// who holds each group (holders; nil when there are no groups).
func (r *Recorder) Run(ctx context.Context, self string, nodes func() []membership.NodeView, holders func() map[string]string) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var h map[string]string
			if holders != nil {
				h = holders()
			}
			r.sample(now, self, nodes(), h)
		}
	}
}

// sample records one look at the links and the holders.
func (r *Recorder) sample(now time.Time, self string, nodes []membership.NodeView, holders map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := now.Truncate(Bucket)
	for _, n := range nodes {
		if n.Name == self {
			continue
		}
		for _, l := range n.Links {
			id := linkID{n.Name, l.Name}
			lr := r.links[id]
			if lr == nil {
				lr = &linkRing{start: start, n: 1}
				r.links[id] = lr
				r.order = append(r.order, id)
			}
			lr.advance(start)
			if lr.primed && l.Statuses >= lr.lastSeen {
				lr.arrivals[lr.head] += int(l.Statuses - lr.lastSeen)
			}
			lr.lastSeen, lr.primed = l.Statuses, true
			a := int64(-1) // never heard: no figure
			if !l.Heard.IsZero() {
				a = max(now.Sub(l.Heard).Milliseconds(), 0)
			}
			lr.maxAge[lr.head] = max(lr.maxAge[lr.head], a)
		}
	}
	keys := make([]string, 0, len(holders))
	for k := range holders {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, g := range keys {
		who := holders[g]
		if prev, ok := r.last[g]; ok && prev == who {
			continue
		}
		r.last[g] = who
		hc := HolderChange{At: now.UTC(), Group: g}
		if who != "" {
			w := who
			hc.Holder = &w
		}
		r.holders = append(r.holders, hc)
	}
	if len(r.holders) > MaxHolders {
		r.holders = slices.Clone(r.holders[len(r.holders)-MaxHolders:])
	}
}

// advance moves the ring to the bucket starting at start, clearing the
// buckets skipped.
func (lr *linkRing) advance(start time.Time) {
	steps := int(start.Sub(lr.start) / Bucket)
	if steps <= 0 {
		return
	}
	for i := 0; i < min(steps, Buckets); i++ {
		lr.head = (lr.head + 1) % Buckets
		lr.arrivals[lr.head], lr.maxAge[lr.head] = 0, 0
	}
	lr.n = min(lr.n+steps, Buckets)
	lr.start = start
}

// History returns the last hour (up to now).
func (r *Recorder) History(now time.Time) History {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := History{BucketS: Bucket.Seconds(), Links: []LinkHistory{}, Holders: slices.Clone(r.holders)}
	for _, id := range r.order {
		lr := r.links[id]
		lh := LinkHistory{Node: id.node, Link: id.link, Start: lr.start.Add(-Bucket * time.Duration(lr.n-1)).UTC(),
			Arrivals: make([]int, 0, lr.n), MaxAgeMS: make([]int64, 0, lr.n)}
		for i := lr.n - 1; i >= 0; i-- {
			j := (lr.head - i + Buckets) % Buckets
			lh.Arrivals = append(lh.Arrivals, lr.arrivals[j])
			lh.MaxAgeMS = append(lh.MaxAgeMS, lr.maxAge[j])
		}
		h.Links = append(h.Links, lh)
	}
	if h.Holders == nil {
		h.Holders = []HolderChange{}
	}
	return h
}
