package director

// Driver tests: the Director's goroutine with real check goroutines (fake
// checkers at 10 ms intervals) and a fake dataplane. The decisions are
// tested step by step in planner_test.go; these check that the driver
// feeds the planner and carries out what it asks. They wait on
// conditions, never on time.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/dataplane"
)

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
	t.Cleanup(h.d.Stop)
	return h
}

func (h *harness) start(text string) {
	h.t.Helper()
	if err := h.d.Start(context.Background(), parse(h.t, text)); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
}

// settle returns once the loop has handled everything queued so far and
// the table pass that follows.
func (h *harness) settle() {
	h.t.Helper()
	if err := h.d.call(func() error { return nil }); err != nil {
		h.t.Fatal(err)
	}
}

// waitCalls waits until the recorded calls are want, then lets the loop
// settle and checks that nothing followed.
func (h *harness) waitCalls(want ...string) {
	h.t.Helper()
	h.waitCallsBy(false, want...)
}

// waitCallsAnyOrder is waitCalls for changes made by separate passes whose
// order is not defined (two checks failing at once).
func (h *harness) waitCallsAnyOrder(want ...string) {
	h.t.Helper()
	h.waitCallsBy(true, want...)
}

func (h *harness) waitCallsBy(anyOrder bool, want ...string) {
	h.t.Helper()
	if want == nil {
		want = []string{}
	}
	if anyOrder {
		sort.Strings(want)
	}
	calls := func() []string {
		c := h.dp.calls()
		if anyOrder {
			sort.Strings(c)
		}
		return c
	}
	deadline := time.Now().Add(5 * time.Second)
	for !reflect.DeepEqual(calls(), want) {
		if time.Now().After(deadline) {
			h.t.Fatalf("calls:\n got %q\nwant %q", calls(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
	h.settle()
	if got := calls(); !reflect.DeepEqual(got, want) {
		h.t.Fatalf("calls went on:\n got %q\nwant %q", got, want)
	}
}

// Start publishes the first round, then the table follows the checks, with
// the fallback and fallbackcommand on the transitions.
func TestDirectorFollowsChecks(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "fb.log")
	script := filepath.Join(dir, "fb.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, newFake())
	h.start(fmt.Sprintf(baseCf, "quiescent=yes\nfallback=127.0.0.1:8080 masq\nfallbackcommand="+script, ""))
	h.waitCalls("AddService "+svcKey, "AddDest "+svcKey+" "+realA+" gate w=1", "AddDest "+svcKey+" "+realB+" gate w=2")
	if h.d.Applied() != 1 {
		t.Fatalf("Applied = %d, want 1", h.d.Applied())
	}
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

// A restart over a populated table: nothing is published while the first
// round runs, the up real and the foreign service are not touched, and
// only the missing real is added.
func TestDirectorStartNoFlapNoFlush(t *testing.T) {
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
	h.checks.gate = make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- h.d.Start(context.Background(), cfg) }()
	waitUntil(t, "both checks of the first round to run", func() bool { return h.checks.waiting() == 2 })
	h.d.Poke()
	h.settle()
	if c := dp.calls(); len(c) != 0 {
		t.Fatalf("table changed during the first check round: %q", c)
	}
	close(h.checks.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.waitCalls("AddDest " + svcKey + " " + realB + " gate w=2")
	if st := h.d.State(cfg.Virtuals[0], cfg.Virtuals[0].Reals[0]); st.State != check.Up {
		t.Fatalf("real A state %v", st.State)
	}
}

func TestDirectorReload(t *testing.T) {
	dp := newFake()
	foreign := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.9.9.9"), Port: 443, Scheduler: "wlc"}
	_ = dp.AddService(foreign)
	h := newHarness(t, dp)
	h.start(fmt.Sprintf(baseCf, "", "") + "virtual=10.0.0.101:80\n\treal=10.0.1.2:80 gate\n\tchecktype=connect\n")
	h.settle()
	h.dp.reset()
	// Same first virtual, second one gone, a weight changed.
	one := strings.Replace(fmt.Sprintf(baseCf, "", ""), "10.0.1.3:80 gate 2", "10.0.1.3:80 gate 5", 1)
	if err := h.d.Reload(parse(t, one)); err != nil {
		t.Fatal(err)
	}
	// Reload returns once its pass is done.
	if got, want := h.dp.calls(), []string{"UpdateDest " + svcKey + " " + realB + " gate w=5", "DelService tcp 10.0.0.101:80"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("calls after Reload:\n got %q\nwant %q", got, want)
	}
	if len(h.d.Config().Virtuals) != 1 {
		t.Fatal("Config() is not the reloaded configuration")
	}
	h.dp.reset()

	// A check that cannot be built: an error naming the line, and the
	// running configuration stays.
	h.d.o.NewChecker = func(check.Spec) (check.Checker, error) { return nil, fmt.Errorf("%w: nope", check.ErrConfig) }
	cfg3 := parse(t, strings.Replace(one, "gate 5", "gate 3", 1))
	if err := h.d.Reload(cfg3); err == nil || !strings.Contains(err.Error(), "test.cf:5") {
		t.Fatalf("Reload err = %v, want one naming test.cf:5", err)
	}
	h.waitCalls()
	if h.d.Config().Virtuals[0].Reals[1].Weight != 5 {
		t.Fatal("config replaced despite the error")
	}
}

func TestDirectorCleanStop(t *testing.T) {
	h := newHarness(t, newFake())
	h.start(fmt.Sprintf(baseCf, "cleanstop=yes", ""))
	h.waitCalls("AddService "+svcKey, "AddDest "+svcKey+" "+realA+" gate w=1", "AddDest "+svcKey+" "+realB+" gate w=2")
	h.dp.reset()
	h.d.Stop()
	if got, want := h.dp.calls(), []string{"DelDest " + svcKey + " " + realA + " gate w=1", "DelDest " + svcKey + " " + realB + " gate w=2", "DelService " + svcKey}; !reflect.DeepEqual(got, want) {
		t.Fatalf("calls after Stop:\n got %q\nwant %q", got, want)
	}
	h.d.Stop() // a second Stop is a no-op
	if err := h.d.Reload(parse(t, fmt.Sprintf(baseCf, "", ""))); !errors.Is(err, errStopped) {
		t.Fatalf("Reload after Stop: %v", err)
	}
}

func TestDirectorMaintenanceDir(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, newFake(), func(o *Options) {
		o.LookupAddr = func(context.Context, string) ([]string, error) { return []string{"web2.example.net."}, nil }
	})
	h.start(fmt.Sprintf(baseCf, "quiescent=yes\nfailurecount=5\nmaintenancedir="+dir, ""))
	h.settle()
	h.dp.reset()
	// failurecount=5 does not delay maintenance.
	os.WriteFile(filepath.Join(dir, "10.0.1.2:80"), nil, 0o644)
	h.waitCalls("UpdateDest " + svcKey + " " + realA + " gate w=0")
	if s := h.d.Snapshot(); !s.Virtuals[0].Reals[0].Maintenance || s.Virtuals[0].Reals[0].Up {
		t.Fatalf("snapshot of a real in maintenance: %+v", s.Virtuals[0].Reals[0])
	}
	h.dp.reset()
	os.Remove(filepath.Join(dir, "10.0.1.2:80"))
	h.waitCalls("UpdateDest " + svcKey + " " + realA + " gate w=1")
	h.dp.reset()
	// The short name from reverse DNS.
	os.WriteFile(filepath.Join(dir, "web2"), nil, 0o644)
	h.waitCallsAnyOrder("UpdateDest "+svcKey+" "+realA+" gate w=0", "UpdateDest "+svcKey+" "+realB+" gate w=0")
}

// A table change that fails is retried by the loop's timer, with no new
// check result or poke.
func TestDirectorRetry(t *testing.T) {
	dp := newFake()
	dp.f.Fail = map[string]error{"AddDest": errors.New("no memory")}
	h := newHarness(t, dp, func(o *Options) {
		o.TuneReal = func(rc *check.RealConfig) { rc.Interval = time.Hour }
	})
	h.start(fmt.Sprintf(baseCf, "", ""))
	dp.do(func() error { dp.f.Fail = nil; dp.f.ResetCalls(); return nil })
	h.waitCalls("AddDest "+svcKey+" "+realA+" gate w=1", "AddDest "+svcKey+" "+realB+" gate w=2")
}

func TestStatusText(t *testing.T) {
	h := newHarness(t, newFake())
	h.checks.set("10.0.1.3", false)
	h.start(fmt.Sprintf(baseCf, "quiescent=yes\nfallback=127.0.0.1:8080", ""))
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

func (s *smtpSink) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no mail")
	}
	return ""
}

// Alerts go out over SMTP with ldirectord's headers and body; the repeat
// comes from the loop's timer.
func TestDirectorEmailAlerts(t *testing.T) {
	sink := newSMTPSink(t)
	port := sink.ln.Addr().(*net.TCPAddr).Port
	g := "quiescent=yes\nemailalert=ops@example.com, noc@example.com\nemailalertfrom=ldird@example.com\nsmtp=127.0.0.1\nemailalertfreq=1\nemailalertstatus=running"
	h := newHarness(t, newFake(), func(o *Options) { o.SMTPPort = port })
	h.start(fmt.Sprintf(baseCf, g, "servicename=web\n\tcomment=\"front end\""))
	h.checks.set("10.0.1.2", false)
	// Mails go out in order: had the startup adds (state "starting")
	// been sent, they would come first.
	m := sink.next(t)
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
	m = sink.next(t)
	if !strings.Contains(m, "Subject: [web] Inaccessible real server: 10.0.1.2:80 (10.0.0.100:80)\r\n") {
		t.Errorf("repeat mail:\n%s", m)
	}
	h.checks.set("10.0.1.2", true)
	for !strings.Contains(m, "Restored real server: 10.0.1.2:80") {
		m = sink.next(t)
	}
}

func TestDirectorMonitorFile(t *testing.T) {
	mf := filepath.Join(t.TempDir(), "mon.log")
	h := newHarness(t, newFake())
	h.checks.set("10.0.1.3", false)
	h.start(fmt.Sprintf(baseCf, "", "monitorfile="+mf))
	waitUntil(t, "both reals in the monitorfile", func() bool {
		b, _ := os.ReadFile(mf)
		s := string(b)
		return strings.Contains(s, "connect tcp 10.0.1.2 80 1 gate / [up] fake ok\n") &&
			strings.Contains(s, "connect tcp 10.0.1.3 80 2 gate / [down] fake down\n")
	})
}
