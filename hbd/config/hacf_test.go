package config

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is a minimal valid ha.cf for node "a" (logging set so logd is not implied).
const base = "node a b\nbcast eth0\nlogfacility local0\n"

func stubLookup(host string) ([]net.IP, error) {
	switch host {
	case "peer":
		return []net.IP{net.ParseIP("10.0.0.2")}, nil
	case "peer6":
		return []net.IP{net.ParseIP("fe80::2")}, nil
	case "gw":
		return []net.IP{net.ParseIP("fe80::1"), net.ParseIP("192.168.1.1")}, nil
	}
	return nil, fmt.Errorf("no such host")
}

func testOpt() Options { return Options{NodeName: "a", LookupIP: stubLookup} }

func parseOK(t *testing.T, text string) *HACF {
	t.Helper()
	h, err := ParseHACFBytes("ha.cf", []byte(text), testOpt())
	if err != nil {
		t.Fatalf("unexpected error for\n%s\n%v", text, err)
	}
	return h
}

// wantErrs checks that err is an Errors holding each wanted "file:line: text" fragment.
func wantErrs(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T is not Errors: %v", err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error\n%v\ndoes not contain %q", err, w)
		}
	}
}

func hasWarning(ws []*Error, frag string) bool {
	for _, w := range ws {
		if strings.Contains(w.Error(), frag) {
			return true
		}
	}
	return false
}

func TestErrorFormat(t *testing.T) {
	e := &Error{File: "ha.cf", Line: 3, Msg: "bad"}
	if e.Error() != "ha.cf:3: bad" {
		t.Errorf("got %q", e.Error())
	}
	e.Line = 0
	if e.Error() != "ha.cf: bad" {
		t.Errorf("got %q", e.Error())
	}
	es := Errors{{File: "a", Line: 1, Msg: "x"}, {File: "b", Msg: "y"}}
	if es.Error() != "a:1: x\nb: y" {
		t.Errorf("got %q", es.Error())
	}
}

func TestParseMsec(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64 // -1 = error
	}{
		{"500ms", 500}, {"0.5", 500}, {"500000us", 500}, {"2", 2000}, {"1.5", 1500},
		{"500msec", 500}, {"500MS", 500}, {"1500usec", 2}, {"1499us", 1}, {"0.0004", 0},
		{"0.0005", 1}, {"30", 30000}, {".5", 500}, {"0", 0}, {"1000ms", 1000},
		{"10s", -1}, {"1m", -1}, {"", -1}, {"ms", -1}, {"abc", -1}, {"1.2.3", -1},
		{"-1", -1}, {"5 ms", 5}, {"1e3", -1}, {"99999999999999", -1},
	} {
		got, err := parseMsec(c.in)
		if c.want < 0 {
			if err == nil {
				t.Errorf("parseMsec(%q) = %d, want error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("parseMsec(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"true", "on", "yes", "y", "1", "TRUE", "On", "Y"} {
		if b, err := parseBool(s); err != nil || !b {
			t.Errorf("parseBool(%q) = %v, %v", s, b, err)
		}
	}
	for _, s := range []string{"false", "off", "no", "n", "0", "NO", "Off"} {
		if b, err := parseBool(s); err != nil || b {
			t.Errorf("parseBool(%q) = %v, %v", s, b, err)
		}
	}
	for _, s := range []string{"", "2", "yess", "enable", "t"} {
		if _, err := parseBool(s); err == nil {
			t.Errorf("parseBool(%q) accepted", s)
		}
	}
}

func TestDefaults(t *testing.T) {
	h := parseOK(t, base)
	if h.Keepalive != time.Second || h.Deadtime != 30*time.Second || h.Warntime != 15*time.Second ||
		h.Initdead != 30*time.Second || h.Deadping != 30*time.Second {
		t.Errorf("timings %v %v %v %v %v", h.Keepalive, h.Deadtime, h.Warntime, h.Initdead, h.Deadping)
	}
	if h.UDPPort != 694 || h.HopFudge != 1 || h.Autojoin != "none" || h.AutoFailback != "legacy" ||
		h.MsgFmt != "classic" || h.UUIDFrom != "file" || h.HBGenMethod != "file" || h.Cluster != "linux-ha" ||
		!h.LogBadPack || !h.Realtime || !h.Coredumps || !h.SyslogMsgFmt || h.Compression != "zlib" ||
		h.CompressionThreshold != 2 || h.TraditionalCompression || h.MaxRexmitDelay != 250*time.Millisecond ||
		h.MemReserve != 6500 || h.Baud != 19200 || h.ConnLogdTime != 60*time.Second || h.Debug != 0 {
		t.Errorf("defaults wrong: %+v", h)
	}
	if !reflect.DeepEqual(h.Nodes, []string{"a", "b"}) {
		t.Errorf("nodes %v", h.Nodes)
	}
	wantParams := map[string]string{
		"keepalive": "1000ms", "deadtime": "30000ms", "warntime": "15000ms", "initdead": "30000ms",
		"deadping": "30000ms", "udpport": "694", "auto_failback": "legacy", "pacemaker": "false",
		"debug": "0", "hopfudge": "1", "autojoin": "none", "msgfmt": "classic", "cluster": "linux-ha",
		"record_config_changes": "on", "conn_logd_time": "60", "logfacility": "local0",
		"logfile": "/dev/null", "debugfile": "/dev/null", "baud": "19200", "memreserve": "6500",
		"max_rexmit_delay": "250", "traditional_compression": "no", "compression_threshold": "2",
	}
	for k, v := range wantParams {
		if h.Params[k] != v {
			t.Errorf("Params[%s] = %q, want %q", k, h.Params[k], v)
		}
	}
	if _, ok := h.Params["node"]; ok {
		t.Error("node must not be recorded")
	}
	if !hasWarning(h.Warnings, "legacy") {
		t.Errorf("no legacy warning: %v", h.Warnings)
	}
	for c, want := range map[string]APIAuth{
		"ipfail": {UIDs: []string{"hacluster"}}, "ccm": {UIDs: []string{"hacluster"}},
		"ping": {GIDs: []string{"haclient"}}, "lha-snmpagent": {UIDs: []string{"root"}},
		"anon": {UIDs: []string{"root"}, GIDs: []string{"haclient"}},
	} {
		if !reflect.DeepEqual(h.APIAuth[c], want) {
			t.Errorf("APIAuth[%s] = %+v", c, h.APIAuth[c])
		}
	}
}

func TestTimeDirectives(t *testing.T) {
	for _, c := range []struct {
		val  string
		want time.Duration
	}{
		{"500ms", 500 * time.Millisecond}, {"0.5", 500 * time.Millisecond},
		{"500000us", 500 * time.Millisecond}, {"2", 2 * time.Second}, {"1.5", 1500 * time.Millisecond},
	} {
		h := parseOK(t, base+"keepalive "+c.val+"\n")
		if h.Keepalive != c.want {
			t.Errorf("keepalive %s = %v, want %v", c.val, h.Keepalive, c.want)
		}
		if h.Params["keepalive"] != c.val {
			t.Errorf("Params[keepalive] = %q, want raw %q", h.Params["keepalive"], c.val)
		}
	}
	for _, c := range []struct{ text, want string }{
		{"keepalive 10s", `ha.cf:4: keepalive: invalid time`},
		{"keepalive 1m", `ha.cf:4: keepalive: invalid time`},
		{"keepalive 0", `ha.cf:4: keepalive: "0" must be greater than 0`},
		{"keepalive 0.0001", `ha.cf:4: keepalive: "0.0001" must be greater than 0`},
		{"keepalive 500 ms", `ha.cf:4: keepalive: invalid time`}, // "ms" is a token of its own
		{"deadtime 5x", `ha.cf:4: deadtime: invalid time`},
		{"warntime 0", `ha.cf:4: warntime: "0" must be greater than 0`},
		{"initdead abc", `ha.cf:4: initdead: invalid time`},
		{"deadping -1", `ha.cf:4: deadping: invalid time`},
		{"conn_logd_time 0", `ha.cf:4: conn_logd_time`},
	} {
		_, err := ParseHACFBytes("ha.cf", []byte(base+c.text+"\n"), testOpt())
		wantErrs(t, err, c.want)
	}
}

func TestComputedTimings(t *testing.T) {
	for _, c := range []struct {
		text                     string
		warn, initdead, deadping time.Duration
		pWarn, pInit, pPing      string
	}{
		{"deadtime 5", 2500 * time.Millisecond, 12 * time.Second, 5 * time.Second, "2500ms", "12000ms", "5000ms"},
		{"deadtime 8", 4 * time.Second, 16 * time.Second, 8 * time.Second, "4000ms", "16000ms", "8000ms"},
		{"deadtime 10", 5 * time.Second, 20 * time.Second, 10 * time.Second, "5000ms", "20000ms", "10000ms"},
		{"deadtime 20", 10 * time.Second, 20 * time.Second, 20 * time.Second, "10000ms", "20000ms", "20000ms"},
		{"deadtime 20\nwarntime 3\ninitdead 60\ndeadping 40", 3 * time.Second, 60 * time.Second, 40 * time.Second, "3", "60", "40"},
	} {
		h := parseOK(t, base+c.text+"\n")
		if h.Warntime != c.warn || h.Initdead != c.initdead || h.Deadping != c.deadping {
			t.Errorf("%q: warn %v initdead %v deadping %v", c.text, h.Warntime, h.Initdead, h.Deadping)
		}
		if h.Params["warntime"] != c.pWarn || h.Params["initdead"] != c.pInit || h.Params["deadping"] != c.pPing {
			t.Errorf("%q: params %q %q %q", c.text, h.Params["warntime"], h.Params["initdead"], h.Params["deadping"])
		}
	}
}

func TestTimingCrossChecks(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"keepalive 1\ndeadtime 2", "ha.cf:5: dead time [2000ms] is too small compared to keepalive [1000ms]"},
		{"keepalive 15", "ha.cf:4: dead time [30000ms] is too small compared to keepalive [15000ms]"},
		{"deadtime 10\ninitdead 5", "ha.cf:5: initial dead time [5000ms] is smaller than deadtime [10000ms]"},
		{"keepalive 1\ndeadping 2", "ha.cf:5: ping dead time [2000ms] is too small compared to keepalive [1000ms]"},
	} {
		_, err := ParseHACFBytes("ha.cf", []byte(base+c.text+"\n"), testOpt())
		wantErrs(t, err, c.want)
	}
	h := parseOK(t, base+"keepalive 1\ndeadtime 4\ninitdead 5\n")
	if !hasWarning(h.Warnings, "ha.cf:6: initial dead time [5000 ms] may be too small") {
		t.Errorf("no initdead warning: %v", h.Warnings)
	}
	h = parseOK(t, base+"keepalive 1\ndeadtime 3\n") // computed initdead 12 s: no warning
	if hasWarning(h.Warnings, "initial dead time") {
		t.Errorf("unexpected warning: %v", h.Warnings)
	}
}

func TestLexing(t *testing.T) {
	h := parseOK(t, "  \t node A,B  c#d e\r\n# comment\n\n\tbcast eth0,eth1 # trailing\r\nlogfile /var/log/ha#x\nnode DIRECTOR1\n")
	if !reflect.DeepEqual(h.Nodes, []string{"a", "b", "c", "director1"}) {
		t.Errorf("nodes %v", h.Nodes)
	}
	if len(h.Media) != 2 || h.Media[0].Iface != "eth0" || h.Media[1].Iface != "eth1" || h.Media[1].Line != 4 {
		t.Errorf("media %+v", h.Media)
	}
	if h.LogFile != "/var/log/ha" {
		t.Errorf("logfile %q", h.LogFile)
	}

	h = parseOK(t, "node a\nudp eth0\nlogfile /x\n")
	if len(h.Media) != 1 || h.Media[0].Kind != "bcast" || !hasWarning(h.Warnings, "ha.cf:2: directive 'udp' replaced by 'bcast'") {
		t.Errorf("udp: %+v %v", h.Media, h.Warnings)
	}

	h = parseOK(t, base+"node a\n")
	if len(h.Nodes) != 2 || !hasWarning(h.Warnings, `ha.cf:4: node "a" listed twice`) {
		t.Errorf("duplicate node: %v %v", h.Nodes, h.Warnings)
	}

	h = parseOK(t, base+"keepalive 2\nkeepalive 3\n")
	if h.Params["keepalive"] != "3" || h.Keepalive != 3*time.Second {
		t.Errorf("last value must win: %q %v", h.Params["keepalive"], h.Keepalive)
	}
}

func TestDirectiveErrors(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"foo bar", `ha.cf:4: unknown directive "foo"`},
		{"Keepalive 2", `ha.cf:4: unknown directive "Keepalive"`},
		{"keepalive", `ha.cf:4: keepalive: missing value`},
		{"bcast", `ha.cf:4: bcast: missing value`},
		{"hopfudge 256", `ha.cf:4: hopfudge: 256 is out of range 0..255`},
		{"hopfudge x", `ha.cf:4: hopfudge: invalid number "x"`},
		{"debug 300", `ha.cf:4: debug: 300 is out of range`},
		{"udpport 0", `ha.cf:4: udpport: 0 is out of range`},
		{"udpport 694x", `ha.cf:4: udpport: invalid number`},
		{"rtprio 0", `ha.cf:4: rtprio: 0 is out of range 1..99`},
		{"msgfmt xml", `ha.cf:4: msgfmt: invalid value "xml"`},
		{"msgfmt Classic", `ha.cf:4: msgfmt: invalid value "Classic"`},
		{"uuidfrom mac", `ha.cf:4: uuidfrom: invalid value`},
		{"hbgenmethod random", `ha.cf:4: hbgenmethod: invalid value`},
		{"autojoin some", `ha.cf:4: autojoin: invalid value`},
		{"compression lz4", `ha.cf:4: compression: invalid value "lz4"`},
		{"compression_threshold 0", `ha.cf:4: compression_threshold: 0 is out of range`},
		{"max_rexmit_delay 0", `ha.cf:4: max_rexmit_delay: 0 is out of range`},
		{"memreserve -1", `ha.cf:4: memreserve: -1 is out of range`},
		{"logfacility bogus", `ha.cf:4: logfacility: invalid syslog facility "bogus"`},
		{"realtime maybe", `ha.cf:4: realtime: invalid boolean "maybe"`},
		{"coredumps 2", `ha.cf:4: coredumps: invalid boolean`},
		{"log_badpack sure", `ha.cf:4: log_badpack: invalid boolean`},
		{"use_apphbd x", `ha.cf:4: use_apphbd: invalid boolean`},
		{"traditional_compression x", `ha.cf:4: traditional_compression: invalid boolean`},
		{"syslogmsgfmt x", `ha.cf:4: syslogmsgfmt: invalid boolean`},
		{"normalpoll x", `ha.cf:4: normalpoll: invalid boolean`},
		{"auto_failback sometimes", `ha.cf:4: auto_failback: invalid value "sometimes" (expected on, off or legacy)`},
		{"nice_failback perhaps", `ha.cf:4: nice_failback: invalid boolean`},
		{"env =x", `ha.cf:4: env: invalid "=x" (expected NAME=VALUE)`},
		{"env FOO", `ha.cf:4: env: invalid "FOO"`},
		{"watchdog /dev/watchdog\nwatchdog /dev/watchdog1", `ha.cf:5: watchdog: watchdog device given more than once`},
		{"baud 19200\nbaud 9600", `ha.cf:5: baud: baud rate given more than once`},
		{"baud 1234", `ha.cf:4: baud: invalid baud rate "1234"`},
		{"serial /dev/ttyS0", `ha.cf:4: serial: serial media are not supported yet; use bcast/mcast/ucast`},
		{"hbaping fc0", `ha.cf:4: hbaping: obsolete medium, not built on Debian`},
		{"autojoin any", `ha.cf:4: autojoin any: R1 style (haresources) resource management conflicts with autojoin`},
		{"autojoin other", `ha.cf:4: autojoin other`},
		{"respawn hacluster ipfail", `ha.cf:4: respawn: command "ipfail" is not a full path name`},
		{"respawn hacluster", `ha.cf:4: respawn: missing command`},
		{"failfast root relative/x", `ha.cf:4: failfast: command "relative/x" is not a full path name`},
		{"apiauth", `ha.cf:4: apiauth: missing value`},
		{"apiauth foo", `ha.cf:4: apiauth: client "foo": one of uid= or gid= is required`},
		{"apiauth foo user=x", `ha.cf:4: apiauth: "user=x": missing uid= or gid=`},
		{"apiauth foo uid=a uid=b", `ha.cf:4: apiauth: duplicate uid list`},
		{"apiauth foo uid=", `ha.cf:4: apiauth: empty uid list`},
		{"apiauth foo uid=a\napiauth foo gid=b", `ha.cf:5: apiauth: duplicate apiauth for client "foo"`},
		{"stonith_host *", `ha.cf:4: stonith_host: syntax`},
	} {
		_, err := ParseHACFBytes("ha.cf", []byte(base+c.line+"\n"), testOpt())
		wantErrs(t, err, c.want)
	}
}

func TestPacemaker(t *testing.T) {
	for _, v := range []string{"no", "off", "false", "No", "n", "0"} {
		for _, d := range []string{"crm", "pacemaker"} {
			h := parseOK(t, base+d+" "+v+"\n")
			if h.Params["pacemaker"] != v {
				t.Errorf("%s %s: Params[pacemaker] = %q", d, v, h.Params["pacemaker"])
			}
			if _, ok := h.Params["crm"]; ok {
				t.Errorf("crm must not be recorded itself")
			}
		}
	}
	for _, v := range []string{"yes", "on", "true", "respawn", "manual", "minimal", "ccm-only", "valgrind", "1"} {
		for _, d := range []string{"crm", "pacemaker"} {
			_, err := ParseHACFBytes("ha.cf", []byte(base+d+" "+v+"\n"), testOpt())
			wantErrs(t, err, "ha.cf:4: "+d+": ", "classic haresources mode only", "Pacemaker (CRM) is not supported")
		}
	}
	_, err := ParseHACFBytes("ha.cf", []byte(base+"crm bogus\n"), testOpt())
	wantErrs(t, err, `ha.cf:4: crm: invalid boolean "bogus"`)
	_, err = ParseHACFBytes("ha.cf", []byte(base+"crm no\npacemaker off\n"), testOpt())
	wantErrs(t, err, "ha.cf:5: pacemaker: pacemaker/crm directive used more than once")
	for _, d := range []string{"crm_daemon_dir /usr/lib/pacemaker", "crmd_spawns_pengine yes", "record_config_changes off",
		"record_pengine_inputs on", "enable_config_writes on", "quorum_server qs.example"} {
		_, err := ParseHACFBytes("ha.cf", []byte(base+d+"\n"), testOpt())
		name := strings.Fields(d)[0]
		wantErrs(t, err, "ha.cf:4: "+name+": is a Pacemaker (CRM) directive", "Pacemaker (CRM) is not supported")
	}
}

func TestAutoFailback(t *testing.T) {
	for _, c := range []struct {
		text, want string
		warn       string
	}{
		{"auto_failback on", "on", ""},
		{"auto_failback off", "off", ""},
		{"auto_failback yes", "on", ""},
		{"auto_failback LEGACY", "legacy", "deprecated 'legacy'"},
		{"", "legacy", "deprecated 'legacy'"},
		{"nice_failback on", "legacy", "'nice_failback on' is interpreted as 'auto_failback legacy'"},
		{"nice_failback off", "legacy", "nice_failback is obsolete"},
		{"auto_failback on\nnice_failback on", "off", "has been changed to 'auto_failback off'"},
		{"nice_failback on\nauto_failback on", "on", "nice_failback is obsolete"},
	} {
		h := parseOK(t, base+c.text+"\n")
		if h.AutoFailback != c.want {
			t.Errorf("%q: AutoFailback = %q, want %q", c.text, h.AutoFailback, c.want)
		}
		if c.warn != "" && !hasWarning(h.Warnings, c.warn) {
			t.Errorf("%q: no warning %q in %v", c.text, c.warn, h.Warnings)
		}
		if c.warn == "" && hasWarning(h.Warnings, "legacy") {
			t.Errorf("%q: unexpected legacy warning %v", c.text, h.Warnings)
		}
	}
	h := parseOK(t, base+"nice_failback on\n")
	if _, ok := h.Params["nice_failback"]; ok || h.Params["auto_failback"] != "legacy" {
		t.Errorf("nice_failback params: %v", h.Params)
	}
}

func TestMedia(t *testing.T) {
	h := parseOK(t, "node a\nlogfile /x\nbcast eth0\nudpport 700\nbcast eth1\n"+
		"mcast eth0 239.0.0.43 695 1 0\nmcast6 eth1 ff02::1:2 696 4 1\nucast eth1 10.0.0.2\nucast eth1 peer\n"+
		"ucast6 eth1 fe80::2\nping 192.168.1.1\nping6 fe80::1\nping_group grp 10.0.0.1 gw\n")
	want := []Medium{
		{Kind: "bcast", Iface: "eth0", UDPPort: 694, Line: 3},
		{Kind: "bcast", Iface: "eth1", UDPPort: 700, Line: 5},
		{Kind: "mcast", Iface: "eth0", Group: net.ParseIP("239.0.0.43"), Port: 695, TTL: 1, UDPPort: 700, Line: 6},
		{Kind: "mcast6", Iface: "eth1", Group: net.ParseIP("ff02::1:2"), Port: 696, TTL: 4, Loop: true, UDPPort: 700, Line: 7},
		{Kind: "ucast", Iface: "eth1", Peer: net.ParseIP("10.0.0.2"), UDPPort: 700, Line: 8},
		{Kind: "ucast", Iface: "eth1", Peer: net.ParseIP("10.0.0.2"), UDPPort: 700, Line: 9},
		{Kind: "ucast6", Iface: "eth1", Peer: net.ParseIP("fe80::2"), UDPPort: 700, Line: 10},
		{Kind: "ping", Name: "192.168.1.1", Hosts: []net.IP{net.ParseIP("192.168.1.1")}, UDPPort: 700, Line: 11},
		{Kind: "ping6", Name: "fe80::1", Hosts: []net.IP{net.ParseIP("fe80::1")}, UDPPort: 700, Line: 12},
		{Kind: "ping_group", Name: "grp", Hosts: []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("192.168.1.1")}, UDPPort: 700, Line: 13},
	}
	if len(h.Media) != len(want) {
		t.Fatalf("media %+v", h.Media)
	}
	for i := range want {
		g, w := h.Media[i], want[i]
		if g.Kind != w.Kind || g.Iface != w.Iface || !g.Group.Equal(w.Group) || g.Port != w.Port || g.TTL != w.TTL ||
			g.Loop != w.Loop || !g.Peer.Equal(w.Peer) || g.Name != w.Name || g.UDPPort != w.UDPPort || g.Line != w.Line ||
			len(g.Hosts) != len(w.Hosts) {
			t.Errorf("medium %d = %+v, want %+v", i, g, w)
			continue
		}
		for j := range w.Hosts {
			if !g.Hosts[j].Equal(w.Hosts[j]) {
				t.Errorf("medium %d host %d = %v", i, j, g.Hosts[j])
			}
		}
	}
	if h.UDPPort != 700 || !hasWarning(h.Warnings, "ha.cf:4: udpport setting must precede media statements: the medium on line 3 keeps port 694") {
		t.Errorf("udpport order: %d %v", h.UDPPort, h.Warnings)
	}
	names := []string{"eth0", "eth1", "eth0", "eth1", "eth1", "eth1", "eth1", "192.168.1.1", "fe80::1", "grp"}
	for i, m := range h.Media {
		if m.LinkName() != names[i] || m.IsPing() != (i >= 7) {
			t.Errorf("medium %d: LinkName %q IsPing %v", i, m.LinkName(), m.IsPing())
		}
	}
	// udpport before any medium: no warning; after ping only: no warning either.
	h = parseOK(t, "node a\nlogfile /x\nping 10.0.0.1\nudpport 700\nbcast eth0\n")
	if hasWarning(h.Warnings, "udpport") || h.Media[1].UDPPort != 700 {
		t.Errorf("udpport after ping: %v %+v", h.Warnings, h.Media)
	}
}

func TestMediaErrors(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"mcast eth0 239.0.0.1 694 1", "ha.cf:4: mcast: needs 5 values"},
		{"mcast eth0 10.0.0.1 694 1 0", `ha.cf:4: mcast: "10.0.0.1" is not a valid IPv4 multicast group`},
		{"mcast eth0 ff02::1 694 1 0", `ha.cf:4: mcast: "ff02::1" is not a valid IPv4 multicast group`},
		{"mcast eth0 239.0.0.1 0 1 0", "ha.cf:4: mcast: port: 0 is out of range"},
		{"mcast eth0 239.0.0.1 694 5 0", "ha.cf:4: mcast: ttl: 5 is out of range 0..4"},
		{"mcast eth0 239.0.0.1 694 1 2", "ha.cf:4: mcast: loop: 2 is out of range 0..1"},
		{"mcast6 eth0 239.0.0.1 694 1 0", `ha.cf:4: mcast6: "239.0.0.1" is not a valid IPv6 multicast group`},
		{"ucast eth0", "ha.cf:4: ucast: missing peer address"},
		{"ucast eth0 fe80::2", `ha.cf:4: ucast: "fe80::2" is not an IPv4 address`},
		{"ucast6 eth0 10.0.0.2", `ha.cf:4: ucast6: "10.0.0.2" is not an IPv6 address`},
		{"ucast eth0 nowhere", `ha.cf:4: ucast: cannot resolve "nowhere"`},
		{"ucast eth0 peer6", `ha.cf:4: ucast: "peer6" has no IPv4 address`},
		{"ping nowhere", `ha.cf:4: ping: cannot resolve "nowhere"`},
		{"ping6 10.0.0.1", `ha.cf:4: ping6: "10.0.0.1" is not an IPv6 address`},
		{"ping_group grp", "ha.cf:4: ping_group: needs a name and at least one host"},
		{"ping_group grp 10.0.0.1 nowhere", `ha.cf:4: ping_group: cannot resolve "nowhere"`},
	} {
		_, err := ParseHACFBytes("ha.cf", []byte(base+c.line+"\n"), testOpt())
		wantErrs(t, err, c.want)
	}
	h := parseOK(t, base+"ucast eth0 10.0.0.2 10.0.0.3\n")
	if !hasWarning(h.Warnings, `ha.cf:4: ucast: extra words "10.0.0.3" ignored`) {
		t.Errorf("extra words: %v", h.Warnings)
	}
	opt := testOpt()
	opt.IfaceExists = func(s string) bool { return s == "eth0" }
	for _, c := range []struct{ line, want string }{
		{"bcast eth9", `ha.cf:4: bcast: interface "eth9" does not exist`},
		{"ucast eth9 10.0.0.2", `ha.cf:4: ucast: interface "eth9" does not exist`},
		{"mcast eth9 239.0.0.1 694 1 0", `ha.cf:4: mcast: interface "eth9" does not exist`},
	} {
		_, err := ParseHACFBytes("ha.cf", []byte(base+c.line+"\n"), opt)
		wantErrs(t, err, c.want)
	}
	_, err := ParseHACFBytes("ha.cf", []byte("node a\nlogfile /x\nping 10.0.0.1\n"), testOpt())
	wantErrs(t, err, "ha.cf: no heartbeat media defined")

	var many strings.Builder
	many.WriteString("node a\nlogfile /x\n")
	for i := 0; i < 65; i++ {
		fmt.Fprintf(&many, "bcast eth%d\n", i)
	}
	_, err = ParseHACFBytes("ha.cf", []byte(many.String()), testOpt())
	wantErrs(t, err, "ha.cf:67: too many media (at most 64)")
}

func TestNodesChecks(t *testing.T) {
	_, err := ParseHACFBytes("ha.cf", []byte("bcast eth0\nlogfile /x\n"), testOpt())
	wantErrs(t, err, "ha.cf: no nodes defined")
	_, err = ParseHACFBytes("ha.cf", []byte("node b c\nbcast eth0\nlogfile /x\n"), testOpt())
	wantErrs(t, err, "ha.cf: current node [a] not in configuration")
	if _, err := ParseHACFBytes("ha.cf", []byte(base), Options{NodeName: "A"}); err != nil {
		t.Errorf("node name must be compared lowercased: %v", err)
	}
	if _, err := ParseHACFBytes("ha.cf", []byte(base), Options{}); err != nil {
		t.Errorf("empty NodeName skips the check: %v", err)
	}
	var many strings.Builder
	many.WriteString("bcast eth0\nlogfile /x\nnode a\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&many, "node n%d\n", i)
	}
	_, err = ParseHACFBytes("ha.cf", []byte(many.String()), testOpt())
	wantErrs(t, err, "ha.cf:103: node: too many nodes (at most 100)")
}

func TestLogging(t *testing.T) {
	h := parseOK(t, "node a\nbcast eth0\n")
	if !h.UseLogd || h.Params["use_logd"] != "yes" {
		t.Errorf("logd must be implied: %v %q", h.UseLogd, h.Params["use_logd"])
	}
	h = parseOK(t, "node a\nbcast eth0\nlogfacility none\n")
	if !h.UseLogd || h.LogFacility != "none" {
		t.Errorf("logfacility none counts as no logging: %v", h.UseLogd)
	}
	_, err := ParseHACFBytes("ha.cf", []byte("node a\nbcast eth0\nuse_logd off\n"), testOpt())
	wantErrs(t, err, "ha.cf:3: no log entry found in ha.cf and use_logd is set to off")
	h = parseOK(t, "node a\nbcast eth0\nuse_logd off\nlogfile /var/log/ha-log\ndebugfile /var/log/ha-debug\ndebug 1\n")
	if h.UseLogd || h.LogFile != "/var/log/ha-log" || h.DebugFile != "/var/log/ha-debug" || h.Debug != 1 {
		t.Errorf("logging %+v", h)
	}
	if _, ok := h.Params["logfile"]; !ok || h.Params["debugfile"] != "/var/log/ha-debug" {
		t.Errorf("params %v", h.Params)
	}
	h = parseOK(t, "node a\nbcast eth0\nlogfacility DAEMON\n")
	if h.LogFacility != "DAEMON" || h.Params["logfile"] != "/dev/null" || h.LogFile != "" {
		t.Errorf("facility %q logfile param %q", h.LogFacility, h.Params["logfile"])
	}
}

func TestProcessesAndMisc(t *testing.T) {
	h := parseOK(t, base+"respawn hacluster /usr/lib/heartbeat/ipfail -p 1\nfailfast root /bin/true\n"+
		"apiauth ipfail uid=root,hacluster gid=haclient\napiauth mon gid=a\n"+
		"env FOO=bar,BAZ=\nwatchdog /dev/watchdog\nstonith baytech /etc/ha.d/conf/stonith.baytech\n"+
		"stonith_host * null director1 director2\nuse_apphbd no\nrtprio 5\ncoreroot /var/lib/heartbeat/cores\n"+
		"cluster prod\nhopfudge 2\ncrm off\nmsgfmt netstring\nuuidfrom nodename\nhbgenmethod time\n")
	wantR := []Respawn{
		{User: "hacluster", Path: "/usr/lib/heartbeat/ipfail", Args: []string{"-p", "1"}, Command: "/usr/lib/heartbeat/ipfail -p 1", BuiltIn: true, Line: 4},
		{User: "root", Path: "/bin/true", Args: []string{}, Command: "/bin/true", Failfast: true, Line: 5},
	}
	if !reflect.DeepEqual(h.Respawns, wantR) {
		t.Errorf("respawns %+v", h.Respawns)
	}
	if !reflect.DeepEqual(h.APIAuth["ipfail"], APIAuth{UIDs: []string{"root", "hacluster"}, GIDs: []string{"haclient"}}) ||
		!reflect.DeepEqual(h.APIAuth["mon"], APIAuth{GIDs: []string{"a"}}) || len(h.APIAuth) != 6 {
		t.Errorf("apiauth %+v", h.APIAuth)
	}
	if !reflect.DeepEqual(h.Env, map[string]string{"HA_FOO": "bar", "HA_BAZ": ""}) {
		t.Errorf("env %v", h.Env)
	}
	if h.Watchdog != "/dev/watchdog" || h.Params["watchdog"] != "/dev/watchdog" || h.RTPrio != 5 ||
		h.CoreRoot != "/var/lib/heartbeat/cores" || h.Cluster != "prod" || h.HopFudge != 2 || h.MsgFmt != "netstring" ||
		h.UUIDFrom != "nodename" || h.HBGenMethod != "time" || h.UseApphbd {
		t.Errorf("misc %+v", h)
	}
	if len(h.Stonith) != 2 || h.Stonith[0] != (Stonith{Type: "baytech", Params: "/etc/ha.d/conf/stonith.baytech", Line: 10}) ||
		h.Stonith[1] != (Stonith{Host: "*", Type: "null", Params: "director1 director2", Line: 11}) ||
		!hasWarning(h.Warnings, "ha.cf:11: stonith_host: replaces the STONITH device of line 10") {
		t.Errorf("stonith %+v %v", h.Stonith, h.Warnings)
	}
}

// TestStonithLines: which line configures this node's device (the last
// that applies, as Heartbeat keeps one), the parameters as written, and the
// plugin check reported at the line, only for lines that apply.
func TestStonithLines(t *testing.T) {
	for _, c := range []struct {
		name, lines string
		want        Stonith // zero: no device
		warn        string
		checked     []int // lines handed to StonithCheck
	}{
		{"none", "", Stonith{}, "", nil},
		{"star", "stonith_host * external/ssh a b\n", Stonith{Host: "*", Type: "external/ssh", Params: "a b", Line: 4}, "", []int{4}},
		{"other node ignored", "stonith_host b external/ssh a\n", Stonith{}, "", nil},
		{"ours by name, case-insensitive", "stonith_host b null b\nstonith_host A external/ipmi b 10.0.0.2  admin secret lan\n",
			Stonith{Host: "a", Type: "external/ipmi", Params: "b 10.0.0.2  admin secret lan", Line: 5}, "", []int{5}},
		{"last applicable wins", "stonith_host * null b\nstonith_host b meatware a\nstonith_host a meatware b\n",
			Stonith{Host: "a", Type: "meatware", Params: "b", Line: 6}, "ha.cf:6: stonith_host: replaces the STONITH device of line 4", []int{4, 6}},
		{"file", "stonith external/ssh /etc/ha.d/stonith.cfg \n", Stonith{Type: "external/ssh", Params: "/etc/ha.d/stonith.cfg", Line: 4}, "", []int{4}},
		{"comment ends the line", "stonith_host * null b # c\n", Stonith{Host: "*", Type: "null", Params: "b", Line: 4}, "", []int{4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var checked []int
			opt := testOpt()
			opt.StonithCheck = func(s Stonith) error { checked = append(checked, s.Line); return nil }
			h, err := ParseHACFBytes("ha.cf", []byte(base+c.lines), opt)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := h.StonithDevice("a")
			if ok != (c.want != Stonith{}) || got != c.want {
				t.Errorf("device %+v %v, want %+v", got, ok, c.want)
			}
			if c.warn != "" && !hasWarning(h.Warnings, c.warn) {
				t.Errorf("warnings %v, want %q", h.Warnings, c.warn)
			}
			if !reflect.DeepEqual(checked, c.checked) {
				t.Errorf("checked lines %v, want %v", checked, c.checked)
			}
		})
	}
	opt := testOpt()
	opt.StonithCheck = func(s Stonith) error {
		return fmt.Errorf("STONITH type %q is not installed", s.Type)
	}
	_, err := ParseHACFBytes("ha.cf", []byte(base+"stonith_host b nosuch x\nstonith_host * nosuch x\nstonith nosuch\n"), opt)
	wantErrs(t, err, `ha.cf:5: stonith_host: STONITH type "nosuch" is not installed`, `ha.cf:6: stonith: syntax: stonith TYPE CONFIGFILE`)
}

// TestRespawnChecks: with the machine checks on (hbd -t, start and reload
// turn them on), a respawn or failfast line whose user or program is
// missing is refused at its line, as Heartbeat refuses it. ipfail, built
// into hbd and never run, is accepted with a warning instead.
func TestRespawnChecks(t *testing.T) {
	opt := testOpt()
	opt.UserExists = func(u string) bool { return u == "root" }
	opt.Executable = func(p string) error {
		switch p {
		case "/bin/true", "/usr/libexec/heartbeat/ipfail":
			return nil
		case "/etc/passwd":
			return errors.New("not executable")
		}
		return errors.New("no such file or directory")
	}
	for _, tc := range []struct {
		line    string
		err     string // "": accepted
		warn    string // with this warning ("": none)
		builtIn bool
	}{
		{line: "respawn root /bin/true -x"},
		{line: "failfast root /bin/true"},
		{line: "respawn nobody /bin/true", err: `ha.cf:4: respawn: invalid user "nobody"`},
		{line: "failfast root /bin/false", err: `ha.cf:4: failfast: command "/bin/false" cannot be run: no such file or directory`},
		{line: "respawn root /etc/passwd", err: `ha.cf:4: respawn: command "/etc/passwd" cannot be run: not executable`},
		{line: "respawn root bin/true", err: `ha.cf:4: respawn: command "bin/true" is not a full path name`},
		// ipfail where Debian 12's heartbeat installs it, and a user that exists.
		{line: "respawn root /usr/libexec/heartbeat/ipfail", builtIn: true},
		// The common line on a machine without Heartbeat's ipfail or hacluster user.
		{line: "respawn hacluster /usr/lib/heartbeat/ipfail", builtIn: true,
			warn: `ha.cf:4: respawn: invalid user "hacluster"; hbd's built-in ipfail does its job, but Heartbeat would refuse this line`},
		{line: "respawn root /usr/lib/heartbeat/ipfail", builtIn: true,
			warn: `ha.cf:4: respawn: command "/usr/lib/heartbeat/ipfail" cannot be run: no such file or directory; hbd's built-in ipfail does its job, but Heartbeat would refuse this line`},
		{line: "respawn hacluster ipfail", err: `ha.cf:4: respawn: command "ipfail" is not a full path name`},
	} {
		h, err := ParseHACFBytes("ha.cf", []byte(base+tc.line+"\n"), opt)
		if tc.err != "" {
			wantErrs(t, err, tc.err)
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if len(h.Respawns) != 1 || h.Respawns[0].BuiltIn != tc.builtIn || h.Respawns[0].Line != 4 {
			t.Errorf("%q: respawns %+v, want one, built in %v", tc.line, h.Respawns, tc.builtIn)
		}
		if tc.warn != "" && !hasWarning(h.Warnings, tc.warn) || tc.warn == "" && hasWarning(h.Warnings, "ha.cf:4:") {
			t.Errorf("%q: warnings %v, want %q", tc.line, h.Warnings, tc.warn)
		}
	}
	// Every bad line is reported, each at its own line.
	_, err := ParseHACFBytes("ha.cf", []byte(base+"respawn nobody /bin/true\nrespawn root /bin/false\n"), opt)
	wantErrs(t, err, `ha.cf:4: respawn: invalid user "nobody"`, `ha.cf:5: respawn: command "/bin/false" cannot be run`)
}

func TestMultipleErrors(t *testing.T) {
	text := "node b\nkeepalive 10s\nbogus 1\nbcast\nmcast eth0 1.2.3.4 694 9 0\nlogfile /x\ncrm yes\n"
	_, err := ParseHACFBytes("ha.cf", []byte(text), testOpt())
	wantErrs(t, err,
		"ha.cf:2: keepalive: invalid time",
		`ha.cf:3: unknown directive "bogus"`,
		"ha.cf:4: bcast: missing value",
		`ha.cf:5: mcast: "1.2.3.4" is not a valid IPv4 multicast group`,
		"ha.cf:5: mcast: ttl: 9 is out of range",
		"ha.cf:7: crm: ",
		"ha.cf: no heartbeat media defined",
		"ha.cf: current node [a] not in configuration",
	)
	if n := len(err.(Errors)); n != 8 {
		t.Errorf("got %d errors, want 8:\n%v", n, err)
	}
}

func TestParseHACFFile(t *testing.T) {
	_, err := ParseHACF("/nonexistent/ha.cf", testOpt())
	wantErrs(t, err, "/nonexistent/ha.cf: cannot read config file")
}
