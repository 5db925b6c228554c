package userspace

import (
	"slices"
	"sort"
	"strings"

	"lvsha/ldird/dataplane"
)

// RealStats are one real server's counters, as ipvsadm --stats and -L
// show them. Bytes are counted as they pass, except with Options.Splice,
// where a direction's bytes are counted when it ends.
type RealStats struct {
	Dest          dataplane.Dest
	ActiveConns   int64  // TCP connections with both directions open
	InactiveConns int64  // half-closed TCP connections and UDP sessions
	Conns         uint64 // connections (UDP sessions) scheduled to it since added
	BytesIn       uint64 // client → real
	BytesOut      uint64 // real → client
}

// ServiceStats are one service's totals (including reals since removed)
// and its current reals' counters, sorted by key.
type ServiceStats struct {
	Service  dataplane.Service
	Conns    uint64
	BytesIn  uint64
	BytesOut uint64
	// Current counts what holds a slot of the service's limit: TCP
	// connections (connecting or relayed) and UDP sessions.
	Current int64
	// LimitVirtual and LimitGlobal count the times the service stopped
	// accepting at its own MaxConns or at the proxy's; TCP clients then
	// wait in the listen queue, they are not refused.
	LimitVirtual uint64
	LimitGlobal  uint64
	// Refused counts clients turned away, by reason: "no_real" (TCP
	// reset, UDP datagram dropped: no real available or every connect
	// failed), "limit" (UDP: a new client's datagram at a limit), "no_fd"
	// (UDP: no socket for the session; TCP: none for a second real after
	// a failed connect). Every reason is present.
	Refused map[string]uint64
	// AcceptErrors counts the times accepting paused for want of
	// descriptors or socket memory (EMFILE, ENFILE, ENOBUFS, ENOMEM on
	// accept or on the real's socket), each followed by a back-off; the
	// clients wait (queued, or accepted and held), they are not reset.
	AcceptErrors uint64
	// ClientTimeouts and ServerTimeouts count connections reset by the
	// idle timeouts.
	ClientTimeouts uint64
	ServerTimeouts uint64
	Reals          []RealStats
}

// Refusal reasons, the keys of ServiceStats.Refused.
const (
	RefusedNoReal = "no_real"
	RefusedLimit  = "limit"
	RefusedNoFD   = "no_fd"
)

// GlobalStats are the proxy-wide limit and what counts against it.
type GlobalStats struct {
	Current  int64
	MaxConns int64
}

// GlobalStats returns the proxy-wide connection count and limit.
func (p *Proxy) GlobalStats() GlobalStats {
	return GlobalStats{Current: p.gate.cur.Load(), MaxConns: p.gate.max.Load()}
}

// Stats returns every service's counters, sorted by key.
func (p *Proxy) Stats() []ServiceStats {
	p.mu.Lock()
	svcs := make([]*service, 0, len(p.svcs))
	for _, s := range p.svcs {
		s.publishLocked()
		svcs = append(svcs, s)
	}
	p.mu.Unlock()
	out := make([]ServiceStats, 0, len(svcs))
	for _, s := range svcs {
		t := s.tab.Load()
		ss := ServiceStats{
			Service:  t.svc,
			Conns:    s.stats.conns.Load(),
			BytesIn:  s.stats.inBytes.Load(),
			BytesOut: s.stats.outBytes.Load(),
			Current:  s.gate.cur.Load(),

			LimitVirtual: s.stats.limitVirtual.Load(),
			LimitGlobal:  s.stats.limitGlobal.Load(),
			Refused: map[string]uint64{
				RefusedNoReal: s.stats.refusedNoReal.Load(),
				RefusedLimit:  s.stats.refusedLimit.Load(),
				RefusedNoFD:   s.stats.refusedFD.Load(),
			},
			AcceptErrors:   s.stats.acceptErrors.Load(),
			ClientTimeouts: s.stats.timeoutClient.Load(),
			ServerTimeouts: s.stats.timeoutServer.Load(),
			Reals:          make([]RealStats, 0, len(t.reals)),
		}
		es := slices.Clone(t.reals)
		slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.r.key, b.r.key) })
		for _, e := range es {
			ss.Reals = append(ss.Reals, RealStats{
				Dest:          e.d,
				ActiveConns:   e.r.active.Load(),
				InactiveConns: e.r.inactive.Load(),
				Conns:         e.r.conns.Load(),
				BytesIn:       e.r.inBytes.Load(),
				BytesOut:      e.r.outBytes.Load(),
			})
		}
		out = append(out, ss)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service.Key() < out[j].Service.Key() })
	return out
}
