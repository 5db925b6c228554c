package kacheck

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func addrOf(t *testing.T, a string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// run invokes the CLI as ldird would, with RIP/RPORT of addr.
func run(t *testing.T, addr netip.AddrPort, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	full := append(args, "10.0.0.100", "80", addr.Addr().String(), fmt.Sprint(addr.Port()))
	code := Main(context.Background(), full, &stderr)
	return code, stderr.String()
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	up := addrOf(t, ln.Addr().String())
	if code, msg := run(t, up, "tcp", "--timeout", "2"); code != 0 {
		t.Errorf("listening port: exit %d %s", code, msg)
	}
	// connect-port overrides RPORT; bind chooses the source.
	if code, msg := run(t, addrOf(t, "127.0.0.1:1"), "tcp", "--connect-port", fmt.Sprint(up.Port()), "--bind", "127.0.0.1"); code != 0 {
		t.Errorf("connect-port: exit %d %s", code, msg)
	}
	closed := addrOf(t, "127.0.0.1:1")
	if code, msg := run(t, closed, "tcp"); code != 1 || !strings.Contains(msg, "down") {
		t.Errorf("closed port: exit %d %s", code, msg)
	}
}

func TestHTTP(t *testing.T) {
	body := "hello keepalived\n"
	sum := md5.Sum([]byte(body))
	digest := hex.EncodeToString(sum[:])
	var lastReq *http.Request
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastReq = r
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, body)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/teapot":
			w.WriteHeader(418)
			fmt.Fprint(w, "short and stout")
		default:
			http.NotFound(w, r)
		}
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	tlsSrv := httptest.NewUnstartedServer(handler)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the plain-to-TLS case is expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plain := addrOf(t, strings.TrimPrefix(srv.URL, "http://"))
	secure := addrOf(t, strings.TrimPrefix(tlsSrv.URL, "https://"))

	cases := []struct {
		name string
		addr netip.AddrPort
		args []string
		up   bool
		why  string
	}{
		{"2xx default", plain, []string{"--url", "/ok"}, true, ""},
		{"digest matches", plain, []string{"--url", "/ok", "--digest", strings.ToUpper(digest)}, true, ""},
		{"digest differs", plain, []string{"--url", "/ok", "--digest", "640205b7b0fc66c1ea91c463fac6334d"}, false, "digest"},
		{"redirect is not followed", plain, []string{"--url", "/moved"}, false, "status 302"},
		{"redirect accepted by status", plain, []string{"--url", "/moved", "--status", "300-399"}, true, ""},
		{"status list", plain, []string{"--url", "/teapot", "--status", "200,418"}, true, ""},
		{"404", plain, []string{"--url", "/nope"}, false, "status 404"},
		{"regex", plain, []string{"--url", "/ok", "--regex", "keep[a-z]+"}, true, ""},
		{"regex misses", plain, []string{"--url", "/ok", "--regex", "^nothing"}, false, "does not match"},
		{"regex_no_match", plain, []string{"--url", "/ok", "--regex", "hello", "--regex-no-match"}, false, "regex_no_match"},
		{"every url must pass", plain, []string{"--url", "/ok", "--url", "/nope"}, false, "/nope"},
		{"ssl", secure, []string{"--ssl", "--url", "/ok", "--digest", digest}, true, ""},
		{"ssl with sni", secure, []string{"--ssl", "--sni", "--vhost", "www.example.org", "--url", "/ok"}, true, ""},
		{"plain to tls port", secure, []string{"--url", "/ok"}, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, msg := run(t, c.addr, append([]string{"http", "--timeout", "3"}, c.args...)...)
			if (code == 0) != c.up || (c.why != "" && !strings.Contains(msg, c.why)) {
				t.Errorf("exit %d, msg %q; want up=%v reason %q", code, msg, c.up, c.why)
			}
		})
	}
	// The request looks like keepalived's.
	run(t, plain, "http", "--vhost", "www.example.org", "--url", "/ok")
	if lastReq == nil || lastReq.Host != fmt.Sprintf("www.example.org:%d", plain.Port()) || lastReq.UserAgent() != "KeepAliveClient" || lastReq.Proto != "HTTP/1.0" {
		t.Errorf("request: %+v", lastReq)
	}
}

func TestHTTPTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept, never answer
		}
	}()
	start := time.Now()
	code, msg := run(t, addrOf(t, ln.Addr().String()), "http", "--timeout", "0.3", "--url", "/")
	if code != 1 || !strings.Contains(msg, "timeout") {
		t.Errorf("exit %d %q", code, msg)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func smtpServer(t *testing.T, banner string) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s\r\n", banner)
				rd := bufio.NewReader(c)
				for {
					l, err := rd.ReadString('\n')
					if err != nil {
						return
					}
					switch {
					case strings.HasPrefix(l, "HELO check.example"):
						fmt.Fprint(c, "250-hello\r\n250 fine\r\n")
					case strings.HasPrefix(l, "HELO"):
						fmt.Fprint(c, "501 wrong name\r\n")
					case strings.HasPrefix(l, "QUIT"):
						fmt.Fprint(c, "221 bye\r\n")
						return
					}
				}
			}()
		}
	}()
	return addrOf(t, ln.Addr().String())
}

func TestSMTP(t *testing.T) {
	good := smtpServer(t, "220 mx ESMTP")
	busy := smtpServer(t, "421 busy")
	if code, msg := run(t, good, "smtp", "--helo", "check.example"); code != 0 {
		t.Errorf("good: %d %s", code, msg)
	}
	if code, msg := run(t, good, "smtp", "--helo", "other"); code != 1 || !strings.Contains(msg, "want 250") {
		t.Errorf("wrong helo: %d %s", code, msg)
	}
	if code, msg := run(t, good, "smtp", "--helo", "check.example", "--host", busy.String()); code != 1 || !strings.Contains(msg, "want 220") {
		t.Errorf("second host busy: %d %s", code, msg)
	}
	if code, msg := run(t, good, "smtp", "--helo", "check.example", "--host", good.String(), "--host", "127.0.0.1"); code != 0 {
		t.Errorf("host without port takes the real's port, which is good's: %d %s", code, msg)
	}
}

func dnsServer(t *testing.T, rcode uint16, wrongIDFirst bool) netip.AddrPort {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			if binary.BigEndian.Uint16(q[2:])&0x0100 == 0 {
				continue // keepalived sets RD
			}
			if wrongIDFirst {
				other := append([]byte(nil), q...)
				other[0] ^= 0xff
				binary.BigEndian.PutUint16(other[2:], 0x8000)
				pc.WriteTo(other, from)
			}
			binary.BigEndian.PutUint16(q[2:], 0x8180|rcode)
			pc.WriteTo(q, from)
		}
	}()
	return addrOf(t, pc.LocalAddr().String())
}

func TestDNS(t *testing.T) {
	if code, msg := run(t, dnsServer(t, 0, true), "dns", "--type", "a", "--name", "www.example.org", "--timeout", "2"); code != 0 {
		t.Errorf("noerror: %d %s", code, msg)
	}
	if code, msg := run(t, dnsServer(t, 3, false), "dns", "--timeout", "2"); code != 1 || !strings.Contains(msg, "rcode 3") {
		t.Errorf("nxdomain: %d %s", code, msg)
	}
	q, _, err := dnsQuery("www.example.org", DNSTypes["MX"])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(q, []byte("\x03www\x07example\x03org\x00\x00\x0f\x00\x01")) {
		t.Errorf("query %x", q)
	}
	root, _, _ := dnsQuery(".", DNSTypes["SOA"])
	if !bytes.HasSuffix(root, []byte("\x00\x00\x06\x00\x01")) || len(root) != 17 {
		t.Errorf("root query %x", root)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"http", "1", "2", "10.0.0.1", "80"},
		{"http", "--digest", "x", "1", "2", "10.0.0.1", "80"},
		{"tcp", "1", "2", "10.0.0.1", "0"},
		{"tcp", "--timeout", "zero", "1", "2", "10.0.0.1", "80"},
		{"gopher", "1", "2", "10.0.0.1", "80"},
		{"tcp", "1", "2", "10.0.0.1"},
		{"dns", "--type", "PTR", "1", "2", "10.0.0.1", "53"},
		{"http", "--status", "99", "1", "2", "10.0.0.1", "80"},
		{"tcp", "--bogus", "1", "2", "10.0.0.1", "80"},
	} {
		var stderr bytes.Buffer
		if code := Main(context.Background(), args, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}

func TestParseStatus(t *testing.T) {
	rs, err := ParseStatus([]string{"200-299", "302", "400-404,503"})
	if err != nil {
		t.Fatal(err)
	}
	if formatRanges(rs) != "200-299 302 400-404 503" {
		t.Errorf("%v", rs)
	}
	for _, bad := range []string{"abc", "99", "300-200", "200-700"} {
		if _, err := ParseStatus([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
