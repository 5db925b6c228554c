package fence

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/hbd/config"
	"lvsha/internal/testenv"
)

// fakeStonith writes a stand-in for the stonith program: it records its
// arguments and the content and mode of a -F file, then runs body.
func fakeStonith(t *testing.T, body string) (prog, record string) {
	t.Helper()
	dir := t.TempDir()
	record = filepath.Join(dir, "record")
	prog = filepath.Join(dir, "stonith")
	script := `#!/bin/sh
rec=` + record + `
echo "args: $*" >> $rec
prev=
for a in "$@"; do
	if [ "$prev" = -F ]; then echo "file: $(cat "$a")" >> $rec; echo "mode: $(stat -L -c %a "$a")" >> $rec; echo "path: $a" >> $rec; fi
	prev=$a
done
` + body + "\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog, record
}

func readRecord(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestResetOutcomes: the program's exit code is the plugin library's S_*
// code; 0 is a reset, 4 a device that cannot reset that host, the rest a
// failure; the parameters reach it through a pipe given as its -F file
// (fd 3, private to it), never on the command line nor on disk, where an
// hbd killed mid-call would leave them.
func TestResetOutcomes(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // os.TempDir: where a parameter file would go
	for _, c := range []struct {
		body   string
		want   Outcome
		exit   int
		detail string
	}{
		{"exit 0", OK, 0, ""},
		{"echo 'cannot reset that one' >&2; exit 4", BadHost, 4, "cannot reset that one"},
		{"echo 'probe: reset failed' >&2; exit 5", Failed, 5, "probe: reset failed"},
		{"exit 1", Failed, 1, "stonith exited 1"},
	} {
		prog, rec := fakeStonith(t, c.body)
		s := &Stonith{Device: Device{Type: "external/x", Params: "beta  10.0.0.2 secret"}, Program: prog}
		r := s.Reset(context.Background(), "beta")
		if r.Outcome != c.want || r.ExitCode != c.exit || !strings.Contains(r.Detail, c.detail) || r.Node != "beta" {
			t.Errorf("%q: got %+v, want %v exit %d detail %q", c.body, r, c.want, c.exit, c.detail)
		}
		got := readRecord(t, rec)
		if strings.Contains(strings.SplitN(got, "\n", 2)[0], "secret") {
			t.Errorf("the parameters are on the command line: %s", got)
		}
		for _, w := range []string{"-t external/x -F /dev/fd/3 -T reset beta", "file: beta  10.0.0.2 secret", "mode: 600"} {
			if !strings.Contains(got, w) {
				t.Errorf("%q: record lacks %q:\n%s", c.body, w, got)
			}
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
	prog, _ := fakeStonith(t, "exit 0")
	s := &Stonith{Device: Device{Type: "x"}, Program: prog}
	s.Reset(context.Background(), "b")
	s.Reset(context.Background(), "b")
	st := s.Stats()
	if st.Attempts[OK] != 2 || st.Last == nil || st.Last.Outcome != OK {
		t.Errorf("stats %+v", st)
	}
}

// TestResetFileAndEmpty: a stonith TYPE CONFIGFILE line passes the file
// as it is; a plugin without parameters gets -p "".
func TestResetFileAndEmpty(t *testing.T) {
	prog, rec := fakeStonith(t, "exit 0")
	(&Stonith{Device: Device{Type: "external/ssh", File: "/etc/ha.d/stonith.cfg"}, Program: prog}).Reset(context.Background(), "b")
	(&Stonith{Device: Device{Type: "suicide"}, Program: prog}).Reset(context.Background(), "b")
	got := readRecord(t, rec)
	if !strings.Contains(got, "args: -t external/ssh -F /etc/ha.d/stonith.cfg -T reset b") ||
		!strings.Contains(got, "args: -t suicide -p  -T reset b") {
		t.Errorf("record:\n%s", got)
	}
}

// TestResetTimeout: a hung plugin is killed with its whole process group
// and the attempt fails saying so; meatware, which waits for a person, is
// never timed out.
func TestResetTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	prog, _ := fakeStonith(t, "sleep 300 & echo $! > "+pidFile+"; wait")
	s := &Stonith{Device: Device{Type: "external/hang", Params: "b"}, Program: prog, Timeout: 200 * time.Millisecond}
	r := s.Reset(context.Background(), "b")
	if r.Outcome != Failed || !strings.Contains(r.Detail, "timed out after 200ms") {
		t.Fatalf("got %+v", r)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the plugin's child %d survived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}

	prog, _ = fakeStonith(t, "sleep 0.5; exit 0")
	s = &Stonith{Device: Device{Type: "meatware", Params: "b"}, Program: prog, Timeout: 10 * time.Millisecond}
	if r := s.Reset(context.Background(), "b"); r.Outcome != OK {
		t.Fatalf("meatware was timed out: %+v", r)
	}
}

// TestCheck: the type must be listed by -L, the line must give as many
// words as -n names, and the error says which are missing, in order.
func TestCheck(t *testing.T) {
	prog, _ := fakeStonith(t, `case "$*" in
-L) printf 'null\nmeatware\nexternal/ipmi\nsuicide\n';;
"-t external/ipmi -n") echo "hostname  ipaddr  userid  passwd  interface  ";;
"-t null -n") echo "hostlist  ";;
"-t meatware -n") echo "hostlist  ";;
"-t suicide -n") echo;;
esac`)
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("# comment\n\nb 10.0.0.2 admin pw lanplus\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("b 10.0.0.2\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	c := &Checker{Program: prog}
	for _, tc := range []struct {
		s    config.Stonith
		want string // "" = accepted
	}{
		{config.Stonith{Host: "*", Type: "null", Params: "a b"}, ""},
		{config.Stonith{Host: "*", Type: "suicide"}, ""},
		{config.Stonith{Host: "a", Type: "external/ipmi", Params: "b 10.0.0.2 admin pw lanplus"}, ""},
		{config.Stonith{Host: "a", Type: "external/ipmi", Params: "b 10.0.0.2 admin"},
			"STONITH type external/ipmi needs 5 parameters, in this order: hostname ipaddr userid passwd interface; the line gives 3 (missing: passwd interface)"},
		{config.Stonith{Host: "*", Type: "meatware"}, "needs 1 parameters, in this order: hostlist; the line gives 0 (missing: hostlist)"},
		{config.Stonith{Host: "*", Type: "external/nosuch", Params: "a"}, `STONITH type "external/nosuch" is not installed`},
		{config.Stonith{Type: "external/ipmi", Params: good}, ""},
		{config.Stonith{Type: "external/ipmi", Params: short}, "the first line of " + short + " gives 2 (missing: userid passwd interface)"},
		{config.Stonith{Type: "external/ipmi", Params: empty}, "has no parameter line"},
		{config.Stonith{Type: "external/ipmi", Params: filepath.Join(dir, "none")}, "cannot read the parameter file"},
	} {
		err := c.Check(tc.s)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.s, err, tc.want)
		}
	}
	err := (&Checker{Program: filepath.Join(dir, "absent")}).Check(config.Stonith{Host: "*", Type: "null", Params: "a"})
	if err == nil || !strings.Contains(err.Error(), "Debian package cluster-glue") {
		t.Errorf("missing program: %v", err)
	}
}

// installPlugin puts an external/ plugin where the real stonith program
// looks for them, under a name unique to this test process, and removes it
// at cleanup.
func installPlugin(t *testing.T, script string) string {
	t.Helper()
	testenv.RequireRoot(t, "installs a plugin into /usr/lib/stonith/plugins/external")
	testenv.RequireProgram(t, DefaultProgram, "cluster-glue")
	dir := "/usr/lib/stonith/plugins/external"
	testenv.RequireFile(t, dir, "cluster-glue")
	name := fmt.Sprintf("lvsha-unit-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(p) })
	return "external/" + name
}

// TestRealStonithProgram drives cluster-glue's own stonith program and
// plugin library with an external/ plugin: success, failure with the
// plugin's words kept, the parameters split as Heartbeat's stonith_host
// line is (the last name takes the rest), and the check.
func TestRealStonithProgram(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "calls")
	typ := installPlugin(t, `#!/bin/sh
case $1 in
gethosts) for h in $hostlist; do echo $h; done;;
reset) echo "reset $2 mode=[$mode] hostlist=[$hostlist]" >> `+rec+`
	[ "$mode" = fail ] && { echo "test plugin: cannot reach the device" >&2; exit 1; }; exit 0;;
status) exit 0;;
getconfignames) echo mode; echo hostlist;;
getinfo-devid|getinfo-devname|getinfo-devdescr|getinfo-devurl) echo test;;
getinfo-xml) echo "<parameters/>";;
*) exit 1;;
esac
exit 0
`)
	ok := &Stonith{Device: Device{Type: typ, Params: "ok alpha  beta"}}
	if r := ok.Reset(context.Background(), "beta"); r.Outcome != OK {
		t.Fatalf("reset: %+v", r)
	}
	bad := &Stonith{Device: Device{Type: typ, Params: "fail alpha beta"}}
	r := bad.Reset(context.Background(), "beta")
	if r.Outcome != Failed || r.ExitCode != 5 || !strings.Contains(r.Detail, "cannot reach the device") {
		t.Fatalf("failing reset: %+v", r)
	}
	if err := ok.Status(context.Background()); err != nil {
		t.Fatalf("status: %v", err)
	}
	got := readRecord(t, rec)
	if !strings.Contains(got, "reset beta mode=[ok] hostlist=[alpha  beta]") || !strings.Contains(got, "reset beta mode=[fail]") {
		t.Fatalf("calls:\n%s", got)
	}
	c := &Checker{}
	if err := c.Check(config.Stonith{Host: "*", Type: typ, Params: "ok a"}); err != nil {
		t.Errorf("check: %v", err)
	}
	if err := c.Check(config.Stonith{Host: "*", Type: typ, Params: "ok"}); err == nil || !strings.Contains(err.Error(), "(missing: hostlist)") {
		t.Errorf("check of a short line: %v", err)
	}
	if err := c.Check(config.Stonith{Host: "*", Type: "external/lvsha-none", Params: "x"}); err == nil {
		t.Error("check of a missing type passed")
	}
}

// TestMeatware: the reset waits until an operator confirms with
// `meatclient -c NODE`, through cluster-glue's meatware plugin.
func TestMeatware(t *testing.T) {
	testenv.RequireRoot(t, "meatware's FIFO is in /run")
	testenv.RequireProgram(t, DefaultProgram, "cluster-glue")
	meat := testenv.RequireProgram(t, "meatclient", "cluster-glue")
	node := fmt.Sprintf("lvsha-meat-%d", os.Getpid())
	s := &Stonith{Device: Device{Type: "meatware", Params: node}, Timeout: time.Millisecond}
	done := make(chan Result, 1)
	go func() { done <- s.Reset(context.Background(), node) }()
	fifo := "/run/meatware." + node
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(fifo); err == nil {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("reset returned before the operator confirmed: %+v", r)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("meatware did not create %s", fifo)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("reset returned before the operator confirmed: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	cmd := exec.Command(meat, "-c", node)
	cmd.Stdin = strings.NewReader("y\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "reset confirmed") {
		t.Fatalf("meatclient: %v\n%s", err, out)
	}
	select {
	case r := <-done:
		if r.Outcome != OK {
			t.Fatalf("meatware reset: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reset did not return after meatclient -c")
	}
}
