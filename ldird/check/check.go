// Package check implements ldirectord's health checks (connect, negotiate for
// every service ldirectord knows, ping, external, on, off, combined) and the
// Runner that schedules them: every real on its own period and deadline, run
// by a pool of goroutines, so a hung real never holds up another.
//
// The behaviour of each check follows /usr/sbin/ldirectord 4.12 (Debian 12);
// deviations are listed in README.md next to this file.
package check

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Default timeouts used by ldirectord when neither checktimeout nor
// negotiatetimeout is configured anywhere (ld_setup).
const (
	DefaultCheckTimeout     = 5 * time.Second
	DefaultNegotiateTimeout = 30 * time.Second
)

// maxBody bounds how much of a reply (HTTP body, FTP file, ...) is read and
// matched, so a real streaming garbage cannot exhaust memory.
const maxBody = 1 << 20

// Spec describes one check as configured for a virtual service (with the
// per-real request/receive already applied by the caller).
type Spec struct {
	// Type is the checktype: connect, negotiate, ping, external,
	// external-perl, on, off or combined (ldirectord's "checktype=N").
	Type string
	// Combined is N for Type "combined": one negotiate, then N connects.
	Combined int
	// Service is the negotiate protocol: http https http_proxy ftp smtp
	// submission pop pops imap imaps nntp ldap ldaps dns radius sip mysql
	// pgsql simpletcp oracle none. Empty means none.
	Service string
	// Protocol of the virtual service: tcp, udp or fwm. Empty means tcp.
	Protocol string
	// Request and Receive as ldirectord stores them: Request normally
	// starts with "/" (ldirectord adds it), Receive is a regular expression
	// in Go RE2 syntax (see README.md for differences from Perl).
	Request, Receive string
	// VirtualHost is the Host header for http/https (default: the real IP).
	VirtualHost string
	// HTTPMethod is GET or HEAD (default GET).
	HTTPMethod string
	// Login, Passwd, Database, Secret as in ldirectord.cf.
	Login, Passwd, Database, Secret string
	// CheckPort overrides the real's port for the check when > 0.
	CheckPort int
	// CheckCount is the number of ICMP attempts of a ping check (default 1).
	CheckCount int
	// CheckCommand is the program run by external checks (default /bin/true).
	CheckCommand string
	// Virtual is the virtual service (external's first two arguments).
	Virtual Target
	// ConnectTimeout is ldirectord's checktimeout, NegotiateTimeout its
	// negotiatetimeout. Zero values fall back to each other, then to 5 s and
	// 30 s, as ld_setup does.
	ConnectTimeout, NegotiateTimeout time.Duration
}

// Target is a real (or virtual) server address.
type Target struct {
	IP       netip.Addr
	Port     uint16
	Protocol string // tcp, udp or fwm
	// FwMark identifies a firewall-mark virtual service (IP is then unset).
	FwMark uint32
}

// String formats the target as ldirectord logs it (ip:port, [v6]:port).
func (t Target) String() string {
	if !t.IP.IsValid() {
		return strconv.FormatUint(uint64(t.FwMark), 10)
	}
	return netip.AddrPortFrom(t.IP, t.Port).String()
}

// Result is the outcome of one check.
type Result struct {
	OK      bool
	Err     error         // why the check failed (nil when OK)
	Latency time.Duration // wall time of the check
	Detail  string        // short text for logs/monitorfile (status line, reply)
}

// Checker checks one real server. Implementations are safe for concurrent use.
type Checker interface {
	Check(ctx context.Context, real Target) Result
}

// quickChecker is a Checker whose check starts without waiting and often
// ends so (a connect to a near real, checktype on), or then waits only
// for its socket (plain http: the reply). The Runner runs the begin of
// many reals in turn on one goroutine, and their waits in one wait set: a
// goroutine woken for each check cost more than the check's own work.
type quickChecker interface {
	Checker
	begin(ctx context.Context, real Target) quickStart
}

// quickStart is what begin did: the result (res) when the check is over;
// or a check that waits for its socket (wait: a connect whose handshake
// is under way, an http exchange), for a wait set; or rest, the part that
// must wait, for a goroutine of its own.
type quickStart struct {
	res  Result
	wait waiter
	rest func() Result
}

// checkQuick is one check of q on its own.
func checkQuick(q quickChecker, ctx context.Context, real Target) Result {
	s := q.begin(ctx, real)
	switch {
	case s.wait != nil:
		return s.wait.alone()
	case s.rest != nil:
		return s.rest()
	}
	return s.res
}

// ErrConfig marks errors New returns for a Spec that cannot work.
var ErrConfig = errors.New("check configuration")

func configErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
}

// base holds what every check needs, resolved once at New.
type base struct {
	spec             Spec
	recv             receivePattern
	connectTimeout   time.Duration
	negotiateTimeout time.Duration
	dialer           net.Dialer
}

// New validates spec and returns the Checker for it.
func New(spec Spec) (Checker, error) {
	b, err := newBase(spec)
	if err != nil {
		return nil, err
	}
	switch spec.Type {
	case "on":
		return static{ok: true, detail: "checktype on"}, nil
	case "off":
		return static{ok: false, detail: "checktype off"}, nil
	case "connect":
		return newConnect(b)
	case "ping":
		return newPing(b, b.connectTimeout), nil
	case "external":
		return newExternal(b, false)
	case "external-perl":
		return newExternal(b, true)
	case "negotiate", "":
		return newNegotiate(b)
	case "combined":
		if spec.Combined < 0 {
			return nil, configErr("combined checktype needs N >= 0, got %d", spec.Combined)
		}
		neg, err := newNegotiate(b)
		if err != nil {
			return nil, err
		}
		conn, err := newConnect(b)
		if err != nil {
			return nil, err
		}
		return newCombined(neg, conn, spec.Combined), nil
	}
	return nil, configErr("unknown checktype %q", spec.Type)
}

func newBase(spec Spec) (*base, error) {
	b := &base{spec: spec}
	if b.spec.Protocol == "" {
		b.spec.Protocol = "tcp"
	}
	switch b.spec.Protocol {
	case "tcp", "udp", "fwm":
	default:
		return nil, configErr("unknown protocol %q", spec.Protocol)
	}
	if b.spec.Service == "" {
		b.spec.Service = "none"
	}
	if spec.Receive != "" {
		re, err := compileReceive(spec.Receive)
		if err != nil {
			return nil, fmt.Errorf("%w: receive %q is not a supported regular expression: %v", ErrConfig, spec.Receive, err)
		}
		b.recv.re = re
		if lit, complete := re.LiteralPrefix(); complete {
			b.recv.lit, b.recv.isLit = []byte(lit), true
		}
	}
	if spec.CheckPort < 0 || spec.CheckPort > 65535 {
		return nil, configErr("checkport %d out of range", spec.CheckPort)
	}
	// ld_setup: checktimeout and negotiatetimeout default to each other.
	b.connectTimeout, b.negotiateTimeout = spec.ConnectTimeout, spec.NegotiateTimeout
	if b.connectTimeout <= 0 {
		b.connectTimeout = spec.NegotiateTimeout
	}
	if b.connectTimeout <= 0 {
		b.connectTimeout = DefaultCheckTimeout
	}
	if b.negotiateTimeout <= 0 {
		b.negotiateTimeout = spec.ConnectTimeout
	}
	if b.negotiateTimeout <= 0 {
		b.negotiateTimeout = DefaultNegotiateTimeout
	}
	if b.spec.CheckCount <= 0 {
		b.spec.CheckCount = 1
	}
	if b.spec.HTTPMethod == "" {
		b.spec.HTTPMethod = "GET"
	}
	b.spec.HTTPMethod = strings.ToUpper(b.spec.HTTPMethod)
	if b.spec.CheckCommand == "" {
		b.spec.CheckCommand = "/bin/true"
	}
	return b, nil
}

// receiveCache shares compiled receive patterns between checkers (a
// director builds one checker per real: 10,000 reals of a virtual would
// otherwise hold 10,000 copies of one program). A Regexp is safe for
// concurrent use. Bounded: it starts afresh when full.
var receiveCache struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}

func compileReceive(pattern string) (*regexp.Regexp, error) {
	receiveCache.Lock()
	defer receiveCache.Unlock()
	if re, ok := receiveCache.m[pattern]; ok {
		return re, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	if receiveCache.m == nil || len(receiveCache.m) >= 256 {
		receiveCache.m = map[string]*regexp.Regexp{}
	}
	receiveCache.m[pattern] = re
	return re, nil
}

// servicePorts is ld_service_to_port.
var servicePorts = map[string]uint16{
	"ftp": 21, "smtp": 25, "dns": 53, "http": 80, "pop": 110, "nntp": 119,
	"imap": 143, "ldap": 389, "https": 443, "submission": 587, "ldaps": 636,
	"imaps": 993, "pops": 995, "oracle": 1521, "radius": 1812,
	"http_proxy": 3128, "mysql": 3306, "sip": 5060, "pgsql": 5432,
}

// ServicePort returns the well-known port ldirectord uses for service, or 0.
func ServicePort(service string) uint16 { return servicePorts[service] }

// port is ld_checkport: checkport, else the real's port, else the service's.
func (b *base) port(real Target) (uint16, error) {
	return portOf(b.checkPort(), real, b)
}

// checkPort is checkport (0: none), for a checker to keep beside it.
func (b *base) checkPort() uint16 { return uint16(max(b.spec.CheckPort, 0)) }

// portOf is b.port with checkport from a checker's own copy (see
// connectChecker): b is read only when neither it nor the real has one.
func portOf(checkPort uint16, real Target, b *base) (uint16, error) {
	if checkPort > 0 {
		return checkPort, nil
	}
	if real.Port > 0 {
		return real.Port, nil
	}
	if p := servicePorts[b.spec.Service]; p > 0 {
		return p, nil
	}
	return 0, fmt.Errorf("no port to check %s: set checkport or a real port (service %s has no default)", real.IP, b.spec.Service)
}

// addr resolves the dial address ip:port for real.
func (b *base) addr(real Target) (string, error) {
	if !real.IP.IsValid() {
		return "", errors.New("real server has no IP address")
	}
	p, err := b.port(real)
	if err != nil {
		return "", err
	}
	return netip.AddrPortFrom(real.IP, p).String(), nil
}

// request returns the request without ldirectord's leading "/".
func (b *base) request() string { return strings.TrimPrefix(b.spec.Request, "/") }

// dial opens a connection with the check's context (its deadline bounds the
// connect and, via SetDeadline, all later I/O).
func (b *base) dial(ctx context.Context, network string, real Target) (net.Conn, error) {
	a, err := b.addr(real)
	if err != nil {
		return nil, err
	}
	c, err := b.dialer.DialContext(ctx, network, a)
	if err != nil {
		return nil, fmt.Errorf("connect %s/%s: %w", network, a, err)
	}
	bindConn(ctx, c)
	return c, nil
}

// dialProtocol connects to real over the virtual's protocol, udp or tcp:
// the services ldirectord runs over either (simpletcp, sip).
func (b *base) dialProtocol(ctx context.Context, real Target) (net.Conn, error) {
	network := "tcp"
	if b.spec.Protocol == "udp" {
		network = "udp"
	}
	return b.dial(ctx, network, real)
}

// datagramReply reads a UDP reply, which arrives whole in one datagram.
func datagramReply(c net.Conn) (*bufio.Reader, error) {
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return bufio.NewReader(bytes.NewReader(buf[:n])), nil
}

// bindConn makes every I/O on c obey ctx: the deadline is copied, and a
// cancellation (Remove, Stop) interrupts blocked reads at once.
func bindConn(ctx context.Context, c net.Conn) {
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
}

// finish builds a Result.
func finish(start time.Time, err error, detail string) Result {
	r := Result{OK: err == nil, Err: err, Latency: time.Since(start), Detail: detail}
	if err != nil && detail == "" {
		r.Detail = err.Error()
	}
	return r
}

// receivePattern is receive compiled: re is nil when Receive is empty;
// lit is re when it is a plain literal (no metacharacters, no flags),
// matched as a substring.
type receivePattern struct {
	re    *regexp.Regexp
	lit   []byte
	isLit bool
}

// match reports whether the pattern matches reply (re must be set).
func (p receivePattern) match(reply []byte) bool {
	if p.isLit {
		return bytes.Contains(reply, p.lit)
	}
	return p.re.Match(reply)
}

// errNoMatch is returned when a reply does not match receive.
var errNoMatch = errors.New("response does not match receive")

// static is checktype on/off and service none.
type static struct {
	ok     bool
	detail string
}

func (s static) begin(ctx context.Context, real Target) quickStart {
	return quickStart{res: s.Check(ctx, real)}
}

func (s static) Check(context.Context, Target) Result {
	if s.ok {
		return Result{OK: true, Detail: s.detail}
	}
	return Result{OK: false, Err: errors.New(s.detail), Detail: s.detail}
}

// negotiate timeouts: ldirectord wraps each negotiate check in its own
// timeout; withTimeout applies it on top of the caller's context.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

func newNegotiate(b *base) (Checker, error) {
	switch b.spec.Service {
	case "none":
		return static{ok: true, detail: "service none"}, nil
	case "http", "https", "http_proxy":
		return newHTTP(b)
	case "ftp":
		return &ftpChecker{b: b}, nil
	case "smtp", "submission":
		return &smtpChecker{b: b}, nil
	case "pop", "pops":
		return &popChecker{b: b, tls: b.spec.Service == "pops"}, nil
	case "imap", "imaps":
		return &imapChecker{b: b, tls: b.spec.Service == "imaps"}, nil
	case "nntp":
		return &nntpChecker{b: b}, nil
	case "ldap", "ldaps":
		return &ldapChecker{b: b, tls: b.spec.Service == "ldaps"}, nil
	case "dns":
		return newDNS(b)
	case "radius":
		return &radiusChecker{b: b}, nil
	case "sip":
		return &sipChecker{b: b}, nil
	case "simpletcp":
		return &simpleTCPChecker{b: b}, nil
	case "mysql", "pgsql":
		return newSQL(b)
	case "oracle":
		return nil, configErr("service oracle is not supported: there is no Oracle client in this build; use checktype=connect or external for Oracle reals")
	}
	return nil, configErr("unknown service %q", b.spec.Service)
}
