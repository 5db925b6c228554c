// Package config reads ldirectord.cf into a typed, validated Config, the way
// ldirectord 4.12 (Debian 1:4.12.0-2, "Linux Director v1.186-ha") reads it:
// the same directives, defaults, indentation and quoting rules, so an
// administrator's file runs unchanged under ldird. Every problem is reported
// at once with its file and line; the directives are one table
// (directives.go) saying how each is read at global level and inside a
// virtual section.
//
// Differences from ldirectord are deliberate and few:
//
//   - Every problem is reported with file:line and all of them are collected
//     (ldirectord dies at the first). Nothing is applied from a file that has
//     an error: the caller keeps its old Config, globals included
//     (ldirectord resets the globals to their defaults on a failed reload).
//   - Lines that ldirectord silently misreads are refused with a message that
//     says what ldirectord would have done: "virtual = 127.0.0.100" (no port;
//     ldirectord makes it firewall mark 127), fwmark 0, "persistent = 0",
//     weights above 65535, the same real twice in one virtual, more than two
//     words in a fallback line, IPv4 ranges that are too large.
//   - Text after a value that ldirectord ignores (for example
//     "virtual = 10.0.0.1:80 junk") is accepted with a warning, unless it is a
//     "# comment".
//   - A trailing carriage return (a file saved with CRLF line ends) is
//     ignored; ldirectord would reject "autoreload = yes\r".
//   - No side effects unless Options.FileChecks is set: ldirectord opens the
//     logfile and every monitorfile for append while parsing (with
//     Options.NoCreate the same checks are made without opening them).
//
// Extensions (lines that ldirectord itself would reject with "Unknown
// command"): global only, "dataplane = ipvs|userspace",
// "metrics = ADDRESS:PORT" (serve Prometheus metrics there) and
// "syncdaemon = IFACE [syncid=N] [maxlen=N] [mcast=GROUP[:PORT]] [ttl=N]"
// (run the kernel's IPVS connection synchronisation daemons); for the
// userspace dataplane only, "maxconn", "clienttimeout" and "servertimeout",
// global and per virtual (see proxy.go).
package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"lvsha/ldird/dataplane"
)

// Options adjusts how names are resolved and what the parser may touch.
// The zero value resolves with the system resolver and touches no file.
type Options struct {
	// LookupHost resolves a host name (never an IP literal) to addresses.
	// The parser keeps the first address of the family it needs (IPv4 for
	// virtual/real/fallback, IPv6 for virtual6/real6/fallback6), as
	// ldirectord's getaddrinfo(name, 0, family) does. Nil means the system
	// resolver with a 10 s timeout.
	LookupHost func(host string) ([]net.IP, error)
	// LookupPort resolves a service name ("http", "domain") for proto "tcp",
	// "udp" or "" (either). Numbers never reach it. Nil means the system's
	// services database (net.LookupPort).
	LookupPort func(proto, service string) (int, error)
	// Hostname is $HOSTNAME in the ftp/sip default credentials
	// ("ldirectord@HOSTNAME"). Empty means the HOSTNAME environment
	// variable, else os.Hostname, as ldirectord does.
	Hostname string
	// FileChecks does the file-system checks ldirectord does while parsing:
	// an absolute logfile and every monitorfile must open for append (they
	// are created if missing), and a missing maintenancedir is a warning.
	FileChecks bool
	// NoCreate makes FileChecks look without touching anything (`ldird
	// -t`): an existing file must be writable, a missing one's directory
	// must exist and be writable, and the error is the one the open
	// would give.
	NoCreate bool
	// MaxReals bounds the number of real servers in one file, so that a
	// range such as 10.0.0.0->10.255.255.255 cannot exhaust memory. Zero
	// means DefaultMaxReals.
	MaxReals int
}

// DefaultMaxReals is the default Options.MaxReals.
const DefaultMaxReals = 65536

// Config is one parsed ldirectord.cf.
type Config struct {
	Path     string // the name given to Parse or ParseBytes
	Global   Global
	Virtuals []*Virtual // in file order
	Warnings []*Warning // what ldirectord would warn about, plus tolerated oddities
}

// Dataplane names for the "dataplane" extension directive.
const (
	DataplaneIPVS      = "ipvs"      // the kernel's IPVS table (what ldirectord drives via ipvsadm)
	DataplaneUserspace = "userspace" // ldird's own L4 proxy, for hosts without IPVS
)

// Global holds the global directives. The ones that a virtual section may
// override are also resolved into each Virtual; read them there.
type Global struct {
	CheckTimeout     time.Duration // checktimeout; 0 = not set (see CheckSpec.CheckTimeout)
	NegotiateTimeout time.Duration // negotiatetimeout; 0 = not set
	CheckInterval    time.Duration // checkinterval; default 10s
	CheckCount       int           // checkcount (deprecated; ping attempts); default 1
	FailureCount     int           // failurecount; default 1
	AutoReload       bool          // autoreload; default no
	Callback         string        // callback = "path": run with the config path when the file changes
	Fallback         *GlobalFallback
	Fallback6        *GlobalFallback
	// FallbackCommand is a shell command line; ldirectord appends
	// " start|stop VIP:PORT PROTO" and runs it with system(). At global level
	// ldirectord keeps quotes as written (the shell removes them).
	FallbackCommand  string
	LogFile          string   // logfile; default "/var/log/ldirectord.log"; not starting with "/" = syslog facility
	Execute          []string // execute = other.cf (each once, in file order)
	Fork             bool     // fork; default no
	Supervised       bool     // supervised; default no
	Quiescent        bool     // quiescent; default no (the man page says yes; the code says no)
	ReaddQuiescent   bool     // readdquiescent; default no
	EmailAlert       string   // emailalert; "" = off
	EmailAlertFreq   time.Duration
	EmailAlertStatus AlertStatus // default AlertAll
	EmailAlertFrom   string
	CleanStop        bool   // cleanstop; default yes
	SMTP             string // smtp server; "" = local sendmail
	MaintenanceDir   string

	// Dataplane is the extension directive "dataplane = ipvs|userspace"
	// (global only; default "ipvs"). It chooses what ldird programs: the
	// kernel IPVS table, or its userspace proxy.
	Dataplane string
	// Metrics is the extension directive "metrics = ADDRESS:PORT" (global
	// only; default "": off): ldird serves Prometheus metrics on /metrics
	// at that TCP address. ldird's --metrics option overrides it.
	Metrics string
	// MaxConn is the extension directive "maxconn = N" at global level
	// (dataplane = userspace only; 0 = not set: the proxy derives a limit
	// from the file descriptor limit): connections and UDP sessions at
	// once over every virtual.
	MaxConn int
	// ClientTimeout and ServerTimeout are the extension directives
	// "clienttimeout = S" and "servertimeout = S" (dataplane = userspace
	// only; 0 = not set): the virtuals' default idle timeouts.
	ClientTimeout time.Duration
	ServerTimeout time.Duration
	// SyncDaemon is the extension directive "syncdaemon = IFACE ..."
	// (global only; nil: off): the kernel's IPVS connection
	// synchronisation daemons ldird runs. Refused with dataplane =
	// userspace.
	SyncDaemon *SyncDaemon
}

// GlobalFallback is a global fallback= / fallback6= line. ldirectord
// resolves its port separately for tcp and udp virtuals; without a port,
// each virtual uses its own port.
type GlobalFallback struct {
	Line    int
	Host    string // as written
	Addr    netip.Addr
	HasPort bool
	TCPPort uint16
	UDPPort uint16
	Method  string // gate (default), masq or ipip
}

// AlertStatus is a set of daemon states in which email alerts are sent.
type AlertStatus uint8

// The states of emailalertstatus.
const (
	AlertStarting  AlertStatus = 1 << iota // ldirectord's DAEMON_STATUS_STARTING
	AlertRunning                           // ..._RUNNING
	AlertStopping                          // ..._STOPPING
	AlertReloading                         // ..._RELOADING
	AlertNone      AlertStatus = 0
	AlertAll                   = AlertStarting | AlertRunning | AlertStopping | AlertReloading
)

func (s AlertStatus) String() string {
	switch s {
	case AlertNone:
		return "none"
	case AlertAll:
		return "all"
	}
	var out []string
	for _, x := range []struct {
		bit  AlertStatus
		name string
	}{{AlertStarting, "starting"}, {AlertRunning, "running"}, {AlertStopping, "stopping"}, {AlertReloading, "reloading"}} {
		if s&x.bit != 0 {
			out = append(out, x.name)
		}
	}
	return strings.Join(out, ",")
}

// CheckType is a checktype= value. A number N is stored as CheckCombined
// with CheckSpec.Connects = N.
type CheckType string

// The check types of ldirectord 4.12.
const (
	CheckNegotiate    CheckType = "negotiate"
	CheckConnect      CheckType = "connect"
	CheckPing         CheckType = "ping"
	CheckOff          CheckType = "off"
	CheckOn           CheckType = "on"
	CheckExternal     CheckType = "external"
	CheckExternalPerl CheckType = "external-perl"
	CheckCombined     CheckType = "combined" // checktype = N: one negotiate, then N connects
)

// Virtual is one virtual= / virtual6= section with every setting resolved:
// values a section does not set are inherited from the globals, so Virtual
// alone says how to run the service.
type Virtual struct {
	Line     int
	IPv6     bool           // virtual6=
	Addr     netip.AddrPort // the service address; zero for a fwmark service
	FWMark   uint32         // non-zero for "virtual = N"
	Host     string         // the address as written (host:service, [v6]:port or the mark)
	Protocol string         // "tcp", "udp" or "fwm"

	Scheduler  string        // scheduler; default "wrr" (any [a-z]+, not checked against a list)
	Persistent time.Duration // persistent; 0 = not persistent
	Netmask    int           // netmask as a prefix length; 0 = not set. Used only when Persistent > 0
	SchedFlags string        // schedflags (ipvsadm -b), as written
	// Flags is SchedFlags read as ipvsadm reads it (checked against the
	// scheduler when the file is loaded).
	Flags dataplane.SchedFlags
	OPS   bool // ops: one-packet scheduling, udp only

	Reals []*Real
	// Fallback is the effective fallback server: the section's own, else
	// the global one for the virtual's address family. Nil when neither.
	Fallback        *Real
	FallbackCommand string // effective fallbackcommand (shell command line)

	Quiescent        bool // effective quiescent
	CleanStop        bool // effective cleanstop
	EmailAlert       string
	EmailAlertFreq   time.Duration
	EmailAlertStatus AlertStatus
	SMTP             string
	MonitorFile      string // monitorfile; "" = none
	ServiceName      string // servicename (email subject)
	Comment          string // comment (email body)
	Load             string // load = "word": parsed and unused by ldirectord

	// Userspace dataplane only (extension directives, see proxy.go).
	MaxConn       int           // the virtual's own maxconn; 0 = none (the global one still bounds it)
	ClientTimeout time.Duration // effective clienttimeout; 0 = the dataplane's default
	ServerTimeout time.Duration // effective servertimeout; 0 = the dataplane's default

	Check CheckSpec
}

// CheckSpec is how the reals of a virtual are checked.
type CheckSpec struct {
	Type     CheckType // default negotiate
	Connects int       // N of "checktype = N" (CheckCombined)
	// Service is the negotiate protocol; when not given it follows the
	// virtual port (80 http, 443 https, ...; see ServiceForPort), and is
	// "none" for other ports and for fwmark services.
	Service     string
	Request     string // request; default "/"; always starts with "/"
	Receive     string // receive: a Perl regular expression; "" = no content check
	VirtualHost string // virtualhost: the HTTP Host header; "" = the real's address
	HTTPMethod  string // GET (default) or HEAD
	Login       string // ftp: "anonymous", sip: "ldirectord@HOSTNAME" when service= is given and login is empty
	Passwd      string // ftp: "ldirectord@HOSTNAME" when service=ftp is given and passwd is empty
	Database    string
	Secret      string // radius shared secret
	CheckPort   uint16 // checkport; 0 = the real's port (see Virtual.CheckPortFor)
	// CheckCommand is the external / external-perl command; default
	// "/bin/true". It is run with VIP VPORT RIP RPORT appended.
	CheckCommand string

	// CheckTimeout is the effective timeout of connect, ping and external
	// checks: the first set of virtual checktimeout, virtual
	// negotiatetimeout, global checktimeout, global negotiatetimeout, 5s.
	CheckTimeout time.Duration
	// NegotiateTimeout is the effective timeout of negotiate checks: the
	// first set of virtual negotiatetimeout, virtual checktimeout, global
	// negotiatetimeout, global checktimeout, 30s.
	NegotiateTimeout time.Duration
	// CheckInterval is the pause after a round of checks: the section's
	// checkinterval when fork = yes, else the global one (ldirectord ignores
	// a per-virtual checkinterval with fork = no, with a warning).
	CheckInterval time.Duration
	CheckCount    int // effective checkcount (ping attempts)
	FailureCount  int // effective failurecount: failures in a row before a real goes down
}

// Real is a real server (or, in Virtual.Fallback, the fallback server).
type Real struct {
	Line   int
	Host   string     // the address as written (a range is expanded into one Real per address)
	Addr   netip.Addr // resolved
	Port   uint16     // 0 when not given (usual for fwmark services and gate/ipip)
	Method string     // "gate", "masq" or "ipip"
	Weight int        // default 1
	// Request and Receive are effective: the real's own "request",
	// "receive" pair when the line has one (OwnCheck), else the virtual's.
	Request        string
	Receive        string
	OwnCheck       bool
	LowerThreshold int // l:N (ipvsadm -y); 0 = none
	UpperThreshold int // u:N (ipvsadm -x); 0 = none
}

// Key is the stable identity of a virtual service, for diffing two
// configurations: "tcp 10.0.0.1:80", "udp [2001:db8::1]:53", "fwm 1",
// "fwm6 1".
func (v *Virtual) Key() string {
	if v.Protocol == "fwm" {
		if v.IPv6 {
			return "fwm6 " + strconv.FormatUint(uint64(v.FWMark), 10)
		}
		return "fwm " + strconv.FormatUint(uint64(v.FWMark), 10)
	}
	return v.Protocol + " " + v.Addr.String()
}

// Key is the identity of a real server within its virtual: "10.0.0.1:80",
// "[2001:db8::1]:80".
func (r *Real) Key() string {
	return netip.AddrPortFrom(r.Addr, r.Port).String()
}

// CheckPortFor is the port a check of r connects to, as ldirectord's
// ld_checkport: checkport, else the real's port, else the service's
// well-known port (0 when the service has none).
func (v *Virtual) CheckPortFor(r *Real) uint16 {
	if v.Check.CheckPort != 0 {
		return v.Check.CheckPort
	}
	if r.Port != 0 {
		return r.Port
	}
	return PortForService(v.Check.Service)
}

// CheckKey identifies a check so that a real listed in several virtuals
// with the same check is checked once per round, as ldirectord's
// get_real_id_str does (check type and service or command, protocol,
// address, port, virtualhost, checkport, weight, method, request, receive).
func (v *Virtual) CheckKey(r *Real) string {
	check := string(v.Check.Type)
	switch v.Check.Type {
	case CheckNegotiate, CheckCombined:
		check += ":" + v.Check.Service
	case CheckExternal, CheckExternalPerl:
		check += ":" + v.Check.CheckCommand
	}
	cp := ""
	if v.Check.CheckPort != 0 {
		cp = strconv.Itoa(int(v.Check.CheckPort))
	}
	return strings.Join([]string{check, v.Protocol, r.Addr.String(), strconv.Itoa(int(r.Port)),
		v.Check.VirtualHost, cp, strconv.Itoa(r.Weight), r.Method,
		strconv.Quote(r.Request), strconv.Quote(r.Receive)}, "|")
}

// Virtual returns the virtual with the given Key, or nil.
func (c *Config) Virtual(key string) *Virtual {
	for _, v := range c.Virtuals {
		if v.Key() == key {
			return v
		}
	}
	return nil
}

// wellKnown is ldirectord's ld_port_to_service / ld_service_to_port table.
var wellKnown = []struct {
	port    uint16
	service string
}{
	{21, "ftp"}, {25, "smtp"}, {53, "dns"}, {80, "http"}, {110, "pop"}, {119, "nntp"},
	{143, "imap"}, {389, "ldap"}, {443, "https"}, {587, "submission"}, {636, "ldaps"},
	{993, "imaps"}, {995, "pops"}, {1521, "oracle"}, {1812, "radius"}, {3128, "http_proxy"},
	{3306, "mysql"}, {5060, "sip"}, {5432, "pgsql"},
}

// ServiceForPort is the service ldirectord assumes for a virtual port when
// service= is not given: "http" for 80 and so on, "none" otherwise.
func ServiceForPort(port uint16) string {
	for _, w := range wellKnown {
		if w.port == port {
			return w.service
		}
	}
	return "none"
}

// PortForService is the well-known port of a service, 0 if it has none
// ("none", "simpletcp").
func PortForService(service string) uint16 {
	for _, w := range wellKnown {
		if w.service == service {
			return w.port
		}
	}
	return 0
}

// Services lists every service= value ldirectord 4.12 accepts.
func Services() []string {
	return []string{"dns", "ftp", "http", "https", "http_proxy", "imap", "imaps", "ldap", "ldaps",
		"mysql", "nntp", "none", "oracle", "pop", "pops", "radius", "pgsql", "simpletcp", "sip",
		"smtp", "submission"}
}
