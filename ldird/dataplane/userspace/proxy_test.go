package userspace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lvsha/ldird/dataplane"
)

func TestTableReadBack(t *testing.T) {
	p := newTestProxy(t, Options{})
	vip := netip.MustParseAddr("127.0.0.10")
	svcs := []dataplane.Service{
		{Protocol: "tcp", Addr: vip, Port: freePort(t, "tcp", "127.0.0.10"), Scheduler: "wrr"},
		{Protocol: "tcp", Addr: vip, Port: freePort(t, "tcp", "127.0.0.10"), Scheduler: "", Persistent: 300 * time.Second, PersistentMask: 24},
		{Protocol: "udp", Addr: vip, Port: freePort(t, "udp", "127.0.0.10"), Scheduler: "sh"},
	}
	dests := []dataplane.Dest{
		{Addr: netip.MustParseAddr("127.0.0.11"), Port: 8080, Weight: 3, Method: "gate"},
		{Addr: netip.MustParseAddr("127.0.0.12"), Port: 0, Weight: 0, Method: "masq"},
		{Addr: netip.MustParseAddr("::1"), Port: 8081, Weight: 1, Method: "ipip"},
	}
	for _, s := range svcs {
		if err := p.AddService(s); err != nil {
			t.Fatal(err)
		}
		for _, d := range dests {
			if err := p.AddDest(s, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, _ := p.Services()
	want := append([]dataplane.Service(nil), svcs...)
	sortServices(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Services:\n got %+v\nwant %+v", got, want)
	}
	gd, _ := p.Dests(svcs[0])
	wd := []dataplane.Dest{dests[1], dests[0], dests[2]} // by key: 127.0.0.11:8080 < 127.0.0.12:0 is false
	sortDests(wd)
	if !reflect.DeepEqual(gd, wd) {
		t.Fatalf("Dests:\n got %+v\nwant %+v", gd, wd)
	}

	// Updates read back too.
	up := svcs[0]
	up.Scheduler, up.Persistent = "lc", time.Minute
	if err := p.UpdateService(up); err != nil {
		t.Fatal(err)
	}
	ud := dests[0]
	ud.Weight, ud.Method = 0, "masq"
	if err := p.UpdateDest(up, ud); err != nil {
		t.Fatal(err)
	}
	got, _ = p.Services()
	if !containsService(got, up) {
		t.Fatalf("updated service not read back: %+v", got)
	}
	gd, _ = p.Dests(up)
	if !containsDest(gd, ud) {
		t.Fatalf("updated real not read back: %+v", gd)
	}

	// Errors.
	errTests := []struct {
		name string
		err  error
		is   error
		msg  string
	}{
		{"dup service", p.AddService(svcs[0]), dataplane.ErrExist, ""},
		{"dup real", p.AddDest(svcs[0], dests[0]), dataplane.ErrExist, ""},
		{"update missing service", p.UpdateService(dataplane.Service{Protocol: "tcp", Addr: vip, Port: 1}), dataplane.ErrNotExist, ""},
		{"del missing service", p.DelService(dataplane.Service{Protocol: "tcp", Addr: vip, Port: 1}), dataplane.ErrNotExist, ""},
		{"dests of missing", errOf(p.Dests(dataplane.Service{Protocol: "udp", Addr: vip, Port: 1})), dataplane.ErrNotExist, ""},
		{"update missing real", p.UpdateDest(svcs[0], dataplane.Dest{Addr: vip, Port: 9}), dataplane.ErrNotExist, ""},
		{"del missing real", p.DelDest(svcs[0], dataplane.Dest{Addr: vip, Port: 9}), dataplane.ErrNotExist, ""},
		{"fwm", p.AddService(dataplane.Service{Protocol: "fwm", FWMark: 1}), nil, "firewall-mark"},
		{"port 0", p.AddService(dataplane.Service{Protocol: "tcp", Addr: vip}), nil, "port 0"},
		{"bad scheduler", p.AddService(dataplane.Service{Protocol: "tcp", Addr: vip, Port: 1, Scheduler: "mh"}), nil, "scheduler"},
		{"bad method", p.AddDest(svcs[0], dataplane.Dest{Addr: vip, Port: 9, Method: "tun"}), nil, "method"},
		{"negative weight", p.AddDest(svcs[0], dataplane.Dest{Addr: vip, Port: 9, Weight: -1}), nil, "weight"},
		{"bad mask", p.AddService(dataplane.Service{Protocol: "tcp", Addr: vip, Port: 1, PersistentMask: 33}), nil, "netmask"},
	}
	for _, tc := range errTests {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if tc.is != nil && !errors.Is(tc.err, tc.is) {
			t.Errorf("%s: %v is not %v", tc.name, tc.err, tc.is)
		}
		if tc.msg != "" && !strings.Contains(tc.err.Error(), tc.msg) {
			t.Errorf("%s: %v does not say %q", tc.name, tc.err, tc.msg)
		}
	}

	// Delete and re-add the same key: the port is free again at once.
	if err := p.DelDest(svcs[0], dests[2]); err != nil {
		t.Fatal(err)
	}
	if err := p.DelService(svcs[0]); err != nil {
		t.Fatal(err)
	}
	if err := p.AddService(svcs[0]); err != nil {
		t.Fatalf("re-add after delete: %v", err)
	}
	if gd, _ := p.Dests(svcs[0]); len(gd) != 0 {
		t.Fatalf("re-added service has reals %v", gd)
	}
}

func errOf[T any](_ T, err error) error { return err }

func sortServices(s []dataplane.Service) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j].Key() < s[i].Key() {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func sortDests(d []dataplane.Dest) {
	for i := range d {
		for j := i + 1; j < len(d); j++ {
			if d[j].Key() < d[i].Key() {
				d[i], d[j] = d[j], d[i]
			}
		}
	}
}

func containsService(ss []dataplane.Service, s dataplane.Service) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func containsDest(ds []dataplane.Dest, d dataplane.Dest) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// TestTCPSchedulers runs each scheduler over real connections. Sequential
// one-shot connections for rr/wrr (exact sequences); held-open
// connections for the connection-counting schedulers.
func TestTCPSchedulers(t *testing.T) {
	tests := []struct {
		sched   string
		weights []int
		hold    bool // keep each connection open while making the next
		want    string
	}{
		{"rr", []int{1, 1, 1}, false, "ABCABC"},
		{"rr", []int{1, 0, 1}, false, "ACAC"},
		// A service added empty starts wrr at cw 0 (mw was 0), and adding
		// reals keeps it there, so the kernel too begins with one pass
		// over every real before the weighted interleave.
		{"wrr", []int{3, 2, 1}, false, "ABCAABABC"},
		{"wrr", []int{1, 2}, false, "ABBABB"},
		{"lc", []int{1, 1, 1}, true, "ABCABC"},
		{"lc", []int{1, 1, 1}, false, "AAAA"}, // finished ones count for nothing after close
		{"wlc", []int{1, 2}, true, "ABBABB"},
		{"sed", []int{1, 2}, true, "BABBAB"},
		{"nq", []int{1, 2}, true, "ABBBAB"}, // idle first, then sed
		{"lblc", []int{1, 2}, true, "ABBABB"},
		{"dh", []int{1, 1, 1}, false, ""}, // checked below: one real only
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s-%v", tc.sched, tc.weights), func(t *testing.T) {
			p := newTestProxy(t, Options{})
			svc, _ := tcpService(t, p, "127.0.0.10", tc.sched, tc.weights...)
			var got strings.Builder
			var held []*client
			for range max(len(tc.want), 6) {
				c := dialVia(t, "", svc)
				c.echo(t, "hello")
				got.WriteString(c.real)
				if tc.hold {
					held = append(held, c)
				} else {
					c.finish(t)
					// Wait for the proxy to account the end, so lc sees 0.
					waitFor(t, "connection end", func() bool {
						for _, s := range p.Stats() {
							for _, r := range s.Reals {
								if r.ActiveConns+r.InactiveConns != 0 {
									return false
								}
							}
						}
						return true
					})
				}
			}
			if tc.want == "" {
				if s := got.String(); strings.Count(s, s[:1]) != len(s) {
					t.Fatalf("dh spread over reals: %s", s)
				}
			} else if got.String()[:len(tc.want)] != tc.want {
				t.Fatalf("got %s, want %s", got.String(), tc.want)
			}
			for _, c := range held {
				c.echo(t, "still")
				c.finish(t)
			}
		})
	}
}

// TestSourceHashStable checks sh keeps each client address on one real,
// the one the kernel's bucket table names, using several 127.0.0.x sources.
func TestSourceHashStable(t *testing.T) {
	p := newTestProxy(t, Options{})
	svc, bs := tcpService(t, p, "127.0.0.10", "sh", 1, 1, 1)
	seen := map[string]bool{}
	for x := 20; x < 32; x++ {
		src := fmt.Sprintf("127.0.0.%d", x)
		want := string(rune('A' + hashKey(netip.MustParseAddr(src), 0)%3)) // unweighted buckets cycle A B C
		for range 3 {
			if got := oneShot(t, src, svc); got != want {
				t.Fatalf("client %s: got %s, want %s", src, got, want)
			}
		}
		seen[want] = true
	}
	if len(seen) < 2 {
		t.Fatalf("12 clients all on one real: %v", seen)
	}
	// The real sees the director, not the client, as the source.
	bs[0].mu.Lock()
	defer bs[0].mu.Unlock()
	for _, a := range bs[0].seen {
		if a.As4()[3] >= 20 && a.As4()[3] < 32 {
			t.Fatalf("real saw the client address %s", a)
		}
	}
}

func TestQuiescentDrain(t *testing.T) {
	p := newTestProxy(t, Options{})
	svc, bs := tcpService(t, p, "127.0.0.10", "rr", 1, 1)
	a := dialVia(t, "", svc)
	if a.real != "A" {
		t.Fatalf("first connection on %s", a.real)
	}
	if err := p.UpdateDest(svc, bs[0].dest(0)); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if r := oneShot(t, "", svc); r != "B" {
			t.Fatalf("new connection to quiescent real %s", r)
		}
	}
	a.echo(t, "draining but alive")
	if st := realStats(p, svc, bs[0].dest(0)); st.ActiveConns != 1 {
		t.Fatalf("quiescent real active conns %d, want 1", st.ActiveConns)
	}
	a.finish(t)
}

func TestDelDestKeepsConnections(t *testing.T) {
	p := newTestProxy(t, Options{})
	svc, bs := tcpService(t, p, "127.0.0.10", "rr", 1, 1)
	a := dialVia(t, "", svc)
	if err := p.DelDest(svc, bs[0].dest(1)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := oneShot(t, "", svc); r != "B" {
			t.Fatalf("new connection to removed real %s", r)
		}
	}
	a.echo(t, "removed but alive")
	a.finish(t)
	ds, _ := p.Dests(svc)
	if len(ds) != 1 || ds[0] != bs[1].dest(1) {
		t.Fatalf("Dests after removal: %v", ds)
	}
	st := p.Stats()[0]
	if st.Conns != 4 || len(st.Reals) != 1 || st.Reals[0].Conns != 3 {
		t.Fatalf("stats after removal: %+v", st)
	}
}

func TestPersistence(t *testing.T) {
	t.Run("sticky and masked", func(t *testing.T) {
		p := newTestProxy(t, Options{})
		svc, _ := tcpService(t, p, "127.0.0.10", "rr", 1, 1)
		svc.Persistent = time.Minute
		if err := p.UpdateService(svc); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if r := oneShot(t, "127.0.0.20", svc); r != "A" {
				t.Fatalf("persistent client moved to %s", r)
			}
		}
		// Another /32 gets its own template: rr moves on to B.
		if r := oneShot(t, "127.0.0.21", svc); r != "B" {
			t.Fatalf("second client on %s, want B", r)
		}
		// With a /24 mask both share one template.
		svc.PersistentMask = 24
		if err := p.UpdateService(svc); err != nil {
			t.Fatal(err)
		}
		first := oneShot(t, "127.0.0.22", svc)
		for _, src := range []string{"127.0.0.23", "127.0.0.24", "127.0.0.22"} {
			if r := oneShot(t, src, svc); r != first {
				t.Fatalf("%s on %s, its /24 on %s", src, r, first)
			}
		}
	})
	t.Run("expiry", func(t *testing.T) {
		p := newTestProxy(t, Options{})
		svc, _ := tcpService(t, p, "127.0.0.10", "rr", 1, 1)
		svc.Persistent = 150 * time.Millisecond
		if err := p.UpdateService(svc); err != nil {
			t.Fatal(err)
		}
		// While a connection is open the template cannot expire.
		held := dialVia(t, "127.0.0.20", svc)
		time.Sleep(300 * time.Millisecond)
		if r := oneShot(t, "127.0.0.20", svc); r != held.real {
			t.Fatalf("template expired under an open connection: %s then %s", held.real, r)
		}
		held.finish(t)
		time.Sleep(400 * time.Millisecond)
		if r := oneShot(t, "127.0.0.20", svc); r == held.real {
			t.Fatalf("template outlived its timeout: still %s", r)
		}
	})
	t.Run("quiescent and removed", func(t *testing.T) {
		for _, expire := range []bool{false, true} {
			p := newTestProxy(t, Options{ExpireQuiescentTemplate: expire})
			svc, bs := tcpService(t, p, "127.0.0.10", "rr", 1, 1)
			svc.Persistent = time.Minute
			if err := p.UpdateService(svc); err != nil {
				t.Fatal(err)
			}
			if r := oneShot(t, "127.0.0.20", svc); r != "A" {
				t.Fatalf("first on %s", r)
			}
			if err := p.UpdateDest(svc, bs[0].dest(0)); err != nil {
				t.Fatal(err)
			}
			want := "A" // IPVS default: templates keep their quiescent real
			if expire {
				want = "B"
			}
			if r := oneShot(t, "127.0.0.20", svc); r != want {
				t.Fatalf("ExpireQuiescentTemplate=%v: got %s, want %s", expire, r, want)
			}
			if err := p.DelDest(svc, bs[0].dest(0)); err != nil {
				t.Fatal(err)
			}
			if r := oneShot(t, "127.0.0.20", svc); r != "B" {
				t.Fatalf("template kept a removed real: %s", r)
			}
		}
	})
}

func TestConnectFailover(t *testing.T) {
	p := newTestProxy(t, Options{ConnectTimeout: time.Second})
	svc, bs := tcpService(t, p, "127.0.0.10", "rr", 1)
	dead := dataplane.Dest{Addr: netip.MustParseAddr("127.0.0.13"), Port: freePort(t, "tcp", "127.0.0.13"), Weight: 1, Method: "masq"}
	if err := p.AddDest(svc, dead); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if r := oneShot(t, "", svc); r != "A" {
			t.Fatalf("got %s", r)
		}
	}
	if st := realStats(p, svc, dead); st.Conns != 0 {
		t.Fatalf("dead real counted %d connections", st.Conns)
	}
	// With only the dead real left the client is refused promptly.
	if err := p.DelDest(svc, bs[0].dest(1)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if c, err := tryDial("", svc); err == nil {
		c.c.Close()
		t.Fatalf("connected through to %s with only a dead real", c.real)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("refusal took %s", time.Since(start))
	}
}

func TestNoRealsResets(t *testing.T) {
	p := newTestProxy(t, Options{})
	svc, _ := tcpService(t, p, "127.0.0.10", "wlc")
	if _, err := tryDial("", svc); err == nil {
		t.Fatal("connected with no reals")
	}
	if st := serviceStats(p, svc); st.Refused[RefusedNoReal] != 1 || st.Current != 0 || p.GlobalStats().Current != 0 {
		t.Fatalf("refused %v, current %d, global %d", st.Refused, st.Current, p.GlobalStats().Current)
	}
}

// TestBackpressure streams more than the socket buffers hold through a
// client that reads slowly: the proxy keeps what the receiver cannot take
// yet, stops reading the sender meanwhile, and loses or reorders nothing.
func TestBackpressure(t *testing.T) {
	p := newTestProxy(t, Options{})
	svc, bs := tcpService(t, p, "127.0.0.10", "rr", 1)
	c := dialVia(t, "", svc)
	const total = 32 << 20
	c.c.SetDeadline(time.Now().Add(60 * time.Second))
	errc := make(chan error, 1)
	go func() {
		// Bytes cycle through 0..250 so a loss or reordering shows.
		buf := make([]byte, 1<<16)
		for sent := 0; sent < total; {
			for i := range buf {
				buf[i] = byte((sent + i) % 251)
			}
			n, err := c.c.Write(buf[:min(len(buf), total-sent)])
			if err != nil {
				errc <- err
				return
			}
			sent += n
		}
		errc <- c.c.CloseWrite()
	}()
	got, small := 0, make([]byte, 1000)
	for got < total {
		// Slow at first, so the buffers on both sides fill up.
		b := small
		if got > 4<<20 {
			b = make([]byte, 1<<16)
		}
		n, err := c.r.Read(b[:min(len(b), total-got)])
		for i := range n {
			if b[i] != byte((got+i)%251) {
				t.Fatalf("byte %d is %d, want %d", got+i, b[i], (got+i)%251)
			}
		}
		got += n
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if line, err := c.r.ReadString('\n'); err != nil || line != "A bye\n" {
		t.Fatalf("after the stream: %q, %v", line, err)
	}
	waitFor(t, "the counters", func() bool {
		st := realStats(p, svc, bs[0].dest(1))
		return st.BytesIn == total && st.ActiveConns+st.InactiveConns == 0
	})
}

func TestHalfCloseAndBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"defaults", Options{}},
		{"timeouts-set", Options{ClientTimeout: time.Minute, ServerTimeout: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProxy(t, tc.opts)
			svc, bs := tcpService(t, p, "127.0.0.10", "rr", 1)
			c := dialVia(t, "", svc)
			payload := strings.Repeat("x", 100000)
			c.echo(t, payload)
			c.finish(t) // half-close, the real still answers, then EOF
			d := bs[0].dest(1)
			waitFor(t, "byte counters", func() bool {
				st := realStats(p, svc, d)
				return st.ActiveConns == 0 && st.InactiveConns == 0 && st.BytesIn == uint64(len(payload)+1)
			})
			st := realStats(p, svc, d)
			if want := uint64(len("A\n") + len(payload) + 1 + len("A bye\n")); st.BytesOut != want {
				t.Fatalf("bytes out %d, want %d", st.BytesOut, want)
			}
			if st.Conns != 1 {
				t.Fatalf("conns %d", st.Conns)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	p := newTestProxy(t, Options{ClientTimeout: 200 * time.Millisecond})
	svc, _ := tcpService(t, p, "127.0.0.10", "rr", 1)
	busy := dialVia(t, "", svc)
	idle := dialVia(t, "", svc)
	// Keep one busy for well past the timeout.
	for range 10 {
		busy.echo(t, "ping")
		time.Sleep(60 * time.Millisecond)
	}
	idle.c.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := idle.r.ReadByte(); err == nil {
		t.Fatal("idle connection still open")
	}
	busy.echo(t, "still here")
	busy.finish(t)
}

func TestDelServiceKeepsConnections(t *testing.T) {
	p := newTestProxy(t, Options{})
	svc, bs := tcpService(t, p, "127.0.0.10", "rr", 1)
	c := dialVia(t, "", svc)
	if err := p.DelService(svc); err != nil {
		t.Fatal(err)
	}
	if _, err := tryDial("", svc); err == nil {
		t.Fatal("deleted service still accepts")
	}
	c.echo(t, "service gone, connection kept")
	// Re-adding takes the port again while the old connection lives.
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	if err := p.AddDest(svc, bs[0].dest(1)); err != nil {
		t.Fatal(err)
	}
	if r := oneShot(t, "", svc); r != "A" {
		t.Fatalf("re-added service: %s", r)
	}
	c.finish(t)
}

func TestCloseWithLiveConnections(t *testing.T) {
	p := New(Options{Logger: testLogger(t), CloseTimeout: 3 * time.Second})
	svc, _ := tcpService(t, p, "127.0.0.10", "rr", 1, 1)
	usvc, _ := udpService(t, p, "127.0.0.10", "rr", 1)
	var cs []*client
	for range 8 {
		c := dialVia(t, "", svc)
		cs = append(cs, c)
	}
	uc := udpDial(t, "", usvc)
	udpAsk(t, uc, "x")
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %s", d)
	}
	for _, c := range cs {
		c.c.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, err := io.ReadAll(c.r); err != nil && !isReset(err) {
			t.Fatalf("client after Close: %v", err)
		}
	}
	if err := p.AddService(svc); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddService after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

// TestConcurrentUpdates churns the table while clients run; with -race it
// checks the snapshot/lock discipline. B always stays at weight 1, so
// every request must succeed.
func TestConcurrentUpdates(t *testing.T) {
	p := newTestProxy(t, Options{ConnectTimeout: time.Second})
	svc, bs := tcpService(t, p, "127.0.0.10", "rr", 1, 1, 1)
	usvc, ubs := udpService(t, p, "127.0.0.10", "rr", 1, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reqs, fails atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := fmt.Sprintf("127.0.0.%d", 40+w)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := tryDial(src, svc)
				if err == nil {
					err = c.tryEcho("x")
					c.c.Close()
				}
				reqs.Add(1)
				if err != nil {
					fails.Add(1)
					t.Errorf("request: %v", err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			uc := udpDial(t, "", usvc)
			udpAsk(t, uc, "q")
			uc.Close()
		}
	}()
	scheds := []string{"rr", "wrr", "lc", "wlc", "sh", "dh", "sed", "nq", "lblcr"}
	deadline := time.Now().Add(1500 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		s := svc
		s.Scheduler = scheds[i%len(scheds)]
		s.Persistent = time.Duration(i%2) * time.Second
		if err := p.UpdateService(s); err != nil {
			t.Fatal(err)
		}
		for _, j := range []int{0, 2} {
			if err := p.UpdateDest(svc, bs[j].dest(i%3)); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 0 {
			if err := p.DelDest(svc, bs[2].dest(0)); err != nil {
				t.Fatal(err)
			}
			if err := p.AddDest(svc, bs[2].dest(2)); err != nil {
				t.Fatal(err)
			}
			if err := p.UpdateDest(usvc, ubs[0].dest(i%2)); err != nil {
				t.Fatal(err)
			}
		}
		p.Stats()
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if reqs.Load() == 0 || fails.Load() != 0 {
		t.Fatalf("%d requests, %d failed", reqs.Load(), fails.Load())
	}
	t.Logf("%d TCP requests under churn", reqs.Load())
}

// TestIPv6Relay: an IPv6 service relays to an IPv6 real and to an IPv4
// one (the proxy's sockets are its own, in either family).
func TestIPv6Relay(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatalf("no IPv6 loopback: %v", err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	p := newTestProxy(t, Options{})
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("::1"), Port: port, Scheduler: "rr", IPv6: true}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	l6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l6.Close()
	go func() {
		for {
			c, err := l6.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "six %s\n", c.RemoteAddr().(*net.TCPAddr).IP)
			c.Close()
		}
	}()
	b4 := startBackend(t, "four", "127.0.0.11")
	ap := addrPortOf(l6.Addr())
	for _, d := range []dataplane.Dest{{Addr: ap.Addr(), Port: ap.Port(), Weight: 1}, b4.dest(1)} {
		if err := p.AddDest(svc, d); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for range 2 {
		c, err := net.DialTimeout("tcp6", netip.AddrPortFrom(svc.Addr, svc.Port).String(), ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(ioTimeout))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.Fields(line)[0]] = true
	}
	if !seen["six"] || !seen["four"] {
		t.Fatalf("reals reached: %v", seen)
	}
	if st := serviceStats(p, svc); st.Conns != 2 {
		t.Fatalf("conns %d", st.Conns)
	}
}
