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

// ClStatus is the cl_status a node is asked through: a mixed cluster asks
// each node with its own.
type ClStatus bool

const (
	Ours ClStatus = true  // hbd's, as Main built it
	Real ClStatus = false // the real Heartbeat 3.0.6's (netns.ClStatusBinary)
)

func (c ClStatus) path() string {
	if c == Ours {
		return Bin("cl_status")
	}
	return netns.ClStatusBinary
}

// Raw runs cl_status with args in the node, bounded by 8 s, and returns
// its output untouched (for tests that match whole lines).
func (c ClStatus) Raw(n *netns.Node, args ...string) (stdout, stderr string, code int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	return n.Run(ctx, c.path(), args...)
}

// Ask runs cl_status with args in the node and returns its answer trimmed
// and its exit status. When it fails without printing anything on stdout,
// the answer is "stderr: " and what it said there, and when it cannot run
// at all, "error: " and why with status -1: a wait's failure message then
// shows the reason.
func (c ClStatus) Ask(n *netns.Node, args ...string) (string, int) {
	out, errOut, code, err := c.Raw(n, args...)
	if err != nil {
		return "error: " + err.Error(), -1
	}
	if s := strings.TrimSpace(out); s != "" || code == 0 {
		return s, code
	}
	return "stderr: " + strings.TrimSpace(errOut), code
}

// WaitStatus waits until n reports peer's status (nodestatus) as want and
// returns how long it took.
func (c ClStatus) WaitStatus(t testing.TB, n *netns.Node, peer, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return netns.Eventually(t, timeout, 20*time.Millisecond, func() (bool, string) {
		got, _ := c.Ask(n, "nodestatus", peer)
		return got == want, fmt.Sprintf("%s sees %s %q, want %q", n.Name, peer, got, want)
	})
}

// WaitLink waits until n reports its link to peer on link (hblinkstatus)
// as want and returns how long it took.
func (c ClStatus) WaitLink(t testing.TB, n *netns.Node, peer, link, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return netns.Eventually(t, timeout, 20*time.Millisecond, func() (bool, string) {
		got, _ := c.Ask(n, "hblinkstatus", peer, link)
		return got == want, fmt.Sprintf("%s sees link %s/%s %q, want %q", n.Name, peer, link, got, want)
	})
}

// WaitRsc waits until n's rscstatus (Heartbeat's i_hold: none, local,
// foreign or all) is want and returns how long it took.
func (c ClStatus) WaitRsc(t testing.TB, n *netns.Node, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return netns.Eventually(t, timeout, 20*time.Millisecond, func() (bool, string) {
		got, _ := c.Ask(n, "rscstatus")
		return got == want, fmt.Sprintf("%s rscstatus %q, want %q", n.Name, got, want)
	})
}

// Counters reads hbd's `cl_status counters` (an lvsha extension: "name
// value" lines) in the node.
func Counters(t testing.TB, n *netns.Node) map[string]uint64 {
	t.Helper()
	out, code := Ours.Ask(n, "counters")
	if code != 0 {
		t.Fatalf("cl_status counters on %s: exit %d: %s", n.Name, code, out)
	}
	c := map[string]uint64{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			c[f[0]] = v
		}
	}
	return c
}
