package membership

import (
	"math"
	"testing"
)

// Per link: when it last carried the peer, how many heartbeats came over
// it, and the share of the peer's recent heartbeats it missed while the
// other link carried them.
func TestLinkStats(t *testing.T) {
	m := New(cfg(), t0)
	// 21 statuses; every one over eth1, every third also over eth2 (a
	// copy a moment later), and a resource message over eth1 in between.
	for i := 1; i <= 21; i++ {
		seq := uint64(2 * i)
		m.Receive(at(100*i), 0, status(seq, 7, "active"))
		if i%3 == 0 {
			if r := m.Receive(at(100*i+5), 1, status(seq, 7, "active")); r.Verdict != Duplicate {
				t.Fatalf("copy over eth2: %+v", r)
			}
		}
		m.Receive(at(100*i+10), 0, msg("beta", "resource", seq+1, 7, "rsc_hold", "all"))
	}
	v := view(t, m, "beta")
	e1, e2 := v.Links[0], v.Links[1]
	if e1.Statuses != 21 || e2.Statuses != 7 {
		t.Fatalf("statuses: eth1 %d, eth2 %d", e1.Statuses, e2.Statuses)
	}
	if !e1.Heard.Equal(at(2110)) || !e2.Heard.Equal(at(2105)) {
		t.Fatalf("heard: eth1 %v, eth2 %v", e1.Heard.Sub(t0), e2.Heard.Sub(t0))
	}
	// The window holds the statuses of the last 64 sequence numbers (32
	// statuses here, so all 21), the newest left out: 20, of which eth2
	// carried 6 (3, 6, ..., 18).
	if e1.Loss != 0 || e1.LossSample != 20 {
		t.Errorf("eth1 loss %v over %d", e1.Loss, e1.LossSample)
	}
	if want := 14.0 / 20; math.Abs(e2.Loss-want) > 1e-9 || e2.LossSample != 20 {
		t.Errorf("eth2 loss %v over %d, want %v over 20", e2.Loss, e2.LossSample, want)
	}
	// Our own node: links heard back, no loss figure.
	self := view(t, m, "alpha")
	if self.Links[0].LossSample != 0 || self.Links[0].Statuses != 0 {
		t.Errorf("self link: %+v", self.Links[0])
	}
}
