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
	"sync/atomic"
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

var facilities = map[string]syslog.Priority{
	"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL, "daemon": syslog.LOG_DAEMON,
	"auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG, "lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS,
	"uucp": syslog.LOG_UUCP, "cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// syslogHandler formats records as slog text and sends each as one syslog
// message at the record's severity.
type syslogHandler struct {
	mu    *sync.Mutex
	buf   *bytes.Buffer
	inner slog.Handler
	w     *syslog.Writer
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}
func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &syslogHandler{mu: h.mu, buf: h.buf, inner: h.inner.WithAttrs(as), w: h.w}
}
func (h *syslogHandler) WithGroup(n string) slog.Handler {
	return &syslogHandler{mu: h.mu, buf: h.buf, inner: h.inner.WithGroup(n), w: h.w}
}
func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	msg := strings.TrimRight(h.buf.String(), "\n")
	switch {
	case r.Level >= slog.LevelError:
		return h.w.Err(msg)
	case r.Level >= slog.LevelWarn:
		return h.w.Warning(msg)
	case r.Level >= slog.LevelInfo:
		return h.w.Info(msg)
	}
	return h.w.Debug(msg)
}

// newLogHandler says where logs go: -d → stderr (debug level),
// --foreground → stderr, supervised → stdout, logfile "/path" → that file,
// anything else → the syslog facility of that name (ldirectord's rule).
// A standard stream that systemd connected to the journal gets journal
// lines (see journalHandler).
func newLogHandler(debug, foreground, supervised bool, logfile string, stderr io.Writer) (slog.Handler, io.Closer, error) {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	stream := func(w io.Writer) slog.Handler {
		if f, ok := w.(*os.File); ok && journalStream(f) {
			return newJournalHandler(w, level)
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
	fac, ok := facilities[strings.ToLower(logfile)]
	if !ok {
		return nil, nil, fmt.Errorf("logfile %q: neither an absolute path nor a syslog facility", logfile)
	}
	w, err := syslog.New(fac|syslog.LOG_INFO, "ldirectord")
	if err != nil {
		return nil, nil, fmt.Errorf("syslog facility %s: %w", logfile, err)
	}
	buf := &bytes.Buffer{}
	// syslog stamps time itself.
	topts := &slog.HandlerOptions{Level: level, ReplaceAttr: noTime}
	return &syslogHandler{mu: &sync.Mutex{}, buf: buf, inner: slog.NewTextHandler(buf, topts), w: w}, w, nil
}

// noTime drops slog's time attribute (syslog and the journal stamp
// records themselves).
func noTime(g []string, a slog.Attr) slog.Attr {
	if len(g) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// journalHandler writes one line per record for a stream systemd reads
// into the journal: slog text without the time, prefixed with the
// record's syslog priority ("<3>" error, "<4>" warning, "<6>" info, "<7>"
// debug), which journald strips and stores as PRIORITY, so
// `journalctl -u ldird -p warning` works.
type journalHandler struct {
	mu    *sync.Mutex
	buf   *bytes.Buffer
	inner slog.Handler
	w     io.Writer
}

func newJournalHandler(w io.Writer, level slog.Level) *journalHandler {
	buf := &bytes.Buffer{}
	return &journalHandler{mu: &sync.Mutex{}, buf: buf, w: w,
		inner: slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level, ReplaceAttr: noTime})}
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}
func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{mu: h.mu, buf: h.buf, inner: h.inner.WithAttrs(as), w: h.w}
}
func (h *journalHandler) WithGroup(n string) slog.Handler {
	return &journalHandler{mu: h.mu, buf: h.buf, inner: h.inner.WithGroup(n), w: h.w}
}
func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	prio := "<7>"
	switch {
	case r.Level >= slog.LevelError:
		prio = "<3>"
	case r.Level >= slog.LevelWarn:
		prio = "<4>"
	case r.Level >= slog.LevelInfo:
		prio = "<6>"
	}
	h.buf.WriteString(prio)
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	_, err := h.w.Write(h.buf.Bytes())
	return err
}
