package ipspec

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		arg     string
		want    map[string]string
		ignored string
	}{
		{"10.0.0.1", map[string]string{"ip": "10.0.0.1"}, ""},
		{"10.0.0.1/", map[string]string{"ip": "10.0.0.1"}, ""},
		{"10.0.0.1///", map[string]string{"ip": "10.0.0.1"}, ""},
		{"10.0.0.1/24", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24"}, ""},
		{"10.0.0.1/24/", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24"}, ""},
		// The issue: a run of slashes is one separator.
		{"10.0.30.15//8/eth0:10", map[string]string{"ip": "10.0.30.15", "cidr_netmask": "8", "nic": "eth0:10", "broadcast": ""}, ""},
		{"10.0.30.15///8///eth0:10///10.255.255.255", map[string]string{"ip": "10.0.30.15", "cidr_netmask": "8", "nic": "eth0:10", "broadcast": "10.255.255.255"}, ""},
		// ... so the field after the address is always the netmask.
		{"10.0.0.1//eth0", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "eth0"}, ""},
		{"10.0.0.1/24/eth0", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24", "nic": "eth0", "broadcast": ""}, ""},
		{"10.0.0.1/24/eth0/", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24", "nic": "eth0", "broadcast": ""}, ""},
		{"10.0.0.1/24/eth0/10.0.0.255", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24", "nic": "eth0", "broadcast": "10.0.0.255"}, ""},
		{"10.0.0.1/24/eth0/10.0.0.255/junk/more", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24", "nic": "eth0", "broadcast": "10.0.0.255"}, "junk/more"},
		{"10.0.0.1/24/eth0/10.0.0.255//junk", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24", "nic": "eth0", "broadcast": "10.0.0.255"}, "junk"},
		// A field starting with a digit after the netmask is the broadcast address.
		{"10.0.0.1/24/10.0.0.255", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24", "broadcast": "10.0.0.255"}, ""},
		{"10.0.0.1/24/10.0.0.255/eth0", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24", "broadcast": "10.0.0.255"}, "eth0"},
		{"10.0.0.1/24/:web", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24", "nic": ":web", "broadcast": ""}, ""},
		{"/24/eth0", map[string]string{"ip": "", "cidr_netmask": "24", "nic": "eth0", "broadcast": ""}, ""},
		{"2001:db8:0:0:0:0:0:10/64/eth0", map[string]string{"ip": "2001:db8:0:0:0:0:0:10", "cidr_netmask": "64", "nic": "eth0", "broadcast": ""}, ""},
	} {
		got, ignored := Split(c.arg)
		if !maps.Equal(got, c.want) || ignored != c.ignored {
			t.Errorf("Split(%q) = %v, ignored %q; want %v, %q", c.arg, got, ignored, c.want, c.ignored)
		}
	}
}

// How a case compares with the real wrapper and agent.
const (
	same     = ""         // the real agent accepts or refuses it too
	stricter = "stricter" // the real agent takes it, but not as the administrator meant: refused here
)

// parseCase is one haresources argument and what each agent makes of it:
// want is the spec ("" fields as in Spec; CIDR -1 = not given) or, when
// errs is set, a part of the error.
type parseCase struct {
	kind, arg string
	want      Spec
	warn      string // part of a warning, "" = none
	errs      string
	diff      string
}

func spec(ip, nic, label string, cidr int, brd string) Spec {
	return Spec{IP: netip.MustParseAddr(ip), NIC: nic, Label: label, CIDR: cidr, Broadcast: brd}
}

var parseCases = []parseCase{
	// The line: IPaddr2 keeps the label, IPaddr takes the first free alias.
	{kind: IPaddr2, arg: "10.0.30.15//8/eth0:10", want: spec("10.0.30.15", "eth0", "10", 8, "")},
	{kind: IPaddr, arg: "10.0.30.15//8/eth0:10", want: spec("10.0.30.15", "eth0", "", 8, ""), warn: "ignores the label in eth0:10"},
	{kind: IPaddr2, arg: "10.0.30.15///8///eth0:10///10.255.255.255", want: spec("10.0.30.15", "eth0", "10", 8, "10.255.255.255")},
	{kind: IPaddr2, arg: "10.0.0.1", want: spec("10.0.0.1", "", "", -1, "")},
	{kind: IPaddr, arg: "10.0.0.1", want: spec("10.0.0.1", "", "", -1, "")},
	{kind: IPaddr2, arg: "10.0.0.1/", want: spec("10.0.0.1", "", "", -1, "")},
	{kind: IPaddr2, arg: "10.0.0.1/24/", want: spec("10.0.0.1", "", "", 24, "")},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0", want: spec("10.0.0.1", "eth0", "", 24, "")},
	{kind: IPaddr, arg: "10.0.0.1/24/eth0/10.0.0.255", want: spec("10.0.0.1", "eth0", "", 24, "10.0.0.255")},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0//10.0.0.255", want: spec("10.0.0.1", "eth0", "", 24, "10.0.0.255")},
	{kind: IPaddr2, arg: "10.0.0.1/24/10.0.0.255", want: spec("10.0.0.1", "", "", 24, "10.0.0.255")},
	{kind: IPaddr2, arg: "10.0.0.1/24/10.0.0.255/eth0", want: spec("10.0.0.1", "", "", 24, "10.0.0.255"), warn: "no interface is read after it"},
	{kind: IPaddr, arg: "10.0.0.1/24/eth0/10.0.0.255/junk", want: spec("10.0.0.1", "eth0", "", 24, "10.0.0.255"), warn: `"junk" after the broadcast address is ignored`},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0:web", want: spec("10.0.0.1", "eth0", "web", 24, "")},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0:", want: spec("10.0.0.1", "eth0", "", 24, "")},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0.100:v", want: spec("10.0.0.1", "eth0.100", "v", 24, "")},
	// No interface before the label: it is found from the routing table and the label goes on it.
	{kind: IPaddr2, arg: "10.0.0.1/24/:web", want: spec("10.0.0.1", "", "web", 24, "")},
	{kind: IPaddr, arg: "10.0.0.1/24/:web", want: spec("10.0.0.1", "", "", 24, ""), warn: "ignores the label"},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0:0123456789ab", errs: "longer than 15"},
	{kind: IPaddr, arg: "10.0.0.1/24/eth0:0123456789ab", want: spec("10.0.0.1", "eth0", "", 24, ""), warn: "ignores the label"},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0:0123456789", want: spec("10.0.0.1", "eth0", "0123456789", 24, "")},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0:a:b", want: spec("10.0.0.1", "eth0", "a:b", 24, "")},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0/+/x", want: spec("10.0.0.1", "eth0", "", 24, "+"), warn: `"x" after the broadcast address`},

	// The field after the address is the netmask.
	{kind: IPaddr2, arg: "10.0.0.1//eth0", errs: `netmask "eth0" is not a prefix length`},
	{kind: IPaddr, arg: "10.0.0.1//eth0", errs: "the field after the address is always the netmask"},
	{kind: IPaddr2, arg: "10.0.0.1/255.255.255.0/eth0", want: spec("10.0.0.1", "eth0", "", 24, ""), warn: "convert dotted quad netmask 255.255.255.0 to CIDR notation /24"},
	{kind: IPaddr, arg: "10.0.0.1/255.255.255.0/eth0", want: spec("10.0.0.1", "eth0", "", 24, ""), warn: "/24"},
	{kind: IPaddr, arg: "10.0.0.1/255.255.255.255", want: spec("10.0.0.1", "", "", 32, ""), warn: "/32"},
	{kind: IPaddr, arg: "10.0.0.1/255.255.255.254", want: spec("10.0.0.1", "", "", 31, ""), warn: "/31"},
	{kind: IPaddr2, arg: "10.0.0.1/255.255.255.254", want: spec("10.0.0.1", "", "", 31, ""), warn: "/31"},
	{kind: IPaddr2, arg: "10.0.0.1/255.0.255.0/eth0", errs: "not contiguous"},
	{kind: IPaddr, arg: "10.0.0.1/255.0.255.0/eth0", errs: "not contiguous", diff: stricter}, // findif: /24
	{kind: IPaddr2, arg: "10.0.0.1/0.0.0.0", errs: "out of range"},
	{kind: IPaddr, arg: "10.0.0.1/0.0.0.0", errs: "not contiguous"},
	{kind: IPaddr2, arg: "10.0.0.1/0", errs: "out of range"},
	{kind: IPaddr, arg: "10.0.0.1/0", errs: "out of range"},
	{kind: IPaddr2, arg: "10.0.0.1/32", want: spec("10.0.0.1", "", "", 32, "")},
	{kind: IPaddr2, arg: "10.0.0.1/33", errs: "out of range"},
	{kind: IPaddr, arg: "10.0.0.1/33", errs: "out of range"},
	{kind: IPaddr2, arg: "10.0.0.1/08", want: spec("10.0.0.1", "", "", 8, "")},
	{kind: IPaddr, arg: "10.0.0.1/08", want: spec("10.0.0.1", "", "", 8, "")},
	{kind: IPaddr2, arg: "10.0.0.1/008", want: spec("10.0.0.1", "", "", 8, "")},
	{kind: IPaddr, arg: "10.0.0.1/008", errs: "not a prefix length"},
	{kind: IPaddr2, arg: "10.0.0.1/+8", errs: "not a prefix length"},
	{kind: IPaddr2, arg: "10.0.0.1/1.2.3", errs: "not a prefix length"},

	// Broadcast.
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0/+", want: spec("10.0.0.1", "eth0", "", 24, "+")},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0/-", want: spec("10.0.0.1", "eth0", "", 24, "-")},
	{kind: IPaddr, arg: "10.0.0.1/24/eth0/+", errs: `broadcast "+" is not an IPv4 address`},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0/bad", errs: `broadcast "bad"`},
	{kind: IPaddr, arg: "10.0.0.1/24/eth0/bad", errs: `broadcast "bad"`},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0/0.0.0.0", errs: `broadcast "0.0.0.0"`},
	{kind: IPaddr, arg: "10.0.0.1/24/eth0/0.0.0.0", want: spec("10.0.0.1", "eth0", "", 24, "0.0.0.0")},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0/255.255.255.255", want: spec("10.0.0.1", "eth0", "", 24, "255.255.255.255")},
	{kind: IPaddr2, arg: "10.0.0.1/24/eth0/10.0.0.256", errs: "broadcast"},

	// Addresses.
	{kind: IPaddr2, arg: "", errs: "ip is required"},
	{kind: IPaddr2, arg: "/24/eth0", errs: "ip is required"},
	{kind: IPaddr2, arg: "host", errs: "not an IPv4 address"},
	{kind: IPaddr, arg: "10.0.0.256", errs: "not an IPv4 address"},
	{kind: IPaddr2, arg: "0.1.2.3/8/eth0", errs: "refuses 0.0.0.0/8"},
	{kind: IPaddr, arg: "0.1.2.3/8/eth0", want: spec("0.1.2.3", "eth0", "", 8, "")},
	{kind: IPaddr2, arg: "10.01.0.1/24/eth0", errs: "leading zero", diff: stricter}, // ip(8) reads 010 as octal
	{kind: IPaddr, arg: "10.01.0.1/24/eth0", errs: "leading zero"},
	{kind: IPaddr, arg: "2001:db8:0:0:0:0:0:10/64/eth0", errs: "IPv4 addresses only"},
	// The IPaddr2 wrapper sets lvs_support, which IPaddr2 refuses for IPv6.
	{kind: IPaddr2, arg: "2001:db8:0:0:0:0:0:10/64/eth0", errs: "lvs_support is IPv4 only"},
}

func TestParse(t *testing.T) {
	for _, c := range parseCases {
		got, err := Parse(c.kind, c.arg)
		want := c.want
		want.LVSSupport = c.kind == IPaddr2
		checkSpec(t, fmt.Sprintf("Parse(%s, %q)", c.kind, c.arg), got, err, want, c.warn, c.errs)
	}
}

// checkSpec compares a result with the expected spec and warning, or
// with the expected error when errs is set.
func checkSpec(t *testing.T, call string, got Spec, err error, want Spec, warn, errs string) {
	t.Helper()
	if errs != "" {
		if err == nil || !strings.Contains(err.Error(), errs) {
			t.Errorf("%s = %+v, %v; want an error with %q", call, got, err, errs)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", call, err)
		return
	}
	w := strings.Join(got.Warnings, "\n")
	if warn == "" && w != "" || !strings.Contains(w, warn) {
		t.Errorf("%s warnings %q, want %q", call, w, warn)
	}
	got.Warnings = nil
	if !equalSpec(got, want) {
		t.Errorf("%s = %+v, want %+v", call, got, want)
	}
}

func equalSpec(a, b Spec) bool {
	return a.IP == b.IP && a.NIC == b.NIC && a.Label == b.Label && a.CIDR == b.CIDR &&
		a.Broadcast == b.Broadcast && a.LVSSupport == b.LVSSupport && slices.Equal(a.Warnings, b.Warnings)
}

// TestCheck covers what only the OCF parameters can say (the native
// agents are OCF agents too): iflabel, the netmask alias, IPv6 forms.
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		kind string
		p    map[string]string
		want Spec
		warn string
		errs string
	}{
		{kind: IPaddr2, p: map[string]string{"ip": "10.0.0.1", "nic": "eth0", "iflabel": "vip"}, want: spec("10.0.0.1", "eth0", "vip", -1, "")},
		// The nic:label form wins over iflabel, even with an empty label.
		{kind: IPaddr2, p: map[string]string{"ip": "10.0.0.1", "nic": "eth0:a", "iflabel": "vip"}, want: spec("10.0.0.1", "eth0", "a", -1, "")},
		{kind: IPaddr2, p: map[string]string{"ip": "10.0.0.1", "nic": "eth0:", "iflabel": "vip"}, want: spec("10.0.0.1", "eth0", "", -1, "")},
		{kind: IPaddr2, p: map[string]string{"ip": "10.0.0.1", "nic": "eth0", "iflabel": "0123456789a"}, errs: "longer than 15"},
		{kind: IPaddr, p: map[string]string{"ip": "10.0.0.1", "iflabel": "vip"}, want: spec("10.0.0.1", "", "", -1, ""), warn: "ignores iflabel"},
		{kind: IPaddr2, p: map[string]string{"ip": "10.0.0.1", "netmask": "16"}, want: spec("10.0.0.1", "", "", 16, "")},
		{kind: IPaddr2, p: map[string]string{"ip": "10.0.0.1", "netmask": "16", "cidr_netmask": "24"}, want: spec("10.0.0.1", "", "", 24, "")},
		{kind: IPaddr2, p: map[string]string{"ip": "fd00::5", "cidr_netmask": "64"}, want: spec("fd00::5", "", "", 64, "")},
		{kind: IPaddr2, p: map[string]string{"ip": "fd00::5", "cidr_netmask": "128"}, want: spec("fd00::5", "", "", 128, "")},
		{kind: IPaddr2, p: map[string]string{"ip": "fd00::5", "cidr_netmask": "129"}, errs: "out of range 1-128"},
		// findif.sh converts a dotted quad for IPv6 too.
		{kind: IPaddr2, p: map[string]string{"ip": "fd00::5", "cidr_netmask": "255.255.255.0"}, want: spec("fd00::5", "", "", 24, ""), warn: "/24"},
		{kind: IPaddr2, p: map[string]string{"ip": "fd00::5", "nic": "eth0:x"}, want: spec("fd00::5", "eth0", "", -1, ""), warn: "labels apply to IPv4 addresses only"},
		{kind: IPaddr2, p: map[string]string{"ip": "fd00::5", "broadcast": "fd00::ff"}, want: spec("fd00::5", "", "", -1, ""), warn: "IPv6 has no broadcast"},
		{kind: IPaddr2, p: map[string]string{"ip": "fd00::5", "broadcast": "+"}, errs: "IPv6 has no broadcast"},
		{kind: IPaddr2, p: map[string]string{"ip": "fd00::5", "lvs_support": "yes"}, errs: "lvs_support is IPv4 only"},
		{kind: IPaddr2, p: map[string]string{"ip": "::ffff:10.0.0.1"}, errs: "hexadecimal digits and colons only"},
		{kind: IPaddr2, p: map[string]string{"ip": "fe80::1%eth0"}, errs: "hexadecimal digits and colons only"},
		{kind: IPaddr2, p: map[string]string{"ip": "fd00::5::6"}, errs: "not an IPv6 address"},
		{kind: IPaddr2, p: map[string]string{"ip": "10.0.0.1", "lvs_support": "y"}, want: Spec{IP: netip.MustParseAddr("10.0.0.1"), CIDR: -1, LVSSupport: true}},
		{kind: IPaddr, p: map[string]string{"ip": "10.0.0.1", "lvs_support": "y"}, want: spec("10.0.0.1", "", "", -1, "")}, // IPaddr's own list
		{kind: "IPaddr3", p: map[string]string{"ip": "10.0.0.1"}, errs: "unknown IP agent"},
	} {
		got, err := Check(c.kind, c.p)
		checkSpec(t, fmt.Sprintf("Check(%s, %v)", c.kind, c.p), got, err, c.want, c.warn, c.errs)
	}
}
