package userspace

import (
	"fmt"
	"net/netip"
)

// A scheduler picks the real for a new connection, as the IPVS scheduler of
// the same name would. The caller holds service.schedMu, so schedulers may
// keep state without their own locking (IPVS's svc->sched_lock).
type scheduler interface {
	// pick returns the real for a new connection from client, nil when no
	// real is available. skip, when non-nil, is a real that just refused a
	// connection and must not be chosen again for this one.
	pick(t *table, client netip.Addr, skip *real) *entry
	// changed tells the scheduler that its service's reals changed (added,
	// removed, reweighted): the IPVS add_dest/del_dest/upd_dest hooks.
	changed(old, t *table)
}

// schedulers lists the names accepted; "" is ipvsadm's default (wlc).
var schedulers = map[string]bool{
	"": true, "rr": true, "wrr": true, "lc": true, "wlc": true, "lblc": true,
	"lblcr": true, "dh": true, "sh": true, "sed": true, "nq": true,
}

func newScheduler(name string, t *table) (scheduler, error) {
	switch name {
	case "rr":
		return &rrSched{last: -1}, nil
	case "wrr":
		s := &wrrSched{}
		s.reset(t)
		s.cw = s.mw
		return s, nil
	case "lc":
		return lcSched{}, nil
	case "", "wlc", "lblc", "lblcr":
		// lblc/lblcr keep a real per destination address and fall back to
		// wlc when it is overloaded. Behind a proxy the destination is
		// always the VIP, so what remains is wlc.
		return wlcSched{overhead: connOverhead}, nil
	case "sed":
		return wlcSched{overhead: activeOverhead}, nil
	case "nq":
		return nqSched{}, nil
	case "sh":
		s := &hashSched{source: true}
		s.changed(nil, t)
		return s, nil
	case "dh":
		s := &hashSched{}
		s.changed(nil, t)
		return s, nil
	}
	return nil, fmt.Errorf("scheduler %q: not one of rr wrr lc wlc lblc lblcr dh sh sed nq", name)
}

// usable is IPVS's "not overloaded and weight > 0" test plus the failover skip.
func usable(e *entry, skip *real) bool { return e.d.Weight > 0 && e.r != skip }

// connOverhead is ip_vs_dest_conn_overhead: active connections weigh 256
// times an inactive one.
func connOverhead(r *real) int64 { return r.active.Load()*256 + r.inactive.Load() }

// activeOverhead is ip_vs_sed_dest_overhead / ip_vs_nq_dest_overhead.
func activeOverhead(r *real) int64 { return r.active.Load() + 1 }

// rrSched is ip_vs_rr: a circular walk from the last pick.
type rrSched struct{ last int } // index of the last pick; -1 = list head

func (s *rrSched) pick(t *table, _ netip.Addr, skip *real) *entry {
	n := len(t.reals)
	if s.last >= n {
		s.last = -1
	}
	for k := 1; k <= n; k++ {
		i := (s.last + k) % n // last = -1 walks 0..n-1 once, like IPVS from the head
		if e := &t.reals[i]; usable(e, skip) {
			s.last = i
			return e
		}
	}
	return nil
}

// changed keeps the position on the same real; if that real was removed,
// IPVS moves to its predecessor so the walk continues where it was.
func (s *rrSched) changed(old, t *table) {
	if old == nil || s.last < 0 || s.last >= len(old.reals) {
		s.last = -1
		return
	}
	for i := s.last; i >= 0; i-- {
		if j, ok := t.idx[old.reals[i].r.key]; ok && t.reals[j].r == old.reals[i].r {
			s.last = j
			return
		}
	}
	s.last = -1
}

// wrrSched is ip_vs_wrr: interleaved weighted round robin with a current
// weight cw that steps down by the gcd of the weights each full pass.
type wrrSched struct{ cl, cw, mw, di int }

func (s *wrrSched) reset(t *table) {
	g, maxw := 0, 0
	for _, e := range t.reals {
		w := e.d.Weight
		if w > 0 {
			if g > 0 {
				g = gcd(w, g)
			} else {
				g = w
			}
		}
		maxw = max(maxw, w)
	}
	if g == 0 {
		g = 1
	}
	s.cl, s.di, s.mw = -1, g, maxw-(g-1)
}

// changed is ip_vs_wrr_dest_changed: restart from the head and finish the
// current pass if the maximum weight dropped below it.
func (s *wrrSched) changed(_, t *table) {
	s.reset(t)
	if s.cw > s.mw {
		s.cw = 0
	}
}

func (s *wrrSched) pick(t *table, _ netip.Addr, skip *real) *entry {
	n := len(t.reals)
	if s.mw <= 0 || n == 0 {
		return nil
	}
	if s.cl >= n {
		s.cl = -1
	}
	// Every pass over the list lowers cw by di until it wraps to mw, so
	// two full cycles visit every (real, cw) pair; more means none fits.
	limit := 2 * (s.mw/s.di + 2) * (n + 1)
	i := s.cl
	for range limit {
		i++
		if i >= n {
			i = -1
			s.cw -= s.di
			if s.cw <= 0 {
				s.cw = s.mw
			}
			continue
		}
		// IPVS tests only weight >= cw, which after a change (cw = 0)
		// could hand one connection to a quiescent real; we never do.
		if e := &t.reals[i]; usable(e, skip) && e.d.Weight >= s.cw {
			s.cl = i
			return e
		}
	}
	return nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// lcSched is ip_vs_lc: least overhead, first one on ties.
type lcSched struct{}

func (lcSched) changed(_, _ *table) {}

func (lcSched) pick(t *table, _ netip.Addr, skip *real) *entry {
	var least *entry
	var loh int64
	for i := range t.reals {
		e := &t.reals[i]
		if !usable(e, skip) {
			continue
		}
		if doh := connOverhead(e.r); least == nil || doh < loh {
			least, loh = e, doh
		}
	}
	return least
}

// wlcSched is ip_vs_wlc (and, with activeOverhead, ip_vs_sed): least
// overhead/weight, compared by cross-multiplying; first one on ties.
type wlcSched struct{ overhead func(*real) int64 }

func (wlcSched) changed(_, _ *table) {}

func (s wlcSched) pick(t *table, _ netip.Addr, skip *real) *entry {
	var least *entry
	var loh int64
	for i := range t.reals {
		e := &t.reals[i]
		if !usable(e, skip) {
			continue
		}
		doh := s.overhead(e.r)
		if least == nil || loh*int64(e.d.Weight) > doh*int64(least.d.Weight) {
			least, loh = e, doh
		}
	}
	return least
}

// nqSched is ip_vs_nq: the first idle real (no active connections) if
// there is one, otherwise sed.
type nqSched struct{}

func (nqSched) changed(_, _ *table) {}

func (nqSched) pick(t *table, _ netip.Addr, skip *real) *entry {
	var least *entry
	var loh int64
	for i := range t.reals {
		e := &t.reals[i]
		if !usable(e, skip) {
			continue
		}
		if e.r.active.Load() == 0 {
			return e
		}
		doh := activeOverhead(e.r)
		if least == nil || loh*int64(e.d.Weight) > doh*int64(least.d.Weight) {
			least, loh = e, doh
		}
	}
	return least
}

// hashTab is IPVS's 256-bucket table for sh and dh.
const hashBits = 8
const hashSize = 1 << hashBits

// hashSched is ip_vs_sh (source) or ip_vs_dh (destination) with the same
// bucket layout and hash as the kernel, so a client maps to the real IPVS
// would give it. The destination of a proxied connection is always the
// VIP, so dh sends everything to one real (chosen by the VIP's hash).
type hashSched struct {
	source  bool
	buckets [hashSize]int // index into table.reals; -1 = none
}

// changed is ip_vs_sh_reassign (each real fills weight consecutive buckets,
// at least one) or ip_vs_dh_reassign (one bucket each, unweighted).
func (s *hashSched) changed(_, t *table) {
	n := len(t.reals)
	p, count := 0, 0
	for i := range s.buckets {
		if n == 0 {
			s.buckets[i] = -1
			continue
		}
		s.buckets[i] = p
		count++
		if !s.source || count >= t.reals[p].d.Weight {
			p, count = (p+1)%n, 0
		}
	}
}

// hashKey is ip_vs_sh_hashkey / ip_vs_dh_hashkey: hash_32 of the address
// (IPv6 folded by xor of its four words); the port is 0 (no sh-port flag).
func hashKey(a netip.Addr, offset uint32) uint32 {
	var fold uint32
	if a.Is4() {
		b := a.As4()
		fold = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	} else {
		b := a.As16()
		for w := 0; w < 16; w += 4 {
			fold ^= uint32(b[w])<<24 | uint32(b[w+1])<<16 | uint32(b[w+2])<<8 | uint32(b[w+3])
		}
	}
	h := (fold * 0x61C88647) >> (32 - hashBits) // hash_32(val, 8)
	return (offset + h) & (hashSize - 1)
}

// pick looks up the client's (sh) or the VIP's (dh) bucket. When that real
// is unavailable, IPVS without the sh-fallback flag (and dh always) drops
// the packet; a proxy would rather serve, so we always probe onwards the
// way ip_vs_sh_get_fallback does.
func (s *hashSched) pick(t *table, client netip.Addr, skip *real) *entry {
	key := t.svc.Addr
	if s.source {
		key = client
	}
	ih := hashKey(key, 0)
	if i := s.buckets[ih]; i < 0 || i >= len(t.reals) {
		return nil
	} else if e := &t.reals[i]; usable(e, skip) {
		return e
	}
	for off := uint32(0); off < hashSize; off++ {
		ro := (off + ih) % hashSize
		i := s.buckets[hashKey(key, ro)]
		if i < 0 || i >= len(t.reals) {
			continue
		}
		if e := &t.reals[i]; usable(e, skip) {
			return e
		}
	}
	return nil
}
