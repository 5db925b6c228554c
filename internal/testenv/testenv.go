// Package testenv decides what a test does when the machine lacks something
// it needs: a program, a Debian package, root, a kernel feature. Normally
// the test skips with the reason. In strict mode (LVSHA_STRICT=1, which
// `make test` and so CI set) it fails instead, naming what is missing,
// unless allowed-skips.txt lists it: a green strict run means the whole
// suite ran.
//
// Every skip goes through Skip (or a Require helper). A t.Skip that does
// not is caught by the gate `make test` pipes `go test -json` through
// (lvsha/internal/testenv/testgate), which fails the run for any skip the
// allow-list does not name; CheckSkips does the same for a test binary run
// elsewhere (inside the VM of tests/vm).
package testenv

import (
	"bufio"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// StrictEnv is the variable that switches strict mode on ("1").
const StrictEnv = "LVSHA_STRICT"

// Strict reports whether strict mode is on.
func Strict() bool { return os.Getenv(StrictEnv) == "1" }

// Skip skips t with reason, or in strict mode fails it unless the
// allow-list names the test. The reason must say what is missing and how
// to get it (the Debian package, root, ...).
func Skip(t testing.TB, reason string) {
	t.Helper()
	if Strict() {
		if _, err := Entries(); err != nil {
			t.Fatalf("strict mode (%s=1): this test would skip (%s), and the allow-list is broken: %v", StrictEnv, reason, err)
		}
		pkg := callerPackage(t.Name())
		why, ok := Allowed(pkg, t.Name())
		if !ok {
			t.Fatalf("strict mode (%s=1): %s (package %s) would skip, and %s does not allow it: %s", StrictEnv, t.Name(), pkg, AllowListName, reason)
		}
		t.Skipf("%s (allowed by %s: %s)", reason, AllowListName, why)
	}
	t.Skip(reason)
}

// Skipf is Skip with a format.
func Skipf(t testing.TB, format string, args ...any) {
	t.Helper()
	Skip(t, fmt.Sprintf(format, args...))
}

// SkipShort skips t under -short (what is left out is named by why). A
// strict run is a whole run: strict mode and -short contradict each other,
// so there the test fails instead.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if !testing.Short() {
		return
	}
	if Strict() {
		t.Fatalf("strict mode (%s=1) runs every test, but -short would leave this one out (%s): drop -short or unset %s", StrictEnv, why, StrictEnv)
	}
	t.Skipf("-short: %s", why)
}

// RequireRoot skips (strict: fails) unless the test runs as root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skipf(t, "needs root (%s)", why)
	}
}

// sbinDirs are searched after PATH: a test's PATH may lack them.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"}

// LookProgram finds name in PATH or the sbin directories.
func LookProgram(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if !strings.Contains(name, "/") {
		for _, d := range sbinDirs {
			p := filepath.Join(d, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%s: not found in PATH or %s", name, strings.Join(sbinDirs, ", "))
}

// RequireProgram returns the path of program name (an absolute path, or a
// name looked up in PATH and the sbin directories), or skips (strict:
// fails) naming the Debian package that provides it.
func RequireProgram(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := LookProgram(name)
	if err != nil {
		Skipf(t, "%s is not installed (Debian package %s; scripts/deps.sh test installs it)", name, debianPackage)
	}
	return p
}

// RequireFile skips (strict: fails) unless path exists, naming the Debian
// package that provides it.
func RequireFile(t testing.TB, path, debianPackage string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Skipf(t, "%s is not installed (Debian package %s; scripts/deps.sh test installs it): %v", path, debianPackage, err)
	}
}

// callerPackage finds the import path of the package whose test function
// test (t.Name()) is running, from the call stack: Skip is always called
// on the test's goroutine, under the test function or one of its closures.
func callerPackage(test string) string {
	top, _, _ := strings.Cut(test, "/")
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if pkg, fn, ok := splitFunc(f.Function); ok && (fn == top || strings.HasPrefix(fn, top+".")) {
			return pkg
		}
		if !more {
			return ""
		}
	}
}

// splitFunc splits "lvsha/hbd/wire.TestX.func1" into "lvsha/hbd/wire" and
// "TestX.func1"; an external test package (pkg_test) counts as pkg.
func splitFunc(name string) (pkg, fn string, ok bool) {
	slash := strings.LastIndex(name, "/")
	dot := strings.Index(name[slash+1:], ".")
	if dot < 0 {
		return "", "", false
	}
	pkg, fn = name[:slash+1+dot], name[slash+2+dot:]
	return strings.TrimSuffix(pkg, "_test"), fn, true
}

// skipLine matches a skip report in `go test -v` output, indented by
// subtest depth.
var skipLine = regexp.MustCompile(`^\s*--- SKIP: (\S+)`)

// CheckSkips fails t, in strict mode, for every skip that output (the -v
// output of package pkg's test binary, run elsewhere, e.g. in the VM)
// reports and the allow-list does not name; it logs the allowed ones.
func CheckSkips(t testing.TB, pkg, output string) {
	t.Helper()
	if !Strict() {
		return
	}
	sc := bufio.NewScanner(strings.NewReader(output))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		m := skipLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if why, ok := Allowed(pkg, m[1]); ok {
			t.Logf("allowed skip in %s: %s (%s)", pkg, m[1], why)
		} else {
			t.Errorf("strict mode (%s=1): %s %s skipped and %s does not allow it", StrictEnv, pkg, m[1], AllowListName)
		}
	}
}

// AllowListName is the allow-list's path in the repository.
const AllowListName = "internal/testenv/allowed-skips.txt"

// allowList is embedded so that test binaries run outside the source tree
// (in the VM, through go test -exec) know it too.
//
//go:embed allowed-skips.txt
var allowList string

// Entry is one line of the allow-list.
type Entry struct {
	Package string         // import path, exact
	Test    *regexp.Regexp // anchored: matches the whole test name
	Reason  string         // why this skip is legitimate
	Line    int
}

var (
	entriesOnce sync.Once
	entries     []Entry
	entriesErr  error
)

// Entries returns the parsed allow-list. A malformed list is an error for
// every caller: no skip is allowed by a list that cannot be read.
func Entries() ([]Entry, error) {
	entriesOnce.Do(func() { entries, entriesErr = ParseAllowList(allowList) })
	return entries, entriesErr
}

// ParseAllowList parses the allow-list format: one entry a line,
//
//	IMPORT-PATH  TEST-REGEXP  REASON...
//
// blank lines and lines starting with # ignored. The regexp must match the
// whole test name (subtests as Parent/sub); the reason is required.
func ParseAllowList(s string) ([]Entry, error) {
	var out []Entry
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: want PACKAGE TEST-REGEXP REASON, got %q", AllowListName, i+1, line)
		}
		re, err := regexp.Compile("^(?:" + f[1] + ")$")
		if err != nil {
			return nil, fmt.Errorf("%s:%d: test pattern: %w", AllowListName, i+1, err)
		}
		out = append(out, Entry{Package: f[0], Test: re, Reason: strings.Join(f[2:], " "), Line: i + 1})
	}
	return out, nil
}

// Allowed reports whether the allow-list lets test (t.Name()) of package pkg
// skip in strict mode, and why.
func Allowed(pkg, test string) (string, bool) {
	es, err := Entries()
	if err != nil {
		return "", false
	}
	for _, e := range es {
		if e.Package == pkg && e.Test.MatchString(test) {
			return e.Reason, true
		}
	}
	return "", false
}
