//go:build bench

// Package bench holds `make bench`: side-by-side measurements of lvsha and
// the real tools, in one run on the same machine. They are not timed tests:
// they print figures and ratios and fail only when something does not work.
package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lvsha-bench-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "hbd"), "lvsha/hbd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build hbd: %v\n%s", err, out)
		os.Exit(1)
	}
	for _, n := range []string{"cl_status", "hb_standby", "hb_takeover"} {
		os.Symlink("hbd", filepath.Join(dir, n))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	benchVIP = "10.43.0.100"
)

// timing is one ha.cf timer set measured.
type timing struct {
	name                string
	keepalive, deadtime string
	warn, initdead      string
	runs                int
}

var timings = []timing{
	{"100ms/500ms", "100ms", "500ms", "300ms", "2", 7},
	{"1s/10s", "1", "10", "5", "12", 3},
}

// impl is one of the two daemons compared.
type impl struct {
	name  string
	start func(t *testing.T, n *netns.Node) *netns.Proc
	tool  func(n *netns.Node, name string) string // path of hb_standby etc.
}

func implementations() []impl {
	return []impl{
		{"hbd", func(t *testing.T, n *netns.Node) *netns.Proc {
			p, err := n.Start(filepath.Join(binDir, "hbd"), "-f", "-on-stop-failure", "ignore")
			if err != nil {
				t.Fatal(err)
			}
			sock, _ := n.HostPath("/run/heartbeat/hbd.sock")
			netns.Eventually(t, 10*time.Second, 10*time.Millisecond, func() (bool, string) {
				c, err := net.Dial("unix", sock)
				if err == nil {
					c.Close()
				}
				return err == nil, "hbd socket"
			})
			return p
		}, func(_ *netns.Node, name string) string { return filepath.Join(binDir, name) }},
		{"heartbeat-3.0.6", func(t *testing.T, n *netns.Node) *netns.Proc {
			p, err := n.StartHeartbeat()
			if err != nil {
				t.Fatal(err)
			}
			return p
		}, func(_ *netns.Node, name string) string { return "/usr/share/heartbeat/" + name }},
	}
}

// site is two directors and a client on a LAN, heartbeating on eth1/eth2,
// each director running a web server on :80 that answers its name; the
// VIP is the only haresources group.
type site struct {
	a, b, client *netns.Node
	httpc        *http.Client
}

const webSrv = `import http.server, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = socket.gethostname().encode()
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 80), H).serve_forever()
`

func newSite(t *testing.T, tm timing) *site {
	netns.Require(t)
	s := &site{a: netns.NewNode(t, "alpha"), b: netns.NewNode(t, "beta"), client: netns.NewNode(t, "client")}
	sw := netns.NewSwitch(t, "lan")
	netns.JoinLAN(t, sw, s.a, "eth0", "10.43.0.1/24")
	netns.JoinLAN(t, sw, s.b, "eth0", "10.43.0.2/24")
	netns.JoinLAN(t, sw, s.client, "eth0", "10.43.0.10/24")
	netns.Connect(t, s.a, s.b, "eth1", "10.44.1")
	netns.Connect(t, s.a, s.b, "eth2", "10.44.2")
	cf := fmt.Sprintf(`logfile /var/log/ha-log
use_logd no
keepalive %s
deadtime %s
warntime %s
initdead %s
udpport 694
bcast eth1 eth2
auto_failback on
node alpha beta
`, tm.keepalive, tm.deadtime, tm.warn, tm.initdead)
	for _, n := range []*netns.Node{s.a, s.b} {
		n.WriteFile("/etc/ha.d/ha.cf", []byte(cf), 0o644)
		n.WriteFile("/etc/ha.d/authkeys", []byte("auth 1\n1 sha1 bench-key\n"), 0o600)
		n.WriteFile("/etc/ha.d/haresources", []byte("alpha IPaddr2::"+benchVIP+"/24/eth0\n"), 0o644)
		if _, err := n.Start("python3", "-c", webSrv); err != nil {
			t.Fatal(err)
		}
	}
	s.httpc = clientIn(t, s.client)
	return s
}

// clientIn returns an HTTP client whose sockets are created inside n's
// network namespace: its dialer switches one locked OS thread into it.
func clientIn(t *testing.T, n *netns.Node) *http.Client {
	nsf, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", n.PID()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nsf.Close() })
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			// Switch one locked thread into the namespace and back. The
			// thread must survive: children forked from it earlier (node
			// holders, daemons) carry a parent-death signal tied to it.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			self, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				ch <- res{nil, err}
				return
			}
			defer self.Close()
			if err := unix.Setns(int(nsf.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- res{nil, err}
				return
			}
			d := net.Dialer{Timeout: 50 * time.Millisecond}
			c, err := d.DialContext(ctx, network, addr)
			if serr := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); serr != nil {
				panic("cannot return to the host network namespace: " + serr.Error())
			}
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{Timeout: 100 * time.Millisecond,
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

func (s *site) who() string {
	resp, err := s.httpc.Get("http://" + benchVIP + "/")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// until polls the VIP every 5 ms until want answers; it returns the time
// from start.
func (s *site) until(t *testing.T, want string, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for time.Since(start) < limit {
		if s.who() == want {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s did not answer on the VIP within %v (last %q)", want, limit, s.who())
	return 0
}

type figures map[string][]time.Duration // metric -> samples

func (f figures) add(k string, d time.Duration) { f[k] = append(f[k], d) }

func stats(ds []time.Duration) (min, med, max time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}

// TestFailoverBench measures, per timer set and implementation: both nodes
// started → VIP answering, kill -9 of the holder → VIP answering on the
// backup, hb_standby → VIP answering on the other node.
func TestFailoverBench(t *testing.T) {
	if _, ok := netns.HeartbeatAvailable(); !ok {
		testenv.Skip(t, "real Heartbeat is not installed (Debian package heartbeat; make bench installs it)")
	}
	results := map[string]map[string]figures{} // timing -> impl -> figures
	tms := timings
	if os.Getenv("LVSHA_BENCH_QUICK") != "" { // one run of the fast timers, to try the bench itself
		tms = []timing{timings[0]}
		tms[0].runs = 1
	}
	for _, tm := range tms {
		results[tm.name] = map[string]figures{}
		for _, im := range implementations() {
			f := figures{}
			results[tm.name][im.name] = f
			for i := 0; i < tm.runs; i++ {
				t.Run(fmt.Sprintf("%s/%s/%d", tm.name, im.name, i), func(t *testing.T) {
					s := newSite(t, tm)
					start := time.Now()
					ch := make(chan *netns.Proc, 1)
					go func() { ch <- im.start(t, s.b) }()
					pa := im.start(t, s.a)
					<-ch
					f.add("start → VIP", s.until(t, "alpha", start, 60*time.Second))
					// Let both settle (the real Heartbeat's start-up phase).
					time.Sleep(2 * time.Second)
					if im.name != "hbd" {
						time.Sleep(12 * time.Second)
					}
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					start = time.Now()
					if out, errOut, code, err := s.a.Run(ctx, im.tool(s.a, "hb_standby")); err != nil || code != 0 {
						t.Fatalf("hb_standby: %d %v %s%s", code, err, out, errOut)
					}
					f.add("hb_standby → VIP moved", s.until(t, "beta", start, 60*time.Second))
					time.Sleep(time.Second)
					if out, errOut, code, err := s.a.Run(ctx, im.tool(s.a, "hb_takeover")); err != nil || code != 0 {
						t.Fatalf("hb_takeover: %d %v %s%s", code, err, out, errOut)
					}
					s.until(t, "alpha", time.Now(), 60*time.Second)
					time.Sleep(time.Second)
					pa.Kill()
					start = time.Now()
					f.add("kill -9 → VIP on backup", s.until(t, "beta", start, 60*time.Second))
				})
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-12s %-26s %-16s %28s %28s %8s\n", "timers", "metric", "", "hbd min/median/max", "heartbeat min/median/max", "ratio")
	for _, tm := range tms {
		for _, metric := range []string{"start → VIP", "kill -9 → VIP on backup", "hb_standby → VIP moved"} {
			h, r := results[tm.name]["hbd"][metric], results[tm.name]["heartbeat-3.0.6"][metric]
			if len(h) == 0 || len(r) == 0 {
				continue
			}
			h1, h2, h3 := stats(h)
			r1, r2, r3 := stats(r)
			fmt.Fprintf(&b, "%-12s %-26s %-16s %28s %28s %7.1fx\n", tm.name, metric, "",
				fmt.Sprintf("%v/%v/%v", ms(h1), ms(h2), ms(h3)), fmt.Sprintf("%v/%v/%v", ms(r1), ms(r2), ms(r3)),
				float64(r2)/float64(h2))
		}
	}
	b.WriteString("ratio = Heartbeat median / hbd median (higher is better for hbd)\n")
	t.Log(b.String())
	fmt.Print(b.String())
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
