// Package lvscf reads Piranha's /etc/sysconfig/ha/lvs.cf (lvs.cf(5), as
// piranha 0.8.x and its web tool write it): global "key = value" lines,
// "virtual NAME {" sections holding "server NAME {" sections, and
// "failover NAME {" sections, each closed by "}". Every value keeps the file
// and line it came from.
//
// Values are kept as written except that a value wholly in double quotes
// loses its quotes (send = "GET / HTTP/1.0\r\n\r\n" gives the text between
// them, backslash sequences untouched: nanny decodes \n, \r, \t, \\, \'
// and \" itself, and so does the mapper).
package lvscf

import (
	"fmt"
	"os"
	"strings"

	"lvsha/internal/cfgerr"
)

// Setting is one "key = value" line.
type Setting struct {
	Key, Value string
	Line       int
	Quoted     bool // the value was written in double quotes
}

// Section is a "virtual NAME {", "server NAME {" or "failover NAME {" block.
type Section struct {
	Kind, Name string
	Line       int
	Settings   []*Setting
	Sections   []*Section // servers of a virtual
}

// Get returns the last setting named key (a later line wins), or nil.
func (s *Section) Get(key string) *Setting { return last(s.Settings, key) }

// Config is one lvs.cf.
type Config struct {
	Path     string
	Settings []*Setting // globals
	Sections []*Section // virtual and failover sections, in file order
}

// Get returns the last global setting named key, or nil.
func (c *Config) Get(key string) *Setting { return last(c.Settings, key) }

func last(ss []*Setting, key string) *Setting {
	var out *Setting
	for _, s := range ss {
		if s.Key == key {
			out = s
		}
	}
	return out
}

// Error is a problem at a line of the file, "file:line: message", as
// every lvsha configuration parser reports it.
type Error = cfgerr.Error

// Errors is every problem found.
type Errors = cfgerr.Errors

// Parse reads the file at path.
func Parse(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lvs.cf: %w", err)
	}
	return ParseBytes(path, data)
}

// sectionKinds are the block keywords and where each may appear.
var sectionKinds = map[string]string{"virtual": "", "failover": "", "server": "virtual"}

// ParseBytes reads an lvs.cf held in memory; name is used in errors.
func ParseBytes(name string, data []byte) (*Config, error) {
	cfg := &Config{Path: name}
	var errs Errors
	errorf := func(ln int, format string, a ...any) {
		errs = append(errs, &Error{File: name, Line: ln, Msg: fmt.Sprintf(format, a...)})
	}
	var stack []*Section
	for i, raw := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
		ln := i + 1
		text := strings.TrimSpace(stripComment(raw))
		if text == "" {
			continue
		}
		if text == "}" {
			if len(stack) == 0 {
				errorf(ln, "\"}\" without a section to close")
				continue
			}
			stack = stack[:len(stack)-1]
			continue
		}
		if strings.HasSuffix(text, "{") && !strings.Contains(text, "=") {
			f := strings.Fields(strings.TrimSpace(strings.TrimSuffix(text, "{")))
			if len(f) < 1 {
				errorf(ln, "\"{\" without a section name")
				continue
			}
			parent, known := sectionKinds[f[0]]
			if !known {
				errorf(ln, "unknown section %q (lvs.cf has virtual, server and failover sections)", f[0])
			}
			in := ""
			if len(stack) > 0 {
				in = stack[len(stack)-1].Kind
			}
			if known && parent != in {
				where := "at the top level"
				if parent != "" {
					where = "inside a " + parent + " section"
				}
				errorf(ln, "%s section outside its place (it belongs %s)", f[0], where)
			}
			sec := &Section{Kind: f[0], Name: strings.Join(f[1:], " "), Line: ln}
			if len(stack) > 0 {
				stack[len(stack)-1].Sections = append(stack[len(stack)-1].Sections, sec)
			} else {
				cfg.Sections = append(cfg.Sections, sec)
			}
			stack = append(stack, sec)
			continue
		}
		key, val, ok := strings.Cut(text, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			errorf(ln, "expected \"key = value\", got %q", text)
			continue
		}
		s := &Setting{Key: key, Value: strings.TrimSpace(val), Line: ln}
		if v := s.Value; len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			s.Value, s.Quoted = v[1:len(v)-1], true
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			top.Settings = append(top.Settings, s)
		} else {
			cfg.Settings = append(cfg.Settings, s)
		}
	}
	for _, s := range stack {
		errorf(s.Line, "%s %s: section not closed (missing \"}\")", s.Kind, s.Name)
	}
	if len(errs) > 0 {
		return cfg, errs
	}
	return cfg, nil
}

// stripComment cuts a line at "#" outside double quotes.
func stripComment(s string) string {
	in := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if in {
				i++
			}
		case '"':
			in = !in
		case '#':
			if !in {
				return s[:i]
			}
		}
	}
	return s
}
