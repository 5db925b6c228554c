package dataplane

import (
	"fmt"
	"sort"
	"sync"
)

// Fake is an in-memory Dataplane for tests. It records every call so tests
// can assert that a reconcile changed only what differed.
type Fake struct {
	mu    sync.Mutex
	svcs  map[string]Service
	dests map[string]map[string]Dest
	Calls []string // "AddService tcp 10.0.0.1:80", "UpdateDest tcp 10.0.0.1:80 10.0.0.2:80 w=0", ...
	// Fail, when set, makes the named operation fail (e.g. "AddDest").
	Fail map[string]error

	syncd map[SyncRole]SyncDaemon
	// Conns is what Connections returns.
	Conns []Conn
}

var (
	_ SyncDaemons = (*Fake)(nil)
	_ ConnLister  = (*Fake)(nil)
)

// NewFake returns an empty table.
func NewFake() *Fake {
	return &Fake{svcs: map[string]Service{}, dests: map[string]map[string]Dest{}, syncd: map[SyncRole]SyncDaemon{}}
}

func (f *Fake) record(op, detail string) error {
	f.Calls = append(f.Calls, op+" "+detail)
	if err := f.Fail[op]; err != nil {
		return fmt.Errorf("%s %s: %w", op, detail, err)
	}
	return nil
}

// Services implements Dataplane, sorted by key.
func (f *Fake) Services() ([]Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Service, 0, len(f.svcs))
	for _, s := range f.svcs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

// Dests implements Dataplane, sorted by key.
func (f *Fake) Dests(svc Service) ([]Dest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ds, ok := f.dests[svc.Key()]
	if !ok {
		return nil, fmt.Errorf("service %s: %w", svc.Key(), ErrNotExist)
	}
	out := make([]Dest, 0, len(ds))
	for _, d := range ds {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

// AddService implements Dataplane.
func (f *Fake) AddService(s Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("AddService", s.Key()); err != nil {
		return err
	}
	if _, ok := f.svcs[s.Key()]; ok {
		return fmt.Errorf("service %s: %w", s.Key(), ErrExist)
	}
	f.svcs[s.Key()] = s
	f.dests[s.Key()] = map[string]Dest{}
	return nil
}

// UpdateService implements Dataplane.
func (f *Fake) UpdateService(s Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("UpdateService", s.Key()); err != nil {
		return err
	}
	if _, ok := f.svcs[s.Key()]; !ok {
		return fmt.Errorf("service %s: %w", s.Key(), ErrNotExist)
	}
	f.svcs[s.Key()] = s
	return nil
}

// DelService implements Dataplane.
func (f *Fake) DelService(s Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("DelService", s.Key()); err != nil {
		return err
	}
	if _, ok := f.svcs[s.Key()]; !ok {
		return fmt.Errorf("service %s: %w", s.Key(), ErrNotExist)
	}
	delete(f.svcs, s.Key())
	delete(f.dests, s.Key())
	return nil
}

func (f *Fake) destOp(op string, s Service, d Dest, fn func(ds map[string]Dest) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(op, fmt.Sprintf("%s %s %s w=%d", s.Key(), d.Key(), d.Method, d.Weight)); err != nil {
		return err
	}
	ds, ok := f.dests[s.Key()]
	if !ok {
		return fmt.Errorf("service %s: %w", s.Key(), ErrNotExist)
	}
	return fn(ds)
}

// AddDest implements Dataplane.
func (f *Fake) AddDest(s Service, d Dest) error {
	return f.destOp("AddDest", s, d, func(ds map[string]Dest) error {
		if _, ok := ds[d.Key()]; ok {
			return fmt.Errorf("real %s: %w", d.Key(), ErrExist)
		}
		ds[d.Key()] = d
		return nil
	})
}

// UpdateDest implements Dataplane.
func (f *Fake) UpdateDest(s Service, d Dest) error {
	return f.destOp("UpdateDest", s, d, func(ds map[string]Dest) error {
		if _, ok := ds[d.Key()]; !ok {
			return fmt.Errorf("real %s: %w", d.Key(), ErrNotExist)
		}
		ds[d.Key()] = d
		return nil
	})
}

// DelDest implements Dataplane.
func (f *Fake) DelDest(s Service, d Dest) error {
	return f.destOp("DelDest", s, d, func(ds map[string]Dest) error {
		if _, ok := ds[d.Key()]; !ok {
			return fmt.Errorf("real %s: %w", d.Key(), ErrNotExist)
		}
		delete(ds, d.Key())
		return nil
	})
}

// Close implements Dataplane.
func (f *Fake) Close() error { return nil }

// ResetCalls forgets the recorded calls.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	f.Calls = nil
	f.mu.Unlock()
}

// SyncDaemons implements SyncDaemons, master first, with the kernel's
// defaults filled in as a current kernel reports them.
func (f *Fake) SyncDaemons() ([]SyncDaemon, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Fail["SyncDaemons"]; err != nil {
		return nil, fmt.Errorf("SyncDaemons: %w", err)
	}
	var out []SyncDaemon
	for _, r := range []SyncRole{SyncMaster, SyncBackup} {
		if d, ok := f.syncd[r]; ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// StartSyncDaemon implements SyncDaemons: one daemon per role, as in the
// kernel.
func (f *Fake) StartSyncDaemon(d SyncDaemon) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("StartSyncDaemon", d.String()); err != nil {
		return err
	}
	if _, ok := f.syncd[d.Role]; ok {
		return fmt.Errorf("sync daemon %s: %w", d.Role, ErrExist)
	}
	if !d.Group.IsValid() {
		d.Group = DefaultSyncGroup
	}
	if d.Port == 0 {
		d.Port = DefaultSyncPort
	}
	if d.TTL == 0 {
		d.TTL = 1
	}
	if d.MaxLen == 0 {
		d.MaxLen = 1472
	}
	f.syncd[d.Role] = d
	return nil
}

// StopSyncDaemon implements SyncDaemons.
func (f *Fake) StopSyncDaemon(role SyncRole) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("StopSyncDaemon", string(role)); err != nil {
		return err
	}
	if _, ok := f.syncd[role]; !ok {
		return fmt.Errorf("sync daemon %s: %w", role, ErrNotExist)
	}
	delete(f.syncd, role)
	return nil
}

// Connections implements ConnLister: Conns.
func (f *Fake) Connections() ([]Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Fail["Connections"]; err != nil {
		return nil, fmt.Errorf("Connections: %w", err)
	}
	return append([]Conn(nil), f.Conns...), nil
}
