package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strings"
	"sync"

	"lvsha/hbd/config"
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
		h, err := newSyslogHandler(f, level)
		if err != nil {
			// No syslog socket (a container, a test namespace): say so
			// and keep the other destinations rather than refuse to run.
			fmt.Fprintf(stderr, "WARN: logfacility %s: %v\n", f, err)
		} else {
			hs = append(hs, h)
			prev := closeAll
			closeAll = func() { prev(); h.w.Close() }
		}
	}
	return slog.New(slog.NewMultiHandler(hs...)), closeAll, nil
}

// syslogHandler sends each record to syslog (and so to journald) with the
// facility ha.cf names and a priority mapped from the level.
type syslogHandler struct {
	w     *syslog.Writer
	level slog.Level
	mu    *sync.Mutex
	buf   *bytes.Buffer
	text  slog.Handler
}

var facilities = map[string]syslog.Priority{
	"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL, "daemon": syslog.LOG_DAEMON,
	"auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG, "lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS,
	"uucp": syslog.LOG_UUCP, "cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2, "local3": syslog.LOG_LOCAL3,
	"local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5, "local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

func newSyslogHandler(facility string, level slog.Level) (*syslogHandler, error) {
	fac, ok := facilities[strings.ToLower(facility)]
	if !ok {
		return nil, fmt.Errorf("unknown syslog facility")
	}
	w, err := syslog.New(fac|syslog.LOG_INFO, "hbd")
	if err != nil {
		return nil, err
	}
	buf := &bytes.Buffer{}
	// Syslog stamps time itself; the record keeps level, message and attributes.
	text := slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	return &syslogHandler{w: w, level: level, mu: &sync.Mutex{}, buf: buf, text: text}, nil
}

func (h *syslogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	line := strings.TrimSpace(h.buf.String())
	switch {
	case r.Level >= slog.LevelError:
		return h.w.Err(line)
	case r.Level >= slog.LevelWarn:
		return h.w.Warning(line)
	case r.Level >= slog.LevelInfo:
		return h.w.Info(line)
	}
	return h.w.Debug(line)
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.text = h.text.WithAttrs(as)
	return &c
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}
