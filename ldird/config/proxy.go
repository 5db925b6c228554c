package config

import (
	"strconv"
	"time"
)

// The userspace proxy's extension directives, ldird's and unknown to
// ldirectord (which rejects them):
//
//	maxconn = N        global: connections at once over every virtual (HAProxy's global maxconn);
//	                   in a virtual: that virtual's own limit
//	clienttimeout = S  idle seconds allowed on the client's side; global sets the default
//	servertimeout = S  idle seconds allowed on the real's side; global sets the default
//
// They mean something only to `dataplane = userspace`: IPVS has no
// per-service connection limit and its idle timeouts are kernel-wide
// (ipvsadm --set), so with the ipvs dataplane they are errors.
//
// Kept apart from the other directives: the table (directives.go) reaches
// them through proxyDirective, and finish through proxyFinish.

// proxyDirective reads maxconn, clienttimeout and servertimeout at both
// levels.
var proxyDirective = directive{
	global:  func(p *parser, _ *Global, ln int, name, val string) { p.proxyGlobal(ln, name, val) },
	virtual: func(p *parser, vs *vstate, ln int, name, val string) { p.proxyVirtual(vs, ln, name, val) },
}

// maxMaxConn bounds maxconn; a process cannot hold more sockets anyway.
const maxMaxConn = 1 << 24

// proxyState is what the parser keeps of these directives until the
// dataplane is known: where they were set.
type proxyState struct {
	lines   []proxyLine
	virtual map[*vstate]*proxyOwn
}

type proxyLine struct {
	line int
	name string
}

// proxyOwn are a virtual section's own values (0 = not set).
type proxyOwn struct {
	maxConn                      int
	clientTimeout, serverTimeout time.Duration
}

// proxyValue parses the value of one of the directives; ok false when name
// is not one of them.
func (p *parser) proxyValue(ln int, name, val string) (n int64, ok, valid bool) {
	var hi int64
	var what string
	switch name {
	case "maxconn":
		hi, what = maxMaxConn, "a whole number of connections from 1 to 16777216"
	case "clienttimeout", "servertimeout":
		hi, what = 1<<31-1, "a whole number of seconds greater than 0"
	default:
		return 0, false, false
	}
	s := stripComment(val)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > hi {
		p.r.errorf(ln, "%s = %q: want %s (an ldird extension for dataplane = userspace; ldirectord does not know it)", name, s, what)
		return 0, true, false
	}
	p.px.lines = append(p.px.lines, proxyLine{ln, name})
	return n, true, true
}

// proxyGlobal parses a global line; false when it is none of these.
func (p *parser) proxyGlobal(ln int, name, val string) bool {
	n, ok, valid := p.proxyValue(ln, name, val)
	if !ok || !valid {
		return ok
	}
	g := &p.cfg.Global
	switch name {
	case "maxconn":
		g.MaxConn = int(n)
	case "clienttimeout":
		g.ClientTimeout = seconds(n)
	case "servertimeout":
		g.ServerTimeout = seconds(n)
	}
	return true
}

// proxyVirtual parses a line of a virtual section; false when it is none
// of these.
func (p *parser) proxyVirtual(vs *vstate, ln int, name, val string) bool {
	n, ok, valid := p.proxyValue(ln, name, val)
	if !ok || !valid {
		return ok
	}
	if p.px.virtual == nil {
		p.px.virtual = map[*vstate]*proxyOwn{}
	}
	own := p.px.virtual[vs]
	if own == nil {
		own = &proxyOwn{}
		p.px.virtual[vs] = own
	}
	switch name {
	case "maxconn":
		own.maxConn = int(n)
	case "clienttimeout":
		own.clientTimeout = seconds(n)
	case "servertimeout":
		own.serverTimeout = seconds(n)
	}
	return true
}

// proxyFinish refuses the directives unless the dataplane is userspace,
// and resolves each virtual's values: its own, else the global timeouts
// (maxconn is not inherited: the global one bounds the sum).
func (p *parser) proxyFinish() {
	g := &p.cfg.Global
	if g.Dataplane != DataplaneUserspace {
		for _, l := range p.px.lines {
			p.r.errorf(l.line, "%s needs dataplane = userspace (%s)", l.name, proxyIPVSWhy[l.name])
		}
		return
	}
	for _, vs := range p.vstates {
		v := vs.v
		own := p.px.virtual[vs]
		if own == nil {
			own = &proxyOwn{}
		}
		v.MaxConn = own.maxConn
		v.ClientTimeout = pick(nonZero(own.clientTimeout), g.ClientTimeout)
		v.ServerTimeout = pick(nonZero(own.serverTimeout), g.ServerTimeout)
	}
}

var proxyIPVSWhy = map[string]string{
	"maxconn":       "IPVS has no per-service connection limit",
	"clienttimeout": "IPVS's idle timeouts are kernel-wide: ipvsadm --set",
	"servertimeout": "IPVS's idle timeouts are kernel-wide: ipvsadm --set",
}

func nonZero(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}
