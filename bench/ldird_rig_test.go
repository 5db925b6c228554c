//go:build bench

package bench

// The rig of the ldird benchmark (ldird_test.go): one network namespace per
// daemon run, holding the daemon, a server that answers for every real and a
// stand-in ipvsadm. Both helper programs are this test binary run under
// another name (harness_test.go dispatches), so nothing else has to be built.
//
//   - Reals are 127.1.x.y:8000. In a fresh network namespace all of
//     127.0.0.0/8 is local, so one listener on 0.0.0.0:8000 answers every
//     real; it records, per real, the time of every connection (one
//     connection is one check, for connect and http alike), so the rounds of
//     both daemons are seen the same way, from the outside.
//   - A dead real is one whose SYN gets a reset (an nft set, as a stopped
//     server would); a hung real accepts and reads the request but never
//     answers (held by the server).
//   - ldirectord runs against the stand-in ipvsadm, bind-mounted over
//     /usr/sbin/ipvsadm inside the namespace: it keeps the table in a state
//     file, answers `-L -n` and `-L -n --thresholds` in ipvsadm's layout
//     (ldirectord parses both before each change) and logs every call with
//     its end time, its own wall time and CPU, so ldirectord's figures can
//     be given with and without it. ldird uses its userspace dataplane (this kernel
//     has no IPVS) and its table changes are read from its log.

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lvsha/tests/netns"
)

// Names under which the test binary acts as a helper (harness_test.go
// dispatches on them).
const (
	fakeIPVSADMName = "ipvsadm"
	realsName       = "lvsha-bench-reals"
	floorName       = "lvsha-bench-floor"
)

// ---------------------------------------------------------------------------
// Stand-in ipvsadm.

// Paths inside the node (its private /run).
const (
	fakeStatePath = "/run/lvsha-fake-ipvsadm.state"
	fakeCallsPath = "/run/lvsha-fake-ipvsadm.calls"
)

type fakeDest struct {
	addr, fwd    string
	weight, u, l int
}

type fakeSvc struct {
	proto, addr, sched string
	dests              []fakeDest
}

func loadFake(path string) []*fakeSvc {
	b, _ := os.ReadFile(path)
	var svcs []*fakeSvc
	for _, ln := range strings.Split(string(b), "\n") {
		f := strings.Fields(ln)
		switch {
		case len(f) == 4 && f[0] == "S":
			svcs = append(svcs, &fakeSvc{proto: f[1], addr: f[2], sched: f[3]})
		case len(f) == 6 && f[0] == "D" && len(svcs) > 0:
			w, _ := strconv.Atoi(f[3])
			u, _ := strconv.Atoi(f[4])
			l, _ := strconv.Atoi(f[5])
			s := svcs[len(svcs)-1]
			s.dests = append(s.dests, fakeDest{addr: f[1], fwd: f[2], weight: w, u: u, l: l})
		}
	}
	return svcs
}

func saveFake(path string, svcs []*fakeSvc) error {
	var b bytes.Buffer
	for _, s := range svcs {
		fmt.Fprintf(&b, "S %s %s %s\n", s.proto, s.addr, s.sched)
		for _, d := range s.dests {
			fmt.Fprintf(&b, "D %s %s %d %d %d\n", d.addr, d.fwd, d.weight, d.u, d.l)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// fakeIPVSADM implements the part of ipvsadm(8) that ldirectord uses. It
// logs every call when it ends: end time (unix ns), its own wall time from
// entry and its CPU (user+system, runtime start-up included), both in ns,
// then the arguments; so ldirectord's figures can be given without it.
func fakeIPVSADM(args []string, stdout, stderr io.Writer) (code int) {
	t0 := time.Now()
	defer func() {
		if f, err := os.OpenFile(fakeCallsPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			now := time.Now()
			fmt.Fprintf(f, "%d %d %d %s\n", now.UnixNano(), now.Sub(t0).Nanoseconds(),
				ru.Utime.Nano()+ru.Stime.Nano(), strings.Join(args, " "))
			f.Close()
		}
	}()
	lock, err := os.OpenFile(fakeStatePath+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err == nil {
		defer lock.Close()
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	var cmd, proto, vaddr, sched, raddr, fwd string
	w, u, l := -1, -1, -1
	thresholds := false
	next := func(i *int) string {
		if *i+1 < len(args) {
			*i++
			return args[*i]
		}
		return ""
	}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-A", "-E", "-D", "-C", "-a", "-e", "-d", "-L", "-l", "-Z":
			cmd = a
		case "--list":
			cmd = "-L"
		case "-t":
			proto, vaddr = "TCP", next(&i)
		case "-u":
			proto, vaddr = "UDP", next(&i)
		case "-f":
			proto, vaddr = "FWM", next(&i)
		case "-s":
			sched = next(&i)
		case "-p":
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
			}
		case "-M", "-b":
			next(&i)
		case "-r":
			raddr = next(&i)
		case "-g":
			fwd = "Route"
		case "-i":
			fwd = "Tunnel"
		case "-m":
			fwd = "Masq"
		case "-w":
			w, _ = strconv.Atoi(next(&i))
		case "-x":
			u, _ = strconv.Atoi(next(&i))
		case "-y":
			l, _ = strconv.Atoi(next(&i))
		case "--thresholds":
			thresholds = true
		}
	}
	svcs := loadFake(fakeStatePath)
	find := func() (int, *fakeSvc) {
		for i, s := range svcs {
			if s.proto == proto && s.addr == vaddr {
				return i, s
			}
		}
		return -1, nil
	}
	fail := func(msg string) int {
		fmt.Fprintln(stderr, msg)
		return 1
	}
	switch cmd {
	case "-L", "-l":
		bw := bufio.NewWriter(stdout)
		fmt.Fprintln(bw, "IP Virtual Server version 1.2.1 (size=4096)")
		if thresholds {
			fmt.Fprintln(bw, "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn")
			fmt.Fprintln(bw, "  -> RemoteAddress:Port")
		} else {
			fmt.Fprintln(bw, "Prot LocalAddress:Port Scheduler Flags")
			fmt.Fprintln(bw, "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn")
		}
		for _, s := range svcs {
			fmt.Fprintf(bw, "%-4s %s %s\n", s.proto, s.addr, s.sched)
			for _, d := range s.dests {
				if thresholds {
					fmt.Fprintf(bw, "  -> %-28s %-10d %-10d %-10d %-10d\n", d.addr, d.u, d.l, 0, 0)
				} else {
					fmt.Fprintf(bw, "  -> %-28s %-7s %-6d %-10d %-10d\n", d.addr, d.fwd, d.weight, 0, 0)
				}
			}
		}
		bw.Flush()
		return 0
	case "-C":
		svcs = nil
	case "-A":
		if _, s := find(); s != nil {
			return fail("Service already exists")
		}
		if sched == "" {
			sched = "wlc"
		}
		svcs = append(svcs, &fakeSvc{proto: proto, addr: vaddr, sched: sched})
	case "-E":
		_, s := find()
		if s == nil {
			return fail("No such service")
		}
		if sched != "" {
			s.sched = sched
		}
	case "-D":
		i, s := find()
		if s == nil {
			return fail("No such service")
		}
		svcs = append(svcs[:i], svcs[i+1:]...)
	case "-a", "-e", "-d":
		_, s := find()
		if s == nil {
			return fail("No such service")
		}
		di := -1
		for i, d := range s.dests {
			if d.addr == raddr {
				di = i
			}
		}
		switch {
		case cmd == "-a" && di >= 0:
			return fail("Destination already exists")
		case cmd != "-a" && di < 0:
			return fail("No such destination")
		case cmd == "-d":
			s.dests = append(s.dests[:di], s.dests[di+1:]...)
		case cmd == "-a":
			d := fakeDest{addr: raddr, fwd: fwd, weight: w, u: u, l: l}
			if d.fwd == "" {
				d.fwd = "Route"
			}
			d.weight, d.u, d.l = max(d.weight, 1), max(d.u, 0), max(d.l, 0)
			if w == 0 {
				d.weight = 0
			}
			s.dests = append(s.dests, d)
		default:
			d := &s.dests[di]
			if fwd != "" {
				d.fwd = fwd
			}
			if w >= 0 {
				d.weight = w
			}
			if u >= 0 {
				d.u = u
			}
			if l >= 0 {
				d.l = l
			}
		}
	case "-Z", "":
		return 0
	}
	if err := saveFake(fakeStatePath, svcs); err != nil {
		return fail(err.Error())
	}
	return 0
}

// ---------------------------------------------------------------------------
// The reals server (runs inside the node).

type realsServer struct {
	mu    sync.Mutex
	t0    time.Time
	seen  map[[4]byte][]int64 // accept times, ns since t0
	hung  map[[4]byte]bool
	total int64
}

func ip4(a net.Addr) [4]byte {
	var k [4]byte
	if ta, ok := a.(*net.TCPAddr); ok {
		if v := ta.IP.To4(); v != nil {
			copy(k[:], v)
		}
	}
	return k
}

func parseIP4(s string) ([4]byte, bool) {
	var k [4]byte
	ip := net.ParseIP(s).To4()
	if ip == nil {
		return k, false
	}
	copy(k[:], ip)
	return k, true
}

const httpOK = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"

func realsMain(args []string) int {
	fs := flag.NewFlagSet(realsName, flag.ContinueOnError)
	ctl := fs.String("ctl", "", "control socket")
	port := fs.String("port", "8000", "port")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp4", "0.0.0.0:"+*port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Remove(*ctl)
	cl, err := net.Listen("unix", *ctl)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s := &realsServer{t0: time.Now(), seen: map[[4]byte][]int64{}, hung: map[[4]byte]bool{}}
	go func() {
		for {
			c, err := cl.Accept()
			if err != nil {
				return
			}
			go s.control(c)
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				time.Sleep(time.Millisecond)
				continue
			}
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		k := ip4(c.LocalAddr())
		now := time.Now()
		s.mu.Lock()
		s.seen[k] = append(s.seen[k], now.Sub(s.t0).Nanoseconds())
		s.total++
		hung := s.hung[k]
		s.mu.Unlock()
		go serveReal(c, hung)
	}
}

func serveReal(c net.Conn, hung bool) {
	defer c.Close()
	if hung { // accept and read, never answer; hold until the client gives up
		_ = c.SetDeadline(time.Now().Add(120 * time.Second))
		_, _ = io.Copy(io.Discard, c)
		return
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 0, 1024)
	tmp := make([]byte, 1024)
	for len(buf) < 16<<10 {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if bytes.Contains(buf, []byte("\r\n\r\n")) {
			_, _ = io.WriteString(c, httpOK)
			return
		}
		if err != nil { // a connect check: the client closed without a request
			return
		}
	}
}

// control serves one control connection: hang IP, unhang IP, reset, total,
// times IP (one real's accept times), dump (every real's accept times since
// the last reset).
func (s *realsServer) control(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "hang", "unhang":
			k, ok := parseIP4(f[len(f)-1])
			if !ok {
				fmt.Fprintln(w, "bad address")
				break
			}
			s.mu.Lock()
			if f[0] == "hang" {
				s.hung[k] = true
			} else {
				delete(s.hung, k)
			}
			s.mu.Unlock()
			fmt.Fprintln(w, "ok")
		case "reset":
			s.mu.Lock()
			s.t0, s.seen = time.Now(), map[[4]byte][]int64{}
			s.mu.Unlock()
			fmt.Fprintln(w, "ok")
		case "times": // one real's accept times since the last reset, unix ns
			k, ok := parseIP4(f[len(f)-1])
			if !ok {
				fmt.Fprintln(w, "bad address")
				break
			}
			s.mu.Lock()
			for i, x := range s.seen[k] {
				if i > 0 {
					w.WriteByte(' ')
				}
				w.WriteString(strconv.FormatInt(s.t0.UnixNano()+x, 10))
			}
			s.mu.Unlock()
			w.WriteByte('\n')
		case "total":
			s.mu.Lock()
			fmt.Fprintf(w, "%d %d\n", s.total, len(s.seen))
			s.mu.Unlock()
		case "dump":
			s.mu.Lock()
			fmt.Fprintf(w, "T0 %d\n", s.t0.UnixNano())
			for k, ts := range s.seen {
				fmt.Fprintf(w, "%d.%d.%d.%d", k[0], k[1], k[2], k[3])
				for _, x := range ts {
					w.WriteByte(' ')
					w.WriteString(strconv.FormatInt(x, 10))
				}
				w.WriteByte('\n')
			}
			s.mu.Unlock()
			fmt.Fprintln(w, ".")
		default:
			fmt.Fprintln(w, "unknown command")
		}
		if w.Flush() != nil {
			return
		}
	}
}

// floorMain connects to and closes reals 0..n-1 in turn, blocking, one
// thread, for the given time, and prints the CPU per connection (user +
// system, microseconds): what the kernel alone costs per connect check in
// this rig (on loopback both ends of each handshake run on the checker's
// CPU). With -http each connection is an http check as ldird makes it:
// the request, the reply read to its end (the real closes), and a close
// with a reset.
func floorMain(args []string) int {
	fs := flag.NewFlagSet(floorName, flag.ContinueOnError)
	n := fs.Int("reals", 1000, "reals to cycle through")
	d := fs.Duration("time", 2*time.Second, "how long")
	lan := fs.Bool("lan", false, "the LAN rig's reals (10.1.x.y)")
	http := fs.Bool("http", false, "an http exchange on each connection")
	rate := fs.Int("rate", 0, "checks a second, started in slots of "+floorSlot.String()+" as ldird's; 0: flat out")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	first := [2]byte{127, 1}
	if *lan {
		first = [2]byte{10, 1}
	}
	// ldird's request, byte for byte but the Host.
	req := []byte("GET /check HTTP/1.1\r\nHost: 127.1.0.1:8000\r\nUser-Agent: ldird (ldirectord-compatible health check)\r\nConnection: close\r\n\r\n")
	buf := make([]byte, 4096)
	// exchange is one http check on a connected socket: false when the
	// reply is not the reals server's.
	exchange := func(fd int) bool {
		if _, err := syscall.Write(fd, req); err != nil {
			return false
		}
		got := 0
		for {
			k, err := syscall.Read(fd, buf[got:])
			if err != nil || k <= 0 {
				break
			}
			got += k
		}
		_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
		return bytes.HasSuffix(buf[:got], []byte("ok\n"))
	}
	// Flat out, the loop never sleeps; paced, it runs a slot's worth of
	// checks at the start of each floorSlot and sleeps for the rest.
	burst, tick := 100, (<-chan time.Time)(nil)
	if *rate > 0 {
		burst = max(int(float64(*rate)*floorSlot.Seconds()), 1)
		tk := time.NewTicker(floorSlot)
		defer tk.Stop()
		tick = tk.C
	}
	c0, t0 := cpu(), time.Now()
	count, fails := 0, 0
	for time.Since(t0) < *d {
		if tick != nil {
			<-tick
		}
		for i := 0; i < burst; i++ {
			k := count % *n
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if syscall.Connect(fd, &syscall.SockaddrInet4{Port: realPort, Addr: [4]byte{first[0], first[1], byte(k / 250), byte(k%250 + 1)}}) != nil ||
				*http && !exchange(fd) {
				fails++
			}
			syscall.Close(fd)
			count++
		}
	}
	fmt.Printf("%.2f %d %d\n", float64(cpu()-c0)/float64(time.Microsecond)/float64(count), count, fails)
	return 0
}

// ---------------------------------------------------------------------------
// Bench side.

const (
	ldVIP      = "10.99.0.1:80"
	realPort   = 8000
	ldCfName   = "ldirectord.cf"
	ldCfPath   = "/etc/ha.d/ldirectord.cf"
	ldirectord = "/usr/sbin/ldirectord"
)

// realAddr is the i-th real (0-based) of the loopback rig: 127.1.x.y with
// y in 1..250.
func realAddr(i int) string { return cfOpts{}.realAddr(i) }

func realIP(i int) string { return cfOpts{}.realIP(i) }

// The LAN rig's reals are 10.1.x.y, local to the reals' node (one route
// for the /16), a veth pair away from the daemon's.
const (
	lanIf     = "lan0"
	lanSubnet = "10.0.0.0/24" // the daemon's node .1, the reals' .2
	lanReals  = "10.1.0.0/16"
)

// prefix is the first half of the reals' addresses.
func (o cfOpts) prefix() string {
	if o.lan {
		return "10.1"
	}
	return "127.1"
}

func (o cfOpts) realIP(i int) string { return fmt.Sprintf("%s.%d.%d", o.prefix(), i/250, i%250+1) }

func (o cfOpts) realAddr(i int) string { return fmt.Sprintf("%s:%d", o.realIP(i), realPort) }

// cfOpts is one configuration of the benchmark's virtual service.
type cfOpts struct {
	reals     int
	checktype string // connect or negotiate (service http)
	weights   map[int]int
	// prefilled starts ldirectord with every real already in its table at
	// its weight, as after a restart: its start-up then lists the table
	// twice per real but adds nothing (from an empty table it also adds
	// and deletes each real first).
	prefilled bool
	// lan puts the reals in a node of their own behind a veth pair, their
	// side of every packet on the other core (RPS), as a LAN's machines
	// would be: the daemon pays for its own end of each connection only,
	// and a handshake is no longer complete when connect(2) returns.
	// The daemon (and the floor) run on core 0, the reals on core 1.
	lan bool
}

func (o cfOpts) text(tool string) string {
	var b strings.Builder
	b.WriteString("# lvsha bench\ncheckinterval=1\nchecktimeout=1\nnegotiatetimeout=1\nautoreload=yes\n" +
		"quiescent=no\nsupervised=yes\n")
	if tool == toolLdird {
		b.WriteString("dataplane=userspace\n")
	}
	fmt.Fprintf(&b, "virtual=%s\n", ldVIP)
	for i := 0; i < o.reals; i++ {
		w := 1
		if x, ok := o.weights[i]; ok {
			w = x
		}
		fmt.Fprintf(&b, "\treal=%s masq %d\n", o.realAddr(i), w)
	}
	fmt.Fprintf(&b, "\tchecktype=%s\n\tservice=http\n\trequest=\"check\"\n\treceive=\"ok\"\n\tscheduler=rr\n\tprotocol=tcp\n", o.checktype)
	return b.String()
}

const (
	toolLdird      = "ldird"
	toolLdirectord = "ldirectord-4.12"
)

// ldRig is one daemon in its own node with the reals server.
type ldRig struct {
	t      *testing.T
	tool   string
	n      *netns.Node
	reals  *netns.Node // n, or the LAN rig's second node
	ctl    string
	opts   cfOpts
	proc   *netns.Proc
	events *eventLog
	start  time.Time
}

func newLdRig(t *testing.T, tool string, opts cfOpts) *ldRig {
	t.Helper()
	ldird := filepath.Join(binDir, "ldird")
	r := &ldRig{t: t, tool: tool, opts: opts}
	r.n = netns.NewNode(t, "lvs")
	r.reals = r.n
	dir, err := os.MkdirTemp("", "lvb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r.ctl = filepath.Join(dir, "ctl")
	var realsCmd []string // how the reals server is started
	if opts.lan {
		r.reals = netns.NewNode(t, "reals")
		netns.Connect(t, r.n, r.reals, lanIf, lanSubnet)
		r.reals.MustRun("ip", "route", "add", "local", lanReals, "dev", "lo")
		r.n.MustRun("ip", "route", "add", lanReals, "via", "10.0.0.2")
		// Each node's receive path on its own core (RPS), through a sysfs
		// of the node's own network namespace.
		for cpus, n := range map[string]*netns.Node{"1": r.n, "2": r.reals} {
			n.MustRun("sh", "-c", "mount -t sysfs sysfs /sys && echo "+cpus+" > /sys/class/net/"+lanIf+"/queues/rx-0/rps_cpus")
		}
		realsCmd = []string{"taskset", "-c", "1"}
	}
	// The rig's one listener stands for thousands of machines: give it their
	// backlog, and the checker enough ports.
	nodes := []*netns.Node{r.n}
	if opts.lan {
		nodes = append(nodes, r.reals)
	}
	for _, n := range nodes {
		n.MustRun("sysctl", "-q", "-w", "net.core.somaxconn=65535", "net.ipv4.tcp_max_syn_backlog=65535",
			"net.ipv4.ip_local_port_range=1024 65535")
	}
	nft := fmt.Sprintf(`table inet bench {
	set dead { type ipv4_addr; }
	chain input { type filter hook input priority 0; policy accept; ip daddr @dead tcp dport %d reject with tcp reset; }
}
`, realPort)
	nf := filepath.Join(dir, "bench.nft")
	os.WriteFile(nf, []byte(nft), 0o644)
	r.reals.MustRun("nft", "-f", nf)
	realsCmd = append(realsCmd, filepath.Join(binDir, realsName), "-ctl", r.ctl, "-port", strconv.Itoa(realPort))
	if _, err := r.reals.Start(realsCmd[0], realsCmd[1:]...); err != nil {
		t.Fatal(err)
	}
	netns.Eventually(t, 10*time.Second, 10*time.Millisecond, func() (bool, string) {
		_, err := r.control("total")
		return err == nil, fmt.Sprintf("reals server control socket: %v", err)
	})
	r.writeCf(opts)
	var path string
	if tool == toolLdirectord {
		var st []byte
		if opts.prefilled {
			var b strings.Builder
			fmt.Fprintf(&b, "S TCP %s rr\n", ldVIP)
			for i := 0; i < opts.reals; i++ {
				fmt.Fprintf(&b, "D %s Masq 1 0 0\n", opts.realAddr(i))
			}
			st = []byte(b.String())
		}
		r.n.WriteFile(fakeStatePath, st, 0o644)
		r.n.MustRun("mount", "--bind", selfPath, "/usr/sbin/ipvsadm")
		path, _ = r.n.HostPath(fakeCallsPath)
		r.n.WriteFile(fakeCallsPath, nil, 0o644)
		r.events = &eventLog{path: path, parse: parseFakeCall}
	}
	r.mustControl("reset")
	r.start = time.Now()
	if tool == toolLdirectord {
		r.proc, err = r.n.Start(ldirectord, ldCfName, "start")
	} else {
		if opts.lan {
			r.proc, err = r.n.Start("taskset", "-c", "0", ldird, ldCfName, "start")
		} else {
			r.proc, err = r.n.Start(ldird, ldCfName, "start")
		}
		if err == nil {
			r.events = &eventLog{path: r.proc.LogPath, parse: parseLdirdLog}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	r.events.state = map[string]int{}
	return r
}

// floorSlot is how the paced floor spreads its checks: ldird's checkGrid
// (ldird/check), the slots its checks start in.
const floorSlot = 20 * time.Millisecond

// floorPace says how the floor is run, for the tables' notes.
var floorPace = "as long as ldird's steady-state window, at ldird's measured rate in slots of " + floorSlot.String() + " as ldird's (flat out: without pauses, its CPU per check scaled to ldird's rate)"

// floor runs the bare connect loop (floorMain) in the rig, with an http
// exchange on each connection for http checks: CPU per connection, in
// microseconds. rate > 0 paces it as ldird is paced (see floorMain);
// 0 runs it flat out.
func (r *ldRig) floor(reals, rate int, d time.Duration) float64 {
	r.t.Helper()
	args := []string{filepath.Join(binDir, floorName), "-reals", strconv.Itoa(reals), "-time", d.String(), "-rate", strconv.Itoa(rate)}
	if r.opts.checktype == "negotiate" {
		args = append(args, "-http")
	}
	if r.opts.lan {
		args = append([]string{"taskset", "-c", "0"}, append(args, "-lan")...)
	}
	out := r.n.MustRun(args[0], args[1:]...)
	var us float64
	var count, fails int
	if _, err := fmt.Sscan(out, &us, &count, &fails); err != nil || fails > 0 {
		r.t.Fatalf("floor: %q %v", out, err)
	}
	return us
}

// execCost times calls of a command inside the node, per call (the node's
// shell runs them in a loop, so nsenter is paid once).
func (r *ldRig) execCost(calls int, cmd string) time.Duration {
	r.t.Helper()
	loop := fmt.Sprintf("i=0; while [ $i -lt %d ]; do %s >/dev/null 2>&1; i=$((i+1)); done", calls, cmd)
	t0 := time.Now()
	r.n.MustRun("sh", "-c", loop)
	total := time.Since(t0)
	t0 = time.Now()
	r.n.MustRun("sh", "-c", "true")
	return (total - time.Since(t0)) / time.Duration(calls)
}

// hostExecCost is execCost on the host (the real ipvsadm is hidden by the
// stand-in inside a rig's node).
func hostExecCost(t *testing.T, calls int, cmd string) time.Duration {
	t.Helper()
	loop := fmt.Sprintf("i=0; while [ $i -lt %d ]; do %s >/dev/null 2>&1; i=$((i+1)); done", calls, cmd)
	t0 := time.Now()
	if out, err := exec.Command("sh", "-c", loop).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", cmd, err, out)
	}
	total := time.Since(t0)
	t0 = time.Now()
	_ = exec.Command("sh", "-c", "true").Run()
	return (total - time.Since(t0)) / time.Duration(calls)
}

func (r *ldRig) writeCf(o cfOpts) {
	hp, err := r.n.HostPath(ldCfPath)
	if err != nil {
		r.t.Fatal(err)
	}
	tmp := hp + ".new"
	if err := os.WriteFile(tmp, []byte(o.text(r.tool)), 0o644); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, hp); err != nil {
		r.t.Fatal(err)
	}
}

// control sends one command to the reals server and returns its reply
// (the first line, or everything up to "." for dump).
func (r *ldRig) control(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", r.ctl, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	br := bufio.NewReaderSize(c, 1<<20)
	if cmd != "dump" {
		s, err := br.ReadString('\n')
		return strings.TrimSpace(s), err
	}
	var b strings.Builder
	for {
		s, err := br.ReadString('\n')
		if err != nil {
			return b.String(), err
		}
		if s == ".\n" {
			return b.String(), nil
		}
		b.WriteString(s)
	}
}

func (r *ldRig) mustControl(cmd string) string {
	r.t.Helper()
	s, err := r.control(cmd)
	if err != nil {
		r.t.Fatalf("reals server: %s: %v", cmd, err)
	}
	return s
}

// checksSeen is the reals server's record since the last reset: accept
// times per real IP.
func (r *ldRig) checksSeen() (t0 time.Time, seen map[string][]time.Duration) {
	out := r.mustControl("dump")
	seen = map[string][]time.Duration{}
	for _, ln := range strings.Split(out, "\n") {
		f := strings.Fields(ln)
		if len(f) == 0 {
			continue
		}
		if f[0] == "T0" && len(f) == 2 {
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			t0 = time.Unix(0, ns)
			continue
		}
		ts := make([]time.Duration, 0, len(f)-1)
		for _, x := range f[1:] {
			ns, _ := strconv.ParseInt(x, 10, 64)
			ts = append(ts, time.Duration(ns))
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		seen[f[0]] = ts
	}
	return t0, seen
}

// waitChecked waits until the reals server has seen n distinct reals since
// the last reset (one round of checks), up to timeout.
func (r *ldRig) waitChecked(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var total, distinct int
		if s, err := r.control("total"); err == nil {
			fmt.Sscan(s, &total, &distinct)
			if distinct >= n {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// setDead makes a real refuse connections (true) or accept them again.
func (r *ldRig) setDead(i int, dead bool) {
	r.t.Helper()
	op := "add"
	if !dead {
		op = "delete"
	}
	r.reals.MustRun("nft", op, "element", "inet", "bench", "dead", "{ "+r.opts.realIP(i)+" }")
}

func (r *ldRig) setHung(i int, hung bool) {
	r.t.Helper()
	cmd := "hang "
	if !hung {
		cmd = "unhang "
	}
	if s := r.mustControl(cmd + r.opts.realIP(i)); s != "ok" {
		r.t.Fatalf("reals server: %s%s: %s", cmd, r.opts.realIP(i), s)
	}
}

func (r *ldRig) stop() {
	if r.proc != nil {
		_ = r.proc.Kill()
		_ = r.proc.Wait(10 * time.Second)
	}
}

// ---------------------------------------------------------------------------
// Table changes, as each daemon makes them.

type tableEvent struct {
	at     time.Time
	op     string // add, edit, del
	real   string // ip:port
	weight int
}

// eventLog follows a file of table changes (ldird's log or the stand-in
// ipvsadm's call log) and keeps the resulting table.
type eventLog struct {
	path   string
	parse  func(line string) (tableEvent, bool)
	off    int64
	part   string
	events []tableEvent
	state  map[string]int // real -> weight
}

func (l *eventLog) poll() {
	f, err := os.Open(l.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(l.off, io.SeekStart); err != nil {
		return
	}
	b, _ := io.ReadAll(f)
	l.off += int64(len(b))
	data := l.part + string(b)
	lines := strings.Split(data, "\n")
	l.part = lines[len(lines)-1]
	for _, ln := range lines[:len(lines)-1] {
		ev, ok := l.parse(ln)
		if !ok {
			continue
		}
		l.events = append(l.events, ev)
		switch ev.op {
		case "del":
			delete(l.state, ev.real)
		default:
			l.state[ev.real] = ev.weight
		}
	}
}

// upCount is the number of reals in the table with weight > 0.
func (l *eventLog) upCount() int {
	n := 0
	for _, w := range l.state {
		if w > 0 {
			n++
		}
	}
	return n
}

// wait polls until an event after `after` satisfies pred or timeout passes.
func (l *eventLog) wait(after time.Time, timeout time.Duration, pred func(tableEvent) bool) (tableEvent, bool) {
	deadline := time.Now().Add(timeout)
	seen := 0
	for {
		l.poll()
		for ; seen < len(l.events); seen++ {
			if ev := l.events[seen]; !ev.at.Before(after) && pred(ev) {
				return ev, true
			}
		}
		if time.Now().After(deadline) {
			return tableEvent{}, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitUp polls until n reals are in the table with weight > 0.
func (l *eventLog) waitUp(n int, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for {
		l.poll()
		if l.upCount() >= n {
			last := time.Time{}
			for _, ev := range l.events {
				if ev.at.After(last) {
					last = ev.at
				}
			}
			return last, true
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeCall is one line of the stand-in ipvsadm's log.
type fakeCall struct {
	end  time.Time
	wall time.Duration // from its main's entry to its log line
	cpu  time.Duration // its whole process, runtime start-up included
	args []string
}

func parseFakeLine(ln string) (fakeCall, bool) {
	f := strings.Fields(ln)
	if len(f) < 4 {
		return fakeCall{}, false
	}
	var v [3]int64
	for i := range v {
		x, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return fakeCall{}, false
		}
		v[i] = x
	}
	return fakeCall{end: time.Unix(0, v[0]), wall: time.Duration(v[1]), cpu: time.Duration(v[2]), args: f[3:]}, true
}

// parseFakeCall reads a table change from one line of the stand-in's log;
// it happened when the call ended (the state file is written last).
func parseFakeCall(ln string) (tableEvent, bool) {
	c, ok := parseFakeLine(ln)
	if !ok {
		return tableEvent{}, false
	}
	ev := tableEvent{at: c.end, weight: 1}
	switch c.args[0] {
	case "-a":
		ev.op = "add"
	case "-e":
		ev.op = "edit"
	case "-d":
		ev.op = "del"
	default:
		return tableEvent{}, false
	}
	for i := 1; i+1 < len(c.args); i++ {
		switch c.args[i] {
		case "-r":
			ev.real = c.args[i+1]
		case "-w":
			ev.weight, _ = strconv.Atoi(c.args[i+1])
		}
	}
	return ev, ev.real != ""
}

// standIn sums the stand-in ipvsadm's calls that ended in (from, to]: their
// count, wall time and CPU. Zero for ldird, which runs none.
func (r *ldRig) standIn(from, to time.Time) (calls int, wall, cpu time.Duration) {
	if r.tool != toolLdirectord {
		return 0, 0, 0
	}
	hp, err := r.n.HostPath(fakeCallsPath)
	if err != nil {
		return 0, 0, 0
	}
	b, _ := os.ReadFile(hp)
	for _, ln := range strings.Split(string(b), "\n") {
		c, ok := parseFakeLine(ln)
		if !ok || !c.end.After(from) || c.end.After(to) {
			continue
		}
		calls++
		wall += c.wall
		cpu += c.cpu
	}
	return calls, wall, cpu
}

// checkTimes is the reals server's record of real i's checks (accepts)
// since the last reset.
func (r *ldRig) checkTimes(i int) []time.Time {
	r.t.Helper()
	out := r.mustControl("times " + r.opts.realIP(i))
	var ts []time.Time
	for _, x := range strings.Fields(out) {
		ns, err := strconv.ParseInt(x, 10, 64)
		if err == nil {
			ts = append(ts, time.Unix(0, ns))
		}
	}
	sort.Slice(ts, func(a, b int) bool { return ts[a].Before(ts[b]) })
	return ts
}

var ldirdLogRe = regexp.MustCompile(`^time=(\S+) level=\S+ msg="(Added|Restored|Quiescent|Deleted) real server: (\S+) \([^)]*\)(?: \(Weight set to (\d+)\))?"`)

// parseLdirdLog reads one line of ldird's log (slog text, ldirectord's
// wording).
func parseLdirdLog(ln string) (tableEvent, bool) {
	m := ldirdLogRe.FindStringSubmatch(ln)
	if m == nil {
		return tableEvent{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		return tableEvent{}, false
	}
	ev := tableEvent{at: at, real: m[3]}
	ev.weight, _ = strconv.Atoi(m[4])
	switch m[2] {
	case "Added":
		ev.op = "add"
	case "Deleted":
		ev.op = "del"
	default:
		ev.op = "edit"
	}
	return ev, true
}
