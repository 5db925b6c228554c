// Package cfgerr is the error type of lvsha's configuration parsers: one
// problem with the file and line it is on, printed "file:line: message".
// A parser collects every problem of a file in a Report and returns them
// together as Errors, so one run shows everything to fix.
package cfgerr

import (
	"fmt"
	"strings"
)

// Error is one problem found in a configuration file.
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

// Errors is every problem found; a parser returns it as its error, one
// problem per line of Error().
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.Is / errors.As see each entry and its cause
// (fs.ErrPermission, a resolver error).
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Report accumulates the errors and warnings of one file, in the order
// they are reported.
type Report struct {
	File     string
	Errs     Errors
	Warnings []*Error
	// Max bounds the errors and the warnings kept (0: no bound), so a
	// binary file fed to a parser cannot produce an unbounded number of
	// messages: past it one "too many errors; giving up" ends the list.
	Max int
}

// Errorf records an error at line.
func (r *Report) Errorf(line int, format string, a ...any) {
	r.Wrapf(line, nil, format, a...)
}

// Wrapf records an error at line that keeps its cause for errors.Is.
func (r *Report) Wrapf(line int, cause error, format string, a ...any) {
	if r.Max > 0 {
		if len(r.Errs) > r.Max {
			return
		}
		if len(r.Errs) == r.Max {
			r.Errs = append(r.Errs, &Error{File: r.File, Msg: "too many errors; giving up"})
			return
		}
	}
	r.Errs = append(r.Errs, &Error{File: r.File, Line: line, Msg: fmt.Sprintf(format, a...), Err: cause})
}

// Warnf records a problem that does not stop the file from being used.
func (r *Report) Warnf(line int, format string, a ...any) {
	if r.Max > 0 && len(r.Warnings) >= r.Max {
		return
	}
	r.Warnings = append(r.Warnings, &Error{File: r.File, Line: line, Msg: fmt.Sprintf(format, a...)})
}

// Err returns the errors, or nil (never a typed nil) when there are none.
func (r *Report) Err() error {
	if len(r.Errs) == 0 {
		return nil
	}
	return r.Errs
}
