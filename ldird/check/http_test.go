package check

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

func TestHTTP(t *testing.T) {
	// The checker's bare socket is no synchronisation the race detector
	// sees (net's sockets are), so what the handler saw goes through a
	// lock.
	var mu sync.Mutex
	var gotHost, gotMethod, gotPath string
	seen := func() (string, string, string) { mu.Lock(); defer mu.Unlock(); return gotHost, gotMethod, gotPath }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost, gotMethod, gotPath = r.Host, r.Method, r.URL.Path
		mu.Unlock()
		switch r.URL.Path {
		case "/check.html":
			io.WriteString(w, "status: ok\n")
		case "/redirect":
			http.Redirect(w, r, "/check.html", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tg := targetOf(t, srv.Listener.Addr())

	c := mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/check.html", Receive: "ok"})
	expectOK(t, c, tg)
	if gotHost, gotMethod, gotPath := seen(); gotHost != "127.0.0.1" || gotMethod != "GET" || gotPath != "/check.html" {
		t.Errorf("request host=%q method=%q path=%q", gotHost, gotMethod, gotPath)
	}
	// virtualhost and HEAD.
	c = mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "check.html", VirtualHost: "www.example.com", HTTPMethod: "head"})
	expectOK(t, c, tg)
	if gotHost, gotMethod, _ := seen(); gotHost != "www.example.com" || gotMethod != "HEAD" {
		t.Errorf("host=%q method=%q", gotHost, gotMethod)
	}
	// checkport overrides the real's port.
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/check.html", Receive: "ok", CheckPort: int(tg.Port)}),
		Target{IP: tg.IP, Port: 1})
	// wrong receive, 404, closed port.
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/check.html", Receive: "^down"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/missing"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "http"}), closedPort(t))
	// redirects are followed, loops end as a 3xx (down).
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/redirect", Receive: "ok"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/loop"}), tg)
	// an absolute URL request is used verbatim.
	abs := mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/" + srv.URL + "/check.html", Receive: "ok"})
	expectOK(t, abs, Target{IP: tg.IP, Port: 1})
	if u, _ := abs.(*httpChecker).URL(tg); u != srv.URL+"/check.html" {
		t.Errorf("url %s", u)
	}
}

func TestHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure ok")
	}))
	defer srv.Close()
	tg := targetOf(t, srv.Listener.Addr())
	// Self-signed certificate: ldirectord does not verify, neither do we.
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "https", Receive: "secure"}), tg)
	// https against a plain HTTP server fails.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "https"}), targetOf(t, plain.Listener.Addr()))
}

func TestHTTPProxy(t *testing.T) {
	var gotURI string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURI = r.RequestURI
		if r.URL.Host == "origin.example" {
			io.WriteString(w, "proxied ok")
			return
		}
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer proxy.Close()
	tg := targetOf(t, proxy.Listener.Addr())
	c := mustNew(t, Spec{Type: "negotiate", Service: "http_proxy", Request: "/http://origin.example/x", Receive: "proxied"})
	expectOK(t, c, tg)
	if gotURI != "http://origin.example/x" {
		t.Errorf("proxy saw %q, want the absolute URL", gotURI)
	}
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "http_proxy", Request: "/http://other.example/"}), tg)
}

func TestHTTPHung(t *testing.T) {
	tg, closed := hungServer(t)
	for _, svc := range []string{"http", "https"} {
		c := mustNew(t, Spec{Type: "negotiate", Service: svc, NegotiateTimeout: 300 * time.Millisecond})
		expectTimeout(t, c, tg, 300*time.Millisecond)
		closed()
	}
}

// TestHTTPPythonServer checks against python3's http.server, a real server.
func TestHTTPPythonServer(t *testing.T) {
	py := testenv.RequireProgram(t, "python3", "python3")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "check.html"), []byte("<html>ldirectord test page OK</html>\n"), 0o644)
	port := freePort(t)
	cmd := exec.Command(py, "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, fmt.Sprint(port))
	startDaemon(t, cmd, port)
	tg := Target{IP: loop, Port: uint16(port)}
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/check.html", Receive: "test page OK"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/check.html", Receive: "nope"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/missing.html"}), tg)
}

// TestHTTPBusybox checks against busybox httpd, when busybox is installed.
func TestHTTPBusybox(t *testing.T) {
	bb := testenv.RequireProgram(t, "busybox", "busybox-static")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("busybox says ok\n"), 0o644)
	port := freePort(t)
	cmd := exec.Command(bb, "httpd", "-f", "-p", fmt.Sprintf("127.0.0.1:%d", port), "-h", dir)
	startDaemon(t, cmd, port)
	tg := Target{IP: loop, Port: uint16(port)}
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/", Receive: "says ok"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "http", Request: "/", Receive: "says no"}), tg)
}

// freePort picks a loopback TCP port that is free now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDaemon starts cmd, kills it at cleanup, and waits until port accepts.
func startDaemon(t *testing.T, cmd *exec.Cmd, port int) {
	t.Helper()
	if err := tryDaemon(t, cmd, port); err != nil {
		t.Fatal(err)
	}
}

// tryDaemon starts cmd, kills it at cleanup, and waits until port accepts
// (up to 15 s), or until the daemon exits.
func tryDaemon(t *testing.T, cmd *exec.Cmd, port int) error {
	t.Helper()
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it listened on %d: %s", cmd.Path, port, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not listen on %d: %s", cmd.Path, port, out.String())
}

// startDaemonOn starts the daemon mk makes for a port free for TCP and
// UDP, again on another port when it finds its port taken (by another
// test's socket between the probe and the daemon's bind), and returns
// the port it listens on.
func startDaemonOn(t *testing.T, mk func(port int) *exec.Cmd) int {
	t.Helper()
	var err error
	for range 3 {
		port := freeTCPUDPPort(t)
		if err = tryDaemon(t, mk(port), port); err == nil {
			return port
		}
		if !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	t.Fatal(err)
	return 0
}

// freeTCPUDPPort is a port of 127.0.0.1 free for both TCP and UDP.
func freeTCPUDPPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		port := freePort(t)
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP in 50 tries")
	return 0
}
