package check

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

func TestNewConfigErrors(t *testing.T) {
	for _, s := range []Spec{
		{Type: "bogus"},
		{Type: "negotiate", Service: "gopher"},
		{Type: "negotiate", Service: "oracle"},
		{Type: "negotiate", Service: "mysql", Request: "/select 1"}, // no login
		{Type: "negotiate", Service: "pgsql", Login: "u"},           // no request
		{Type: "negotiate", Service: "http", Receive: "(?<=x)y"},    // lookbehind: not RE2
		{Type: "negotiate", Service: "http", HTTPMethod: "POST"},
		{Type: "negotiate", Service: "http_proxy", Request: "/index.html"},
		{Type: "connect", Protocol: "sctp"},
		{Type: "connect", CheckPort: 70000},
	} {
		if _, err := New(s); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", s, err)
		}
	}
}

func TestOnOffNone(t *testing.T) {
	tg := closedPort(t)
	expectOK(t, mustNew(t, Spec{Type: "on"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "off"}), tg)
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "none"}), tg)
	expectOK(t, mustNew(t, Spec{Type: "negotiate"}), tg) // service defaults to none
}

func TestConnect(t *testing.T) {
	up := lineServer(t, func(net.Conn, *bufio.Reader) {})
	c := mustNew(t, Spec{Type: "connect", ConnectTimeout: time.Second})
	expectOK(t, c, up)
	expectFail(t, c, closedPort(t))
	// checkport overrides the real's port.
	cp := mustNew(t, Spec{Type: "connect", CheckPort: int(up.Port)})
	expectOK(t, cp, Target{IP: up.IP, Port: 1})
	// fwm reals without a port and service none have nothing to connect to.
	r := expectFail(t, c, Target{IP: up.IP})
	if !strings.Contains(r.Err.Error(), "no port") {
		t.Errorf("error %v, want a no-port error", r.Err)
	}
}

func TestPortResolution(t *testing.T) {
	b, _ := newBase(Spec{Service: "https"})
	if p, _ := b.port(Target{}); p != 443 {
		t.Errorf("https default port %d", p)
	}
	b, _ = newBase(Spec{Service: "https", CheckPort: 8443})
	if p, _ := b.port(Target{Port: 444}); p != 8443 {
		t.Errorf("checkport ignored: %d", p)
	}
	b, _ = newBase(Spec{Service: "https"})
	if p, _ := b.port(Target{Port: 444}); p != 444 {
		t.Errorf("real port ignored: %d", p)
	}
}

func TestTimeoutDefaults(t *testing.T) {
	b, _ := newBase(Spec{})
	if b.connectTimeout != 5*time.Second || b.negotiateTimeout != 30*time.Second {
		t.Errorf("defaults %s %s", b.connectTimeout, b.negotiateTimeout)
	}
	b, _ = newBase(Spec{NegotiateTimeout: 7 * time.Second})
	if b.connectTimeout != 7*time.Second {
		t.Errorf("checktimeout should default to negotiatetimeout: %s", b.connectTimeout)
	}
	b, _ = newBase(Spec{ConnectTimeout: 3 * time.Second})
	if b.negotiateTimeout != 3*time.Second {
		t.Errorf("negotiatetimeout should default to checktimeout: %s", b.negotiateTimeout)
	}
}

func TestExternal(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "args")
	script := filepath.Join(dir, "chk")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" > "+out+"\n[ \"$3\" = 10.0.0.5 ] || [ \"$3\" = '[2001:db8::5]' ]\n"), 0o755)
	vip := Target{IP: netip.MustParseAddr("192.168.56.200"), Port: 80}
	c := mustNew(t, Spec{Type: "external", CheckCommand: script, Virtual: vip, ConnectTimeout: 5 * time.Second})
	expectOK(t, c, Target{IP: netip.MustParseAddr("10.0.0.5"), Port: 8080})
	got, _ := os.ReadFile(out)
	if strings.TrimSpace(string(got)) != "192.168.56.200 80 10.0.0.5 8080" {
		t.Errorf("args %q", got)
	}
	expectFail(t, c, Target{IP: netip.MustParseAddr("10.0.0.6"), Port: 8080})
	// IPv6 in brackets, fwmark as the virtual, real port 0 when omitted.
	c6 := mustNew(t, Spec{Type: "external", CheckCommand: script, Virtual: Target{FwMark: 7}})
	expectOK(t, c6, Target{IP: netip.MustParseAddr("2001:db8::5")})
	got, _ = os.ReadFile(out)
	if strings.TrimSpace(string(got)) != "7 0 [2001:db8::5] 0" {
		t.Errorf("args %q", got)
	}
	// A missing command is down, not an error at New (ldirectord: exec fails, 127).
	expectFail(t, mustNew(t, Spec{Type: "external", CheckCommand: filepath.Join(dir, "nope")}), vip)
}

func TestExternalTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidf := filepath.Join(dir, "pid")
	script := filepath.Join(dir, "hang")
	// The child ignores nothing; it sleeps in a grandchild too.
	os.WriteFile(script, []byte("#!/bin/sh\nsleep 60 &\necho $! > "+pidf+"\nwait\n"), 0o755)
	c := mustNew(t, Spec{Type: "external", CheckCommand: script, ConnectTimeout: 300 * time.Millisecond})
	expectTimeout(t, c, Target{IP: netip.MustParseAddr("127.0.0.1")}, 300*time.Millisecond)
	b, err := os.ReadFile(pidf)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			return // gone or a zombie waiting for init
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %s survived the timeout", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestExternalPerl(t *testing.T) {
	if _, err := New(Spec{Type: "external-perl"}); err != nil {
		testenv.Skipf(t, "perl is not installed (Debian package perl): %v", err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "chk.pl")
	os.WriteFile(script, []byte(`exit($ARGV[2] eq "10.0.0.5" ? 0 : 1);`), 0o644)
	c := mustNew(t, Spec{Type: "external-perl", CheckCommand: script})
	expectOK(t, c, Target{IP: netip.MustParseAddr("10.0.0.5")})
	expectFail(t, c, Target{IP: netip.MustParseAddr("10.0.0.6")})
}

// countChecker counts calls and answers from a function.
type countChecker struct {
	n  int
	ok func(n int) bool
}

func (c *countChecker) Check(context.Context, Target) Result {
	c.n++
	if c.ok(c.n) {
		return Result{OK: true}
	}
	return Result{Err: errors.New("fail")}
}

func TestCombined(t *testing.T) {
	neg := &countChecker{ok: func(int) bool { return true }}
	failConnectAt := 3
	conn := &countChecker{}
	conn.ok = func(n int) bool { return n != failConnectAt }
	c := newCombined(neg, conn, 2)
	tg := Target{IP: netip.MustParseAddr("10.0.0.1"), Port: 80}
	var seq []string
	for i := 0; i < 8; i++ {
		nb, cb := neg.n, conn.n
		c.Check(context.Background(), tg)
		switch {
		case neg.n > nb:
			seq = append(seq, "N")
		case conn.n > cb:
			seq = append(seq, "C")
		}
	}
	// negotiate, 2 connects, negotiate, connect (fails) -> negotiate, ...
	if got := strings.Join(seq, ""); got != "NCCNCNCC" {
		t.Errorf("sequence %s, want NCCNCNCC", got)
	}
	c.Forget(tg)
	if len(c.count) != 0 {
		t.Error("Forget kept state")
	}
	// N=0: always negotiate.
	neg.n, conn.n = 0, 0
	z := newCombined(neg, conn, 0)
	for i := 0; i < 3; i++ {
		z.Check(context.Background(), tg)
	}
	if neg.n != 3 || conn.n != 0 {
		t.Errorf("N=0: %d negotiates %d connects", neg.n, conn.n)
	}
}
