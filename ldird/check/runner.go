package check

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// State of a real server as the scheduler sees it.
type State int8

const (
	// Unknown: not checked yet and no state given by the caller.
	Unknown State = iota
	Up
	Down
)

func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "unknown"
}

// DefaultInterval is ldirectord's checkinterval default.
const DefaultInterval = 10 * time.Second

// RealConfig is one real server to check.
type RealConfig struct {
	// Key identifies the real to the caller (e.g. ldirectord's real id
	// string); events carry it back.
	Key     string
	Target  Target
	Checker Checker
	// Interval is checkinterval: the pause after a check completes before
	// the next one starts (ldirectord sleeps after a pass). Default 10 s.
	Interval time.Duration
	// FailureCount is failurecount: consecutive failures of an up real before
	// it goes down. A single success brings a real back up. Default 1.
	FailureCount int
	// Initial is the state known before any check, e.g. Up for a real found
	// in the kernel table with weight > 0 at start (ldirectord's ld_start),
	// so that with failurecount > 1 a restart does not take it down at once.
	Initial State
	// Timeout, if > 0, is a hard cap on each check on top of the checker's
	// own checktimeout/negotiatetimeout.
	Timeout time.Duration
	// Tag is the caller's own, handed back in the real's events: what it
	// keeps per real, reached without a look-up by Key on every result.
	Tag any
}

// Event reports a check result.
type Event struct {
	Key    string
	Target Target
	State  State // Up or Down after this result
	// Changed is true when State differs from the state before this check
	// (always true for the first result of a real whose Initial was Unknown).
	Changed bool
	// Initial marks the first result after Add (the startup round).
	Initial bool
	// Failures is the number of consecutive failed checks.
	Failures int
	Result   Result
	Tag      any // RealConfig.Tag
}

// Up reports whether the real is up after this event.
func (e Event) Up() bool { return e.State == Up }

// Status is a snapshot of one real.
type Status struct {
	State    State
	Failures int
	Checks   uint64 // completed checks
	Last     Result
}

// RunnerOptions configures a Runner.
type RunnerOptions struct {
	// Notify receives events. It is called from the goroutine that ran the
	// check (concurrently for different reals; a batch of connect checks
	// calls it for each of its reals in turn) and must not block for long
	// nor call Remove/Replace/Stop for the same runner.
	Notify func(Event)
	// EveryResult delivers every check result (for monitorfile), not only
	// the first result of a real and state changes.
	EveryResult bool
	// StartDelay, when set, is told for every scheduled check (not a
	// real's first, which starts at once) how long after its due time it
	// was started: the schedule's lag. It is called from the batches'
	// goroutines, concurrently, and must be quick (a histogram).
	StartDelay func(time.Duration)
	Logger     *slog.Logger
}

// Runner schedules checks. Each check runs in a goroutine of its own (those
// that seldom wait in batches, see sched), so a hung real never delays another; between checks a real is only an entry
// in the runner's schedule, which one goroutine keeps (see sched).
type Runner struct {
	opts    RunnerOptions
	log     *slog.Logger
	mu      sync.Mutex
	workers map[string]*worker
	stopped bool
	sched   sched
	late    lateLog
	socks   sockPool
}

// ErrExists is returned by Add for a key that is already scheduled.
var ErrExists = errors.New("real already scheduled")

// ErrStopped is returned after Stop.
var ErrStopped = errors.New("runner stopped")

// NewRunner returns a Runner with no reals.
func NewRunner(opts RunnerOptions) *Runner {
	l := opts.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	r := &Runner{opts: opts, log: l, workers: make(map[string]*worker)}
	r.late.log = l
	r.sched.init()
	return r
}

type worker struct {
	r      *Runner
	cfg    RealConfig
	ctx    *realCtx // &rctx
	rctx   realCtx
	first  chan struct{} // closed after the first check
	checks atomic.Uint64

	// Scheduling, under r.sched.mu: due is when the next check starts
	// (monotonic, since sched.epoch); stopped: never again; inflight
	// counts its running check.
	due      time.Duration
	stopped  bool
	initial  bool // the next check is the first after Add/Replace
	started  bool // a check has completed
	inflight sync.WaitGroup

	mu       sync.Mutex
	state    State
	failures int
	last     Result
}

func normalize(rc RealConfig) (RealConfig, error) {
	if rc.Key == "" {
		return rc, errors.New("real config without key")
	}
	if rc.Checker == nil {
		return rc, fmt.Errorf("real %s: no checker", rc.Key)
	}
	if rc.Interval <= 0 {
		rc.Interval = DefaultInterval
	}
	if rc.FailureCount <= 0 {
		rc.FailureCount = 1
	}
	return rc, nil
}

// Add schedules a real; its first check starts at once.
func (r *Runner) Add(rc RealConfig) error {
	rc, err := normalize(rc)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrStopped
	}
	if _, ok := r.workers[rc.Key]; ok {
		return fmt.Errorf("%w: %s", ErrExists, rc.Key)
	}
	r.start(rc, rc.Initial, 0, true)
	return nil
}

// Replace swaps the configuration of a scheduled real (reload) and keeps its
// state and failure count, so a changed check does not make it flap. The
// new check runs at once. An unknown key is added.
func (r *Runner) Replace(rc RealConfig) error {
	rc, err := normalize(rc)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return ErrStopped
	}
	old := r.workers[rc.Key]
	delete(r.workers, rc.Key)
	r.mu.Unlock()
	state, failures, initial := rc.Initial, 0, true
	if old != nil {
		old.stop()
		if old.cfg.Target != rc.Target {
			forget(old.cfg.Checker, old.cfg.Target)
		}
		old.mu.Lock()
		state, failures, initial = old.state, old.failures, false
		old.mu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrStopped
	}
	if _, ok := r.workers[rc.Key]; ok { // added concurrently
		return fmt.Errorf("%w: %s", ErrExists, rc.Key)
	}
	r.start(rc, state, failures, initial)
	return nil
}

// start schedules a worker's first check at once; r.mu is held.
func (r *Runner) start(rc RealConfig, state State, failures int, initial bool) {
	w := &worker{r: r, cfg: rc, first: make(chan struct{}),
		state: state, failures: failures, initial: initial}
	w.rctx.init()
	w.rctx.socks = &r.socks
	w.ctx = &w.rctx
	r.workers[rc.Key] = w
	r.sched.launch(w)
}

// Remove stops checking a real (aborting a check in flight) and waits for
// its goroutine; no event for key is delivered after it returns.
func (r *Runner) Remove(key string) bool {
	r.mu.Lock()
	w := r.workers[key]
	delete(r.workers, key)
	r.mu.Unlock()
	if w == nil {
		return false
	}
	w.stop()
	forget(w.cfg.Checker, w.cfg.Target)
	return true
}

// forget drops per-real state a checker keeps (combined's num_connects).
func forget(c Checker, t Target) {
	if f, ok := c.(interface{ Forget(Target) }); ok {
		f.Forget(t)
	}
}

// Keys lists the scheduled reals, sorted.
func (r *Runner) Keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.workers))
	for k := range r.workers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Status returns a snapshot of one real.
func (r *Runner) Status(key string) (Status, bool) {
	r.mu.Lock()
	w := r.workers[key]
	r.mu.Unlock()
	if w == nil {
		return Status{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return Status{State: w.state, Failures: w.failures, Checks: w.checks.Load(), Last: w.last}, true
}

// WaitStartup blocks until every real scheduled now has completed its first
// check (the startup round), or ctx ends. A director publishes "down" only
// after this, so a restart does not flap reals that are merely unchecked.
func (r *Runner) WaitStartup(ctx context.Context) error {
	r.mu.Lock()
	firsts := make([]chan struct{}, 0, len(r.workers))
	for _, w := range r.workers {
		firsts = append(firsts, w.first)
	}
	r.mu.Unlock()
	for _, f := range firsts {
		select {
		case <-f:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the startup round: %w", ctx.Err())
		}
	}
	return nil
}

// Stop cancels every check and waits for all goroutines to end.
func (r *Runner) Stop() {
	r.mu.Lock()
	r.stopped = true
	ws := r.workers
	r.workers = make(map[string]*worker)
	r.mu.Unlock()
	for _, w := range ws {
		w.r.sched.drop(w)
		w.ctx.cancel()
	}
	for _, w := range ws {
		w.inflight.Wait()
	}
	r.sched.stop()
	r.late.stop()
	r.socks.close()
}

// stop ends a worker: out of the schedule, its check in flight aborted and
// waited for.
func (w *worker) stop() {
	w.r.sched.drop(w)
	w.ctx.cancel()
	w.inflight.Wait()
}

// run is one check, on a pool goroutine; then the real goes back into
// the schedule.
func (w *worker) run() {
	initial := w.takeInitial()
	if w.ctx.Err() == nil { // not removed or stopped before it began
		var ctx context.Context = w.ctx
		var cancel context.CancelFunc
		if w.cfg.Timeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, w.cfg.Timeout)
		}
		res := w.cfg.Checker.Check(ctx, w.cfg.Target)
		if cancel != nil {
			cancel()
		}
		w.report(res, initial)
	}
	w.done()
}

// runBatch runs the checks of the batch's reals that are still scheduled
// (claim): those of quick checkers in turn on this goroutine, any other
// on a goroutine of its own. The quick checks that must wait for their
// sockets go on together in one wait set on a pool goroutine (waitAll),
// any other quick check that must wait with its rest on a pool goroutine
// of its own (runRest): the batch never waits for one real.
func runBatch(s *sched, ws []*worker) {
	var waits []pendingCheck
	var buf [quickBatch]time.Duration
	ws, lags := s.claim(ws, buf[:0])
	for i, w := range ws {
		w.r.started(lags[i], w.cfg.Interval)
		q := w.quick()
		if q == nil { // a check that may block: on a goroutine of its own
			s.start(job{w: w})
			continue
		}
		initial := w.takeInitial()
		if w.ctx.Err() != nil {
			w.done()
			continue
		}
		st := q.begin(w.ctx, w.cfg.Target)
		switch {
		case st.wait != nil:
			waits = append(waits, pendingCheck{w: w, c: st.wait, initial: initial})
		case st.rest != nil:
			s.start(job{w: w, rest: st.rest, initial: initial})
		default:
			w.report(st.res, initial)
			w.done()
		}
	}
	if len(waits) > 0 {
		s.start(job{waits: waits})
	}
}

// runRest ends a quick check that had to wait.
func (w *worker) runRest(rest func() Result, initial bool) {
	w.report(rest(), initial)
	w.done()
}

// quick is w's checker when its checks can run in a batch: a
// quickChecker without a cap of the Runner's own (that needs a context
// with a timer per check).
func (w *worker) quick() quickChecker {
	if q, ok := w.cfg.Checker.(quickChecker); ok && w.cfg.Timeout <= 0 {
		return q
	}
	return nil
}

func (w *worker) takeInitial() bool {
	initial := w.initial
	w.initial = false
	return initial
}

// done ends a check: the first one releases WaitStartup, and the real
// goes back into the schedule.
func (w *worker) done() {
	defer w.inflight.Done()
	first := !w.started
	w.started = true
	if first {
		close(w.first)
	}
	w.r.sched.again(w, w.cfg.Interval, first)
}

// Check times. Every real started at once (start-up, a reload that changed
// every check) would otherwise stay in step: 10,000 checks woken in the
// same millisecond every interval wait behind each other for the CPU, and
// at 1 s intervals on two cores some wait past their own timeout. So the
// first pause after a real's first check is drawn from (0, Interval] (never
// later than the interval), which spreads the reals over the interval; and
// every pause ends on a 20 ms grid, so the reals of one slot keep waking
// together (a wakeup is dearer than the check it runs). Intervals under
// 200 ms are left as they are.
//
// After that a real keeps its slot: the next check is due Interval after
// the last one was due, not after it completed, as long as the check took
// at most half the interval. Counted from completion, every check slower
// than half a grid step moved its real to a later slot, so busy slots
// shed reals onto their neighbours, which grew busier and slower in turn:
// at 10,000 http checks a second the checks' latency grew to a p90 of
// 200 ms, the period to 1.1 s and only 84 % of rounds came on time,
// with the CPU a fifth idle. A slower check (a hung real, a timeout) is
// followed by a full interval's pause, as ldirectord pauses between rounds.
const (
	checkGrid     = 20 * time.Millisecond
	checkGridFrom = 200 * time.Millisecond
)

// nextWait is the pause after a check that completed at now, sinceDue
// after it was due (its latency, and how late it started).
func nextWait(now time.Time, sinceDue, interval time.Duration, first bool) time.Duration {
	if interval < checkGridFrom {
		return interval
	}
	wait := interval
	switch {
	case first:
		wait = time.Duration(rand.Int64N(int64(interval))) + 1
	case sinceDue <= interval/2:
		wait = interval - sinceDue // keep the slot
	}
	at := now.UnixNano() + int64(wait)
	at = (at + int64(checkGrid)/2) / int64(checkGrid) * int64(checkGrid)
	return max(time.Duration(at-now.UnixNano()), 0)
}

// report applies a check's result and tells Notify, unless the real was
// removed or stopped mid-check (the result then means nothing).
func (w *worker) report(res Result, initial bool) {
	if w.ctx.Err() != nil {
		return
	}
	w.checks.Add(1)
	ev := w.apply(res, initial)
	if (ev.Changed || ev.Initial || w.r.opts.EveryResult) && w.r.opts.Notify != nil {
		w.r.opts.Notify(ev)
	}
}

// apply is ldirectord's service_set/_service_up/_service_down for one result.
// It logs after releasing w.mu: a slow log handler must not hold up Status
// (which the director calls for every real on each table pass).
func (w *worker) apply(res Result, initial bool) Event {
	w.mu.Lock()
	w.last = res
	prev := w.state
	resetFrom, soft := 0, 0
	if res.OK {
		resetFrom = w.failures
		w.failures = 0
		w.state = Up
	} else if w.state == Up {
		w.failures++
		if w.failures < w.cfg.FailureCount {
			soft = w.failures
		} else {
			w.state = Down
		}
	} else {
		// Already down (or unknown): ldirectord does not count further.
		if w.state == Unknown {
			w.failures = 1
		}
		w.state = Down
	}
	ev := Event{Key: w.cfg.Key, Target: w.cfg.Target, State: w.state, Changed: w.state != prev,
		Initial: initial, Failures: w.failures, Result: res, Tag: w.cfg.Tag}
	w.mu.Unlock()
	log := w.r.log
	switch {
	case resetFrom > 0:
		log.Info("resetting soft failure count", "real", w.cfg.Target.String(), "key", w.cfg.Key, "failures", resetFrom)
	case soft > 0:
		log.Warn("soft failure", "real", w.cfg.Target.String(), "key", w.cfg.Key,
			"failure", soft, "of", w.cfg.FailureCount, "err", res.Err)
	}
	if ev.Changed {
		if ev.State == Up {
			log.Info("real server up", "real", w.cfg.Target.String(), "key", w.cfg.Key, "detail", res.Detail)
		} else {
			log.Warn("real server down", "real", w.cfg.Target.String(), "key", w.cfg.Key, "err", res.Err)
		}
	}
	return ev
}

// realCtx is a real's context, cancelled when the real is removed or the
// runner stops. A check on a bare socket hands it the one wait it is in
// (waitOn: its socket in the runtime's poller, or its batch's wait set),
// for cancel to interrupt: a field, where context.AfterFunc would make a
// child context and a map entry for every check.
type realCtx struct {
	context.Context
	cancelCtx context.CancelFunc

	mu     sync.Mutex
	done   bool
	waiter interrupter
	// cancelled mirrors done for Err, which checks ask often: a flag
	// beside the worker instead of the cancel context's own state.
	cancelled atomic.Bool
	// socks is the Runner's pool of sockets, which the checks' connects
	// take from and give back to (see sockPool).
	socks *sockPool
}

// Err is the context's error, from a flag: set before Done closes (so a
// closed Done always comes with an error), and only cancel sets it.
func (c *realCtx) Err() error {
	if c.cancelled.Load() {
		return context.Canceled
	}
	return nil
}

// Deadline: a real's context has none (its parent is Background); said
// here, the question costs no walk up the context chain on every check.
func (c *realCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c *realCtx) init() {
	c.Context, c.cancelCtx = context.WithCancel(context.Background())
}

func (c *realCtx) cancel() {
	c.cancelled.Store(true)
	c.cancelCtx()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	if c.waiter != nil {
		c.waiter.interrupt()
	}
}

// waitOn registers w as the wait to interrupt on cancel; false when the
// context is done or has a wait already (then the caller uses
// context.AfterFunc).
func (c *realCtx) waitOn(w interrupter) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || c.waiter != nil {
		return false
	}
	c.waiter = w
	return true
}

// waitOff forgets w (before its socket or wait set is closed). cancel
// interrupts under the same lock, so once waitOff returns w is never
// interrupted.
func (c *realCtx) waitOff(w interrupter) {
	c.mu.Lock()
	if c.waiter == w {
		c.waiter = nil
	}
	c.mu.Unlock()
}

// interrupter ends a wait when a real's context is cancelled.
type interrupter interface{ interrupt() }

// fileWaiter interrupts a wait in the runtime's poller: the socket's
// deadline moves to the past.
type fileWaiter struct{ f *os.File }

func (w fileWaiter) interrupt() { _ = w.f.SetDeadline(time.Unix(1, 0)) }
