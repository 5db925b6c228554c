// Package hardening holds integration tests that put hbd through what
// production throws at it: forged and replayed packets, lossy and
// asymmetric links, split brain, crash loops, broken resource agents and
// unprivileged users on the control socket. Nodes live in network
// namespaces (tests/netns); the tests need root and skip without it. Every
// test is bounded in time and logs what it measured.
package hardening

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/tests/netns"
)

var binDir, hbdBin, clStatusBin string

// TestMain builds hbd once (with its cl_status, hb_standby and hb_takeover
// names) into a directory every user may enter: the control-socket test
// runs the tools as nobody.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lvsha-hardening-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	hbdBin = filepath.Join(dir, "hbd")
	clStatusBin = filepath.Join(dir, "cl_status")
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		fail(err)
	}
	if out, err := exec.Command("go", "build", "-o", hbdBin, "lvsha/hbd").CombinedOutput(); err != nil {
		fail(fmt.Errorf("build hbd: %v\n%s", err, out))
	}
	for _, name := range []string{"cl_status", "hb_standby", "hb_takeover"} {
		if err := os.Symlink("hbd", filepath.Join(dir, name)); err != nil {
			fail(err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	vip    = "10.52.0.100"
	vipURL = "http://" + vip + "/"
	// The heartbeat secret; TestSecretNeverLogged greps for it.
	secret    = "hardening-secret-7f3a"
	keepalive = 100 * time.Millisecond
	deadtime  = time.Second
)

// haCF is a fast two-node configuration: keepalive 100 ms and deadtime 1 s
// (10 keepalives, as the lossy-link test asks), two bcast links.
func haCF(failback string) string {
	return `# hardening tests
logfile /var/log/ha-log
debugfile /var/log/ha-debug
use_logd no
keepalive 100ms
deadtime 1
warntime 500ms
initdead 2
udpport 694
bcast eth1 eth2
auto_failback ` + failback + `
node alpha beta
`
}

func authkeys() string { return "auth 1\n1 md5 " + secret + "\n" }

// webScript is an httpd-like resource.d script serving the node's name.
const webScript = `#!/bin/sh
PID=/run/webserver.pid
running() { [ -f $PID ] && kill -0 "$(cat $PID)" 2>/dev/null; }
case "$1" in
start)
	running && exit 0
	mkdir -p /run/web && uname -n > /run/web/index.html
	setsid python3 -m http.server 80 --bind 0.0.0.0 --directory /run/web </dev/null >/dev/null 2>&1 &
	echo $! > $PID
	i=0
	while [ $i -lt 100 ]; do
		curl -s -o /dev/null --max-time 1 http://127.0.0.1/ && exit 0
		sleep 0.05; i=$((i+1))
	done
	echo "webserver did not start" >&2; exit 1;;
stop)
	if running; then kill "$(cat $PID)"; fi
	rm -f $PID; exit 0;;
status)
	if running; then echo running; else echo stopped; fi; exit 0;;
*) echo "usage: $0 start|stop|status" >&2; exit 1;;
esac
`

// lan is two directors heartbeating over eth1 and eth2, sharing the LAN
// eth0 (a bridge) with a client. With an attacker, eth1 is a bridge too and
// the attacker sits on it, hearing and able to send everything.
type lan struct {
	t                    *testing.T
	alpha, beta, client  *netns.Node
	attacker             *netns.Node
	dirs                 []*netns.Node
	haresources, failbck string
	wantAttacker         bool
}

type lanOpt func(*lan)

func withAttacker() lanOpt          { return func(l *lan) { l.wantAttacker = true } }
func withFailback(s string) lanOpt  { return func(l *lan) { l.failbck = s } }
func withResources(s string) lanOpt { return func(l *lan) { l.haresources = s } }
func defaultResources() string      { return "alpha IPaddr2::" + vip + "/24/eth0 webserver\n" }
func (l *lan) peer(n *netns.Node) *netns.Node {
	if n == l.alpha {
		return l.beta
	}
	return l.alpha
}

func directors(t *testing.T, opts ...lanOpt) *lan {
	netns.Require(t)
	l := &lan{t: t, failbck: "off", haresources: defaultResources()}
	for _, o := range opts {
		o(l)
	}
	l.alpha, l.beta, l.client = netns.NewNode(t, "alpha"), netns.NewNode(t, "beta"), netns.NewNode(t, "client")
	l.dirs = []*netns.Node{l.alpha, l.beta}
	sw := netns.NewSwitch(t, "lan")
	netns.JoinLAN(t, sw, l.alpha, "eth0", "10.52.0.1/24")
	netns.JoinLAN(t, sw, l.beta, "eth0", "10.52.0.2/24")
	netns.JoinLAN(t, sw, l.client, "eth0", "10.52.0.10/24")
	if l.wantAttacker {
		l.attacker = netns.NewNode(t, "mallory")
		hb := netns.NewSwitch(t, "hb1")
		netns.JoinLAN(t, hb, l.alpha, "eth1", "10.51.1.1/24")
		netns.JoinLAN(t, hb, l.beta, "eth1", "10.51.1.2/24")
		netns.JoinLAN(t, hb, l.attacker, "eth0", "10.51.1.66/24")
	} else {
		netns.Connect(t, l.alpha, l.beta, "eth1", "10.51.1")
	}
	netns.Connect(t, l.alpha, l.beta, "eth2", "10.51.2")
	for _, n := range l.dirs {
		n.WriteFile("/etc/ha.d/ha.cf", []byte(haCF(l.failbck)), 0o644)
		n.WriteFile("/etc/ha.d/authkeys", []byte(authkeys()), 0o600)
		n.WriteFile("/etc/ha.d/haresources", []byte(l.haresources), 0o644)
		n.WriteFile("/etc/ha.d/resource.d/webserver", []byte(webScript), 0o755)
	}
	return l
}

// startHbd runs hbd in the foreground with test-safe options (a failed stop
// must never reboot the machine running the tests) and waits for its
// control socket.
func startHbd(t *testing.T, n *netns.Node, args ...string) *netns.Proc {
	t.Helper()
	p, err := n.Start(hbdBin, append([]string{"-f", "-on-stop-failure", "ignore"}, args...)...)
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

// startBoth starts both directors and waits until alpha serves the VIP
// (its home) and both are stable.
func (l *lan) startBoth(args ...string) (pa, pb *netns.Proc) {
	l.t.Helper()
	pa = startHbd(l.t, l.alpha, args...)
	pb = startHbd(l.t, l.beta, args...)
	return pa, pb
}

// cl runs our cl_status in the node.
func cl(n *netns.Node, args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	out, errOut, code, err := n.Run(ctx, clStatusBin, args...)
	if err != nil {
		return "error: " + err.Error(), -1
	}
	if s := strings.TrimSpace(out); s != "" || code == 0 {
		return s, code
	}
	return "stderr: " + strings.TrimSpace(errOut), code
}

func waitRsc(t *testing.T, n *netns.Node, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return netns.Eventually(t, timeout, 20*time.Millisecond, func() (bool, string) {
		got, _ := cl(n, "rscstatus")
		return got == want, fmt.Sprintf("%s rscstatus %q, want %q", n.Name, got, want)
	})
}

func waitStatus(t *testing.T, n *netns.Node, peer, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return netns.Eventually(t, timeout, 20*time.Millisecond, func() (bool, string) {
		got, _ := cl(n, "nodestatus", peer)
		return got == want, fmt.Sprintf("%s sees %s %q, want %q", n.Name, peer, got, want)
	})
}

func waitLink(t *testing.T, n *netns.Node, peer, link, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return netns.Eventually(t, timeout, 20*time.Millisecond, func() (bool, string) {
		got, _ := cl(n, "hblinkstatus", peer, link)
		return got == want, fmt.Sprintf("%s sees link %s/%s %q, want %q", n.Name, peer, link, got, want)
	})
}

// hasVIP reports whether the node has the VIP on eth0.
func hasVIP(n *netns.Node) bool {
	out, _, _, _ := n.Run(context.Background(), "ip", "-o", "-4", "addr", "show", "dev", "eth0")
	return strings.Contains(out, " "+vip+"/24")
}

// holders lists the directors that have the VIP.
func (l *lan) holders() []string {
	var h []string
	for _, n := range l.dirs {
		if hasVIP(n) {
			h = append(h, n.Name)
		}
	}
	return h
}

// get asks the VIP from the client; it returns the serving node's name.
func (l *lan) get(timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+2*time.Second)
	defer cancel()
	out, _, code, err := l.client.Run(ctx, "curl", "-s", "--max-time", fmt.Sprintf("%.2f", timeout.Seconds()), vipURL)
	if err != nil || code != 0 {
		return fmt.Sprintf("(no answer: exit %d %v)", code, err)
	}
	return strings.TrimSpace(out)
}

func (l *lan) waitServer(want string, timeout time.Duration) time.Duration {
	l.t.Helper()
	return netns.Eventually(l.t, timeout, 20*time.Millisecond, func() (bool, string) {
		got := l.get(500 * time.Millisecond)
		return got == want, fmt.Sprintf("client got %q from the VIP, want %q", got, want)
	})
}

// waitOneHolder waits until exactly want holds the VIP.
func (l *lan) waitOneHolder(want *netns.Node, timeout time.Duration) time.Duration {
	l.t.Helper()
	return netns.Eventually(l.t, timeout, 20*time.Millisecond, func() (bool, string) {
		h := l.holders()
		return len(h) == 1 && h[0] == want.Name, fmt.Sprintf("VIP holders %v, want only %s", h, want.Name)
	})
}

// waitStable waits until alpha serves and holds the VIP alone, and both
// report their steady rscstatus.
func (l *lan) waitStable() {
	l.t.Helper()
	waitRsc(l.t, l.alpha, "local", 15*time.Second)
	waitRsc(l.t, l.beta, "local", 5*time.Second)
	l.waitServer("alpha", 5*time.Second)
	l.waitOneHolder(l.alpha, 2*time.Second)
	// Let the starting/resource exchange finish: a standby asked for
	// earlier can be ignored by a peer still settling.
	time.Sleep(time.Second)
}

// counters reads `cl_status counters` (an lvsha extension).
func counters(t *testing.T, n *netns.Node) map[string]uint64 {
	t.Helper()
	out, code := cl(n, "counters")
	if code != 0 {
		t.Fatalf("cl_status counters on %s: exit %d: %s", n.Name, code, out)
	}
	c := map[string]uint64{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			c[f[0]] = v
		}
	}
	return c
}

// snapshot is the cluster state as the administrator sees it; tests assert
// that attacks and faults leave it unchanged.
type snapshot struct {
	node, link, rsc map[string]string
	vip             []string
}

func (l *lan) snapshot() snapshot {
	s := snapshot{node: map[string]string{}, link: map[string]string{}, rsc: map[string]string{}}
	for _, n := range l.dirs {
		p := l.peer(n)
		s.node[n.Name+">"+p.Name], _ = cl(n, "nodestatus", p.Name)
		s.node[n.Name+">"+n.Name], _ = cl(n, "nodestatus", n.Name)
		for _, link := range []string{"eth1", "eth2"} {
			s.link[n.Name+">"+p.Name+"/"+link], _ = cl(n, "hblinkstatus", p.Name, link)
		}
		s.rsc[n.Name], _ = cl(n, "rscstatus")
	}
	s.vip = l.holders()
	return s
}

func (s snapshot) String() string {
	return fmt.Sprintf("nodes %v links %v rsc %v vip %v", s.node, s.link, s.rsc, s.vip)
}

// nft installs a table of rules in the node's namespace (no netem here:
// loss is `numgen random mod 100 < N drop`). The table goes with the node.
func nft(t *testing.T, n *netns.Node, table string, rules ...string) {
	t.Helper()
	script := "add table inet " + table + "\n" +
		"add chain inet " + table + " in { type filter hook input priority 0 ; }\n" +
		"add chain inet " + table + " out { type filter hook output priority 0 ; }\n"
	for _, r := range rules {
		script += "add rule inet " + table + " " + r + "\n"
	}
	path := filepath.Join(n.Dir(), "out", table+".nft")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	n.MustRun("nft", "-f", path)
}

func nftDelete(t *testing.T, n *netns.Node, table string) {
	t.Helper()
	n.MustRun("nft", "delete", "table", "inet", table)
}

// udpIn opens a UDP socket in node n's network namespace (it keeps
// working from any thread afterwards). It returns the thread to the test
// binary's namespace and unlocks it instead of letting it end: the kernel sends a child's PDEATHSIG when the
// *thread* that forked it exits, and every node holder and process that
// tests/netns starts carries PDEATHSIG=SIGKILL, so ending a thread that
// once forked one of them kills it (seen here: a node's holder gone
// mid-test, "nsenter: cannot open /proc/PID/ns/uts").
func udpIn(t *testing.T, n *netns.Node, laddr string) *net.UDPConn {
	t.Helper()
	type res struct {
		c   *net.UDPConn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", n.PID()))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- res{err: fmt.Errorf("setns: %w", err)}
			return
		}
		pc, lerr := net.ListenPacket("udp4", laddr)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread cannot go back: let it end with this goroutine
			// (still locked) rather than serve others in the node's
			// namespace.
			if lerr == nil {
				pc.Close()
			}
			ch <- res{err: fmt.Errorf("setns back: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		if lerr != nil {
			ch <- res{err: lerr}
			return
		}
		ch <- res{c: pc.(*net.UDPConn)}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("udp socket in %s: %v", n.Name, r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

// poller asks the VIP from the client every interval and records the
// longest run of failed requests, from the start of the first failure to
// the next success.
type poller struct {
	mu       sync.Mutex
	ok, fail int
	worst    time.Duration
	failFrom time.Time
	failures []time.Time // when each failed request began
	servers  map[string]int
	stop     chan struct{}
	done     chan struct{}
}

func (l *lan) poll(interval time.Duration) *poller {
	p := &poller{servers: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			start := time.Now()
			got := l.get(300 * time.Millisecond)
			now := time.Now()
			p.mu.Lock()
			if strings.HasPrefix(got, "(") {
				p.fail++
				p.failures = append(p.failures, start)
				if p.failFrom.IsZero() {
					p.failFrom = start
				}
			} else {
				p.ok++
				p.servers[got]++
				if !p.failFrom.IsZero() {
					if d := now.Sub(p.failFrom); d > p.worst {
						p.worst = d
					}
					p.failFrom = time.Time{}
				}
			}
			p.mu.Unlock()
			if d := interval - time.Since(start); d > 0 {
				time.Sleep(d)
			}
		}
	}()
	return p
}

// finish stops the poller; a failure still running counts up to now.
func (p *poller) finish() (ok, fail int, worst time.Duration, servers map[string]int) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.failFrom.IsZero() {
		if d := time.Since(p.failFrom); d > p.worst {
			p.worst = d
		}
	}
	return p.ok, p.fail, p.worst, p.servers
}

// readLogs returns everything the node's hbd wrote: its log files and the
// captured stdout/stderr of the processes started in it.
func readLogs(n *netns.Node) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(n.Dir(), "var/log/*"))
	outs, _ := filepath.Glob(filepath.Join(n.Dir(), "out/*.log"))
	for _, f := range append(files, outs...) {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

// failoverMargin is what a takeover may take beyond deadtime and the
// group's own start time: death noticed on the next tick, the takeover
// dispatched, the gratuitous ARPs reaching the client and its next poll,
// on a loaded 2-core machine. The README states it with the guarantee.
const failoverMargin = 500 * time.Millisecond

var tookRE = regexp.MustCompile(`msg="resource groups acquired".* took=(\S+)`)

// takeoverTimes waits until the survivor's logfile (after marks) shows its
// peer's death and its groups acquired, and returns when it declared the
// peer dead and how long starting the groups took (rm's took=).
func takeoverTimes(t *testing.T, n *netns.Node, peer string, marks map[string]int) (deadAt time.Time, start time.Duration) {
	t.Helper()
	netns.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		log := logSince(n, marks)
		var ok bool
		deadAt, ok = logTime(log, fmt.Sprintf("node %s: is dead", peer))
		m := tookRE.FindStringSubmatch(log)
		if !ok || m == nil {
			return false, fmt.Sprintf("%s's log lacks %s's death or the groups acquired:\n%s", n.Name, peer, tail(log, 2000))
		}
		var err error
		start, err = time.ParseDuration(m[1])
		return err == nil, fmt.Sprintf("took=%s: %v", m[1], err)
	})
	return deadAt, start
}
