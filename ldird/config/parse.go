package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxFileSize bounds what Parse reads; real files are a few KiB.
const maxFileSize = 16 << 20

// Parse reads and parses the ldirectord.cf at path. Messages name the file
// as path. On any error it returns nil and an Errors listing every problem.
func Parse(path string, opts Options) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ldirectord config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("ldirectord config %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("ldirectord config %s: larger than %d bytes", path, maxFileSize)
	}
	return ParseBytes(path, data, opts)
}

// ParseBytes parses ldirectord.cf content; name is used in messages
// ("name:12: ..."). On any error it returns nil and an Errors.
func ParseBytes(name string, data []byte, opts Options) (*Config, error) {
	p := newParser(name, data, opts)
	p.run()
	if err := p.r.err(); err != nil {
		return nil, err
	}
	p.cfg.Warnings = p.r.Warnings
	return p.cfg, nil
}

// parser holds the state of one parse; nothing outlives it.
type parser struct {
	r        *report
	opts     Options
	lines    []string
	cfg      *Config
	hostname string
	maxReals int
	nreals   int
	vstates  []*vstate
	seen     map[string]int // virtual Key -> line, for duplicates
	logLine  int            // line of the last logfile=, for FileChecks
	maintDir int            // line of the last maintenancedir=
	px       proxyState     // the userspace proxy's directives (proxy.go)
}

// vstate is a virtual section while it is being read: the values it sets
// itself (-1 / nil = inherit), kept apart until the globals are known,
// because a global line after the section still applies to it.
type vstate struct {
	v       *Virtual
	ok      bool // the address parsed and resolved
	hostRaw string
	portRaw string

	checkTimeout, negotiateTimeout, checkInterval, checkCount, failureCount int64
	checkIntervalLine                                                       int

	quiescent, cleanStop              *bool
	fallbackCommand, emailAlert, smtp *string
	emailAlertFreq                    *time.Duration
	emailAlertStatus                  *AlertStatus
	fallback                          *fallbackSpec
	reals                             []realLine
	serviceSet                        bool
	monitorLine                       int
	schedFlagsLine, opsLine           int
}

type realLine struct {
	line int
	text string
}

func newParser(name string, data []byte, opts Options) *parser {
	text := string(data)
	lines := strings.Split(text, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r") // CRLF files
	}
	p := &parser{
		r:        newReport(name),
		opts:     opts,
		lines:    lines,
		maxReals: opts.MaxReals,
		seen:     map[string]int{},
		cfg: &Config{Path: name, Global: Global{
			CheckInterval:    10 * time.Second,
			CheckCount:       1,
			FailureCount:     1,
			LogFile:          "/var/log/ldirectord.log",
			EmailAlertStatus: AlertAll,
			CleanStop:        true,
			Dataplane:        DataplaneIPVS,
		}},
	}
	if p.maxReals <= 0 {
		p.maxReals = DefaultMaxReals
	}
	p.hostname = opts.Hostname
	if p.hostname == "" {
		p.hostname = os.Getenv("HOSTNAME")
	}
	if p.hostname == "" {
		p.hostname, _ = os.Hostname() // as ldirectord's uname nodename; "" if unavailable
	}
	return p
}

func (p *parser) run() {
	i := 0
	for i < len(p.lines) {
		s := p.lines[i]
		if name, val, eq := splitDirective(s); eq && (name == "virtual" || name == "virtual6") {
			i = p.section(i, name == "virtual6", val)
			continue
		}
		i++
		if isBlank(s) || isComment(s) {
			continue
		}
		p.global(i, s)
	}
	p.finish()
}

// section reads the virtual section whose header is line index i and
// returns the index of the first line after it. Like ldirectord, a line
// belongs to the section when, after removing "#..." and turning each tab
// into 4 spaces, it starts with at least 4 spaces and has text after them.
// Comment lines are skipped without ending the section; a blank line (or
// one indented less) ends it and is read again as a global line.
func (p *parser) section(i int, v6 bool, val string) int {
	vs := p.startVirtual(i+1, v6, val)
	j := i + 1
	for ; j < len(p.lines); j++ {
		raw := p.lines[j]
		if isComment(raw) {
			continue
		}
		s := raw
		if k := strings.IndexByte(s, '#'); k >= 0 {
			s = s[:k]
		}
		s = strings.ReplaceAll(s, "\t", "    ")
		n := 0
		for n < len(s) && s[n] == ' ' {
			n++
		}
		if n < 4 {
			break
		}
		cmd := s[n:]
		if cmd == "" {
			if n == 4 {
				break // /^ {4,}(.+)/ does not match: the section ends
			}
			// ldirectord's (.+) takes the last space: "Unknown command".
			p.r.errorf(j+1, "whitespace-only line inside the virtual section of line %d (ldirectord rejects it; make it empty or a # comment)", i+1)
			continue
		}
		p.virtualDirective(vs, j+1, cmd)
	}
	p.endVirtual(vs)
	return j
}

// global parses one line outside a virtual section.
func (p *parser) global(ln int, s string) {
	g := &p.cfg.Global
	name, val, eq := splitDirective(s)
	if name == "supervised" { // ldirectord matches /^supervised/, then looks at the rest
		switch {
		case eq && (val == "yes" || val == "no"):
			g.Supervised = val == "yes"
		case !eq && val == "":
			g.Supervised = true
			p.r.warnf(ln, "please update your config not to use a bare supervised directive (write supervised = yes)")
		default:
			p.r.errorf(ln, "supervised must be 'yes' or 'no'%s", yesNoHint(val))
		}
		return
	}
	d, ok := directives[name]
	if !eq || !ok || d.global == nil {
		p.unknown(ln, s, name, false)
		return
	}
	d.global(p, g, ln, name, val)
}

// metricsAddr checks the value of the metrics extension directive: a
// listen address host:port (host an IP literal, a name, or empty for every
// address), optionally double-quoted.
func metricsAddr(v string) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if v == "" {
		return "", fmt.Errorf("metrics needs a listen address such as 127.0.0.1:9695")
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("metrics address %q: %v", v, err)
	}
	if strings.ContainsAny(host, " \t") {
		return "", fmt.Errorf("metrics address %q: space in the host", v)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("metrics address %q: port must be a number from 1 to 65535", v)
	}
	return v, nil
}

// virtualDirective parses one indented line of a virtual section; cmd is
// the line without its indentation and comment (tabs already expanded).
func (p *parser) virtualDirective(vs *vstate, ln int, cmd string) {
	name, val, eq := splitDirective(cmd)
	d, ok := directives[name]
	if !eq || !ok || d.virtual == nil {
		p.unknown(ln, cmd, name, true)
		return
	}
	d.virtual(p, vs, ln, name, val)
}

// finish resolves what each virtual inherits from the globals, which may be
// set anywhere in the file, and does the optional file checks.
func (p *parser) finish() {
	p.proxyFinish()
	g := &p.cfg.Global
	for _, vs := range p.vstates {
		if !vs.ok {
			continue
		}
		v, c := vs.v, &vs.v.Check
		c.CheckTimeout = seconds(firstSet(vs.checkTimeout, vs.negotiateTimeout, secs(g.CheckTimeout), secs(g.NegotiateTimeout), 5))
		c.NegotiateTimeout = seconds(firstSet(vs.negotiateTimeout, vs.checkTimeout, secs(g.NegotiateTimeout), secs(g.CheckTimeout), 30))
		c.CheckCount = int(firstSet(vs.checkCount, int64(g.CheckCount)))
		c.FailureCount = int(firstSet(vs.failureCount, int64(g.FailureCount)))
		c.CheckInterval = g.CheckInterval
		if vs.checkInterval > 0 {
			if g.Fork {
				c.CheckInterval = seconds(vs.checkInterval)
			} else {
				p.r.warnf(vs.checkIntervalLine, "checkinterval in virtual service %s ignored when fork=no", v.Key())
			}
		}
		v.Quiescent = pick(vs.quiescent, g.Quiescent)
		v.CleanStop = pick(vs.cleanStop, g.CleanStop)
		v.FallbackCommand = pick(vs.fallbackCommand, g.FallbackCommand)
		v.EmailAlert = pick(vs.emailAlert, g.EmailAlert)
		v.EmailAlertFreq = pick(vs.emailAlertFreq, g.EmailAlertFreq)
		v.EmailAlertStatus = pick(vs.emailAlertStatus, g.EmailAlertStatus)
		v.SMTP = pick(vs.smtp, g.SMTP)
		if v.Fallback == nil {
			v.Fallback = inheritFallback(v, g)
		}
		for _, r := range v.Reals {
			if !r.OwnCheck {
				r.Request, r.Receive = c.Request, c.Receive
			}
		}
		p.schedFinish(vs)
		p.cfg.Virtuals = append(p.cfg.Virtuals, v)
	}
	if sd := g.SyncDaemon; sd != nil && g.Dataplane == DataplaneUserspace {
		p.r.errorf(sd.Line, "syncdaemon needs the kernel's IPVS: with dataplane = userspace every connection ends in ldird's own proxy, "+
			"which no other director can take over; remove syncdaemon or use dataplane = ipvs")
	}
	if p.opts.FileChecks {
		p.fileChecks()
	}
}

// inheritFallback applies the global fallback of the virtual's family, with
// the virtual's port when the global line has none (ldirectord's
// fallback_find).
func inheritFallback(v *Virtual, g *Global) *Real {
	gf := g.Fallback
	if v.IPv6 {
		gf = g.Fallback6
	}
	if gf == nil {
		return nil
	}
	port := v.Addr.Port()
	if gf.HasPort {
		port = gf.TCPPort
		if v.Protocol == "udp" {
			port = gf.UDPPort
		}
	}
	return &Real{Line: gf.Line, Host: gf.Host, Addr: gf.Addr, Port: port, Method: gf.Method, Weight: 1}
}

func (p *parser) fileChecks() {
	g := &p.cfg.Global
	open := appendOpen
	if p.opts.NoCreate {
		open = appendProbe
	}
	if strings.HasPrefix(g.LogFile, "/") && !g.Supervised {
		if err := open(g.LogFile); err != nil {
			p.r.wrapf(p.logLine, err, "unable to open logfile: %v", err)
		}
	}
	for _, vs := range p.vstates {
		if vs.ok && vs.v.MonitorFile != "" {
			if err := open(vs.v.MonitorFile); err != nil {
				p.r.wrapf(vs.monitorLine, err, "unable to open monitorfile %s: %v", vs.v.MonitorFile, err)
			}
		}
	}
	if g.MaintenanceDir != "" {
		if st, err := os.Stat(g.MaintenanceDir); err != nil || !st.IsDir() {
			p.r.warnf(p.maintDir, "maintenance directory does not exist")
		}
	}
}

// appendOpen is ldirectord's open(">>file") and close() test.
func appendOpen(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// appendProbe tells whether appendOpen would succeed, without creating or
// opening anything, and fails with the error the open would give: an
// existing file must be writable by us, a missing one's directory must
// exist and be writable.
func appendProbe(path string) error {
	fail := func(err error) error { return &fs.PathError{Op: "open", Path: path, Err: err} }
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return fail(syscall.EISDIR)
	case err == nil:
		if err := unix.Faccessat(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS); err != nil {
			return fail(err)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fail(pe.Err)
		}
		return err
	}
	if err := unix.Faccessat(unix.AT_FDCWD, filepath.Dir(path), unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		return fail(err)
	}
	return nil
}

// ---- value helpers ----

// count reads a positive whole number the way ldirectord does: the first
// run of digits in the value ("5s" is 5, "1.5" is 1), zero refused.
func (p *parser) count(ln int, name, val string) (int64, bool) {
	d, ok := firstDigits(val)
	if !ok {
		p.r.errorf(ln, "invalid %s value %q: want a whole number greater than 0", name, trimRightSpace(val))
		return 0, false
	}
	n, ok := atoiBounded(d, 1<<31-1)
	if !ok {
		p.r.errorf(ln, "invalid %s value %s: too large", name, d)
		return 0, false
	}
	if n == 0 {
		p.r.errorf(ln, "invalid %s value %q: must be greater than 0", name, trimRightSpace(val))
		return 0, false
	}
	p.digitsWarning(ln, name, val, d)
	return n, true
}

// digitsWarning notes a value that ldirectord reduces to its first digits.
func (p *parser) digitsWarning(ln int, name, val, digits string) {
	if s := stripComment(val); s != digits {
		p.r.warnf(ln, "%s: reading %q as %s, as ldirectord does (it uses the first run of digits)", name, s, digits)
	}
}

// yesNo accepts exactly "yes" or "no": ldirectord compares the whole rest
// of the line, so trailing blanks or a comment make the line an error.
func (p *parser) yesNo(ln int, name, val string, dst *bool) bool {
	if val != "yes" && val != "no" {
		p.r.errorf(ln, "%s must be 'yes' or 'no'%s", name, yesNoHint(val))
		return false
	}
	*dst = val == "yes"
	return true
}

func yesNoHint(val string) string {
	if s := stripComment(val); s == "yes" || s == "no" {
		return fmt.Sprintf(", got %q (ldirectord allows nothing after the value, not even spaces or a comment)", val)
	}
	return fmt.Sprintf(", got %q", val)
}

// quotedValue reads the values whose double quotes ldirectord requires.
func (p *parser) quotedValue(ln int, name, val, emptyMsg string) (string, bool) {
	in, after, ok := quoted(val)
	if !ok {
		p.r.errorf(ln, "%s needs a double-quoted value: %s = \"...\" (inside a virtual section \"#\" starts a comment, even within quotes)", name, name)
		return "", false
	}
	if in == "" {
		p.r.errorf(ln, "%s", emptyMsg)
		return "", false
	}
	p.trailing(ln, name, after)
	return in, true
}

// trailing warns about text after a value that ldirectord silently ignores.
func (p *parser) trailing(ln int, name, after string) {
	if !commentOrBlank(after) {
		p.r.warnf(ln, "%s: ignoring %q after the value, as ldirectord does", name, trimSpace(after))
	}
}

func (p *parser) checkType(ln int, val string, c *CheckSpec) {
	if d, ok := firstDigits(val); ok {
		// Any value containing a digit is "combined" in ldirectord.
		n, ok := atoiBounded(d, 1<<31-1)
		if !ok {
			p.r.errorf(ln, "checktype %s: number too large", d)
			return
		}
		if s := stripComment(val); s != d {
			p.r.warnf(ln, "checktype %q contains a digit: read as checktype = %s (one negotiate check, then %s connect checks), as ldirectord does", s, d, d)
		}
		c.Type, c.Connects = CheckCombined, int(n)
		return
	}
	w := firstRun(val, func(b byte) bool { return isWordByte(b) || b == '-' })
	switch CheckType(w) {
	case CheckConnect, CheckNegotiate, CheckPing, CheckOff, CheckOn, CheckExternal, CheckExternalPerl:
		c.Type, c.Connects = CheckType(w), 0
	default:
		p.r.errorf(ln, "checktype must be \"connect\", \"negotiate\", \"on\", \"off\", \"ping\", \"external\", \"external-perl\" or a positive number, got %q", trimRightSpace(val))
	}
}

func (p *parser) netmask(ln int, val string, v *Virtual) {
	if v.IPv6 {
		n, ok := atoiBounded(val, 128)
		if !ok || !allDigits(val) || n < 1 {
			p.r.errorf(ln, "invalid netmask %q: a prefix length between 1 and 128 is required", val)
			return
		}
		v.Netmask = int(n)
		return
	}
	parts := strings.Split(val, ".")
	var m uint32
	okQuad := len(parts) == 4
	for _, s := range parts {
		n, ok := atoiBounded(s, 255)
		if !ok || !allDigits(s) {
			okQuad = false
			break
		}
		m = m<<8 | uint32(n)
	}
	if !okQuad {
		p.r.errorf(ln, "invalid netmask %q: dotted quad notation is required", val)
		return
	}
	bits := 0
	for bits < 32 && m&(1<<(31-bits)) != 0 {
		bits++
	}
	if bits < 32 && m<<bits != 0 || bits == 0 {
		p.r.errorf(ln, "invalid netmask %q: the mask must be contiguous ones (such as 255.255.255.0) and not 0.0.0.0", val)
		return
	}
	v.Netmask = bits
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// emailAlert is ldirectord's read_emailalert: enclosing quotes are removed.
func (p *parser) emailAlert(ln int, val string) (string, bool) {
	s := val
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && !strings.Contains(s[1:len(s)-1], "\"") {
		s = s[1 : len(s)-1]
	}
	s = trimRightSpace(s)
	if s == "" {
		p.r.errorf(ln, "no email address specified")
		return "", false
	}
	return s, true
}

// emailAlertFreq is /emailalertfreq\s*=\s*(\d*)/: the digits must come first.
func (p *parser) emailAlertFreq(ln int, val string) (time.Duration, bool) {
	i := 0
	for i < len(val) && val[i] >= '0' && val[i] <= '9' {
		i++
	}
	n, ok := atoiBounded(val[:i], 1<<31-1)
	if i == 0 || !ok {
		p.r.errorf(ln, "invalid email alert frequency %q: want a whole number of seconds (0 = no repeats)", trimRightSpace(val))
		return 0, false
	}
	p.trailing(ln, "emailalertfreq", val[i:])
	return seconds(n), true
}

// alertStatus is ldirectord's parse_emailalertstatus.
func (p *parser) alertStatus(ln int, val string) (AlertStatus, bool) {
	items := splitComma(val)
	none := contains(items, "none")
	var st AlertStatus
	ok := true
	for _, it := range items {
		switch it {
		case "none":
			continue
		case "all":
			st = AlertAll
		case "starting":
			st |= AlertStarting
		case "running":
			st |= AlertRunning
		case "stopping":
			st |= AlertStopping
		case "reloading":
			st |= AlertReloading
		default:
			p.r.errorf(ln, "invalid email alert status at: %q (want all, none, or a comma list of starting, running, stopping, reloading)", it)
			ok = false
			continue
		}
		if none {
			p.r.errorf(ln, "invalid email alert status: %q specified with \"none\"", it)
			ok = false
		}
	}
	return st, ok
}

// splitComma is Perl's split /\s*,\s*/: trailing empty fields are dropped.
func splitComma(s string) []string {
	parts := strings.Split(s, ",")
	for i := range parts {
		if i > 0 {
			parts[i] = trimLeftSpace(parts[i])
		}
		if i < len(parts)-1 {
			parts[i] = trimRightSpace(parts[i])
		}
	}
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// smtpHost is /^([0-9A-Za-z._+-]+)/: a host name at the start of the value.
func (p *parser) smtpHost(ln int, val string) (string, bool) {
	i := 0
	for i < len(val) && isHostByte(val[i]) {
		i++
	}
	if i == 0 {
		p.r.errorf(ln, "invalid SMTP server address %q", trimRightSpace(val))
		return "", false
	}
	p.trailing(ln, "smtp", val[i:])
	return val[:i], true
}

func isHostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-'
}

// unknown reports a line that matches no directive in its context.
func (p *parser) unknown(ln int, line, name string, inVirtual bool) {
	_, _, eq := splitDirective(line)
	d, known := directives[name]
	globalOnly := known && d.virtual == nil
	switch name {
	case "supervised", "virtual", "virtual6": // read before the table is consulted
		known, globalOnly = true, true
	}
	virtualOnly := known && d.global == nil && !globalOnly
	switch {
	case !inVirtual && line != "" && isSpace(line[0]):
		p.r.errorf(ln, "indented line %s is not inside a virtual section: a section ends at a blank line or at a line indented less than 4 spaces (a tab counts as 4)", clip(trimSpace(line)))
	case known && !eq:
		p.r.errorf(ln, "missing \"=\" after %q (ldirectord syntax is name = value)", name)
	case inVirtual && (name == "virtual" || name == "virtual6"):
		p.r.errorf(ln, "%s must start in column 0: it opens a new section", name)
	case inVirtual && globalOnly:
		p.r.errorf(ln, "%q is a global directive: it must start in column 0, outside virtual sections", name)
	case !inVirtual && virtualOnly:
		p.r.errorf(ln, "%q is only valid inside a virtual section (indent it by at least 4 spaces or a tab below virtual=)", name)
	case name == "":
		p.r.errorf(ln, "unknown directive %s", clip(trimSpace(line)))
	default:
		p.r.errorf(ln, "unknown directive %q", name)
	}
}

// clip quotes a line for a message, shortened so binary input stays readable.
func clip(s string) string {
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return fmt.Sprintf("%q", s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func familyWord(w string, v6 bool) string {
	if v6 {
		return w + "6"
	}
	return w
}

func seconds(n int64) time.Duration { return time.Duration(n) * time.Second }

// secs turns an optional global duration into ldirectord's -1 = unset.
func secs(d time.Duration) int64 {
	if d == 0 {
		return -1
	}
	return int64(d / time.Second)
}

// firstSet returns the first value that is set (> 0), else the last one.
func firstSet(vals ...int64) int64 {
	for _, v := range vals[:len(vals)-1] {
		if v > 0 {
			return v
		}
	}
	return vals[len(vals)-1]
}

func pick[T any](own *T, global T) T {
	if own != nil {
		return *own
	}
	return global
}

// ErrResolve is in the chain of every error caused by a failed host or
// service lookup, so a caller can tell a DNS outage during a reload from a
// mistake in the file (errors.Is(err, config.ErrResolve)).
var ErrResolve = errors.New("could not resolve")
