package config

import (
	"fmt"
	"net"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits compiled into Heartbeat 3.0.6.
const (
	maxNodes = 100 // MAXNODE
	maxMedia = 64  // MAXMEDIA
)

// Character sets of config.c: WHITESPACE ends the directive word, DELIMS
// separates option values (comma or blank).
const (
	whitespace = " \t\n\r\f"
	delims     = ", \t\n\r\f"
)

// Options tune the checks that depend on the running machine.
type Options struct {
	// NodeName is this machine's node name (uname -n or nodeinfo); it is
	// lowercased and must be a declared node. Empty skips that check.
	NodeName string
	// IfaceExists reports whether a network interface exists; nil = don't check.
	IfaceExists func(string) bool
	// LookupIP resolves a host name given to ucast/ping/ping_group, as
	// Heartbeat's gethostbyname does; nil = net.LookupIP. IP literals never
	// reach it.
	LookupIP func(host string) ([]net.IP, error)
	// UserExists checks the user of respawn/failfast lines, as Heartbeat's
	// getpwnam does; nil = don't check.
	UserExists func(string) bool
	// Executable checks the program of respawn/failfast lines, as
	// Heartbeat's access(X_OK) does, and says why it cannot be run; nil =
	// don't check.
	Executable func(path string) error
	// StonithCheck checks a stonith or stonith_host line that applies to
	// this node against the installed STONITH plugins (the type exists,
	// the parameters it needs are there), as Heartbeat's stonith_new and
	// stonith_set_config do when it reads the line; nil = don't check.
	StonithCheck func(s Stonith) error
}

// Medium is one heartbeat path (or ping node) from ha.cf.
type Medium struct {
	Kind    string // bcast, mcast, mcast6, ucast, ucast6, ping, ping6, ping_group
	Iface   string // bcast/mcast/ucast interface
	Group   net.IP // mcast group
	Port    int    // mcast port (udpport does not apply to mcast)
	TTL     int    // mcast TTL / mcast6 hops, 0..4
	Loop    bool   // mcast loopback
	Peer    net.IP // ucast peer
	Name    string // ping_group name; for ping/ping6 the host as written
	Hosts   []net.IP
	UDPPort int // udpport in force when this line was read (Heartbeat reads it then)
	Line    int
}

// IsPing reports whether the medium is a ping node rather than a heartbeat link.
func (m Medium) IsPing() bool {
	return m.Kind == "ping" || m.Kind == "ping6" || m.Kind == "ping_group"
}

// LinkName is the name cl_status shows: the interface for bcast/mcast/ucast,
// the host or group name for ping nodes.
func (m Medium) LinkName() string {
	if m.IsPing() {
		return m.Name
	}
	return m.Iface
}

// Respawn is a respawn or failfast line.
type Respawn struct {
	User     string
	Path     string   // absolute program path (first word of the command)
	Args     []string // the remaining words
	Command  string   // the command as written (Heartbeat keeps it whole)
	Failfast bool     // failfast: the node reboots when the child dies
	// BuiltIn marks ipfail (any path ending in /ipfail): its job is built
	// into hbd, so the program is never run and need not exist.
	BuiltIn bool
	Line    int
}

// builtInRespawn is the program whose respawn line hbd honours by doing its
// job itself (DESIGN.md, "Legacy files").
const builtInRespawn = "ipfail"

// APIAuth is who may use an API client name (apiauth).
type APIAuth struct {
	UIDs, GIDs []string
}

// Stonith is a stonith or stonith_host line: a STONITH device of
// cluster-glue's (hbd/fence drives it).
type Stonith struct {
	Host string // "" for a plain stonith line; "*" or a node name (lowercased) for stonith_host
	Type string // the plugin type, as `stonith -L` lists it
	// Params is the parameter file (stonith TYPE CONFIGFILE) or the
	// parameters in the plugin's order (stonith_host HOST TYPE PARAMS...),
	// as written: the last parameter takes the rest of the line.
	Params string
	Line   int
}

// IsFile reports whether the line names a parameter file (a plain stonith
// line) rather than giving the parameters.
func (s Stonith) IsFile() bool { return s.Host == "" }

// AppliesTo reports whether the line configures node's device: a stonith
// line always, a stonith_host line when its host is * or node. Heartbeat
// ignores the others without reading them further.
func (s Stonith) AppliesTo(node string) bool {
	return s.Host == "" || s.Host == "*" || s.Host == asciiLower(node)
}

// StonithDevice returns the line that configures node's STONITH device:
// the last one that applies. Heartbeat keeps a single device, and every
// line that applies replaces the one before ("This will have to change to
// a list !!!" in its config.c).
func (h *HACF) StonithDevice(node string) (Stonith, bool) {
	for i := len(h.Stonith) - 1; i >= 0; i-- {
		if h.Stonith[i].AppliesTo(node) {
			return h.Stonith[i], true
		}
	}
	return Stonith{}, false
}

// HACF is a parsed and validated ha.cf.
type HACF struct {
	Path  string
	Nodes []string // normal nodes, lowercased, config order, no duplicates

	Keepalive, Deadtime, Warntime, Initdead, Deadping time.Duration

	UDPPort int
	Media   []Medium
	Baud    int

	AutoFailback string // "on" | "off" | "legacy"
	HopFudge     int
	Autojoin     string // always "none" in a valid classic configuration
	UUIDFrom     string // file | nodename
	HBGenMethod  string // file | time
	Cluster      string

	LogFacility  string // syslog facility name, "none", or ""
	LogFile      string
	DebugFile    string
	UseLogd      bool
	Debug        int
	LogBadPack   bool
	SyslogMsgFmt bool
	ConnLogdTime time.Duration

	Respawns []Respawn
	Env      map[string]string // variable names already carry Heartbeat's HA_ prefix
	Watchdog string
	MsgFmt   string // classic | netstring
	APIAuth  map[string]APIAuth
	Stonith  []Stonith
	Console  Console // the web console (lvsha extension)

	Realtime               bool
	RTPrio                 int // 0 = unset
	Coredumps              bool
	CoreRoot               string
	UseApphbd              bool
	Compression            string
	CompressionThreshold   int // KB
	TraditionalCompression bool
	MaxRexmitDelay         time.Duration
	MemReserve             int // KB

	// Params holds the raw values as Heartbeat records them for
	// `cl_status hbparameter`: the last value seen, applied defaults, and
	// computed defaults as "NNNms".
	Params map[string]string

	Warnings []*Error
}

// optDir is an option directive (table Directives[] of config.c).
type optDir struct {
	name   string
	record bool   // SetParameterValue on success
	def    string // applied when absent ("" = none)
	apply  func(p *hacfParser, line int, v string) error
	// refused directives are recognised but rejected when set; their
	// default is still recorded, as Heartbeat does.
	refused bool
}

var optionDirectives []optDir
var optionIndex map[string]*optDir

// Heartbeat's built-in apiauth entries, used when ha.cf does not override them.
var defaultAPIAuth = []struct{ client, spec string }{
	{"ipfail", "uid=hacluster"},
	{"ccm", "uid=hacluster"},
	{"ping", "gid=haclient"},
	{"lha-snmpagent", "uid=root"},
	{"anon", "uid=root gid=haclient"},
}

// Media kinds that send to udpport, so udpport after them is too late.
var usesUDPPort = map[string]bool{"bcast": true, "ucast": true, "ucast6": true}

var logFacilities = map[string]bool{
	"auth": true, "security": true, "authpriv": true, "cron": true, "daemon": true,
	"ftp": true, "kern": true, "lpr": true, "mail": true, "news": true, "syslog": true,
	"user": true, "uucp": true, "local0": true, "local1": true, "local2": true,
	"local3": true, "local4": true, "local5": true, "local6": true, "local7": true,
}

const pacemakerRefusal = "this daemon runs classic haresources mode only; Pacemaker (CRM) is not supported"

func init() {
	timeDir := func(set func(p *hacfParser, ms int64), positive bool) func(*hacfParser, int, string) error {
		return func(p *hacfParser, _ int, v string) error {
			ms, err := parseMsec(v)
			if err != nil {
				return err
			}
			if positive && ms <= 0 {
				return fmt.Errorf("%q must be greater than 0", v)
			}
			set(p, ms)
			return nil
		}
	}
	boolDir := func(set func(h *HACF, b bool)) func(*hacfParser, int, string) error {
		return func(p *hacfParser, _ int, v string) error {
			b, err := parseBool(v)
			if err == nil {
				set(p.h, b)
			}
			return err
		}
	}
	intDir := func(lo, hi int, set func(h *HACF, n int)) func(*hacfParser, int, string) error {
		return func(p *hacfParser, _ int, v string) error {
			n, err := parseInt(v, lo, hi)
			if err == nil {
				set(p.h, n)
			}
			return err
		}
	}
	oneOf := func(set func(h *HACF, v string), fold bool, allowed ...string) func(*hacfParser, int, string) error {
		return func(p *hacfParser, _ int, v string) error {
			w := v
			if fold {
				w = strings.ToLower(v)
			}
			for _, a := range allowed {
				if w == a {
					set(p.h, w)
					return nil
				}
			}
			return fmt.Errorf("invalid value %q (expected %s)", v, strings.Join(allowed, " or "))
		}
	}
	refuse := func(p *hacfParser, _ int, _ string) error {
		return fmt.Errorf("is a Pacemaker (CRM) directive; %s", pacemakerRefusal)
	}
	optionDirectives = []optDir{
		{name: "cluster", record: true, def: "linux-ha", apply: func(p *hacfParser, _ int, v string) error { p.h.Cluster = v; return nil }},
		{name: "node", apply: (*hacfParser).addNode},
		{name: "hopfudge", record: true, def: "1", apply: intDir(0, 255, func(h *HACF, n int) { h.HopFudge = n })},
		{name: "keepalive", record: true, def: "1000ms", apply: timeDir(func(p *hacfParser, ms int64) { p.keepalive = ms }, true)},
		{name: "deadtime", record: true, def: "30000ms", apply: timeDir(func(p *hacfParser, ms int64) { p.deadtime = ms }, false)},
		{name: "deadping", record: true, apply: timeDir(func(p *hacfParser, ms int64) { p.deadping = ms }, false)},
		{name: "initdead", record: true, apply: timeDir(func(p *hacfParser, ms int64) { p.initdead = ms }, false)},
		{name: "warntime", record: true, apply: timeDir(func(p *hacfParser, ms int64) { p.warntime = ms }, true)},
		{name: "watchdog", record: true, apply: (*hacfParser).setWatchdog},
		{name: "baud", record: true, def: "19200", apply: (*hacfParser).setBaud},
		{name: "udpport", record: true, apply: (*hacfParser).setUDPPort},
		{name: "logfacility", record: true, apply: (*hacfParser).setFacility},
		{name: "logfile", record: true, apply: func(p *hacfParser, _ int, v string) error { p.h.LogFile = v; return nil }},
		{name: "debugfile", record: true, apply: func(p *hacfParser, _ int, v string) error { p.h.DebugFile = v; return nil }},
		{name: "nice_failback", apply: (*hacfParser).setNiceFailback},
		{name: "auto_failback", record: true, def: "legacy", apply: (*hacfParser).setAutoFailback},
		{name: "rtprio", record: true, apply: intDir(1, 99, func(h *HACF, n int) { h.RTPrio = n })}, // sched_get_priority_min/max(SCHED_FIFO) on Linux
		{name: "hbgenmethod", record: true, def: "file", apply: oneOf(func(h *HACF, v string) { h.HBGenMethod = v }, false, "file", "time")},
		{name: "realtime", record: true, def: "true", apply: boolDir(func(h *HACF, b bool) { h.Realtime = b })},
		{name: "debug", record: true, apply: intDir(0, 255, func(h *HACF, n int) { h.Debug = n })},
		// normalpoll exists only when built with ALLOWPOLLCHOICE (not on
		// Debian); accepted so such files still load, and otherwise ignored.
		{name: "normalpoll", record: true, apply: boolDir(func(*HACF, bool) {})},
		{name: "msgfmt", record: true, def: "classic", apply: oneOf(func(h *HACF, v string) { h.MsgFmt = v }, false, "classic", "netstring")},
		{name: "use_logd", record: true, apply: func(p *hacfParser, _ int, v string) error {
			b, err := parseBool(v)
			if err == nil {
				p.useLogd = &b
				p.h.UseLogd = b
			}
			return err
		}},
		{name: "conn_logd_time", record: true, def: "60", apply: timeDir(func(p *hacfParser, ms int64) { p.h.ConnLogdTime = msec(ms) }, true)},
		{name: "use_apphbd", apply: boolDir(func(h *HACF, b bool) { h.UseApphbd = b })},
		{name: "log_badpack", record: true, def: "true", apply: boolDir(func(h *HACF, b bool) { h.LogBadPack = b })},
		{name: "syslogmsgfmt", record: true, def: "true", apply: boolDir(func(h *HACF, b bool) { h.SyslogMsgFmt = b })},
		{name: "coredumps", record: true, def: "true", apply: boolDir(func(h *HACF, b bool) { h.Coredumps = b })},
		{name: "coreroot", record: true, apply: func(p *hacfParser, _ int, v string) error { p.h.CoreRoot = v; return nil }},
		{name: "crm_daemon_dir", record: true, apply: refuse, refused: true},
		{name: "crmd_spawns_pengine", record: true, apply: refuse, refused: true},
		{name: "crm", apply: (*hacfParser).setPacemaker}, // historical alias of pacemaker
		{name: "pacemaker", record: true, def: "false", apply: (*hacfParser).setPacemaker},
		{name: "autojoin", record: true, def: "none", apply: oneOf(func(h *HACF, v string) { h.Autojoin = v }, true, "none", "other", "any")},
		{name: "uuidfrom", record: true, def: "file", apply: oneOf(func(h *HACF, v string) { h.UUIDFrom = v }, false, "file", "nodename")},
		{name: "compression", record: true, def: "zlib", apply: oneOf(func(h *HACF, v string) { h.Compression = v }, false, "zlib", "bz2")},
		{name: "compression_threshold", record: true, def: "2", apply: intDir(1, 1<<20, func(h *HACF, n int) { h.CompressionThreshold = n })},
		{name: "traditional_compression", record: true, def: "no", apply: boolDir(func(h *HACF, b bool) { h.TraditionalCompression = b })},
		{name: "env", apply: (*hacfParser).setEnv},
		{name: "max_rexmit_delay", record: true, def: "250", apply: intDir(1, 1<<30, func(h *HACF, n int) { h.MaxRexmitDelay = msec(int64(n)) })},
		{name: "record_config_changes", record: true, def: "on", apply: refuse, refused: true},
		{name: "record_pengine_inputs", record: true, def: "on", apply: refuse, refused: true},
		{name: "enable_config_writes", record: true, def: "on", apply: refuse, refused: true},
		{name: "memreserve", record: true, def: "6500", apply: intDir(1, 1<<30, func(h *HACF, n int) { h.MemReserve = n })},
		{name: "quorum_server", record: true, apply: refuse, refused: true},
	}
	optionIndex = make(map[string]*optDir, len(optionDirectives))
	for i := range optionDirectives {
		optionIndex[optionDirectives[i].name] = &optionDirectives[i]
	}
}

// hacfParser holds the state Heartbeat keeps in globals while reading ha.cf.
type hacfParser struct {
	r   report
	opt Options
	h   *HACF

	lineOf map[string]int // last line that set each directive (for cross-check errors)

	keepalive, deadtime, warntime, initdead, deadping int64 // ms; -1/0 = unset as in config.c

	udpportSet   bool
	udpMediaLine int // first medium that read udpport
	watchdogSet  bool
	baudSet      bool
	pcmkSet      bool
	niceFailback bool // Heartbeat's global nice_failback: set by auto_failback on|off
	useLogd      *bool
	facility     bool // a logfacility other than none/kern (Heartbeat: log_facility > 0)
	nodeSeen     map[string]bool
	stonithLine  int // the stonith line in force so far for this node (0 = none)
}

// ParseHACF reads and validates an ha.cf file.
func ParseHACF(path string, opt Options) (*HACF, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read config file: %v", err), Err: err}}
	}
	return ParseHACFBytes(path, data, opt)
}

// ParseHACFBytes parses ha.cf content; name is used in messages. On error
// the result is nil and the error is an Errors listing every problem.
func ParseHACFBytes(name string, data []byte, opt Options) (*HACF, error) {
	p := parseHACF(name, data, opt)
	if err := p.r.err(); err != nil {
		return nil, err
	}
	return p.h, nil
}

func parseHACF(name string, data []byte, opt Options) *hacfParser {
	p := &hacfParser{
		r:   *newReport(name),
		opt: opt,
		h: &HACF{Path: name, Env: map[string]string{}, APIAuth: map[string]APIAuth{},
			Params: map[string]string{}},
		lineOf:    map[string]int{},
		keepalive: 1000, deadtime: 30000, initdead: -1, deadping: -1,
		udpMediaLine: 0,
		nodeSeen:     map[string]bool{},
	}
	p.h.HopFudge = 1
	p.h.UDPPort = 694
	for i, raw := range strings.Split(string(data), "\n") {
		p.line(i+1, raw)
	}
	p.finish()
	p.h.Warnings = p.r.Warnings
	return p
}

func isDelim(r rune) bool      { return strings.ContainsRune(delims, r) }
func isSpace(r rune) bool      { return strings.ContainsRune(whitespace, r) }
func fields(s string) []string { return strings.FieldsFunc(s, isSpace) }

// line handles one ha.cf line, as parse_config does.
func (p *hacfParser) line(ln int, raw string) {
	s := strings.TrimLeft(raw, whitespace)
	if i := strings.IndexByte(s, '#'); i >= 0 { // a comment even inside a value
		s = s[:i]
	}
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return
	}
	dir, rest := s, ""
	if i := strings.IndexAny(s, whitespace); i >= 0 {
		dir, rest = s[:i], s[i:]
	}
	rest = strings.TrimLeft(rest, delims)
	if dir == "udp" {
		p.r.warnf(ln, "directive 'udp' replaced by 'bcast'")
		dir = "bcast"
	}
	known := true
	switch dir {
	case "mcast", "mcast6", "ucast", "ucast6", "ping_group", "stonith", "stonith_host", "apiauth", "respawn", "failfast",
		"bcast", "ping", "ping6", "serial", "hbaping",
		"console", "console_tls", "console_users", "console_clientca", "console_readonly":
	default:
		known = optionIndex[dir] != nil
	}
	if !known {
		p.r.errorf(ln, "unknown directive %q", dir)
		return
	}
	if strings.TrimSpace(rest) == "" {
		p.r.errorf(ln, "%s: missing value", dir)
		return
	}
	switch dir {
	case "mcast", "mcast6":
		p.addMcast(ln, dir, rest)
	case "ucast", "ucast6":
		p.addUcast(ln, dir, rest)
	case "ping_group":
		p.addPingGroup(ln, rest)
	case "stonith", "stonith_host":
		p.addStonith(ln, dir, rest)
	case "apiauth":
		if err := p.addAPIAuth(rest); err != nil {
			p.r.errorf(ln, "apiauth: %v (syntax: apiauth CLIENT [uid=a,b] [gid=c,d])", err)
		}
	case "respawn", "failfast":
		p.addRespawn(ln, dir, rest)
	case "console", "console_tls", "console_users", "console_clientca", "console_readonly":
		p.addConsole(ln, dir, rest)
	case "serial":
		p.r.errorf(ln, "serial: serial media are not supported yet; use bcast/mcast/ucast")
	case "hbaping":
		p.r.errorf(ln, "hbaping: obsolete medium, not built on Debian; use bcast/mcast/ucast")
	default:
		for _, tok := range strings.FieldsFunc(rest, isDelim) {
			switch dir {
			case "bcast":
				p.addBcast(ln, tok)
			case "ping", "ping6":
				p.addPing(ln, dir, tok)
			default:
				d := optionIndex[dir]
				if err := d.apply(p, ln, tok); err != nil {
					p.r.errorf(ln, "%s: %v", dir, err)
					continue
				}
				p.lineOf[dir] = ln
				if d.record {
					p.h.Params[dir] = tok
				}
			}
		}
	}
}

func (p *hacfParser) addNode(ln int, v string) error {
	name := asciiLower(v)
	if p.nodeSeen[name] {
		p.r.warnf(ln, "node %q listed twice; ignoring the repeat", name)
		return nil
	}
	if len(p.h.Nodes) >= maxNodes {
		return fmt.Errorf("too many nodes (at most %d)", maxNodes)
	}
	p.nodeSeen[name] = true
	p.h.Nodes = append(p.h.Nodes, name)
	return nil
}

func (p *hacfParser) setWatchdog(_ int, v string) error {
	if p.watchdogSet {
		return fmt.Errorf("watchdog device given more than once")
	}
	p.watchdogSet = true
	p.h.Watchdog = v
	return nil
}

func (p *hacfParser) setBaud(_ int, v string) error {
	if p.baudSet {
		return fmt.Errorf("baud rate given more than once")
	}
	p.baudSet = true
	switch v {
	case "9600", "19200", "38400", "57600", "115200", "230400", "460800":
		p.h.Baud, _ = strconv.Atoi(v)
		return nil
	}
	return fmt.Errorf("invalid baud rate %q (9600, 19200, 38400, 57600, 115200, 230400 or 460800)", v)
}

func (p *hacfParser) setUDPPort(ln int, v string) error {
	n, err := parseInt(v, 1, 65535)
	if err != nil {
		return err
	}
	if p.udpMediaLine > 0 && ln > 0 {
		// Media read udpport when they are created, so earlier ones keep the old port.
		p.r.warnf(ln, "udpport setting must precede media statements: the medium on line %d keeps port %d",
			p.udpMediaLine, p.h.UDPPort)
	}
	p.udpportSet = true
	p.h.UDPPort = n
	return nil
}

func (p *hacfParser) setFacility(_ int, v string) error {
	f := strings.ToLower(v)
	if v != "none" && !logFacilities[f] {
		return fmt.Errorf("invalid syslog facility %q", v)
	}
	p.h.LogFacility = v
	// cl_syslogfac_str2int gives 0 for "none" and for kern (LOG_KERN is 0);
	// Heartbeat only logs to syslog when the value is > 0.
	p.facility = v != "none" && f != "kern"
	return nil
}

// setAutoFailback is set_auto_failback: a boolean, or legacy.
func (p *hacfParser) setAutoFailback(_ int, v string) error {
	b, err := parseBool(v)
	if err != nil {
		if strings.EqualFold(v, "legacy") {
			p.niceFailback = false
			p.h.AutoFailback = "legacy"
			return nil
		}
		return fmt.Errorf("invalid value %q (expected on, off or legacy)", v)
	}
	p.niceFailback = true
	p.h.AutoFailback = map[bool]string{true: "on", false: "off"}[b]
	return nil
}

// setNiceFailback reproduces set_nice_failback: the value is only checked;
// an earlier auto_failback on|off turns into off, otherwise legacy. The
// directive is not recorded, so unless auto_failback appears the default
// "legacy" is applied afterwards: alone, it always means legacy.
func (p *hacfParser) setNiceFailback(ln int, v string) error {
	if _, err := parseBool(v); err != nil {
		return err
	}
	if p.niceFailback {
		p.r.warnf(ln, "nice_failback is obsolete; 'nice_failback %s' has been changed to 'auto_failback off'", v)
		p.h.AutoFailback = "off"
	} else {
		p.r.warnf(ln, "nice_failback is obsolete; 'nice_failback %s' is interpreted as 'auto_failback legacy'; consider 'auto_failback on'", v)
		p.h.AutoFailback = "legacy"
	}
	return nil
}

// setPacemaker handles crm/pacemaker: only a false value (classic mode) is accepted.
func (p *hacfParser) setPacemaker(ln int, v string) error {
	if p.pcmkSet {
		return fmt.Errorf("pacemaker/crm directive used more than once")
	}
	p.pcmkSet = true
	switch strings.ToLower(v) {
	case "minimal", "manual", "respawn", "ccm-only", "valgrind":
		return fmt.Errorf("%q asks for Pacemaker; %s (use 'crm no' or remove the line)", v, pacemakerRefusal)
	}
	on, err := parseBool(v)
	if err != nil {
		return err
	}
	if on {
		return fmt.Errorf("%q asks for Pacemaker; %s (use 'crm no' or remove the line)", v, pacemakerRefusal)
	}
	p.h.Params["pacemaker"] = v // crm is an alias that records pacemaker
	if ln > 0 {
		p.lineOf["pacemaker"] = ln
	}
	return nil
}

func (p *hacfParser) setEnv(_ int, v string) error {
	name, val, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("invalid %q (expected NAME=VALUE)", v)
	}
	p.h.Env["HA_"+name] = val // Heartbeat exports HA_NAME
	return nil
}

// addMedium appends m, enforcing MAXMEDIA and remembering udpport users.
func (p *hacfParser) addMedium(m Medium) {
	if len(p.h.Media) >= maxMedia {
		p.r.errorf(m.Line, "too many media (at most %d)", maxMedia)
		return
	}
	m.UDPPort = p.h.UDPPort
	if usesUDPPort[m.Kind] && p.udpMediaLine == 0 {
		p.udpMediaLine = m.Line
	}
	p.h.Media = append(p.h.Media, m)
}

func (p *hacfParser) checkIface(ln int, dir, iface string) bool {
	if p.opt.IfaceExists != nil && !p.opt.IfaceExists(iface) {
		p.r.errorf(ln, "%s: interface %q does not exist", dir, iface)
		return false
	}
	return true
}

func (p *hacfParser) addBcast(ln int, iface string) {
	if p.checkIface(ln, "bcast", iface) {
		p.addMedium(Medium{Kind: "bcast", Iface: iface, Line: ln})
	}
}

// resolve turns a host into an address of the wanted family: literals
// directly, names through Options.LookupIP (Heartbeat uses gethostbyname).
func (p *hacfParser) resolve(host string, v6 bool) (net.IP, error) {
	family := "IPv4"
	if v6 {
		family = "IPv6"
	}
	if ip := net.ParseIP(host); ip != nil {
		if (ip.To4() == nil) != v6 {
			return nil, fmt.Errorf("%q is not an %s address", host, family)
		}
		return ip, nil
	}
	lookup := p.opt.LookupIP
	if lookup == nil {
		lookup = net.LookupIP
	}
	ips, err := lookup(host)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve %q: %w", host, err)
	}
	for _, ip := range ips {
		if (ip.To4() == nil) == v6 {
			return ip, nil
		}
	}
	return nil, fmt.Errorf("%q has no %s address", host, family)
}

func (p *hacfParser) extra(ln int, dir string, f []string, n int) {
	if len(f) > n {
		p.r.warnf(ln, "%s: extra words %q ignored", dir, strings.Join(f[n:], " "))
	}
}

func (p *hacfParser) addUcast(ln int, dir, rest string) {
	f := fields(rest)
	if len(f) < 2 {
		p.r.errorf(ln, "%s: missing peer address (syntax: %s IFACE PEER)", dir, dir)
		return
	}
	p.extra(ln, dir, f, 2)
	ok := p.checkIface(ln, dir, f[0])
	peer, err := p.resolve(f[1], dir == "ucast6")
	if err != nil {
		p.r.wrapf(ln, err, "%s: %v", dir, err)
		return
	}
	if ok {
		p.addMedium(Medium{Kind: dir, Iface: f[0], Peer: peer, Line: ln})
	}
}

func (p *hacfParser) addMcast(ln int, dir, rest string) {
	f := fields(rest)
	if len(f) < 5 {
		p.r.errorf(ln, "%s: needs 5 values: %s IFACE GROUP PORT TTL LOOP", dir, dir)
		return
	}
	p.extra(ln, dir, f, 5)
	ok := p.checkIface(ln, dir, f[0])
	v6 := dir == "mcast6"
	g := net.ParseIP(f[1])
	if g == nil || !g.IsMulticast() || (g.To4() == nil) != v6 {
		kind := "IPv4"
		if v6 {
			kind = "IPv6"
		}
		p.r.errorf(ln, "%s: %q is not a valid %s multicast group", dir, f[1], kind)
		ok = false
	}
	port, err := parseInt(f[2], 1, 65535)
	if err != nil {
		p.r.errorf(ln, "%s: port: %v", dir, err)
		ok = false
	}
	ttl, err := parseInt(f[3], 0, 4) // the code rejects > 4 though the docs say 255
	if err != nil {
		p.r.errorf(ln, "%s: ttl: %v", dir, err)
		ok = false
	}
	loop, err := parseInt(f[4], 0, 1)
	if err != nil {
		p.r.errorf(ln, "%s: loop: %v", dir, err)
		ok = false
	}
	if ok {
		p.addMedium(Medium{Kind: dir, Iface: f[0], Group: g, Port: port, TTL: ttl, Loop: loop == 1, Line: ln})
	}
}

func (p *hacfParser) addPing(ln int, dir, host string) {
	ip, err := p.resolve(host, dir == "ping6")
	if err != nil {
		p.r.wrapf(ln, err, "%s: %v", dir, err)
		return
	}
	p.addMedium(Medium{Kind: dir, Name: host, Hosts: []net.IP{ip}, Line: ln})
}

func (p *hacfParser) addPingGroup(ln int, rest string) {
	f := fields(rest)
	if len(f) < 2 {
		p.r.errorf(ln, "ping_group: needs a name and at least one host (syntax: ping_group NAME HOST...)")
		return
	}
	m := Medium{Kind: "ping_group", Name: f[0], Line: ln}
	for _, h := range f[1:] {
		ip, err := p.resolve(h, false)
		if err != nil {
			p.r.wrapf(ln, err, "ping_group: %v", err)
			return
		}
		m.Hosts = append(m.Hosts, ip)
	}
	p.addMedium(m)
}

func (p *hacfParser) addStonith(ln int, dir, rest string) {
	rest = strings.Trim(rest, whitespace)
	s := Stonith{Line: ln}
	if dir == "stonith_host" {
		host, r := rest, ""
		if i := strings.IndexAny(rest, whitespace); i >= 0 {
			host, r = rest[:i], rest[i:]
		}
		s.Host, rest = asciiLower(host), strings.TrimLeft(r, whitespace)
	}
	typ, params := rest, ""
	if i := strings.IndexAny(rest, whitespace); i >= 0 {
		typ, params = rest[:i], strings.TrimLeft(rest[i:], whitespace)
	}
	s.Type, s.Params = typ, params
	switch {
	case dir == "stonith_host" && s.Type == "":
		p.r.errorf(ln, "stonith_host: syntax: stonith_host HOST|* TYPE PARAMS... (no STONITH type given)")
		return
	case dir == "stonith" && s.Params == "":
		p.r.errorf(ln, "stonith: syntax: stonith TYPE CONFIGFILE (no parameter file given)")
		return
	}
	p.h.Stonith = append(p.h.Stonith, s)
	if !s.AppliesTo(p.opt.NodeName) {
		return // Heartbeat does not read a line meant for another node further
	}
	if p.opt.StonithCheck != nil {
		if err := p.opt.StonithCheck(s); err != nil {
			p.r.wrapf(ln, err, "%s: %v", dir, err)
			return
		}
	}
	if p.stonithLine != 0 {
		p.r.warnf(ln, "%s: replaces the STONITH device of line %d: only the last line that applies to this node is used, as with Heartbeat", dir, p.stonithLine)
	}
	p.stonithLine = ln
}

func (p *hacfParser) addRespawn(ln int, dir, rest string) {
	rest = strings.TrimLeft(rest, whitespace)
	user, cmd := rest, ""
	if i := strings.IndexAny(rest, whitespace); i >= 0 {
		user, cmd = rest[:i], strings.TrimSpace(rest[i:])
	}
	if cmd == "" {
		p.r.errorf(ln, "%s: missing command (syntax: %s USER /path/to/program [args])", dir, dir)
		return
	}
	f := fields(cmd)
	builtIn := path.Base(f[0]) == builtInRespawn
	// Heartbeat refuses a line whose user or program is missing. ipfail is
	// never run here, so for it a missing one is only worth a warning: a
	// pair moved from Heartbeat keeps working once the heartbeat package
	// (and with it the program, or the hacluster user) is gone.
	bad := false
	refuse := func(format string, a ...any) {
		if builtIn {
			p.r.warnf(ln, format+"; hbd's built-in ipfail does its job, but Heartbeat would refuse this line", a...)
			return
		}
		p.r.errorf(ln, format, a...)
		bad = true
	}
	if p.opt.UserExists != nil && !p.opt.UserExists(user) {
		refuse("%s: invalid user %q", dir, user)
	}
	if !strings.HasPrefix(f[0], "/") {
		p.r.errorf(ln, "%s: command %q is not a full path name", dir, f[0])
		return
	}
	if p.opt.Executable != nil {
		if err := p.opt.Executable(f[0]); err != nil {
			refuse("%s: command %q cannot be run: %v", dir, f[0], err)
		}
	}
	if !bad {
		p.h.Respawns = append(p.h.Respawns, Respawn{User: user, Path: f[0], Args: f[1:], Command: cmd,
			Failfast: dir == "failfast", BuiltIn: builtIn, Line: ln})
	}
}

// addAPIAuth is set_api_authorization: CLIENT then uid=LIST and/or gid=LIST.
func (p *hacfParser) addAPIAuth(rest string) error {
	f := fields(rest)
	if len(f) == 0 {
		return fmt.Errorf("missing client name")
	}
	client := f[0]
	var a APIAuth
	var haveUID, haveGID bool
	for _, w := range f[1:] {
		var list *[]string
		var have *bool
		switch {
		case strings.HasPrefix(w, "uid="):
			list, have = &a.UIDs, &haveUID
		case strings.HasPrefix(w, "gid="):
			list, have = &a.GIDs, &haveGID
		default:
			return fmt.Errorf("%q: missing uid= or gid=", w)
		}
		if *have {
			return fmt.Errorf("duplicate %s list", w[:3])
		}
		*have = true
		for _, id := range strings.Split(w[4:], ",") {
			if id != "" {
				*list = append(*list, id)
			}
		}
		if len(*list) == 0 {
			return fmt.Errorf("empty %s list", w[:3])
		}
	}
	if !haveUID && !haveGID {
		return fmt.Errorf("client %q: one of uid= or gid= is required", client)
	}
	if _, dup := p.h.APIAuth[client]; dup {
		return fmt.Errorf("duplicate apiauth for client %q", client)
	}
	p.h.APIAuth[client] = a
	return nil
}

// finish applies defaults and the cross-checks of init_config.
func (p *hacfParser) finish() {
	h := p.h
	p.finishConsole()
	for _, d := range defaultAPIAuth {
		if _, ok := h.APIAuth[d.client]; !ok {
			_ = p.addAPIAuth(d.client + " " + d.spec)
		}
	}
	for i := range optionDirectives {
		d := &optionDirectives[i]
		if d.def == "" {
			continue
		}
		if _, ok := h.Params[d.name]; ok {
			continue
		}
		if !d.refused {
			_ = d.apply(p, 0, d.def) // defaults are valid values
		}
		h.Params[d.name] = d.def
	}
	if _, ok := h.Params["debug"]; !ok {
		h.Params["debug"] = strconv.Itoa(h.Debug)
	}

	links := 0
	for _, m := range h.Media {
		if !m.IsPing() {
			links++
		}
	}
	if links == 0 {
		p.r.errorf(0, "no heartbeat media defined (add bcast, mcast or ucast; ping nodes are not heartbeat links)")
	}
	if p.warntime <= 0 {
		p.warntime = p.deadtime / 2
		h.Params["warntime"] = fmt.Sprintf("%dms", p.warntime)
	}
	if len(h.Nodes) == 0 {
		p.r.errorf(0, "no nodes defined (add 'node NAME' lines, one per cluster member)")
	}
	if me := asciiLower(p.opt.NodeName); me != "" && len(h.Nodes) > 0 && !p.nodeSeen[me] {
		p.r.errorf(0, "current node [%s] not in configuration: cluster nodes are named by `uname -n` and must be declared with a 'node' directive", me)
	}
	if p.deadtime <= 2*p.keepalive {
		p.r.errorf(p.timingLine("deadtime", "keepalive"), "dead time [%dms] is too small compared to keepalive [%dms]: deadtime must be more than twice keepalive", p.deadtime, p.keepalive)
	}
	if p.initdead < 0 {
		switch {
		case p.deadtime > 10000:
			p.initdead = p.deadtime
		case p.deadtime < 6000:
			p.initdead = 12000
		default:
			p.initdead = 2 * p.deadtime
		}
		h.Params["initdead"] = fmt.Sprintf("%dms", p.initdead)
	}
	if p.initdead < p.deadtime {
		p.r.errorf(p.timingLine("initdead", "deadtime"), "initial dead time [%dms] is smaller than deadtime [%dms]", p.initdead, p.deadtime)
	} else if p.initdead < 10000 {
		p.r.warnf(p.lineOf["initdead"], "initial dead time [%d ms] may be too small: it accounts for slow network startup and should be >= deadtime and >= 10 seconds", p.initdead)
	}
	if p.deadping < 0 {
		p.deadping = p.deadtime
		h.Params["deadping"] = fmt.Sprintf("%dms", p.deadping)
	} else if p.deadping <= 2*p.keepalive {
		p.r.errorf(p.timingLine("deadping", "keepalive"), "ping dead time [%dms] is too small compared to keepalive [%dms]", p.deadping, p.keepalive)
	}
	if _, ok := h.Params["udpport"]; !ok {
		h.Params["udpport"] = strconv.Itoa(h.UDPPort)
	}
	if h.AutoFailback == "legacy" {
		p.r.warnf(p.lineOf["auto_failback"], "deprecated 'legacy' auto_failback option selected; please convert to 'auto_failback on'")
	}
	// check_logd_usage
	if h.LogFile == "" && h.DebugFile == "" && !p.facility {
		switch {
		case p.useLogd == nil:
			h.UseLogd = true
			h.Params["use_logd"] = "yes"
		case !*p.useLogd:
			p.r.errorf(p.lineOf["use_logd"], "no log entry found in ha.cf and use_logd is set to off (add logfacility, logfile or debugfile)")
		}
	}
	if p.facility {
		if h.LogFile == "" {
			h.Params["logfile"] = "/dev/null"
		}
		if h.DebugFile == "" {
			h.Params["debugfile"] = "/dev/null"
		}
	}
	if h.Autojoin != "none" {
		p.r.errorf(p.lineOf["autojoin"], "autojoin %s: R1 style (haresources) resource management conflicts with autojoin; remove the autojoin line", h.Autojoin)
	}
	h.Keepalive, h.Deadtime, h.Warntime = msec(p.keepalive), msec(p.deadtime), msec(p.warntime)
	h.Initdead, h.Deadping = msec(p.initdead), msec(p.deadping)
}

// timingLine picks the line to blame for a timing conflict: the first of the
// named directives that was actually written.
func (p *hacfParser) timingLine(names ...string) int {
	for _, n := range names {
		if l := p.lineOf[n]; l > 0 {
			return l
		}
	}
	return 0
}

// ParamNames lists the recorded parameter names, sorted (for dumps).
func (h *HACF) ParamNames() []string {
	names := make([]string, 0, len(h.Params))
	for n := range h.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
