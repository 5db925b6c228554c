package keepalived

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"lvsha/importer/kaconf"
	"lvsha/importer/plan"
	"lvsha/importer/report"
)

// service is one IPVS service a virtual_server creates: an address and
// port, or a firewall mark. A virtual_server_group gives several.
type service struct {
	addr   netip.Addr // invalid for fwmark
	port   int
	fwmark uint32
	v6     bool // fwmark family
}

// vsSettings are a virtual_server's values, also the defaults of its reals
// and checkers.
type vsSettings struct {
	timing
	inhibit  bool
	alpha    bool
	vhost    string
	method   string // gate, masq, ipip; "" = not set (NAT)
	protocol string
	weight   int
}

// timing is how often and how patiently the checks run: set on a
// virtual_server, overridden per real_server, then per checker.
type timing struct {
	delayLoop time.Duration
	connTO    time.Duration
	retry     int // -1 = the checker's default
	// The statements that set delay_loop, connect_timeout and retry
	// (nil: keepalived's default), for the report.
	delayAt, toAt, retryAt *kaconf.Node
	dbr                    time.Duration
	dbrSet                 bool
}

// setTimer takes delay_loop, connect_timeout or delay_before_retry from
// c; an unreadable value is reported and changes nothing.
func (m *mapper) setTimer(t *timing, c *kaconf.Node) {
	d, err := timer(c.Arg(0))
	if err != nil {
		m.rep.Unmapped(m.pos(c.Pos), words(c), err.Error(), "fix the value")
		return
	}
	switch c.Key {
	case "delay_loop":
		t.delayLoop, t.delayAt = d, c
	case "connect_timeout":
		t.connTO, t.toAt = d, c
	default:
		t.dbr, t.dbrSet = d, true
	}
}

const (
	defaultDelayLoop = 60 * time.Second
	defaultConnTO    = 5 * time.Second
)

// methods maps lb_kind / lvs_method to ldirectord's forwarding words.
var methods = map[string]string{"NAT": "masq", "DR": "gate", "TUN": "ipip"}

// vsIgnored are virtual_server keywords with no meaning for ldird.
var vsIgnored = map[string]string{
	"snmp_name": "ldird has no SNMP interface",
	"warmup":    "ldird spreads the first checks of many reals over the check interval by itself",
	"hashed":    "an obsolete flag the kernel ignores",
}

func (m *mapper) virtualServer(n *kaconf.Node) {
	p := m.pos(n.Pos)
	var svcs []service
	switch {
	case n.Arg(0) == "group":
		g, ok := m.vsg[n.Arg(1)]
		if !ok {
			m.rep.Unmapped(p, words(n), "no virtual_server_group "+n.Arg(1)+" (keepalived skips it too)", "define the group or remove the virtual server")
			return
		}
		m.usedVSG[n.Arg(1)] = true
		svcs = m.groupServices(g)
		if len(svcs) == 0 {
			m.rep.Unmapped(p, words(n), "the group has no usable entry", "fix the group's entries")
			return
		}
	case n.Arg(0) == "fwmark":
		mark, err := strconv.ParseUint(n.Arg(1), 10, 32)
		if err != nil || mark == 0 {
			m.rep.Unmapped(p, words(n), "not a firewall mark (1..4294967295)", "fix the mark")
			return
		}
		svcs = []service{{fwmark: uint32(mark)}}
	default:
		a, err := netip.ParseAddr(n.Arg(0))
		if err != nil {
			m.rep.Unmapped(p, words(n), "not an IP address (keepalived skips it too)", "write the address")
			return
		}
		port := 0
		if n.Arg(1) != "" {
			port, err = strconv.Atoi(n.Arg(1))
			if err != nil || port < 0 || port > 65535 {
				m.rep.Unmapped(p, words(n), "not a port", "fix the port")
				return
			}
		}
		svcs = []service{{addr: a.Unmap(), port: port}}
	}
	if !n.HasBlock {
		m.rep.Unmapped(p, words(n), "no block", "add the virtual server's settings in { }")
		return
	}

	// The virtual server's own settings.
	s := vsSettings{timing: timing{delayLoop: defaultDelayLoop, connTO: defaultConnTO, retry: -1}, weight: 1}
	v := &plan.Virtual{CheckType: "on"}
	var (
		reals       []*kaconf.Node
		sorry       *kaconf.Node
		sorryMethod string
		quorum      = 1
		quorumNode  *kaconf.Node
		hysteresis  *kaconf.Node
		quorumUp    *kaconf.Node
		quorumDown  *kaconf.Node
		omega       *kaconf.Node
		protoNode   *kaconf.Node
		persistNode *kaconf.Node
		family      string
		flags       []*kaconf.Node
		opsNode     *kaconf.Node
	)
	for _, c := range n.Block {
		cp := m.pos(c.Pos)
		switch c.Key {
		case "lb_algo", "lvs_sched":
			v.Scheduler = c.Arg(0)
			m.rep.Mapped(cp, words(c), "scheduler = "+c.Arg(0))
		case "lb_kind", "lvs_method":
			mth, ok := methods[c.Arg(0)]
			switch {
			case !ok:
				m.rep.Unmapped(cp, words(c), "unknown forwarding method (keepalived ignores it too)", "write NAT, DR or TUN")
			case c.Arg(0) == "TUN" && len(c.Args) > 1 && !(c.Arg(1) == "type" && c.Arg(2) == "ipip" && len(c.Args) == 3):
				s.method = mth
				m.rep.Unmapped(cp, words(c), "ldird's tunnels are IPIP; GUE/GRE tunnel types and checksum options are not carried over",
					"keep IPIP tunnels, or add the reals by hand with ipvsadm --tun-type")
			default:
				s.method = mth
				m.rep.Mapped(cp, words(c), "forwarding method "+mth+" for the reals")
			}
		case "persistence_timeout":
			persistNode = c
			if c.Arg(0) == "" {
				v.Persistent = 360
			} else if t, err := strconv.Atoi(c.Arg(0)); err == nil && t > 0 {
				v.Persistent = t
			} else {
				m.rep.Unmapped(cp, words(c), "not a positive number of seconds (keepalived ignores it too)", "fix the value")
				continue
			}
			m.rep.Mapped(cp, words(c), "persistent = "+strconv.Itoa(v.Persistent))
		case "persistence_granularity":
			v.Netmask = c.Arg(0)
			if v.Persistent == 0 {
				v.Persistent = 360 // keepalived makes the service persistent
			}
			m.rep.Mapped(cp, words(c), "netmask = "+c.Arg(0))
		case "persistence_engine":
			m.rep.Unmapped(cp, words(c), "ldird cannot set an IPVS persistence engine", "add `--pe "+c.Arg(0)+"` to the service by hand with ipvsadm -E after ldird starts")
		case "protocol":
			protoNode = c
			switch strings.ToUpper(c.Arg(0)) {
			case "TCP", "UDP":
				s.protocol = strings.ToLower(c.Arg(0))
				m.rep.Mapped(cp, words(c), "protocol = "+s.protocol)
			case "SCTP":
				m.rep.Unmapped(cp, words(c), "ldird manages TCP and UDP services only", "manage the SCTP service with ipvsadm")
				return
			default:
				m.rep.Unmapped(cp, words(c), "unknown protocol (keepalived ignores it)", "write TCP or UDP")
			}
		case "ops":
			opsNode = c
		case "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback":
			flags = append(flags, c)
		case "delay_loop", "connect_timeout", "delay_before_retry":
			m.setTimer(&s.timing, c) // reported with the checks that use it
		case "retry", "nb_get_retry":
			r, err := strconv.Atoi(c.Arg(0))
			if err != nil || r < 0 {
				m.rep.Unmapped(cp, words(c), "not a count", "fix the value")
				continue
			}
			s.retry, s.retryAt = r, c
		case "inhibit_on_failure":
			s.inhibit = boolArg(c, true)
		case "alpha":
			s.alpha = boolArg(c, true)
		case "omega":
			omega = c
		case "virtualhost":
			s.vhost = c.Arg(0)
		case "quorum":
			q, err := strconv.Atoi(c.Arg(0))
			if err != nil || q < 0 {
				m.rep.Unmapped(cp, words(c), "not a number", "fix the value")
				continue
			}
			quorum, quorumNode = q, c
		case "hysteresis":
			hysteresis = c
		case "quorum_up":
			quorumUp = c
		case "quorum_down":
			quorumDown = c
		case "sorry_server":
			sorry = c
		case "sorry_server_inhibit":
			m.rep.Approx(cp, words(c), "ldird removes its fallback when a real comes back (keepalived keeps the sorry server at weight 0)",
				"nothing: no traffic goes to either")
		case "sorry_server_lvs_method":
			mth, ok := methods[c.Arg(0)]
			if !ok {
				m.rep.Unmapped(cp, words(c), "unknown forwarding method", "write NAT, DR or TUN")
				continue
			}
			sorryMethod = mth
		case "ha_suspend":
			m.rep.Approx(cp, words(c), "ldird checks the reals whether or not this director holds the address", "nothing: the checks cost the same on the standby")
		case "smtp_alert":
			m.rep.Approx(cp, words(c), "ldird mails on real server changes when emailalert is set, for every virtual", "set emailalert per virtual in ldirectord.cf if only some should mail")
		case "ip_family":
			family = c.Arg(0)
			m.rep.Mapped(cp, words(c), "address family of the firewall-mark service")
		case "real_server":
			reals = append(reals, c)
		case "weight":
			w, err := strconv.Atoi(c.Arg(0))
			if err == nil {
				s.weight = w
			}
			m.rep.Mapped(cp, words(c), "default weight of the reals")
		default:
			if why, ok := vsIgnored[c.Key]; ok {
				m.rep.Ignored(cp, words(c), why)
				continue
			}
			m.rep.Unmapped(cp, words(c), "a virtual_server keyword the importer does not know", "check keepalived.conf(5) and set the equivalent by hand, if any")
		}
	}
	if s.alpha {
		m.rep.Mapped(p, "alpha", "ldird puts a real into the table only after a successful check, as keepalived's alpha mode does")
	} else {
		if m.noAlpha == nil {
			m.noAlpha = n
		}
		m.noAlphaCnt++
	}
	if omega != nil {
		if quorumDown != nil {
			m.rep.Approx(m.pos(omega.Pos), words(omega), "ldird runs no script when it stops", "run the quorum_down script from ldird's unit (ExecStopPost) if it matters")
		} else {
			m.rep.Ignored(m.pos(omega.Pos), words(omega), "no quorum_down script to run at shutdown")
		}
	}
	if v.Scheduler == "" {
		v.Scheduler = "wlc"
		m.rep.Mapped(p, "no lb_algo", "scheduler = wlc (keepalived's default)")
	}
	if quorumNode != nil {
		if quorum > 1 {
			m.rep.Unmapped(m.pos(quorumNode.Pos), words(quorumNode),
				"ldird's fallback takes over only when every real is down; keepalived's quorum takes the reals out when their total weight falls below "+strconv.Itoa(quorum),
				"use quorum 1, or watch ldird_virtual_reals{state=\"up\"} and act on it")
		} else {
			m.rep.Mapped(m.pos(quorumNode.Pos), words(quorumNode), "ldird's fallback rule: when no real is up")
		}
	}
	if hysteresis != nil {
		if quorum > 1 {
			m.rep.Unmapped(m.pos(hysteresis.Pos), words(hysteresis), "comes with quorum, which is not mapped", "see quorum")
		} else {
			m.rep.Ignored(m.pos(hysteresis.Pos), words(hysteresis), "no effect with a quorum of 1")
		}
	}

	// Services and their protocol.
	isFW := svcs[0].fwmark != 0
	if protoNode != nil && isFW && len(svcs) == 1 {
		m.rep.Ignored(m.pos(protoNode.Pos), words(protoNode), "a firewall-mark service has no protocol (keepalived ignores it too)")
	}
	if s.protocol == "" {
		s.protocol = "udp"
		if !isFW {
			m.rep.Approx(p, words(n)+" without protocol", "protocol = udp, keepalived 2.2.7's default (it logs \"no protocol set - defaulting to UDP\")",
				"write the protocol you mean in keepalived.conf and import again")
		}
	}
	m.schedFlags(v, flags, opsNode, isFW, s.protocol)
	if persistNode == nil && v.Persistent == 0 {
		for _, sv := range svcs {
			if sv.fwmark == 0 && sv.port == 0 {
				v.Persistent = 360
				m.rep.Mapped(p, words(n)+" without port", "persistent = 360: keepalived makes a port-less service persistent")
				break
			}
		}
	}

	// Reals.
	var rs []*realSrv
	for _, rn := range reals {
		if r := m.realServer(rn, s, s.protocol == "udp" && !isFW); r != nil {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		m.rep.Unmapped(p, words(n), "no real server (keepalived ignores such a virtual server)", "add real servers")
		return
	}
	// Duplicates: keepalived keeps the first.
	seen := map[string]bool{}
	uniq := rs[:0]
	for _, r := range rs {
		k := r.addr.String() + "/" + strconv.Itoa(r.port)
		if seen[k] {
			m.rep.Ignored(m.pos(r.n.Pos), words(r.n), "a duplicate: keepalived removes the second one")
			continue
		}
		seen[k] = true
		uniq = append(uniq, r)
	}
	rs = uniq

	m.checks(n, v, rs, s)
	m.quiescence(n, v, rs)

	var fallbackAddr string
	var fallbackPort int
	if sorry != nil {
		a, err := netip.ParseAddr(sorry.Arg(0))
		if err != nil {
			m.rep.Unmapped(m.pos(sorry.Pos), words(sorry), "not an address", "fix it")
		} else {
			fallbackAddr = a.Unmap().String()
			if sorry.Arg(1) != "" {
				fallbackPort, _ = strconv.Atoi(sorry.Arg(1))
			}
			if sorryMethod == "" {
				sorryMethod = s.method
			}
			if sorryMethod == "" {
				sorryMethod = "masq"
			}
		}
	}
	if quorumUp != nil || quorumDown != nil {
		m.quorumScripts(n, v, quorum, quorumUp, quorumDown)
	}

	// One ldird virtual per service.
	note := []string{fmt.Sprintf("%s: %s", m.pos(n.Pos), words(n))}
	for i, sv := range svcs {
		vv := *v
		vv.Note = note
		if len(svcs) > 1 {
			vv.Note = []string{fmt.Sprintf("%s: %s (entry %d of the group)", m.pos(n.Pos), words(n), i+1)}
		}
		if sv.fwmark != 0 {
			vv.FWMark = true
			vv.Addr = strconv.FormatUint(uint64(sv.fwmark), 10)
			vv.IPv6 = sv.v6 || family == "inet6" || (family == "" && allV6(rs))
		} else {
			vv.Protocol = s.protocol
			vv.IPv6 = sv.addr.Is6()
			vv.Addr = netip.AddrPortFrom(sv.addr, uint16(sv.port)).String()
		}
		if !vv.IPv6 && vv.Netmask != "" && !strings.Contains(vv.Netmask, ".") {
			vv.Netmask = ""
		}
		vv.Reals = nil
		for _, r := range rs {
			if r.dropped {
				continue
			}
			if r.addr.Is6() != vv.IPv6 {
				if i == 0 {
					m.rep.Unmapped(m.pos(r.n.Pos), words(r.n), "ldird's reals have the family of their virtual service (keepalived allows other-family tunnel reals)",
						"add this real by hand with ipvsadm")
				}
				continue
			}
			vv.Reals = append(vv.Reals, r.planReal(sv))
		}
		if fallbackAddr != "" {
			fb := fallbackAddr
			if strings.Contains(fb, ":") {
				fb = "[" + fb + "]"
			}
			if fallbackPort > 0 && sorryMethod == "masq" && sv.fwmark == 0 {
				fb += ":" + strconv.Itoa(fallbackPort)
			}
			vv.Fallback = fb + " " + sorryMethod
		}
		if len(vv.Reals) == 0 {
			m.rep.Unmapped(p, words(n), "none of its reals can be carried over", "see the reals' items")
			continue
		}
		m.lvs().Virtuals = append(m.lvs().Virtuals, &vv)
	}
	if fallbackAddr != "" {
		m.rep.Mapped(m.pos(sorry.Pos), words(sorry), "fallback = "+m.lvs().Virtuals[len(m.lvs().Virtuals)-1].Fallback+" (in the table only while no real is up)")
	}
	m.rep.Mapped(p, words(n), fmt.Sprintf("%d virtual service(s) in ldirectord.cf", len(svcs)))
}

func allV6(rs []*realSrv) bool {
	for _, r := range rs {
		if !r.addr.Is6() {
			return false
		}
	}
	return len(rs) > 0
}

func boolArg(n *kaconf.Node, def bool) bool {
	switch strings.ToLower(n.Arg(0)) {
	case "":
		return def
	case "on", "true", "yes":
		return true
	default:
		return false
	}
}

// groupServices expands a virtual_server_group's entries.
func (m *mapper) groupServices(g *kaconf.Node) []service {
	var out []service
	for _, e := range g.Block {
		p := m.pos(e.Pos)
		if e.Key == "fwmark" {
			mark, err := strconv.ParseUint(e.Arg(0), 10, 32)
			if err != nil || mark == 0 {
				m.rep.Unmapped(p, words(e), "not a firewall mark", "fix it")
				continue
			}
			out = append(out, service{fwmark: uint32(mark), v6: e.Arg(1) == "inet6"})
			m.rep.Mapped(p, words(e), "virtual = "+e.Arg(0))
			continue
		}
		port := 0
		if e.Arg(0) != "" {
			var err error
			port, err = strconv.Atoi(e.Arg(0))
			if err != nil || port < 0 || port > 65535 {
				m.rep.Unmapped(p, words(e), "not a port", "fix it")
				continue
			}
		}
		addrs, err := expandRange(e.Key)
		if err != nil {
			m.rep.Unmapped(p, words(e), err.Error(), "fix the address or range")
			continue
		}
		for _, a := range addrs {
			out = append(out, service{addr: a, port: port})
		}
		if len(addrs) > 1 {
			m.rep.Mapped(p, words(e), fmt.Sprintf("%d virtual services, one per address", len(addrs)))
		} else {
			m.rep.Mapped(p, words(e), "one virtual service")
		}
	}
	return out
}

// maxRange bounds the services one group entry may expand to.
const maxRange = 4096

// expandRange reads an address, "a.b.c.d-e", "a.b.c.d-e.f.g.h" or a
// CIDR block.
func expandRange(s string) ([]netip.Addr, error) {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		var out []netip.Addr
		for a := pfx.Masked().Addr(); pfx.Contains(a); a = a.Next() {
			if len(out) == maxRange {
				return nil, fmt.Errorf("%s has more than %d addresses", s, maxRange)
			}
			out = append(out, a)
		}
		return out, nil
	}
	first, last, isRange := strings.Cut(s, "-")
	a, err := netip.ParseAddr(first)
	if err != nil {
		return nil, fmt.Errorf("%q is not an address or range", s)
	}
	a = a.Unmap()
	if !isRange {
		return []netip.Addr{a}, nil
	}
	var end netip.Addr
	if e, err := netip.ParseAddr(last); err == nil {
		end = e.Unmap()
	} else {
		// Only the last byte (IPv4) or group (IPv6) is given.
		b := a.AsSlice()
		if a.Is4() {
			n, err := strconv.Atoi(last)
			if err != nil || n < 0 || n > 255 {
				return nil, fmt.Errorf("%q: bad end of range", s)
			}
			b[3] = byte(n)
		} else {
			n, err := strconv.ParseUint(last, 16, 16)
			if err != nil {
				return nil, fmt.Errorf("%q: bad end of range", s)
			}
			b[14], b[15] = byte(n>>8), byte(n)
		}
		end, _ = netip.AddrFromSlice(b)
	}
	if end.Less(a) || end == a {
		return nil, fmt.Errorf("%q: the end of the range is not above its start", s)
	}
	var out []netip.Addr
	for x := a; !end.Less(x); x = x.Next() {
		if len(out) == maxRange {
			return nil, fmt.Errorf("%s has more than %d addresses", s, maxRange)
		}
		out = append(out, x)
	}
	return out, nil
}

// realSrv is a real_server with everything resolved.
type realSrv struct {
	n       *kaconf.Node
	addr    netip.Addr
	port    int // as written; 0 = none
	method  string
	weight  int
	inhibit bool
	timing  // the virtual_server's, overridden here
	vhost   string
	lower   int
	upper   int
	checks  []*chk
	dropped bool
	// udpVirtual: the virtual service is UDP (not a firewall mark).
	udpVirtual bool
	// ownRequest/Receive are set when the real's check differs from the
	// virtual's only in request/receive.
	ownRequest, ownReceive string
	ownCheck               bool
}

// planReal renders the real for one service of the virtual.
func (r *realSrv) planReal(sv service) *plan.Real {
	port := r.port
	switch {
	case sv.fwmark != 0:
		if r.method != "masq" {
			port = 0 // keepalived clears it; the kernel ignores it
		}
	case r.method != "masq":
		port = sv.port // the kernel uses the service's port for DR and TUN
	case port == 0:
		port = sv.port
	}
	addr := r.addr.String()
	if r.addr.Is6() {
		addr = "[" + addr + "]"
	}
	return &plan.Real{Addr: addr, Port: port, Method: r.method, Weight: r.weight,
		Request: r.ownRequest, Receive: r.ownReceive, OwnCheck: r.ownCheck, Lower: r.lower, Upper: r.upper}
}

// realServer maps one real_server block; udp says its virtual is a UDP
// service, where ldird's connect check pings instead of connecting.
func (m *mapper) realServer(n *kaconf.Node, s vsSettings, udp bool) *realSrv {
	p := m.pos(n.Pos)
	a, err := netip.ParseAddr(n.Arg(0))
	if err != nil {
		m.rep.Unmapped(p, words(n), "not an address (keepalived skips it too)", "fix it")
		return nil
	}
	r := &realSrv{n: n, addr: a.Unmap(), method: s.method, weight: s.weight, inhibit: s.inhibit,
		timing: s.timing, vhost: s.vhost, udpVirtual: udp}
	if r.method == "" {
		r.method = "masq"
	}
	if n.Arg(1) != "" {
		r.port, err = strconv.Atoi(n.Arg(1))
		if err != nil || r.port < 0 || r.port > 65535 {
			m.rep.Unmapped(p, words(n), "not a port", "fix it")
			return nil
		}
	}
	var checkers []*kaconf.Node
	for _, c := range n.Block {
		cp := m.pos(c.Pos)
		switch c.Key {
		case "weight":
			w, err := strconv.Atoi(c.Arg(0))
			if err != nil || w < 0 || w > 65535 {
				m.rep.Unmapped(cp, words(c), "not a weight 0..65535", "fix it")
				continue
			}
			r.weight = w
			m.rep.Mapped(cp, words(c), "weight "+c.Arg(0))
		case "lb_kind", "lvs_method":
			mth, ok := methods[c.Arg(0)]
			if !ok {
				m.rep.Unmapped(cp, words(c), "unknown forwarding method", "write NAT, DR or TUN")
				continue
			}
			r.method = mth
			if c.Arg(0) == "TUN" && len(c.Args) > 1 && !(c.Arg(1) == "type" && c.Arg(2) == "ipip" && len(c.Args) == 3) {
				m.rep.Unmapped(cp, words(c), "ldird's tunnels are IPIP", "keep IPIP, or add the real by hand with ipvsadm --tun-type")
			} else {
				m.rep.Mapped(cp, words(c), "forwarding method "+mth)
			}
		case "notify_up", "notify_down":
			m.rep.Unmapped(cp, words(c), "ldird runs no script when a real changes state",
				"follow ldird's monitorfile (one line per check result) or its metric ldird_real_up, and run the script from there")
		case "uthreshold":
			r.upper, _ = strconv.Atoi(c.Arg(0))
			m.rep.Mapped(cp, words(c), "u:"+c.Arg(0)+" on the real line")
		case "lthreshold":
			r.lower, _ = strconv.Atoi(c.Arg(0))
			m.rep.Mapped(cp, words(c), "l:"+c.Arg(0)+" on the real line")
		case "smtp_alert":
			m.rep.Approx(cp, words(c), "ldird mails on every real server change when emailalert is set", "set emailalert per virtual in ldirectord.cf to limit it")
		case "virtualhost":
			r.vhost = c.Arg(0)
		case "alpha":
			// Reported per virtual server.
		case "inhibit_on_failure":
			r.inhibit = boolArg(c, true)
		case "delay_loop", "connect_timeout", "delay_before_retry":
			m.setTimer(&r.timing, c)
		case "retry", "nb_get_retry":
			if v, err := strconv.Atoi(c.Arg(0)); err == nil && v >= 0 {
				r.retry, r.retryAt = v, c
			}
		case "warmup", "snmp_name":
			m.rep.Ignored(cp, words(c), vsIgnored[c.Key])
		case "HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK", "DNS_CHECK", "MISC_CHECK", "PING_CHECK", "UDP_CHECK", "BFD_CHECK", "FILE_CHECK":
			checkers = append(checkers, c)
		default:
			m.rep.Unmapped(cp, words(c), "a real_server keyword the importer does not know", "check keepalived.conf(5) and set the equivalent by hand, if any")
		}
	}
	for _, c := range checkers {
		if k := m.checker(c, r); k != nil {
			r.checks = append(r.checks, k)
		}
	}
	return r
}

// quiescence maps inhibit_on_failure: ldird's quiescent is per virtual.
func (m *mapper) quiescence(n *kaconf.Node, v *plan.Virtual, rs []*realSrv) {
	on := 0
	for _, r := range rs {
		if r.inhibit {
			on++
		}
	}
	q := on*2 > len(rs)
	v.Quiescent = &q
	for _, r := range rs {
		if r.inhibit != q {
			m.rep.Unmapped(m.pos(r.n.Pos), words(r.n)+fmt.Sprintf(" inhibit_on_failure %v", r.inhibit),
				fmt.Sprintf("ldird's quiescent is per virtual service; this one uses quiescent = %s like most of its reals", yn(q)),
				"give all reals of the virtual server the same inhibit_on_failure, or move this real to a virtual of its own")
		}
	}
	if q {
		m.rep.Mapped(m.pos(n.Pos), "inhibit_on_failure", "quiescent = yes: a failed real stays in the table at weight 0")
	} else {
		m.rep.Mapped(m.pos(n.Pos), "no inhibit_on_failure", "quiescent = no: a failed real is removed from the table")
	}
}

func yn(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// quorumScripts turns quorum_up/quorum_down into a fallbackcommand: with a
// quorum of 1 the quorum is lost exactly when ldird would add the fallback.
func (m *mapper) quorumScripts(n *kaconf.Node, v *plan.Virtual, quorum int, up, down *kaconf.Node) {
	if quorum > 1 {
		for _, c := range []*kaconf.Node{up, down} {
			if c != nil {
				m.rep.Unmapped(m.pos(c.Pos), words(c), "comes with quorum "+strconv.Itoa(quorum)+", which is not mapped", "see quorum")
			}
		}
		return
	}
	name := m.scriptName("lvsha-quorum-", n.Arg(0)+"-"+n.Arg(1))
	var b strings.Builder
	b.WriteString(scriptHeader(m.pos(n.Pos), "ldird's fallbackcommand for keepalived's quorum_up/quorum_down: ldird runs it\n# with \"start\" when no real is up (quorum lost) and \"stop\" when one is back."))
	b.WriteString("case \"$1\" in\n")
	if down != nil {
		b.WriteString("start) " + shellCommand(scriptArgs(down.Arg(0))) + " ;;\n")
	}
	if up != nil {
		b.WriteString("stop) " + shellCommand(scriptArgs(up.Arg(0))) + " ;;\n")
	}
	b.WriteString("esac\nexit 0\n")
	path := m.addScript("lvsha-checks/"+name, b.String())
	v.FallbackCommand = path
	for _, c := range []*kaconf.Node{up, down} {
		if c != nil {
			m.rep.Approx(m.pos(c.Pos), words(c), "fallbackcommand = "+path+" (generated)",
				"keepalived also runs quorum_up at start-up once reals are up; ldird runs the command only on a change. Install "+name+" with the other files")
		}
	}
}

// addScript records a generated script and returns its installed path.
func (m *mapper) addScript(rel, body string) string {
	installed := strings.TrimRight(m.opt.InstallDir, "/") + "/" + rel
	m.p.Scripts = append(m.p.Scripts, plan.Script{Name: rel, Installed: installed, Body: body})
	return installed
}

func scriptHeader(p report.Pos, what string) string {
	return "#!/bin/sh\n# Generated by lvsha-import from " + p.String() + ".\n# " + what + "\n"
}

// schedFlags maps a virtual server's scheduler flags and ops. A named
// flag of another scheduler (sh-port under wrr) keepalived ignores, with a
// warning; so does the import.
func (m *mapper) schedFlags(v *plan.Virtual, flags []*kaconf.Node, ops *kaconf.Node, isFW bool, protocol string) {
	var out []string
	for _, c := range flags {
		name := c.Key
		if !strings.HasPrefix(name, "flag-") && name[:2] != v.Scheduler {
			m.rep.Ignored(m.pos(c.Pos), words(c), name+" means something only to the "+name[:2]+" scheduler, not "+v.Scheduler+
				" (keepalived ignores it too: \""+name+" only applies to "+name[:2]+" scheduler - ignoring\")")
			continue
		}
		m.rep.Mapped(m.pos(c.Pos), words(c), "schedflags = "+name)
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	v.SchedFlags = strings.Join(out, ",")
	if ops == nil {
		return
	}
	if isFW || protocol != "udp" {
		m.rep.Unmapped(m.pos(ops.Pos), words(ops), "one-packet scheduling is only for UDP services (ipvsadm -o refuses it, and so does ldird)",
			"remove ops, or use it on a UDP virtual_server")
		return
	}
	v.OPS = true
	m.rep.Mapped(m.pos(ops.Pos), words(ops), "ops = yes")
}
