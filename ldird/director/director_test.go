package director

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

// lockedFake serialises access to a dataplane.Fake so tests can read the
// recorded calls while the director runs.
type lockedFake struct {
	mu sync.Mutex
	f  *dataplane.Fake
}

func newFake() *lockedFake { return &lockedFake{f: dataplane.NewFake()} }

func (l *lockedFake) do(fn func() error) error { l.mu.Lock(); defer l.mu.Unlock(); return fn() }
func (l *lockedFake) Services() (s []dataplane.Service, err error) {
	err = l.do(func() error { s, err = l.f.Services(); return err })
	return
}
func (l *lockedFake) Dests(svc dataplane.Service) (d []dataplane.Dest, err error) {
	err = l.do(func() error { d, err = l.f.Dests(svc); return err })
	return
}
func (l *lockedFake) AddService(s dataplane.Service) error {
	return l.do(func() error { return l.f.AddService(s) })
}
func (l *lockedFake) UpdateService(s dataplane.Service) error {
	return l.do(func() error { return l.f.UpdateService(s) })
}
func (l *lockedFake) DelService(s dataplane.Service) error {
	return l.do(func() error { return l.f.DelService(s) })
}
func (l *lockedFake) AddDest(s dataplane.Service, d dataplane.Dest) error {
	return l.do(func() error { return l.f.AddDest(s, d) })
}
func (l *lockedFake) UpdateDest(s dataplane.Service, d dataplane.Dest) error {
	return l.do(func() error { return l.f.UpdateDest(s, d) })
}
func (l *lockedFake) DelDest(s dataplane.Service, d dataplane.Dest) error {
	return l.do(func() error { return l.f.DelDest(s, d) })
}
func (l *lockedFake) Close() error { return nil }
func (l *lockedFake) calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string{}, l.f.Calls...)
}
func (l *lockedFake) reset() { l.mu.Lock(); l.f.ResetCalls(); l.mu.Unlock() }

// fakeChecks answers checks from a per-address table; delay slows every
// check (to observe the startup round).
type fakeChecks struct {
	mu    sync.Mutex
	ok    map[string]bool
	delay time.Duration
}

func (f *fakeChecks) set(ip string, ok bool) { f.mu.Lock(); f.ok[ip] = ok; f.mu.Unlock() }
func (f *fakeChecks) Check(ctx context.Context, t check.Target) check.Result {
	f.mu.Lock()
	ok, delay := f.ok[t.IP.String()], f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
	if ok {
		return check.Result{OK: true, Detail: "fake ok", Latency: time.Millisecond}
	}
	return check.Result{OK: false, Err: fmt.Errorf("fake down"), Latency: time.Millisecond}
}

const baseCf = `checkinterval=1
checktimeout=1
%s
virtual=10.0.0.100:80
	real=10.0.1.2:80 gate 1
	real=10.0.1.3:80 gate 2
	checktype=connect
	%s
`

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.ParseBytes("test.cf", []byte(text), config.Options{})
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return cfg
}

type harness struct {
	t      *testing.T
	dp     *lockedFake
	checks *fakeChecks
	d      *Director
}

func newHarness(t *testing.T, dp *lockedFake, opts ...func(*Options)) *harness {
	h := &harness{t: t, dp: dp, checks: &fakeChecks{ok: map[string]bool{"10.0.1.2": true, "10.0.1.3": true}}}
	o := Options{
		Dataplane:  dp,
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		NewChecker: func(check.Spec) (check.Checker, error) { return h.checks, nil },
		TuneReal:   func(rc *check.RealConfig) { rc.Interval = 10 * time.Millisecond },
		Hostname:   "director-test",
	}
	for _, f := range opts {
		f(&o)
	}
	h.d = New(o)
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (h *harness) start(cfg *config.Config) {
	h.t.Helper()
	if err := h.d.Start(context.Background(), cfg); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	h.t.Cleanup(h.d.Stop)
}

// waitCalls waits until the recorded calls equal want (and stay so briefly).
func (h *harness) waitCalls(want ...string) {
	h.t.Helper()
	h.waitCallsBy(false, want...)
}

// waitCallsAnyOrder is waitCalls for changes made by separate reconciles
// whose order is not defined (two checks failing at once).
func (h *harness) waitCallsAnyOrder(want ...string) {
	h.t.Helper()
	h.waitCallsBy(true, want...)
}

func (h *harness) waitCallsBy(anyOrder bool, want ...string) {
	h.t.Helper()
	if anyOrder {
		sort.Strings(want)
	}
	if want == nil {
		want = []string{}
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		calls := func() []string {
			c := h.dp.calls()
			if anyOrder {
				sort.Strings(c)
			}
			return c
		}
		got := calls()
		if reflect.DeepEqual(got, want) {
			time.Sleep(50 * time.Millisecond) // nothing more follows
			if got = calls(); reflect.DeepEqual(got, want) {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("calls:\n got %q\nwant %q", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const (
	svcKey = "tcp 10.0.0.100:80"
	realA  = "10.0.1.2:80"
	realB  = "10.0.1.3:80"
)

func TestStartAddsEverything(t *testing.T) {
	h := newHarness(t, newFake())
	h.start(parse(t, fmt.Sprintf(baseCf, "", "")))
	h.waitCalls("AddService "+svcKey, "AddDest "+svcKey+" "+realA+" gate w=1", "AddDest "+svcKey+" "+realB+" gate w=2")
}

// A restart over a populated table: the up real is not touched, the
// foreign service is not touched, nothing is published down while the
// (slow) first round runs, and only the missing real is added.
func TestStartNoFlapNoFlush(t *testing.T) {
	dp := newFake()
	cfg := parse(t, fmt.Sprintf(baseCf, "quiescent=yes", ""))
	svc := ServiceFor(cfg.Virtuals[0])
	foreign := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.9.9.9"), Port: 443, Scheduler: "wlc"}
	_ = dp.AddService(svc)
	_ = dp.AddDest(svc, dst("10.0.1.2", 80, 1))
	_ = dp.AddService(foreign)
	_ = dp.AddDest(foreign, dst("10.5.5.5", 443, 7))
	dp.reset()
	h := newHarness(t, dp)
	h.checks.delay = 300 * time.Millisecond
	done := make(chan struct{})
	go func() { h.start(cfg); close(done) }()
	time.Sleep(200 * time.Millisecond)
	if c := dp.calls(); len(c) != 0 {
		t.Fatalf("table changed during the first check round: %q", c)
	}
	<-done
	h.waitCalls("AddDest " + svcKey + " " + realB + " gate w=2")
	if st := h.d.State(cfg.Virtuals[0], cfg.Virtuals[0].Reals[0]); st.State != check.Up {
		t.Fatalf("real A state %v", st.State)
	}
}

func TestQuiescentFallbackAndCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "fb.log")
	script := filepath.Join(dir, "fb.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+out+"\n"), 0o755)
	cfg := parse(t, fmt.Sprintf(baseCf, "quiescent=yes\nfallback=127.0.0.1:8080 masq\nfallbackcommand="+script, ""))
	h := newHarness(t, newFake())
	h.start(cfg)
	h.dp.reset()

	h.checks.set("10.0.1.2", false)
	h.waitCalls("UpdateDest " + svcKey + " " + realA + " gate w=0")
	h.dp.reset()

	h.checks.set("10.0.1.3", false)
	h.waitCalls("AddDest "+svcKey+" 127.0.0.1:8080 masq w=1", "UpdateDest "+svcKey+" "+realB+" gate w=0")
	h.dp.reset()

	h.checks.set("10.0.1.3", true)
	h.waitCalls("UpdateDest "+svcKey+" "+realB+" gate w=2", "DelDest "+svcKey+" 127.0.0.1:8080 masq w=1")

	h.d.Stop() // drains the command queue
	b, _ := os.ReadFile(out)
	want := "stop 10.0.0.100:80 tcp\nstart 10.0.0.100:80 tcp\nstop 10.0.0.100:80 tcp\n"
	if string(b) != want {
		t.Fatalf("fallbackcommand runs:\n%s\nwant:\n%s", b, want)
	}
}

func TestNotQuiescentRemoves(t *testing.T) {
	h := newHarness(t, newFake())
	h.start(parse(t, fmt.Sprintf(baseCf, "quiescent=no", "")))
	h.dp.reset()
	h.checks.set("10.0.1.3", false)
	h.waitCalls("DelDest " + svcKey + " " + realB + " gate w=2")
	h.dp.reset()
	h.checks.set("10.0.1.3", true)
	h.waitCalls("AddDest " + svcKey + " " + realB + " gate w=2")
}

func TestReaddQuiescent(t *testing.T) {
	for _, readd := range []bool{false, true} {
		t.Run(fmt.Sprint("readdquiescent=", readd), func(t *testing.T) {
			g := "quiescent=yes\nreaddquiescent=" + yesNo(readd)
			h := newHarness(t, newFake())
			h.checks.set("10.0.1.3", false)
			h.start(parse(t, fmt.Sprintf(baseCf, g, "")))
			// Down at start: added quiesced either way (ldirectord adds then quiesces).
			h.waitCalls("AddService "+svcKey, "AddDest "+svcKey+" "+realA+" gate w=1", "AddDest "+svcKey+" "+realB+" gate w=0")
			svc := ServiceFor(h.d.Config().Virtuals[0])
			_ = h.dp.DelDest(svc, dst("10.0.1.3", 80, 0)) // by hand
			h.dp.reset()
			h.d.Poke()
			if readd {
				h.waitCalls("AddDest " + svcKey + " " + realB + " gate w=0")
			} else {
				h.waitCalls()
			}
		})
	}
}

func TestReloadDeletesOnlyRetiredVirtual(t *testing.T) {
	dp := newFake()
	foreign := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.9.9.9"), Port: 443, Scheduler: "wlc"}
	_ = dp.AddService(foreign)
	two := fmt.Sprintf(baseCf, "", "") + "virtual=10.0.0.101:80\n\treal=10.0.1.2:80 gate\n\tchecktype=connect\n"
	h := newHarness(t, dp)
	h.start(parse(t, two))
	h.dp.reset()
	// Same first virtual, second one gone, a weight changed.
	one := strings.Replace(fmt.Sprintf(baseCf, "", ""), "10.0.1.3:80 gate 2", "10.0.1.3:80 gate 5", 1)
	if err := h.d.Reload(parse(t, one)); err != nil {
		t.Fatal(err)
	}
	h.waitCalls("UpdateDest "+svcKey+" "+realB+" gate w=5", "DelService tcp 10.0.0.101:80")
}

func TestReloadBadCheckKeepsRunning(t *testing.T) {
	h := newHarness(t, newFake())
	h.start(parse(t, fmt.Sprintf(baseCf, "", "")))
	h.dp.reset()
	h.d.o.NewChecker = func(check.Spec) (check.Checker, error) { return nil, fmt.Errorf("%w: nope", check.ErrConfig) }
	cfg2 := parse(t, strings.Replace(fmt.Sprintf(baseCf, "", ""), "gate 2", "gate 3", 1))
	if err := h.d.Reload(cfg2); err == nil || !strings.Contains(err.Error(), "test.cf:5") {
		t.Fatalf("Reload err = %v, want one naming test.cf:5", err)
	}
	h.waitCalls()
	if h.d.Config().Virtuals[0].Reals[1].Weight != 2 {
		t.Fatal("config replaced despite the error")
	}
}

func TestCleanStop(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprint("cleanstop=", clean), func(t *testing.T) {
			h := newHarness(t, newFake())
			h.start(parse(t, fmt.Sprintf(baseCf, "cleanstop="+yesNo(clean), "")))
			h.waitCalls("AddService "+svcKey, "AddDest "+svcKey+" "+realA+" gate w=1", "AddDest "+svcKey+" "+realB+" gate w=2")
			h.dp.reset()
			h.d.Stop()
			if clean {
				h.waitCalls("DelDest "+svcKey+" "+realA+" gate w=1", "DelDest "+svcKey+" "+realB+" gate w=2", "DelService "+svcKey)
			} else {
				h.waitCalls()
			}
		})
	}
}

func TestMaintenanceDir(t *testing.T) {
	dir := t.TempDir()
	cfg := parse(t, fmt.Sprintf(baseCf, "quiescent=yes\nfailurecount=5\nmaintenancedir="+dir, ""))
	h := newHarness(t, newFake(), func(o *Options) {
		o.LookupAddr = func(context.Context, string) ([]string, error) { return []string{"web2.example.net."}, nil }
	})
	h.start(cfg)
	h.dp.reset()
	// failurecount=5 does not delay maintenance.
	os.WriteFile(filepath.Join(dir, "10.0.1.2:80"), nil, 0o644)
	h.waitCalls("UpdateDest " + svcKey + " " + realA + " gate w=0")
	h.dp.reset()
	os.Remove(filepath.Join(dir, "10.0.1.2:80"))
	h.waitCalls("UpdateDest " + svcKey + " " + realA + " gate w=1")
	h.dp.reset()
	// The short name from reverse DNS.
	os.WriteFile(filepath.Join(dir, "web2"), nil, 0o644)
	h.waitCallsAnyOrder("UpdateDest "+svcKey+" "+realA+" gate w=0", "UpdateDest "+svcKey+" "+realB+" gate w=0")
}

func TestStatusText(t *testing.T) {
	h := newHarness(t, newFake())
	h.checks.set("10.0.1.3", false)
	h.start(parse(t, fmt.Sprintf(baseCf, "quiescent=yes\nfallback=127.0.0.1:8080", "")))
	var b strings.Builder
	if err := h.d.WriteStatus(&b); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{
		"TCP  10.0.0.100:80 wrr\n",
		"  -> 10.0.1.2:80                  Route   1      0          0         \n",
		"  -> 10.0.1.3:80                  Route   0      0          0         \n",
		"  real 10.0.1.2:80 up weight=1 ",
		"  real 10.0.1.3:80 down weight=0 ",
		"fallback=127.0.0.1:8080 inactive",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("status lacks %q:\n%s", want, s)
		}
	}
}

// smtpSink is a minimal SMTP server on loopback that keeps each message.
type smtpSink struct {
	ln   net.Listener
	msgs chan string
}

func newSMTPSink(t *testing.T) *smtpSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln, msgs: make(chan string, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprint(c, "220 sink ESMTP\r\n")
	var env []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			fmt.Fprint(c, "250-sink\r\n250 8BITMIME\r\n")
		case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"):
			env = append(env, strings.TrimSpace(line))
			fmt.Fprint(c, "250 ok\r\n")
		case cmd == "DATA":
			fmt.Fprint(c, "354 go\r\n")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.msgs <- strings.Join(env, "\n") + "\n" + b.String()
			env = nil
			fmt.Fprint(c, "250 queued\r\n")
		case cmd == "QUIT":
			fmt.Fprint(c, "221 bye\r\n")
			return
		default:
			fmt.Fprint(c, "250 ok\r\n")
		}
	}
}

func (s *smtpSink) next(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(timeout):
		t.Fatal("no mail")
	}
	return ""
}

func TestEmailAlerts(t *testing.T) {
	sink := newSMTPSink(t)
	port := sink.ln.Addr().(*net.TCPAddr).Port
	g := "quiescent=yes\nemailalert=ops@example.com, noc@example.com\nemailalertfrom=ldird@example.com\nsmtp=127.0.0.1\nemailalertfreq=1\nemailalertstatus=running"
	h := newHarness(t, newFake(), func(o *Options) { o.SMTPPort = port })
	h.start(parse(t, fmt.Sprintf(baseCf, g, "servicename=web\n\tcomment=\"front end\"")))
	// Startup adds happened in state "starting": filtered out.
	select {
	case m := <-sink.msgs:
		t.Fatalf("mail during startup despite emailalertstatus=running:\n%s", m)
	case <-time.After(200 * time.Millisecond):
	}
	h.checks.set("10.0.1.2", false)
	m := sink.next(t, 3*time.Second)
	for _, want := range []string{
		"MAIL FROM:<root@director-test>", "RCPT TO:<ops@example.com>", "RCPT TO:<noc@example.com>",
		"From: ldird@example.com\r\n", "To: ops@example.com, noc@example.com\r\n",
		"Subject: [web] Quiescent real server: 10.0.1.2:80 (10.0.0.100:80) (Weight set to 0)\r\n",
		"ldirectord host: director-test\r\n", "Daemon-Status: running\r\n", "Service name: web\r\n",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("mail lacks %q:\n%s", want, m)
		}
	}
	// emailalertfreq=1: repeated while down.
	m = sink.next(t, 3*time.Second)
	if !strings.Contains(m, "Subject: [web] Inaccessible real server: 10.0.1.2:80 (10.0.0.100:80)\r\n") {
		t.Errorf("repeat mail:\n%s", m)
	}
	h.checks.set("10.0.1.2", true)
	deadline := time.After(3 * time.Second)
	for {
		select {
		case m = <-sink.msgs:
		case <-deadline:
			t.Fatal("no Restored mail")
		}
		if strings.Contains(m, "Restored real server: 10.0.1.2:80") {
			break
		}
	}
	// No more repeats after it came back.
	time.Sleep(1500 * time.Millisecond)
	for len(sink.msgs) > 0 {
		if m := <-sink.msgs; strings.Contains(m, "Inaccessible") {
			t.Fatalf("repeat after restore:\n%s", m)
		}
	}
}

func TestMonitorFile(t *testing.T) {
	mf := filepath.Join(t.TempDir(), "mon.log")
	h := newHarness(t, newFake())
	h.checks.set("10.0.1.3", false)
	h.start(parse(t, fmt.Sprintf(baseCf, "", "monitorfile="+mf)))
	time.Sleep(100 * time.Millisecond)
	b, _ := os.ReadFile(mf)
	s := string(b)
	if !strings.Contains(s, "connect tcp 10.0.1.2 80 1 gate / [up] fake ok\n") ||
		!strings.Contains(s, "connect tcp 10.0.1.3 80 2 gate / [down] fake down\n") {
		t.Fatalf("monitorfile:\n%s", s)
	}
}
