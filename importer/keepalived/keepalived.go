// Package keepalived maps a keepalived.conf (2.x, read by package kaconf)
// to an import plan: vrrp_instance and vrrp_sync_group become ha.cf,
// authkeys and haresources for a pair of hbd nodes; virtual_server,
// virtual_server_group and their checkers become ldirectord.cf for ldird.
// Every construct read is accounted for in the report, with its file and
// line: mapped, approximated, ignored, or not mapped with what to do.
//
// Defaults are keepalived 2.2.7's (checked against `keepalived -t`): a
// virtual server without "protocol" is UDP, without lb_algo wlc, without
// lb_kind NAT; a port-less address service is made persistent (360 s);
// delay_loop is 60 s, connect_timeout 5 s; retry is 1 (DNS_CHECK 3,
// MISC_CHECK 0); a virtual IP without a mask is a /32 (/128 for IPv6).
package keepalived

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"lvsha/importer/kaconf"
	"lvsha/importer/plan"
	"lvsha/importer/report"
)

// Options says what the configuration files cannot.
type Options struct {
	// Node is the hbd node name (uname -n) of the host the file comes from;
	// Peer is the other director's. Both are needed for the failover part.
	Node, Peer string
	// PeerView is the configuration as the peer reads it (its own file, or
	// this file read with the peer's config id); nil when not known.
	PeerView *kaconf.Config
	// NamesFrom says where Node and Peer came from, for the report.
	NamesFrom string
	// InstallDir is where the output will be installed (default
	// /etc/ha.d): generated scripts are referred to under it.
	InstallDir string
	// Helper is the lvsha-import binary generated checks run (default
	// /usr/sbin/lvsha-import).
	Helper string
	// LdirdResource puts ldirectord::ldirectord.cf into the haresources
	// group of the first instance instead of running ldird on both nodes.
	LdirdResource bool
	// Key returns the authkeys secret when keepalived has none (default:
	// 32 random hex digits).
	Key func() string
}

// ErrNoNodes is returned when the failover part needs node names that
// neither the options nor the file give.
var ErrNoNodes = errors.New("the node names are not known")

type mapper struct {
	opt     Options
	base    string // directory of the main file, for relative positions
	rep     *report.Report
	p       *plan.Plan
	vsg     map[string]*kaconf.Node
	scripts map[string]bool // vrrp_script names
	tracked map[string]bool // vrrp_script names used by a track_script
	usedVSG map[string]bool
	names   map[string]int // generated script names in use
	// sawNoAlpha is the first virtual server without alpha (reported once).
	noAlpha    *kaconf.Node
	noAlphaCnt int
}

// Import maps cfg (this node's view) to a plan and its report.
func Import(cfg *kaconf.Config, opt Options) (*plan.Plan, *report.Report, error) {
	if opt.InstallDir == "" {
		opt.InstallDir = "/etc/ha.d"
	}
	if opt.Helper == "" {
		opt.Helper = "/usr/sbin/lvsha-import"
	}
	if opt.Key == nil {
		opt.Key = randomKey
	}
	m := &mapper{
		opt:     opt,
		rep:     &report.Report{},
		p:       &plan.Plan{},
		vsg:     map[string]*kaconf.Node{},
		scripts: map[string]bool{},
		tracked: map[string]bool{},
		usedVSG: map[string]bool{},
		names:   map[string]int{},
	}
	if len(cfg.Files) > 0 {
		m.base = filepath.Dir(cfg.Files[0])
	}
	for _, f := range cfg.Files {
		m.rep.Files = append(m.rep.Files, m.rel(f))
	}
	if len(cfg.Files) > 0 {
		m.p.Header = append(m.p.Header, "from "+m.rel(cfg.Files[0])+"; see the import report for what was not carried over")
	}
	for _, n := range cfg.Notes {
		m.rep.Unmapped(m.pos(n.Pos), "include", n.Msg, "keepalived reads nothing here either; remove the line or supply the files and import again")
	}
	// First pass: the definitions others refer to.
	for _, n := range cfg.Nodes {
		switch n.Key {
		case "virtual_server_group":
			if n.Arg(0) != "" {
				m.vsg[n.Arg(0)] = n
			}
		case "vrrp_script":
			m.scripts[n.Arg(0)] = true
		}
	}
	var instances, syncGroups []*kaconf.Node
	for _, n := range cfg.Nodes {
		switch n.Key {
		case "global_defs":
			m.globalDefs(n)
		case "vrrp_instance":
			instances = append(instances, n)
		case "vrrp_sync_group":
			syncGroups = append(syncGroups, n)
		case "virtual_server":
			m.virtualServer(n)
		case "virtual_server_group", "vrrp_script":
			// Mapped where they are used; unused ones are reported below.
		default:
			m.topLevel(n)
		}
	}
	if len(instances) > 0 {
		if err := m.vrrp(instances, syncGroups); err != nil {
			return nil, nil, err
		}
	} else {
		for _, g := range syncGroups {
			m.rep.Ignored(m.pos(g.Pos), "vrrp_sync_group "+g.Arg(0), "no vrrp_instance to group")
		}
	}
	for _, n := range cfg.Nodes {
		switch n.Key {
		case "virtual_server_group":
			if !m.usedVSG[n.Arg(0)] {
				m.rep.Ignored(m.pos(n.Pos), "virtual_server_group "+n.Arg(0), "no virtual_server uses it (keepalived creates nothing for it either)")
			}
		case "vrrp_script":
			if !m.tracked[n.Arg(0)] {
				m.rep.Ignored(m.pos(n.Pos), "vrrp_script "+n.Arg(0), "no track_script uses it, so keepalived never runs it")
			}
		}
	}
	if m.noAlpha != nil {
		more := ""
		if m.noAlphaCnt > 1 {
			more = fmt.Sprintf(" (and %d more virtual servers without alpha)", m.noAlphaCnt-1)
		}
		m.rep.Approx(m.pos(m.noAlpha.Pos), "virtual_server without alpha"+more,
			"ldird puts a real into the table after its first successful check; keepalived without alpha puts it in at start and takes it out if the checks fail",
			"nothing, unless clients must reach reals before their first check has run")
	}
	if m.p.LVS != nil {
		m.finishLVS()
	}
	if m.p.HA != nil && m.p.LVS != nil && !m.opt.LdirdResource {
		m.rep.Approx(report.Pos{File: m.rep.Files[0]}, "keepalived's checker process",
			"ldird runs on both directors as its own service (systemctl enable --now ldird), as keepalived's checker does, with the same ldirectord.cf",
			"enable ldird.service on both nodes; or import with --ldird-resource to run it only on the node that holds the addresses")
	}
	return m.p, m.rep, nil
}

func randomKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// rel shows a path relative to the main file's directory when it is inside it.
func (m *mapper) rel(p string) string {
	if m.base == "" {
		return p
	}
	if r, err := filepath.Rel(m.base, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

func (m *mapper) pos(p kaconf.Pos) report.Pos { return report.Pos{File: m.rel(p.File), Line: p.Line} }

func words(n *kaconf.Node) string {
	w := n.Words()
	for i, s := range w {
		if s == "" || strings.ContainsAny(s, " \t") {
			w[i] = strconv.Quote(s)
		}
	}
	s := strings.Join(w, " ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

// scriptName makes a unique, shell- and file-safe name for a generated script.
func (m *mapper) scriptName(prefix, base string) string {
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := prefix + b.String()
	if n := m.names[name]; n > 0 {
		m.names[name]++
		return fmt.Sprintf("%s-%d", name, n+1)
	}
	m.names[name] = 1
	return name
}

// timer reads keepalived's <TIMER>: seconds, fractions allowed.
func timer(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a time in seconds", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// ceilSec rounds a duration up to whole seconds (ldirectord's unit), at
// least 1.
func ceilSec(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// globalsIgnored are global_defs keywords with no meaning for hbd or ldird,
// with the reason.
var globalsIgnored = map[string]string{
	"router_id":                           "a name for keepalived's own logs and mails; hbd names nodes by uname -n",
	"smtp_connect_timeout":                "ldird's mail alerts use their own timeout",
	"smtp_helo_name":                      "ldird says EHLO with the host name",
	"enable_script_security":              "hbd and ldird run scripts as root, with no setuid check",
	"script_user":                         "hbd and ldird run scripts as root",
	"max_auto_priority":                   "scheduling priority of keepalived's own processes",
	"vrrp_priority":                       "scheduling priority of keepalived's own processes",
	"checker_priority":                    "scheduling priority of keepalived's own processes",
	"vrrp_no_swap":                        "memory locking of keepalived's own processes",
	"checker_no_swap":                     "memory locking of keepalived's own processes",
	"vrrp_rlimit_rtime":                   "scheduling limit of keepalived's own processes",
	"checker_rlimit_rtime":                "scheduling limit of keepalived's own processes",
	"dynamic_interfaces":                  "hbd's media name interfaces that must exist when it starts",
	"vrrp_skip_check_adv_addr":            "a check of VRRP adverts; hbd checks its own messages",
	"vrrp_check_unicast_src":              "a check of VRRP adverts; hbd authenticates every message",
	"vrrp_version":                        "hbd does not speak VRRP",
	"vrrp_iptables":                       "hbd adds no firewall rules",
	"vrrp_ipsets":                         "hbd adds no firewall rules",
	"nftables":                            "hbd adds no firewall rules",
	"vrrp_mcast_group4":                   "hbd does not speak VRRP; its own media are in ha.cf",
	"vrrp_mcast_group6":                   "hbd does not speak VRRP; its own media are in ha.cf",
	"vrrp_garp_master_delay":              "hbd's IPaddr2 sends its own gratuitous ARP burst",
	"vrrp_garp_master_repeat":             "hbd's IPaddr2 sends its own gratuitous ARP burst",
	"vrrp_garp_master_refresh":            "hbd's IPaddr2 re-announces on monitor (arp_count_refresh)",
	"vrrp_garp_master_refresh_repeat":     "hbd's IPaddr2 re-announces on monitor (arp_count_refresh)",
	"vrrp_garp_lower_prio_delay":          "hbd's IPaddr2 sends its own gratuitous ARP burst",
	"vrrp_garp_lower_prio_repeat":         "hbd's IPaddr2 sends its own gratuitous ARP burst",
	"vrrp_garp_interval":                  "hbd's IPaddr2 spaces its ARPs 200 ms apart",
	"vrrp_gna_interval":                   "hbd's IPaddr2 spaces its advertisements 200 ms apart",
	"vrrp_lower_prio_no_advert":           "hbd does not speak VRRP",
	"vrrp_higher_prio_send_advert":        "hbd does not speak VRRP",
	"vrrp_min_garp":                       "hbd's IPaddr2 sends its own gratuitous ARP burst",
	"vrrp_startup_delay":                  "hbd's initdead governs the wait at start",
	"lvs_flush":                           "ldird never flushes the IPVS table; it changes only its own services",
	"lvs_flush_onstop":                    "ldird's cleanstop (default yes) removes its services when it stops",
	"notification_email_from":             "",
	"smtp_server":                         "",
	"notification_email":                  "",
	"smtp_alert":                          "ldird mails on every real server change when emailalert is set",
	"smtp_alert_vrrp":                     "hbd sends no mail on failover",
	"smtp_alert_checker":                  "ldird mails on every real server change when emailalert is set",
	"checker_log_all_failures":            "ldird logs every failed check at debug level",
	"vrrp_strict":                         "strict VRRP compliance; hbd does not speak VRRP",
	"vrrp_netlink_cmd_rcv_bufs":           "keepalived's own socket buffers",
	"vrrp_netlink_cmd_rcv_bufs_force":     "keepalived's own socket buffers",
	"vrrp_netlink_monitor_rcv_bufs":       "keepalived's own socket buffers",
	"vrrp_netlink_monitor_rcv_bufs_force": "keepalived's own socket buffers",
	"lvs_netlink_cmd_rcv_bufs":            "keepalived's own socket buffers",
	"lvs_netlink_cmd_rcv_bufs_force":      "keepalived's own socket buffers",
	"lvs_netlink_monitor_rcv_bufs":        "keepalived's own socket buffers",
	"lvs_netlink_monitor_rcv_bufs_force":  "keepalived's own socket buffers",
	"process_monitor_rcv_bufs":            "keepalived's own socket buffers",
	"process_monitor_rcv_bufs_force":      "keepalived's own socket buffers",
	"vrrp_rx_bufs_policy":                 "keepalived's own socket buffers",
	"vrrp_rx_bufs_multiplier":             "keepalived's own socket buffers",
	"linkbeat_use_polling":                "hbd watches its links by their heartbeats",
	"umask":                               "file creation mask of keepalived's own files",
	"use_pid_dir":                         "keepalived's own pid files",
	"instance":                            "keepalived's own pid files",
	"child_wait_time":                     "keepalived's own child processes",
	"config_save_dir":                     "keepalived's own configuration copy",
	"tmp_config_directory":                "keepalived's own configuration copy",
	"script_timeout":                      "",
	"notify_fifo":                         "",
	"vrrp_notify_fifo":                    "",
	"lvs_notify_fifo":                     "",
	"lvs_id":                              "an old name for router_id",
	"enable_traps":                        "",
	"enable_snmp_vrrp":                    "",
	"enable_snmp_checker":                 "",
	"enable_snmp_rfc":                     "",
	"enable_snmp_rfcv2":                   "",
	"enable_snmp_rfcv3":                   "",
	"snmp_socket":                         "",
	"enable_dbus":                         "",
}

func (m *mapper) globalDefs(g *kaconf.Node) {
	var emails []string
	var emailNode *kaconf.Node
	for _, n := range g.Block {
		p := m.pos(n.Pos)
		switch n.Key {
		case "notification_email":
			emailNode = n
			for _, e := range n.Block {
				emails = append(emails, e.Words()...)
			}
		case "notification_email_from":
			m.lvs().EmailFrom = n.Arg(0)
			m.rep.Mapped(p, words(n), "emailalertfrom = "+n.Arg(0)+" in ldirectord.cf")
		case "smtp_server":
			m.lvs().SMTP = n.Arg(0)
			if n.Arg(1) != "" && n.Arg(1) != "25" {
				m.rep.Approx(p, words(n), "smtp = "+n.Arg(0), "ldird mails through port 25; relay through a local MTA if the server listens on port "+n.Arg(1))
			} else {
				m.rep.Mapped(p, words(n), "smtp = "+n.Arg(0)+" in ldirectord.cf")
			}
		case "lvs_sync_daemon", "lvs_sync_daemon_interface":
			m.syncDaemon(n)
		case "lvs_timeouts":
			m.rep.Unmapped(p, words(n), "ldird does not set IPVS timeouts", "set them at boot with `ipvsadm --set TCP TCPFIN UDP`")
		case "net_namespace", "net_namespace_ipvs", "namespace_with_ipsets":
			m.rep.Unmapped(p, words(n), "hbd and ldird run in the namespace they are started in", "start hbd and ldird with `ip netns exec "+n.Arg(0)+"`")
		case "script_timeout", "notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo_script", "notify_fifo_script":
			m.rep.Unmapped(p, words(n), "hbd and ldird have no notify FIFO", "watch `cl_status rscstatus` and `ldird status`, or the metrics (hbd -metrics, ldird --metrics)")
		case "enable_traps", "enable_snmp_vrrp", "enable_snmp_checker", "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3", "snmp_socket", "enable_dbus", "enable_dbus_create_instance":
			m.rep.Unmapped(p, words(n), "hbd and ldird have no SNMP or D-Bus interface", "scrape their Prometheus metrics (hbd -metrics ADDR, ldird --metrics ADDR) instead")
		default:
			if why, ok := globalsIgnored[n.Key]; ok && why != "" {
				m.rep.Ignored(p, words(n), why)
				continue
			}
			m.rep.Unmapped(p, words(n), "a global_defs keyword the importer does not know", "check keepalived.conf(5) for what it does and set the equivalent by hand, if any")
		}
	}
	if emailNode != nil {
		if len(emails) == 0 {
			m.rep.Ignored(m.pos(emailNode.Pos), "notification_email {}", "no address")
		} else {
			m.lvs().EmailAlert = strings.Join(emails, ",")
			m.rep.Approx(m.pos(emailNode.Pos), "notification_email { "+strings.Join(emails, " ")+" }",
				"emailalert = "+strings.Join(emails, ",")+" in ldirectord.cf",
				"ldird mails on every real server change (keepalived per smtp_alert); hbd sends no mail on failover: watch its log or metrics")
		}
	}
}

// topLevel handles the other top-level keywords.
func (m *mapper) topLevel(n *kaconf.Node) {
	p := m.pos(n.Pos)
	switch n.Key {
	case "static_ipaddress", "static_routes", "static_rules":
		m.rep.Unmapped(p, n.Key, "keepalived sets these on every node whatever its state; they are not failover resources",
			"configure them in the system's network configuration (/etc/network/interfaces or systemd-networkd)")
	case "SSL":
		if len(n.Block) == 0 {
			m.rep.Ignored(p, "SSL {}", "an empty SSL block is keepalived's default context")
			return
		}
		m.rep.Unmapped(p, "SSL { "+blockWords(n)+" }", "ldird's https checks present no client certificate and trust no particular CA",
			"if the real servers require a client certificate, check them with checktype = external and a script")
	case "net_namespace", "net_namespace_ipvs", "namespace_with_ipsets":
		m.rep.Unmapped(p, words(n), "hbd and ldird run in the namespace they are started in", "start hbd and ldird with `ip netns exec "+n.Arg(0)+"`")
	case "instance", "use_pid_dir", "linkbeat_use_polling", "child_wait_time":
		m.rep.Ignored(p, words(n), "about keepalived's own processes")
	case "linkbeat_interfaces", "interface_up_down_delays", "garp_group", "track_file", "vrrp_track_file", "vrrp_track_process", "bfd_instance", "track_group":
		m.rep.Unmapped(p, n.Key+" "+n.Arg(0), "hbd has no equivalent", "hbd declares a node dead by its heartbeats only; use ping nodes (ping/ping_group in ha.cf) for reachability")
	default:
		m.rep.Unmapped(p, words(n), "a keyword the importer does not know", "check keepalived.conf(5) for what it does and set the equivalent by hand, if any")
	}
}

func blockWords(n *kaconf.Node) string {
	var s []string
	for _, c := range n.Block {
		s = append(s, c.Key)
	}
	return strings.Join(s, " ")
}

// lvs returns the ldirectord.cf plan, creating it.
func (m *mapper) lvs() *plan.LVS {
	if m.p.LVS == nil {
		m.p.LVS = &plan.LVS{}
	}
	return m.p.LVS
}

// finishLVS picks the global checkinterval: the most common one; the other
// virtuals keep their own (which needs fork = yes).
func (m *mapper) finishLVS() {
	l := m.p.LVS
	if len(l.Virtuals) == 0 {
		return
	}
	count := map[int]int{}
	for _, v := range l.Virtuals {
		count[v.CheckInterval]++
	}
	best, bestN := 0, -1
	keys := make([]int, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		if count[k] > bestN {
			best, bestN = k, count[k]
		}
	}
	l.CheckInterval = best
	for _, v := range l.Virtuals {
		if v.CheckInterval == best {
			v.CheckInterval = 0
		} else {
			l.Fork = true
		}
	}
	l.LogFile = "daemon"
}

// syncDaemon maps lvs_sync_daemon IFACE [VRRP_INSTANCE] [id N] [maxlen N]
// [port N] [ttl N] [group ADDR] to ldird's syncdaemon directive. keepalived
// runs the master daemon where the instance is MASTER and the backup one
// elsewhere, switching at each transition; ldird runs both on every
// director all the time, so the instance is not needed.
func (m *mapper) syncDaemon(n *kaconf.Node) {
	p := m.pos(n.Pos)
	args := n.Args
	if len(args) == 0 {
		m.rep.Unmapped(p, words(n), "no interface", "give the interface the sync messages use")
		return
	}
	spec := args[0]
	var group, port, bad []string
	for i := 1; i < len(args); i++ {
		k := args[i]
		val := ""
		if i+1 < len(args) {
			val = args[i+1]
		}
		switch k {
		case "id", "maxlen", "ttl":
			if _, err := strconv.ParseUint(val, 10, 16); err != nil {
				bad = append(bad, k+" "+val)
				i++
				continue
			}
			name := map[string]string{"id": "syncid", "maxlen": "maxlen", "ttl": "ttl"}[k]
			spec += " " + name + "=" + val
			i++
		case "port":
			port = append(port, val)
			i++
		case "group":
			group = append(group, val)
			i++
		default:
			if i == 1 && n.Key == "lvs_sync_daemon" {
				continue // the VRRP instance whose state decides the role
			}
			bad = append(bad, k)
		}
	}
	if len(port) > 0 || len(group) > 0 {
		g := "224.0.0.81" // keepalived's and the kernel's default group
		if len(group) > 0 {
			g = group[len(group)-1]
		}
		if a, err := netip.ParseAddr(g); err == nil && a.Is6() {
			g = "[" + g + "]"
		}
		if len(port) > 0 {
			g += ":" + port[len(port)-1]
		}
		spec += " mcast=" + g
	}
	if len(bad) > 0 {
		m.rep.Unmapped(p, words(n), "cannot read "+strings.Join(bad, ", "), "fix the line and import again")
		return
	}
	m.lvs().SyncDaemon = spec
	m.rep.Mapped(p, words(n), "syncdaemon = "+spec+" in ldirectord.cf: ldird runs the master and the backup sync daemon on both directors all the time, "+
		"so connections survive a failover and a returning director learns them back (ldird must run on both directors, as the import sets up)")
}
