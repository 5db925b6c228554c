package kacheck

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Usage is the synopsis of `lvsha-import check`.
const Usage = `usage: lvsha-import check KIND [options] VIP VPORT RIP RPORT
  KIND tcp:   TCP_CHECK
  KIND http:  HTTP_GET (--ssl: SSL_GET) [--sni] [--protocol 1.0|1.0C|1.1] [--vhost HOST]
              --url PATH [--digest MD5] [--status 200-299,302] [--url-vhost HOST]
              [--regex RE] [--regex-no-match], repeated for each url
  KIND smtp:  SMTP_CHECK [--helo NAME] [--host IP[:PORT]]...
  KIND dns:   DNS_CHECK [--type A|NS|CNAME|SOA|MX|TXT|AAAA] [--name NAME]
  every KIND: [--timeout SECONDS] [--connect-ip IP] [--connect-port PORT] [--bind IP]
The four last arguments are what ldird appends to an external check; the
check connects to --connect-ip/--connect-port, else RIP:RPORT.
Exit status: 0 up, 1 down (the reason on stderr), 2 usage.`

// Main runs `lvsha-import check ARGS...` and returns the exit status.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	run, err := parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "lvsha-import check: %v\n%s\n", err, Usage)
		return 2
	}
	if err := run(ctx); err != nil {
		fmt.Fprintf(stderr, "lvsha-import check: down: %v\n", err)
		return 1
	}
	return 0
}

func parse(args []string) (func(context.Context) error, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("no check kind")
	}
	kind, args := args[0], args[1:]
	var (
		timeout      = 5 * time.Second
		connIP, bind string
		connPort     int
		h            HTTP
		smtp         SMTP
		hosts        []string
		dns          DNS
		pos          []string
		cur          *URL
		errUsage     error
	)
	val := func(i *int, name string) string {
		if *i+1 >= len(args) {
			errUsage = fmt.Errorf("%s needs a value", name)
			return ""
		}
		*i++
		return args[*i]
	}
	needURL := func(name string) *URL {
		if cur == nil {
			errUsage = fmt.Errorf("%s before any --url", name)
			return &URL{}
		}
		return cur
	}
	for i := 0; i < len(args) && errUsage == nil; i++ {
		a := args[i]
		switch a {
		case "--timeout":
			s := val(&i, a)
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f <= 0 {
				return nil, fmt.Errorf("--timeout %q: want seconds > 0", s)
			}
			timeout = time.Duration(f * float64(time.Second))
		case "--connect-ip":
			connIP = val(&i, a)
		case "--connect-port":
			s := val(&i, a)
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("--connect-port %q", s)
			}
			connPort = n
		case "--bind":
			bind = val(&i, a)
		case "--ssl":
			h.TLS = true
		case "--sni":
			h.SNI = true
		case "--protocol":
			h.Protocol = val(&i, a)
			if h.Protocol != "1.0" && h.Protocol != "1.0C" && h.Protocol != "1.1" {
				return nil, fmt.Errorf("--protocol %q: want 1.0, 1.0C or 1.1", h.Protocol)
			}
		case "--vhost":
			h.VirtualHost = val(&i, a)
		case "--url":
			h.URLs = append(h.URLs, URL{Path: val(&i, a)})
			cur = &h.URLs[len(h.URLs)-1]
		case "--digest":
			needURL(a).Digest = strings.ToLower(val(&i, a))
		case "--status":
			u := needURL(a)
			rs, err := ParseStatus([]string{val(&i, a)})
			if err != nil {
				return nil, err
			}
			u.Status = append(u.Status, rs...)
		case "--url-vhost":
			needURL(a).VirtualHost = val(&i, a)
		case "--regex":
			u := needURL(a)
			re, err := regexp.Compile(val(&i, a))
			if err != nil {
				return nil, fmt.Errorf("--regex: %w", err)
			}
			u.Regex = re
		case "--regex-no-match":
			needURL(a).RegexNoMatch = true
		case "--helo":
			smtp.Helo = val(&i, a)
		case "--host":
			hosts = append(hosts, val(&i, a))
		case "--type":
			t := strings.ToUpper(val(&i, a))
			qt, ok := DNSTypes[t]
			if !ok {
				return nil, fmt.Errorf("--type %q: want A, NS, CNAME, SOA, MX, TXT or AAAA", t)
			}
			dns.Type = qt
		case "--name":
			dns.Name = val(&i, a)
		default:
			if strings.HasPrefix(a, "--") {
				return nil, fmt.Errorf("unknown option %s", a)
			}
			pos = append(pos, a)
		}
	}
	if errUsage != nil {
		return nil, errUsage
	}
	if len(pos) != 4 {
		return nil, fmt.Errorf("want VIP VPORT RIP RPORT (ldird's arguments), got %d arguments", len(pos))
	}
	target, err := target(pos[2], pos[3], connIP, connPort)
	if err != nil {
		return nil, err
	}
	c := Conn{Addr: target, Timeout: timeout}
	if bind != "" {
		b, err := netip.ParseAddr(bind)
		if err != nil {
			return nil, fmt.Errorf("--bind %q: %w", bind, err)
		}
		c.Bind = b
	}
	switch kind {
	case "tcp":
		return func(ctx context.Context) error { return TCP(ctx, c) }, nil
	case "http":
		if len(h.URLs) == 0 {
			return nil, fmt.Errorf("http needs at least one --url")
		}
		h.Conn = c
		return h.Run, nil
	case "smtp":
		smtp.Hosts = nil
		for _, hs := range hosts {
			ap, err := hostPort(hs, c.Addr.Port())
			if err != nil {
				return nil, err
			}
			hc := c
			hc.Addr = ap
			smtp.Hosts = append(smtp.Hosts, hc)
		}
		if len(smtp.Hosts) == 0 {
			smtp.Hosts = []Conn{c}
		}
		return smtp.Run, nil
	case "dns":
		dns.Conn = c
		return dns.Run, nil
	}
	return nil, fmt.Errorf("unknown check kind %q (tcp, http, smtp, dns)", kind)
}

// target picks the address to check: --connect-ip/--connect-port, else
// ldird's RIP and RPORT (IPv6 in brackets).
func target(rip, rport, connIP string, connPort int) (netip.AddrPort, error) {
	ipStr := connIP
	if ipStr == "" {
		ipStr = strings.Trim(rip, "[]")
	}
	ip, err := netip.ParseAddr(ipStr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w", ipStr, err)
	}
	port := connPort
	if port == 0 {
		port, err = strconv.Atoi(rport)
		if err != nil || port < 0 || port > 65535 {
			return netip.AddrPort{}, fmt.Errorf("port %q", rport)
		}
	}
	if port == 0 {
		return netip.AddrPort{}, fmt.Errorf("the real has no port: give --connect-port")
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

func hostPort(s string, defPort uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	ip, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("--host %q: %w", s, err)
	}
	return netip.AddrPortFrom(ip, defPort), nil
}
