package director

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"lvsha/ldird/adminstate"
	"lvsha/ldird/config"
)

// AdminState is what an administrator asked for a real of a virtual, over
// whatever its check says (the console, ldird's control socket). Unlike
// maintenancedir, which takes a real down (weight 0 or out, as quiescent
// says), drain and disable say which of the two.
type AdminState = adminstate.State

const (
	// AdminEnabled: the real follows its check (no override).
	AdminEnabled = adminstate.Enabled
	// AdminDrained: in the table at weight 0 whatever its check says, so
	// established connections finish and no new ones come.
	AdminDrained = adminstate.Drained
	// AdminDisabled: out of the table (IPVS drops its connections).
	AdminDisabled = adminstate.Disabled
)

// ParseAdminState reads "drain", "disable" or "enable".
func ParseAdminState(s string) (AdminState, error) { return adminstate.Parse(s) }

// adminKey names a real of a virtual as the configuration does.
type adminKey = adminstate.Key

// AdminEntry is one override, as the admin file keeps it.
type AdminEntry = adminstate.Entry

func loadAdmin(path string) (map[adminKey]AdminEntry, error) { return adminstate.Load(path) }

func saveAdmin(path string, m map[adminKey]AdminEntry) error { return adminstate.Save(path, m) }

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
	if e, ok := p.admin[adminKey{Virtual: v.Key(), Real: r.Key()}]; ok {
		return e.State
	}
	return AdminEnabled
}

// setAdmin takes the overrides m and asks for a table pass. The map is
// replaced, never changed in place: the published view shares it.
func (p *planner) setAdmin(m map[adminKey]AdminEntry) {
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
		k := adminKey{Virtual: v.Key(), Real: r.Key()}
		next := adminstate.Set(d.p.admin, k, st, by, d.now())
		if err := saveAdmin(d.o.AdminFile, next); err != nil {
			return err
		}
		prev := d.p.Admin(v, r)
		d.p.setAdmin(next)
		d.log.Warn("administrative state of a real changed", "virtual", vname(v), "real", k.Real,
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
