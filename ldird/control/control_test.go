package control

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"lvsha/internal/cfgerr"
)

// fakeBackend stands in for the daemon.
type fakeBackend struct {
	mu      sync.Mutex
	status  string
	conns   string
	reload  error
	reloads int
}

func (f *fakeBackend) WriteStatus(w io.Writer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status == "" {
		return errors.New("table unreadable")
	}
	_, err := io.WriteString(w, f.status)
	return err
}

func (f *fakeBackend) WriteConnections(w io.Writer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == "" {
		return errors.New("no table")
	}
	_, err := io.WriteString(w, f.conns)
	return err
}

func (f *fakeBackend) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.reload
}

func (f *fakeBackend) set(status string, reload error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.reload = status, reload
}

// serve starts a server on a fresh socket.
func serve(t *testing.T, b Backend) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ldird.test.sock")
	s, err := Listen(path, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestStatusAndReload(t *testing.T) {
	b := &fakeBackend{status: "IP Virtual Server version 1.2.1 (size=4096)\nTCP  10.0.0.1:80 rr\n"}
	_, path := serve(t, b)
	var out bytes.Buffer
	if err := Status(path, &out); err != nil || out.String() != b.status {
		t.Fatalf("status %q, %v", out.String(), err)
	}
	b.set("", nil)
	out.Reset()
	if err := Status(path, &out); err != nil || out.String() != "error: table unreadable\n" {
		t.Errorf("status of a failing backend %q, %v", out.String(), err)
	}

	for _, c := range []struct {
		name     string
		backend  error
		problems []string // nil: applied
	}{
		{"applied", nil, nil},
		{"file errors, one line each", cfgerr.Errors{
			{File: "/etc/ha.d/x.cf", Line: 3, Msg: "unknown directive \"foo\""},
			{File: "/etc/ha.d/x.cf", Line: 9, Msg: "two\nlines"},
		}, []string{`/etc/ha.d/x.cf:3: unknown directive "foo"`, "/etc/ha.d/x.cf:9: two; lines"}},
		{"joined", errors.Join(errors.New("a"), errors.New("b")), []string{"a", "b"}},
		{"one wrapped multi-line error stays one line", fmt.Errorf("checks: %w", errors.Join(errors.New("a"), errors.New("b"))), []string{"checks: a; b"}},
		{"still starting", ErrStarting, []string{ErrStarting.Error()}},
	} {
		b.set("x", c.backend)
		err := Reload(path)
		var refused *RefusedError
		switch {
		case c.problems == nil && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.problems != nil && !errors.As(err, &refused):
			t.Errorf("%s: %v, want a refusal", c.name, err)
		case c.problems != nil && strings.Join(refused.Problems, "|") != strings.Join(c.problems, "|"):
			t.Errorf("%s: problems %q, want %q", c.name, refused.Problems, c.problems)
		}
	}
	b.mu.Lock()
	if b.reloads != 5 {
		t.Errorf("backend reloaded %d times, want 5", b.reloads)
	}
	b.mu.Unlock()
	// The connection table, and its error.
	b.mu.Lock()
	b.conns = "IPVS connection entries\npro expire state\n"
	b.mu.Unlock()
	out.Reset()
	if err := Connections(path, &out); err != nil || out.String() != b.conns {
		t.Errorf("connections %q, %v", out.String(), err)
	}
	b.mu.Lock()
	b.conns = ""
	b.mu.Unlock()
	out.Reset()
	if err := Connections(path, &out); err != nil || out.String() != "error: no table\n" {
		t.Errorf("connections of a failing backend %q, %v", out.String(), err)
	}
	// An unknown request is answered as such.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, "flush")
	got, _ := io.ReadAll(c)
	if string(got) != "error: unknown request\n" {
		t.Errorf("unknown request answered %q", got)
	}
}

// fakeDaemon answers every connection with answer (or closes it).
func fakeDaemon(t *testing.T, answer string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			_, _ = c.Read(buf)
			io.WriteString(c, answer)
			c.Close()
		}
	}()
	return path
}

func TestReloadClient(t *testing.T) {
	if err := Reload(filepath.Join(t.TempDir(), "none.sock")); !errors.Is(err, ErrNotServed) {
		t.Errorf("no socket: %v", err)
	}
	if err := Reload(fakeDaemon(t, "error: unknown request\n")); !errors.Is(err, ErrNotServed) {
		t.Errorf("an ldird without reload: %v", err)
	}
	err := Reload(fakeDaemon(t, ""))
	if err == nil || errors.Is(err, ErrNotServed) || err.Error() != "no answer from the daemon: connection closed" {
		t.Errorf("no answer: %v", err)
	}
	if err := Status(filepath.Join(t.TempDir(), "none.sock"), io.Discard); err == nil {
		t.Error("status without a daemon")
	}
}

// TestSocketNeverOpen binds with umask 0, under which a plain bind would
// make the socket 0777, and looks at the socket between bind and rename:
// it is reachable only through a directory nobody else may enter, and it
// appears at its path with mode 0600.
func TestSocketNeverOpen(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "ldird.x.sock")
	checked := false
	s, err := listen(path, &fakeBackend{status: "x"}, nil, listenHooks{chmod: os.Chmod, bound: func(tmp string) {
		checked = true
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("socket at its path before its mode is set: %v", err)
		}
		fi, err := os.Stat(filepath.Dir(tmp))
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(filepath.Dir(tmp)) != dir || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("socket bound in %s (mode %v): not a private directory next to %s", filepath.Dir(tmp), fi.Mode().Perm(), path)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Getuid() {
			t.Errorf("private directory owned by uid %d", st.Uid)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !checked {
		t.Fatal("bound hook not called")
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != Mode {
		t.Errorf("socket mode %v, want socket %v", fi.Mode(), Mode)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("left in the run directory: %v", ents)
	}
	go s.Serve()
	var out bytes.Buffer
	if err := Status(path, &out); err != nil || out.String() != "x" {
		t.Errorf("status through the renamed socket: %q %v", out.String(), err)
	}
}

func TestModeFailureRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ldird.x.sock")
	_, err := listen(path, &fakeBackend{}, nil, listenHooks{chmod: func(string, fs.FileMode) error { return fs.ErrPermission }})
	if err == nil || !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "set mode") {
		t.Fatalf("chmod failure: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

func TestStaleInUseAndForeign(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ldird.x.sock")
	// A stale socket (its daemon killed) is replaced.
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s, err := Listen(path, &fakeBackend{status: "new"}, nil)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	go s.Serve()
	// A second daemon for the same configuration is refused.
	if _, err := Listen(path, &fakeBackend{}, nil); err == nil || !strings.Contains(err.Error(), "in use by another ldird") {
		t.Errorf("second listener: %v", err)
	}
	// Close removes our socket only.
	s.Close()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	s, err = Listen(path, &fakeBackend{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if b, err := os.ReadFile(path); err != nil || string(b) != "someone else's" {
		t.Errorf("Close removed a file that is not its socket: %v", err)
	}
	// Anything but a socket at the path is not replaced.
	if _, err := Listen(path, &fakeBackend{}, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file at the path: %v", err)
	}
}

// TestConnectionsOlderDaemon: a daemon that does not know the request is
// told apart from an empty table.
func TestConnectionsOlderDaemon(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "error: unknown request\n")
	}()
	var out bytes.Buffer
	if err := Connections(path, &out); !errors.Is(err, ErrNotConnections) || out.Len() != 0 {
		t.Fatalf("older daemon: %v, output %q", err, out.String())
	}
}
