package config

import (
	"sort"

	"lvsha/internal/cfgerr"
)

// Error is one problem found in an ldirectord.cf file ("file:line: msg").
type Error = cfgerr.Error

// Warning is a problem that does not stop ldird from starting; ldirectord
// prints the same class of message as "Warning [pid] reading file ...".
type Warning = Error

// Errors is every problem found in one file, ordered by line. Parse returns
// it as its error, so one run shows everything to fix (ldirectord stops at
// the first).
type Errors = cfgerr.Errors

// maxErrors bounds the list so a binary file fed to the parser (or the
// fuzzer) cannot produce an unbounded number of messages.
const maxErrors = 200

// report accumulates the errors and warnings of one parse.
type report struct{ cfgerr.Report }

func newReport(file string) *report {
	return &report{cfgerr.Report{File: file, Max: maxErrors}}
}

func (r *report) errorf(line int, format string, a ...any) { r.Errorf(line, format, a...) }

func (r *report) wrapf(line int, cause error, format string, a ...any) {
	r.Wrapf(line, cause, format, a...)
}

func (r *report) warnf(line int, format string, a ...any) { r.Warnf(line, format, a...) }

// err returns the errors sorted by line, or nil (never a typed nil).
func (r *report) err() error {
	sort.SliceStable(r.Errs, func(i, j int) bool { return r.Errs[i].Line < r.Errs[j].Line })
	return r.Err()
}
