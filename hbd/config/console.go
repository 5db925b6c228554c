package config

import (
	"net"
	"strconv"
	"strings"
)

// Console is the web console's configuration (lvsha extension
// directives; a real Heartbeat refuses them as unknown). It is off unless
// a console line names an address for this node.
//
//	console [NODE] ADDR:PORT      where NODE's console listens; without NODE, this node's
//	console_tls CERTFILE KEYFILE  serve HTTPS with this certificate (and trust it for the peer's)
//	console_users FILE            htpasswd file (bcrypt hashes): the administrators
//	console_clientca FILE         administrators may also log in with a client certificate signed by this CA
//	console_readonly yes|no       read-only view without logging in (default no)
type Console struct {
	// Listen maps a node to its console's address; the key "" is the
	// address given without a node (this node's).
	Listen   map[string]string
	TLSCert  string
	TLSKey   string
	Users    string
	ClientCA string
	ReadOnly bool
	// Lines of the directives, for errors found when the console starts
	// (a certificate that does not load, a users file with a bad line).
	Line map[string]int
}

// ConsoleAddr is the address of node's console ("" when it has none).
func (c Console) ConsoleAddr(node string) string {
	if a, ok := c.Listen[node]; ok {
		return a
	}
	return ""
}

// Enabled reports whether node serves a console.
func (c Console) Enabled(node string) bool {
	return c.ConsoleAddr(node) != "" || c.Listen[""] != ""
}

// Addr is where node's console listens: its own line, else the line
// without a node.
func (c Console) Addr(node string) string {
	if a := c.ConsoleAddr(node); a != "" {
		return a
	}
	return c.Listen[""]
}

func (p *hacfParser) addConsole(ln int, dir, rest string) {
	c := &p.h.Console
	if c.Listen == nil {
		c.Listen = map[string]string{}
		c.Line = map[string]int{}
	}
	args := fields(rest)
	want := func(n int, usage string) bool {
		if len(args) != n {
			p.r.errorf(ln, "%s: want %s", dir, usage)
			return false
		}
		return true
	}
	switch dir {
	case "console":
		node, addr := "", ""
		switch len(args) {
		case 1:
			addr = args[0]
		case 2:
			node, addr = asciiLower(args[0]), args[1]
		default:
			p.r.errorf(ln, "console: want [NODE] ADDR:PORT")
			return
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			p.r.errorf(ln, "console: %q is not ADDR:PORT: %v", addr, err)
			return
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			p.r.errorf(ln, "console: port %q is not a number from 1 to 65535", port)
			return
		}
		if host != "" && net.ParseIP(host) == nil && !validHostName(host) {
			p.r.errorf(ln, "console: %q is neither an IP address nor a host name", host)
			return
		}
		if _, dup := c.Listen[node]; dup {
			who := "this node"
			if node != "" {
				who = "node " + node
			}
			p.r.errorf(ln, "console: a second address for %s (line %d has one)", who, c.Line["console "+node])
			return
		}
		c.Listen[node] = addr
		c.Line["console "+node] = ln
		if node != "" {
			c.Line["console-node "+node] = ln
		}
	case "console_tls":
		if want(2, "CERTFILE KEYFILE") {
			c.TLSCert, c.TLSKey = args[0], args[1]
			c.Line[dir] = ln
		}
	case "console_users", "console_clientca":
		if !want(1, "FILE") {
			return
		}
		if !strings.HasPrefix(args[0], "/") {
			p.r.errorf(ln, "%s: %q is not an absolute path", dir, args[0])
			return
		}
		if dir == "console_users" {
			c.Users = args[0]
		} else {
			c.ClientCA = args[0]
		}
		c.Line[dir] = ln
	case "console_readonly":
		if !want(1, "yes|no") {
			return
		}
		b, err := parseBool(args[0])
		if err != nil {
			p.r.errorf(ln, "console_readonly: %v", err)
			return
		}
		c.ReadOnly = b
		c.Line[dir] = ln
	}
}

// finishConsole checks what needs the whole file: console lines name
// declared nodes, and the options need a console.
func (p *hacfParser) finishConsole() {
	c := p.h.Console
	for node := range c.Listen {
		if node != "" && !p.nodeSeen[node] {
			p.r.errorf(c.Line["console "+node], "console: %q is not a node of this cluster (node lines: %s)", node, strings.Join(p.h.Nodes, " "))
		}
	}
	if len(c.Listen) == 0 {
		for _, d := range []string{"console_tls", "console_users", "console_clientca", "console_readonly"} {
			if ln, ok := c.Line[d]; ok {
				p.r.errorf(ln, "%s without a console line (console [NODE] ADDR:PORT)", d)
			}
		}
	}
	if c.ClientCA != "" && c.TLSCert == "" {
		p.r.errorf(c.Line["console_clientca"], "console_clientca needs console_tls (client certificates need HTTPS)")
	}
}

// validHostName accepts letters, digits, hyphens and dots.
func validHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
