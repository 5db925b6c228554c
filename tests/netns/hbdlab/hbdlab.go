// Package hbdlab is the hbd side of the namespace tests (tests/cluster,
// tests/fencing, tests/hardening): it builds hbd once per test binary,
// starts it in tests/netns nodes, asks it or the real Heartbeat through
// cl_status and waits for the states a test expects. It also sets up what
// those tests share: ha.cf, authkeys, and the lab of two directors serving
// a VIP and a web server to a client on a bridged LAN.
package hbdlab

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"lvsha/tests/netns"
)

// binDir holds the hbd that Main built.
var binDir string

// Main builds hbd, runs the tests and exits with their status: a test
// package's TestMain is just hbdlab.Main(m). hbd goes into a directory
// every user may enter (tests run the tools as nobody), with cl_status,
// hb_standby and hb_takeover as symlinks to it (hbd acts as the name it
// was run by).
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "lvsha-hbdlab-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		fail(err)
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "hbd"), "lvsha/hbd").CombinedOutput(); err != nil {
		fail(fmt.Errorf("build hbd: %v\n%s", err, out))
	}
	for _, name := range []string{"cl_status", "hb_standby", "hb_takeover"} {
		if err := os.Symlink("hbd", filepath.Join(dir, name)); err != nil {
			fail(err)
		}
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Bin is the path of the hbd Main built, under one of its names: "hbd",
// "cl_status", "hb_standby" or "hb_takeover".
func Bin(name string) string {
	if binDir == "" {
		panic("hbdlab: hbd is not built: the test package's TestMain must call hbdlab.Main")
	}
	return filepath.Join(binDir, name)
}

// StartHbd runs hbd -f (in the foreground, so the node's teardown stops
// it) with args in the node and waits, at most 10 s, until its control
// socket accepts connections. The test fails, with hbd's output, if hbd
// exits first.
func StartHbd(t testing.TB, n *netns.Node, args ...string) *netns.Proc {
	t.Helper()
	p, err := n.Start(Bin("hbd"), append([]string{"-f"}, args...)...)
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

// StartDirector is StartHbd with -on-stop-failure ignore before args
// (which may override it): a failed stop must never reboot the machine
// running the tests, as the default would.
func StartDirector(t testing.TB, n *netns.Node, args ...string) *netns.Proc {
	t.Helper()
	return StartHbd(t, n, append([]string{"-on-stop-failure", "ignore"}, args...)...)
}

// StartMixed starts the real Heartbeat on real and hbd (StartHbd with
// args) on ours at the same time, so that neither's initdead runs out
// before the other is up.
func StartMixed(t testing.TB, real, ours *netns.Node, args ...string) (realProc, oursProc *netns.Proc) {
	t.Helper()
	type started struct {
		p   *netns.Proc
		err error
	}
	ch := make(chan started, 1)
	go func() {
		p, err := real.StartHeartbeat()
		ch <- started{p, err}
	}()
	oursProc = StartHbd(t, ours, args...)
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.p, oursProc
}
