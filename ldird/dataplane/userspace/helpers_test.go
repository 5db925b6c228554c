package userspace

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvsha/ldird/dataplane"
)

const ioTimeout = 5 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("USERSPACE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newTestProxy(t *testing.T, opts Options) *Proxy {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	p := New(opts)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// freePort returns a port free on addr for the protocol right now.
func freePort(t *testing.T, proto, addr string) uint16 {
	t.Helper()
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", addr+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port)
	}
	l, err := net.Listen("tcp4", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// backend is a TCP real: it greets with its name, echoes lines, and after
// the client's half-close says "<name> bye" and closes.
type backend struct {
	name  string
	ln    net.Listener
	mu    sync.Mutex
	seen  []netip.Addr // peer addresses, to check the director is the source
	conns []net.Conn   // closed at cleanup, so a failed test does not wait
}

func startBackend(t *testing.T, name, addr string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp4", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.seen = append(b.seen, addrPortOf(c.RemoteAddr()).Addr())
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				fmt.Fprintf(c, "%s\n", name)
				io.Copy(c, c)
				fmt.Fprintf(c, "%s bye\n", name)
			}()
		}
	}()
	return b
}

func (b *backend) dest(weight int) dataplane.Dest {
	ap := addrPortOf(b.ln.Addr())
	return dataplane.Dest{Addr: ap.Addr(), Port: ap.Port(), Weight: weight, Method: "gate"}
}

// client is a connection through the proxy that knows which real it got.
type client struct {
	c    *net.TCPConn
	r    *bufio.Reader
	real string
}

func dialVia(t *testing.T, from string, svc dataplane.Service) *client {
	t.Helper()
	c, err := tryDial(from, svc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tryDial(from string, svc dataplane.Service) (*client, error) {
	d := net.Dialer{Timeout: ioTimeout}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp4", netip.AddrPortFrom(svc.Addr, svc.Port).String())
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	cl := &client{c: c.(*net.TCPConn), r: bufio.NewReader(c)}
	line, err := cl.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	cl.real = strings.TrimSpace(line)
	return cl, nil
}

func (c *client) echo(t *testing.T, msg string) {
	t.Helper()
	if err := c.tryEcho(msg); err != nil {
		t.Fatal(err)
	}
}

func (c *client) tryEcho(msg string) error {
	c.c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := fmt.Fprintf(c.c, "%s\n", msg); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != msg {
		return fmt.Errorf("echo %q, got %q", msg, line)
	}
	return nil
}

// finish half-closes and expects the real's goodbye, then EOF.
func (c *client) finish(t *testing.T) {
	t.Helper()
	c.c.CloseWrite()
	line, err := c.r.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != c.real+" bye" {
		t.Fatalf("after half-close: %q, %v", line, err)
	}
	if _, err := c.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF after bye, got %v", err)
	}
	c.c.Close()
}

// oneShot connects, notes the real and finishes cleanly.
func oneShot(t *testing.T, from string, svc dataplane.Service) string {
	t.Helper()
	c := dialVia(t, from, svc)
	c.finish(t)
	return c.real
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// realStats finds a real's counters.
func realStats(p *Proxy, svc dataplane.Service, d dataplane.Dest) RealStats {
	for _, s := range p.Stats() {
		if s.Service.Key() != svc.Key() {
			continue
		}
		for _, r := range s.Reals {
			if r.Dest.Key() == d.Key() {
				return r
			}
		}
	}
	return RealStats{}
}

// tcpService adds a TCP service on vip with the given backends (named A,
// B, ... on 127.0.0.11, .12, ...) and weights.
func tcpService(t *testing.T, p *Proxy, vip, sched string, weights ...int) (dataplane.Service, []*backend) {
	t.Helper()
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr(vip), Port: freePort(t, "tcp", vip), Scheduler: sched}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	var bs []*backend
	for i, w := range weights {
		b := startBackend(t, string(rune('A'+i)), fmt.Sprintf("127.0.0.%d", 11+i))
		if err := p.AddDest(svc, b.dest(w)); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	return svc, bs
}

// echoEnv makes the test binary an echo server (see TestMain): a backend
// in another process, so it neither shares this one's descriptor limit nor
// counts in its memory.
const echoEnv = "USERSPACE_TEST_ECHO"

func TestMain(m *testing.M) {
	if addr := os.Getenv(echoEnv); addr != "" {
		runEchoServer(addr)
		return
	}
	os.Exit(m.Run())
}

// runEchoServer serves like startBackend ("A" greeting, echo, "A bye")
// on addr, prints the address it listens on, and exits when stdin closes.
func runEchoServer(addr string) {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			fmt.Fprintf(c, "A\n")
			io.Copy(c, c)
			fmt.Fprintf(c, "A bye\n")
		}()
	}
}

// startEchoProcess runs the echo server in a child process on addr.
func startEchoProcess(t *testing.T, addr string) dataplane.Dest {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), echoEnv+"="+addr+":0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("echo server: %v", err)
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("echo server said %q", line)
	}
	return dataplane.Dest{Addr: ap.Addr(), Port: ap.Port(), Weight: 1, Method: "masq"}
}

// rawListener is a real that never accepts: the kernel completes the
// handshakes into its backlog, so the proxy's connections to it cost this
// process no descriptor, goroutine or memory.
func rawListener(t *testing.T, addr string) dataplane.Dest {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	a := netip.MustParseAddr(addr)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: a.As4()}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1<<16-1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return dataplane.Dest{Addr: a, Port: uint16(sa.(*unix.SockaddrInet4).Port), Weight: 1, Method: "masq"}
}

// rawClients are client sockets held as bare descriptors (no Go objects).
type rawClients []int

func newRawClients(t *testing.T, n int) rawClients {
	t.Helper()
	cs := make(rawClients, 0, n)
	t.Cleanup(func() { cs.close(0) })
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		// A blocking read gives up after ioTimeout.
		tv := unix.NsecToTimeval(int64(ioTimeout))
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		cs = append(cs, fd)
	}
	return cs
}

// connect connects cs[i] to svc; it returns once the handshake is done,
// which the kernel does whether or not the proxy accepts.
func (cs rawClients) connect(t *testing.T, i int, svc dataplane.Service) {
	t.Helper()
	if err := unix.Connect(cs[i], &unix.SockaddrInet4{Addr: svc.Addr.As4(), Port: int(svc.Port)}); err != nil {
		t.Fatalf("connect client %d: %v", i, err)
	}
}

// reset closes cs[i] with an RST, which the proxy sees at once (a FIN
// would leave the connection half-open while the real stays silent).
func (cs rawClients) reset(i int) {
	if cs[i] >= 0 {
		unix.SetsockoptLinger(cs[i], unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
		unix.Close(cs[i])
		cs[i] = -1
	}
}

func (cs rawClients) close(from int) {
	for i := from; i < len(cs); i++ {
		if cs[i] >= 0 {
			unix.Close(cs[i])
			cs[i] = -1
		}
	}
}

// greeting reads the real's first line on cs[i] (blocking, up to ioTimeout).
func (cs rawClients) greeting(i int) (string, error) {
	var b [64]byte
	n, err := unix.Read(cs[i], b[:])
	if err != nil {
		return "", err
	}
	return string(b[:max(n, 0)]), nil
}

// serviceStats finds a service's counters.
func serviceStats(p *Proxy, svc dataplane.Service) ServiceStats {
	for _, s := range p.Stats() {
		if s.Service.Key() == svc.Key() {
			return s
		}
	}
	return ServiceStats{}
}

// goMemory is the memory the Go runtime holds for live objects and
// stacks, after a collection.
func goMemory() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse + m.MSpanInuse
}

// rss is the process's resident set size in bytes.
func rss(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	n, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n * uint64(os.Getpagesize())
}

// logCounter is a slog handler that counts records by message prefix.
type logCounter struct {
	mu sync.Mutex
	n  map[string]int
	rs []slog.Record
}

func newLogCounter() *logCounter { return &logCounter{n: map[string]int{}} }

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logCounter) WithGroup(string) slog.Handler            { return h }
func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.n[r.Message]++
	h.rs = append(h.rs, r)
	h.mu.Unlock()
	return nil
}

// count is the number of records whose message starts with prefix.
func (h *logCounter) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for m, k := range h.n {
		if strings.HasPrefix(m, prefix) {
			n += k
		}
	}
	return n
}

// attr is attribute key of the last record whose message starts with prefix.
func (h *logCounter) attr(prefix, key string) slog.Value {
	h.mu.Lock()
	defer h.mu.Unlock()
	var v slog.Value
	for _, r := range h.rs {
		if strings.HasPrefix(r.Message, prefix) {
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == key {
					v = a.Value
				}
				return true
			})
		}
	}
	return v
}

// somaxconn is the kernel's cap on a listen queue.
func somaxconn(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
