// Package kacheck runs keepalived's health checks exactly where ldird's
// own checks cannot express them: HTTP_GET/SSL_GET with an MD5 digest,
// status codes other than 2xx, several URLs or regex_no_match; TCP_CHECK
// with connect_ip or bindto; SMTP_CHECK with helo_name or several hosts;
// DNS_CHECK with any query type. An import writes an external check
// script that runs `lvsha-import check KIND ...` with ldird's four
// arguments (VIP VPORT RIP RPORT) appended; the exit status is the verdict.
//
// The behaviour follows keepalived 2.2.7's checkers:
//   - TCP_CHECK: a TCP connect within connect_timeout.
//   - HTTP_GET/SSL_GET: per URL, one connection; "GET path HTTP/1.0",
//     User-Agent KeepAliveClient and Host (virtualhost or the address, with
//     ":port" when not 80/443); HTTP/1.1 or 1.0C add "Connection: close".
//     The whole response is read; the status must be in the url's
//     status_code list (default 200-299), the MD5 of the body must equal
//     digest when given, the body must match regex (or not, with
//     regex_no_match). Every URL must pass. No redirect is followed. TLS
//     certificates are not verified (keepalived's default context).
//   - SMTP_CHECK: banner 220, "HELO name" answered 250, "QUIT" answered
//     221, for every host.
//   - DNS_CHECK: one UDP query (RD set, class IN) for name/type; up when a
//     reply with the same ID, QR set and RCODE 0 arrives.
//
// Each check is bounded by its timeout (keepalived's connect_timeout, which
// keepalived applies to the connection and to every read).
package kacheck

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Conn says where a check connects and from where.
type Conn struct {
	Addr    netip.AddrPort
	Bind    netip.Addr // zero: the kernel chooses
	Timeout time.Duration
}

func (c Conn) dial(ctx context.Context, network string) (net.Conn, error) {
	d := net.Dialer{Timeout: c.Timeout}
	if c.Bind.IsValid() {
		if network == "udp" {
			d.LocalAddr = &net.UDPAddr{IP: c.Bind.AsSlice()}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: c.Bind.AsSlice()}
		}
	}
	conn, err := d.DialContext(ctx, network, c.Addr.String())
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// deadline sets the read/write deadline for the next operation, as
// keepalived re-arms connect_timeout for every read.
func (c Conn) deadline(conn net.Conn) {
	if c.Timeout > 0 {
		conn.SetDeadline(time.Now().Add(c.Timeout))
	}
}

// TCP is TCP_CHECK.
func TCP(ctx context.Context, c Conn) error {
	conn, err := c.dial(ctx, "tcp")
	if err != nil {
		return fmt.Errorf("TCP connect to %s: %w", c.Addr, err)
	}
	return conn.Close()
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// ParseStatus reads keepalived's status_code list: "200", "200-299 302".
func ParseStatus(words []string) ([]StatusRange, error) {
	var out []StatusRange
	for _, w := range words {
		for _, f := range strings.FieldsFunc(w, func(r rune) bool { return r == ',' || r == ' ' }) {
			lo, hi, isRange := strings.Cut(f, "-")
			a, err := strconv.Atoi(lo)
			if err != nil || a < 100 || a > 599 {
				return nil, fmt.Errorf("status code %q: want 100-599 or a range such as 200-299", f)
			}
			b := a
			if isRange {
				b, err = strconv.Atoi(hi)
				if err != nil || b < a || b > 599 {
					return nil, fmt.Errorf("status code range %q", f)
				}
			}
			out = append(out, StatusRange{a, b})
		}
	}
	return out, nil
}

// URL is one url{} block of HTTP_GET / SSL_GET.
type URL struct {
	Path         string
	Digest       string // lower-case hex MD5 of the body; "" = not checked
	Status       []StatusRange
	VirtualHost  string
	Regex        *regexp.Regexp
	RegexNoMatch bool
}

// HTTP is HTTP_GET (TLS false) or SSL_GET (TLS true).
type HTTP struct {
	Conn
	TLS         bool
	SNI         bool   // enable_sni: send the virtual host as server name
	Protocol    string // "1.0" (default), "1.0C" or "1.1"
	VirtualHost string // the checker's, real's or virtual server's
	URLs        []URL
}

// maxResponse bounds what is read of one response.
const maxResponse = 16 << 20

// Run checks every URL; the first failure is the verdict.
func (h HTTP) Run(ctx context.Context) error {
	if len(h.URLs) == 0 {
		return errors.New("no url to check")
	}
	for _, u := range h.URLs {
		if err := h.one(ctx, u); err != nil {
			return fmt.Errorf("%s: %w", u.Path, err)
		}
	}
	return nil
}

func (h HTTP) one(ctx context.Context, u URL) error {
	conn, err := h.dial(ctx, "tcp")
	if err != nil {
		return fmt.Errorf("connect %s: %w", h.Addr, err)
	}
	defer conn.Close()
	host := u.VirtualHost
	if host == "" {
		host = h.VirtualHost
	}
	if host == "" {
		host = h.Addr.Addr().String()
		if h.Addr.Addr().Is6() {
			host = "[" + host + "]"
		}
	}
	defPort := uint16(80)
	if h.TLS {
		defPort = 443
	}
	hostHdr := host
	if h.Addr.Port() != defPort {
		hostHdr += ":" + strconv.Itoa(int(h.Addr.Port()))
	}
	if h.TLS {
		cfg := &tls.Config{InsecureSkipVerify: true} // keepalived does not verify by default
		if h.SNI {
			cfg.ServerName = strings.Trim(host, "[]")
		}
		tc := tls.Client(conn, cfg)
		h.deadline(tc)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake with %s: %w", h.Addr, err)
		}
		conn = tc
	}
	proto, extra := "HTTP/1.0", ""
	switch h.Protocol {
	case "1.1":
		proto, extra = "HTTP/1.1", "Connection: close\r\n"
	case "1.0C":
		extra = "Connection: close\r\n"
	}
	req := "GET " + u.Path + " " + proto + "\r\nUser-Agent: KeepAliveClient\r\n" + extra + "Host: " + hostHdr + "\r\n\r\n"
	h.deadline(conn)
	if _, err := io.WriteString(conn, req); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	var buf bytes.Buffer
	chunk := make([]byte, 32<<10)
	for {
		h.deadline(conn)
		n, err := conn.Read(chunk)
		buf.Write(chunk[:n])
		if buf.Len() > maxResponse {
			return fmt.Errorf("response larger than %d bytes", maxResponse)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if buf.Len() > 0 && isTLSCloseNotify(err) {
				break
			}
			return fmt.Errorf("read: %w", err)
		}
	}
	status, body, err := splitResponse(buf.Bytes())
	if err != nil {
		return err
	}
	ranges := u.Status
	if len(ranges) == 0 {
		ranges = []StatusRange{{200, 299}}
	}
	ok := false
	for _, r := range ranges {
		if status >= r.Lo && status <= r.Hi {
			ok = true
			break
		}
	}
	if !ok {
		return fmt.Errorf("status %d not in %s", status, formatRanges(ranges))
	}
	if u.Digest != "" {
		sum := md5.Sum(body)
		if got := hex.EncodeToString(sum[:]); got != strings.ToLower(u.Digest) {
			return fmt.Errorf("digest %s, want %s", got, strings.ToLower(u.Digest))
		}
	}
	if u.Regex != nil {
		m := u.Regex.Match(body)
		if m == u.RegexNoMatch {
			if u.RegexNoMatch {
				return fmt.Errorf("body matches %q (regex_no_match)", u.Regex)
			}
			return fmt.Errorf("body does not match %q", u.Regex)
		}
	}
	return nil
}

func isTLSCloseNotify(err error) bool {
	return strings.Contains(err.Error(), "close notify") || errors.Is(err, io.ErrUnexpectedEOF)
}

func formatRanges(rs []StatusRange) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		if r.Lo == r.Hi {
			s[i] = strconv.Itoa(r.Lo)
		} else {
			s[i] = strconv.Itoa(r.Lo) + "-" + strconv.Itoa(r.Hi)
		}
	}
	return strings.Join(s, " ")
}

// splitResponse reads the status line's code and returns the body (after
// the first empty line). keepalived hashes what follows the headers as
// received, without decoding chunked transfer encoding, and so does this.
func splitResponse(b []byte) (int, []byte, error) {
	line, rest, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return 0, nil, fmt.Errorf("no HTTP status line in the response (%q)", clip(string(line)))
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, nil, fmt.Errorf("bad status %q", f[1])
	}
	if i := bytes.Index(rest, []byte("\r\n\r\n")); i >= 0 && !bytes.Contains(rest[:i], []byte("\n\n")) {
		return code, rest[i+4:], nil
	}
	if i := bytes.Index(rest, []byte("\n\n")); i >= 0 {
		return code, rest[i+2:], nil
	}
	if bytes.HasPrefix(rest, []byte("\r\n")) {
		return code, rest[2:], nil
	}
	return code, nil, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// SMTP is SMTP_CHECK: every host must pass.
type SMTP struct {
	Hosts []Conn
	Helo  string // default: the checking host's name
}

// Run runs the dialogue against every host.
func (s SMTP) Run(ctx context.Context) error {
	helo := s.Helo
	if helo == "" {
		helo = "localhost"
	}
	for _, c := range s.Hosts {
		if err := smtpOne(ctx, c, helo); err != nil {
			return fmt.Errorf("SMTP %s: %w", c.Addr, err)
		}
	}
	return nil
}

func smtpOne(ctx context.Context, c Conn, helo string) error {
	conn, err := c.dial(ctx, "tcp")
	if err != nil {
		return err
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	expect := func(code string) error {
		for {
			c.deadline(conn)
			line, err := rd.ReadString('\n')
			if err != nil {
				return fmt.Errorf("waiting for %s: %w", code, err)
			}
			if len(line) >= 4 && line[3] == '-' {
				continue // a multi-line reply goes on
			}
			if !strings.HasPrefix(line, code) {
				return fmt.Errorf("got %q, want %s", strings.TrimSpace(line), code)
			}
			return nil
		}
	}
	send := func(s string) error {
		c.deadline(conn)
		_, err := io.WriteString(conn, s)
		return err
	}
	if err := expect("220"); err != nil {
		return err
	}
	if err := send("HELO " + helo + "\r\n"); err != nil {
		return err
	}
	if err := expect("250"); err != nil {
		return err
	}
	if err := send("QUIT\r\n"); err != nil {
		return err
	}
	return expect("221")
}

// DNSTypes are the query types DNS_CHECK accepts.
var DNSTypes = map[string]uint16{"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}

// DNS is DNS_CHECK.
type DNS struct {
	Conn
	Type uint16 // default SOA
	Name string // default "."
}

// Run sends one query and waits for its answer.
func (d DNS) Run(ctx context.Context) error {
	qt := d.Type
	if qt == 0 {
		qt = DNSTypes["SOA"]
	}
	name := d.Name
	if name == "" {
		name = "."
	}
	q, id, err := dnsQuery(name, qt)
	if err != nil {
		return err
	}
	conn, err := d.dial(ctx, "udp")
	if err != nil {
		return fmt.Errorf("DNS %s: %w", d.Addr, err)
	}
	defer conn.Close()
	d.deadline(conn)
	if _, err := conn.Write(q); err != nil {
		return fmt.Errorf("DNS %s: send: %w", d.Addr, err)
	}
	buf := make([]byte, 4096)
	for {
		d.deadline(conn)
		n, err := conn.Read(buf)
		if err != nil {
			return fmt.Errorf("DNS %s: %w", d.Addr, err)
		}
		if n < 12 || binary.BigEndian.Uint16(buf) != id {
			continue // too short or not our answer: keepalived waits on
		}
		flags := binary.BigEndian.Uint16(buf[2:])
		if flags&0x8000 == 0 {
			continue // a query, not a reply
		}
		if rc := flags & 0xf; rc != 0 {
			return fmt.Errorf("DNS %s: rcode %d", d.Addr, rc)
		}
		return nil
	}
}

func dnsQuery(name string, qtype uint16) ([]byte, uint16, error) {
	var idb [2]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, 0, err
	}
	id := binary.BigEndian.Uint16(idb[:])
	b := make([]byte, 12, 64)
	binary.BigEndian.PutUint16(b, id)
	binary.BigEndian.PutUint16(b[2:], 0x0100) // RD
	binary.BigEndian.PutUint16(b[4:], 1)      // one question
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if l == "" {
			continue
		}
		if len(l) > 63 {
			return nil, 0, fmt.Errorf("DNS name %q: label longer than 63", name)
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, 1) // IN
	return b, id, nil
}
