package check

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"lvsha/internal/testenv"
)

// dnsAnswer builds the reply of a tiny authoritative server.
func dnsAnswer(t *testing.T, req []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	switch {
	case q.Type == dnsmessage.TypeA && q.Name.String() == "www.example.test.":
		b.AResource(rh, dnsmessage.AResource{A: [4]byte{192, 0, 2, 10}})
	case q.Type == dnsmessage.TypePTR && q.Name.String() == "10.2.0.192.in-addr.arpa.":
		b.PTRResource(rh, dnsmessage.PTRResource{PTR: dnsmessage.MustNewName("www.example.test.")})
	}
	out, err := b.Finish()
	if err != nil {
		t.Error(err)
	}
	return out
}

func TestDNS(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(dnsAnswer(t, buf[:n]), a)
		}
	}()
	tg := targetOf(t, pc.LocalAddr())
	tg.Protocol = "udp"
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "dns", Protocol: "udp", Request: "/www.example.test", Receive: `^192\.0\.2\.10$`}), tg)
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "dns", Protocol: "udp", Request: "/192.0.2.10", Receive: "www.example.test"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "dns", Protocol: "udp", Request: "/www.example.test", Receive: "10.0.0.1"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "dns", Protocol: "udp", Request: "/nx.example.test", Receive: "."}), tg)
	// empty receive is always down (ldirectord's length($recstr) test)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "dns", Protocol: "udp", Request: "/www.example.test"}), tg)

	// TCP transport
	tcp := lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		var l [2]byte
		if _, err := io.ReadFull(rd, l[:]); err != nil {
			return
		}
		req := make([]byte, binary.BigEndian.Uint16(l[:]))
		io.ReadFull(rd, req)
		out := dnsAnswer(t, req)
		binary.BigEndian.PutUint16(l[:], uint16(len(out)))
		c.Write(append(l[:], out...))
	})
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "dns", Protocol: "tcp", Request: "/www.example.test", Receive: "192.0.2"}), tcp)

	// a silent UDP server: timeout
	silent, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer silent.Close()
	expectTimeout(t, mustNew(t, Spec{Type: "negotiate", Service: "dns", Protocol: "udp", Request: "/a.test", Receive: ".", NegotiateTimeout: 300 * time.Millisecond}), targetOf(t, silent.LocalAddr()), 300*time.Millisecond)
}

// TestDNSDnsmasq checks against dnsmasq on a high loopback port.
func TestDNSDnsmasq(t *testing.T) {
	bin := testenv.RequireProgram(t, "dnsmasq", "dnsmasq-base")
	// dnsmasq takes the port for both TCP and UDP.
	port := startDaemonOn(t, func(port int) *exec.Cmd {
		return exec.Command(bin, "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
			"--listen-address=127.0.0.1", "--port="+strconv.Itoa(port), "--user="+currentUser(),
			"--address=/real.example.test/192.0.2.77", "--pid-file=")
	})
	for _, proto := range []string{"udp", "tcp"} {
		tg := Target{IP: loop, Port: uint16(port), Protocol: proto}
		expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "dns", Protocol: proto, Request: "/real.example.test", Receive: "192.0.2.77"}), tg)
		expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "dns", Protocol: proto, Request: "/real.example.test", Receive: "192.0.2.78"}), tg)
	}
}

func currentUser() string {
	if os.Geteuid() == 0 {
		return "root"
	}
	return strconv.Itoa(os.Geteuid())
}

// radiusServer accepts alice/secret with shared secret "s3cret"; it signs
// replies with signSecret (to test a wrong secret).
func radiusServer(t *testing.T, signSecret string, silent bool) Target {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if silent || n < 20 || buf[0] != 1 {
				continue
			}
			req := buf[:n]
			auth := req[4:20]
			var user, hidden []byte
			for p := 20; p+2 <= n; {
				typ, l := req[p], int(req[p+1])
				if l < 2 || p+l > n {
					break
				}
				switch typ {
				case 1:
					user = req[p+2 : p+l]
				case 2:
					hidden = req[p+2 : p+l]
				}
				p += l
			}
			pw := hidePassword(hidden, []byte("s3cret"), auth) // XOR is its own inverse for block 1
			if len(hidden) > 16 {
				pw = pw[:16]
			}
			code := byte(3)
			if string(user) == "alice" && strings.TrimRight(string(pw), "\x00") == "secret" {
				code = 2
			}
			resp := []byte{code, req[1], 0, 20}
			h := md5.New()
			h.Write(resp[:4])
			h.Write(auth)
			h.Write([]byte(signSecret))
			resp = append(resp, h.Sum(nil)...)
			pc.WriteTo(resp, a)
		}
	}()
	tg := targetOf(t, pc.LocalAddr())
	tg.Protocol = "udp"
	return tg
}

func TestRadius(t *testing.T) {
	good := radiusServer(t, "s3cret", false)
	spec := Spec{Type: "negotiate", Service: "radius", Protocol: "udp", Login: "alice", Passwd: "secret", Secret: "s3cret", ConnectTimeout: time.Second}
	expectOK(t, mustNew(t, spec), good)
	bad := spec
	bad.Passwd = "wrong"
	r := expectFail(t, mustNew(t, bad), good) // Access-Reject is down in ldirectord 4.12
	if r.Detail != "Access-Reject" {
		t.Errorf("detail %q", r.Detail)
	}
	expectFail(t, mustNew(t, spec), radiusServer(t, "other", false)) // bad response authenticator
	spec.ConnectTimeout = 300 * time.Millisecond
	expectTimeout(t, mustNew(t, spec), radiusServer(t, "s3cret", true), 300*time.Millisecond)
}

func TestHidePasswordRoundTrip(t *testing.T) {
	auth := []byte("0123456789abcdef")
	pw := []byte("a password longer than sixteen bytes")
	h := hidePassword(pw, []byte("k"), auth)
	if len(h) != 48 {
		t.Fatalf("len %d", len(h))
	}
	// Decode per RFC 2865.
	out := make([]byte, len(h))
	prev := auth
	for i := 0; i < len(h); i += 16 {
		s := md5.Sum(append([]byte("k"), prev...))
		for j := 0; j < 16; j++ {
			out[i+j] = h[i+j] ^ s[j]
		}
		prev = h[i : i+16]
	}
	if strings.TrimRight(string(out), "\x00") != string(pw) {
		t.Errorf("round trip %q", out)
	}
}

func sipReply(req string, status string) string {
	var via, callID string
	for _, l := range strings.Split(req, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Via: "); ok {
			via = v
		}
		if v, ok := strings.CutPrefix(l, "Call-ID: "); ok {
			callID = v
		}
	}
	return fmt.Sprintf("SIP/2.0 %s\r\nVia: %s\r\nCall-ID: %s\r\nCSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n", status, via, callID)
}

func TestSIP(t *testing.T) {
	var got string
	tcp := lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		got, _ = readHead(rd)
		io.WriteString(c, sipReply(got, "200 OK"))
	})
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "sip", Login: "ldirectord@director1"}), tcp)
	for _, want := range []string{"OPTIONS sip:ldirectord@director1 SIP/2.0\r\n", ";branch=z9hG4bKhjhs8ass877\r\n",
		"From: <sip:ldirectord@director1>;tag=1928301774\r\n", "CSeq: 63104 OPTIONS\r\n", "Content-Length: 0\r\n\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("request lacks %q:\n%s", want, got)
		}
	}
	busy := lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		readLine(rd)
		io.WriteString(c, "SIP/2.0 486 Busy Here\r\n\r\n")
	})
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "sip", Login: "x@y"}), busy)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "sip", Login: "x@y"}), closedPort(t))

	// UDP
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(sipReply(string(buf[:n]), "200 OK")), a)
		}
	}()
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "sip", Protocol: "udp", Login: "x@y"}), targetOf(t, pc.LocalAddr()))
}

// TestSlapd checks ldap against OpenLDAP's slapd serving only its root DSE
// (request "/" = base "" returns exactly one entry, anonymously).
func TestSlapd(t *testing.T) {
	bin := testenv.RequireProgram(t, "slapd", "slapd")
	dir := t.TempDir()
	conf := filepath.Join(dir, "slapd.conf")
	os.WriteFile(conf, []byte("pidfile "+filepath.Join(dir, "pid")+"\n"), 0o644)
	port := freePort(t)
	cmd := exec.Command(bin, "-d", "0", "-f", conf, "-h", fmt.Sprintf("ldap://127.0.0.1:%d/", port))
	startDaemon(t, cmd, port)
	tg := Target{IP: loop, Port: uint16(port)}
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "ldap", Request: "/"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "ldap", Request: "/", Receive: "^cn=nothing"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "ldap", Request: "/dc=missing,dc=test"}), tg)
	// a wrong password for a DN that does not exist: bind fails
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "ldap", Request: "/", Login: "cn=admin,dc=x", Passwd: "bad"}), tg)
}
