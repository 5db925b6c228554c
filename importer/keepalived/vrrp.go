package keepalived

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"lvsha/importer/kaconf"
	"lvsha/importer/plan"
	"lvsha/importer/report"
)

// instance is a vrrp_instance as one node reads it.
type instance struct {
	n          *kaconf.Node
	name       string
	state      string // MASTER or BACKUP
	prio       int
	iface      string
	advert     time.Duration
	preempt    bool
	auth       string // auth_pass
	authType   string
	vips       []*kaconf.Node
	ucastSrc   string
	ucastPeers []string
	mcastDst   string
	notify     map[string]*kaconf.Node
}

// instIgnored are vrrp_instance keywords with no meaning for hbd.
var instIgnored = map[string]string{
	"virtual_router_id":          "hbd pairs are identified by their node names and authkeys",
	"version":                    "hbd does not speak VRRP",
	"dont_track_primary":         "hbd does not watch interfaces",
	"native_ipv6":                "hbd chooses the family from each address",
	"garp_master_delay":          "hbd's IPaddr2 sends its own gratuitous ARP burst (5 rounds 200 ms apart)",
	"garp_master_repeat":         "hbd's IPaddr2 sends its own gratuitous ARP burst",
	"garp_master_refresh":        "hbd's IPaddr2 re-announces on monitor (arp_count_refresh)",
	"garp_master_refresh_repeat": "hbd's IPaddr2 re-announces on monitor",
	"garp_lower_prio_delay":      "hbd does not speak VRRP",
	"garp_lower_prio_repeat":     "hbd does not speak VRRP",
	"garp_extra_if":              "hbd's IPaddr2 announces on the address's own interface",
	"lower_prio_no_advert":       "hbd does not speak VRRP",
	"higher_prio_send_advert":    "hbd does not speak VRRP",
	"skip_check_adv_addr":        "hbd does not speak VRRP",
	"check_unicast_src":          "hbd authenticates every message with authkeys",
	"unicast_ttl":                "hbd's unicast messages use the kernel's TTL",
	"strict_mode":                "hbd does not speak VRRP",
	"debug":                      "hbd's debug level is set in ha.cf (debug N) or with -d",
	"linkbeat_use_polling":       "hbd watches its links by their heartbeats",
	"kernel_rx_buf_size":         "keepalived's own socket buffers",
	"down_timer_adverts":         "hbd's deadtime is in ha.cf",
	"accept":                     "the address accepts traffic on the node holding it, as with hbd's IPaddr2",
	"no_accept":                  "hbd's IPaddr2 makes the address a normal local address",
	"promote_secondaries":        "a kernel setting of the interface; set net.ipv4.conf.IF.promote_secondaries yourself if needed",
	"notify_priority_changes":    "hbd has no notify FIFO",
	"track_src_ip":               "hbd's ucast media use the interface's address",
	"old_unicast_checksum":       "hbd does not speak VRRP",
	"unicast_fault_no_peer":      "hbd does not speak VRRP",
}

func (m *mapper) parseInstance(n *kaconf.Node, rep bool) *instance {
	in := &instance{n: n, name: n.Arg(0), state: "BACKUP", prio: 100, advert: time.Second, preempt: true, notify: map[string]*kaconf.Node{}}
	say := func(f func()) {
		if rep {
			f()
		}
	}
	for _, c := range n.Block {
		p := m.pos(c.Pos)
		switch c.Key {
		case "state":
			in.state = strings.ToUpper(c.Arg(0))
		case "priority":
			v, err := strconv.Atoi(c.Arg(0))
			if err != nil || v < 1 || v > 255 {
				say(func() { m.rep.Unmapped(p, words(c), "not a priority 1..255", "fix it") })
				continue
			}
			in.prio = v
		case "interface":
			in.iface = c.Arg(0)
		case "advert_int":
			d, err := timer(c.Arg(0))
			if err != nil || d <= 0 {
				say(func() { m.rep.Unmapped(p, words(c), "not a time", "fix it") })
				continue
			}
			in.advert = d
		case "nopreempt":
			in.preempt = false
		case "preempt":
			in.preempt = true
		case "preempt_delay":
			say(func() {
				m.rep.Approx(p, words(c), "hbd's auto_failback moves the addresses back as soon as the owner is up and stable",
					"nothing; or auto_failback off and move them back by hand with hb_takeover")
			})
		case "authentication":
			for _, a := range c.Block {
				switch a.Key {
				case "auth_type":
					in.authType = strings.ToUpper(a.Arg(0))
				case "auth_pass":
					in.auth = a.Arg(0)
				}
			}
		case "virtual_ipaddress", "virtual_ipaddress_excluded":
			in.vips = append(in.vips, c.Block...)
		case "unicast_src_ip":
			in.ucastSrc = c.Arg(0)
		case "unicast_peer":
			for _, pn := range c.Block {
				in.ucastPeers = append(in.ucastPeers, pn.Key)
				if len(pn.Args) > 0 {
					say(func() {
						m.rep.Ignored(m.pos(pn.Pos), words(pn), "hbd checks the sender with authkeys, not the TTL")
					})
				}
			}
		case "mcast_dst_ip":
			in.mcastDst = c.Arg(0)
		case "mcast_src_ip":
			say(func() { m.rep.Approx(p, words(c), "hbd sends from the interface's address", "nothing") })
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify", "notify_master_rx_lower_pri", "notify_deleted":
			in.notify[c.Key] = c
		case "track_interface", "track_script", "track_file", "track_process", "track_bfd":
			say(func() { m.trackItem(c) })
		case "virtual_routes", "virtual_rules":
			say(func() {
				m.rep.Unmapped(p, c.Key, "hbd's generated groups hold addresses only",
					"add the routes with a resource script in the group (resource-agents' Route OCF agent: OCF::Route::NAME)")
			})
		case "use_vmac", "use_ipvlan", "vmac_xmit_base", "use_vmac_addr":
			say(func() {
				m.rep.Approx(p, words(c), "the address moves with gratuitous ARP, not with a virtual MAC",
					"nothing, unless a device upstream only learns VRRP's virtual MAC (00:00:5e:00:01:xx)")
			})
		case "smtp_alert":
			say(func() {
				m.rep.Approx(p, words(c), "hbd sends no mail on failover", "watch hbd's log or its metric hbd_resources_holding")
			})
		case "lvs_sync_daemon_interface":
			say(func() { m.syncDaemon(c) })
		case "vrf":
			say(func() {
				m.rep.Unmapped(p, words(c), "hbd's media are bound to interfaces, not VRFs", "name the interface")
			})
		default:
			if why, ok := instIgnored[c.Key]; ok {
				say(func() { m.rep.Ignored(p, words(c), why) })
				continue
			}
			say(func() {
				m.rep.Unmapped(p, words(c), "a vrrp_instance keyword the importer does not know", "check keepalived.conf(5) and set the equivalent by hand, if any")
			})
		}
	}
	return in
}

func (m *mapper) trackItem(c *kaconf.Node) {
	p := m.pos(c.Pos)
	var names []string
	for _, t := range c.Block {
		names = append(names, t.Key)
		if c.Key == "track_script" {
			m.tracked[t.Key] = true
		}
	}
	switch c.Key {
	case "track_interface":
		m.rep.Unmapped(p, "track_interface { "+strings.Join(names, " ")+" }", "hbd does not give up its groups when an interface goes down",
			"add a ping node reachable through it (ping ADDRESS in ha.cf): the node that reaches more ping nodes holds the groups")
	case "track_script":
		m.rep.Unmapped(p, "track_script { "+strings.Join(names, " ")+" }", "hbd runs no tracking scripts",
			"make the tracked service a resource of the group (its status is then watched), or run the script from cron and call hb_standby when it fails")
	default:
		m.rep.Unmapped(p, c.Key+" { "+strings.Join(names, " ")+" }", "hbd has no equivalent", "use ping nodes (ping in ha.cf) or resource status")
	}
}

// vrrp builds ha.cf, authkeys and haresources.
func (m *mapper) vrrp(instNodes, syncNodes []*kaconf.Node) error {
	if m.opt.Node == "" || m.opt.Peer == "" {
		return fmt.Errorf("%w: name this director and its peer (--node and --peer, as uname -n prints them)", ErrNoNodes)
	}
	if strings.EqualFold(m.opt.Node, m.opt.Peer) {
		return fmt.Errorf("%w: --node and --peer are the same (%s)", ErrNoNodes, m.opt.Node)
	}
	self := map[string]*instance{}
	var order []*instance
	for _, n := range instNodes {
		in := m.parseInstance(n, true)
		if _, dup := self[in.name]; dup {
			m.rep.Unmapped(m.pos(n.Pos), words(n), "a second instance of that name (keepalived refuses it)", "rename it")
			continue
		}
		self[in.name] = in
		order = append(order, in)
	}
	peer := map[string]*instance{}
	if m.opt.PeerView != nil {
		for _, n := range m.opt.PeerView.Nodes {
			if n.Key == "vrrp_instance" {
				in := m.parseInstance(n, false)
				peer[in.name] = in
			}
		}
	}
	ha := &plan.HA{Nodes: []string{strings.ToLower(m.opt.Node), strings.ToLower(m.opt.Peer)}, UDPPort: 694, AuthMethod: "sha1"}
	m.p.HA = ha
	from := m.opt.NamesFrom
	if from == "" {
		from = "given with --node and --peer"
	}
	m.rep.Mapped(report.Pos{File: m.rep.Files[0]}, "the two directors", fmt.Sprintf("node %s and node %s in ha.cf (%s)", ha.Nodes[0], ha.Nodes[1], from))

	// Groups: sync groups first, in file order, then lone instances.
	type grp struct {
		name    string
		node    *kaconf.Node
		members []*instance
		notify  map[string]*kaconf.Node
		isSync  bool
	}
	var groups []*grp
	inSync := map[string]bool{}
	for _, sn := range syncNodes {
		g := &grp{name: sn.Arg(0), node: sn, notify: map[string]*kaconf.Node{}, isSync: true}
		for _, c := range sn.Block {
			p := m.pos(c.Pos)
			switch c.Key {
			case "group":
				for _, mn := range c.Block {
					in, ok := self[mn.Key]
					if !ok {
						m.rep.Unmapped(m.pos(mn.Pos), mn.Key, "no vrrp_instance of that name (keepalived drops it too)", "fix the name")
						continue
					}
					if inSync[mn.Key] {
						m.rep.Unmapped(m.pos(mn.Pos), mn.Key, "already in another sync group (keepalived refuses that)", "put it in one group")
						continue
					}
					inSync[mn.Key] = true
					g.members = append(g.members, in)
				}
			case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify", "notify_deleted":
				g.notify[c.Key] = c
			case "track_interface", "track_script", "track_file", "track_process", "track_bfd":
				m.trackItem(c)
			case "smtp_alert":
				m.rep.Approx(p, words(c), "hbd sends no mail on failover", "watch hbd's log or its metrics")
			case "global_tracking", "sync_group_tracking_weight", "notify_priority_changes":
				m.rep.Ignored(p, words(c), "about tracking weights, which hbd does not have")
			default:
				m.rep.Unmapped(p, words(c), "a vrrp_sync_group keyword the importer does not know", "check keepalived.conf(5)")
			}
		}
		if len(g.members) == 0 {
			m.rep.Ignored(m.pos(sn.Pos), words(sn), "no member instance")
			continue
		}
		names := make([]string, len(g.members))
		for i, in := range g.members {
			names[i] = in.name
		}
		m.rep.Mapped(m.pos(sn.Pos), words(sn), "one haresources group holding the addresses of "+strings.Join(names, ", ")+": they move together")
		groups = append(groups, g)
	}
	for _, in := range order {
		if !inSync[in.name] {
			groups = append(groups, &grp{name: in.name, node: in.n, members: []*instance{in}, notify: in.notify})
		}
	}

	// Timing from the fastest instance; the skew from the backup's priority.
	var minAdv time.Duration
	var advNode *kaconf.Node
	backupPrio, prioKnown := 255, false
	for _, in := range order {
		if minAdv == 0 || in.advert < minAdv {
			minAdv, advNode = in.advert, in.n
		}
		if pi, ok := peer[in.name]; ok {
			backupPrio, prioKnown = min(backupPrio, min(in.prio, pi.prio)), true
		} else if in.state != "MASTER" {
			backupPrio, prioKnown = min(backupPrio, in.prio), true
		}
	}
	if !prioKnown {
		backupPrio = 100
	}
	skew := time.Duration(256-backupPrio) * minAdv / 256
	dead := 3*minAdv + skew
	dead = (dead + time.Millisecond - 1) / time.Millisecond * time.Millisecond
	ha.Keepalive, ha.Deadtime, ha.Warntime, ha.Initdead = minAdv, dead, 2*minAdv, dead
	advWhat := "advert_int " + secs(minAdv)
	for _, c := range advNode.Block {
		if c.Key == "advert_int" {
			advWhat = words(c)
		}
	}
	res := fmt.Sprintf("keepalive %s, deadtime %s (keepalived's master down interval: 3 x advert_int + skew for priority %d), initdead the same, warntime %s",
		fmtDur(minAdv), fmtDur(dead), backupPrio, fmtDur(2*minAdv))
	if prioKnown {
		m.rep.Mapped(m.pos(advNode.Pos), advWhat, res)
	} else {
		m.rep.Approx(m.pos(advNode.Pos), advWhat, res+"; the backup's priority is not known, 100 assumed",
			"give the peer's configuration (--peer-conf, or @ lines) for the exact skew")
	}
	for _, in := range order {
		if in.advert != minAdv {
			m.rep.Approx(m.pos(in.n.Pos), in.name+" advert_int "+secs(in.advert), "hbd has one keepalive for the pair: the fastest instance's ("+fmtDur(minAdv)+")", "nothing")
		}
	}

	// auto_failback from preemption.
	pre, nopre := 0, 0
	for _, in := range order {
		if in.preempt {
			pre++
		} else {
			nopre++
		}
	}
	ha.AutoFailback = pre >= nopre
	for _, in := range order {
		p := m.pos(in.n.Pos)
		if in.preempt == ha.AutoFailback {
			if in.preempt {
				m.rep.Mapped(p, in.name+" preempt (keepalived's default)", "auto_failback on: the owner takes its addresses back when it returns")
			} else {
				m.rep.Mapped(p, in.name+" nopreempt", "auto_failback off: the addresses stay where they are when the owner returns")
			}
		} else {
			m.rep.Approx(p, in.name+" preemption", fmt.Sprintf("hbd has one auto_failback for the pair: %s, as most instances", onOff(ha.AutoFailback)),
				"give all instances the same preemption")
		}
	}

	// authkeys.
	var keyFrom *instance
	for _, in := range order {
		if in.auth != "" {
			if keyFrom == nil {
				keyFrom = in
			} else if in.auth != keyFrom.auth {
				m.rep.Approx(m.pos(in.n.Pos), in.name+" authentication", "hbd has one key for the pair: "+keyFrom.name+"'s", "nothing")
			}
		}
	}
	if keyFrom != nil {
		ha.AuthKey = keyFrom.auth
		m.rep.Approx(m.pos(keyFrom.n.Pos), keyFrom.name+" authentication { auth_type "+keyFrom.authType+" auth_pass ... }",
			"authkeys: sha1 with the same secret (HMAC on every message, replacing VRRP's "+keyFrom.authType+")",
			"use a longer random secret; keepalived used only its first 8 characters")
	} else {
		ha.AuthKey = m.opt.Key()
		m.rep.Mapped(report.Pos{File: m.rep.Files[0]}, "no VRRP authentication", "authkeys: sha1 with a new random key; copy the same authkeys to both nodes")
	}

	// Media.
	seen := map[string]bool{}
	addMedium := func(md plan.Medium) {
		k := md.Kind + " " + md.Iface + " " + md.Addr
		if !seen[k] {
			seen[k] = true
			ha.Media = append(ha.Media, md)
		}
	}
	for _, in := range order {
		p := m.pos(in.n.Pos)
		iface := in.iface
		if iface == "" {
			m.rep.Unmapped(p, in.name+" without interface", "hbd's media are bound to an interface", "add interface to the instance and import again")
			continue
		}
		if len(in.ucastPeers) > 0 {
			addrs := append([]string(nil), in.ucastPeers...)
			if in.ucastSrc != "" {
				addrs = append(addrs, in.ucastSrc)
			}
			if pi, ok := peer[in.name]; ok && pi.ucastSrc != "" {
				addrs = append(addrs, pi.ucastSrc)
			}
			for _, a := range addrs {
				kind := "ucast"
				if ip, err := netip.ParseAddr(a); err == nil && ip.Is6() {
					kind = "ucast6"
				}
				addMedium(plan.Medium{Kind: kind, Iface: iface, Addr: a, Note: "from " + p.String() + " " + in.name + " unicast"})
			}
			m.rep.Mapped(p, in.name+" unicast_src_ip/unicast_peer", "ucast "+iface+" for each address (the same ha.cf on both nodes: hbd drops its own messages)")
			continue
		}
		if in.mcastDst != "" {
			ip, err := netip.ParseAddr(in.mcastDst)
			if err == nil && ip.IsMulticast() {
				kind := "mcast"
				if ip.Is6() {
					kind = "mcast6"
				}
				addMedium(plan.Medium{Kind: kind, Iface: iface, Addr: in.mcastDst, Port: 694, TTL: 1, Note: "from " + p.String() + " " + in.name + " mcast_dst_ip"})
				m.rep.Mapped(p, in.name+" mcast_dst_ip "+in.mcastDst, "mcast "+iface+" "+in.mcastDst+" 694 1 0")
				continue
			}
		}
		addMedium(plan.Medium{Kind: "bcast", Iface: iface, Note: "from " + p.String() + " " + in.name + " (VRRP multicast on " + iface + ")"})
		m.rep.Mapped(p, in.name+" interface "+iface+" (VRRP multicast)", "bcast "+iface+": heartbeats to the LAN's broadcast address, UDP 694")
	}
	if len(ha.Media) == 0 {
		return fmt.Errorf("no vrrp_instance gives an interface for hbd's heartbeats")
	}

	// Groups and their owners.
	for i, g := range groups {
		first := g.members[0]
		owner, how, kind := m.owner(g.name, first, peer[first.name])
		gp := m.pos(g.node.Pos)
		switch kind {
		case report.Mapped:
			m.rep.Mapped(gp, g.name+" state "+first.state+" priority "+strconv.Itoa(first.prio), "owner "+owner+" in haresources ("+how+")")
		case report.Approximated:
			m.rep.Approx(gp, g.name+" state "+first.state+" priority "+strconv.Itoa(first.prio), "owner "+owner+" in haresources ("+how+")",
				"check it, or give the peer's configuration (--peer-conf, or @ lines) so that priorities decide")
		default:
			m.rep.Unmapped(gp, g.name+" state "+first.state+" priority "+strconv.Itoa(first.prio), "owner "+owner+" written, but "+how,
				"give the instances different priorities, or correct the owner in haresources")
		}
		grpPlan := plan.Group{Owner: owner, Note: []string{fmt.Sprintf("from %s %s %s", gp, map[bool]string{true: "vrrp_sync_group", false: "vrrp_instance"}[g.isSync], g.name)}}
		for _, in := range g.members {
			for _, vn := range in.vips {
				if res := m.vipResource(vn, in); res != "" {
					grpPlan.Resources = append(grpPlan.Resources, res)
				}
			}
		}
		notify := g.notify
		if g.isSync {
			for _, in := range g.members {
				for _, c := range in.notify {
					m.rep.Approx(m.pos(c.Pos), words(c), "keepalived runs the sync group's notify scripts for grouped instances; so does the group's resource",
						"move it to the vrrp_sync_group")
				}
			}
		}
		if len(notify) > 0 {
			grpPlan.Resources = append(grpPlan.Resources, m.notifyResource(g.name, g.isSync, first.prio, notify))
		}
		if i == 0 && m.opt.LdirdResource && m.p.LVS != nil {
			grpPlan.Resources = append(grpPlan.Resources, "ldirectord::ldirectord.cf")
			m.rep.Mapped(gp, "keepalived's checker process", "ldirectord::ldirectord.cf in this group: ldird runs on the node holding its addresses (--ldird-resource)")
		}
		if len(grpPlan.Resources) == 0 {
			m.rep.Ignored(gp, g.name, "no address to hold")
			continue
		}
		ha.Groups = append(ha.Groups, grpPlan)
	}
	if len(ha.Groups) == 0 {
		m.rep.Unmapped(report.Pos{File: m.rep.Files[0]}, "vrrp_instance", "no instance holds an address", "nothing to fail over; the pair only exchanges heartbeats")
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func fmtDur(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.Itoa(int(d/time.Second)) + "s"
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}

// owner says which node keepalived would make MASTER with both up.
func (m *mapper) owner(name string, self, peer *instance) (string, string, report.Kind) {
	node, other := strings.ToLower(m.opt.Node), strings.ToLower(m.opt.Peer)
	if peer != nil {
		switch {
		case self.prio > peer.prio:
			return node, fmt.Sprintf("priority %d on %s against %d on %s", self.prio, node, peer.prio, other), report.Mapped
		case peer.prio > self.prio:
			return other, fmt.Sprintf("priority %d on %s against %d on %s", peer.prio, other, self.prio, node), report.Mapped
		case self.state == "MASTER" && peer.state != "MASTER":
			return node, "equal priorities; " + node + " starts as MASTER", report.Approximated
		case peer.state == "MASTER" && self.state != "MASTER":
			return other, "equal priorities; " + other + " starts as MASTER", report.Approximated
		}
		return node, fmt.Sprintf("both nodes have priority %d and state %s: VRRP lets the higher interface address win, which the files do not say", self.prio, self.state), report.Unmapped
	}
	if self.state == "MASTER" || self.prio == 255 {
		return node, "state MASTER in " + node + "'s file", report.Mapped
	}
	return other, "state BACKUP in " + node + "'s file: " + other + " is taken to be the MASTER", report.Approximated
}

// vipResource turns a virtual_ipaddress line into a haresources resource:
// IPaddr2::ip/cidr/nic[:label][/brd] for IPv4, IPv6addr::ip/cidr/nic for
// IPv6 (Heartbeat's IPaddr2 wrapper always sets lvs_support, which IPaddr2
// refuses for IPv6, so hbd refuses IPaddr2:: with an IPv6 address as well).
func (m *mapper) vipResource(vn *kaconf.Node, in *instance) string {
	p := m.pos(vn.Pos)
	addr := vn.Key
	var ip netip.Addr
	bits := -1
	if pfx, err := netip.ParsePrefix(addr); err == nil {
		ip, bits = pfx.Addr(), pfx.Bits()
	} else if a, err := netip.ParseAddr(addr); err == nil {
		ip = a
	} else {
		m.rep.Unmapped(p, words(vn), "not an address", "fix it")
		return ""
	}
	ip = ip.Unmap()
	if bits < 0 {
		bits = 32
		if ip.Is6() {
			bits = 128
		}
	}
	dev, label, brd := in.iface, "", ""
	var approx []string
	for i := 0; i < len(vn.Args); i++ {
		a := vn.Args[i]
		next := func() string {
			if i+1 < len(vn.Args) {
				i++
				return vn.Args[i]
			}
			return ""
		}
		switch a {
		case "dev":
			dev = next()
		case "label":
			label = next()
		case "brd", "broadcast":
			brd = next()
		case "scope":
			if s := next(); s != "global" {
				approx = append(approx, "scope "+s+" (IPaddr2 adds a global address)")
			}
		case "peer", "preferred_lft", "metric":
			approx = append(approx, a+" "+next())
		case "home", "-nodad", "nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track", "use_vmac":
			approx = append(approx, a)
		default:
			approx = append(approx, a)
		}
	}
	if dev == "" {
		m.rep.Unmapped(p, words(vn), "no interface (instance or dev)", "add dev IF")
		return ""
	}
	// haresources separates arguments with "::", so an IPv6 address is
	// written without the "::" shorthand.
	spec := noDoubleColon(ip) + "/" + strconv.Itoa(bits) + "/" + dev
	agent := "IPaddr2::"
	switch {
	case ip.Is6():
		agent = "IPv6addr::"
		if label != "" {
			approx = append(approx, "label "+label+" (the kernel keeps no labels on IPv6 addresses)")
		}
	case label != "":
		if suffix, ok := strings.CutPrefix(label, dev+":"); ok && suffix != "" {
			spec += ":" + suffix
		} else {
			approx = append(approx, "label "+label+" (IPaddr2 labels are IF:suffix)")
		}
	}
	if brd != "" && ip.Is4() {
		spec += "/" + brd
	}
	res := agent + spec
	if len(approx) > 0 {
		m.rep.Approx(p, words(vn), res+"; not carried over: "+strings.Join(approx, ", "), "set these by hand if they matter")
	} else {
		m.rep.Mapped(p, words(vn), res)
	}
	return res
}

// notifyResource writes a resource.d script that runs keepalived's notify
// scripts when hbd starts (MASTER) and stops (BACKUP) the group.
func (m *mapper) notifyResource(name string, sync bool, prio int, notify map[string]*kaconf.Node) string {
	res := m.scriptName("lvsha-notify-", name)
	kind := "INSTANCE"
	if sync {
		kind = "GROUP"
	}
	var b strings.Builder
	var first *kaconf.Node
	for _, k := range []string{"notify_master", "notify_backup", "notify", "notify_fault", "notify_stop", "notify_master_rx_lower_pri", "notify_deleted"} {
		if c := notify[k]; c != nil && first == nil {
			first = c
		}
	}
	b.WriteString(scriptHeader(m.pos(first.Pos), "A Heartbeat resource.d script: hbd runs it with start when this node takes the\n# group (keepalived's MASTER), stop when it gives it up (BACKUP), and status."))
	state := "/var/run/" + res + ".state"
	line := func(c *kaconf.Node, extra ...string) string {
		argv := scriptArgs(c.Arg(0))
		if len(c.Args) > 1 {
			m.rep.Approx(m.pos(c.Pos), words(c), "the script runs as root", "make it drop privileges itself if it must")
		}
		return shellCommand(append(argv, extra...))
	}
	b.WriteString("case \"$1\" in\nstart)\n")
	if c := notify["notify_master"]; c != nil {
		b.WriteString("\t" + line(c) + "\n")
	}
	if c := notify["notify"]; c != nil {
		b.WriteString("\t" + line(c, kind, name, "MASTER", strconv.Itoa(prio)) + "\n")
	}
	b.WriteString("\techo running >" + state + "\n\t;;\nstop)\n")
	if c := notify["notify_backup"]; c != nil {
		b.WriteString("\t" + line(c) + "\n")
	}
	if c := notify["notify"]; c != nil {
		b.WriteString("\t" + line(c, kind, name, "BACKUP", strconv.Itoa(prio)) + "\n")
	}
	b.WriteString("\trm -f " + state + "\n\t;;\nstatus)\n\tif [ -f " + state + " ]; then echo running; else echo stopped; fi\n\t;;\nesac\nexit 0\n")
	m.addScript("resource.d/"+res, b.String())
	for _, k := range []string{"notify_master", "notify_backup", "notify"} {
		if c := notify[k]; c != nil {
			m.rep.Approx(m.pos(c.Pos), words(c), "resource "+res+" (generated in resource.d/) runs it when hbd starts or stops the group; keepalived also runs notify_backup when it starts as BACKUP, hbd only when the group leaves the node",
				"install resource.d/"+res+" into /etc/ha.d/resource.d/ on both nodes")
		}
	}
	for _, k := range []string{"notify_fault", "notify_stop", "notify_master_rx_lower_pri", "notify_deleted"} {
		if c := notify[k]; c != nil {
			m.rep.Unmapped(m.pos(c.Pos), words(c), "hbd has no FAULT state and runs no script when it stops apart from stopping the groups",
				"watch hbd's log (\"node X: is dead\", \"Taking over resource group\") if the script must run")
		}
	}
	return res
}

// noDoubleColon writes an IPv6 address in full (2001:db8:0:0:0:0:0:1): a
// "::" would split the haresources argument. IPv4 is unchanged.
func noDoubleColon(ip netip.Addr) string {
	if !ip.Is6() {
		return ip.String()
	}
	b := ip.As16()
	parts := make([]string, 8)
	for i := range parts {
		parts[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	return strings.Join(parts, ":")
}
