//go:build bench

package bench

// TestProxyBench: ldird's userspace dataplane against HAProxy 2.6 (Debian's
// haproxy, mode tcp), both relaying to the same two reals on loopback in
// one namespace, loaded by wrk -t2 -c64. Each run starts both proxies
// afresh and measures them one after the other, alternating which goes
// first.

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"lvsha/tests/netns"
)

const (
	colProxyLdird   = "ldird userspace"
	colProxyHAProxy = "HAProxy 2.6"
	httpdName       = "lvsha-bench-httpd"
	idleName        = "lvsha-bench-idle"
	proxyReals      = "127.0.0.2:9000 127.0.0.3:9000"
	ldirdVIP        = "127.0.0.1:8080"
	haproxyVIP      = "127.0.0.1:8081"
)

type proxyScale struct {
	load time.Duration // wrk duration
	idle int           // idle connections held for the memory figure
}

func proxyScaleNow() proxyScale {
	return proxyScale{load: pick(8*time.Second, 3*time.Second), idle: pick(2000, 1000)}
}

const proxyLdirdCf = `# lvsha bench: ldird's userspace dataplane as a plain TCP proxy
checkinterval=5
quiescent=no
supervised=yes
dataplane=userspace
virtual=` + ldirdVIP + `
	real=127.0.0.2:9000 masq 1
	real=127.0.0.3:9000 masq 1
	checktype=on
	scheduler=rr
	protocol=tcp
`

// HAProxy as Debian ships it, in mode tcp, no health checks (ldird's
// checktype=on), idle timeouts of 900 s (ldird's default).
const proxyHAProxyCf = `global
	maxconn 8000
defaults
	mode tcp
	timeout connect 5s
	timeout client 900s
	timeout server 900s
frontend bench
	bind ` + haproxyVIP + `
	default_backend reals
backend reals
	balance roundrobin
	server r1 127.0.0.2:9000
	server r2 127.0.0.3:9000
`

type proxyUnderTest struct {
	col, vip string
	proc     *netns.Proc
}

func requireProxyTools(t *testing.T) {
	netns.Require(t)
	for _, p := range []string{"/usr/sbin/haproxy", "/usr/bin/wrk", "/usr/bin/curl"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s not installed (make bench installs haproxy, wrk, curl: scripts/deps.sh bench)", p)
		}
	}
}

// TestProxyBench measures per request CPU (keep-alive, and a new
// connection per request), p99 latency, requests per second, OS threads
// and memory per idle connection.
func TestProxyBench(t *testing.T) {
	requireProxyTools(t)
	sc := proxyScaleNow()
	tb := newTable(fmt.Sprintf("ldird userspace dataplane vs HAProxy 2.6 (mode tcp): wrk -t2 -c64 -d%v on loopback (bench/proxy_test.go)", sc.load),
		[]string{colProxyLdird, colProxyHAProxy}, [2]string{colProxyLdird, colProxyHAProxy})
	for i := 0; i < cfg.runs; i++ {
		progress("proxy: run %d/%d", i+1, cfg.runs)
		t.Run(fmt.Sprintf("run/%d", i), func(t *testing.T) { proxyRun(t, sc, tb, i%2 == 1) })
	}
	tb.note("CPU per request: the proxy process's CPU (user+system) during the wrk run ÷ requests completed; wrk, the reals and the proxy share the 2 cores")
	tb.note("new connection: wrk sends Connection: close, the real closes after answering, so each request is a new client and a new real connection")
	tb.note("memory per idle connection: RSS growth with %d connections open and idle (both sides relayed: 2 sockets each) ÷ %d, each proxy freshly started", sc.idle, sc.idle)
	tb.note("the reals: one Go server (this test binary) answering every request with 512 bytes, keep-alive unless asked to close")
	publish(t, tb.render())
}

func proxyRun(t *testing.T, sc proxyScale, tb *table, haproxyFirst bool) {
	n := netns.NewNode(t, "proxy")
	if _, err := n.Start(filepath.Join(binDir, httpdName), "-listen", "0.0.0.0:9000"); err != nil {
		t.Fatal(err)
	}
	n.WriteFile("/etc/ha.d/ldirectord.cf", []byte(proxyLdirdCf), 0o644)
	n.WriteFile("/etc/ha.d/haproxy.cfg", []byte(proxyHAProxyCf), 0o644)
	ld, err := n.Start("sh", "-c", "ulimit -n $(ulimit -Hn) && exec "+filepath.Join(binDir, "ldird")+" ldirectord.cf start")
	if err != nil {
		t.Fatal(err)
	}
	hp, err := n.Start("sh", "-c", "ulimit -n $(ulimit -Hn) && exec haproxy -db -f /etc/ha.d/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	ps := []*proxyUnderTest{{colProxyLdird, ldirdVIP, ld}, {colProxyHAProxy, haproxyVIP, hp}}
	if haproxyFirst {
		ps[0], ps[1] = ps[1], ps[0]
	}
	for _, p := range ps {
		if !waitFor(20*time.Second, 50*time.Millisecond, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			out, _, code, err := n.Run(ctx, "curl", "-s", "-m", "1", "http://"+p.vip+"/")
			return err == nil && code == 0 && len(out) == httpdBody
		}) || p.proc.Exited() {
			t.Fatalf("%s does not answer on %s:\n%s", p.col, p.vip, tail(p.proc.Output(), 2000))
		}
	}
	// Idle memory first, on freshly started proxies.
	for _, p := range ps {
		rss0, _ := procMem(p.proc.PID)
		fd0 := procFDs(p.proc.PID)
		idle, err := n.Start(filepath.Join(binDir, idleName), "-addr", p.vip, "-n", strconv.Itoa(sc.idle), "-hold", "120s")
		if err != nil {
			t.Fatal(err)
		}
		if !waitFor(60*time.Second, 50*time.Millisecond, func() bool { return procFDs(p.proc.PID) >= fd0+2*sc.idle || idle.Exited() }) || idle.Exited() {
			t.Fatalf("%s: %d idle connections not relayed (fds %d → %d):\n%s", p.col, sc.idle, fd0, procFDs(p.proc.PID), tail(idle.Output(), 1000))
		}
		time.Sleep(time.Second) // let lazily made state settle
		rss1, _ := procMem(p.proc.PID)
		tb.add("memory per idle connection (RSS growth)", kKiB, p.col, (rss1-rss0)*1024/float64(sc.idle))
		_ = idle.Kill()
		_ = idle.Wait(5 * time.Second)
		if !waitFor(30*time.Second, 50*time.Millisecond, func() bool { return procFDs(p.proc.PID) <= fd0+4 }) {
			t.Fatalf("%s: idle connections not released (fds %d, before %d)", p.col, procFDs(p.proc.PID), fd0)
		}
	}
	for _, mode := range []struct {
		name  string
		extra []string
	}{{"keep-alive", nil}, {"new connection per request", []string{"-H", "Connection: close"}}} {
		for _, p := range ps {
			c0, err := procCPU(p.proc.PID)
			if err != nil {
				t.Fatal(err)
			}
			w, err := runWrk(n, "http://"+p.vip+"/", sc.load, mode.extra...)
			if err != nil {
				t.Fatalf("%s, %s: %v", p.col, mode.name, err)
			}
			c1, err := procCPU(p.proc.PID)
			if err != nil {
				t.Fatalf("%s died under load: %v\n%s", p.col, err, tail(p.proc.Output(), 2000))
			}
			if w.requests == 0 {
				t.Fatalf("%s, %s: wrk completed no request:\n%s", p.col, mode.name, w.out)
			}
			tb.add(mode.name+": CPU per request", kUs, p.col, float64(c1-c0)/float64(time.Microsecond)/float64(w.requests))
			tb.add(mode.name+": requests per second", kCount, p.col, w.rps)
			tb.higher(mode.name+": requests per second", kCount)
			tb.add(mode.name+": latency p99", kDur, p.col, w.p99.Seconds())
			tb.add(mode.name+": socket errors", kCount, p.col, float64(w.errors))
			if mode.extra == nil {
				tb.add("OS threads after the keep-alive load", kCount, p.col, procStatus(p.proc.PID)["Threads"])
			}
		}
	}
	for _, p := range ps {
		rss, _ := procMem(p.proc.PID)
		tb.add("RSS after the runs", kMiB, p.col, rss)
	}
}

type wrkResult struct {
	requests int
	rps      float64
	p99      time.Duration
	errors   int
	out      string
}

var (
	wrkRequestsRe = regexp.MustCompile(`(\d+) requests in`)
	wrkRPSRe      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkP99Re      = regexp.MustCompile(`\s99%\s+([\d.]+)(us|ms|s)\b`)
	wrkErrRe      = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// runWrk runs wrk -t2 -c64 inside the node, bounded by its duration plus
// 30 s.
func runWrk(n *netns.Node, url string, d time.Duration, extra ...string) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	args := append([]string{"-t2", "-c64", fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency"}, extra...)
	args = append(args, url)
	out, errOut, code, err := n.Run(ctx, "wrk", args...)
	r := wrkResult{out: out + errOut}
	if err != nil || code != 0 {
		return r, fmt.Errorf("wrk: exit %d, %v: %s", code, err, r.out)
	}
	m := wrkRequestsRe.FindStringSubmatch(out)
	m2 := wrkRPSRe.FindStringSubmatch(out)
	m3 := wrkP99Re.FindStringSubmatch(out)
	if m == nil || m2 == nil || m3 == nil {
		return r, fmt.Errorf("wrk: cannot read its output:\n%s", r.out)
	}
	r.requests, _ = strconv.Atoi(m[1])
	r.rps, _ = strconv.ParseFloat(m2[1], 64)
	v, _ := strconv.ParseFloat(m3[1], 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m3[2]]
	r.p99 = time.Duration(v * float64(unit))
	if e := wrkErrRe.FindStringSubmatch(out); e != nil {
		for _, x := range e[1:] {
			k, _ := strconv.Atoi(x)
			r.errors += k
		}
	}
	return r, nil
}

// ---------------------------------------------------------------------------
// The reals: a minimal HTTP/1.1 server (no pipelining; wrk does not
// pipeline), keep-alive unless the request says Connection: close.

const httpdBody = 512

func httpdMain(args []string) int {
	fs := flag.NewFlagSet(httpdName, flag.ContinueOnError)
	listen := fs.String("listen", "0.0.0.0:9000", "address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp4", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	body := strings.Repeat("x", httpdBody)
	keep := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", httpdBody, body))
	closing := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", httpdBody, body))
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			time.Sleep(time.Millisecond) // EMFILE and the like: back off
			continue
		}
		go serveHTTP(c, keep, closing)
	}
}

func serveHTTP(c net.Conn, keep, closing []byte) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	for {
		closeAfter := false
		for { // the request head; a body is not expected (GET)
			ln, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(ln) >= 17 && strings.EqualFold(strings.TrimSpace(string(ln)), "connection: close") {
				closeAfter = true
			}
			if len(ln) <= 2 { // "\r\n"
				break
			}
		}
		if closeAfter {
			_, _ = c.Write(closing)
			return
		}
		if _, err := c.Write(keep); err != nil {
			return
		}
	}
}

// idleMain opens n connections to addr, says so, and holds them (idle)
// for the given time or until killed.
func idleMain(args []string) int {
	fs := flag.NewFlagSet(idleName, flag.ContinueOnError)
	addr := fs.String("addr", "", "address")
	n := fs.Int("n", 1000, "connections")
	hold := fs.Duration("hold", time.Minute, "how long to hold them")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	conns := make([]net.Conn, 0, *n)
	for i := 0; i < *n; i++ {
		c, err := net.DialTimeout("tcp4", *addr, 5*time.Second)
		if err != nil {
			fmt.Fprintf(os.Stderr, "connection %d: %v\n", i, err)
			return 1
		}
		conns = append(conns, c)
	}
	fmt.Printf("open %d\n", len(conns))
	time.Sleep(*hold)
	for _, c := range conns {
		c.Close()
	}
	return 0
}
