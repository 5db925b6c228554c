package hbdlab

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"lvsha/tests/netns"
)

// Net is how a LAN is addressed; each test package has its own subnets so
// their reports cannot be confused.
type Net struct {
	// LAN is eth0's /24 without its last octet: the directors are .1 and
	// .2, the client .10, the VIP .100.
	LAN string
	// HB is the heartbeat links' first two octets: eth1 is HB.1.0/24, eth2
	// HB.2.0/24, alpha .1 and beta .2 on each.
	HB string
	// Attacker puts eth1 on a bridge with a third node, Mallory (.66), who
	// hears and can send every heartbeat on it; without, eth1 is a veth
	// pair like eth2.
	Attacker bool
}

// LAN is the classic two-director lab: alpha and beta heartbeat over eth1
// and eth2 and share the LAN eth0 (a bridge) with a client, which asks the
// VIP over HTTP who serves it.
type LAN struct {
	Alpha, Beta, Client *netns.Node
	Mallory             *netns.Node // with Net.Attacker
	VIP                 string
}

// NewLAN makes the nodes and links of a LAN (it skips the test without
// root and namespaces, as netns.Require says).
func NewLAN(t testing.TB, net Net) *LAN {
	t.Helper()
	netns.Require(t)
	l := &LAN{Alpha: netns.NewNode(t, "alpha"), Beta: netns.NewNode(t, "beta"), Client: netns.NewNode(t, "client"), VIP: net.LAN + ".100"}
	sw := netns.NewSwitch(t, "lan")
	netns.JoinLAN(t, sw, l.Alpha, "eth0", net.LAN+".1/24")
	netns.JoinLAN(t, sw, l.Beta, "eth0", net.LAN+".2/24")
	netns.JoinLAN(t, sw, l.Client, "eth0", net.LAN+".10/24")
	if net.Attacker {
		l.Mallory = netns.NewNode(t, "mallory")
		hb := netns.NewSwitch(t, "hb1")
		netns.JoinLAN(t, hb, l.Alpha, "eth1", net.HB+".1.1/24")
		netns.JoinLAN(t, hb, l.Beta, "eth1", net.HB+".1.2/24")
		netns.JoinLAN(t, hb, l.Mallory, "eth0", net.HB+".1.66/24")
	} else {
		netns.Connect(t, l.Alpha, l.Beta, "eth1", net.HB+".1")
	}
	netns.Connect(t, l.Alpha, l.Beta, "eth2", net.HB+".2")
	return l
}

// Directors are alpha and beta, in that order.
func (l *LAN) Directors() []*netns.Node { return []*netns.Node{l.Alpha, l.Beta} }

// Peer is the other director.
func (l *LAN) Peer(n *netns.Node) *netns.Node {
	if n == l.Alpha {
		return l.Beta
	}
	return l.Alpha
}

// Configure writes both directors' files (see the package's Configure)
// and installs WebScript as resource.d/webserver.
func (l *LAN) Configure(haCF, authkeys, haresources string) {
	for _, n := range l.Directors() {
		Configure(n, haCF, authkeys, haresources)
		n.WriteFile("/etc/ha.d/resource.d/webserver", []byte(WebScript), 0o755)
	}
}

// HasVIP reports whether the node has the VIP on eth0.
func (l *LAN) HasVIP(n *netns.Node) bool {
	out, _, _, _ := n.Run(context.Background(), "ip", "-o", "-4", "addr", "show", "dev", "eth0")
	return strings.Contains(out, " "+l.VIP+"/24")
}

// Holders lists the directors that have the VIP.
func (l *LAN) Holders() []string {
	var h []string
	for _, n := range l.Directors() {
		if l.HasVIP(n) {
			h = append(h, n.Name)
		}
	}
	return h
}

// Get asks the VIP from the client, waiting at most maxTime for the
// answer (curl's --max-time), and returns the serving node's name or
// "(no answer: ...)".
func (l *LAN) Get(maxTime time.Duration) string {
	// curl's own limit ends it; the context only catches a hung exec,
	// with room for a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), max(3*time.Second, maxTime+2*time.Second))
	defer cancel()
	out, _, code, err := l.Client.Run(ctx, "curl", "-s", "--max-time", strconv.FormatFloat(maxTime.Seconds(), 'f', -1, 64), "http://"+l.VIP+"/")
	if err != nil || code != 0 {
		return fmt.Sprintf("(no answer: exit %d %v)", code, err)
	}
	return strings.TrimSpace(out)
}

// WaitServer waits until the client gets want from the VIP (each request
// at most 0.5 s) and returns how long it took.
func (l *LAN) WaitServer(t testing.TB, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return netns.Eventually(t, timeout, 20*time.Millisecond, func() (bool, string) {
		got := l.Get(500 * time.Millisecond)
		return got == want, fmt.Sprintf("client got %q from the VIP, want %q", got, want)
	})
}
