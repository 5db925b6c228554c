package userspace

import "lvsha/ldird/dataplane"

// ConnCounts is dataplane.ConnCounter: every real's connections, from Stats.
func (p *Proxy) ConnCounts() map[string]dataplane.ConnCount {
	out := map[string]dataplane.ConnCount{}
	for _, s := range p.Stats() {
		for _, r := range s.Reals {
			out[dataplane.ConnKey(s.Service, r.Dest)] = dataplane.ConnCount{Active: r.ActiveConns, Inactive: r.InactiveConns}
		}
	}
	return out
}
