//go:build vm

// TestSyncFailover: connections survive the death of the active director
// when ldird runs the kernel's sync daemons (syncdaemon), and break
// without them. hbd and ldird come from the host (go test ./tests/vm,
// TestSyncFailoverInVM), named in $LVSHA_HBD and $LVSHA_LDIRD.

package ipvs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// hbdEnv names the static hbd binary inside the guest.
const hbdEnv = "LVSHA_HBD"

// The failover lab, all in namespaces of the guest, on one bridge:
//
//	client "fc"  10.90.0.10/24 (NAT side), 10.90.2.10/24 (DR side)
//	director "fd1", "fd2"  eth0 10.90.{0,1,2}.{1,2}/24; eth1 10.91.0.{1,2}/24,
//	                       a direct link for heartbeats and the sync daemons
//	real "fr1", "fr2"  10.90.1.11, .12; default via 10.90.1.254 (the floating
//	                   NAT gateway), 10.90.2.0/24 on-link (DR replies go
//	                   straight to the client); the DR VIP on lo
//
// hbd moves 10.90.0.100 (NAT VIP), 10.90.2.100 (DR VIP) and 10.90.1.254
// (the reals' gateway) with IPaddr2 (gratuitous ARP on takeover); ldird
// runs on both directors all the time (not as a haresources resource: the
// backup must already have the table and its backup sync daemon when it
// takes over).
const (
	foNATVIP   = "10.90.0.100"
	foDRVIP    = "10.90.2.100"
	foPort     = 7000 // echo, round robin
	foPersPort = 7001 // echo, persistent 60 s (NAT)
	foConns    = 4    // client connections per VIP
)

const foLdirdConf = `# ldird on director @NODE@
checkinterval=1
checktimeout=2
negotiatetimeout=2
failurecount=2
quiescent=yes
autoreload=no
logfile="@DIR@/ldird.log"
maintenancedir=@DIR@/maint
@SYNC@

virtual=10.90.0.100:7000
	real=10.90.1.11:7000 masq 1
	real=10.90.1.12:7000 masq 1
	checktype=connect
	scheduler=rr

virtual=10.90.2.100:7000
	real=10.90.1.11:7000 gate 1
	real=10.90.1.12:7000 gate 1
	checktype=connect
	scheduler=rr

virtual=10.90.0.100:7001
	real=10.90.1.11:7001 masq 1
	real=10.90.1.12:7001 masq 1
	checktype=connect
	scheduler=rr
	persistent=60
`

const foHaCF = `logfile @DIR@/ha-log
keepalive 100ms
warntime 300ms
deadtime 500ms
initdead 10
udpport 694
bcast eth1
auto_failback off
node fd1 fd2
crm no
`

type foLab struct {
	t        *testing.T
	self     string
	ldird    string
	hbd      string
	dir      string
	sync     bool
	procs    map[string]*exec.Cmd // name -> process we started
	outs     map[string]*testenv.Buffer
	client   *exec.Cmd
	clientIn io.WriteCloser
	clientR  *bufio.Reader
	// clientOpened is the real of each session, in order.
	clientOpened []string
}

func TestSyncFailover(t *testing.T) {
	ldird, hbd := os.Getenv(ldirdEnv), os.Getenv(hbdEnv)
	if ldird == "" || hbd == "" {
		testenv.Skipf(t, "$%s and $%s are not set: run through go test ./tests/vm (TestSyncFailoverInVM)", ldirdEnv, hbdEnv)
	}
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	// Without sync first: the same kill must break every connection, or
	// the test below could not tell sync from luck.
	t.Run("without-syncdaemon", func(t *testing.T) { runFailover(t, ldird, hbd, false) })
	t.Run("with-syncdaemon", func(t *testing.T) { runFailover(t, ldird, hbd, true) })
}

func runFailover(t *testing.T, ldird, hbd string, withSync bool) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/tmp", "sync-fo-")
	if err != nil {
		t.Fatal(err)
	}
	l := &foLab{t: t, self: self, ldird: ldird, hbd: hbd, dir: dir, sync: withSync, procs: map[string]*exec.Cmd{}, outs: map[string]*testenv.Buffer{}}
	t.Cleanup(l.cleanup)
	l.network()
	for _, r := range []string{"fr1", "fr2"} {
		l.spawn("echo-"+r, r, []string{helperEnv + "=echo " + map[string]string{"fr1": "real1", "fr2": "real2"}[r] + " 7000 7001"}, self)
	}
	for _, n := range []string{"fd1", "fd2"} {
		l.director(n)
	}
	// fd1 takes the VIPs (first node in haresources, both started at once).
	begin := time.Now()
	l.waitFor(30*time.Second, "fd1 holding the VIPs and both VIPs answering", func() bool {
		return l.holds("fd1", foNATVIP) && l.answers(foNATVIP) && l.answers(foDRVIP)
	})
	t.Logf("VIPs answer %v after the start", time.Since(begin).Round(time.Millisecond))
	status := l.ldirdCmd("fd1", "status")
	t.Logf("ldird status on fd1:\n%s", status)
	if withSync {
		for _, want := range []string{"master eth1 syncid 1", "backup eth1 syncid 1", "started by ldird"} {
			if !strings.Contains(status, want) {
				t.Fatalf("ldird status on fd1 lacks %q", want)
			}
		}
	}

	// The client: foConns long-lived echo sessions through each VIP, one
	// exchange every 20 ms, each answer checked byte for byte.
	var addrs []string
	for i := 0; i < foConns; i++ {
		addrs = append(addrs, net.JoinHostPort(foNATVIP, strconv.Itoa(foPort)), net.JoinHostPort(foDRVIP, strconv.Itoa(foPort)))
	}
	addrs = append(addrs, net.JoinHostPort(foNATVIP, strconv.Itoa(foPersPort)))
	l.startClient(addrs)
	persReal := l.clientOpened[len(addrs)-1]

	// The backup's table: with sync every session is there (learnt from
	// fd1) before the kill; without, none.
	want := len(addrs)
	var seen time.Duration
	if withSync {
		seen = l.waitFor(20*time.Second, "fd2 learning every session from fd1", func() bool {
			return l.syncedEstablished("fd2") >= want
		})
		t.Logf("fd2's table has all %d sessions (origin sync) %v after they opened", want, seen.Round(time.Millisecond))
	} else {
		time.Sleep(3 * time.Second) // what sync needs at most (2 s flush), to show nothing arrives
		if n := l.syncedEstablished("fd2"); n != 0 {
			t.Fatalf("without syncdaemon fd2 has %d synced entries", n)
		}
	}
	conns1 := l.ldirdCmd("fd1", "status", "--connections")
	conns2 := l.ldirdCmd("fd2", "status", "--connections")
	t.Logf("ldird status --connections on fd1:\n%s\non fd2:\n%s", conns1, conns2)
	l.compareIpvsadm("fd1", conns1)
	if withSync {
		l.compareIpvsadm("fd2", conns2)
		// A template: client port 0, state ASSURED once used (NONE before;
		// Linux 6.1 names it so).
		if !strings.Contains(conns2, "ASSURED     10.90.0.10:0 ") {
			t.Errorf("fd2 has no persistence template of the persistent service")
		}
		synced := 0
		for _, line := range strings.Split(conns2, "\n") {
			if f := strings.Fields(line); len(f) == 7 && f[2] == "ESTABLISHED" && f[6] == "sync" {
				synced++
			}
		}
		if synced < want {
			t.Errorf("ldird status --connections on fd2 shows %d established sessions of origin sync, want %d", synced, want)
		}
	}

	// 2. The active director dies: kill -9 of hbd and ldird, then its
	// cables (a dead machine forwards nothing; its kernel's IPVS would).
	kill := time.Now()
	for _, p := range []string{"hbd-fd1", "ldird-fd1"} {
		l.procs[p].Process.Kill()
		l.procs[p].Wait()
	}
	run(t, "bash", "-c", "ip -n fd1 link set eth0 down; ip -n fd1 link set eth1 down")
	took := l.waitFor(15*time.Second, "fd2 holding the VIPs", func() bool { return l.holds("fd2", foNATVIP) && l.holds("fd2", foDRVIP) })
	t.Logf("fd2 holds the VIPs %v after the kill", took.Round(time.Millisecond))
	time.Sleep(4 * time.Second) // sessions run on through fd2 (or fail)

	// 3. What a quiesced real means on the backup: the persistent
	// session's real put in maintenance on fd2 (weight 0); a new
	// connection of the same client still goes there, as the synced
	// template says, until the template expires; with
	// expire_quiescent_template=1 the template is dropped instead.
	var persNew, persNewExpire string
	if withSync {
		persAddr := map[string]string{"real1": "10.90.1.11:7001", "real2": "10.90.1.12:7001"}[persReal]
		if err := os.WriteFile(filepath.Join(dir, "fd2", "maint", persAddr), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		l.waitFor(10*time.Second, "the persistent session's real at weight 0 on fd2", func() bool {
			for _, line := range strings.Split(l.on("fd2", "ipvsadm", "-Ln"), "\n") {
				if f := strings.Fields(line); len(f) >= 4 && f[0] == "->" && f[1] == persAddr && f[3] == "0" {
					return true
				}
			}
			return false
		})
		persNew = l.clientNew(net.JoinHostPort(foNATVIP, strconv.Itoa(foPersPort)))
		l.on("fd2", "sysctl", "-qw", "net.ipv4.vs.expire_quiescent_template=1")
		persNewExpire = l.clientNew(net.JoinHostPort(foNATVIP, strconv.Itoa(foPersPort)))
		t.Logf("persistent service, %s quiesced on fd2: a new connection goes to %s; with expire_quiescent_template=1 to %s",
			persReal, persNew, persNewExpire)
	}

	results := l.stopClient()
	kept, broken := 0, 0
	var maxGap time.Duration
	for _, r := range results {
		t.Logf("session %s", r.line)
		if r.err == "" && r.lastOK.After(kill.Add(took)) {
			kept++
			maxGap = max(maxGap, r.maxGap)
		} else {
			broken++
		}
	}
	t.Logf("RESULT %s: %d of %d sessions kept across the kill; longest pause %v (takeover %v after the kill)",
		map[bool]string{true: "with syncdaemon", false: "without syncdaemon"}[withSync], kept, len(results), maxGap.Round(time.Millisecond), took.Round(time.Millisecond))
	if withSync {
		if kept != len(results) {
			t.Errorf("with syncdaemon %d of %d sessions broke", broken, len(results))
		}
		if persNew != persReal {
			t.Errorf("quiesced real with a synced template: new connection went to %s, want %s (the template's)", persNew, persReal)
		}
		if persNewExpire == persReal {
			t.Errorf("expire_quiescent_template=1: new connection still went to the quiesced %s", persReal)
		}
	} else if kept != 0 {
		t.Errorf("without syncdaemon %d sessions survived: the test cannot tell sync from luck", kept)
	}
	if withSync {
		// ldird's stop leaves no daemon of its own on fd2.
		l.ldirdCmd("fd2", "stop")
		if out := l.on("fd2", "ipvsadm", "-L", "--daemon"); strings.TrimSpace(out) != "" {
			t.Errorf("sync daemons left after ldird stop on fd2:\n%s", out)
		}
	}
}

func (l *foLab) network() {
	l.t.Helper()
	setup := `set -e
ip netns add fsw
ip -n fsw link add br0 type bridge
ip -n fsw link set br0 up
port=0
join() { # NS ADDR...
  port=$((port+1))
  ip link add fp$port type veth peer name eth0 netns $1
  ip link set fp$port netns fsw
  ip -n fsw link set fp$port master br0 up
  ns=$1; shift
  for a in "$@"; do ip -n $ns addr add $a brd + dev eth0; done
  ip -n $ns link set eth0 up
  ip -n $ns link set lo up
}
for n in fc fd1 fd2 fr1 fr2; do ip netns add $n; done
join fc 10.90.0.10/24 10.90.2.10/24
join fd1 10.90.0.1/24 10.90.1.1/24 10.90.2.1/24
join fd2 10.90.0.2/24 10.90.1.2/24 10.90.2.2/24
join fr1 10.90.1.11/24
join fr2 10.90.1.12/24
ip link add eth1 netns fd1 type veth peer name eth1 netns fd2
ip -n fd1 addr add 10.91.0.1/24 brd + dev eth1
ip -n fd2 addr add 10.91.0.2/24 brd + dev eth1
ip -n fd1 link set eth1 up
ip -n fd2 link set eth1 up
for d in fd1 fd2; do
  ip netns exec $d sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
done
for r in fr1 fr2; do
  ip -n $r route add default via 10.90.1.254
  ip -n $r route add 10.90.2.0/24 dev eth0
  ip -n $r addr add 10.90.2.100/32 dev lo
  ip netns exec $r sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.all.accept_redirects=0
done
`
	run(l.t, "bash", "-c", setup)
}

func (l *foLab) cleanup() {
	if l.client != nil {
		l.client.Process.Kill()
		l.client.Wait()
	}
	for _, p := range l.procs {
		if p.ProcessState == nil {
			p.Process.Kill()
			p.Wait()
		}
	}
	// ldird started by `ldird stop` test steps or left by a failure: its pid files.
	for _, n := range []string{"fd1", "fd2"} {
		if b, err := os.ReadFile(filepath.Join(l.dir, n, "run", "ldirectord.ldirectord.cf.pid")); err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && alivePid(pid) {
				if p, err := os.FindProcess(pid); err == nil {
					p.Kill()
				}
			}
		}
		// Sync daemons of a failed run (the namespace goes, and the kernel's
		// threads with it, but stop them by name first).
		exec.Command("ip", "netns", "exec", n, "ipvsadm", "--stop-daemon", "master").Run()
		exec.Command("ip", "netns", "exec", n, "ipvsadm", "--stop-daemon", "backup").Run()
	}
	if l.t.Failed() {
		for _, n := range []string{"fd1", "fd2"} {
			for _, f := range []string{"ldird.log", "ha-log"} {
				if b, err := os.ReadFile(filepath.Join(l.dir, n, f)); err == nil {
					l.t.Logf("%s %s:\n%s", n, f, tail(string(b), 3000))
				}
			}
		}
		for k, o := range l.outs {
			l.t.Logf("%s output:\n%s", k, tail(o.String(), 2000))
		}
	}
	exec.Command("bash", "-c", "for n in fc fd1 fd2 fr1 fr2 fsw; do ip netns del $n; done 2>/dev/null").Run()
	os.RemoveAll(l.dir)
}

// spawn starts a long-running process in namespace ns (ip netns exec
// execs it, so the PID is the program's own).
func (l *foLab) spawn(name, ns string, env []string, argv ...string) *exec.Cmd {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("%s: %v", name, err)
	}
	l.procs[name], l.outs[name] = cmd, out
	return cmd
}

// director writes fd's files and starts its hbd and its ldird.
func (l *foLab) director(n string) {
	l.t.Helper()
	d := filepath.Join(l.dir, n)
	for _, sub := range []string{"ha.d", "state", "run", "maint"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			l.t.Fatal(err)
		}
	}
	syncLine := "# no syncdaemon"
	if l.sync {
		syncLine = "syncdaemon = eth1 syncid=1"
	}
	r := strings.NewReplacer("@DIR@", d, "@NODE@", n, "@SYNC@", syncLine)
	files := map[string]string{
		"ha.d/ha.cf":       r.Replace(foHaCF),
		"ha.d/authkeys":    "auth 1\n1 sha1 failover-test\n",
		"ha.d/haresources": "fd1 IPaddr2::10.90.0.100/24/eth0 IPaddr2::10.90.2.100/24/eth0 IPaddr2::10.90.1.254/24/eth0\n",
		"ha.d/nodeinfo":    n + "\n",
		"ldirectord.cf":    r.Replace(foLdirdConf),
	}
	for f, c := range files {
		if err := os.WriteFile(filepath.Join(d, f), []byte(c), 0o600); err != nil {
			l.t.Fatal(err)
		}
	}
	l.spawn("hbd-"+n, n, nil, l.hbd, "-f", "-c", filepath.Join(d, "ha.d"), "-state-dir", filepath.Join(d, "state"),
		"-pidfile", filepath.Join(d, "hbd.pid"), "-socket", filepath.Join(d, "hbd.sock"), "-on-stop-failure", "ignore")
	l.spawn("ldird-"+n, n, []string{"LDIRD_RUNDIR=" + filepath.Join(d, "run")}, l.ldird, "-f", filepath.Join(d, "ldirectord.cf"), "start")
}

// waitFor polls cond every 50 ms and returns how long it took.
func (l *foLab) waitFor(limit time.Duration, what string, cond func() bool) time.Duration {
	l.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			l.t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// on runs a command in a namespace and returns its output.
func (l *foLab) on(ns string, argv ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput()
	return string(out)
}

func (l *foLab) ldirdCmd(n string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
	defer cancel()
	d := filepath.Join(l.dir, n)
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n, l.ldird, filepath.Join(d, "ldirectord.cf")}, args...)...)
	cmd.Env = append(os.Environ(), "LDIRD_RUNDIR="+filepath.Join(d, "run"))
	var o bytes.Buffer
	cmd.Stdout = &o
	cmd.Run()
	return o.String()
}

func (l *foLab) holds(n, addr string) bool {
	return strings.Contains(l.on(n, "ip", "-4", "-o", "addr", "show", "dev", "eth0"), " "+addr+"/")
}

// answers: an echo server answers its name through addr:foPort.
func (l *foLab) answers(vip string) bool {
	cmd := exec.Command("ip", "netns", "exec", "fc", l.self)
	cmd.Env = append(os.Environ(), helperEnv+"=hello "+net.JoinHostPort(vip, strconv.Itoa(foPort)))
	b, err := cmd.Output()
	return err == nil && strings.HasPrefix(string(b), "real")
}

// syncedEstablished counts the entries of n's table learnt from the other
// director that carry an established session.
func (l *foLab) syncedEstablished(n string) int {
	out := l.on(n, "cat", "/proc/net/ip_vs_conn_sync")
	c := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 10 && f[7] == "ESTABLISHED" && f[8] == "SYNC" {
			c++
		}
	}
	return c
}

// compareIpvsadm: `ldird status --connections` lists the established
// connections and persistence templates `ipvsadm -Lnc` lists (the expiry
// aside, which ticks between the two reads; closing entries come and go).
func (l *foLab) compareIpvsadm(n, ours string) {
	l.t.Helper()
	key := func(text string) []string {
		var out []string
		for _, line := range strings.Split(text, "\n") {
			f := strings.Fields(line)
			if len(f) < 6 || f[0] == "pro" || (f[2] != "ESTABLISHED" && !strings.HasSuffix(f[3], ":0")) {
				continue
			}
			out = append(out, strings.Join([]string{f[0], f[2], f[3], f[4], f[5]}, " "))
		}
		sort.Strings(out)
		return out
	}
	theirs := l.on(n, "ipvsadm", "-Lnc")
	a, b := key(ours), key(theirs)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		l.t.Errorf("%s: ldird status --connections\n%s\nipvsadm -Lnc\n%s", n, ours, theirs)
	}
}

// result is one client session at the end.
type result struct {
	line   string
	err    string
	lastOK time.Time
	maxGap time.Duration
}

// startClient opens a session per address and waits until each answered.
func (l *foLab) startClient(addrs []string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", "fc", l.self)
	cmd.Env = append(os.Environ(), helperEnv+"=session "+strings.Join(addrs, " "))
	in, err := cmd.StdinPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.client, l.clientIn, l.clientR = cmd, in, bufio.NewReader(out)
	l.clientOpened = nil
	for range addrs {
		line := l.clientLine()
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "open" {
			l.t.Fatalf("client: %q", line)
		}
		l.clientOpened = append(l.clientOpened, f[2])
	}
	l.t.Logf("client sessions opened to %v", l.clientOpened)
}

func (l *foLab) clientLine() string {
	l.t.Helper()
	type r struct {
		s   string
		err error
	}
	ch := make(chan r, 1)
	go func() { s, err := l.clientR.ReadString('\n'); ch <- r{s, err} }()
	select {
	case x := <-ch:
		if x.err != nil {
			l.t.Fatalf("client: %v", x.err)
		}
		return strings.TrimSpace(x.s)
	case <-time.After(30 * time.Second):
		l.t.Fatal("client: no line in 30 s")
	}
	return ""
}

// clientNew asks the client for one new connection to addr and returns
// the real that answered.
func (l *foLab) clientNew(addr string) string {
	l.t.Helper()
	fmt.Fprintf(l.clientIn, "new %s\n", addr)
	f := strings.Fields(l.clientLine())
	if len(f) != 2 || f[0] != "new" {
		l.t.Fatalf("client new: %v", f)
	}
	return f[1]
}

func (l *foLab) stopClient() []result {
	l.t.Helper()
	fmt.Fprintln(l.clientIn, "stop")
	var out []result
	for {
		line := l.clientLine()
		if line == "done" {
			break
		}
		// result I ADDR REAL exchanges=N maxgap_ms=X lastok_ms=T err=...
		r := result{line: line}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "maxgap_ms":
				n, _ := strconv.ParseInt(v, 10, 64)
				r.maxGap = time.Duration(n) * time.Millisecond
			case "lastok_ms":
				n, _ := strconv.ParseInt(v, 10, 64)
				r.lastOK = time.UnixMilli(n)
			}
		}
		if _, e, ok := strings.Cut(line, " err="); ok && e != "none" {
			r.err = e
		}
		out = append(out, r)
	}
	l.client.Wait()
	l.client = nil
	return out
}

// echoHelper is "echo NAME PORT...": on each port, every connection gets
// NAME and a newline, then each line it sends back as "NAME line".
func echoHelper(args []string) int {
	name := args[0]
	for _, p := range args[1:] {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			return 1
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					fmt.Fprintf(c, "%s\n", name)
					r := bufio.NewReader(c)
					for {
						line, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if _, err := fmt.Fprintf(c, "%s %s", name, line); err != nil {
							return
						}
					}
				}()
			}
		}()
	}
	select {}
}

// helloHelper is "hello ADDR": connect, print the first line, close.
func helloHelper(addr string) int {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 1
	}
	fmt.Print(line)
	return 0
}

// sessionHelper is "session ADDR...": a long-lived echo session per
// address, one exchange every 20 ms, each answer checked to be exactly
// the line sent (so a lost, repeated or reordered byte shows), until the
// line "stop" on stdin. It prints "open I REAL" per session once its
// greeting came, answers "new ADDR" with "new REAL" (a fresh connection's
// greeting), and at the end "result I ADDR REAL exchanges=N maxgap_ms=G
// lastok_ms=T err=E" per session and "done".
func sessionHelper(addrs []string) int {
	type sess struct {
		addr, real string
		c          net.Conn
		r          *bufio.Reader
		n          int
		maxGap     time.Duration
		last       time.Time
		err        string
	}
	ss := make([]*sess, len(addrs))
	for i, a := range addrs {
		c, err := net.DialTimeout("tcp", a, 5*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, "session:", err)
			return 1
		}
		r := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		name, err := r.ReadString('\n')
		if err != nil {
			fmt.Fprintln(os.Stderr, "session greeting:", err)
			return 1
		}
		ss[i] = &sess{addr: a, real: strings.TrimSpace(name), c: c, r: r, last: time.Now()}
		fmt.Printf("open %d %s\n", i, ss[i].real)
	}
	var stop sync.WaitGroup
	done := make(chan struct{})
	for _, s := range ss {
		stop.Add(1)
		go func() {
			defer stop.Done()
			for {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
				s.n++
				s.c.SetDeadline(time.Now().Add(15 * time.Second))
				msg := fmt.Sprintf("%d %s\n", s.n, strings.Repeat("x", 64))
				if _, err := io.WriteString(s.c, msg); err != nil {
					s.err = "write: " + err.Error()
					return
				}
				got, err := s.r.ReadString('\n')
				if err != nil {
					s.err = "read: " + err.Error()
					return
				}
				if got != s.real+" "+msg {
					s.err = fmt.Sprintf("answer %q to %q", got, msg)
					return
				}
				now := time.Now()
				s.maxGap = max(s.maxGap, now.Sub(s.last))
				s.last = now
			}
		}()
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 2 && f[0] == "new" {
			real := "ERR"
			if c, err := net.DialTimeout("tcp", f[1], 5*time.Second); err == nil {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					real = strings.TrimSpace(line)
				}
				c.Close()
			}
			fmt.Printf("new %s\n", real)
			continue
		}
		if len(f) == 1 && f[0] == "stop" {
			break
		}
	}
	close(done)
	stop.Wait()
	for i, s := range ss {
		e := s.err
		if e == "" {
			e = "none"
		}
		fmt.Printf("result %d %s %s exchanges=%d maxgap_ms=%d lastok_ms=%d err=%s\n", i, s.addr, s.real, s.n, s.maxGap.Milliseconds(), s.last.UnixMilli(), e)
		s.c.Close()
	}
	fmt.Println("done")
	return 0
}
