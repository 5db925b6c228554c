// Package cluster holds the multi-node integration tests of hbd: nodes in
// their own network, UTS and mount namespaces (tests/netns), joined by two
// veth links, alone and mixed with the real Heartbeat 3.0.6 from Debian.
// They need root; without it they skip and say why.
package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
)

var hbdBin, clStatusBin string

// TestMain builds hbd once (and its cl_status name) for every test.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lvsha-cluster-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hbdBin = filepath.Join(dir, "hbd")
	clStatusBin = filepath.Join(dir, "cl_status")
	out, err := exec.Command("go", "build", "-o", hbdBin, "lvsha/hbd").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build hbd: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	for _, name := range []string{"cl_status", "hb_standby", "hb_takeover"} {
		if err := os.Symlink("hbd", filepath.Join(dir, name)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	keepalive = 200 * time.Millisecond
	deadtime  = time.Second
)

func haCF(nodes string) string {
	return `# test cluster: fast timers, two bcast links, per-node log files
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
node ` + nodes + "\n"
}

func authkeys(method, key string) string {
	if method == "crc" {
		return "auth 1\n1 crc\n"
	}
	return fmt.Sprintf("auth 1\n1 %s %s\n", method, key)
}

// pair makes alpha and beta with links eth1 and eth2 and writes their files.
func pair(t *testing.T, method, keyA, keyB string) (a, b *netns.Node) {
	netns.Require(t)
	a = netns.NewNode(t, "alpha")
	b = netns.NewNode(t, "beta")
	netns.Connect(t, a, b, "eth1", "10.41.1")
	netns.Connect(t, a, b, "eth2", "10.41.2")
	for n, key := range map[*netns.Node]string{a: keyA, b: keyB} {
		n.WriteFile("/etc/ha.d/ha.cf", []byte(haCF("alpha beta")), 0o644)
		n.WriteFile("/etc/ha.d/authkeys", []byte(authkeys(method, key)), 0o600)
		n.WriteFile("/etc/ha.d/haresources", nil, 0o644)
	}
	return a, b
}

// startHbd runs our daemon in the node in the foreground and waits for its
// control socket.
func startHbd(t *testing.T, n *netns.Node, args ...string) *netns.Proc {
	t.Helper()
	p, err := n.Start(hbdBin, append([]string{"-f"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	sock, err := n.HostPath("/run/heartbeat/hbd.sock")
	if err != nil {
		t.Fatal(err)
	}
	netns.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		if p.Exited() {
			t.Fatalf("hbd exited on %s:\n%s", n.Name, p.Output())
		}
		c, err := net.DialTimeout("unix", sock, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return true, ""
		}
		return false, "hbd control socket on " + n.Name
	})
	return p
}

// cl runs cl_status in the node: ours (hbd) or the real one.
func cl(n *netns.Node, ours bool, args ...string) (string, int) {
	bin := "/usr/bin/cl_status"
	if ours {
		bin = clStatusBin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	out, errOut, code, err := n.Run(ctx, bin, args...)
	if err != nil {
		return "error: " + err.Error(), -1
	}
	if s := strings.TrimSpace(out); s != "" || code == 0 {
		return s, code
	}
	return "stderr: " + strings.TrimSpace(errOut), code
}

// waitStatus waits until node n (through its own cl_status) reports peer's
// status as want, and returns how long it took.
func waitStatus(t *testing.T, n *netns.Node, ours bool, peer, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return netns.Eventually(t, timeout, 20*time.Millisecond, func() (bool, string) {
		got, _ := cl(n, ours, "nodestatus", peer)
		return got == want, fmt.Sprintf("%s sees %s %q, want %q", n.Name, peer, got, want)
	})
}

func waitLink(t *testing.T, n *netns.Node, ours bool, peer, link, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return netns.Eventually(t, timeout, 20*time.Millisecond, func() (bool, string) {
		got, _ := cl(n, ours, "hblinkstatus", peer, link)
		return got == want, fmt.Sprintf("%s sees link %s/%s %q, want %q", n.Name, peer, link, got, want)
	})
}

// bothLinksUp checks listhblinks and hblinkstatus for peer as seen by n.
func bothLinksUp(t *testing.T, n *netns.Node, ours bool, peer string) {
	t.Helper()
	for _, l := range []string{"eth1", "eth2"} {
		waitLink(t, n, ours, peer, l, "up", 5*time.Second)
	}
	got, code := cl(n, ours, "listhblinks", peer)
	if code != 0 || !strings.Contains(got, "eth1") || !strings.Contains(got, "eth2") {
		t.Fatalf("%s: listhblinks %s = %q (exit %d)", n.Name, peer, got, code)
	}
}

// deathBound is how long after a kill -9 the real Heartbeat must say dead,
// seen through its cl_status: the deadtime from the last heartbeat (up to
// one keepalive before the kill), its own coarse timers (it was measured
// at 1.12-1.26 s), and cl_status polling on a loaded 2-core machine.
const deathBound = deadtime + 700*time.Millisecond

// detectSlack is how late after deadtime hbd may log a death it times
// itself (its timers tick every 20 ms at most; a loaded 2-core machine
// delays the tick).
const detectSlack = 150 * time.Millisecond

// earliestDeath is the soonest after a cut or kill a death may be
// declared: deadtime from the last heartbeat heard, which is a keepalive
// old at most, plus the sender's jitter (its loop ticks every 20 ms; a
// loaded machine delays it more). 0.7 s here: a death declared at half the
// deadtime fails.
const earliestDeath = deadtime - keepalive - 100*time.Millisecond

// checkDetection checks a death or link death hbd logged d after the cut
// or kill: never before earliestDeath, and within deadtime of the cut plus
// detectSlack.
func checkDetection(t *testing.T, what string, d time.Duration) {
	t.Helper()
	lo, hi := earliestDeath, deadtime+detectSlack
	t.Logf("%s after %v (allowed %v..%v)", what, d.Round(time.Millisecond), lo, hi)
	if d < lo || d > hi {
		t.Errorf("%s after %v, want %v..%v (deadtime %v, keepalive %v)", what, d.Round(time.Millisecond), lo, hi, deadtime, keepalive)
	}
}

// waitLogLine waits until the node's logfile (from offset mark) has a line
// containing text and returns that line's time.
func waitLogLine(t *testing.T, n *netns.Node, mark int, text string, timeout time.Duration) time.Time {
	t.Helper()
	timeRE := regexp.MustCompile(`time=(\S+)`)
	var at time.Time
	netns.Eventually(t, timeout, 20*time.Millisecond, func() (bool, string) {
		b, _ := n.ReadFile("/var/log/ha-log")
		for _, line := range strings.Split(string(b[min(mark, len(b)):]), "\n") {
			if strings.Contains(line, text) {
				if m := timeRE.FindStringSubmatch(line); m != nil {
					if ts, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
						at = ts
						return true, ""
					}
				}
			}
		}
		return false, fmt.Sprintf("%s's log has no line %q", n.Name, text)
	})
	return at
}

// TestTwoHbdNodes: both see each other active with both links up; one link
// down kills the link only; both down kill the node within deadtime; back
// up, alive again.
func TestTwoHbdNodes(t *testing.T) {
	a, b := pair(t, "sha1", "two-node-key", "two-node-key")
	startHbd(t, a, "-metrics", "127.0.0.1:9694")
	startHbd(t, b)
	for _, p := range [][2]*netns.Node{{a, b}, {b, a}} {
		waitStatus(t, p[0], true, p[1].Name, "active", 5*time.Second)
		bothLinksUp(t, p[0], true, p[1].Name)
	}
	if got, _ := cl(a, true, "nodestatus", "alpha"); got != "active" {
		t.Fatalf("alpha's own status %q", got)
	}

	mark := logLen(a)
	cut := time.Now()
	if err := a.SetLink("eth1", false); err != nil {
		t.Fatal(err)
	}
	waitLink(t, a, true, "beta", "eth1", "dead", 5*time.Second)
	d := waitLogLine(t, a, mark, "Link beta:eth1 dead.", time.Second).Sub(cut)
	checkDetection(t, "alpha saw link beta/eth1 dead", d)
	// The opt-in metrics endpoint agrees with cl_status.
	m, _, code, err := a.Run(context.Background(), "curl", "-s", "--max-time", "2", "http://127.0.0.1:9694/metrics")
	if err != nil || code != 0 {
		t.Fatalf("metrics: exit %d %v", code, err)
	}
	for _, want := range []string{`hbd_link_up{link="eth1",node="beta"} 0`, `hbd_link_up{link="eth2",node="beta"} 1`,
		`hbd_node_status{node="beta",status="active"} 1`, `hbd_resources_holding{holding="none"} 1`} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s:\n%s", want, m)
		}
	}
	if got, _ := cl(a, true, "hblinkstatus", "beta", "eth2"); got != "up" {
		t.Fatalf("eth2 = %q after cutting eth1", got)
	}
	for _, p := range [][2]*netns.Node{{a, b}, {b, a}} {
		if got, _ := cl(p[0], true, "nodestatus", p[1].Name); got != "active" {
			t.Fatalf("%s sees %s %q with one link left", p[0].Name, p[1].Name, got)
		}
	}

	marks := map[*netns.Node]int{a: logLen(a), b: logLen(b)}
	cut = time.Now()
	if err := a.SetLink("eth2", false); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, a, true, "beta", "dead", 5*time.Second)
	waitStatus(t, b, true, "alpha", "dead", 5*time.Second)
	for _, p := range [][2]*netns.Node{{a, b}, {b, a}} {
		d := waitLogLine(t, p[0], marks[p[0]], "node "+p[1].Name+": is dead", time.Second).Sub(cut)
		checkDetection(t, fmt.Sprintf("both links cut: %s saw %s dead", p[0].Name, p[1].Name), d)
	}

	a.SetLink("eth1", true)
	a.SetLink("eth2", true)
	for _, p := range [][2]*netns.Node{{a, b}, {b, a}} {
		waitStatus(t, p[0], true, p[1].Name, "active", 5*time.Second)
		bothLinksUp(t, p[0], true, p[1].Name)
	}
}

// TestInteropRealHeartbeat: our alpha and a real Heartbeat 3.0.6 beta in one
// cluster, for each auth method: each sees the other active with both links
// up, and each detects the other's kill -9 within its deadtime.
func TestInteropRealHeartbeat(t *testing.T) {
	netns.Require(t)
	if _, ok := netns.HeartbeatAvailable(); !ok {
		testenv.Skip(t, "real Heartbeat 3.0.6 is not installed (Debian package heartbeat; scripts/deps.sh test installs it)")
	}
	for _, method := range []string{"md5", "sha1", "crc"} {
		t.Run(method, func(t *testing.T) {
			a, b := pair(t, method, "interop-"+method, "interop-"+method)
			real, ours := startMixed(t, a, b)
			waitStatus(t, b, false, "alpha", "active", 10*time.Second)
			waitStatus(t, a, true, "beta", "active", 10*time.Second)
			bothLinksUp(t, b, false, "alpha")
			bothLinksUp(t, a, true, "beta")
			if c := counters(t, a); c["rx_dropped_bad_auth"] != 0 || c["rx_accepted"] == 0 {
				t.Fatalf("alpha counters: %v", c)
			}

			// Our node dies: the real one notices within its deadtime.
			killed := time.Now()
			ours.Kill()
			waitStatus(t, b, false, "alpha", "dead", 5*time.Second)
			d := time.Since(killed)
			t.Logf("real Heartbeat saw hbd dead %v after kill -9 (allowed %v..%v)", d.Round(time.Millisecond), earliestDeath, deathBound)
			if d < earliestDeath || d > deathBound {
				t.Errorf("real Heartbeat took %v to see hbd dead, want %v..%v", d, earliestDeath, deathBound)
			}

			// Ours comes back (new generation): the real one accepts it again.
			startHbd(t, a)
			waitStatus(t, b, false, "alpha", "active", 10*time.Second)
			waitStatus(t, a, true, "beta", "active", 10*time.Second)

			// The real node dies: ours notices within its deadtime (timed by
			// its log, as for hbd peers). Heartbeat
			// advertises deadtime+2 s until its start-up resource phase ends
			// (about 11 s), and we honour what a peer advertises, so wait for
			// that phase to end first.
			waitLog(t, b, "resource transition completed", 20*time.Second)
			waitLog(t, a, "node beta advertises deadtime 1000 ms", 5*time.Second)
			mark := logLen(a)
			killed = time.Now()
			real.Kill()
			waitStatus(t, a, true, "beta", "dead", 5*time.Second)
			d = waitLogLine(t, a, mark, "node beta: is dead", time.Second).Sub(killed)
			checkDetection(t, "hbd saw the real Heartbeat dead after kill -9", d)
		})
	}
}

// TestWrongKey: a different md5 key on each side: neither accepts the
// other, and hbd counts the rejected packets.
func TestWrongKey(t *testing.T) {
	netns.Require(t)
	if _, ok := netns.HeartbeatAvailable(); !ok {
		testenv.Skip(t, "real Heartbeat 3.0.6 is not installed (Debian package heartbeat; scripts/deps.sh test installs it)")
	}
	a, b := pair(t, "md5", "key-of-alpha", "key-of-beta")
	startMixed(t, a, b)
	// Past initdead (2 s) both must have declared the other dead, never active.
	waitStatus(t, a, true, "beta", "dead", 8*time.Second)
	waitStatus(t, b, false, "alpha", "dead", 8*time.Second)
	c := counters(t, a)
	if c["rx_dropped_bad_auth"] == 0 || c["rx_accepted"] != 0 {
		t.Fatalf("alpha counters: %v", c)
	}
	t.Logf("hbd rejected %d packets with a bad MAC", c["rx_dropped_bad_auth"])
	log, err := b.ReadFile("/var/log/ha-log")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "authentication failed") && !strings.Contains(string(log), "authtoken does not match") {
		t.Fatalf("real Heartbeat did not log rejecting our packets:\n%s", log)
	}
}

func waitLog(t *testing.T, n *netns.Node, text string, timeout time.Duration) {
	t.Helper()
	netns.Eventually(t, timeout, 100*time.Millisecond, func() (bool, string) {
		log, _ := n.ReadFile("/var/log/ha-log")
		return strings.Contains(string(log), text), fmt.Sprintf("%s: log line %q", n.Name, text)
	})
}

// startMixed starts the real Heartbeat on b and hbd on a at the same time,
// so neither's initdead runs out before the other is up.
func startMixed(t *testing.T, a, b *netns.Node) (real, ours *netns.Proc) {
	t.Helper()
	type started struct {
		p   *netns.Proc
		err error
	}
	ch := make(chan started, 1)
	go func() {
		p, err := b.StartHeartbeat()
		ch <- started{p, err}
	}()
	ours = startHbd(t, a)
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.p, ours
}

func counters(t *testing.T, n *netns.Node) map[string]uint64 {
	t.Helper()
	out, code := cl(n, true, "counters")
	if code != 0 {
		t.Fatalf("cl_status counters on %s: exit %d: %s", n.Name, code, out)
	}
	c := map[string]uint64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			c[f[0]] = v
		}
	}
	return c
}
