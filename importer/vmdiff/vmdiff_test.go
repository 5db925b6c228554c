//go:build vm

package vmdiff

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"lvsha/importer/corpus"
	"lvsha/importer/kaconf"
	ldconfig "lvsha/ldird/config"

	"lvsha/internal/testenv"
)

// What tests/vm puts in the environment.
const (
	envImport  = "LVSHA_IMPORT"      // the lvsha-import binary
	envLdird   = "LVSHA_LDIRD"       // the ldird binary
	envRoot    = "LVSHA_CORPUS_ROOT" // the directory holding corpus/
	envSamples = "LVSHA_SAMPLES"     // keepalived's samples, or ""
	envShard   = "LVSHA_VMDIFF_SHARD"
	envServe   = "LVSHA_VMDIFF_SERVE" // set: run as a real server
)

// Body is what every real's HTTP(S) server answers; its MD5 is the digest
// the corpus's SSL_GET and HTTP_GET checks expect.
const Body = "lvsha real server\n"

func TestMain(m *testing.M) {
	if spec := os.Getenv(envServe); spec != "" {
		if err := serve(spec); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// serve runs the servers of one real: spec is "http:80,https:443,smtp:25,
// dns:53,tcp:8080". It never returns unless a listener fails.
func serve(spec string) error {
	errc := make(chan error, 8)
	for _, item := range strings.Split(spec, ",") {
		kind, port, _ := strings.Cut(item, ":")
		addr := "[::]:" + port
		switch kind {
		case "http", "tcp":
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			go func() { errc <- http.Serve(ln, handler()) }()
		case "https":
			cert, err := selfSigned()
			if err != nil {
				return err
			}
			ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}})
			if err != nil {
				return err
			}
			go func() { errc <- http.Serve(ln, handler()) }()
		case "smtp":
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			go func() { errc <- smtp(ln) }()
		case "dns":
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				return err
			}
			go func() { errc <- dns(pc) }()
		default:
			return fmt.Errorf("unknown server kind %q", kind)
		}
	}
	return <-errc
}

func handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "missing") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, Body)
	})
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"lvsha.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func smtp(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprint(c, "220 lvsha ESMTP\r\n")
			rd := bufio.NewReader(c)
			for {
				l, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				switch strings.ToUpper(strings.Fields(l + " x")[0]) {
				case "HELO", "EHLO":
					fmt.Fprint(c, "250 lvsha\r\n")
				case "QUIT":
					fmt.Fprint(c, "221 bye\r\n")
					return
				default:
					fmt.Fprint(c, "250 ok\r\n")
				}
			}
		}()
	}
}

// dns answers every query NOERROR with one A record 10.77.77.77.
func dns(pc net.PacketConn) error {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		if n < 12 {
			continue
		}
		q := append([]byte(nil), buf[:n]...)
		binary.BigEndian.PutUint16(q[2:], 0x8180)
		binary.BigEndian.PutUint16(q[6:], 1) // one answer
		ans := []byte{0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 77, 77, 77}
		pc.WriteTo(append(q, ans...), from)
	}
}

// run runs a command and returns its combined output.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

var nsSeq atomic.Int64

// world is one director namespace and the namespaces of its reals.
type world struct {
	t        *testing.T
	tag      string
	director string
	reals    map[netip.Addr]*realNS
	procs    []*exec.Cmd
	logs     []string
}

type realNS struct {
	ns     string
	spec   string
	server *exec.Cmd
}

const (
	dirV4 = "10.255.255.1" // the director's address on every link to a real
	dirV6 = "fd00:77::1"
)

// newWorld builds the namespaces: one veth link from the director to each
// real address, host routes both ways, the servers started.
func newWorld(t *testing.T, tag string, specs map[netip.Addr]string) *world {
	w := &world{t: t, tag: tag, reals: map[netip.Addr]*realNS{}}
	id := nsSeq.Add(1)
	w.director = fmt.Sprintf("d%d", id)
	must := func(args ...string) {
		t.Helper()
		if _, err := run("ip", args...); err != nil {
			t.Fatal(err)
		}
	}
	must("netns", "add", w.director)
	t.Cleanup(w.close)
	must("-n", w.director, "link", "set", "lo", "up")
	addrs := make([]netip.Addr, 0, len(specs))
	for a := range specs {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	self, _ := os.Executable()
	for i, a := range addrs {
		r := &realNS{ns: fmt.Sprintf("d%dr%d", id, i), spec: specs[a]}
		w.reals[a] = r
		must("netns", "add", r.ns)
		must("-n", r.ns, "link", "set", "lo", "up")
		dv, rv := fmt.Sprintf("v%dd%d", id, i), fmt.Sprintf("v%dr%d", id, i)
		must("link", "add", dv, "netns", w.director, "type", "veth", "peer", "name", rv, "netns", r.ns)
		must("-n", w.director, "link", "set", dv, "up")
		must("-n", r.ns, "link", "set", rv, "name", "eth0")
		must("-n", r.ns, "link", "set", "eth0", "up")
		if a.Is4() {
			must("-n", w.director, "addr", "add", dirV4+"/32", "dev", dv)
			must("-n", w.director, "route", "add", a.String()+"/32", "dev", dv)
			must("-n", r.ns, "addr", "add", a.String()+"/32", "dev", "eth0")
			must("-n", r.ns, "route", "add", dirV4+"/32", "dev", "eth0")
			must("-n", r.ns, "route", "add", "default", "via", dirV4, "dev", "eth0")
		} else {
			must("-n", w.director, "addr", "add", dirV6+"/128", "dev", dv, "nodad")
			must("-n", w.director, "-6", "route", "add", a.String()+"/128", "dev", dv)
			must("-n", r.ns, "addr", "add", a.String()+"/128", "dev", "eth0", "nodad")
			must("-n", r.ns, "-6", "route", "add", dirV6+"/128", "dev", "eth0")
			must("-n", r.ns, "-6", "route", "add", "default", "via", dirV6, "dev", "eth0")
		}
		if r.spec != "" {
			cmd := exec.Command("ip", "netns", "exec", r.ns, self)
			cmd.Env = append(os.Environ(), envServe+"="+r.spec)
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r.server = cmd
		}
	}
	return w
}

// start runs a daemon in the director namespace, its output in a log.
func (w *world) start(logName string, env []string, name string, args ...string) {
	w.t.Helper()
	log := filepath.Join(w.t.TempDir(), logName)
	f, err := os.Create(log)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", w.director, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.procs = append(w.procs, cmd)
	w.logs = append(w.logs, log)
}

// table is the director's IPVS table as ipvsadm lists it.
func (w *world) table() string {
	out, err := run("ip", "netns", "exec", w.director, "ipvsadm", "-Ln")
	if err != nil {
		return "error: " + err.Error()
	}
	return out
}

// stopReal kills a real's servers.
func (w *world) stopReal(a netip.Addr) {
	if r := w.reals[a]; r != nil && r.server != nil {
		r.server.Process.Kill()
		r.server.Wait()
		r.server = nil
	}
}

func (w *world) close() {
	for _, p := range w.procs {
		p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range w.procs {
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
	for _, r := range w.reals {
		if r.server != nil {
			r.server.Process.Kill()
			r.server.Wait()
		}
		run("ip", "netns", "del", r.ns)
	}
	run("ip", "netns", "del", w.director)
}

func (w *world) dumpLogs() string {
	var b strings.Builder
	for _, l := range w.logs {
		data, _ := os.ReadFile(l)
		s := string(data)
		if len(s) > 4000 {
			s = "..." + s[len(s)-4000:]
		}
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", filepath.Base(l), w.tag, s)
	}
	return b.String()
}

// checkers are the keepalived checker blocks.
var checkers = map[string]bool{"HTTP_GET": true, "SSL_GET": true, "TCP_CHECK": true, "SMTP_CHECK": true, "DNS_CHECK": true,
	"MISC_CHECK": true, "PING_CHECK": true, "UDP_CHECK": true, "BFD_CHECK": true, "FILE_CHECK": true}

// plan is what the configuration asks of the lab: the servers each real
// address runs, and which reals fail when their servers stop.
type labPlan struct {
	specs     map[netip.Addr]string
	stoppable map[netip.Addr]bool // a stopped server makes every check of the real fail
}

func labFor(cfg *kaconf.Config) labPlan {
	want := map[netip.Addr]map[string]bool{}
	add := func(ip string, kind string, port string) {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return
		}
		a = a.Unmap()
		if want[a] == nil {
			want[a] = map[string]bool{}
		}
		if kind != "" && port != "" && port != "0" {
			want[a][kind+":"+port] = true
		}
	}
	groups := map[string]*kaconf.Node{}
	for _, n := range cfg.Nodes {
		if n.Key == "virtual_server_group" {
			groups[n.Arg(0)] = n
		}
	}
	p := labPlan{stoppable: map[netip.Addr]bool{}}
	for _, vs := range cfg.Nodes {
		if vs.Key != "virtual_server" {
			continue
		}
		vsPort := ""
		switch vs.Arg(0) {
		case "group":
			if g := groups[vs.Arg(1)]; g != nil {
				for _, e := range g.Block {
					if e.Key != "fwmark" && e.Arg(0) != "" {
						vsPort = e.Arg(0)
						break
					}
				}
			}
		case "fwmark":
		default:
			vsPort = vs.Arg(1)
		}
		for _, rs := range vs.Find("real_server") {
			rport := rs.Arg(1)
			if rport == "" {
				rport = vsPort
			}
			add(rs.Arg(0), "", "")
			a, err := netip.ParseAddr(rs.Arg(0))
			if err != nil {
				continue
			}
			n, served := 0, 0
			for _, ck := range rs.Block {
				if !checkers[ck.Key] {
					continue
				}
				n++
				port, ip := rport, rs.Arg(0)
				if c := ck.Last("connect_port"); c != nil {
					port = c.Arg(0)
				}
				if c := ck.Last("connect_ip"); c != nil {
					ip = c.Arg(0)
				}
				switch ck.Key {
				case "HTTP_GET":
					add(ip, "http", port)
					served++
				case "SSL_GET":
					add(ip, "https", port)
					served++
				case "TCP_CHECK":
					add(ip, "tcp", port)
					served++
				case "SMTP_CHECK":
					if port == "" {
						port = "25"
					}
					add(ip, "smtp", port)
					for _, h := range ck.Find("host") {
						hip, hport := rs.Arg(0), port
						if c := h.Last("connect_ip"); c != nil {
							hip = c.Arg(0)
						}
						if c := h.Last("connect_port"); c != nil {
							hport = c.Arg(0)
						}
						add(hip, "smtp", hport)
					}
					served++
				case "DNS_CHECK":
					if port == "" || port == "0" {
						port = "53"
					}
					add(ip, "dns", port)
					served++
				case "MISC_CHECK":
					if m := ck.Last("misc_path"); m != nil {
						f := strings.Fields(strings.Join(m.Args, " "))
						if len(f) == 3 && filepath.Base(f[0]) == "check-port.sh" {
							add(f[1], "tcp", f[2])
							served++
						}
					}
				}
			}
			p.stoppable[a.Unmap()] = n > 0 && served == n
		}
	}
	p.specs = map[netip.Addr]string{}
	for a, kinds := range want {
		// One listener per port: http also answers plain TCP connects.
		byPort := map[string]string{}
		for k := range kinds {
			kind, port, _ := strings.Cut(k, ":")
			if old, ok := byPort[port]; !ok || old == "tcp" {
				byPort[port] = kind
			}
		}
		var items []string
		for port, kind := range byPort {
			if kind == "tcp" {
				kind = "http"
			}
			items = append(items, kind+":"+port)
		}
		sort.Strings(items)
		p.specs[a] = strings.Join(items, ",")
	}
	return p
}

// notMappedInLVS reports whether a NOT MAPPED item of the report lies in a
// virtual_server or virtual_server_group block.
func notMappedInLVS(cfg *kaconf.Config, report string) (string, bool) {
	base := filepath.Dir(cfg.Files[0])
	type span struct {
		file       string
		start, end int
	}
	var spans []span
	var last func(n *kaconf.Node) int
	last = func(n *kaconf.Node) int {
		l := n.Pos.Line
		for _, c := range n.Block {
			if c.Pos.File == n.Pos.File {
				l = max(l, last(c))
			}
		}
		return l + 1 // the closing brace
	}
	for _, n := range cfg.Nodes {
		if n.Key == "virtual_server" || n.Key == "virtual_server_group" {
			rel, _ := filepath.Rel(base, n.Pos.File)
			spans = append(spans, span{rel, n.Pos.Line, last(n)})
			// Included files inside the block count whole.
			var walk func(*kaconf.Node)
			walk = func(c *kaconf.Node) {
				if c.Pos.File != n.Pos.File {
					r, _ := filepath.Rel(base, c.Pos.File)
					spans = append(spans, span{r, 0, 1 << 30})
				}
				for _, d := range c.Block {
					walk(d)
				}
			}
			walk(n)
		}
	}
	re := regexp.MustCompile(`^NOT MAPPED (\S+?):(\d+)\s`)
	for _, l := range strings.Split(report, "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		line, _ := strconv.Atoi(m[2])
		for _, s := range spans {
			if s.file == m[1] && line >= s.start && line <= s.end {
				return l, true
			}
		}
	}
	return "", false
}

// settleTime bounds how long ldird (and keepalived, timed alike by the
// import) takes to reach a steady table: a check period per failure to
// count, plus a timeout, for the slowest virtual.
func settleTime(cfg *ldconfig.Config) time.Duration {
	var worst time.Duration
	for _, v := range cfg.Virtuals {
		c := v.Check
		to := max(c.CheckTimeout, c.NegotiateTimeout)
		d := time.Duration(c.FailureCount+1)*c.CheckInterval + to
		worst = max(worst, d)
	}
	return worst
}

// budget is the longest settling a case may need to be run in the VM.
const budget = 35 * time.Second

type entry struct {
	svc, real string
	weight    int
	fwd       string
}

// parseTable reads ipvsadm -Ln into services and their reals.
func parseTable(s string) (svcs []string, reals []entry) {
	cur := ""
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && (f[0] == "TCP" || f[0] == "UDP" || f[0] == "FWM" || f[0] == "SCTP"):
			cur = f[0] + " " + f[1]
			svcs = append(svcs, cur)
		case len(f) >= 4 && f[0] == "->" && f[1] != "RemoteAddress:Port":
			w, _ := strconv.Atoi(f[3])
			reals = append(reals, entry{svc: cur, real: f[1], weight: w, fwd: f[2]})
		}
	}
	return svcs, reals
}

// converge waits until both tables are identical and stay so for window.
func converge(t *testing.T, what string, a, b *world, window, timeout time.Duration, svcCount int) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	var same string
	var since time.Time
	for {
		ta, tb := a.table(), b.table()
		sa, _ := parseTable(ta)
		sb, _ := parseTable(tb)
		switch {
		case ta != tb || len(sa) < svcCount || len(sb) < svcCount:
			same, since = "", time.Time{}
		case ta != same:
			same, since = ta, time.Now()
		case time.Since(since) >= window:
			return ta, time.Since(start) - window
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: the tables did not become identical and stay so within %v\nkeepalived:\n%s\nldird:\n%s\n%s%s",
				what, timeout, ta, tb, a.dumpLogs(), b.dumpLogs())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestImportDifferential(t *testing.T) {
	imp, ldird, root := os.Getenv(envImport), os.Getenv(envLdird), os.Getenv(envRoot)
	if imp == "" || ldird == "" || root == "" {
		testenv.Skipf(t, "runs in the test VM, started by tests/vm TestImportDifferentialInVM (needs $%s, $%s, $%s)", envImport, envLdird, envRoot)
	}
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Fatalf("keepalived is not in the guest: %v", err)
	}
	cases, err := corpus.List(root, os.Getenv(envSamples))
	if err != nil {
		t.Fatal(err)
	}
	shard, shards := 0, 1
	if s := os.Getenv(envShard); s != "" {
		fmt.Sscanf(s, "%d/%d", &shard, &shards)
	}
	var mu sync.Mutex
	compared, stopped := 0, 0
	var excluded []string
	t.Run("cases", func(t *testing.T) {
		i := -1
		for _, c := range cases {
			if c.Kind != "keepalived" {
				continue
			}
			i++
			if i%shards != shard {
				continue
			}
			c := c
			t.Run(c.Name, func(t *testing.T) {
				t.Parallel()
				why, didStop := diffCase(t, c, imp, ldird)
				mu.Lock()
				defer mu.Unlock()
				if why != "" {
					excluded = append(excluded, c.Name+": "+why)
					return
				}
				compared++
				if didStop {
					stopped++
				}
			})
		}
	})
	sort.Strings(excluded)
	t.Logf("shard %d/%d: %d inputs compared (%d with a real stopped), %d left out:\n  %s", shard, shards, compared, stopped, len(excluded), strings.Join(excluded, "\n  "))
	if compared == 0 && !t.Failed() {
		t.Error("no input was compared")
	}
}

// diffCase runs one input; it returns why the input was left out, or "".
func diffCase(t *testing.T, c corpus.Case, imp, ldird string) (string, bool) {
	out := t.TempDir()
	args := append(append([]string{"keepalived"}, c.Args...), "--helper", imp, "--install-dir", out, "-o", out, "--keep-going", c.Input)
	report, err := run(imp, args...)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	ldcf, err := os.ReadFile(filepath.Join(out, "ldirectord.cf"))
	if errors.Is(err, os.ErrNotExist) {
		return "no virtual server", false
	}
	if err != nil {
		t.Fatal(err)
	}
	id := "lb1"
	for i, a := range c.Args {
		if a == "--node" {
			id = c.Args[i+1]
		}
	}
	probe, err := kaconf.Parse(c.Input, kaconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(probe.ConfigIDs) == 2 && !contains(c.Args, "--node") {
		id = probe.ConfigIDs[0]
	}
	cfg, err := kaconf.Parse(c.Input, kaconf.Options{ConfigID: id})
	if err != nil {
		t.Fatal(err)
	}
	if line, ok := notMappedInLVS(cfg, report); ok {
		return "a virtual server holds something not mapped (" + strings.TrimSpace(line) + ")", false
	}
	lc, err := ldconfig.ParseBytes("ldirectord.cf", ldcf, ldconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	settle := settleTime(lc)
	if settle > budget {
		return fmt.Sprintf("its checks need about %v to settle, more than the VM's budget of %v", settle, budget), false
	}
	lab := labFor(cfg)
	ka := newWorld(t, "keepalived", lab.specs)
	ld := newWorld(t, "ldird", lab.specs)
	abs, _ := filepath.Abs(c.Input)
	ka.start("keepalived.log", nil, "keepalived", "-C", "-n", "-l", "-D", "-f", abs, "-i", id,
		"-p", "/run/"+ka.director+".pid", "-c", "/run/"+ka.director+"-checkers.pid")
	rundir := filepath.Join(out, "run")
	os.MkdirAll(rundir, 0o755)
	ld.start("ldird.log", []string{"LDIRD_RUNDIR=" + rundir}, ldird, "-f", filepath.Join(out, "ldirectord.cf"), "start")

	// A state must hold for a check period and a margin to count (a flap
	// shows within a check period); the whole case ends before the binary's own
	// deadline, so that a failure prints both tables.
	var maxCI time.Duration
	for _, v := range lc.Virtuals {
		maxCI = max(maxCI, v.Check.CheckInterval)
	}
	window := maxCI + 3*time.Second
	timeout := settle + window + 15*time.Second
	if dl, ok := t.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)/2-5*time.Second)
	}
	table, took := converge(t, "after start", ka, ld, window, timeout, len(lc.Virtuals))
	t.Logf("identical tables %v after start:\n%s", took.Round(100*time.Millisecond), table)

	// Stop the server of the first real that is in the table with weight
	// and whose every check needs its servers.
	_, reals := parseTable(table)
	var victim netip.Addr
	for _, e := range reals {
		ap, err := netip.ParseAddrPort(e.real)
		if err != nil || e.weight == 0 || !lab.stoppable[ap.Addr().Unmap()] {
			continue
		}
		victim = ap.Addr().Unmap()
		break
	}
	if !victim.IsValid() {
		t.Logf("no real with a weight whose checks depend on its servers: nothing to stop")
		return "", false
	}
	ka.stopReal(victim)
	ld.stopReal(victim)
	if dl, ok := t.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)-5*time.Second)
	}
	after, took := converge(t, "after stopping "+victim.String(), ka, ld, window, timeout, len(lc.Virtuals))
	t.Logf("stopped %s's servers; identical tables %v later:\n%s", victim, took.Round(100*time.Millisecond), after)

	// Where the victim was up, it is now removed or at weight 0 as the
	// virtual's quiescent setting says.
	_, now := parseTable(after)
	quiescent := map[string]bool{}
	for _, v := range lc.Virtuals {
		key := strings.ToUpper(v.Protocol) + " " + v.Addr.String()
		if v.Protocol == "fwm" {
			key = "FWM " + strconv.FormatUint(uint64(v.FWMark), 10)
		}
		quiescent[key] = v.Quiescent
	}
	changed := 0
	for _, e := range reals {
		ap, err := netip.ParseAddrPort(e.real)
		if err != nil || ap.Addr().Unmap() != victim || e.weight == 0 {
			continue
		}
		var found *entry
		for i := range now {
			if now[i].svc == e.svc && now[i].real == e.real {
				found = &now[i]
			}
		}
		q, known := quiescent[e.svc]
		switch {
		case !known:
			t.Errorf("%s: service not in ldirectord.cf", e.svc)
		case q && (found == nil || found.weight != 0):
			t.Errorf("%s %s: quiescent = yes, want weight 0, got %+v", e.svc, e.real, found)
		case !q && found != nil:
			t.Errorf("%s %s: quiescent = no, want it removed, got %+v", e.svc, e.real, found)
		default:
			changed++
		}
	}
	if changed == 0 {
		t.Errorf("stopping %s changed nothing", victim)
	}
	return "", true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
