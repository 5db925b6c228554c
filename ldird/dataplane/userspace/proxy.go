package userspace

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/ldird/dataplane"
)

// Options tune a Proxy. The zero value is usable.
type Options struct {
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// ConnectTimeout bounds a connect to a real (default 3s). On failure
	// the scheduler is asked once more for another real.
	ConnectTimeout time.Duration
	// ClientTimeout resets a TCP connection when nothing moved to or from
	// the client for that long; ServerTimeout the same on the real's side
	// (HAProxy's timeout client and timeout server). Default 900s each,
	// IPVS's TCP established timeout. A service's own
	// dataplane.Service.ClientTimeout / ServerTimeout win.
	ClientTimeout time.Duration
	ServerTimeout time.Duration
	// MaxConns bounds TCP connections and UDP sessions over all services
	// (HAProxy's global maxconn); 0 means DefaultMaxConns(), derived from
	// the file descriptor limit. A service's own limit is
	// dataplane.Service.MaxConns.
	MaxConns int
	// UDPTimeout ends a UDP session after that long without a datagram
	// either way (default 300s, IPVS's udp timeout).
	UDPTimeout time.Duration
	// ExpireQuiescentTemplate mirrors the IPVS sysctl of that name: when
	// true, a persistent client whose real went to weight 0 is scheduled
	// afresh; when false (the kernel default) it keeps going to that real.
	ExpireQuiescentTemplate bool
	// CloseTimeout bounds how long Close waits for goroutines (default 5s).
	CloseTimeout time.Duration
	// LogInterval rate-limits per-connection warnings (no real, failed
	// connects, limits reached, accept errors): the first of a kind per
	// service is logged at once, then one line per interval says how many
	// followed (default 5s).
	LogInterval time.Duration
}

// Proxy is a userspace L4 dataplane: one listener per virtual service,
// connections relayed to the reals. It implements dataplane.Dataplane.
type Proxy struct {
	opts Options
	log  *slog.Logger
	rl   *rateLog
	base time.Time // the relay loops' clock starts here

	// gate counts every TCP connection and UDP session against MaxConns.
	gate *gate

	mu     sync.Mutex // serialises table changes
	svcs   map[string]*service
	closed bool
	loops  []*loop // started with the first TCP service
	next   atomic.Uint32
	// poller wakes pollerWaker (see wakePoller); nil with a single loop.
	// done ends pollerWaker.
	poller chan struct{}
	done   chan struct{}
	parked atomic.Int32 // loops waiting in the netpoller

	// live holds every UDP session so Close can end them; DelService
	// leaves TCP connections running (their loops own them).
	liveMu     sync.Mutex
	live       map[io.Closer]struct{}
	liveClosed bool

	wg sync.WaitGroup
}

var _ dataplane.Dataplane = (*Proxy)(nil)

// New returns an empty Proxy.
func New(opts Options) *Proxy {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 3 * time.Second
	}
	if opts.ClientTimeout <= 0 {
		opts.ClientTimeout = DefaultIdleTimeout
	}
	if opts.ServerTimeout <= 0 {
		opts.ServerTimeout = DefaultIdleTimeout
	}
	explicit := opts.MaxConns > 0
	if !explicit {
		opts.MaxConns = DefaultMaxConns()
	}
	if opts.UDPTimeout <= 0 {
		opts.UDPTimeout = 300 * time.Second
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = 5 * time.Second
	}
	if opts.LogInterval <= 0 {
		opts.LogInterval = 5 * time.Second
	}
	p := &Proxy{
		opts: opts,
		log:  opts.Logger,
		rl:   newRateLog(opts.Logger, opts.LogInterval),
		base: time.Now(),
		gate: newGate(opts.MaxConns),
		svcs: map[string]*service{},
		live: map[io.Closer]struct{}{},
	}
	if explicit {
		p.checkFDs(opts.MaxConns)
	}
	return p
}

// checkFDs warns when a configured limit is above what the descriptor
// limit allows with room to spare: the proxy then meets EMFILE (and backs
// off), but the health checks meet it too, and a check that cannot open a
// socket marks its real down.
func (p *Proxy) checkFDs(n int) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	if safe := maxConnsFor(rl.Cur); n > safe {
		p.log.Warn("maxconn is above what the file descriptor limit allows (two per connection, plus room for checks): expect EMFILE and failing checks; raise LimitNOFILE or lower maxconn",
			"maxconn", n, "nofile", rl.Cur, "safe", safe)
	}
}

// DefaultIdleTimeout is the default client and server idle timeout: IPVS's
// timeout for an established TCP connection.
const DefaultIdleTimeout = 900 * time.Second

// SetMaxConns changes the proxy-wide limit (0: DefaultMaxConns()), for a
// reload. Connections above a lowered limit are not cut: new ones wait
// until enough have ended.
func (p *Proxy) SetMaxConns(n int) {
	if n <= 0 {
		n = DefaultMaxConns()
	} else if int64(n) != p.gate.max.Load() {
		p.checkFDs(n)
	}
	p.gate.setMax(n)
}

// MaxConns is the proxy-wide limit in force.
func (p *Proxy) MaxConns() int { return int(p.gate.max.Load()) }

// clock is the relay loops' time: monotonic nanoseconds since New.
func (p *Proxy) clock() int64 { return int64(time.Since(p.base)) }

// loopFor picks the loop for a new connection (round robin).
func (p *Proxy) loopFor() *loop {
	return p.loops[int(p.next.Add(1))%len(p.loops)]
}

// startLoops starts the relay loops; p.mu is held.
func (p *Proxy) startLoopsLocked() error {
	if p.loops != nil {
		return nil
	}
	n := runtime.GOMAXPROCS(0)
	loops := make([]*loop, 0, n)
	for range n {
		l, err := newLoop(p)
		if err != nil {
			for _, l := range loops {
				unix.Close(l.evfd)
				l.ep.Close()
			}
			return fmt.Errorf("relay loop: %w", err)
		}
		loops = append(loops, l)
	}
	p.loops = loops
	if n > 1 { // before the loops start: they read p.poller unlocked
		p.poller, p.done = make(chan struct{}, 1), make(chan struct{})
		p.wg.Add(1)
		go p.pollerWaker()
	}
	for _, l := range loops {
		p.wg.Add(1)
		go l.run()
	}
	return nil
}

// wakePoller is called by a loop the netpoller has just woken while
// another loop waits there. The thread that was waiting in the netpoller
// now runs the woken loop, and the scheduler does not send another to wait
// there while a P is idle: the waiting loop's events would wait for the end
// of this loop's batch (longer when the kernel preempts its thread) or for
// sysmon's poll, 10 ms on. Readying a goroutine makes the scheduler wake an
// idle P's thread, which runs it, finds nothing else to do and waits in the
// netpoller. Without an idle P it costs a channel send and a brief run of
// pollerWaker.
func (p *Proxy) wakePoller() {
	if p.poller == nil {
		return
	}
	select {
	case p.poller <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// pollerWaker only exists to be readied by wakePoller.
func (p *Proxy) pollerWaker() {
	defer p.wg.Done()
	for {
		select {
		case <-p.poller:
		case <-p.done:
			return
		}
	}
}

// ErrClosed is returned by table changes after Close.
var ErrClosed = errors.New("userspace dataplane closed")

func checkService(svc dataplane.Service) error {
	switch svc.Protocol {
	case "tcp", "udp":
	case "fwm":
		return fmt.Errorf("service %s: firewall-mark services need kernel IPVS: a userspace proxy cannot see packet marks", svc.Key())
	default:
		return fmt.Errorf("service %s: protocol %q: want tcp or udp", svc.Key(), svc.Protocol)
	}
	if !svc.Addr.IsValid() {
		return fmt.Errorf("service %s: no address", svc.Key())
	}
	if svc.Port == 0 {
		return fmt.Errorf("service %s: port 0 (all ports) needs kernel IPVS: a proxy listens on one port", svc.Key())
	}
	if !schedulers[svc.Scheduler] {
		return fmt.Errorf("service %s: scheduler %q: not one of rr wrr lc wlc lblc lblcr dh sh sed nq", svc.Key(), svc.Scheduler)
	}
	if svc.Persistent < 0 {
		return fmt.Errorf("service %s: negative persistence timeout %s", svc.Key(), svc.Persistent)
	}
	if svc.PersistentMask < 0 || svc.PersistentMask > svc.Addr.Unmap().BitLen() {
		return fmt.Errorf("service %s: persistence netmask /%d out of range", svc.Key(), svc.PersistentMask)
	}
	if svc.MaxConns < 0 {
		return fmt.Errorf("service %s: negative connection limit %d", svc.Key(), svc.MaxConns)
	}
	if svc.ClientTimeout < 0 || svc.ServerTimeout < 0 {
		return fmt.Errorf("service %s: negative idle timeout", svc.Key())
	}
	return nil
}

func checkDest(svc dataplane.Service, d dataplane.Dest) error {
	if !d.Addr.IsValid() {
		return fmt.Errorf("service %s: real with no address", svc.Key())
	}
	if d.Weight < 0 {
		return fmt.Errorf("service %s real %s: negative weight %d", svc.Key(), d.Key(), d.Weight)
	}
	switch d.Method {
	case "gate", "masq", "ipip", "":
		// All proxied alike: the real sees the director as the source.
	default:
		return fmt.Errorf("service %s real %s: forwarding method %q: want gate, masq or ipip", svc.Key(), d.Key(), d.Method)
	}
	return nil
}

// Services implements dataplane.Dataplane: the services as added, by key.
func (p *Proxy) Services() ([]dataplane.Service, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]dataplane.Service, 0, len(p.svcs))
	for _, s := range p.svcs {
		out = append(out, s.tab.Load().svc) // dest changes never touch svc
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

// Dests implements dataplane.Dataplane: the reals as set, by key.
func (p *Proxy) Dests(svc dataplane.Service) ([]dataplane.Dest, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.svcs[svc.Key()]
	if !ok {
		return nil, fmt.Errorf("service %s: %w", svc.Key(), dataplane.ErrNotExist)
	}
	s.publishLocked()
	return sortedDests(s.tab.Load()), nil
}

// sortedDests lists t's reals by key (ipvsadm -Ln order here), sorted
// once per snapshot on the keys formatted at AddDest; callers get a copy.
func sortedDests(t *table) []dataplane.Dest {
	t.sortOnce.Do(func() {
		es := slices.Clone(t.reals)
		slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.r.key, b.r.key) })
		t.sorted = make([]dataplane.Dest, len(es))
		for i, e := range es {
			t.sorted[i] = e.d
		}
	})
	return slices.Clone(t.sorted)
}

// AddService implements dataplane.Dataplane: it binds the service's
// address (IP_FREEBIND, so before the VIP is configured) and starts
// accepting.
func (p *Proxy) AddService(svc dataplane.Service) error {
	if err := checkService(svc); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("add service %s: %w", svc.Key(), ErrClosed)
	}
	if _, ok := p.svcs[svc.Key()]; ok {
		return fmt.Errorf("service %s: %w", svc.Key(), dataplane.ErrExist)
	}
	t := (&table{}).with(svc, nil)
	sched, err := newScheduler(svc.Scheduler, t)
	if err != nil {
		return fmt.Errorf("service %s: %w", svc.Key(), err)
	}
	if svc.Protocol == "tcp" {
		if err := p.startLoopsLocked(); err != nil {
			return fmt.Errorf("service %s: %w", svc.Key(), err)
		}
	}
	s := &service{p: p, key: svc.Key(), sched: sched, tmpls: map[netip.Prefix]*template{}, sweepAt: 64,
		gate: newGate(svc.MaxConns), stopped: make(chan struct{})}
	s.tab.Store(t)
	if err := s.listen(); err != nil {
		return fmt.Errorf("service %s: %w", svc.Key(), err)
	}
	p.svcs[s.key] = s
	p.wg.Add(1)
	if svc.Protocol == "tcp" {
		go s.serveTCP()
	} else {
		s.sessions = map[netip.AddrPort]*udpSession{}
		go s.serveUDP()
	}
	p.log.Info("service added", "service", s.key, "scheduler", svc.Scheduler, "persistent", svc.Persistent,
		"maxconn", svc.MaxConns, "clienttimeout", svc.ClientTimeout, "servertimeout", svc.ServerTimeout)
	return nil
}

// UpdateService implements dataplane.Dataplane: scheduler and persistence
// change live; connections in flight are not touched.
func (p *Proxy) UpdateService(svc dataplane.Service) error {
	if err := checkService(svc); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.svcs[svc.Key()]
	if !ok {
		return fmt.Errorf("service %s: %w", svc.Key(), dataplane.ErrNotExist)
	}
	s.publishLocked()
	old := s.tab.Load()
	t := old.with(svc, old.reals)
	s.schedMu.Lock()
	defer s.schedMu.Unlock()
	if svc.Scheduler != old.svc.Scheduler {
		sched, err := newScheduler(svc.Scheduler, t)
		if err != nil {
			return fmt.Errorf("service %s: %w", svc.Key(), err)
		}
		s.sched = sched
	}
	if svc.Persistent == 0 || svc.PersistentMask != old.svc.PersistentMask {
		// Templates keyed by the old mask would never match again.
		clear(s.tmpls)
		s.sweepAt = 64
	}
	s.tab.Store(t)
	if svc.MaxConns != old.svc.MaxConns {
		s.gate.setMax(svc.MaxConns)
	}
	p.log.Info("service updated", "service", s.key, "scheduler", svc.Scheduler, "persistent", svc.Persistent,
		"maxconn", svc.MaxConns, "clienttimeout", svc.ClientTimeout, "servertimeout", svc.ServerTimeout)
	return nil
}

// DelService implements dataplane.Dataplane. The listener closes at once
// (the address can be bound again); established TCP connections are kept
// until they end, as IPVS keeps them. UDP sessions end with the service:
// their replies leave through the service's socket.
func (p *Proxy) DelService(svc dataplane.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.svcs[svc.Key()]
	if !ok {
		return fmt.Errorf("service %s: %w", svc.Key(), dataplane.ErrNotExist)
	}
	delete(p.svcs, svc.Key())
	s.stop()
	p.log.Info("service deleted", "service", s.key)
	return nil
}

// destOp applies fn to the service's work table (a private copy of the
// snapshot, made by the first change after a publication); the data path
// sees the change from its next connection on. fn must leave the table
// untouched when it fails.
func (p *Proxy) destOp(op string, svc dataplane.Service, d dataplane.Dest, fn func(t *table) error) error {
	if err := checkDest(svc, d); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.svcs[svc.Key()]
	if !ok {
		return fmt.Errorf("%s: service %s: %w", op, svc.Key(), dataplane.ErrNotExist)
	}
	w := s.work
	if w == nil {
		w = s.tab.Load().edit()
	}
	if err := fn(w); err != nil {
		return fmt.Errorf("%s: service %s: %w", op, svc.Key(), err)
	}
	s.work = w
	s.dirty.Store(true)
	p.log.Info("real server changed", "op", op, "service", s.key, "real", d.Key(), "weight", d.Weight, "method", d.Method)
	return nil
}

// AddDest implements dataplane.Dataplane.
func (p *Proxy) AddDest(svc dataplane.Service, d dataplane.Dest) error {
	return p.destOp("add real", svc, d, func(t *table) error {
		key := d.Key()
		if _, ok := t.idx[key]; ok {
			return fmt.Errorf("real %s: %w", key, dataplane.ErrExist)
		}
		port := d.Port
		if port == 0 {
			port = t.svc.Port // IPVS: a real without a port gets the VIP's
		}
		target := netip.AddrPortFrom(d.Addr.Unmap(), port)
		r := &real{key: key, target: target}
		r.sockaddrFor(target)
		t.reals = append(t.reals, entry{d: d, r: r})
		t.idx[key] = len(t.reals) - 1
		return nil
	})
}

// UpdateDest implements dataplane.Dataplane: weight and method change in
// place; the real keeps its counters and connections.
func (p *Proxy) UpdateDest(svc dataplane.Service, d dataplane.Dest) error {
	return p.destOp("update real", svc, d, func(t *table) error {
		i, ok := t.idx[d.Key()]
		if !ok {
			return fmt.Errorf("real %s: %w", d.Key(), dataplane.ErrNotExist)
		}
		t.reals[i].d = d
		return nil
	})
}

// DelDest implements dataplane.Dataplane: no new connections go to the
// real; established ones run on (IPVS without expire_nodest_conn).
func (p *Proxy) DelDest(svc dataplane.Service, d dataplane.Dest) error {
	return p.destOp("delete real", svc, d, func(t *table) error {
		i, ok := t.idx[d.Key()]
		if !ok {
			return fmt.Errorf("real %s: %w", d.Key(), dataplane.ErrNotExist)
		}
		t.reals[i] = entry{} // a tombstone, compacted at publication
		t.dead++
		delete(t.idx, d.Key())
		return nil
	})
}

// Close implements dataplane.Dataplane: it closes every listener, resets
// every relayed connection, ends every UDP session, and waits (up to
// CloseTimeout) for their goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for k, s := range p.svcs {
		s.stop()
		delete(p.svcs, k)
	}
	loops := p.loops
	if p.done != nil {
		close(p.done)
	}
	p.mu.Unlock()
	for _, l := range loops {
		l.close()
	}

	p.liveMu.Lock()
	p.liveClosed = true
	live := make([]io.Closer, 0, len(p.live))
	for c := range p.live {
		live = append(live, c)
	}
	p.liveMu.Unlock()
	for _, c := range live {
		c.Close()
	}

	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	defer p.rl.close()
	select {
	case <-done:
		return nil
	case <-time.After(p.opts.CloseTimeout):
		return fmt.Errorf("close userspace dataplane: goroutines still running after %s", p.opts.CloseTimeout)
	}
}

// track registers a connection or session for Close; false means the
// proxy is closing and the caller must drop it.
func (p *Proxy) track(c io.Closer) bool {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	if p.liveClosed {
		return false
	}
	p.live[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c io.Closer) {
	p.liveMu.Lock()
	delete(p.live, c)
	p.liveMu.Unlock()
}
