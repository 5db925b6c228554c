// Package config reads Heartbeat 3.0.6's configuration files (ha.cf,
// authkeys, haresources) into typed, validated values, so an
// administrator's /etc/ha.d runs unchanged. It follows spec/ha-cf.md and
// reports every problem at once with file:line, so one run of `hbd -t`
// shows everything to fix.
package config

import "lvsha/internal/cfgerr"

// Error is one problem found in a configuration file ("file:line: msg").
type Error = cfgerr.Error

// Warning is a problem that does not stop startup.
type Warning = Error

// Errors is every problem found; a parser returns it as its error.
type Errors = cfgerr.Errors

// report accumulates errors and warnings for one file, in the order found.
type report struct{ cfgerr.Report }

func newReport(file string) *report { return &report{cfgerr.Report{File: file}} }

func (r *report) errorf(line int, format string, a ...any) { r.Errorf(line, format, a...) }

// wrapf records an error that keeps its cause for errors.Is.
func (r *report) wrapf(line int, cause error, format string, a ...any) {
	r.Wrapf(line, cause, format, a...)
}

func (r *report) warnf(line int, format string, a ...any) { r.Warnf(line, format, a...) }

// err returns the collected errors, or nil (not a typed nil) when there are none.
func (r *report) err() error { return r.Err() }
