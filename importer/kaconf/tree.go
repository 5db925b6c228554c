package kaconf

import (
	"fmt"
	"strconv"
	"strings"
)

// token is one word of a logical line.
type token struct {
	text  string
	brace bool // an unquoted "{" or "}"
	pos   Pos
}

// tokenize splits a line as keepalived's alloc_strvec does: white space
// separates words, "{" and "}" are words of their own, quotes group and are
// removed, backslash escapes are honoured inside quotes.
func tokenize(l line) ([]token, error) {
	var out []token
	s := l.text
	for i := 0; i < len(s); {
		c := s[i]
		if c == ' ' || c == '\t' {
			i++
			continue
		}
		if c == '{' || c == '}' {
			out = append(out, token{text: string(c), brace: true, pos: l.pos})
			i++
			continue
		}
		var b strings.Builder
		for i < len(s) {
			c = s[i]
			if c == ' ' || c == '\t' || c == '{' || c == '}' {
				break
			}
			// An undefined ${NAME} stays as written, braces included.
			if c == '$' && i+1 < len(s) && s[i+1] == '{' {
				if j := strings.IndexByte(s[i:], '}'); j > 0 {
					b.WriteString(s[i : i+j+1])
					i += j + 1
					continue
				}
			}
			if c == '"' || c == '\'' {
				q := c
				i++
				closed := false
				for i < len(s) {
					c = s[i]
					if c == '\\' && i+1 < len(s) {
						n, adv := unescape(s[i+1:])
						b.WriteString(n)
						i += 1 + adv
						continue
					}
					if c == q {
						closed = true
						i++
						break
					}
					b.WriteByte(c)
					i++
				}
				if !closed {
					return nil, &Error{Pos: l.pos, Msg: fmt.Sprintf("unterminated %c quote", q)}
				}
				continue
			}
			b.WriteByte(c)
			i++
		}
		out = append(out, token{text: b.String(), pos: l.pos})
	}
	return out, nil
}

// unescape decodes one shell-like escape after a backslash: \a \b \E \f \n
// \r \t \v, \nnn (octal), \xHH, \cC, and \C for any other C. It returns the
// text and how many bytes of s it used.
func unescape(s string) (string, int) {
	if s == "" {
		return `\`, 0
	}
	switch c := s[0]; c {
	case 'a':
		return "\a", 1
	case 'b':
		return "\b", 1
	case 'E':
		return "\x1b", 1
	case 'f':
		return "\f", 1
	case 'n':
		return "\n", 1
	case 'r':
		return "\r", 1
	case 't':
		return "\t", 1
	case 'v':
		return "\v", 1
	case 'x':
		j := 1
		for j < len(s) && j < 3 && isHex(s[j]) {
			j++
		}
		if j == 1 {
			return "x", 1
		}
		v, _ := strconv.ParseUint(s[1:j], 16, 8)
		return string([]byte{byte(v)}), j
	case 'c':
		if len(s) > 1 {
			return string([]byte{s[1] & 0x1f}), 2
		}
		return "c", 1
	default:
		if c >= '0' && c <= '7' {
			j := 0
			for j < len(s) && j < 3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(s[:j], 8, 8)
			return string([]byte{byte(v)}), j
		}
		return string(c), 1
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// build turns the logical lines into the statement tree.
func (r *reader) build() []*Node {
	type frame struct {
		node *Node // nil at the top level
		list *[]*Node
	}
	var top []*Node
	stack := []frame{{list: &top}}
	var last *Node // the statement just completed at the current level
	for _, l := range r.lines {
		toks, err := tokenize(l)
		if err != nil {
			r.errs = append(r.errs, err.(*Error))
			continue
		}
		var cur *Node
		flush := func() {
			if cur != nil {
				f := stack[len(stack)-1]
				*f.list = append(*f.list, cur)
				last = cur
				cur = nil
			}
		}
		for _, t := range toks {
			switch {
			case t.brace && t.text == "{":
				n := cur
				if n == nil {
					// "{" alone: it opens the block of the statement
					// just before it, as keepalived accepts.
					if last == nil || last.HasBlock {
						r.errorf(t.pos, "\"{\" without a keyword before it")
						continue
					}
					n = last
				} else {
					flush()
				}
				n.HasBlock = true
				stack = append(stack, frame{node: n, list: &n.Block})
				last = nil
			case t.brace:
				flush()
				if len(stack) == 1 {
					r.errorf(t.pos, "\"}\" without a block to close")
					continue
				}
				last = stack[len(stack)-1].node
				stack = stack[:len(stack)-1]
			case cur == nil:
				cur = &Node{Key: t.text, Pos: t.pos}
			default:
				cur.Args = append(cur.Args, t.text)
			}
		}
		flush()
	}
	for i := len(stack) - 1; i > 0; i-- {
		n := stack[i].node
		r.errorf(n.Pos, "block of %q is not closed (missing \"}\")", n.Key)
	}
	return top
}

// sequence expands a line that starts with ~SEQ(...), ~SEQx(...) or
// ~LST(...): the rest of the line is read once per value, with the
// variable(s) defined.
func (r *reader) sequence(pos Pos, dir, text string, depth int) {
	hex := strings.HasPrefix(text, "~SEQx(")
	lst := strings.HasPrefix(text, "~LST(")
	open := strings.IndexByte(text, '(')
	if open < 0 || !(hex || lst || strings.HasPrefix(text, "~SEQ(")) {
		r.errorf(pos, "unknown sequence %q (want ~SEQ(...), ~SEQx(...) or ~LST(...))", firstWord(text))
		return
	}
	close := matchParen(text, open)
	if close < 0 {
		r.errorf(pos, "%s: no closing \")\"", firstWord(text))
		return
	}
	spec, rest := text[open+1:close], strings.TrimSpace(text[close+1:])
	if lst {
		vars, rows, err := parseList(spec)
		if err != nil {
			r.errorf(pos, "~LST: %v", err)
			return
		}
		for _, row := range rows {
			for i, v := range vars {
				r.params[v] = row[i]
			}
			r.logical(pos, dir, rest, depth+1)
		}
		return
	}
	args := splitTop(spec, ',')
	for i := range args {
		args[i] = strings.TrimSpace(args[i])
	}
	if len(args) < 2 || len(args) > 4 {
		r.errorf(pos, "~SEQ needs (var, [start, [step,]] end), got %d values", len(args))
		return
	}
	v := args[0]
	nums := make([]int64, 0, 3)
	for _, a := range args[1:] {
		n, err := strconv.ParseInt(a, 0, 64)
		if err != nil {
			r.errorf(pos, "~SEQ: %q is not an integer", a)
			return
		}
		nums = append(nums, n)
	}
	var start, step, end int64
	switch len(nums) {
	case 1:
		end = nums[0]
		start = 1
		if end < 0 {
			start = -1
		}
	case 2:
		start, end = nums[0], nums[1]
	case 3:
		start, step, end = nums[0], nums[1], nums[2]
	}
	if step == 0 {
		step = 1
		if end < start {
			step = -1
		}
	}
	const maxRepeat = 1 << 16
	count := 0
	for x := start; (step > 0 && x <= end) || (step < 0 && x >= end); x += step {
		if count++; count > maxRepeat {
			r.errorf(pos, "~SEQ repeats more than %d times", maxRepeat)
			return
		}
		if hex {
			r.params[v] = strconv.FormatInt(x, 16)
		} else {
			r.params[v] = strconv.FormatInt(x, 10)
		}
		r.logical(pos, dir, rest, depth+1)
	}
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t("); i > 0 {
		return s[:i]
	}
	return s
}

func matchParen(s string, open int) int {
	d := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			d++
		case ')':
			d--
			if d == 0 {
				return i
			}
		}
	}
	return -1
}

// splitTop splits on sep outside braces.
func splitTop(s string, sep byte) []string {
	var out []string
	d, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			d++
		case '}':
			d--
		case sep:
			if d == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// parseList reads "var, v1, v2" or "{a,b}, {1,2}, {3,4}".
func parseList(spec string) (vars []string, rows [][]string, err error) {
	parts := splitTop(spec, ',')
	if len(parts) < 2 {
		return nil, nil, fmt.Errorf("needs a variable and at least one value")
	}
	group := func(s string) []string {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			s = s[1 : len(s)-1]
		}
		f := strings.Split(s, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		return f
	}
	vars = group(parts[0])
	for _, p := range parts[1:] {
		row := group(p)
		if len(row) != len(vars) {
			return nil, nil, fmt.Errorf("%q has %d values for %d variables", strings.TrimSpace(p), len(row), len(vars))
		}
		rows = append(rows, row)
	}
	return vars, rows, nil
}
