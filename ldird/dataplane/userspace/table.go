package userspace

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"lvsha/ldird/dataplane"
)

// real is one real server's live state. It outlives table snapshots (a
// reweight keeps it) so counters and in-flight connections stay attached;
// DelDest drops it from the table while its connections finish.
type real struct {
	key    string
	target netip.AddrPort // where to connect: the real's port, or the VIP's when 0
	dial   string         // target as the dialer wants it, formatted once

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
type table struct {
	svc   dataplane.Service
	reals []entry        // in the order added, as IPVS keeps its list
	idx   map[string]int // Dest.Key() → index in reals
}

func (t *table) with(svc dataplane.Service, reals []entry) *table {
	nt := &table{svc: svc, reals: reals, idx: make(map[string]int, len(reals))}
	for i, e := range reals {
		nt.idx[e.r.key] = i
	}
	return nt
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

	stats counters

	tcp *net.TCPListener
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
