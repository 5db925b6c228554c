package config

import (
	"fmt"
	"math/bits"
	"net"
	"strconv"
	"strings"
)

// IPSpec is the argument of IPaddr/IPaddr2 in haresources:
// ip[/cidr[/nic[:label]][/broadcast]].
type IPSpec struct {
	IP        net.IP
	CIDR      int // -1 when not given
	NIC       string
	Label     string
	Broadcast net.IP
	// Warning is set when the spec was accepted with a caveat (a dotted-quad
	// netmask converted to a prefix length, as IPaddr2's findif does).
	Warning string
}

// ParseIPSpec parses ip[/cidr[/nic[:label]][/broadcast]]. After the netmask
// a field starting with a digit is the broadcast address, otherwise it is
// the interface (optionally nic:label), which may be followed by
// /broadcast. The netmask may be a prefix length or a dotted quad.
func ParseIPSpec(arg string) (IPSpec, error) {
	spec := IPSpec{CIDR: -1}
	f := strings.Split(arg, "/")
	if len(f) > 4 {
		return spec, fmt.Errorf("IP spec %q has too many fields (ip[/cidr[/nic[:label]][/broadcast]])", arg)
	}
	spec.IP = net.ParseIP(f[0])
	if spec.IP == nil {
		return spec, fmt.Errorf("IP spec %q: %q is not an IP address", arg, f[0])
	}
	v4 := spec.IP.To4() != nil
	if v4 {
		spec.IP = spec.IP.To4()
	}
	if len(f) > 1 && f[1] != "" {
		n, warn, err := parseNetmask(f[1], v4)
		if err != nil {
			return spec, fmt.Errorf("IP spec %q: %w", arg, err)
		}
		spec.CIDR, spec.Warning = n, warn
	}
	rest := f[min(2, len(f)):]
	if len(rest) > 0 && rest[0] != "" && rest[0][0] >= '0' && rest[0][0] <= '9' {
		if len(rest) > 1 {
			return spec, fmt.Errorf("IP spec %q: %q after the broadcast address", arg, rest[1])
		}
		rest = []string{"", rest[0]} // no interface, only a broadcast
	}
	if len(rest) > 0 && rest[0] != "" {
		spec.NIC, spec.Label, _ = strings.Cut(rest[0], ":")
		if spec.NIC == "" {
			return spec, fmt.Errorf("IP spec %q: empty interface name", arg)
		}
	}
	if len(rest) > 1 && rest[1] != "" {
		if !v4 {
			return spec, fmt.Errorf("IP spec %q: IPv6 has no broadcast address", arg)
		}
		b := net.ParseIP(rest[1])
		if b == nil || b.To4() == nil {
			return spec, fmt.Errorf("IP spec %q: %q is not an IPv4 broadcast address", arg, rest[1])
		}
		spec.Broadcast = b.To4()
	}
	return spec, nil
}

// parseNetmask accepts a prefix length, or for IPv4 a contiguous dotted quad.
func parseNetmask(s string, v4 bool) (int, string, error) {
	max := 128
	if v4 {
		max = 32
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > max {
			return 0, "", fmt.Errorf("netmask bits %d out of range 0..%d", n, max)
		}
		return n, "", nil
	}
	m := net.ParseIP(s)
	if !v4 || m == nil || m.To4() == nil {
		return 0, "", fmt.Errorf("invalid netmask %q", s)
	}
	v := uint32(m.To4()[0])<<24 | uint32(m.To4()[1])<<16 | uint32(m.To4()[2])<<8 | uint32(m.To4()[3])
	n := bits.LeadingZeros32(^v)
	if v<<n != 0 {
		return 0, "", fmt.Errorf("netmask %q is not contiguous", s)
	}
	return n, fmt.Sprintf("please convert dotted quad netmask %s to CIDR notation /%d", s, n), nil
}
