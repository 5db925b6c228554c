package director

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher reports changes of a configuration file's content. It watches
// the file's directory, not the file, so every way of saving is seen: a
// write in place, rename-on-save (vim, sed -i) and a symlink swap; when the
// path is a symlink (or a chain of them) the directories of the targets are
// watched too and re-resolved after each change. Events are debounced
// (a save is often several events) and events that leave the content as
// it was (touch, chmod, an editor's backup file) are ignored by hash, as
// ldirectord compares MD5s.
type Watcher struct {
	path     string
	debounce time.Duration
	log      *slog.Logger
	onChange func(data []byte, firstEvent time.Time)

	w    *fsnotify.Watcher
	done chan struct{}

	mu   sync.Mutex
	last [32]byte
	dirs map[string]bool
}

// maxDebounceDelay bounds how long a stream of events can postpone a
// check, so a busy directory cannot starve reloads.
const maxDebounceDelay = 25 * time.Millisecond

// WatchFile starts watching path. initial is the content already loaded
// (its hash is the reference). onChange runs in the watcher's goroutine
// with the new content and the time of the first event that led to it.
func WatchFile(path string, initial []byte, debounce time.Duration, log *slog.Logger,
	onChange func(data []byte, firstEvent time.Time)) (*Watcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{path: abs, debounce: debounce, log: log, onChange: onChange, w: fw,
		done: make(chan struct{}), last: sha256.Sum256(initial), dirs: map[string]bool{}}
	if err := w.rewatch(); err != nil {
		fw.Close()
		return nil, err
	}
	go w.run()
	return w, nil
}

// Seen records content loaded by other means (SIGHUP), so the watcher does
// not report it again.
func (w *Watcher) Seen(data []byte) {
	w.mu.Lock()
	w.last = sha256.Sum256(data)
	w.mu.Unlock()
}

// Close stops watching.
func (w *Watcher) Close() error {
	err := w.w.Close()
	<-w.done
	return err
}

// Dirs lists the watched directories (for logs and tests).
func (w *Watcher) Dirs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.dirs))
	for d := range w.dirs {
		out = append(out, d)
	}
	return out
}

// targetDirs is the directory of path and of every symlink target on the
// way to the file.
func targetDirs(path string) map[string]bool {
	dirs := map[string]bool{filepath.Dir(path): true}
	p := path
	for range 40 { // ELOOP bound
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			break
		}
		t, err := os.Readlink(p)
		if err != nil {
			break
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		dirs[filepath.Dir(t)] = true
		p = t
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		dirs[filepath.Dir(real)] = true
	}
	return dirs
}

func (w *Watcher) rewatch() error {
	want := targetDirs(w.path)
	w.mu.Lock()
	defer w.mu.Unlock()
	for d := range w.dirs {
		if !want[d] {
			_ = w.w.Remove(d)
			delete(w.dirs, d)
		}
	}
	var firstErr error
	for d := range want {
		if w.dirs[d] {
			continue
		}
		if err := w.w.Add(d); err != nil {
			if firstErr == nil && d == filepath.Dir(w.path) {
				firstErr = fmt.Errorf("watch directory %s: %w", d, err)
			}
			w.log.Warn("cannot watch directory", "dir", d, "err", err)
			continue
		}
		w.dirs[d] = true
	}
	return firstErr
}

func (w *Watcher) run() {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var first time.Time
	pending := false
	for {
		select {
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			now := time.Now()
			if !pending {
				pending, first = true, now
			}
			// Debounce, but never past first+maxDebounceDelay.
			wait := min(w.debounce, time.Until(first.Add(maxDebounceDelay)))
			timer.Reset(max(wait, 0))
			w.log.Debug("config directory event", "name", ev.Name, "op", ev.Op.String())
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			w.log.Warn("config watcher", "err", err)
		case <-timer.C:
			pending = false
			if err := w.rewatch(); err != nil {
				w.log.Warn("config watcher", "err", err)
			}
			data, err := os.ReadFile(w.path)
			if err != nil {
				// Mid-rename or deleted: the event that recreates it follows.
				w.log.Debug("config not readable yet", "path", w.path, "err", err)
				continue
			}
			sum := sha256.Sum256(data)
			w.mu.Lock()
			same := sum == w.last
			w.last = sum
			w.mu.Unlock()
			if !same {
				w.onChange(data, first)
			}
		}
	}
}
