package hardening

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
)

// flakyScript is a resource.d script that misbehaves on alpha only (so the
// group can end up on beta) in the given way, and works on beta.
func flakyScript(onAlpha string) string {
	return `#!/bin/sh
# flaky: a broken resource agent on alpha, a working one elsewhere.
MARK=/run/flaky.on
if [ "$(uname -n)" = alpha ]; then
	case "$1" in
	start) ` + onAlpha + `;;
	stop) rm -f $MARK; exit 0;;
	status) if [ -f $MARK ]; then echo running; else echo stopped; fi; exit 0;;
	esac
fi
case "$1" in
start) touch $MARK; exit 0;;
stop) rm -f $MARK; exit 0;;
status) if [ -f $MARK ]; then echo running; else echo stopped; fi; exit 0;;
esac
exit 1
`
}

// TestBrokenAgentStart: the group's start hangs forever or fails on alpha.
// hbd bounds the hang by -rsc-timeout (2 s), logs the failure, counts it,
// stops the rest of the group, keeps running, and hands the group to beta
// once its failed-start delay has passed. That delay is rm's
// FailedStartStandby, Heartbeat's 30 s (ResourceManager's sleep 30), and
// no command-line flag sets it, so each case takes ~35 s; the two cases
// run in parallel, and with TestLyingAgent (nothing here is timing-tight).
func TestBrokenAgentStart(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, start, logged string
	}{
		{"hangs", "exec sleep 1000", "timed out after 2s"},
		{"crashes", `echo "flaky: cannot start" >&2; exit 1`, "Giving up resources due to failure of flaky"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := directors(t, withResources("alpha IPaddr2::"+vip+"/24/eth0 flaky webserver\n"))
			for _, n := range l.Directors() {
				n.WriteFile("/etc/ha.d/resource.d/flaky", []byte(flakyScript(c.start)), 0o755)
			}
			pa, pb := l.startBoth("-rsc-timeout", "2s")
			start := time.Now()
			netns.Eventually(t, 15*time.Second, 100*time.Millisecond, func() (bool, string) {
				log := readLogs(l.Alpha)
				return strings.Contains(log, c.logged) && strings.Contains(log, "resource groups failed"),
					fmt.Sprintf("alpha's log lacks %q and the group failure", c.logged)
			})
			log := readLogs(l.Alpha)
			began, ok1 := hbdlab.LogTime(log, "Running flaky start")
			gaveUp, ok2 := hbdlab.LogTime(log, "Giving up resources due to failure of flaky")
			if !ok1 || !ok2 {
				t.Fatalf("alpha's log lacks the start or the give-up line:\n%s", tail(log, 3000))
			}
			if d := gaveUp.Sub(began); d > 2*time.Second+time.Second {
				t.Errorf("the failed start took %v to be given up (rsc-timeout 2s)", d)
			}
			rsc, _ := hbdlab.Ours.Ask(l.Alpha, "rscstatus")
			fails := hbdlab.Counters(t, l.Alpha)["rsc_failures"]
			t.Logf("alpha gave up the failed start %v after it began; then rscstatus %q, rsc_failures %d, VIP on %v",
				gaveUp.Sub(began).Round(time.Millisecond), rsc, fails, l.Holders())
			if fails == 0 {
				t.Errorf("rsc_failures not counted")
			}
			if h := l.Holders(); len(h) != 0 {
				t.Errorf("the failed group's VIP is still on %v (the rest of the group must be stopped)", h)
			}
			// The group ends on beta after the failed-start delay (30 s).
			l.WaitServer(t, "beta", 45*time.Second)
			t.Logf("group served by beta %v after hbd started (failed-start delay 30 s)", time.Since(start).Round(time.Millisecond))
			l.waitOneHolder(l.Beta, 5*time.Second)
			hbdlab.Ours.WaitRsc(t, l.Beta, "all", 5*time.Second)
			hbdlab.Ours.WaitRsc(t, l.Alpha, "none", 5*time.Second)
			if pa.Exited() || pb.Exited() {
				t.Fatal("hbd exited")
			}
			for _, pid := range l.Alpha.Pids() {
				if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmd), "sleep\x001000") {
					t.Errorf("the hung start's process %d survives the timeout", pid)
				}
			}
		})
	}
}

// TestLyingAgent: status says "running" while nothing runs. In haresources
// mode there is no monitor operation (as in Heartbeat), so hbd trusts the
// status: it never calls start, reports the group held, and moves it on
// hb_standby without delay. What it must not do is hang, crash or lose
// track of the VIP. A liar that also cannot stop (stop exits 1 while
// status keeps saying running) is tried 10 times, 1 s apart, and then
// escalated as -on-stop-failure says: "ignore" logs it and the group still
// moves; "exit" makes hbd exit without shutdone, so the peer declares it
// dead after deadtime and takes over. ("reboot", the default, would reboot
// the machine running the tests: it is not exercised here.) The liars say
// "running" from the start, so hbd's start-up also stops them as leftovers
// of a crash (it says running before anything started): only the stops of
// the standby are counted. The "exit" case cannot use such a liar (it
// would exit at start-up): its agent starts, then cannot stop.
func TestLyingAgent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, stop, status, onFailure string
		stopRuns                      int // stop attempts on alpha for the standby
		bound                         time.Duration
	}{
		{"status_lies", "exit 0", "echo running", "ignore", 1, 5 * time.Second},
		{"status_lies_stop_fails", "exit 1", "echo running", "ignore", 10, 25 * time.Second},
		{"stop_fails_exit", "exit 1", "if [ -f /run/liar.started ]; then echo running; else echo stopped; fi", "exit", 10, 25 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := directors(t, withResources("alpha IPaddr2::"+vip+"/24/eth0 liar webserver\n"))
			liar := "#!/bin/sh\ncase \"$1\" in\nstart) touch /run/liar.started; exit 0;;\nstop) " + c.stop + ";;\nstatus) " + c.status + "; exit 0;;\nesac\nexit 1\n"
			for _, n := range l.Directors() {
				n.WriteFile("/etc/ha.d/resource.d/liar", []byte(liar), 0o755)
			}
			pa, pb := l.startBoth("-rsc-timeout", "2s", "-on-stop-failure", c.onFailure)
			l.waitStable()
			if _, err := l.Alpha.ReadFile("/run/liar.started"); (err == nil) != (c.onFailure == "exit") {
				t.Errorf("liar started: %v, want %v (hbd starts it only when its status says stopped)", err == nil, c.onFailure == "exit")
			}
			marks := l.logMarks()
			start := time.Now()
			out, errOut, code, err := l.Alpha.Run(t.Context(), hbdlab.Bin("hb_standby"))
			if err != nil || code != 0 {
				t.Fatalf("hb_standby: exit %d %v %s%s", code, err, out, errOut)
			}
			l.WaitServer(t, "beta", c.bound)
			moved := time.Since(start)
			hbdlab.Ours.WaitRsc(t, l.Beta, "all", 5*time.Second)
			log := logSince(l.Alpha, marks)
			stops := strings.Count(log, "Running liar stop")
			failed := strings.Contains(log, "Resource STOP failure")
			t.Logf("hb_standby moved the group to beta in %v; liar stop attempts on alpha: %d; STOP failure logged: %v; alpha's hbd exited: %v",
				moved.Round(time.Millisecond), stops, failed, pa.Exited())
			if stops != c.stopRuns || failed != (c.stopRuns > 1) {
				t.Errorf("liar stop ran %d times (want %d), STOP failure logged %v", stops, c.stopRuns, failed)
			}
			switch c.onFailure {
			case "exit":
				netns.Eventually(t, 5*time.Second, 20*time.Millisecond, func() (bool, string) {
					return pa.Exited(), "alpha's hbd still runs after the stop failure (-on-stop-failure exit)"
				})
				if !strings.Contains(log, "exiting without shutdone") {
					t.Errorf("alpha's log does not say why it exited:\n%s", tail(log, 2000))
				}
				if b := logSince(l.Beta, marks); !strings.Contains(b, "node alpha: is dead") || strings.Contains(b, "Received shutdown notice") {
					t.Errorf("beta did not take over by alpha's death (no shutdone expected):\n%s", tail(b, 2000))
				}
				if pb.Exited() {
					t.Fatal("beta's hbd exited")
				}
			default:
				l.waitOneHolder(l.Beta, 5*time.Second)
				if pa.Exited() || pb.Exited() {
					t.Fatal("hbd exited")
				}
			}
		})
	}
}
