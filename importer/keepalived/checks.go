package keepalived

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"lvsha/importer/kacheck"
	"lvsha/importer/kaconf"
	"lvsha/importer/plan"
	"lvsha/importer/report"
)

// native is a check ldird can run itself.
type native struct {
	Type, Service    string
	Request, Receive string
	VHost            string
	Port             int    // checkport; 0 = the real's port
	TimeoutKind      string // "check" (connect, ping) or "negotiate"
}

// chk is one checker of a real, translated both ways: as ldird's own check
// (nat) and as a command for an external check (cmd). Either may be
// impossible; the options' report items are kept per way and given once
// the way is chosen.
type chk struct {
	n       *kaconf.Node
	nat     *native
	natWhy  string
	cmd     []string // without ldird's four arguments
	cmdArgs bool     // append ldird's arguments ("$@")
	// ifMissing: keepalived disables a MISC_CHECK whose script is missing
	// at start (the real keeps its state, up); the generated check does
	// the same, so a wrong path does not take reals out after a migration.
	ifMissing bool
	cmdWhy    string
	natItems  []report.Item
	cmdItems  []report.Item
	timeout   time.Duration
	retry     int
	delayLoop time.Duration
	dbr       time.Duration
	dbrSet    bool
	// Where delay_loop, the timeout and retry were set (nil: default).
	delayAt, toAt, retryAt *kaconf.Node
}

// defaultRetry is keepalived 2.2.7's retry per checker.
var defaultRetry = map[string]int{"DNS_CHECK": 3, "MISC_CHECK": 0}

// defaultDBR is keepalived's delay_before_retry per checker (DNS_CHECK:
// its delay_loop).
var defaultDBR = map[string]time.Duration{"HTTP_GET": 3 * time.Second, "SSL_GET": 3 * time.Second}

func item(k report.Kind, p report.Pos, what, result, advice string) report.Item {
	return report.Item{Kind: k, Pos: p, What: what, Result: result, Advice: advice}
}

// checker translates one checker block of real r.
func (m *mapper) checker(c *kaconf.Node, r *realSrv) *chk {
	p := m.pos(c.Pos)
	k := &chk{n: c, timeout: r.connTO, delayLoop: r.delayLoop, dbr: r.dbr, dbrSet: r.dbrSet, retry: r.retry,
		delayAt: r.delayAt, toAt: r.toAt, retryAt: r.retryAt}
	if k.retry < 0 {
		k.retry = 1
		if d, ok := defaultRetry[c.Key]; ok {
			k.retry = d
		}
	}
	switch c.Key {
	case "UDP_CHECK":
		m.rep.Unmapped(p, c.Key, "ldird has no check that sends a hex payload over UDP",
			"for a text protocol use service = simpletcp with protocol udp and request/receive; else checktype = external with a script")
		return nil
	case "BFD_CHECK":
		m.rep.Unmapped(p, words(c), "ldird has no BFD", "check the real with connect or ping instead")
		return nil
	case "FILE_CHECK":
		m.rep.Unmapped(p, c.Key, "ldird does not set weights from a file", "use maintenancedir (a file per real forces it down) for manual control")
		return nil
	}
	// Options common to every checker.
	var connIP netip.Addr
	connPort, bindIP := 0, ""
	var opts []*kaconf.Node
	for _, o := range c.Block {
		op := m.pos(o.Pos)
		switch o.Key {
		case "connect_ip":
			a, err := netip.ParseAddr(o.Arg(0))
			if err != nil {
				m.rep.Unmapped(op, words(o), "not an address", "fix it")
				continue
			}
			connIP = a.Unmap()
			if connIP != r.addr {
				k.natWhy = "connect_ip " + o.Arg(0) + " is not the real's address"
			}
			k.cmdItems = append(k.cmdItems, item(report.Mapped, op, words(o), "--connect-ip "+o.Arg(0), ""))
		case "connect_port":
			v, err := strconv.Atoi(o.Arg(0))
			if err != nil || v < 1 || v > 65535 {
				m.rep.Unmapped(op, words(o), "not a port", "fix it")
				continue
			}
			connPort = v
			k.natItems = append(k.natItems, item(report.Mapped, op, words(o), "checkport = "+o.Arg(0), ""))
			k.cmdItems = append(k.cmdItems, item(report.Mapped, op, words(o), "--connect-port "+o.Arg(0), ""))
		case "bindto":
			bindIP = o.Arg(0)
			k.natWhy = "bindto: ldird's checks use the kernel's source address"
			k.cmdItems = append(k.cmdItems, item(report.Mapped, op, words(o), "--bind "+o.Arg(0), ""))
		case "bind_port", "bind_if", "fwmark":
			m.rep.Unmapped(op, words(o), "checks cannot set a source port, interface or firewall mark", "route the checks with the kernel's routing table instead")
		case "connect_timeout":
			d, err := timer(o.Arg(0))
			if err != nil {
				m.rep.Unmapped(op, words(o), err.Error(), "fix it")
				continue
			}
			k.timeout, k.toAt = d, o
		case "retry", "nb_get_retry":
			v, err := strconv.Atoi(o.Arg(0))
			if err != nil || v < 0 {
				m.rep.Unmapped(op, words(o), "not a count", "fix it")
				continue
			}
			k.retry, k.retryAt = v, o
		case "delay_before_retry":
			d, err := timer(o.Arg(0))
			if err == nil {
				k.dbr, k.dbrSet = d, true
			}
		case "delay_loop":
			d, err := timer(o.Arg(0))
			if err == nil {
				k.delayLoop, k.delayAt = d, o
			}
		case "warmup":
			m.rep.Ignored(op, words(o), vsIgnored["warmup"])
		case "alpha":
			// Reported per virtual server.
		case "log_all_failures":
			m.rep.Ignored(op, words(o), "ldird logs every failed check at debug level")
		default:
			opts = append(opts, o)
		}
	}
	if !k.dbrSet {
		k.dbr = time.Second
		if d, ok := defaultDBR[c.Key]; ok {
			k.dbr = d
		} else if c.Key == "DNS_CHECK" {
			k.dbr = k.delayLoop
		}
	}
	target := r.addr
	if connIP.IsValid() {
		target = connIP
	}
	tport := r.port
	if connPort != 0 {
		tport = connPort
	}
	common := []string{"--timeout", secs(k.timeout)}
	if connIP.IsValid() {
		common = append(common, "--connect-ip", connIP.String())
	}
	if connPort != 0 {
		common = append(common, "--connect-port", strconv.Itoa(connPort))
	}
	if bindIP != "" {
		common = append(common, "--bind", bindIP)
	}
	helper := func(kind string) []string {
		return append([]string{m.opt.Helper, "check", kind}, common...)
	}
	switch c.Key {
	case "TCP_CHECK":
		for _, o := range opts {
			m.rep.Unmapped(m.pos(o.Pos), words(o), "not a TCP_CHECK option", "remove it")
		}
		if r.udpVirtual && k.natWhy == "" {
			// ldird's connect, as ldirectord's, pings the reals of a UDP
			// service; keepalived's TCP_CHECK connects over TCP whatever
			// the service.
			k.natWhy = "a UDP service: ldird's checktype = connect pings its reals, keepalived's TCP_CHECK connects over TCP"
		}
		if k.natWhy == "" {
			k.nat = &native{Type: "connect", Port: connPort, TimeoutKind: "check"}
		}
		k.cmd, k.cmdArgs = helper("tcp"), true
		k.natItems = append(k.natItems, item(report.Mapped, p, "TCP_CHECK", "checktype = connect", ""))
		k.cmdItems = append(k.cmdItems, item(report.Mapped, p, "TCP_CHECK", "external check: lvsha-import check tcp (keepalived's TCP_CHECK)", ""))
	case "HTTP_GET", "SSL_GET":
		m.httpChecker(c, k, r, opts, helper)
	case "SMTP_CHECK":
		m.smtpChecker(c, k, r, opts, helper, tport)
	case "DNS_CHECK":
		cmd := helper("dns")
		for _, o := range opts {
			switch o.Key {
			case "type":
				t := strings.ToUpper(o.Arg(0))
				if _, ok := kacheck.DNSTypes[t]; !ok {
					m.rep.Approx(m.pos(o.Pos), words(o), "SOA, keepalived's fallback for an unknown type", "write A, NS, CNAME, SOA, MX, TXT or AAAA")
					t = "SOA"
				}
				cmd = append(cmd, "--type", t)
				k.cmdItems = append(k.cmdItems, item(report.Mapped, m.pos(o.Pos), words(o), "--type "+t, ""))
			case "name":
				cmd = append(cmd, "--name", o.Arg(0))
				k.cmdItems = append(k.cmdItems, item(report.Mapped, m.pos(o.Pos), words(o), "--name "+o.Arg(0), ""))
			default:
				m.rep.Unmapped(m.pos(o.Pos), words(o), "not a DNS_CHECK option", "remove it")
			}
		}
		if tport == 0 {
			cmd = append(cmd, "--connect-port", "53")
		}
		k.cmd, k.cmdArgs = cmd, true
		k.natWhy = "ldird's dns check looks for an A or PTR answer matching receive; keepalived's DNS_CHECK accepts any reply without error"
		k.cmdItems = append(k.cmdItems, item(report.Mapped, p, "DNS_CHECK", "external check: lvsha-import check dns (keepalived's DNS_CHECK: any NOERROR reply)", ""))
	case "MISC_CHECK":
		var path string
		for _, o := range opts {
			op := m.pos(o.Pos)
			switch o.Key {
			case "misc_path":
				path = o.Arg(0)
				if len(o.Args) > 1 {
					// Unquoted arguments after the path are part of the command line.
					path = strings.Join(o.Args, " ")
				}
			case "misc_timeout":
				d, err := timer(o.Arg(0))
				if err == nil {
					k.timeout, k.toAt = d, o
				}
			case "misc_dynamic":
				m.rep.Unmapped(op, words(o), "ldird does not take weights from a check's exit status", "fixed weights only; a script may change a real's weight with ipvsadm -e itself")
			case "user":
				m.rep.Approx(op, words(o), "ldird runs external checks as its own user (root)", "make the script drop privileges itself if it must")
			default:
				m.rep.Unmapped(op, words(o), "not a MISC_CHECK option", "remove it")
			}
		}
		if path == "" {
			m.rep.Unmapped(p, "MISC_CHECK", "no misc_path (keepalived ignores it too)", "add misc_path")
			return nil
		}
		hasTimeout := false
		for _, o := range opts {
			hasTimeout = hasTimeout || o.Key == "misc_timeout"
		}
		if !hasTimeout {
			k.timeout, k.toAt = k.delayLoop, nil // keepalived's default misc_timeout is delay_loop
		}
		k.cmd, k.ifMissing = scriptArgs(path), true
		k.natWhy = "a script"
		k.cmdItems = append(k.cmdItems, item(report.Approximated, p, "MISC_CHECK "+path,
			"external check running the same command line (exit 0 = up); like keepalived, which disables a MISC_CHECK whose script it cannot find, it counts the real up while "+k.cmd[0]+" is missing",
			"install the script on both directors"))
	case "PING_CHECK":
		for _, o := range opts {
			m.rep.Unmapped(m.pos(o.Pos), words(o), "not a PING_CHECK option", "remove it")
		}
		if k.natWhy == "" {
			k.nat = &native{Type: "ping", TimeoutKind: "check"}
		}
		k.cmd = []string{"ping", "-c", "1", "-W", strconv.Itoa(ceilSec(k.timeout)), target.String()}
		k.natItems = append(k.natItems, item(report.Mapped, p, "PING_CHECK", "checktype = ping", ""))
		k.cmdItems = append(k.cmdItems, item(report.Approximated, p, "PING_CHECK", "external check: ping -c 1 (needs ping(8))", "nothing"))
	}
	if k.nat == nil && k.natWhy == "" {
		k.natWhy = "not expressible as an ldird check"
	}
	return k
}

func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

func (m *mapper) httpChecker(c *kaconf.Node, k *chk, r *realSrv, opts []*kaconf.Node, helper func(string) []string) {
	p := m.pos(c.Pos)
	ssl := c.Key == "SSL_GET"
	kind := "HTTP_GET"
	cmd := helper("http")
	if ssl {
		kind = "SSL_GET"
		cmd = append(cmd, "--ssl")
	}
	vhost := r.vhost
	type url struct {
		n                          *kaconf.Node
		path, digest, vhost, regex string
		status                     []kacheck.StatusRange
		noMatch, pcreOnly          bool
	}
	var urls []url
	for _, o := range opts {
		op := m.pos(o.Pos)
		switch o.Key {
		case "url":
			u := url{n: o}
			for _, f := range o.Block {
				fp := m.pos(f.Pos)
				switch f.Key {
				case "path":
					u.path = f.Arg(0)
				case "digest":
					u.digest = strings.ToLower(f.Arg(0))
				case "status_code":
					rs, err := kacheck.ParseStatus(f.Args)
					if err != nil {
						m.rep.Unmapped(fp, words(f), err.Error(), "fix it")
						continue
					}
					u.status = append(u.status, rs...)
				case "virtualhost":
					u.vhost = f.Arg(0)
				case "regex":
					u.regex = f.Arg(0)
				case "regex_no_match":
					u.noMatch = true
				case "regex_options", "regex_stack", "regex_min_offset", "regex_max_offset":
					u.pcreOnly = true
					m.rep.Approx(fp, words(f), "the pattern is matched by Go's RE2 against the whole body", "check that the pattern means the same without PCRE options")
				default:
					m.rep.Unmapped(fp, words(f), "not a url option", "remove it")
				}
			}
			if u.path == "" {
				m.rep.Unmapped(op, "url {}", "no path (keepalived skips it too)", "add path")
				continue
			}
			urls = append(urls, u)
		case "virtualhost":
			vhost = o.Arg(0)
		case "http_protocol":
			cmd = append(cmd, "--protocol", o.Arg(0))
			k.natItems = append(k.natItems, item(report.Approximated, op, words(o), "ldird sends HTTP/1.1 requests", "nothing, unless the server answers 1.0 and 1.1 differently"))
			k.cmdItems = append(k.cmdItems, item(report.Mapped, op, words(o), "--protocol "+o.Arg(0), ""))
		case "enable_sni":
			cmd = append(cmd, "--sni")
			k.natItems = append(k.natItems, item(report.Approximated, op, words(o), "ldird's https check sends the virtualhost as server name when one is set", "set the virtualhost"))
			k.cmdItems = append(k.cmdItems, item(report.Mapped, op, words(o), "--sni", ""))
		case "fast_recovery":
			m.rep.Ignored(m.pos(o.Pos), words(o), "ldird checks every url of a real at once")
		default:
			m.rep.Unmapped(op, words(o), "not an "+kind+" option", "remove it")
		}
	}
	if len(urls) == 0 {
		m.rep.Unmapped(p, kind, "no url to check (keepalived's checker fails every time)", "add a url block")
		return
	}
	if vhost != "" {
		cmd = append(cmd, "--vhost", vhost)
	}
	for _, u := range urls {
		cmd = append(cmd, "--url", u.path)
		if u.digest != "" {
			cmd = append(cmd, "--digest", u.digest)
		}
		for _, s := range u.status {
			if s.Lo == s.Hi {
				cmd = append(cmd, "--status", strconv.Itoa(s.Lo))
			} else {
				cmd = append(cmd, "--status", fmt.Sprintf("%d-%d", s.Lo, s.Hi))
			}
		}
		if u.vhost != "" {
			cmd = append(cmd, "--url-vhost", u.vhost)
		}
		if u.regex != "" {
			cmd = append(cmd, "--regex", u.regex)
			if u.noMatch {
				cmd = append(cmd, "--regex-no-match")
			}
		}
	}
	k.cmd, k.cmdArgs = cmd, true
	k.cmdItems = append(k.cmdItems, item(report.Mapped, p, kind+" ("+strconv.Itoa(len(urls))+" url)",
		"external check: lvsha-import check http, which runs keepalived's "+kind+" (status, digest, regex, no redirects)", ""))

	// ldird's own http check: one url, 2xx, receive as a pattern.
	u := urls[0]
	switch {
	case k.natWhy != "":
	case len(urls) > 1:
		k.natWhy = "several urls: ldird checks one request per real"
	case u.digest != "":
		k.natWhy = "digest: ldird cannot compare an MD5 digest of the page"
	case u.noMatch:
		k.natWhy = "regex_no_match: ldird's receive must match"
	case u.pcreOnly:
		k.natWhy = "PCRE regex options"
	default:
		for _, s := range u.status {
			if s.Lo < 200 || s.Hi > 299 {
				k.natWhy = "status codes outside 2xx: ldird's http check wants 2xx"
			}
		}
	}
	if k.natWhy != "" {
		return
	}
	uv := u.vhost
	if uv == "" {
		uv = vhost
	}
	svc := "http"
	if ssl {
		svc = "https"
	}
	k.nat = &native{Type: "negotiate", Service: svc, Request: u.path, Receive: u.regex, VHost: uv, TimeoutKind: "negotiate"}
	for _, o := range opts {
		if o.Key == "connect_port" {
			k.nat.Port, _ = strconv.Atoi(o.Arg(0))
		}
	}
	res := "checktype = negotiate, service = " + svc + ", request = \"" + u.path + "\""
	if u.regex != "" {
		res += ", receive = \"" + u.regex + "\""
	}
	k.natItems = append(k.natItems, item(report.Approximated, p, kind+" url "+u.path, res,
		"ldird follows up to 7 redirects where keepalived counts a 3xx as a failure; nothing to do unless the url redirects"))
	if len(u.status) > 0 && !(len(u.status) == 1 && u.status[0] == kacheck.StatusRange{Lo: 200, Hi: 299}) {
		k.natItems = append(k.natItems, item(report.Approximated, m.pos(u.n.Pos), "status_code", "ldird accepts any 2xx status",
			"add a receive pattern if the page must be exactly the one with that status"))
	}
}

func (m *mapper) smtpChecker(c *kaconf.Node, k *chk, r *realSrv, opts []*kaconf.Node, helper func(string) []string, tport int) {
	p := m.pos(c.Pos)
	cmd := helper("smtp")
	var hosts []string
	for _, o := range opts {
		op := m.pos(o.Pos)
		switch o.Key {
		case "helo_name":
			cmd = append(cmd, "--helo", o.Arg(0))
			k.natItems = append(k.natItems, item(report.Approximated, op, words(o), "ldird says EHLO with this host's name", "nothing, unless the server rejects that name"))
			k.cmdItems = append(k.cmdItems, item(report.Mapped, op, words(o), "--helo "+o.Arg(0), ""))
		case "host":
			h := ""
			port := ""
			for _, f := range o.Block {
				switch f.Key {
				case "connect_ip":
					h = f.Arg(0)
				case "connect_port":
					port = f.Arg(0)
				}
			}
			if h == "" {
				h = r.addr.String()
			}
			a, err := netip.ParseAddr(h)
			if err != nil {
				m.rep.Unmapped(op, "host { connect_ip "+h+" }", "not an address", "fix it")
				continue
			}
			if port != "" {
				hosts = append(hosts, netip.AddrPortFrom(a, uint16(atoi(port))).String())
			} else {
				hosts = append(hosts, a.String())
			}
			k.cmdItems = append(k.cmdItems, item(report.Mapped, op, "host { connect_ip "+h+" }", "--host "+hosts[len(hosts)-1], ""))
		default:
			m.rep.Unmapped(op, words(o), "not an SMTP_CHECK option", "remove it")
		}
	}
	for _, h := range hosts {
		cmd = append(cmd, "--host", h)
	}
	if tport == 0 {
		cmd = append(cmd, "--connect-port", "25")
	}
	k.cmd, k.cmdArgs = cmd, true
	k.cmdItems = append(k.cmdItems, item(report.Mapped, p, "SMTP_CHECK", "external check: lvsha-import check smtp (220, HELO 250, QUIT 221)", ""))
	if len(hosts) > 1 || (len(hosts) == 1 && strings.Split(hosts[0], ":")[0] != r.addr.String()) {
		k.natWhy = "several hosts: ldird checks the real only"
	}
	if k.natWhy == "" {
		k.nat = &native{Type: "negotiate", Service: "smtp", TimeoutKind: "negotiate"}
		for _, o := range c.Block {
			if o.Key == "connect_port" {
				k.nat.Port = atoi(o.Arg(0))
			}
		}
		if tport == 0 {
			k.nat.Port = 25
		}
		k.natItems = append(k.natItems, item(report.Mapped, p, "SMTP_CHECK", "checktype = negotiate, service = smtp (banner, EHLO/HELO, QUIT)", ""))
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// checks chooses how the reals of a virtual are checked: ldird's own check
// when every real has one check and they agree (request/receive may differ
// per real); else an external check script running each real's checkers
// (all must pass, as in keepalived); else the first real's check, with the
// reals that differ reported.
func (m *mapper) checks(vs *kaconf.Node, v *plan.Virtual, rs []*realSrv, s vsSettings) {
	p := m.pos(vs.Pos)
	none := true
	for _, r := range rs {
		if len(r.checks) > 0 {
			none = false
		}
	}
	if none {
		v.CheckType = "on"
		v.CheckInterval = ceilSec(s.delayLoop)
		m.rep.Mapped(p, "reals without a checker", "checktype = on: always up, as keepalived keeps them")
		return
	}
	// Native, when every real has exactly one check ldird can run and they
	// agree.
	var ref *native
	nativeOK := true
	for _, r := range rs {
		if len(r.checks) != 1 || r.checks[0].nat == nil {
			nativeOK = false
			break
		}
		n := *r.checks[0].nat
		if ref == nil {
			ref = &n
			continue
		}
		if !sameCheck(*ref, n) {
			nativeOK = false
			break
		}
	}
	if nativeOK {
		m.applyNative(v, rs, *ref)
		return
	}
	cmdOK := true
	for _, r := range rs {
		for _, k := range r.checks {
			if k.cmd == nil {
				cmdOK = false
			}
		}
	}
	if cmdOK {
		m.applyExternal(vs, v, rs)
		return
	}
	// Mixed: the first real with a native check sets the virtual's check.
	for _, r := range rs {
		for _, k := range r.checks {
			if k.nat != nil {
				ref = k.nat
				break
			}
		}
		if ref != nil {
			break
		}
	}
	if ref == nil {
		for _, r := range rs {
			for _, k := range r.checks {
				m.rep.Unmapped(m.pos(k.n.Pos), k.n.Key, k.natWhy+"; and it cannot be run as an external check",
					"check this virtual's reals with one kind of check ldird has")
			}
			r.dropped = true
		}
		return
	}
	var keep []*realSrv
	for _, r := range rs {
		if len(r.checks) == 1 && r.checks[0].nat != nil && sameCheck(*ref, *r.checks[0].nat) {
			keep = append(keep, r)
			continue
		}
		why := "its checks differ from the virtual's other reals, and ldird checks every real of a virtual the same way"
		if len(r.checks) == 0 {
			why = "it has no checker while the other reals have one; ldird checks every real of a virtual the same way"
		}
		m.rep.Unmapped(m.pos(r.n.Pos), words(r.n), why+" (left out of ldirectord.cf)",
			"give the real the same checker as the others, or put it in a virtual server of its own")
		r.dropped = true
	}
	m.applyNative(v, keep, *ref)
}

func sameCheck(a, b native) bool {
	a.Request, a.Receive, b.Request, b.Receive = "", "", "", ""
	return a == b
}

// timing sets the virtual's interval, failure count and timeouts from the
// checks of its reals and reports the differences.
func (m *mapper) timing(v *plan.Virtual, rs []*realSrv, timeoutOf func(*chk) time.Duration, negotiate bool) {
	var first *chk
	var reportedDBR bool
	for _, r := range rs {
		for _, k := range r.checks {
			if first == nil {
				first = k
				continue
			}
			if k.delayLoop != first.delayLoop || k.retry != first.retry {
				m.rep.Approx(m.pos(k.n.Pos), k.n.Key+" timing", "ldird times all reals of a virtual alike: the first real's delay_loop and retry are used",
					"give the reals of a virtual server the same delay_loop and retry")
			}
		}
	}
	if first == nil {
		return
	}
	v.CheckInterval = ceilSec(first.delayLoop)
	// at reports a value where it was set, or at the checker as a default.
	at := func(n *kaconf.Node, def string) (report.Pos, string) {
		if n != nil {
			return m.pos(n.Pos), words(n)
		}
		return m.pos(first.n.Pos), def + " (keepalived's default for " + first.n.Key + ")"
	}
	dp, dw := at(first.delayAt, "delay_loop "+secs(first.delayLoop))
	if first.delayLoop%time.Second != 0 {
		m.rep.Approx(dp, dw, "checkinterval = "+strconv.Itoa(v.CheckInterval)+" (ldirectord.cf counts whole seconds)", "nothing")
	} else {
		m.rep.Mapped(dp, dw, "checkinterval = "+strconv.Itoa(v.CheckInterval))
	}
	v.FailureCount = first.retry + 1
	rp, rw := at(first.retryAt, fmt.Sprintf("retry %d", first.retry))
	m.rep.Mapped(rp, rw, fmt.Sprintf("failurecount = %d (the first failure and %d more)", v.FailureCount, first.retry))
	for _, r := range rs {
		for _, k := range r.checks {
			if k.retry > 0 && !reportedDBR {
				reportedDBR = true
				what := "delay_before_retry " + secs(k.dbr)
				if !k.dbrSet {
					what += " (keepalived's default for " + k.n.Key + ")"
				}
				ld := time.Duration(v.CheckInterval*v.FailureCount) * time.Second
				ka := first.delayLoop + time.Duration(first.retry)*k.dbr
				if ld == ka {
					m.rep.Mapped(m.pos(k.n.Pos), what, fmt.Sprintf("ldird re-checks a failing real after checkinterval (%d s): it is out after about %s s, as with keepalived", v.CheckInterval, secs(ka)))
				} else {
					m.rep.Approx(m.pos(k.n.Pos), what,
						fmt.Sprintf("ldird re-checks a failing real after checkinterval (%d s), so it is out after about %s s instead of %s s", v.CheckInterval, secs(ld), secs(ka)),
						"lower delay_loop if failures must be seen faster")
				}
			}
		}
	}
	var to time.Duration
	for _, r := range rs {
		for _, k := range r.checks {
			to = max(to, timeoutOf(k))
		}
	}
	n := ceilSec(to)
	if negotiate {
		v.NegTimeout = n
	} else {
		v.CheckTimeout = n
	}
	name := "checktimeout"
	if negotiate {
		name = "negotiatetimeout"
	}
	defWhat := "connect_timeout " + secs(first.timeout)
	if first.n.Key == "MISC_CHECK" {
		defWhat = "misc_timeout " + secs(first.timeout) + " (delay_loop)"
	}
	tp, tw := at(first.toAt, defWhat)
	if to%time.Second != 0 || to != first.timeout {
		m.rep.Approx(tp, tw, fmt.Sprintf("%s = %d (whole seconds, with the margin an external check needs)", name, n), "nothing")
	} else {
		m.rep.Mapped(tp, tw, fmt.Sprintf("%s = %d", name, n))
	}
}

func (m *mapper) applyNative(v *plan.Virtual, rs []*realSrv, ref native) {
	v.CheckType, v.Service, v.VirtualHost, v.CheckPort = ref.Type, ref.Service, ref.VHost, ref.Port
	if ref.Type == "negotiate" {
		v.Request, v.Receive = rs[0].checks[0].nat.Request, rs[0].checks[0].nat.Receive
	}
	for _, r := range rs {
		k := r.checks[0]
		for _, it := range k.natItems {
			m.rep.Items = append(m.rep.Items, it)
		}
		if k.nat.Request != v.Request || k.nat.Receive != v.Receive {
			r.ownCheck, r.ownRequest, r.ownReceive = true, k.nat.Request, k.nat.Receive
		}
		if k.natWhy != "" {
			m.rep.Unmapped(m.pos(k.n.Pos), k.n.Key, k.natWhy, "see the checker's options")
		}
	}
	m.timing(v, rs, func(k *chk) time.Duration { return k.timeout }, ref.TimeoutKind == "negotiate")
}

// applyExternal writes a script that runs, for the real ldird names in its
// arguments, every checker keepalived would run; all must pass.
func (m *mapper) applyExternal(vs *kaconf.Node, v *plan.Virtual, rs []*realSrv) {
	name := m.scriptName("lvsha-check-", vs.Arg(0)+"-"+vs.Arg(1))
	var b strings.Builder
	b.WriteString(scriptHeader(m.pos(vs.Pos), "ldird's external check for "+words(vs)+": ldird runs it as\n# SCRIPT VIP VPORT RIP RPORT; exit 0 means the real is up. Every checker\n# keepalived runs for the real must pass."))
	b.WriteString("case \"$3:$4\" in\n")
	// Keys are sorted for a stable file.
	type branch struct{ key, body string }
	var branches []branch
	for _, r := range rs {
		addr := r.addr.String()
		if r.addr.Is6() {
			addr = "[" + addr + "]"
		}
		key := shellQuote(addr) + ":*"
		if r.port != 0 {
			key = shellQuote(addr + ":" + strconv.Itoa(r.port))
			if r.method != "masq" {
				key = shellQuote(addr) + ":*" // written with the service's port
			}
		}
		var cmds []string
		for _, k := range r.checks {
			c := shellCommand(k.cmd)
			if k.cmdArgs {
				c += ` "$@"`
			}
			if k.ifMissing && len(k.cmd) > 0 {
				c = "{ [ ! -e " + shellQuote(k.cmd[0]) + " ] || " + c + "; }"
			}
			cmds = append(cmds, c)
			for _, it := range k.cmdItems {
				m.rep.Items = append(m.rep.Items, it)
			}
			if k.nat == nil && k.natWhy != "" && k.natWhy != "a script" {
				m.rep.Mapped(m.pos(k.n.Pos), k.n.Key+" (why external)", k.natWhy+": so it runs as an external check")
			}
		}
		body := "exit 0"
		if len(cmds) > 0 {
			body = strings.Join(cmds, " &&\n\t")
		}
		branches = append(branches, branch{key, body})
	}
	sort.SliceStable(branches, func(i, j int) bool { return branches[i].key < branches[j].key })
	for _, br := range branches {
		fmt.Fprintf(&b, "%s)\n\t%s ;;\n", br.key, br.body)
	}
	b.WriteString("*) echo \"$0: no checker for real $3:$4\" >&2; exit 1 ;;\nesac\n")
	path := m.addScript("lvsha-checks/"+name, b.String())
	v.CheckType, v.CheckCommand = "external", path
	m.rep.Approx(m.pos(vs.Pos), words(vs)+" checkers", "checktype = external, checkcommand = "+path+" (generated)",
		"install the generated script with the other files; it needs "+m.opt.Helper+" for the lvsha-import checks")
	m.timing(v, rs, func(k *chk) time.Duration {
		return k.timeout + time.Second // the helper's own bound, plus start-up
	}, false)
	// Several checkers of one real run one after the other.
	for _, r := range rs {
		if len(r.checks) > 1 {
			var sum time.Duration
			for _, k := range r.checks {
				sum += k.timeout + time.Second
			}
			v.CheckTimeout = max(v.CheckTimeout, ceilSec(sum))
		}
	}
}

// scriptArgs splits a keepalived script line as keepalived does: spaces
// separate arguments, single quotes keep spaces.
func scriptArgs(s string) []string {
	var out []string
	var cur strings.Builder
	in, has := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			in, has = !in, true
		case (c == ' ' || c == '\t') && !in:
			if has {
				out = append(out, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteByte(c)
			has = true
		}
	}
	if has {
		out = append(out, cur.String())
	}
	return out
}

// shellQuote quotes a word for sh.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellCommand(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
