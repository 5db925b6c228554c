// Package install tests `make install` and `make uninstall`: every path
// Debian's packages would use is there (binaries, compatibility links that
// resolve inside DESTDIR, OCF agents, systemd units, documentation, sample
// configuration, gzipped man pages), the installed programs run under each
// of their names, the units pass systemd-analyze verify, every man page
// renders without a warning, and the pages name every option, sub-command
// and agent parameter the programs themselves report.
//
// It installs into temporary DESTDIRs only, with its own build directory
// (BIN), so it never touches the live system or the repository's bin/.
package install

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"lvsha/internal/testenv"
)

var agents = []string{"IPaddr", "IPaddr2", "SendArp", "ldirectord", "DRRealServer"}

// expectedFiles are the regular files install writes (PREFIX=/usr), with
// their modes.
var expectedFiles = map[string]fs.FileMode{
	"/usr/sbin/hbd":                                    0o755,
	"/usr/sbin/ldird":                                  0o755,
	"/usr/sbin/lvs-realserver":                         0o755,
	"/usr/sbin/lvsha-import":                           0o755,
	"/usr/lib/lvsha/ocf-agent":                         0o755,
	"/lib/systemd/system/hbd.service":                  0o644,
	"/lib/systemd/system/ldird.service":                0o644,
	"/usr/share/doc/lvsha/README.md":                   0o644,
	"/usr/share/doc/lvsha/examples/ha.d/ha.cf":         0o644,
	"/usr/share/doc/lvsha/examples/ha.d/authkeys":      0o644,
	"/usr/share/doc/lvsha/examples/ha.d/haresources":   0o644,
	"/usr/share/doc/lvsha/examples/ha.d/ldirectord.cf": 0o644,
	"/usr/share/man/man1/cl_status.1.gz":               0o644,
	"/usr/share/man/man1/hb_standby.1.gz":              0o644,
	"/usr/share/man/man1/hb_takeover.1.gz":             0o644,
	"/usr/share/man/man8/hbd.8.gz":                     0o644,
	"/usr/share/man/man8/ldird.8.gz":                   0o644,
	"/usr/share/man/man8/lvs-realserver.8.gz":          0o644,
	"/usr/share/man/man8/ocf_lvsha.8.gz":               0o644,
	"/usr/share/man/man8/lvsha-import.8.gz":            0o644,
}

// expectedLinks are the symbolic links and the file each must resolve to.
func expectedLinks() map[string]string {
	m := map[string]string{
		"/usr/bin/cl_status":               "/usr/sbin/hbd",
		"/usr/bin/hb_standby":              "/usr/sbin/hbd",
		"/usr/bin/hb_takeover":             "/usr/sbin/hbd",
		"/usr/share/heartbeat/hb_standby":  "/usr/sbin/hbd", // where Debian's heartbeat has them
		"/usr/share/heartbeat/hb_takeover": "/usr/sbin/hbd",
	}
	for _, a := range agents {
		m["/usr/lib/ocf/resource.d/lvsha/"+a] = "/usr/lib/lvsha/ocf-agent"
	}
	return m
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Makefile")); err != nil {
		t.Fatalf("no Makefile in %s: %v", root, err)
	}
	return root
}

// makeIn runs make in the repository with the given arguments.
func makeIn(t *testing.T, root string, args ...string) string {
	t.Helper()
	testenv.RequireProgram(t, "make", "make")
	cmd := exec.Command("make", append([]string{"-C", root}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// install runs make install into a fresh DESTDIR, building into a private
// BIN, and returns the DESTDIR.
func install(t *testing.T, extra ...string) string {
	t.Helper()
	root := repoRoot(t)
	dest := t.TempDir()
	args := append([]string{"install", "DESTDIR=" + dest, "BIN=" + t.TempDir()}, extra...)
	makeIn(t, root, args...)
	return dest
}

func TestInstall(t *testing.T) {
	root := repoRoot(t)
	dest := install(t)

	t.Run("paths", func(t *testing.T) {
		for p, mode := range expectedFiles {
			st, err := os.Lstat(dest + p)
			if err != nil {
				t.Errorf("%s: %v", p, err)
				continue
			}
			if !st.Mode().IsRegular() {
				t.Errorf("%s: %v, want a regular file", p, st.Mode())
			} else if st.Mode().Perm() != mode {
				t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), mode)
			}
		}
		for link, target := range expectedLinks() {
			st, err := os.Lstat(dest + link)
			if err != nil {
				t.Errorf("%s: %v", link, err)
				continue
			}
			if st.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("%s: %v, want a symbolic link", link, st.Mode())
				continue
			}
			if to, _ := os.Readlink(dest + link); filepath.IsAbs(to) {
				t.Errorf("%s -> %s: want a relative link (it must resolve inside DESTDIR)", link, to)
			}
			got, err := filepath.EvalSymlinks(dest + link)
			if err != nil {
				t.Errorf("%s does not resolve: %v", link, err)
				continue
			}
			if want, _ := filepath.EvalSymlinks(dest + target); got != want {
				t.Errorf("%s resolves to %s, want %s", link, strings.TrimPrefix(got, dest), target)
			}
		}
		// Nothing else: an unexpected file is either a new artefact to add
		// here (and to uninstall) or a mistake.
		filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel := strings.TrimPrefix(p, dest)
			if _, ok := expectedFiles[rel]; !ok {
				if _, ok := expectedLinks()[rel]; !ok {
					t.Errorf("unexpected installed file %s", rel)
				}
			}
			return nil
		})
		if _, err := os.Stat(dest + "/etc"); err == nil {
			t.Errorf("install wrote under /etc (it must never touch /etc/ha.d)")
		}
	})

	t.Run("copies", func(t *testing.T) {
		same := map[string]string{
			"/usr/share/doc/lvsha/README.md": "README.md",
			"/usr/sbin/lvs-realserver":       "scripts/lvs-realserver",
		}
		for _, f := range []string{"ha.cf", "authkeys", "haresources", "ldirectord.cf"} {
			same["/usr/share/doc/lvsha/examples/ha.d/"+f] = "ha.d/" + f
		}
		for inst, src := range same {
			a, err1 := os.ReadFile(dest + inst)
			b, err2 := os.ReadFile(filepath.Join(root, src))
			if err := errors.Join(err1, err2); err != nil {
				t.Error(err)
			} else if !bytes.Equal(a, b) {
				t.Errorf("%s differs from %s", inst, src)
			}
		}
	})

	t.Run("programs", func(t *testing.T) {
		run := func(wantCode int, wantOut string, argv ...string) {
			t.Helper()
			cmd := exec.Command(dest+argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), "HBD_SOCKET="+filepath.Join(t.TempDir(), "none.sock"))
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Errorf("%s: %v", strings.Join(argv, " "), err)
				return
			}
			if code != wantCode || !strings.Contains(string(out), wantOut) {
				t.Errorf("%s: exit %d, want %d and output containing %q; got:\n%s", strings.Join(argv, " "), code, wantCode, wantOut, out)
			}
		}
		run(0, "lvsha hbd", "/usr/sbin/hbd", "-V")
		run(0, "ldird (lvsha)", "/usr/sbin/ldird", "-v")
		run(0, "Usage: ldird", "/usr/sbin/ldird", "-h")
		run(0, "Usage: cl_status", "/usr/bin/cl_status", "-h")
		run(1, "Heartbeat is stopped on this machine.", "/usr/bin/cl_status", "hbstatus")
		for _, p := range []string{"/usr/bin/", "/usr/share/heartbeat/"} {
			// Heartbeat's scripts exit 1 for --help; so do we.
			run(1, "hb_standby [all|foreign|local|failback]", p+"hb_standby", "--help")
			run(1, "hb_takeover [all|foreign|local|failback]", p+"hb_takeover", "--help")
			run(1, "not running", p+"hb_standby", "all")
		}
		run(0, "usage: lvs-realserver", "/usr/sbin/lvs-realserver", "usage")
		for _, a := range agents {
			run(0, `<resource-agent name="`+a+`"`, "/usr/lib/ocf/resource.d/lvsha/"+a, "meta-data")
			run(0, "usage: "+a, "/usr/lib/ocf/resource.d/lvsha/"+a, "usage")
		}
	})

	t.Run("units", func(t *testing.T) { checkUnits(t, dest) })
	t.Run("man", func(t *testing.T) { checkManPages(t, dest) })

	t.Run("uninstall", func(t *testing.T) {
		makeIn(t, root, "uninstall", "DESTDIR="+dest)
		filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				t.Errorf("left after uninstall: %s", strings.TrimPrefix(p, dest))
			}
			return err
		})
	})
}

// TestInstallPrefix: another PREFIX moves the programs, and the units and
// links follow; the OCF and unit directories stay where OCF and systemd
// look for them.
func TestInstallPrefix(t *testing.T) {
	dest := install(t, "PREFIX=/usr/local")
	for _, p := range []string{"/usr/local/sbin/hbd", "/usr/local/sbin/ldird", "/usr/local/lib/lvsha/ocf-agent",
		"/usr/local/share/man/man8/hbd.8.gz", "/lib/systemd/system/hbd.service"} {
		if _, err := os.Stat(dest + p); err != nil {
			t.Error(err)
		}
	}
	for link, want := range map[string]string{
		"/usr/local/bin/cl_status":                 "/usr/local/sbin/hbd",
		"/usr/local/share/heartbeat/hb_standby":    "/usr/local/sbin/hbd",
		"/usr/lib/ocf/resource.d/lvsha/IPaddr2":    "/usr/local/lib/lvsha/ocf-agent",
		"/usr/lib/ocf/resource.d/lvsha/SendArp":    "/usr/local/lib/lvsha/ocf-agent",
		"/usr/local/share/heartbeat/hb_takeover":   "/usr/local/sbin/hbd",
		"/usr/lib/ocf/resource.d/lvsha/ldirectord": "/usr/local/lib/lvsha/ocf-agent",
	} {
		got, err := filepath.EvalSymlinks(dest + link)
		if err != nil || got != dest+want {
			t.Errorf("%s resolves to %q (%v), want %s", link, strings.TrimPrefix(got, dest), err, want)
		}
	}
	unit, err := os.ReadFile(dest + "/lib/systemd/system/hbd.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/sbin/hbd -f") || strings.Contains(string(unit), "/usr/sbin/") {
		t.Errorf("hbd.service does not follow PREFIX:\n%s", unit)
	}
}

// unit is a parsed systemd unit: section -> key -> values.
type unit map[string]map[string][]string

func parseUnit(b []byte) (unit, error) {
	u := unit{}
	sec := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			sec = line[1 : len(line)-1]
			u[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" {
				return nil, fmt.Errorf("line %d: not key=value in a section: %s", i+1, line)
			}
			u[sec][strings.TrimSpace(k)] = append(u[sec][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u, nil
}

func checkUnits(t *testing.T, dest string) {
	names := []string{"hbd.service", "ldird.service"}
	for _, n := range names {
		b, err := os.ReadFile(dest + "/lib/systemd/system/" + n)
		if err != nil {
			t.Fatal(err)
		}
		u, err := parseUnit(b)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		for _, k := range []string{"Unit/Description", "Service/Type", "Service/ExecStart", "Install/WantedBy"} {
			sec, key, _ := strings.Cut(k, "/")
			if len(u[sec][key]) == 0 {
				t.Errorf("%s: no %s= in [%s]", n, key, sec)
			}
		}
		// Every program the unit runs and every file it documents is installed.
		for _, key := range []string{"ExecStartPre", "ExecStart", "ExecReload", "ExecStop"} {
			for _, v := range u["Service"][key] {
				prog := strings.Fields(strings.TrimLeft(v, "-@:+!"))[0]
				if strings.HasPrefix(prog, "/usr/sbin/") || strings.HasPrefix(prog, "/usr/lib/") {
					if _, err := os.Stat(dest + prog); err != nil {
						t.Errorf("%s: %s=%s: %v", n, key, v, err)
					}
				}
			}
		}
		for _, v := range u["Unit"]["Documentation"] {
			for _, d := range strings.Fields(v) {
				if p, ok := strings.CutPrefix(d, "file://"); ok {
					if _, err := os.Stat(dest + p); err != nil {
						t.Errorf("%s: Documentation %s is not installed", n, d)
					}
				}
				if m, ok := strings.CutPrefix(d, "man:"); ok {
					page, sect, _ := strings.Cut(strings.TrimSuffix(m, ")"), "(")
					if _, err := os.Stat(dest + "/usr/share/man/man" + sect + "/" + page + "." + sect + ".gz"); err != nil {
						t.Errorf("%s: Documentation %s is not installed", n, d)
					}
				}
			}
		}
	}

	sa := testenv.RequireProgram(t, "systemd-analyze", "systemd")
	// systemd-analyze verify --root resolves the units' programs and their
	// dependencies (sysinit.target, network-online.target, ...) inside the
	// root: give it the installed tree plus this host's own units and the
	// programs the units name from outside lvsha.
	vroot := t.TempDir()
	if err := os.CopyFS(vroot, os.DirFS(dest)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(vroot+"/usr/bin", 0o755); err != nil {
		t.Fatal(err)
	}
	os.Symlink("usr/bin", vroot+"/bin")
	for _, dir := range []string{"/lib/systemd/system", "/usr/lib/systemd/system"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			dst := filepath.Join(vroot, "lib/systemd/system", e.Name())
			if _, err := os.Lstat(dst); err == nil || e.IsDir() {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
				os.WriteFile(dst, b, 0o644)
			}
		}
	}
	for _, p := range []string{"/bin/kill"} {
		if b, err := os.ReadFile(p); err == nil {
			os.WriteFile(vroot+"/usr/bin/"+filepath.Base(p), b, 0o755)
		}
	}
	args := []string{"verify", "--root=" + vroot}
	for _, n := range names {
		args = append(args, "/lib/systemd/system/"+n)
	}
	out, err := exec.Command(sa, args...).CombinedOutput()
	// Lines about other units (this host's, loaded as dependencies) are not ours.
	var ours []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(l, "hbd") || strings.Contains(l, "ldird") {
			ours = append(ours, l)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// page is an installed man page, decompressed.
type page struct {
	name, sect, path, src string
}

func manPages(t *testing.T, dest string) []page {
	var pages []page
	for p := range expectedFiles {
		m := regexp.MustCompile(`^/usr/share/man/man(\d)/(.+)\.(\d)\.gz$`).FindStringSubmatch(p)
		if m == nil {
			continue
		}
		f, err := os.Open(dest + p)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		pages = append(pages, page{name: m[2], sect: m[3], path: dest + p, src: string(b)})
	}
	slices.SortFunc(pages, func(a, b page) int { return strings.Compare(a.name, b.name) })
	return pages
}

func checkManPages(t *testing.T, dest string) {
	pages := manPages(t, dest)
	known := map[string]bool{}
	for _, p := range pages {
		known[p.name+"("+p.sect+")"] = true
	}
	for _, p := range pages {
		th := regexp.MustCompile(`(?m)^\.TH (\S+) (\d)`).FindStringSubmatch(p.src)
		if th == nil || !strings.EqualFold(strings.ReplaceAll(th[1], `\-`, "-"), p.name) || th[2] != p.sect {
			t.Errorf("%s: .TH line %q does not name %s(%s)", p.path, th, p.name, p.sect)
		}
		// Pages of ours that a page refers to exist.
		for _, ref := range regexp.MustCompile(`(?m)^\.BR ([a-z_\\-]+) \((\d)\)`).FindAllStringSubmatch(p.src, -1) {
			name := strings.ReplaceAll(ref[1], `\-`, "-") + "(" + ref[2] + ")"
			ours := strings.HasPrefix(name, "hbd(") || strings.HasPrefix(name, "ldird(") || strings.HasPrefix(name, "lvs-realserver(") ||
				strings.HasPrefix(name, "ocf_lvsha(") || strings.HasPrefix(name, "cl_status(") || strings.HasPrefix(name, "hb_") ||
				strings.HasPrefix(name, "lvsha-import(")
			if ours && !known[name] {
				t.Errorf("%s(%s) refers to %s, which is not installed", p.name, p.sect, name)
			}
		}
	}

	t.Run("groff", func(t *testing.T) {
		groff := testenv.RequireProgram(t, "groff", "groff-base")
		for _, p := range pages {
			cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
			cmd.Stdin = strings.NewReader(p.src)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("groff -man -ww %s(%s): %v\n%s", p.name, p.sect, err, stderr.String())
			}
		}
	})
	t.Run("man", func(t *testing.T) {
		man := testenv.RequireProgram(t, "man", "man-db")
		for _, p := range pages {
			cmd := exec.Command(man, "--warnings", "-l", p.path)
			cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=80", "LANG=C.UTF-8")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("man -l %s: %v\n%s", p.path, err, stderr.String())
			}
			if !strings.Contains(stdout.String(), "NAME") || !strings.Contains(stdout.String(), "SYNOPSIS") {
				t.Errorf("man -l %s: no NAME/SYNOPSIS in the output:\n%s", p.path, stdout.String())
			}
		}
	})
	t.Run("accurate", func(t *testing.T) { checkManAccuracy(t, dest, pages) })
}

// roffText undoes the roff escapes that matter for matching words.
func roffText(s string) string {
	return strings.NewReplacer(`\-`, "-", `\fB`, "", `\fI`, "", `\fR`, "", `\fP`, "", `\c`, "", `\&`, "").Replace(s)
}

func checkManAccuracy(t *testing.T, dest string, pages []page) {
	src := map[string]string{}
	for _, p := range pages {
		src[p.name] = roffText(p.src)
	}
	output := func(argv ...string) string {
		out, _ := exec.Command(dest+argv[0], argv[1:]...).CombinedOutput()
		return string(out)
	}
	// hbd: every flag of `hbd -h` (Go's flag usage: "  -name ...").
	flags := regexp.MustCompile(`(?m)^  (-[a-zA-Z-]+)`).FindAllStringSubmatch(output("/usr/sbin/hbd", "-h"), -1)
	if len(flags) < 10 {
		t.Fatalf("hbd -h lists only %d flags", len(flags))
	}
	for _, f := range flags {
		if !regexp.MustCompile(`(?m)^\.B[IR]? ` + regexp.QuoteMeta(f[1]) + `\b`).MatchString(src["hbd"]) {
			t.Errorf("hbd.8 does not document %s (from hbd -h)", f[1])
		}
	}
	// ldird: every option of its usage text.
	for _, o := range regexp.MustCompile(`(?:^|[\s\[|,])(--?[a-z?][a-z-]*)`).FindAllStringSubmatch(output("/usr/sbin/ldird", "-h"), -1) {
		if o[1] == "--" {
			continue
		}
		if !strings.Contains(src["ldird"], o[1]) {
			t.Errorf("ldird.8 does not document %s (from ldird -h)", o[1])
		}
	}
	// lvsha-import: every option of its usage text.
	for _, o := range regexp.MustCompile(`(?:^|[\s\[|])(--?[a-z][a-z-]*)`).FindAllStringSubmatch(output("/usr/sbin/lvsha-import", "-h"), -1) {
		if !strings.Contains(src["lvsha-import"], o[1]) {
			t.Errorf("lvsha-import.8 does not document %s (from lvsha-import -h)", o[1])
		}
	}
	cmds := regexp.MustCompile(`(?s)\n\.SH COMMANDS\n(.*?)\n\.SH `).FindStringSubmatch(src["ldird"])
	if cmds == nil {
		t.Fatal("ldird.8 has no COMMANDS section")
	}
	for _, c := range []string{"start", "stop", "restart", "try-restart", "reload", "force-reload", "status"} {
		if !regexp.MustCompile(`(?m)^\.TP\n\.BR? (.*[ "])?` + regexp.QuoteMeta(c) + `([ "]|$)`).MatchString(cmds[1]) {
			t.Errorf("ldird.8 has no entry for the command %s", c)
		}
	}
	// cl_status: every sub-command of `cl_status -h` has an entry.
	subs := regexp.MustCompile(`(?m)^([a-z]+)(?: |$)`).FindAllStringSubmatch(output("/usr/bin/cl_status", "-h"), -1)
	if len(subs) < 10 {
		t.Fatalf("cl_status -h lists only %d sub-commands", len(subs))
	}
	for _, s := range subs {
		if !regexp.MustCompile(`(?m)^\.BI? "?` + s[1] + `\b`).MatchString(src["cl_status"]) {
			t.Errorf("cl_status.1 has no entry for the sub-command %s", s[1])
		}
	}
	// OCF agents: each has a section naming every parameter of its meta-data.
	for _, a := range agents {
		sec := regexp.MustCompile(`(?s)\n\.SS ` + a + `\n(.*?)\n\.S[SH] `).FindStringSubmatch(src["ocf_lvsha"])
		if sec == nil {
			t.Errorf("ocf_lvsha.8 has no section for %s", a)
			continue
		}
		var md struct {
			Params []struct {
				Name    string `xml:"name,attr"`
				Content struct {
					Default string `xml:"default,attr"`
				} `xml:"content"`
			} `xml:"parameters>parameter"`
		}
		if err := xml.Unmarshal([]byte(output("/usr/lib/ocf/resource.d/lvsha/"+a, "meta-data")), &md); err != nil {
			t.Errorf("%s meta-data: %v", a, err)
			continue
		}
		for _, p := range md.Params {
			entry := regexp.MustCompile(`(?m)^\.TP\n\.B ` + regexp.QuoteMeta(p.Name) + `\n(.*)$`).FindStringSubmatch(sec[1])
			if entry == nil {
				t.Errorf("ocf_lvsha.8, %s: no entry for the parameter %s", a, p.Name)
				continue
			}
			if d := p.Content.Default; d != "" && !strings.Contains(entry[1], "(default "+d+")") {
				t.Errorf("ocf_lvsha.8, %s %s: the entry does not say \"(default %s)\": %q", a, p.Name, d, entry[1])
			}
		}
	}
}
