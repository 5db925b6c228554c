package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem found in an ldirectord.cf file.
type Error struct {
	File string
	Line int // 0 when the problem concerns the file as a whole
	Msg  string
	Err  error // underlying cause (a resolver or I/O error), for errors.Is / errors.As
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Warning is a problem that does not stop ldird from starting; ldirectord
// prints the same class of message as "Warning [pid] reading file ...".
type Warning = Error

// Errors is every problem found in one file, ordered by line. Parse returns
// it as its error, so one run shows everything to fix (ldirectord stops at
// the first).
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.Is / errors.As see each entry and its cause.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// report accumulates the errors and warnings of one parse.
type report struct {
	file     string
	errs     Errors
	warnings []*Warning
}

// maxErrors bounds the list so a binary file fed to the parser (or the
// fuzzer) cannot produce an unbounded number of messages.
const maxErrors = 200

func (r *report) errorf(line int, format string, a ...any) {
	r.wrapf(line, nil, format, a...)
}

func (r *report) wrapf(line int, cause error, format string, a ...any) {
	if len(r.errs) == maxErrors {
		r.errs = append(r.errs, &Error{File: r.file, Msg: "too many errors; giving up"})
	}
	if len(r.errs) > maxErrors {
		return
	}
	r.errs = append(r.errs, &Error{File: r.file, Line: line, Msg: fmt.Sprintf(format, a...), Err: cause})
}

func (r *report) warnf(line int, format string, a ...any) {
	if len(r.warnings) >= maxErrors {
		return
	}
	r.warnings = append(r.warnings, &Warning{File: r.file, Line: line, Msg: fmt.Sprintf(format, a...)})
}

// err returns the errors sorted by line, or nil (never a typed nil).
func (r *report) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	sort.SliceStable(r.errs, func(i, j int) bool { return r.errs[i].Line < r.errs[j].Line })
	return r.errs
}
