package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

type fakeBackend struct {
	mu       sync.Mutex
	nodes    []NodeInfo
	params   map[string]string
	rsc      string
	calls    []string
	failWith error
	panicky  bool
	block    chan struct{}
}

func (f *fakeBackend) Nodes() []NodeInfo { return f.nodes }
func (f *fakeBackend) Param(n string) (string, bool) {
	v, ok := f.params[n]
	return v, ok
}
func (f *fakeBackend) ResourceState() string { return f.rsc }
func (f *fakeBackend) ClientStatus(ctx context.Context, node, client string) (string, error) {
	if client == "slow" {
		<-ctx.Done()
		return "", ctx.Err()
	}
	if node != "alpha" {
		return "", errors.New("no such node")
	}
	return "online", nil
}
func (f *fakeBackend) Counters() map[string]uint64 {
	f.mu.Lock()
	p := f.panicky
	f.mu.Unlock()
	if p {
		panic("boom")
	}
	return map[string]uint64{"rx": 3, "tx": 4}
}
func (f *fakeBackend) record(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	return f.failWith
}
func (f *fakeBackend) Standby(set string) error  { return f.record("standby " + set) }
func (f *fakeBackend) Takeover(set string) error { return f.record("takeover " + set) }
func (f *fakeBackend) Version() string           { return "3.0.6 (lvsha hbd)" }
func (f *fakeBackend) LocalNode() string         { return "alpha" }

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func newFake() *fakeBackend {
	return &fakeBackend{
		nodes: []NodeInfo{
			{Name: "alpha", Type: "normal", Status: "active", Weight: 100, Links: []LinkInfo{{"eth0", "up"}}},
			{Name: "10.0.0.1", Type: "ping", Status: "ping", Weight: 100, Links: []LinkInfo{{"10.0.0.1", "up"}}},
		},
		params: map[string]string{"keepalive": "2", "deadtime": "30", "hbversion": "3.0.6", "pacemaker": "false"},
		rsc:    "all",
	}
}

func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hbdapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "run", "hbd.sock")
}

// start runs a server; mod may adjust it before serving.
func start(t *testing.T, b Backend, mod func(*Server)) (*Server, *testenv.Buffer) {
	t.Helper()
	lg := &testenv.Buffer{}
	s, err := NewServer(sockPath(t), b, slog.New(slog.NewTextHandler(lg, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return s, lg
}

func TestClientRoundTrip(t *testing.T) {
	f := newFake()
	s, lg := start(t, f, nil)
	c, err := Dial(s.Path(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if h := c.Hello(); h.Node != "alpha" || h.DeadtimeMS != 30000 || h.KeepaliveMS != 2000 || h.Version != "3.0.6 (lvsha hbd)" {
		t.Errorf("hello = %+v", h)
	}
	nodes, err := c.Nodes()
	if err != nil || len(nodes) != 2 || nodes[1].Links[0].Name != "10.0.0.1" {
		t.Errorf("Nodes = %+v, %v", nodes, err)
	}
	if v, ok, err := c.Param("keepalive"); v != "2" || !ok || err != nil {
		t.Errorf("Param keepalive = %q %v %v", v, ok, err)
	}
	if v, ok, err := c.Param("nosuch"); v != "" || ok || err != nil {
		t.Errorf("Param nosuch = %q %v %v", v, ok, err)
	}
	if v, ok, _ := c.Param("crm"); v != "false" || !ok {
		t.Errorf("Param crm (alias of pacemaker) = %q %v", v, ok)
	}
	if v, err := c.ResourceState(); v != "all" || err != nil {
		t.Errorf("ResourceState = %q %v", v, err)
	}
	if v, err := c.ClientStatus(context.Background(), "alpha", "ipfail"); v != "online" || err != nil {
		t.Errorf("ClientStatus = %q %v", v, err)
	}
	if _, err := c.ClientStatus(context.Background(), "beta", "ipfail"); err == nil || err.Error() != "no such node" {
		t.Errorf("ClientStatus beta err = %v", err)
	}
	t0 := time.Now()
	if _, err := c.ClientStatusWait(context.Background(), "alpha", "slow", 50*time.Millisecond); err == nil || time.Since(t0) > 2*time.Second {
		t.Errorf("slow ClientStatus: err=%v after %v", err, time.Since(t0))
	}
	if m, err := c.Counters(); m["tx"] != 4 || err != nil {
		t.Errorf("Counters = %v %v", m, err)
	}
	if v, err := c.Version(); v != "3.0.6 (lvsha hbd)" || err != nil {
		t.Errorf("Version = %q %v", v, err)
	}
	for _, set := range []string{"all", "foreign", "local"} {
		if err := c.Standby(set); err != nil {
			t.Errorf("Standby(%s): %v", set, err)
		}
	}
	for _, set := range []string{"all", "foreign", "local", "failback"} {
		if err := c.Takeover(set); err != nil {
			t.Errorf("Takeover(%s): %v", set, err)
		}
	}
	var e *Error
	if err := c.Standby("failback"); !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Errorf("Standby(failback) err = %v", err)
	}
	if err := c.Takeover("bogus"); !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Errorf("Takeover(bogus) err = %v", err)
	}
	want := "standby all,standby foreign,standby local,takeover all,takeover foreign,takeover local,takeover failback"
	if got := strings.Join(f.Calls(), ","); got != want {
		t.Errorf("backend calls = %s", got)
	}
	f.mu.Lock()
	f.failWith = errors.New("no resources here")
	f.mu.Unlock()
	if err := c.Standby("all"); !errors.As(err, &e) || e.Code != CodeFailed || e.Msg != "no resources here" {
		t.Errorf("failing Standby err = %v", err)
	}
	log := lg.String()
	if !strings.Contains(log, "op=standby set=foreign uid=") || !strings.Contains(log, "pid=") {
		t.Errorf("state change not logged with uid/pid:\n%s", log)
	}
}

func TestAuthorize(t *testing.T) {
	const hacl = 90
	withGroup := &authorizer{
		groupGID: func() (uint32, bool) { return hacl, true },
		groups: func(c Cred) []uint32 {
			if c.UID == 1001 {
				return []uint32{100, hacl}
			}
			return []uint32{100}
		},
	}
	noGroup := &authorizer{groupGID: func() (uint32, bool) { return 0, false }, groups: func(Cred) []uint32 { return nil }}
	tests := []struct {
		name string
		a    *authorizer
		cred Cred
		op   string
		want string // "" allowed, else the error message prefix
	}{
		{"root reads", withGroup, Cred{UID: 0, GID: 0}, opNodes, ""},
		{"root standby", withGroup, Cred{UID: 0, GID: 0}, opStandby, ""},
		{"root takeover, no group", noGroup, Cred{UID: 0, GID: 5}, opTakeover, ""},
		{"primary gid haclient reads", withGroup, Cred{UID: 1000, GID: hacl}, opHello, ""},
		{"supplementary haclient reads", withGroup, Cred{UID: 1001, GID: 100}, opParam, ""},
		{"haclient standby", withGroup, Cred{UID: 1000, GID: hacl}, opStandby, "permission denied: only root may change resource state"},
		{"haclient takeover", withGroup, Cred{UID: 1001, GID: 100}, opTakeover, "permission denied: only root may change resource state"},
		{"stranger reads", withGroup, Cred{UID: 1002, GID: 100}, opNodes, "permission denied: uid 1002 is neither root nor in group haclient"},
		{"stranger standby", withGroup, Cred{UID: 1002, GID: 100}, opStandby, "permission denied: only root may change resource state"},
		{"no group, non-root reads", noGroup, Cred{UID: 1000, GID: 100}, opHello, "permission denied: only root may query hbd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.a.authorize(tt.cred, tt.op)
			switch {
			case tt.want == "" && e != nil:
				t.Errorf("denied: %v", e)
			case tt.want != "" && e == nil:
				t.Errorf("allowed, want %q", tt.want)
			case tt.want != "" && (e.Code != CodeDenied || !strings.HasPrefix(e.Msg, tt.want)):
				t.Errorf("got %s %q, want denied %q", e.Code, e.Msg, tt.want)
			}
		})
	}
}

// TestDeniedOverSocket injects a non-root peer into a real server.
func TestDeniedOverSocket(t *testing.T) {
	f := newFake()
	s, lg := start(t, f, func(s *Server) {
		s.peerCred = func(*net.UnixConn) (Cred, error) { return Cred{UID: 1000, GID: 90, PID: 4242}, nil }
		s.auth = &authorizer{groupGID: func() (uint32, bool) { return 90, true }, groups: func(Cred) []uint32 { return nil }}
	})
	c, err := Dial(s.Path(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Nodes(); err != nil {
		t.Errorf("haclient member may read: %v", err)
	}
	for _, call := range []func() error{func() error { return c.Standby("all") }, func() error { return c.Takeover("local") }} {
		err := call()
		if !IsDenied(err) || err.Error() != "permission denied: only root may change resource state" {
			t.Errorf("err = %v", err)
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("backend reached: %v", calls)
	}
	if log := lg.String(); !strings.Contains(log, "control request refused") || !strings.Contains(log, "uid=1000") || !strings.Contains(log, "pid=4242") {
		t.Errorf("refusal not logged:\n%s", log)
	}

	// A stranger cannot even sign on.
	s.mu.Lock()
	s.peerCred = func(*net.UnixConn) (Cred, error) { return Cred{UID: 1002, GID: 100, PID: 1}, nil }
	s.mu.Unlock()
	if _, err := Dial(s.Path(), time.Second); !IsDenied(err) {
		t.Errorf("stranger Dial err = %v", err)
	}
}

// raw sends lines on one connection and returns the decoded replies.
func raw(t *testing.T, path string, payload string, n int) []response {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if payload != "" {
		// A server that refuses the connection (busy) answers and closes
		// without reading the request: the write may then fail while the
		// answer waits to be read.
		if _, err := io.WriteString(c, payload); err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(c)
	var out []response
	for i := 0; i < n; i++ {
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		var r response
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("reply %d %q: %v", i, line, err)
		}
		out = append(out, r)
	}
	return out
}

func TestMalformedRequests(t *testing.T) {
	f := newFake()
	s, _ := start(t, f, nil)
	tests := []struct {
		name, line, code string
	}{
		{"not json", "garbage", CodeBadRequest},
		{"json array", "[1,2]", CodeBadRequest},
		{"truncated", `{"v":1,"op":"nodes"`, CodeBadRequest},
		{"unknown field", `{"v":1,"op":"nodes","evil":true}`, CodeBadRequest},
		{"wrong version", `{"v":2,"op":"nodes"}`, CodeBadVersion},
		{"no version", `{"op":"nodes"}`, CodeBadVersion},
		{"unknown op", `{"v":1,"op":"rm -rf"}`, CodeBadRequest},
		{"param without name", `{"v":1,"op":"param"}`, CodeBadRequest},
		{"clientstatus without client", `{"v":1,"op":"clientstatus","node":"alpha"}`, CodeBadRequest},
		{"standby bad set", `{"v":1,"op":"standby","set":"everything"}`, CodeBadRequest},
		{"takeover empty set", `{"v":1,"op":"takeover"}`, CodeBadRequest},
		{"wrong type", `{"v":"1","op":"nodes"}`, CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The bad line, then a good one on the same connection: the
			// server answers both and keeps going.
			rs := raw(t, s.Path(), tt.line+"\n"+`{"v":1,"id":9,"op":"rsc"}`+"\n", 2)
			if rs[0].OK || rs[0].Error == nil || rs[0].Error.Code != tt.code {
				t.Errorf("reply = %+v, want code %s", rs[0], tt.code)
			}
			if !rs[1].OK || rs[1].ID != 9 || rs[1].Value != "all" {
				t.Errorf("follow-up reply = %+v", rs[1])
			}
		})
	}
	if len(f.Calls()) != 0 {
		t.Errorf("backend state changed: %v", f.Calls())
	}

	t.Run("blank lines ignored, pipelined", func(t *testing.T) {
		rs := raw(t, s.Path(), "\n\n"+`{"v":1,"id":1,"op":"version"}`+"\n"+`{"v":1,"id":2,"op":"nodes"}`+"\n", 2)
		if rs[0].ID != 1 || rs[0].Value != "3.0.6 (lvsha hbd)" || rs[1].ID != 2 || len(rs[1].Nodes) != 2 {
			t.Errorf("replies = %+v", rs)
		}
	})
	t.Run("last request without newline", func(t *testing.T) {
		c, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, `{"v":1,"id":5,"op":"rsc"}`)
		c.(*net.UnixConn).CloseWrite()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		var r response
		if err := json.Unmarshal(b, &r); err != nil || !r.OK || r.ID != 5 {
			t.Errorf("reply %q: %v", b, err)
		}
	})
	t.Run("oversized request", func(t *testing.T) {
		c, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			big := `{"v":1,"op":"param","name":"` + strings.Repeat("x", MaxRequest) + "\"}\n"
			io.WriteString(c, big)
		}()
		br := bufio.NewReader(c)
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		var r response
		json.Unmarshal(line, &r)
		if r.Error == nil || r.Error.Code != CodeTooLarge {
			t.Errorf("reply = %s", line)
		}
		if _, err := br.ReadBytes('\n'); err == nil {
			t.Error("connection not closed after an oversized request")
		}
	})
	t.Run("backend panic", func(t *testing.T) {
		f.mu.Lock()
		f.panicky = true
		f.mu.Unlock()
		rs := raw(t, s.Path(), `{"v":1,"id":3,"op":"counters"}`+"\n", 1)
		f.mu.Lock()
		f.panicky = false
		f.mu.Unlock()
		if rs[0].Error == nil || rs[0].Error.Code != CodeInternal || rs[0].ID != 3 {
			t.Errorf("reply = %+v", rs[0])
		}
		if rs := raw(t, s.Path(), `{"v":1,"op":"counters"}`+"\n", 1); !rs[0].OK {
			t.Errorf("server unhealthy after panic: %+v", rs[0])
		}
	})
}

func TestIdleTimeoutAndBusy(t *testing.T) {
	oldIdle, oldMax := IdleTimeout, MaxConns
	IdleTimeout, MaxConns = 300*time.Millisecond, 1
	s, _ := start(t, newFake(), nil)
	IdleTimeout, MaxConns = oldIdle, oldMax

	held, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// An answer on the held connection proves the server serves it, so
	// it holds the only slot.
	held.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(held, `{"v":1,"op":"rsc"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(held)
	line, err := br.ReadBytes('\n')
	var r response
	if err != nil || json.Unmarshal(line, &r) != nil || !r.OK {
		t.Fatalf("held connection: %q %v", line, err)
	}
	rs := raw(t, s.Path(), "", 1)
	if rs[0].Error == nil || rs[0].Error.Code != CodeBusy {
		t.Errorf("second connection: %+v", rs[0])
	}
	// The idle connection is dropped after IdleTimeout, freeing the slot.
	if _, err := br.ReadByte(); err == nil {
		t.Error("idle connection not closed")
	}
	// The slot is released just after the close the client saw: retry
	// while the server still says busy.
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs := raw(t, s.Path(), `{"v":1,"op":"rsc"}`+"\n", 1)
		if rs[0].OK {
			break
		}
		if rs[0].Error == nil || rs[0].Error.Code != CodeBusy || time.Now().After(deadline) {
			t.Fatalf("after idle close: %+v", rs[0])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSocketLifecycle(t *testing.T) {
	path := sockPath(t)
	t.Run("not running", func(t *testing.T) {
		_, err := Dial(path, time.Second)
		if !errors.Is(err, ErrNotRunning) {
			t.Errorf("err = %v", err)
		}
	})
	// A stale socket (nobody listening) is replaced.
	os.MkdirAll(filepath.Dir(path), 0o755)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := Dial(path, time.Second); !errors.Is(err, ErrNotRunning) {
		t.Errorf("stale socket: err = %v", err)
	}
	s, err := NewServer(path, newFake(), nil)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lookupGroup(); !ok && fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600 without group %s", fi.Mode().Perm(), Group)
	}
	// A live one is not.
	if _, err := NewServer(path, newFake(), nil); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Errorf("second server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	c, err := Dial(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket not removed: %v", err)
	}
	// A regular file in the way is left alone.
	os.WriteFile(path, []byte("x"), 0o644)
	if _, err := NewServer(path, newFake(), nil); err == nil {
		t.Error("regular file replaced")
	}
	// The parent directory is created 0755.
	deep := filepath.Join(filepath.Dir(path), "a", "b", "hbd.sock")
	s2, err := NewServer(deep, newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s2.ln.Close()
	if fi, err := os.Stat(filepath.Dir(deep)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("parent dir: %v %v", fi.Mode(), err)
	}
}

func TestParseMillis(t *testing.T) {
	for in, want := range map[string]int64{"2": 2000, "30": 30000, "1.5": 1500, "500ms": 500, "2000000us": 2000, "3s": 3000, " 10 ": 10000} {
		if got, err := ParseMillis(in); got != want || err != nil {
			t.Errorf("ParseMillis(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "ms"} {
		if _, err := ParseMillis(bad); err == nil {
			t.Errorf("ParseMillis(%q) accepted", bad)
		}
	}
}

func TestProcGroups(t *testing.T) {
	p := filepath.Join(t.TempDir(), "status")
	os.WriteFile(p, []byte("Name:\tsh\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\nGroups:\t24 90 100 \n"), 0o644)
	gs, ok := procGroups(p, 1000)
	if !ok || len(gs) != 3 || gs[1] != 90 {
		t.Errorf("procGroups = %v %v", gs, ok)
	}
	if _, ok := procGroups(p, 1001); ok {
		t.Error("uid mismatch (pid reuse) accepted")
	}
	// The real thing: our own process.
	if _, ok := procGroups("/proc/self/status", uint32(os.Geteuid())); !ok {
		t.Log("no /proc here")
	}
	if _, err := peerCredSelf(t); err != nil {
		t.Error(err)
	}
}

// peerCredSelf checks SO_PEERCRED over a socketpair-like connection.
func peerCredSelf(t *testing.T) (Cred, error) {
	path := sockPath(t)
	os.MkdirAll(filepath.Dir(path), 0o755)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return Cred{}, err
	}
	defer ln.Close()
	// The client keeps its end open until the credentials are read.
	read := make(chan struct{})
	defer close(read)
	go func() {
		c, err := net.Dial("unix", path)
		if err == nil {
			<-read
			c.Close()
		}
	}()
	c, err := ln.AcceptUnix()
	if err != nil {
		return Cred{}, err
	}
	defer c.Close()
	cr, err := peerCred(c)
	if err == nil && (cr.UID != uint32(os.Geteuid()) || cr.PID != int32(os.Getpid())) {
		t.Errorf("peerCred = %+v", cr)
	}
	return cr, err
}
