package check

import (
	"log/slog"
	"sync"
	"time"
)

// A scheduled check that starts more than a quarter of its interval after
// it was due (at least lateMin) is late: the gap between two checks of its
// real grows past 1.25 intervals, and a real that fails is taken out that
// much later. It happens when ldird or its machine cannot keep up (too
// many checks for the CPU, a machine that stalls), and nothing else would
// say so; so it is counted (RunnerOptions.StartDelay, a metric) and
// logged, the first time at once and then at most once every lateEvery,
// each warning counting the late checks since the one before.
const (
	lateMin   = 50 * time.Millisecond // below: a collection's pause, a timer's slack
	lateEvery = time.Minute
)

// started takes the lag of a check its batch starts (see sched.claim).
func (r *Runner) started(lag, interval time.Duration) {
	if f := r.opts.StartDelay; f != nil {
		f(lag)
	}
	if lag > max(interval/4, lateMin) {
		r.late.note(lag)
	}
}

// lateLog counts late checks and warns about them, rate-limited.
type lateLog struct {
	log *slog.Logger
	now func() time.Time // time.Now; a test's clock

	mu      sync.Mutex
	n       int           // late checks not told yet
	worst   time.Duration // the largest lag among them
	from    time.Time     // when the first of them was noted
	last    time.Time     // the last warning
	timer   *time.Timer   // tells them once lateEvery has passed since last
	stopped bool
}

// clock is the time now.
func (l *lateLog) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// note counts a check that started lag late: told at once unless a
// warning went out less than lateEvery ago, else when that much has passed.
func (l *lateLog) note(lag time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	now := l.clock()
	if l.n == 0 {
		l.from = now
	}
	l.n++
	l.worst = max(l.worst, lag)
	if l.timer != nil { // a warning is due already
		return
	}
	if wait := l.last.Add(lateEvery).Sub(now); !l.last.IsZero() && wait > 0 {
		l.timer = time.AfterFunc(wait, l.flush)
		return
	}
	l.tell(now)
}

// flush tells the late checks counted since the last warning.
func (l *lateLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop() // when called before its time
		l.timer = nil
	}
	if l.stopped || l.n == 0 {
		return
	}
	l.tell(l.clock())
}

// tell warns about the late checks counted; l.mu is held.
func (l *lateLog) tell(now time.Time) {
	l.log.Warn("health checks started late: ldird or its machine is not keeping up with them",
		"checks", l.n, "worst", l.worst.Round(time.Millisecond),
		"within", now.Sub(l.from).Round(time.Millisecond),
		"late", "more than a quarter of checkinterval (at least 50ms) after due")
	l.last = now
	l.n, l.worst = 0, 0
}

// stop ends the warnings (Runner.Stop).
func (l *lateLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
}
