// Package emit writes a plan.Plan as the files hbd and ldird read: ha.cf,
// authkeys (mode 0600), haresources, ldirectord.cf, and the generated
// scripts (mode 0755). Output is deterministic, so it can be compared with
// golden files, and it never replaces an existing file unless asked.
package emit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"lvsha/importer/plan"
)

// File is one file to write.
type File struct {
	Name string // relative to the output directory
	Mode fs.FileMode
	Data []byte
}

// Files renders p. ha.cf, authkeys and haresources come only with p.HA,
// ldirectord.cf only with p.LVS.
func Files(p *plan.Plan) []File {
	var out []File
	if p.HA != nil {
		out = append(out,
			File{Name: "ha.cf", Mode: 0o644, Data: []byte(HACF(p))},
			File{Name: "authkeys", Mode: 0o600, Data: []byte(Authkeys(p))},
			File{Name: "haresources", Mode: 0o644, Data: []byte(Haresources(p))})
	}
	if p.LVS != nil {
		out = append(out, File{Name: "ldirectord.cf", Mode: 0o644, Data: []byte(LdirectordCF(p))})
	}
	for _, s := range p.Scripts {
		out = append(out, File{Name: s.Name, Mode: 0o755, Data: []byte(s.Body)})
	}
	return out
}

// ErrExists is returned by Write when a file is already there.
var ErrExists = errors.New("file exists")

// Write puts files into dir (created if missing). Unless force is set it
// first checks that none of them exists and writes nothing if one does.
func Write(dir string, files []File, force bool) error {
	if !force {
		var there []string
		for _, f := range files {
			if _, err := os.Lstat(filepath.Join(dir, f.Name)); err == nil {
				there = append(there, filepath.Join(dir, f.Name))
			}
		}
		if len(there) > 0 {
			return fmt.Errorf("%w: %s (give --force to replace)", ErrExists, strings.Join(there, ", "))
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		// Write then rename, so a reader never sees half a file, and set
		// the mode on the new file (authkeys is never world-readable).
		tmp := p + ".lvsha-import.tmp"
		if err := os.WriteFile(tmp, f.Data, f.Mode); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.Chmod(tmp, f.Mode); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

func header(b *strings.Builder, p *plan.Plan, what string) {
	fmt.Fprintf(b, "# %s, written by lvsha-import.\n", what)
	for _, h := range p.Header {
		b.WriteString("# " + h + "\n")
	}
	b.WriteString("\n")
}

// Duration renders a time for ha.cf: whole seconds as a number, else ms.
func Duration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10) + "ms"
}

// HACF renders ha.cf.
func HACF(p *plan.Plan) string {
	h := p.HA
	var b strings.Builder
	header(&b, p, "ha.cf for hbd (Heartbeat 3.0 syntax)")
	fac := h.LogFacility
	if fac == "" {
		fac = "daemon"
	}
	fmt.Fprintf(&b, "logfacility\t%s\n\n", fac)
	fmt.Fprintf(&b, "keepalive\t%s\n", Duration(h.Keepalive))
	fmt.Fprintf(&b, "warntime\t%s\n", Duration(h.Warntime))
	fmt.Fprintf(&b, "deadtime\t%s\n", Duration(h.Deadtime))
	fmt.Fprintf(&b, "initdead\t%s\n", Duration(h.Initdead))
	port := h.UDPPort
	if port == 0 {
		port = 694
	}
	fmt.Fprintf(&b, "udpport\t\t%d\n\n", port)
	for _, m := range h.Media {
		if m.Note != "" {
			b.WriteString("# " + m.Note + "\n")
		}
		switch m.Kind {
		case "bcast":
			fmt.Fprintf(&b, "bcast\t\t%s\n", m.Iface)
		case "mcast", "mcast6":
			fmt.Fprintf(&b, "%s\t\t%s %s %d %d 0\n", m.Kind, m.Iface, m.Addr, m.Port, m.TTL)
		default:
			fmt.Fprintf(&b, "%s\t\t%s %s\n", m.Kind, m.Iface, m.Addr)
		}
	}
	fb := "off"
	if h.AutoFailback {
		fb = "on"
	}
	fmt.Fprintf(&b, "\nauto_failback\t%s\n\n", fb)
	for _, n := range h.Nodes {
		fmt.Fprintf(&b, "node\t\t%s\n", n)
	}
	b.WriteString("\ncrm\t\tno\n")
	return b.String()
}

// Authkeys renders authkeys (written mode 0600).
func Authkeys(p *plan.Plan) string {
	var b strings.Builder
	header(&b, p, "authkeys for hbd; the same file on both nodes, mode 600")
	m := p.HA.AuthMethod
	if m == "" {
		m = "sha1"
	}
	fmt.Fprintf(&b, "auth 1\n1 %s %s\n", m, p.HA.AuthKey)
	return b.String()
}

// Haresources renders haresources.
func Haresources(p *plan.Plan) string {
	var b strings.Builder
	header(&b, p, "haresources for hbd: node resource...; the same file on both nodes")
	for i, g := range p.HA.Groups {
		if i > 0 {
			b.WriteString("\n")
		}
		for _, n := range g.Note {
			b.WriteString("# " + n + "\n")
		}
		b.WriteString(g.Owner)
		for _, r := range g.Resources {
			b.WriteString(" " + r)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// LdirectordCF renders ldirectord.cf: globals in column 0, each virtual's
// lines indented four spaces, as ldirectord requires.
func LdirectordCF(p *plan.Plan) string {
	l := p.LVS
	var b strings.Builder
	header(&b, p, "ldirectord.cf for ldird (ldirectord 4.x syntax)")
	g := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, v) }
	g("checkinterval", strconv.Itoa(max(l.CheckInterval, 1)))
	if l.CheckTimeout > 0 {
		g("checktimeout", strconv.Itoa(l.CheckTimeout))
	}
	if l.NegTimeout > 0 {
		g("negotiatetimeout", strconv.Itoa(l.NegTimeout))
	}
	if l.FailureCount > 1 {
		g("failurecount", strconv.Itoa(l.FailureCount))
	}
	if l.Fork {
		g("fork", "yes")
	}
	g("quiescent", yesNo(l.Quiescent))
	g("autoreload", yesNo(l.AutoReload))
	if l.LogFile != "" {
		g("logfile", strconv.Quote(l.LogFile))
	}
	if l.EmailAlert != "" {
		g("emailalert", l.EmailAlert)
	}
	if l.EmailFrom != "" {
		g("emailalertfrom", l.EmailFrom)
	}
	if l.SMTP != "" {
		g("smtp", l.SMTP)
	}
	if l.SyncDaemon != "" {
		g("syncdaemon", l.SyncDaemon)
	}
	for _, v := range l.Virtuals {
		b.WriteString("\n")
		for _, n := range v.Note {
			b.WriteString("# " + n + "\n")
		}
		key := "virtual"
		if v.IPv6 {
			key = "virtual6"
		}
		fmt.Fprintf(&b, "%s = %s\n", key, v.Addr)
		s := func(k, val string) { fmt.Fprintf(&b, "    %s = %s\n", k, val) }
		q := func(k, val string) { fmt.Fprintf(&b, "    %s = \"%s\"\n", k, val) }
		if !v.FWMark {
			s("protocol", v.Protocol)
		}
		s("scheduler", v.Scheduler)
		if v.Persistent > 0 {
			s("persistent", strconv.Itoa(v.Persistent))
			if v.Netmask != "" {
				s("netmask", v.Netmask)
			}
		}
		if v.SchedFlags != "" {
			s("schedflags", v.SchedFlags)
		}
		if v.OPS {
			s("ops", "yes")
		}
		s("checktype", v.CheckType)
		if v.Service != "" {
			s("service", v.Service)
		}
		if v.CheckCommand != "" {
			s("checkcommand", v.CheckCommand)
		}
		if v.CheckPort > 0 {
			s("checkport", strconv.Itoa(v.CheckPort))
		}
		if v.Request != "" {
			q("request", v.Request)
		}
		if v.Receive != "" {
			q("receive", v.Receive)
		}
		if v.VirtualHost != "" {
			s("virtualhost", v.VirtualHost)
		}
		if v.HTTPMethod != "" {
			s("httpmethod", v.HTTPMethod)
		}
		if v.Login != "" {
			q("login", v.Login)
		}
		if v.CheckTimeout > 0 {
			s("checktimeout", strconv.Itoa(v.CheckTimeout))
		}
		if v.NegTimeout > 0 {
			s("negotiatetimeout", strconv.Itoa(v.NegTimeout))
		}
		if v.CheckInterval > 0 {
			s("checkinterval", strconv.Itoa(v.CheckInterval))
		}
		if v.FailureCount > 0 {
			s("failurecount", strconv.Itoa(v.FailureCount))
		}
		if v.Quiescent != nil {
			s("quiescent", yesNo(*v.Quiescent))
		}
		if v.Fallback != "" {
			key := "fallback"
			if v.IPv6 {
				key = "fallback6"
			}
			s(key, v.Fallback)
		}
		if v.FallbackCommand != "" {
			s("fallbackcommand", v.FallbackCommand)
		}
		for _, r := range v.Reals {
			key := "real"
			if v.IPv6 {
				key = "real6"
			}
			addr := r.Addr
			if r.Port > 0 {
				addr += ":" + strconv.Itoa(r.Port)
			}
			line := fmt.Sprintf("%s %s %d", addr, r.Method, r.Weight)
			if r.OwnCheck {
				line += fmt.Sprintf(" \"%s\", \"%s\"", r.Request, r.Receive)
			}
			if r.Lower > 0 {
				line += " l:" + strconv.Itoa(r.Lower)
			}
			if r.Upper > 0 {
				line += " u:" + strconv.Itoa(r.Upper)
			}
			s(key, line)
		}
	}
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
