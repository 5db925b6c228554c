package hardening

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"lvsha/tests/netns"
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

// logTime finds the slog time of the first log line containing text.
func logTime(log, text string) (time.Time, bool) {
	re := regexp.MustCompile(`time=(\S+)`)
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, text) {
			if m := re.FindStringSubmatch(line); m != nil {
				if ts, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
					return ts, true
				}
			}
		}
	}
	return time.Time{}, false
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
			for _, n := range l.dirs {
				n.WriteFile("/etc/ha.d/resource.d/flaky", []byte(flakyScript(c.start)), 0o755)
			}
			pa, pb := l.startBoth("-rsc-timeout", "2s")
			start := time.Now()
			netns.Eventually(t, 15*time.Second, 100*time.Millisecond, func() (bool, string) {
				log := readLogs(l.alpha)
				return strings.Contains(log, c.logged) && strings.Contains(log, "resource groups failed"),
					fmt.Sprintf("alpha's log lacks %q and the group failure", c.logged)
			})
			log := readLogs(l.alpha)
			began, ok1 := logTime(log, "Running flaky start")
			gaveUp, ok2 := logTime(log, "Giving up resources due to failure of flaky")
			if !ok1 || !ok2 {
				t.Fatalf("alpha's log lacks the start or the give-up line:\n%s", tail(log, 3000))
			}
			if d := gaveUp.Sub(began); d > 2*time.Second+time.Second {
				t.Errorf("the failed start took %v to be given up (rsc-timeout 2s)", d)
			}
			rsc, _ := cl(l.alpha, "rscstatus")
			fails := counters(t, l.alpha)["rsc_failures"]
			t.Logf("alpha gave up the failed start %v after it began; then rscstatus %q, rsc_failures %d, VIP on %v",
				gaveUp.Sub(began).Round(time.Millisecond), rsc, fails, l.holders())
			if fails == 0 {
				t.Errorf("rsc_failures not counted")
			}
			if h := l.holders(); len(h) != 0 {
				t.Errorf("the failed group's VIP is still on %v (the rest of the group must be stopped)", h)
			}
			// The group ends on beta after the failed-start delay (30 s).
			l.waitServer("beta", 45*time.Second)
			t.Logf("group served by beta %v after hbd started (failed-start delay 30 s)", time.Since(start).Round(time.Millisecond))
			l.waitOneHolder(l.beta, 5*time.Second)
			waitRsc(t, l.beta, "all", 5*time.Second)
			waitRsc(t, l.alpha, "none", 5*time.Second)
			if pa.Exited() || pb.Exited() {
				t.Fatal("hbd exited")
			}
			for _, pid := range l.alpha.Pids() {
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
// status keeps saying running) is bounded by the stop retries (10, 1 s
// apart) and, with -on-stop-failure ignore, the group still moves.
func TestLyingAgent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, stop string
		bound      time.Duration
	}{
		{"status_lies", "exit 0", 5 * time.Second},
		{"status_lies_stop_fails", "exit 1", 25 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := directors(t, withResources("alpha IPaddr2::"+vip+"/24/eth0 liar webserver\n"))
			liar := "#!/bin/sh\ncase \"$1\" in\nstart) touch /run/liar.started; exit 0;;\nstop) " + c.stop + ";;\nstatus) echo running; exit 0;;\nesac\nexit 1\n"
			for _, n := range l.dirs {
				n.WriteFile("/etc/ha.d/resource.d/liar", []byte(liar), 0o755)
			}
			pa, pb := l.startBoth("-rsc-timeout", "2s")
			l.waitStable()
			if _, err := l.alpha.ReadFile("/run/liar.started"); err == nil {
				t.Errorf("hbd started the liar although its status said running")
			}
			start := time.Now()
			out, errOut, code, err := l.alpha.Run(t.Context(), binDir+"/hb_standby")
			if err != nil || code != 0 {
				t.Fatalf("hb_standby: exit %d %v %s%s", code, err, out, errOut)
			}
			l.waitServer("beta", c.bound)
			moved := time.Since(start)
			l.waitOneHolder(l.beta, 5*time.Second)
			waitRsc(t, l.beta, "all", 5*time.Second)
			log, _ := l.alpha.ReadFile("/var/log/ha-log")
			t.Logf("hb_standby moved the group to beta in %v; liar stop attempts on alpha: %d; STOP failure logged: %v",
				moved.Round(time.Millisecond), strings.Count(string(log), "Running liar stop"), strings.Contains(string(log), "Resource STOP failure"))
			if pa.Exited() || pb.Exited() {
				t.Fatal("hbd exited")
			}
		})
	}
}
