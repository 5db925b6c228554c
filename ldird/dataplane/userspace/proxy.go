package userspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"lvsha/ldird/dataplane"
)

// Options tune a Proxy. The zero value is usable.
type Options struct {
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// ConnectTimeout bounds a connect to a real (default 3s). On failure
	// the scheduler is asked once more for another real.
	ConnectTimeout time.Duration
	// IdleTimeout closes a TCP connection with no data in either direction
	// for that long (enforced between 1× and 2× the value). 0 disables it;
	// TCP keepalive still reaps dead peers.
	IdleTimeout time.Duration
	// Splice relays TCP with io.Copy between the sockets, which the runtime
	// turns into splice(2). It needs IdleTimeout 0 (the kernel moves the
	// data, so the proxy cannot see activity). Off by default: on loopback
	// here a plain read/write loop measured faster for small exchanges and
	// bulk alike; splice may pay off with real NICs.
	Splice bool
	// UDPTimeout ends a UDP session after that long without a datagram
	// either way (default 300s, IPVS's udp timeout).
	UDPTimeout time.Duration
	// ExpireQuiescentTemplate mirrors the IPVS sysctl of that name: when
	// true, a persistent client whose real went to weight 0 is scheduled
	// afresh; when false (the kernel default) it keeps going to that real.
	ExpireQuiescentTemplate bool
	// CloseTimeout bounds how long Close waits for goroutines (default 5s).
	CloseTimeout time.Duration
}

// Proxy is a userspace L4 dataplane: one listener per virtual service,
// connections relayed to the reals. It implements dataplane.Dataplane.
type Proxy struct {
	opts   Options
	log    *slog.Logger
	dialer net.Dialer
	ctx    context.Context // cancelled by Close: aborts dials in flight
	cancel context.CancelFunc

	mu     sync.Mutex // serialises table changes
	svcs   map[string]*service
	closed bool

	// live holds every relayed connection and UDP session so Close can
	// end them; DelService leaves them running.
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
	if opts.UDPTimeout <= 0 {
		opts.UDPTimeout = 300 * time.Second
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Proxy{
		opts:   opts,
		log:    opts.Logger,
		dialer: net.Dialer{Timeout: opts.ConnectTimeout},
		ctx:    ctx,
		cancel: cancel,
		svcs:   map[string]*service{},
		live:   map[io.Closer]struct{}{},
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
	s := &service{p: p, key: svc.Key(), sched: sched, tmpls: map[netip.Prefix]*template{}, sweepAt: 64}
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
	p.log.Info("service added", "service", s.key, "scheduler", svc.Scheduler, "persistent", svc.Persistent)
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
	p.log.Info("service updated", "service", s.key, "scheduler", svc.Scheduler, "persistent", svc.Persistent)
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
		r := &real{key: key, target: target, dial: target.String()}
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

// Close implements dataplane.Dataplane: it closes every listener, every
// relayed connection and UDP session, and waits (up to CloseTimeout) for
// their goroutines.
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
	p.mu.Unlock()
	p.cancel()

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
