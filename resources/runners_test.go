package resources

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/resources/garp"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStatusFromOutput(t *testing.T) {
	for _, c := range []struct {
		out  string
		want State
	}{
		{"running", Running},
		{"Running", Running},
		{"apache is running (pid 42)\n", Running},
		{"INFO:  Running OK", Running},
		{"OK", Running},
		{"ok", Stopped}, // *OK* is case-sensitive
		{"not running", Stopped},
		{"NOT running", Stopped},
		{"Not  Running", Stopped},
		{"not really\nrunning", Stopped},     // * in case patterns spans newlines
		{"service is not\nrunning", Running}, // but the blank after "not" is literal
		{"notrunning", Running},              // the glob needs the blank after "not"
		{"RUNNING", Stopped},                 // only the R is case-insensitive
		{"stopped", Stopped},
		{"", Stopped},
		{"INFO:  Resource is stopped", Stopped},
	} {
		if got := StatusFromOutput(c.out); got != c.want {
			t.Errorf("StatusFromOutput(%q) = %v, want %v", c.out, got, c.want)
		}
	}
}

func TestScriptAgent(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	// The status text comes from a file so each case can change it; the
	// exit status of status is deliberately non-zero: it must be ignored.
	script := writeScript(t, filepath.Join(dir, "resource.d", "myrsc"), `
echo "$*" >> `+log+`
case "$#:$3" in
3:start) exit 0;;
3:stop) exit "$(cat `+dir+`/stoprc 2>/dev/null || echo 0)";;
3:status) cat `+dir+`/status; exit 3;;
esac
exit 9
`)
	r := &Resolver{HADir: dir, InitDir: filepath.Join(dir, "init.d"), Logger: quietLogger()}
	a, err := r.Resolve("myrsc", []string{"a1", "a2"})
	if err != nil {
		t.Fatal(err)
	}
	if sa, ok := a.(*ScriptAgent); !ok || sa.Path != script {
		t.Fatalf("Resolve gave %#v, want the resource.d script", a)
	}
	if a.String() != "myrsc::a1::a2" {
		t.Errorf("String() = %q", a.String())
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	for _, c := range []struct {
		text string
		want State
	}{{"myrsc is running", Running}, {"myrsc is not running", Stopped}, {"INFO: Running OK", Running}, {"", Stopped}} {
		os.WriteFile(filepath.Join(dir, "status"), []byte(c.text), 0o644)
		st, err := a.Status(ctx)
		if err != nil || st != c.want {
			t.Errorf("status with output %q = %v, %v; want %v", c.text, st, err, c.want)
		}
	}
	os.WriteFile(filepath.Join(dir, "stoprc"), []byte("1"), 0o644)
	if err := a.Stop(ctx); err == nil || !strings.Contains(err.Error(), "return code 1") {
		t.Errorf("failing stop: err = %v, want return code 1", err)
	}
	calls, _ := os.ReadFile(log)
	if !strings.HasPrefix(string(calls), "a1 a2 start\na1 a2 status\n") {
		t.Errorf("calls:\n%s", calls)
	}
}

func TestLSBAgent(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, filepath.Join(dir, "init.d", "svc"), `exit "$(cat `+dir+`/rc_$1)"`)
	r := &Resolver{HADir: dir, InitDir: filepath.Join(dir, "init.d"), Logger: quietLogger()}
	a, err := r.Resolve("svc", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.(*LSBAgent); !ok {
		t.Fatalf("Resolve gave %T, want *LSBAgent", a)
	}
	set := func(action string, code int) {
		os.WriteFile(filepath.Join(dir, "rc_"+action), []byte(strconv.Itoa(code)), 0o644)
	}
	ctx := context.Background()
	for _, c := range []struct {
		code    int
		want    State
		wantErr bool
	}{
		{0, Running, false}, {1, Stopped, false}, {2, Stopped, false}, {3, Stopped, false},
		{4, Failed, true}, {5, Failed, true}, {150, Failed, true},
	} {
		set("status", c.code)
		st, err := a.Status(ctx)
		if st != c.want || (err != nil) != c.wantErr {
			t.Errorf("status exit %d = %v, %v; want %v (error %v)", c.code, st, err, c.want, c.wantErr)
		}
	}
	for _, c := range []struct {
		action, statusCode string
		code               int
		wantErr            bool
	}{
		{"start", "0", 0, false},
		{"start", "0", 1, true},
		{"start", "0", 5, true},
		{"stop", "0", 0, false},
		{"stop", "0", 7, false}, // not running: already where we want it
		{"stop", "3", 1, false}, // failed, but status says stopped
		{"stop", "0", 1, true},  // failed and still running
	} {
		set(c.action, c.code)
		st, _ := strconv.Atoi(c.statusCode)
		set("status", st)
		var err error
		if c.action == "start" {
			err = a.Start(ctx)
		} else {
			err = a.Stop(ctx)
		}
		if (err != nil) != c.wantErr {
			t.Errorf("%s exit %d (status %s): err = %v, want error %v", c.action, c.code, c.statusCode, err, c.wantErr)
		}
	}
}

func TestOCFAgentCodesAndEnv(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "ocf")
	envOut := filepath.Join(dir, "env")
	writeScript(t, filepath.Join(root, "resource.d", "acme", "Thing"), `
env | grep -E '^OCF_' | sort > `+envOut+`
rc=$(cat `+dir+`/rc_$1 2>/dev/null || echo 0)
[ "$rc" = 6 ] && echo "ocf-exit-reason:bad config here" >&2
exit $rc
`)
	conf := filepath.Join(dir, "ha.d", "conf", "OCF", "Thing", "inst1")
	os.MkdirAll(filepath.Dir(conf), 0o755)
	os.WriteFile(conf, []byte("# comment\nOCF_RESKEY_name='with space'\nOCF_RESKEY_port=8080\n"), 0o644)
	r := &Resolver{HADir: filepath.Join(dir, "ha.d"), OCFRoot: root, Timeout: 7 * time.Second, Logger: quietLogger()}
	a, err := r.Resolve("OCF", []string{"Thing", "inst1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	env, _ := os.ReadFile(envOut)
	for _, want := range []string{
		"OCF_ROOT=" + root, "OCF_RA_VERSION_MAJOR=1", "OCF_RA_VERSION_MINOR=0",
		"OCF_RESOURCE_INSTANCE=inst1", "OCF_RESOURCE_TYPE=Thing", "OCF_RESOURCE_PROVIDER=acme",
		"OCF_RESKEY_CRM_meta_timeout=7000", "OCF_RESKEY_name=with space", "OCF_RESKEY_port=8080",
	} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("agent environment lacks %q:\n%s", want, env)
		}
	}
	set := func(action string, code int) {
		os.WriteFile(filepath.Join(dir, "rc_"+action), []byte(strconv.Itoa(code)), 0o644)
	}
	for _, c := range []struct {
		code     int
		want     State
		wantName string
	}{
		{0, Running, ""}, {7, Stopped, ""}, {8, Running, ""},
		{1, Failed, "OCF_ERR_GENERIC"}, {5, Failed, "OCF_ERR_INSTALLED"}, {6, Failed, "OCF_ERR_CONFIGURED"},
		{9, Failed, "OCF_FAILED_MASTER"}, {42, Failed, "unknown OCF code 42"},
	} {
		set("monitor", c.code)
		st, err := a.Status(ctx)
		if st != c.want {
			t.Errorf("monitor exit %d = %v, want %v", c.code, st, c.want)
		}
		if c.wantName != "" && (err == nil || !strings.Contains(err.Error(), c.wantName)) {
			t.Errorf("monitor exit %d: err = %v, want it to name %s", c.code, err, c.wantName)
		}
		if c.code == 6 && !strings.Contains(err.Error(), "bad config here") {
			t.Errorf("exit reason not in error: %v", err)
		}
		if c.wantName != "" && OCFCode(err) != c.code {
			t.Errorf("OCFCode(%v) = %d, want %d", err, OCFCode(err), c.code)
		}
	}
	set("monitor", 3) // unimplemented: falls back to the legacy status action
	set("status", 7)
	if st, err := a.Status(ctx); st != Stopped || err != nil {
		t.Errorf("monitor 3 + status 7 = %v, %v; want stopped", st, err)
	}
	set("stop", 7)
	if err := a.Stop(ctx); err != nil {
		t.Errorf("stop exit 7: %v", err)
	}
	set("stop", 1)
	if err := a.Stop(ctx); OCFCode(err) != 1 {
		t.Errorf("stop exit 1: err = %v", err)
	}
	set("start", 5)
	if err := a.Start(ctx); OCFCode(err) != 5 || !strings.Contains(err.Error(), "OCF_ERR_INSTALLED") {
		t.Errorf("start exit 5: err = %v", err)
	}
}

func TestRunnerTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	// The child ignores SIGTERM, so only the SIGKILL to the group gets it;
	// the script itself hangs.
	script := writeScript(t, filepath.Join(dir, "hang"), `
sh -c 'trap "" TERM; echo $$ > `+pidFile+`; exec sleep 300' &
echo started
sleep 300
`)
	r := &Runner{Timeout: 500 * time.Millisecond, KillGrace: 300 * time.Millisecond, Logger: quietLogger()}
	start := time.Now()
	res, err := r.Run(context.Background(), script, []string{"start"}, nil)
	elapsed := time.Since(start)
	var te *TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "timed out after 500ms") {
		t.Fatalf("err = %v, want timeout", err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("took %v; the bound is timeout + grace", elapsed)
	}
	if !strings.Contains(res.Stdout, "started") {
		t.Errorf("stdout of the killed script not captured: %q", res.Stdout)
	}
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid == 0 {
		t.Fatal("child never wrote its pid")
	}
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		// A zombie until reaped by init: check its state.
		st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL) // our own child: clean up
			t.Fatalf("child %d (ignores SIGTERM) survived the group kill", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Through an agent the timeout is an error naming the bound.
	a := &ScriptAgent{Path: script, Token: "hang", Runner: r}
	if _, err := a.Status(context.Background()); err == nil || !strings.Contains(err.Error(), "timed out after") {
		t.Errorf("status of a hung script: %v", err)
	}
}

func TestRunnerDaemonKeepsPipe(t *testing.T) {
	// A start script that leaves a daemon holding stdout must not block.
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "daemon")
	script := writeScript(t, filepath.Join(dir, "s"), `sleep 30 & echo $! > `+pidFile+`; echo ok; exit 0`)
	r := &Runner{Timeout: 10 * time.Second, Logger: quietLogger()}
	start := time.Now()
	res, err := r.Run(context.Background(), script, nil, nil)
	if err != nil || res.Code != 0 || !strings.Contains(res.Stdout, "ok") {
		t.Fatalf("res %+v err %v", res, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v: waited for the daemon", d)
	}
	data, _ := os.ReadFile(pidFile)
	if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func TestRunnerOutputBounded(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, filepath.Join(dir, "big"), `head -c 1000000 /dev/zero | tr '\0' x; exit 3`)
	res, err := (&Runner{Logger: quietLogger()}).Run(context.Background(), script, nil, nil)
	if err != nil || res.Code != 3 {
		t.Fatalf("res code %d err %v", res.Code, err)
	}
	if len(res.Stdout) != MaxOutput {
		t.Errorf("kept %d bytes, want %d", len(res.Stdout), MaxOutput)
	}
}

func TestResolveOrder(t *testing.T) {
	dir := t.TempDir()
	ha, initd := filepath.Join(dir, "ha.d"), filepath.Join(dir, "init.d")
	writeScript(t, filepath.Join(ha, "resource.d", "both"), "exit 0\n")
	writeScript(t, filepath.Join(initd, "both"), "exit 0\n")
	writeScript(t, filepath.Join(initd, "onlyinit"), "exit 0\n")
	writeScript(t, filepath.Join(ha, "resource.d", "IPaddr"), "exit 0\n")
	os.WriteFile(filepath.Join(ha, "resource.d", "noexec"), []byte("#!/bin/sh\n"), 0o644)
	r := &Resolver{HADir: ha, InitDir: initd, Logger: quietLogger()}
	for _, c := range []struct {
		name   string
		args   []string
		native bool
		want   string // type name, or "error"
	}{
		{"both", nil, false, "*resources.ScriptAgent"},
		{"onlyinit", nil, false, "*resources.LSBAgent"},
		{"noexec", nil, false, "error"},
		{"missing", nil, false, "error"},
		{"IPaddr", []string{"10.0.0.1/24/eth1"}, false, "*resources.ScriptAgent"},
		{"IPaddr", []string{"10.0.0.1/24/eth1"}, true, "*resources.IPAgent"},
		{"IPaddr2", []string{"10.0.0.1/24/eth1"}, true, "*resources.IPAgent"},
		{"SendArp", []string{"10.0.0.1/eth1"}, true, "*resources.SendArpAgent"},
		{"ldirectord", []string{"ldirectord.cf"}, true, "*resources.LdirectordAgent"},
		{"IPaddr", []string{"not-an-ip"}, true, "error"},
		{"OCF", []string{"Nope", "x"}, false, "error"},
		{"../x", nil, false, "error"},
	} {
		r.Native = c.native
		a, err := r.Resolve(c.name, c.args)
		got := "error"
		if err == nil {
			got = strings.TrimPrefix(typeName(a), "")
		}
		if got != c.want {
			t.Errorf("Resolve(%q, %q, native=%v) = %s (%v), want %s", c.name, c.args, c.native, got, err, c.want)
		}
		if c.name == "missing" && !errors.Is(err, ErrNotFound) {
			t.Errorf("missing script: %v, want ErrNotFound", err)
		}
	}
	r.Native = true
	a, _ := r.Resolve("ldirectord", []string{"ldirectord.cf"})
	if l := a.(*LdirectordAgent); l.ConfigFile != filepath.Join(ha, "ldirectord.cf") || l.Binary != DefaultLdirdPath {
		t.Errorf("ldirectord agent: config %s binary %s", l.ConfigFile, l.Binary)
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *ScriptAgent:
		return "*resources.ScriptAgent"
	case *LSBAgent:
		return "*resources.LSBAgent"
	case *OCFAgent:
		return "*resources.OCFAgent"
	case *IPAgent:
		return "*resources.IPAgent"
	case *SendArpAgent:
		return "*resources.SendArpAgent"
	case *LdirectordAgent:
		return "*resources.LdirectordAgent"
	}
	return "other"
}

// TestIPParamsFromArgs: the parameters are the wrapper's, verbatim (the
// agents check them; ipspec's tests compare both with the real scripts).
func TestIPParamsFromArgs(t *testing.T) {
	for _, c := range []struct {
		kind, arg string
		want      map[string]string
		warn      bool
	}{
		{"IPaddr", "10.0.0.1", map[string]string{"ip": "10.0.0.1", "lvs_support": "0"}, false},
		{"IPaddr", "10.0.0.1/24/eth1/10.0.0.255", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24", "nic": "eth1", "broadcast": "10.0.0.255", "lvs_support": "0"}, false},
		{"IPaddr2", "10.0.30.15//8/eth0:10", map[string]string{"ip": "10.0.30.15", "cidr_netmask": "8", "nic": "eth0:10", "broadcast": "", "lvs_support": "1"}, false},
		{"IPaddr2", "10.0.0.1/24/10.0.0.255", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24", "broadcast": "10.0.0.255", "lvs_support": "1"}, false},
		{"IPaddr2", "10.0.0.1/255.255.255.0/eth0", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "255.255.255.0", "nic": "eth0", "broadcast": "", "lvs_support": "1"}, false},
		{"IPaddr2", "10.0.0.1/24/eth0/10.0.0.255/x", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "24", "nic": "eth0", "broadcast": "10.0.0.255", "lvs_support": "1"}, true},
	} {
		got, warns, err := IPParamsFromArgs(c.kind, []string{c.arg})
		if err != nil {
			t.Errorf("%s %s: %v", c.kind, c.arg, err)
			continue
		}
		if !maps.Equal(got, c.want) || (len(warns) > 0) != c.warn {
			t.Errorf("%s %s = %v, warnings %q; want %v, warning %v", c.kind, c.arg, got, warns, c.want, c.warn)
		}
	}
	if _, _, err := IPParamsFromArgs("IPaddr2", []string{"2001:db8", "10/64/eth0"}); err == nil {
		t.Error("two arguments accepted")
	}
	if _, _, err := IPParamsFromArgs("IPaddr", nil); err == nil {
		t.Error("no argument accepted")
	}
	if p, err := SendArpParamsFromArgs([]string{"10.0.0.9/eth2"}); err != nil || p["ip"] != "10.0.0.9" || p["nic"] != "eth2" {
		t.Errorf("SendArp::10.0.0.9/eth2 = %v, %v", p, err)
	}
	if _, err := SendArpParamsFromArgs([]string{"10.0.0.9"}); err == nil {
		t.Error("SendArp without interface accepted")
	}
}

func TestNativeParamValidation(t *testing.T) {
	opts := NativeOptions{Logger: quietLogger()}
	for _, c := range []struct {
		kind string
		p    map[string]string
		ok   bool
	}{
		{"IPaddr2", map[string]string{"ip": "10.0.0.1"}, true},
		{"IPaddr2", map[string]string{}, false},
		{"IPaddr2", map[string]string{"ip": "10.0.0.300"}, false},
		{"IPaddr2", map[string]string{"ip": "10.0.0.1", "arp_count": "0"}, false},
		{"IPaddr2", map[string]string{"ip": "10.0.0.1", "arp_interval": "x"}, false},
		{"IPaddr2", map[string]string{"ip": "10.0.0.1", "arp_sender": "carrier-pigeon"}, false},
		{"IPaddr2", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "33"}, false},
		{"IPaddr2", map[string]string{"ip": "10.0.0.1", "cidr_netmask": "255.255.0.0"}, true},
		{"IPaddr2", map[string]string{"ip": "10.0.0.1", "broadcast": "nonsense"}, false},
		{"IPaddr2", map[string]string{"ip": "10.0.0.1", "nic": "averyveryverylongnic", "iflabel": "x"}, false},
		{"IPaddr2", map[string]string{"ip": "10.0.0.1", "run_arping": "true"}, false},
		{"IPaddr2", map[string]string{"ip": "fd00::1", "iflabel": "x"}, true}, // the kernel ignores IPv6 labels
		{"IPaddr2", map[string]string{"ip": "fd00::1", "lvs_support": "1"}, false},
		{"IPaddr", map[string]string{"ip": "fd00::1"}, false},
		{"IPaddr2", map[string]string{"ip": "10.0.0.1", "nic": "eth0:0123456789ab"}, false},
		{"IPaddr", map[string]string{"ip": "10.0.0.1", "ARP_REPEAT": "3"}, true},
	} {
		a, err := NewIPAgent(c.kind, c.p, opts)
		if (err == nil) != c.ok {
			t.Errorf("NewIPAgent(%s, %v): err = %v, want ok=%v", c.kind, c.p, err, c.ok)
		}
		if err != nil && OCFCode(err) != OCFErrConfigured {
			t.Errorf("NewIPAgent(%v): code %d, want 6", c.p, OCFCode(err))
		}
		if err == nil && c.kind == "IPaddr2" && c.p["ip"] == "10.0.0.1" && len(c.p) == 1 {
			if a.ARPCount != 5 || a.ARPInterval != 200*time.Millisecond || !a.ARPBackground || a.CIDR != -1 {
				t.Errorf("IPaddr2 defaults: %+v", a)
			}
		}
		if err == nil && c.kind == "IPaddr" {
			if a.ARPCount != 3 || a.ARPInterval != 500*time.Millisecond {
				t.Errorf("IPaddr ARP parameters: count %d interval %v", a.ARPCount, a.ARPInterval)
			}
		}
	}
}

func TestLdirectordAgent(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "ldirectord.cf")
	os.WriteFile(conf, []byte("virtual=10.0.0.1:80\n"), 0o644)
	state := filepath.Join(dir, "state") // "running", "stale", "broken" or absent
	calls := filepath.Join(dir, "calls")
	// A fake ldird with ldirectord's exit codes.
	bin := writeScript(t, filepath.Join(dir, "ldird"), `
echo "$*" >> `+calls+`
[ "$1" = "`+conf+`" ] || exit 9
st=$(cat `+state+` 2>/dev/null)
case "$2" in
status)
	case "$st" in
	running) echo "ldirectord for $1 is running with pid: 1"; exit 0;;
	stale) echo "ldirectord stale pid file /run/ldirectord.ldirectord.pid for $1"; exit 1;;
	broken) echo "something odd"; exit 1;;
	badconf) exit 2;;
	*) echo "ldirectord is stopped for $1"; exit 3;;
	esac;;
start) echo running > `+state+`; exit 0;;
stop) rm -f `+state+`; exit 0;;
esac
exit 9
`)
	a, err := NewLdirectord(map[string]string{"configfile": conf, "ldirectord": bin}, NativeOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if st, err := a.Status(ctx); st != Stopped || err != nil {
		t.Fatalf("initial status %v %v", st, err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	if st, _ := a.Status(ctx); st != Running {
		t.Fatalf("status after start: %v", st)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("stop of stopped: %v", err)
	}
	for _, c := range []struct {
		state string
		want  State
	}{{"stale", Stopped}, {"broken", Failed}, {"badconf", Failed}} {
		os.WriteFile(state, []byte(c.state), 0o644)
		if st, _ := a.Status(ctx); st != c.want {
			t.Errorf("status with %s = %v, want %v", c.state, st, c.want)
		}
	}
	log, _ := os.ReadFile(calls)
	if strings.Count(string(log), conf+" start") != 1 {
		t.Errorf("start must run once (second start sees running):\n%s", log)
	}
	// Missing pieces are "not installed".
	b, _ := NewLdirectord(map[string]string{"configfile": filepath.Join(dir, "nope.cf"), "ldirectord": bin}, NativeOptions{Logger: quietLogger()})
	if _, err := b.Status(ctx); OCFCode(err) != OCFErrInstalled {
		t.Errorf("missing config: %v", err)
	}
	a.FailHaveBinary = true
	if _, err := a.Status(ctx); OCFCode(err) != OCFErrInstalled {
		t.Errorf("FailHaveBinary: %v", err)
	}
}

func TestSendArpPseudoState(t *testing.T) {
	h := newFakeHost(t)
	a, err := NewSendArp(map[string]string{"ip": "10.0.0.9", "nic": "eth1"}, h.opts)
	if err != nil {
		t.Fatal(err)
	}
	a.Interval = 0
	ctx := context.Background()
	if st, _ := a.Status(ctx); st != Stopped {
		t.Fatalf("initial %v", st)
	}
	for i := 0; i < 2; i++ { // the second start finds it running and sends nothing
		if err := a.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
	}
	if st, _ := a.Status(ctx); st != Running {
		t.Fatalf("after start %v", st)
	}
	if n := h.frames.count("eth1", garp.EtherTypeARP); n != 10 || h.frames.total() != 10 {
		t.Errorf("%d ARP frames on eth1 (%d in all), want 10: 5 rounds of request and reply", n, h.frames.total())
	}
	if _, err := os.Stat(filepath.Join(h.stateDir, "SendArp_SendArp_10.0.0.9")); err != nil {
		t.Errorf("pseudo file: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("stop %d: %v", i, err)
		}
	}
	if st, _ := a.Status(ctx); st != Stopped {
		t.Fatalf("after stop %v", st)
	}
	// lo has no Ethernet address: start records the state and sends nothing.
	b, _ := NewSendArp(map[string]string{"ip": "10.0.0.10", "nic": "lo"}, h.opts)
	if err := b.Start(ctx); err != nil || h.frames.total() != 10 {
		t.Errorf("start on lo: %v, %d frames in all", err, h.frames.total())
	}
	c, _ := NewSendArp(map[string]string{"ip": "10.0.0.11", "nic": "nosuch0"}, h.opts)
	if err := c.Start(ctx); OCFCode(err) != OCFErrConfigured {
		t.Errorf("unknown nic: %v", err)
	}
	if err := c.Validate(ctx); OCFCode(err) != OCFErrConfigured {
		t.Errorf("validate unknown nic: %v", err)
	}
	if _, err := NewSendArp(map[string]string{"ip": "10.0.0.9"}, NativeOptions{}); OCFCode(err) != OCFErrConfigured {
		t.Errorf("missing nic: %v", err)
	}
}

// TestRunnerHidesSystemdNotify: scripts do not inherit hbd's notify socket
// or watchdog settings, and keep the rest of the environment.
func TestRunnerHidesSystemdNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("WATCHDOG_USEC", "10000000")
	t.Setenv("WATCHDOG_PID", "1")
	t.Setenv("LVSHA_KEEP", "kept")
	script := writeScript(t, filepath.Join(t.TempDir(), "env"), `env`)
	r := &Runner{Timeout: 10 * time.Second, Logger: quietLogger(), Env: []string{"EXTRA=1"}}
	res, err := r.Run(context.Background(), script, nil, []string{"PERCALL=2"})
	if err != nil || res.Code != 0 {
		t.Fatalf("res %+v err %v", res, err)
	}
	for _, bad := range []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="} {
		if strings.Contains(res.Stdout, bad) {
			t.Errorf("the script inherited %s...:\n%s", bad, res.Stdout)
		}
	}
	for _, want := range []string{"LVSHA_KEEP=kept", "EXTRA=1", "PERCALL=2"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("the script lacks %s:\n%s", want, res.Stdout)
		}
	}
}

// Every agent process is started through Runner.Start when set (hbd's
// real-time mode starts them with normal scheduling), and its error is the
// call's.
func TestRunnerStartHook(t *testing.T) {
	script := writeScript(t, filepath.Join(t.TempDir(), "s"), `echo ran`)
	var started []string
	r := &Runner{Timeout: 10 * time.Second, Logger: quietLogger(), Start: func(c *exec.Cmd) error {
		started = append(started, c.Path)
		return c.Start()
	}}
	res, err := r.Run(context.Background(), script, nil, nil)
	if err != nil || res.Code != 0 || !strings.Contains(res.Stdout, "ran") {
		t.Fatalf("res %+v err %v", res, err)
	}
	if len(started) != 1 || started[0] != script {
		t.Errorf("Start hook saw %q, want [%s]", started, script)
	}
	refuse := errors.New("refused by the hook")
	r.Start = func(*exec.Cmd) error { return refuse }
	if _, err := r.Run(context.Background(), script, nil, nil); !errors.Is(err, refuse) {
		t.Errorf("a failing Start hook gave %v", err)
	}
	res2 := &Resolver{HADir: t.TempDir(), Start: r.Start}
	if res2.runner().Start == nil {
		t.Error("the Resolver does not hand its Start to its runners")
	}
}
