package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
)

const vip2 = "10.42.0.101"

// TestMixedClusterFailover: our alpha and a real Heartbeat 3.0.6 beta, one
// group each (alpha: VIP + web server, beta: a second VIP). Takeover and
// failback in both directions, hb_standby / hb_takeover issued on either
// node, and never both holding a VIP once stable.
func TestMixedClusterFailover(t *testing.T) {
	netns.Require(t)
	if _, ok := netns.HeartbeatAvailable(); !ok {
		testenv.Skip(t, "real Heartbeat 3.0.6 is not installed (Debian package heartbeat; scripts/deps.sh test installs it)")
	}
	l := directors(t, "on")
	hr := "alpha IPaddr2::" + vip + "/24/eth0 webserver\nbeta IPaddr2::" + vip2 + "/24/eth0\n"
	for _, n := range []*netns.Node{l.alpha, l.beta} {
		n.WriteFile("/etc/ha.d/haresources", []byte(hr), 0o644)
	}
	has := func(n *netns.Node, ip string) bool {
		out, _, _, _ := n.Run(context.Background(), "ip", "-o", "-4", "addr", "show", "dev", "eth0")
		return strings.Contains(out, " "+ip+"/24")
	}
	// where waits until each VIP is on exactly the named node and stays so.
	where := func(what string, v1, v2 *netns.Node, timeout time.Duration) {
		t.Helper()
		start := time.Now()
		check := func() (bool, string) {
			var bad []string
			for _, c := range []struct {
				ip   string
				want *netns.Node
			}{{vip, v1}, {vip2, v2}} {
				for _, n := range []*netns.Node{l.alpha, l.beta} {
					if has(n, c.ip) != (n == c.want) {
						bad = append(bad, fmt.Sprintf("%s on %s: %v", c.ip, n.Name, has(n, c.ip)))
					}
				}
			}
			return len(bad) == 0, what + ": " + strings.Join(bad, ", ")
		}
		netns.Eventually(t, timeout, 50*time.Millisecond, check)
		t.Logf("%s: settled after %v", what, time.Since(start).Round(time.Millisecond))
		for i := 0; i < 10; i++ { // stable: no node gives up or doubles up
			if ok, msg := check(); !ok {
				t.Fatal("not stable: " + msg)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	tool := func(n *netns.Node, ours bool, name string, args ...string) {
		t.Helper()
		bin := "/usr/share/heartbeat/" + name
		if ours {
			bin = clStatusBin[:len(clStatusBin)-len("cl_status")] + name
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, errOut, code, err := n.Run(ctx, bin, args...)
		if err != nil || code != 0 {
			t.Fatalf("%s %v on %s: exit %d %v %s%s", name, args, n.Name, code, err, out, errOut)
		}
	}

	hb, ours := startMixedArgs(t, l.beta, l.alpha, "-on-stop-failure", "ignore")
	where("start", l.alpha, l.beta, 30*time.Second)
	l.waitServer(t, "alpha", 5*time.Second)
	waitRsc(t, l.alpha, true, "local", 5*time.Second)
	waitLog(t, l.beta, "resource transition completed", 30*time.Second)

	// Standby and takeover, issued on either node.
	tool(l.alpha, true, "hb_standby")
	where("hb_standby on ours", l.beta, l.beta, 15*time.Second)
	tool(l.alpha, true, "hb_takeover")
	where("hb_takeover on ours", l.alpha, l.alpha, 15*time.Second)
	tool(l.beta, false, "hb_takeover")
	where("hb_takeover on the real one", l.beta, l.beta, 15*time.Second)
	tool(l.beta, false, "hb_standby", "foreign")
	where("hb_standby foreign on the real one", l.alpha, l.beta, 15*time.Second)

	// Our node dies: the real one takes over; ours returns: failback.
	ours.Kill()
	// Its VIP stays in the kernel; clear it as a node reboot would (the
	// restarted hbd would also clear it, but only when it starts).
	l.alpha.Run(context.Background(), "ip", "addr", "del", vip+"/24", "dev", "eth0")
	where("kill -9 of ours", l.beta, l.beta, 15*time.Second)
	l.waitServer(t, "beta", 5*time.Second)
	startHbd(t, l.alpha, "-on-stop-failure", "ignore")
	where("ours back (failback)", l.alpha, l.beta, 30*time.Second)
	l.waitServer(t, "alpha", 5*time.Second)

	// The real node dies: ours takes over; it returns: failback to it.
	hb.Kill()
	// The real Heartbeat's resource helpers die with it but leave its VIP;
	// clear it as a node reboot would.
	l.beta.Run(context.Background(), "ip", "addr", "del", vip2+"/24", "dev", "eth0")
	where("kill -9 of the real one", l.alpha, l.alpha, 15*time.Second)
	if _, err := l.beta.StartHeartbeat(); err != nil {
		t.Fatal(err)
	}
	where("real one back (failback)", l.alpha, l.beta, 60*time.Second)
	waitRsc(t, l.alpha, true, "local", 10*time.Second)
}

// startMixedArgs starts the real Heartbeat on real and hbd (with args) on
// ours at the same time.
func startMixedArgs(t *testing.T, real, ours *netns.Node, args ...string) (*netns.Proc, *netns.Proc) {
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
	o := startHbd(t, ours, args...)
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.p, o
}
