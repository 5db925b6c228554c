package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lvsha/ldird/dataplane"
)

// fakeResolver answers from fixed tables, so tests never touch DNS.
type fakeResolver struct {
	hosts map[string][]net.IP
	ports map[string]int // "proto/name" or "/name" (any protocol)
	calls []string
}

func newFake() *fakeResolver {
	return &fakeResolver{
		hosts: map[string][]net.IP{
			"web1":         {net.ParseIP("192.168.1.11")},
			"web2":         {net.ParseIP("2001:db8::12"), net.ParseIP("192.168.1.12")},
			"web6":         {net.ParseIP("2001:db8::16")},
			"vip.example":  {net.ParseIP("10.0.0.100")},
			"vip6.example": {net.ParseIP("2001:db8::100")},
			"first":        {net.ParseIP("192.168.1.20")},
			"last":         {net.ParseIP("192.168.1.22")},
			"localhost":    {net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		},
		ports: map[string]int{
			"tcp/http": 80, "/http": 80, "tcp/https": 443, "/https": 443, "udp/https": 443,
			"tcp/domain": 53, "udp/domain": 53, "/domain": 53, "tcp/webcache": 8080, "/webcache": 8080,
		},
	}
}

func (f *fakeResolver) opts() Options {
	return Options{
		Hostname: "director1",
		LookupHost: func(h string) ([]net.IP, error) {
			f.calls = append(f.calls, "host "+h)
			if ips, ok := f.hosts[h]; ok {
				return ips, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: h, IsNotFound: true}
		},
		LookupPort: func(proto, name string) (int, error) {
			f.calls = append(f.calls, "port "+proto+"/"+name)
			if p, ok := f.ports[proto+"/"+name]; ok {
				return p, nil
			}
			return 0, fmt.Errorf("unknown port %s/%s", proto, name)
		},
	}
}

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := ParseBytes("ldirectord.cf", []byte(text), newFake().opts())
	if err != nil {
		t.Fatalf("parse failed:\n%v\n--- input\n%s", err, text)
	}
	return c
}

func parseErr(t *testing.T, text string) Errors {
	t.Helper()
	c, err := ParseBytes("ldirectord.cf", []byte(text), newFake().opts())
	if err == nil {
		t.Fatalf("expected an error, got %+v\n--- input\n%s", c, text)
	}
	if c != nil {
		t.Fatalf("a config came back with the error")
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want Errors", err)
	}
	return es
}

const minimal = "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n"

func TestDefaults(t *testing.T) {
	c := mustParse(t, minimal)
	g := c.Global
	want := Global{
		CheckInterval: 10 * time.Second, CheckCount: 1, FailureCount: 1,
		LogFile: "/var/log/ldirectord.log", EmailAlertStatus: AlertAll, CleanStop: true,
		Dataplane: DataplaneIPVS,
	}
	if fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", want) {
		t.Errorf("global defaults\n got %+v\nwant %+v", g, want)
	}
	if len(c.Virtuals) != 1 {
		t.Fatalf("virtuals: %d", len(c.Virtuals))
	}
	v := c.Virtuals[0]
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"Line", v.Line, 1},
		{"Key", v.Key(), "tcp 10.0.0.1:80"},
		{"Protocol", v.Protocol, "tcp"},
		{"Scheduler", v.Scheduler, "wrr"},
		{"Persistent", v.Persistent, time.Duration(0)},
		{"Netmask", v.Netmask, 0},
		{"OPS", v.OPS, false},
		{"Quiescent", v.Quiescent, false}, // the code's default; the man page says yes
		{"CleanStop", v.CleanStop, true},
		{"Fallback", v.Fallback == nil, true},
		{"EmailAlertStatus", v.EmailAlertStatus, AlertAll},
		{"Type", v.Check.Type, CheckNegotiate},
		{"Service", v.Check.Service, "http"}, // from port 80
		{"Request", v.Check.Request, "/"},
		{"Receive", v.Check.Receive, ""},
		{"HTTPMethod", v.Check.HTTPMethod, "GET"},
		{"CheckCommand", v.Check.CheckCommand, "/bin/true"},
		{"CheckTimeout", v.Check.CheckTimeout, 5 * time.Second},
		{"NegotiateTimeout", v.Check.NegotiateTimeout, 30 * time.Second},
		{"CheckInterval", v.Check.CheckInterval, 10 * time.Second},
		{"CheckCount", v.Check.CheckCount, 1},
		{"FailureCount", v.Check.FailureCount, 1},
		{"Login", v.Check.Login, ""},
		{"real", *v.Reals[0], Real{Line: 2, Host: "10.0.0.2:80", Addr: netip.MustParseAddr("10.0.0.2"), Port: 80, Method: "gate", Weight: 1, Request: "/"}},
	}
	for _, ch := range checks {
		if fmt.Sprint(ch.got) != fmt.Sprint(ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
}

func TestSample(t *testing.T) {
	c, err := Parse("testdata/ldirectord.cf", newFake().opts())
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != "testdata/ldirectord.cf" {
		t.Errorf("Path = %q", c.Path)
	}
	var keys []string
	for _, v := range c.Virtuals {
		keys = append(keys, v.Key())
	}
	wantKeys := "tcp 192.168.56.200:80,tcp 192.168.56.200:443,udp 192.168.56.200:53,fwm 7,tcp 192.168.56.200:3306,tcp [2001:db8::100]:80"
	if strings.Join(keys, ",") != wantKeys {
		t.Fatalf("keys %v", keys)
	}
	g := c.Global
	if g.CheckTimeout != 3*time.Second || g.NegotiateTimeout != 10*time.Second || g.CheckInterval != 2*time.Second ||
		g.FailureCount != 2 || !g.AutoReload || g.Callback != "/etc/ha.d/ldirectord-sync.sh" || g.LogFile != "local0" ||
		g.EmailAlert != "ops@example.com, oncall@example.com" || g.EmailAlertFreq != time.Hour ||
		g.EmailAlertStatus != AlertStarting|AlertRunning || g.EmailAlertFrom != "ldirectord@example.com" ||
		g.SMTP != "mail.example.com" || !g.Quiescent || g.ReaddQuiescent || g.CleanStop || g.Fork ||
		g.FallbackCommand != "/usr/local/sbin/all-down.sh" {
		t.Errorf("globals: %+v", g)
	}
	if f := g.Fallback; f == nil || f.Addr.String() != "127.0.0.1" || !f.HasPort || f.TCPPort != 80 || f.UDPPort != 80 || f.Method != "masq" || f.Line != 19 {
		t.Errorf("global fallback: %+v", g.Fallback)
	}

	web := c.Virtual("tcp 192.168.56.200:80")
	if web.Scheduler != "wlc" || web.Persistent != 300*time.Second || web.Netmask != 24 || web.Quiescent ||
		web.Check.HTTPMethod != "HEAD" || web.Check.VirtualHost != "www.example.com" || web.ServiceName != "Web farm" ||
		web.Comment != "DR reals with VIP on lo" || web.Check.Request != "/index.html" || web.Check.Receive != "Test Page" {
		t.Errorf("web: %+v", web)
	}
	if web.Fallback.Key() != "127.0.0.1:8080" || web.Fallback.Method != "masq" || web.Fallback.Weight != 1 {
		t.Errorf("web fallback: %+v", web.Fallback)
	}
	var reals []string
	for _, r := range web.Reals {
		reals = append(reals, fmt.Sprintf("%s/%s/%d/%s/%s/%v", r.Key(), r.Method, r.Weight, r.Request, r.Receive, r.OwnCheck))
	}
	wantReals := []string{
		"192.168.56.11:80/gate/1//index.html/Test Page/false",
		"192.168.56.12:80/gate/2//health.html/alive/true",
		"192.168.56.20:80/masq/1//index.html/Test Page/false",
		"192.168.56.21:80/masq/1//index.html/Test Page/false",
		"192.168.56.22:80/masq/1//index.html/Test Page/false",
	}
	if strings.Join(reals, "\n") != strings.Join(wantReals, "\n") {
		t.Errorf("web reals:\n%s", strings.Join(reals, "\n"))
	}

	https := c.Virtual("tcp 192.168.56.200:443")
	if https.Check.Type != CheckCombined || https.Check.Connects != 3 || https.Check.CheckPort != 8443 ||
		https.Check.CheckTimeout != 5*time.Second || https.Check.NegotiateTimeout != 7*time.Second ||
		https.Check.FailureCount != 4 || https.EmailAlert != "web-team@example.com" ||
		https.EmailAlertStatus != AlertNone || !https.CleanStop || !https.Quiescent {
		t.Errorf("https: %+v", https)
	}
	if got := https.CheckPortFor(https.Reals[0]); got != 8443 {
		t.Errorf("https check port %d", got)
	}

	dns := c.Virtual("udp 192.168.56.200:53")
	if dns.Protocol != "udp" || dns.Check.Service != "dns" || !dns.OPS || dns.Check.Request != "/www.example.com" {
		t.Errorf("dns: %+v", dns)
	}

	fwm := c.Virtual("fwm 7")
	if fwm.FWMark != 7 || fwm.Check.Service != "none" || fwm.Check.Type != CheckExternal ||
		fwm.Check.CheckCommand != "/usr/local/bin/check-fwm" || fwm.SchedFlags != "sh-port" ||
		fwm.FallbackCommand != `/usr/local/sbin/fwm-down.sh` || fwm.Reals[1].Weight != 3 || fwm.Reals[0].Port != 0 {
		t.Errorf("fwm: %+v", fwm)
	}
	if fwm.Fallback == nil || fwm.Fallback.Key() != "127.0.0.1:80" {
		t.Errorf("fwm inherits the global fallback with its port: %+v", fwm.Fallback)
	}
	if got := fwm.CheckPortFor(fwm.Reals[0]); got != 80 {
		t.Errorf("fwm check port %d", got)
	}

	sql := c.Virtual("tcp 192.168.56.200:3306")
	if sql.Check.Service != "mysql" || sql.Check.Login != "monitor" || sql.Check.Passwd != "s3cret" ||
		sql.Check.Database != "health" || sql.EmailAlertFreq != time.Minute || sql.SMTP != "relay.example.com" ||
		sql.Reals[1].LowerThreshold != 10 || sql.Reals[1].UpperThreshold != 100 {
		t.Errorf("sql: %+v", sql)
	}

	v6 := c.Virtual("tcp [2001:db8::100]:80")
	if !v6.IPv6 || v6.Netmask != 64 || v6.Persistent != time.Minute || v6.Check.Type != CheckConnect ||
		v6.Fallback.Key() != "[::1]:80" || v6.Reals[1].Key() != "[2001:db8::12]:80" || v6.Reals[1].Weight != 5 {
		t.Errorf("v6: %+v", v6)
	}
}

// TestDirectives checks each directive's parsed value.
func TestDirectives(t *testing.T) {
	type G = Global
	cases := []struct {
		name  string
		text  string
		check func(c *Config) (got, want any)
	}{
		{"checktimeout", "checktimeout=7\n" + minimal, func(c *Config) (any, any) {
			return []any{c.Global.CheckTimeout, c.Virtuals[0].Check.CheckTimeout, c.Virtuals[0].Check.NegotiateTimeout}, []any{7 * time.Second, 7 * time.Second, 7 * time.Second}
		}},
		{"negotiatetimeout", "negotiatetimeout=12\n" + minimal, func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Check.CheckTimeout, c.Virtuals[0].Check.NegotiateTimeout}, []any{12 * time.Second, 12 * time.Second}
		}},
		{"timeouts-both", "checktimeout=2\nnegotiatetimeout=12\n" + minimal + "\tnegotiatetimeout=4\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Check.CheckTimeout, c.Virtuals[0].Check.NegotiateTimeout}, []any{4 * time.Second, 4 * time.Second}
		}},
		{"checkinterval", "checkinterval=3\n" + minimal, func(c *Config) (any, any) {
			return []any{c.Global.CheckInterval, c.Virtuals[0].Check.CheckInterval}, []any{3 * time.Second, 3 * time.Second}
		}},
		{"checkinterval-virtual-fork", "fork=yes\n" + minimal + "\tcheckinterval=2\n", func(c *Config) (any, any) {
			return c.Virtuals[0].Check.CheckInterval, 2 * time.Second
		}},
		{"checkinterval-virtual-nofork", minimal + "\tcheckinterval=2\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Check.CheckInterval, len(c.Warnings)}, []any{10 * time.Second, 1}
		}},
		{"checkcount", "checkcount=3\n" + minimal, func(c *Config) (any, any) {
			return []any{c.Global.CheckCount, c.Virtuals[0].Check.CheckCount, len(c.Warnings)}, []any{3, 3, 1}
		}},
		{"failurecount", "failurecount=3\n" + minimal + "\tfailurecount=5\n", func(c *Config) (any, any) {
			return []any{c.Global.FailureCount, c.Virtuals[0].Check.FailureCount}, []any{3, 5}
		}},
		{"autoreload", "autoreload=yes\n" + minimal, func(c *Config) (any, any) { return c.Global.AutoReload, true }},
		{"callback", "callback=\"/usr/bin/sync cfg\"\n" + minimal, func(c *Config) (any, any) { return c.Global.Callback, "/usr/bin/sync cfg" }},
		{"logfile-file", "logfile=\"/tmp/ld.log\"\n" + minimal, func(c *Config) (any, any) { return c.Global.LogFile, "/tmp/ld.log" }},
		{"logfile-facility", "logfile=\"daemon\"\n" + minimal, func(c *Config) (any, any) { return c.Global.LogFile, "daemon" }},
		{"execute", "execute=a.cf\nexecute=b.cf\nexecute=a.cf\n" + minimal, func(c *Config) (any, any) { return c.Global.Execute, []string{"a.cf", "b.cf"} }},
		{"fork", "fork=yes\n" + minimal, func(c *Config) (any, any) { return c.Global.Fork, true }},
		{"supervised", "supervised=yes\n" + minimal, func(c *Config) (any, any) { return c.Global.Supervised, true }},
		{"supervised-bare", "supervised\n" + minimal, func(c *Config) (any, any) {
			return []any{c.Global.Supervised, len(c.Warnings)}, []any{true, 1}
		}},
		{"quiescent-global", "quiescent=yes\n" + minimal, func(c *Config) (any, any) {
			return []any{c.Global.Quiescent, c.Virtuals[0].Quiescent}, []any{true, true}
		}},
		{"quiescent-virtual-overrides", "quiescent=yes\n" + minimal + "\tquiescent=no\nvirtual=10.0.0.1:81\n\treal=10.0.0.2 gate\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Quiescent, c.Virtuals[1].Quiescent}, []any{false, true}
		}},
		{"quiescent-virtual-on", minimal + "\tquiescent=yes\n", func(c *Config) (any, any) { return c.Virtuals[0].Quiescent, true }},
		{"global-after-section-applies", minimal + "quiescent=yes\ncleanstop=no\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Quiescent, c.Virtuals[0].CleanStop}, []any{true, false}
		}},
		{"readdquiescent", "readdquiescent=yes\n" + minimal, func(c *Config) (any, any) { return c.Global.ReaddQuiescent, true }},
		{"cleanstop", "cleanstop=no\n" + minimal + "virtual=10.0.0.1:81\n\treal=10.0.0.2 gate\n\tcleanstop=yes\n", func(c *Config) (any, any) {
			return []any{c.Global.CleanStop, c.Virtuals[0].CleanStop, c.Virtuals[1].CleanStop}, []any{false, false, true}
		}},
		{"emailalert", "emailalert=\"a@x, b@x\"\n" + minimal + "\temailalert=c@x\n", func(c *Config) (any, any) {
			return []any{c.Global.EmailAlert, c.Virtuals[0].EmailAlert}, []any{"a@x, b@x", "c@x"}
		}},
		{"emailalertfreq", "emailalertfreq=0\n" + minimal + "\temailalertfreq=90\n", func(c *Config) (any, any) {
			return []any{c.Global.EmailAlertFreq, c.Virtuals[0].EmailAlertFreq}, []any{time.Duration(0), 90 * time.Second}
		}},
		{"emailalertstatus", "emailalertstatus=stopping, reloading\n" + minimal + "\temailalertstatus=none\n", func(c *Config) (any, any) {
			return []any{c.Global.EmailAlertStatus.String(), c.Virtuals[0].EmailAlertStatus.String()}, []any{"stopping,reloading", "none"}
		}},
		{"emailalertstatus-all", "emailalertstatus=all\n" + minimal, func(c *Config) (any, any) { return c.Global.EmailAlertStatus, AlertAll }},
		{"emailalertfrom", "emailalertfrom=lvs@example.com\n" + minimal, func(c *Config) (any, any) { return c.Global.EmailAlertFrom, "lvs@example.com" }},
		{"smtp", "smtp=mx.example.com\n" + minimal + "\tsmtp=relay\n", func(c *Config) (any, any) {
			return []any{c.Global.SMTP, c.Virtuals[0].SMTP}, []any{"mx.example.com", "relay"}
		}},
		{"maintenancedir", "maintenancedir=/etc/ha.d/maint\n" + minimal, func(c *Config) (any, any) { return c.Global.MaintenanceDir, "/etc/ha.d/maint" }},
		{"fallbackcommand", "fallbackcommand=\"/bin/fb\"\n" + minimal + "virtual=10.0.0.1:81\n\treal=10.0.0.2 gate\n\tfallbackcommand=\"/bin/own x\"\n", func(c *Config) (any, any) {
			// Global keeps quotes (ldirectord does; its shell removes them).
			return []any{c.Virtuals[0].FallbackCommand, c.Virtuals[1].FallbackCommand}, []any{`"/bin/fb"`, "/bin/own x"}
		}},
		{"dataplane", "dataplane=userspace\n" + minimal, func(c *Config) (any, any) { return c.Global.Dataplane, DataplaneUserspace }},
		{"dataplane-comment", "dataplane = ipvs # kernel\n" + minimal, func(c *Config) (any, any) { return c.Global.Dataplane, DataplaneIPVS }},
		{"metrics-default", minimal, func(c *Config) (any, any) { return c.Global.Metrics, "" }},
		{"metrics", "metrics = 127.0.0.1:9695 # prometheus\n" + minimal, func(c *Config) (any, any) { return c.Global.Metrics, "127.0.0.1:9695" }},
		{"metrics-quoted-v6", "metrics=\"[::1]:9695\"\n" + minimal, func(c *Config) (any, any) { return c.Global.Metrics, "[::1]:9695" }},
		{"metrics-any", "metrics=:9695\n" + minimal, func(c *Config) (any, any) { return c.Global.Metrics, ":9695" }},
		{"syncdaemon-default", minimal, func(c *Config) (any, any) { return c.Global.SyncDaemon, (*SyncDaemon)(nil) }},
		{"syncdaemon", "syncdaemon = eth1 # sync link\n" + minimal, func(c *Config) (any, any) {
			return *c.Global.SyncDaemon, SyncDaemon{Line: 1, Interface: "eth1"}
		}},
		{"syncdaemon-all", minimal + "syncdaemon=bond0.12 syncid=255 maxlen=1400 mcast=239.9.9.9:9000 ttl=2\n", func(c *Config) (any, any) {
			return *c.Global.SyncDaemon, SyncDaemon{Line: 3, Interface: "bond0.12", SyncID: 255, MaxLen: 1400,
				Group: netip.MustParseAddr("239.9.9.9"), Port: 9000, TTL: 2}
		}},
		{"syncdaemon-group-only", "syncdaemon=eth0 mcast=224.0.0.81\n" + minimal, func(c *Config) (any, any) {
			return []any{c.Global.SyncDaemon.Group, c.Global.SyncDaemon.Port}, []any{netip.MustParseAddr("224.0.0.81"), uint16(0)}
		}},
		{"syncdaemon-group6", "syncdaemon=eth0 mcast=[ff02::81]:8848\n" + minimal, func(c *Config) (any, any) {
			return []any{c.Global.SyncDaemon.Group, c.Global.SyncDaemon.Port}, []any{netip.MustParseAddr("ff02::81"), uint16(8848)}
		}},
		{"syncdaemon-group6-bare", "syncdaemon=eth0 mcast=ff02::81\n" + minimal, func(c *Config) (any, any) {
			return []any{c.Global.SyncDaemon.Group, c.Global.SyncDaemon.Port}, []any{netip.MustParseAddr("ff02::81"), uint16(0)}
		}},
		{"request", minimal + "\trequest=\"health\"\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Check.Request, c.Virtuals[0].Reals[0].Request}, []any{"/health", "/health"}
		}},
		{"receive-regex", minimal + "\treceive=\"^OK$\"\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.Receive, "^OK$" }},
		{"request-inner-quotes", minimal + "\trequest=\"say \"hi\"\"\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.Request, `/say "hi"` }},
		{"virtualhost-quoted", minimal + "\tvirtualhost=\"www.example.com\"\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.VirtualHost, "www.example.com" }},
		{"virtualhost-plain", minimal + "\tvirtualhost=www.example.com # c\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.VirtualHost, "www.example.com" }},
		{"httpmethod", minimal + "\thttpmethod=Head\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.HTTPMethod, "HEAD" }},
		{"login-passwd-database-secret", minimal + "\tlogin=\"u\"\n\tpasswd=\"p w\"\n\tdatabase=\"db\"\n\tsecret=\"s\"\n", func(c *Config) (any, any) {
			k := c.Virtuals[0].Check
			return []string{k.Login, k.Passwd, k.Database, k.Secret}, []string{"u", "p w", "db", "s"}
		}},
		{"ftp-default-credentials", "virtual=10.0.0.1:21\n\treal=10.0.0.2 gate\n\tservice=ftp\n", func(c *Config) (any, any) {
			k := c.Virtuals[0].Check
			return []string{k.Login, k.Passwd}, []string{"anonymous", "ldirectord@director1"}
		}},
		{"ftp-derived-no-credentials", "virtual=10.0.0.1:21\n\treal=10.0.0.2 gate\n", func(c *Config) (any, any) {
			k := c.Virtuals[0].Check
			return []string{k.Service, k.Login, k.Passwd}, []string{"ftp", "", ""}
		}},
		{"sip-default-login", "virtual=10.0.0.1:5060\n\treal=10.0.0.2 gate\n\tservice=sip\n\tlogin=\"later\"\n", func(c *Config) (any, any) {
			return c.Virtuals[0].Check.Login, "later"
		}},
		{"service", minimal + "\tservice=simpletcp\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.Service, "simpletcp" }},
		{"service-by-port", "virtual=10.0.0.1:8080\n\treal=10.0.0.2 gate\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.Service, "none" }},
		{"checkport", minimal + "\tcheckport=8081\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.CheckPort, uint16(8081) }},
		{"checkcommand", minimal + "\tchecktype=external\n\tcheckcommand=/usr/bin/check -v\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Check.Type, c.Virtuals[0].Check.CheckCommand}, []any{CheckExternal, "/usr/bin/check -v"}
		}},
		{"checktype-number", minimal + "\tchecktype = 4\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Check.Type, c.Virtuals[0].Check.Connects}, []any{CheckCombined, 4}
		}},
		{"checktype-on", minimal + "\tchecktype=on\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.Type, CheckOn }},
		{"checktype-off", minimal + "\tchecktype=off\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.Type, CheckOff }},
		{"checktype-ping", minimal + "\tchecktype=ping\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.Type, CheckPing }},
		{"checktype-external-perl", minimal + "\tchecktype=external-perl\n", func(c *Config) (any, any) { return c.Virtuals[0].Check.Type, CheckExternalPerl }},
		{"checktype-digit-word", minimal + "\tchecktype=negotiate2\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Check.Type, c.Virtuals[0].Check.Connects, len(c.Warnings)}, []any{CheckCombined, 2, 1}
		}},
		{"scheduler", minimal + "\tscheduler=mh\n", func(c *Config) (any, any) { return c.Virtuals[0].Scheduler, "mh" }},
		{"persistent-netmask", minimal + "\tpersistent=900\n\tnetmask=255.255.255.128\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Persistent, c.Virtuals[0].Netmask}, []any{15 * time.Minute, 25}
		}},
		{"schedflags", minimal + "\tscheduler=sh\n\tschedflags=sh-port\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].SchedFlags, c.Virtuals[0].Flags}, []any{"sh-port", dataplane.SchedFlag2}
		}},
		{"schedflags-numbered", minimal + "\tschedflags=flag-1,flag-3\n", func(c *Config) (any, any) {
			return c.Virtuals[0].Flags, dataplane.SchedFlag1 | dataplane.SchedFlag3
		}},
		{"protocol-udp", minimal + "\tprotocol=udp\n", func(c *Config) (any, any) { return c.Virtuals[0].Key(), "udp 10.0.0.1:80" }},
		{"ops", "virtual=10.0.0.1:53\n\treal=10.0.0.2:53 gate\n\tops=yes\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Key(), c.Virtuals[0].OPS, c.Virtuals[0].Check.Service}, []any{"udp 10.0.0.1:53", true, "dns"}
		}},
		{"monitorfile", minimal + "\tmonitorfile=\"/var/log/mon.log\"\n", func(c *Config) (any, any) { return c.Virtuals[0].MonitorFile, "/var/log/mon.log" }},
		{"servicename-comment-load", minimal + "\tservicename=Shop\n\tcomment=front end\n\tload=\"cpu x\"\n", func(c *Config) (any, any) {
			v := c.Virtuals[0]
			return []string{v.ServiceName, v.Comment, v.Load}, []string{"Shop", "front end", "cpu"}
		}},
		{"fallback-virtual-noport", "virtual=10.0.0.1:http\n\treal=10.0.0.2 gate\n\tfallback=127.0.0.1 ipip\n", func(c *Config) (any, any) {
			f := c.Virtuals[0].Fallback
			return []any{f.Key(), f.Method, f.Line}, []any{"127.0.0.1:80", "ipip", 3}
		}},
		{"fallback-global-noport-uses-virtual-port", "fallback=127.0.0.1\n" + minimal + "virtual=10.0.0.1:8080\n\treal=10.0.0.2 gate\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Fallback.Key(), c.Virtuals[1].Fallback.Key(), c.Virtuals[0].Fallback.Method}, []any{"127.0.0.1:80", "127.0.0.1:8080", "gate"}
		}},
		{"fallback-global-family", "fallback6=[::1]:8080 masq\n" + minimal + "virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2] gate\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Fallback == nil, c.Virtuals[1].Fallback.Key()}, []any{true, "[::1]:8080"}
		}},
		{"tab-counts-as-four", "virtual=10.0.0.1:80\n \treal=10.0.0.2 gate\n  \t  scheduler=sh\n", func(c *Config) (any, any) { return c.Virtuals[0].Scheduler, "sh" }},
		{"comment-lines-keep-section", "virtual=10.0.0.1:80\n# x\n\treal=10.0.0.2 gate\n  # y\n\tscheduler=sh\n", func(c *Config) (any, any) { return c.Virtuals[0].Scheduler, "sh" }},
		{"numbers-first-digits", "checkinterval=5s\n" + minimal, func(c *Config) (any, any) {
			return []any{c.Global.CheckInterval, len(c.Warnings)}, []any{5 * time.Second, 1}
		}},
		{"numbers-comment-no-warning", "checkinterval=5 # seconds\n" + minimal, func(c *Config) (any, any) {
			return []any{c.Global.CheckInterval, len(c.Warnings)}, []any{5 * time.Second, 0}
		}},
		{"crlf", "autoreload=yes\r\n" + strings.ReplaceAll(minimal, "\n", "\r\n"), func(c *Config) (any, any) { return c.Global.AutoReload, true }},
		{"no-final-newline", strings.TrimSuffix(minimal, "\n"), func(c *Config) (any, any) { return len(c.Virtuals[0].Reals), 1 }},
		{"virtual-trailing-junk-warns", "virtual=10.0.0.1:80 web\n\treal=10.0.0.2 gate\n", func(c *Config) (any, any) {
			return []any{c.Virtuals[0].Key(), len(c.Warnings)}, []any{"tcp 10.0.0.1:80", 1}
		}},
	}
	_ = G{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.text)
			got, want := tc.check(c)
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
				t.Errorf("got %#v, want %#v (warnings %v)", got, want, c.Warnings)
			}
		})
	}
}

func TestReals(t *testing.T) {
	c := mustParse(t, "virtual=10.0.0.1:80\n"+
		"\treal=192.168.1.1->192.168.1.3:8080 masq 2\n"+
		"\treal=web1:http gate 0 \"ping\", \"pong\" l:3 u:30\n"+
		"\treal=first->last ipip\n"+
		"\treal=192.168.1.255->192.168.2.1 gate\n"+
		"\treal=10.0.0.9:webcache gate 65535\n")
	var got []string
	for _, r := range c.Virtuals[0].Reals {
		got = append(got, fmt.Sprintf("%d %s %s %s w=%d %q %q own=%v l=%d u=%d", r.Line, r.Host, r.Key(), r.Method, r.Weight, r.Request, r.Receive, r.OwnCheck, r.LowerThreshold, r.UpperThreshold))
	}
	want := []string{
		`2 192.168.1.1->192.168.1.3:8080 192.168.1.1:8080 masq w=2 "/" "" own=false l=0 u=0`,
		`2 192.168.1.1->192.168.1.3:8080 192.168.1.2:8080 masq w=2 "/" "" own=false l=0 u=0`,
		`2 192.168.1.1->192.168.1.3:8080 192.168.1.3:8080 masq w=2 "/" "" own=false l=0 u=0`,
		`3 web1:http 192.168.1.11:80 gate w=0 "/ping" "pong" own=true l=3 u=30`,
		`4 first->last 192.168.1.20:0 ipip w=1 "/" "" own=false l=0 u=0`,
		`4 first->last 192.168.1.21:0 ipip w=1 "/" "" own=false l=0 u=0`,
		`4 first->last 192.168.1.22:0 ipip w=1 "/" "" own=false l=0 u=0`,
		`5 192.168.1.255->192.168.2.1 192.168.1.255:0 gate w=1 "/" "" own=false l=0 u=0`,
		`5 192.168.1.255->192.168.2.1 192.168.2.0:0 gate w=1 "/" "" own=false l=0 u=0`,
		`5 192.168.1.255->192.168.2.1 192.168.2.1:0 gate w=1 "/" "" own=false l=0 u=0`,
		`6 10.0.0.9:webcache 10.0.0.9:8080 gate w=65535 "/" "" own=false l=0 u=0`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("reals:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	v := c.Virtuals[0]
	if p := v.CheckPortFor(v.Reals[4]); p != 80 {
		t.Errorf("check port of a portless real on an http virtual = %d, want 80", p)
	}
	if v.CheckKey(v.Reals[0]) == v.CheckKey(v.Reals[1]) || v.CheckKey(v.Reals[0]) != v.CheckKey(v.Reals[0]) {
		t.Error("CheckKey must differ per real and be stable")
	}
}

func TestRealRangeBudget(t *testing.T) {
	es := parseErr(t, "virtual=10.0.0.1:80\n\treal=10.0.0.0->10.255.255.255 gate\n")
	if len(es) != 1 || es[0].Line != 2 || !strings.Contains(es[0].Msg, "16777216 addresses") {
		t.Errorf("got %v", es)
	}
	_, err := ParseBytes("x", []byte("virtual=10.0.0.1:80\n\treal=10.0.0.1->10.0.0.4 gate\n\treal=10.0.1.1 gate\n"), Options{MaxReals: 4})
	if err == nil || !strings.Contains(err.Error(), "x:3: more than 4 real servers") {
		t.Errorf("MaxReals: %v", err)
	}
}

func TestIPv6(t *testing.T) {
	c := mustParse(t, "virtual6=[2001:db8::1]:443\n"+
		"\treal6=[2001:db8::2]:443 masq 3\n"+
		"\treal6=web6:https gate\n"+
		"\treal6=web2 gate\n"+
		"\tfallback6=[::1]:8443 masq\n"+
		"\tnetmask=48\n\tpersistent=10\n"+
		"virtual6=vip6.example:80\n\treal6=[2001:db8::3] gate\n"+
		"virtual6=9\n\treal6=[2001:db8::3] gate\n")
	v := c.Virtuals[0]
	if v.Key() != "tcp [2001:db8::1]:443" || !v.IPv6 || v.Check.Service != "https" || v.Netmask != 48 {
		t.Errorf("v6 virtual: %+v", v)
	}
	var keys []string
	for _, r := range v.Reals {
		keys = append(keys, r.Key())
	}
	// web2 has an IPv4 and an IPv6 address: real6 takes the IPv6 one.
	if strings.Join(keys, " ") != "[2001:db8::2]:443 [2001:db8::16]:443 [2001:db8::12]:0" {
		t.Errorf("reals %v", keys)
	}
	if v.Fallback.Key() != "[::1]:8443" || v.Fallback.Method != "masq" {
		t.Errorf("fallback %+v", v.Fallback)
	}
	if k := c.Virtuals[1].Key(); k != "tcp [2001:db8::100]:80" {
		t.Errorf("resolved v6 virtual %s", k)
	}
	if k := c.Virtuals[2].Key(); k != "fwm6 9" {
		t.Errorf("v6 fwmark %s", k)
	}
}

func TestFWMark(t *testing.T) {
	c := mustParse(t, "virtual=1\n\treal=10.0.0.2 gate\n\treal=10.0.0.3 gate 2\n\tservice=http\n\tprotocol=fwm\n")
	v := c.Virtuals[0]
	if v.Key() != "fwm 1" || v.FWMark != 1 || v.Protocol != "fwm" || v.Addr.IsValid() || v.Check.Service != "http" {
		t.Errorf("fwm: %+v", v)
	}
	if p := v.CheckPortFor(v.Reals[0]); p != 80 {
		t.Errorf("fwm http check port %d", p)
	}
	c = mustParse(t, "virtual=2\n\treal=10.0.0.2 gate\n\tfallback=127.0.0.1\n")
	if c.Virtuals[0].Check.Service != "none" || c.Virtuals[0].Fallback.Key() != "127.0.0.1:0" {
		t.Errorf("fwm defaults: %+v fallback %+v", c.Virtuals[0].Check, c.Virtuals[0].Fallback)
	}
}

func TestResolver(t *testing.T) {
	f := newFake()
	c, err := ParseBytes("ldirectord.cf", []byte("virtual=vip.example:http\n\treal=web1:http gate\n\treal=web2 masq\n\tfallback=localhost:http\n"), f.opts())
	if err != nil {
		t.Fatal(err)
	}
	v := c.Virtuals[0]
	if v.Key() != "tcp 10.0.0.100:80" || v.Host != "vip.example:http" {
		t.Errorf("virtual %s (%s)", v.Key(), v.Host)
	}
	if v.Reals[0].Key() != "192.168.1.11:80" || v.Reals[1].Key() != "192.168.1.12:0" || v.Reals[1].Host != "web2" {
		t.Errorf("reals %s %s", v.Reals[0].Key(), v.Reals[1].Key())
	}
	if v.Fallback.Key() != "127.0.0.1:80" {
		t.Errorf("fallback %s", v.Fallback.Key())
	}
	// The virtual's port is looked up for its protocol; a real's for any.
	joined := strings.Join(f.calls, ";")
	for _, want := range []string{"port tcp/http", "port /http", "host vip.example", "host web1", "host web2", "host localhost"} {
		if !strings.Contains(joined, want) {
			t.Errorf("resolver calls %q lack %q", joined, want)
		}
	}
	// IP literals never reach the resolver.
	f = newFake()
	if _, err := ParseBytes("x", []byte(minimal), f.opts()); err != nil || len(f.calls) != 0 {
		t.Errorf("literal config called the resolver: %v %v", f.calls, err)
	}
	// A resolver failure keeps its cause.
	_, err = ParseBytes("x", []byte("virtual=10.0.0.1:80\n\treal=nosuch gate\n"), newFake().opts())
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !errors.Is(err, ErrResolve) {
		t.Errorf("resolver error not wrapped: %v", err)
	}
}

// TestErrors covers every error path, with the line it must name.
func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		text string
		line int
		msg  string
	}{
		{"unknown-global", "foo=bar\n" + minimal, 1, `unknown directive "foo"`},
		{"unknown-virtual", minimal + "\tfoo=bar\n", 3, `unknown directive "foo"`},
		{"unknown-no-name", "!!!\n" + minimal, 1, `unknown directive "!!!"`},
		{"missing-equals", "quiescent yes\n" + minimal, 1, `missing "=" after "quiescent"`},
		{"virtual-only-at-global", "request=\"x\"\n" + minimal, 1, `"request" is only valid inside a virtual section`},
		{"global-only-in-virtual", minimal + "\tfork=yes\n", 3, `"fork" is a global directive`},
		{"virtual-indented", minimal + "\tvirtual=10.0.0.1:81\n", 3, "virtual must start in column 0"},
		{"indented-after-blank", minimal + "\n\tscheduler=rr\n", 4, "is not inside a virtual section"},
		{"two-space-indent", "virtual=10.0.0.1:80\n  real=10.0.0.2 gate\n", 2, "is not inside a virtual section"},
		{"whitespace-only", minimal + "      \n", 3, "whitespace-only line"},
		{"checktimeout-zero", "checktimeout=0\n" + minimal, 1, "invalid checktimeout value"},
		{"negotiatetimeout-none", "negotiatetimeout=x\n" + minimal, 1, "invalid negotiatetimeout value"},
		{"checkinterval-huge", "checkinterval=99999999999999999999999\n" + minimal, 1, "too large"},
		{"failurecount-virtual", minimal + "\tfailurecount=0\n", 3, "invalid failurecount value"},
		{"checkcount-virtual", minimal + "\tcheckcount=none\n", 3, "invalid checkcount value"},
		{"checkinterval-virtual", minimal + "\tcheckinterval=0\n", 3, "invalid checkinterval value"},
		{"connecttimeout", "connecttimeout=3\n" + minimal, 1, "connecttimeout directive deprecated"},
		{"connecttimeout-virtual", minimal + "\tconnecttimeout=3\n", 3, "connecttimeout directive deprecated"},
		{"timeout", "timeout=3\n" + minimal, 1, "timeout directive deprecated"},
		{"yesno-trailing", "autoreload=yes \n" + minimal, 1, "autoreload must be 'yes' or 'no'"},
		{"yesno-virtual-comment", minimal + "\tquiescent=yes # c\n", 3, "quiescent must be 'yes' or 'no'"},
		{"fork", "fork=1\n" + minimal, 1, "fork must be"},
		{"readdquiescent", "readdquiescent=on\n" + minimal, 1, "readdquiescent must be"},
		{"cleanstop-virtual", minimal + "\tcleanstop=maybe\n", 3, "cleanstop must be"},
		{"ops", minimal + "\tops=true\n", 3, "ops must be"},
		{"supervised", "supervised=true\n" + minimal, 1, "supervised must be"},
		{"callback-unquoted", "callback=/bin/x\n" + minimal, 1, "callback needs a double-quoted path"},
		{"logfile-unquoted", "logfile=/var/log/x\n" + minimal, 1, "logfile needs a double-quoted value"},
		{"fallbackcommand-empty", "fallbackcommand=\n" + minimal, 1, "invalid fallback command"},
		{"fallbackcommand-virtual-empty", minimal + "\tfallbackcommand=\"\"\n", 3, "invalid fallback command"},
		{"emailalert-empty", "emailalert=\n" + minimal, 1, "no email address specified"},
		{"emailalertfreq", "emailalertfreq=often\n" + minimal, 1, "invalid email alert frequency"},
		{"emailalertstatus", "emailalertstatus=running,sleeping\n" + minimal, 1, `invalid email alert status at: "sleeping"`},
		{"emailalertstatus-none", minimal + "\temailalertstatus=none, running\n", 3, `"running" specified with "none"`},
		{"emailalertfrom", "emailalertfrom=\n" + minimal, 1, "no email from address specified"},
		{"smtp", "smtp=:25\n" + minimal, 1, "invalid SMTP server address"},
		{"maintenancedir", "maintenancedir=\n" + minimal, 1, "maintenance directory not specified"},
		{"dataplane", "dataplane=dpdk\n" + minimal, 1, `dataplane must be "ipvs" or "userspace"`},
		{"metrics-empty", "metrics=\n" + minimal, 1, "metrics needs a listen address"},
		{"metrics-no-port", "metrics=127.0.0.1\n" + minimal, 1, "missing port in address"},
		{"metrics-bad-port", "metrics=127.0.0.1:http\n" + minimal, 1, "port must be a number from 1 to 65535"},
		{"metrics-port-zero", "metrics=127.0.0.1:0\n" + minimal, 1, "port must be a number from 1 to 65535"},
		{"metrics-in-virtual", minimal + "\tmetrics=127.0.0.1:9695\n", 3, `"metrics" is a global directive`},
		{"syncdaemon-empty", "syncdaemon=\n" + minimal, 1, "syncdaemon needs the interface"},
		{"syncdaemon-option-first", "syncdaemon=syncid=1\n" + minimal, 1, "syncdaemon needs the interface"},
		{"syncdaemon-long-ifname", "syncdaemon=averylonginterface0\n" + minimal, 1, "not a valid interface name"},
		{"syncdaemon-syncid", "syncdaemon=eth0 syncid=256\n" + minimal, 1, "syncid=256: want a number from 0 to 255"},
		{"syncdaemon-maxlen", "syncdaemon=eth0 maxlen=70000\n" + minimal, 1, "maxlen=70000: want a number from 1 to 65507"},
		{"syncdaemon-ttl-zero", "syncdaemon=eth0 ttl=0\n" + minimal, 1, "ttl=0: want a number from 1 to 255"},
		{"syncdaemon-unicast", "syncdaemon=eth0 mcast=10.0.0.1:8848\n" + minimal, 1, "10.0.0.1 is not a multicast address"},
		{"syncdaemon-bad-port", "syncdaemon=eth0 mcast=239.1.1.1:http\n" + minimal, 1, "port must be a number"},
		{"syncdaemon-port-zero", "syncdaemon=eth0 mcast=239.1.1.1:0\n" + minimal, 1, "port must be from 1 to 65535"},
		{"syncdaemon-unknown-option", "syncdaemon=eth0 group=239.1.1.1\n" + minimal, 1, `unknown syncdaemon option "group"`},
		{"syncdaemon-twice-option", "syncdaemon=eth0 ttl=1 ttl=2\n" + minimal, 1, "ttl given twice"},
		{"syncdaemon-no-value", "syncdaemon=eth0 ttl\n" + minimal, 1, `option "ttl": want name=value`},
		{"syncdaemon-twice", "syncdaemon=eth0\nsyncdaemon=eth1\n" + minimal, 2, "syncdaemon given twice (first on line 1)"},
		{"syncdaemon-in-virtual", minimal + "\tsyncdaemon=eth0\n", 3, `"syncdaemon" is a global directive`},
		{"syncdaemon-userspace", "syncdaemon=eth0\n" + minimal + "dataplane=userspace\n", 1, "syncdaemon needs the kernel's IPVS"},
		{"request-unquoted", minimal + "\trequest=/x\n", 3, "request needs a double-quoted value"},
		{"request-empty", minimal + "\trequest=\"\"\n", 3, "no request string specified"},
		{"receive-empty", minimal + "\treceive=\"\"\n", 3, "invalid receive string"},
		{"receive-hash", minimal + "\treceive=\"a#b\"\n", 3, "receive needs a double-quoted value"},
		{"login-empty", minimal + "\tlogin=\"\"\n", 3, "invalid login string"},
		{"passwd-unquoted", minimal + "\tpasswd=x\n", 3, "passwd needs a double-quoted value"},
		{"database-empty", minimal + "\tdatabase=\"\"\n", 3, "invalid database"},
		{"secret-empty", minimal + "\tsecret=\"\"\n", 3, "invalid secret"},
		{"load", minimal + "\tload=\"!!\"\n", 3, "invalid string for load testing"},
		{"load-unquoted", minimal + "\tload=x\n", 3, "load needs a double-quoted value"},
		{"checktype", minimal + "\tchecktype=http\n", 3, "checktype must be"},
		{"checktype-huge", minimal + "\tchecktype=99999999999999999999\n", 3, "number too large"},
		{"checkcommand-empty", minimal + "\tcheckcommand=\n", 3, "invalid check command"},
		{"checkport-none", minimal + "\tcheckport=http\n", 3, "invalid port"},
		{"checkport-range", minimal + "\tcheckport=65536\n", 3, "checkport must be in range 1..65535"},
		{"scheduler", minimal + "\tscheduler=WLC\n", 3, "invalid scheduler"},
		{"persistent-none", minimal + "\tpersistent=long\n", 3, "invalid persistent timeout"},
		{"persistent-zero", minimal + "\tpersistent=0\n", 3, "persistent timeout must be"},
		{"schedflags", minimal + "\tschedflags=\n", 3, "invalid sched-flags"},
		{"schedflags-incompatible", minimal + "\tschedflags=sh-port\n", 3, "needs scheduler sh, not wrr"},
		{"schedflags-unknown", minimal + "\tscheduler=sh\n\tschedflags=sh-fallback,fast\n", 4, `invalid scheduler flag "fast"`},
		{"schedflags-userspace", "dataplane=userspace\n" + minimal + "\tscheduler=sh\n\tschedflags=sh-port\n", 5, "userspace dataplane takes only sh-fallback"},
		{"ops-tcp", minimal + "\tops=yes\n", 3, "only for UDP virtual services"},
		{"ops-userspace", "dataplane=userspace\nvirtual=10.0.0.1:53\n\treal=10.0.0.2:53 gate\n\tops=yes\n", 4, "no one-packet scheduling"},
		{"netmask-v4", minimal + "\tnetmask=24\n", 3, "dotted quad notation is required"},
		{"netmask-v4-octet", minimal + "\tnetmask=255.255.256.0\n", 3, "dotted quad notation is required"},
		{"netmask-v4-holes", minimal + "\tnetmask=255.0.255.0\n", 3, "must be contiguous"},
		{"netmask-v6", "virtual6=[::1]:80\n\treal6=[::2] gate\n\tnetmask=0\n", 3, "prefix length between 1 and 128"},
		{"protocol-empty", minimal + "\tprotocol=\n", 3, "invalid protocol"},
		{"protocol-sctp", minimal + "\tprotocol=sctp\n", 3, "protocol must be tcp or udp"},
		{"protocol-fwm", "virtual=3\n\treal=10.0.0.2 gate\n\tprotocol=udp\n", 3, "protocol must be fwm"},
		{"service", minimal + "\tservice=gopher\n", 3, "service must be one of"},
		{"httpmethod", minimal + "\thttpmethod=POST\n", 3, "httpmethod must be GET or HEAD"},
		{"monitorfile-empty", minimal + "\tmonitorfile=\"\"\n", 3, "unable to open monitorfile"},
		{"virtual-empty", "virtual=\n", 1, "invalid address for virtual server: empty"},
		{"virtual-fwmark-trap", "virtual=127.0.0.100\n\treal=10.0.0.2 gate\n", 1, "would read it as firewall mark 127"},
		{"virtual-fwmark-zero", "virtual=0\n\treal=10.0.0.2 gate\n", 1, "invalid firewall mark 0"},
		{"virtual-fwmark-huge", "virtual=4294967296\n\treal=10.0.0.2 gate\n", 1, "invalid firewall mark"},
		{"virtual-garbage", "virtual=a/b:80\n", 1, "invalid address \"a/b:80\" for virtual server"},
		{"virtual-v6-in-v4", "virtual=[::1]:80\n", 1, "please use \"virtual6\""},
		{"virtual6-v4-literal", "virtual6=10.0.0.1:80\n", 1, "is an IPv4 address in an IPv6"},
		{"virtual6-unbracketed", "virtual6=2001:db8::1\n", 1, "invalid address"},
		{"virtual-unresolvable", "virtual=nosuch:80\n\treal=10.0.0.2 gate\n", 1, "invalid address for virtual service"},
		{"virtual-no-ipv4", "virtual=vip6.example:80\n\treal=10.0.0.2 gate\n", 1, "no IPv4 address"},
		{"virtual-bad-service", "virtual=10.0.0.1:gopher\n\treal=10.0.0.2 gate\n", 1, "invalid port for virtual service"},
		{"virtual-port-range", "virtual=10.0.0.1:65536\n\treal=10.0.0.2 gate\n", 1, "out of range 0..65535"},
		{"duplicate-virtual", minimal + "virtual=10.0.0.1:http\n\treal=10.0.0.2 gate\n", 3, "duplicate virtual server tcp 10.0.0.1:80 (first defined on line 1)"},
		{"real6-in-virtual", minimal + "\treal6=[::1] gate\n", 3, `cannot specify "real6" here`},
		{"real-in-virtual6", "virtual6=[::1]:80\n\treal=10.0.0.2 gate\n", 2, `cannot specify "real" here`},
		{"real-no-method", minimal + "\treal=10.0.0.3\n", 3, "invalid address for real server (wrong format)"},
		{"real-bad-address", minimal + "\treal=10.0.0.3/24 gate\n", 3, "wrong format"},
		{"real-bad-method", minimal + "\treal=10.0.0.3 route\n", 3, "forward method must be gate, masq or ipip"},
		{"real-trailing-space-no-method", minimal + "\treal=10.0.0.3 \n", 3, "forward method must be"},
		{"real-junk", minimal + "\treal=10.0.0.3 gate 1 x\n", 3, "Invalid real server line, around \"x\""},
		{"real-one-quoted", minimal + "\treal=10.0.0.3 gate \"a\"\n", 3, "Invalid real server line"},
		{"real-weight", minimal + "\treal=10.0.0.3 gate 65536\n", 3, "weight 65536 out of range"},
		{"real-threshold", minimal + "\treal=10.0.0.3 gate 1 l:99999999999\n", 3, "threshold l:99999999999 too large"},
		{"real-port", minimal + "\treal=10.0.0.3:99999 gate\n", 3, "invalid port (99999) for real server"},
		{"real-port-name", minimal + "\treal=10.0.0.3:gopher gate\n", 3, "invalid port (gopher) for real server"},
		{"real-unresolvable", minimal + "\treal=nosuch gate\n", 3, "invalid address (nosuch) for real server (could not resolve host)"},
		{"real-v6-literal-in-v4", minimal + "\treal=[::1] gate\n", 3, "is an IPv6 address"},
		{"real-range-end", minimal + "\treal=10.0.0.3->nosuch gate\n", 3, "could not resolve end host"},
		{"real-range-reversed", minimal + "\treal=10.0.0.9->10.0.0.3 gate\n", 3, "Invalid Range"},
		{"real-range-v6", "virtual6=[::1]:80\n\treal6=[::2]->[::3] gate\n", 2, "Address range for IPv6 is not supported yet"},
		{"real-duplicate", minimal + "\treal=10.0.0.1->10.0.0.3:80 gate\n", 3, "real server 10.0.0.2:80 is listed twice in this virtual (first on line 2)"},
		{"fallback-wrong-family", minimal + "\tfallback6=[::1]:80\n", 3, `cannot specify "fallback6" here`},
		{"fallback6-wrong-family", "virtual6=[::1]:80\n\treal6=[::2] gate\n\tfallback=127.0.0.1:80\n", 3, `cannot specify "fallback" here`},
		{"fallback-method", minimal + "\tfallback=127.0.0.1:80 nat\n", 3, "forward method must be gate, masq or ipip"},
		{"fallback-words", minimal + "\tfallback=a b c\n", 3, "want host[:port] [gate|masq|ipip]"},
		{"fallback-empty", "fallback=\n" + minimal, 1, "invalid fallback server"},
		{"fallback-v6-unbracketed", "fallback6=::1\n" + minimal, 1, "with an IPv6 address in brackets"},
		{"fallback-unresolvable", minimal + "\tfallback=nosuch:80\n", 3, "invalid fallback server nosuch"},
		{"fallback-port", minimal + "\tfallback=127.0.0.1:gopher\n", 3, "invalid port for fallback server"},
		{"fallback-global-unresolvable", "fallback=nosuch\n" + minimal, 1, "invalid IPv4 address or could not resolve for fallback server"},
		{"fallback-global-udp-port", "fallback=127.0.0.1:webcache\n" + minimal, 1, "must resolve for both tcp and udp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			es := parseErr(t, tc.text)
			for _, e := range es {
				if e.Line == tc.line && strings.Contains(e.Msg, tc.msg) {
					want := fmt.Sprintf("ldirectord.cf:%d: ", tc.line)
					if !strings.HasPrefix(e.Error(), want) {
						t.Errorf("error %q does not start with %q", e.Error(), want)
					}
					return
				}
			}
			t.Errorf("want line %d %q, got:\n%v", tc.line, tc.msg, es)
		})
	}
}

// TestAllErrorsCollected: every bad line is reported, in line order, and no
// configuration (globals included) comes back.
func TestAllErrorsCollected(t *testing.T) {
	text := "autoreload=yes\n" + // fine
		"checkinterval=0\n" + // 2: bad
		"virtual=10.0.0.1:80\n" +
		"\treal=nosuch gate\n" + // 4: bad (resolved after the section)
		"\tbogus=1\n" + // 5: bad
		"quiescent=perhaps\n" + // 6: bad
		"logfile=\"local0\"\n" // fine
	c, err := ParseBytes("ldirectord.cf", []byte(text), newFake().opts())
	if c != nil || err == nil {
		t.Fatal("expected errors and no config")
	}
	var lines []int
	for _, e := range err.(Errors) {
		lines = append(lines, e.Line)
	}
	if fmt.Sprint(lines) != "[2 4 5 6]" {
		t.Errorf("lines %v:\n%v", lines, err)
	}
	if !strings.Contains(err.Error(), "\n") {
		t.Error("Errors.Error should list one per line")
	}
	if n := len(err.(Errors).Unwrap()); n != 4 {
		t.Errorf("Unwrap gave %d", n)
	}
}

func TestErrorCap(t *testing.T) {
	text := strings.Repeat("bogus\n", 1000)
	_, err := ParseBytes("x", []byte(text), Options{})
	es := err.(Errors)
	if len(es) != maxErrors+1 || !strings.Contains(es.Error(), "too many errors") {
		t.Errorf("got %d errors", len(es))
	}
}

func TestWarnings(t *testing.T) {
	c := mustParse(t, "supervised\ncheckcount=2\ncheckinterval=2.5\n"+
		"virtual=10.0.0.1:80 extra\n\treal=10.0.0.2 gate\n\tcheckinterval=4\n\tchecktype=3x\n\trequest=\"a\" b\n\tsmtp=mx:25\n")
	var got []string
	for _, w := range c.Warnings {
		got = append(got, w.Error())
	}
	want := []string{
		"ldirectord.cf:1: please update your config not to use a bare supervised directive",
		"ldirectord.cf:2: checkcount option is deprecated",
		`ldirectord.cf:3: checkinterval: reading "2.5" as 2`,
		`ldirectord.cf:4: ignoring "extra" after the virtual address`,
		`ldirectord.cf:7: checktype "3x" contains a digit`,
		`ldirectord.cf:8: request: ignoring "b" after the value`,
		`ldirectord.cf:9: smtp: ignoring ":25" after the value`,
		"ldirectord.cf:6: checkinterval in virtual service tcp 10.0.0.1:80 ignored when fork=no",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

func TestKeys(t *testing.T) {
	c := mustParse(t, "virtual=10.0.0.1:53\n\treal=10.0.0.2 gate\n"+
		"virtual=10.0.0.1:53\n\treal=10.0.0.2 gate\n\tprotocol=tcp\n"+
		"virtual=5\n\treal=10.0.0.2 gate\n"+
		"virtual6=5\n\treal6=[::2] gate\n"+
		"virtual6=[2001:db8::1]:53\n\treal6=[::2] gate\n")
	var keys []string
	for _, v := range c.Virtuals {
		keys = append(keys, v.Key())
		if c.Virtual(v.Key()) != v {
			t.Errorf("Virtual(%q) lookup failed", v.Key())
		}
	}
	if strings.Join(keys, ",") != "udp 10.0.0.1:53,tcp 10.0.0.1:53,fwm 5,fwm6 5,udp [2001:db8::1]:53" {
		t.Errorf("keys %v", keys)
	}
	if c.Virtual("tcp 1.2.3.4:1") != nil {
		t.Error("lookup of a missing key")
	}
}

func TestServiceTables(t *testing.T) {
	for _, s := range Services() {
		if p := PortForService(s); p != 0 && ServiceForPort(p) != s {
			t.Errorf("%s <-> %d", s, p)
		}
	}
	if ServiceForPort(8080) != "none" || PortForService("simpletcp") != 0 || PortForService("http_proxy") != 3128 {
		t.Error("table")
	}
	if AlertStatus(5).String() != "starting,stopping" || AlertAll.String() != "all" {
		t.Error("AlertStatus.String")
	}
}

func TestParseFile(t *testing.T) {
	_, err := Parse(filepath.Join(t.TempDir(), "missing.cf"), Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "ld.cf")
	if err := os.WriteFile(p, []byte("foo=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(p, Options{}); err == nil || !strings.HasPrefix(err.Error(), p+":1: ") {
		t.Errorf("error should name the path: %v", err)
	}
}

func TestFileChecks(t *testing.T) {
	dir := t.TempDir()
	mon := filepath.Join(dir, "monitor.log")
	log := filepath.Join(dir, "ld.log")
	text := fmt.Sprintf("logfile=%q\nmaintenancedir=%s\n%s\tmonitorfile=%s\n", log, filepath.Join(dir, "nomaint"), minimal, mon)
	opts := newFake().opts()
	opts.FileChecks = true
	c, err := ParseBytes("ldirectord.cf", []byte(text), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{mon, log} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s not created: %v", f, err)
		}
	}
	if len(c.Warnings) != 1 || c.Warnings[0].Line != 2 || !strings.Contains(c.Warnings[0].Msg, "maintenance directory does not exist") {
		t.Errorf("warnings %v", c.Warnings)
	}
	// Without FileChecks nothing is touched.
	mon2 := filepath.Join(dir, "other.log")
	if _, err := ParseBytes("x", []byte(minimal+"\tmonitorfile="+mon2+"\n"), newFake().opts()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mon2); err == nil {
		t.Error("monitorfile created without FileChecks")
	}
	bad := filepath.Join(dir, "no", "such", "dir", "m.log")
	_, err = ParseBytes("ldirectord.cf", []byte(minimal+"\tmonitorfile="+bad+"\n"), opts)
	if err == nil || !strings.Contains(err.Error(), "ldirectord.cf:3: unable to open monitorfile") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("bad monitorfile: %v", err)
	}
}

func TestLocate(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf")
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "web.cf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := LocateIn("web.cf", dir, conf); err != nil || p != filepath.Join(conf, "web.cf") {
		t.Errorf("LocateIn = %q, %v", p, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web.cf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p, _ := LocateIn("web.cf", dir, conf); p != filepath.Join(dir, "web.cf") {
		t.Errorf("first directory wins: %q", p)
	}
	abs := filepath.Join(t.TempDir(), "x.cf")
	if err := os.WriteFile(abs, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := LocateIn(abs, dir, conf); err != nil || p != abs {
		t.Errorf("path as given: %q %v", p, err)
	}
	if _, err := LocateIn("nope.cf", dir, conf); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}
