package sdnotify

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// notifySocket listens like systemd does and returns received datagrams.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

func next(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
		return ""
	}
}

// none checks that nothing was sent. Datagrams on a Unix socket arrive
// before the sender's write returns, so a short grace period is enough.
func none(t *testing.T, ch <-chan string) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected notification %q", m)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestNotifier(t *testing.T) {
	path, ch := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "2000000")
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	var logs bytes.Buffer
	n := New(slog.New(slog.NewTextHandler(&logs, nil)), Options{})
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		if _, ok := os.LookupEnv(v); ok {
			t.Errorf("%s still in the environment: children would inherit it", v)
		}
	}
	if !n.Enabled() || n.Watchdog() != 2*time.Second {
		t.Fatalf("enabled %v, watchdog %v", n.Enabled(), n.Watchdog())
	}
	// Before READY=1 a reload says nothing (systemd is still starting us).
	n.Reloading()
	n.ReloadDone("x")
	none(t, ch)
	n.Ready("2 virtual services")
	if m := next(t, ch); m != "READY=1\nSTATUS=2 virtual services" {
		t.Fatalf("ready: %q", m)
	}
	if !strings.Contains(logs.String(), "told systemd we are ready") {
		t.Errorf("readiness not logged:\n%s", logs.String())
	}
	n.Reloading()
	if m := next(t, ch); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") || strings.HasSuffix(m, "\n") {
		t.Fatalf("reloading: %q", m)
	}
	n.ReloadDone("3 virtual services")
	if m := next(t, ch); m != "READY=1\nSTATUS=3 virtual services" {
		t.Fatalf("reload done: %q", m)
	}
	n.WatchdogTick(0)
	if m := next(t, ch); m != "WATCHDOG=1" {
		t.Fatalf("watchdog: %q", m)
	}
	n.WatchdogTick(999 * time.Millisecond)
	if m := next(t, ch); m != "WATCHDOG=1" {
		t.Fatalf("watchdog: %q", m)
	}
	// Stuck for half the interval: no feed, logged once.
	n.WatchdogTick(time.Second)
	n.WatchdogTick(1500 * time.Millisecond)
	none(t, ch)
	if c := strings.Count(logs.String(), "not feeding the systemd watchdog"); c != 1 {
		t.Errorf("stall logged %d times:\n%s", c, logs.String())
	}
	n.WatchdogTick(0)
	if m := next(t, ch); m != "WATCHDOG=1" {
		t.Fatalf("watchdog after the stall: %q", m)
	}
	if !strings.Contains(logs.String(), "daemon moving again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
	n.Stopping()
	if m := next(t, ch); m != "STOPPING=1" {
		t.Fatalf("stopping: %q", m)
	}
}

func TestReadyWithoutStatus(t *testing.T) {
	path, ch := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	n := New(slog.New(slog.DiscardHandler), Options{})
	n.Ready("")
	if m := next(t, ch); m != "READY=1" {
		t.Fatalf("ready: %q", m)
	}
	// No WATCHDOG_USEC: ticks send nothing.
	n.WatchdogTick(0)
	none(t, ch)
}

func TestKeepEnv(t *testing.T) {
	path, ch := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "3000000")
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	n := New(slog.New(slog.DiscardHandler), Options{KeepEnv: true})
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		if _, ok := os.LookupEnv(v); !ok {
			t.Errorf("%s removed although KeepEnv (a re-executed daemon needs it)", v)
		}
	}
	if n.Watchdog() != 3*time.Second {
		t.Errorf("watchdog %v", n.Watchdog())
	}
	n.Ready("")
	if m := next(t, ch); m != "READY=1" {
		t.Fatalf("ready: %q", m)
	}
}

func TestSilentOrOutside(t *testing.T) {
	path, ch := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "1000000")
	n := New(slog.New(slog.DiscardHandler), Options{Silent: true})
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC"} {
		if _, ok := os.LookupEnv(v); ok {
			t.Errorf("a silent notifier leaves %s to the children", v)
		}
	}
	n.Ready("x")
	n.WatchdogTick(0)
	n.Stopping()
	none(t, ch)

	// Another process's watchdog (WATCHDOG_PID) is not ours to feed.
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "1000000")
	t.Setenv("WATCHDOG_PID", "1")
	n = New(slog.New(slog.DiscardHandler), Options{})
	if n.Watchdog() != 0 {
		t.Errorf("watchdog %v for WATCHDOG_PID=1", n.Watchdog())
	}
	// Malformed settings are logged, and the watchdog stays off.
	var logs bytes.Buffer
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "soon")
	n = New(slog.New(slog.NewTextHandler(&logs, nil)), Options{})
	if n.Watchdog() != 0 || !strings.Contains(logs.String(), "watchdog settings unusable") {
		t.Errorf("WATCHDOG_USEC=soon: watchdog %v, log %q", n.Watchdog(), logs.String())
	}
	os.Unsetenv("NOTIFY_SOCKET")
	n = New(slog.New(slog.DiscardHandler), Options{})
	if n.Enabled() {
		t.Error("enabled without NOTIFY_SOCKET")
	}
	n.Ready("x") // must not fail or block
	n.Reloading()
	n.Stopping()
}

// A socket that went away is logged, not fatal.
func TestSendFailureLogged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone.sock")
	t.Setenv("NOTIFY_SOCKET", path)
	var logs bytes.Buffer
	n := New(slog.New(slog.NewTextHandler(&logs, nil)), Options{})
	n.Stopping()
	if !strings.Contains(logs.String(), "cannot notify systemd") || !strings.Contains(logs.String(), "STOPPING=1") {
		t.Errorf("log %q", logs.String())
	}
}
