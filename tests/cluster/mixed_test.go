package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
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
	for _, n := range []*netns.Node{l.Alpha, l.Beta} {
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
				for _, n := range []*netns.Node{l.Alpha, l.Beta} {
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
			bin = hbdlab.Bin(name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, errOut, code, err := n.Run(ctx, bin, args...)
		if err != nil || code != 0 {
			t.Fatalf("%s %v on %s: exit %d %v %s%s", name, args, n.Name, code, err, out, errOut)
		}
	}

	hb, ours := hbdlab.StartMixed(t, l.Beta, l.Alpha, "-on-stop-failure", "ignore")
	where("start", l.Alpha, l.Beta, 30*time.Second)
	l.WaitServer(t, "alpha", 5*time.Second)
	hbdlab.Ours.WaitRsc(t, l.Alpha, "local", 5*time.Second)
	hbdlab.WaitLog(t, l.Beta, "resource transition completed", 30*time.Second)

	// Standby and takeover, issued on either node.
	tool(l.Alpha, true, "hb_standby")
	where("hb_standby on ours", l.Beta, l.Beta, 15*time.Second)
	tool(l.Alpha, true, "hb_takeover")
	where("hb_takeover on ours", l.Alpha, l.Alpha, 15*time.Second)
	tool(l.Beta, false, "hb_takeover")
	where("hb_takeover on the real one", l.Beta, l.Beta, 15*time.Second)
	tool(l.Beta, false, "hb_standby", "foreign")
	where("hb_standby foreign on the real one", l.Alpha, l.Beta, 15*time.Second)

	// Our node dies: the real one takes over; ours returns: failback.
	ours.Kill()
	// Its VIP stays in the kernel; clear it as a node reboot would (the
	// restarted hbd would also clear it, but only when it starts).
	l.Alpha.Run(context.Background(), "ip", "addr", "del", vip+"/24", "dev", "eth0")
	where("kill -9 of ours", l.Beta, l.Beta, 15*time.Second)
	l.WaitServer(t, "beta", 5*time.Second)
	hbdlab.StartDirector(t, l.Alpha)
	where("ours back (failback)", l.Alpha, l.Beta, 30*time.Second)
	l.WaitServer(t, "alpha", 5*time.Second)

	// The real node dies: ours takes over; it returns: failback to it.
	hb.Kill()
	// The real Heartbeat's resource helpers die with it but leave its VIP;
	// clear it as a node reboot would.
	l.Beta.Run(context.Background(), "ip", "addr", "del", vip2+"/24", "dev", "eth0")
	where("kill -9 of the real one", l.Alpha, l.Alpha, 15*time.Second)
	if _, err := l.Beta.StartHeartbeat(); err != nil {
		t.Fatal(err)
	}
	where("real one back (failback)", l.Alpha, l.Beta, 60*time.Second)
	hbdlab.Ours.WaitRsc(t, l.Alpha, "local", 10*time.Second)
}
