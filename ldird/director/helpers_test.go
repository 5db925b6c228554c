package director

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

const baseCf = `checkinterval=1
checktimeout=1
%s
virtual=10.0.0.100:80
	real=10.0.1.2:80 gate 1
	real=10.0.1.3:80 gate 2
	checktype=connect
	%s
`

const (
	svcKey = "tcp 10.0.0.100:80"
	realA  = "10.0.1.2:80"
	realB  = "10.0.1.3:80"
)

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.ParseBytes("test.cf", []byte(text), config.Options{})
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return cfg
}

// logRec is a slog.Handler that keeps "LEVEL message" lines.
type logRec struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRec) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRec) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRec) WithGroup(string) slog.Handler            { return l }
func (l *logRec) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, r.Level.String()+" "+r.Message)
	return nil
}

// take returns the lines logged since the last take.
func (l *logRec) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// with returns the lines that start with one of prefixes (after the level).
func with(lines []string, prefixes ...string) []string {
	out := []string{}
	for _, line := range lines {
		_, msg, _ := strings.Cut(line, " ")
		for _, p := range prefixes {
			if strings.HasPrefix(msg, p) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// lockedFake serialises access to a dataplane.Fake so tests can read the
// recorded calls while the director runs.
type lockedFake struct {
	mu sync.Mutex
	f  *dataplane.Fake
}

func newFake() *lockedFake { return &lockedFake{f: dataplane.NewFake()} }

func (l *lockedFake) do(fn func() error) error { l.mu.Lock(); defer l.mu.Unlock(); return fn() }
func (l *lockedFake) Services() (s []dataplane.Service, err error) {
	err = l.do(func() error { s, err = l.f.Services(); return err })
	return
}
func (l *lockedFake) Dests(svc dataplane.Service) (d []dataplane.Dest, err error) {
	err = l.do(func() error { d, err = l.f.Dests(svc); return err })
	return
}
func (l *lockedFake) AddService(s dataplane.Service) error {
	return l.do(func() error { return l.f.AddService(s) })
}
func (l *lockedFake) UpdateService(s dataplane.Service) error {
	return l.do(func() error { return l.f.UpdateService(s) })
}
func (l *lockedFake) DelService(s dataplane.Service) error {
	return l.do(func() error { return l.f.DelService(s) })
}
func (l *lockedFake) AddDest(s dataplane.Service, d dataplane.Dest) error {
	return l.do(func() error { return l.f.AddDest(s, d) })
}
func (l *lockedFake) UpdateDest(s dataplane.Service, d dataplane.Dest) error {
	return l.do(func() error { return l.f.UpdateDest(s, d) })
}
func (l *lockedFake) DelDest(s dataplane.Service, d dataplane.Dest) error {
	return l.do(func() error { return l.f.DelDest(s, d) })
}
func (l *lockedFake) Close() error { return nil }
func (l *lockedFake) calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string{}, l.f.Calls...)
}
func (l *lockedFake) reset() { l.mu.Lock(); l.f.ResetCalls(); l.mu.Unlock() }

// fakeChecks answers checks from a per-address table. While gate is set,
// every check waits for it to close (entered counts the waiting ones), so
// a test can hold the first check round.
type fakeChecks struct {
	mu      sync.Mutex
	ok      map[string]bool
	gate    chan struct{}
	entered int
}

func (f *fakeChecks) set(ip string, ok bool) { f.mu.Lock(); f.ok[ip] = ok; f.mu.Unlock() }

func (f *fakeChecks) waiting() int { f.mu.Lock(); defer f.mu.Unlock(); return f.entered }

func (f *fakeChecks) Check(ctx context.Context, t check.Target) check.Result {
	f.mu.Lock()
	ok, gate := f.ok[t.IP.String()], f.gate
	if gate != nil {
		f.entered++
	}
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	if ok {
		return check.Result{OK: true, Detail: "fake ok", Latency: time.Millisecond}
	}
	return check.Result{OK: false, Err: fmt.Errorf("fake down"), Latency: time.Millisecond}
}
