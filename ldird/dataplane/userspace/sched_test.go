package userspace

import (
	"net/netip"
	"strings"
	"testing"

	"lvsha/ldird/dataplane"
)

// mkTable builds a snapshot with reals named A, B, C... of the given weights.
func mkTable(svc dataplane.Service, weights ...int) *table {
	var reals []entry
	for i, w := range weights {
		d := dataplane.Dest{Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i)}), Port: 80, Weight: w, Method: "masq"}
		reals = append(reals, entry{d: d, r: &real{key: string(rune('A' + i))}})
	}
	return (&table{}).with(svc, reals)
}

func seq(t *testing.T, s scheduler, tab *table, n int) string {
	t.Helper()
	var b strings.Builder
	for range n {
		e := s.pick(tab, netip.MustParseAddr("192.0.2.1"), nil)
		if e == nil {
			b.WriteByte('-')
			continue
		}
		b.WriteString(e.r.key)
	}
	return b.String()
}

func TestSchedulerSequences(t *testing.T) {
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	tests := []struct {
		sched   string
		weights []int
		want    string
	}{
		{"rr", []int{1, 1, 1}, "ABCABCABC"},
		{"rr", []int{5, 1, 1}, "ABCABC"}, // rr ignores weights beyond 0
		{"rr", []int{1, 0, 1}, "ACACAC"},
		{"rr", []int{0, 0}, "---"},
		{"wrr", []int{3, 2, 1}, "AABABCAABABC"},
		{"wrr", []int{4, 3, 2}, "AABABCABCAABABCABC"},
		{"wrr", []int{2, 4}, "BABBAB"}, // gcd 2: mw = 4-(2-1) = 3
		{"wrr", []int{1, 0, 1}, "ACACAC"},
		{"wrr", []int{0, 0}, "---"},
		{"lc", []int{1, 5}, "AAAA"},   // no connections opened: tie → first
		{"wlc", []int{0, 5}, "BBBB"},  // weight 0 never chosen
		{"sed", []int{1, 1}, "AAAA"},  // all idle: tie → first
		{"nq", []int{0, 1}, "BBB"},    // idle and non-zero weight
		{"lblc", []int{1, 1}, "AAA"},  // wlc
		{"lblcr", []int{0, 1}, "BBB"}, // wlc
	}
	for _, tc := range tests {
		t.Run(tc.sched, func(t *testing.T) {
			tab := mkTable(svc, tc.weights...)
			s, err := newScheduler(tc.sched, tab)
			if err != nil {
				t.Fatal(err)
			}
			if got := seq(t, s, tab, len(tc.want)); got != tc.want {
				t.Errorf("weights %v: got %s, want %s", tc.weights, got, tc.want)
			}
		})
	}
}

func TestRRPositionSurvivesChanges(t *testing.T) {
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	old := mkTable(svc, 1, 1, 1)
	s, _ := newScheduler("rr", old)
	if got := seq(t, s, old, 2); got != "AB" {
		t.Fatalf("got %s", got)
	}
	// Remove B (the last pick): IPVS steps back to A, so C comes next.
	nt := old.with(svc, []entry{old.reals[0], old.reals[2]})
	s.changed(old, nt)
	if got := seq(t, s, nt, 3); got != "CAC" {
		t.Fatalf("after removing the current real: got %s, want CAC", got)
	}
}

func TestWRRChangeFinishesPass(t *testing.T) {
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	old := mkTable(svc, 4, 1)
	s, _ := newScheduler("wrr", old)
	seq(t, s, old, 1) // cw=4 → A
	// Max weight drops to 2: cw (4) > mw, so the pass restarts at cw 0.
	reals := append([]entry(nil), old.reals...)
	reals[0].d.Weight = 2
	nt := old.with(svc, reals)
	s.changed(old, nt)
	if got := seq(t, s, nt, 6); got != "ABAABA" {
		t.Fatalf("got %s, want ABAABA", got)
	}
}

func TestLeastConnSchedulers(t *testing.T) {
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	tests := []struct {
		sched    string
		weights  []int
		active   []int64
		inactive []int64
		want     string
	}{
		{"lc", []int{1, 1, 1}, []int64{2, 1, 1}, nil, "B"},
		{"lc", []int{1, 1}, []int64{1, 1}, []int64{5, 0}, "B"}, // inactive breaks the tie
		{"lc", []int{1, 1}, []int64{1, 0}, []int64{0, 255}, "B"},
		{"lc", []int{1, 1}, []int64{1, 0}, []int64{0, 257}, "A"}, // 256 inactive = 1 active
		{"wlc", []int{1, 3}, []int64{1, 2}, nil, "B"},            // 256*3 > 512*1
		{"wlc", []int{1, 2}, []int64{1, 2}, nil, "A"},            // 256*2 > 512*1 false: tie → first
		{"sed", []int{1, 3}, []int64{0, 1}, nil, "B"},            // (0+1)*3 > (1+1)*1
		{"sed", []int{1, 1}, []int64{0, 1}, nil, "A"},
		{"nq", []int{1, 9}, []int64{0, 0}, nil, "A"}, // first idle
		{"nq", []int{1, 9}, []int64{1, 0}, nil, "B"}, // idle beats weight
		{"nq", []int{1, 9}, []int64{1, 3}, nil, "B"}, // sed when none idle
		{"nq", []int{0, 9}, []int64{0, 3}, nil, "B"}, // idle but quiescent
	}
	for _, tc := range tests {
		tab := mkTable(svc, tc.weights...)
		for i := range tab.reals {
			if i < len(tc.active) {
				tab.reals[i].r.active.Store(tc.active[i])
			}
			if i < len(tc.inactive) {
				tab.reals[i].r.inactive.Store(tc.inactive[i])
			}
		}
		s, _ := newScheduler(tc.sched, tab)
		if got := seq(t, s, tab, 1); got != tc.want {
			t.Errorf("%s weights %v active %v inactive %v: got %s, want %s", tc.sched, tc.weights, tc.active, tc.inactive, got, tc.want)
		}
	}
}

func TestHashSchedulers(t *testing.T) {
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	tab := mkTable(svc, 1, 1, 1)
	s, _ := newScheduler("sh", tab)
	hs := s.(*hashSched)
	// Unweighted layout is A B C A B C ... over 256 buckets.
	for i := range 6 {
		if hs.buckets[i] != i%3 {
			t.Fatalf("bucket %d = %d", i, hs.buckets[i])
		}
	}
	// Same client, same real; the real is the one the kernel's hash names.
	for x := 1; x < 50; x++ {
		c := netip.AddrFrom4([4]byte{192, 0, 2, byte(x)})
		first := s.pick(tab, c, nil)
		if want := &tab.reals[hs.buckets[hashKey(c, 0)]]; first != want {
			t.Fatalf("client %s: got %s, want %s", c, first.r.key, want.r.key)
		}
		for range 3 {
			if again := s.pick(tab, c, nil); again != first {
				t.Fatalf("client %s moved from %s to %s", c, first.r.key, again.r.key)
			}
		}
	}
	// Known value: hash_32(0xc0000201, 8) = (0xc0000201*0x61c88647 mod 2^32) >> 24.
	if got, want := hashKey(netip.MustParseAddr("192.0.2.1"), 0), uint32((uint64(0xc0000201)*0x61c88647)&0xffffffff)>>24; got != want {
		t.Fatalf("hashKey = %d, want %d", got, want)
	}

	// Weighted layout: A fills 2 buckets, B 1.
	wt := mkTable(svc, 2, 1)
	ws, _ := newScheduler("sh", wt)
	if b := ws.(*hashSched).buckets; b[0] != 0 || b[1] != 0 || b[2] != 1 || b[3] != 0 {
		t.Fatalf("weighted layout %v", b[:4])
	}

	// A quiescent bucket owner: the client falls back to another real.
	reals := append([]entry(nil), tab.reals...)
	c := netip.MustParseAddr("192.0.2.7")
	owner := s.pick(tab, c, nil)
	i := tab.idx[owner.r.key]
	reals[i].d.Weight = 0
	nt := tab.with(svc, reals)
	s.changed(tab, nt)
	if e := s.pick(nt, c, nil); e == nil || e.r == owner.r {
		t.Fatalf("quiescent owner %s still picked (or nothing): %v", owner.r.key, e)
	}

	// dh: everything to the VIP's real.
	d, _ := newScheduler("dh", tab)
	want := d.pick(tab, netip.MustParseAddr("192.0.2.1"), nil)
	for x := 2; x < 20; x++ {
		if e := d.pick(tab, netip.AddrFrom4([4]byte{198, 51, 100, byte(x)}), nil); e != want {
			t.Fatalf("dh moved with the client")
		}
	}
}

func TestSkipFailedReal(t *testing.T) {
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	for _, name := range []string{"rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "lblc"} {
		tab := mkTable(svc, 1, 1)
		s, _ := newScheduler(name, tab)
		first := s.pick(tab, netip.MustParseAddr("192.0.2.1"), nil)
		second := s.pick(tab, netip.MustParseAddr("192.0.2.1"), first.r)
		if second == nil || second.r == first.r {
			t.Errorf("%s: skip of %s gave %v", name, first.r.key, second)
		}
		one := mkTable(svc, 1)
		s, _ = newScheduler(name, one)
		if e := s.pick(one, netip.MustParseAddr("192.0.2.1"), one.reals[0].r); e != nil {
			t.Errorf("%s: the only real skipped, still got %s", name, e.r.key)
		}
	}
}
