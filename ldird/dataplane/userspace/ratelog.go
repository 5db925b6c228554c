package userspace

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// rateLog keeps per-connection warnings from flooding the log: the first
// occurrence of a key (a message and a service) is logged at once; later
// ones within the interval are counted, and when the interval ends one line
// says how many there were (with the last one's attributes). A key quiet
// for a whole interval is forgotten, so the map holds only active keys.
type rateLog struct {
	log   *slog.Logger
	every time.Duration

	mu     sync.Mutex
	m      map[rateKey]*rateEntry
	closed bool
}

type rateKey struct {
	msg, svc string
}

type rateEntry struct {
	level slog.Level
	n     int   // suppressed in this interval
	args  []any // of the last suppressed one
	t     *time.Timer
}

func newRateLog(log *slog.Logger, every time.Duration) *rateLog {
	return &rateLog{log: log, every: every, m: map[rateKey]*rateEntry{}}
}

// warn logs msg at warning level, limited per (msg, svc).
func (r *rateLog) warn(msg, svc string, args ...any) { r.emit(slog.LevelWarn, msg, svc, args) }

// debug is warn at debug level (and free when debug is off).
func (r *rateLog) debug(msg, svc string, args ...any) {
	if !r.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	r.emit(slog.LevelDebug, msg, svc, args)
}

func (r *rateLog) emit(level slog.Level, msg, svc string, args []any) {
	k := rateKey{msg, svc}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if e := r.m[k]; e != nil {
		e.n++
		e.args = args
		r.mu.Unlock()
		return
	}
	e := &rateEntry{level: level}
	r.m[k] = e
	e.t = time.AfterFunc(r.every, func() { r.flush(k, e) })
	r.mu.Unlock()
	r.log.Log(context.Background(), level, msg, append([]any{"service", svc}, args...)...)
}

// flush ends an interval: one line for what it suppressed, or the key is
// forgotten when it suppressed nothing.
func (r *rateLog) flush(k rateKey, e *rateEntry) {
	r.mu.Lock()
	if r.m[k] != e {
		r.mu.Unlock()
		return
	}
	n, args := e.n, e.args
	if n == 0 || r.closed {
		delete(r.m, k)
	} else {
		e.n, e.args = 0, nil
		e.t.Reset(r.every)
	}
	r.mu.Unlock()
	if n > 0 {
		r.log.Log(context.Background(), e.level, msg(k.msg, n), append([]any{"service", k.svc, "times", n, "interval", r.every}, args...)...)
	}
}

func msg(m string, n int) string {
	if n == 1 {
		return m + " (once more)"
	}
	return m + " (repeated)"
}

// close logs what is still counted and stops the timers.
func (r *rateLog) close() {
	type line struct {
		k rateKey
		e rateEntry
	}
	r.mu.Lock()
	r.closed = true
	var pending []line
	for k, e := range r.m {
		e.t.Stop()
		if e.n > 0 {
			pending = append(pending, line{k, rateEntry{level: e.level, n: e.n, args: e.args}})
		}
	}
	clear(r.m)
	r.mu.Unlock()
	for _, l := range pending {
		r.log.Log(context.Background(), l.e.level, msg(l.k.msg, l.e.n), append([]any{"service", l.k.svc, "times", l.e.n, "interval", r.every}, l.e.args...)...)
	}
}
