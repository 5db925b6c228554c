package main

import (
	"fmt"
	"io"
	"strings"

	"lvsha/internal/logging"
	"lvsha/ldird/control"
)

// testConfig is -t: it checks the configuration as `start` would, so that
// systemd's ExecStartPre refuses what start refuses: the file, what the
// checks refuse, the logfile and monitorfiles start opens (without
// creating them: they must exist writable, or their directory must) and
// the control socket's path. It does not look at the host (IPVS, the run
// directory), which start checks when it runs. Exit 1 with every error.
func testConfig(inv invocation, stdout, stderr io.Writer) int {
	l, code := loadConfig(inv, stderr, filesProbe)
	if code != exitOK {
		if code == exitConfig {
			return exitFail
		}
		return code
	}
	if sock := sockPath(inv.cfgName); len(sock) > control.MaxPath {
		fmt.Fprintf(stderr, "Error: control socket %s: longer than %d bytes (a shorter configuration file name, or LDIRD_RUNDIR)\n", sock, control.MaxPath)
		return exitFail
	}
	for _, w := range l.cfg.Warnings {
		fmt.Fprintf(stderr, "Warning: %s\n", w)
	}
	g := l.cfg.Global
	if !g.Supervised && !strings.HasPrefix(g.LogFile, "/") {
		if _, ok := logging.Facility(g.LogFile); !ok {
			fmt.Fprintf(stderr, "Warning: %s: logfile %q is neither an absolute path nor a syslog facility: a detached ldird would log nowhere\n", l.path, g.LogFile)
		}
	}
	fmt.Fprintf(stdout, "%s: configuration OK (%d virtual services)\n", l.path, len(l.cfg.Virtuals))
	return exitOK
}
