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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
)

// TestMain builds hbd once for every test (see hbdlab.Main).
func TestMain(m *testing.M) { hbdlab.Main(m) }

const (
	lanNet     = "10.62.0" // eth0: the directors .1 and .2, the client .10
	vip        = lanNet + ".100"
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

// lan: alpha and beta heartbeat over eth1 and eth2 and share the LAN eth0
// (a bridge) with a client.
type lan struct{ *hbdlab.LAN }

func newLAN(t *testing.T) *lan {
	return &lan{hbdlab.NewLAN(t, hbdlab.Net{LAN: lanNet, HB: "10.61"})}
}

// haCF: fast timers a real Heartbeat accepts too, two bcast links.
func haCF(failback, stonith string) string {
	return hbdlab.HACF{
		Comment:   "fencing tests",
		Keepalive: 200 * time.Millisecond,
		Initdead:  3,
		Failback:  failback,
		Nodes:     "alpha beta",
		Extra:     stonith,
	}.String()
}

// configure writes both directors' files: alpha's group is the VIP and
// the web server.
func (l *lan) configure(t *testing.T, failback, stonith string) {
	l.Configure(haCF(failback, stonith), hbdlab.Authkeys("sha1", "fencing-test-key"), "alpha IPaddr2::"+vip+"/24/eth0 webserver\n")
}

// startBoth starts hbd on both directors at once (so neither resets the
// other at start: each hears the other within initdead).
func (l *lan) startBoth(t *testing.T, args ...string) (a, b *netns.Proc) {
	t.Helper()
	ch := make(chan *netns.Proc, 1)
	go func() { ch <- hbdlab.StartDirector(t, l.Beta, args...) }()
	a = hbdlab.StartDirector(t, l.Alpha, args...)
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

// cl runs our cl_status in n.
func cl(t *testing.T, n *netns.Node, args ...string) string {
	t.Helper()
	// Raw: the tests match whole lines, the last one's newline included.
	out, errOut, code, err := hbdlab.Ours.Raw(n, args...)
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
