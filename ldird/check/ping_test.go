package check

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"lvsha/internal/testenv"
)

// inNetns runs f on a thread moved into a fresh network namespace with lo up
// and a veth pair d0 (10.9.9.1/24) / d1 (no address), so other
// addresses of 10.9.9.0/24 never answer. The
// thread is thrown away afterwards (never unlocked).
func inNetns(t *testing.T, f func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err == nil {
			err = netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "d0"}, PeerName: "d1"})
		}
		if err == nil {
			var d1 netlink.Link
			if d1, err = netlink.LinkByName("d1"); err == nil {
				err = netlink.LinkSetUp(d1)
			}
		}
		var d0 netlink.Link
		if err == nil {
			d0, err = netlink.LinkByName("d0")
		}
		if err == nil {
			err = netlink.AddrAdd(d0, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 9, 9, 1), Mask: net.CIDRMask(24, 32)}})
		}
		if err == nil {
			err = netlink.LinkSetUp(d0)
		}
		if err != nil {
			errc <- err
			return
		}
		f()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		testenv.Skipf(t, "cannot create a network namespace (needs root): %v", err)
	}
}

func TestPing(t *testing.T) {
	inNetns(t, func() {
		c := mustNew(t, Spec{Type: "ping", ConnectTimeout: 500 * time.Millisecond, CheckCount: 2})
		if r := c.Check(t.Context(), Target{IP: netip.MustParseAddr("127.0.0.1")}); !r.OK {
			t.Errorf("ping 127.0.0.1: %v", r.Err)
		}
		if r := c.Check(t.Context(), Target{IP: netip.MustParseAddr("::1")}); !r.OK {
			t.Errorf("ping ::1: %v", r.Err)
		}
		start := time.Now()
		r := c.Check(t.Context(), Target{IP: netip.MustParseAddr("10.9.9.2")})
		if r.OK {
			t.Error("ping of a silent address succeeded")
		}
		// checkcount 2 attempts of checktimeout each.
		if el := time.Since(start); el < 900*time.Millisecond || el > 5*time.Second {
			t.Errorf("2 attempts of 500ms took %s", el)
		}
		// connect on a UDP virtual is a ping (ldirectord's _check_real).
		u := mustNew(t, Spec{Type: "connect", Protocol: "udp", ConnectTimeout: 500 * time.Millisecond})
		if r := u.Check(t.Context(), Target{IP: netip.MustParseAddr("127.0.0.1"), Port: 53}); !r.OK {
			t.Errorf("udp connect (ping) 127.0.0.1: %v", r.Err)
		}
		if r := u.Check(t.Context(), Target{IP: netip.MustParseAddr("10.9.9.3"), Port: 53}); r.OK {
			t.Error("udp connect (ping) of a silent address succeeded")
		}
	})
}
