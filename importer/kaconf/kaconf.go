// Package kaconf reads a keepalived.conf (keepalived 2.x syntax) into a tree
// of keywords, the way keepalived's own parser reads it, keeping the file
// and line of every keyword so that a report can point at it.
//
// What is handled as keepalived 2.2.7 does:
//
//   - "!" and "#" start a comment anywhere on a line, outside quotes.
//   - include, includer, includem, includew, includeb, includea: the
//     argument is a glob (with csh braces, "{a,b}") relative to the
//     directory of the including file; files are read in sorted order;
//     includes are recognised before conditionals and parameters, as
//     keepalived does. A pattern that matches nothing is reported (plain
//     include is silent in keepalived; the caller decides what to say).
//   - "@ID line" and "@^ID line": conditional lines compared with the
//     config id (Options.ConfigID; keepalived's default is the first label
//     of the host name). Every ID seen is recorded in Config.ConfigIDs.
//   - "$NAME=VALUE" parameters (also multi-line with a trailing "\"), used
//     as ${NAME} anywhere or $NAME before white space, recursively, at the
//     time of use; the predefined ${_PWD}, ${_INSTANCE}, ${_HASH} and
//     ${_BANG}. ${_RANDOM} is refused: an import must be reproducible.
//   - ~SEQ(var, start, step, end), ~SEQx(...) and ~LST(var, v1, v2, ...)
//     (also ~LST({a,b}, {1,2}, ...)) at the start of a line.
//   - Words are separated by white space; "{" and "}" are words of their
//     own; "..." and '...' quote (the quotes are removed, white space kept,
//     shell-like backslash escapes inside quotes).
//   - A block opens with "{" at the end of a keyword's line or alone on the
//     next line, and a block may sit on one line ("track_interface { eth0 }").
//
// The tree is generic: Node.Key is the first word of a statement and
// Node.Args the rest, so value lists (virtual_ipaddress, unicast_peer,
// virtual_server_group) read the same way as keyword blocks. Interpreting
// keywords is the mapper's job.
package kaconf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Pos is where a statement was written.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Node is one statement: a keyword, its arguments and, when it opens a
// block, the statements inside.
type Node struct {
	Key      string
	Args     []string
	Pos      Pos
	HasBlock bool
	Block    []*Node
}

// Arg returns argument i, or "" when there is none.
func (n *Node) Arg(i int) string {
	if i < len(n.Args) {
		return n.Args[i]
	}
	return ""
}

// Words is the statement as written: the key and its arguments.
func (n *Node) Words() []string { return append([]string{n.Key}, n.Args...) }

// Find returns the statements of the block with key k, in order.
func (n *Node) Find(k string) []*Node {
	var out []*Node
	for _, c := range n.Block {
		if c.Key == k {
			out = append(out, c)
		}
	}
	return out
}

// Last returns the last statement of the block with key k (keepalived lets
// a later one replace an earlier one), or nil.
func (n *Node) Last(k string) *Node {
	var out *Node
	for _, c := range n.Block {
		if c.Key == k {
			out = c
		}
	}
	return out
}

// Config is a parsed keepalived.conf with everything it included.
type Config struct {
	Nodes []*Node
	// Files are every file read, the main one first.
	Files []string
	// ConfigIDs are the IDs named by "@ID" / "@^ID" lines, sorted.
	ConfigIDs []string
	// Notes are things the reader could not honour but that are not errors
	// in keepalived (an include that matched nothing).
	Notes []Note
}

// Note is a remark about the input tied to a place in it.
type Note struct {
	Pos Pos
	Msg string
}

// Error is a problem with the input, with the place it was found.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors is every problem found.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Options adjusts how the file is read.
type Options struct {
	// ConfigID is compared with "@ID" lines; keepalived uses -i, else the
	// host name up to its first dot. Empty matches no "@ID" line and every
	// "@^ID" line.
	ConfigID string
	// ReadFile reads a file (tests); nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// Glob expands an include pattern that has already had its braces
	// expanded; nil means filepath.Glob.
	Glob func(string) ([]string, error)
}

// maxDepth bounds include nesting and parameter expansion, as keepalived
// bounds both, so a file including itself cannot loop.
const maxDepth = 32

// maxLines and maxLineLen bound what parameters and sequences may expand
// to, so that a few lines defining parameters in terms of each other (or
// nested ~SEQ) cannot exhaust memory.
const (
	maxLines   = 1 << 20
	maxLineLen = 1 << 20
)

// Parse reads path and what it includes.
func Parse(path string, opt Options) (*Config, error) {
	if opt.ReadFile == nil {
		opt.ReadFile = os.ReadFile
	}
	if opt.Glob == nil {
		opt.Glob = filepath.Glob
	}
	r := &reader{opt: opt, params: map[string]string{}, ids: map[string]bool{}}
	data, err := opt.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keepalived configuration: %w", err)
	}
	r.cfg.Files = append(r.cfg.Files, path)
	r.readFile(path, data, 0)
	if len(r.errs) == 0 {
		r.cfg.Nodes = r.build()
	}
	for id := range r.ids {
		r.cfg.ConfigIDs = append(r.cfg.ConfigIDs, id)
	}
	sort.Strings(r.cfg.ConfigIDs)
	if len(r.errs) > 0 {
		return &r.cfg, r.errs
	}
	return &r.cfg, nil
}

// line is one logical line after comments, conditionals and parameters.
type line struct {
	pos  Pos
	text string
}

type reader struct {
	opt    Options
	cfg    Config
	errs   Errors
	lines  []line
	params map[string]string // keepalived parameters; multi-line values hold "\n"
	ids    map[string]bool
	// tooMany is set once the line limit has been reported.
	tooMany bool
}

func (r *reader) errorf(pos Pos, format string, a ...any) {
	r.errs = append(r.errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, a...)})
}

var includeWords = map[string]bool{
	"include": true, "includer": true, "includem": true, "includew": true, "includeb": true, "includea": true,
}

func (r *reader) readFile(path string, data []byte, depth int) {
	raw := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	dir := filepath.Dir(path)
	for i := 0; i < len(raw); i++ {
		pos := Pos{File: path, Line: i + 1}
		text := stripComment(raw[i])
		trimmed := strings.TrimSpace(text)
		if trimmed == "" {
			continue
		}
		// A multi-line parameter definition: "$NAME= \" then lines ending
		// in "\", the last without; it may carry a condition.
		body, keep := trimmed, true
		if strings.HasPrefix(body, "@") {
			var rest string
			rest, keep = r.condition(body)
			body = strings.TrimSpace(rest)
		}
		if name, val, ok := paramDef(body); ok && strings.TrimSpace(val) == `\` {
			var lines []string
			for i+1 < len(raw) {
				i++
				l := strings.TrimRight(stripComment(raw[i]), " \t")
				cont := strings.HasSuffix(l, `\`)
				l = strings.TrimSpace(strings.TrimSuffix(l, `\`))
				if l != "" {
					lines = append(lines, l)
				}
				if !cont {
					break
				}
			}
			if keep {
				r.params[name] = strings.Join(lines, "\n")
			}
			continue
		}
		// Includes are recognised on the raw line, before conditionals and
		// parameters, as keepalived does.
		if f := strings.Fields(trimmed); len(f) >= 1 && includeWords[f[0]] {
			if len(f) < 2 {
				r.errorf(pos, "%s without a file name", f[0])
				continue
			}
			r.include(pos, dir, strings.Join(f[1:], " "), depth)
			continue
		}
		r.logical(pos, dir, trimmed, 0)
	}
}

// logical handles one line after comments: the condition, a parameter
// definition, substitution, and ~SEQ / ~LST expansion.
func (r *reader) logical(pos Pos, dir, text string, depth int) {
	if depth > maxDepth {
		r.errorf(pos, "parameter expansion nested more than %d deep (a parameter that uses itself?)", maxDepth)
		return
	}
	if r.tooMany {
		return
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	if strings.HasPrefix(text, "@") {
		rest, keep := r.condition(text)
		if !keep {
			return
		}
		text = strings.TrimSpace(rest)
		if text == "" {
			return
		}
	}
	if name, val, ok := paramDef(text); ok {
		r.params[name] = strings.TrimSpace(val)
		return
	}
	if strings.HasPrefix(text, "~SEQ") || strings.HasPrefix(text, "~LST") {
		r.sequence(pos, dir, text, depth)
		return
	}
	sub, err := r.substitute(text, dir, 0)
	if err != nil {
		r.errorf(pos, "%v", err)
		return
	}
	if sub != text {
		// The value may hold several lines, another condition, another
		// definition: each is read as a line of its own.
		for _, l := range strings.Split(sub, "\n") {
			r.logical(pos, dir, l, depth+1)
		}
		return
	}
	if len(r.lines) >= maxLines {
		if !r.tooMany {
			r.tooMany = true
			r.errorf(pos, "the configuration expands to more than %d lines", maxLines)
		}
		return
	}
	r.lines = append(r.lines, line{pos: pos, text: text})
}

// condition evaluates "@ID rest" / "@^ID rest".
func (r *reader) condition(text string) (rest string, keep bool) {
	word := text[1:]
	neg := strings.HasPrefix(word, "^")
	if neg {
		word = word[1:]
	}
	id, rest, _ := strings.Cut(word, " ")
	if i := strings.IndexAny(id, "\t"); i >= 0 {
		id, rest = id[:i], id[i:]+" "+rest
	}
	if id != "" {
		r.ids[id] = true
	}
	match := id == r.opt.ConfigID
	if neg {
		match = !match
	}
	return rest, match
}

// paramDef recognises "$NAME=VALUE" (no space before "=").
func paramDef(text string) (name, val string, ok bool) {
	if !strings.HasPrefix(text, "$") {
		return "", "", false
	}
	eq := strings.IndexByte(text, '=')
	if eq < 2 {
		return "", "", false
	}
	name = text[1:eq]
	if !validParamName(name) {
		return "", "", false
	}
	return name, text[eq+1:], true
}

func validParamName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// substitute replaces ${NAME} and "$NAME " with their values, repeatedly,
// leaving undefined names as written (as keepalived does).
func (r *reader) substitute(text, dir string, depth int) (string, error) {
	if depth > maxDepth {
		return "", errors.New("parameter substitution nested too deep (a parameter that uses itself?)")
	}
	var b strings.Builder
	changed := false
	for i := 0; i < len(text); {
		c := text[i]
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		var name string
		end := i + 1
		braced := false
		if end < len(text) && text[end] == '{' {
			close := strings.IndexByte(text[end:], '}')
			if close < 0 {
				b.WriteByte(c)
				i++
				continue
			}
			name = text[end+1 : end+close]
			end += close + 1
			braced = true
		} else {
			j := end
			for j < len(text) && (text[j] == '_' || text[j] >= 'a' && text[j] <= 'z' || text[j] >= 'A' && text[j] <= 'Z' || text[j] >= '0' && text[j] <= '9') {
				j++
			}
			// Unbraced names count only when followed by white space or
			// the end of the line.
			if j < len(text) && text[j] != ' ' && text[j] != '\t' {
				b.WriteString(text[i:j])
				i = j
				continue
			}
			name = text[end:j]
			end = j
		}
		val, ok, err := r.lookup(name, dir, braced)
		if err != nil {
			return "", err
		}
		if !ok {
			b.WriteString(text[i:end])
			i = end
			continue
		}
		if b.Len()+len(val) > maxLineLen {
			return "", fmt.Errorf("a line expands to more than %d bytes", maxLineLen)
		}
		b.WriteString(val)
		changed = true
		i = end
	}
	out := b.String()
	if changed && strings.Contains(out, "$") && out != text {
		return r.substitute(out, dir, depth+1)
	}
	return out, nil
}

func (r *reader) lookup(name, dir string, braced bool) (string, bool, error) {
	if braced {
		f := strings.Fields(name)
		if len(f) > 0 && f[0] == "_RANDOM" {
			return "", false, errors.New("${_RANDOM} gives a different configuration at every start; replace it with a value before importing")
		}
	}
	switch name {
	case "_PWD":
		// keepalived's ${_PWD} is the directory of the file being read;
		// it is absolute in practice (keepalived is given absolute paths).
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		return dir, true, nil
	case "_INSTANCE":
		return r.opt.ConfigID, true, nil
	case "_HASH":
		return "#", true, nil
	case "_BANG":
		return "!", true, nil
	}
	v, ok := r.params[name]
	return v, ok, nil
}

// include reads the files a pattern names, relative to dir.
func (r *reader) include(pos Pos, dir, pattern string, depth int) {
	if depth >= maxDepth {
		r.errorf(pos, "includes nested more than %d deep (a file including itself?)", maxDepth)
		return
	}
	pattern = unquote(strings.TrimSpace(pattern))
	var files []string
	for _, p := range expandBraces(pattern) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		m, err := r.opt.Glob(p)
		if err != nil {
			r.errorf(pos, "include %s: %v", pattern, err)
			return
		}
		// glob(3) with GLOB_BRACE sorts the names of each alternative,
		// and keeps the alternatives in the order written.
		sort.Strings(m)
		files = append(files, m...)
	}
	if len(files) == 0 {
		r.cfg.Notes = append(r.cfg.Notes, Note{Pos: pos, Msg: fmt.Sprintf("include %s matched no file", pattern)})
		return
	}
	for _, f := range files {
		data, err := r.opt.ReadFile(f)
		if err != nil {
			r.errorf(pos, "include %s: %v", f, err)
			continue
		}
		r.cfg.Files = append(r.cfg.Files, f)
		r.readFile(f, data, depth+1)
	}
}

// expandBraces expands csh braces: "a{b,c}d" -> "abd", "acd" (nested too).
func expandBraces(s string) []string {
	open := -1
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth == 0 {
				var alts []string
				start, d := open+1, 0
				for j := open + 1; j < i; j++ {
					switch s[j] {
					case '{':
						d++
					case '}':
						d--
					case ',':
						if d == 0 {
							alts = append(alts, s[start:j])
							start = j + 1
						}
					}
				}
				alts = append(alts, s[start:i])
				if len(alts) == 1 {
					continue // "{x}" is not a brace expression
				}
				var out []string
				for _, a := range alts {
					out = append(out, expandBraces(s[:open]+a+s[i+1:])...)
				}
				return out
			}
		}
	}
	return []string{s}
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

// stripComment cuts a line at the first "!" or "#" outside quotes.
func stripComment(s string) string {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '!' || c == '#':
			return s[:i]
		}
	}
	return s
}
