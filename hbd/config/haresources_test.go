package config

import (
	"reflect"
	"testing"
)

func TestParseResource(t *testing.T) {
	for _, c := range []struct {
		tok  string
		name string
		args []string
	}{
		{"192.168.56.200/32/eth1/192.168.56.200", "IPaddr", []string{"192.168.56.200/32/eth1/192.168.56.200"}},
		{"10.0.0.1", "IPaddr", []string{"10.0.0.1"}},
		{"IPaddr2::10.0.0.1/24/eth0", "IPaddr2", []string{"10.0.0.1/24/eth0"}},
		{"Filesystem::/dev/sda1::/data1::ext2", "Filesystem", []string{"/dev/sda1", "/data1", "ext2"}},
		{"ldirectord::ldirectord.cf", "ldirectord", []string{"ldirectord.cf"}},
		{"ldirectord", "ldirectord", nil},
		{"httpd", "httpd", nil},
		{"a::::b::", "a", []string{"b"}},
		{"1.2.3", "1.2.3", nil}, // only two dots after the first digit: not an IP
		{"OCF::IPaddr2::vip", "OCF", []string{"IPaddr2", "vip"}},
	} {
		r := ParseResource(c.tok)
		if r.Name != c.name || !reflect.DeepEqual(r.Args, c.args) || r.Token != c.tok {
			t.Errorf("ParseResource(%q) = %+v", c.tok, r)
		}
	}
}

func TestHaresourcesValid(t *testing.T) {
	text := "# comment\n\n" +
		"Director1 192.168.56.200/32/eth1/192.168.56.200 ldirectord # trailing comment\n" +
		"director2\t10.0.0.5  \\\n  httpd \\\n Filesystem::/dev/sdb1::/srv::ext4\r\n" +
		"   # indented comment\n" +
		"director2 joined\\\nword\n"
	gs, err := ParseHaresourcesBytes("haresources", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Group{
		{Node: "director1", Key: "192.168.56.200/32/eth1/192.168.56.200", Line: 3, Resources: []Resource{
			{Name: "IPaddr", Args: []string{"192.168.56.200/32/eth1/192.168.56.200"}, Token: "192.168.56.200/32/eth1/192.168.56.200"},
			{Name: "ldirectord", Token: "ldirectord"}}},
		{Node: "director2", Key: "10.0.0.5", Line: 4, Resources: []Resource{
			{Name: "IPaddr", Args: []string{"10.0.0.5"}, Token: "10.0.0.5"},
			{Name: "httpd", Token: "httpd"},
			{Name: "Filesystem", Args: []string{"/dev/sdb1", "/srv", "ext4"}, Token: "Filesystem::/dev/sdb1::/srv::ext4"}}},
		{Node: "director2", Key: "joinedword", Line: 8, Resources: []Resource{{Name: "joinedword", Token: "joinedword"}}},
	}
	if !reflect.DeepEqual(gs, want) {
		t.Errorf("got  %+v\nwant %+v", gs, want)
	}
}

func TestHaresourcesErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"node1\n", "haresources:1: node node1 has no resources"},
		{"node1 # only a comment\n", "haresources:1: node node1 has no resources"},
		{"n1 10.0.0.1 httpd\nn2 10.0.0.1 mysql\n", `haresources:2: group key "10.0.0.1" (the first resource) is already used on line 1`},
		{"n1 httpd \\ \nn2 x\n", `haresources:1: stray '\': a continuation backslash must be the last character`},
		{"n1 ::arg\n", `haresources:1: resource "::arg" has no script name`},
		{"n1 300.1.1.1/24\n", `haresources:1: resource "300.1.1.1/24": IPaddr address "300.1.1.1/24": ip "300.1.1.1" is not an IPv4 address`},
		{"n1 10.0.0.1/33\n", `haresources:1: resource "10.0.0.1/33": IPaddr address "10.0.0.1/33": netmask "33" out of range 1-32`},
		{"n1 IPaddr\n", `haresources:1: resource "IPaddr": IPaddr takes one address argument`},
		{"n1 IPaddr2::nothing\n", `haresources:1: resource "IPaddr2::nothing": IPaddr2 address "nothing": ip "nothing" is not an IPv4 address`},
		{"n1 IPaddr2::10.0.0.1//eth0\n", `the field after the address is always the netmask`},
		{"n1 IPaddr2::2001:db8::10/64/eth0\n", `IPaddr2 takes one address argument ip[/netmask[/nic[:label]][/broadcast]], got 2`},
	} {
		_, err := ParseHaresourcesBytes("haresources", []byte(c.text))
		wantErrs(t, err, c.want)
	}
	_, err := ParseHaresourcesBytes("haresources", []byte("n1\nn2 10.0.0.1/40\nn3 a\nn4 a\n"))
	wantErrs(t, err, "haresources:1:", "haresources:2:", "haresources:4:")
	if n := len(err.(Errors)); n != 3 {
		t.Errorf("want 3 errors, got %v", err)
	}
	_, err = ParseHaresources("/nonexistent/haresources")
	wantErrs(t, err, "/nonexistent/haresources: cannot read resources file")
}

func TestHaresourcesWarnings(t *testing.T) {
	r := newReport("haresources")
	gs := parseHaresources(r, []byte("n1 10.0.0.1/255.255.255.0/eth0 httpd\nn2 mysql httpd\n"))
	if len(gs) != 2 || r.err() != nil {
		t.Fatalf("%v %v", gs, r.err())
	}
	if !hasWarning(r.Warnings, "haresources:1: resource \"10.0.0.1/255.255.255.0/eth0\": please convert dotted quad netmask 255.255.255.0 to CIDR notation /24") {
		t.Errorf("warnings %v", r.Warnings)
	}
	r = newReport("haresources")
	parseHaresources(r, []byte("n1 httpd\nn2 mysql httpd\n"))
	if !hasWarning(r.Warnings, `haresources:2: resource "httpd" is also the key of the group on line 1`) {
		t.Errorf("warnings %v", r.Warnings)
	}
}

// TestHaresourcesIPaddr: -t takes the IPaddr/IPaddr2 forms the real
// wrappers and agents take (package ipspec has the full table, compared
// with the scripts), and reports what they would do differently.
func TestHaresourcesIPaddr(t *testing.T) {
	for _, c := range []struct {
		line string
		warn string // "" = no warning
	}{
		{"n1 10.0.30.15//8/eth0:10", `haresources:1: resource "10.0.30.15//8/eth0:10": IPaddr ignores the label in eth0:10`},
		{"n1 IPaddr2::10.0.30.15//8/eth0:10", ""},
		{"n1 IPaddr2::10.0.30.15/8/eth0:10/10.255.255.255", ""},
		{"n1 192.168.56.200/32/eth1/192.168.56.200", ""},
		{"n1 IPaddr2::10.0.0.1/24/10.0.0.255/eth0", `"eth0" after the broadcast address is ignored`},
		{"n1 IPaddr2::10.0.0.1/24/eth0/+", ""},
	} {
		r := newReport("haresources")
		gs := parseHaresources(r, []byte(c.line+"\n"))
		if err := r.err(); err != nil || len(gs) != 1 {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		if c.warn == "" && len(r.Warnings) > 0 || c.warn != "" && !hasWarning(r.Warnings, c.warn) {
			t.Errorf("%q: warnings %q, want %q", c.line, r.Warnings, c.warn)
		}
	}
}
