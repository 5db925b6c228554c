package config

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// startVirtual parses the value of a virtual= / virtual6= header. The
// address and port are resolved at the end of the section, once the
// protocol is known (a service name is looked up for that protocol).
func (p *parser) startVirtual(ln int, v6 bool, val string) *vstate {
	v := &Virtual{
		Line:      ln,
		IPv6:      v6,
		Protocol:  "tcp",
		Scheduler: "wrr",
		Check: CheckSpec{
			Type:         CheckNegotiate,
			Request:      "/",
			HTTPMethod:   "GET",
			CheckCommand: "/bin/true",
		},
	}
	vs := &vstate{v: v, checkTimeout: -1, negotiateTimeout: -1, checkInterval: -1, checkCount: -1, failureCount: -1}
	p.vstates = append(p.vstates, vs)

	tok, rest := splitFirstField(val)
	v.Host = tok
	if !commentOrBlank(rest) {
		p.r.warnf(ln, "ignoring %q after the virtual address, as ldirectord does", trimSpace(rest))
	}
	dir := familyWord("virtual", v6)
	switch {
	case tok == "":
		p.r.errorf(ln, "invalid address for virtual server: empty (want ip:port, host:service or a firewall mark number)")
		return vs
	case allDigits(tok):
		n, ok := atoiBounded(tok, 1<<32-1)
		if !ok || n == 0 {
			p.r.errorf(ln, "invalid firewall mark %s: must be 1..4294967295", tok)
			return vs
		}
		v.FWMark, v.Protocol, v.Check.Service = uint32(n), "fwm", "none"
		vs.ok = true
		return vs
	case strings.HasPrefix(tok, "["):
		if !v6 {
			p.r.errorf(ln, "cannot specify an IPv6 address here. please use \"virtual6\" instead.")
			return vs
		}
	}
	host, port, ok := splitHostPort(tok)
	if !ok {
		if d, _ := firstDigits(tok); d != "" && strings.HasPrefix(tok, d) && !v6 {
			// ldirectord's /^(\d+)/ would make this firewall mark d.
			p.r.errorf(ln, "%s = %s has no port: ldirectord would read it as firewall mark %s; write ip:port, or a plain number for a fwmark service", dir, tok, d)
		} else {
			p.r.errorf(ln, "invalid address %q for virtual server (want ip:port, host:service, [ipv6]:port for virtual6, or a firewall mark number)", tok)
		}
		return vs
	}
	vs.hostRaw, vs.portRaw = host, port
	if port == "53" || port == "domain" {
		v.Protocol = "udp" // ldirectord's default for DNS
	}
	vs.ok = true
	return vs
}

// endVirtual resolves the section's fallback, address and reals, as
// ldirectord does after reading the whole section.
func (p *parser) endVirtual(vs *vstate) {
	v := vs.v
	if vs.fallback != nil {
		fb := vs.fallback
		addr, err := p.resolveHost(fb.host, v.IPv6)
		port, perr := p.lookupPort(v.Protocol, fb.port)
		switch {
		case err != nil:
			p.r.wrapf(fb.line, err, "invalid fallback server %s: %v", fb.host, err)
		case perr != nil:
			p.r.wrapf(fb.line, perr, "invalid port for fallback server: %v", perr)
		default:
			v.Fallback = &Real{Line: fb.line, Host: fb.host, Addr: addr, Port: port, Method: fb.method, Weight: 1}
		}
	}
	if vs.ok && v.FWMark == 0 {
		addr, err := p.resolveHost(vs.hostRaw, v.IPv6)
		port, perr := p.lookupPort(v.Protocol, vs.portRaw)
		switch {
		case err != nil:
			p.r.wrapf(v.Line, err, "invalid address for virtual service: %v", err)
			vs.ok = false
		case perr != nil:
			p.r.wrapf(v.Line, perr, "invalid port for virtual service: %v", perr)
			vs.ok = false
		default:
			v.Addr = netip.AddrPortFrom(addr, port)
			if !vs.serviceSet {
				v.Check.Service = ServiceForPort(port)
			}
		}
	}
	p.resolveReals(vs)
	if vs.ok {
		k := v.Key()
		if first, dup := p.seen[k]; dup {
			p.r.errorf(v.Line, "duplicate virtual server %s (first defined on line %d)", k, first)
			vs.ok = false
		} else {
			p.seen[k] = v.Line
		}
	}
}

// fallbackSpec is a fallback line before resolution.
type fallbackSpec struct {
	line    int
	host    string
	port    string
	hasPort bool
	method  string
}

// parseFallback reads "host[:port] [gate|masq|ipip]" (ldirectord's
// parse_fallback). The forwarding method defaults to gate.
func (p *parser) parseFallback(ln int, val string) (*fallbackSpec, bool) {
	f := fields(stripComment(val))
	if len(f) == 0 || len(f) > 2 {
		// ldirectord would silently use the last two words.
		p.r.errorf(ln, "invalid fallback server %q: want host[:port] [gate|masq|ipip]", trimSpace(val))
		return nil, false
	}
	fb := &fallbackSpec{line: ln, host: f[0], method: "gate"}
	if len(f) == 2 {
		if !isMethod(f[1]) {
			p.r.errorf(ln, "forward method must be gate, masq or ipip, got %q", f[1])
			return nil, false
		}
		fb.method = f[1]
	}
	if k := strings.LastIndexByte(f[0], ':'); k >= 0 && isPortName(f[0][k+1:]) && !strings.HasSuffix(f[0][:k], ":") {
		fb.host, fb.port, fb.hasPort = f[0][:k], f[0][k+1:], true
	}
	if fb.host == "" || strings.Contains(strings.Trim(fb.host, "[]"), ":") && !strings.HasPrefix(fb.host, "[") {
		p.r.errorf(ln, "invalid fallback server %q: write host[:port], with an IPv6 address in brackets ([2001:db8::1]:80)", f[0])
		return nil, false
	}
	return fb, true
}

// globalFallback parses and resolves a global fallback line. ldirectord
// resolves the port for tcp and for udp virtuals, and refuses the line if
// either lookup fails.
func (p *parser) globalFallback(ln int, v6 bool, val string) {
	fb, ok := p.parseFallback(ln, val)
	if !ok {
		return
	}
	addr, err := p.resolveHost(fb.host, v6)
	if err != nil {
		p.r.wrapf(ln, err, "invalid %s address or could not resolve for fallback server: %v", map[bool]string{false: "IPv4", true: "IPv6"}[v6], err)
		return
	}
	gf := &GlobalFallback{Line: ln, Host: fb.host, Addr: addr, Method: fb.method, HasPort: fb.hasPort}
	if fb.hasPort {
		tp, err1 := p.lookupPort("tcp", fb.port)
		up, err2 := p.lookupPort("udp", fb.port)
		if err1 != nil || err2 != nil {
			err := err1
			if err == nil {
				err = err2
			}
			p.r.wrapf(ln, err, "invalid port for fallback server: %v (a global fallback port must resolve for both tcp and udp; use a number)", err)
			return
		}
		gf.TCPPort, gf.UDPPort = tp, up
	}
	if v6 {
		p.cfg.Global.Fallback6 = gf
	} else {
		p.cfg.Global.Fallback = gf
	}
}

// realFlagsRE is ldirectord's /\s+\"(.*)\"[, ]\s*\"(.*)\"(.*)/ for the
// per-real request and receive (greedy, so a quote may appear inside).
var realFlagsRE = regexp.MustCompile(`^\s+"(.*)"[, ]\s*"(.*)"(.*)$`)

// resolveReals parses "ADDR[->ADDR][:PORT] gate|masq|ipip [WEIGHT]
// ["REQUEST", "RECEIVE"] [l:N] [u:N]" lines (ldirectord's
// _ld_read_config_real_resolve and add_real_server).
func (p *parser) resolveReals(vs *vstate) {
	v := vs.v
	seen := map[string]int{}
	for _, rl := range vs.reals {
		ln := rl.line
		tok, flags := splitFirstField(rl.text)
		h1, h2, port, ok := splitRealAddr(tok)
		if !ok || flags == "" {
			p.r.errorf(ln, "invalid address for real server (wrong format): want ADDR[->ADDR][:PORT] gate|masq|ipip [WEIGHT] [\"REQUEST\", \"RECEIVE\"], got %s", clip(trimSpace(rl.text)))
			continue
		}
		tmpl, ok := p.realFlags(ln, flags)
		if !ok {
			continue
		}
		if port == "" {
			port = "0" // ldirectord's default; the kernel shows gate/ipip reals with the virtual's port
		}
		pn, err := p.lookupPort("", port)
		if err != nil {
			p.r.wrapf(ln, err, "invalid port (%s) for real server (could not resolve port): %v", port, err)
			continue
		}
		a1, err := p.resolveHost(h1, v.IPv6)
		if err != nil {
			p.r.wrapf(ln, err, "invalid address (%s) for real server (could not resolve host): %v", h1, err)
			continue
		}
		addrs := []netip.Addr{a1}
		if h2 != "" {
			if v.IPv6 {
				p.r.errorf(ln, "Address range for IPv6 is not supported yet")
				continue
			}
			a2, err := p.resolveHost(h2, false)
			if err != nil {
				p.r.wrapf(ln, err, "invalid address (%s) for real server (could not resolve end host): %v", h2, err)
				continue
			}
			lo, hi := ip4Int(a1), ip4Int(a2)
			if lo > hi {
				p.r.errorf(ln, "Invalid Range: %s-%s: the first address must not be greater than the second", a1, a2)
				continue
			}
			if n := int64(hi-lo) + 1; n > int64(p.maxReals-p.nreals) {
				p.r.errorf(ln, "range %s->%s has %d addresses: more than the %d real servers allowed per file", a1, a2, n, p.maxReals)
				continue
			}
			addrs = addrs[:0]
			for i := lo; ; i++ {
				addrs = append(addrs, intIP4(i))
				if i == hi {
					break
				}
			}
		} else if p.nreals >= p.maxReals {
			p.r.errorf(ln, "more than %d real servers", p.maxReals)
			continue
		}
		for _, a := range addrs {
			r := *tmpl
			r.Line, r.Host, r.Addr, r.Port = ln, tok, a, pn
			k := r.Key()
			if first, dup := seen[k]; dup {
				// ldirectord keeps both and the two entries fight over one
				// kernel destination.
				p.r.errorf(ln, "real server %s is listed twice in this virtual (first on line %d)", k, first)
				continue
			}
			seen[k] = ln
			v.Reals = append(v.Reals, &r)
			p.nreals++
		}
	}
}

// realFlags parses what follows the address of a real line.
func (p *parser) realFlags(ln int, flags string) (*Real, bool) {
	r := &Real{Weight: 1}
	t := trimLeftSpace(flags)
	m := firstRun(t, isWordByte)
	if !strings.HasPrefix(t, m) || !isMethod(m) {
		p.r.errorf(ln, "forward method must be gate, masq or ipip, got %s", clip(firstRun(t, isNonSpace)))
		return nil, false
	}
	r.Method = m
	f := t[len(m):]
	if t := trimLeftSpace(f); len(t) < len(f) && t != "" && t[0] >= '0' && t[0] <= '9' {
		d, _ := firstDigits(t)
		n, ok := atoiBounded(d, 65535)
		if !ok {
			// ipvsadm refuses weights above 65535.
			p.r.errorf(ln, "weight %s out of range 0..65535", d)
			return nil, false
		}
		r.Weight, f = int(n), t[len(d):]
	}
	if m := realFlagsRE.FindStringSubmatch(f); m != nil {
		r.Request, r.Receive, r.OwnCheck, f = m[1], m[2], true, m[3]
		if !strings.HasPrefix(r.Request, "/") {
			r.Request = "/" + r.Request
		}
	}
	for _, th := range []struct {
		prefix string
		dst    *int
	}{{"l:", &r.LowerThreshold}, {"u:", &r.UpperThreshold}} {
		t := trimLeftSpace(f)
		if len(t) == len(f) || !strings.HasPrefix(t, th.prefix) {
			continue
		}
		d, ok := firstDigits(t[2:])
		if !ok || !strings.HasPrefix(t[2:], d) {
			continue
		}
		n, ok := atoiBounded(d, 1<<31-1)
		if !ok {
			p.r.errorf(ln, "threshold %s%s too large", th.prefix, d)
			return nil, false
		}
		*th.dst, f = int(n), t[2+len(d):]
	}
	if trimSpace(f) != "" {
		p.r.errorf(ln, "Invalid real server line, around %s (want gate|masq|ipip [WEIGHT] [\"REQUEST\", \"RECEIVE\"] [l:N] [u:N])", clip(trimSpace(f)))
		return nil, false
	}
	return r, true
}

func isMethod(s string) bool { return s == "gate" || s == "masq" || s == "ipip" }

// splitFirstField splits at the first run of whitespace.
func splitFirstField(s string) (first, rest string) {
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			return s[:i], s[i:]
		}
	}
	return s, ""
}

// splitHostPort splits "host:port" or "[v6]:port" (port required).
func splitHostPort(s string) (host, port string, ok bool) {
	k := strings.LastIndexByte(s, ':')
	if k <= 0 || !isPortName(s[k+1:]) {
		return "", "", false
	}
	host, port = s[:k], s[k+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") || !isV6Chars(host[1:len(host)-1]) {
			return "", "", false
		}
		return host, port, true
	}
	for i := 0; i < len(host); i++ {
		if !isHostByte(host[i]) {
			return "", "", false
		}
	}
	return host, port, true
}

// splitRealAddr splits "A[->B][:PORT]" where A and B are dotted quads,
// host names or [IPv6] literals.
func splitRealAddr(s string) (h1, h2, port string, ok bool) {
	var rest string
	if h1, rest, ok = scanRealHost(s); !ok {
		return "", "", "", false
	}
	if strings.HasPrefix(rest, "->") {
		if h2, rest, ok = scanRealHost(rest[2:]); !ok {
			return "", "", "", false
		}
	}
	if strings.HasPrefix(rest, ":") {
		port, rest = rest[1:], ""
		if !isPortName(port) {
			return "", "", "", false
		}
	}
	return h1, h2, port, rest == ""
}

func scanRealHost(s string) (host, rest string, ok bool) {
	if strings.HasPrefix(s, "[") {
		k := strings.IndexByte(s, ']')
		if k < 0 || !isV6Chars(s[1:k]) {
			return "", "", false
		}
		return s[:k+1], s[k+1:], true
	}
	i := 0
	for i < len(s) && (isHostByte(s[i]) && s[i] != '_' && s[i] != '+') {
		if s[i] == '-' && strings.HasPrefix(s[i:], "->") {
			break
		}
		i++
	}
	return s[:i], s[i:], i > 0
}

func isV6Chars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':') {
			return false
		}
	}
	return true
}

// isPortName accepts a port number or a service name.
func isPortName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// resolveHost is ldirectord's ld_gethostbyname: an IP literal of the right
// family, or a name resolved to its first address of that family.
func (p *parser) resolveHost(host string, v6 bool) (netip.Addr, error) {
	h := host
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if a, err := netip.ParseAddr(h); err == nil {
		switch {
		case a.Zone() != "":
			return netip.Addr{}, fmt.Errorf("%s: zoned IPv6 addresses are not supported", host)
		case v6 && !a.Is6():
			return netip.Addr{}, fmt.Errorf("%s is an IPv4 address in an IPv6 (virtual6/real6/fallback6) entry", host)
		case !v6 && !a.Is4():
			return netip.Addr{}, fmt.Errorf("%s is an IPv6 address: use virtual6/real6/fallback6 and [brackets]", host)
		}
		return a, nil
	}
	if h == "" || strings.HasPrefix(host, "[") {
		return netip.Addr{}, fmt.Errorf("%q is not a valid address", host)
	}
	for i := 0; i < len(h); i++ {
		if !isHostByte(h[i]) {
			return netip.Addr{}, fmt.Errorf("%q is not a valid host name", host)
		}
	}
	ips, err := p.lookupHost(h)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w %s: %w", ErrResolve, host, err)
	}
	for _, ip := range ips {
		if ip4 := ip.To4(); ip4 != nil {
			if !v6 {
				return netip.AddrFrom4([4]byte(ip4)), nil
			}
		} else if ip16 := ip.To16(); ip16 != nil && v6 {
			return netip.AddrFrom16([16]byte(ip16)), nil
		}
	}
	fam := "IPv4"
	if v6 {
		fam = "IPv6"
	}
	return netip.Addr{}, fmt.Errorf("%w %s: no %s address", ErrResolve, host, fam)
}

func (p *parser) lookupHost(h string) ([]net.IP, error) {
	if p.opts.LookupHost != nil {
		return p.opts.LookupHost(h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return net.DefaultResolver.LookupIP(ctx, "ip", h)
}

// lookupPort is ldirectord's ld_getservbyname: a number 0..65535, or a
// service name looked up for proto ("" = any).
func (p *parser) lookupPort(proto, s string) (uint16, error) {
	if allDigits(s) {
		n, ok := atoiBounded(s, 65535)
		if !ok {
			return 0, fmt.Errorf("port %s out of range 0..65535", s)
		}
		return uint16(n), nil
	}
	if !isPortName(s) {
		return 0, fmt.Errorf("%q is not a port number or service name", s)
	}
	if proto == "fwm" {
		proto = ""
	}
	var n int
	var err error
	if p.opts.LookupPort != nil {
		n, err = p.opts.LookupPort(proto, s)
	} else {
		n, err = net.LookupPort(proto, s)
	}
	if err != nil {
		return 0, fmt.Errorf("%w service %q: %w", ErrResolve, s, err)
	}
	if n < 0 || n > 65535 {
		return 0, fmt.Errorf("service %q resolved to invalid port %d", s, n)
	}
	return uint16(n), nil
}

func ip4Int(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func intIP4(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}
