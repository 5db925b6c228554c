package main

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"lvsha/importer/corpus"
	"lvsha/importer/verify"

	"lvsha/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

func cases(t *testing.T) []corpus.Case {
	t.Helper()
	samples := ""
	if corpus.HasSamples() {
		samples = corpus.DebianSamples
	} else {
		t.Run("debian", func(t *testing.T) {
			testenv.Skip(t, "keepalived's samples are not installed (Debian package keepalived; scripts/deps.sh test installs it)")
		})
	}
	cs, err := corpus.List("../../testdata", samples)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// fixedKey makes the authkeys of keyless inputs reproducible.
func fixedKey() string { return "0123456789abcdef0123456789abcdef" }

// TestCorpus imports every corpus file, compares the files and the report
// with the golden ones, and checks that hbd's and ldird's configuration
// code accept the output.
func TestCorpus(t *testing.T) {
	newKey = fixedKey
	defer func() { newKey = nil }()
	for _, c := range cases(t) {
		t.Run(c.Kind+"/"+c.Name, func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			args := append([]string{c.Kind}, c.Args...)
			args = append(args, "-o", out, "--keep-going", c.Input)
			code := run(context.Background(), args, &stdout, &stderr)
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
			}
			got := map[string]string{"report.txt": stdout.String()}
			filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				rel, _ := filepath.Rel(out, p)
				got[rel] = string(b)
				st, _ := os.Stat(p)
				switch {
				case rel == "authkeys" && st.Mode().Perm() != 0o600:
					t.Errorf("authkeys mode %v, want 0600", st.Mode().Perm())
				case strings.HasPrefix(rel, "lvsha-checks/") || strings.HasPrefix(rel, "resource.d/"):
					if st.Mode().Perm() != 0o755 {
						t.Errorf("%s mode %v, want 0755", rel, st.Mode().Perm())
					}
				}
				return nil
			})
			// Absolute paths (${_PWD}) depend on where the tree is.
			if abs, err := filepath.Abs(filepath.Dir(c.Input)); err == nil {
				for k, v := range got {
					got[k] = strings.ReplaceAll(v, abs, "CORPUSDIR")
				}
			}
			compareGolden(t, c.Golden, got)

			// The output passes the code hbd -t and ldird -t run, as each node.
			node := ""
			if b, err := os.ReadFile(filepath.Join(out, "ha.cf")); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if f := strings.Fields(l); len(f) == 2 && f[0] == "node" {
						if _, err := verify.Dir(out, f[1]); err != nil {
							t.Errorf("as node %s: %v", f[1], err)
						}
						node = f[1]
					}
				}
				if node == "" {
					t.Error("ha.cf names no node")
				}
			} else if _, err := verify.Dir(out, ""); err != nil {
				t.Error(err)
			}

			// Without --keep-going, anything not mapped stops the import
			// and nothing is written.
			strict := t.TempDir()
			var so, se bytes.Buffer
			args = append([]string{c.Kind}, c.Args...)
			args = append(args, "-o", strict, c.Input)
			code = run(context.Background(), args, &so, &se)
			unmapped := strings.Contains(stdout.String(), "\nNOT MAPPED ")
			entries, _ := os.ReadDir(strict)
			switch {
			case unmapped && (code != exitUnmapped || len(entries) != 0):
				t.Errorf("with NOT MAPPED items: exit %d (want %d) and %d files written (want none)", code, exitUnmapped, len(entries))
			case !unmapped && code != exitOK:
				t.Errorf("nothing unmapped, yet exit %d: %s", code, se.String())
			}
		})
	}
}

func compareGolden(t *testing.T, dir string, got map[string]string) {
	t.Helper()
	if *update {
		os.RemoveAll(dir)
		for name, body := range got {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		want[rel] = string(b)
		return nil
	})
	if len(want) == 0 {
		t.Fatalf("no golden files in %s (run go test ./importer/cmd/lvsha-import -run TestCorpus -update)", dir)
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	for n := range want {
		if _, ok := got[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		g, okg := got[n]
		w, okw := want[n]
		switch {
		case !okg:
			t.Errorf("%s: not written (the golden has it)", n)
		case !okw:
			t.Errorf("%s: written, but no golden file:\n%s", n, g)
		case g != w:
			t.Errorf("%s differs from %s:\n%s", n, filepath.Join(dir, n), diff(w, g))
		}
	}
}

// diff shows the first lines that differ.
func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(wl), len(gl)) && shown < 12; i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("  line " + itoa(i+1) + "\n    want: " + w + "\n    got:  " + g + "\n")
			shown++
		}
	}
	return b.String()
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+i/1000%10)) + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10)))
}

// TestKeepalivedAcceptsCorpus runs the real keepalived's configuration
// test on every keepalived.conf of our own corpus, as each node reads it:
// the corpus must be what keepalived 2.2.7 accepts (warnings about
// interfaces missing on this host aside).
func TestKeepalivedAcceptsCorpus(t *testing.T) {
	ka := testenv.RequireProgram(t, "keepalived", "keepalived")
	cs, err := corpus.List("../../testdata", "")
	if err != nil {
		t.Fatal(err)
	}
	bad := regexp.MustCompile(`Unknown keyword|Configuration error|SECURITY VIOLATION|malformed|Invalid|invalid`)
	for _, c := range cs {
		if c.Kind != "keepalived" {
			continue
		}
		files := map[string][]string{c.Input: {"lb1", "lb2"}}
		for i, a := range c.Args {
			if a == "--peer-conf" {
				files[c.Args[i+1]] = []string{"lb2"}
				files[c.Input] = []string{"lb1"}
			}
		}
		for f, ids := range files {
			abs, _ := filepath.Abs(f)
			for _, id := range ids {
				out, _ := exec.Command(ka, "-t", "-f", abs, "-i", id).CombinedOutput()
				for _, l := range strings.Split(string(out), "\n") {
					if bad.MatchString(l) {
						t.Errorf("%s as %s: keepalived -t: %s", c.Name, id, l)
					}
				}
			}
		}
	}
}

// TestReportLines pins the report lines that say the most: the seed files'
// mappings and every kind of "not mapped".
func TestReportLines(t *testing.T) {
	newKey = fixedKey
	defer func() { newKey = nil }()
	want := map[string][]string{
		"keepalived/dr-pair": {
			"MAPPED     keepalived.conf:6  VI_1 state MASTER priority 150 -> owner lb1 in haresources (priority 150 on lb1 against 100 on lb2)",
			"MAPPED     keepalived.conf:29  TCP_CHECK -> checktype = connect",
			"MAPPED     keepalived.conf:24  lb_kind DR -> forwarding method gate for the reals",
			"MAPPED     keepalived.conf:6  advert_int 1 -> keepalive 1s, deadtime 3610ms",
		},
		"keepalived/unmapped": {
			"MAPPED     keepalived.conf:3  lvs_sync_daemon eth1 VI_1 id 5 -> syncdaemon = eth1 syncid=5 in ldirectord.cf",
			"NOT MAPPED keepalived.conf:18  track_interface { eth1 } -> hbd does not give up its groups when an interface goes down; do: add a ping node",
			"NOT MAPPED keepalived.conf:21  track_script { chk_haproxy } -> hbd runs no tracking scripts",
			"NOT MAPPED keepalived.conf:47  quorum 3 -> ldird's fallback takes over only when every real is down",
			"NOT MAPPED keepalived.conf:51  notify_down /usr/local/bin/rs-down.sh -> ldird runs no script when a real changes state",
			"NOT MAPPED keepalived.conf:52  UDP_CHECK -> ldird has no check that sends a hex payload over UDP",
			"NOT MAPPED keepalived.conf:37  protocol SCTP -> ldird manages TCP and UDP services only",
			"MAPPED     keepalived.conf:44  ops -> ops = yes",
			"MAPPED     keepalived.conf:43  sh-port -> schedflags = sh-port",
		},
		"keepalived/schedflags": {
			"IGNORED    keepalived.conf:29  sh-port -> sh-port means something only to the sh scheduler, not wrr (keepalived ignores it too",
			"MAPPED     keepalived.conf:30  flag-3 -> schedflags = flag-3",
		},
		"keepalived/group-ssl": {
			"MAPPED     keepalived.conf:4  10.77.0.110-112 443 -> 3 virtual services, one per address",
			"MAPPED     keepalived.conf:15  SSL_GET (why external) -> digest: ldird cannot compare an MD5 digest of the page: so it runs as an external check",
		},
		"piranha/seed": {
			"APPROX     lvs.cf:18  send = \"GET / HTTP/1.0\\r\\n\\r\\n\" -> service = simpletcp, request = \"GET / HTTP/1.0\\n\\n\"",
			"APPROX     lvs.cf:19  expect = \"HTTP\" -> receive = \"^HTTP\"",
			"MAPPED     lvs.cf:27  server web1 address = 10.77.8.11 -> real = 10.77.8.11 gate 1",
			"MAPPED     lvs.cf:2  lvsd and nanny -> ldirectord::ldirectord.cf at the end of the group",
		},
	}
	cs, err := corpus.List("../../testdata", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		lines, ok := want[c.Kind+"/"+c.Name]
		if !ok {
			continue
		}
		delete(want, c.Kind+"/"+c.Name)
		var stdout, stderr bytes.Buffer
		args := append(append([]string{c.Kind}, c.Args...), "-o", t.TempDir(), "--keep-going", c.Input)
		if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
			t.Fatalf("%s: exit %d: %s", c.Name, code, stderr.String())
		}
		missing := 0
		for _, l := range lines {
			found := false
			for _, got := range strings.Split(stdout.String(), "\n") {
				if strings.HasPrefix(got, l) {
					found = true
				}
			}
			if !found {
				missing++
				t.Errorf("%s: no report line starting %q", c.Name, l)
			}
		}
		if missing > 0 {
			t.Logf("%s's report:\n%s", c.Name, stdout.String())
		}
	}
	for k := range want {
		t.Errorf("corpus case %s not found", k)
	}
}

// TestUsage covers the command line's refusals.
func TestUsage(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	os.WriteFile(conf, []byte("vrrp_instance VI_1 {\n interface eth0\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"), 0o644)
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, exitUsage, "usage:"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"keepalived"}, exitUsage, "want one input file"},
		{[]string{"keepalived", "-o", dir, conf}, exitUsage, "name this director and its peer"},
		{[]string{"keepalived", "--node", "a", conf}, exitUsage, "give both --node and --peer"},
		{[]string{"keepalived", "--node", "a", "--peer", "a", conf}, exitUsage, "are the same"},
		{[]string{"keepalived", "--node", "a", "--peer", "b", filepath.Join(dir, "missing.conf")}, exitError, "no such file"},
		{[]string{"piranha", "-o", dir, "../../testdata/corpus/piranha/seed/lvs.cf"}, exitUsage, "give their node names"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String()+stderr.String(), c.msg) {
			t.Errorf("%q: exit %d, want %d with %q; got:\n%s%s", c.args, code, c.code, c.msg, stdout.String(), stderr.String())
		}
	}
	// Existing files are never replaced without --force.
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "ha.cf"), []byte("mine\n"), 0o644)
	var stdout, stderr bytes.Buffer
	args := []string{"keepalived", "--node", "a", "--peer", "b", "-o", out, conf}
	if code := run(context.Background(), args, &stdout, &stderr); code != exitError || !strings.Contains(stderr.String(), "--force") {
		t.Errorf("existing ha.cf: exit %d: %s", code, stderr.String())
	}
	if b, _ := os.ReadFile(filepath.Join(out, "ha.cf")); string(b) != "mine\n" {
		t.Errorf("ha.cf replaced without --force")
	}
	if _, err := os.Stat(filepath.Join(out, "authkeys")); err == nil {
		t.Errorf("authkeys written although ha.cf was in the way")
	}
	if code := run(context.Background(), append(args[:len(args)-1], "--force", conf), &stdout, &stderr); code != exitOK {
		t.Errorf("--force: exit %d: %s", code, stderr.String())
	}
	if b, _ := os.ReadFile(filepath.Join(out, "ha.cf")); string(b) == "mine\n" {
		t.Errorf("--force did not replace ha.cf")
	}
}
