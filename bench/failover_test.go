//go:build bench

package bench

// Failover: hbd (built-in agents), hbd -script-agents (the same IPaddr2
// shell agent Heartbeat forks) and Heartbeat 3.0.6, each run on a fresh
// pair of namespaces: two directors on a LAN with a client, heartbeats on
// two direct links, the VIP the only haresources group, a web server on
// each director answering its name. The client polls the VIP every 5 ms.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/tests/netns"
)

const benchVIP = "10.43.0.100"

// timers is one ha.cf timer set.
type timers struct {
	name                string
	keepalive, deadtime string
	warntime, initdead  string
}

var (
	stdTimers  = timers{"100ms/500ms", "100ms", "500ms", "300ms", "2"}
	fastTimers = timers{"20ms/100ms", "20ms", "100ms", "60ms", "2"}
)

// hbFastTimers is Heartbeat's setting compared with hbd's fast timers:
// the same 20ms/100ms by default, since Heartbeat 3.0.6 accepts them and
// held them under the soak's CPU hog when tried (bench/README.md); the
// soak of every run shows whether it still does. LVSHA_BENCH_HB_FAST=
// keepalive/deadtime/warntime sets another.
func hbFastTimers() timers {
	if s := os.Getenv("LVSHA_BENCH_HB_FAST"); s != "" {
		if f := strings.Split(s, "/"); len(f) == 3 {
			return timers{name: f[0] + "/" + f[1], keepalive: f[0], deadtime: f[1], warntime: f[2], initdead: "2"}
		}
	}
	return fastTimers
}

// impl is one of the daemons compared.
type impl struct {
	name string
	real bool     // Heartbeat 3.0.6
	args []string // extra hbd flags
}

var (
	implHbd       = impl{name: "hbd"}
	implHbdScript = impl{name: "hbd -script-agents", args: []string{"-script-agents"}}
	implHeartbeat = impl{name: "Heartbeat 3.0.6", real: true}
)

func (im impl) start(n *netns.Node) (*netns.Proc, error) {
	if im.real {
		return n.StartHeartbeat()
	}
	args := append([]string{"-f", "-on-stop-failure", "ignore"}, im.args...)
	p, err := n.Start(filepath.Join(binDir, "hbd"), args...)
	if err != nil {
		return nil, err
	}
	sock, _ := n.HostPath("/run/heartbeat/hbd.sock")
	if !waitFor(10*time.Second, 10*time.Millisecond, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil || p.Exited()
	}) || p.Exited() {
		return nil, fmt.Errorf("hbd on %s: no control socket (exited: %v):\n%s", n.Name, p.Exited(), tail(p.Output(), 2000))
	}
	return p, nil
}

// tool is the path of hb_standby, hb_takeover or cl_status.
func (im impl) tool(name string) string {
	if im.real {
		if name == "cl_status" {
			return netns.ClStatusBinary
		}
		return "/usr/share/heartbeat/" + name
	}
	return filepath.Join(binDir, name)
}

// exe is the daemon's executable: its processes are counted for memory.
func (im impl) exe() string {
	if im.real {
		p, _ := netns.HeartbeatAvailable()
		return p
	}
	return filepath.Join(binDir, "hbd")
}

// site is two directors and a client on a LAN, heartbeating on eth1/eth2.
type site struct {
	a, b, client *netns.Node
	httpc        *http.Client
}

const webSrv = `import http.server, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = socket.gethostname().encode()
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 80), H).serve_forever()
`

// newSite builds the namespaces; net is the second octet of its subnets
// (two sites can run at once) and web starts the web servers and client.
func newSite(t *testing.T, tm timers, net int, web bool) *site {
	netns.Require(t)
	s := &site{a: netns.NewNode(t, "alpha"), b: netns.NewNode(t, "beta")}
	sw := netns.NewSwitch(t, "lan")
	vip := fmt.Sprintf("10.%d.0.100", net)
	netns.JoinLAN(t, sw, s.a, "eth0", fmt.Sprintf("10.%d.0.1/24", net))
	netns.JoinLAN(t, sw, s.b, "eth0", fmt.Sprintf("10.%d.0.2/24", net))
	netns.Connect(t, s.a, s.b, "eth1", fmt.Sprintf("10.%d.1", net+1))
	netns.Connect(t, s.a, s.b, "eth2", fmt.Sprintf("10.%d.2", net+1))
	cf := fmt.Sprintf(`logfile /var/log/ha-log
use_logd no
keepalive %s
deadtime %s
warntime %s
initdead %s
realtime on
udpport 694
bcast eth1 eth2
auto_failback on
node alpha beta
`, tm.keepalive, tm.deadtime, tm.warntime, tm.initdead)
	for _, n := range []*netns.Node{s.a, s.b} {
		n.WriteFile("/etc/ha.d/ha.cf", []byte(cf), 0o644)
		n.WriteFile("/etc/ha.d/authkeys", []byte("auth 1\n1 sha1 bench-key\n"), 0o600)
		n.WriteFile("/etc/ha.d/haresources", []byte("alpha IPaddr2::"+vip+"/24/eth0\n"), 0o644)
		if web {
			if _, err := n.Start("python3", "-c", webSrv); err != nil {
				t.Fatal(err)
			}
		}
	}
	if web {
		s.client = netns.NewNode(t, "client")
		netns.JoinLAN(t, sw, s.client, "eth0", fmt.Sprintf("10.%d.0.10/24", net))
		s.httpc = clientIn(t, s.client)
	}
	return s
}

// clientIn returns an HTTP client whose sockets are created inside n's
// network namespace: its dialer switches one locked OS thread into it.
func clientIn(t *testing.T, n *netns.Node) *http.Client {
	nsf, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", n.PID()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nsf.Close() })
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			// Switch one locked thread into the namespace and back. The
			// thread must survive: children forked from it earlier (node
			// holders, daemons) carry a parent-death signal tied to it.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			self, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				ch <- res{nil, err}
				return
			}
			defer self.Close()
			if err := unix.Setns(int(nsf.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- res{nil, err}
				return
			}
			d := net.Dialer{Timeout: 50 * time.Millisecond}
			c, err := d.DialContext(ctx, network, addr)
			if serr := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); serr != nil {
				panic("cannot return to the host network namespace: " + serr.Error())
			}
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{Timeout: 100 * time.Millisecond,
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

func (s *site) who() string {
	resp, err := s.httpc.Get("http://" + benchVIP + "/")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// until polls the VIP every 5 ms until want answers and returns the time
// since start.
func (s *site) until(want string, start time.Time, limit time.Duration) (time.Duration, error) {
	for time.Since(start) < limit {
		if s.who() == want {
			return time.Since(start), nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s did not answer on the VIP within %v (last %q)", want, limit, s.who())
}

// rscstatus asks a node's daemon which resources it holds.
func rscstatus(n *netns.Node, im impl) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _, _, _ := n.Run(ctx, im.tool("cl_status"), "rscstatus")
	return strings.TrimSpace(out)
}

// settle waits until both daemons report a steady holding (neither in
// transition, the same answers for three polls in a row) and alphaHolds
// tells whether alpha holds its group (local or all) or not (none), so the
// next hb_standby or hb_takeover is taken.
func (s *site) settle(im impl, alphaHolds bool, limit time.Duration) error {
	var a, b string
	same := 0
	if waitFor(limit, 50*time.Millisecond, func() bool {
		a2, b2 := rscstatus(s.a, im), rscstatus(s.b, im)
		if a2 == a && b2 == b {
			same++
		} else {
			same = 0
		}
		a, b = a2, b2
		holds := a == "local" || a == "all"
		return same >= 2 && holds == alphaHolds && a != "transition" && b != "" && b != "transition"
	}) {
		return nil
	}
	return fmt.Errorf("not settled within %v: alpha %q, beta %q", limit, a, b)
}

// memFig is the memory of a daemon's processes on one node.
type memFig struct {
	procs    int
	rss, pss float64 // MiB, summed over the processes
}

func daemonMem(n *netns.Node, im impl) memFig {
	var m memFig
	exe := im.exe()
	for _, pid := range n.Pids() {
		if p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || p != exe {
			continue
		}
		rss, _ := procMem(pid)
		m.procs++
		m.rss += rss
		m.pss += procPSS(pid)
	}
	return m
}

// failoverRun is one run: both started → VIP answering, memory, hb_standby
// → VIP on beta, hb_takeover back, kill -9 of alpha's daemon → VIP on beta.
func failoverRun(t *testing.T, im impl, tm timers, tb *table, col string, withStart bool) {
	s := newSite(t, tm, 43, true)
	start := time.Now()
	type res struct {
		p   *netns.Proc
		err error
	}
	ch := make(chan res, 1)
	go func() { p, err := im.start(s.b); ch <- res{p, err} }()
	pa, err := im.start(s.a)
	rb := <-ch
	if err = errors.Join(err, rb.err); err != nil {
		t.Fatal(err)
	}
	d, err := s.until("alpha", start, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if withStart {
		tb.addDur("both started → VIP answering", col, d)
	}
	if err := s.settle(im, true, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if withStart {
		m := daemonMem(s.a, im)
		tb.add("RSS of the daemon's processes (holder)", kMiB, col, m.rss)
		tb.add("PSS of the daemon's processes (holder)", kMiB, col, m.pss)
		tb.add("processes", kCount, col, float64(m.procs))
		tb.setText("scheduling policy of the main process (realtime on)", kCount, col, schedPolicy(pa.PID))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start = time.Now()
	if out, errOut, code, err := s.a.Run(ctx, im.tool("hb_standby")); err != nil || code != 0 {
		t.Fatalf("hb_standby: %d %v %s%s", code, err, out, errOut)
	}
	if d, err = s.until("beta", start, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	tb.addDur("hb_standby → VIP answering on the other node", col, d)
	if err := s.settle(im, false, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code, err := s.a.Run(ctx, im.tool("hb_takeover")); err != nil || code != 0 {
		t.Fatalf("hb_takeover: %d %v %s%s", code, err, out, errOut)
	}
	if _, err := s.until("alpha", time.Now(), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.settle(im, true, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	_ = pa.Kill()
	start = time.Now()
	if d, err = s.until("beta", start, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	tb.addDur("kill -9 of the holder → VIP answering on the backup", col, d)
	progress("failover %s %s: standby and kill done", tm.name, col)
}

// TestFailoverBench: at 100ms/500ms, hbd, hbd -script-agents and
// Heartbeat; then hbd at 20ms/100ms against Heartbeat at its best stable
// setting. Runs interleave the daemons so a drift in the machine's load
// touches all of them alike.
func TestFailoverBench(t *testing.T) {
	if _, ok := netns.HeartbeatAvailable(); !ok {
		t.Fatal("real Heartbeat not installed (make bench installs it: scripts/deps.sh bench)")
	}
	std := newTable("Failover, keepalive 100ms / deadtime 500ms (bench/failover_test.go)",
		[]string{implHbd.name, implHbdScript.name, implHeartbeat.name},
		[2]string{implHbd.name, implHeartbeat.name}, [2]string{implHbdScript.name, implHeartbeat.name})
	hbFast := hbFastTimers()
	hbFastCol := fmt.Sprintf("%s at %s", implHeartbeat.name, hbFast.name)
	fast := newTable(fmt.Sprintf("Failover at keepalive %s / deadtime %s (Heartbeat at %s) (bench/failover_test.go)",
		fastTimers.keepalive, fastTimers.deadtime, hbFast.name),
		[]string{"hbd at " + fastTimers.name, "hbd -script-agents at " + fastTimers.name, hbFastCol},
		[2]string{"hbd at " + fastTimers.name, hbFastCol}, [2]string{"hbd -script-agents at " + fastTimers.name, hbFastCol})
	for i := 0; i < cfg.runs; i++ {
		for _, im := range []impl{implHbd, implHbdScript, implHeartbeat} {
			progress("failover %s %s run %d/%d", stdTimers.name, im.name, i+1, cfg.runs)
			t.Run(fmt.Sprintf("%s/%s/%d", stdTimers.name, im.name, i), func(t *testing.T) {
				failoverRun(t, im, stdTimers, std, im.name, true)
			})
		}
		for _, im := range []impl{implHbd, implHbdScript} {
			col := im.name + " at " + fastTimers.name
			progress("failover %s %s run %d/%d", fastTimers.name, im.name, i+1, cfg.runs)
			t.Run(fmt.Sprintf("%s/%s/%d", fastTimers.name, im.name, i), func(t *testing.T) {
				failoverRun(t, im, fastTimers, fast, col, false)
			})
		}
		if hbFast != stdTimers {
			progress("failover %s %s run %d/%d", hbFast.name, implHeartbeat.name, i+1, cfg.runs)
			t.Run(fmt.Sprintf("%s/%s/%d", hbFast.name, implHeartbeat.name, i), func(t *testing.T) {
				failoverRun(t, implHeartbeat, hbFast, fast, hbFastCol, false)
			})
		}
	}
	if hbFast == stdTimers { // the same runs as the first table
		for _, r := range std.rows {
			if v := r.vals[implHeartbeat.name]; len(v) > 0 && r.kind == kDur && !strings.HasPrefix(r.name, "both started") {
				for _, x := range v {
					fast.add(r.name, kDur, hbFastCol, x)
				}
			}
		}
		fast.note("Heartbeat's column repeats its %s runs of the table above (same bench run)", hbFast.name)
	}
	std.note("start: both daemons started at once (Heartbeat waits a fixed 10 s when both nodes start together; hbd does not unless -heartbeat-startup)")
	std.note("memory on the node holding the VIP after start-up: Heartbeat is several processes (master, FIFO reader, a reader and a writer per medium); RSS counts shared pages in each, PSS divides them")
	std.note("hbd -script-agents forks the IPaddr2 shell agent from /etc/ha.d/resource.d (resource-agents), as Heartbeat does; hbd runs its built-in agent otherwise")
	std.note("kill -9 → answering includes deadtime, the takeover and the client's ARP update (gratuitous ARP)")
	publish(t, std.render())
	publish(t, fast.render())
}

// TestFailoverSoak: hbd at 20ms/100ms and Heartbeat at its best stable
// setting, two pairs running at once for cfg.soak while a CPU hog keeps
// both cores busy; every node-dead verdict is a false failover.
func TestFailoverSoak(t *testing.T) {
	if _, ok := netns.HeartbeatAvailable(); !ok {
		t.Fatal("real Heartbeat not installed (make bench installs it: scripts/deps.sh bench)")
	}
	hbFast := hbFastTimers()
	cols := []string{"hbd at " + fastTimers.name, implHeartbeat.name + " at " + hbFast.name}
	tb := newTable(fmt.Sprintf("False failovers: %v idle pairs with both cores busy (bench/failover_test.go TestFailoverSoak)", cfg.soak), cols)
	pairs := []struct {
		im impl
		tm timers
		s  *site
		pa *netns.Proc
	}{{im: implHbd, tm: fastTimers}, {im: implHeartbeat, tm: hbFast}}
	for i := range pairs {
		p := &pairs[i]
		p.s = newSite(t, p.tm, 45+2*i, false)
		ch := make(chan error, 1)
		go func() { _, err := p.im.start(p.s.b); ch <- err }()
		pa, err := p.im.start(p.s.a)
		if err = errors.Join(err, <-ch); err != nil {
			t.Fatal(err)
		}
		p.pa = pa
		if err := p.s.settle(p.im, true, 60*time.Second); err != nil {
			t.Fatal(err)
		}
		tb.setText("scheduling policy of alpha's daemon", kCount, cols[i], schedPolicy(pa.PID))
	}
	// Reset the logs: only what happens under load counts.
	for _, p := range pairs {
		for _, n := range []*netns.Node{p.s.a, p.s.b} {
			n.WriteFile("/var/log/ha-log", nil, 0o644)
		}
	}
	hogs := startHogs(t, runtime.NumCPU(), cfg.soak+5*time.Second)
	progress("soak: %d hog(s) for %v, hbd %s and Heartbeat %s", len(hogs), cfg.soak, fastTimers.name, hbFast.name)
	t0 := time.Now()
	for time.Since(t0) < cfg.soak {
		time.Sleep(min(time.Minute, cfg.soak-time.Since(t0)))
		var b strings.Builder
		for i, p := range pairs {
			c := soakCounts(p.s)
			fmt.Fprintf(&b, "  %s: %d dead, %d late, %d stalls", cols[i], c.dead, c.late, c.stalls)
		}
		progress("soak %v/%v:%s", time.Since(t0).Round(time.Second), cfg.soak, b.String())
	}
	idle := hogCPU(hogs)
	stopHogs(hogs)
	for i, p := range pairs {
		if p.pa.Exited() {
			t.Errorf("%s on alpha died during the soak:\n%s", p.im.name, tail(p.pa.Output(), 2000))
		}
		c := soakCounts(p.s)
		tb.add("false failovers (a node declared dead)", kCount, cols[i], float64(c.dead))
		tb.add("links declared dead", kCount, cols[i], float64(c.links))
		tb.add("late heartbeat warnings", kCount, cols[i], float64(c.late))
		if p.im.real {
			tb.setText("stalls of its own, not counted against the peer", kCount, cols[i], "- (no such rule)")
		} else {
			tb.add("stalls of its own, not counted against the peer", kCount, cols[i], float64(c.stalls))
		}
		if h := rscstatus(p.s.a, p.im); h != "all" && h != "local" {
			tb.setText("alpha holds its group at the end (rscstatus)", kCount, cols[i], "no: "+h)
		} else {
			tb.setText("alpha holds its group at the end (rscstatus)", kCount, cols[i], "yes: "+h)
		}
	}
	tb.note("hog: %d busy loops (one per core, nice 0) for the whole soak; they got %.0f %% of the machine", len(hogs), idle)
	tb.note("counted in each node's /var/log/ha-log: 'node X: is dead', 'Link X:Y dead.', 'Late heartbeat' (both daemons log Heartbeat's wording); hbd's 'hbd did not run for N ms' (a gap of more than a keepalive in its own ticks)")
	tb.note("one soak per bench run: a count, not a sample; LVSHA_BENCH_SOAK sets its length (default 10m, quick 30s)")
	publish(t, tb.render())
}

type soakCount struct{ dead, links, late, stalls int }

func soakCounts(s *site) soakCount {
	var c soakCount
	for _, n := range []*netns.Node{s.a, s.b} {
		b, _ := n.ReadFile("/var/log/ha-log")
		for _, ln := range strings.Split(string(b), "\n") {
			switch {
			case strings.Contains(ln, ": is dead"):
				c.dead++
			case strings.Contains(ln, "Late heartbeat"):
				c.late++
			case strings.Contains(ln, "hbd did not run for"):
				c.stalls++
			case strings.Contains(ln, "Link ") && strings.Contains(ln, " dead."):
				c.links++
			}
		}
	}
	return c
}

// ---------------------------------------------------------------------------
// The CPU hog: busy loops, bounded in number and time.

const hogName = "lvsha-bench-hog"

func hogMain(args []string) int {
	d, err := time.ParseDuration(strings.Join(args, ""))
	if err != nil || d <= 0 || d > 2*time.Hour {
		fmt.Fprintln(os.Stderr, "usage: lvsha-bench-hog DURATION (at most 2h)")
		return 2
	}
	end := time.Now().Add(d)
	x := 0
	for time.Now().Before(end) {
		for i := 0; i < 1_000_000; i++ {
			x += i
		}
	}
	if x == 42 {
		fmt.Println(x)
	}
	return 0
}

type hog struct {
	cmd  *exec.Cmd
	cpu0 time.Duration
	t0   time.Time
	done chan struct{}
}

// startHogs starts n busy loops on the host that end by themselves after d
// (and with the bench: parent-death signal); stopHogs kills them by PID.
func startHogs(t *testing.T, n int, d time.Duration) []*hog {
	var hs []*hog
	for range n {
		cmd := exec.Command(filepath.Join(binDir, hogName), d.String())
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			stopHogs(hs)
			t.Fatal(err)
		}
		h := &hog{cmd: cmd, t0: time.Now(), done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(h.done) }()
		hs = append(hs, h)
	}
	t.Cleanup(func() { stopHogs(hs) })
	return hs
}

// hogCPU is the share of the machine the hogs got, in percent.
func hogCPU(hs []*hog) float64 {
	var used time.Duration
	var wall time.Duration
	for _, h := range hs {
		if c, err := procCPU(h.cmd.Process.Pid); err == nil {
			used += c
		}
		wall = max(wall, time.Since(h.t0))
	}
	if wall == 0 {
		return 0
	}
	return 100 * float64(used) / float64(wall) / float64(runtime.NumCPU())
}

func stopHogs(hs []*hog) {
	for _, h := range hs {
		select {
		case <-h.done:
			continue
		default:
		}
		_ = h.cmd.Process.Kill()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
		}
	}
}
