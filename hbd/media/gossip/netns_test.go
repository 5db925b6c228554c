package gossip

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/hbd/media"
	"lvsha/tests/netns"
)

// helperArg marks a run of this test binary as one node's process in the
// routed-network test: memberlist's sockets (and the TCP connections it dials
// later from any thread) must live in the node's network namespace, so the
// medium runs in a process started there rather than in the test itself.
const helperArg = "gossip-node"

// TestMain turns the test binary into that process when its first argument
// is helperArg (see gossipNode); otherwise it runs the tests.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == helperArg {
		os.Exit(gossipNode(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// gossipNode is that process, started by TestRoutedNetnsGossip as
//
//	<test binary> gossip-node NODE BIND ADVERTISE SEEDS IFACES
//
// (SEEDS and IFACES comma-separated, ADVERTISE "-" for none). It runs a gossip
// medium and a bcast medium on each interface, sends "NODE-SEQ" on all of
// them every 50 ms and prints one line per datagram received:
//
//	RX <link> from=<node or addr> addr=<address> data=<datagram>
//
// and "MEMBERS <view>" every second, until SIGTERM or 60 s.
func gossipNode(args []string) int {
	if len(args) != 5 {
		fmt.Fprintf(os.Stderr, "usage: %s NODE BIND ADVERTISE SEEDS IFACES\n", helperArg)
		return 2
	}
	node, bind, adv, seeds, ifaces := args[0], args[1], args[2], strings.Split(args[3], ","), strings.Split(args[4], ",")
	if adv == "-" {
		adv = ""
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	g, err := New(Options{Node: node, Bind: bind, Advertise: adv, Seeds: seeds, Secret: []byte("SECRET"),
		Keepalive: 200 * time.Millisecond, RejoinInterval: 300 * time.Millisecond, Log: log})
	if err != nil {
		fmt.Printf("FAIL %v\n", err)
		return 1
	}
	defer g.Close()
	ms := []media.Medium{g}
	for _, ifc := range ifaces {
		b, err := media.Bcast(ctx, ifc, 694, log)
		if err != nil {
			fmt.Printf("FAIL %v\n", err)
			return 1
		}
		defer b.Close()
		ms = append(ms, b)
	}
	out := make(chan string, 1024)
	for i, m := range ms {
		go m.Receive(ctx, i, func(p media.Packet) {
			from, addr := p.From.String(), p.From.String()
			if a, ok := p.From.(Addr); ok {
				from, addr = a.Node, a.Addr
			}
			out <- fmt.Sprintf("RX %s from=%s addr=%s data=%s", ms[p.Link].Name(), from, addr, p.Data)
		})
	}
	fmt.Printf("READY %s %s\n", node, g.Addr())
	send := time.NewTicker(50 * time.Millisecond)
	defer send.Stop()
	view := time.NewTicker(time.Second)
	defer view.Stop()
	for seq := 0; ; {
		select {
		case <-ctx.Done():
			fmt.Println("EXIT")
			return 0
		case line := <-out:
			fmt.Println(line)
		case <-send.C:
			seq++
			for _, m := range ms {
				_ = m.Send(fmt.Appendf(nil, "%s-%d", node, seq)) // errors: unreachable is the point
			}
		case <-view.C:
			var parts []string
			for _, m := range g.Members() {
				parts = append(parts, m.Name+"="+m.State)
			}
			fmt.Printf("MEMBERS %s\n", strings.Join(parts, ","))
		}
	}
}

// rxCount counts "RX <link> from=<from> " lines in a node process's output.
func rxCount(out, link, from string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "RX "+link+" from="+from+" ") {
			n++
		}
	}
	return n
}

// A and C sit on different subnets, with B routing between them (A–B on
// 10.77.1.0/24, B–C on 10.77.2.0/24, ip_forward on in B only). Heartbeat's
// bcast cannot cross B: C never hears A's broadcasts (while B, on A's
// segment, does). The gossip medium carries A's datagrams to C and back,
// directly (From is the far node's own address), and after B stops
// forwarding and starts again the flow resumes by itself.
func TestRoutedNetnsGossip(t *testing.T) {
	netns.Require(t) // skips (strict mode: fails) with the reason unless root with namespaces
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := netns.NewNode(t, "alpha"), netns.NewNode(t, "bravo"), netns.NewNode(t, "charlie")
	netns.Connect(t, a, b, "eth1", "10.77.1") // alpha .1, bravo .2
	netns.Connect(t, b, c, "eth2", "10.77.2") // bravo .1, charlie .2
	a.MustRun("ip", "route", "add", "10.77.2.0/24", "via", "10.77.1.2")
	c.MustRun("ip", "route", "add", "10.77.1.0/24", "via", "10.77.2.1")
	setForward := func(on bool) {
		v := "0"
		if on {
			v = "1"
		}
		b.MustRun("sysctl", "-q", "-w", "net.ipv4.ip_forward="+v)
	}
	setForward(true)

	const port = "7946"
	start := func(n *netns.Node, bind, adv, seeds, ifaces string) *netns.Proc {
		t.Helper()
		p, err := n.Start(exe, helperArg, n.Name, bind, adv, seeds, ifaces)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if !p.Stop(5 * time.Second) {
				t.Errorf("%s: gossip process needed SIGKILL", n.Name)
			}
			if t.Failed() {
				t.Logf("%s output (tail):\n%s", n.Name, tailLines(p.Output(), 30))
			}
		})
		return p
	}
	// Every node lists the others as seeds, as one shared ha.cf would.
	// Bravo listens on all its addresses and advertises its A-side one.
	pa := start(a, "10.77.1.1:"+port, "-", "10.77.1.2:"+port+",10.77.2.2:"+port, "eth1")
	pb := start(b, "0.0.0.0:"+port, "10.77.1.2:"+port, "10.77.1.1:"+port+",10.77.2.2:"+port, "eth1,eth2")
	pc := start(c, "10.77.2.2:"+port, "-", "10.77.1.1:"+port+",10.77.1.2:"+port, "eth2")
	began := time.Now()

	// Gossip carries alpha <-> charlie across the router, from their own
	// addresses (nothing is relayed through bravo's memberlist).
	d := netns.Eventually(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
		ac := rxCount(pc.Output(), "gossip", "alpha addr=10.77.1.1:"+port)
		ca := rxCount(pa.Output(), "gossip", "charlie addr=10.77.2.2:"+port)
		return ac >= 10 && ca >= 10, fmt.Sprintf("charlie got %d from alpha, alpha got %d from charlie", ac, ca)
	})
	t.Logf("alpha<->charlie over gossip: 10 datagrams each way %v after start", d.Round(time.Millisecond))
	netns.Eventually(t, 10*time.Second, 100*time.Millisecond, func() (bool, string) {
		out := pa.Output()
		i := strings.LastIndex(out, "MEMBERS ")
		if i < 0 {
			return false, "no MEMBERS line yet"
		}
		v := strings.SplitN(out[i:], "\n", 2)[0]
		return v == "MEMBERS alpha=alive,bravo=alive,charlie=alive", v
	})

	// bcast: bravo hears both segments; charlie never hears alpha (and
	// alpha never hears charlie), though they have been sending all along.
	outA, outB, outC := pa.Output(), pb.Output(), pc.Output()
	if n := rxCount(outB, "eth1", "10.77.1.1:694"); n == 0 {
		t.Errorf("bravo heard no bcast from alpha on eth1: the segment itself is broken")
	}
	if n := rxCount(outB, "eth2", "10.77.2.2:694"); n == 0 {
		t.Errorf("bravo heard no bcast from charlie on eth2")
	}
	for _, x := range []struct{ out, link, from, what string }{
		{outC, "eth2", "10.77.1.1:694", "charlie heard alpha's bcast"},
		{outA, "eth1", "10.77.2.2:694", "alpha heard charlie's bcast"},
	} {
		if n := rxCount(x.out, x.link, x.from); n != 0 {
			t.Errorf("%s %d times: broadcasts must not cross the router", x.what, n)
		}
	}
	t.Logf("after %v: bcast alpha->bravo %d, alpha->charlie %d; gossip alpha->charlie %d, charlie->alpha %d",
		time.Since(began).Round(time.Millisecond), rxCount(outB, "eth1", "10.77.1.1:694"), rxCount(outC, "eth2", "10.77.1.1:694"),
		rxCount(outC, "gossip", "alpha"), rxCount(outA, "gossip", "charlie"))

	// Cut the route: nothing from charlie reaches alpha any more (memberlist
	// may still think charlie alive via bravo's indirect probes; the
	// heartbeats themselves tell hbd the link is down).
	setForward(false)
	// The window is counted in charlie's own datagrams, which bravo hears
	// on charlie's segment: once bravo has two sent after the cut, anything
	// forwarded before it has arrived too (one hop, no queue).
	heardByBravo := func() int { return rxCount(pb.Output(), "gossip", "charlie") }
	atCut := heardByBravo()
	netns.Eventually(t, 10*time.Second, 20*time.Millisecond, func() (bool, string) {
		n := heardByBravo() - atCut
		return n >= 2, fmt.Sprintf("bravo heard %d datagrams from charlie since the cut", n)
	})
	cut, sentSince := rxCount(pa.Output(), "gossip", "charlie"), heardByBravo()
	// Then, while charlie sends 40 more (2 s at one per 50 ms), alpha
	// must hear none of them.
	netns.Eventually(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
		n := heardByBravo() - sentSince
		return n >= 40, fmt.Sprintf("bravo heard %d datagrams from charlie in the window", n)
	})
	if n := rxCount(pa.Output(), "gossip", "charlie") - cut; n != 0 {
		t.Errorf("alpha got %d datagrams from charlie with forwarding off", n)
	}
	// Bravo still hears both directly.
	viaB := rxCount(pa.Output(), "gossip", "bravo")
	healed := time.Now()
	setForward(true)
	d = netns.Eventually(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
		n := rxCount(pa.Output(), "gossip", "charlie") - cut
		return n >= 5, fmt.Sprintf("%d datagrams from charlie since the route came back", n)
	})
	t.Logf("route restored: alpha hears charlie again after %v", time.Since(healed).Round(time.Millisecond))
	if rxCount(pa.Output(), "gossip", "bravo") <= viaB {
		t.Error("alpha stopped hearing bravo")
	}
	_ = d
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
