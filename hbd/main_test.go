package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// confDir writes a configuration directory for node alpha whose ha.cf has
// respawnLine at line 4.
func confDir(t *testing.T, respawnLine string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"nodeinfo": "alpha\n",
		"ha.cf":    "node alpha beta\nbcast lo\nauto_failback on\n" + respawnLine + "\n",
		"authkeys": "auth 1\n1 sha1 secret\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runHbd(args ...string) (stdout, stderr string, rc int) {
	var out, errb bytes.Buffer
	rc = run(args, &out, &errb)
	return out.String(), errb.String(), rc
}

// TestRespawnChecked: hbd -t, start and -r refuse a respawn line whose
// program is missing or not executable, or whose user does not exist, at
// its file and line (Heartbeat refuses such a file too). The common ipfail
// line is accepted with a warning when its program or user is absent: hbd
// does ipfail's job itself and never runs it.
func TestRespawnChecked(t *testing.T) {
	tmp := t.TempDir()
	plain := filepath.Join(tmp, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(tmp, "missing")
	ipfail := filepath.Join(tmp, "heartbeat", "ipfail") // absent, as on a machine without Heartbeat
	const noUser = "lvsha-no-such-user"
	for _, tc := range []struct {
		line string
		err  string // after "<dir>/ha.cf:4: "; "" = accepted
		warn []string
	}{
		{line: "respawn root /bin/true"},
		{line: "failfast root /bin/true -x"},
		{line: "respawn root " + missing, err: `respawn: command "` + missing + `" cannot be run: no such file or directory`},
		{line: "respawn root " + plain, err: `respawn: command "` + plain + `" cannot be run: not executable (permission denied)`},
		{line: "failfast root " + tmp, err: `failfast: command "` + tmp + `" cannot be run: is a directory`},
		{line: "respawn " + noUser + " /bin/true", err: `respawn: invalid user "` + noUser + `"`},
		{line: "respawn " + noUser + " " + ipfail, warn: []string{
			`respawn: invalid user "` + noUser + `"; hbd's built-in ipfail does its job, but Heartbeat would refuse this line`,
			`respawn: command "` + ipfail + `" cannot be run: no such file or directory; hbd's built-in ipfail does its job, but Heartbeat would refuse this line`,
		}},
	} {
		dir := confDir(t, tc.line)
		at := filepath.Join(dir, "ha.cf") + ":4: "
		out, errs, rc := runHbd("-t", "-c", dir)
		if tc.err == "" {
			if rc != exitOK || !strings.Contains(out, "configuration OK") {
				t.Errorf("hbd -t with %q: exit %d, stdout %q, stderr %q; want OK", tc.line, rc, out, errs)
			}
			for _, w := range tc.warn {
				if !strings.Contains(errs, "WARN: "+at+w+"\n") {
					t.Errorf("hbd -t with %q: stderr %q lacks the warning %q", tc.line, errs, at+w)
				}
			}
			if len(tc.warn) == 0 && strings.Contains(errs, at) {
				t.Errorf("hbd -t with %q: unexpected warning %q", tc.line, errs)
			}
			continue
		}
		if rc != exitNotConfigured || !strings.Contains(errs, at+tc.err+"\n") {
			t.Errorf("hbd -t with %q: exit %d, stderr %q; want %d and %q", tc.line, rc, errs, exitNotConfigured, at+tc.err)
		}
		// Start refuses it before going to the background, and -r before
		// signalling (or starting) a daemon.
		state := t.TempDir()
		common := []string{"-c", dir, "-pidfile", filepath.Join(state, "pid"), "-socket", filepath.Join(state, "sock"), "-state-dir", state}
		if _, errs, rc := runHbd(common...); rc != exitNotConfigured || !strings.Contains(errs, at+tc.err) ||
			!strings.Contains(errs, "Configuration error, heartbeat not started.") {
			t.Errorf("hbd start with %q: exit %d, stderr %q", tc.line, rc, errs)
		}
		if _, errs, rc := runHbd(append([]string{"-r"}, common...)...); rc != exitFail || !strings.Contains(errs, at+tc.err) {
			t.Errorf("hbd -r with %q: exit %d, stderr %q", tc.line, rc, errs)
		}
	}
}
