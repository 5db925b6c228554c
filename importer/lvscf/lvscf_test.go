package lvscf

import (
	"strings"
	"testing"
)

const sample = `serial_no = 42
primary = 192.168.1.1
service = lvs
backup_active = 1
backup = 192.168.1.2
heartbeat = 1
heartbeat_port = 539
keepalive = 6
deadtime = 18
network = direct
debug_level = NONE
virtual web {
     active = 1
     address = 192.168.1.100 eth0:1
     vip_nmask = 255.255.255.0
     port = 80
     send = "GET / HTTP/1.0\r\n\r\n"   # the default for port 80
     expect = "HTTP"
     use_regex = 0
     load_monitor = none
     scheduler = wlc
     protocol = tcp
     timeout = 6
     reentry = 15
     quiesce_server = 0
     server web1 {
         address = 192.168.1.11
         active = 1
         weight = 1
     }
     server web2 {
         address = 192.168.1.12
         active = 1
         weight = 2
     }
}
`

func TestParse(t *testing.T) {
	cfg, err := ParseBytes("lvs.cf", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Get("primary"); got == nil || got.Value != "192.168.1.1" || got.Line != 2 {
		t.Errorf("primary = %+v", got)
	}
	if len(cfg.Sections) != 1 {
		t.Fatalf("sections %d", len(cfg.Sections))
	}
	v := cfg.Sections[0]
	if v.Kind != "virtual" || v.Name != "web" || v.Line != 12 {
		t.Errorf("virtual %+v", v)
	}
	if s := v.Get("send"); s == nil || s.Value != `GET / HTTP/1.0\r\n\r\n` || !s.Quoted || s.Line != 17 {
		t.Errorf("send = %+v", s)
	}
	if s := v.Get("address"); s.Value != "192.168.1.100 eth0:1" {
		t.Errorf("address = %+v", s)
	}
	if len(v.Sections) != 2 || v.Sections[1].Name != "web2" || v.Sections[1].Get("weight").Value != "2" || v.Sections[1].Get("weight").Line != 34 {
		t.Errorf("servers %+v", v.Sections)
	}
}

func TestErrors(t *testing.T) {
	cases := map[string]string{
		"virtual a {\n":                          "lvs.cf:1: virtual a: section not closed",
		"}\n":                                    "lvs.cf:1: \"}\" without a section",
		"primary 1.2.3.4\n":                      "lvs.cf:1: expected \"key = value\"",
		"server s {\n}\n":                        "lvs.cf:1: server section outside its place",
		"virtual v {\n virtual w {\n }\n}\n":     "lvs.cf:2: virtual section outside its place",
		"weird x {\n}\n":                         "lvs.cf:1: unknown section \"weird\"",
		"virtual v {\n server s {\n  a = 1\n}\n": "lvs.cf:1: virtual v: section not closed",
	}
	for in, want := range cases {
		_, err := ParseBytes("lvs.cf", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
}
