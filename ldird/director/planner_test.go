package director

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

// sim steps a planner the way the Director drives it, against an
// in-memory table and a fake clock: no goroutines, no sleeps.
type sim struct {
	t     *testing.T
	p     *planner
	cfg   *config.Config
	now   time.Time
	table *dataplane.Fake
	log   *logRec
	acts  []action
	state map[string]check.State // the runner's state per check key (failurecount 1)
	seen  map[string]bool        // check keys that have reported
	ops   []Op                   // the ops of the last pass
}

func newSim(t *testing.T, cfg *config.Config) *sim {
	l := &logRec{}
	return &sim{t: t, cfg: cfg, now: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), table: dataplane.NewFake(), log: l,
		p:     newPlanner(slog.New(l), plannerOptions{hostname: "director-test", pid: 4242}),
		state: map[string]check.State{}, seen: map[string]bool{}}
}

func (s *sim) read(keys map[string]bool) map[string]ServiceState {
	s.t.Helper()
	m, err := readActual(s.table, keys)
	if err != nil {
		s.t.Fatal(err)
	}
	return m
}

// start is Director.Start up to the first round: the table read, the
// checks seeded from it.
func (s *sim) start() {
	seeds := seedStates(s.cfg, s.read(keysOf(s.cfg, nil)), s.p.opt.DesiredOptions)
	s.p.start(s.cfg, seeds)
	for k := range s.p.checks {
		s.state[k] = seedState(seeds[k])
	}
}

// started is Start's end: the first round done, the table published, the
// daemon running.
func (s *sim) started() []string {
	s.p.firstRound()
	calls := s.pass()
	s.p.setStatus(config.AlertRunning)
	return calls
}

// keysFor is the check keys of the reals at ip.
func (s *sim) keysFor(ip string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s.cfg.Virtuals {
		for _, r := range v.Reals {
			if k := v.CheckKey(r); r.Addr.String() == ip && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	if len(out) == 0 {
		s.t.Fatalf("no real at %s", ip)
	}
	return out
}

// result delivers one check result for every check of the real at ip,
// moving its state as the runner does with failurecount 1.
func (s *sim) result(ip string, res check.Result) {
	st := check.Down
	if res.OK {
		st = check.Up
	}
	s.resultState(ip, st, res)
}

// resultState delivers a result with the state the runner gives it.
func (s *sim) resultState(ip string, st check.State, res check.Result) {
	for _, k := range s.keysFor(ip) {
		prev := s.state[k]
		s.state[k] = st
		ev := check.Event{Key: k, State: st, Changed: st != prev, Initial: !s.seen[k], Result: res}
		s.seen[k] = true
		s.acts = append(s.acts, s.p.checkResult(s.now, ev)...)
	}
}

func (s *sim) up(ip string) {
	s.result(ip, check.Result{OK: true, Detail: "fake ok", Latency: time.Millisecond})
}

func (s *sim) down(ip string) {
	s.result(ip, check.Result{Err: errors.New("fake down"), Latency: time.Millisecond})
}

// pass runs the table pass the planner asks for, if any, and returns the
// dataplane calls it made.
func (s *sim) pass() []string {
	s.t.Helper()
	if !s.p.due(s.now) {
		return nil
	}
	s.table.ResetCalls()
	actual := s.read(s.p.tableKeys())
	states := make([]ServiceState, 0, len(actual))
	for _, a := range actual {
		states = append(states, a)
	}
	s.ops = s.p.plan(s.now, states)
	errs := make([]error, len(s.ops))
	for i, op := range s.ops {
		errs[i] = applyOp(s.table, op)
	}
	s.acts = append(s.acts, s.p.applied(s.now, errs)...)
	return append([]string{}, s.table.Calls...)
}

func (s *sim) reload(text string) {
	s.t.Helper()
	cfg := parse(s.t, text)
	seeds := seedStates(cfg, s.read(keysOf(cfg, s.cfg)), s.p.opt.DesiredOptions)
	s.acts = append(s.acts, s.p.reload(cfg, seeds)...)
	s.cfg = cfg
	for k := range s.state {
		if _, ok := s.p.checks[k]; !ok {
			delete(s.state, k)
		}
	}
}

// stop is Director.Stop after the checks ended: cleanstop.
func (s *sim) stop() []string {
	s.p.stop()
	s.table.ResetCalls()
	var read []ServiceState
	for _, ss := range s.p.cleanStopServices() {
		ds, err := s.table.Dests(ss.Service)
		if err != nil {
			continue
		}
		for _, d := range ds {
			ss.Dests = append(ss.Dests, DestState{Dest: d})
		}
		read = append(read, ss)
	}
	ops := s.p.cleanStop(s.now, read)
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = applyOp(s.table, op)
	}
	s.acts = append(s.acts, s.p.stopped(s.now, errs)...)
	return append([]string{}, s.table.Calls...)
}

func (s *sim) tick(d time.Duration) {
	s.now = s.now.Add(d)
	s.acts = append(s.acts, s.p.tick(s.now)...)
}

// take returns the actions since the last take.
func (s *sim) take() []action {
	a := s.acts
	s.acts = nil
	return a
}

func commands(acts []action) []string {
	out := []string{}
	for _, a := range acts {
		if c, ok := a.(runCommand); ok {
			out = append(out, c.cmdline)
		}
	}
	return out
}

func subjects(acts []action) []string {
	out := []string{}
	for _, a := range acts {
		if m, ok := a.(sendAlert); ok {
			out = append(out, m.mail.subject)
		}
	}
	return out
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, show(got), show(want))
	}
}

func show(x any) string {
	if s, ok := x.([]string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%+v", x)
}

// seed puts a service and servers in the table by hand (a previous run,
// an administrator).
func (s *sim) seed(svc dataplane.Service, dests ...dataplane.Dest) {
	if _, err := s.table.Dests(svc); err != nil {
		_ = s.table.AddService(svc)
	}
	for _, d := range dests {
		_ = s.table.AddDest(svc, d)
	}
	s.table.ResetCalls()
}

var changes = []string{"Added", "Changed", "Quiescent", "Restored", "Deleted", "Purged", "running fallbackcommand", "emailalert"}

func TestPlannerStartAddsEverything(t *testing.T) {
	s := newSim(t, parse(t, fmt.Sprintf(baseCf, "", "")))
	s.start()
	s.up("10.0.1.2")
	s.up("10.0.1.3")
	eq(t, "calls", s.started(), []string{"AddService " + svcKey, "AddDest " + svcKey + " " + realA + " gate w=1",
		"AddDest " + svcKey + " " + realB + " gate w=2"})
	eq(t, "logs", with(s.log.take(), changes...), []string{
		"INFO Added virtual server: 10.0.0.100:80",
		"INFO Added real server: 10.0.1.2:80 (10.0.0.100:80) (Weight set to 1)",
		"INFO Added real server: 10.0.1.3:80 (10.0.0.100:80) (Weight set to 2)",
	})
	if s.p.due(s.now) {
		t.Fatal("a pass is due after the table was published")
	}
	if s.p.changes != 1 {
		t.Fatalf("changes = %d, want 1", s.p.changes)
	}
}

// A restart over a populated table: the real that is up in the table
// starts up and is not touched, the foreign service is not touched, no
// pass is due while the first round runs, and only the missing real is
// added.
func TestPlannerStartNoFlapNoFlush(t *testing.T) {
	cfg := parse(t, fmt.Sprintf(baseCf, "quiescent=yes\nfailurecount=3", ""))
	s := newSim(t, cfg)
	svc := ServiceFor(cfg.Virtuals[0])
	foreign := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.9.9.9"), Port: 443, Scheduler: "wlc"}
	s.seed(svc, dst("10.0.1.2", 80, 1))
	s.seed(foreign, dst("10.5.5.5", 443, 7))
	s.start()
	if !s.p.Up(cfg.Virtuals[0], cfg.Virtuals[0].Reals[0]) || s.p.Up(cfg.Virtuals[0], cfg.Virtuals[0].Reals[1]) {
		t.Fatal("seeds: want A up from the table, B unknown")
	}
	// A soft failure of A (failurecount=3: still up) and B's first result
	// arrive during the round: nothing is published yet.
	s.resultState("10.0.1.2", check.Up, check.Result{Err: errors.New("refused")})
	s.up("10.0.1.3")
	s.p.poke()
	if s.p.due(s.now) || s.pass() != nil {
		t.Fatal("a table pass during the first check round")
	}
	eq(t, "calls", s.started(), []string{"AddDest " + svcKey + " " + realB + " gate w=2"})
}

func TestPlannerQuiescentFallbackAndCommand(t *testing.T) {
	s := newSim(t, parse(t, fmt.Sprintf(baseCf, "quiescent=yes\nfallback=127.0.0.1:8080 masq\nfallbackcommand=/fb", "")))
	s.start()
	s.up("10.0.1.2")
	s.up("10.0.1.3")
	s.started()
	eq(t, "commands at start", commands(s.take()), []string{"/fb stop 10.0.0.100:80 tcp"})
	s.log.take()

	s.down("10.0.1.2")
	eq(t, "calls", s.pass(), []string{"UpdateDest " + svcKey + " " + realA + " gate w=0"})
	eq(t, "logs", with(s.log.take(), changes...), []string{
		"WARN Quiescent real server: 10.0.1.2:80 (10.0.0.100:80) (Weight set to 0)"})

	s.down("10.0.1.3")
	eq(t, "calls", s.pass(), []string{"AddDest " + svcKey + " 127.0.0.1:8080 masq w=1", "UpdateDest " + svcKey + " " + realB + " gate w=0"})
	// The ops name what they change.
	if op := s.ops[0]; !op.Fallback || op.Real != s.cfg.Virtuals[0].Fallback || op.Virtual != s.cfg.Virtuals[0] {
		t.Errorf("fallback op: %+v", op)
	}
	if op := s.ops[1]; op.Fallback || op.Real != s.cfg.Virtuals[0].Reals[1] {
		t.Errorf("real op: %+v", op)
	}
	eq(t, "logs", with(s.log.take(), changes...), []string{
		"INFO Added fallback server: 127.0.0.1:8080 (10.0.0.100:80) (Weight set to 1)",
		"WARN Quiescent real server: 10.0.1.3:80 (10.0.0.100:80) (Weight set to 0)",
		"INFO running fallbackcommand"})
	eq(t, "commands", commands(s.take()), []string{"/fb start 10.0.0.100:80 tcp"})

	s.up("10.0.1.3")
	eq(t, "calls", s.pass(), []string{"UpdateDest " + svcKey + " " + realB + " gate w=2", "DelDest " + svcKey + " 127.0.0.1:8080 masq w=1"})
	eq(t, "logs", with(s.log.take(), changes...), []string{
		"INFO Restored real server: 10.0.1.3:80 (10.0.0.100:80) (Weight set to 2)",
		"INFO Deleted fallback server: 127.0.0.1:8080 (10.0.0.100:80)",
		"INFO running fallbackcommand"})
	eq(t, "commands", commands(s.take()), []string{"/fb stop 10.0.0.100:80 tcp"})

	// Results that change nothing ask for nothing.
	s.up("10.0.1.3")
	if s.p.due(s.now) {
		t.Fatal("a pass is due after an unchanged result")
	}
}

func TestPlannerNotQuiescentRemoves(t *testing.T) {
	s := newSim(t, parse(t, fmt.Sprintf(baseCf, "quiescent=no", "")))
	s.start()
	s.up("10.0.1.2")
	s.up("10.0.1.3")
	s.started()
	s.log.take()
	s.down("10.0.1.3")
	eq(t, "calls", s.pass(), []string{"DelDest " + svcKey + " " + realB + " gate w=2"})
	if op := s.ops[0]; op.Real != s.cfg.Virtuals[0].Reals[1] || op.Fallback {
		t.Errorf("delete op does not name real B: %+v", op)
	}
	eq(t, "logs", with(s.log.take(), changes...), []string{"WARN Deleted real server: 10.0.1.3:80 (10.0.0.100:80)"})
	s.up("10.0.1.3")
	eq(t, "calls", s.pass(), []string{"AddDest " + svcKey + " " + realB + " gate w=2"})
	eq(t, "logs", with(s.log.take(), changes...), []string{"INFO Added real server: 10.0.1.3:80 (10.0.0.100:80) (Weight set to 2)"})
}

// A server in our service that the configuration does not name is purged.
func TestPlannerPurgesUnconfigured(t *testing.T) {
	cfg := parse(t, fmt.Sprintf(baseCf, "", ""))
	s := newSim(t, cfg)
	s.seed(ServiceFor(cfg.Virtuals[0]), dst("10.0.1.2", 80, 1), dst("10.0.1.99", 80, 4))
	s.start()
	s.up("10.0.1.2")
	s.up("10.0.1.3")
	eq(t, "calls", s.started(), []string{"AddDest " + svcKey + " " + realB + " gate w=2", "DelDest " + svcKey + " 10.0.1.99:80 gate w=4"})
	if op := s.ops[1]; op.Real != nil || op.Virtual != cfg.Virtuals[0] {
		t.Errorf("purge op: %+v", op)
	}
	eq(t, "logs", with(s.log.take(), "Purged"), []string{"INFO Purged real server (start): 10.0.1.99:80 (10.0.0.100:80)"})
}

func TestPlannerReaddQuiescent(t *testing.T) {
	for _, readd := range []bool{false, true} {
		t.Run(fmt.Sprint("readdquiescent=", readd), func(t *testing.T) {
			s := newSim(t, parse(t, fmt.Sprintf(baseCf, "quiescent=yes\nreaddquiescent="+yesNo(readd), "")))
			s.start()
			s.up("10.0.1.2")
			s.down("10.0.1.3")
			// Down at start: added quiesced either way (ldirectord adds then quiesces).
			eq(t, "calls", s.started(), []string{"AddService " + svcKey, "AddDest " + svcKey + " " + realA + " gate w=1",
				"AddDest " + svcKey + " " + realB + " gate w=0"})
			_ = s.table.DelDest(ServiceFor(s.cfg.Virtuals[0]), dst("10.0.1.3", 80, 0)) // by hand
			s.p.poke()
			var want []string
			if readd {
				want = []string{"AddDest " + svcKey + " " + realB + " gate w=0"}
			}
			eq(t, "calls", s.pass(), append([]string{}, want...))
		})
	}
}

const twoVirtuals = `checkinterval=1
checktimeout=1
quiescent=yes
emailalert=ops@example.com
emailalertstatus=all
virtual=10.0.0.100:80
	real=10.0.1.2:80 gate 1
	real=10.0.1.3:80 gate 2
	checktype=connect
virtual=10.0.0.101:80
	real=10.0.1.2:80 gate
	checktype=connect
	fallbackcommand=/fb
`

func TestPlannerReloadRetires(t *testing.T) {
	s := newSim(t, parse(t, twoVirtuals))
	foreign := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.9.9.9"), Port: 443, Scheduler: "wlc"}
	s.seed(foreign)
	s.start()
	s.up("10.0.1.2")
	s.up("10.0.1.3")
	s.started()
	s.take()
	s.log.take()
	// The first virtual stays with a weight changed, the second goes.
	s.reload(strings.Replace(strings.Split(twoVirtuals, "virtual=10.0.0.101:80")[0], "10.0.1.3:80 gate 2", "10.0.1.3:80 gate 5", 1))
	eq(t, "calls", s.pass(), []string{"UpdateDest " + svcKey + " " + realB + " gate w=5", "DelService tcp 10.0.0.101:80"})
	eq(t, "logs", with(s.log.take(), changes...), []string{
		"INFO Restored real server: 10.0.1.3:80 (10.0.0.100:80) (Weight set to 5)",
		"INFO emailalert: Restored real server: 10.0.1.3:80 (10.0.0.100:80) (Weight set to 5)",
		"INFO Purged virtual server (start): tcp 10.0.0.101:80"})
	acts := s.take()
	var removed []VirtualID
	for _, a := range acts {
		if r, ok := a.(virtualRemoved); ok {
			removed = append(removed, r.id)
		}
		if m, ok := a.(sendAlert); ok && !strings.Contains(m.mail.body, "Daemon-Status: reloading\n") {
			t.Errorf("alert during a reload:\n%s", m.mail.body)
		}
	}
	eq(t, "removed", removed, []VirtualID{{Protocol: "tcp", Virtual: "10.0.0.101:80"}})
	if len(s.p.retired) != 0 {
		t.Fatalf("retired after a successful pass: %v", s.p.retired)
	}
	// 10.0.1.2's check served both virtuals and stays: its results count
	// for the first one only.
	s.up("10.0.1.2")
	for _, a := range s.take() {
		if o, ok := a.(observeCheck); ok && o.id.Virtual != "10.0.0.100:80" {
			t.Errorf("result counted for %v after the reload", o.id)
		}
	}
}

// A real taken out of the configuration and put back while down is added
// again (quiesced), as a new one is, whatever readdquiescent says.
func TestPlannerReloadForgetsRemovedReals(t *testing.T) {
	one := fmt.Sprintf(baseCf, "quiescent=yes\nreaddquiescent=no", "")
	s := newSim(t, parse(t, one))
	s.start()
	s.up("10.0.1.2")
	s.down("10.0.1.3")
	s.started()
	s.reload(strings.Replace(one, "\treal=10.0.1.3:80 gate 2\n", "", 1))
	eq(t, "calls without B", s.pass(), []string{"DelDest " + svcKey + " " + realB + " gate w=0"})
	s.reload(one)
	s.down("10.0.1.3")
	eq(t, "calls with B back", s.pass(), []string{"AddDest " + svcKey + " " + realB + " gate w=0"})
}

func TestPlannerCleanStop(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprint("cleanstop=", clean), func(t *testing.T) {
			s := newSim(t, parse(t, fmt.Sprintf(baseCf, "cleanstop="+yesNo(clean)+"\nemailalert=ops@example.com\nemailalertstatus=stopping", "")))
			s.start()
			s.up("10.0.1.2")
			s.up("10.0.1.3")
			s.started()
			s.take()
			s.log.take()
			calls := s.stop()
			if !clean {
				eq(t, "calls", calls, []string{})
				return
			}
			eq(t, "calls", calls, []string{"DelDest " + svcKey + " " + realA + " gate w=1", "DelDest " + svcKey + " " + realB + " gate w=2", "DelService " + svcKey})
			eq(t, "logs", with(s.log.take(), "Purged"), []string{
				"INFO Purged real server (stop): 10.0.1.2:80 (10.0.0.100:80)",
				"INFO Purged real server (stop): 10.0.1.3:80 (10.0.0.100:80)",
				"INFO Purged virtual server (stop): 10.0.0.100:80"})
			eq(t, "alerts", subjects(s.take()), []string{"Purged real server (stop): 10.0.1.2:80 (10.0.0.100:80)",
				"Purged real server (stop): 10.0.1.3:80 (10.0.0.100:80)"})
			s.p.poke()
			if s.p.due(s.now) {
				t.Fatal("a table pass is due after stop")
			}
		})
	}
}

// A real in maintenance is down at once whatever failurecount says, and
// back with the first result that is not.
func TestPlannerMaintenance(t *testing.T) {
	s := newSim(t, parse(t, fmt.Sprintf(baseCf, "quiescent=yes\nfailurecount=5", "")))
	s.start()
	s.up("10.0.1.2")
	s.up("10.0.1.3")
	s.started()
	maint := &maintenanceError{file: "/maint/10.0.1.2:80"}
	// The runner keeps the real up (a soft failure); the planner does not.
	s.resultState("10.0.1.2", check.Up, check.Result{Err: maint, Detail: maint.Error()})
	eq(t, "calls", s.pass(), []string{"UpdateDest " + svcKey + " " + realA + " gate w=0"})
	if k := s.cfg.Virtuals[0].CheckKey(s.cfg.Virtuals[0].Reals[0]); !s.p.view().maint[k] {
		t.Fatal("maintenance not published")
	}
	s.resultState("10.0.1.2", check.Up, check.Result{Err: maint, Detail: maint.Error()})
	if s.p.due(s.now) {
		t.Fatal("a pass is due for a real that stays in maintenance")
	}
	s.up("10.0.1.2")
	eq(t, "calls", s.pass(), []string{"UpdateDest " + svcKey + " " + realA + " gate w=1"})
	if len(s.p.view().maint) != 0 {
		t.Fatal("maintenance still published")
	}
}

func TestPlannerEmailAlerts(t *testing.T) {
	g := "quiescent=yes\nemailalert=ops@example.com, noc@example.com\nemailalertfrom=ldird@example.com\nsmtp=127.0.0.1\nemailalertfreq=10\nemailalertstatus=running"
	s := newSim(t, parse(t, fmt.Sprintf(baseCf, g, "servicename=web\n\tcomment=\"front end\"")))
	s.start()
	s.up("10.0.1.2")
	s.up("10.0.1.3")
	s.started()
	eq(t, "alerts while starting (emailalertstatus=running)", subjects(s.take()), []string{})

	s.down("10.0.1.2")
	s.pass()
	acts := s.take()
	eq(t, "alerts", subjects(acts), []string{"[web] Quiescent real server: 10.0.1.2:80 (10.0.0.100:80) (Weight set to 0)"})
	m := acts[len(acts)-1].(sendAlert).mail
	eq(t, "mail", m, mail{smtp: "127.0.0.1", to: "ops@example.com, noc@example.com", from: "ldird@example.com",
		subject: "[web] Quiescent real server: 10.0.1.2:80 (10.0.0.100:80) (Weight set to 0)",
		body: "ldirectord host: director-test\nLog-Message: [web] Quiescent real server: 10.0.1.2:80 (10.0.0.100:80) (Weight set to 0)\n" +
			"Daemon-Status: running\n\nService name: web\nComment: \"front end\"\n\n"})

	// emailalertfreq=10: repeated every 10 s while down.
	eq(t, "deadline", s.p.deadline(), s.now.Add(10*time.Second))
	s.tick(10*time.Second - time.Nanosecond)
	eq(t, "alerts before emailalertfreq", subjects(s.take()), []string{})
	s.tick(time.Nanosecond)
	eq(t, "repeat", subjects(s.take()), []string{"[web] Inaccessible real server: 10.0.1.2:80 (10.0.0.100:80)"})
	eq(t, "next deadline", s.p.deadline(), s.now.Add(10*time.Second))

	s.tick(3 * time.Second)
	s.up("10.0.1.2")
	s.pass()
	eq(t, "alerts", subjects(s.take()), []string{"[web] Restored real server: 10.0.1.2:80 (10.0.0.100:80) (Weight set to 1)"})
	if !s.p.deadline().IsZero() {
		t.Fatalf("deadline %v after the real came back", s.p.deadline())
	}
	s.tick(time.Hour)
	eq(t, "repeats after restore", subjects(s.take()), []string{})
}

func TestPlannerRetry(t *testing.T) {
	s := newSim(t, parse(t, fmt.Sprintf(baseCf, "", "")))
	s.table.Fail = map[string]error{"AddDest": errors.New("no memory")}
	s.start()
	s.up("10.0.1.2")
	s.up("10.0.1.3")
	s.started()
	eq(t, "failures", with(s.log.take(), "table change failed"), []string{"ERROR table change failed", "ERROR table change failed"})
	eq(t, "retry at", s.p.deadline(), s.now.Add(retryDelay))
	s.now = s.now.Add(retryDelay - time.Millisecond)
	if s.p.due(s.now) {
		t.Fatal("retry before its time")
	}
	s.now = s.now.Add(time.Millisecond)
	s.table.Fail = nil
	eq(t, "retry", s.pass(), []string{"AddDest " + svcKey + " " + realA + " gate w=1", "AddDest " + svcKey + " " + realB + " gate w=2"})
	if !s.p.deadline().IsZero() || s.p.due(s.now.Add(time.Hour)) {
		t.Fatal("a retry is still scheduled after a clean pass")
	}

	// A table that cannot be read is retried as well.
	s.p.poke()
	s.p.tableUnreadable(s.now, errors.New("netlink: EPERM"))
	if s.p.due(s.now) || s.p.deadline() != s.now.Add(retryDelay) {
		t.Fatal("no retry after a failed read")
	}
}

// A retired service whose deletion fails stays retired until it is gone.
func TestPlannerRetiredUntilDeleted(t *testing.T) {
	s := newSim(t, parse(t, twoVirtuals))
	s.start()
	s.up("10.0.1.2")
	s.up("10.0.1.3")
	s.started()
	s.reload(strings.Split(twoVirtuals, "virtual=10.0.0.101:80")[0])
	s.table.Fail = map[string]error{"DelService": errors.New("busy")}
	eq(t, "calls", s.pass(), []string{"DelService tcp 10.0.0.101:80"})
	if _, ok := s.p.retired["tcp 10.0.0.101:80"]; !ok {
		t.Fatal("retired service forgotten after a failed delete")
	}
	s.table.Fail = nil
	s.now = s.now.Add(retryDelay)
	eq(t, "calls", s.pass(), []string{"DelService tcp 10.0.0.101:80"})
	if len(s.p.retired) != 0 {
		t.Fatal("retired service kept after its delete")
	}
}

func TestPlannerMonitorLines(t *testing.T) {
	s := newSim(t, parse(t, fmt.Sprintf(baseCf, "", "monitorfile=/var/log/mon.log")))
	s.start()
	s.up("10.0.1.2")
	s.result("10.0.1.3", check.Result{Err: errors.New("refused | 100%\r\nend")})
	var lines []string
	for _, a := range s.take() {
		if m, ok := a.(writeMonitor); ok {
			if m.file != "/var/log/mon.log" {
				t.Errorf("file %s", m.file)
			}
			lines = append(lines, m.line)
		}
	}
	eq(t, "lines", lines, []string{
		"[Tue Mar  4 05:06:07 2025] [4242] connect tcp 10.0.1.2 80 1 gate / [up] fake ok\n",
		"[Tue Mar  4 05:06:07 2025] [4242] connect tcp 10.0.1.3 80 2 gate / [down] refused %7c 100%25%0d%0aend\n",
	})
}

// A real checked for two virtuals reports once to each.
func TestPlannerObserve(t *testing.T) {
	s := newSim(t, parse(t, twoVirtuals))
	s.start()
	s.result("10.0.1.2", check.Result{Err: errors.New("x"), Latency: 3 * time.Millisecond})
	var got []string
	for _, a := range s.take() {
		if o, ok := a.(observeCheck); ok {
			got = append(got, fmt.Sprint(o.id.Virtual, " ", o.outcome, " ", o.latency))
		}
	}
	eq(t, "observed", got, []string{"10.0.0.100:80 failed 3ms", "10.0.0.101:80 failed 3ms"})
}

// Every entry of Desired names its real or fallback, and Diff hands the
// names to its ops, absent ones (deletions) included.
func TestDesiredNamesEntries(t *testing.T) {
	cfg := parse(t, `quiescent=no
virtual=10.0.0.100:80
	real=10.0.1.2:80 gate 1
	real=10.0.1.3:80 gate 2
	fallback=10.0.1.3:80 gate
	checktype=connect
`)
	v := cfg.Virtuals[0]
	h := fixedHealth{v.CheckKey(v.Reals[0]): true}
	des := Desired(cfg, h, nil, DesiredOptions{})
	svc := ServiceFor(v)
	actual := []ServiceState{{Service: svc, Dests: ds(dst("10.0.1.2", 80, 1), dst("10.0.1.3", 80, 2), dst("10.0.1.9", 80, 1))}}
	ops := Diff(des, actual)
	eq(t, "ops", opStrings(ops), []string{"DelDest " + svcKey + " " + realB + " gate w=2", "DelDest " + svcKey + " 10.0.1.9:80 gate w=1"})
	// B is down and is also the fallback's address: deleted as the
	// fallback, as ldirectord names it.
	if ops[0].Real != v.Reals[1] || !ops[0].Fallback || ops[0].Virtual != v {
		t.Errorf("op %s: real %v fallback %v", ops[0], ops[0].Real, ops[0].Fallback)
	}
	if ops[1].Real != nil || ops[1].Fallback {
		t.Errorf("purge op %s names %v", ops[1], ops[1].Real)
	}
	// Every real down: the fallback's address is a configured real's, so
	// it is not added (the kernel would hold one entry for both).
	des = Desired(cfg, fixedHealth{}, nil, DesiredOptions{})
	for _, d := range des[0].Dests {
		if !d.Absent {
			t.Errorf("entry %s present with every real down", d.Key())
		}
	}
}

type fixedHealth map[string]bool

func (h fixedHealth) Up(v *config.Virtual, r *config.Real) bool     { return h[v.CheckKey(r)] }
func (h fixedHealth) Seeded(v *config.Virtual, r *config.Real) bool { return true }
