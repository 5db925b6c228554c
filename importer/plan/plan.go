// Package plan is what an import produces before it is written: the
// cluster (ha.cf, authkeys, haresources), the load balancer
// (ldirectord.cf) and the helper scripts, in terms of hbd's and ldird's
// directives. Mappers fill it; package emit writes it.
package plan

import "time"

// Plan is one import's output.
type Plan struct {
	// Header lines start every written file (provenance).
	Header []string
	HA     *HA  // nil when the input has no failover part
	LVS    *LVS // nil when the input has no virtual servers
	// Scripts are generated helpers (check wrappers, notify resources).
	Scripts []Script
}

// HA is ha.cf, authkeys and haresources.
type HA struct {
	Nodes        []string
	Keepalive    time.Duration
	Warntime     time.Duration
	Deadtime     time.Duration
	Initdead     time.Duration
	UDPPort      int
	Media        []Medium
	AutoFailback bool
	LogFacility  string
	AuthMethod   string // sha1 or md5
	AuthKey      string
	Groups       []Group
}

// Medium is one bcast / mcast / ucast line.
type Medium struct {
	Kind  string // bcast, mcast, ucast (or mcast6/ucast6)
	Iface string
	Addr  string // mcast group or ucast peer
	Port  int    // mcast
	TTL   int    // mcast
	Note  string // comment line written above it
}

// Group is one haresources line.
type Group struct {
	Owner     string
	Resources []string // "IPaddr2::10.0.0.1/24/eth0", "ldirectord::ldirectord.cf"
	Note      []string // comment lines written above it
}

// LVS is ldirectord.cf.
type LVS struct {
	CheckInterval int  // seconds; global
	Fork          bool // needed for per-virtual checkinterval
	CheckTimeout  int  // 0 = unset
	NegTimeout    int  // 0 = unset
	FailureCount  int  // 0 = unset (1)
	Quiescent     bool
	AutoReload    bool
	LogFile       string // "" = default
	EmailAlert    string
	EmailFrom     string
	SMTP          string
	// SyncDaemon is the value of ldird's syncdaemon directive ("" = none):
	// IFACE [syncid=N] [maxlen=N] [mcast=GROUP[:PORT]] [ttl=N].
	SyncDaemon string
	Virtuals   []*Virtual
}

// Virtual is one virtual= section.
type Virtual struct {
	Note []string // comment lines written above it
	// Addr is "ip:port", "[v6]:port" or, for a firewall-mark service, the
	// mark; IPv6 says virtual6.
	Addr       string
	IPv6       bool
	FWMark     bool
	Protocol   string // tcp or udp; "" for fwmark
	Scheduler  string
	Persistent int    // seconds; 0 = not persistent
	Netmask    string // dotted quad (v4) or prefix (v6); only with Persistent
	SchedFlags string
	OPS        bool
	Reals      []*Real

	CheckType    string // connect, negotiate, ping, external, on, off
	Service      string // for negotiate
	Request      string
	Receive      string
	VirtualHost  string
	HTTPMethod   string
	CheckPort    int
	CheckCommand string
	Login        string

	CheckTimeout  int // seconds; 0 = inherit
	NegTimeout    int
	CheckInterval int // per-virtual; needs LVS.Fork
	FailureCount  int

	Quiescent       *bool // nil = inherit the global
	Fallback        string
	FallbackCommand string
}

// Real is one real= line.
type Real struct {
	Addr     string // ip or [v6]
	Port     int    // 0 = none written
	Method   string // gate, masq, ipip
	Weight   int
	Request  string // per-real check (with Receive), written when OwnCheck
	Receive  string
	OwnCheck bool
	Lower    int // l:N
	Upper    int // u:N
}

// Script is a generated helper file.
type Script struct {
	// Name is its path relative to the output directory
	// ("lvsha-checks/web-80", "resource.d/lvsha-notify-VI_1").
	Name string
	// Installed is the absolute path the other files refer to (under the
	// directory the administrator installs the output into).
	Installed string
	Body      string
}
