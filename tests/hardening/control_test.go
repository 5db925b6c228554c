package hardening

import (
	"context"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/hbd/wire"
	"lvsha/internal/testenv"
	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
)

// asUser runs one of our tools in the node as uid/gid 65534 (nobody) with
// the given supplementary groups ("" for none).
func asUser(n *netns.Node, groups, tool string, args ...string) (string, int) {
	argv := []string{"--reuid=65534", "--regid=65534"}
	if groups == "" {
		argv = append(argv, "--clear-groups")
	} else {
		argv = append(argv, "--groups="+groups)
	}
	argv = append(argv, hbdlab.Bin(tool))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	out, errOut, code, err := n.Run(ctx, "setpriv", append(argv, args...)...)
	if err != nil {
		return "error: " + err.Error(), -1
	}
	return strings.TrimSpace(out + " " + errOut), code
}

// TestControlSocketPermissions: nobody may not change state; a member of
// haclient may read cl_status but may not change state either; refusals
// leave the cluster as it was.
func TestControlSocketPermissions(t *testing.T) {
	netns.Require(t)
	if _, err := findBin("setpriv"); err != nil {
		testenv.Skip(t, "setpriv is not installed (Debian package util-linux): cannot run the tools as another user")
	}
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	before := l.snapshot()

	type step struct {
		who, groups, tool string
		args              []string
		allowed           bool
	}
	steps := []step{
		{"nobody", "", "hb_standby", nil, false},
		{"nobody", "", "hb_takeover", []string{"all"}, false},
		{"nobody", "", "cl_status", []string{"rscstatus"}, false},
	}
	g, err := user.LookupGroup("haclient")
	if err != nil {
		t.Logf("group haclient does not exist: the haclient member cases are skipped")
	} else {
		// A haclient member: nobody with haclient as a supplementary group
		// (no user is created: /etc/passwd is the host's).
		steps = append(steps,
			step{"haclient member", g.Gid, "cl_status", []string{"rscstatus"}, true},
			step{"haclient member", g.Gid, "cl_status", []string{"nodestatus", "beta"}, true},
			step{"haclient member", g.Gid, "hb_standby", nil, false},
			step{"haclient member", g.Gid, "hb_takeover", []string{"all"}, false},
		)
	}
	for _, s := range steps {
		for _, n := range l.Directors() {
			out, code := asUser(n, s.groups, s.tool, s.args...)
			t.Logf("%s on %s: %s %v -> exit %d: %s", s.who, n.Name, s.tool, s.args, code, out)
			switch {
			case s.allowed && code != 0:
				t.Errorf("%s was refused %s %v on %s: exit %d %s", s.who, s.tool, s.args, n.Name, code, out)
			case !s.allowed && code == 0:
				t.Errorf("%s was allowed %s %v on %s: %s", s.who, s.tool, s.args, n.Name, out)
			case !s.allowed && !strings.Contains(strings.ToLower(out), "permission denied") && !strings.Contains(strings.ToLower(out), "only root"):
				t.Errorf("%s: %s refused on %s without saying why: %q", s.who, s.tool, n.Name, out)
			}
		}
	}
	// A refused standby or takeover would show within a couple of
	// seconds: watch both sides' views for that long.
	_, changes := l.watch(before, 2*time.Second)
	reportChanges(t, "refused requests", changes)
	if got := l.Get(time.Second); got != "alpha" {
		t.Fatalf("client served by %q", got)
	}
	if pa.Exited() || pb.Exited() {
		t.Fatal("hbd exited")
	}
}

func findBin(name string) (string, error) {
	for _, d := range []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

// TestAuthkeysReadableByOthers: an authkeys file with mode 0644 makes hbd
// refuse to start, naming the file and the reason, and without printing
// the secret.
func TestAuthkeysReadableByOthers(t *testing.T) {
	netns.Require(t)
	n := netns.NewNode(t, "alpha")
	netns.Connect(t, n, netns.NewNode(t, "beta"), "eth1", "10.51.1")
	cf := strings.Replace(haCF("off"), "bcast eth1 eth2", "bcast eth1", 1)
	n.WriteFile("/etc/ha.d/ha.cf", []byte(cf), 0o644)
	n.WriteFile("/etc/ha.d/authkeys", []byte(authkeys()), 0o644)
	n.WriteFile("/etc/ha.d/haresources", nil, 0o644)
	for _, args := range [][]string{{"-f", "-on-stop-failure", "ignore"}, {"-t"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		out, errOut, code, err := n.Run(ctx, hbdlab.Bin("hbd"), args...)
		cancel()
		if err != nil {
			t.Fatalf("hbd %v did not exit: %v", args, err)
		}
		msg := out + errOut
		t.Logf("hbd %v with authkeys 0644: exit %d after %v: %s", args, code, time.Since(start).Round(time.Millisecond), strings.TrimSpace(msg))
		if code == 0 {
			t.Errorf("hbd %v accepted an authkeys readable by others", args)
		}
		if !strings.Contains(msg, "/etc/ha.d/authkeys") || !strings.Contains(msg, "others can read") {
			t.Errorf("hbd %v: the message names neither the file nor the reason: %q", args, msg)
		}
		if strings.Contains(msg, secret) {
			t.Errorf("hbd %v printed the secret: %q", args, msg)
		}
	}
	if log := readLogs(n); strings.Contains(log, secret) {
		t.Errorf("the secret is in a log file of the refused start")
	}
}

// TestSecretNeverLogged: at the highest debug level, through start-up, bad
// packets (logged with log_badpack, on by default), a standby, a reload
// with SIGHUP, a configuration check and a kill -9 with takeover, the
// authkeys secret appears in no log file, stderr or tool output.
func TestSecretNeverLogged(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth("-d", "-d", "-d")
	l.waitStable()
	var outputs strings.Builder
	run := func(n *netns.Node, name string, args ...string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, errOut, _, _ := n.Run(ctx, name, args...)
		outputs.WriteString(out + errOut)
	}
	// Bad packets from inside beta: a wrong key and a wrong index.
	sock := udpIn(t, l.Beta, "0.0.0.0:0")
	to := &net.UDPAddr{IP: net.IPv4(10, 51, 1, 1), Port: 694}
	for _, r := range []*wire.Keyring{ring(1, wire.MethodMD5, secret+"x"), ring(3, wire.MethodSHA1, secret)} {
		sock.WriteToUDP(forge(t, r, "status", "beta", 1, 1, "st", "dead"), to)
	}
	run(l.Alpha, hbdlab.Bin("hbd"), "-t")
	run(l.Alpha, hbdlab.Bin("hbd"), "-t", "-v")
	for _, args := range [][]string{{"counters"}, {"hbstatus"}, {"parameter", "-p", "keepalive"}, {"rscstatus"}} {
		run(l.Alpha, hbdlab.Bin("cl_status"), args...)
	}
	run(l.Alpha, hbdlab.Bin("hb_standby"))
	l.WaitServer(t, "beta", 10*time.Second)
	reloads := func(n *netns.Node) uint64 { c := hbdlab.Counters(t, n); return c["reloads_ok"] + c["reloads_failed"] }
	ra, rb := reloads(l.Alpha), reloads(l.Beta)
	pa.Signal(syscall.SIGHUP)
	run(l.Beta, hbdlab.Bin("hbd"), "-r")
	for _, r := range []struct {
		n   *netns.Node
		was uint64
	}{{l.Alpha, ra}, {l.Beta, rb}} {
		netns.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
			return reloads(r.n) > r.was, r.n.Name + " has not reloaded"
		})
	}
	pb.Kill()
	l.WaitServer(t, "alpha", 10*time.Second)
	if c := hbdlab.Counters(t, l.Alpha); c["rx_dropped_bad_auth"]+c["rx_dropped_unknown_key_index"] < 2 {
		t.Errorf("the bad packets were not received: %v", c)
	}
	total := outputs.Len()
	for _, n := range l.Directors() {
		log := readLogs(n)
		total += len(log)
		if i := strings.Index(log, secret); i >= 0 {
			t.Errorf("%s's logs contain the secret: ...%s...", n.Name, log[max(0, i-200):min(len(log), i+50)])
		}
	}
	if strings.Contains(outputs.String(), secret) {
		t.Errorf("tool output contains the secret:\n%s", outputs.String())
	}
	t.Logf("searched %d bytes of logs and tool output for the secret", total)
}
