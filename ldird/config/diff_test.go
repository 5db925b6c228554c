package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// How ldird is expected to differ from ldirectord on a case.
const (
	same     = ""         // same acceptance, same settings (or an error on the same line)
	stricter = "stricter" // ldirectord accepts (and misreads); ldird refuses
	lenient  = "lenient"  // ldirectord refuses; ldird accepts
	errLine  = "errline"  // both refuse, ldird names a different (better) line
)

const v80 = "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n"

var diffCases = []struct {
	name, text, want string
}{
	{"minimal", v80, same},
	{"defaults-port-8080", "virtual=10.0.0.1:8080\n\treal=10.0.0.2 gate\n", same},
	{"all-globals", "checktimeout=3\nnegotiatetimeout=9\ncheckinterval=4\ncheckcount=2\nfailurecount=3\nautoreload=yes\ncallback=\"/bin/cb\"\nlogfile=\"local1\"\nexecute=other.cf\nexecute=second.cf\nfork=yes\nsupervised=no\nquiescent=yes\nreaddquiescent=yes\nemailalert=\"a@b.c\"\nemailalertfreq=30\nemailalertstatus=starting, reloading\nemailalertfrom=me@x\ncleanstop=no\nsmtp=mx.example.com\nmaintenancedir=/nonexistent\nfallbackcommand=/bin/fb\n" + v80, same},
	{"numeric-first-digits", "checkinterval=1.5\ncheckinterval=5s\nchecktimeout=2 # comment\n" + v80, same},
	{"numeric-zero", "checkinterval=0\n" + v80, same},
	{"numeric-none", "failurecount=abc\n" + v80, same},
	{"yesno-trailing-space", "autoreload = yes \n" + v80, same},
	{"yesno-comment", "quiescent=yes # q\n" + v80, same},
	{"supervised-bare", "supervised\n" + v80, same},
	{"supervised-bad", "supervised=maybe\n" + v80, same},
	{"timeout-deprecated", "timeout=5\n" + v80, same},
	{"connecttimeout-deprecated", "connecttimeout=5\n" + v80, same},
	{"connecttimeout-virtual", v80 + "\tconnecttimeout=5\n", same},
	{"unknown-global", "foo=bar\n" + v80, same},
	{"virtual-directive-at-global", "scheduler=rr\n" + v80, same},
	{"two-space-indent", "virtual=10.0.0.1:80\n  real=10.0.0.2:80 gate\n", same},
	{"blank-line-ends-section", "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\n\tscheduler=rr\n", same},
	{"comment-inside-section", "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n# note\n  # indented note\n\tscheduler=rr\n", same},
	{"four-spaces-only-ends", "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n    \nquiescent=yes\n", same},
	{"five-spaces-only", "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n     \n", same},
	{"tab-and-spaces", "virtual=10.0.0.1:80\n \treal=10.0.0.2:80 gate\n        scheduler=sh\n", same},
	{"comment-after-value", "virtual=10.0.0.1:80 # web\n\treal=10.0.0.2:80 gate # first\n\tscheduler=rr # sched\n", same},
	{"quiescent-virtual-trailing-comment", v80 + "\tquiescent=yes # q\n", same},
	{"quiescent-override", "quiescent=yes\n" + v80 + "\tquiescent=no\nvirtual=10.0.0.1:81\n\treal=10.0.0.2:81 gate\n", same},
	{"global-after-virtual-applies", v80 + "quiescent=yes\nchecktimeout=7\nfallback=127.0.0.1\n", same},
	{"request-receive", v80 + "\trequest=\"index.html\"\n\treceive=\"It works\"\n", same},
	{"request-slash", v80 + "\trequest=\"/x\"\n", same},
	{"request-unquoted", v80 + "\trequest=index.html\n", same},
	{"request-empty", v80 + "\trequest=\"\"\n", same},
	{"receive-hash-in-quotes", v80 + "\treceive=\"a#b\"\n", same},
	{"request-greedy-quotes", v80 + "\trequest=\"a\" \"b\"\n", same},
	{"checktype-values", v80 + "\tchecktype=connect\nvirtual=10.0.0.1:81\n\treal=10.0.0.2 gate\n\tchecktype=off\nvirtual=10.0.0.1:82\n\treal=10.0.0.2 gate\n\tchecktype=on\nvirtual=10.0.0.1:83\n\treal=10.0.0.2 gate\n\tchecktype=external-perl\nvirtual=10.0.0.1:84\n\treal=10.0.0.2 gate\n\tchecktype=ping\n", same},
	{"checktype-number", v80 + "\tchecktype=5\n", same},
	{"checktype-zero", v80 + "\tchecktype=0\n", same},
	{"checktype-digit-in-word", v80 + "\tchecktype=negotiate2\n", same},
	{"checktype-bad", v80 + "\tchecktype=http\n", same},
	{"checkcommand-quoted-and-not", v80 + "\tchecktype=external\n\tcheckcommand=\"/bin/check arg\"\nvirtual=10.0.0.1:81\n\treal=10.0.0.2 gate\n\tchecktype=external\n\tcheckcommand=/bin/check2\n", same},
	{"per-virtual-timeouts", "checktimeout=4\nnegotiatetimeout=20\n" + v80 + "\tnegotiatetimeout=8\nvirtual=10.0.0.1:81\n\treal=10.0.0.2 gate\n\tchecktimeout=2\n", same},
	{"timeouts-fallback-chain", "negotiatetimeout=12\n" + v80, same},
	{"timeouts-fallback-chain2", "checktimeout=12\n" + v80, same},
	{"checkinterval-fork", "fork=yes\n" + v80 + "\tcheckinterval=3\n", same},
	{"checkinterval-nofork", v80 + "\tcheckinterval=3\n", same},
	{"checkport", v80 + "\tcheckport=8080\n", same},
	{"checkport-zero", v80 + "\tcheckport=0\n", same},
	{"checkport-big", v80 + "\tcheckport=70000\n", same},
	{"credentials", v80 + "\tlogin=\"u\"\n\tpasswd=\"p\"\n\tdatabase=\"d\"\n\tsecret=\"s\"\n\tload=\"x y\"\n", same},
	{"login-unquoted", v80 + "\tlogin=u\n", same},
	{"ftp-defaults", "virtual=10.0.0.1:21\n\treal=10.0.0.2 gate\n\tservice=ftp\n", same},
	{"ftp-defaults-login-first", "virtual=10.0.0.1:21\n\treal=10.0.0.2 gate\n\tlogin=\"bob\"\n\tservice=ftp\n", same},
	{"ftp-derived-no-defaults", "virtual=10.0.0.1:21\n\treal=10.0.0.2 gate\n", same},
	{"sip-default", "virtual=10.0.0.1:5060\n\treal=10.0.0.2 gate\n\tservice=sip\n\tprotocol=udp\n", same},
	{"services-by-port", "virtual=10.0.0.1:443\n\treal=10.0.0.2 gate\nvirtual=10.0.0.1:3306\n\treal=10.0.0.2 gate\nvirtual=10.0.0.1:25\n\treal=10.0.0.2 gate\nvirtual=10.0.0.1:1812\n\treal=10.0.0.2 gate\n", same},
	{"service-bad", v80 + "\tservice=gopher\n", same},
	{"service-simpletcp", v80 + "\tservice=simpletcp\n", same},
	{"scheduler", v80 + "\tscheduler=lblcr\n", same},
	{"scheduler-bad", v80 + "\tscheduler=RR\n", same},
	{"persistent-netmask", v80 + "\tpersistent=600\n\tnetmask=255.255.0.0\n", same},
	{"netmask-bad", v80 + "\tnetmask=24\n", same},
	{"netmask6", "virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2]:80 gate\n\tnetmask=64\n\tpersistent=5\n", same},
	{"netmask6-bad", "virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2]:80 gate\n\tnetmask=129\n", same},
	{"schedflags", v80 + "\tscheduler=sh\n\tschedflags=sh-fallback,sh-port\n", same},
	// ipvsadm refuses these at run time, after ldirectord has accepted the file.
	{"schedflags-incompatible", v80 + "\tschedflags=sh-fallback,sh-port\n", stricter},
	{"schedflags-unknown", v80 + "\tschedflags=fast\n", stricter},
	{"ops-tcp", v80 + "\tops=yes\n", stricter},
	{"protocol", v80 + "\tprotocol=udp\n", same},
	{"protocol-bad", v80 + "\tprotocol=sctp\n", same},
	{"protocol-fwm", "virtual=5\n\treal=10.0.0.2 gate\n\tprotocol=fwm\n", same},
	{"protocol-fwm-bad", "virtual=5\n\treal=10.0.0.2 gate\n\tprotocol=tcp\n", same},
	{"ops", "virtual=10.0.0.1:53\n\treal=10.0.0.2:53 gate\n\tops=yes\n", same},
	{"dns-domain-udp", "virtual=10.0.0.1:domain\n\treal=10.0.0.2:domain gate\n", same},
	{"httpmethod", v80 + "\thttpmethod=head\n", same},
	{"httpmethod-bad", v80 + "\thttpmethod=POST\n", same},
	{"virtualhost", v80 + "\tvirtualhost=\"www.example.com\"\nvirtual=10.0.0.1:81\n\treal=10.0.0.2 gate\n\tvirtualhost=plain.example.com\n", same},
	{"email-virtual", v80 + "\temailalert=\"x@y\"\n\temailalertfreq=5\n\temailalertstatus=all\n\tsmtp=mx\n", same},
	{"emailalertstatus-none-mixed", "emailalertstatus=none,running\n" + v80, same},
	{"emailalertstatus-bad", "emailalertstatus=sometimes\n" + v80, same},
	{"emailalertstatus-empty", "emailalertstatus=\n" + v80, same},
	{"emailalertfreq-bad", "emailalertfreq=x\n" + v80, same},
	{"emailalert-empty", "emailalert=\"\"\n" + v80, same},
	{"smtp-bad", "smtp=@@\n" + v80, same},
	{"monitor-servicename-comment", v80 + "\tservicename=Web\n\tcomment=two words\n", same},
	{"callback-unquoted", "callback=/bin/cb\n" + v80, same},
	{"logfile-unquoted", "logfile=local0\n" + v80, same},
	{"global-fallback-port", "fallback=127.0.0.1:8080 masq\n" + v80, same},
	{"global-fallback-noport", "fallback=127.0.0.1\n" + v80 + "virtual=10.0.0.1:53\n\treal=10.0.0.2:53 gate\n", same},
	{"global-fallback-http-name", "fallback=127.0.0.1:http\n" + v80, same},
	{"global-fallback-domain", "fallback=127.0.0.1:domain ipip\n" + v80, same},
	{"global-fallback-bad-method", "fallback=127.0.0.1:80 nat\n" + v80, same},
	{"global-fallback6", "fallback6=[::1]:80\nvirtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2]:80 gate\n", same},
	{"virtual-fallback", v80 + "\tfallback=127.0.0.1:81 masq\n", same},
	{"virtual-fallback-noport", "virtual=10.0.0.1:http\n\treal=10.0.0.2 gate\n\tfallback=127.0.0.1\n", same},
	{"virtual-fallback-wrong-family", v80 + "\tfallback6=[::1]:80\n", same},
	{"virtual-fallback-unresolvable", v80 + "\tfallback=no-such-host.invalid:80\n", same},
	{"virtual-fallbackcommand", v80 + "\tfallbackcommand=\"/bin/fb x\"\n", same},
	{"real-weights", v80 + "\treal=10.0.0.3:80 masq 0\n\treal=10.0.0.4:80 ipip 100\n", same},
	{"real-noport", "virtual=10.0.0.1:80\n\treal=10.0.0.2 gate\n", same},
	{"real-service-port", "virtual=10.0.0.1:80\n\treal=10.0.0.2:http gate\n", same},
	{"real-request-receive", v80 + "\treal=10.0.0.3:80 gate 2 \"check.php\", \"ok\"\n\treal=10.0.0.4:80 gate \"a\",\"b\"\n\treal=10.0.0.5:80 gate 1 \"\" \"\"\n", same},
	{"real-thresholds", v80 + "\treal=10.0.0.3:80 gate 1 l:5 u:50\n\treal=10.0.0.4:80 masq 2 \"r\", \"s\" l:1\n", same},
	{"real-junk", v80 + "\treal=10.0.0.3:80 gate 1 junk\n", same},
	{"real-no-method", v80 + "\treal=10.0.0.3:80\n", same},
	{"real-bad-method", v80 + "\treal=10.0.0.3:80 nat\n", same},
	{"real-range", "virtual=10.0.0.1:80\n\treal=10.0.0.10->10.0.0.14:80 gate 2\n", same},
	{"real-range-reversed", "virtual=10.0.0.1:80\n\treal=10.0.0.14->10.0.0.10:80 gate\n", same},
	{"real-hostname", "virtual=10.0.0.1:80\n\treal=localhost:80 gate\n", same},
	{"virtual-hostname", "virtual=localhost:http\n\treal=10.0.0.2 gate\n", same},
	{"real-unresolvable", v80 + "\treal=no-such-host.invalid:80 gate\n", same},
	{"real6-in-v4", v80 + "\treal6=[::1]:80 gate\n", same},
	{"real-in-v6", "virtual6=[2001:db8::1]:80\n\treal=10.0.0.2:80 gate\n", same},
	{"real6-range", "virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2]->[2001:db8::3]:80 gate\n", same},
	{"v6-in-virtual", "virtual=[2001:db8::1]:80\n\treal=10.0.0.2:80 gate\n", same},
	{"virtual6-bad", "virtual6=[zz::1]:80\n\treal6=[::2]:80 gate\n", same},
	{"fwmark", "virtual=42\n\treal=10.0.0.2 gate\n\treal=10.0.0.3 gate\n\tcheckport=80\n", same},
	{"fwmark6", "virtual6=42\n\treal6=[2001:db8::2] gate\n", same},
	{"virtual-bad", "virtual=foo\n\treal=10.0.0.2 gate\n", same},
	{"virtual-bad-port", "virtual=10.0.0.1:nosuchservice\n\treal=10.0.0.2 gate\n", same},
	{"duplicate-virtual", v80 + v80, errLine},
	{"unknown-in-virtual", v80 + "\tfoo=bar\n", same},
	{"global-only-in-virtual", v80 + "\tautoreload=yes\n", same},
	{"indented-outside", "\treal=10.0.0.2 gate\n" + v80, same},
	{"errors-order", v80 + "\treal=no-such-host.invalid gate\n\tbogus=1\n", errLine},
	{"crlf", "autoreload=yes\r\n" + v80, lenient},
	{"fwmark-trap", "virtual=127.0.0.100\n\treal=10.0.0.2 gate\n", stricter},
	{"fwmark-zero", "virtual=0\n\treal=10.0.0.2 gate\n", stricter},
	{"persistent-zero", v80 + "\tpersistent=0\n", stricter},
	{"weight-too-big", v80 + "\treal=10.0.0.3:80 gate 70000\n", stricter},
	{"duplicate-real", v80 + "\treal=10.0.0.2:80 masq\n", stricter},
	{"fallback-three-words", "fallback=a 127.0.0.1:80 gate\n" + v80, stricter},
	{"netmask-noncontiguous", v80 + "\tnetmask=255.0.255.0\n", stricter},
	{"dataplane-extension", "dataplane=userspace\n" + v80, lenient},
	{"metrics-extension", "metrics=127.0.0.1:9695\n" + v80, lenient},
	{"syncdaemon-extension", "syncdaemon=eth0 syncid=1\n" + v80, lenient},
}

func TestAgainstLdirectord(t *testing.T) {
	h := getPerl(t)
	cases := append([]struct{ name, text, want string }{}, diffCases...)
	sample, err := os.ReadFile("testdata/ldirectord.cf")
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct{ name, text, want string }{"testdata/ldirectord.cf", string(sample), same})
	texts := make([]string, len(cases))
	for i, tc := range cases {
		texts[i] = tc.text
	}
	results, err := h.runAll(texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pdump, pline, perr := results[i].dump, results[i].errLine, results[i].err
			cfg, gerr := ParseBytes("ldirectord.cf", []byte(tc.text), Options{Hostname: "testhost"})
			var glines []int
			var es Errors
			if errors.As(gerr, &es) {
				for _, e := range es {
					glines = append(glines, e.Line)
				}
			} else if gerr != nil {
				t.Fatalf("ldird: non-list error %v", gerr)
			}
			switch tc.want {
			case same:
				switch {
				case perr != nil && gerr == nil:
					t.Fatalf("ldirectord refuses (line %d: %v), ldird accepts", pline, perr)
				case perr == nil && gerr != nil:
					t.Fatalf("ldirectord accepts, ldird refuses:\n%v", gerr)
				case perr != nil:
					if !containsInt(glines, pline) {
						t.Fatalf("ldirectord refuses at line %d (%v); ldird's errors are elsewhere:\n%v", pline, perr, gerr)
					}
					t.Logf("both refuse; ldirectord line %d: %v; ldird:\n%v", pline, perr, gerr)
				default:
					if gd := goDump(cfg); gd != pdump {
						t.Fatalf("settings differ\n--- ldirectord\n%s--- ldird\n%s", pdump, gd)
					}
				}
			case stricter:
				if perr != nil || gerr == nil {
					t.Fatalf("expected ldirectord to accept and ldird to refuse; ldirectord: %v; ldird: %v", perr, gerr)
				}
				t.Logf("ldird refuses what ldirectord accepts:\n%v", gerr)
			case lenient:
				if perr == nil || gerr != nil {
					t.Fatalf("expected ldirectord to refuse and ldird to accept; ldirectord: %v; ldird: %v", perr, gerr)
				}
			case errLine:
				if perr == nil || gerr == nil {
					t.Fatalf("expected both to refuse; ldirectord: %v; ldird: %v", perr, gerr)
				}
				t.Logf("ldirectord line %d: %v; ldird:\n%v", pline, perr, gerr)
			}
		})
	}
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Keep the sample in ha.d parseable by both.
func TestHADSampleAgainstLdirectord(t *testing.T) {
	h := getPerl(t)
	data, err := os.ReadFile("../../ha.d/ldirectord.cf")
	if err != nil {
		t.Fatal(err) // the sample is part of the repository
	}
	res, err := h.runAll([]string{string(data)})
	if err != nil {
		t.Fatal(err)
	}
	pdump, pline, perr := res[0].dump, res[0].errLine, res[0].err
	if perr != nil {
		t.Fatalf("ldirectord refuses ha.d/ldirectord.cf at line %d: %v", pline, perr)
	}
	cfg, err := ParseBytes("ldirectord.cf", data, Options{Hostname: "testhost"})
	if err != nil {
		t.Fatal(err)
	}
	if gd := goDump(cfg); gd != pdump {
		t.Fatalf("settings differ\n--- ldirectord\n%s--- ldird\n%s", pdump, gd)
	}
	_ = strings.TrimSpace
}
