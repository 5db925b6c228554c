package userspace

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"lvsha/ldird/dataplane"
)

func manyDest(i, weight int) dataplane.Dest {
	return dataplane.Dest{Addr: netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)}), Port: 8000,
		Weight: weight, Method: "masq"}
}

// TestTableChangesInARow: a long run of changes without a connection in
// between (as a reconcile of thousands of reals makes them) is published as
// one table, which is what sequential changes would have built: deletions
// compacted in list order, re-added reals at the end, weights as last set,
// errors for duplicates and missing reals, rr walking only live reals.
func TestTableChangesInARow(t *testing.T) {
	p := newTestProxy(t, Options{})
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("127.0.0.1"),
		Port: freePort(t, "tcp", "127.0.0.1"), Scheduler: "rr"}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	var want []dataplane.Dest // in list order
	for i := range n {
		if err := p.AddDest(svc, manyDest(i, 1)); err != nil {
			t.Fatal(err)
		}
		want = append(want, manyDest(i, 1))
	}
	if err := p.AddDest(svc, manyDest(7, 1)); err == nil {
		t.Fatal("duplicate AddDest accepted")
	}
	for i := 0; i < n; i += 3 {
		if err := p.DelDest(svc, manyDest(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.DelDest(svc, manyDest(0, 1)); err == nil {
		t.Fatal("DelDest of a deleted real accepted")
	}
	if err := p.UpdateDest(svc, manyDest(3, 2)); err == nil {
		t.Fatal("UpdateDest of a deleted real accepted")
	}
	if err := p.AddDest(svc, manyDest(0, 5)); err != nil { // back, at the end
		t.Fatal(err)
	}
	for i := 1; i < n; i += 3 {
		if err := p.UpdateDest(svc, manyDest(i, 0)); err != nil {
			t.Fatal(err)
		}
	}
	var order []dataplane.Dest
	for i, d := range want {
		switch {
		case i%3 == 0:
			continue
		case i%3 == 1:
			d.Weight = 0
		}
		order = append(order, d)
	}
	order = append(order, manyDest(0, 5))

	s := p.svcs[svc.Key()]
	if !s.dirty.Load() {
		t.Fatal("changes published one by one")
	}
	got, err := p.Dests(svc)
	if err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(order)
	slices.SortFunc(sorted, func(a, b dataplane.Dest) int {
		if a.Key() < b.Key() {
			return -1
		}
		if a.Key() > b.Key() {
			return 1
		}
		return 0
	})
	if fmt.Sprint(got) != fmt.Sprint(sorted) {
		t.Fatalf("Dests after the run differ (%d vs %d entries)", len(got), len(sorted))
	}
	tab := s.view()
	if s.dirty.Load() || tab.dead != 0 || len(tab.reals) != len(order) {
		t.Fatalf("published table: dirty=%v dead=%d reals=%d, want %d", s.dirty.Load(), tab.dead, len(tab.reals), len(order))
	}
	for i, e := range tab.reals {
		if e.d != order[i] || tab.idx[e.r.key] != i {
			t.Fatalf("entry %d: %v (index %d), want %v", i, e.d, tab.idx[e.r.key], order[i])
		}
	}
	// rr from the head visits every weighted real once per pass.
	seen := map[string]int{}
	live := 0
	for _, d := range order {
		if d.Weight > 0 {
			live++
		}
	}
	for range 2 * live {
		e, _ := s.schedule(netip.MustParseAddr("127.0.0.1"), nil)
		if e == nil || e.d.Weight == 0 {
			t.Fatalf("rr picked %v", e)
		}
		seen[e.r.key]++
	}
	for k, c := range seen {
		if c != 2 {
			t.Fatalf("rr picked %s %d times in two passes", k, c)
		}
	}
	if len(seen) != live {
		t.Fatalf("rr visited %d reals, want %d", len(seen), live)
	}
	// A change after publication starts a new private copy: the published
	// snapshot stays as it was.
	if err := p.UpdateDest(svc, manyDest(2, 9)); err != nil {
		t.Fatal(err)
	}
	if e := tab.reals[tab.idx[manyDest(2, 9).Key()]]; e.d.Weight != 1 {
		t.Fatalf("published snapshot changed under the data path: %v", e.d)
	}
	if e := s.view(); e.reals[e.idx[manyDest(2, 9).Key()]].d.Weight != 9 {
		t.Fatal("change not published on view")
	}
}

// BenchmarkAddDest10k: one reconcile adding 10,000 reals (was quadratic:
// each change copied and reindexed the whole table).
func BenchmarkAddDest10k(b *testing.B) {
	for range b.N {
		p := New(Options{})
		svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("127.0.0.1"), Port: 1, Scheduler: "rr"}
		s := &service{p: p, key: svc.Key(), sched: &rrSched{last: -1}}
		s.tab.Store((&table{}).with(svc, nil))
		p.svcs[s.key] = s // no listener needed
		for i := range 10000 {
			if err := p.AddDest(svc, manyDest(i, 1)); err != nil {
				b.Fatal(err)
			}
		}
		if ds, _ := p.Dests(svc); len(ds) != 10000 {
			b.Fatal(len(ds))
		}
	}
}
