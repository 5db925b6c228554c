// Package ldird holds ldird's integration tests: a director, two real web
// servers and a client, each in its own network namespace (tests/netns) on
// one bridged LAN, with `dataplane = userspace` (this kernel has no IPVS).
// They need root; without it they skip and say why.
package ldird

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"lvsha/tests/netns"
)

var ldirdBin string

// TestMain builds ldird once.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lvsha-ldird-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ldirdBin = filepath.Join(dir, "ldird")
	if out, err := exec.Command("go", "build", "-o", ldirdBin, "lvsha/ldird").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ldird: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	vip     = "10.60.0.100"
	real1IP = "10.60.0.11"
	real2IP = "10.60.0.12"
	cfPath  = "/etc/ha.d/ldirectord.cf"
	cfName  = "ldirectord.cf"
)

// cf is the test configuration; quiescent and the weight of real1 vary.
func cf(quiescent string, w1 int, extra string) string {
	return fmt.Sprintf(`# ldird integration test
checkinterval=1
checktimeout=1
negotiatetimeout=1
autoreload=yes
quiescent=%s
dataplane=userspace
%s
virtual=%s:80
	real=%s:80 masq %d
	real=%s:80 masq 1
	fallback=127.0.0.1:8080 masq
	service=http
	request="index.html"
	receive="^real|^fallback"
	scheduler=rr
`, quiescent, extra, vip, real1IP, w1, real2IP)
}

type lab struct {
	t                  *testing.T
	dir, r1, r2, cl    *netns.Node
	web1, web2, fbWeb  *netns.Proc
	docs1, docs2, docF string
}

func newLab(t *testing.T) *lab {
	netns.Require(t)
	l := &lab{t: t}
	sw := netns.NewSwitch(t, "ldsw")
	l.dir = netns.NewNode(t, "director")
	l.r1 = netns.NewNode(t, "real1")
	l.r2 = netns.NewNode(t, "real2")
	l.cl = netns.NewNode(t, "client")
	netns.JoinLAN(t, sw, l.dir, "eth0", "10.60.0.1/24")
	netns.JoinLAN(t, sw, l.r1, "eth0", real1IP+"/24")
	netns.JoinLAN(t, sw, l.r2, "eth0", real2IP+"/24")
	netns.JoinLAN(t, sw, l.cl, "eth0", "10.60.0.50/24")
	l.dir.MustRun("ip", "addr", "add", vip+"/32", "dev", "eth0")
	base := t.TempDir()
	for name, p := range map[string]*string{"real1": &l.docs1, "real2": &l.docs2, "fallback": &l.docF} {
		*p = filepath.Join(base, name)
		os.MkdirAll(*p, 0o755)
		os.WriteFile(filepath.Join(*p, "index.html"), []byte(name+"\n"), 0o644)
	}
	l.web1 = l.serve(l.r1, real1IP, "80", l.docs1)
	l.web2 = l.serve(l.r2, real2IP, "80", l.docs2)
	l.fbWeb = l.serve(l.dir, "127.0.0.1", "8080", l.docF)
	return l
}

// serve runs python3's http.server in n and waits until it answers.
func (l *lab) serve(n *netns.Node, addr, port, docs string) *netns.Proc {
	l.t.Helper()
	p, err := n.Start("/usr/bin/python3", "-m", "http.server", port, "--bind", addr, "--directory", docs)
	if err != nil {
		l.t.Fatal(err)
	}
	netns.Eventually(l.t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		out, _, code, _ := n.Run(context.Background(), "curl", "-s", "--max-time", "1", "http://"+addr+":"+port+"/index.html")
		return code == 0 && out != "", "http.server on " + addr + " not answering"
	})
	return p
}

// ldird runs the binary in the director node.
func (l *lab) ldird(args ...string) (stdout, stderr string, code int) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o, e, c, err := l.dir.Run(ctx, ldirdBin, args...)
	if err != nil {
		l.t.Fatalf("ldird %v: %v", args, err)
	}
	return o, e, c
}

// table parses `ldird status`: server -> weight for the VIP's service.
func (l *lab) table() (map[string]string, string) {
	out, _, code := l.ldird(cfName, "status")
	m := map[string]string{}
	if code != 0 {
		return m, out
	}
	re := regexp.MustCompile(`(?m)^  -> (\S+)\s+\S+\s+(\d+)\s`)
	for _, x := range re.FindAllStringSubmatch(out, -1) {
		m[x[1]] = x[2]
	}
	return m, out
}

// The README's bounds for what tests/ldird measures (checkinterval 1 s,
// checktimeout 1 s); the figures it quotes are this test's log lines.
const (
	firstRoundBound   = 2 * time.Second         // start to the table: checktimeout + 1 s
	detectBound       = 1500 * time.Millisecond // stopped real to weight 0: checkinterval + 0.5 s
	reloadLoggedBound = 100 * time.Millisecond  // first fsnotify event to table applied, ldird's own log
	reloadSeenBound   = 300 * time.Millisecond  // file written to the table seen by polling `ldird status`
)

// reloadSeen checks an autoreload's latency seen from outside.
func (l *lab) reloadSeen(what string, d time.Duration) {
	l.t.Helper()
	l.t.Logf("reload latency (%s, seen by polling status): %v (bound %v)", what, d, reloadSeenBound)
	if d > reloadSeenBound {
		l.t.Errorf("reload (%s) seen in the table after %v (bound %v)", what, d, reloadSeenBound)
	}
}

func (l *lab) waitTable(timeout time.Duration, want map[string]string) time.Duration {
	l.t.Helper()
	return netns.Eventually(l.t, timeout, 10*time.Millisecond, func() (bool, string) {
		got, out := l.table()
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return true, ""
		}
		return false, fmt.Sprintf("table %v, want %v\n%s", got, want, out)
	})
}

// fetch makes n requests from the client to the VIP and counts the answers.
func (l *lab) fetch(n int) map[string]int {
	l.t.Helper()
	seen := map[string]int{}
	for range n {
		out, _, code, _ := l.cl.Run(context.Background(), "curl", "-s", "--max-time", "2", "http://"+vip+"/index.html")
		if code != 0 {
			seen[fmt.Sprintf("error %d", code)]++
			continue
		}
		seen[strings.TrimSpace(out)]++
	}
	return seen
}

func (l *lab) writeCf(text string) {
	l.dir.WriteFile(cfPath, []byte(text), 0o644)
}

func (l *lab) hostCf() string {
	p, err := l.dir.HostPath(cfPath)
	if err != nil {
		l.t.Fatal(err)
	}
	return p
}

func TestLdirdUserspace(t *testing.T) {
	l := newLab(t)
	up2 := map[string]string{real1IP + ":80": "1", real2IP + ":80": "1"}

	// Exit codes with no daemon.
	l.writeCf(cf("yes", 1, ""))
	if _, _, c := l.ldird(cfName, "status"); c != 3 {
		t.Fatalf("status (stopped) = %d, want 3", c)
	}
	if _, _, c := l.ldird(cfName, "stop"); c != 0 {
		t.Fatalf("stop (stopped) = %d, want 0", c)
	}
	if _, _, c := l.ldird(cfName, "try-restart"); c != 0 {
		t.Fatalf("try-restart (stopped) = %d, want 0", c)
	}
	if _, _, c := l.ldird(cfName, "reload"); c != 1 {
		t.Fatalf("reload (stopped) = %d, want 1", c)
	}
	if _, _, c := l.ldird("nosuch.cf", "status"); c != 3 {
		t.Fatalf("status of another name = %d, want 3", c)
	}
	if _, _, c := l.ldird("nosuch.cf", "start"); c != 1 {
		t.Fatalf("start with a missing config = %d, want 1", c)
	}
	if _, _, c := l.ldird(cfName, "frobnicate"); c != 255 {
		t.Fatalf("unknown command = %d, want 255", c)
	}
	if _, _, c := l.ldird("-x", cfName, "start"); c != 255 {
		t.Fatalf("unknown option = %d, want 255", c)
	}
	if o, _, c := l.ldird("-v"); c != 0 || !strings.Contains(o, "ldird") {
		t.Fatalf("-v = %d %q", c, o)
	}
	if o, _, c := l.ldird("-t", cfName); c != 0 || !strings.Contains(o, "configuration OK") {
		t.Fatalf("-t good = %d %q", c, o)
	}
	l.dir.WriteFile("/etc/ha.d/broken.cf", []byte(cf("maybe", 1, "bogus = 1")), 0o644)
	if _, e, c := l.ldird("-t", "broken.cf"); c != 1 || !strings.Contains(e, "/etc/ha.d/broken.cf:6:") ||
		!strings.Contains(e, "/etc/ha.d/broken.cf:8:") {
		t.Fatalf("-t broken = %d, stderr:\n%s", c, e)
	}
	if _, e, c := l.ldird("broken.cf", "start"); c != 2 {
		t.Fatalf("start broken = %d, want 2; stderr:\n%s", c, e)
	}

	// Start in the foreground (-d: logs on stderr, pid file written).
	startAt := time.Now()
	ld, err := l.dir.Start(ldirdBin, "-d", cfName, "start")
	if err != nil {
		t.Fatal(err)
	}
	l.waitTable(10*time.Second, up2)
	// The table is published after the first check round, whose checks
	// end within checktimeout (1 s): the README's bound is that plus 1 s.
	if d := time.Since(startAt); d > firstRoundBound {
		t.Errorf("start to both reals in the table took %v (bound %v)", d, firstRoundBound)
	} else {
		t.Logf("start to both reals in the table: %v", d)
	}
	if _, e, c := l.ldird(cfName, "status"); c != 0 || !strings.Contains(e, "is running with pid") {
		t.Fatalf("status (running) = %d %q", c, e)
	}
	if _, _, c := l.ldird(cfName, "start"); c != 0 {
		t.Fatalf("start (running) = %d, want 0", c)
	}
	got := l.fetch(10)
	if got["real1"] != 5 || got["real2"] != 5 {
		t.Fatalf("round robin: %v", got)
	}
	_, status := l.table()
	for _, want := range []string{"TCP  10.60.0.100:80 rr", "Health (ldird)", "real 10.60.0.11:80 up weight=1", "last=ok latency="} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	t.Logf("status:\n%s", status)

	// Real 2 fails: quiesced (weight 0) and the client only reaches real 1.
	l.web2.Stop(5 * time.Second)
	failAt := time.Now()
	l.waitTable(5*time.Second, map[string]string{real1IP + ":80": "1", real2IP + ":80": "0"})
	// A stopped server refuses at once: the next check (within
	// checkinterval) fails and failurecount is 1.
	d := time.Since(failAt)
	t.Logf("detection: real2 stopped -> weight 0 in %v (checkinterval 1 s; bound %v)", d, detectBound)
	if d > detectBound {
		t.Errorf("detection took %v, bound %v (checkinterval 1 s, refused at once)", d, detectBound)
	}
	if got := l.fetch(6); got["real1"] != 6 {
		t.Fatalf("with real2 quiesced: %v", got)
	}

	// Edit in place: quiescent=no removes the failed real.
	writeAt := time.Now()
	os.WriteFile(l.hostCf(), []byte(cf("no", 1, "")), 0o644)
	l.waitTable(2*time.Second, map[string]string{real1IP + ":80": "1"})
	l.reloadSeen("edit in place, quiescent=no applied", time.Since(writeAt))

	// All reals down: the fallback serves.
	l.web1.Stop(5 * time.Second)
	l.waitTable(5*time.Second, map[string]string{"127.0.0.1:8080": "1"})
	if got := l.fetch(3); got["fallback"] != 3 {
		t.Fatalf("fallback: %v", got)
	}
	_, status = l.table()
	if !strings.Contains(status, "fallback=127.0.0.1:8080 active") {
		t.Errorf("status does not show the fallback active:\n%s", status)
	}

	// A real back: table restored, fallback removed.
	l.web2 = l.serve(l.r2, real2IP, "80", l.docs2)
	l.waitTable(5*time.Second, map[string]string{real2IP + ":80": "1"})
	if got := l.fetch(3); got["real2"] != 3 {
		t.Fatalf("after real2 came back: %v", got)
	}
	l.web1 = l.serve(l.r1, real1IP, "80", l.docs1)
	l.waitTable(5*time.Second, up2)

	// Rename-on-save (as vim and sed -i do): weight of real1 to 3.
	tmp := filepath.Join(filepath.Dir(l.hostCf()), ".ldirectord.cf.swp")
	os.WriteFile(tmp, []byte(cf("no", 3, "")), 0o644)
	writeAt = time.Now()
	os.Rename(tmp, l.hostCf())
	l.waitTable(2*time.Second, map[string]string{real1IP + ":80": "3", real2IP + ":80": "1"})
	l.reloadSeen("rename-on-save", time.Since(writeAt))

	// Symlink swap: the config becomes a link to releases/a, then to releases/b.
	etc := filepath.Dir(l.hostCf())
	for rel, w := range map[string]int{"a": 2, "b": 4} {
		os.MkdirAll(filepath.Join(etc, "releases", rel), 0o755)
		os.WriteFile(filepath.Join(etc, "releases", rel, "ldirectord.cf"), []byte(cf("no", w, "")), 0o644)
	}
	for _, step := range []struct{ rel, w string }{{"a", "2"}, {"b", "4"}} {
		link := filepath.Join(etc, "link.tmp")
		os.Symlink("releases/"+step.rel+"/ldirectord.cf", link)
		writeAt = time.Now()
		os.Rename(link, l.hostCf())
		l.waitTable(2*time.Second, map[string]string{real1IP + ":80": step.w, real2IP + ":80": "1"})
		l.reloadSeen("symlink swap to releases/"+step.rel, time.Since(writeAt))
	}
	// An edit of the link's target.
	target := filepath.Join(etc, "releases", "b", "ldirectord.cf")
	writeAt = time.Now()
	os.WriteFile(target, []byte(cf("no", 5, "")), 0o644)
	l.waitTable(2*time.Second, map[string]string{real1IP + ":80": "5", real2IP + ":80": "1"})
	l.reloadSeen("edit of the symlink target", time.Since(writeAt))

	// A broken edit keeps the running table and logs file:line.
	os.WriteFile(target, []byte(cf("no", 1, "bogus = 1")), 0o644)
	netns.Eventually(t, 2*time.Second, 10*time.Millisecond, func() (bool, string) {
		return strings.Contains(ld.Output(), "where=/etc/ha.d/ldirectord.cf:8"), "no file:line error logged"
	})
	time.Sleep(200 * time.Millisecond)
	if tab, out := l.table(); tab[real1IP+":80"] != "5" {
		t.Fatalf("broken edit changed the table:\n%s", out)
	}
	if _, e, c := l.ldird(cfName, "reload"); c != 2 {
		t.Fatalf("reload with a broken file = %d, want 2: %s", c, e)
	}
	os.WriteFile(target, []byte(cf("no", 5, "")), 0o644)
	if _, _, c := l.ldird(cfName, "reload"); c != 0 {
		t.Fatalf("reload (running) = %d, want 0", c)
	}

	// The daemon's own measure: first inotify event to table applied.
	applied := regexp.MustCompile(`msg="configuration applied" .*trigger=autoreload latency=(\S+)`).FindAllStringSubmatch(ld.Output(), -1)
	if len(applied) < 5 {
		t.Errorf("ldird logged %d autoreloads applied, want the 5 above", len(applied))
	}
	for _, m := range applied {
		lat, err := time.ParseDuration(m[1])
		t.Logf("reload latency logged by ldird (first event -> applied): %s (bound %v)", m[1], reloadLoggedBound)
		if err != nil || lat > reloadLoggedBound {
			t.Errorf("ldird logged an autoreload latency of %s (bound %v)", m[1], reloadLoggedBound)
		}
	}

	// kill -9 and restart (daemonized this time): the proxy dies with the
	// process, so the restarted daemon must rebuild the same table without
	// publishing any real down during its startup.
	before, _ := l.table()
	if err := ld.Kill(); err != nil {
		t.Fatal(err)
	}
	ld.Wait(5 * time.Second)
	if _, e, c := l.ldird(cfName, "status"); c != 1 || !strings.Contains(e, "stale pid file") {
		t.Fatalf("status after kill -9 = %d (want 1, stale pid file): %s", c, e)
	}
	os.WriteFile(target, []byte(cf("no", 5, `logfile="/var/log/ldird.log"`)), 0o644)
	restartAt := time.Now()
	if _, e, c := l.ldird(cfName, "start"); c != 0 {
		t.Fatalf("start (daemon) = %d: %s", c, e)
	}
	// start returns once the first round is published: the table is the
	// same the moment it returns.
	took := time.Since(restartAt)
	if now, out := l.table(); fmt.Sprint(now) != fmt.Sprint(before) {
		t.Fatalf("when start returned after kill -9 the table was %v, want %v as before:\n%s", now, before, out)
	}
	t.Logf("restart after kill -9: table identical when start returned, after %v (bound %v)", took, firstRoundBound)
	if took > firstRoundBound {
		t.Errorf("restart after kill -9 took %v (bound %v)", took, firstRoundBound)
	}
	logb, _ := l.dir.ReadFile("/var/log/ldird.log")
	if strings.Contains(string(logb), "Quiescent real server") || strings.Contains(string(logb), "Deleted real server") {
		t.Fatalf("a real was published down during the restart:\n%s", logb)
	}
	if !strings.Contains(string(logb), "first check round done") {
		t.Fatalf("daemon log:\n%s", logb)
	}

	// stop waits for the daemon; then status is 3.
	pidb, _ := l.dir.ReadFile("/run/ldirectord." + cfName + ".pid")
	if _, e, c := l.ldird(cfName, "stop"); c != 0 {
		t.Fatalf("stop = %d: %s", c, e)
	}
	var pid int
	fmt.Sscan(string(pidb), &pid)
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); pid == 0 || (err == nil && !strings.Contains(string(st), ") Z ")) {
		t.Fatalf("daemon pid %d still there after stop", pid)
	}
	if _, _, c := l.ldird(cfName, "status"); c != 3 {
		t.Fatalf("status after stop = %d, want 3", c)
	}
	if got := l.fetch(1); got["real1"]+got["real2"] != 0 {
		t.Fatalf("VIP still served after stop (cleanstop/proxy gone expected): %v", got)
	}
}
