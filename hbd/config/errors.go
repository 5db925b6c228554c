// Package config reads Heartbeat 3.0.6 configuration files (ha.cf, authkeys,
// haresources) into typed, validated values, so an administrator's
// /etc/ha.d runs unchanged. The rules follow spec/ha-cf.md; every problem is
// reported with file:line, and parsers collect all problems rather than
// stopping at the first, so one run of `hbd -t` shows everything to fix.
package config

import (
	"fmt"
	"strings"
)

// Error is one problem found in a configuration file.
type Error struct {
	File string
	Line int // 0 when the problem concerns the file as a whole
	Msg  string
	Err  error // underlying cause, if any (for errors.Is / errors.As)
}

// Warning is a problem that does not stop startup.
type Warning = Error

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found; a parser returns it as its error.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.Is see each cause (e.g. fs.ErrPermission).
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// report accumulates errors and warnings for one file.
type report struct {
	file     string
	errs     Errors
	warnings []*Error
}

func (r *report) errorf(line int, format string, a ...any) {
	r.errs = append(r.errs, &Error{File: r.file, Line: line, Msg: fmt.Sprintf(format, a...)})
}

// wrapf records an error that keeps its cause for errors.Is.
func (r *report) wrapf(line int, cause error, format string, a ...any) {
	r.errs = append(r.errs, &Error{File: r.file, Line: line, Msg: fmt.Sprintf(format, a...), Err: cause})
}

func (r *report) warnf(line int, format string, a ...any) {
	r.warnings = append(r.warnings, &Error{File: r.file, Line: line, Msg: fmt.Sprintf(format, a...)})
}

// err returns the collected errors, or nil (not a typed nil) when there are none.
func (r *report) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return r.errs
}
