// Package importer tests lvsha-import's output with the real daemons, in
// network namespaces:
//
//   - TestDaemonsAcceptImports: every corpus file (ours, Piranha's, and
//     keepalived's samples) is imported with the lvsha-import binary, and
//     `hbd -t` (as each node named in ha.cf, with the media's interfaces
//     present) and `ldird -t` accept the result.
//   - TestVRRPSide: for each corpus pair with vrrp instances, a real
//     keepalived 2.2.7 pair (VRRP only) and an hbd pair running the
//     imported ha.cf, authkeys and haresources are put through the same
//     story: both start, the node holding the first address dies (every
//     process killed, its addresses gone, as a machine that loses power),
//     it comes back. After each step every address must be held by exactly
//     one node, and by the same node under hbd as under keepalived.
//
// Both need root and namespaces (they skip otherwise) and keepalived
// (scripts/deps.sh test installs it). Heavy: run under the shared lock.
package importer

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lvsha/importer/corpus"
	"lvsha/tests/netns"

	"lvsha/internal/testenv"
)

var bins struct {
	once                    sync.Once
	err                     error
	dir, hbd, ldird, impBin string
}

// build compiles hbd, ldird and lvsha-import once for the package.
func build(t *testing.T) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "lvsha-import-bin")
		if bins.err != nil {
			return
		}
		for _, b := range []struct{ out, pkg string }{
			{"hbd", "lvsha/hbd"}, {"ldird", "lvsha/ldird"}, {"lvsha-import", "lvsha/importer/cmd/lvsha-import"},
		} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(bins.dir, b.out), b.pkg).CombinedOutput()
			if err != nil {
				bins.err = fmt.Errorf("build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
		bins.hbd, bins.ldird, bins.impBin = filepath.Join(bins.dir, "hbd"), filepath.Join(bins.dir, "ldird"), filepath.Join(bins.dir, "lvsha-import")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// imported runs the lvsha-import binary on c into a new directory.
func imported(t *testing.T, c corpus.Case, extra ...string) string {
	t.Helper()
	out := t.TempDir()
	args := append(append([]string{c.Kind}, c.Args...), extra...)
	args = append(args, "-o", out, "--keep-going", "--install-dir", "/etc/ha.d", c.Input)
	b, err := exec.Command(bins.impBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("lvsha-import %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return out
}

// haNodes returns the node names and media interfaces of an ha.cf.
func haNodes(t *testing.T, path string) (nodes, ifaces []string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) < 2 {
			continue
		}
		switch w[0] {
		case "node":
			nodes = append(nodes, w[1:]...)
		case "bcast", "mcast", "mcast6", "ucast", "ucast6":
			if !seen[w[1]] {
				seen[w[1]] = true
				ifaces = append(ifaces, w[1])
			}
		}
	}
	return nodes, ifaces
}

// install copies an import's output into a node's /etc/ha.d (resource.d
// scripts included), replacing what an earlier case left.
func install(t *testing.T, n *netns.Node, dir string) {
	t.Helper()
	for _, f := range []string{"ha.cf", "authkeys", "haresources", "ldirectord.cf"} {
		hp, _ := n.HostPath("/etc/ha.d/" + f)
		os.Remove(hp)
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n.WriteFile("/etc/ha.d/"+rel, b, fi.Mode().Perm())
		return nil
	})
}

func TestDaemonsAcceptImports(t *testing.T) {
	netns.Require(t)
	build(t)
	samples := ""
	if corpus.HasSamples() {
		samples = corpus.DebianSamples
	} else {
		t.Log("keepalived's samples are not installed: only our own corpus is imported")
	}
	cases, err := corpus.List("../../importer/testdata", samples)
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*netns.Node{}
	ifaces := map[string]map[string]bool{}
	checked := 0
	for _, c := range cases {
		out := imported(t, c)
		if _, err := os.Stat(filepath.Join(out, "ldirectord.cf")); err == nil {
			b, err := exec.Command(bins.ldird, "-t", filepath.Join(out, "ldirectord.cf")).CombinedOutput()
			if err != nil {
				t.Errorf("%s: ldird -t: %v\n%s", c.Name, err, b)
			}
			checked++
		}
		if _, err := os.Stat(filepath.Join(out, "ha.cf")); err != nil {
			continue
		}
		names, links := haNodes(t, filepath.Join(out, "ha.cf"))
		for _, name := range names {
			n := nodes[name]
			if n == nil {
				n = netns.NewNode(t, name)
				nodes[name], ifaces[name] = n, map[string]bool{}
			}
			for _, l := range links {
				if !ifaces[name][l] {
					// This kernel has no dummy links: a veth pair's end will do.
					n.MustRun("ip", "link", "add", l, "type", "veth", "peer", "name", "p"+l)
					n.MustRun("ip", "link", "set", l, "up")
					ifaces[name][l] = true
				}
			}
			install(t, n, out)
			o, e, code, err := n.Run(context.Background(), bins.hbd, "-t")
			if err != nil || code != 0 {
				t.Errorf("%s: hbd -t on %s: exit %d %v\n%s%s", c.Name, name, code, err, o, e)
			}
			checked++
		}
	}
	t.Logf("%d corpus files imported; %d hbd -t and ldird -t runs accepted them", len(cases), checked)
}

// vrrpCase is a corpus pair and the links its instances use.
type vrrpCase struct {
	name  string
	links map[string]string // interface -> subnet (lb1 gets .1, lb2 .2)
}

var vrrpCases = []vrrpCase{
	{"dr-pair", map[string]string{"eth0": "10.77.0"}},
	{"unicast-sync", map[string]string{"eth0": "10.77.2", "eth1": "10.77.3"}},
	{"active-active", map[string]string{"eth0": "10.77.4"}},
	{"nopreempt", map[string]string{"eth0": "10.77.5"}},
}

// system starts and stops the failover daemon of one node.
type system interface {
	start(t *testing.T, n *netns.Node)
	name() string
}

type keepalivedSys struct{ conf map[string]string } // node -> its keepalived.conf

func (k keepalivedSys) name() string { return "keepalived" }
func (k keepalivedSys) start(t *testing.T, n *netns.Node) {
	t.Helper()
	p, err := n.Start("keepalived", "-P", "-n", "-l", "-D", "-f", k.conf[n.Name], "-i", n.Name,
		"-p", "/run/keepalived.pid", "-r", "/run/keepalived-vrrp.pid")
	if err != nil {
		t.Fatal(err)
	}
	_ = p // readiness is judged by the addresses it adds
}

type hbdSys struct{}

func (hbdSys) name() string { return "hbd" }
func (hbdSys) start(t *testing.T, n *netns.Node) {
	t.Helper()
	if _, err := n.Start(bins.hbd, "-f", "-on-stop-failure", "ignore"); err != nil {
		t.Fatal(err)
	}
}

// holders maps each address to the nodes that have it on an interface.
func holders(t *testing.T, nodes []*netns.Node, vips []netip.Addr) map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	for _, n := range nodes {
		o, _, code, err := n.Run(context.Background(), "ip", "-o", "addr", "show")
		if err != nil || code != 0 {
			continue
		}
		have := map[netip.Addr]bool{}
		for _, l := range strings.Split(o, "\n") {
			f := strings.Fields(l)
			for i, w := range f {
				if (w == "inet" || w == "inet6") && i+1 < len(f) {
					if p, err := netip.ParsePrefix(f[i+1]); err == nil {
						have[p.Addr()] = true
					}
				}
			}
		}
		for _, v := range vips {
			if have[v] {
				out[v] = append(out[v], n.Name)
			}
		}
	}
	return out
}

func describe(h map[netip.Addr][]string, vips []netip.Addr) string {
	var s []string
	for _, v := range vips {
		s = append(s, v.String()+"@"+strings.Join(h[v], "+"))
	}
	return strings.Join(s, " ")
}

// settle waits until every address has exactly one holder and that stays
// so for window, and returns the holders and how long the first part took.
func settle(t *testing.T, what string, nodes []*netns.Node, vips []netip.Addr, window, timeout time.Duration) (map[netip.Addr]string, time.Duration) {
	t.Helper()
	start := time.Now()
	var stableSince time.Time
	var last string
	var firstOK time.Duration
	for {
		h := holders(t, nodes, vips)
		ok := true
		for _, v := range vips {
			if len(h[v]) != 1 {
				ok = false
			}
		}
		d := describe(h, vips)
		switch {
		case !ok:
			stableSince, last = time.Time{}, ""
		case d != last:
			stableSince, last = time.Now(), d
			if firstOK == 0 {
				firstOK = time.Since(start)
			}
		case time.Since(stableSince) >= window:
			out := map[netip.Addr]string{}
			for _, v := range vips {
				out[v] = h[v][0]
			}
			return out, firstOK
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: the addresses did not settle with one holder each within %v; last: %s", what, timeout, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// die kills every process of the node and removes the addresses, as a
// machine losing power would.
func die(t *testing.T, n *netns.Node, vips []netip.Addr) {
	t.Helper()
	for _, pid := range n.Pids() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(n.Pids()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := n.Pids(); len(left) > 0 {
		t.Fatalf("%s: processes %v survived SIGKILL", n.Name, left)
	}
	o := n.MustRun("ip", "-o", "addr", "show")
	for _, l := range strings.Split(o, "\n") {
		f := strings.Fields(l)
		for i, w := range f {
			if (w == "inet" || w == "inet6") && i+1 < len(f) {
				p, err := netip.ParsePrefix(f[i+1])
				if err != nil {
					continue
				}
				for _, v := range vips {
					if p.Addr() == v {
						n.MustRun("ip", "addr", "del", f[i+1], "dev", strings.TrimSuffix(f[1], ":"))
					}
				}
			}
		}
	}
	os.Remove(filepath.Join(n.Dir(), "run", "heartbeat.pid"))
}

// story runs start / death of the first address's holder / return and
// returns the holders after each step.
func story(t *testing.T, sys system, nodes []*netns.Node, vips []netip.Addr, window time.Duration) ([3]map[netip.Addr]string, [3]string) {
	t.Helper()
	var res [3]map[netip.Addr]string
	var notes [3]string
	for _, n := range nodes {
		sys.start(t, n)
	}
	var took time.Duration
	res[0], took = settle(t, sys.name()+" start", nodes, vips, window, 60*time.Second)
	t.Logf("%s: after start %v (one holder each after %v)", sys.name(), describeOne(res[0], vips), took.Round(10*time.Millisecond))
	notes[0] = notified(nodes)
	var victim, survivor *netns.Node
	for _, n := range nodes {
		if n.Name == res[0][vips[0]] {
			victim = n
		} else {
			survivor = n
		}
	}
	die(t, victim, vips)
	res[1], took = settle(t, sys.name()+" after "+victim.Name+" died", []*netns.Node{survivor}, vips, window, 60*time.Second)
	t.Logf("%s: %s died: %v (taken over in %v)", sys.name(), victim.Name, describeOne(res[1], vips), took.Round(10*time.Millisecond))
	notes[1] = notified(nodes)
	sys.start(t, victim)
	res[2], took = settle(t, sys.name()+" after "+victim.Name+" returned", nodes, vips, window, 60*time.Second)
	t.Logf("%s: %s back: %v", sys.name(), victim.Name, describeOne(res[2], vips))
	notes[2] = notified(nodes)
	for _, n := range nodes {
		for _, pid := range n.Pids() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, n := range nodes {
		die(t, n, vips)
	}
	return res, notes
}

// notifyFile is where the unicast-sync corpus's notify scripts write the
// state they were run for.
const notifyFile = "/run/lvsha-test-notify"

// notified names the nodes whose notify scripts last ran for MASTER.
// (keepalived also runs notify_backup when it starts as BACKUP, where hbd
// runs the group's resource only when the group moves: the report says
// so; what must agree is where the MASTER scripts ran.)
func notified(nodes []*netns.Node) string {
	var s []string
	for _, n := range nodes {
		b, err := n.ReadFile(notifyFile)
		if err == nil && strings.TrimSpace(string(b)) == "master" {
			s = append(s, n.Name)
		}
	}
	return strings.Join(s, " ")
}

func describeOne(h map[netip.Addr]string, vips []netip.Addr) string {
	var s []string
	for _, v := range vips {
		s = append(s, v.String()+"@"+h[v])
	}
	return strings.Join(s, " ")
}

// vipsOf reads the addresses of a haresources file (IPaddr2::ip/...).
func vipsOf(t *testing.T, path string) []netip.Addr {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		for _, w := range strings.Fields(l) {
			if spec, ok := strings.CutPrefix(w, "IPaddr2::"); ok {
				a, err := netip.ParseAddr(strings.Split(spec, "/")[0])
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

func TestVRRPSide(t *testing.T) {
	netns.Require(t)
	testenv.RequireProgram(t, "keepalived", "keepalived")
	build(t)
	cases, err := corpus.List("../../importer/testdata", "")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]corpus.Case{}
	for _, c := range cases {
		byName[c.Kind+"/"+c.Name] = c
	}
	for _, vc := range vrrpCases {
		vc := vc
		c, ok := byName["keepalived/"+vc.name]
		if !ok {
			t.Fatalf("no corpus case %s", vc.name)
		}
		t.Run(vc.name, func(t *testing.T) {
			t.Parallel()
			out := imported(t, c)
			vips := vipsOf(t, filepath.Join(out, "haresources"))
			names, _ := haNodes(t, filepath.Join(out, "ha.cf"))
			if len(names) != 2 || len(vips) == 0 {
				t.Fatalf("import gave nodes %v and addresses %v", names, vips)
			}
			// The keepalived configuration of each node, by absolute path.
			conf := map[string]string{}
			abs, _ := filepath.Abs(c.Input)
			conf[names[0]], conf[names[1]] = abs, abs
			for i, a := range c.Args {
				if a == "--peer-conf" {
					conf[names[1]], _ = filepath.Abs(c.Args[i+1])
				}
			}
			// keepalive/deadtime of the import bound how long a state must
			// hold to count as settled: longer than a takeover takes.
			window := 2*deadtimeOf(t, filepath.Join(out, "ha.cf")) + time.Second

			mk := func() []*netns.Node {
				a, b := netns.NewNode(t, names[0]), netns.NewNode(t, names[1])
				ifs := make([]string, 0, len(vc.links))
				for i := range vc.links {
					ifs = append(ifs, i)
				}
				sort.Strings(ifs)
				for _, i := range ifs {
					netns.Connect(t, a, b, i, vc.links[i])
				}
				return []*netns.Node{a, b}
			}
			kaNodes := mk()
			ka, kaNotes := story(t, keepalivedSys{conf: conf}, kaNodes, vips, window)
			hbNodes := mk()
			for _, n := range hbNodes {
				install(t, n, out)
			}
			hb, hbNotes := story(t, hbdSys{}, hbNodes, vips, window)
			steps := []string{"after both started", "after the holder of " + vips[0].String() + " died", "after it returned"}
			for i := range steps {
				for _, v := range vips {
					if ka[i][v] != hb[i][v] {
						t.Errorf("%s: %s is on %s under keepalived but on %s under hbd", steps[i], v, ka[i][v], hb[i][v])
					}
				}
				// The notify scripts ran on the same nodes for the same states.
				if kaNotes[i] != hbNotes[i] {
					t.Errorf("%s: notify scripts: keepalived %q, hbd %q", steps[i], kaNotes[i], hbNotes[i])
				} else if kaNotes[i] != "" {
					t.Logf("%s: notify_master ran last on %s under both", steps[i], kaNotes[i])
				}
			}
			// The owners in haresources are where keepalived's masters are.
			owners := ownersOf(t, filepath.Join(out, "haresources"))
			for v, o := range owners {
				if ka[0][v] != o {
					t.Errorf("haresources gives %s to %s, keepalived's MASTER is %s", v, o, ka[0][v])
				}
			}
		})
	}
}

func deadtimeOf(t *testing.T, path string) time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "deadtime" {
			if d, err := time.ParseDuration(f[1]); err == nil {
				return d
			}
			if d, err := time.ParseDuration(f[1] + "s"); err == nil {
				return d
			}
		}
	}
	t.Fatalf("%s has no deadtime", path)
	return 0
}

func ownersOf(t *testing.T, path string) map[netip.Addr]string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[netip.Addr]string{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || strings.HasPrefix(l, "#") {
			continue
		}
		for _, w := range f[1:] {
			if spec, ok := strings.CutPrefix(w, "IPaddr2::"); ok {
				a, _ := netip.ParseAddr(strings.Split(spec, "/")[0])
				out[a] = f[0]
			}
		}
	}
	return out
}

// TestSwitchOver follows the README's way of moving a running keepalived
// pair to hbd without the address leaving the MASTER: keepalived stops on
// the BACKUP, is killed (SIGKILL leaves its addresses) on the MASTER, hbd
// starts there with -R (keep what runs) and then on the BACKUP. The
// address is sampled every 50 ms throughout: it must be on the MASTER, and
// only there, at every sample.
func TestSwitchOver(t *testing.T) {
	netns.Require(t)
	testenv.RequireProgram(t, "keepalived", "keepalived")
	build(t)
	cases, err := corpus.List("../../importer/testdata", "")
	if err != nil {
		t.Fatal(err)
	}
	var c corpus.Case
	for _, x := range cases {
		if x.Kind == "keepalived" && x.Name == "dr-pair" {
			c = x
		}
	}
	out := imported(t, c)
	vips := vipsOf(t, filepath.Join(out, "haresources"))
	master, backup := netns.NewNode(t, "lb1"), netns.NewNode(t, "lb2")
	netns.Connect(t, master, backup, "eth0", "10.77.0")
	nodes := []*netns.Node{master, backup}
	abs, _ := filepath.Abs(c.Input)
	peer, _ := filepath.Abs(c.Args[len(c.Args)-1])
	ka := keepalivedSys{conf: map[string]string{"lb1": abs, "lb2": peer}}
	ka.start(t, master)
	ka.start(t, backup)
	h, _ := settle(t, "keepalived start", nodes, vips, 2*time.Second, 30*time.Second)
	if h[vips[0]] != "lb1" {
		t.Fatalf("keepalived put %s on %s, want lb1", vips[0], h[vips[0]])
	}
	for _, n := range nodes {
		install(t, n, out)
	}

	// Sample from now on.
	stop := make(chan struct{})
	var wrong []string
	var samples int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			hs := holders(t, nodes, vips)
			samples++
			if got := strings.Join(hs[vips[0]], "+"); got != "lb1" {
				wrong = append(wrong, fmt.Sprintf("sample %d: %s on %q", samples, vips[0], got))
			}
		}
	}()
	kill := func(n *netns.Node, sig syscall.Signal) {
		for _, pid := range n.Pids() {
			syscall.Kill(pid, sig)
		}
		// Judge on the same reading that ended the wait: a process that is
		// exiting can drop out of one reading of /proc and show in the next.
		deadline := time.Now().Add(10 * time.Second)
		left := n.Pids()
		for len(left) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			left = n.Pids()
		}
		if len(left) > 0 {
			var what []string
			for _, pid := range left {
				cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				what = append(what, fmt.Sprintf("%d %q", pid, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")))
			}
			t.Fatalf("%s: keepalived did not exit within 10 s of %v: left %s", n.Name, sig, strings.Join(what, ", "))
		}
	}
	kill(backup, syscall.SIGTERM) // systemctl stop keepalived on the BACKUP
	kill(master, syscall.SIGKILL) // systemctl kill -s KILL keepalived on the MASTER
	if _, err := master.Start(bins.hbd, "-f", "-R", "-on-stop-failure", "ignore"); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Start(bins.hbd, "-f", "-on-stop-failure", "ignore"); err != nil {
		t.Fatal(err)
	}
	// The pair forms and stays as it is for twice the deadtime.
	window := 2 * deadtimeOf(t, filepath.Join(out, "ha.cf"))
	for _, n := range nodes {
		netns.Eventually(t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
			o, e, code, _ := n.Run(context.Background(), bins.hbd, "-s")
			return code == 0, "hbd -s on " + n.Name + ": " + o + e
		})
	}
	// Longer than lb2's initdead: had it not heard lb1, it would take the
	// address within this time, and the sampler would see it.
	time.Sleep(window)
	close(stop)
	<-done
	if len(wrong) > 0 {
		t.Errorf("%d of %d samples had the address elsewhere than on lb1 alone, first: %s", len(wrong), samples, wrong[0])
	}
	t.Logf("%s stayed on lb1 alone in all %d samples (every 50 ms) through the switch-over", vips[0], samples)
}
