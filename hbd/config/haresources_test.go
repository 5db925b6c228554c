package config

import (
	"net"
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
		{"n1 300.1.1.1/24\n", `haresources:1: resource "300.1.1.1/24": IP spec "300.1.1.1/24": "300.1.1.1" is not an IP address`},
		{"n1 10.0.0.1/33\n", `haresources:1: resource "10.0.0.1/33": IP spec "10.0.0.1/33": netmask bits 33 out of range 0..32`},
		{"n1 IPaddr\n", `haresources:1: resource "IPaddr": IPaddr needs an address argument`},
		{"n1 IPaddr2::nothing\n", `haresources:1: resource "IPaddr2::nothing": IP spec "nothing"`},
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

func TestParseIPSpec(t *testing.T) {
	ip := net.ParseIP
	for _, c := range []struct {
		in   string
		want IPSpec
		warn bool
	}{
		{"192.168.56.200", IPSpec{IP: ip("192.168.56.200"), CIDR: -1}, false},
		{"192.168.56.200/24", IPSpec{IP: ip("192.168.56.200"), CIDR: 24}, false},
		{"192.168.56.200/32/eth1/192.168.56.200", IPSpec{IP: ip("192.168.56.200"), CIDR: 32, NIC: "eth1", Broadcast: ip("192.168.56.200")}, false},
		{"10.0.0.1/24/eth0:web", IPSpec{IP: ip("10.0.0.1"), CIDR: 24, NIC: "eth0", Label: "web"}, false},
		{"10.0.0.1/24/eth0:0/10.0.0.255", IPSpec{IP: ip("10.0.0.1"), CIDR: 24, NIC: "eth0", Label: "0", Broadcast: ip("10.0.0.255")}, false},
		{"10.0.0.1/24/10.0.0.255", IPSpec{IP: ip("10.0.0.1"), CIDR: 24, Broadcast: ip("10.0.0.255")}, false},
		{"10.0.0.1//eth0", IPSpec{IP: ip("10.0.0.1"), CIDR: -1, NIC: "eth0"}, false},
		{"10.0.0.1/255.255.255.0/eth0", IPSpec{IP: ip("10.0.0.1"), CIDR: 24, NIC: "eth0"}, true},
		{"10.0.0.1/255.255.255.255", IPSpec{IP: ip("10.0.0.1"), CIDR: 32}, true},
		{"2001:db8::10/64/eth0", IPSpec{IP: ip("2001:db8::10"), CIDR: 64, NIC: "eth0"}, false},
		{"fe80::1", IPSpec{IP: ip("fe80::1"), CIDR: -1}, false},
	} {
		got, err := ParseIPSpec(c.in)
		if err != nil {
			t.Errorf("ParseIPSpec(%q): %v", c.in, err)
			continue
		}
		if (got.Warning != "") != c.warn {
			t.Errorf("ParseIPSpec(%q) warning %q", c.in, got.Warning)
		}
		got.Warning = ""
		if !got.IP.Equal(c.want.IP) || got.CIDR != c.want.CIDR || got.NIC != c.want.NIC || got.Label != c.want.Label ||
			!got.Broadcast.Equal(c.want.Broadcast) || (got.Broadcast == nil) != (c.want.Broadcast == nil) {
			t.Errorf("ParseIPSpec(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
	for _, in := range []string{"", "host", "10.0.0.1/33", "10.0.0.1/-1", "10.0.0.1/x", "10.0.0.1/255.0.255.0",
		"10.0.0.1/24/eth0/bad", "10.0.0.1/24/10.0.0.255/eth0", "10.0.0.1/24/eth0/10.0.0.255/x",
		"2001:db8::1/129", "2001:db8::1/64/eth0/10.0.0.255", "2001:db8::1/ffff::", "10.0.0.1/24/:lbl", "10.0.0.1/24/eth0/fe80::1"} {
		if got, err := ParseIPSpec(in); err == nil {
			t.Errorf("ParseIPSpec(%q) = %+v, want error", in, got)
		}
	}
}
