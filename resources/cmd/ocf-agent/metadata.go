package main

import (
	"encoding/xml"
	"fmt"
	"strings"
)

// param is one <parameter> of the meta-data.
type param struct {
	name, typ, def   string
	required, unique bool
	short, long      string
}

// action is one <action>.
type action struct {
	name, timeout, interval, depth string
}

type agentMeta struct {
	short, long string
	params      []param
	actions     []action
}

var standardActions = []action{
	{name: "start", timeout: "20s"},
	{name: "stop", timeout: "20s"},
	{name: "status", timeout: "20s", interval: "10s", depth: "0"},
	{name: "monitor", timeout: "20s", interval: "10s", depth: "0"},
	{name: "meta-data", timeout: "5s"},
	{name: "validate-all", timeout: "20s"},
}

var metas = map[string]agentMeta{
	"IPaddr2": {
		short: "Manages virtual IPv4 and IPv6 addresses (Linux specific version)",
		long: "This Linux-specific resource manages IP alias IP addresses. It can add an IP alias, " +
			"or remove one, and announces it with gratuitous ARP (IPv4) or unsolicited neighbour " +
			"advertisements (IPv6). This is the Go-native lvsha implementation; it uses netlink and " +
			"raw packet sockets instead of ip and send_arp.",
		params: []param{
			{name: "ip", typ: "string", required: true, unique: true, short: "IPv4 or IPv6 address",
				long: "The IPv4 (dotted quad notation) or IPv6 address (colon hexadecimal notation) to add."},
			{name: "nic", typ: "string", short: "Network interface",
				long: "The base network interface on which the IP address will be brought online. If left empty, it is found from the routing table (the longest link-scope route containing the address). The deprecated form nic:label sets the label and overrides iflabel."},
			{name: "cidr_netmask", typ: "string", short: "CIDR netmask",
				long: "The netmask for the interface in CIDR format (e.g., 24). If unspecified, it is taken from the routing table."},
			{name: "broadcast", typ: "string", short: "Broadcast address",
				long: "Broadcast address associated with the IP. It is possible to use the special symbols '+' and '-' instead of the broadcast address: '+' sets the host part to all ones, '-' sets none. Empty means '+'."},
			{name: "iflabel", typ: "string", short: "Interface label",
				long: "You can specify an additional label for your IP address here. The full label (nic:label) must not exceed 15 characters."},
			{name: "lvs_support", typ: "boolean", def: "false", short: "Enable support for LVS DR",
				long: "Enable support for LVS Direct Routing configurations: a /32 copy of the address on a loopback interface is removed before the address is added and restored when it is removed. IPv4 only: refused for an IPv6 address."},
			{name: "arp_interval", typ: "integer", def: "200", short: "ARP packet interval in ms",
				long: "Specify the interval between gratuitous ARP packets in milliseconds."},
			{name: "arp_count", typ: "integer", def: "5", short: "ARP packet count",
				long: "Number of gratuitous ARP rounds to send (each round is an ARP request and an ARP reply; for IPv6 one unsolicited neighbour advertisement)."},
			{name: "arp_count_refresh", typ: "integer", def: "0", short: "ARP packet count for refresh",
				long: "Number of gratuitous ARP rounds to send on each monitor while the address is served."},
			{name: "arp_bg", typ: "string", def: "", short: "ARP from background",
				long: "Whether to send the ARP packets in the background. This agent is a short-lived process, so it always sends them before start returns; the parameter is accepted for compatibility."},
			{name: "arp_sender", typ: "string", def: "", short: "ARP sender",
				long: "Accepted for compatibility (send_arp, iputils_arping, libnet_arping, ipoibarping); this agent always sends the frames itself."},
			{name: "nodad", typ: "boolean", def: "false", short: "Skip DAD for IPv6",
				long: "For IPv6, do not perform Duplicate Address Detection when adding the address."},
			{name: "noprefixroute", typ: "boolean", def: "false", short: "Use noprefixroute flag",
				long: "Do not create a prefix route for the network prefix of the address."},
			{name: "preferred_lft", typ: "string", def: "forever", short: "IPv6 preferred lifetime",
				long: "For IPv6, the preferred lifetime of the address in seconds, or forever."},
		},
	},
	"IPaddr": {
		short: "Manages virtual IPv4 addresses (portable version)",
		long: "This script manages IP alias IP addresses. It can add an IP alias, or remove one, " +
			"and announces it with gratuitous ARP. This is the Go-native lvsha implementation " +
			"(netlink instead of ifconfig; the alias label NIC:n is chosen as IPaddr does).",
		params: []param{
			{name: "ip", typ: "string", required: true, unique: true, short: "IPv4 address",
				long: "The IPv4 address to be configured in dotted quad notation, for example 192.168.1.1."},
			{name: "nic", typ: "string", short: "Network interface",
				long: "The base network interface on which the IP address will be brought online. If left empty, it is found from the routing table."},
			{name: "cidr_netmask", typ: "string", short: "Netmask",
				long: "The netmask for the interface in CIDR format (e.g., 24) or in dotted quad notation (e.g., 255.255.255.0)."},
			{name: "broadcast", typ: "string", short: "Broadcast address",
				long: "Broadcast address associated with the IP. If left empty, it is computed from the netmask."},
			{name: "iflabel", typ: "string", short: "Interface label",
				long: "Accepted for compatibility and ignored, as resource-agents' IPaddr ignores it (also a label given as nic:label): the address always gets the first free NIC:n alias."},
			{name: "lvs_support", typ: "boolean", def: "false", short: "Enable support for LVS DR",
				long: "Enable support for LVS Direct Routing configurations (see IPaddr2)."},
			{name: "local_stop_script", typ: "string", short: "Script called when the IP is released",
				long: "Script called when the IP is released."},
			{name: "local_start_script", typ: "string", short: "Script called when the IP is added",
				long: "Script called when the IP is added."},
			{name: "ARP_INTERVAL_MS", typ: "integer", def: "500", short: "milliseconds between gratuitous ARPs",
				long: "milliseconds between ARPs"},
			{name: "ARP_REPEAT", typ: "integer", def: "10", short: "repeat count",
				long: "How many gratuitous ARPs to send out when bringing up a new address"},
			{name: "ARP_BACKGROUND", typ: "boolean", def: "yes", short: "run in background",
				long: "Accepted for compatibility; this agent sends the ARPs before start returns."},
			{name: "ARP_NETMASK", typ: "string", def: "ffffffffffff", short: "netmask for ARP",
				long: "Accepted for compatibility; the frames are sent to the Ethernet broadcast address."},
		},
	},
	"SendArp": {
		short: "Broadcasts unsolicited ARP announcements",
		long: "This resource agent broadcasts unsolicited ARP announcements (5 rounds, 200 ms apart) " +
			"for an address when it starts. It is a pseudo resource: its state is a file in HA_RSCTMP. " +
			"This is the Go-native lvsha implementation.",
		params: []param{
			{name: "ip", typ: "string", required: true, unique: true, short: "IP address",
				long: "The IP address for sending ARP packet."},
			{name: "nic", typ: "string", required: true, short: "NIC",
				long: "The NIC for sending ARP packet."},
			{name: "background", typ: "boolean", def: "true", short: "Background",
				long: "Accepted for compatibility; this agent sends the ARPs before start returns."},
		},
	},
	"DRRealServer": {
		short: "LVS direct-routing real server: VIPs on lo, no ARP for them",
		long: "Configures this host as a real server of an LVS direct-routing (LVS-DR) service: " +
			"each VIP is added to the loopback interface as a host address (/32, /128 for IPv6) so the " +
			"server accepts the packets the director forwards unchanged, and net.ipv4.conf.*.arp_ignore " +
			"and arp_announce are set so the server neither answers nor announces ARP for the VIPs. " +
			"The previous sysctl values are saved in state_dir and restored by stop (when no other " +
			"instance, or the lvs-realserver script, still needs them). IPv6 has no ARP: a /128 on lo " +
			"is not answered by neighbour discovery on other interfaces, so nothing else is needed. " +
			"Monitor: running when every VIP is on lo and the sysctls hold, not running when no VIP is on " +
			"lo, failed when only some are, or when a sysctl was reset. This is a Go-native lvsha agent.",
		params: []param{
			{name: "vip", typ: "string", required: true, unique: true, short: "Virtual service addresses",
				long: "The VIP(s) of the LVS-DR services this server answers for: IPv4 and/or IPv6 addresses, separated by commas or spaces."},
			{name: "nic", typ: "string", short: "Interface(s) facing the director",
				long: "Interface(s) whose arp_ignore/arp_announce are set in addition to \"all\" (comma or space separated). If empty, the interface(s) of the IPv4 default route."},
			{name: "arp_ignore", typ: "integer", def: "1", short: "Value of arp_ignore",
				long: "Value written to net.ipv4.conf.{all,NIC}.arp_ignore: 1 answers ARP only for addresses on the receiving interface (0, 1, 2, 3 or 8)."},
			{name: "arp_announce", typ: "integer", def: "2", short: "Value of arp_announce",
				long: "Value written to net.ipv4.conf.{all,NIC}.arp_announce: 2 never uses a VIP as the source of ARP requests (0, 1 or 2)."},
			{name: "state_dir", typ: "string", def: "", short: "State directory",
				long: "Where the saved sysctl values and the started instances are recorded (empty: HA_RSCTMP, /run/resource-agents). Use the same directory as the lvs-realserver script so both share the saved values."},
		},
	},
	"ldirectord": {
		short: "Wrapper OCF Resource Agent for ldirectord",
		long: "It's a simple OCF RA wrapper for ldirectord and uses the ldirectord interface to " +
			"create the OCF compliant interface. It runs `BINARY CONFIG start|stop|status` " +
			"(the lvsha ldird by default).",
		params: []param{
			{name: "configfile", typ: "string", def: "/etc/ha.d/ldirectord.cf", unique: true, short: "configuration file path",
				long: "The full pathname of the ldirectord configuration file (a bare name is looked up in /etc/ha.d)."},
			{name: "ldirectord", typ: "string", def: "/usr/sbin/ldird", short: "ldirectord binary path",
				long: "The full pathname of the ldirectord-compatible binary."},
		},
		actions: []action{
			{name: "start", timeout: "15s"},
			{name: "stop", timeout: "15s"},
			{name: "monitor", timeout: "10s", interval: "20s", depth: "0"},
			{name: "meta-data", timeout: "5s"},
			{name: "validate-all", timeout: "20s"},
		},
	},
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func b01(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// metadata renders the ra-api-1.dtd document for an agent.
func metadata(name string) (string, bool) {
	m, ok := metas[name]
	if !ok {
		return "", false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n")
	fmt.Fprintf(&b, "<resource-agent name=%q version=\"1.0\">\n<version>1.0</version>\n", name)
	fmt.Fprintf(&b, "<longdesc lang=\"en\">\n%s\n</longdesc>\n<shortdesc lang=\"en\">%s</shortdesc>\n", esc(m.long), esc(m.short))
	b.WriteString("<parameters>\n")
	for _, p := range m.params {
		fmt.Fprintf(&b, "<parameter name=%q unique=%q required=%q>\n", p.name, b01(p.unique), b01(p.required))
		fmt.Fprintf(&b, "<longdesc lang=\"en\">\n%s\n</longdesc>\n<shortdesc lang=\"en\">%s</shortdesc>\n", esc(p.long), esc(p.short))
		fmt.Fprintf(&b, "<content type=%q default=\"%s\"/>\n</parameter>\n", p.typ, esc(p.def))
	}
	b.WriteString("</parameters>\n<actions>\n")
	acts := m.actions
	if acts == nil {
		acts = standardActions
	}
	for _, a := range acts {
		fmt.Fprintf(&b, "<action name=%q timeout=%q", a.name, a.timeout)
		if a.interval != "" {
			fmt.Fprintf(&b, " interval=%q", a.interval)
		}
		if a.depth != "" {
			fmt.Fprintf(&b, " depth=%q", a.depth)
		}
		b.WriteString(" />\n")
	}
	b.WriteString("</actions>\n</resource-agent>\n")
	return b.String(), true
}
