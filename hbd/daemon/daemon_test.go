package daemon

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/hbd/config"
	"lvsha/hbd/media"
	"lvsha/hbd/membership"
	"lvsha/hbd/wire"
)

// hub is an in-memory broadcast segment: what one member sends, every
// member (the sender included, as with bcast) receives, unless cut.
type hub struct {
	mu      sync.Mutex
	members []*memMedium
	cut     bool
}

type memMedium struct {
	name string
	hub  *hub
	in   chan []byte
	addr net.Addr
}

func (h *hub) join(name string, addr string) *memMedium {
	m := &memMedium{name: name, hub: h, in: make(chan []byte, 1024), addr: &net.UDPAddr{IP: net.ParseIP(addr), Port: 694}}
	h.mu.Lock()
	h.members = append(h.members, m)
	h.mu.Unlock()
	return m
}

func (h *hub) setCut(c bool) { h.mu.Lock(); h.cut = c; h.mu.Unlock() }

func (m *memMedium) Name() string { return m.name }
func (m *memMedium) Send(b []byte) error {
	m.hub.mu.Lock()
	defer m.hub.mu.Unlock()
	for _, o := range m.hub.members {
		if m.hub.cut && o != m {
			continue
		}
		select {
		case o.in <- append([]byte(nil), b...):
		default:
		}
	}
	return nil
}
func (m *memMedium) Receive(ctx context.Context, link int, deliver func(media.Packet)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-m.in:
			deliver(media.Packet{Data: b, Link: link, From: m.addr, At: time.Now()})
		}
	}
}
func (m *memMedium) Close() error       { return nil }
func (m *memMedium) Stats() media.Stats { return media.Stats{} }

func testConfig(t *testing.T, key string) *config.Config {
	t.Helper()
	ha, err := config.ParseHACFBytes("ha.cf", []byte("keepalive 50ms\ndeadtime 300ms\nwarntime 200ms\ninitdead 1\nbcast eth1 eth2\nauto_failback on\nnode alpha beta\nlogfacility none\n"),
		config.Options{IfaceExists: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := config.ParseAuthkeysBytes("authkeys", []byte("auth 1\n1 sha1 "+key+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return &config.Config{HA: ha, Keys: keys}
}

type recorder struct {
	mu   sync.Mutex
	evs  []membership.Event
	msgs []string
}

func (r *recorder) Message(m *wire.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m.Type())
	r.mu.Unlock()
}
func (r *recorder) Event(ev membership.Event) { r.mu.Lock(); r.evs = append(r.evs, ev); r.mu.Unlock() }

func startNode(t *testing.T, ctx context.Context, name, key string, links ...*memMedium) (*Daemon, *recorder) {
	t.Helper()
	var ms []media.Medium
	for _, l := range links {
		ms = append(ms, l)
	}
	d, err := New(ctx, Options{Config: testConfig(t, key), Node: name, StateDir: t.TempDir(), Media: ms,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	d.AddHandler(rec)
	go d.Run(ctx)
	return d, rec
}

func status(d *Daemon, node string) (string, map[string]bool) {
	for _, n := range d.Nodes() {
		if n.Name == node {
			links := map[string]bool{}
			for _, l := range n.Links {
				links[l.Name] = l.Up
			}
			return string(n.Status), links
		}
	}
	return "", nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTwoDaemonsInMemory(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h1, h2 := &hub{}, &hub{}
	a, arec := startNode(t, ctx, "alpha", "k", h1.join("eth1", "10.0.1.1"), h2.join("eth2", "10.0.2.1"))
	b, _ := startNode(t, ctx, "beta", "k", h1.join("eth1", "10.0.1.2"), h2.join("eth2", "10.0.2.2"))
	for _, p := range []struct {
		d    *Daemon
		peer string
	}{{a, "beta"}, {b, "alpha"}} {
		waitFor(t, p.peer+" active with both links", func() bool {
			st, l := status(p.d, p.peer)
			return st == "active" && l["eth1"] && l["eth2"]
		})
	}
	// One link cut: that link dies, the node stays.
	h1.setCut(true)
	waitFor(t, "eth1 dead", func() bool { _, l := status(a, "beta"); return !l["eth1"] && l["eth2"] })
	if st, _ := status(a, "beta"); st != "active" {
		t.Fatalf("beta %s with one link left", st)
	}
	// Both cut: the node dies; back: alive again.
	h2.setCut(true)
	waitFor(t, "beta dead", func() bool { st, _ := status(a, "beta"); return st == "dead" })
	h1.setCut(false)
	h2.setCut(false)
	waitFor(t, "beta back", func() bool { st, _ := status(a, "beta"); return st == "active" })
	arec.mu.Lock()
	var kinds []string
	for _, e := range arec.evs {
		kinds = append(kinds, e.Kind.String())
	}
	arec.mu.Unlock()
	if !strings.Contains(strings.Join(kinds, " "), "node-dead") {
		t.Fatalf("handler saw no NodeDead: %v", kinds)
	}
	if c := a.Counters(); c["rx_accepted"] == 0 || c["rx_dropped_bad_auth"] != 0 {
		t.Fatalf("counters %v", c)
	}
}

func TestWrongKeyCountedNeverAccepted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &hub{}
	a, _ := startNode(t, ctx, "alpha", "right", h.join("eth1", "10.0.1.1"))
	startNode(t, ctx, "beta", "wrong", h.join("eth1", "10.0.1.2"))
	waitFor(t, "bad MACs counted", func() bool { return a.Counters()["rx_dropped_bad_auth"] >= 5 })
	if st, _ := status(a, "beta"); st == "active" || st == "up" {
		t.Fatalf("beta accepted with a wrong key: %s", st)
	}
	// Garbage and truncated datagrams are dropped and counted too.
	m := h.members[1]
	m.Send([]byte("garbage"))
	m.Send([]byte("###\n5:(0)t=x,"))
	waitFor(t, "garbage counted", func() bool {
		c := a.Counters()
		var n uint64
		for k, v := range c {
			if strings.HasPrefix(k, "rx_dropped_") && k != "rx_dropped_bad_auth" {
				n += v
			}
		}
		return n >= 2
	})
}

func TestReqnodesAnswered(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &hub{}
	a, _ := startNode(t, ctx, "alpha", "k", h.join("eth1", "10.0.1.1"))
	b, brec := startNode(t, ctx, "beta", "k", h.join("eth1", "10.0.1.2"))
	waitFor(t, "active", func() bool { st, _ := status(b, "alpha"); return st == "active" })
	req := wire.New("reqnodes")
	req.Set("dest", "alpha")
	if err := b.Send(req); err != nil {
		t.Fatal(err)
	}
	// alpha answers with repnodes; beta's handler sees it delivered.
	waitFor(t, "repnodes", func() bool {
		brec.mu.Lock()
		defer brec.mu.Unlock()
		for _, m := range brec.msgs {
			if m == "repnodes" {
				return true
			}
		}
		return false
	})
	_ = a
}

// A tick takes in the packets already queued before it judges deadtimes:
// after a stall of the loop, a heartbeat waiting in the queue keeps its
// sender alive. Without the queued one the same tick declares it dead.
func TestTickTakesQueuedPacketsFirst(t *testing.T) {
	ctx := context.Background()
	h := &hub{}
	tap := h.join("tap", "10.0.1.9")
	mk := func(name, addr string) *Daemon {
		d, err := New(ctx, Options{Config: testConfig(t, "k"), Node: name, StateDir: t.TempDir(),
			Media: []media.Medium{h.join("eth1", addr)}, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	beta := mk("beta", "10.0.1.2")
	heartbeat := func() []byte {
		beta.sendStatus()
		return <-tap.in
	}
	hb1, hb2 := heartbeat(), heartbeat()
	deadtime := beta.ha.Deadtime // 300ms in testConfig
	t0 := time.Now()
	late := t0.Add(deadtime + deadtime/2) // the tick after a stall

	control := mk("alpha", "10.0.1.1")
	control.receive(media.Packet{Data: hb1, At: t0})
	control.rx[0] <- media.Packet{Data: hb2, At: late.Add(-deadtime / 3)}
	control.tick(late) // judging without the queue
	if st, _ := status(control, "beta"); st != "dead" {
		t.Fatalf("control: beta is %q after a tick past its deadtime, want dead (the scenario tests nothing)", st)
	}

	alpha := mk("alpha", "10.0.1.1")
	rec := &recorder{}
	alpha.AddHandler(rec)
	alpha.receive(media.Packet{Data: hb1, At: t0})
	alpha.rx[0] <- media.Packet{Data: hb2, At: late.Add(-deadtime / 3)}
	alpha.onTick(late)
	if st, _ := status(alpha, "beta"); st == "dead" {
		t.Fatalf("beta declared dead with its heartbeat waiting in the queue")
	}
	if len(alpha.rx[0]) != 0 {
		t.Errorf("%d packets left in the queue", len(alpha.rx[0]))
	}
	for _, ev := range rec.evs {
		if ev.Kind == membership.NodeDead {
			t.Errorf("handler saw %v", ev)
		}
	}
}

func TestNextBeat(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const ka = 20 * time.Millisecond
	for _, c := range []struct {
		name     string
		due, now time.Time
		want     time.Time
	}{
		{"on time", t0, t0, t0.Add(ka)},
		{"sent a little late: the schedule holds", t0, t0.Add(3 * time.Millisecond), t0.Add(ka)},
		{"a whole keepalive late: start again, no burst", t0, t0.Add(ka), t0.Add(2 * ka)},
		{"stopped for a while", t0, t0.Add(time.Second), t0.Add(time.Second + ka)},
	} {
		if got := nextBeat(c.due, c.now, ka); !got.Equal(c.want) {
			t.Errorf("%s: nextBeat = %v, want %v", c.name, got.Sub(t0), c.want.Sub(t0))
		}
	}
}

// The ld field is /proc/loadavg's line, read afresh each time from the
// file kept open; a file that cannot be opened gives "n/a".
func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "loadavg")
	if err := os.WriteFile(path, []byte("0.50 0.40 0.30 2/100 1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := openLoadFile(path)
	defer l.close()
	if got := l.read(); got != "0.50 0.40 0.30 2/100 1234" {
		t.Errorf("read %q", got)
	}
	if err := os.WriteFile(path, []byte("1.00 0.40 0.30 3/100 1240\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := l.read(); got != "1.00 0.40 0.30 3/100 1240" {
		t.Errorf("second read %q: not read afresh", got)
	}
	if got := openLoadFile(filepath.Join(t.TempDir(), "missing")).read(); got != "n/a" {
		t.Errorf("missing file read %q", got)
	}
	real := openLoadFile("/proc/loadavg")
	defer real.close()
	if got := real.read(); len(strings.Fields(got)) != 5 {
		t.Errorf("/proc/loadavg read as %q", got)
	}
}
