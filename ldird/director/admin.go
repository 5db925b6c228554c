package director

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"lvsha/ldird/config"
)

// AdminState is what an administrator asked for a real of a virtual, over
// whatever its check says (the console, ldird's control socket). Unlike
// maintenancedir, which takes a real down (weight 0 or out, as quiescent
// says), drain and disable say which of the two.
type AdminState string

const (
	// AdminEnabled: the real follows its check (no override).
	AdminEnabled AdminState = "enable"
	// AdminDrained: in the table at weight 0 whatever its check says, so
	// established connections finish and no new ones come.
	AdminDrained AdminState = "drain"
	// AdminDisabled: out of the table (IPVS drops its connections).
	AdminDisabled AdminState = "disable"
)

// ParseAdminState reads "drain", "disable" or "enable".
func ParseAdminState(s string) (AdminState, error) {
	switch st := AdminState(s); st {
	case AdminEnabled, AdminDrained, AdminDisabled:
		return st, nil
	}
	return "", fmt.Errorf("unknown administrative state %q (want drain, disable or enable)", s)
}

// adminKey names a real of a virtual as the configuration does
// (config.Virtual.Key, config.Real.Key), so a reload that keeps the line
// keeps the override.
type adminKey struct{ virtual, real string }

// AdminEntry is one override, as the admin file keeps it.
type AdminEntry struct {
	Virtual string     `json:"virtual"` // config.Virtual.Key: "tcp 10.0.0.1:80", "fwm 5"
	Real    string     `json:"real"`    // config.Real.Key: "10.0.1.2:80"
	State   AdminState `json:"state"`   // drain or disable
	By      string     `json:"by,omitempty"`
	At      time.Time  `json:"at"`
}

// adminFile is the admin file's content.
type adminFile struct {
	Version int          `json:"version"`
	Reals   []AdminEntry `json:"reals"`
}

const adminFileVersion = 1

// loadAdmin reads the admin file; a missing file is no override. A file
// that cannot be read or parsed is an error naming it: starting without
// the overrides it holds would put a drained real back in service.
func loadAdmin(path string) (map[adminKey]AdminEntry, error) {
	out := map[adminKey]AdminEntry{}
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
	var f adminFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("admin state file %s: %w (remove it to start without overrides)", path, err)
	}
	if f.Version != adminFileVersion {
		return nil, fmt.Errorf("admin state file %s: version %d, want %d", path, f.Version, adminFileVersion)
	}
	for i, e := range f.Reals {
		if e.State != AdminDrained && e.State != AdminDisabled {
			return nil, fmt.Errorf("admin state file %s: entry %d: state %q (want drain or disable)", path, i+1, e.State)
		}
		out[adminKey{e.Virtual, e.Real}] = e
	}
	return out, nil
}

// saveAdmin writes the overrides atomically (a temporary file synced, then
// renamed), so a crash leaves the old file or the new one.
func saveAdmin(path string, m map[adminKey]AdminEntry) error {
	if path == "" {
		return nil
	}
	f := adminFile{Version: adminFileVersion, Reals: make([]AdminEntry, 0, len(m))}
	for _, e := range m {
		f.Reals = append(f.Reals, e)
	}
	slices.SortFunc(f.Reals, func(a, b AdminEntry) int {
		return strings.Compare(a.Virtual+" "+a.Real, b.Virtual+" "+b.Real)
	})
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
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("admin state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("admin state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("admin state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("admin state file: %w", err)
	}
	return nil
}

// findReal finds a configured real of a configured virtual. virtual is a
// config.Virtual.Key ("tcp 10.0.0.1:80") or its address alone
// ("10.0.0.1:80"); real is the real as configured (config.Real.Key) or as
// the table holds it (ip:port).
func findReal(cfg *config.Config, virtual, real string, o DesiredOptions) (*config.Virtual, *config.Real, error) {
	if cfg == nil {
		return nil, nil, errors.New("no configuration loaded")
	}
	for _, v := range cfg.Virtuals {
		if v.Key() != virtual && !(v.Protocol != "fwm" && v.Addr.String() == virtual) && IDOf(v).Protocol+" "+IDOf(v).Virtual != virtual {
			continue
		}
		for _, r := range v.Reals {
			if r.Key() == real || DestFor(v, r, r.Weight, o).Key() == real {
				return v, r, nil
			}
		}
		return nil, nil, fmt.Errorf("virtual %s has no real %s", virtual, real)
	}
	return nil, nil, fmt.Errorf("no virtual %s in the configuration", virtual)
}

// Admin implements Administered for Desired: the override of a real.
func (p *planner) Admin(v *config.Virtual, r *config.Real) AdminState {
	if e, ok := p.admin[adminKey{v.Key(), r.Key()}]; ok {
		return e.State
	}
	return AdminEnabled
}

// setAdmin records an override (AdminEnabled removes it) and asks for a
// table pass. The map is replaced, never changed in place: the published
// view shares it.
func (p *planner) setAdmin(k adminKey, e AdminEntry) {
	m := maps.Clone(p.admin)
	if m == nil {
		m = map[adminKey]AdminEntry{}
	}
	if e.State == AdminEnabled {
		delete(m, k)
	} else {
		m[k] = e
	}
	p.admin = m
	p.dirty = true
	p.version++
}

// SetAdmin drains, disables or enables a real of a virtual (names as
// findReal takes them) and returns once the table reflects it. The
// override is written to Options.AdminFile first: when that fails nothing
// changes. by names who asked (for the file and the log).
func (d *Director) SetAdmin(virtual, real string, st AdminState, by string) error {
	if _, err := ParseAdminState(string(st)); err != nil {
		return err
	}
	return d.call(func() error {
		v, r, err := findReal(d.p.cfg, virtual, real, d.p.opt.DesiredOptions)
		if err != nil {
			return err
		}
		k := adminKey{v.Key(), r.Key()}
		e := AdminEntry{Virtual: k.virtual, Real: k.real, State: st, By: by, At: d.now().UTC()}
		next := maps.Clone(d.p.admin)
		if next == nil {
			next = map[adminKey]AdminEntry{}
		}
		if st == AdminEnabled {
			delete(next, k)
		} else {
			next[k] = e
		}
		if err := saveAdmin(d.o.AdminFile, next); err != nil {
			return err
		}
		prev := d.p.Admin(v, r)
		d.p.setAdmin(k, e)
		d.log.Warn("administrative state of a real changed", "virtual", vname(v), "real", k.real,
			"state", string(st), "was", string(prev), "by", by)
		return nil
	})
}

// AdminEntries lists the overrides in force (for status).
func (d *Director) AdminEntries() []AdminEntry {
	m := d.published.Load().admin
	out := make([]AdminEntry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b AdminEntry) int {
		return strings.Compare(a.Virtual+" "+a.Real, b.Virtual+" "+b.Real)
	})
	return out
}

// Administered is the optional part of Health that says what an
// administrator asked for a real (drain, disable); without it every real
// follows its check.
type Administered interface {
	Admin(v *config.Virtual, r *config.Real) AdminState
}
