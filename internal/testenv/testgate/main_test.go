package main

import (
	"strings"
	"testing"

	"lvsha/internal/testenv"
)

func TestGate(t *testing.T) {
	allow, err := testenv.ParseAllowList("lvsha/a  TestOK(/sub)?  the kernel has it\n")
	if err != nil {
		t.Fatal(err)
	}
	const stream = `{"Action":"start","Package":"lvsha/a"}
{"Action":"run","Package":"lvsha/a","Test":"TestOK"}
{"Action":"output","Package":"lvsha/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"lvsha/a","Test":"TestOK","Output":"    x_test.go:9: allowed reason\n"}
{"Action":"output","Package":"lvsha/a","Test":"TestOK","Output":"--- SKIP: TestOK (0.00s)\n"}
{"Action":"skip","Package":"lvsha/a","Test":"TestOK","Elapsed":0}
{"Action":"output","Package":"lvsha/a","Test":"TestBad","Output":"    x_test.go:12: qemu missing\n"}
{"Action":"skip","Package":"lvsha/a","Test":"TestBad","Elapsed":0}
{"Action":"output","Package":"lvsha/a","Test":"TestPass","Output":"    noise that passes\n"}
{"Action":"pass","Package":"lvsha/a","Test":"TestPass","Elapsed":0.1}
{"Action":"pass","Package":"lvsha/a","Elapsed":1.5}
{"Action":"output","Package":"lvsha/b","Test":"TestBroken","Output":"    b_test.go:3: got 1, want 2\n"}
{"Action":"fail","Package":"lvsha/b","Test":"TestBroken","Elapsed":0.2}
{"Action":"output","Package":"lvsha/b","Test":"TestHang","Output":"panic: test timed out after 1s\n"}
{"Action":"output","Package":"lvsha/b","Output":"FAIL\n"}
{"Action":"output","Package":"lvsha/b","Output":"FAIL\tlvsha/b\t1.002s\n"}
{"Action":"fail","Package":"lvsha/b","Elapsed":1}
{"ImportPath":"lvsha/c [lvsha/c.test]","Action":"build-output","Output":"c.go:1: syntax error\n"}
{"ImportPath":"lvsha/c [lvsha/c.test]","Action":"build-fail"}
{"Action":"fail","Package":"lvsha/c","Elapsed":0,"FailedBuild":"lvsha/c [lvsha/c.test]"}
{"Action":"skip","Package":"lvsha/d","Elapsed":0}
not json at all
`
	var b strings.Builder
	g := newGate(&b, allow)
	if err := g.read(strings.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	if g.summary(0) {
		t.Error("summary says clean despite a failure and a skip outside the list")
	}
	out := b.String()
	for _, want := range []string{
		"--- SKIP: lvsha/a TestOK (allowed: the kernel has it)\n    x_test.go:9: allowed reason\n",
		"--- SKIP: lvsha/a TestBad: NOT in internal/testenv/allowed-skips.txt\n    x_test.go:12: qemu missing\n",
		"ok   lvsha/a",
		"--- FAIL: lvsha/b TestBroken (0.20s)\n    b_test.go:3: got 1, want 2\n",
		"FAIL lvsha/b",
		"(output of TestHang, which reported no result)\npanic: test timed out after 1s\n",
		"BUILD FAIL lvsha/c [lvsha/c.test]\nc.go:1: syntax error\n",
		"(build failed: lvsha/c [lvsha/c.test])",
		"not json at all\n",
		"1 packages ok, 2 failed, 1 without tests; 1 tests passed, 1 failed, 2 skipped (1 allowed)",
		"skips NOT in internal/testenv/allowed-skips.txt (each fails the run; the output above says why it skipped):\n  lvsha/a TestBad\n",
		"allowed skips (internal/testenv/allowed-skips.txt):\n  lvsha/a TestOK: the kernel has it\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"noise that passes", "=== RUN", "--- SKIP: TestOK (0.00s)", "FAIL\tlvsha/b"} {
		if strings.Contains(out, bad) {
			t.Errorf("log has %q:\n%s", bad, out)
		}
	}
}

func TestGateClean(t *testing.T) {
	allow, _ := testenv.ParseAllowList("lvsha/a TestOK because\n")
	var b strings.Builder
	g := newGate(&b, allow)
	g.read(strings.NewReader(`{"Action":"skip","Package":"lvsha/a","Test":"TestOK"}
{"Action":"pass","Package":"lvsha/a","Test":"TestP"}
{"Action":"pass","Package":"lvsha/a"}
`))
	if !g.summary(0) {
		t.Errorf("an allowed skip and a pass are not clean:\n%s", b.String())
	}
	// The same skip in another package is not allowed.
	g = newGate(&b, allow)
	g.read(strings.NewReader(`{"Action":"skip","Package":"lvsha/b","Test":"TestOK"}` + "\n"))
	if g.summary(0) {
		t.Error("a skip of lvsha/b allowed by an entry for lvsha/a")
	}
}
