package userspace

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/internal/testenv"
	"lvsha/ldird/dataplane"
)

const netnsEnv = "USERSPACE_TEST_IN_NETNS"

// TestFreebindBeforeAddressExists adds services on a VIP that no interface
// has yet (as ldird does before IPaddr2 runs), then configures the address
// and connects. It re-runs itself in a fresh network namespace so it can
// add the address without touching the host.
func TestFreebindBeforeAddressExists(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		if os.Geteuid() != 0 {
			testenv.Skip(t, "needs root to create a network namespace (CLONE_NEWNET)")
		}
		if _, err := exec.LookPath("ip"); err != nil {
			testenv.Skip(t, "needs iproute2's ip to configure the namespace (Debian package iproute2)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFreebindBeforeAddressExists$", "-test.v", "-test.count=1", "-test.timeout=50s")
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in a new network namespace: %v\n%s", err, out)
		}
		if strings.Contains(string(out), "--- SKIP") {
			testenv.Skipf(t, "skipped inside the namespace:\n%s", out)
		}
		t.Logf("in a new network namespace:\n%s", out)
		return
	}

	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	ip("link", "set", "lo", "up")
	const vip = "10.99.0.1"
	// A plain bind must fail here, or this test would prove nothing.
	if l, err := net.Listen("tcp4", vip+":8080"); err == nil {
		l.Close()
		testenv.Skip(t, "binding an absent address works without IP_FREEBIND (ip_nonlocal_bind set?)")
	}

	p := newTestProxy(t, Options{})
	tsvc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr(vip), Port: 8080, Scheduler: "rr"}
	usvc := dataplane.Service{Protocol: "udp", Addr: netip.MustParseAddr(vip), Port: 8053, Scheduler: "rr"}
	for _, s := range []dataplane.Service{tsvc, usvc} {
		if err := p.AddService(s); err != nil {
			t.Fatalf("AddService before the VIP exists: %v", err)
		}
	}
	b := startBackend(t, "A", "127.0.0.11")
	ub := startUDPBackend(t, "U", "127.0.0.11")
	if err := p.AddDest(tsvc, b.dest(1)); err != nil {
		t.Fatal(err)
	}
	if err := p.AddDest(usvc, ub.dest(1)); err != nil {
		t.Fatal(err)
	}

	ip("addr", "add", vip+"/32", "dev", "lo")
	if r := oneShot(t, "", tsvc); r != "A" {
		t.Fatalf("TCP through the late VIP: %s", r)
	}
	if r := udpAsk(t, udpDial(t, vip, usvc), "q"); r != "U" {
		t.Fatalf("UDP through the late VIP: %s", r)
	}
}
