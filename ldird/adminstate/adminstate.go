// Package adminstate is the file in which ldird keeps an administrator's
// overrides of its reals (drain, disable) across restarts. ldird reads it
// at start and rewrites it on every change; hbd's web console writes it
// for a director whose ldird is not running, so that ldird starts with the
// override when the director takes the service over.
package adminstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// State is what an administrator asked for a real.
type State string

const (
	// Enabled: the real follows its check (no override).
	Enabled State = "enable"
	// Drained: in the table at weight 0 whatever its check says.
	Drained State = "drain"
	// Disabled: out of the table.
	Disabled State = "disable"
)

// Parse reads "drain", "disable" or "enable".
func Parse(s string) (State, error) {
	switch st := State(s); st {
	case Enabled, Drained, Disabled:
		return st, nil
	}
	return "", fmt.Errorf("unknown administrative state %q (want drain, disable or enable)", s)
}

// Key names a real of a virtual as the configuration does (ldird's
// config.Virtual.Key "tcp 10.0.0.1:80" and config.Real.Key "10.0.1.2:80"),
// so a reload that keeps the line keeps the override.
type Key struct{ Virtual, Real string }

// Entry is one override.
type Entry struct {
	Virtual string    `json:"virtual"`
	Real    string    `json:"real"`
	State   State     `json:"state"` // drain or disable
	By      string    `json:"by,omitempty"`
	At      time.Time `json:"at"`
}

type file struct {
	Version int     `json:"version"`
	Reals   []Entry `json:"reals"`
}

const version = 1

// Load reads the overrides; a missing file (or path "") is none. A file
// that cannot be read or parsed is an error naming it: starting without
// the overrides it holds would put a drained real back in service.
func Load(path string) (map[Key]Entry, error) {
	out := map[Key]Entry{}
	if path == "" {
		return out, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("admin state file: %w", err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("admin state file %s: %w (remove it to start without overrides)", path, err)
	}
	if f.Version != version {
		return nil, fmt.Errorf("admin state file %s: version %d, want %d", path, f.Version, version)
	}
	for i, e := range f.Reals {
		if e.State != Drained && e.State != Disabled {
			return nil, fmt.Errorf("admin state file %s: entry %d: state %q (want drain or disable)", path, i+1, e.State)
		}
		out[Key{e.Virtual, e.Real}] = e
	}
	return out, nil
}

// Save writes the overrides atomically (a temporary file synced, then
// renamed), so a crash leaves the old file or the new one. Path "" keeps
// nothing.
func Save(path string, m map[Key]Entry) error {
	if path == "" {
		return nil
	}
	f := file{Version: version, Reals: make([]Entry, 0, len(m))}
	for _, e := range m {
		f.Reals = append(f.Reals, e)
	}
	slices.SortFunc(f.Reals, func(a, b Entry) int { return strings.Compare(a.Virtual+" "+a.Real, b.Virtual+" "+b.Real) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("admin state file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin-")
	if err != nil {
		return fmt.Errorf("admin state file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("admin state file: %w", err)
	}
	return nil
}

// Set returns m with k set to st (Enabled removes it); m is not changed.
func Set(m map[Key]Entry, k Key, st State, by string, at time.Time) map[Key]Entry {
	next := make(map[Key]Entry, len(m)+1)
	for kk, e := range m {
		next[kk] = e
	}
	if st == Enabled {
		delete(next, k)
	} else {
		next[k] = Entry{Virtual: k.Virtual, Real: k.Real, State: st, By: by, At: at.UTC()}
	}
	return next
}

// Record changes one override in the file at path (for an ldird that is
// not running; a running one is told over its control socket instead).
func Record(path string, k Key, st State, by string, at time.Time) error {
	m, err := Load(path)
	if err != nil {
		return err
	}
	return Save(path, Set(m, k, st, by, at))
}
