package config

import (
	"fmt"
	"os"
	"strings"

	"lvsha/resources/ipspec"
)

// Resource is one resource of a haresources group.
type Resource struct {
	Name  string   // script name (IPaddr for the a.b.c.d shorthand)
	Args  []string // arguments from the :: split
	Token string   // the word as written in haresources
}

// Group is one haresources line: a resource group and its preferred node.
type Group struct {
	Node      string // preferred node, lowercased
	Key       string // first resource token as written; unique in the file
	Resources []Resource
	Line      int // line where the group starts
}

// ParseHaresources reads a haresources file.
func ParseHaresources(path string) ([]Group, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read resources file: %v", err), Err: err}}
	}
	return ParseHaresourcesBytes(path, data)
}

// ParseHaresourcesBytes parses haresources content; name is used in messages.
func ParseHaresourcesBytes(name string, data []byte) ([]Group, error) {
	r := newReport(name)
	g := parseHaresources(r, data)
	if err := r.err(); err != nil {
		return nil, err
	}
	return g, nil
}

// logicalLine is a haresources line after comment removal and joining.
type logicalLine struct {
	text string
	line int // first physical line
}

// joinLines does what ResourceManager's sed does: strip "#..." and join a
// line ending in a backslash to the next one (with nothing in between). One
// difference: Heartbeat's sed strips the comment only from the first
// physical line of a joined line, so a '#' on a continuation line would
// become resource words; we strip it on every line.
func joinLines(data []byte) []logicalLine {
	var out []logicalLine
	var cur strings.Builder
	start, open := 0, false
	for i, raw := range strings.Split(string(data), "\n") {
		s := strings.TrimSuffix(raw, "\r")
		if j := strings.IndexByte(s, '#'); j >= 0 {
			s = s[:j]
		}
		if !open {
			start = i + 1
		}
		if strings.HasSuffix(s, `\`) {
			cur.WriteString(s[:len(s)-1])
			open = true
			continue
		}
		cur.WriteString(s)
		out = append(out, logicalLine{cur.String(), start})
		cur.Reset()
		open = false
	}
	if open {
		out = append(out, logicalLine{cur.String(), start})
	}
	return out
}

func isBlank(r rune) bool { return r == ' ' || r == '\t' }

// isIPShorthand matches ResourceManager's isip glob [0-9]*.[0-9]*.[0-9]*.[0-9]*:
// a digit first and at least three dots after it.
func isIPShorthand(tok string) bool {
	return tok != "" && tok[0] >= '0' && tok[0] <= '9' && strings.Count(tok[1:], ".") >= 3
}

// ParseResource turns a haresources word into a script name and arguments.
func ParseResource(tok string) Resource {
	if isIPShorthand(tok) && !strings.Contains(tok, "::") {
		return Resource{Name: "IPaddr", Args: []string{tok}, Token: tok}
	}
	name, rest, found := strings.Cut(tok, "::")
	res := Resource{Name: name, Token: tok}
	if found {
		// The shell word-splits the arguments, so empty ones vanish.
		for _, a := range strings.Split(rest, "::") {
			if a != "" {
				res.Args = append(res.Args, a)
			}
		}
	}
	return res
}

func parseHaresources(r *report, data []byte) []Group {
	var groups []Group
	keyLine := map[string]int{}
	tokenLines := map[string][]int{} // resource word -> lines it appears on
	for _, ll := range joinLines(data) {
		f := strings.FieldsFunc(ll.text, isBlank)
		if len(f) == 0 {
			continue
		}
		g := Group{Node: asciiLower(f[0]), Line: ll.line}
		if len(f) == 1 {
			r.errorf(ll.line, "node %s has no resources", g.Node)
			continue
		}
		ok := true
		for _, tok := range f[1:] {
			if tok == `\` {
				r.errorf(ll.line, `stray '\': a continuation backslash must be the last character of the line`)
				ok = false
				continue
			}
			res := ParseResource(tok)
			if res.Name == "" {
				r.errorf(ll.line, "resource %q has no script name", tok)
				ok = false
				continue
			}
			if res.Name == ipspec.IPaddr || res.Name == ipspec.IPaddr2 {
				// Checked as the wrapper and agent check it when the group
				// starts (ipspec), so -t refuses what start would.
				if len(res.Args) != 1 {
					r.errorf(ll.line, "resource %q: %s takes one address argument ip[/netmask[/nic[:label]][/broadcast]], got %d (an IPv6 address with :: is split there)",
						tok, res.Name, len(res.Args))
					ok = false
					continue
				}
				spec, err := ipspec.Parse(res.Name, res.Args[0])
				if err != nil {
					r.wrapf(ll.line, err, "resource %q: %v", tok, err)
					ok = false
					continue
				}
				for _, w := range spec.Warnings {
					r.warnf(ll.line, "resource %q: %s", tok, w)
				}
			}
			g.Resources = append(g.Resources, res)
		}
		if !ok {
			continue
		}
		g.Key = f[1]
		if prev, dup := keyLine[g.Key]; dup {
			r.errorf(ll.line, "group key %q (the first resource) is already used on line %d; the first resource of each line must be unique", g.Key, prev)
			continue
		}
		keyLine[g.Key] = ll.line
		for _, tok := range f[1:] {
			if ls := tokenLines[tok]; len(ls) == 0 || ls[len(ls)-1] != ll.line {
				tokenLines[tok] = append(ls, ll.line)
			}
		}
		groups = append(groups, g)
	}
	// ResourceManager finds a group with grep " KEY ", so a key that also
	// appears in another line selects both lines there.
	for _, g := range groups {
		for _, l := range tokenLines[g.Key] {
			if l != g.Line {
				r.warnf(l, "resource %q is also the key of the group on line %d; Heartbeat's ResourceManager would treat both lines as that group", g.Key, g.Line)
			}
		}
	}
	return groups
}
