package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"lvsha/hbd/config"
	"lvsha/hbd/membership"
	hbdapi "lvsha/hbd/statusapi"
	"lvsha/hbd/wire"
	"lvsha/internal/cfgerr"
	"lvsha/internal/testenv"
	"lvsha/ldird/adminstate"
	"lvsha/ldird/control"
)

// fakeLdird answers the control socket like ldird: a status document and
// admin requests, recorded.
type fakeLdird struct {
	mu     sync.Mutex
	admins []control.AdminRequest
	reload error
}

func (f *fakeLdird) WriteStatus(w io.Writer) error {
	_, err := io.WriteString(w, "table\n")
	return err
}
func (f *fakeLdird) WriteConnections(w io.Writer) error {
	_, err := io.WriteString(w, "IPVS connection entries\n")
	return err
}
func (f *fakeLdird) Reload() error { f.mu.Lock(); defer f.mu.Unlock(); return f.reload }
func (f *fakeLdird) WriteStatusJSON(w io.Writer) error {
	_, err := io.WriteString(w, `{"api":"lvsha.ldird/v1","instance":"ld.cf","dataplane":"userspace","virtuals":[{"key":"tcp 10.0.0.100:80","reals":[{"key":"10.0.1.2:80","admin":{"state":"enable"}}]}],"reloads":[]}`+"\n")
	return err
}
func (f *fakeLdird) SetAdmin(r control.AdminRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Real != "10.0.1.2:80" {
		return fmt.Errorf("virtual %s has no real %s", r.Virtual, r.Real)
	}
	f.admins = append(f.admins, r)
	return nil
}
func (f *fakeLdird) calls() []control.AdminRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]control.AdminRequest(nil), f.admins...)
}

type node struct {
	name     string
	adminDir string
	socks    atomic.Pointer[[]string] // the ldird sockets the console finds
	srv      *Server
	http     *httptest.Server
	ld       *fakeLdird
	log      *testenv.Buffer
	moves    []string
}

var keyring = &wire.Keyring{Send: 1, Keys: map[int]wire.Key{1: {Index: 1, Method: wire.MethodSHA1, Secret: "cluster-secret"}}}

// cluster starts two consoles, alpha and beta, each with a fake ldird,
// on loopback listeners known before the servers are built.
func cluster(t *testing.T, readOnly bool, users string) (a, b *node) {
	t.Helper()
	lns := map[string]net.Listener{}
	cc := config.Console{Listen: map[string]string{}, Users: users, ReadOnly: readOnly, Line: map[string]int{"console_users": 9}}
	for _, n := range []string{"alpha", "beta"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[n] = ln
		cc.Listen[n] = ln.Addr().String()
	}
	mk := func(name string) *node {
		n := &node{name: name, ld: &fakeLdird{}, log: &testenv.Buffer{}, adminDir: t.TempDir()}
		sock := filepath.Join(t.TempDir(), "ldird.ld.cf.sock")
		cs, err := control.Listen(sock, n.ld, nil)
		if err != nil {
			t.Fatal(err)
		}
		go cs.Serve()
		t.Cleanup(func() { cs.Close() })
		n.socks.Store(&[]string{sock})
		st := &hbdapi.Status{API: hbdapi.API, Node: name, Nodes: []hbdapi.Node{}, Resources: hbdapi.Resources{State: "local", Groups: []hbdapi.Group{}}}
		srv, err := New(Options{Node: name, Nodes: []string{"alpha", "beta"}, Config: cc, HACF: "/etc/ha.d/ha.cf",
			Keys:     func() *wire.Keyring { return keyring },
			Status:   func() *hbdapi.Status { return st },
			Standby:  func(set string) error { n.moves = append(n.moves, "standby "+set); return nil },
			Takeover: func(set string) error { return errors.New("the peer is dead") },
			ReloadHbd: func() error {
				return cfgerr.Errors{{File: "/etc/ha.d/ha.cf", Line: 3, Msg: "unknown directive \"keepalve\""}}
			},
			LdirdSockets: func() []string { return *n.socks.Load() },
			AdminFile:    func(inst string) string { return filepath.Join(n.adminDir, "ldird."+inst+".admin") },
			Log:          slog.New(slog.NewTextHandler(n.log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		n.srv = srv
		hs := httptest.NewUnstartedServer(srv.Handler())
		hs.Listener.Close()
		hs.Listener = lns[name]
		hs.Start()
		t.Cleanup(hs.Close)
		n.http = hs
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go srv.agg.run(ctx)
		return n
	}
	return mk("alpha"), mk("beta")
}

func usersFile(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "console.htpasswd")
	// htpasswd -B writes $2y$.
	os.WriteFile(p, []byte("# administrators\nalice:$2y$"+string(h[4:])+"\n"), 0o600)
	return p
}

// client is a browser: a cookie jar, and the console's origin on requests.
type client struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newClient(t *testing.T, n *node) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: n.http.URL, c: &http.Client{Jar: jar}}
}

func (c *client) do(method, path string, body any, hdr map[string]string) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Origin", c.base)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (c *client) login(user, pw string) int {
	code, out := c.do("POST", "/api/v1/login", map[string]string{"user": user, "password": pw}, nil)
	if code == 200 {
		c.csrf = out["csrf"].(string)
	}
	return code
}

func (c *client) action(action string, body any) (int, map[string]any) {
	return c.do("POST", "/api/v1/actions/"+action, body, map[string]string{csrfHeader: c.csrf})
}

// Login, logout, the session and what anonymous viewers may see.
func TestLoginSessionAndReadOnly(t *testing.T) {
	users := usersFile(t)
	for _, ro := range []bool{false, true} {
		t.Run(fmt.Sprintf("readonly=%v", ro), func(t *testing.T) {
			a, _ := cluster(t, ro, users)
			c := newClient(t, a)
			code, s := c.do("GET", "/api/v1/session", nil, nil)
			if code != 200 || s["user"] != nil || s["read_only_view"] != ro || s["password_login"] != true {
				t.Fatalf("anonymous session: %d %v", code, s)
			}
			want := 401
			if ro {
				want = 200
			}
			for _, p := range []string{"/api/v1/status", "/api/v1/cluster", "/api/v1/local"} {
				if code, _ := c.do("GET", p, nil, nil); code != want {
					t.Errorf("anonymous GET %s: %d, want %d", p, code, want)
				}
			}
			// The page itself is always served (it holds the login form).
			if code, _ := c.do("GET", "/", nil, nil); code != 200 {
				t.Errorf("GET /: %d", code)
			}
			if code := c.login("alice", "wrong"); code != 401 {
				t.Fatalf("wrong password: %d", code)
			}
			if code := c.login("mallory", "s3cret"); code != 401 {
				t.Fatalf("unknown user: %d", code)
			}
			if code := c.login("alice", "s3cret"); code != 200 {
				t.Fatalf("login: %d", code)
			}
			code, s = c.do("GET", "/api/v1/session", nil, nil)
			if s["user"] != "alice" || s["csrf"] != c.csrf {
				t.Fatalf("session after login: %v", s)
			}
			if code, _ := c.do("GET", "/api/v1/cluster", nil, nil); code != 200 {
				t.Errorf("GET cluster logged in: %d", code)
			}
			// Logout needs the token too.
			if code, _ := c.do("POST", "/api/v1/logout", map[string]any{}, nil); code != 403 {
				t.Errorf("logout without the token: %d", code)
			}
			if code, _ := c.do("POST", "/api/v1/logout", map[string]any{}, map[string]string{csrfHeader: c.csrf}); code != 200 {
				t.Errorf("logout: %d", code)
			}
			if _, s := c.do("GET", "/api/v1/session", nil, nil); s["user"] != nil {
				t.Errorf("still logged in after logout: %v", s)
			}
		})
	}
}

// Five failed logins from one address lock it out for a while, even with
// the right password.
func TestLoginRateLimited(t *testing.T) {
	a, _ := cluster(t, false, usersFile(t))
	c := newClient(t, a)
	for i := range maxFailures {
		if code := c.login("alice", fmt.Sprint("guess", i)); code != 401 {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	if code := c.login("alice", "s3cret"); code != 429 {
		t.Fatalf("after %d failures: %d, want 429", maxFailures, code)
	}
	if !strings.Contains(a.log.String(), "too many failures") {
		t.Error("lock-out not logged")
	}
}

// An action needs an administrator and the CSRF protection; refused ones
// change nothing and are logged; accepted ones reach ldird with who asked,
// and each leaves one audit line.
func TestActionsAuthAndCSRF(t *testing.T) {
	a, _ := cluster(t, true, usersFile(t))
	drain := map[string]string{"instance": "ld.cf", "virtual": "tcp 10.0.0.100:80", "real": "10.0.1.2:80", "state": "drain"}
	anon := newClient(t, a)
	if code, out := anon.action("real", drain); code != 401 || out["error"] == nil {
		t.Fatalf("anonymous action: %d %v", code, out)
	}
	c := newClient(t, a)
	if c.login("alice", "s3cret") != 200 {
		t.Fatal("login")
	}
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		code int
	}{
		{"no token", map[string]string{csrfHeader: ""}, 403},
		{"wrong token", map[string]string{csrfHeader: "forged"}, 403},
		{"another origin", map[string]string{csrfHeader: c.csrf, "Origin": "http://evil.example"}, 403},
		{"cross-site fetch", map[string]string{csrfHeader: c.csrf, "Sec-Fetch-Site": "cross-site"}, 403},
		{"form body", map[string]string{csrfHeader: c.csrf, "Content-Type": "application/x-www-form-urlencoded"}, 403},
	} {
		if code, _ := c.do("POST", "/api/v1/actions/real", drain, tc.hdr); code != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.code)
		}
	}
	if got := a.ld.calls(); len(got) != 0 {
		t.Fatalf("refused actions reached ldird: %+v", got)
	}
	if n := strings.Count(a.log.String(), "console action refused"); n != 6 {
		t.Errorf("%d refusals logged, want 6:\n%s", n, a.log)
	}
	code, out := c.action("real", drain)
	if code != 200 || out["ok"] != true {
		t.Fatalf("drain: %d %v", code, out)
	}
	if got := a.ld.calls(); len(got) != 1 || got[0].By != "alice" || got[0].State != "drain" {
		t.Fatalf("ldird saw %+v", got)
	}
	if !strings.Contains(a.log.String(), `msg="console action" user=alice`) || !strings.Contains(a.log.String(), "result=ok") {
		t.Errorf("no audit line:\n%s", a.log)
	}
	// Refused by ldird: the reason comes back.
	bad := map[string]string{"instance": "ld.cf", "virtual": "tcp 10.0.0.100:80", "real": "10.0.1.9:80", "state": "disable"}
	if code, out := c.action("real", bad); code != 409 || !strings.Contains(fmt.Sprint(out["error"]), "has no real 10.0.1.9:80") {
		t.Errorf("unknown real: %d %v", code, out)
	}
	// An instance that does not run here is recorded in its admin file.
	if code, out := c.action("real", map[string]string{"instance": "other.cf", "virtual": "tcp 10.0.0.9:80", "real": "10.0.2.2:80", "state": "drain"}); code != 200 || !strings.Contains(fmt.Sprint(out["message"]), "recorded for ldird other.cf") {
		t.Errorf("an instance that does not run: %d %v", code, out)
	}
	if m, err := adminstate.Load(filepath.Join(a.adminDir, "ldird.other.cf.admin")); err != nil || m[adminstate.Key{Virtual: "tcp 10.0.0.9:80", Real: "10.0.2.2:80"}].By != "alice" {
		t.Errorf("admin file: %v %v", m, err)
	}
	for _, inst := range []string{"../etc/x", "", ".."} {
		if code, _ := c.action("real", map[string]string{"instance": inst, "virtual": "v", "real": "r", "state": "drain"}); code != 400 {
			t.Errorf("instance %q: %d", inst, code)
		}
	}
	if code, _ := c.action("real", map[string]string{"instance": "ld.cf", "virtual": "v", "real": "r", "state": "halt"}); code != 400 {
		t.Errorf("unknown state: %d", code)
	}
	if code, _ := c.action("real", map[string]any{"instance": "ld.cf", "bogus": 1}); code != 400 {
		t.Errorf("unknown field: %d", code)
	}
	if code, _ := c.action("shutdown", map[string]any{}); code != 404 {
		t.Errorf("unknown action: %d", code)
	}
	// standby, takeover (refused by the resource manager), reload with errors.
	if code, out := c.action("standby", map[string]string{}); code != 200 || a.moves[0] != "standby all" {
		t.Errorf("standby: %d %v %v", code, out, a.moves)
	}
	if code, out := c.action("takeover", map[string]string{"set": "all"}); code != 409 || out["error"] != "the peer is dead" {
		t.Errorf("takeover: %d %v", code, out)
	}
	code, out = c.action("reload", map[string]string{"target": "hbd"})
	errs, _ := out["errors"].([]any)
	if code != 422 || len(errs) != 1 || errs[0].(map[string]any)["line"] != 3.0 {
		t.Errorf("reload hbd: %d %v", code, out)
	}
	a.ld.mu.Lock()
	a.ld.reload = errors.Join(errors.New("/etc/ha.d/ld.cf:12: unknown directive \"chektype\""), errors.New("no line here"))
	a.ld.mu.Unlock()
	code, out = c.action("reload", map[string]string{"target": "ldird", "instance": "ld.cf"})
	errs, _ = out["errors"].([]any)
	if code != 422 || len(errs) != 2 || errs[0].(map[string]any)["file"] != "/etc/ha.d/ld.cf" || errs[0].(map[string]any)["line"] != 12.0 {
		t.Errorf("reload ldird: %d %v", code, out)
	}
}

// The consoles of a cluster: each shows the other's part (signed with a
// key from authkeys), an action for the peer is forwarded with who asked,
// an unsigned or replayed peer request is refused, and a peer that stops
// answering is marked unreachable with its last view kept.
func TestPeerThroughTheCluster(t *testing.T) {
	a, b := cluster(t, false, usersFile(t))
	c := newClient(t, a)
	if c.login("alice", "s3cret") != 200 {
		t.Fatal("login")
	}
	var doc Cluster
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest("GET", c.base+"/api/v1/cluster", nil)
		resp, err := c.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if len(doc.Directors) == 2 && doc.Directors[1].Reachable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("beta never reachable: %+v", doc.Directors)
		}
		time.Sleep(20 * time.Millisecond)
	}
	bd := doc.Directors[1]
	if bd.Node != "beta" || bd.Self || bd.Local.Node != "beta" || len(bd.Local.Ldird) != 1 || bd.Local.Ldird[0].Status.Instance != "ld.cf" {
		t.Fatalf("beta as alpha shows it: %+v", bd)
	}
	if doc.API != API || doc.ServedBy != "alpha" || !doc.Directors[0].Self || *doc.Directors[0].Console != a.http.URL {
		t.Fatalf("cluster: %+v", doc)
	}

	// alice on alpha drains a real of beta's ldird: beta's ldird gets it
	// forwarded, and alpha's too (the override follows the service).
	drain := map[string]string{"director": "beta", "instance": "ld.cf", "virtual": "tcp 10.0.0.100:80", "real": "10.0.1.2:80", "state": "drain"}
	code, out := c.action("real", drain)
	if code != 200 || out["ok"] != true || !strings.Contains(fmt.Sprint(out["message"]), "beta: drain 10.0.1.2:80 (tcp 10.0.0.100:80) applied by ldird ld.cf") {
		t.Fatalf("forwarded drain: %d %v", code, out)
	}
	if got := b.ld.calls(); len(got) != 1 || got[0].By != "alice@alpha" {
		t.Fatalf("beta's ldird saw %+v", got)
	}
	if got := a.ld.calls(); len(got) != 1 || got[0].By != "alice" {
		t.Fatalf("alpha's ldird saw %+v", got)
	}
	// Where ldird does not run, the override is recorded for it.
	b.socks.Store(&[]string{})
	drain["real"] = "10.0.1.3:80"
	drain["state"] = "disable"
	drain["director"] = "alpha"
	a.ld.mu.Lock()
	a.ld.admins = nil
	a.ld.mu.Unlock()
	code, out = c.action("real", drain)
	if code != 409 || !strings.Contains(fmt.Sprint(out["error"]), "beta: disable 10.0.1.3:80 (tcp 10.0.0.100:80) recorded for ldird ld.cf") {
		t.Fatalf("alpha refuses (its fake knows one real), beta records: %d %v", code, out)
	}
	if m, _ := adminstate.Load(filepath.Join(b.adminDir, "ldird.ld.cf.admin")); m[adminstate.Key{Virtual: "tcp 10.0.0.100:80", Real: "10.0.1.3:80"}].State != adminstate.Disabled {
		t.Fatalf("beta's admin file: %v", m)
	}
	drain["real"], drain["state"], drain["director"] = "10.0.1.2:80", "drain", "beta"
	if !strings.Contains(b.log.String(), `user=alice@alpha`) {
		t.Errorf("no audit line on beta:\n%s", b.log)
	}
	// A forwarded refusal keeps its status and message.
	b.socks.Store(a.socks.Load()) // beta asks a fake that refuses unknown reals
	drain["real"] = "10.0.1.9:80"
	if code, out := c.action("real", drain); code != 409 || !strings.Contains(fmt.Sprint(out["error"]), "has no real") {
		t.Errorf("forwarded refusal: %d %v", code, out)
	}

	// Peer requests: unsigned, badly signed, from a stranger, replayed.
	get := func(hdr string) int {
		req, _ := http.NewRequest("GET", b.http.URL+"/api/v1/local", nil)
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != 401 {
		t.Errorf("unsigned: %d", code)
	}
	key, _ := peerKeys(keyring)
	req, _ := http.NewRequest("GET", b.http.URL+"/api/v1/local", nil)
	signRequest(req, key, "alpha", time.Now(), nil)
	good := req.Header.Get("Authorization")
	if code := get(good); code != 200 {
		t.Errorf("signed: %d\n%s", code, b.log)
	}
	if code := get(good); code != 401 {
		t.Errorf("replayed: %d", code)
	}
	req, _ = http.NewRequest("GET", b.http.URL+"/api/v1/local", nil)
	signRequest(req, []byte("another cluster's key"), "alpha", time.Now(), nil)
	if code := get(req.Header.Get("Authorization")); code != 401 {
		t.Errorf("wrong key: %d", code)
	}
	req, _ = http.NewRequest("GET", b.http.URL+"/api/v1/local", nil)
	signRequest(req, key, "gamma", time.Now(), nil)
	if code := get(req.Header.Get("Authorization")); code != 401 {
		t.Errorf("a stranger node: %d", code)
	}
	req, _ = http.NewRequest("GET", b.http.URL+"/api/v1/local", nil)
	signRequest(req, key, "alpha", time.Now().Add(-time.Minute), nil)
	if code := get(req.Header.Get("Authorization")); code != 401 {
		t.Errorf("a minute old: %d", code)
	}

	// Beta's console goes away: unreachable, the last view kept.
	b.http.Close()
	deadline = time.Now().Add(8 * time.Second)
	for {
		resp, err := c.c.Get(c.base + "/api/v1/cluster")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if !doc.Directors[1].Reachable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("beta still reachable after its console closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := doc.Directors[1]; d.Error == nil || d.Local == nil || d.AsOf == nil {
		t.Errorf("unreachable beta: %+v", d)
	}
	if code, out := c.action("real", map[string]string{"director": "beta", "instance": "ld.cf", "virtual": "v", "real": "r", "state": "drain"}); code != 502 {
		t.Errorf("forward to a dead console: %d %v", code, out)
	}
}

// The event stream sends the cluster document at once, then on changes.
func TestEventStream(t *testing.T) {
	a, _ := cluster(t, true, "")
	resp, err := http.Get(a.http.URL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	got := 0
	for sc.Scan() && got < 2 {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var c Cluster
			if err := json.Unmarshal([]byte(data), &c); err != nil || c.API != API || len(c.Directors) != 2 {
				t.Fatalf("event %d: %v %q", got, err, data[:min(len(data), 200)])
			}
			got++
		}
	}
	if got < 2 {
		t.Fatalf("%d events", got)
	}
}

// Without console_users there is no password login; the page and its
// assets are served with a strict content security policy.
func TestNoUsersAndAssets(t *testing.T) {
	a, _ := cluster(t, true, "")
	c := newClient(t, a)
	if code := c.login("alice", "x"); code != 404 {
		t.Errorf("login without users: %d", code)
	}
	for _, p := range []string{"/", "/assets/console.js", "/assets/console.css"} {
		resp, err := http.Get(a.http.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) < 100 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s: %d, %d bytes, CSP %q", p, resp.StatusCode, len(b), resp.Header.Get("Content-Security-Policy"))
		}
	}
	for _, p := range []string{"/assets/../console.go", "/assets/nope.js"} {
		resp, _ := http.Get(a.http.URL + p)
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
		resp.Body.Close()
	}
	if code, out := c.do("GET", "/api/v1/nothing", nil, nil); code != 404 || out["error"] == nil {
		t.Errorf("unknown API: %d %v", code, out)
	}
	if code, _ := c.do("DELETE", "/api/v1/status", nil, nil); code != 404 {
		t.Errorf("DELETE status: %d", code)
	}
}

func TestUsersFile(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ text, want string }{
		{"alice:$apr1$abc$def\n", ":1: user alice: only bcrypt hashes are accepted"},
		{"# c\n\nbob\n", ":3: want NAME:HASH"},
		{"carol:$2y$05$tooshort\n", ":1: user carol:"},
	} {
		p := filepath.Join(dir, "u")
		os.WriteFile(p, []byte(c.text), 0o600)
		if _, err := LoadUsers(p); err == nil || !strings.Contains(err.Error(), p+c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
	// The file is read again when it changes.
	p := usersFile(t)
	u, err := LoadUsers(p)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := u.Check("alice", "s3cret"); !ok {
		t.Fatal("alice refused")
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("pw2"), bcrypt.MinCost)
	os.WriteFile(p, []byte("bob:"+string(h)+"\n"), 0o600)
	future := time.Now().Add(time.Minute)
	os.Chtimes(p, future, future)
	if ok, _ := u.Check("alice", "s3cret"); ok {
		t.Error("alice still accepted after the file changed")
	}
	if ok, _ := u.Check("bob", "pw2"); !ok {
		t.Error("bob refused")
	}
}

// The cluster document's fields (the page relies on them).
func TestClusterSchema(t *testing.T) {
	st := hbdapi.Build(hbdapi.Info{Node: "alpha"}, hbdapi.Sources{Nodes: func() []membership.NodeView { return nil }}, nil, time.Now())
	b, _ := json.Marshal(Cluster{API: API, Directors: []Director{{Node: "alpha", Local: &Local{Hbd: st, Ldird: []LdirdInstance{{Instance: "x"}}}}}})
	var raw map[string]any
	json.Unmarshal(b, &raw)
	keys := func(m map[string]any) []string {
		var k []string
		for x := range m {
			k = append(k, x)
		}
		sort.Strings(k)
		return k
	}
	d := raw["directors"].([]any)[0].(map[string]any)
	for _, c := range []struct {
		m    map[string]any
		want []string
	}{
		{raw, []string{"api", "directors", "served_by", "time"}},
		{d, []string{"as_of", "console", "error", "local", "node", "reachable", "self"}},
		{d["local"].(map[string]any), []string{"api", "hbd", "ldird", "node", "time"}},
		{d["local"].(map[string]any)["ldird"].([]any)[0].(map[string]any), []string{"error", "instance", "status"}},
	} {
		if got := keys(c.m); !reflect.DeepEqual(got, c.want) {
			t.Errorf("keys %q, want %q", got, c.want)
		}
	}
}

// The hash unknown users are checked against is a real bcrypt hash at the
// default cost (`htpasswd -B`'s), so an unknown name
// takes as long as a wrong password.
func TestDummyHashCost(t *testing.T) {
	cost, err := bcrypt.Cost([]byte(dummyHash))
	if err != nil || cost != bcrypt.DefaultCost {
		t.Fatalf("dummyHash: cost %d, %v; want %d", cost, err, bcrypt.DefaultCost)
	}
	if bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte("no such user")) != nil {
		t.Fatal("dummyHash is not bcrypt(\"no such user\")")
	}
}
