package config

import (
	"strings"
	"time"
)

// directive is how one ldirectord.cf directive is read where it may
// appear: global at column 0, virtual inside a virtual section. A nil
// handler means ldirectord does not accept the directive there (unknown
// says so, naming where it belongs). name is the directive as written,
// val the rest of the line after "=" (see splitDirective).
type directive struct {
	global  func(p *parser, g *Global, ln int, name, val string)
	virtual func(p *parser, vs *vstate, ln int, name, val string)
}

// directives is every directive ldirectord 4.12 knows, plus the global
// extensions dataplane, metrics and syncdaemon and the userspace proxy's
// maxconn, clienttimeout and servertimeout. "virtual", "virtual6" (a section
// header) and "supervised" (matched without "=") are read before it.
var directives = map[string]directive{
	// Timing and counting: a whole number > 0 (the first run of digits).
	"checktimeout": {
		global:  globalCount(func(g *Global, n int64) { g.CheckTimeout = seconds(n) }),
		virtual: virtualCount(func(vs *vstate, n int64, _ int) { vs.checkTimeout = n }),
	},
	"negotiatetimeout": {
		global:  globalCount(func(g *Global, n int64) { g.NegotiateTimeout = seconds(n) }),
		virtual: virtualCount(func(vs *vstate, n int64, _ int) { vs.negotiateTimeout = n }),
	},
	"checkinterval": {
		global:  globalCount(func(g *Global, n int64) { g.CheckInterval = seconds(n) }),
		virtual: virtualCount(func(vs *vstate, n int64, ln int) { vs.checkInterval, vs.checkIntervalLine = n, ln }),
	},
	"checkcount": {
		global: func(p *parser, g *Global, ln int, name, val string) {
			if n, ok := p.count(ln, name, val); ok {
				g.CheckCount = int(n)
				p.r.warnf(ln, checkCountDeprecated)
			}
		},
		virtual: func(p *parser, vs *vstate, ln int, name, val string) {
			if n, ok := p.count(ln, name, val); ok {
				vs.checkCount = n
				p.r.warnf(ln, checkCountDeprecated)
			}
		},
	},
	"failurecount": {
		global:  globalCount(func(g *Global, n int64) { g.FailureCount = int(n) }),
		virtual: virtualCount(func(vs *vstate, n int64, _ int) { vs.failureCount = n }),
	},
	"connecttimeout": {
		global:  refuse[*Global]("connecttimeout directive deprecated in favour of negotiatetimeout"),
		virtual: refuse[*vstate]("connecttimeout directive deprecated in favour of negotiatetimeout"),
	},
	"timeout": {global: refuse[*Global]("timeout directive deprecated in favour of checktimeout and negotiatetimeout")},

	// yes or no, exactly.
	"autoreload":     {global: globalYesNo(func(g *Global) *bool { return &g.AutoReload })},
	"fork":           {global: globalYesNo(func(g *Global) *bool { return &g.Fork })},
	"readdquiescent": {global: globalYesNo(func(g *Global) *bool { return &g.ReaddQuiescent })},
	"quiescent": overridable(readYesNo,
		func(g *Global) *bool { return &g.Quiescent }, func(vs *vstate) **bool { return &vs.quiescent }),
	"cleanstop": overridable(readYesNo,
		func(g *Global) *bool { return &g.CleanStop }, func(vs *vstate) **bool { return &vs.cleanStop }),
	"ops": {virtual: func(p *parser, vs *vstate, ln int, name, val string) {
		p.yesNo(ln, name, val, &vs.v.OPS)
		vs.opsLine = ln
	}},

	// Fallback server and command.
	"fallback":  {global: globalFallback, virtual: virtualFallback},
	"fallback6": {global: globalFallback, virtual: virtualFallback},
	"fallbackcommand": {
		global: func(p *parser, g *Global, ln int, _, val string) {
			// Global level keeps quotes as written (ldirectord does not strip them here).
			if c := trimRightSpace(val); c != "" {
				g.FallbackCommand = c
			} else {
				p.r.errorf(ln, "invalid fallback command: empty")
			}
		},
		virtual: func(p *parser, vs *vstate, ln int, _, val string) {
			if s := trimRightSpace(unquoteOptional(val)); s != "" {
				vs.fallbackCommand = &s
			} else {
				p.r.errorf(ln, "invalid fallback command: empty")
			}
		},
	},

	// Alerts.
	"emailalert": overridable(anyName((*parser).emailAlert),
		func(g *Global) *string { return &g.EmailAlert }, func(vs *vstate) **string { return &vs.emailAlert }),
	"emailalertfreq": overridable(anyName((*parser).emailAlertFreq),
		func(g *Global) *time.Duration { return &g.EmailAlertFreq }, func(vs *vstate) **time.Duration { return &vs.emailAlertFreq }),
	"emailalertstatus": overridable(anyName((*parser).alertStatus),
		func(g *Global) *AlertStatus { return &g.EmailAlertStatus }, func(vs *vstate) **AlertStatus { return &vs.emailAlertStatus }),
	"emailalertfrom": {global: func(p *parser, g *Global, ln int, _, val string) {
		if a := trimRightSpace(val); a != "" {
			g.EmailAlertFrom = a
		} else {
			p.r.errorf(ln, "no email from address specified")
		}
	}},
	"smtp": overridable(anyName((*parser).smtpHost),
		func(g *Global) *string { return &g.SMTP }, func(vs *vstate) **string { return &vs.smtp }),

	// Global only: files, commands, extensions.
	"callback": {global: func(p *parser, g *Global, ln int, name, val string) {
		if in, after, ok := quoted(val); ok {
			g.Callback = in
			p.trailing(ln, name, after)
		} else {
			p.r.errorf(ln, "callback needs a double-quoted path: callback = \"/path/to/script\"")
		}
	}},
	"logfile": {global: func(p *parser, g *Global, ln int, name, val string) {
		if in, after, ok := quoted(val); ok {
			g.LogFile = in
			p.logLine = ln
			p.trailing(ln, name, after)
		} else {
			p.r.errorf(ln, "logfile needs a double-quoted value: logfile = \"/var/log/ldirectord.log\" or logfile = \"local0\"")
		}
	}},
	"execute": {global: func(_ *parser, g *Global, _ int, _, val string) {
		if x := trimRightSpace(val); x != "" && !contains(g.Execute, x) {
			g.Execute = append(g.Execute, x)
		}
	}},
	"maintenancedir": {global: func(p *parser, g *Global, ln int, _, val string) {
		if d := trimRightSpace(val); d != "" {
			g.MaintenanceDir = d
			p.maintDir = ln
		} else {
			p.r.errorf(ln, "maintenance directory not specified")
		}
	}},
	"dataplane": {global: func(p *parser, g *Global, ln int, _, val string) { // extension
		switch d := stripComment(val); d {
		case DataplaneIPVS, DataplaneUserspace:
			g.Dataplane = d
		default:
			p.r.errorf(ln, "dataplane must be %q or %q, got %q (an ldird extension; ldirectord does not know it)", DataplaneIPVS, DataplaneUserspace, d)
		}
	}},
	"syncdaemon": {global: globalSyncDaemon}, // extension
	"metrics": {global: func(p *parser, g *Global, ln int, _, val string) { // extension
		if a, err := metricsAddr(stripComment(val)); err != nil {
			p.r.errorf(ln, "%v (metrics = ADDRESS:PORT is an ldird extension; ldirectord does not know it)", err)
		} else {
			g.Metrics = a
		}
	}},
	// The userspace proxy's extensions, at both levels (proxy.go).
	"maxconn":       proxyDirective,
	"clienttimeout": proxyDirective,
	"servertimeout": proxyDirective,

	// Virtual only: the reals and the check.
	"real":  {virtual: virtualReal},
	"real6": {virtual: virtualReal},
	"request": {virtual: func(p *parser, vs *vstate, ln int, name, val string) {
		if s, ok := p.quotedValue(ln, name, val, "no request string specified"); ok {
			if !strings.HasPrefix(s, "/") {
				s = "/" + s // ldirectord makes every request a path
			}
			vs.v.Check.Request = s
		}
	}},
	"receive":  {virtual: checkString(func(c *CheckSpec) *string { return &c.Receive }, "invalid receive string: empty")},
	"login":    {virtual: checkString(func(c *CheckSpec) *string { return &c.Login }, "invalid login string: empty")},
	"passwd":   {virtual: checkString(func(c *CheckSpec) *string { return &c.Passwd }, "invalid password: empty")},
	"database": {virtual: checkString(func(c *CheckSpec) *string { return &c.Database }, "invalid database: empty")},
	"secret":   {virtual: checkString(func(c *CheckSpec) *string { return &c.Secret }, "invalid secret: empty")},
	"load": {virtual: func(p *parser, vs *vstate, ln int, _, val string) {
		if in, _, ok := quoted(val); !ok {
			p.r.errorf(ln, "load needs a double-quoted value")
		} else if w := firstRun(in, isWordByte); w == "" {
			p.r.errorf(ln, "invalid string for load testing")
		} else {
			vs.v.Load = w
		}
	}},
	"checktype": {virtual: func(p *parser, vs *vstate, ln int, _, val string) { p.checkType(ln, val, &vs.v.Check) }},
	"checkcommand": {virtual: func(p *parser, vs *vstate, ln int, _, val string) {
		if s := trimRightSpace(unquoteOptional(val)); s != "" {
			vs.v.Check.CheckCommand = s
		} else {
			p.r.errorf(ln, "invalid check command: empty")
		}
	}},
	"checkport": {virtual: func(p *parser, vs *vstate, ln int, name, val string) {
		d, ok := firstDigits(val)
		if !ok {
			p.r.errorf(ln, "invalid port %q for checkport", trimRightSpace(val))
			return
		}
		n, ok := atoiBounded(d, 65535)
		if !ok || n < 1 {
			p.r.errorf(ln, "checkport must be in range 1..65535, got %s", d)
			return
		}
		p.digitsWarning(ln, name, val, d)
		vs.v.Check.CheckPort = uint16(n)
	}},
	"service": {virtual: virtualService},
	"httpmethod": {virtual: func(p *parser, vs *vstate, ln int, _, val string) {
		w := strings.ToUpper(firstRun(val, isWordByte))
		if w != "GET" && w != "HEAD" {
			p.r.errorf(ln, "httpmethod must be GET or HEAD, got %q", trimRightSpace(val))
			return
		}
		vs.v.Check.HTTPMethod = w
	}},
	"virtualhost": {virtual: func(_ *parser, vs *vstate, _ int, _, val string) {
		// /"?([^"]*)"?/: an optional opening quote, then up to the next quote.
		s := strings.TrimPrefix(val, "\"")
		if k := strings.IndexByte(s, '"'); k >= 0 {
			s = s[:k]
		}
		vs.v.Check.VirtualHost = trimRightSpace(s)
	}},

	// Virtual only: the service in the table.
	"scheduler": {virtual: func(p *parser, vs *vstate, ln int, _, val string) {
		if s := firstRun(val, isLower); s != "" {
			vs.v.Scheduler = s
		} else {
			p.r.errorf(ln, "invalid scheduler %q, should be only lowercase letters (a-z)", trimRightSpace(val))
		}
	}},
	"persistent": {virtual: func(p *parser, vs *vstate, ln int, name, val string) {
		d, ok := firstDigits(val)
		if !ok {
			p.r.errorf(ln, "invalid persistent timeout %q", trimRightSpace(val))
			return
		}
		n, ok := atoiBounded(d, 1<<31-1)
		if !ok || n == 0 {
			// ldirectord passes "-p 0" to ipvsadm, which refuses it: the
			// virtual service is never created.
			p.r.errorf(ln, "persistent timeout must be 1..2147483647 seconds, got %s (remove the line for a non-persistent service)", d)
			return
		}
		p.digitsWarning(ln, name, val, d)
		vs.v.Persistent = seconds(n)
	}},
	"schedflags": {virtual: func(p *parser, vs *vstate, ln int, _, val string) {
		if s := firstRun(val, isNonSpace); s != "" {
			vs.v.SchedFlags, vs.schedFlagsLine = s, ln
		} else {
			p.r.errorf(ln, "invalid sched-flags: empty")
		}
	}},
	"netmask": {virtual: func(p *parser, vs *vstate, ln int, _, val string) { p.netmask(ln, val, vs.v) }},
	"protocol": {virtual: func(p *parser, vs *vstate, ln int, _, val string) {
		v := vs.v
		w := firstRun(val, isWordByte)
		switch {
		case w == "":
			p.r.errorf(ln, "invalid protocol: empty")
		case v.Protocol == "fwm" || v.FWMark != 0:
			if w != "fwm" {
				p.r.errorf(ln, "protocol must be fwm if the virtual service is a fwmark (a number)")
			}
		case w == "tcp" || w == "udp":
			v.Protocol = w
		default:
			p.r.errorf(ln, "protocol must be tcp or udp if the virtual service is an address and port, got %q", w)
		}
	}},

	// Virtual only: what is written about the service.
	"monitorfile": {virtual: func(p *parser, vs *vstate, ln int, _, val string) {
		// Perl's two-argument open ignores surrounding whitespace.
		if s := trimSpace(unquoteOptional(val)); s != "" {
			vs.v.MonitorFile, vs.monitorLine = s, ln
		} else {
			p.r.errorf(ln, "unable to open monitorfile: empty name")
		}
	}},
	"servicename": {virtual: func(_ *parser, vs *vstate, _ int, _, val string) { vs.v.ServiceName = trimRightSpace(val) }},
	"comment":     {virtual: func(_ *parser, vs *vstate, _ int, _, val string) { vs.v.Comment = trimRightSpace(val) }},
}

// globalCount reads a global count (parser.count) into the Global.
func globalCount(set func(g *Global, n int64)) func(*parser, *Global, int, string, string) {
	return func(p *parser, g *Global, ln int, name, val string) {
		if n, ok := p.count(ln, name, val); ok {
			set(g, n)
		}
	}
}

// virtualCount reads a virtual's own count; it overrides the global one
// once the globals are known (finish).
func virtualCount(set func(vs *vstate, n int64, ln int)) func(*parser, *vstate, int, string, string) {
	return func(p *parser, vs *vstate, ln int, name, val string) {
		if n, ok := p.count(ln, name, val); ok {
			set(vs, n, ln)
		}
	}
}

// checkCountDeprecated is ldirectord's warning for checkcount.
const checkCountDeprecated = "checkcount option is deprecated and slated for removal.  please see 'failurecount'"

// refuse rejects a directive ldirectord knows but refuses, with its message.
func refuse[S any](msg string) func(*parser, S, int, string, string) {
	return func(p *parser, _ S, ln int, _, _ string) { p.r.errorf(ln, "%s", msg) }
}

func globalYesNo(field func(g *Global) *bool) func(*parser, *Global, int, string, string) {
	return func(p *parser, g *Global, ln int, name, val string) { p.yesNo(ln, name, val, field(g)) }
}

// overridable is a directive read the same way at both levels: the global
// value, and a virtual's own one, which overrides it (finish).
func overridable[T any](read func(p *parser, ln int, name, val string) (T, bool), global func(*Global) *T, own func(*vstate) **T) directive {
	return directive{
		global: func(p *parser, g *Global, ln int, name, val string) {
			if x, ok := read(p, ln, name, val); ok {
				*global(g) = x
			}
		},
		virtual: func(p *parser, vs *vstate, ln int, name, val string) {
			if x, ok := read(p, ln, name, val); ok {
				*own(vs) = &x
			}
		},
	}
}

// anyName adapts a value reader whose messages do not name the directive.
func anyName[T any](read func(p *parser, ln int, val string) (T, bool)) func(*parser, int, string, string) (T, bool) {
	return func(p *parser, ln int, _, val string) (T, bool) { return read(p, ln, val) }
}

func readYesNo(p *parser, ln int, name, val string) (bool, bool) {
	var b bool
	ok := p.yesNo(ln, name, val, &b)
	return b, ok
}

// checkString reads a double-quoted, non-empty string of the check.
func checkString(field func(c *CheckSpec) *string, emptyMsg string) func(*parser, *vstate, int, string, string) {
	return func(p *parser, vs *vstate, ln int, name, val string) {
		if s, ok := p.quotedValue(ln, name, val, emptyMsg); ok {
			*field(&vs.v.Check) = s
		}
	}
}

func globalFallback(p *parser, _ *Global, ln int, name, val string) {
	p.globalFallback(ln, name == "fallback6", val)
}

// virtualFallback reads a virtual's fallback server; without a port it
// takes the virtual's, as written.
func virtualFallback(p *parser, vs *vstate, ln int, name, val string) {
	v := vs.v
	if (name == "fallback6") != v.IPv6 {
		p.r.errorf(ln, "cannot specify %q here.  please use %q instead", name, familyWord("fallback", v.IPv6))
		return
	}
	fb, ok := p.parseFallback(ln, val)
	if !ok {
		return
	}
	if !fb.hasPort {
		fb.port, fb.hasPort = vs.portRaw, true
		if v.FWMark != 0 {
			fb.port = "0"
		}
	}
	vs.fallback = fb
}

// virtualReal keeps a real line for endVirtual, which reads it once the
// section (and so its check settings) is complete.
func virtualReal(p *parser, vs *vstate, ln int, name, val string) {
	if (name == "real6") != vs.v.IPv6 {
		p.r.errorf(ln, "cannot specify %q here.  please use %q instead", name, familyWord("real", vs.v.IPv6))
		return
	}
	vs.reals = append(vs.reals, realLine{ln, val})
}

func virtualService(p *parser, vs *vstate, ln int, _, val string) {
	c := &vs.v.Check
	w := firstRun(val, isWordByte)
	if !contains(Services(), w) {
		p.r.errorf(ln, "service must be one of %s; got %q", strings.Join(Services(), ", "), w)
		return
	}
	c.Service, vs.serviceSet = w, true
	// ldirectord fills these in only here, only if still empty.
	if w == "ftp" && c.Login == "" {
		c.Login = "anonymous"
	} else if w == "sip" && c.Login == "" {
		c.Login = "ldirectord@" + p.hostname
	}
	if w == "ftp" && c.Passwd == "" {
		c.Passwd = "ldirectord@" + p.hostname
	}
}
