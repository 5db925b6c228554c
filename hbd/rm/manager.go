package rm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lvsha/hbd/membership"
	"lvsha/hbd/wire"
)

// Options configure a Manager.
type Options struct {
	Machine Config
	Exec    *Executor
	// Send signs and sends a cluster message (daemon.Send).
	Send func(*wire.Message) error
	Log  *slog.Logger
	Now  func() time.Time // defaults to time.Now
	// Keep means groups found running at start belong to this node (a
	// re-exec after an ha.cf change). Otherwise they are leftovers of a
	// crashed run and are stopped before anything is acquired.
	Keep bool
	// JobTimeout bounds one group start or stop (all its resources).
	JobTimeout time.Duration
	// Ping, when set, reports how many ping nodes this node reaches; the
	// peer's figure comes in its status heartbeats (PingField).
	Ping func() int
	// Fencer resets a node for the machine's Fence action: the STONITH
	// device (hbd/fence). Required when Machine.Fencing is set.
	Fencer Fencer
}

// Fencer resets a node and says how it went (OK, badhost or bad) and, on
// failure, why. It blocks for as long as the device takes (meatware waits
// for an operator) or until ctx ends.
type Fencer interface {
	Reset(ctx context.Context, node string) (FenceResult, string)
}

// PingField is the status field carrying a node's ping-node reachability.
// Heartbeat ignores it; between two hbd nodes it drives the built-in ipfail.
const PingField = wire.FieldPingNodes

// Manager drives a Machine: it feeds it messages and events from the daemon,
// local requests from the control socket and the clock, sends what it asks
// and runs its group jobs one at a time on a worker.
type Manager struct {
	opt     Options
	machine *Machine // touched only on the loop goroutine
	log     *slog.Logger
	now     func() time.Time
	hold    atomic.Value // string: what rscstatus prints

	mu    sync.Mutex
	queue []func()
	wake  chan struct{}
	jobs  chan Action
	// announce feeds the announcer, apart from the job worker: an ARP
	// burst takes about a second and must not hold up a group move.
	announce chan Announce
	exited   chan struct{}
	exitOne  sync.Once

	transitions atomic.Uint64
	failures    atomic.Uint64
	journal     journal                    // the group moves, for status
	holdings    atomic.Pointer[Holdings]   // who holds what, for status
	fence       atomic.Pointer[FenceState] // the machine's, after each input
	ctx         context.Context            // Run's: fence attempts end with it

	peerPing map[string]int // loop goroutine only
}

// NewManager builds a Manager; call Run to start it.
func NewManager(opt Options) *Manager {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.JobTimeout == 0 {
		opt.JobTimeout = 10 * time.Minute
	}
	mg := &Manager{opt: opt, machine: New(opt.Machine, opt.Log), log: opt.Log, now: opt.Now,
		wake: make(chan struct{}, 1), jobs: make(chan Action, 64), announce: make(chan Announce, 4), exited: make(chan struct{})}
	mg.hold.Store("none")
	mg.fence.Store(&FenceState{})
	mg.ctx = context.Background()
	mg.peerPing = map[string]int{}
	return mg
}

// post queues work for the loop. The queue is unbounded so the daemon,
// which calls in while holding its own lock, never waits on us.
func (mg *Manager) post(f func()) {
	mg.mu.Lock()
	mg.queue = append(mg.queue, f)
	mg.mu.Unlock()
	select {
	case mg.wake <- struct{}{}:
	default:
	}
}

// Message implements daemon.Handler.
func (mg *Manager) Message(msg *wire.Message) {
	if msg.Type() == wire.MsgStatus {
		if v, ok := msg.Lookup(PingField); ok {
			if n, err := strconv.Atoi(v); err == nil {
				src := strings.ToLower(msg.Get(wire.FieldSrc))
				mg.post(func() { mg.peerPing[src] = n })
			}
		}
		return
	}
	if !Handles(msg.Type()) {
		return
	}
	mg.post(func() { mg.apply(mg.machine.Message(mg.now(), msg)) })
}

// Event implements daemon.Handler.
func (mg *Manager) Event(ev membership.Event) {
	switch ev.Kind {
	case membership.CommUp:
		mg.post(func() { mg.apply(mg.machine.CommUp(mg.now())) })
	case membership.NodeDead:
		mg.post(func() { mg.apply(mg.machine.NodeDead(mg.now(), ev.Node)) })
	case membership.NodeReturned:
		mg.post(func() { mg.apply(mg.machine.PeerReturned(mg.now(), ev.Node)) })
	case membership.NodeStatusChanged:
		mg.post(func() { mg.apply(mg.machine.PeerStatus(mg.now(), ev.Node, ev.Status)) })
	}
}

// State implements daemon.Resources: none, local, foreign, all or
// transition.
func (mg *Manager) State() string { return mg.hold.Load().(string) }

// call runs f on the loop and waits for its error.
func (mg *Manager) call(f func() ([]Action, error)) error {
	done := make(chan error, 1)
	mg.post(func() {
		acts, err := f()
		mg.apply(acts)
		done <- err
	})
	select {
	case err := <-done:
		return err
	case <-mg.exited:
		return errors.New("resource manager stopped")
	}
}

// Standby implements daemon.Resources (hb_standby).
func (mg *Manager) Standby(set string) error {
	s, err := ParseSet(set)
	if err != nil {
		return err
	}
	return mg.call(func() ([]Action, error) { return mg.machine.Standby(mg.now(), s) })
}

// Takeover implements daemon.Resources (hb_takeover).
func (mg *Manager) Takeover(set string) error {
	return mg.call(func() ([]Action, error) { return mg.machine.Takeover(mg.now(), set) })
}

// Shutdown releases every group and sends shutdone (Heartbeat's graceful
// stop), returning when that is done or ctx ends.
func (mg *Manager) Shutdown(ctx context.Context) error {
	mg.post(func() { mg.apply(mg.machine.Shutdown(mg.now())) })
	select {
	case <-mg.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shutdown: %w", ctx.Err())
	}
}

// Counters reports resource transitions and failures for cl_status counters
// and metrics.
func (mg *Manager) Counters() map[string]uint64 {
	return map[string]uint64{"rsc_transitions": mg.transitions.Load(), "rsc_failures": mg.failures.Load()}
}

// apply carries out the machine's actions in order.
func (mg *Manager) apply(acts []Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			if err := mg.opt.Send(a.Msg); err != nil {
				mg.log.Error("cannot send", "t", a.Msg.Type(), "err", err)
			}
		case Acquire, Release:
			mg.jobs <- a
		case Announce:
			select {
			case mg.announce <- a:
			default:
				mg.log.Warn("an announcement is already queued: skipped", "groups", strings.Join(a.Keys, " "), "why", a.Why)
			}
		case Exit:
			mg.exitOne.Do(func() { close(mg.exited) })
		case Fence:
			mg.startFence(a)
		}
	}
	mg.publish()
}

// startFence runs one reset attempt beside the loop and the job worker: a
// reset may take long (meatware waits for a person), and heartbeats and
// group jobs go on meanwhile.
func (mg *Manager) startFence(a Fence) {
	if mg.opt.Fencer == nil {
		mg.post(func() { mg.apply(mg.machine.FenceDone(mg.now(), a.ID, FenceFailed, "no STONITH device configured")) })
		return
	}
	ctx := mg.ctx
	go func() {
		res, detail := mg.opt.Fencer.Reset(ctx, a.Node)
		mg.post(func() { mg.apply(mg.machine.FenceDone(mg.now(), a.ID, res, detail)) })
	}()
}

// FenceState reports the reset in progress (cl_status fencestatus).
func (mg *Manager) FenceState() FenceState { return *mg.fence.Load() }

// Run processes inputs until ctx ends.
func (mg *Manager) Run(ctx context.Context) {
	mg.ctx = ctx // read by apply, which runs on this goroutine
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); mg.worker(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); mg.announcer(ctx) }()
	defer wg.Wait()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-mg.wake:
			for {
				mg.mu.Lock()
				q := mg.queue
				mg.queue = nil
				mg.mu.Unlock()
				if len(q) == 0 {
					break
				}
				for _, f := range q {
					f()
				}
			}
		case <-tick.C:
			now := mg.now()
			mg.apply(mg.machine.Tick(now))
			if mg.opt.Ping != nil {
				for _, n := range mg.peerPing { // two-node pairs: the one peer
					mg.apply(mg.machine.Connectivity(now, mg.opt.Ping(), n))
				}
			}
		}
	}
}

// worker runs group jobs one at a time, first clearing leftovers of a
// previous run.
func (mg *Manager) worker(ctx context.Context) {
	mg.startup(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-mg.jobs:
			id, failed, report := mg.runJob(ctx, a)
			// The machine first (its next message may be what the peer
			// waits for to take over), the log line after.
			mg.post(func() { mg.apply(mg.machine.JobDone(mg.now(), id, failed)) })
			report()
		}
	}
}

// announcer re-announces groups (healed partitions). A newer announcement
// cuts the running burst short: "the peer released its copy" must reach
// the neighbours at once, not after the burst sent while the peer still
// answered for the address.
func (mg *Manager) announcer(ctx context.Context) {
	stop := func() {}
	defer func() { stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-mg.announce:
			stop()
			stop = mg.startBurst(ctx, a)
		}
	}
}

// errSuperseded is why a running announcement burst was stopped (logs).
var errSuperseded = errors.New("a newer announcement replaced it")

// startBurst runs one announcement in the background; the returned func
// cancels it and waits for it to end.
func (mg *Manager) startBurst(ctx context.Context, a Announce) func() {
	tctx, cancelT := context.WithTimeout(ctx, mg.opt.JobTimeout)
	bctx, cancel := context.WithCancelCause(tctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		mg.burst(bctx, a)
	}()
	return func() { cancel(errSuperseded); cancelT(); <-done }
}

func (mg *Manager) burst(ctx context.Context, a Announce) {
	for _, k := range a.Keys {
		if !mg.opt.Exec.Running(ctx, k) {
			continue
		}
		mg.log.Info("re-announcing resource group", "group", k, "why", a.Why)
		if err := mg.opt.Exec.Announce(ctx, k); err != nil && ctx.Err() == nil {
			mg.log.Warn("re-announcement failed", "group", k, "err", err)
		}
	}
}

func (mg *Manager) startup(ctx context.Context) {
	ex := mg.opt.Exec
	var kept []string
	for _, g := range mg.opt.Machine.Groups {
		if !ex.Running(ctx, g.Key) {
			continue
		}
		if mg.opt.Keep {
			kept = append(kept, g.Key)
			continue
		}
		mg.log.Warn("resource group is running but this node has just started: stopping it", "group", g.Key)
		jctx, cancel := context.WithTimeout(ctx, mg.opt.JobTimeout)
		if err := ex.Give(jctx, g.Key); err != nil {
			mg.log.Error("cannot stop a leftover group", "group", g.Key, "err", err)
		}
		cancel()
	}
	if mg.opt.Keep {
		mg.post(func() {
			set := mg.machine.Assume(kept)
			mg.log.Info("keeping the resources of the previous run", "holding", set.String(), "groups", strings.Join(kept, " "))
			mg.publish()
		})
	}
}

// runJob runs a group job; report logs its outcome.
func (mg *Manager) runJob(ctx context.Context, a Action) (id int, failed []string, report func()) {
	var keys []string
	var acquire bool
	var why string
	switch a := a.(type) {
	case Acquire:
		id, keys, acquire, why = a.ID, a.Keys, true, a.Why
	case Release:
		id, keys, why = a.ID, a.Keys, a.Why
	}
	verb := "release"
	if acquire {
		verb = "acquire"
	}
	start := mg.now()
	for _, k := range keys {
		jctx, cancel := context.WithTimeout(ctx, mg.opt.JobTimeout)
		var err error
		if acquire {
			err = mg.opt.Exec.Take(jctx, k)
		} else {
			err = mg.opt.Exec.Give(jctx, k)
		}
		cancel()
		mg.transitions.Add(1)
		if err != nil {
			mg.failures.Add(1)
			failed = append(failed, k)
			mg.log.Error("resource group "+verb+" failed", "group", k, "err", err)
		}
	}
	took := mg.now().Sub(start)
	if len(keys) > 0 {
		mg.journal.add(Transition{At: start, Acquire: acquire, Groups: keys, Why: why, Took: took, Failed: failed})
	}
	return id, failed, func() {
		if len(keys) > 0 {
			mg.log.Info("resource groups "+verb+"d", "groups", strings.Join(keys, " "), "why", why,
				"took", took.Round(time.Microsecond), "failed", len(failed))
		}
	}
}
