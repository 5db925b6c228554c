package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAllowList(t *testing.T) {
	es, err := ParseAllowList("# comment\n\nlvsha/a  TestX(/.*)?  the reason, in words\n  lvsha/b TestY  why\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Package != "lvsha/a" || es[0].Reason != "the reason, in words" || es[0].Line != 3 || es[1].Line != 4 {
		t.Fatalf("entries %+v", es)
	}
	for name, want := range map[string]bool{"TestX": true, "TestX/sub": true, "TestXY": false, "XTestX": false} {
		if got := es[0].Test.MatchString(name); got != want {
			t.Errorf("%q matches %v, want %v (the pattern is anchored)", name, got, want)
		}
	}
	for _, bad := range []string{"lvsha/a TestX\n", "lvsha/a Test( reason\n", "lvsha/a\n"} {
		if _, err := ParseAllowList(bad); err == nil || !strings.Contains(err.Error(), AllowListName+":1:") {
			t.Errorf("%q: error %v, want one naming %s:1", bad, err, AllowListName)
		}
	}
}

// The embedded list parses, and each entry names a package that exists.
func TestAllowListEntries(t *testing.T) {
	es, err := Entries()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		dir, ok := strings.CutPrefix(e.Package, "lvsha/")
		if !ok {
			t.Errorf("line %d: %s is not a package of module lvsha", e.Line, e.Package)
			continue
		}
		if st, err := os.Stat(filepath.Join("..", "..", dir)); err != nil || !st.IsDir() {
			t.Errorf("line %d: package %s does not exist: %v", e.Line, e.Package, err)
		}
	}
}

func TestCallerPackage(t *testing.T) {
	if got := callerPackage(t.Name()); got != "lvsha/internal/testenv" {
		t.Errorf("from the test: %q", got)
	}
	t.Run("sub", func(t *testing.T) {
		if got := callerPackage(t.Name()); got != "lvsha/internal/testenv" {
			t.Errorf("from a subtest: %q", got)
		}
	})
	if got := callerPackage("TestNotOnTheStack"); got != "" {
		t.Errorf("for a test not on the stack: %q", got)
	}
	for in, want := range map[string][2]string{
		"lvsha/hbd/wire.TestX.func1": {"lvsha/hbd/wire", "TestX.func1"},
		"lvsha/tests/vm_test.TestY":  {"lvsha/tests/vm", "TestY"},
		"main.TestZ":                 {"main", "TestZ"},
	} {
		if p, f, ok := splitFunc(in); !ok || p != want[0] || f != want[1] {
			t.Errorf("splitFunc(%q) = %q %q %v", in, p, f, ok)
		}
	}
}

// fakeTB records what Skip does; Fatalf and Skip* end the call the way the
// real ones do (they never return), here by panicking with the sentinel.
type fakeTB struct {
	testing.TB
	name           string
	fatal, skipped string
}

type stop struct{}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Name() string              { return f.name }
func (f *fakeTB) Fatalf(s string, a ...any) { f.fatal = fmtS(s, a...); panic(stop{}) }
func (f *fakeTB) Skipf(s string, a ...any)  { f.skipped = fmtS(s, a...); panic(stop{}) }
func (f *fakeTB) Skip(a ...any)             { f.skipped = strings.TrimSuffix(fmtLn(a...), "\n"); panic(stop{}) }

func run(f *fakeTB, fn func(testing.TB)) {
	defer func() {
		if r := recover(); r != nil && r != (stop{}) {
			panic(r)
		}
	}()
	fn(f)
}

func TestSkip(t *testing.T) {
	Entries() // loaded now, so that the list below replaces it until Cleanup
	saved := entries
	t.Cleanup(func() { entries = saved })
	entries, _ = ParseAllowList("lvsha/internal/testenv TestSkip/allowed the reason it may\n")

	for _, c := range []struct {
		name, strict   string
		fatal, skipped string // substrings; "" = must be empty
	}{
		{"plain", "", "", "qemu is missing"},
		{"strict", "1", "TestSkip/strict (package lvsha/internal/testenv) would skip, and " + AllowListName + " does not allow it: qemu is missing", ""},
		{"allowed", "1", "", "qemu is missing (allowed by " + AllowListName + ": the reason it may)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(StrictEnv, c.strict)
			f := &fakeTB{name: t.Name()}
			run(f, func(tb testing.TB) { Skipf(tb, "qemu is %s", "missing") })
			if (c.fatal == "") != (f.fatal == "") || !strings.Contains(f.fatal, c.fatal) {
				t.Errorf("strict=%q: Fatalf %q, want %q", c.strict, f.fatal, c.fatal)
			}
			if (c.skipped == "") != (f.skipped == "") || !strings.Contains(f.skipped, c.skipped) {
				t.Errorf("strict=%q: skipped %q, want %q", c.strict, f.skipped, c.skipped)
			}
		})
	}
}

func TestRequireProgram(t *testing.T) {
	t.Setenv(StrictEnv, "1")
	f := &fakeTB{name: t.Name()}
	var got string
	run(f, func(tb testing.TB) { got = RequireProgram(tb, "sh", "dash") })
	if got == "" || f.fatal != "" || f.skipped != "" {
		t.Errorf("sh: %q, fatal %q, skipped %q", got, f.fatal, f.skipped)
	}
	f = &fakeTB{name: t.Name()}
	run(f, func(tb testing.TB) { RequireProgram(tb, "lvsha-no-such-program", "lvsha-pkg") })
	if !strings.Contains(f.fatal, "lvsha-no-such-program is not installed (Debian package lvsha-pkg") {
		t.Errorf("missing program in strict mode: fatal %q", f.fatal)
	}
}

func TestCheckSkips(t *testing.T) {
	Entries()
	saved := entries
	t.Cleanup(func() { entries = saved })
	entries, _ = ParseAllowList("lvsha/x TestAllowed it may\n")
	out := "=== RUN   TestAllowed\n--- SKIP: TestAllowed (0.00s)\n=== RUN   TestP\n    --- SKIP: TestP/sub (0.00s)\n--- PASS: TestP (0.01s)\nPASS\n"
	for _, strict := range []string{"", "1"} {
		t.Setenv(StrictEnv, strict)
		var errs []string
		CheckSkips(&errTB{TB: t, errs: &errs}, "lvsha/x", out)
		want := 0
		if strict == "1" {
			want = 1
		}
		if len(errs) != want || (want == 1 && !strings.Contains(errs[0], "lvsha/x TestP/sub skipped")) {
			t.Errorf("strict=%q: errors %q", strict, errs)
		}
	}
}

type errTB struct {
	testing.TB
	errs *[]string
}

func (e *errTB) Errorf(s string, a ...any) { *e.errs = append(*e.errs, fmtS(s, a...)) }

func fmtS(s string, a ...any) string { return fmt.Sprintf(s, a...) }
func fmtLn(a ...any) string          { return fmt.Sprintln(a...) }
