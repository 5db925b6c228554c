package check

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// smtpServer answers like a minimal MTA; ehlo=false refuses EHLO (old MTA).
func smtpServer(t *testing.T, banner string, ehlo bool) Target {
	return lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		fmt.Fprintf(c, "%s\r\n", banner)
		for {
			l, err := readLine(rd)
			if err != nil {
				return
			}
			switch {
			case strings.HasPrefix(l, "EHLO"):
				if ehlo {
					io.WriteString(c, "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
				} else {
					io.WriteString(c, "502 command not implemented\r\n")
				}
			case strings.HasPrefix(l, "HELO"):
				io.WriteString(c, "250 mx.example\r\n")
			case l == "QUIT":
				io.WriteString(c, "221 bye\r\n")
				return
			default:
				io.WriteString(c, "500 what\r\n")
			}
		}
	})
}

func TestSMTP(t *testing.T) {
	for _, svc := range []string{"smtp", "submission"} {
		c := mustNew(t, Spec{Type: "negotiate", Service: svc})
		expectOK(t, c, smtpServer(t, "220 mx.example ESMTP", true))
		expectOK(t, c, smtpServer(t, "220 mx.example SMTP", false)) // HELO fallback
		expectFail(t, c, smtpServer(t, "554 go away", true))
		expectFail(t, c, closedPort(t))
	}
}

func popServer(t *testing.T, greeting string) Target {
	return lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		fmt.Fprintf(c, "%s\r\n", greeting)
		user := ""
		for {
			l, err := readLine(rd)
			if err != nil {
				return
			}
			f := strings.Fields(l)
			switch strings.ToUpper(f[0]) {
			case "USER":
				user = f[1]
				io.WriteString(c, "+OK\r\n")
			case "PASS":
				if user == "alice" && len(f) > 1 && f[1] == "secret" {
					io.WriteString(c, "+OK logged in\r\n")
				} else {
					io.WriteString(c, "-ERR auth failed\r\n")
				}
			case "APOP":
				io.WriteString(c, "-ERR no apop\r\n")
			case "QUIT":
				io.WriteString(c, "+OK bye\r\n")
				return
			}
		}
	})
}

func TestPOP(t *testing.T) {
	tg := popServer(t, "+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>")
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "pop"}), tg)
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "pop", Login: "alice", Passwd: "secret"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "pop", Login: "alice", Passwd: "wrong"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "pop"}), popServer(t, "-ERR busy"))
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "pop"}), closedPort(t))
}

func imapServer(t *testing.T, greeting string) Target {
	return lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		fmt.Fprintf(c, "%s\r\n", greeting)
		for {
			l, err := readLine(rd)
			if err != nil {
				return
			}
			f := strings.SplitN(l, " ", 3)
			switch strings.ToUpper(f[1]) {
			case "LOGIN":
				if f[2] == `"bob" "p\"w"` {
					fmt.Fprintf(c, "* CAPABILITY IMAP4rev1\r\n%s OK LOGIN completed\r\n", f[0])
				} else {
					fmt.Fprintf(c, "%s NO LOGIN failed\r\n", f[0])
				}
			case "LOGOUT":
				fmt.Fprintf(c, "* BYE\r\n%s OK LOGOUT\r\n", f[0])
				return
			default:
				fmt.Fprintf(c, "%s BAD\r\n", f[0])
			}
		}
	})
}

func TestIMAP(t *testing.T) {
	tg := imapServer(t, "* OK IMAP4rev1 ready")
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "imap"}), tg)
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "imap", Login: "bob", Passwd: `p"w`}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "imap", Login: "bob", Passwd: "x"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "imap"}), imapServer(t, "* BYE overloaded"))
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "imap"}), closedPort(t))
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "imap"}), imapServer(t, "* PREAUTH welcome"))
}

func TestNNTP(t *testing.T) {
	banner := func(b string) Target {
		return lineServer(t, func(c net.Conn, rd *bufio.Reader) { io.WriteString(c, b) })
	}
	c := mustNew(t, Spec{Type: "negotiate", Service: "nntp"})
	expectOK(t, c, banner("200 news.example ready\r\n"))
	expectOK(t, c, banner("201 posting prohibited\r\n"))
	expectFail(t, c, banner("502 no permission\r\n"))
	expectFail(t, c, lineServer(t, func(net.Conn, *bufio.Reader) {})) // closes without a word
	expectFail(t, c, closedPort(t))
}

func TestSimpleTCP(t *testing.T) {
	var got string
	tg := lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		b, _ := io.ReadAll(rd) // the checker shuts down its write side
		got = string(b)
		io.WriteString(c, "hello\nSTATUS ok\nbye\n")
	})
	c := mustNew(t, Spec{Type: "negotiate", Service: "simpletcp", Request: `/PING\nnow`, Receive: "^STATUS ok$"})
	expectOK(t, c, tg)
	if got != "PING\nnow" {
		t.Errorf("server got %q", got)
	}
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "simpletcp", Request: "/x", Receive: "nope"}), tg)
	expectFail(t, c, closedPort(t))
}

func TestSimpleTCPUDP(t *testing.T) {
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
			pc.WriteTo([]byte("echo "+string(buf[:n])+"\n"), a)
		}
	}()
	tg := targetOf(t, pc.LocalAddr())
	c := mustNew(t, Spec{Type: "negotiate", Service: "simpletcp", Protocol: "udp", Request: "/ping", Receive: "echo ping"})
	expectOK(t, c, tg)
}

// ftpServer is a minimal passive-mode FTP server serving files.
func ftpServer(t *testing.T, files map[string]string) Target {
	return lineServer(t, func(c net.Conn, rd *bufio.Reader) {
		io.WriteString(c, "220 ftp ready\r\n")
		var dl net.Listener
		defer func() {
			if dl != nil {
				dl.Close()
			}
		}()
		authed := false
		for {
			l, err := readLine(rd)
			if err != nil {
				return
			}
			verb, arg, _ := strings.Cut(l, " ")
			switch verb {
			case "USER":
				io.WriteString(c, "331 password please\r\n")
			case "PASS":
				authed = true
				io.WriteString(c, "230 logged in\r\n")
			case "CWD":
				io.WriteString(c, "250 ok\r\n")
			case "TYPE":
				io.WriteString(c, "200 binary\r\n")
			case "PASV":
				dl, _ = net.Listen("tcp", "127.0.0.1:0")
				p := dl.Addr().(*net.TCPAddr).Port
				// A bogus address in the reply: the checker must use the real's.
				fmt.Fprintf(c, "227 Entering Passive Mode (10,9,9,9,%d,%d)\r\n", p>>8, p&255)
			case "RETR":
				body, ok := files[arg]
				if !ok || !authed || dl == nil {
					io.WriteString(c, "550 no such file\r\n")
					continue
				}
				io.WriteString(c, "150 opening\r\n")
				dc, err := dl.Accept()
				if err != nil {
					return
				}
				io.WriteString(dc, body)
				dc.Close()
				io.WriteString(c, "226 done\r\n")
			case "QUIT":
				io.WriteString(c, "221 bye\r\n")
				return
			default:
				io.WriteString(c, "502 no\r\n")
			}
		}
	})
}

func TestFTP(t *testing.T) {
	tg := ftpServer(t, map[string]string{"/welcome.msg": "Welcome to the FTP server\n"})
	c := mustNew(t, Spec{Type: "negotiate", Service: "ftp", Login: "anonymous", Passwd: "ldirectord@test", Request: "/welcome.msg", Receive: "Welcome"})
	expectOK(t, c, tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "ftp", Request: "/welcome.msg", Receive: "Goodbye"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "ftp", Request: "/missing", Receive: "Welcome"}), tg)
	// empty receive: up when the transfer completed.
	expectOK(t, mustNew(t, Spec{Type: "negotiate", Service: "ftp", Request: "/welcome.msg"}), tg)
	expectFail(t, mustNew(t, Spec{Type: "negotiate", Service: "ftp", Request: "/missing"}), tg)
	expectFail(t, c, closedPort(t))
}

// TestHungNegotiate: a real that accepts and never answers fails at the
// deadline for every TCP negotiate service, and the connection is closed.
func TestHungNegotiate(t *testing.T) {
	const d = 300 * time.Millisecond
	for _, s := range []Spec{
		{Service: "ftp", Request: "/x", Receive: "x"},
		{Service: "smtp"}, {Service: "submission"}, {Service: "pop"}, {Service: "pops"},
		{Service: "imap"}, {Service: "imaps"}, {Service: "nntp"}, {Service: "ldap"}, {Service: "ldaps"},
		{Service: "dns", Protocol: "tcp", Request: "/a.example", Receive: "."},
		{Service: "sip", Login: "x@y"}, {Service: "simpletcp", Request: "/x", Receive: "x"},
		{Service: "mysql", Login: "u", Request: "/select 1"}, {Service: "pgsql", Login: "u", Request: "/select 1"},
	} {
		t.Run(s.Service, func(t *testing.T) {
			s.Type, s.NegotiateTimeout, s.ConnectTimeout = "negotiate", d, d
			tg, closed := hungServer(t)
			expectTimeout(t, mustNew(t, s), tg, d)
			closed()
		})
	}
}
