package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	mobyipvs "github.com/moby/ipvs"

	"lvsha/internal/testenv"
	"lvsha/ldird/dataplane"
)

func TestNetmaskIPv4ByteOrder(t *testing.T) {
	// What moby/ipvs puts on the wire is the value in host order; the kernel
	// reads those 4 bytes as a big-endian mask. Check the bytes, not the
	// integer, so the test holds on any host order.
	for _, tc := range []struct {
		prefix int
		bytes  [4]byte
	}{
		{0, [4]byte{255, 255, 255, 255}},
		{32, [4]byte{255, 255, 255, 255}},
		{24, [4]byte{255, 255, 255, 0}},
		{16, [4]byte{255, 255, 0, 0}},
		{1, [4]byte{128, 0, 0, 0}},
	} {
		nm, err := netmaskToKernel(tc.prefix, false)
		if err != nil {
			t.Fatalf("/%d: %v", tc.prefix, err)
		}
		var got [4]byte
		binary.NativeEndian.PutUint32(got[:], nm)
		if got != tc.bytes {
			t.Errorf("/%d: wire bytes %v, want %v", tc.prefix, got, tc.bytes)
		}
		back, err := netmaskFromKernel(nm, false)
		if err != nil {
			t.Fatalf("/%d back: %v", tc.prefix, err)
		}
		want := tc.prefix
		if want == 32 {
			want = 0
		}
		if back != want {
			t.Errorf("/%d read back as %d", tc.prefix, back)
		}
	}
	// The measured fact on this (little-endian) machine: a /24 is 0x00ffffff.
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		if nm, _ := netmaskToKernel(24, false); nm != 0x00ffffff {
			t.Errorf("/24 = %#x, want 0x00ffffff", nm)
		}
	}
}

func TestNetmaskIPv6(t *testing.T) {
	for prefix, want := range map[int]uint32{0: 128, 128: 128, 64: 64, 1: 1} {
		nm, err := netmaskToKernel(prefix, true)
		if err != nil || nm != want {
			t.Errorf("/%d: %d %v, want %d", prefix, nm, err, want)
		}
	}
	if _, err := netmaskToKernel(129, true); err == nil {
		t.Error("/129 accepted")
	}
	if _, err := netmaskToKernel(33, false); err == nil {
		t.Error("ipv4 /33 accepted")
	}
	if _, err := netmaskFromKernel(0, true); err == nil {
		t.Error("ipv6 netmask 0 read back without error")
	}
	if p, err := netmaskFromKernel(48, true); err != nil || p != 48 {
		t.Errorf("ipv6 48 read back as %d %v", p, err)
	}
	// A non-prefix IPv4 mask (255.0.255.0) is reported, not misread.
	if _, err := netmaskFromKernel(binary.NativeEndian.Uint32([]byte{255, 0, 255, 0}), false); err == nil {
		t.Error("non-prefix mask accepted")
	}
}

func TestServiceRoundTrip(t *testing.T) {
	v4 := netip.MustParseAddr("192.168.56.200")
	v6 := netip.MustParseAddr("2001:db8::200")
	cases := []dataplane.Service{
		{Protocol: "tcp", Addr: v4, Port: 80, Scheduler: "wrr"},
		{Protocol: "udp", Addr: v4, Port: 53, Scheduler: "rr"},
		{Protocol: "tcp", Addr: v4, Port: 443, Scheduler: "sh", Persistent: 300 * time.Second, PersistentMask: 24},
		{Protocol: "tcp", Addr: v4, Port: 443, Scheduler: "lc", Persistent: 600 * time.Second},
		{Protocol: "tcp", Addr: v6, Port: 80, IPv6: true, Scheduler: "wlc"},
		{Protocol: "udp", Addr: v6, Port: 53, IPv6: true, Scheduler: "sed", Persistent: time.Minute, PersistentMask: 64},
		{Protocol: "fwm", FWMark: 1, Scheduler: "lblc"},
		{Protocol: "fwm", FWMark: 7, IPv6: true, Scheduler: "nq", Persistent: time.Hour, PersistentMask: 48},
		{Protocol: "udp", Addr: v4, Port: 53, Scheduler: "rr", OnePacket: true},
		{Protocol: "tcp", Addr: v4, Port: 80, Scheduler: "sh", SchedFlags: dataplane.SchedFlag1 | dataplane.SchedFlag2},
		{Protocol: "udp", Addr: v6, Port: 53, IPv6: true, Scheduler: "sh", SchedFlags: dataplane.SchedFlag3, OnePacket: true,
			Persistent: time.Minute, PersistentMask: 64},
	}
	for _, s := range cases {
		k, err := toService(s)
		if err != nil {
			t.Fatalf("%s: %v", s.Key(), err)
		}
		// What the kernel adds on the way back: the hashed flag.
		k.Flags |= svcFlagHashed
		got, err := fromService(k)
		if err != nil {
			t.Fatalf("%s back: %v", s.Key(), err)
		}
		if got != s {
			t.Errorf("round trip\n got %+v\nwant %+v", got, s)
		}
	}
}

func TestToServiceFields(t *testing.T) {
	k, err := toService(dataplane.Service{Protocol: "udp", Addr: netip.MustParseAddr("10.0.0.1"), Port: 53,
		Persistent: 1500 * time.Millisecond, PersistentMask: 24})
	if err != nil {
		t.Fatal(err)
	}
	if k.Protocol != syscall.IPPROTO_UDP || k.AddressFamily != syscall.AF_INET || len(k.Address) != 4 || k.Port != 53 {
		t.Errorf("udp service: %+v", k)
	}
	if k.SchedName != "wlc" {
		t.Errorf("default scheduler %q, want wlc (ipvsadm's)", k.SchedName)
	}
	if k.Flags != svcFlagPersistent || k.Timeout != 2 {
		t.Errorf("persistence: flags %#x timeout %d, want 0x1 and 2 (rounded up)", k.Flags, k.Timeout)
	}

	// Without persistence a mask is meaningless and sent canonical (full).
	k, err = toService(dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("2001:db8::1"), Port: 80, PersistentMask: 64})
	if err != nil {
		t.Fatal(err)
	}
	if k.AddressFamily != syscall.AF_INET6 || k.Netmask != 128 || k.Flags != 0 || len(k.Address) != 16 {
		t.Errorf("v6 service: %+v", k)
	}

	// A v4-mapped address is a v4 service: that is what the kernel reports.
	k, err = toService(dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("::ffff:10.1.2.3"), Port: 80})
	if err != nil || k.AddressFamily != syscall.AF_INET || len(k.Address) != 4 {
		t.Errorf("v4-mapped: %+v %v", k, err)
	}

	k, err = toService(dataplane.Service{Protocol: "fwm", FWMark: 42, IPv6: true, Scheduler: "rr"})
	if err != nil || k.FWMark != 42 || k.Address != nil || k.AddressFamily != syscall.AF_INET6 || k.Netmask != 128 {
		t.Errorf("fwm v6: %+v %v", k, err)
	}

	// Scheduler flags and one-packet scheduling are the kernel's bits
	// (ipvsadm -b flag-1,flag-2 and -o), beside persistence.
	k, err = toService(dataplane.Service{Protocol: "udp", Addr: netip.MustParseAddr("10.0.0.1"), Port: 53, Scheduler: "sh",
		SchedFlags: dataplane.SchedFlag1 | dataplane.SchedFlag2, OnePacket: true, Persistent: time.Second})
	if err != nil || k.Flags != svcFlagPersistent|svcFlagOnePacket|0x0008|0x0010 {
		t.Errorf("flags %#x (%v), want 0x1d", k.Flags, err)
	}

	for _, bad := range []dataplane.Service{
		{Protocol: "tcp", Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, OnePacket: true},
		{Protocol: "sctp", Addr: netip.MustParseAddr("10.0.0.1"), Port: 1},
		{Protocol: "tcp", Port: 80},
		{Protocol: "fwm"},
		{Protocol: "tcp", Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Persistent: time.Second, PersistentMask: 40},
		{Protocol: "tcp", Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Persistent: -time.Second},
		{Protocol: "tcp", Addr: netip.MustParseAddr("fe80::1%eth0"), Port: 80},
	} {
		if _, err := toService(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestFromServiceFlagsMasked(t *testing.T) {
	// A non-persistent service the kernel reports with only the hashed bit
	// must compare equal to what we asked for.
	k := &mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP,
		Address: []byte{10, 0, 0, 1}, Port: 80, SchedName: "rr", Flags: svcFlagHashed,
		Timeout: 0, Netmask: 0xffffffff}
	s, err := fromService(k)
	if err != nil {
		t.Fatal(err)
	}
	want := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Scheduler: "rr"}
	if s != want {
		t.Errorf("got %+v want %+v", s, want)
	}
	// IPv4 read back as 16 bytes (v4-mapped) still yields a v4 address.
	k.Address = netip.MustParseAddr("::ffff:10.0.0.1").AsSlice()
	if s, err := fromService(k); err != nil || s.Addr != want.Addr {
		t.Errorf("16-byte v4: %v %v", s.Addr, err)
	}
	k.AddressFamily = 99
	if _, err := fromService(k); err == nil {
		t.Error("unknown family accepted")
	}
}

func TestDestConversion(t *testing.T) {
	for _, tc := range []struct {
		method string
		flags  uint32
		back   string
	}{
		{"gate", mobyipvs.ConnectionFlagDirectRoute, "gate"},
		{"", mobyipvs.ConnectionFlagDirectRoute, "gate"},
		{"masq", mobyipvs.ConnectionFlagMasq, "masq"},
		{"ipip", mobyipvs.ConnectionFlagTunnel, "ipip"},
	} {
		d := dataplane.Dest{Addr: netip.MustParseAddr("10.0.0.2"), Port: 80, Weight: 65535, Method: tc.method}
		k, err := toDest(d, false)
		if err != nil {
			t.Fatalf("%q: %v", tc.method, err)
		}
		if k.ConnectionFlags != tc.flags || k.Weight != 65535 || len(k.Address) != 4 || k.AddressFamily != syscall.AF_INET {
			t.Errorf("%q: %+v", tc.method, k)
		}
		// The kernel reports extra connection flag bits above the method.
		k.ConnectionFlags |= 0x0100
		got, err := fromDest(k)
		if err != nil {
			t.Fatal(err)
		}
		want := d
		want.Method = tc.back
		if got != want {
			t.Errorf("%q back: %+v want %+v", tc.method, got, want)
		}
	}
	if methodName(mobyipvs.ConnectionFlagLocalNode) != "local" || methodName(mobyipvs.ConnFwdBypass) != "bypass" {
		t.Error("local/bypass names")
	}
	v6 := dataplane.Dest{Addr: netip.MustParseAddr("2001:db8::2"), Port: 8080, Weight: 0, Method: "masq"}
	k, err := toDest(v6, true)
	if err != nil || len(k.Address) != 16 || k.AddressFamily != syscall.AF_INET6 || k.Weight != 0 {
		t.Errorf("v6 dest: %+v %v", k, err)
	}
	for _, bad := range []struct {
		d  dataplane.Dest
		v6 bool
	}{
		{dataplane.Dest{Addr: netip.MustParseAddr("10.0.0.2"), Weight: -1}, false},
		{dataplane.Dest{Addr: netip.MustParseAddr("10.0.0.2"), Weight: 65536}, false},
		{dataplane.Dest{Addr: netip.MustParseAddr("10.0.0.2"), Method: "tun"}, false},
		{dataplane.Dest{Addr: netip.MustParseAddr("10.0.0.2")}, true},
		{dataplane.Dest{Addr: netip.MustParseAddr("2001:db8::2")}, false},
		{dataplane.Dest{}, false},
	} {
		if _, err := toDest(bad.d, bad.v6); err == nil {
			t.Errorf("%+v (v6=%v) accepted", bad.d, bad.v6)
		}
	}
}

func TestMapErr(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		op    op
		want  error
	}{
		{syscall.EEXIST, opAddSvc, dataplane.ErrExist},
		{syscall.EEXIST, opAddDest, dataplane.ErrExist},
		{syscall.ESRCH, opUpdSvc, dataplane.ErrNotExist},
		{syscall.ESRCH, opAddDest, dataplane.ErrNotExist},
		{syscall.ENOENT, opDelDest, dataplane.ErrNotExist},
		{syscall.ENOENT, opDelSvc, dataplane.ErrNotExist},
	} {
		err := mapErr(tc.errno, tc.op)
		if !errors.Is(err, tc.want) || !errors.Is(err, tc.errno) {
			t.Errorf("%v on %s: %v does not wrap %v and the errno", tc.errno, tc.op, err, tc.want)
		}
	}
	if err := mapErr(syscall.EINVAL, opAddSvc); errors.Is(err, dataplane.ErrExist) || errors.Is(err, dataplane.ErrNotExist) {
		t.Errorf("EINVAL mapped to a sentinel: %v", err)
	}
	plain := fmt.Errorf("socket closed")
	if mapErr(plain, opAddSvc) != plain {
		t.Error("non-errno error changed")
	}
}

func TestSchedulers(t *testing.T) {
	s := Schedulers()
	if strings.Join(s, " ") != "rr wrr lc wlc lblc lblcr dh sh sed nq" {
		t.Errorf("schedulers %v", s)
	}
	s[0] = "x"
	if Schedulers()[0] != "rr" {
		t.Error("Schedulers shares its slice")
	}
}

// On this host IPVS may be missing (the CI kernel has none): New must then
// fail with the reason and the way out, not hand back a dead handle.
func TestNewExplainsMissingIPVS(t *testing.T) {
	if Available() == nil {
		testenv.Skip(t, "IPVS is available here; the VM tests cover the working path")
	}
	_, err := New()
	if err == nil {
		t.Fatal("New succeeded although Available failed")
	}
	if !strings.Contains(err.Error(), "dataplane = userspace") {
		t.Errorf("error does not say what to do: %v", err)
	}
}
