// Command testgate runs `go test -json ...` and turns its event stream into
// a readable log: one line per package (ok, FAIL, no test files), the full
// output of every failing test, of every skipped test and of every package
// that failed outside a test (build errors, panics, timeouts). It exits
// non-zero when the command fails, when a test fails, or when a test
// skipped that the allow-list (internal/testenv/allowed-skips.txt) does not
// name, whether or not the skip went through package testenv:
//
//	LVSHA_STRICT=1 go run ./internal/testenv/testgate go test -json -count=1 ./...
//
// The allow-list is read from the file in the working tree when there is
// one (the repository root), else the copy compiled in.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"time"

	"lvsha/internal/testenv"
)

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: testgate COMMAND [ARGS...]   (COMMAND: go test -json ...)")
		os.Exit(2)
	}
	allowed, err := loadAllowList()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testgate:", err)
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testgate:", err)
		os.Exit(2)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testgate:", err)
		os.Exit(2)
	}
	g := newGate(os.Stdout, allowed)
	readErr := g.read(stdout)
	waitErr := cmd.Wait()
	ok := g.summary(time.Since(start))
	switch {
	case readErr != nil:
		fmt.Printf("testgate: reading the event stream: %v\n", readErr)
		ok = false
	case waitErr != nil:
		fmt.Printf("testgate: %s: %v\n", strings.Join(os.Args[1:], " "), waitErr)
		ok = false
	}
	if !ok {
		os.Exit(1)
	}
}

// loadAllowList prefers the working tree's file (so an edit takes effect
// without rebuilding testgate) and falls back to the compiled-in copy.
func loadAllowList() ([]testenv.Entry, error) {
	if b, err := os.ReadFile(testenv.AllowListName); err == nil {
		return testenv.ParseAllowList(string(b))
	}
	return testenv.Entries()
}

// event is one line of go test -json (cmd/test2json), plus the build events
// cmd/go adds (ImportPath, build-output, build-fail).
type event struct {
	Action      string
	Package     string
	ImportPath  string
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
}

type skip struct {
	pkg, test, reason string
	allowed           bool
}

type gate struct {
	w       io.Writer
	allowed []testenv.Entry

	out     map[string][]string // "pkg\x00test" (test "" for the package) → output lines
	build   map[string][]string // import path → build output
	passed  int
	failed  []string // "pkg test"
	skips   []skip
	pkgOK   int
	pkgFail []string
	pkgNone int
}

func newGate(w io.Writer, allowed []testenv.Entry) *gate {
	return &gate{w: w, allowed: allowed, out: map[string][]string{}, build: map[string][]string{}}
}

func (g *gate) allow(pkg, test string) (string, bool) {
	for _, e := range g.allowed {
		if e.Package == pkg && e.Test.MatchString(test) {
			return e.Reason, true
		}
	}
	return "", false
}

func key(pkg, test string) string { return pkg + "\x00" + test }

func (g *gate) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(g.w, "%s\n", line) // not an event: pass it on
			continue
		}
		g.handle(e)
	}
	return sc.Err()
}

func (g *gate) handle(e event) {
	switch e.Action {
	case "build-output":
		g.build[e.ImportPath] = append(g.build[e.ImportPath], e.Output)
		return
	case "build-fail":
		fmt.Fprintf(g.w, "BUILD FAIL %s\n", e.ImportPath)
		g.write(g.build[e.ImportPath])
		delete(g.build, e.ImportPath)
		return
	}
	k := key(e.Package, e.Test)
	switch e.Action {
	case "output":
		if !framing(e.Test, e.Output) {
			g.out[k] = append(g.out[k], e.Output)
		}
	case "pass":
		if e.Test == "" {
			g.pkgOK++
			fmt.Fprintf(g.w, "ok   %-45s %6.1fs\n", e.Package, e.Elapsed)
			g.dropPackage(e.Package)
		} else {
			g.passed++
		}
		delete(g.out, k)
	case "fail":
		if e.Test != "" {
			g.failed = append(g.failed, e.Package+" "+e.Test)
			fmt.Fprintf(g.w, "--- FAIL: %s %s (%.2fs)\n", e.Package, e.Test, e.Elapsed)
			g.write(g.out[k])
			delete(g.out, k)
			return
		}
		g.pkgFail = append(g.pkgFail, e.Package)
		build := ""
		if e.FailedBuild != "" {
			build = " (build failed: " + e.FailedBuild + ")"
		}
		fmt.Fprintf(g.w, "FAIL %-45s %6.1fs%s\n", e.Package, e.Elapsed, build)
		// Output no test result claimed: a panic, a timeout, TestMain.
		for _, kk := range g.keysOf(e.Package) {
			if _, t, _ := strings.Cut(kk, "\x00"); t != "" {
				fmt.Fprintf(g.w, "    (output of %s, which reported no result)\n", t)
			}
			g.write(g.out[kk])
		}
		g.dropPackage(e.Package)
	case "skip":
		if e.Test == "" {
			g.pkgNone++
			g.dropPackage(e.Package)
			return
		}
		reason, ok := g.allow(e.Package, e.Test)
		g.skips = append(g.skips, skip{e.Package, e.Test, reason, ok})
		if ok {
			fmt.Fprintf(g.w, "--- SKIP: %s %s (allowed: %s)\n", e.Package, e.Test, reason)
		} else {
			fmt.Fprintf(g.w, "--- SKIP: %s %s: NOT in %s\n", e.Package, e.Test, testenv.AllowListName)
		}
		g.write(g.out[k])
		delete(g.out, k)
	}
}

// framing reports whether line is go test's own framing (=== RUN, the
// --- PASS/FAIL/SKIP result lines, a package's PASS/FAIL/ok summary), which
// this log replaces with its own lines.
func framing(test, line string) bool {
	t := strings.TrimLeft(line, " ")
	if strings.HasPrefix(t, "=== ") || resultLine.MatchString(t) {
		return true
	}
	if test != "" {
		return false
	}
	switch strings.TrimRight(line, "\n") {
	case "PASS", "FAIL":
		return true
	}
	return strings.HasPrefix(line, "ok  \t") || strings.HasPrefix(line, "FAIL\t") || strings.HasPrefix(line, "?   \t")
}

var resultLine = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): \S+ \([0-9.]+s\)\n?$`)

// keysOf lists the output keys of pkg, the package's own first.
func (g *gate) keysOf(pkg string) []string {
	var ks []string
	for k := range g.out {
		if strings.HasPrefix(k, pkg+"\x00") {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

func (g *gate) dropPackage(pkg string) {
	for _, k := range g.keysOf(pkg) {
		delete(g.out, k)
	}
}

func (g *gate) write(lines []string) {
	for _, l := range lines {
		io.WriteString(g.w, l)
		if !strings.HasSuffix(l, "\n") {
			io.WriteString(g.w, "\n")
		}
	}
}

// summary prints the totals and the skips, and reports whether the run is
// clean (no failure, no skip outside the allow-list).
func (g *gate) summary(d time.Duration) bool {
	var allowed, refused []skip
	for _, s := range g.skips {
		if s.allowed {
			allowed = append(allowed, s)
		} else {
			refused = append(refused, s)
		}
	}
	fmt.Fprintf(g.w, "\ntestgate: %d packages ok, %d failed, %d without tests; %d tests passed, %d failed, %d skipped (%d allowed); %s\n",
		g.pkgOK, len(g.pkgFail), g.pkgNone, g.passed, len(g.failed), len(g.skips), len(allowed), d.Round(time.Second))
	if len(allowed) > 0 {
		fmt.Fprintf(g.w, "allowed skips (%s):\n", testenv.AllowListName)
		for _, s := range allowed {
			fmt.Fprintf(g.w, "  %s %s: %s\n", s.pkg, s.test, s.reason)
		}
	}
	if len(refused) > 0 {
		fmt.Fprintf(g.w, "skips NOT in %s (each fails the run; the output above says why it skipped):\n", testenv.AllowListName)
		for _, s := range refused {
			fmt.Fprintf(g.w, "  %s %s\n", s.pkg, s.test)
		}
	}
	if len(g.failed) > 0 {
		fmt.Fprintln(g.w, "failed tests:")
		for _, f := range g.failed {
			fmt.Fprintf(g.w, "  %s\n", f)
		}
	}
	if len(g.pkgFail) > 0 {
		fmt.Fprintf(g.w, "failed packages: %s\n", strings.Join(g.pkgFail, " "))
	}
	return len(refused) == 0 && len(g.failed) == 0 && len(g.pkgFail) == 0
}
