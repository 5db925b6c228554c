package netns

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// TestNodeBasics checks the harness alone: host names, private directories,
// a veth link that carries traffic and can be cut, and process clean-up.
func TestNodeBasics(t *testing.T) {
	Require(t)
	a := NewNode(t, "alpha")
	b := NewNode(t, "beta")
	Connect(t, a, b, "eth1", "10.31.1")

	for _, n := range []*Node{a, b} {
		if got := strings.TrimSpace(n.MustRun("uname", "-n")); got != n.Name {
			t.Fatalf("uname -n in %s = %q", n.Name, got)
		}
	}
	host, _ := os.Hostname()
	if host == "alpha" || host == "beta" {
		t.Fatalf("host name leaked out of the node: %q", host)
	}

	// Private files: written from the host side, seen in the node only.
	a.WriteFile("/etc/ha.d/ha.cf", []byte("node alpha beta\n"), 0o644)
	if got := a.MustRun("cat", "/etc/ha.d/ha.cf"); got != "node alpha beta\n" {
		t.Fatalf("ha.cf in alpha = %q", got)
	}
	if _, err := os.Stat("/etc/ha.d/ha.cf"); err == nil {
		if b, _ := os.ReadFile("/etc/ha.d/ha.cf"); string(b) == "node alpha beta\n" {
			t.Fatal("node file visible on the host")
		}
	}
	if _, _, code, _ := b.Run(context.Background(), "test", "-e", "/etc/ha.d/ha.cf"); code == 0 {
		t.Fatal("alpha's ha.cf visible in beta")
	}
	a.MustRun("sh", "-c", "echo 123 > /var/run/test.pid")
	if got, err := a.ReadFile("/run/test.pid"); err != nil || string(got) != "123\n" {
		t.Fatalf("/var/run/test.pid via /run: %q %v", got, err)
	}
	if _, err := os.Stat("/run/test.pid"); err == nil {
		t.Fatal("/run/test.pid leaked to the host")
	}
	if _, err := a.HostPath("/etc/passwd"); err == nil {
		t.Fatal("HostPath accepted a shared path")
	}
	if out := a.MustRun("stat", "-c", "%U:%G %a", "/run/heartbeat"); strings.TrimSpace(out) != "hacluster:haclient 750" {
		t.Errorf("/run/heartbeat in node: %q", out)
	}

	// Addresses and broadcast address.
	if out := a.MustRun("ip", "-4", "-o", "addr", "show", "dev", "eth1"); !strings.Contains(out, "10.31.1.1/24 brd 10.31.1.255") {
		t.Fatalf("alpha eth1: %s", out)
	}
	if out := b.MustRun("ip", "-o", "link", "show"); strings.Count(out, "\n") != 2 || !strings.Contains(out, "eth1") {
		t.Fatalf("beta links: %s", out)
	}
	// Real traffic crosses the link, and stops while it is down.
	testenv.RequireProgram(t, "ping", "iputils-ping")
	a.MustRun("ping", "-c1", "-W2", "10.31.1.2")
	if err := a.SetLink("eth1", false); err != nil {
		t.Fatal(err)
	}
	if _, _, code, err := a.Run(context.Background(), "ping", "-c1", "-W1", "10.31.1.2"); err != nil || code == 0 {
		t.Fatalf("ping through a downed link: exit %d, %v", code, err)
	}
	if err := a.SetLink("eth1", true); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 5*time.Second, 100*time.Millisecond, func() (bool, string) {
		_, _, code, _ := a.Run(context.Background(), "ping", "-c1", "-W1", "10.31.1.2")
		return code == 0, "ping after link up"
	})

	// Processes: Start, Kill, and what Pids sees; a forked child is found.
	p, err := a.Start("sh", "-c", "sleep 300 & echo started; wait")
	if err != nil {
		t.Fatal(err)
	}
	Eventually(t, 5*time.Second, 20*time.Millisecond, func() (bool, string) {
		return len(a.Pids()) == 2 && strings.Contains(p.Output(), "started"), fmt.Sprintf("pids %v", a.Pids())
	})
	if err := p.Wait(100 * time.Millisecond); err == nil {
		t.Fatal("Wait returned nil for a running process")
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(5 * time.Second); err == nil || !p.Exited() {
		t.Fatalf("after SIGKILL: %v", err)
	}
	if pids := a.Pids(); len(pids) != 1 {
		t.Fatalf("orphan sleep not seen: %v", pids) // teardown must kill it
	}

	// Run honours the context deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, _, err := a.Run(ctx, "sleep", "10"); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("Run ignored its deadline: %v after %v", err, time.Since(start))
	}
}

// TestTeardown checks that a node's teardown leaves no process, namespace
// or directory behind.
func TestTeardown(t *testing.T) {
	Require(t)
	var dir string
	var holder int
	var pids []int
	t.Run("inner", func(t *testing.T) {
		n := NewNode(t, "gamma")
		m := NewNode(t, "delta")
		Connect(t, n, m, "eth1", "10.31.9.0/24")
		dir, holder = n.Dir(), n.PID()
		if _, err := n.Start("sh", "-c", "sleep 300 & sleep 300 & wait"); err != nil {
			t.Fatal(err)
		}
		Eventually(t, 5*time.Second, 20*time.Millisecond, func() (bool, string) {
			pids = n.Pids()
			return len(pids) == 3, fmt.Sprintf("%v", pids)
		})
	})
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s left behind", dir)
	}
	for _, pid := range append(pids, holder) {
		if err := syscall.Kill(pid, 0); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(b), ") Z ") {
				t.Errorf("pid %d still alive", pid)
			}
		}
	}
}

// clStatus runs cl_status inside n and returns its trimmed stdout.
func clStatus(n *Node, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	out, errOut, code, err := n.Run(ctx, "cl_status", args...)
	if err != nil {
		return fmt.Sprintf("error %v", err)
	}
	if s := strings.TrimSpace(out); s != "" {
		return s
	}
	return fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(errOut))
}

const haCF = `# per-node log files; no logd, no syslog
logfile /var/log/ha-log
debugfile /var/log/ha-debug
use_logd no
keepalive 200ms
deadtime 1
warntime 500ms
initdead 2
udpport 694
bcast eth1 eth2
auto_failback on
node alpha beta
`

const authkeys = "auth 1\n1 md5 lvsha-test-key\n"

// TestRealHeartbeatPair runs two real Heartbeat 3.0.6 daemons, one per
// node, joined by two links, and checks what cl_status reports through a
// link cut and a crash.
func TestRealHeartbeatPair(t *testing.T) {
	Require(t)
	if _, ok := HeartbeatAvailable(); !ok {
		testenv.Skip(t, "real Heartbeat is not installed (Debian package heartbeat; scripts/deps.sh test installs it)")
	}
	testenv.SkipShort(t, "slow: runs the real Heartbeat")
	a := NewNode(t, "alpha")
	b := NewNode(t, "beta")
	Connect(t, a, b, "eth1", "10.31.1")
	Connect(t, a, b, "eth2", "10.31.2")
	for _, n := range []*Node{a, b} {
		n.WriteFile("/etc/ha.d/ha.cf", []byte(haCF), 0o644)
		n.WriteFile("/etc/ha.d/authkeys", []byte(authkeys), 0o600)
	}

	start := time.Now()
	hb, err := StartHeartbeats(a, b)
	if err != nil {
		t.Fatal(err)
	}
	hbA, hbB := hb[0], hb[1]
	t.Logf("figure: both API sockets ready %v after start", time.Since(start).Round(time.Millisecond))

	Eventually(t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
		sa, sb := clStatus(a, "nodestatus", "beta"), clStatus(b, "nodestatus", "alpha")
		return sa == "active" && sb == "active", fmt.Sprintf("alpha sees beta %q, beta sees alpha %q", sa, sb)
	})
	t.Logf("figure: each node sees the other active %v after start", time.Since(start).Round(time.Millisecond))
	Eventually(t, 5*time.Second, 50*time.Millisecond, func() (bool, string) {
		var st []string
		for _, link := range []string{"eth1", "eth2"} {
			st = append(st, clStatus(a, "hblinkstatus", "beta", link), clStatus(b, "hblinkstatus", "alpha", link))
		}
		return strings.Join(st, " ") == "up up up up", "links beta/eth1, alpha/eth1, beta/eth2, alpha/eth2 seen as " + strings.Join(st, " ")
	})
	t.Logf("figure: all four link views up %v after start", time.Since(start).Round(time.Millisecond))
	if s := clStatus(a, "hbstatus"); s != "Heartbeat is running on this machine." {
		t.Fatalf("hbstatus: %q", s)
	}
	if s := clStatus(a, "hbparameter", "-p", "keepalive"); s != "200ms" {
		t.Errorf("hbparameter keepalive = %q", s)
	}

	// Heartbeat's resource start-up ends with a fixed 10 s wait; cut links
	// only once both nodes are past it (steady state).
	Eventually(t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
		for _, n := range []*Node{a, b} {
			log, _ := n.ReadFile("/var/log/ha-log")
			// "local resource transition completed." on one node,
			// "remote resource transition completed." on the other.
			if !strings.Contains(string(log), "resource transition completed") {
				return false, n.Name + ": no \"resource transition completed\" in ha-log"
			}
		}
		return true, ""
	})
	t.Logf("figure: both nodes past the resource start-up (\"resource transition completed\") %v after start", time.Since(start).Round(time.Millisecond))

	// Cut eth1 on alpha: alpha loses link beta/eth1, beta stays active via eth2.
	cut := time.Now()
	if err := a.SetLink("eth1", false); err != nil {
		t.Fatal(err)
	}
	d := Eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		s := clStatus(a, "hblinkstatus", "beta", "eth1")
		return s == "dead", "alpha: link beta/eth1 " + s
	})
	t.Logf("figure: link beta/eth1 dead on alpha %v after eth1 down (deadtime 1)", d.Round(time.Millisecond))
	if s := clStatus(a, "nodestatus", "beta"); s != "active" {
		t.Fatalf("alpha sees beta %q with eth2 still up", s)
	}
	if s := clStatus(a, "hblinkstatus", "beta", "eth2"); s != "up" {
		t.Fatalf("alpha: link beta/eth2 = %q", s)
	}
	Eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		s := clStatus(b, "hblinkstatus", "alpha", "eth1")
		return s == "dead", "beta: link alpha/eth1 " + s
	})
	t.Logf("figure: link alpha/eth1 dead on beta %v after eth1 down", time.Since(cut).Round(time.Millisecond))
	if err := a.SetLink("eth1", true); err != nil {
		t.Fatal(err)
	}
	d = Eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		s := clStatus(a, "hblinkstatus", "beta", "eth1")
		return s == "up", "alpha: link beta/eth1 " + s
	})
	t.Logf("figure: link beta/eth1 up again on alpha %v after eth1 up", d.Round(time.Millisecond))

	// Crash beta's heartbeat: alpha declares beta dead after deadtime.
	helpers := len(b.Pids())
	crash := time.Now()
	if err := hbB.Kill(); err != nil {
		t.Fatal(err)
	}
	d = Eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		s := clStatus(a, "nodestatus", "beta")
		return s == "dead", "alpha sees beta " + s
	})
	t.Logf("figure: beta dead on alpha %v after kill -9 (deadtime 1)", d.Round(time.Millisecond))
	if d > 5*time.Second {
		t.Errorf("beta declared dead only after %v", d)
	}
	dh := Eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		p := b.Pids()
		return len(p) == 0, fmt.Sprintf("beta processes left: %v", p)
	})
	t.Logf("figure: beta's %d processes all gone %v after kill -9 of the master (%v after the kill)", helpers, dh.Round(time.Millisecond), time.Since(crash).Round(time.Millisecond))
	if s := clStatus(a, "nodestatus", "beta"); s != "dead" {
		t.Fatalf("alpha sees beta %q", s)
	}

	// Graceful stop of alpha (what `heartbeat -k` does: SIGTERM).
	stop := time.Now()
	if !hbA.Stop(20 * time.Second) {
		t.Errorf("alpha heartbeat ignored SIGTERM for 20s")
	}
	t.Logf("figure: alpha stopped %v after SIGTERM", time.Since(stop).Round(time.Millisecond))
	log, _ := a.ReadFile("/var/log/ha-log")
	if !strings.Contains(string(log), "Heartbeat shutdown complete") {
		t.Errorf("no shutdown message in alpha's ha-log:\n%s", tail(string(log), 2000))
	}
}
