package gossip

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/hbd/media"
	"lvsha/hbd/wire"
)

// waitTimeout bounds every "eventually": joins on the mock network take a
// few ms and failure detection with the test tuning well under a second.
const waitTimeout = 10 * time.Second

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fast is the test tuning: quick probes and rejoins so the tests take well
// under a second each.
func fast(o Options) Options {
	o.ProbeInterval = 100 * time.Millisecond
	o.ProbeTimeout = 50 * time.Millisecond
	o.GossipInterval = 50 * time.Millisecond
	o.RejoinInterval = 100 * time.Millisecond
	o.LeaveTimeout = 500 * time.Millisecond
	o.TCPTimeout = time.Second
	if o.Log == nil {
		o.Log = quietLog()
	}
	return o
}

// start runs the medium o.Node on the mock network with the test tuning.
func (n *mockNet) start(t *testing.T, o Options) *Gossip {
	t.Helper()
	o = fast(o)
	o.Bind = n.addr(o.Node)
	o.Transport = n.transport(t, o.Node)
	g, err := New(o)
	if err != nil {
		t.Fatalf("New(%s): %v", o.Node, err)
	}
	t.Cleanup(func() { closeBounded(t, g) })
	return g
}

// closeBounded closes g, failing the test if Close hangs.
func closeBounded(t *testing.T, g *Gossip) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- g.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close(%s): %v", g.node, err)
		}
	case <-time.After(waitTimeout):
		t.Errorf("Close(%s) did not return within %v", g.node, waitTimeout)
	}
}

// eventually polls cond until it holds, failing the test after waitTimeout.
func eventually(t *testing.T, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, msg := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > waitTimeout {
			t.Fatalf("%s: not within %v: %s", what, waitTimeout, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// states renders g's member view as "name=state,...".
func states(g *Gossip) string {
	var parts []string
	for _, m := range g.Members() {
		parts = append(parts, m.Name+"="+m.State)
	}
	return strings.Join(parts, ",")
}

func waitView(t *testing.T, g *Gossip, want string) time.Duration {
	t.Helper()
	return eventually(t, g.node+" sees "+want, func() (bool, string) {
		s := states(g)
		return s == want, s
	})
}

// logCounter is a slog handler counting records by message.
type logCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func newLogCounter() *logCounter { return &logCounter{n: map[string]int{}} }

func (c *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCounter) WithGroup(string) slog.Handler            { return c }
func (c *logCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.n[r.Message]++
	c.mu.Unlock()
	return nil
}

func (c *logCounter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[msg]
}

// waitRefused waits until the medium logging to c has tried to join and
// been refused n times.
func waitRefused(t *testing.T, name string, c *logCounter, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s refused %d times", name, n), func() (bool, string) {
		got := c.count("gossip: join failed")
		return got >= n, fmt.Sprintf("%d refusals", got)
	})
}

// collector runs Receive for one medium and keeps what it delivers.
type collector struct {
	mu   sync.Mutex
	pkts []media.Packet
	stop context.CancelFunc
	done chan error
}

func collect(t *testing.T, g *Gossip, link int) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{stop: cancel, done: make(chan error, 1)}
	go func() {
		c.done <- g.Receive(ctx, link, func(p media.Packet) {
			c.mu.Lock()
			c.pkts = append(c.pkts, p)
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
		case <-time.After(waitTimeout):
			t.Errorf("Receive(%s) did not return after cancel", g.node)
		}
	})
	return c
}

func (c *collector) snapshot() []media.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]media.Packet(nil), c.pkts...)
}

func (c *collector) waitCount(t *testing.T, n int) []media.Packet {
	t.Helper()
	eventually(t, fmt.Sprintf("%d packets", n), func() (bool, string) {
		got := len(c.snapshot())
		return got >= n, fmt.Sprintf("have %d", got)
	})
	return c.snapshot()
}

// trio starts a, b, c (b and c seeded with a) on a fresh mock network that
// also knows the names in extra, and waits until every one sees all three
// alive.
func trio(t *testing.T, base Options, extra ...string) (n *mockNet, a, b, c *Gossip) {
	t.Helper()
	n = newMockNet(t, append([]string{"a", "b", "c"}, extra...)...)
	mk := func(node string, seeds ...string) *Gossip {
		o := base
		o.Node, o.Seeds = node, seeds
		return n.start(t, o)
	}
	a = mk("a")
	b = mk("b", a.Addr())
	c = mk("c", a.Addr())
	for _, g := range []*Gossip{a, b, c} {
		d := waitView(t, g, "a=alive,b=alive,c=alive")
		t.Logf("%s sees all three alive after %v", g.node, d.Round(time.Millisecond))
	}
	return n, a, b, c
}

// Every Send reaches each other member exactly once, with From naming the
// sender and its address, Link the index given to Receive, and the stats
// counting per member. Once every datagram has arrived, the datagrams sent
// (Stats.Sent: one per member and Send) equal the distinct ones received,
// so none is still on its way to arrive twice: the network delivers each
// packet at most once.
func TestThreeMembersEachSendOnce(t *testing.T) {
	n, a, b, c := trio(t, Options{Secret: []byte("SECRET")})
	all := []*Gossip{a, b, c}
	cols := make([]*collector, len(all))
	for i, g := range all {
		cols[i] = collect(t, g, i+4)
	}
	const rounds = 50
	start := time.Now()
	for r := range rounds {
		for _, g := range all {
			if err := g.Send(fmt.Appendf(nil, "%s-%d", g.node, r)); err != nil {
				t.Fatalf("%s Send: %v", g.node, err)
			}
		}
	}
	var sent, received uint64
	for _, g := range all {
		sent += g.Stats().Sent
	}
	for i, g := range all {
		pkts := cols[i].waitCount(t, 2*rounds)
		if i == 0 {
			t.Logf("%d datagrams each way delivered in %v", rounds, time.Since(start).Round(time.Millisecond))
		}
		if len(pkts) != 2*rounds {
			t.Errorf("%s received %d datagrams, want %d", g.node, len(pkts), 2*rounds)
		}
		seen := map[string]int{}
		for _, p := range pkts {
			seen[string(p.Data)]++
			from, ok := p.From.(Addr)
			if !ok {
				t.Fatalf("From is %T, want gossip.Addr", p.From)
			}
			if !strings.HasPrefix(string(p.Data), from.Node+"-") || from.Node == g.node {
				t.Errorf("%s: datagram %q From %v", g.node, p.Data, from)
			}
			for _, o := range all {
				if o.node == from.Node && from.Addr != o.Addr() {
					t.Errorf("From.Addr = %q, want %q", from.Addr, o.Addr())
				}
			}
			if p.From.Network() != "gossip" || p.Link != i+4 || p.At.IsZero() {
				t.Errorf("packet %+v: want network gossip, link %d, a time", p, i+4)
			}
		}
		for _, o := range all {
			if o == g {
				continue
			}
			for r := range rounds {
				if k := fmt.Sprintf("%s-%d", o.node, r); seen[k] != 1 {
					t.Errorf("%s got %q %d times, want once", g.node, k, seen[k])
				}
			}
		}
		received += uint64(len(seen))
	}
	if sent != received {
		t.Errorf("%d datagrams sent, %d distinct received: some are still on their way", sent, received)
	}
	for _, g := range all {
		want := media.Stats{Sent: 2 * rounds, Received: 2 * rounds}
		if got := g.Stats(); got != want {
			t.Errorf("%s Stats = %+v, want %+v", g.node, got, want)
		}
		if d := n.nodes[g.node].droppedPackets(); d != 0 {
			t.Errorf("the mock network lost %d packets at %s", d, g.node)
		}
	}
}

// A member with another key (or none, or another cluster name) never gets
// into the member list, however often it tries, and nothing it sends is
// delivered.
func TestWrongKeyNotJoined(t *testing.T) {
	n := newMockNet(t, "a", "b", "x-wrongkey", "y-nokey", "z-othercluster")
	a := n.start(t, Options{Node: "a", Secret: []byte("right")})
	b := n.start(t, Options{Node: "b", Secret: []byte("right"), Seeds: []string{a.Addr()}})
	waitView(t, a, "a=alive,b=alive")
	ca, cb := collect(t, a, 0), collect(t, b, 0)

	seeds := []string{a.Addr(), b.Addr()}
	var strangers []*Gossip
	var logs []*logCounter
	for _, o := range []Options{
		{Node: "x-wrongkey", Secret: []byte("wrong")},
		{Node: "y-nokey"},
		{Node: "z-othercluster", Secret: []byte("right"), Cluster: "other"},
	} {
		l := newLogCounter()
		o.Seeds, o.Log = seeds, slog.New(l)
		strangers = append(strangers, n.start(t, o))
		logs = append(logs, l)
	}
	xs := make([]*collector, len(strangers))
	for i, s := range strangers {
		xs[i] = collect(t, s, 0)
	}
	// Three rejoin rounds against each seed, each refused.
	for i, s := range strangers {
		waitRefused(t, s.node, logs[i], 3*len(seeds))
	}
	for _, s := range strangers {
		if err := s.Send([]byte("forged")); err != nil {
			t.Errorf("%s Send: %v", s.node, err)
		}
	}
	before := a.Stats().Sent
	if err := a.Send([]byte("secret")); err != nil {
		t.Fatal(err)
	}
	if got := a.Stats().Sent - before; got != 1 {
		t.Errorf("a sent its datagram to %d members, want 1 (b)", got)
	}
	if p := cb.waitCount(t, 1); string(p[0].Data) != "secret" {
		t.Errorf("b got %q", p[0].Data)
	}
	for _, g := range []*Gossip{a, b} {
		if v := states(g); v != "a=alive,b=alive" {
			t.Errorf("%s member view %q: a stranger got in", g.node, v)
		}
	}
	for i, s := range strangers {
		if v := states(s); v != s.node+"=alive" {
			t.Errorf("%s member view %q, want only itself", s.node, v)
		}
		if st := s.Stats(); st.Sent != 0 {
			t.Errorf("%s sent %d datagrams, want 0 (no members)", s.node, st.Sent)
		}
		if got := len(xs[i].snapshot()); got != 0 {
			t.Errorf("%s received %d datagrams from the cluster", s.node, got)
		}
	}
	if got := len(ca.snapshot()); got != 0 {
		t.Errorf("a received %d datagrams from strangers", got)
	}
}

// Key rollover one node at a time: a already encrypts with the new key and
// still accepts the old one; b still encrypts with the old key and accepts
// the new one. They form a cluster and exchange datagrams.
func TestKeyRollover(t *testing.T) {
	n := newMockNet(t, "a", "b")
	a := n.start(t, Options{Node: "a", Secret: []byte("new"), OtherSecrets: [][]byte{[]byte("old")}})
	b := n.start(t, Options{Node: "b", Secret: []byte("old"), OtherSecrets: [][]byte{[]byte("new")}, Seeds: []string{a.Addr()}})
	waitView(t, a, "a=alive,b=alive")
	ca, cb := collect(t, a, 0), collect(t, b, 0)
	if err := a.Send([]byte("to-b")); err != nil {
		t.Fatal(err)
	}
	if err := b.Send([]byte("to-a")); err != nil {
		t.Fatal(err)
	}
	if p := cb.waitCount(t, 1); string(p[0].Data) != "to-b" {
		t.Errorf("b got %q", p[0].Data)
	}
	if p := ca.waitCount(t, 1); string(p[0].Data) != "to-a" {
		t.Errorf("a got %q", p[0].Data)
	}
}

// Rekey moves a running cluster to a new authkeys secret one node at a
// time without a gap, and then a node still on the old key is shut out.
func TestRekey(t *testing.T) {
	old, nw := []byte("old"), []byte("new")
	n := newMockNet(t, "a", "b", "x", "p")
	a := n.start(t, Options{Node: "a", Secret: old})
	b := n.start(t, Options{Node: "b", Secret: old, Seeds: []string{a.Addr()}})
	waitView(t, a, "a=alive,b=alive")
	cb := collect(t, b, 0)
	// Step 1 on both: accept new, still send old. Step 2 on a: send new.
	for _, g := range []*Gossip{a, b} {
		if err := g.Rekey(old, [][]byte{nw}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Rekey(nw, [][]byte{old}); err != nil {
		t.Fatal(err)
	}
	if err := a.Send([]byte("under-new")); err != nil {
		t.Fatal(err)
	}
	if p := cb.waitCount(t, 1); string(p[0].Data) != "under-new" {
		t.Errorf("b got %q", p[0].Data)
	}
	// Step 3: both drop the old key; a stranger on the old key cannot join.
	for _, g := range []*Gossip{a, b} {
		if err := g.Rekey(nw, nil); err != nil {
			t.Fatal(err)
		}
		if n := len(g.keyring.GetKeys()); n != 1 {
			t.Errorf("%s holds %d keys, want 1", g.node, n)
		}
	}
	xlog := newLogCounter()
	x := n.start(t, Options{Node: "x", Secret: old, Seeds: []string{a.Addr()}, Log: slog.New(xlog)})
	waitRefused(t, "x", xlog, 3)
	if v := states(x); v != "x=alive" {
		t.Errorf("old-key node joined after rekey: %s", v)
	}
	if v := states(a); v != "a=alive,b=alive" {
		t.Errorf("a sees %s", v)
	}
	plain := n.start(t, Options{Node: "p"})
	if err := plain.Rekey(nw, nil); err == nil {
		t.Error("Rekey of an unencrypted medium succeeded")
	}
	if err := a.Rekey(nil, nil); err == nil {
		t.Error("Rekey to an empty secret succeeded")
	}
}

// A member that closes is seen as "left" and gets no more datagrams; the
// same node started again on the same address comes back alive by joining
// its seed. Then the seed itself restarts without seeds of its own: the
// others' rejoin loops bring it back into the cluster.
func TestLeaveAndRejoin(t *testing.T) {
	n, a, b, c := trio(t, Options{Secret: []byte("SECRET")})
	closeBounded(t, c)
	for _, g := range []*Gossip{a, b} {
		d := waitView(t, g, "a=alive,b=alive,c=left")
		t.Logf("%s sees c left %v after Close", g.node, d.Round(time.Millisecond))
	}
	before := a.Stats().Sent
	if err := a.Send([]byte("only-b")); err != nil {
		t.Fatal(err)
	}
	if got := a.Stats().Sent - before; got != 1 {
		t.Errorf("a sent %d datagrams after c left, want 1 (b only)", got)
	}
	if err := c.Send([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Send after Close = %v, want net.ErrClosed", err)
	}

	c2 := n.start(t, Options{Node: "c", Secret: []byte("SECRET"), Seeds: []string{a.Addr()}})
	if c2.Addr() != c.Addr() {
		t.Fatalf("restarted c on %s, was %s", c2.Addr(), c.Addr())
	}
	for _, g := range []*Gossip{a, b, c2} {
		d := waitView(t, g, "a=alive,b=alive,c=alive")
		t.Logf("%s sees the restarted c alive after %v", g.node, d.Round(time.Millisecond))
	}
	cc := collect(t, c2, 2)
	if err := a.Send([]byte("hello-again")); err != nil {
		t.Fatal(err)
	}
	if p := cc.waitCount(t, 1); string(p[0].Data) != "hello-again" || p[0].From.(Addr).Node != "a" {
		t.Errorf("restarted c got %+v", p[0])
	}

	// The seed goes away and comes back knowing nobody.
	closeBounded(t, a)
	waitView(t, b, "a=left,b=alive,c=alive")
	a2 := n.start(t, Options{Node: "a", Secret: []byte("SECRET")})
	d := waitView(t, a2, "a=alive,b=alive,c=alive")
	t.Logf("seed restarted without seeds: rejoined by the others after %v", d.Round(time.Millisecond))
}

// Datagrams too big for memberlist's UDP buffer go by TCP, intact and once;
// the largest one that fits still goes by UDP and fills the buffer exactly
// (the overhead is reckoned right). No packet a sends exceeds the buffer, so
// the larger datagrams can only have gone by stream.
func TestLargeDatagrams(t *testing.T) {
	n, a, b, c := trio(t, Options{Secret: []byte("SECRET")})
	cb, cc := collect(t, b, 1), collect(t, c, 2)
	fits := a.udpMax - 3 - len(a.node) // envelope: version, kind, length, name
	sizes := []int{fits, fits + 1, 64 << 10, 200 << 10}
	var sent [][]byte
	for i, size := range sizes {
		msg := bytes.Repeat([]byte{byte('A' + i)}, size)
		sent = append(sent, msg)
		if err := a.Send(msg); err != nil {
			t.Fatalf("Send %d bytes: %v", size, err)
		}
	}
	for _, col := range []*collector{cb, cc} {
		pkts := col.waitCount(t, len(sizes))
		if len(pkts) != len(sizes) {
			t.Errorf("got %d datagrams, want %d", len(pkts), len(sizes))
		}
		for _, want := range sent {
			got := 0
			for _, p := range pkts {
				if bytes.Equal(p.Data, want) {
					got++
				}
			}
			if got != 1 {
				t.Errorf("datagram of %d bytes delivered %d times, want once", len(want), got)
			}
		}
	}
	// Every datagram sent (two per Send) has been received once: none is
	// left on its way.
	eventually(t, "stats", func() (bool, string) {
		st := a.Stats()
		return st.Sent == uint64(2*len(sizes)) && st.SendErrors == 0, fmt.Sprintf("%+v", st)
	})
	const udpBuffer = 1400 // memberlist's default UDPBufferSize
	if got := n.nodes["a"].largestPacket(); got != udpBuffer {
		t.Errorf("a's largest packet is %d bytes, want %d: the datagram of %d bytes that fits did not fill the buffer", got, udpBuffer, fits)
	}
	t.Logf("UDP carries up to %d payload bytes (UDPBufferSize %d)", fits, udpBuffer)
}

// Datagrams that arrive before Receive runs wait for it; Receive returns
// on cancel and on Close; a full queue drops and counts.
func TestQueueAndReceiveLifecycle(t *testing.T) {
	n := newMockNet(t, "a", "b")
	a := n.start(t, Options{Node: "a"})
	b := n.start(t, Options{Node: "b", Seeds: []string{a.Addr()}, QueueLen: 2})
	waitView(t, b, "a=alive,b=alive")
	for i := range 5 {
		if err := a.Send(fmt.Appendf(nil, "early-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "queue full", func() (bool, string) {
		st := b.Stats()
		return st.Received == 2 && st.ReadErrors == 3, fmt.Sprintf("%+v", st)
	})
	cb := collect(t, b, 0)
	// Which two got in is memberlist's choice: its handoff queue serves the
	// newest message first under a burst.
	pkts := cb.waitCount(t, 2)
	for _, p := range pkts {
		if !strings.HasPrefix(string(p.Data), "early-") {
			t.Errorf("queued datagram %q", p.Data)
		}
	}

	// Receive returns when the medium closes, even with ctx still live.
	done := make(chan error, 1)
	go func() { done <- a.Receive(context.Background(), 0, func(media.Packet) {}) }()
	closeBounded(t, a)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Receive after Close = %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Receive did not return after Close")
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// Garbage handed to the delegate (not our envelope) is counted, not
// delivered.
func TestMalformedEnvelope(t *testing.T) {
	g := newMockNet(t, "a").start(t, Options{Node: "a"})
	for _, b := range [][]byte{nil, {1}, {1, 0}, {2, 0, 0, 'x'}, {1, 7, 0, 'x'}, {1, 0, 5, 'a', 'b'}} {
		g.received(b)
	}
	g.received([]byte{1, 0, 1, 'z', 'o', 'k'})
	g.received([]byte{1, 1, 1, 'z'}) // z is leaving: not a datagram
	if st := g.Stats(); st.ReadErrors != 6 || st.Received != 1 {
		t.Errorf("Stats = %+v, want 6 read errors and 1 received", st)
	}
	p := <-g.rx
	if string(p.Data) != "ok" || p.From.String() != "z" {
		t.Errorf("got %q from %v", p.Data, p.From)
	}
}

func TestOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
		want string
	}{
		{"no node", Options{Bind: "127.0.0.1:0"}, "node name is required"},
		{"bad bind", Options{Node: "a", Bind: "nowhere"}, "bind address"},
		{"bad port", Options{Node: "a", Bind: "127.0.0.1:99999"}, "bad port"},
		{"probe timeout", Options{Node: "a", Bind: "127.0.0.1:0", ProbeInterval: time.Second, ProbeTimeout: time.Second}, "probe timeout"},
		{"seed without port", Options{Node: "a", Bind: "127.0.0.1:0", Seeds: []string{"127.0.0.2"}}, "no port"},
		{"others without secret", Options{Node: "a", Bind: "127.0.0.1:0", OtherSecrets: [][]byte{[]byte("x")}}, "without an active one"},
		{"udp too big", Options{Node: "a", Bind: "127.0.0.1:0", UDPBufferSize: 70000}, "UDP limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := New(tc.opt)
			if err == nil {
				g.Close()
				t.Fatalf("New succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
	// The port in use is reported with the link and address: real sockets.
	a, err := New(fast(Options{Node: "a", Bind: "127.0.0.1:0"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeBounded(t, a) })
	if g, err := New(fast(Options{Node: "b", Bind: a.Addr()})); err == nil {
		g.Close()
		t.Error("second medium on the same port started")
	} else if !strings.Contains(err.Error(), a.Addr()) {
		t.Errorf("error %q does not name the address", err)
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		opt           Options
		probe, toutMS time.Duration
	}{
		{Options{}, 500 * time.Millisecond, 250 * time.Millisecond},
		{Options{Keepalive: 100 * time.Millisecond}, 200 * time.Millisecond, 100 * time.Millisecond},
		{Options{Keepalive: 2 * time.Second}, time.Second, 500 * time.Millisecond},
		{Options{WAN: true}, 2 * time.Second, 1200 * time.Millisecond},
		{Options{WAN: true, Keepalive: 10 * time.Second}, 5 * time.Second, 3 * time.Second},
	} {
		o := tc.opt
		o.Node, o.Bind = "a", "127.0.0.1:7000"
		cfg, err := memberlistConfig(&o)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ProbeInterval != tc.probe || cfg.ProbeTimeout != tc.toutMS {
			t.Errorf("%+v: probe %v/%v, want %v/%v", tc.opt, cfg.ProbeInterval, cfg.ProbeTimeout, tc.probe, tc.toutMS)
		}
		if cfg.EnableCompression || cfg.Label != labelPrefix || cfg.Name != "a" || cfg.BindPort != 7000 || cfg.Keyring != nil {
			t.Errorf("cfg %+v", cfg)
		}
	}
	seeds, err := normalizeSeeds([]string{"10.0.0.1", "10.0.0.2:99", "fe80::1", "[fe80::2]:5", "host"}, 694)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seeds, " "); got != "10.0.0.1:694 10.0.0.2:99 [fe80::1]:694 [fe80::2]:5 host:694" {
		t.Errorf("seeds %q", got)
	}
}

func TestDeriveKey(t *testing.T) {
	// Independent computation (Python hmac/hashlib, RFC 5869 with an empty
	// salt) of HKDF-SHA256("SECRET", info "lvsha gossip v1", 32 bytes).
	const want = "e35180d73cfc44b47a4683e4a98866d03d6922f7101ddc0ca9b19c5b4837791b"
	k, err := DeriveKey([]byte("SECRET"))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(k) != want {
		t.Errorf("DeriveKey(SECRET) = %x, want %s", k, want)
	}
	if k2, _ := DeriveKey([]byte("SECRET2")); bytes.Equal(k, k2) {
		t.Error("different secrets give the same key")
	}
	if _, err := DeriveKey(nil); err == nil {
		t.Error("empty secret accepted")
	}
}

func TestKeyringSecrets(t *testing.T) {
	kr := &wire.Keyring{Send: 2, Keys: map[int]wire.Key{
		1: {Index: 1, Method: wire.MethodMD5, Secret: "one"},
		2: {Index: 2, Method: wire.MethodSHA1, Secret: "two"},
		3: {Index: 3, Method: wire.MethodCRC},
		5: {Index: 5, Method: wire.MethodSHA1, Secret: "five"},
	}}
	s, o := KeyringSecrets(kr)
	if string(s) != "two" || len(o) != 2 || string(o[0]) != "one" || string(o[1]) != "five" {
		t.Errorf("got %q %q", s, o)
	}
	kr.Send = 3 // crc sends: encrypt with the first real secret
	if s, o = KeyringSecrets(kr); string(s) != "one" || len(o) != 2 {
		t.Errorf("crc send key: got %q %q", s, o)
	}
	crcOnly := &wire.Keyring{Send: 1, Keys: map[int]wire.Key{1: {Index: 1, Method: wire.MethodCRC}}}
	if s, o = KeyringSecrets(crcOnly); s != nil || o != nil {
		t.Errorf("crc only: got %q %q, want no encryption", s, o)
	}
	if s, o = KeyringSecrets(nil); s != nil || o != nil {
		t.Errorf("nil keyring: got %q %q", s, o)
	}
}

func TestLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	var watched []string
	watch := func(m string) { watched = append(watched, m) }
	l := newStdLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), "gossip", watch)
	l.Printf("[WARN] memberlist: Was able to connect to b but other probes failed")
	out := buf.String()
	for _, want := range []string{"level=DEBUG", `msg="Was able to connect to b but other probes failed"`, "memberlist_level=WARN", "link=gossip"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
	buf.Reset()
	l = newStdLogger(slog.New(slog.NewTextHandler(&buf, nil)), "gossip", watch) // info level: quiet
	l.Printf("[INFO] memberlist: Suspect b has failed, no acks received")
	if buf.Len() != 0 {
		t.Errorf("debug line logged at info level: %q", buf.String())
	}
	if len(watched) != 2 || watched[1] != "Suspect b has failed, no acks received" {
		t.Errorf("watched lines %q", watched)
	}
}

// crash stops g as a killed process would: no leave message, no goodbye.
func crash(t *testing.T, g *Gossip) {
	t.Helper()
	g.closeOnce.Do(func() {
		close(g.closed)
		if err := g.ml.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		g.wg.Wait()
	})
}

// A member that fails (no leave) is seen suspect, then dead, by memberlist;
// the view carries probe round trips. hbd does not act on this view.
func TestFailureSuspectThenDead(t *testing.T) {
	_, a, b, c := trio(t, Options{})
	eventually(t, "probe RTTs", func() (bool, string) {
		for _, m := range a.Members() {
			if !m.Self && m.RTT <= 0 {
				return false, fmt.Sprintf("%+v", a.Members())
			}
		}
		return true, ""
	})
	crashed := time.Now()
	crash(t, c)
	var suspectAfter time.Duration
	eventually(t, "c dead on a and b", func() (bool, string) {
		va, vb := states(a), states(b)
		if suspectAfter == 0 && (strings.Contains(va, "c=suspect") || strings.Contains(vb, "c=suspect")) {
			suspectAfter = time.Since(crashed)
		}
		return va == "a=alive,b=alive,c=dead" && vb == va, va + " / " + vb
	})
	t.Logf("c suspected after %v, dead on both after %v (probe interval 100ms)",
		suspectAfter.Round(time.Millisecond), time.Since(crashed).Round(time.Millisecond))
	if suspectAfter == 0 {
		t.Error("c was never reported suspect")
	}
}
