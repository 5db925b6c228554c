// Package ipspec reads the address of an IPaddr or IPaddr2 resource as
// Heartbeat's resource.d wrappers and resource-agents 4.12 do. It splits the
// haresources argument ip/netmask/nic/broadcast into the agents' parameters
// and checks them with each agent's own rules, so that hbd -t and the running
// agent accept the same addresses the real scripts accept.
package ipspec

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// The agents this package knows.
const (
	IPaddr  = "IPaddr"
	IPaddr2 = "IPaddr2"
)

// Split splits a haresources argument the way the IPaddr and IPaddr2
// wrappers' sed lines do. The address runs to the first slash; after it
// a run of slashes is one separator, so there are no empty fields
// (10.0.0.1//8 is 10.0.0.1/8, and in 10.0.0.1//eth0 "eth0" is the
// netmask). After the netmask a field starting with a digit is the
// broadcast address, anything else the interface, which may be followed by
// the broadcast address. params holds what the wrapper exports (broadcast
// is exported, possibly empty, whenever an interface is); ignored is the
// text after the last field the wrapper reads, which it drops silently.
func Split(arg string) (params map[string]string, ignored string) {
	params = map[string]string{}
	ip, rest, _ := strings.Cut(arg, "/")
	params["ip"] = ip
	rest = strings.TrimLeft(rest, "/")
	if rest == "" {
		return params, ""
	}
	netmask, rest, _ := strings.Cut(rest, "/")
	params["cidr_netmask"] = netmask
	rest = strings.TrimLeft(rest, "/")
	nic, rest, _ := strings.Cut(rest, "/")
	rest = strings.TrimLeft(rest, "/")
	switch {
	case nic == "":
	case nic[0] >= '0' && nic[0] <= '9':
		params["broadcast"] = nic
		ignored = rest
	default:
		params["nic"] = nic
		brd, after, _ := strings.Cut(rest, "/")
		params["broadcast"] = brd
		ignored = strings.TrimLeft(after, "/")
	}
	return params, ignored
}

// WrapperParams returns the parameters Heartbeat's resource.d/IPaddr or
// IPaddr2 wrapper passes to the agent for arg: Split's, plus lvs_support,
// which the IPaddr wrapper sets to 0 and the IPaddr2 wrapper to 1.
func WrapperParams(kind, arg string) (params map[string]string, ignored string) {
	params, ignored = Split(arg)
	params["lvs_support"] = "0"
	if kind == IPaddr2 {
		params["lvs_support"] = "1"
	}
	return params, ignored
}

// Spec is an address resource's parameters after its agent's checks.
type Spec struct {
	IP         netip.Addr
	NIC        string // base interface; "" = found from the routing table
	Label      string // IPaddr2 only (IPv4): the part after NIC: ; IPaddr picks its alias itself
	CIDR       int    // prefix length; -1 = from the routing table
	Broadcast  string // IPv4 only: "" (derived), "+" or "-" (IPaddr2), or an IPv4 address
	LVSSupport bool
	// Warnings are what the real agent would do differently from what the
	// administrator probably meant (a dropped label, a converted netmask).
	Warnings []string
}

// MaxLabel is the longest interface label the kernel takes (IFNAMSIZ-1),
// which IPaddr2 enforces on NIC:LABEL.
const MaxLabel = 15

// Parse reads a haresources argument for kind exactly as the wrapper and
// agent do: WrapperParams, then Check, with a warning for ignored text.
func Parse(kind, arg string) (Spec, error) {
	p, ignored := WrapperParams(kind, arg)
	s, err := Check(kind, p)
	if err != nil {
		if m := p["cidr_netmask"]; m != "" && (m[0] < '0' || m[0] > '9') {
			err = fmt.Errorf("%w; the field after the address is always the netmask (Heartbeat's wrapper reads a run of slashes as one separator, so ip//nic does not leave it out)", err)
		}
		return s, fmt.Errorf("%s address %q: %w", kind, arg, err)
	}
	if ignored != "" {
		w := fmt.Sprintf("%q after the broadcast address is ignored, as Heartbeat's %s wrapper ignores it (the form is ip/netmask/nic/broadcast)", ignored, kind)
		if p["nic"] == "" {
			w += "; a field starting with a digit after the netmask is the broadcast address, so no interface is read after it"
		}
		s.Warnings = append(s.Warnings, w)
	}
	return s, nil
}

// Check applies kind's rules to OCF parameters (ip, nic, cidr_netmask or
// its alias netmask, broadcast, iflabel, lvs_support). It refuses what the
// agent refuses with OCF_ERR_CONFIGURED before touching the system; that
// the interface exists is left to the agent at run time. Two deliberate
// differences, both refusals of what would not be the intended address:
// IPv4 fields with leading zeros (iproute2 reads 010 as octal 8) and, for
// IPaddr, non-contiguous dotted netmasks (its findif reads 255.0.255.0
// as /24).
func Check(kind string, p map[string]string) (Spec, error) {
	s := Spec{CIDR: -1}
	if kind != IPaddr && kind != IPaddr2 {
		return s, fmt.Errorf("unknown IP agent %q", kind)
	}
	ipStr := p["ip"]
	if ipStr == "" {
		return s, fmt.Errorf("parameter ip is required")
	}
	var err error
	if s.IP, err = parseIP(kind, ipStr); err != nil {
		return s, err
	}
	v6 := s.IP.Is6()

	s.LVSSupport = lvsSupport(kind, p["lvs_support"])
	if s.LVSSupport && v6 {
		return s, fmt.Errorf("lvs_support is IPv4 only: IPaddr2 refuses it for %s (Heartbeat's IPaddr2 wrapper always sets it, so an IPv6 address cannot be an IPaddr2:: resource)", s.IP)
	}

	mask := p["cidr_netmask"]
	if mask == "" {
		mask = p["netmask"] // the old name, still honoured by both agents
	}
	if mask != "" {
		var warn string
		if kind == IPaddr2 {
			s.CIDR, warn, err = netmaskIPaddr2(mask, s.IP.BitLen())
		} else {
			s.CIDR, warn, err = netmaskIPaddr(mask)
		}
		if err != nil {
			return s, err
		}
		if warn != "" {
			s.Warnings = append(s.Warnings, warn)
		}
	}

	nic, label := p["nic"], p["iflabel"]
	if n, l, ok := strings.Cut(nic, ":"); ok {
		nic = n
		switch kind {
		case IPaddr2:
			label = l // the nic:label form wins over iflabel, even when empty
		case IPaddr:
			if l != "" {
				s.Warnings = append(s.Warnings, fmt.Sprintf("IPaddr ignores the label in %s:%s and takes the first free alias %s:N, as resource-agents' IPaddr does (IPaddr2 keeps the label)", n, l, n))
			}
			label = ""
		}
	}
	if kind == IPaddr && label != "" {
		s.Warnings = append(s.Warnings, fmt.Sprintf("IPaddr ignores iflabel %q and takes the first free alias, as resource-agents' IPaddr does", label))
		label = ""
	}
	s.NIC = nic
	if label != "" && nic != "" && len(nic)+1+len(label) > MaxLabel {
		return s, fmt.Errorf("interface label %s:%s is longer than %d characters", nic, label, MaxLabel)
	}
	if label != "" && v6 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("label %q ignored: labels apply to IPv4 addresses only", label))
		label = ""
	}
	s.Label = label

	brd := p["broadcast"]
	switch {
	case brd == "":
	case v6:
		// ip takes only an IPv6 address after brd for inet6 and ignores it.
		if b, err := netip.ParseAddr(brd); err != nil || !b.Is6() || strings.Contains(brd, ".") {
			return s, fmt.Errorf("broadcast %q: IPv6 has no broadcast address", brd)
		}
		s.Warnings = append(s.Warnings, fmt.Sprintf("broadcast %s ignored: IPv6 has no broadcast address", brd))
	case kind == IPaddr2 && (brd == "+" || brd == "-"):
		s.Broadcast = brd
	default:
		b, err := netip.ParseAddr(brd)
		if err != nil || !b.Is4() || kind == IPaddr2 && b.As4()[0] == 0 {
			want := "an IPv4 address"
			if kind == IPaddr2 {
				want += ", + or -"
			}
			return s, fmt.Errorf("broadcast %q is not %s", brd, want)
		}
		s.Broadcast = brd
	}
	return s, nil
}

// parseIP applies the agent's address check: IPaddr takes IPv4 only
// (inet_pton); IPaddr2 decides the family by a colon, takes IPv6 in hex
// and colons only and IPv4 outside 0.0.0.0/8.
func parseIP(kind, s string) (netip.Addr, error) {
	if kind == IPaddr2 && strings.Contains(s, ":") {
		if strings.Trim(s, "0123456789abcdefABCDEF:") != "" {
			return netip.Addr{}, fmt.Errorf("ip %q is not valid: IPaddr2 takes IPv6 addresses as hexadecimal digits and colons only", s)
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("ip %q is not an IPv6 address", s)
		}
		return ip, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is4() {
		if kind == IPaddr && strings.Contains(s, ":") {
			return netip.Addr{}, fmt.Errorf("ip %q: IPaddr manages IPv4 addresses only", s)
		}
		if err != nil && strings.Contains(err.Error(), "leading zero") {
			return netip.Addr{}, fmt.Errorf("ip %q has a field with a leading zero, which ip(8) would read as octal", s)
		}
		return netip.Addr{}, fmt.Errorf("ip %q is not an IPv4 address", s)
	}
	if kind == IPaddr2 && ip.As4()[0] == 0 {
		return netip.Addr{}, fmt.Errorf("ip %q is not valid: IPaddr2 refuses 0.0.0.0/8", s)
	}
	return ip, nil
}

// lvsSupport reads lvs_support as each agent does: IPaddr normalises
// true|on|yes|1, IPaddr2 uses ocf_is_true.
func lvsSupport(kind, v string) bool {
	if kind == IPaddr {
		return v == "true" || v == "on" || v == "yes" || v == "1"
	}
	return IsTrue(v)
}

// IsTrue is resource-agents' ocf_is_true.
func IsTrue(v string) bool {
	switch strings.ToLower(v) {
	case "t", "y", "yes", "on", "true", "1":
		return true
	}
	return false
}

// netmaskIPaddr2 is findif.sh: a dotted quad (either family) becomes a
// prefix length with a warning, then the value must be one to three digits
// in 1..max.
func netmaskIPaddr2(m string, max int) (int, string, error) {
	warn := ""
	if n, ok := dottedQuad(m); ok {
		if n < 0 {
			return 0, "", fmt.Errorf("netmask %q is not contiguous", m)
		}
		warn = fmt.Sprintf("please convert dotted quad netmask %s to CIDR notation /%d", m, n)
		m = strconv.Itoa(n)
	}
	if len(m) > 3 || strings.Trim(m, "0123456789") != "" {
		return 0, "", fmt.Errorf("netmask %q is not a prefix length (1-%d) or a dotted quad", m, max)
	}
	n, _ := strconv.Atoi(m)
	if n < 1 || n > max {
		return 0, "", fmt.Errorf("netmask %q out of range 1-%d", m, max)
	}
	return n, warn, nil
}

// netmaskIPaddr is IPaddr's findif binary: with a dot, an IPv4 dotted quad
// (contiguous, see Check); otherwise one or two digits in 1..32.
func netmaskIPaddr(m string) (int, string, error) {
	if strings.Contains(m, ".") {
		a, err := netip.ParseAddr(m)
		if err != nil || !a.Is4() {
			return 0, "", fmt.Errorf("netmask %q is not a dotted quad", m)
		}
		b := a.As4()
		n, ok := maskLen(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
		if !ok || n == 0 {
			return 0, "", fmt.Errorf("netmask %q is not contiguous", m)
		}
		return n, fmt.Sprintf("please convert dotted quad netmask %s to CIDR notation /%d", m, n), nil
	}
	if len(m) > 2 || strings.Trim(m, "0123456789") != "" {
		return 0, "", fmt.Errorf("netmask %q is not a prefix length (1-32) or a dotted quad", m)
	}
	n, _ := strconv.Atoi(m)
	if n < 1 || n > 32 {
		return 0, "", fmt.Errorf("netmask %q out of range 1-32", m)
	}
	return n, "", nil
}

// dottedQuad recognises what findif.sh's maybe_convert_dotted_quad_to_cidr
// converts: four dot-separated numbers of at most three digits, each at
// most 255. ok reports the form; n is the prefix length, or -1 when the
// mask is not contiguous.
func dottedQuad(m string) (n int, ok bool) {
	f := strings.Split(m, ".")
	if len(f) != 4 {
		return 0, false
	}
	var v uint32
	for _, x := range f {
		if x == "" || len(x) > 3 || strings.Trim(x, "0123456789") != "" {
			return 0, false
		}
		b, _ := strconv.Atoi(x)
		if b > 255 {
			return 0, false
		}
		v = v<<8 | uint32(b)
	}
	if n, ok := maskLen(v); ok {
		return n, true
	}
	return -1, true
}

// maskLen returns the prefix length of a contiguous IPv4 mask.
func maskLen(v uint32) (int, bool) {
	n := bits.LeadingZeros32(^v)
	return n, v<<n == 0
}
