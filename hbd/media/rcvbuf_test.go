package media

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"lvsha/internal/testenv"
)

// TestListenReceiveBuffer: heartbeat sockets ask for a large receive buffer
// (root gets it past rmem_max), so a burst of forged or retransmitted
// packets does not push real heartbeats out.
func TestListenReceiveBuffer(t *testing.T) {
	c, err := listen(context.Background(), "udp4", "127.0.0.1:0", "", nil)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer c.Close()
	raw, err := c.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	if err := raw.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) }); err != nil || gerr != nil {
		t.Fatalf("getsockopt SO_RCVBUF: %v %v", err, gerr)
	}
	// The kernel reports twice what was set (bookkeeping overhead).
	want := rcvBuf
	if os.Geteuid() != 0 {
		b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
		if err != nil {
			testenv.Skipf(t, "not root and rmem_max unreadable (%v): the cap is unknown", err)
		}
		var max int
		if _, err := fmt.Sscan(string(b), &max); err != nil {
			t.Fatalf("rmem_max %q: %v", b, err)
		}
		want = min(want, max)
	}
	if got < want {
		t.Fatalf("SO_RCVBUF %d, want at least %d", got, want)
	}
	t.Logf("SO_RCVBUF %d bytes", got)
}
