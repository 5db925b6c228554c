package gossip

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// slogWriter adapts memberlist's *log.Logger to slog. memberlist logs every
// failed probe and dial of an unreachable peer, which is routine for a
// heartbeat medium (hbd's membership reports node and link death itself),
// so every line goes out at debug level; memberlist's own level tag is kept
// as an attribute.
type slogWriter struct {
	log   *slog.Logger
	link  string
	watch func(msg string) // sees every line, logged or not; may be nil
}

// newStdLogger returns the *log.Logger memberlist wants. No flags: slog adds
// the time.
func newStdLogger(l *slog.Logger, link string, watch func(msg string)) *log.Logger {
	return log.New(slogWriter{log: l, link: link, watch: watch}, "", 0)
}

// Write receives one formatted line per call (log.Logger guarantees it).
func (w slogWriter) Write(p []byte) (int, error) {
	n := len(p)
	enabled := w.log.Enabled(context.Background(), slog.LevelDebug)
	if !enabled && w.watch == nil {
		return n, nil
	}
	line := bytes.TrimRight(p, "\n")
	level := ""
	if len(line) > 0 && line[0] == '[' {
		if i := bytes.IndexByte(line, ']'); i > 0 {
			level = string(line[1:i])
			line = bytes.TrimLeft(line[i+1:], " ")
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	if w.watch != nil {
		w.watch(string(line))
	}
	if !enabled {
		return n, nil
	}
	w.log.Debug(string(line), "link", w.link, "component", "memberlist", "memberlist_level", level)
	return n, nil
}
