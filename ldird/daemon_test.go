package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
	"lvsha/ldird/dataplane/userspace"
)

// TestStatusShowsProxyConnections: with the userspace dataplane, which
// counts connections itself (dataplane.ConnCounter), the status table
// shows a real's open connection in ipvsadm's ActiveConn column.
func TestStatusShowsProxyConnections(t *testing.T) {
	real, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	held := make(chan net.Conn, 1)
	go func() {
		if c, err := real.Accept(); err == nil {
			held <- c
		}
	}()
	p := userspace.New(userspace.Options{Logger: slog.New(slog.DiscardHandler)})
	defer p.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	vport := uint16(free.Addr().(*net.TCPAddr).Port)
	free.Close()
	lo := netip.MustParseAddr("127.0.0.1")
	svc := dataplane.Service{Protocol: "tcp", Addr: lo, Port: vport, Scheduler: "rr"}
	dest := dataplane.Dest{Addr: lo, Port: uint16(real.Addr().(*net.TCPAddr).Port), Weight: 1, Method: "masq"}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	if err := p.AddDest(svc, dest); err != nil {
		t.Fatal(err)
	}
	d := &daemon{dp: p, dpName: config.DataplaneUserspace, log: slog.New(slog.DiscardHandler)}
	d.newDirector("header")
	line := func() string {
		var b bytes.Buffer
		if err := d.WriteStatus(&b); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.Contains(l, "-> "+dest.Key()) {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		t.Fatalf("no line for %s in\n%s", dest.Key(), b.String())
		return ""
	}
	if l := line(); l != fmt.Sprintf("-> %s Masq 1 0 0", dest.Key()) {
		t.Fatalf("before any connection: %q", l)
	}
	c, err := net.Dial("tcp", netip.AddrPortFrom(lo, vport).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case rc := <-held:
		defer rc.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not connect to the real")
	}
	want := fmt.Sprintf("-> %s Masq 1 1 0", dest.Key())
	deadline := time.Now().Add(10 * time.Second)
	for l := line(); l != want; l = line() {
		if time.Now().After(deadline) {
			t.Fatalf("status line %q, want %q", l, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
