// Package hardening holds integration tests that put hbd through what
// production throws at it: forged and replayed packets, lossy and
// asymmetric links, split brain, crash loops, broken resource agents and
// unprivileged users on the control socket. Nodes live in network
// namespaces (tests/netns); the tests need root and skip without it. Every
// test is bounded in time and logs what it measured.
package hardening

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
)

// TestMain builds hbd once for every test, in a directory every user may
// enter: the control-socket test runs the tools as nobody (see hbdlab.Main).
func TestMain(m *testing.M) { hbdlab.Main(m) }

const (
	lanNet = "10.52.0" // eth0: the directors .1 and .2, the client .10
	vip    = lanNet + ".100"
	// The heartbeat secret; TestSecretNeverLogged greps for it.
	secret    = "hardening-secret-7f3a"
	keepalive = 100 * time.Millisecond
	deadtime  = time.Second
)

// haCF is a fast two-node configuration: keepalive 100 ms and deadtime 1 s
// (10 keepalives, as the lossy-link test asks), two bcast links.
func haCF(failback string) string {
	return hbdlab.HACF{Comment: "hardening tests", Keepalive: keepalive, Initdead: 2, Failback: failback, Nodes: "alpha beta"}.String()
}

func authkeys() string { return hbdlab.Authkeys("md5", secret) }

// lan is two directors heartbeating over eth1 and eth2, sharing the LAN
// eth0 (a bridge) with a client. With an attacker, eth1 is a bridge too and
// the attacker sits on it, hearing and able to send everything.
type lan struct {
	*hbdlab.LAN
	t                    *testing.T
	haresources, failbck string
	wantAttacker         bool
}

type lanOpt func(*lan)

func withAttacker() lanOpt          { return func(l *lan) { l.wantAttacker = true } }
func withFailback(s string) lanOpt  { return func(l *lan) { l.failbck = s } }
func withResources(s string) lanOpt { return func(l *lan) { l.haresources = s } }
func defaultResources() string      { return "alpha IPaddr2::" + vip + "/24/eth0 webserver\n" }

func directors(t *testing.T, opts ...lanOpt) *lan {
	l := &lan{t: t, failbck: "off", haresources: defaultResources()}
	for _, o := range opts {
		o(l)
	}
	l.LAN = hbdlab.NewLAN(t, hbdlab.Net{LAN: lanNet, HB: "10.51", Attacker: l.wantAttacker})
	l.Configure(haCF(l.failbck), authkeys(), l.haresources)
	return l
}

// startBoth starts both directors and waits until alpha serves the VIP
// (its home) and both are stable.
func (l *lan) startBoth(args ...string) (pa, pb *netns.Proc) {
	l.t.Helper()
	pa = hbdlab.StartDirector(l.t, l.Alpha, args...)
	pb = hbdlab.StartDirector(l.t, l.Beta, args...)
	return pa, pb
}

// waitOneHolder waits until exactly want holds the VIP.
func (l *lan) waitOneHolder(want *netns.Node, timeout time.Duration) time.Duration {
	l.t.Helper()
	return netns.Eventually(l.t, timeout, 20*time.Millisecond, func() (bool, string) {
		h := l.Holders()
		return len(h) == 1 && h[0] == want.Name, fmt.Sprintf("VIP holders %v, want only %s", h, want.Name)
	})
}

// waitStable waits until alpha serves and holds the VIP alone, and both
// report their steady rscstatus.
func (l *lan) waitStable() {
	l.t.Helper()
	hbdlab.Ours.WaitRsc(l.t, l.Alpha, "local", 15*time.Second)
	hbdlab.Ours.WaitRsc(l.t, l.Beta, "local", 5*time.Second)
	l.WaitServer(l.t, "alpha", 5*time.Second)
	l.waitOneHolder(l.Alpha, 2*time.Second)
	// Let the starting/resource exchange finish: a standby asked for
	// earlier can be ignored by a peer still settling.
	time.Sleep(time.Second)
}

// snapshot is the cluster state as the administrator sees it; tests assert
// that attacks and faults leave it unchanged.
type snapshot struct {
	node, link, rsc map[string]string
	vip             []string
}

func (l *lan) snapshot() snapshot {
	s := snapshot{node: map[string]string{}, link: map[string]string{}, rsc: map[string]string{}}
	for _, n := range l.Directors() {
		p := l.Peer(n)
		s.node[n.Name+">"+p.Name], _ = hbdlab.Ours.Ask(n, "nodestatus", p.Name)
		s.node[n.Name+">"+n.Name], _ = hbdlab.Ours.Ask(n, "nodestatus", n.Name)
		for _, link := range []string{"eth1", "eth2"} {
			s.link[n.Name+">"+p.Name+"/"+link], _ = hbdlab.Ours.Ask(n, "hblinkstatus", p.Name, link)
		}
		s.rsc[n.Name], _ = hbdlab.Ours.Ask(n, "rscstatus")
	}
	s.vip = l.Holders()
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
			got := l.Get(300 * time.Millisecond)
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

// takeoverTimes waits until the survivor's logfile (after marks) shows its
// peer's death and its groups acquired, and returns when it declared the
// peer dead and how long starting the groups took (rm's took=).
func takeoverTimes(t *testing.T, n *netns.Node, peer string, marks map[string]int) (deadAt time.Time, start time.Duration) {
	t.Helper()
	netns.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		log := logSince(n, marks)
		var ok bool
		var err error
		deadAt, ok = hbdlab.LogTime(log, fmt.Sprintf("node %s: is dead", peer))
		start, err = hbdlab.GroupStart(log)
		return ok && err == nil, fmt.Sprintf("%s's log: %s's death found %v; groups acquired: %v:\n%s", n.Name, peer, ok, err, tail(log, 2000))
	})
	return deadAt, start
}
