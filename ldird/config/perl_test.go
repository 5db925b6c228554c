package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// The differential tests run the real ldirectord 4.12 parser (Debian's
// /usr/sbin/ldirectord) on the same text and compare. The script is copied
// and patched so that, after read_config and ld_setup, it prints the
// effective settings in a neutral format and exits; it never touches IPVS
// or /var/log. They skip when the script or perl is missing.

const ldirectordScript = "/usr/sbin/ldirectord"

const perlDump = `
sub lvsha_dump {
	my $t = sub { my $s = shift; return "" unless defined $s; $s =~ s/\s+$//; return $s; };
	my $log = $LDIRLOG; $log = "/var/log/ldirectord.log" if $log eq "LVSHA_TMPLOG";
	print "g checktimeout=$CHECKTIMEOUT negotiatetimeout=$NEGOTIATETIMEOUT checkinterval=$CHECKINTERVAL checkcount=$CHECKCOUNT failurecount=$FAILURECOUNT\n";
	print "g autoreload=$AUTOCHECK fork=$FORKING supervised=$SUPERVISED quiescent=$QUIESCENT readdquiescent=$READDQUIESCENT cleanstop=$CLEANSTOP\n";
	print "g callback=", $t->($CALLBACK), "\n";
	print "g logfile=", $t->($log), "\n";
	print "g fallbackcommand=", $t->($FALLBACKCOMMAND), "\n";
	print "g execute=", join(",", sort map { $t->($_) } keys %LD_INSTANCE), "\n";
	print "g emailalert=", $t->($EMAILALERT), " freq=$EMAILALERTFREQ status=$EMAILALERTSTATUS from=", $t->($EMAILALERTFROM), "\n";
	print "g smtp=", $t->($SMTP), " maintenancedir=", $t->($MAINTDIR), "\n";
	for my $fb (["fallback", $FALLBACK], ["fallback6", $FALLBACK6]) {
		next unless defined $fb->[1];
		for my $p ("tcp", "udp") {
			my $f = $fb->[1]->{$p};
			print "g $fb->[0] $p=$f->{server}:", (defined $f->{port} ? $f->{port} : "-"), " $f->{forward}\n";
		}
	}
	for my $v (@VIRTUAL) {
		my $id = get_virtual_id_str($v);
		my $ci = $CHECKINTERVAL;
		$ci = ($$v{checkinterval} || $CHECKINTERVAL) if $FORKING eq "yes";
		my %e = (
			quiescent => defined $$v{quiescent} ? $$v{quiescent} : $QUIESCENT,
			cleanstop => defined $$v{cleanstop} ? $$v{cleanstop} : $CLEANSTOP,
			fallbackcommand => defined $$v{fallbackcommand} ? $$v{fallbackcommand} : $FALLBACKCOMMAND,
			emailalert => defined $$v{emailalert} ? $$v{emailalert} : $EMAILALERT,
			emailalertfreq => defined $$v{emailalertfreq} ? $$v{emailalertfreq} : $EMAILALERTFREQ,
			emailalertstatus => defined $$v{emailalertstatus} ? $$v{emailalertstatus} : $EMAILALERTSTATUS,
			smtp => defined $$v{smtp} ? $$v{smtp} : $SMTP,
		);
		print "v $id\n";
		print "  sched=$$v{scheduler} persistent=", $t->($$v{persistent}), " netmask=", $t->($$v{netmask}), " schedflags=", $t->($$v{schedflags}), " ops=$$v{ops}\n";
		print "  service=$$v{service} checktype=$$v{checktype}", ($$v{checktype} eq "combined" ? "/$$v{num_connects}" : ""), " httpmethod=$$v{httpmethod} checkport=", $t->($$v{checkport}), "\n";
		for my $k (qw(request receive virtualhost login passwd database secret checkcommand load monitorfile servicename comment)) {
			print "  $k=", $t->($$v{$k}), "\n";
		}
		print "  checktimeout=$$v{checktimeout} negotiatetimeout=$$v{negotiatetimeout} checkcount=$$v{checkcount} failurecount=$$v{failurecount} checkinterval=$ci\n";
		for my $k (sort keys %e) { print "  $k=", $t->($e{$k}), "\n"; }
		my $fb = fallback_find($v);
		if (defined $fb and defined $fb->{server}) { print "  fallback=$fb->{server}:$fb->{port} $fb->{forward}\n"; }
		for my $r (@{$$v{real}}) {
			print "  real $$r{server}:$$r{port} $$r{forward} $$r{weight} req=", $t->($$r{request}), " recv=", $t->($$r{receive}),
				" l=", $t->($$r{"l-threshold"}), " u=", $t->($$r{"u-threshold"}), "\n";
		}
	}
}
`

type perlHarness struct {
	script string
	dir    string
}

// perlResult is ldirectord's verdict on one file: the dump when it
// accepts it, else the line and message of its (first) error.
type perlResult struct {
	dump    string
	errLine int
	err     error
}

var (
	perlOnce sync.Once
	perlH    *perlHarness
	perlErr  string
)

func getPerl(t *testing.T) *perlHarness {
	t.Helper()
	testenv.SkipShort(t, "differential tests against the Perl ldirectord")
	perlOnce.Do(func() {
		src, err := os.ReadFile(ldirectordScript)
		if err != nil {
			perlErr = "ldirectord is not installed (Debian package ldirectord; scripts/deps.sh test installs it): " + err.Error()
			return
		}
		if _, err := exec.LookPath("perl"); err != nil {
			perlErr = "perl is not installed (Debian package perl)"
			return
		}
		dir, err := os.MkdirTemp("", "ldcfg-perl")
		if err != nil {
			perlErr = err.Error()
			return
		}
		s := string(src)
		tmplog := filepath.Join(dir, "ldirectord.log")
		for _, r := range []struct{ old, new string }{
			{`$LDIRLOG          = "/var/log/ldirectord.log";`, `$LDIRLOG          = "` + tmplog + `";`},
			{`die "Can not find ipvsadm";`, `$IPVSADM = "/bin/true";`},
			// Parse every file named on the command line, then exit.
			{"\nld_init();\nld_setup();\nld_start();\n", "\nlvsha_batch();\nCORE::exit(0);\n"},
		} {
			if !strings.Contains(s, r.old) {
				perlErr = "ldirectord script does not look like 4.12: missing " + r.old
				return
			}
			s = strings.Replace(s, r.old, r.new, 1)
		}
		s += strings.ReplaceAll(perlDump, "LVSHA_TMPLOG", tmplog) + perlBatch
		script := filepath.Join(dir, "ldirectord")
		if err := os.WriteFile(script, []byte(s), 0o755); err != nil {
			perlErr = err.Error()
			return
		}
		h := &perlHarness{script: script, dir: dir}
		res, err := h.runAll([]string{"virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n"})
		if err != nil || res[0].err != nil {
			perlErr = fmt.Sprintf("patched ldirectord does not run: %v %v", err, res)
			return
		}
		perlH = h
	})
	if perlH == nil {
		testenv.Skip(t, perlErr)
	}
	return perlH
}

// perlBatch replaces config_error (which exits) with a die, and loops over
// the files in @ARGV in one perl process (starting ldirectord costs ~0.5 s).
const perlBatch = `
no warnings 'redefine';
sub config_error {
	my ($line, $msg) = @_;
	chomp($msg);
	die "LVSHA_ERROR $line: $msg\n";
}
sub lvsha_batch {
	$HOSTNAME = $ENV{HOSTNAME};
	for my $f (@ARGV) {
		$CONFIG = $f;
		print "=== $f\n";
		my $ok = eval { read_config(); ld_setup(); lvsha_dump(); 1 };
		print "ERROR $@" unless $ok;
	}
}
`

var perlErrRE = regexp.MustCompile(`^ERROR LVSHA_ERROR (-?\d+): (.*)`)

// runAll parses each text with ldirectord in one process.
func (h *perlHarness) runAll(texts []string) ([]perlResult, error) {
	dir, err := os.MkdirTemp(h.dir, "batch")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	args := []string{h.script}
	for i, text := range texts {
		name := filepath.Join(dir, fmt.Sprintf("cf%04d", i))
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			return nil, err
		}
		args = append(args, name)
	}
	cmd := exec.Command("perl", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PERLIO=perlio", "HOSTNAME=testhost")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ldirectord: %v: %s", err, stderr.String())
	}
	parts := strings.Split(out.String(), "=== ")[1:]
	if len(parts) != len(texts) {
		return nil, fmt.Errorf("ldirectord printed %d results for %d files: %s", len(parts), len(texts), stderr.String())
	}
	res := make([]perlResult, len(texts))
	for i, part := range parts {
		_, body, _ := strings.Cut(part, "\n")
		if strings.HasPrefix(body, "ERROR ") {
			m := perlErrRE.FindStringSubmatch(body)
			if m == nil {
				res[i].err = fmt.Errorf("%s", strings.TrimSpace(body))
				continue
			}
			res[i].errLine, _ = strconv.Atoi(m[1])
			res[i].err = fmt.Errorf("%s", m[2])
			continue
		}
		res[i].dump = body
	}
	return res, nil
}

// goDump renders a Config in the harness's format.
func goDump(c0 *Config) string {
	c := c0
	var b strings.Builder
	g := &c.Global
	yn := func(x bool) string {
		if x {
			return "yes"
		}
		return "no"
	}
	unset := func(d time.Duration) int64 {
		if d == 0 {
			return -1
		}
		return int64(d / time.Second)
	}
	sec := func(d time.Duration) int64 { return int64(d / time.Second) }
	t := func(s string) string { return strings.TrimRight(s, " \t") }
	fmt.Fprintf(&b, "g checktimeout=%d negotiatetimeout=%d checkinterval=%d checkcount=%d failurecount=%d\n",
		unset(g.CheckTimeout), unset(g.NegotiateTimeout), sec(g.CheckInterval), g.CheckCount, g.FailureCount)
	fmt.Fprintf(&b, "g autoreload=%s fork=%s supervised=%s quiescent=%s readdquiescent=%s cleanstop=%s\n",
		yn(g.AutoReload), yn(g.Fork), yn(g.Supervised), yn(g.Quiescent), yn(g.ReaddQuiescent), yn(g.CleanStop))
	fmt.Fprintf(&b, "g callback=%s\n", t(g.Callback))
	fmt.Fprintf(&b, "g logfile=%s\n", t(g.LogFile))
	fmt.Fprintf(&b, "g fallbackcommand=%s\n", t(g.FallbackCommand))
	ex := append([]string(nil), g.Execute...)
	sortStrings(ex)
	fmt.Fprintf(&b, "g execute=%s\n", strings.Join(ex, ","))
	fmt.Fprintf(&b, "g emailalert=%s freq=%d status=%d from=%s\n", t(g.EmailAlert), sec(g.EmailAlertFreq), g.EmailAlertStatus, t(g.EmailAlertFrom))
	fmt.Fprintf(&b, "g smtp=%s maintenancedir=%s\n", t(g.SMTP), t(g.MaintenanceDir))
	for _, fb := range []struct {
		name string
		f    *GlobalFallback
	}{{"fallback", g.Fallback}, {"fallback6", g.Fallback6}} {
		if fb.f == nil {
			continue
		}
		for _, p := range []string{"tcp", "udp"} {
			port := "-"
			if fb.f.HasPort {
				port = strconv.Itoa(int(fb.f.TCPPort))
				if p == "udp" {
					port = strconv.Itoa(int(fb.f.UDPPort))
				}
			}
			fmt.Fprintf(&b, "g %s %s=%s:%s %s\n", fb.name, p, perlAddr(fb.f.Addr), port, fb.f.Method)
		}
	}
	for _, v := range c.Virtuals {
		id := v.Protocol + ":" + perlAddr(v.Addr.Addr()) + ":" + strconv.Itoa(int(v.Addr.Port()))
		if v.Protocol == "fwm" {
			id = "fwm:" + strconv.Itoa(int(v.FWMark))
			if v.IPv6 {
				id = "fwm6:" + strconv.Itoa(int(v.FWMark))
			}
		}
		fmt.Fprintf(&b, "v %s\n", id)
		persistent, netmask := "", ""
		if v.Persistent > 0 {
			persistent = strconv.FormatInt(sec(v.Persistent), 10)
		}
		if v.Netmask > 0 {
			if v.IPv6 {
				netmask = strconv.Itoa(v.Netmask)
			} else {
				p := netip.PrefixFrom(netip.IPv4Unspecified(), v.Netmask)
				m := ^uint32(0) << (32 - p.Bits())
				netmask = fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&255, m>>8&255, m&255)
			}
		}
		fmt.Fprintf(&b, "  sched=%s persistent=%s netmask=%s schedflags=%s ops=%s\n", v.Scheduler, persistent, netmask, t(v.SchedFlags), yn(v.OPS))
		c := &v.Check
		ct := string(c.Type)
		if c.Type == CheckCombined {
			ct += "/" + strconv.Itoa(c.Connects)
		}
		cp := ""
		if c.CheckPort != 0 {
			cp = strconv.Itoa(int(c.CheckPort))
		}
		fmt.Fprintf(&b, "  service=%s checktype=%s httpmethod=%s checkport=%s\n", c.Service, ct, c.HTTPMethod, cp)
		for _, kv := range [][2]string{{"request", c.Request}, {"receive", c.Receive}, {"virtualhost", c.VirtualHost},
			{"login", c.Login}, {"passwd", c.Passwd}, {"database", c.Database}, {"secret", c.Secret},
			{"checkcommand", c.CheckCommand}, {"load", v.Load}, {"monitorfile", v.MonitorFile},
			{"servicename", v.ServiceName}, {"comment", v.Comment}} {
			fmt.Fprintf(&b, "  %s=%s\n", kv[0], t(kv[1]))
		}
		fmt.Fprintf(&b, "  checktimeout=%d negotiatetimeout=%d checkcount=%d failurecount=%d checkinterval=%d\n",
			sec(c.CheckTimeout), sec(c.NegotiateTimeout), c.CheckCount, c.FailureCount, sec(c.CheckInterval))
		fmt.Fprintf(&b, "  cleanstop=%s\n", yn(v.CleanStop))
		fmt.Fprintf(&b, "  emailalert=%s\n", t(v.EmailAlert))
		fmt.Fprintf(&b, "  emailalertfreq=%d\n", sec(v.EmailAlertFreq))
		fmt.Fprintf(&b, "  emailalertstatus=%d\n", v.EmailAlertStatus)
		fmt.Fprintf(&b, "  fallbackcommand=%s\n", t(v.FallbackCommand))
		fmt.Fprintf(&b, "  quiescent=%s\n", yn(v.Quiescent))
		fmt.Fprintf(&b, "  smtp=%s\n", t(v.SMTP))
		// ldirectord's fallback_find has no global fallback for fwm
		// services (it looks one up by protocol "fwm"); ldird applies it.
		if f := v.Fallback; f != nil && !(v.Protocol == "fwm" && inheritedFallback(c0, f)) {
			fmt.Fprintf(&b, "  fallback=%s:%d %s\n", perlAddr(f.Addr), f.Port, f.Method)
		}
		for _, r := range v.Reals {
			l, u := "", ""
			if r.LowerThreshold != 0 {
				l = strconv.Itoa(r.LowerThreshold)
			}
			if r.UpperThreshold != 0 {
				u = strconv.Itoa(r.UpperThreshold)
			}
			fmt.Fprintf(&b, "  real %s:%d %s %d req=%s recv=%s l=%s u=%s\n", perlAddr(r.Addr), r.Port, r.Method, r.Weight, t(r.Request), t(r.Receive), l, u)
		}
	}
	return b.String()
}

func inheritedFallback(c *Config, f *Real) bool {
	g := c.Global
	return g.Fallback != nil && f.Line == g.Fallback.Line || g.Fallback6 != nil && f.Line == g.Fallback6.Line
}

func perlAddr(a netip.Addr) string {
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestMain removes the patched ldirectord copy after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if perlH != nil {
		os.RemoveAll(perlH.dir)
	}
	os.Exit(code)
}
