package ipspec

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// The real scripts the differential test runs (packages heartbeat and
// resource-agents, which scripts/deps.sh test installs).
const (
	wrapperDir = "/etc/ha.d/resource.d"
	agentDir   = "/usr/lib/ocf/resource.d/heartbeat"
	findifBin  = "/usr/libexec/heartbeat/findif"
)

var ocfVars = []string{"ip", "cidr_netmask", "nic", "broadcast", "lvs_support"}

// realWrapper runs Heartbeat's resource.d/<kind> wrapper on arg with only
// its last step replaced: instead of running the OCF agent, ra_execocf
// prints the OCF_RESKEY_ variables the wrapper exported.
func realWrapper(t *testing.T, dir, kind, arg string) map[string]string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(wrapperDir, kind))
	if err != nil {
		t.Fatal(err)
	}
	const source = ". /etc/ha.d/resource.d//hto-mapfuncs"
	if !bytes.Contains(src, []byte(source)) {
		t.Fatalf("%s/%s no longer sources hto-mapfuncs as %q", wrapperDir, kind, source)
	}
	var stub strings.Builder
	stub.WriteString("ra_execocf() {\n")
	for _, v := range ocfVars {
		fmt.Fprintf(&stub, "  [ \"${OCF_RESKEY_%s+set}\" = set ] && printf '%%s=%%s\\n' %s \"$OCF_RESKEY_%s\"\n", v, v, v)
	}
	stub.WriteString("  return 0\n}\n")
	script := filepath.Join(dir, kind+"-wrapper")
	if err := os.WriteFile(script, bytes.Replace(src, []byte(source), []byte(stub.String()), 1), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/bin/sh", script, arg, "start").Output()
	if err != nil {
		t.Fatalf("%s wrapper %q: %v", kind, arg, err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	return got
}

// agentHarness makes the stubs the real agents need to judge parameters
// without a given network: ip(8), ifconfig and route that succeed, and a
// findif that runs the real one with the interface replaced by lo (so only
// the parameters decide) and records its exit code.
func agentHarness(t *testing.T) (bin, haBin, rcFile string) {
	t.Helper()
	d := t.TempDir()
	bin, haBin, rcFile = filepath.Join(d, "bin"), filepath.Join(d, "habin"), filepath.Join(d, "findif.rc")
	for _, p := range []string{bin, haBin} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{"ip", "ifconfig", "route"} {
		if err := os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// IPaddr compares findif's interface with its own nic (eth0 when
	// unset), so the stub names that one in its output.
	findif := fmt.Sprintf(`#!/bin/sh
orig=${OCF_RESKEY_nic:-eth0}
out=$(OCF_RESKEY_nic=lo %s "$@")
rc=$?
echo $rc > %s
printf '%%s\n' "$out" | sed "s/^lo	/$orig	/"
exit $rc
`, findifBin, rcFile)
	if err := os.WriteFile(filepath.Join(haBin, "findif"), []byte(findif), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, haBin, rcFile
}

// realRefuses runs the real agent's validate-all on the wrapper's
// parameters and reports whether it refuses them as a configuration error
// (OCF_ERR_CONFIGURED from the agent or, for IPaddr, which turns every
// findif failure into a generic error, from findif). A failure to find a
// route is not a refusal: there is no route in the harness.
func realRefuses(t *testing.T, kind string, params map[string]string, bin, haBin, rcFile string) (bool, string) {
	t.Helper()
	env := []string{"PATH=" + bin + ":/usr/sbin:/usr/bin:/sbin:/bin", "OCF_ROOT=/usr/lib/ocf", "HA_BIN=" + haBin}
	for k, v := range params {
		env = append(env, "OCF_RESKEY_"+k+"="+v)
	}
	os.Remove(rcFile)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(agentDir, kind), "validate-all")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	rc := 0
	if ee, ok := err.(*exec.ExitError); ok {
		rc = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s validate-all: %v", kind, err)
	}
	findifRC := -1
	if b, err := os.ReadFile(rcFile); err == nil {
		findifRC, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	const configured = 6
	if rc != 0 && rc != 1 && rc != configured {
		t.Fatalf("%s validate-all %v: exit %d, neither accepted, refused nor unroutable:\n%s", kind, params, rc, out)
	}
	return rc == configured || findifRC == configured, fmt.Sprintf("exit %d, findif %d: %s", rc, findifRC, bytes.TrimSpace(out))
}

// TestRealAgentsAgree runs every argument of parseCases through the real
// wrapper and agent: the wrapper must split it as Split does, and the
// agent must accept exactly what Parse accepts, except the cases marked
// stricter (refused here on purpose, see Check).
func TestRealAgentsAgree(t *testing.T) {
	for _, p := range []string{filepath.Join(wrapperDir, IPaddr), filepath.Join(wrapperDir, IPaddr2),
		filepath.Join(agentDir, IPaddr), filepath.Join(agentDir, IPaddr2), findifBin} {
		pkg := "resource-agents"
		if strings.HasPrefix(p, wrapperDir) {
			pkg = "heartbeat"
		}
		testenv.RequireFile(t, p, pkg)
	}
	dir := t.TempDir()
	bin, haBin, rcFile := agentHarness(t)
	for _, c := range parseCases {
		wrapped := realWrapper(t, dir, c.kind, c.arg)
		ours, _ := WrapperParams(c.kind, c.arg)
		if !maps.Equal(wrapped, ours) {
			t.Errorf("%s wrapper splits %q into %v, WrapperParams into %v", c.kind, c.arg, wrapped, ours)
			continue
		}
		refused, detail := realRefuses(t, c.kind, wrapped, bin, haBin, rcFile)
		_, err := Parse(c.kind, c.arg)
		switch {
		case c.diff == stricter:
			if refused || err == nil {
				t.Errorf("%s %q is marked stricter: want the real agent to accept (%s) and Parse to refuse (%v)", c.kind, c.arg, detail, err)
			}
		case refused != (err != nil):
			t.Errorf("%s %q: real agent refuses=%v (%s); Parse: %v", c.kind, c.arg, refused, detail, err)
		}
	}
}
