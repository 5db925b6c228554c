package userspace

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/ldird/dataplane"
)

func TestMaxConnsFor(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{
		{0, 1},
		{64, 16},           // half stays free
		{256, 64},          // (256-128)/2
		{1024, 384},        // (1024-256)/2
		{20000, 7500},      // a quarter stays free
		{524288, 196608},   // systemd's default hard limit
		{1 << 63, 6291456}, // RLIM_INFINITY counts as 2^24
	} {
		if got := maxConnsFor(tc.nofile); got != tc.want {
			t.Errorf("maxConnsFor(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if got := DefaultMaxConns(); got != maxConnsFor(rl.Cur) || 2*got > int(rl.Cur) {
		t.Errorf("DefaultMaxConns() = %d with RLIMIT_NOFILE %d", got, rl.Cur)
	}
}

// TestMaxConnsAboveFDLimitWarns: a configured limit the descriptor limit
// cannot carry is logged at start and when a reload sets it.
func TestMaxConnsAboveFDLimitWarns(t *testing.T) {
	h := newLogCounter()
	safe := DefaultMaxConns()
	p := newTestProxy(t, Options{Logger: slog.New(h), MaxConns: safe})
	if n := h.count("maxconn is above"); n != 0 {
		t.Fatalf("warned for the safe limit %d", safe)
	}
	p.SetMaxConns(safe + 1)
	if n := h.count("maxconn is above"); n != 1 {
		t.Fatalf("%d warnings for maxconn %d above the safe %d", n, safe+1, safe)
	}
	newTestProxy(t, Options{Logger: slog.New(h), MaxConns: 10 * safe})
	if n := h.count("maxconn is above"); n != 2 {
		t.Fatalf("%d warnings, want 2", n)
	}
}

func TestGate(t *testing.T) {
	g := newGate(3)
	if n := g.take(2); n != 2 {
		t.Fatalf("take(2) = %d", n)
	}
	if n := g.take(5); n != 1 {
		t.Fatalf("take(5) at 2/3 = %d", n)
	}
	if g.room() || g.take(1) != 0 {
		t.Fatal("room at the limit")
	}
	stop := make(chan struct{})
	close(stop)
	if g.wait(stop) {
		t.Fatal("wait at the limit returned true with stop closed")
	}
	done := make(chan bool)
	go func() { done <- g.wait(make(chan struct{})) }()
	waitFor(t, "the waiter to register", func() bool { return g.waiters.Load() == 1 })
	g.release(1)
	if !<-done {
		t.Fatal("wait after release: false")
	}
	// A raised limit lets a waiter in without any release.
	if g.take(1) != 1 {
		t.Fatal("slot freed by release not taken")
	}
	go func() { done <- g.wait(make(chan struct{})) }()
	waitFor(t, "the waiter to register", func() bool { return g.waiters.Load() == 1 })
	g.setMax(4)
	if !<-done {
		t.Fatal("wait after setMax: false")
	}
	// No limit.
	u := newGate(0)
	if u.take(1000) != 1000 || !u.room() {
		t.Fatal("unlimited gate refused")
	}
}

func TestRateLog(t *testing.T) {
	h := newLogCounter()
	r := newRateLog(slog.New(h), time.Hour)
	for i := range 1000 {
		r.warn("accept failed", "tcp 10.0.0.1:80", "n", i)
	}
	r.warn("accept failed", "tcp 10.0.0.2:80", "n", 0)
	if n := h.count("accept failed"); n != 2 {
		t.Fatalf("%d lines for 1000+1 warnings within an interval, want 2 (one per service)", n)
	}
	r.close()
	if n := h.count("accept failed (repeated)"); n != 1 {
		t.Fatalf("%d summary lines at close, want 1", n)
	}
	if v := h.attr("accept failed (repeated)", "times"); v.Int64() != 999 {
		t.Fatalf("summary says %v times, want 999", v)
	}
	r.warn("accept failed", "x", "after", "close")
	if n := h.count("accept failed"); n != 3 {
		t.Fatalf("logged after close: %d lines", n)
	}

	// The interval's end logs the count and opens a new interval; a quiet
	// interval forgets the key.
	h = newLogCounter()
	r = newRateLog(slog.New(h), 20*time.Millisecond)
	defer r.close()
	for range 5 {
		r.warn("no real", "svc")
	}
	waitFor(t, "the interval's summary", func() bool { return h.count("no real (repeated)") == 1 })
	if v := h.attr("no real (repeated)", "times"); v.Int64() != 4 {
		t.Fatalf("summary says %v times, want 4", v)
	}
	waitFor(t, "the quiet key to be forgotten", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.m) == 0
	})
	r.warn("no real", "svc")
	if n := h.count("no real"); n != 3 {
		t.Fatalf("%d lines, want 3 (first, summary, first of a new interval)", n)
	}
}

// TestIdleConnectionsBoundedMemory holds three times a virtual's limit in
// idle connections: the proxy accepts up to the limit, the rest wait in
// the listen queue, and memory grows with the accepted ones only, within
// the stated bound per connection. Another virtual keeps serving, and when
// some clients go, the queued ones are accepted in their place.
func TestIdleConnectionsBoundedMemory(t *testing.T) {
	// Per accepted idle connection: the README's figure is the measured
	// one; these bounds are generous, and a goroutine per connection
	// (2 KiB of stack at least) or a buffer per connection fails them.
	const goBound, rssBound = 2 << 10, 8 << 10
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	// Each accepted connection takes 3 descriptors here (client, both
	// proxy sockets), each queued one 1; the listen queue holds at most
	// net.core.somaxconn.
	limit := min(1000, int(rl.Cur-200)/6)
	if limit < 50 {
		t.Fatalf("RLIMIT_NOFILE %d leaves room for %d connections; this test needs 50", rl.Cur, limit)
	}
	queued := min(2*limit, somaxconn(t)-10)
	p := newTestProxy(t, Options{MaxConns: 100000})
	full := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("127.0.0.10"), Port: freePort(t, "tcp", "127.0.0.10"), Scheduler: "rr", MaxConns: limit}
	if err := p.AddService(full); err != nil {
		t.Fatal(err)
	}
	if err := p.AddDest(full, rawListener(t, "127.0.0.11")); err != nil {
		t.Fatal(err)
	}
	other, _ := tcpService(t, p, "127.0.0.20", "rr", 1)

	cs := newRawClients(t, limit+queued)
	// Warm up: the first connections grow the loops' tables and pools.
	for i := range 10 {
		cs.connect(t, i, full)
	}
	waitFor(t, "10 connections", func() bool { return serviceStats(p, full).Current == 10 })
	mem0, rss0 := goMemory(), rss(t)
	for i := 10; i < len(cs); i++ {
		cs.connect(t, i, full)
	}
	waitFor(t, "the limit to be reached", func() bool {
		st := serviceStats(p, full)
		return st.Current == int64(limit) && st.LimitVirtual > 0
	})
	mem1, rss1 := goMemory(), rss(t)
	held := uint64(limit - 10)
	goPer, rssPer := int64(mem1-mem0)/int64(held), (int64(rss1)-int64(rss0))/int64(held)
	var threads string
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Threads:") {
				threads = strings.TrimSpace(strings.TrimPrefix(l, "Threads:"))
			}
		}
	}
	t.Logf("%d idle connections accepted, %d queued: per accepted connection %d B of Go heap and stacks, %d B of RSS; %d goroutines, %s threads (GOMAXPROCS %d)",
		limit, queued, goPer, rssPer, runtime.NumGoroutine(), threads, runtime.GOMAXPROCS(0))
	if goPer > goBound {
		t.Errorf("Go memory per idle connection %d B, bound %d B", goPer, goBound)
	}
	if rssPer > rssBound {
		t.Errorf("RSS per idle connection %d B, bound %d B", rssPer, rssBound)
	}
	st := serviceStats(p, full)
	if st.Current != int64(limit) || st.Conns != uint64(limit) {
		t.Fatalf("at the limit: current %d, conns %d, want %d (the rest queued)", st.Current, st.Conns, limit)
	}
	if n := serviceStats(p, full).Refused[RefusedNoReal] + serviceStats(p, full).Refused[RefusedNoFD]; n != 0 {
		t.Fatalf("%d clients refused at the limit: they should wait", n)
	}

	// The other virtual is not held up.
	if r := oneShot(t, "", other); r != "A" {
		t.Fatalf("other virtual: %q", r)
	}

	// Clients go (RST): as many queued ones are accepted in their place.
	const gone = 25
	for i := range gone {
		cs.reset(i)
	}
	waitFor(t, "queued connections to take the freed slots", func() bool {
		st := serviceStats(p, full)
		return st.Conns == uint64(limit+gone) && st.Current == int64(limit)
	})
}

// TestGlobalLimit fills the proxy-wide limit on one virtual: another
// virtual's client waits in its listen queue (counted as a global-limit
// pause) and is served as soon as a connection ends; a raised limit lets
// the next one in at once.
func TestGlobalLimit(t *testing.T) {
	const limit = 5
	p := newTestProxy(t, Options{MaxConns: limit})
	a := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("127.0.0.10"), Port: freePort(t, "tcp", "127.0.0.10"), Scheduler: "rr"}
	if err := p.AddService(a); err != nil {
		t.Fatal(err)
	}
	if err := p.AddDest(a, rawListener(t, "127.0.0.11")); err != nil {
		t.Fatal(err)
	}
	b, _ := tcpService(t, p, "127.0.0.20", "rr", 1)
	cs := newRawClients(t, limit+1)
	for i := range limit {
		cs.connect(t, i, a)
	}
	waitFor(t, "the global limit", func() bool { return p.GlobalStats().Current == limit })

	cs.connect(t, limit, b) // the kernel completes it; the proxy does not accept it yet
	waitFor(t, "b to pause at the global limit", func() bool { return serviceStats(p, b).LimitGlobal > 0 })
	if st := serviceStats(p, b); st.Current != 0 || st.Conns != 0 {
		t.Fatalf("b accepted past the global limit: %+v", st)
	}
	cs.reset(0)
	if g, err := cs.greeting(limit); err != nil || g != "A\n" {
		t.Fatalf("b after a slot freed: %q, %v", g, err)
	}
	if g := p.GlobalStats(); g.Current != limit || g.MaxConns != limit {
		t.Fatalf("global %+v", g)
	}

	c := make(chan *client, 1)
	go func() {
		cl, err := tryDial("", b)
		if err != nil {
			t.Error(err)
		}
		c <- cl
	}()
	waitFor(t, "b to pause again", func() bool { return serviceStats(p, b).LimitGlobal > 1 })
	p.SetMaxConns(limit + 1)
	cl := <-c
	if cl == nil {
		t.FailNow()
	}
	cl.echo(t, "raised")
	cl.finish(t)
	if p.MaxConns() != limit+1 {
		t.Fatalf("MaxConns %d", p.MaxConns())
	}
}

// TestVirtualLimitUpdate: a raised per-virtual limit (UpdateService) lets
// the queued client in.
func TestVirtualLimitUpdate(t *testing.T) {
	p := newTestProxy(t, Options{})
	svc, _ := tcpService(t, p, "127.0.0.10", "rr", 1)
	svc.MaxConns = 1
	if err := p.UpdateService(svc); err != nil {
		t.Fatal(err)
	}
	first := dialVia(t, "", svc)
	cs := newRawClients(t, 1)
	cs.connect(t, 0, svc)
	waitFor(t, "the virtual's limit", func() bool { return serviceStats(p, svc).LimitVirtual > 0 })
	svc.MaxConns = 2
	if err := p.UpdateService(svc); err != nil {
		t.Fatal(err)
	}
	if g, err := cs.greeting(0); err != nil || g != "A\n" {
		t.Fatalf("queued client after the limit was raised: %q, %v", g, err)
	}
	if got, _ := p.Services(); got[0].MaxConns != 2 {
		t.Fatalf("read back %+v", got[0])
	}
	first.finish(t)
}

// TestUDPLimitRefuses: a UDP session holds a socket, so it counts against
// the limits; a datagram cannot wait, so a new client's is dropped and
// counted.
func TestUDPLimitRefuses(t *testing.T) {
	p := newTestProxy(t, Options{})
	svc, _ := udpService(t, p, "127.0.0.10", "rr", 1)
	svc.MaxConns = 1
	if err := p.UpdateService(svc); err != nil {
		t.Fatal(err)
	}
	c1 := udpDial(t, "127.0.0.41", svc)
	if r := udpAsk(t, c1, "one"); r != "A" {
		t.Fatalf("first client: %q", r)
	}
	c2 := udpDial(t, "127.0.0.42", svc)
	if _, err := c2.WriteToUDPAddrPort([]byte("two"), c2.to); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second client's datagram to be refused", func() bool {
		return serviceStats(p, svc).Refused[RefusedLimit] == 1
	})
	if st := serviceStats(p, svc); st.Current != 1 || p.GlobalStats().Current != 1 {
		t.Fatalf("current %d, global %d", st.Current, p.GlobalStats().Current)
	}
	// The first client's session still works.
	if r := udpAsk(t, c1, "again"); r != "A" {
		t.Fatalf("first client again: %q", r)
	}
}

// TestIdleTimeoutSides: the client and server idle timeouts are told
// apart in the counters, a service's own timeout wins over the proxy's,
// and a connection that keeps moving data outlives them.
func TestIdleTimeoutSides(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		svcOwn  [2]time.Duration // the service's client and server timeouts
		clientN uint64
		serverN uint64
	}{
		{"client", Options{ClientTimeout: 100 * time.Millisecond}, [2]time.Duration{}, 1, 0},
		{"server", Options{ServerTimeout: 100 * time.Millisecond}, [2]time.Duration{}, 0, 1},
		{"service-own", Options{}, [2]time.Duration{time.Hour, 100 * time.Millisecond}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProxy(t, tc.opts)
			svc, _ := tcpService(t, p, "127.0.0.10", "rr", 1)
			svc.ClientTimeout, svc.ServerTimeout = tc.svcOwn[0], tc.svcOwn[1]
			if err := p.UpdateService(svc); err != nil {
				t.Fatal(err)
			}
			c := dialVia(t, "", svc)
			c.c.SetReadDeadline(time.Now().Add(ioTimeout))
			if _, err := c.r.ReadByte(); err == nil {
				t.Fatal("idle connection still open")
			}
			st := serviceStats(p, svc)
			if st.ClientTimeouts != tc.clientN || st.ServerTimeouts != tc.serverN {
				t.Fatalf("timeouts client %d server %d, want %d %d", st.ClientTimeouts, st.ServerTimeouts, tc.clientN, tc.serverN)
			}
			waitFor(t, "the slot to be released", func() bool { return serviceStats(p, svc).Current == 0 })
		})
	}
}

// TestAcceptOutOfDescriptors lowers this process's descriptor limit so the
// proxy runs out while clients keep coming. It must back off instead of
// spinning (attempts bounded by its back-off schedule, whatever the
// machine's speed), log one line and then a count, keep relaying the
// established connection, and serve the waiting clients, none reset, once
// descriptors are back.
func TestAcceptOutOfDescriptors(t *testing.T) {
	h := newLogCounter()
	p := newTestProxy(t, Options{Logger: slog.New(h), MaxConns: 100000})
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("127.0.0.10"), Port: freePort(t, "tcp", "127.0.0.10"), Scheduler: "rr"}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	if err := p.AddDest(svc, startEchoProcess(t, "127.0.0.11")); err != nil {
		t.Fatal(err)
	}
	est := dialVia(t, "", svc)
	const waiting = 20
	cs := newRawClients(t, waiting)

	// Fill every free descriptor number below the current highest, so the
	// limit set next leaves exactly `spare` free ones.
	const spare = 5
	var fill []int
	defer func() {
		for _, fd := range fill {
			unix.Close(fd)
		}
	}()
	high := 0
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		var fd int
		fmt.Sscan(e.Name(), &fd)
		high = max(high, fd)
	}
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fd > high {
			unix.Close(fd)
			break
		}
		fill = append(fill, fd)
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = uint64(high + 1 + spare)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer restore()

	for i := range waiting {
		cs.connect(t, i, svc)
	}
	waitFor(t, "accepting to pause", func() bool { return serviceStats(p, svc).AcceptErrors > 0 })
	a0, start := serviceStats(p, svc).AcceptErrors, time.Now()
	// The established connection is served meanwhile.
	for i := range 5 {
		est.echo(t, fmt.Sprintf("still here %d", i))
	}
	time.Sleep(time.Second) // a window to count retries in, not a wait for an event
	window := time.Since(start)
	a1 := serviceStats(p, svc).AcceptErrors
	lines := h.count("out of file descriptors")
	restore()

	// Back-off 5 ms doubling to 1 s: at most 8 retries before it reaches
	// 1 s, then one a second (plus early retries when a connection ends,
	// and none does here). A spinning loop makes thousands.
	if bound := uint64(10 + 2*window/time.Second); a1-a0 > bound {
		t.Errorf("%d accept retries in %s out of descriptors, bound %d", a1-a0, window, bound)
	}
	// One line at the first, then one per LogInterval (5 s) with a count.
	if bound := 2 + int(window/(5*time.Second)); lines > bound {
		t.Errorf("%d log lines in %s out of descriptors, bound %d", lines, window, bound)
	}
	t.Logf("out of descriptors for %s: %d retries, %d log lines", window.Round(time.Millisecond), a1-a0, lines)

	for i := range waiting {
		if g, err := cs.greeting(i); err != nil || g != "A\n" {
			t.Fatalf("waiting client %d after descriptors came back: %q, %v", i, g, err)
		}
	}
	st := serviceStats(p, svc)
	if n := st.Refused[RefusedNoReal] + st.Refused[RefusedNoFD]; n != 0 {
		t.Fatalf("%d clients reset for want of descriptors", n)
	}
	est.echo(t, "after")
	est.finish(t)
}
