package config

import (
	"strings"
	"testing"
)

func TestConsoleDirectives(t *testing.T) {
	base := "keepalive 1\ndeadtime 10\nbcast lo\nnode alpha beta\n"
	c, err := ParseHACFBytes("ha.cf", []byte(base+"console alpha 10.0.0.1:8080\nconsole beta 10.0.0.2:8080\n"+
		"console_tls /etc/ha.d/c.pem /etc/ha.d/c.key\nconsole_users /etc/ha.d/console.htpasswd\n"+
		"console_clientca /etc/ha.d/ca.pem\nconsole_readonly yes\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Console
	if cc.Addr("alpha") != "10.0.0.1:8080" || cc.Addr("beta") != "10.0.0.2:8080" || !cc.Enabled("alpha") || cc.Enabled("gamma") ||
		cc.TLSCert != "/etc/ha.d/c.pem" || cc.TLSKey != "/etc/ha.d/c.key" || cc.Users != "/etc/ha.d/console.htpasswd" ||
		cc.ClientCA != "/etc/ha.d/ca.pem" || !cc.ReadOnly || cc.Line["console_users"] != 8 {
		t.Fatalf("console: %+v", cc)
	}
	// Without a node, the address is this node's, whoever it is.
	c, err = ParseHACFBytes("ha.cf", []byte(base+"console [::]:8443\n"), Options{})
	if err != nil || c.Console.Addr("beta") != "[::]:8443" || !c.Console.Enabled("alpha") {
		t.Fatalf("one-argument console: %+v %v", c, err)
	}
	// Off by default.
	c, _ = ParseHACFBytes("ha.cf", []byte(base), Options{})
	if c.Console.Enabled("alpha") {
		t.Fatal("console on without a console line")
	}
	for _, bad := range []struct{ text, want string }{
		{"console 10.0.0.1\n", "ha.cf:5: console: \"10.0.0.1\" is not ADDR:PORT"},
		{"console alpha 10.0.0.1:99999\n", "ha.cf:5: console: port \"99999\""},
		{"console gamma 10.0.0.1:80\n", "ha.cf:5: console: \"gamma\" is not a node"},
		{"console alpha 10.0.0.1:80\nconsole alpha 10.0.0.1:81\n", "ha.cf:6: console: a second address for node alpha (line 5 has one)"},
		{"console a b c\n", "ha.cf:5: console: want [NODE] ADDR:PORT"},
		{"console alpha 1.2.3.4:80\nconsole_tls only-one\n", "ha.cf:6: console_tls: want CERTFILE KEYFILE"},
		{"console alpha 1.2.3.4:80\nconsole_users relative\n", "ha.cf:6: console_users: \"relative\" is not an absolute path"},
		{"console alpha 1.2.3.4:80\nconsole_readonly maybe\n", "ha.cf:6: console_readonly:"},
		{"console_readonly yes\n", "ha.cf:5: console_readonly without a console line"},
		{"console alpha 1.2.3.4:80\nconsole_clientca /ca.pem\n", "ha.cf:6: console_clientca needs console_tls"},
	} {
		_, err := ParseHACFBytes("ha.cf", []byte(base+bad.text), Options{})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.text, err, bad.want)
		}
	}
}
