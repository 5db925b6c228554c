package userspace

import (
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"lvsha/ldird/dataplane"
	"lvsha/ldird/sockcall"
)

// real is one real server's live state. It outlives table snapshots (a
// reweight keeps it) so counters and in-flight connections stay attached;
// DelDest drops it from the table while its connections finish.
type real struct {
	key    string
	target netip.AddrPort // where to connect: the real's port, or the VIP's when 0
	sa     sockcall.Addr  // target, as connect(2) takes it

	active   atomic.Int64 // TCP connections with both directions open
	inactive atomic.Int64 // half-closed TCP connections and UDP sessions (as IPVS counts them)
	conns    atomic.Uint64
	inBytes  atomic.Uint64 // client → real
	outBytes atomic.Uint64 // real → client
}

// entry is a real as this snapshot has it (weight, method).
type entry struct {
	d dataplane.Dest
	r *real
}

// table is an immutable snapshot of one service: the data path loads it
// with one atomic read, table changes build a new one (copy on write).
//
// A table being edited (service.work) may hold tombstones: entries with a
// nil r, left by DelDest so that a run of deletions stays linear; they are
// compacted away before the table is published.
type table struct {
	svc   dataplane.Service
	reals []entry        // in the order added, as IPVS keeps its list
	idx   map[string]int // Dest.Key() → index in reals
	dead  int            // tombstones in reals (work tables only)

	sortOnce sync.Once
	sorted   []dataplane.Dest // reals by key, made on first use (Dests)
}

func (t *table) with(svc dataplane.Service, reals []entry) *table {
	nt := &table{svc: svc, reals: reals, idx: make(map[string]int, len(reals))}
	for i, e := range reals {
		nt.idx[e.r.key] = i
	}
	return nt
}

// edit returns a private copy of t to change in place.
func (t *table) edit() *table {
	return &table{svc: t.svc, reals: slices.Clone(t.reals), idx: maps.Clone(t.idx)}
}

// seal compacts away tombstones (reindexing), making t publishable.
func (t *table) seal() *table {
	if t.dead == 0 {
		return t
	}
	reals := make([]entry, 0, len(t.reals)-t.dead)
	for _, e := range t.reals {
		if e.r != nil {
			reals = append(reals, e)
		}
	}
	return (&table{}).with(t.svc, reals)
}

func (t *table) lookup(r *real) *entry {
	if i, ok := t.idx[r.key]; ok && t.reals[i].r == r {
		return &t.reals[i]
	}
	return nil
}

// counters are a service's totals; they survive DelDest of its reals.
type counters struct {
	conns    atomic.Uint64
	inBytes  atomic.Uint64
	outBytes atomic.Uint64

	limitVirtual  atomic.Uint64 // accepting paused at the service's MaxConns
	limitGlobal   atomic.Uint64 // accepting paused at the proxy's MaxConns
	refusedNoReal atomic.Uint64 // clients reset (TCP) or datagrams dropped (UDP): no real, or every connect failed
	refusedLimit  atomic.Uint64 // UDP: new sessions refused at a limit
	refusedFD     atomic.Uint64 // UDP: no socket for a session; TCP: none for a retry
	acceptErrors  atomic.Uint64 // accepting paused: EMFILE, ENFILE, ENOBUFS, ENOMEM
	timeoutClient atomic.Uint64 // connections reset by the client idle timeout
	timeoutServer atomic.Uint64 // ... by the server idle timeout
}

// service is one virtual service: its listener, snapshot and scheduler.
type service struct {
	p   *Proxy
	key string
	tab atomic.Pointer[table]

	// schedMu guards the scheduler's state and the persistence templates:
	// one short critical section per new connection, like IPVS's
	// sched_lock. Table changes take it only to swap state.
	schedMu sync.Mutex
	sched   scheduler
	tmpls   map[netip.Prefix]*template
	sweepAt int

	stats   counters
	gate    *gate         // the service's MaxConns
	stopped chan struct{} // closed by stop: wakes the accept goroutine waiting at a limit

	// work is the table with changes not yet published (guarded by p.mu),
	// nil when the snapshot is current; dirty says so without the lock.
	// Dest changes edit work in place and the snapshot is rebuilt once,
	// when something next looks (a new connection, Dests, Stats, a service
	// change), so the director applying 10,000 changes in a row costs a
	// linear pass rather than 10,000 copies of the table.
	work  *table
	dirty atomic.Bool

	tcp *os.File // the listening socket (see listenTCP)
	udp *net.UDPConn

	sessMu   sync.Mutex
	sessions map[netip.AddrPort]*udpSession
	closed   bool // sessMu; no new sessions after DelService
}

// template is a persistence template (IPVS's connection template): a
// client prefix stuck to a real while it has connections, and for the
// persistence timeout after the last one.
type template struct {
	r     *real
	conns int
	last  time.Time
}

// schedule picks the real for a new connection from client, honouring
// persistence. The returned template (nil if not persistent) holds a
// reference to release when the connection ends.
func (s *service) schedule(client netip.Addr, skip *real) (*entry, *template) {
	now := time.Now()
	s.view()
	s.schedMu.Lock()
	defer s.schedMu.Unlock()
	t := s.tab.Load()
	if t.svc.Persistent <= 0 {
		return s.sched.pick(t, client, skip), nil
	}
	key := persistKey(client, t.svc.PersistentMask)
	tp := s.tmpls[key]
	if tp != nil && (tp.conns > 0 || now.Sub(tp.last) < t.svc.Persistent) && tp.r != skip {
		// IPVS keeps sending a template's clients to a quiescent real
		// (expire_quiescent_template=0); a removed real ends the template.
		if e := t.lookup(tp.r); e != nil && (e.d.Weight > 0 || !s.p.opts.ExpireQuiescentTemplate) {
			tp.conns++
			tp.last = now
			return e, tp
		}
	}
	e := s.sched.pick(t, client, skip)
	if e == nil {
		return nil, nil
	}
	if tp == nil {
		if len(s.tmpls) >= s.sweepAt {
			s.sweep(now, t.svc.Persistent)
		}
		tp = &template{}
		s.tmpls[key] = tp
	}
	// A live template re-pointed after its real failed keeps its other
	// connections' references: they release into the same object.
	tp.r = e.r
	tp.conns++
	tp.last = now
	return e, tp
}

// view returns the current snapshot, publishing pending changes first.
func (s *service) view() *table {
	if s.dirty.Load() {
		s.p.mu.Lock()
		s.publishLocked()
		s.p.mu.Unlock()
	}
	return s.tab.Load()
}

// publishLocked makes pending changes the snapshot the data path uses and
// tells the scheduler; p.mu is held.
func (s *service) publishLocked() {
	if s.work == nil {
		return
	}
	old, t := s.tab.Load(), s.work.seal()
	s.work = nil
	s.schedMu.Lock()
	s.sched.changed(old, t)
	s.tab.Store(t)
	s.schedMu.Unlock()
	s.dirty.Store(false)
}

// sweep drops expired templates; called when the map doubles, so the cost
// is amortised over insertions and no timer goroutine is needed.
func (s *service) sweep(now time.Time, timeout time.Duration) {
	for k, tp := range s.tmpls {
		if tp.conns == 0 && now.Sub(tp.last) >= timeout {
			delete(s.tmpls, k)
		}
	}
	s.sweepAt = 2*len(s.tmpls) + 64
}

// release ends one connection's hold on its template; the persistence
// timeout runs from now.
func (s *service) release(tp *template) {
	if tp == nil {
		return
	}
	s.schedMu.Lock()
	tp.conns--
	tp.last = time.Now()
	s.schedMu.Unlock()
}

func persistKey(a netip.Addr, bits int) netip.Prefix {
	if bits <= 0 || bits > a.BitLen() {
		bits = a.BitLen()
	}
	p, _ := a.Prefix(bits)
	return p
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.TCPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case *net.UDPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
