package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lvsha/hbd/fence"
	"lvsha/internal/testenv"
)

// TestStonithChecked: hbd -t checks the STONITH line that applies to this
// node against the installed plugins (cluster-glue's stonith -L and -n),
// naming file:line, and says which device is used; a line for another
// node is not read further, as Heartbeat does not.
func TestStonithChecked(t *testing.T) {
	testenv.RequireProgram(t, fence.DefaultProgram, "cluster-glue")
	params := filepath.Join(t.TempDir(), "ipmi.cfg")
	if err := os.WriteFile(params, []byte("# beta's BMC\nbeta 10.0.0.2 admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line string
		err  string // after "<dir>/ha.cf:4: "; "" = accepted
		dev  string // the device -t reports
	}{
		{line: "stonith_host * external/ssh beta", dev: "external/ssh (DIR/ha.cf:4)"},
		{line: "stonith_host alpha meatware beta", dev: "meatware (DIR/ha.cf:4)"},
		{line: "stonith_host beta external/lvsha-no-such-plugin alpha"}, // not ours: ignored
		{line: "stonith_host * external/lvsha-no-such-plugin beta", err: `stonith_host: STONITH type "external/lvsha-no-such-plugin" is not installed`},
		{line: "stonith_host * external/ipmi beta 10.0.0.2 admin", err: "stonith_host: STONITH type external/ipmi needs 5 parameters, in this order: " +
			"hostname ipaddr userid passwd interface; the line gives 3 (missing: passwd interface)"},
		{line: "stonith external/ipmi " + params, err: "stonith: STONITH type external/ipmi needs 5 parameters, in this order: " +
			"hostname ipaddr userid passwd interface; the first line of " + params + " gives 3 (missing: passwd interface)"},
		{line: "stonith_host * meatware", err: "stonith_host: STONITH type meatware needs 1 parameters, in this order: hostlist; the line gives 0 (missing: hostlist)"},
	} {
		dir := confDir(t, tc.line)
		at := filepath.Join(dir, "ha.cf") + ":4: "
		out, errs, rc := runHbd("-t", "-c", dir)
		if tc.err != "" {
			if rc != exitNotConfigured || !strings.Contains(errs, at+tc.err) {
				t.Errorf("hbd -t with %q: exit %d, stderr %q; want %d and %q", tc.line, rc, errs, exitNotConfigured, at+tc.err)
			}
			continue
		}
		if rc != exitOK || !strings.Contains(out, "configuration OK") {
			t.Errorf("hbd -t with %q: exit %d, stdout %q, stderr %q", tc.line, rc, out, errs)
			continue
		}
		want := "STONITH device for alpha: " + strings.ReplaceAll(tc.dev, "DIR", dir)
		if (tc.dev != "") != strings.Contains(out, "STONITH device") || tc.dev != "" && !strings.Contains(out, want) {
			t.Errorf("hbd -t with %q: stdout %q, want %q", tc.line, out, want)
		}
	}
}
