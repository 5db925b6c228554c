package rm

import (
	"testing"
	"time"
)

func TestHoldingsHolder(t *testing.T) {
	groups := []Group{{Key: "IPaddr2::10.0.0.100", Node: "alpha"}, {Key: "IPaddr2::10.0.0.101", Node: "beta"}}
	for _, c := range []struct {
		name       string
		holds      Set
		peer       Set
		peerKnown  bool
		want0, wan string
	}{
		{"each its own", Local, Local, true, "alpha", "beta"},
		{"alpha holds all", All, None, true, "alpha", "alpha"},
		{"beta holds all", None, All, true, "beta", "beta"},
		{"peer unknown", Local, All, false, "alpha", ""},
		{"nobody", None, None, true, "", ""},
	} {
		h := Holdings{Self: "alpha", Groups: groups, Holds: c.holds, Peer: c.peer, PeerKnown: c.peerKnown}
		if got := h.Holder(groups[0].Key, "beta"); got != c.want0 {
			t.Errorf("%s: holder of alpha's group %q, want %q", c.name, got, c.want0)
		}
		if got := h.Holder(groups[1].Key, "beta"); got != c.wan {
			t.Errorf("%s: holder of beta's group %q, want %q", c.name, got, c.wan)
		}
	}
	if got := (Holdings{Self: "alpha", Groups: groups, Holds: All}).Holder("nope", "beta"); got != "" {
		t.Errorf("unknown group held by %q", got)
	}
}

func TestJournalBounded(t *testing.T) {
	var j journal
	t0 := time.Now()
	for i := range MaxTransitions + 3 {
		j.add(Transition{At: t0.Add(time.Duration(i)), Acquire: true, Groups: []string{"g"}})
	}
	l := j.all()
	if len(l) != MaxTransitions || !l[0].At.Equal(t0.Add(3)) {
		t.Fatalf("%d entries, first at +%v", len(l), l[0].At.Sub(t0))
	}
}
