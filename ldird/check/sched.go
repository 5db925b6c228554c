package check

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// sched is a Runner's schedule: the reals waiting for their next check,
// in a heap by due time, and one goroutine that sleeps until the earliest
// is due and then hands every real that is due to a pool goroutine, in
// batches of up to quickBatch. Since pauses end on a grid (nextWait), the
// reals of one slot start together from one wakeup. With a goroutine and
// a timer per real instead, 10,000 reals a second cost a timer, a channel
// send and a select per check, and 10,000 parked goroutines whose stacks
// the collector scans.
//
// A batch runs the starts of its checks that never wait to start
// (quickChecker: connect, plain http) in turn, on its own goroutine:
// handing each to a goroutine of its own cost a wakeup and a thread switch
// per check, more than the user-space part of the check itself. Any other
// check (one that may block) gets a goroutine of its own from the batch.
// The checks of the batch that must wait (a connect to a far real, every
// http check for its reply) go on together in one wait set on a pool
// goroutine (waitAll), so a hung real holds up no other here either.
type sched struct {
	epoch time.Time // due times are monotonic durations since epoch

	mu      sync.Mutex
	heap    []slot        // a binary heap by due
	sleepTo time.Duration // when the loop wakes up next; 0: waits for a push
	running bool          // the loop goroutine is there
	quit    bool
	wake    chan struct{} // an earlier due time, or quit
	done    chan struct{} // closed when the loop ends
	due     []*worker     // the loop's batch, reused

	// Checks run on a pool of goroutines that wait for work between
	// checks: a goroutine per check would grow a fresh stack for each.
	// When none is idle a new one starts, so a hung check never holds up
	// another; past maxIdle idle ones, a goroutine ends after its check.
	work chan job // closed by stop
	idle atomic.Int32
}

const maxIdle = 1024

// quickBatch bounds a batch of quick checks: at some 30 µs for each
// start, a batch's starts end within a few milliseconds, and a slot with
// more due than this spreads over several goroutines (and cores).
const quickBatch = 128

// job is a pool goroutine's work: one check (w), the waiting part of a
// quick check (w with rest), a batch of quick checks, or the checks of
// a batch that wait (waits, in one wait set).
type job struct {
	w       *worker
	rest    func() Result
	initial bool
	batch   []*worker
	waits   []pendingCheck
}

func (j job) run(s *sched) {
	switch {
	case j.batch != nil:
		runBatch(s, j.batch)
	case j.waits != nil:
		waitAll(j.waits)
	case j.rest != nil:
		j.w.runRest(j.rest, j.initial)
	default:
		j.w.run()
	}
}

// slot is a heap entry: the due time is kept in the heap itself, so that
// ordering it does not visit thousands of workers.
type slot struct {
	due time.Duration
	w   *worker
}

func (s *sched) init() {
	s.epoch = time.Now()
	s.wake = make(chan struct{}, 1)
	s.done = make(chan struct{})
	s.work = make(chan job)
}

func (s *sched) now() time.Duration { return time.Since(s.epoch) }

// launch starts w's first check at once.
func (s *sched) launch(w *worker) {
	s.mu.Lock()
	w.inflight.Add(1)
	s.mu.Unlock()
	s.start(job{w: w})
}

// start runs j on an idle pool goroutine, or a new one.
func (s *sched) start(j job) {
	select {
	case s.work <- j:
	default:
		go s.serve(j)
	}
}

// serve is a pool goroutine: j, then whatever it is handed.
func (s *sched) serve(j job) {
	for {
		j.run(s)
		if s.idle.Add(1) > maxIdle {
			s.idle.Add(-1)
			return
		}
		var ok bool
		j, ok = <-s.work
		s.idle.Add(-1)
		if !ok { // stopped
			return
		}
	}
}

// again puts w back into the schedule after a check (see nextWait),
// unless it was stopped meanwhile. One reading of the clock serves both
// the grid and the due time (at 10,000 checks a second each reading is
// a vDSO call).
func (s *sched) again(w *worker, interval time.Duration, first bool) {
	t := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := t.Sub(s.epoch)
	s.after(w, now, nextWait(t, now-w.due, interval, first))
}

// after puts w into the schedule, due wait from now, unless it was
// stopped meanwhile; s.mu is held.
func (s *sched) after(w *worker, now, wait time.Duration) {
	if w.stopped || s.quit {
		return
	}
	w.due = now + wait
	s.push(w)
	if !s.running {
		s.running = true
		go s.loop()
		return
	}
	if s.sleepTo == 0 || w.due < s.sleepTo {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// drop takes w out of the schedule for good; a check it has in flight
// is not waited for here (see worker.stop). Its entry stays in the heap
// until it is due (keeping the heap free of back-pointers makes ordering
// it cheap).
func (s *sched) drop(w *worker) {
	s.mu.Lock()
	w.stopped = true // its entry, if any, is skipped when due
	s.mu.Unlock()
}

// stop ends the loop and waits for it, and lets the pool go. No check
// may be started after (Runner.Stop stops every worker first).
func (s *sched) stop() {
	s.mu.Lock()
	if s.quit {
		s.mu.Unlock()
		return
	}
	s.quit = true
	running := s.running
	s.mu.Unlock()
	if running {
		select {
		case s.wake <- struct{}{}:
		default:
		}
		<-s.done
	}
	close(s.work)
}

// loop starts what is due and sleeps until the next due time.
func (s *sched) loop() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.quit {
			s.mu.Unlock()
			return
		}
		now := s.now()
		due := s.due[:0]
		for len(s.heap) > 0 && s.heap[0].due <= now {
			due = append(due, s.pop()) // claimed by its batch (see claim)
		}
		s.sleepTo = 0
		if len(s.heap) > 0 {
			s.sleepTo = s.heap[0].due
		}
		sleep := s.sleepTo - now
		s.mu.Unlock()
		s.startDue(due)
		clear(due)
		s.due = due
		if sleep <= 0 { // nothing scheduled: wait for a push
			<-s.wake
			continue
		}
		timer.Reset(sleep)
		select {
		case <-timer.C:
		case <-s.wake:
			timer.Stop()
		}
	}
}

// startDue hands the reals that are due to pool goroutines in batches
// (runBatch), without looking at them: at 10,000 reals each worker is cold
// by its next check, and a look here, on the loop's core, cost a cache miss
// that the batch, often on the other core, then paid again.
func (s *sched) startDue(due []*worker) {
	if len(due) == 0 {
		return
	}
	due = slices.Clone(due) // the loop reuses its own
	size := batchSize(len(due))
	for i := 0; i < len(due); i += size {
		end := min(i+size, len(due))
		s.start(job{batch: due[i:end:end]})
	}
}

// claim takes the due reals of a batch that are still scheduled (a real
// stopped since it was due is skipped) and counts each one's check in
// flight, under s.mu as drop is, so that worker.stop either sees the check
// in flight or the batch sees the real stopped. It appends to lags how
// long after its due time each claimed real's check is being started (the
// schedule's lag: a late wakeup, a busy machine), read from one clock
// reading for the batch.
func (s *sched) claim(ws []*worker, lags []time.Duration) ([]*worker, []time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n := 0
	for _, w := range ws {
		if !w.stopped {
			w.inflight.Add(1)
			ws[n] = w
			n++
			lags = append(lags, max(now-w.due, 0))
		}
	}
	clear(ws[n:])
	return ws[:n], lags
}

// batchSize is the size of the batches n quick checks go in: at most
// quickBatch, and even (300 make three of 100, not 128, 128 and 44).
func batchSize(n int) int {
	batches := (n + quickBatch - 1) / quickBatch
	return (n + batches - 1) / batches
}

// The heap, by due time.

func (s *sched) push(w *worker) {
	s.heap = append(s.heap, slot{w.due, w})
	h := s.heap
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].due <= h[i].due {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (s *sched) pop() *worker {
	h := s.heap
	w := h[0].w
	last := len(h) - 1
	h[0] = h[last]
	h[last] = slot{}
	h = h[:last]
	s.heap = h
	for i, n := 0, len(h); ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].due < h[l].due {
			m = r
		}
		if h[i].due <= h[m].due {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return w
}
