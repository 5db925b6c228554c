// Package logging holds the slog handlers both daemons use for the system
// log: syslog at a named facility, and systemd's journal stream, each record
// at the syslog priority of its level. hbd and ldird choose their
// destinations themselves; this package only formats and sends.
package logging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strings"
	"sync"
	"syscall"
)

// facilities are the syslog facility names both daemons accept.
var facilities = map[string]syslog.Priority{
	"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL, "daemon": syslog.LOG_DAEMON,
	"auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG, "lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS,
	"uucp": syslog.LOG_UUCP, "cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// Facility returns the syslog facility of a name ("daemon", "LOCAL0"; case
// does not matter).
func Facility(name string) (syslog.Priority, bool) {
	f, ok := facilities[strings.ToLower(name)]
	return f, ok
}

// NoTime is a ReplaceAttr that drops slog's time attribute: syslog and
// the journal stamp each record themselves.
func NoTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// priority is the syslog priority of a level.
func priority(l slog.Level) syslog.Priority {
	switch {
	case l >= slog.LevelError:
		return syslog.LOG_ERR
	case l >= slog.LevelWarn:
		return syslog.LOG_WARNING
	case l >= slog.LevelInfo:
		return syslog.LOG_INFO
	}
	return syslog.LOG_DEBUG
}

// lineHandler formats a record as one slog text line without the time
// into a buffer and hands it to emit. Handlers made by WithAttrs and
// WithGroup share the buffer and its lock.
type lineHandler struct {
	mu    *sync.Mutex
	buf   *bytes.Buffer
	inner slog.Handler
	emit  func(prio syslog.Priority, line []byte) error
}

func newLineHandler(level slog.Leveler, emit func(syslog.Priority, []byte) error) *lineHandler {
	buf := &bytes.Buffer{}
	return &lineHandler{mu: &sync.Mutex{}, buf: buf, emit: emit,
		inner: slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level, ReplaceAttr: NoTime})}
}

func (h *lineHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	return &c
}

func (h *lineHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	return &c
}

func (h *lineHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	return h.emit(priority(r.Level), h.buf.Bytes())
}

// Syslog is a handler sending each record as one syslog message, at the
// priority of its level, under a tag and facility.
type Syslog struct {
	*lineHandler
	w *syslog.Writer
}

// NewSyslog connects to the local syslog daemon. facility is a name as
// Facility takes it; records below level are dropped.
func NewSyslog(facility, tag string, level slog.Leveler) (*Syslog, error) {
	fac, ok := Facility(facility)
	if !ok {
		return nil, errors.New("unknown syslog facility") // the caller names it
	}
	w, err := syslog.New(fac|syslog.LOG_INFO, tag)
	if err != nil {
		return nil, err
	}
	return newSyslog(w, level), nil
}

func newSyslog(w *syslog.Writer, level slog.Leveler) *Syslog {
	return &Syslog{lineHandler: newLineHandler(level, func(p syslog.Priority, line []byte) error {
		msg := strings.TrimRight(string(line), "\n")
		switch p {
		case syslog.LOG_ERR:
			return w.Err(msg)
		case syslog.LOG_WARNING:
			return w.Warning(msg)
		case syslog.LOG_INFO:
			return w.Info(msg)
		}
		return w.Debug(msg)
	}), w: w}
}

// Close closes the connection to syslog.
func (h *Syslog) Close() error { return h.w.Close() }

// NewJournal returns a handler writing one line per record to a stream
// systemd reads into the journal: slog text without the time, prefixed
// with the record's syslog priority ("<3>" error, "<4>" warning, "<6>"
// info, "<7>" debug), which journald strips and stores as PRIORITY, so
// `journalctl -p warning` works.
func NewJournal(w io.Writer, level slog.Leveler) slog.Handler {
	return newLineHandler(level, func(p syslog.Priority, line []byte) error {
		_, err := fmt.Fprintf(w, "<%d>%s", p, line)
		return err
	})
}

// JournalStream reports whether f is the stream systemd connected to the
// journal (JOURNAL_STREAM is "device:inode" of that stream).
func JournalStream(f *os.File) bool {
	js := os.Getenv("JOURNAL_STREAM")
	if js == "" || f == nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return js == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
