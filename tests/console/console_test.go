// Package console tests hbd's web console end to end: the make demo
// topology (a client, two directors, two web servers, in network
// namespaces), hbd on both directors with the console on, and a real
// headless Chromium (Debian's chromium, driven with chromedp over its
// DevTools pipe) run inside the client's namespace, looking at director2's
// console.
package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
)

var binDir string

// TestMain builds hbd and ldird once.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lvsha-console-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, p := range []string{"hbd", "ldird"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, p), "lvsha/"+p).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", p, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	vip       = "10.60.0.100"
	virtual   = "tcp " + vip + ":80"
	real1     = "10.60.0.11:80"
	real2     = "10.60.0.12:80"
	consoleD2 = "http://10.60.0.2:8080/"
	adminUser = "admin"
	adminPass = "correct horse battery staple"
	// The ldird state directory inside each director (private, as
	// /var/lib/heartbeat is).
	stateDir = "/var/lib/heartbeat/ldird"
)

const haCF = `# the demo's ha.cf, with the console on
logfile /var/log/ha-log
keepalive 100ms
warntime 300ms
deadtime 500ms
initdead 10
udpport 694
bcast eth1 eth2
auto_failback on
node director1 director2
crm no
console director1 10.60.0.1:8080
console director2 10.60.0.2:8080
console_users /etc/ha.d/console.htpasswd
console_readonly yes
`

const ldirectordCF = `checktimeout=1
checkinterval=1
autoreload=yes
quiescent=yes
logfile="/var/log/ldirectord.log"
dataplane = userspace

virtual=` + vip + `:80
	real=` + real1 + ` masq 1
	real=` + real2 + ` masq 1
	service=http
	request="index.html"
	receive="real"
	scheduler=rr
	protocol=tcp
	checktype=negotiate
`

type topo struct {
	client, d1, d2, r1, r2 *netns.Node
	hbd1, hbd2, web2       *netns.Proc
}

func build(t *testing.T) *topo {
	netns.Require(t)
	tp := &topo{}
	sw := netns.NewSwitch(t, "lan")
	tp.client = netns.NewNode(t, "client")
	tp.d1 = netns.NewNode(t, "director1")
	tp.d2 = netns.NewNode(t, "director2")
	tp.r1 = netns.NewNode(t, "real1")
	tp.r2 = netns.NewNode(t, "real2")
	netns.JoinLAN(t, sw, tp.client, "eth0", "10.60.0.10/24")
	netns.JoinLAN(t, sw, tp.d1, "eth0", "10.60.0.1/24")
	netns.JoinLAN(t, sw, tp.d2, "eth0", "10.60.0.2/24")
	netns.JoinLAN(t, sw, tp.r1, "eth0", "10.60.0.11/24")
	netns.JoinLAN(t, sw, tp.r2, "eth0", "10.60.0.12/24")
	netns.Connect(t, tp.d1, tp.d2, "eth1", "10.61.1")
	netns.Connect(t, tp.d1, tp.d2, "eth2", "10.61.2")
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*netns.Node{tp.d1, tp.d2} {
		d.WriteFile("/etc/ha.d/ha.cf", []byte(haCF), 0o644)
		d.WriteFile("/etc/ha.d/authkeys", []byte("auth 1\n1 sha1 console-test-secret\n"), 0o600)
		d.WriteFile("/etc/ha.d/haresources", []byte("director1 IPaddr2::"+vip+"/24/eth0 ldirectord::/etc/ha.d/ldirectord.cf\n"), 0o644)
		d.WriteFile("/etc/ha.d/ldirectord.cf", []byte(ldirectordCF), 0o644)
		d.WriteFile("/etc/ha.d/console.htpasswd", []byte(adminUser+":"+string(hash)+"\n"), 0o600)
	}
	tp.web(t, tp.r1, "real1")
	tp.web2 = tp.web(t, tp.r2, "real2")
	tp.hbd1 = tp.startHbd(t, tp.d1)
	tp.hbd2 = tp.startHbd(t, tp.d2)
	return tp
}

// web starts busybox httpd serving the node's name.
func (tp *topo) web(t *testing.T, n *netns.Node, name string) *netns.Proc {
	t.Helper()
	bb := testenv.RequireProgram(t, "busybox", "busybox-static")
	n.WriteFile("/run/www/index.html", []byte(name+"\n"), 0o644)
	p, err := n.Start(bb, "httpd", "-f", "-p", "80", "-h", "/run/www")
	if err != nil {
		t.Fatal(err)
	}
	netns.Eventually(t, 5*time.Second, 50*time.Millisecond, func() (bool, string) {
		out, _, code, _ := n.Run(context.Background(), "curl", "-s", "--max-time", "1", "http://127.0.0.1/")
		return code == 0 && strings.TrimSpace(out) == name, "web server on " + n.Name + ": " + out
	})
	return p
}

func (tp *topo) startHbd(t *testing.T, d *netns.Node) *netns.Proc {
	t.Helper()
	p, err := d.Start("env", "LDIRD_STATEDIR="+stateDir, filepath.Join(binDir, "hbd"), "-f",
		"-ldird", filepath.Join(binDir, "ldird"), "-on-stop-failure", "ignore")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ldirdStatus runs `ldird status` on a director.
func ldirdStatus(t *testing.T, d *netns.Node) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _, _, _ := d.Run(ctx, filepath.Join(binDir, "ldird"), "/etc/ha.d/ldirectord.cf", "status")
	return out
}

// tableWeight is a real's weight in `ldird status`'s table ("" when absent).
func tableWeight(status, real string) string {
	m := regexp.MustCompile(`(?m)^  -> ` + regexp.QuoteMeta(real) + `\s+\S+\s+(\d+)`).FindStringSubmatch(status)
	if m == nil {
		return ""
	}
	return m[1]
}

// healthState is a real's state in `ldird status`'s health part.
func healthState(status, real string) string {
	m := regexp.MustCompile(`(?m)^  real ` + regexp.QuoteMeta(real) + ` (\S+) `).FindStringSubmatch(status)
	if m == nil {
		return ""
	}
	return m[1]
}

// view is what the page shows, read from its DOM.
type view struct {
	Directors []string          `json:"directors"`
	Status    map[string]string `json:"status"` // director -> status pill
	Links     map[string]string `json:"links"`  // director -> its link pills
	Holder    string            `json:"holder"` // the group's holder cell
	Reals     map[string]real   `json:"reals"`  // "director real" -> row
	User      string            `json:"user"`
	Live      string            `json:"live"`
	Login     bool              `json:"login"`   // the login form is shown
	Buttons   int               `json:"buttons"` // action buttons on the page
	Plots     int               `json:"plots"`   // heartbeat arrival plots
	Timeline  string            `json:"timeline"`
}

type real struct {
	State, Weight, Detail, Outcome string
}

const readView = `(() => {
  const txt = (e) => e ? e.textContent.trim() : '';
  const v = {directors: [], status: {}, links: {}, reals: {}, holder: '', user: '', live: '', login: false, buttons: 0};
  for (const c of document.querySelectorAll('article[data-director]')) {
    const d = c.dataset.director;
    v.directors.push(d);
    v.status[d] = txt(c.querySelector('.head [data-field=status]'));
    v.links[d] = txt(c.querySelector('[data-field=links]'));
  }
  v.holder = txt(document.querySelector('tr[data-group] [data-field=holder]'));
  for (const r of document.querySelectorAll('tr[data-real]')) {
    v.reals[r.dataset.director + ' ' + r.dataset.real] = {State: txt(r.querySelector('[data-field=state]')),
      Weight: txt(r.querySelector('[data-field=weight]')), Detail: txt(r.querySelector('[data-field=detail]')),
      Outcome: txt(r.querySelector('[data-field=outcome]'))};
  }
  v.user = txt(document.querySelector('[data-testid=user]'));
  v.live = txt(document.getElementById('live'));
  v.login = !document.getElementById('login').hidden;
  v.buttons = document.querySelectorAll('.actions button').length;
  v.plots = document.querySelectorAll('figure[data-plot^=arrivals] rect').length;
  v.timeline = txt(document.querySelector('#timeline title'));
  return JSON.stringify(v);
})()`

func readPage(ctx context.Context) (view, error) {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](readView))
	if err != nil {
		return view{}, err
	}
	var v view
	err = json.Unmarshal([]byte(s), &v)
	return v, err
}

// waitPage polls the page until cond holds, failing after timeout; it
// returns how long it took.
func waitPage(t *testing.T, ctx context.Context, timeout time.Duration, what string, cond func(view) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last view
	for {
		v, err := readPage(ctx)
		if err == nil && cond(v) {
			return time.Since(start)
		}
		if err == nil {
			last = v
		}
		if time.Since(start) > timeout {
			b, _ := json.MarshalIndent(last, "", "  ")
			t.Fatalf("the page did not show %s within %v (err %v); it showed:\n%s", what, timeout, err, b)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// browser starts headless Chromium inside the client's network namespace.
// chromedp talks to it over the DevTools pipe (fds 3 and 4), which nsenter
// passes on, so nothing listens on a port.
func browser(t *testing.T, client *netns.Node) context.Context {
	t.Helper()
	chromium := testenv.RequireProgram(t, "chromium", "chromium")
	nsenter := testenv.RequireProgram(t, "nsenter", "util-linux")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			args := append([]string{nsenter, "-t", fmt.Sprint(client.PID()), "-n", "--", cmd.Path}, cmd.Args[1:]...)
			cmd.Path, cmd.Args = nsenter, args
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		}),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// fetchStatus makes the page post an action itself, as another script
// could: without credentials, or with the cookie but no CSRF token.
func fetchStatus(ctx context.Context, credentials string, body map[string]string) (int, error) {
	b, _ := json.Marshal(body)
	js := fmt.Sprintf(`fetch('/api/v1/actions/real', {method: 'POST', credentials: %q,
	  headers: {'Content-Type': 'application/json'}, body: %q}).then((r) => r.status)`, credentials, string(b))
	return chromedp.Run(ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
}

func TestConsoleInBrowser(t *testing.T) {
	testenv.RequireRoot(t, "network namespaces")
	tp := build(t)
	ctx := browser(t, tp.client)
	tctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(consoleD2)); err != nil {
		t.Fatalf("open %s: %v", consoleD2, err)
	}

	// Both directors, both links up, the VIP's holder, the virtual with
	// its two reals up; anonymous (console_readonly yes): no buttons.
	up := func(v view, d, r string) bool { x := v.Reals[d+" "+r]; return x.State == "up" && x.Weight == "1" }
	took := waitPage(t, tctx, 30*time.Second, "both directors, both links up, director1 holding, two reals up", func(v view) bool {
		return strings.Join(v.Directors, " ") == "director1 director2" && v.Status["director1"] == "active" &&
			v.Status["director2"] == "active" && v.Links["director1"] == "eth1 up eth2 up" &&
			strings.HasPrefix(v.Holder, "director1") && up(v, "director1", real1) && up(v, "director1", real2)
	})
	t.Logf("the page shows the cluster %v after opening it", took.Round(time.Millisecond))
	if v, _ := readPage(tctx); v.Buttons != 0 || !v.Login || v.User != "" {
		t.Fatalf("anonymous view: %d action buttons, login form %v, user %q", v.Buttons, v.Login, v.User)
	}

	// kill -9 of the active director (its hbd and ldird), its LAN cable
	// pulled as in make demo: the page shows director2 holding within 2 s,
	// without a reload.
	pid, err := tp.d1.ReadFile("/run/ldirectord.ldirectord.cf.pid")
	if err != nil {
		t.Fatal(err)
	}
	var ldPid int
	fmt.Sscan(strings.TrimSpace(string(pid)), &ldPid)
	if err := tp.hbd1.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if ldPid > 0 {
		syscall.Kill(ldPid, syscall.SIGKILL)
	}
	tp.d1.SetLink("eth0", false)
	waitPage(t, tctx, 5*time.Second, "director2 holding the VIP", func(v view) bool {
		return v.Holder == "director2" && v.Status["director1"] == "dead"
	})
	shown := time.Since(killed)
	t.Logf("kill -9 of director1: the page shows director2 holding %v after the kill", shown.Round(time.Millisecond))
	if shown > 2*time.Second {
		t.Fatalf("the page showed director2 holding %v after the kill, more than 2 s", shown)
	}
	waitPage(t, tctx, 10*time.Second, "director2's ldird with both reals up", func(v view) bool {
		return up(v, "director2", real1) && up(v, "director2", real2)
	})

	// real2's web server stops: it turns down, with its last check's detail.
	tp.web2.Kill()
	waitPage(t, tctx, 10*time.Second, "real2 down with its last check's detail", func(v view) bool {
		r := v.Reals["director2 "+real2]
		return r.State == "down" && r.Outcome == "failed" && r.Detail != "" && r.Weight == "0"
	})
	v, _ := readPage(tctx)
	t.Logf("real2 down: %+v", v.Reals["director2 "+real2])

	// Log in as the administrator.
	if err := chromedp.Do(tctx,
		chromedp.SendKeys(chromedp.ID("login-user"), adminUser),
		chromedp.SendKeys(chromedp.ID("login-password"), adminPass),
		chromedp.Click(chromedp.ID("login-submit")),
	); err != nil {
		t.Fatal(err)
	}
	waitPage(t, tctx, 10*time.Second, "the administrator logged in, with action buttons", func(v view) bool {
		return v.User == adminUser && !v.Login && v.Buttons > 0
	})
	// The plots: the failover on the timeline, heartbeat arrivals on both
	// links (a bar per 10 s bucket since hbd started).
	waitPage(t, tctx, 15*time.Second, "the failover on the timeline and both links' arrivals", func(v view) bool {
		return strings.Contains(v.Timeline, "director2 from") && strings.Contains(v.Timeline, "director1 node-dead") && v.Plots >= 4
	})
	shot(t, tctx)

	// Readable on a phone: at 390 px wide nothing makes the page scroll
	// sideways (wide tables scroll in their own box).
	if err := chromedp.Do(tctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, tctx, 5*time.Second, "the page laid out for a phone", func(view) bool {
		w, err := chromedp.Run(tctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
		return err == nil && w <= 0
	})
	if err := chromedp.Do(tctx, chromedp.EmulateViewport(1280, 1000)); err != nil {
		t.Fatal(err)
	}

	// An action without login, and one with the cookie but without the
	// CSRF token, are refused and change nothing.
	before := ldirdStatus(t, tp.d2)
	disable := map[string]string{"director": "director2", "instance": "ldirectord.cf", "virtual": virtual, "real": real2, "state": "disable"}
	if code, err := fetchStatus(tctx, "omit", disable); err != nil || code != 401 {
		t.Fatalf("an action without login: HTTP %d (%v), want 401", code, err)
	}
	if code, err := fetchStatus(tctx, "same-origin", disable); err != nil || code != 403 {
		t.Fatalf("an action without the CSRF token: HTTP %d (%v), want 403", code, err)
	}
	after := ldirdStatus(t, tp.d2)
	if tableWeight(after, real2) != "0" || healthState(after, real2) != "down" || tableWeight(before, real2) != "0" {
		t.Fatalf("refused actions changed the table:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Drain real1 by clicking: ldird status shows weight 0, and an ldird
	// restart keeps it.
	sel := `tr[data-real="` + real1 + `"][data-director="director2"] button[data-action="drain"]`
	if err := chromedp.Do(tctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatal(err)
	}
	netns.Eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		st := ldirdStatus(t, tp.d2)
		return tableWeight(st, real1) == "0" && healthState(st, real1) == "up,drain", "ldird status after drain:\n" + st
	})
	waitPage(t, tctx, 5*time.Second, "real1 drained", func(v view) bool {
		r := v.Reals["director2 "+real1]
		return r.State == "drained" && r.Weight == "0"
	})
	ctxR, cancelR := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelR()
	out, errOut, code, err := tp.d2.Run(ctxR, "env", "LDIRD_STATEDIR="+stateDir, filepath.Join(binDir, "ldird"), "/etc/ha.d/ldirectord.cf", "restart")
	if err != nil || code != 0 {
		t.Fatalf("ldird restart: exit %d %v\n%s%s", code, err, out, errOut)
	}
	st := ldirdStatus(t, tp.d2)
	if tableWeight(st, real1) != "0" || healthState(st, real1) != "up,drain" {
		t.Fatalf("after the ldird restart real1 is not drained:\n%s", st)
	}
	t.Logf("after the ldird restart:\n%s", st)
	waitPage(t, tctx, 10*time.Second, "real1 still drained after the restart", func(v view) bool {
		r := v.Reals["director2 "+real1]
		return r.State == "drained" && r.Weight == "0"
	})
	logs, _ := tp.d2.ReadFile("/var/log/ha-log")
	if !regexp.MustCompile(`msg="console action" .*user=admin .*action=real director=director2 target="ldirectord.cf ` + regexp.QuoteMeta(virtual) + ` ` + regexp.QuoteMeta(real1) + ` drain" result=ok`).Match(logs) {
		t.Errorf("no audit line for the drain in director2's log")
	}
	if n := bytes.Count(logs, []byte("console action refused")); n != 2 {
		t.Errorf("%d refusals in director2's log, want 2", n)
	}
}

// shot takes the README's screenshot: docs/console.png when
// LVSHA_UPDATE_SCREENSHOT=1, else a temporary file; it must be a real
// page-sized PNG either way.
func shot(t *testing.T, ctx context.Context) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 800 {
		t.Fatalf("screenshot of %v", b)
	}
	path := filepath.Join(t.TempDir(), "console.png")
	if os.Getenv("LVSHA_UPDATE_SCREENSHOT") == "1" {
		path = filepath.Join("..", "..", "docs", "console.png")
		os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%dx%d)", path, img.Bounds().Dx(), img.Bounds().Dy())
}
