package main

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"lvsha/importer/kaconf"
	"lvsha/importer/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// corpusCase is one input of the corpus: its kind (keepalived or piranha),
// its file, the flags it is imported with and where its golden output is.
type corpusCase struct {
	kind, name, input string
	args              []string
	golden            string
}

// debianSamples are keepalived's own samples as Debian installs them.
const debianSamples = "/usr/share/doc/keepalived/samples"

func corpus(t *testing.T) []corpusCase {
	t.Helper()
	var out []corpusCase
	for _, kind := range []string{"keepalived", "piranha"} {
		dirs, err := os.ReadDir(filepath.Join("../../testdata/corpus", kind))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			dir := filepath.Join("../../testdata/corpus", kind, d.Name())
			input := filepath.Join(dir, "keepalived.conf")
			if kind == "piranha" {
				input = filepath.Join(dir, "lvs.cf")
			}
			argText, err := os.ReadFile(filepath.Join(dir, "args"))
			if err != nil {
				t.Fatal(err)
			}
			args := strings.Fields(string(argText))
			for i, a := range args {
				if a == "--peer-conf" && i+1 < len(args) {
					args[i+1] = filepath.Join(dir, args[i+1])
				}
			}
			out = append(out, corpusCase{kind: kind, name: d.Name(), input: input, args: args,
				golden: filepath.Join("../../testdata/golden", kind, d.Name())})
		}
	}
	samples, _ := filepath.Glob(filepath.Join(debianSamples, "keepalived.conf.*"))
	if len(samples) == 0 {
		t.Run("debian", func(t *testing.T) {
			t.Skip("keepalived's samples are not installed (Debian package keepalived; scripts/deps.sh test installs it)")
		})
	}
	for _, s := range samples {
		name := "debian-" + strings.TrimPrefix(filepath.Base(s), "keepalived.conf.")
		args := []string{"--node", "lb1", "--peer", "lb2"}
		if cfg, err := kaconf.Parse(s, kaconf.Options{}); err == nil && len(cfg.ConfigIDs) == 2 {
			args = nil // names from the @ lines
		}
		out = append(out, corpusCase{kind: "keepalived", name: name, input: s, args: args,
			golden: filepath.Join("../../testdata/golden/keepalived", name)})
	}
	return out
}

// fixedKey makes the authkeys of keyless inputs reproducible.
func fixedKey() string { return "0123456789abcdef0123456789abcdef" }

// TestCorpus imports every corpus file, compares the files and the report
// with the golden ones, and checks that hbd's and ldird's configuration
// code accept the output.
func TestCorpus(t *testing.T) {
	newKey = fixedKey
	defer func() { newKey = nil }()
	for _, c := range corpus(t) {
		t.Run(c.kind+"/"+c.name, func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			args := append([]string{c.kind}, c.args...)
			args = append(args, "-o", out, "--keep-going", c.input)
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
			if abs, err := filepath.Abs(filepath.Dir(c.input)); err == nil {
				for k, v := range got {
					got[k] = strings.ReplaceAll(v, abs, "CORPUSDIR")
				}
			}
			compareGolden(t, c.golden, got)

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
			args = append([]string{c.kind}, c.args...)
			args = append(args, "-o", strict, c.input)
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
