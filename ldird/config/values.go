package config

import (
	"strconv"
	"strings"
)

// isSpace is Perl's \s (space, \t, \n, \v, \f, \r).
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func trimLeftSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	return s
}

func trimRightSpace(s string) string {
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func trimSpace(s string) string { return trimRightSpace(trimLeftSpace(s)) }

// isBlank is ldirectord's /^\s*$/.
func isBlank(s string) bool { return trimLeftSpace(s) == "" }

// isComment is ldirectord's /^\s*#/.
func isComment(s string) bool {
	t := trimLeftSpace(s)
	return t != "" && t[0] == '#'
}

// fields splits on runs of Perl whitespace.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// splitDirective splits "name = value" the way ldirectord's /^name\s*=\s*(.*)/
// regexes do: the name starts the string, whitespace may surround "=", and
// the value is the rest of the line with its trailing whitespace kept.
func splitDirective(s string) (name, value string, eq bool) {
	i := 0
	for i < len(s) && isNameByte(s[i]) {
		i++
	}
	name = s[:i]
	rest := trimLeftSpace(s[i:])
	if rest == "" || rest[0] != '=' {
		return name, rest, false
	}
	return name, trimLeftSpace(rest[1:]), true
}

// firstDigits is ldirectord's /(\d+)/: the first run of digits anywhere.
func firstDigits(s string) (string, bool) {
	i := strings.IndexAny(s, "0123456789")
	if i < 0 {
		return "", false
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	return s[i:j], true
}

// firstRun returns the first run of bytes accepted by ok, as ldirectord's
// unanchored /(\w+)/, /([a-z]+)/ and /(\S+)/ do.
func firstRun(s string, ok func(byte) bool) string {
	i := 0
	for i < len(s) && !ok(s[i]) {
		i++
	}
	j := i
	for j < len(s) && ok(s[j]) {
		j++
	}
	return s[i:j]
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isLower(c byte) bool    { return c >= 'a' && c <= 'z' }
func isNonSpace(c byte) bool { return !isSpace(c) }

// quoted is ldirectord's /^"(.*)"/ applied to a value: the text between the
// first character (which must be '"') and the last '"' on the line, and
// what follows that last quote.
func quoted(v string) (inner, after string, ok bool) {
	if v == "" || v[0] != '"' {
		return "", "", false
	}
	k := strings.LastIndexByte(v, '"')
	if k == 0 {
		return "", "", false
	}
	return v[1:k], v[k+1:], true
}

// unquoteOptional is ldirectord's handling of values whose quotes are
// optional (checkcommand, fallbackcommand, monitorfile): /"(.*)"/ first,
// else the whole value.
func unquoteOptional(v string) string {
	if in, _, ok := quoted(v); ok {
		return in
	}
	return v
}

// commentOrBlank reports whether text that ldirectord ignores after a value
// is only whitespace or a "# comment", which needs no warning.
func commentOrBlank(s string) bool {
	t := trimLeftSpace(s)
	return t == "" || t[0] == '#'
}

// stripComment drops a trailing "# comment" and the whitespace before it.
func stripComment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	return trimRightSpace(s)
}

// atoiBounded converts a digit string, refusing values above max (which
// also keeps huge digit runs from overflowing).
func atoiBounded(digits string, max int64) (int64, bool) {
	if len(digits) > 18 {
		trimmed := strings.TrimLeft(digits, "0")
		if len(trimmed) > 18 {
			return 0, false
		}
		digits = trimmed
		if digits == "" {
			return 0, true
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}
