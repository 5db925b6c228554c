package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"lvsha/hbd/config"
	"lvsha/internal/logging"
)

// newLogger logs as ha.cf asks: logfile gets info and above, debugfile gets
// everything at the debug level in force, and stderr (foreground) gets info.
func newLogger(ha *config.HACF, o options, stderr io.Writer) (*slog.Logger, func(), error) {
	level := slog.LevelInfo
	if o.debug > 0 || ha.Debug > 0 {
		level = slog.LevelDebug
	}
	var hs []slog.Handler
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	open := func(path string) (*os.File, error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("log file: %w", err)
		}
		files = append(files, f)
		return f, nil
	}
	hs = append(hs, slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if ha.LogFile != "" {
		f, err := open(ha.LogFile)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		hs = append(hs, slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if ha.DebugFile != "" {
		f, err := open(ha.DebugFile)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		hs = append(hs, slog.NewTextHandler(f, &slog.HandlerOptions{Level: level}))
	}
	if f := ha.LogFacility; f != "" && f != "none" {
		h, err := logging.NewSyslog(f, "hbd", level)
		if err != nil {
			// No syslog socket (a container, a test namespace): say so
			// and keep the other destinations rather than refuse to run.
			fmt.Fprintf(stderr, "WARN: logfacility %s: %v\n", f, err)
		} else {
			hs = append(hs, h)
			prev := closeAll
			closeAll = func() { prev(); h.Close() }
		}
	}
	return slog.New(slog.NewMultiHandler(hs...)), closeAll, nil
}
