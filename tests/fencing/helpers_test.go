// Package fencing holds the STONITH integration tests: two directors and a
// client in network namespaces (tests/netns), hbd (and the real Heartbeat
// 3.0.6) driving cluster-glue's stonith plugins. The plugin is a test
// plugin in the external/ style, installed for the test only, that really
// fences a lab node: it takes the node's links down and kills every process
// of its namespaces (a power-off), and records each call with a timestamp.
// The tests need root; every one is bounded in time.
package fencing

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
)

var hbdBin, clStatusBin string

// TestMain builds hbd (and its cl_status name) once.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lvsha-fencing-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hbdBin, clStatusBin = filepath.Join(dir, "hbd"), filepath.Join(dir, "cl_status")
	if out, err := exec.Command("go", "build", "-o", hbdBin, "lvsha/hbd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build hbd: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	if err := os.Symlink("hbd", clStatusBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	vip        = "10.62.0.100"
	pluginDir  = "/usr/lib/stonith/plugins/external"
	stonithCmd = "/usr/sbin/stonith"
)

// pluginScript is the test STONITH plugin, in cluster-glue's external/
// interface: the action is $1 (reset takes the node as $2), the
// parameters come as environment variables named by getconfignames.
// registry is a directory the test writes: nodes ("NAME HOLDER-PID" lines:
// how to find a lab node's namespaces), vip, and optionally fail (a count
// of resets to fail, or "always"); the plugin appends to its log.
const pluginScript = `#!/bin/sh
# lvsha test STONITH plugin: "powers off" a tests/netns node.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
reg=$registry
record() { echo "$(date +%s.%N) $*" >> "$reg/log"; }
case $1 in
gethosts) for h in $hostlist; do echo "$h"; done; exit 0;;
getconfignames) echo registry; echo hostlist; exit 0;;
status) [ -d "$reg" ]; exit $?;;
getinfo-devid) echo "lvsha test fence"; exit 0;;
getinfo-devname) echo "lvsha test fence device"; exit 0;;
getinfo-devdescr) echo "Powers off a tests/netns node: its links down, every process of its namespaces killed."; exit 0;;
getinfo-devurl) echo "none"; exit 0;;
getinfo-xml) echo '<parameters><parameter name="registry" required="1"><content type="string"/></parameter><parameter name="hostlist" required="1"><content type="string"/></parameter></parameters>'; exit 0;;
reset) ;;
*) exit 1;;
esac
me=$(uname -n); target=$(echo "$2" | tr A-Z a-z)
fvip=no; ip -o -4 addr show | grep -q " $(cat "$reg/vip")/" && fvip=yes
if [ -f "$reg/fail" ]; then
	n=$(cat "$reg/fail")
	if [ "$n" = always ] || [ "$n" -gt 0 ] 2>/dev/null; then
		[ "$n" = always ] || echo $((n - 1)) > "$reg/fail"
		record "reset $target by $me failed fencer_vip=$fvip"
		echo "lvsha test plugin: failing as the test asks" >&2
		exit 1
	fi
fi
h=$(awk -v n="$target" 'tolower($1) == n { print $2 }' "$reg/nodes")
if [ -z "$h" ]; then record "reset $target by $me unknown"; echo "unknown node $target" >&2; exit 1; fi
ns=$(readlink /proc/$h/ns/net)
for dev in $(nsenter -t "$h" -n ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
	[ "$dev" = lo ] || nsenter -t "$h" -n ip link set dev "$dev" down
done
i=0
while :; do
	left=
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" = "$h" ] && continue
		if [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$ns" ]; then kill -9 "$pid" 2>/dev/null; left="$left $pid"; fi
	done
	[ -z "$left" ] && break
	i=$((i + 1))
	if [ $i -gt 200 ]; then record "reset $target by $me failed survivors$left"; exit 1; fi
	sleep 0.05
done
record "reset $target by $me OK fencer_vip=$fvip"
exit 0
`

// plugin is the installed test plugin and its registry.
type plugin struct {
	t        *testing.T
	Type     string // external/NAME
	registry string
}

// installPlugin installs the test plugin under a name unique to this test
// process (stale ones of dead test processes are removed first) and
// removes it at cleanup.
func installPlugin(t *testing.T, nodes ...*netns.Node) *plugin {
	t.Helper()
	testenv.RequireProgram(t, stonithCmd, "cluster-glue")
	testenv.RequireFile(t, pluginDir, "cluster-glue")
	old, _ := filepath.Glob(filepath.Join(pluginDir, "lvsha-fence-*"))
	for _, p := range old {
		if pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(p), "lvsha-fence-")); err == nil && syscall.Kill(pid, 0) != nil {
			os.Remove(p)
		}
	}
	name := fmt.Sprintf("lvsha-fence-%d", os.Getpid())
	path := filepath.Join(pluginDir, name)
	if err := os.WriteFile(path, []byte(pluginScript), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	reg := t.TempDir()
	if err := os.Chmod(reg, 0o755); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, n := range nodes {
		lines = append(lines, fmt.Sprintf("%s %d", n.Name, n.PID()))
	}
	write(t, filepath.Join(reg, "nodes"), strings.Join(lines, "\n")+"\n")
	write(t, filepath.Join(reg, "vip"), vip+"\n")
	write(t, filepath.Join(reg, "log"), "")
	return &plugin{t: t, Type: "external/" + name, registry: reg}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// line is the ha.cf line that configures the plugin on every node.
func (p *plugin) line(hosts string) string {
	return fmt.Sprintf("stonith_host * %s %s %s\n", p.Type, p.registry, hosts)
}

// fail makes the next n resets fail (n < 0: all of them, until ok).
func (p *plugin) fail(n int) {
	v := strconv.Itoa(n)
	if n < 0 {
		v = "always"
	}
	write(p.t, filepath.Join(p.registry, "fail"), v+"\n")
}

func (p *plugin) ok() { os.Remove(filepath.Join(p.registry, "fail")) }

// call is one reset the plugin recorded.
type call struct {
	At      time.Time
	Target  string
	By      string
	Result  string // OK | failed | unknown
	FVIP    bool   // the fencer had the VIP when the plugin ran
	RawLine string
}

func (p *plugin) calls() []call {
	f, err := os.Open(filepath.Join(p.registry, "log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []call
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "<epoch.ns> reset <target> by <fencer> <result> [fencer_vip=yes|no]"
		w := strings.Fields(sc.Text())
		if len(w) < 6 || w[1] != "reset" {
			continue
		}
		sec, err := strconv.ParseFloat(w[0], 64)
		if err != nil {
			continue
		}
		c := call{At: time.Unix(0, int64(sec*1e9)), Target: w[2], By: w[4], Result: w[5], RawLine: sc.Text()}
		c.FVIP = strings.Contains(sc.Text(), "fencer_vip=yes")
		out = append(out, c)
	}
	return out
}

// topology: alpha and beta heartbeat over eth1 and eth2 and share the LAN
// eth0 (a bridge) with a client.
type lan struct {
	alpha, beta, client *netns.Node
}

func newLAN(t *testing.T) *lan {
	netns.Require(t)
	l := &lan{alpha: netns.NewNode(t, "alpha"), beta: netns.NewNode(t, "beta"), client: netns.NewNode(t, "client")}
	sw := netns.NewSwitch(t, "lan")
	netns.JoinLAN(t, sw, l.alpha, "eth0", "10.62.0.1/24")
	netns.JoinLAN(t, sw, l.beta, "eth0", "10.62.0.2/24")
	netns.JoinLAN(t, sw, l.client, "eth0", "10.62.0.10/24")
	netns.Connect(t, l.alpha, l.beta, "eth1", "10.61.1")
	netns.Connect(t, l.alpha, l.beta, "eth2", "10.61.2")
	return l
}

func (l *lan) peer(n *netns.Node) *netns.Node {
	if n == l.alpha {
		return l.beta
	}
	return l.alpha
}

// haCF: fast timers a real Heartbeat accepts too, two bcast links.
func haCF(failback, stonith string) string {
	return `# fencing tests
logfile /var/log/ha-log
debugfile /var/log/ha-debug
use_logd no
keepalive 200ms
deadtime 1
warntime 500ms
initdead 3
udpport 694
bcast eth1 eth2
auto_failback ` + failback + `
node alpha beta
` + stonith
}

// webScript serves the node's name on port 80 (Heartbeat's resource.d
// conventions for status).
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

// configure writes both directors' files: alpha's group is the VIP and
// the web server.
func (l *lan) configure(t *testing.T, failback, stonith string) {
	for _, n := range []*netns.Node{l.alpha, l.beta} {
		n.WriteFile("/etc/ha.d/ha.cf", []byte(haCF(failback, stonith)), 0o644)
		n.WriteFile("/etc/ha.d/authkeys", []byte("auth 1\n1 sha1 fencing-test-key\n"), 0o600)
		n.WriteFile("/etc/ha.d/haresources", []byte("alpha IPaddr2::"+vip+"/24/eth0 webserver\n"), 0o644)
		n.WriteFile("/etc/ha.d/resource.d/webserver", []byte(webScript), 0o755)
	}
}

// startHbd runs hbd in the foreground with test-safe options and waits for
// its control socket.
func startHbd(t *testing.T, n *netns.Node, args ...string) *netns.Proc {
	t.Helper()
	p, err := n.Start(hbdBin, append([]string{"-f", "-on-stop-failure", "ignore"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	sock, _ := n.HostPath("/run/heartbeat/hbd.sock")
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

// startBoth starts hbd on both directors at once (so neither resets the
// other at start: each hears the other within initdead).
func (l *lan) startBoth(t *testing.T, args ...string) (a, b *netns.Proc) {
	t.Helper()
	ch := make(chan *netns.Proc, 1)
	go func() { ch <- startHbd(t, l.beta, args...) }()
	a = startHbd(t, l.alpha, args...)
	return a, <-ch
}

// answers reports whether n answers for the VIP: the address on eth0 and
// eth0 up (a fenced node's links are down).
func answers(n *netns.Node) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _, _, _ := n.Run(ctx, "ip", "-o", "-4", "addr", "show", "dev", "eth0", "up")
	return strings.Contains(out, " "+vip+"/24")
}

// get asks the VIP from the client: the serving node's name.
func (l *lan) get() string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out, _, code, err := l.client.Run(ctx, "curl", "-s", "--max-time", "0.5", "http://"+vip+"/")
	if err != nil || code != 0 {
		return fmt.Sprintf("(no answer: exit %d %v)", code, err)
	}
	return strings.TrimSpace(out)
}

func (l *lan) waitServer(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	netns.Eventually(t, timeout, 50*time.Millisecond, func() (bool, string) {
		got := l.get()
		return got == want, fmt.Sprintf("client got %q from the VIP, want %q", got, want)
	})
}

// cl runs our cl_status in n.
func cl(t *testing.T, n *netns.Node, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	out, errOut, code, err := n.Run(ctx, clStatusBin, args...)
	if err != nil || code != 0 {
		return fmt.Sprintf("(cl_status %v: exit %d %v %s)", args, code, err, errOut)
	}
	return out
}

// fenceField reads one "name value" line of cl_status fencestatus.
func fenceField(t *testing.T, n *netns.Node, name string) string {
	for _, l := range strings.Split(cl(t, n, "fencestatus"), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok && k == name {
			return v
		}
	}
	return ""
}

// vipMonitor records when addresses appear on eth0 of n (ip -ts monitor).
type vipMonitor struct {
	p *netns.Proc
}

func monitorVIP(t *testing.T, n *netns.Node) *vipMonitor {
	t.Helper()
	p, err := n.Start("ip", "-ts", "monitor", "address", "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	// It is listening once it reports a probe address; one added before
	// it subscribed goes unseen, so the probe is added again until seen.
	const probe = "192.0.2.77/32"
	netns.Eventually(t, 10*time.Second, 100*time.Millisecond, func() (bool, string) {
		if strings.Contains(p.Output(), "192.0.2.77") {
			return true, ""
		}
		n.Run(context.Background(), "ip", "addr", "del", probe, "dev", "eth0")
		n.Run(context.Background(), "ip", "addr", "add", probe, "dev", "eth0")
		return false, "ip monitor on " + n.Name + " reports the probe address"
	})
	n.MustRun("ip", "addr", "del", probe, "dev", "eth0")
	return &vipMonitor{p: p}
}

// added returns when the VIP was first added, if it was.
func (m *vipMonitor) added() (time.Time, bool) {
	for _, l := range strings.Split(m.p.Output(), "\n") {
		if !strings.HasPrefix(l, "[") || strings.Contains(l, "Deleted") || !strings.Contains(l, " "+vip+"/") {
			continue
		}
		// Events ip prints nothing for leave their timestamps on the line
		// of the next: the event's own is the last one.
		var ts string
		for strings.HasPrefix(l, "[") {
			t, rest, ok := strings.Cut(l[1:], "]")
			if !ok {
				break
			}
			ts, l = t, strings.TrimLeft(rest, " ")
		}
		at, err := time.ParseInLocation("2006-01-02T15:04:05.000000", ts, time.Local)
		if err == nil {
			return at, true
		}
	}
	return time.Time{}, false
}

// poweredOff checks that the plugin really fenced n: its links are down
// and no process is left in its namespaces.
func poweredOff(t *testing.T, n *netns.Node) {
	t.Helper()
	if pids := n.Pids(); len(pids) > 0 {
		t.Errorf("%s: processes %v survived the fence", n.Name, pids)
	}
	out := n.MustRun("ip", "-o", "link", "show", "up")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" && !strings.Contains(l, ": lo:") {
			t.Errorf("%s: a link is still up after the fence: %s", n.Name, l)
		}
	}
}

func logOf(n *netns.Node) string {
	b, _ := n.ReadFile("/var/log/ha-log")
	return string(b)
}

func waitLog(t *testing.T, n *netns.Node, text string, timeout time.Duration) {
	t.Helper()
	netns.Eventually(t, timeout, 100*time.Millisecond, func() (bool, string) {
		return strings.Contains(logOf(n), text), fmt.Sprintf("%s: log line %q", n.Name, text)
	})
}
