// Package syncd keeps the kernel's IPVS connection synchronisation daemons
// as ldirectord.cf's syncdaemon directive asks: both roles, master and
// backup, on every director (keepalived's lesson: nothing has to change at
// a failover, and a director that comes back learns the connections of the
// one that now serves). It reconciles the wanted daemons against the ones
// the kernel runs, through dataplane.SyncDaemons.
//
// The kernel runs at most one daemon per role in a network namespace and
// does not say who started it. So the manager records in a file (in
// ldird's run directory) each daemon it started: as configured, and as the
// kernel reported it right after the start. A running daemon is ldird's
// when the kernel still reports exactly the recorded one; anything else
// (started by `ipvsadm --start-daemon`, another ldird, keepalived, or
// restarted by hand with other parameters) belongs to someone else and is
// never stopped or changed, only reported. The record outlives a crash of
// ldird (kill -9 leaves the daemons running, like the table), so the next
// ldird adopts them instead of taking them for someone else's; a reboot
// clears both the kernel and the run directory.
package syncd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

// Roles is the order daemons are handled and shown in.
var Roles = []dataplane.SyncRole{dataplane.SyncMaster, dataplane.SyncBackup}

// record is what the manager knows of a daemon it started.
type record struct {
	Asked  dataplane.SyncDaemon `json:"asked"`  // as configured
	Kernel dataplane.SyncDaemon `json:"kernel"` // as the kernel reported it after the start
}

// Daemon is a running daemon as Status reports it.
type Daemon struct {
	dataplane.SyncDaemon
	Ours bool // started by ldird (recorded), so ldird changes and stops it
}

// Manager reconciles the kernel's sync daemons with the configuration.
type Manager struct {
	k    dataplane.SyncDaemons
	path string
	log  *slog.Logger

	mu    sync.Mutex
	owned map[dataplane.SyncRole]record
	want  *config.SyncDaemon // the last configuration applied
}

// New makes a manager over k that keeps its record at path. A record left
// by an earlier ldird is read now; one that cannot be read is logged and
// ignored (the daemons it named then count as someone else's).
func New(k dataplane.SyncDaemons, path string, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{k: k, path: path, log: log, owned: map[dataplane.SyncRole]record{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		log.Warn("sync daemon record unreadable; daemons running now count as someone else's", "path", path, "err", err)
	default:
		if err := json.Unmarshal(b, &m.owned); err != nil {
			log.Warn("sync daemon record unreadable; daemons running now count as someone else's", "path", path, "err", err)
			m.owned = map[dataplane.SyncRole]record{}
		}
	}
	return m
}

// Wanted is the daemons sd asks for: master and backup with the same
// parameters. Nil sd asks for none.
func Wanted(sd *config.SyncDaemon) map[dataplane.SyncRole]dataplane.SyncDaemon {
	out := map[dataplane.SyncRole]dataplane.SyncDaemon{}
	if sd == nil {
		return out
	}
	for _, r := range Roles {
		out[r] = dataplane.SyncDaemon{Role: r, Interface: sd.Interface, SyncID: sd.SyncID, MaxLen: sd.MaxLen,
			Group: sd.Group, Port: sd.Port, TTL: sd.TTL}
	}
	return out
}

// running reads the kernel's daemons by role.
func (m *Manager) running() (map[dataplane.SyncRole]dataplane.SyncDaemon, error) {
	ds, err := m.k.SyncDaemons()
	if err != nil {
		return nil, err
	}
	out := map[dataplane.SyncRole]dataplane.SyncDaemon{}
	for _, d := range ds {
		out[d.Role] = d
	}
	return out, nil
}

// forgetGone drops records whose daemon the kernel no longer runs as it
// was started (stopped or replaced by someone else); m.mu is held.
func (m *Manager) forgetGone(run map[dataplane.SyncRole]dataplane.SyncDaemon) {
	for role, rec := range m.owned {
		if cur, ok := run[role]; !ok || cur != rec.Kernel {
			m.log.Warn("the sync daemon ldird started is no longer running as started; it is someone else's now",
				"role", role, "started", rec.Kernel.String(), "running", describe(cur, ok))
			delete(m.owned, role)
		}
	}
}

func describe(d dataplane.SyncDaemon, ok bool) string {
	if !ok {
		return "none"
	}
	return d.String()
}

// Apply makes the kernel run what sd asks for (nil: nothing of ldird's):
// it starts a missing daemon, restarts one of its own whose parameters
// changed and stops its own that are no longer wanted. A daemon someone
// else started is left as it is, with a warning when it differs from sd.
// On an error the daemons already handled stay as they are now.
func (m *Manager) Apply(sd *config.SyncDaemon) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sd == nil && len(m.owned) == 0 {
		// Not used and nothing of ours to stop: the kernel is not asked.
		m.want = nil
		return nil
	}
	defer m.save()
	run, err := m.running()
	if err != nil {
		return fmt.Errorf("read the kernel's sync daemons: %w", err)
	}
	m.forgetGone(run)
	want := Wanted(sd)
	for _, role := range Roles {
		w, wanted := want[role]
		cur, running := run[role]
		rec, ours := m.owned[role]
		switch {
		case !wanted && ours:
			if err := m.stop(role); err != nil {
				return err
			}
		case !wanted:
			// Not ours, or none: nothing to do.
		case running && !ours:
			if !sameAsAsked(cur, w) {
				m.log.Warn("a sync daemon started by someone else runs with other parameters; ldird leaves it as it is",
					"role", role, "running", cur.String(), "syncdaemon", w.String())
			} else {
				m.log.Info("sync daemon already running, started by someone else; ldird leaves it to them", "daemon", cur.String())
			}
		case running && rec.Asked == w:
			// Ours and as configured.
		case running:
			old := rec.Asked
			if err := m.stop(role); err != nil {
				return err
			}
			if err := m.start(w); err != nil {
				if rerr := m.start(old); rerr != nil {
					m.log.Error("could not restore the previous sync daemon", "daemon", old.String(), "err", rerr)
				}
				return err
			}
		default:
			if err := m.start(w); err != nil {
				return err
			}
		}
	}
	m.want = sd
	return nil
}

// sameAsAsked: running daemon d does what w asks (zero fields of w are the
// kernel's defaults, which a current kernel reports filled in).
func sameAsAsked(d, w dataplane.SyncDaemon) bool {
	if d.Interface != w.Interface || d.SyncID != w.SyncID {
		return false
	}
	if w.Group.IsValid() && d.Group != w.Group {
		return false
	}
	if w.Port != 0 && d.Port != w.Port {
		return false
	}
	if w.TTL != 0 && d.TTL != w.TTL {
		return false
	}
	return true
}

// start starts d and records it as ours; m.mu is held.
func (m *Manager) start(d dataplane.SyncDaemon) error {
	if err := m.k.StartSyncDaemon(d); err != nil {
		return fmt.Errorf("start the %s sync daemon: %w", d.Role, err)
	}
	run, err := m.running()
	if err != nil {
		return fmt.Errorf("read back the %s sync daemon: %w", d.Role, err)
	}
	got, ok := run[d.Role]
	if !ok {
		return fmt.Errorf("the %s sync daemon stopped right after its start", d.Role)
	}
	m.owned[d.Role] = record{Asked: d, Kernel: got}
	m.log.Info("sync daemon started", "daemon", got.String())
	return nil
}

// stop stops role's daemon, which is ours, and forgets it; m.mu is held.
func (m *Manager) stop(role dataplane.SyncRole) error {
	err := m.k.StopSyncDaemon(role)
	if err != nil && !errors.Is(err, dataplane.ErrNotExist) {
		return fmt.Errorf("stop the %s sync daemon: %w", role, err)
	}
	m.log.Info("sync daemon stopped", "role", role, "daemon", m.owned[role].Kernel.String())
	delete(m.owned, role)
	return nil
}

// Stop stops the daemons ldird started (those the kernel still runs as
// started) and removes the record; the others stay.
func (m *Manager) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.owned) == 0 {
		return nil
	}
	defer m.save()
	run, err := m.running()
	if err != nil {
		return fmt.Errorf("read the kernel's sync daemons: %w", err)
	}
	m.forgetGone(run)
	var errs []error
	for _, role := range Roles {
		if _, ours := m.owned[role]; ours {
			if err := m.stop(role); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Status is the daemons the kernel runs now, master first, each saying
// whether it is ldird's, and the configuration last applied (nil: no
// syncdaemon directive).
func (m *Manager) Status() ([]Daemon, *config.SyncDaemon, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ds, err := m.k.SyncDaemons()
	if err != nil {
		return nil, m.want, err
	}
	out := make([]Daemon, 0, len(ds))
	for _, d := range ds {
		rec, ok := m.owned[d.Role]
		out = append(out, Daemon{SyncDaemon: d, Ours: ok && rec.Kernel == d})
	}
	return out, m.want, nil
}

// Path is where the record is kept.
func (m *Manager) Path() string { return m.path }

// save writes the record (or removes it when ldird owns nothing); m.mu is
// held. A record that cannot be written is logged: the daemons then count
// as someone else's for the next ldird, which is the safe side.
func (m *Manager) save() {
	if len(m.owned) == 0 {
		if err := os.Remove(m.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			m.log.Warn("sync daemon record", "path", m.path, "err", err)
		}
		return
	}
	b, err := json.MarshalIndent(m.owned, "", "  ")
	if err == nil {
		tmp := filepath.Join(filepath.Dir(m.path), "."+filepath.Base(m.path)+".tmp")
		if err = os.WriteFile(tmp, append(b, '\n'), 0o644); err == nil {
			err = os.Rename(tmp, m.path)
		}
	}
	if err != nil {
		m.log.Warn("sync daemon record not written; the next ldird will take these daemons for someone else's", "path", m.path, "err", err)
	}
}
