package garp

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
)

var mac = net.HardwareAddr{0x12, 0x1f, 0x85, 0x80, 0x49, 0x68}

func TestARPFrameMatchesSendArp(t *testing.T) {
	// Bytes captured from Debian's /usr/libexec/heartbeat/send_arp for
	// 10.9.9.1 on an interface with MAC 12:1f:85:80:49:68.
	wantReq, _ := hex.DecodeString("ffffffffffff121f85804968080600010800060400011" +
		"21f858049680a090901000000000000" + "0a090901")
	wantRep, _ := hex.DecodeString("ffffffffffff121f85804968080600010800060400021" +
		"21f858049680a090901121f85804968" + "0a090901")
	ip := netip.MustParseAddr("10.9.9.1")
	req, err := ARPFrame(OpRequest, mac, ip)
	if err != nil || !bytes.Equal(req, wantReq) {
		t.Errorf("request = %x, %v\nwant      %x", req, err, wantReq)
	}
	rep, err := ARPFrame(OpReply, mac, ip)
	if err != nil || !bytes.Equal(rep, wantRep) {
		t.Errorf("reply = %x, %v\nwant    %x", rep, err, wantRep)
	}
	if _, err := ARPFrame(OpRequest, mac[:4], ip); err == nil {
		t.Error("short MAC accepted")
	}
	if _, err := ARPFrame(OpRequest, mac, netip.MustParseAddr("fd00::1")); err == nil {
		t.Error("IPv6 accepted for ARP")
	}
}

func TestNAFrame(t *testing.T) {
	ip := netip.MustParseAddr("fd00:1::5")
	f, err := NAFrame(mac, ip)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 14+40+32 {
		t.Fatalf("length %d", len(f))
	}
	if !bytes.Equal(f[0:6], AllNodesMAC) || !bytes.Equal(f[6:12], mac) || binary.BigEndian.Uint16(f[12:]) != EtherTypeIPv6 {
		t.Errorf("ethernet header %x", f[:14])
	}
	h := f[14:54]
	src, dst := ip.As16(), netip.MustParseAddr("ff02::1").As16()
	if h[0]>>4 != 6 || h[6] != 58 || h[7] != 255 || binary.BigEndian.Uint16(h[4:]) != 32 ||
		!bytes.Equal(h[8:24], src[:]) || !bytes.Equal(h[24:40], dst[:]) {
		t.Errorf("IPv6 header %x", h)
	}
	m := f[54:]
	if m[0] != 136 || m[1] != 0 || m[4] != 0x20 || !bytes.Equal(m[8:24], src[:]) || m[24] != 2 || m[25] != 1 || !bytes.Equal(m[26:32], mac) {
		t.Errorf("ICMPv6 message %x", m)
	}
	// The checksum over pseudo-header and message (checksum included) is 0xffff.
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	add(src[:])
	add(dst[:])
	add([]byte{0, 0, 0, 32, 0, 0, 0, 58})
	add(m)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		t.Errorf("checksum does not verify: %#x", sum)
	}
	if _, err := NAFrame(mac, netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("IPv4 accepted for NA")
	}
}

// fakeConn records frames with their times.
type fakeConn struct {
	mu     sync.Mutex
	frames [][]byte
	addrs  []net.Addr
	times  []time.Time
	closed bool
}

func (c *fakeConn) WriteTo(b []byte, a net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frames = append(c.frames, append([]byte(nil), b...))
	c.addrs = append(c.addrs, a)
	c.times = append(c.times, time.Now())
	return len(b), nil
}

func (c *fakeConn) Close() error { c.closed = true; return nil }

func TestAnnouncerIPv4(t *testing.T) {
	fc := &fakeConn{}
	var gotType uint16
	a := &Announcer{
		Open:   func(ifi *net.Interface, et uint16) (Conn, error) { gotType = et; return fc, nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ifi := &net.Interface{Name: "eth9", HardwareAddr: mac}
	start := time.Now()
	if err := a.Announce(context.Background(), ifi, netip.MustParseAddr("10.1.2.3"), 3, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if gotType != EtherTypeARP || !fc.closed {
		t.Errorf("ethertype %#x closed %v", gotType, fc.closed)
	}
	if len(fc.frames) != 6 {
		t.Fatalf("%d frames, want 3 rounds x (request, reply)", len(fc.frames))
	}
	for i, f := range fc.frames {
		op := binary.BigEndian.Uint16(f[20:22])
		if want := uint16(OpRequest + i%2); op != want {
			t.Errorf("frame %d op %d, want %d", i, op, want)
		}
		if pa := fc.addrs[i].(*packet.Addr); !bytes.Equal(pa.HardwareAddr, Broadcast) {
			t.Errorf("frame %d sent to %v", i, pa.HardwareAddr)
		}
	}
	// 5 gaps of interval/2: about 250 ms; no tight bound.
	if d := fc.times[5].Sub(fc.times[0]); d < 200*time.Millisecond || time.Since(start) > 2*time.Second {
		t.Errorf("burst spans %v", d)
	}
}

func TestAnnouncerIPv6AndCancel(t *testing.T) {
	fc := &fakeConn{}
	var gotType uint16
	a := &Announcer{Open: func(ifi *net.Interface, et uint16) (Conn, error) { gotType = et; return fc, nil }}
	ifi := &net.Interface{Name: "eth9", HardwareAddr: mac}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	err := a.Announce(ctx, ifi, netip.MustParseAddr("fd00::7"), 100, 100*time.Millisecond)
	if err == nil {
		t.Error("cancelled burst returned nil")
	}
	if gotType != EtherTypeIPv6 {
		t.Errorf("ethertype %#x", gotType)
	}
	if n := len(fc.frames); n < 2 || n > 4 {
		t.Errorf("%d frames in 250ms at 100ms interval", n)
	}
	if pa := fc.addrs[0].(*packet.Addr); !bytes.Equal(pa.HardwareAddr, AllNodesMAC) {
		t.Errorf("NA sent to %v", pa.HardwareAddr)
	}
	if !fc.closed {
		t.Error("conn not closed")
	}
}
