package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// addSeeds seeds with testdata/SAMPLE (a copy of the sample in ha.d) and
// the extra inputs.
func addSeeds(f *testing.F, sample string, extra ...string) {
	data, err := os.ReadFile(filepath.Join("testdata", sample))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// fuzzOpt never touches DNS or the machine.
var fuzzOpt = Options{NodeName: "a", IfaceExists: func(s string) bool { return len(s) < 8 },
	LookupIP: func(string) ([]net.IP, error) { return nil, fmt.Errorf("no DNS in fuzzing") }}

func FuzzParseHACF(f *testing.F) {
	addSeeds(f, "ha.cf", base, "node a\nudp eth0\nlogfile /x\nkeepalive 500ms\ndeadtime 1.5\n",
		"node a\nmcast eth0 239.0.0.1 694 1 0\nucast eth1 10.0.0.2\nping_group g 10.0.0.1\nping6 fe80::1\n",
		"apiauth x uid=a,b gid=c\nrespawn root /bin/true -x\nenv A=b\ncrm no\nnice_failback on\nauto_failback on\n",
		"\r\n#\n , \t\nnode\nkeepalive 10s\nserial /dev/ttyS0\nstonith_host * x y\ndeadping 0\ninitdead 0.0001\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHACFBytes("ha.cf", data, fuzzOpt)
		if (h == nil) == (err == nil) {
			t.Fatalf("result %v and error %v", h, err)
		}
		if h != nil {
			if h.Deadtime <= 2*h.Keepalive || h.Initdead < h.Deadtime || len(h.Nodes) == 0 {
				t.Fatalf("accepted inconsistent timings or nodes: %+v", h)
			}
			for _, m := range h.Media {
				_ = m.LinkName()
			}
		}
	})
}

func FuzzParseAuthkeys(f *testing.F) {
	addSeeds(f, "authkeys", "auth 1\n1 md5 x\n", "1 crc\nauth 1\n", "auth 15\n15 sha1 a b c\n0 crc\n",
		"auth\n", "a\n", "auth -1\n-1 md5 x\n", "# c\n\n  auth 2\r\n2 sha1 k\r\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		kr, err := ParseAuthkeysBytes("authkeys", data)
		if (kr == nil) == (err == nil) {
			t.Fatalf("result %v and error %v", kr, err)
		}
		if kr != nil {
			k, ok := kr.Keys[kr.Send]
			if !ok || k.Method.NeedsKey() != (k.Secret != "") {
				t.Fatalf("inconsistent keyring %+v", kr)
			}
		}
	})
}

func FuzzParseHaresources(f *testing.F) {
	addSeeds(f, "haresources", "n1 10.0.0.1 httpd\n", "n1 a \\\n b\\\nc\n", "n1\n", "n1 ::x\n",
		"n1 10.0.0.1/255.255.255.0/eth0:1/10.0.0.255 IPaddr2::fe80::1 Filesystem::/dev/a::/b::ext4\n", "\\\n\\")
	f.Fuzz(func(t *testing.T, data []byte) {
		gs, err := ParseHaresourcesBytes("haresources", data)
		if err != nil && gs != nil {
			t.Fatalf("groups %v with error %v", gs, err)
		}
		keys := map[string]bool{}
		for _, g := range gs {
			if keys[g.Key] || len(g.Resources) == 0 || g.Key != g.Resources[0].Token {
				t.Fatalf("bad group %+v", g)
			}
			keys[g.Key] = true
		}
	})
}
