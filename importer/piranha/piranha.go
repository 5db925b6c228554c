// Package piranha maps a Piranha lvs.cf (read by package lvscf) to an
// import plan. Piranha's pulse daemon is replaced by hbd (the heartbeat
// between primary and backup, the takeover of the virtual addresses and of
// the NAT router address), lvsd and its nanny monitors by ldird, started
// as a haresources resource on the active router as pulse starts lvsd
// there.
//
// nanny's behaviour (piranha 0.8.x) that the mapping follows: every real is
// checked every "timeout" seconds with a connect bounded by "timeout"; with
// "send" the text is written (\n \r \t \\ \' \" decoded), with "expect" the
// reply's first bytes must equal it (a POSIX regex with use_regex, "*" for
// any reply); with neither, port 80 gets "GET / HTTP/1.0\r\n\r\n" and
// "HTTP"; send_program runs a program (%h the real's address, %p its port)
// whose output must equal expect; one failure takes the real out (weight 0
// with quiesce_server), and it comes back after "reentry" seconds of
// successes; the network method (direct, nat, tunnel) is global.
package piranha

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"lvsha/importer/lvscf"
	"lvsha/importer/plan"
	"lvsha/importer/report"
)

// Options names what lvs.cf gives only as addresses.
type Options struct {
	// Primary and Backup are the hbd node names (uname -n) of the
	// directors lvs.cf calls primary and backup.
	Primary, Backup string
	// Iface is the interface the heartbeats to primary/backup use; by
	// default the interface of the first active virtual address.
	Iface string
	// InstallDir is where the output will be installed (/etc/ha.d).
	InstallDir string
	// Key returns the authkeys secret (default: 32 random hex digits).
	Key func() string
}

// ErrNoNodes is returned when the director names are missing.
var ErrNoNodes = errors.New("the node names are not known")

var methods = map[string]string{"direct": "gate", "nat": "masq", "tunnel": "ipip"}

// globalIgnored are global settings with no meaning for hbd or ldird.
var globalIgnored = map[string]string{
	"serial_no":                   "a revision counter of the piranha web tool",
	"debug_level":                 "hbd's and ldird's logging is set in their own files",
	"rsh_command":                 "pulse used it to copy lvs.cf to the backup; copy the new files yourself (same files on both nodes)",
	"reservation_conflict_action": "about shared SCSI disks, which hbd does not manage",
	"nat_nmask":                   "",
	"service":                     "",
	"heartbeat":                   "",
	"heartbeat_port":              "",
	"keepalive":                   "",
	"deadtime":                    "",
	"primary":                     "",
	"backup":                      "",
	"backup_active":               "",
	"network":                     "",
	"nat_router":                  "",
}

type mapper struct {
	opt  Options
	cfg  *lvscf.Config
	file string
	rep  *report.Report
	p    *plan.Plan
}

// Import maps cfg.
func Import(cfg *lvscf.Config, opt Options) (*plan.Plan, *report.Report, error) {
	if opt.InstallDir == "" {
		opt.InstallDir = "/etc/ha.d"
	}
	if opt.Key == nil {
		opt.Key = func() string {
			var b [16]byte
			if _, err := rand.Read(b[:]); err != nil {
				panic(err)
			}
			return hex.EncodeToString(b[:])
		}
	}
	m := &mapper{opt: opt, cfg: cfg, file: filepath.Base(cfg.Path), rep: &report.Report{}, p: &plan.Plan{}}
	m.rep.Files = []string{m.file}
	m.p.Header = []string{"from " + m.file + " (Piranha); see the import report for what was not carried over"}

	get := func(k, def string) (string, *lvscf.Setting) {
		if s := cfg.Get(k); s != nil {
			return s.Value, s
		}
		return def, nil
	}
	if svc, s := get("service", "lvs"); svc != "lvs" {
		m.rep.Unmapped(m.pos(s.Line), "service = "+svc, "failover services (fos) are not virtual servers; hbd runs such services as haresources resources",
			"write a haresources line with the service's init script and its address")
	} else if s != nil {
		m.rep.Mapped(m.pos(s.Line), "service = lvs", "virtual servers: ldirectord.cf")
	}
	method := "gate"
	if nw, s := get("network", "direct"); s != nil {
		if mth, ok := methods[nw]; ok {
			method = mth
			m.rep.Mapped(m.pos(s.Line), "network = "+nw, "forwarding method "+mth+" for every real")
		} else {
			m.rep.Unmapped(m.pos(s.Line), "network = "+nw, "unknown method", "write direct, nat or tunnel")
		}
	} else {
		m.rep.Mapped(m.pos(0), "no network", "forwarding method gate (direct routing), piranha's default")
	}
	for _, s := range cfg.Settings {
		if why, ok := globalIgnored[s.Key]; ok {
			if why != "" {
				m.rep.Ignored(m.pos(s.Line), s.Key+" = "+s.Value, why)
			}
			continue
		}
		switch s.Key {
		case "syncdaemon":
			if s.Value == "1" {
				m.rep.Unmapped(m.pos(s.Line), "syncdaemon = 1", "ldird does not start IPVS connection synchronisation (a syncdaemon directive may come later)",
					"run `ipvsadm --start-daemon master` on the active director and `--start-daemon backup` on the other, e.g. from a resource.d script in the haresources group")
			} else {
				m.rep.Ignored(m.pos(s.Line), "syncdaemon = "+s.Value, "off")
			}
		case "monitor_links":
			if s.Value == "1" {
				m.rep.Unmapped(m.pos(s.Line), "monitor_links = 1", "hbd does not fail over on a link going down by itself",
					"add ping nodes (ping ADDRESS in ha.cf): the node that reaches more of them holds the addresses")
			} else {
				m.rep.Ignored(m.pos(s.Line), "monitor_links = "+s.Value, "off")
			}
		case "primary_private", "backup_private":
			m.rep.Unmapped(m.pos(s.Line), s.Key+" = "+s.Value, "lvs.cf does not say on which interface the private address is",
				"add `ucast IF "+s.Value+"` (IF: the interface of the private network) to ha.cf on both nodes: a second heartbeat path")
		case "tcp_timeout", "tcpfin_timeout", "udp_timeout":
			m.rep.Unmapped(m.pos(s.Line), s.Key+" = "+s.Value, "ldird does not set IPVS timeouts", "set them at boot with `ipvsadm --set TCP TCPFIN UDP`")
		case "hard_shutdown":
			m.rep.Ignored(m.pos(s.Line), s.Key+" = "+s.Value, "about how pulse stops")
		default:
			m.rep.Unmapped(m.pos(s.Line), s.Key+" = "+s.Value, "a setting the importer does not know", "check lvs.cf(5) and set the equivalent by hand, if any")
		}
	}

	var vips []string // haresources resources
	firstIface := ""
	for _, sec := range cfg.Sections {
		switch sec.Kind {
		case "failover":
			m.rep.Unmapped(m.pos(sec.Line), "failover "+sec.Name, "a failover service is not a virtual server",
				"make it a haresources resource: its start/stop script and address in the group")
			continue
		case "virtual":
		default:
			continue
		}
		spec, iface := m.virtual(sec, method)
		if spec != "" {
			vips = appendUniq(vips, "IPaddr2::"+spec)
			if firstIface == "" {
				firstIface = iface
			}
		}
	}
	if nr, s := get("nat_router", ""); s != nil {
		f := strings.Fields(nr)
		mask := "255.255.255.0"
		if mk, ms := get("nat_nmask", ""); ms != nil {
			mask = mk
		}
		if spec, _, err := addrSpec(f, mask); err != nil {
			m.rep.Unmapped(m.pos(s.Line), "nat_router = "+nr, err.Error(), "write nat_router = ADDRESS DEV:N")
		} else {
			vips = appendUniq(vips, "IPaddr2::"+spec)
			m.rep.Mapped(m.pos(s.Line), "nat_router = "+nr, "IPaddr2::"+spec+" in the group: the reals' gateway moves with the active director")
		}
	}
	if err := m.ha(vips, firstIface); err != nil {
		return nil, nil, err
	}
	if m.p.LVS != nil {
		m.p.LVS.LogFile = "daemon"
		m.p.LVS.CheckInterval = 0
		counts := map[int]int{}
		for _, v := range m.p.LVS.Virtuals {
			counts[v.CheckInterval]++
		}
		best, n := 10, 0
		for k, c := range counts {
			if c > n || c == n && k < best {
				best, n = k, c
			}
		}
		m.p.LVS.CheckInterval = best
		for _, v := range m.p.LVS.Virtuals {
			if v.CheckInterval == best {
				v.CheckInterval = 0
			} else {
				m.p.LVS.Fork = true
			}
		}
	}
	return m.p, m.rep, nil
}

func appendUniq(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func (m *mapper) pos(line int) report.Pos { return report.Pos{File: m.file, Line: line} }

// addrSpec turns "IP DEV[:N]" and a dotted netmask into IPaddr2's
// ip/cidr/dev[:N].
func addrSpec(f []string, mask string) (string, string, error) {
	if len(f) < 1 {
		return "", "", errors.New("no address")
	}
	ip, err := netip.ParseAddr(f[0])
	if err != nil || !ip.Is4() {
		return "", "", fmt.Errorf("%q is not an IPv4 address", f[0])
	}
	bits := 32
	if mask != "" {
		mk, err := netip.ParseAddr(mask)
		if err != nil || !mk.Is4() {
			return "", "", fmt.Errorf("netmask %q", mask)
		}
		b := mk.As4()
		n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		bits = 0
		for n&0x80000000 != 0 {
			bits++
			n <<= 1
		}
		if n != 0 {
			return "", "", fmt.Errorf("netmask %q is not contiguous", mask)
		}
	}
	if len(f) < 2 {
		return "", "", errors.New("no device after the address")
	}
	dev, label, _ := strings.Cut(f[1], ":")
	spec := ip.String() + "/" + strconv.Itoa(bits) + "/" + dev
	if label != "" {
		spec += ":" + label
	}
	return spec, dev, nil
}

// decode undoes nanny's escapes: \n \r \t \\ \' \".
func decode(s string) string {
	r := strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r", `\t`, "\t", `\'`, "'", `\"`, `"`)
	return r.Replace(s)
}

func (m *mapper) virtual(sec *lvscf.Section, method string) (vipSpec, iface string) {
	p := m.pos(sec.Line)
	val := func(k, def string) (string, *lvscf.Setting) {
		if s := sec.Get(k); s != nil {
			return s.Value, s
		}
		return def, nil
	}
	if a, s := val("active", "0"); a != "1" {
		at := p
		if s != nil {
			at = m.pos(s.Line)
		}
		m.rep.Ignored(at, "virtual "+sec.Name+" active = "+a, "inactive: lvsd does not start it either")
		return "", ""
	}
	addr, as := val("address", "")
	if as == nil {
		m.rep.Unmapped(p, "virtual "+sec.Name, "no address", "add address = IP DEV:N")
		return "", ""
	}
	mask, ms := val("vip_nmask", "")
	spec, dev, err := addrSpec(strings.Fields(addr), mask)
	if err != nil {
		m.rep.Unmapped(m.pos(as.Line), "address = "+addr, err.Error(), "write address = IP DEV:N")
		return "", ""
	}
	if ms == nil {
		m.rep.Approx(m.pos(as.Line), "address = "+addr+" without vip_nmask", "IPaddr2::"+spec+" (a /32)", "add vip_nmask if the address needs a wider netmask")
	} else {
		m.rep.Mapped(m.pos(as.Line), "address = "+addr+", vip_nmask = "+mask, "IPaddr2::"+spec+" in the haresources group")
	}
	vip := strings.Fields(addr)[0]

	v := &plan.Virtual{Note: []string{fmt.Sprintf("%s:%d virtual %s", m.file, sec.Line, sec.Name)}}
	port := 80
	if ps, s := val("port", ""); s != nil {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			m.rep.Unmapped(m.pos(s.Line), "port = "+ps, "not a port", "fix it")
			return spec, dev
		}
		port = n
		m.rep.Mapped(m.pos(s.Line), "port = "+ps, "virtual port "+ps)
	} else {
		m.rep.Mapped(p, "no port", "port 80, piranha's default")
	}
	proto := "tcp"
	if pr, s := val("protocol", ""); s != nil {
		if pr != "tcp" && pr != "udp" {
			m.rep.Unmapped(m.pos(s.Line), "protocol = "+pr, "not tcp or udp", "fix it")
			return spec, dev
		}
		proto = pr
		m.rep.Mapped(m.pos(s.Line), "protocol = "+pr, "protocol = "+pr)
	}
	if fw, s := val("fwmark", ""); s != nil {
		if n, err := strconv.ParseUint(fw, 10, 32); err == nil && n > 0 {
			v.FWMark, v.Addr = true, fw
			m.rep.Mapped(m.pos(s.Line), "fwmark = "+fw, "virtual = "+fw+" (a firewall-mark service; the address still moves with the group)")
		} else {
			m.rep.Unmapped(m.pos(s.Line), "fwmark = "+fw, "not a mark", "fix it")
			return spec, dev
		}
	} else {
		v.Addr, v.Protocol = vip+":"+strconv.Itoa(port), proto
	}
	v.Scheduler = "wlc"
	if sc, s := val("scheduler", ""); s != nil {
		v.Scheduler = sc
		m.rep.Mapped(m.pos(s.Line), "scheduler = "+sc, "scheduler = "+sc)
	}
	if ps, s := val("persistent", ""); s != nil {
		if n, err := strconv.Atoi(ps); err == nil && n > 0 {
			v.Persistent = n
			m.rep.Mapped(m.pos(s.Line), "persistent = "+ps, "persistent = "+ps)
			if pm, s := val("pmask", ""); s != nil {
				v.Netmask = pm
				m.rep.Mapped(m.pos(s.Line), "pmask = "+pm, "netmask = "+pm)
			}
		} else {
			m.rep.Ignored(m.pos(s.Line), "persistent = "+ps, "not persistent")
		}
	} else if pm, s := val("pmask", ""); s != nil {
		m.rep.Ignored(m.pos(s.Line), "pmask = "+pm, "without persistent it has no effect")
	}
	timeout := 10
	if ts, s := val("timeout", ""); s != nil {
		if n, err := strconv.Atoi(ts); err == nil && n > 0 {
			timeout = n
			m.rep.Mapped(m.pos(s.Line), "timeout = "+ts, "checkinterval = "+ts+" and a check timeout of "+ts+" s (nanny checks every timeout seconds, each bounded by it)")
		} else {
			m.rep.Unmapped(m.pos(s.Line), "timeout = "+ts, "not a number of seconds", "fix it")
		}
	}
	v.CheckInterval, v.FailureCount = timeout, 1
	if rs, s := val("reentry", ""); s != nil {
		m.rep.Approx(m.pos(s.Line), "reentry = "+rs, "ldird puts a real back after one successful check; nanny waits for reentry seconds of successes",
			"nothing; or raise checkinterval if flapping reals are a problem")
	}
	q := false
	if qs, s := val("quiesce_server", ""); s != nil {
		q = qs == "1"
		if q {
			m.rep.Mapped(m.pos(s.Line), "quiesce_server = 1", "quiescent = yes: nanny -q sets a failed real's weight to 0")
		} else {
			m.rep.Mapped(m.pos(s.Line), "quiesce_server = "+qs, "quiescent = no: a failed real is removed")
		}
	}
	v.Quiescent = &q
	if lm, s := val("load_monitor", ""); s != nil {
		if lm == "none" {
			m.rep.Ignored(m.pos(s.Line), "load_monitor = none", "no load monitoring")
		} else {
			m.rep.Unmapped(m.pos(s.Line), "load_monitor = "+lm, "ldird does not change weights from the reals' load average",
				"fixed weights only; adjust them by hand (weights in ldirectord.cf, reloaded in place)")
		}
	}
	if ss, s := val("sorry_server", ""); s != nil {
		if a, err := netip.ParseAddr(ss); err == nil {
			v.Fallback = a.String() + " " + method
			if !v.FWMark && method == "masq" {
				v.Fallback = a.String() + ":" + strconv.Itoa(port) + " " + method
			}
			m.rep.Mapped(m.pos(s.Line), "sorry_server = "+ss, "fallback = "+v.Fallback+" (in the table only while no real is up)")
		} else {
			m.rep.Unmapped(m.pos(s.Line), "sorry_server = "+ss, "not an address", "fix it")
		}
	}
	for _, s := range sec.Settings {
		switch s.Key {
		case "active", "address", "vip_nmask", "port", "protocol", "fwmark", "scheduler", "persistent", "pmask", "timeout",
			"reentry", "quiesce_server", "load_monitor", "sorry_server", "send", "expect", "use_regex", "send_program":
		default:
			m.rep.Unmapped(m.pos(s.Line), s.Key+" = "+s.Value, "a virtual setting the importer does not know", "check lvs.cf(5)")
		}
	}
	m.check(sec, v, proto, port, timeout)
	if v.FWMark && v.CheckType != "external" {
		v.CheckPort = port // the reals of a fwmark service have no port; nanny checks the virtual's
	}

	weightNoted := false
	for _, srv := range sec.Sections {
		sp := m.pos(srv.Line)
		sval := func(k string) (string, *lvscf.Setting) {
			if s := srv.Get(k); s != nil {
				return s.Value, s
			}
			return "", nil
		}
		if a, s := sval("active"); a != "1" {
			at := sp
			if s != nil {
				at = m.pos(s.Line)
			}
			m.rep.Ignored(at, "server "+srv.Name+" active = "+a, "inactive: lvsd does not monitor it either")
			continue
		}
		ad, as := sval("address")
		ip, err := netip.ParseAddr(ad)
		if as == nil || err != nil || !ip.Is4() {
			m.rep.Unmapped(sp, "server "+srv.Name, "no IPv4 address", "add address = IP")
			continue
		}
		// nanny checks the server's port, the virtual's by default; the
		// kernel forwards DR and TUN to the virtual's port anyway.
		r := &plan.Real{Addr: ip.String(), Method: method, Weight: 1}
		if !v.FWMark {
			r.Port = port
		}
		if ps, s := sval("port"); s != nil {
			if n, err := strconv.Atoi(ps); err == nil && n > 0 && n < 65536 {
				r.Port = n
				m.rep.Mapped(m.pos(s.Line), "port = "+ps, "real port "+ps)
			}
		}
		if ws, s := sval("weight"); s != nil {
			if n, err := strconv.Atoi(ws); err == nil && n >= 0 && n <= 65535 {
				r.Weight = n
				if !weightNoted {
					weightNoted = true
					m.rep.Approx(m.pos(s.Line), "weight = "+ws, "weight "+ws+" at once; nanny starts a real at weight/32 and doubles it every 20 s up to its weight",
						"nothing; the real gets its full share from the start")
				} else {
					m.rep.Mapped(m.pos(s.Line), "weight = "+ws, "weight "+ws)
				}
			}
		}
		for _, s := range srv.Settings {
			switch s.Key {
			case "address", "active", "weight", "port":
			default:
				m.rep.Unmapped(m.pos(s.Line), s.Key+" = "+s.Value, "a server setting the importer does not know", "check lvs.cf(5)")
			}
		}
		v.Reals = append(v.Reals, r)
		m.rep.Mapped(sp, "server "+srv.Name+" address = "+ad, fmt.Sprintf("real = %s %s %d", ad, method, r.Weight))
	}
	if len(v.Reals) == 0 {
		m.rep.Unmapped(p, "virtual "+sec.Name, "no active server", "add servers")
		return spec, dev
	}
	if m.p.LVS == nil {
		m.p.LVS = &plan.LVS{}
	}
	m.p.LVS.Virtuals = append(m.p.LVS.Virtuals, v)
	return spec, dev
}

// check maps send/expect/send_program to ldird's simpletcp, connect or an
// external script.
func (m *mapper) check(sec *lvscf.Section, v *plan.Virtual, proto string, port, timeout int) {
	send := sec.Get("send")
	sendS := send
	expect := sec.Get("expect")
	prog := sec.Get("send_program")
	useRegex := sec.Get("use_regex") != nil && sec.Get("use_regex").Value == "1"
	v.CheckTimeout, v.NegTimeout = timeout, timeout
	at := func(s *lvscf.Setting) report.Pos {
		if s == nil {
			return m.pos(sec.Line)
		}
		return m.pos(s.Line)
	}
	if prog != nil {
		if sendS != nil {
			m.rep.Ignored(at(sendS), "send = "+sendS.Value, "send_program overrides send, as in nanny")
		}
		m.programCheck(sec, v, prog, expect)
		return
	}
	var sendText, expectText string
	if send != nil {
		sendText = send.Value
	}
	if expect != nil {
		expectText = expect.Value
	}
	if send == nil && expect == nil {
		if port != 80 {
			v.CheckType = "connect"
			if proto == "udp" {
				m.rep.Approx(at(nil), "virtual "+sec.Name+" without send/expect (UDP)", "checktype = connect, which ldird runs as a ping on a UDP service",
					"add send/expect for the service's protocol")
			} else {
				m.rep.Mapped(at(nil), "virtual "+sec.Name+" without send/expect", "checktype = connect: nanny connects to the port and nothing more")
			}
			return
		}
		sendText, expectText = `GET / HTTP/1.0\r\n\r\n`, "HTTP"
		m.rep.Mapped(at(nil), "virtual "+sec.Name+" without send/expect on port 80", "nanny's default GET / HTTP/1.0 expecting HTTP (below)")
	}
	dec := decode(sendText)
	req := strings.ReplaceAll(dec, "\r\n", "\n")
	if strings.ContainsAny(req, "\r\"") {
		m.rep.Unmapped(at(send), "send = \""+sendText+"\"", "ldird's simpletcp request cannot hold a lone carriage return or a double quote",
			"use send_program with a script")
		return
	}
	v.CheckType, v.Service = "negotiate", "simpletcp"
	// ldird turns a literal \n back into a newline and drops a leading "/".
	v.Request = strings.ReplaceAll(req, "\n", `\n`)
	if v.Request == "" {
		v.Request = "/"
	}
	if sendText != "" {
		what := "send = \"" + sendText + "\""
		if strings.Contains(dec, "\r\n") {
			m.rep.Approx(at(send), what, "service = simpletcp, request = \""+v.Request+"\"",
				"ldird's simpletcp sends line ends as LF, not CRLF (HTTP and most text protocols accept both), and closes its sending side after the request")
		} else {
			m.rep.Mapped(at(send), what, "service = simpletcp, request = \""+v.Request+"\"")
		}
	}
	e := decode(expectText)
	switch {
	case expect != nil && e == "*":
		v.Receive = ""
		m.rep.Mapped(at(expect), "expect = \"*\"", "receive empty: any reply line")
	case e == "":
		v.Receive = ""
		m.rep.Mapped(at(expect), "no expect", "receive empty: any reply line (nanny only connects and sends)")
	case useRegex:
		v.Receive = e
		m.rep.Approx(at(expect), "expect = \""+expectText+"\" with use_regex = 1", "receive = \""+e+"\"",
			"ldird matches each reply line with Go's RE2; nanny matched the first 254 bytes with a POSIX regex")
	default:
		first, _, multi := strings.Cut(e, "\n")
		first = strings.TrimSuffix(first, "\r")
		v.Receive = "^" + regexp.QuoteMeta(first)
		if multi {
			m.rep.Approx(at(expect), "expect = \""+expectText+"\"", "receive = \""+v.Receive+"\" (its first line)", "ldird matches one reply line")
		} else {
			m.rep.Approx(at(expect), "expect = \""+expectText+"\"", "receive = \""+v.Receive+"\"",
				"ldird accepts the first reply line that starts with it; nanny compared only the first bytes of the reply")
		}
	}
	if strings.ContainsAny(v.Receive, "\"") {
		m.rep.Unmapped(at(expect), "expect = \""+expectText+"\"", "ldird's receive cannot hold a double quote", "use send_program with a script")
		v.Receive = ""
	}
}

func (m *mapper) programCheck(sec *lvscf.Section, v *plan.Virtual, prog, expect *lvscf.Setting) {
	name := "lvsha-check-" + safe(sec.Name)
	argv := strings.Fields(prog.Value)
	var args []string
	for _, a := range argv {
		switch a {
		case "%h":
			args = append(args, `"$h"`)
		case "%p":
			args = append(args, `"$p"`)
		default:
			args = append(args, quote(a))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# Generated by lvsha-import from %s:%d (send_program).\n", m.file, prog.Line)
	b.WriteString("# ldird runs it as SCRIPT VIP VPORT RIP RPORT; exit 0 means the real is up:\n# the program's output must equal nanny's expect string.\n")
	b.WriteString("h=${3#[}; h=${h%]}; p=$4\n")
	b.WriteString("out=$(" + strings.Join(args, " ") + ") || exit 1\n")
	want := ""
	if expect != nil {
		want = decode(expect.Value)
	}
	b.WriteString("[ \"$out\" = " + quote(want) + " ]\n")
	rel := "lvsha-checks/" + name
	installed := strings.TrimRight(m.opt.InstallDir, "/") + "/" + rel
	m.p.Scripts = append(m.p.Scripts, plan.Script{Name: rel, Installed: installed, Body: b.String()})
	v.CheckType, v.CheckCommand = "external", installed
	m.rep.Approx(m.pos(prog.Line), "send_program = "+prog.Value, "checktype = external, checkcommand = "+installed+" (generated): the output must equal expect",
		"install the script with the other files; nanny counted a program that failed as up (a defect), ldird counts it down")
}

func safe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ha builds ha.cf, authkeys and haresources: pulse's heartbeat between
// primary and backup becomes ucast heartbeats, its takeover of the
// addresses a haresources group owned by the primary, with ldird in it.
func (m *mapper) ha(vips []string, firstIface string) error {
	get := func(k string) *lvscf.Setting { return m.cfg.Get(k) }
	prim, back := get("primary"), get("backup")
	if prim == nil {
		return fmt.Errorf("%s has no primary = ADDRESS", m.file)
	}
	backupActive := get("backup_active") != nil && get("backup_active").Value == "1"
	if m.opt.Primary == "" || (backupActive && m.opt.Backup == "") {
		want := "--primary NAME"
		if backupActive {
			want += " and --backup NAME"
		}
		return fmt.Errorf("%w: lvs.cf names the directors only by address (primary = %s%s); give their node names (uname -n) with %s",
			ErrNoNodes, prim.Value, map[bool]string{true: ", backup = " + valueOf(back), false: ""}[backupActive], want)
	}
	ha := &plan.HA{AutoFailback: true, UDPPort: 694, AuthMethod: "sha1", AuthKey: m.opt.Key()}
	m.p.HA = ha
	ha.Nodes = []string{strings.ToLower(m.opt.Primary)}
	m.rep.Mapped(m.pos(prim.Line), "primary = "+prim.Value, "node "+ha.Nodes[0]+" (given with --primary); it owns the haresources group")
	if backupActive {
		if back == nil {
			return fmt.Errorf("%s: backup_active = 1 but no backup = ADDRESS", m.file)
		}
		ha.Nodes = append(ha.Nodes, strings.ToLower(m.opt.Backup))
		m.rep.Mapped(m.pos(back.Line), "backup = "+back.Value+", backup_active = 1", "node "+ha.Nodes[1]+" (given with --backup)")
	} else {
		s := get("backup_active")
		at := m.pos(0)
		if s != nil {
			at = m.pos(s.Line)
		}
		m.rep.Approx(at, "backup_active = 0", "ha.cf names only the primary: nothing takes over when it dies", "add a backup node when there is one")
	}
	iface := m.opt.Iface
	if iface == "" {
		iface = firstIface
	}
	if iface == "" {
		return fmt.Errorf("no interface for the heartbeats: give --iface")
	}
	addrs := []*lvscf.Setting{prim}
	if backupActive {
		addrs = append(addrs, back)
	}
	for _, a := range addrs {
		ha.Media = append(ha.Media, plan.Medium{Kind: "ucast", Iface: iface, Addr: a.Value, Note: fmt.Sprintf("from %s:%d %s", m.file, a.Line, a.Key)})
	}
	how := "the interface of the first virtual address"
	if m.opt.Iface != "" {
		how = "given with --iface"
	}
	if hb := get("heartbeat"); hb != nil && hb.Value != "1" {
		m.rep.Approx(m.pos(hb.Line), "heartbeat = "+hb.Value, "hbd always exchanges heartbeats: ucast "+iface+" to both addresses", "nothing")
	} else {
		at := m.pos(prim.Line)
		if hb != nil {
			at = m.pos(hb.Line)
		}
		if m.opt.Iface != "" {
			m.rep.Mapped(at, "heartbeat = 1", "ucast "+iface+" to the primary and the backup address ("+how+"; the same ha.cf on both nodes)")
		} else {
			m.rep.Approx(at, "heartbeat = 1", "ucast "+iface+" to the primary and the backup address ("+how+"; the same ha.cf on both nodes)",
				"lvs.cf does not say which interface carries those addresses: import again with --iface IF if it is not "+iface)
		}
	}
	ka, dt := 6*time.Second, 18*time.Second
	if s := get("keepalive"); s != nil {
		if n, err := strconv.Atoi(s.Value); err == nil && n > 0 {
			ka = time.Duration(n) * time.Second
			m.rep.Mapped(m.pos(s.Line), "keepalive = "+s.Value, "keepalive "+s.Value)
		}
	}
	if s := get("deadtime"); s != nil {
		if n, err := strconv.Atoi(s.Value); err == nil && n > 0 {
			dt = time.Duration(n) * time.Second
			if dt <= 2*ka {
				dt = 2*ka + time.Second
				m.rep.Approx(m.pos(s.Line), "deadtime = "+s.Value, fmt.Sprintf("deadtime %d (hbd wants more than twice keepalive)", int(dt/time.Second)), "nothing")
			} else {
				m.rep.Mapped(m.pos(s.Line), "deadtime = "+s.Value, "deadtime "+s.Value)
			}
		}
	}
	ha.Keepalive, ha.Deadtime, ha.Warntime, ha.Initdead = ka, dt, dt/2, dt
	if s := get("heartbeat_port"); s != nil {
		if n, err := strconv.Atoi(s.Value); err == nil && n > 0 && n < 65536 {
			ha.UDPPort = n
			m.rep.Mapped(m.pos(s.Line), "heartbeat_port = "+s.Value, "udpport "+s.Value+" (hbd speaks Heartbeat's protocol on it, not pulse's)")
		}
	}
	m.rep.Mapped(m.pos(prim.Line), "pulse's heartbeats (unauthenticated)", "authkeys: sha1 with a new random key; copy the same authkeys to both nodes")
	m.rep.Mapped(m.pos(prim.Line), "pulse's failback to the primary", "auto_failback on")
	g := plan.Group{Owner: ha.Nodes[0], Note: []string{"the addresses pulse moves between primary and backup, then ldird (pulse runs lvsd on the active router only)"}}
	g.Resources = append(g.Resources, vips...)
	if m.p.LVS != nil {
		g.Resources = append(g.Resources, "ldirectord::ldirectord.cf")
		m.rep.Mapped(m.pos(prim.Line), "lvsd and nanny", "ldirectord::ldirectord.cf at the end of the group: ldird runs on the node holding the addresses")
	}
	if len(g.Resources) > 0 {
		ha.Groups = append(ha.Groups, g)
	}
	return nil
}

func valueOf(s *lvscf.Setting) string {
	if s == nil {
		return "?"
	}
	return s.Value
}
