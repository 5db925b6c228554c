package hardening

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
)

// Fast timers: the shortest keepalive/deadtime hbd supports (README).
const (
	fastKeepalive = 20 * time.Millisecond
	fastDeadtime  = 100 * time.Millisecond
	hogFor        = 30 * time.Second
)

func fastHACF() string {
	return `# fast timers under load
logfile /var/log/ha-log
use_logd no
keepalive 20ms
deadtime 100ms
warntime 60ms
initdead 2
udpport 694
bcast eth1 eth2
auto_failback off
node alpha beta
`
}

// TestFastTimersUnderCPULoad: keepalive 20 ms and deadtime 100 ms while a
// normal-priority busy loop per CPU keeps every core busy for 30 s. hbd
// runs real-time (ha.cf's realtime defaults to on): every thread of both
// daemons is SCHED_RR and the resource agent's server runs at normal
// priority. Asserted: no node and no link is declared dead during the
// load (no false failover), nothing moves, and after kill -9 of the holder,
// still under load, the backup holds the VIP within deadtime + 1 s.
func TestFastTimersUnderCPULoad(t *testing.T) {
	if !hasCapability(capSysNice) {
		testenv.Skip(t, "needs CAP_SYS_NICE (hbd's SCHED_RR)")
	}
	l := directors(t)
	for _, n := range l.Directors() {
		n.WriteFile("/etc/ha.d/ha.cf", []byte(fastHACF()), 0o644)
	}
	pa, pb := l.startBoth()
	l.waitStable()

	for _, p := range []*netns.Proc{pa, pb} {
		if bad := notRR(t, p.PID); bad != "" {
			t.Errorf("hbd (pid %d) is not real-time: %s", p.PID, bad)
		}
	}
	if pidText, err := l.Alpha.ReadFile("/run/webserver.pid"); err != nil {
		t.Errorf("webserver pid: %v", err)
	} else if pid, _ := strconv.Atoi(strings.TrimSpace(string(pidText))); pid > 0 {
		if pol, _, err := schedOf(pid, pid); err != nil || pol != 0 {
			t.Errorf("the webserver started by the resource agent has policy %d (%v), want SCHED_OTHER (0)", pol, err)
		}
	}

	deadLines := func(n *netns.Node) int {
		logs := readLogs(n)
		return strings.Count(logs, ": is dead") + strings.Count(logs, " dead.\"") + strings.Count(logs, "(> deadtime)")
	}
	before := map[string]int{}
	lateBefore := map[string]int{}
	for _, n := range l.Directors() {
		before[n.Name] = deadLines(n)
		lateBefore[n.Name] = strings.Count(readLogs(n), "Late heartbeat")
	}
	snap := l.snapshot()

	stopHog := cpuHog(t, hogFor+15*time.Second)
	loadStart := time.Now()
	checks := 0
	for time.Since(loadStart) < hogFor {
		for _, n := range l.Directors() {
			if got, _ := hbdlab.Ours.Ask(n, "nodestatus", l.Peer(n).Name); got != "active" {
				t.Fatalf("%s sees %s %q under load after %v: a false failover", n.Name, l.Peer(n).Name, got, time.Since(loadStart).Round(time.Millisecond))
			}
		}
		checks++
		time.Sleep(200 * time.Millisecond)
	}
	for _, n := range l.Directors() {
		if d := deadLines(n) - before[n.Name]; d != 0 {
			t.Errorf("%s logged %d node or link deaths under load (a false failover):\n%s", n.Name, d, hbdlab.LastLines(readLogs(n), 30))
		}
		t.Logf("%s: %d late heartbeats (> warntime 60 ms) logged under %v of load", n.Name,
			strings.Count(readLogs(n), "Late heartbeat")-lateBefore[n.Name], hogFor)
	}
	if after := l.snapshot(); after.String() != snap.String() {
		t.Errorf("the cluster changed under load:\nbefore %v\nafter  %v", snap, after)
	}
	t.Logf("%d checks of both nodes over %v of load: no death declared", checks, hogFor)

	// kill -9 of the holder, still under load.
	if err := pa.Kill(); err != nil {
		t.Fatal(err)
	}
	took := netns.Eventually(t, 10*time.Second, 5*time.Millisecond, func() (bool, string) {
		return l.HasVIP(l.Beta), "beta holds the VIP"
	})
	t.Logf("kill -9 of alpha under load: beta holds the VIP after %v (deadtime %v)", took.Round(time.Millisecond), fastDeadtime)
	if bound := fastDeadtime + time.Second; took > bound {
		t.Errorf("beta took the VIP %v after the kill, bound %v", took, bound)
	}
	stopHog()
}

// cpuHog starts one normal-priority busy loop per CPU, each ending by
// itself after limit; the returned func (also run at cleanup) stops them.
func cpuHog(t *testing.T, limit time.Duration) func() {
	t.Helper()
	var procs []*exec.Cmd
	for i := 0; i < runtime.NumCPU(); i++ {
		c := exec.Command("timeout", strconv.Itoa(int(limit.Seconds())), "sh", "-c", "while :; do :; done")
		if err := c.Start(); err != nil {
			t.Fatalf("CPU hog: %v", err)
		}
		procs = append(procs, c)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		for _, c := range procs {
			c.Process.Signal(syscall.SIGTERM)
			c.Wait()
		}
	}
	t.Cleanup(stop)
	return stop
}

// schedOf reads policy and real-time priority of thread tid of pid.
func schedOf(pid, tid int) (policy, prio int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 39 {
		return 0, 0, fmt.Errorf("short stat")
	}
	prio, _ = strconv.Atoi(f[40-3])
	policy, _ = strconv.Atoi(f[41-3])
	return policy, prio, nil
}

// notRR describes the threads of pid that are not SCHED_RR ("" if none).
func notRR(t *testing.T, pid int) string {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err.Error()
	}
	var bad []string
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		pol, prio, err := schedOf(pid, tid)
		if err == nil && pol != 2 {
			bad = append(bad, fmt.Sprintf("thread %d policy %d priority %d", tid, pol, prio))
		}
	}
	return strings.Join(bad, ", ")
}

// capSysNice is CAP_SYS_NICE, needed for SCHED_RR.
const capSysNice = 23

// hasCapability reports whether this process has capability c in its
// effective set (hbd, started from it as root, has the same).
func hasCapability(c uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<c) != 0
		}
	}
	return false
}
