package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"lvsha/internal/logging"
)

// swapHandler lets the daemon switch log destinations on reload (logfile
// may change) while every component keeps the logger it was given.
type swapHandler struct {
	cur  *atomic.Pointer[slog.Handler]
	wrap func(slog.Handler) slog.Handler
}

func newSwapHandler(h slog.Handler) *swapHandler {
	p := &atomic.Pointer[slog.Handler]{}
	p.Store(&h)
	return &swapHandler{cur: p}
}

func (s *swapHandler) set(h slog.Handler) { s.cur.Store(&h) }

func (s *swapHandler) handler() slog.Handler {
	h := *s.cur.Load()
	if s.wrap != nil {
		h = s.wrap(h)
	}
	return h
}

func (s *swapHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.handler().Enabled(ctx, l)
}
func (s *swapHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.handler().Handle(ctx, r)
}
func (s *swapHandler) WithAttrs(as []slog.Attr) slog.Handler {
	prev := s.wrap
	return &swapHandler{cur: s.cur, wrap: func(h slog.Handler) slog.Handler {
		if prev != nil {
			h = prev(h)
		}
		return h.WithAttrs(as)
	}}
}
func (s *swapHandler) WithGroup(name string) slog.Handler {
	prev := s.wrap
	return &swapHandler{cur: s.cur, wrap: func(h slog.Handler) slog.Handler {
		if prev != nil {
			h = prev(h)
		}
		return h.WithGroup(name)
	}}
}

// reopenWriter appends each record to a file it opens and closes every
// time, as ldirectord does, so logrotate needs no signal.
type reopenWriter struct {
	mu   sync.Mutex
	path string
}

func (w *reopenWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		os.Stderr.Write(p) // nowhere else to go; ldirectord does the same
		return 0, err
	}
	n, err := f.Write(p)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// newLogHandler says where logs go: -d → stderr (debug level),
// --foreground → stderr, supervised → stdout, logfile "/path" → that file,
// anything else → the syslog facility of that name (ldirectord's rule).
// A standard stream that systemd connected to the journal gets journal
// lines (logging.NewJournal).
func newLogHandler(debug, foreground, supervised bool, logfile string, stderr io.Writer) (slog.Handler, io.Closer, error) {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	stream := func(w io.Writer) slog.Handler {
		if f, ok := w.(*os.File); ok && logging.JournalStream(f) {
			return logging.NewJournal(w, level)
		}
		return slog.NewTextHandler(w, opts)
	}
	switch {
	case debug, foreground:
		return stream(stderr), nil, nil
	case supervised:
		return stream(os.Stdout), nil, nil
	case strings.HasPrefix(logfile, "/"):
		return slog.NewTextHandler(&reopenWriter{path: logfile}, opts), nil, nil
	}
	if _, ok := logging.Facility(logfile); !ok {
		return nil, nil, fmt.Errorf("logfile %q: neither an absolute path nor a syslog facility", logfile)
	}
	h, err := logging.NewSyslog(logfile, "ldirectord", level)
	if err != nil {
		return nil, nil, fmt.Errorf("syslog facility %s: %w", logfile, err)
	}
	return h, h, nil
}
