package netns

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Paths of the real Heartbeat 3.0.6 from Debian 12 (package heartbeat
// 1:3.0.6-13+b2).
const (
	HeartbeatBinary = "/usr/libexec/heartbeat/heartbeat"
	ClStatusBinary  = "/usr/bin/cl_status"
)

// HeartbeatStartTimeout bounds StartHeartbeat's wait for the API socket.
const HeartbeatStartTimeout = 15 * time.Second

// HeartbeatAvailable returns the path of the real Heartbeat daemon and
// whether it and cl_status are installed (scripts/deps.sh installs them).
func HeartbeatAvailable() (string, bool) {
	for _, p := range []string{HeartbeatBinary, "/usr/lib/heartbeat/heartbeat"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			if _, err := os.Stat(ClStatusBinary); err != nil {
				return p, false
			}
			return p, true
		}
	}
	return "", false
}

// StartHeartbeat starts the real Heartbeat daemon in the node, in the
// foreground (`heartbeat -f`, as its systemd unit does), and waits until its
// API socket /run/heartbeat/register accepts connections (so cl_status
// works), at most HeartbeatStartTimeout. The caller must have written
// /etc/ha.d/ha.cf and /etc/ha.d/authkeys; StartHeartbeat creates an empty
// /etc/ha.d/haresources when there is none (Heartbeat refuses to start
// without one), forces authkeys to mode 0600 (it refuses other modes), and
// removes a stale /run/heartbeat.pid (PIDs are the host's, so a stale one
// could name a live unrelated process and make Heartbeat think it is already
// running). Stop it with Proc.Stop (SIGTERM is what `heartbeat -k` sends) or
// Proc.Kill for a crash; its helper processes die with it.
func (n *Node) StartHeartbeat() (*Proc, error) {
	bin, ok := HeartbeatAvailable()
	if !ok {
		return nil, errors.New("netns: real Heartbeat not installed (run scripts/deps.sh)")
	}
	for _, f := range []string{"/etc/ha.d/ha.cf", "/etc/ha.d/authkeys"} {
		hp, _ := n.HostPath(f)
		if _, err := os.Stat(hp); err != nil {
			return nil, fmt.Errorf("netns: node %s: %s: %w", n.Name, f, err)
		}
	}
	keys, _ := n.HostPath("/etc/ha.d/authkeys")
	if err := os.Chmod(keys, 0o600); err != nil {
		return nil, err
	}
	hr, _ := n.HostPath("/etc/ha.d/haresources")
	if _, err := os.Stat(hr); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(hr, nil, 0o644); err != nil {
			return nil, err
		}
	}
	n.mu.Lock()
	for _, p := range n.procs {
		if p.Name == bin && !p.Exited() {
			n.mu.Unlock()
			return nil, fmt.Errorf("netns: node %s: heartbeat already running (pid %d)", n.Name, p.PID)
		}
	}
	n.mu.Unlock()
	pidFile, _ := n.HostPath("/run/heartbeat.pid")
	sock, _ := n.HostPath("/run/heartbeat/register")
	_ = os.Remove(pidFile)
	_ = os.Remove(sock)

	p, err := n.Start(bin, "-f")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(HeartbeatStartTimeout)
	for {
		if p.Exited() {
			return nil, fmt.Errorf("netns: node %s: heartbeat exited at start-up (%v); output:\n%s", n.Name, p.err, tail(p.Output(), 3000))
		}
		if socketAccepts(sock) && pidFileIs(pidFile, p.PID) {
			return p, nil
		}
		if time.Now().After(deadline) {
			_ = p.Kill()
			return nil, fmt.Errorf("netns: node %s: heartbeat API socket not ready within %v; output:\n%s", n.Name, HeartbeatStartTimeout, tail(p.Output(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StartHeartbeats starts the real Heartbeat on all nodes at once (see
// StartHeartbeat) and returns their processes in the same order. Starting
// them one after the other would let the first one's initdead run out
// before the second one is up (each takes 1.2-1.6 s to open its API socket).
func StartHeartbeats(nodes ...*Node) ([]*Proc, error) {
	procs := make([]*Proc, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i], errs[i] = n.StartHeartbeat()
		}()
	}
	wg.Wait()
	return procs, errors.Join(errs...)
}

// socketAccepts reports whether a UNIX stream socket at host path p accepts a
// connection. The node's mount namespace is private, but the socket file
// lives on the host file system, and UNIX sockets are not tied to network
// namespaces when reached by path.
func socketAccepts(p string) bool {
	c, err := net.DialTimeout("unix", p, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func pidFileIs(p string, pid int) bool {
	b, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	got, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	return err == nil && got == pid
}

func tail(s string, n int) string {
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.TrimRight(s, "\n")
}
