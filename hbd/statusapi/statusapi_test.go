package statusapi

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"sort"
	"testing"
	"time"

	"lvsha/hbd/membership"
	"lvsha/hbd/rm"
)

var t0 = time.Date(2025, 6, 7, 8, 9, 0, 0, time.UTC)

func nodes(statuses uint64, heard time.Time, up bool) []membership.NodeView {
	return []membership.NodeView{
		{Name: "alpha", Status: "active", Links: []membership.LinkView{{Name: "eth1", Up: true, Heard: heard}}},
		{Name: "beta", Status: "active", Generation: 9, LastHeard: heard, Deadtime: 500 * time.Millisecond,
			Links: []membership.LinkView{{Name: "eth1", Up: up, Heard: heard, Statuses: statuses, Loss: 0.25, LossSample: 8}}},
	}
}

func info() Info {
	return Info{Version: "3.0.6 (lvsha hbd)", Node: "alpha", Generation: 4, Started: t0, Keepalive: 100 * time.Millisecond,
		Warntime: 300 * time.Millisecond, Deadtime: 500 * time.Millisecond, Initdead: 10 * time.Second, AutoFailback: "on",
		Groups: []GroupInfo{{Key: "IPaddr2::10.0.0.100/24/eth0", Node: "alpha", Resources: []string{"IPaddr2::10.0.0.100/24/eth0", "ldirectord::ld.cf"}}}}
}

func TestBuild(t *testing.T) {
	rec := NewRecorder()
	rec.event(membership.Event{Kind: membership.LinkDead, Node: "beta", Link: "eth2"}, t0.Add(time.Second))
	rec.event(membership.Event{Kind: membership.LateHeartbeat, Node: "beta", Interval: 800 * time.Millisecond, OverDeadtime: true}, t0.Add(3*time.Second))
	rec.SetJournal(func() []rm.Transition {
		return []rm.Transition{{At: t0.Add(2 * time.Second), Acquire: true, Groups: []string{"g"}, Why: "mach_down", Took: 250 * time.Millisecond}}
	})
	hold := rm.Holdings{Self: "alpha", Groups: []rm.Group{{Key: "IPaddr2::10.0.0.100/24/eth0", Node: "alpha"}}, Holds: rm.Local, PeerKnown: true, State: rm.StateStable}
	src := Sources{
		Nodes:    func() []membership.NodeView { return nodes(40, t0.Add(4*time.Second), true) },
		Counters: func() map[string]uint64 { return map[string]uint64{"rx_packets": 7} },
		Holdings: func() (rm.Holdings, bool) { return hold, true },
		State:    func() string { return "local" },
		Ping:     func() []PingNode { return []PingNode{{Name: "10.0.0.10", Status: "up"}} },
	}
	s := Build(info(), src, rec, t0.Add(5*time.Second))
	b, _ := json.Marshal(s)
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	beta := back.Nodes[1]
	if beta.Self || *beta.HeardAgeMS != 1000 || beta.Links[0].Status != "up" || *beta.Links[0].Loss != 0.25 || beta.Links[0].Heartbeats != 40 {
		t.Errorf("beta: %+v %+v", beta, beta.Links[0])
	}
	if alpha := back.Nodes[0]; !alpha.Self || alpha.Generation != 4 || alpha.HeardAgeMS != nil || alpha.Links[0].Loss != nil {
		t.Errorf("alpha: %+v", alpha)
	}
	g := back.Resources.Groups[0]
	if *g.Holder != "alpha" || g.Preferred != "alpha" || len(g.Resources) != 2 || *back.Resources.Protocol != "stable" {
		t.Errorf("resources: %+v", back.Resources)
	}
	var kinds []string
	for _, tr := range back.Transitions {
		kinds = append(kinds, tr.Kind)
	}
	if !reflect.DeepEqual(kinds, []string{"link-dead", "acquire", "late-heartbeat"}) {
		t.Errorf("transitions %v", kinds)
	}
	if c := back.Transitions[1].Cause; c != "mach_down (took 250 ms)" {
		t.Errorf("acquire cause %q", c)
	}
	if c := back.Transitions[2].Cause; c != "a heartbeat 800 ms after the previous one (> deadtime)" {
		t.Errorf("late cause %q", c)
	}
	if string(back.Fencing) != "null" || back.Console != nil {
		t.Errorf("fencing %s console %v", back.Fencing, back.Console)
	}
	var raw map[string]any
	json.Unmarshal(b, &raw)
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"api", "auto_failback", "console", "counters", "fencing", "generation", "history", "node", "nodes", "ping_nodes", "resources", "started", "time", "timers", "transitions", "version"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %q\nwant %q", keys, want)
	}
	// Fencing, when configured, is its own object.
	src.Fencing = func() json.RawMessage { return json.RawMessage(`{"state":"armed"}`) }
	if s := Build(info(), src, nil, t0); string(s.Fencing) != `{"state":"armed"}` {
		t.Errorf("fencing %s", s.Fencing)
	}
	// Without a resource manager nobody holds anything.
	src.Holdings = nil
	if s := Build(info(), src, nil, t0); s.Resources.Groups[0].Holder != nil || s.Resources.Protocol != nil {
		t.Errorf("without rm: %+v", s.Resources)
	}
}

// Heartbeat arrivals per link per bucket, the longest silence, and the
// holder timeline.
func TestRecorderSamples(t *testing.T) {
	rec := NewRecorder()
	base := t0 // a bucket boundary
	var count uint64
	heard := base
	for i := range 300 { // 30 s at 100 ms: three buckets
		now := base.Add(time.Duration(i) * 100 * time.Millisecond)
		if i < 200 || i >= 250 { // 5 s of silence in the third bucket
			count++
			heard = now
		}
		holders := map[string]string{"g": "alpha"}
		if i >= 250 {
			holders["g"] = ""
		}
		rec.sample(now, "alpha", nodes(count, heard, true), holders)
	}
	h := rec.History(base.Add(30 * time.Second))
	if len(h.Links) != 1 {
		t.Fatalf("links %+v", h.Links)
	}
	l := h.Links[0]
	if !l.Start.Equal(base) || !reflect.DeepEqual(l.Arrivals, []int{99, 100, 50}) {
		t.Errorf("arrivals from %v: %v", l.Start, l.Arrivals)
	}
	if l.MaxAgeMS[0] != 0 || l.MaxAgeMS[2] != 5000 {
		t.Errorf("max ages %v", l.MaxAgeMS)
	}
	if len(h.Holders) != 2 || *h.Holders[0].Holder != "alpha" || h.Holders[1].Holder != nil || !h.Holders[1].At.Equal(base.Add(25*time.Second)) {
		t.Errorf("holders %+v", h.Holders)
	}
	// An hour of silence later the ring holds one hour.
	rec.sample(base.Add(2*time.Hour), "alpha", nodes(count, heard, false), nil)
	if l := rec.History(base.Add(2 * time.Hour)).Links[0]; len(l.Arrivals) != Buckets || l.Arrivals[Buckets-1] != 0 {
		t.Errorf("after two hours: %d buckets", len(l.Arrivals))
	}
}

func TestRecorderBounded(t *testing.T) {
	rec := NewRecorder()
	for i := range MaxEvents + 10 {
		rec.event(membership.Event{Kind: membership.LinkUp, Node: "beta", Link: "eth1"}, t0.Add(time.Duration(i)*time.Second))
	}
	tr := rec.Transitions()
	if len(tr) != MaxEvents || !tr[0].At.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("%d transitions from %v", len(tr), tr[0].At)
	}
}

func TestHandler(t *testing.T) {
	h := Handler(func() *Status {
		return Build(info(), Sources{Nodes: func() []membership.NodeView { return nil }}, nil, t0)
	})
	for _, c := range []struct {
		m    string
		code int
	}{{"GET", 200}, {"POST", 405}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.m, Path, nil))
		if rec.Code != c.code || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q", c.m, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}
