package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
	case <-time.After(2 * time.Second):
		t.Fatal("no notification")
		return ""
	}
}

func none(t *testing.T, ch <-chan string) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected notification %q", m)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestSDNotifier(t *testing.T) {
	path, ch := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "2000000")
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	var logs bytes.Buffer
	n := newSDNotifier(slog.New(slog.NewTextHandler(&logs, nil)), true)
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		if _, ok := os.LookupEnv(v); ok {
			t.Errorf("%s still in the environment: children would inherit it", v)
		}
	}
	if n.watchdog != 2*time.Second {
		t.Fatalf("watchdog %v", n.watchdog)
	}
	// Before READY=1 a reload says nothing (systemd is still starting us).
	n.Reloading()
	n.ReloadDone("x")
	none(t, ch)
	n.Ready("2 virtual services")
	if m := next(t, ch); m != "READY=1\nSTATUS=2 virtual services" {
		t.Fatalf("ready: %q", m)
	}
	n.Reloading()
	if m := next(t, ch); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reloading: %q", m)
	}
	n.ReloadDone("3 virtual services")
	if m := next(t, ch); m != "READY=1\nSTATUS=3 virtual services" {
		t.Fatalf("reload done: %q", m)
	}
	n.watchdogTick(0)
	if m := next(t, ch); m != "WATCHDOG=1" {
		t.Fatalf("watchdog: %q", m)
	}
	n.watchdogTick(999 * time.Millisecond)
	if m := next(t, ch); m != "WATCHDOG=1" {
		t.Fatalf("watchdog: %q", m)
	}
	// Stuck for half the interval: no feed, logged once.
	n.watchdogTick(time.Second)
	n.watchdogTick(1500 * time.Millisecond)
	none(t, ch)
	if c := strings.Count(logs.String(), "not feeding the systemd watchdog"); c != 1 {
		t.Errorf("stall logged %d times:\n%s", c, logs.String())
	}
	n.watchdogTick(0)
	if m := next(t, ch); m != "WATCHDOG=1" {
		t.Fatalf("watchdog after the stall: %q", m)
	}
	n.Stopping()
	if m := next(t, ch); m != "STOPPING=1" {
		t.Fatalf("stopping: %q", m)
	}
}

func TestSDNotifierDetachedOrOutside(t *testing.T) {
	path, ch := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "1000000")
	n := newSDNotifier(slog.New(slog.DiscardHandler), false)
	if _, ok := os.LookupEnv("NOTIFY_SOCKET"); ok {
		t.Error("a detached daemon leaves NOTIFY_SOCKET to its children")
	}
	n.Ready("x")
	n.watchdogTick(0)
	n.Stopping()
	none(t, ch)

	// Another process's watchdog (WATCHDOG_PID) is not ours to feed.
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "1000000")
	t.Setenv("WATCHDOG_PID", "1")
	n = newSDNotifier(slog.New(slog.DiscardHandler), true)
	if n.watchdog != 0 {
		t.Errorf("watchdog %v for WATCHDOG_PID=1", n.watchdog)
	}
	os.Unsetenv("NOTIFY_SOCKET")
	n = newSDNotifier(slog.New(slog.DiscardHandler), true)
	if n.enabled() {
		t.Error("enabled without NOTIFY_SOCKET")
	}
	n.Ready("x") // must not fail or block
}

func TestJournalHandler(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(newJournalHandler(&b, slog.LevelInfo)).With("cfg", "ldirectord.cf")
	log.Debug("hidden")
	log.Info("Added real server", "server", "10.0.0.2:80")
	log.Warn("Quiescent real server")
	log.Error("multi\nline")
	want := "<6>level=INFO msg=\"Added real server\" cfg=ldirectord.cf server=10.0.0.2:80\n" +
		"<4>level=WARN msg=\"Quiescent real server\" cfg=ldirectord.cf\n" +
		"<3>level=ERROR msg=\"multi\\nline\" cfg=ldirectord.cf\n"
	if b.String() != want {
		t.Fatalf("journal lines:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestJournalStreamDetection(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", "")
	if journalStream(f) {
		t.Fatal("journal without JOURNAL_STREAM")
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	if !journalStream(f) {
		t.Fatal("JOURNAL_STREAM matching the file not detected")
	}
	h, _, err := newLogHandler(false, true, false, "", f)
	if err != nil {
		t.Fatal(err)
	}
	slog.New(h).Warn("to the journal")
	other, _ := os.CreateTemp(t.TempDir(), "other")
	defer other.Close()
	if journalStream(other) {
		t.Fatal("another file taken for the journal stream")
	}
	h2, _, _ := newLogHandler(false, true, false, "", other)
	slog.New(h2).Warn("plain")
	b, _ := os.ReadFile(f.Name())
	if string(b) != "<4>level=WARN msg=\"to the journal\"\n" {
		t.Errorf("journal stream got %q", b)
	}
	b, _ = io.ReadAll(io.NewSectionReader(other, 0, 1<<20))
	if !strings.HasPrefix(string(b), "time=") || !strings.Contains(string(b), `msg=plain`) {
		t.Errorf("plain stream got %q", b)
	}
}

func TestParseArgsExtensions(t *testing.T) {
	for _, c := range []struct {
		args       []string
		fg, debug  bool
		metrics    string
		cmd, cfg   string
		code       int
		done       bool
		errContain string
	}{
		{args: []string{"--foreground", "start"}, fg: true, cmd: "start", cfg: "ldirectord"},
		{args: []string{"-f", "ldirectord.cf", "start"}, fg: true, cmd: "start", cfg: "ldirectord.cf"},
		{args: []string{"-df", "start"}, fg: true, debug: true, cmd: "start", cfg: "ldirectord"},
		{args: []string{"--metrics", "127.0.0.1:9695", "-f", "start"}, fg: true, metrics: "127.0.0.1:9695", cmd: "start", cfg: "ldirectord"},
		{args: []string{"--metrics=[::1]:9695", "x.cf", "status"}, metrics: "[::1]:9695", cmd: "status", cfg: "x.cf"},
		{args: []string{"--metrics"}, code: exitUsage, done: true, errContain: "--metrics needs an address"},
		{args: []string{"--metrics=", "start"}, code: exitUsage, done: true, errContain: "--metrics needs an address"},
	} {
		var out, errb bytes.Buffer
		inv, code, done := parseArgs(c.args, &out, &errb)
		if done != c.done || code != c.code {
			t.Errorf("%v: code %d done %v, want %d %v (%s)", c.args, code, done, c.code, c.done, errb.String())
			continue
		}
		if done {
			if !strings.Contains(errb.String(), c.errContain) {
				t.Errorf("%v: stderr %q", c.args, errb.String())
			}
			continue
		}
		if inv.foreground != c.fg || inv.debug != c.debug || inv.metricsAddr != c.metrics || inv.cmd != c.cmd || inv.cfgName != c.cfg {
			t.Errorf("%v: %+v", c.args, inv)
		}
	}
}
