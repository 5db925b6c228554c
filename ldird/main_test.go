package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseArgsExtensions(t *testing.T) {
	for _, c := range []struct {
		args       []string
		fg, debug  bool
		conns      bool
		metrics    string
		cmd, cfg   string
		code       int
		done       bool
		errContain string
	}{
		{args: []string{"--foreground", "start"}, fg: true, cmd: "start", cfg: "ldirectord"},
		{args: []string{"-f", "ldirectord.cf", "start"}, fg: true, cmd: "start", cfg: "ldirectord.cf"},
		{args: []string{"-df", "start"}, fg: true, debug: true, cmd: "start", cfg: "ldirectord"},
		{args: []string{"--metrics", "127.0.0.1:9695", "-f", "start"}, fg: true, metrics: "127.0.0.1:9695", cmd: "start", cfg: "ldirectord"},
		{args: []string{"--metrics=[::1]:9695", "x.cf", "status"}, metrics: "[::1]:9695", cmd: "status", cfg: "x.cf"},
		{args: []string{"--metrics"}, code: exitUsage, done: true, errContain: "--metrics needs an address"},
		{args: []string{"--metrics=", "start"}, code: exitUsage, done: true, errContain: "--metrics needs an address"},
		{args: []string{"status", "--connections"}, conns: true, cmd: "status", cfg: "ldirectord"},
		{args: []string{"x.cf", "status", "--connections"}, conns: true, cmd: "status", cfg: "x.cf"},
		{args: []string{"--connections", "x.cf", "status"}, conns: true, cmd: "status", cfg: "x.cf"},
		{args: []string{"--connections", "start"}, code: exitUsage, done: true, errContain: "--connections goes with status only"},
		{args: []string{"x.cf", "reload", "--connections"}, code: exitUsage, done: true, errContain: "too many arguments"},
	} {
		var out, errb bytes.Buffer
		inv, code, done := parseArgs(c.args, &out, &errb)
		if done != c.done || code != c.code {
			t.Errorf("%v: code %d done %v, want %d %v (%s)", c.args, code, done, c.code, c.done, errb.String())
			continue
		}
		if done {
			if !strings.Contains(errb.String(), c.errContain) {
				t.Errorf("%v: stderr %q", c.args, errb.String())
			}
			continue
		}
		if inv.foreground != c.fg || inv.debug != c.debug || inv.connections != c.conns || inv.metricsAddr != c.metrics || inv.cmd != c.cmd || inv.cfgName != c.cfg {
			t.Errorf("%v: %+v", c.args, inv)
		}
	}
}

// TestCheckMatchesStart: `ldird -t` (systemd's ExecStartPre) refuses what
// `ldird start` refuses about the files the configuration names, with the
// same message, and creates nothing while doing so.
func TestCheckMatchesStart(t *testing.T) {
	t.Setenv("LDIRD_RUNDIR", t.TempDir())
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "dir")
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	virtual := "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\tchecktype=on\n"
	for _, c := range []struct {
		name    string
		globals string
		monitor string // monitorfile of the virtual, if any
		err     string // what both refuse with ("" = both accept)
		warn    string // what -t warns about
		created string // a file start creates and -t must not
	}{
		{name: "logfile in a missing directory", globals: fmt.Sprintf("logfile=%q\n", filepath.Join(missing, "ld.log")),
			err: ":1: unable to open logfile: open " + filepath.Join(missing, "ld.log") + ": no such file or directory"},
		{name: "logfile is a directory", globals: fmt.Sprintf("logfile=%q\n", filepath.Join(dir, "adir")),
			err: ":1: unable to open logfile: open " + filepath.Join(dir, "adir") + ": is a directory"},
		{name: "logfile under a regular file", globals: fmt.Sprintf("logfile=%q\n", filepath.Join(dir, "plain", "x.log")),
			err: ": not a directory"},
		{name: "monitorfile in a missing directory", monitor: filepath.Join(missing, "m.log"),
			err: ":4: unable to open monitorfile " + filepath.Join(missing, "m.log") + ": open " + filepath.Join(missing, "m.log") + ": no such file or directory"},
		{name: "new logfile and monitorfile in existing directories", globals: fmt.Sprintf("logfile=%q\n", filepath.Join(dir, "new.log")),
			monitor: filepath.Join(dir, "new-monitor.log"), created: filepath.Join(dir, "new.log")},
		{name: "supervised ignores the logfile", globals: fmt.Sprintf("supervised=yes\nlogfile=%q\n", filepath.Join(missing, "ld.log"))},
		{name: "missing maintenance directory", globals: fmt.Sprintf("maintenancedir=%s\n", missing), warn: "maintenance directory does not exist"},
		{name: "unknown syslog facility", globals: "logfile=\"local9\"\n", warn: `logfile "local9" is neither an absolute path nor a syslog facility`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			text := c.globals + virtual
			if c.monitor != "" {
				text += "\tmonitorfile=" + c.monitor + "\n"
			}
			cf := filepath.Join(dir, "ld.cf")
			if err := os.WriteFile(cf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run([]string{"ldird", "-t", cf}, &out, &errb)
			if c.created != "" {
				if _, err := os.Stat(c.created); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("-t created %s (%v)", c.created, err)
				}
			}
			if c.monitor != "" && c.err == "" {
				if _, err := os.Stat(c.monitor); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("-t created %s (%v)", c.monitor, err)
				}
			}
			if c.err != "" {
				if code != exitFail || !strings.Contains(errb.String(), c.err) || out.Len() != 0 {
					t.Errorf("-t: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out.String(), errb.String(), c.err)
				}
			} else if code != exitOK || !strings.Contains(out.String(), "configuration OK") {
				t.Errorf("-t: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
			}
			if c.warn != "" && (!strings.Contains(errb.String(), "Warning: ") || !strings.Contains(errb.String(), c.warn)) {
				t.Errorf("-t: no warning %q in %q", c.warn, errb.String())
			}
			// What start checks before it starts anything.
			var serr bytes.Buffer
			inv, _, _ := parseArgs([]string{cf, "start"}, &out, &serr)
			l, scode := loadConfig(inv, &serr, filesOpen)
			if c.err != "" {
				if scode != exitConfig || !strings.Contains(serr.String(), c.err) {
					t.Errorf("start: exit %d, %q; want %q", scode, serr.String(), c.err)
				}
				// The same message, word for word.
				if tl, sl := firstLine(errb.String()), firstLine(serr.String()); tl != sl {
					t.Errorf("-t says %q, start %q", tl, sl)
				}
				return
			}
			if scode != exitOK || l.cfg == nil {
				t.Errorf("start refuses what -t accepts: %q", serr.String())
			}
			if c.created != "" {
				if _, err := os.Stat(c.created); err != nil {
					t.Errorf("start did not create %s: %v", c.created, err)
				}
				os.Remove(c.created)
			}
			if c.monitor != "" {
				os.Remove(c.monitor)
			}
		})
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func TestCheckSocketPath(t *testing.T) {
	t.Setenv("LDIRD_RUNDIR", t.TempDir())
	cf := filepath.Join(t.TempDir(), strings.Repeat("n", 110)+".cf")
	if err := os.WriteFile(cf, []byte("virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate\n\tchecktype=on\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"ldird", "-t", cf}, &out, &errb); code != exitFail || !strings.Contains(errb.String(), "control socket") {
		t.Errorf("exit %d, %q", code, errb.String())
	}
}
