package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type fakeLoop struct{ age atomic.Int64 }

func (f *fakeLoop) LoopAge() time.Duration { return time.Duration(f.age.Load()) }

// TestNotifySystemd runs hbd's notifications against a socket standing in
// for systemd's: READY=1, WATCHDOG=1 while the loop runs, none while it is
// stuck for half the interval; after its context ends (a re-exec) no
// STOPPING=1, only what the caller sends (RELOADING=1 before the re-exec,
// STOPPING=1 on a stop).
func TestNotifySystemd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read := func() string {
		t.Helper()
		buf := make([]byte, 512)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "300000") // ticks every 100 ms
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	loop := &fakeLoop{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := notifySystemd(ctx, loop, slog.New(slog.DiscardHandler))
	if _, ok := os.LookupEnv("NOTIFY_SOCKET"); !ok {
		t.Error("NOTIFY_SOCKET removed: hbd's re-exec would lose systemd")
	}
	if m := read(); m != "READY=1" {
		t.Fatalf("first notification %q", m)
	}
	if m := read(); m != "WATCHDOG=1" {
		t.Fatalf("watchdog %q", m)
	}
	// Stuck for half the interval: the feed stops. Drain what was sent
	// before the stall was seen, then nothing may come for 3 ticks.
	loop.age.Store(int64(200 * time.Millisecond))
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 512)
		_ = c.SetReadDeadline(time.Now().Add(350 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			break // 3 ticks without a datagram
		}
		if string(buf[:n]) != "WATCHDOG=1" || time.Now().After(deadline) {
			t.Fatalf("still fed while stuck: %q", buf[:n])
		}
	}
	loop.age.Store(0)
	if m := read(); m != "WATCHDOG=1" {
		t.Fatalf("watchdog after the stall %q", m)
	}
	// The feed ends with the context and says nothing of its own: a
	// re-exec must not look like a stop to systemd.
	cancel()
	n.Reloading()
	for {
		m := read()
		if strings.HasPrefix(m, "RELOADING=1") {
			break
		}
		if m != "WATCHDOG=1" {
			t.Fatalf("unexpected %q before RELOADING=1", m)
		}
	}
	buf := make([]byte, 512)
	_ = c.SetReadDeadline(time.Now().Add(350 * time.Millisecond))
	if k, err := c.Read(buf); err == nil {
		t.Fatalf("%q sent after the context ended", buf[:k])
	}
	n.Stopping()
	if m := read(); m != "STOPPING=1" {
		t.Fatalf("stop: %q", m)
	}
}
