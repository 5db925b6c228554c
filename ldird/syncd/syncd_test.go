package syncd

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
)

func setup(t *testing.T) (*dataplane.Fake, string) {
	t.Helper()
	return dataplane.NewFake(), filepath.Join(t.TempDir(), "ldird.test.syncd")
}

func running(t *testing.T, f *dataplane.Fake) []string {
	t.Helper()
	ds, err := f.SyncDaemons()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}

func expect(t *testing.T, f *dataplane.Fake, want ...string) {
	t.Helper()
	if got := running(t, f); !slices.Equal(got, want) {
		t.Fatalf("kernel runs\n%q\nwant\n%q", got, want)
	}
}

func TestStartReloadStop(t *testing.T) {
	f, path := setup(t)
	m := New(f, path, nil)
	sd := &config.SyncDaemon{Interface: "eth0", SyncID: 3}
	if err := m.Apply(sd); err != nil {
		t.Fatal(err)
	}
	expect(t, f,
		"master eth0 syncid 3 group 224.0.0.81:8848 ttl 1 maxlen 1472",
		"backup eth0 syncid 3 group 224.0.0.81:8848 ttl 1 maxlen 1472")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no record after starting: %v", err)
	}
	st, cfg, err := m.Status()
	if err != nil || len(st) != 2 || !st[0].Ours || !st[1].Ours || cfg != sd {
		t.Fatalf("status %+v %v %v", st, cfg, err)
	}

	// The same configuration again changes nothing.
	f.ResetCalls()
	if err := m.Apply(&config.SyncDaemon{Interface: "eth0", SyncID: 3}); err != nil {
		t.Fatal(err)
	}
	if len(f.Calls) != 0 {
		t.Fatalf("unchanged reload made calls %q", f.Calls)
	}

	// A changed one restarts both.
	if err := m.Apply(&config.SyncDaemon{Interface: "eth1", SyncID: 4, TTL: 2}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"StopSyncDaemon master", "StartSyncDaemon master eth1 syncid 4 ttl 2",
		"StopSyncDaemon backup", "StartSyncDaemon backup eth1 syncid 4 ttl 2"}; !slices.Equal(f.Calls, want) {
		t.Fatalf("calls %q, want %q", f.Calls, want)
	}
	expect(t, f,
		"master eth1 syncid 4 group 224.0.0.81:8848 ttl 2 maxlen 1472",
		"backup eth1 syncid 4 group 224.0.0.81:8848 ttl 2 maxlen 1472")

	// The directive removed: ours stop, the record goes.
	if err := m.Apply(nil); err != nil {
		t.Fatal(err)
	}
	expect(t, f)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("record left with nothing owned: %v", err)
	}

	// Back on, then stop.
	if err := m.Apply(sd); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	expect(t, f)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("record left after Stop: %v", err)
	}
}

// TestSomeoneElses: a daemon ldird did not start is never stopped or
// changed, with or without the same parameters; ldird starts only the
// missing role and stops only that one.
func TestSomeoneElses(t *testing.T) {
	f, path := setup(t)
	other := dataplane.SyncDaemon{Role: dataplane.SyncBackup, Interface: "eth9", SyncID: 9}
	if err := f.StartSyncDaemon(other); err != nil { // ipvsadm --start-daemon backup
		t.Fatal(err)
	}
	m := New(f, path, nil)
	f.ResetCalls()
	if err := m.Apply(&config.SyncDaemon{Interface: "eth0", SyncID: 1}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"StartSyncDaemon master eth0 syncid 1"}; !slices.Equal(f.Calls, want) {
		t.Fatalf("calls %q, want %q", f.Calls, want)
	}
	st, _, _ := m.Status()
	if len(st) != 2 || !st[0].Ours || st[1].Ours {
		t.Fatalf("status %+v: want master ours, backup not", st)
	}
	// A reload that changes the parameters restarts only ours.
	f.ResetCalls()
	if err := m.Apply(&config.SyncDaemon{Interface: "eth0", SyncID: 2}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"StopSyncDaemon master", "StartSyncDaemon master eth0 syncid 2"}; !slices.Equal(f.Calls, want) {
		t.Fatalf("calls %q, want %q", f.Calls, want)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	expect(t, f, "backup eth9 syncid 9 group 224.0.0.81:8848 ttl 1 maxlen 1472")

	// Same parameters as configured, still someone else's: left running on stop.
	f2, path2 := setup(t)
	for _, r := range Roles {
		f2.StartSyncDaemon(dataplane.SyncDaemon{Role: r, Interface: "eth0", SyncID: 1})
	}
	m2 := New(f2, path2, nil)
	f2.ResetCalls()
	if err := m2.Apply(&config.SyncDaemon{Interface: "eth0", SyncID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := m2.Stop(); err != nil {
		t.Fatal(err)
	}
	if len(f2.Calls) != 0 {
		t.Fatalf("touched daemons it did not start: %q", f2.Calls)
	}
}

// TestRecordAcrossRestart: kill -9 leaves the daemons and the record; the
// next ldird adopts them (no restart) and stops them on its own stop. A
// daemon replaced by someone else after the record was written is not
// adopted.
func TestRecordAcrossRestart(t *testing.T) {
	f, path := setup(t)
	sd := &config.SyncDaemon{Interface: "eth0", SyncID: 5}
	if err := New(f, path, nil).Apply(sd); err != nil {
		t.Fatal(err)
	}
	// The first ldird dies without a word. Someone restarts the backup by hand.
	f.StopSyncDaemon(dataplane.SyncBackup)
	f.StartSyncDaemon(dataplane.SyncDaemon{Role: dataplane.SyncBackup, Interface: "eth0", SyncID: 6})
	f.ResetCalls()
	m := New(f, path, nil)
	if err := m.Apply(sd); err != nil {
		t.Fatal(err)
	}
	if len(f.Calls) != 0 {
		t.Fatalf("restart changed daemons: %q", f.Calls)
	}
	st, _, _ := m.Status()
	if len(st) != 2 || !st[0].Ours || st[1].Ours {
		t.Fatalf("status %+v: want the master adopted, the hand-made backup not", st)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	expect(t, f, "backup eth0 syncid 6 group 224.0.0.81:8848 ttl 1 maxlen 1472")
}

func TestCorruptRecord(t *testing.T) {
	f, path := setup(t)
	if err := f.StartSyncDaemon(dataplane.SyncDaemon{Role: dataplane.SyncMaster, Interface: "eth0"}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("{not json"), 0o644)
	m := New(f, path, nil)
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	expect(t, f, "master eth0 syncid 0 group 224.0.0.81:8848 ttl 1 maxlen 1472")
}

// TestFailedChange: a new daemon the kernel refuses leaves the old one
// running, and the error says why.
func TestFailedChange(t *testing.T) {
	f, path := setup(t)
	m := New(f, path, nil)
	if err := m.Apply(&config.SyncDaemon{Interface: "eth0", SyncID: 1}); err != nil {
		t.Fatal(err)
	}
	// Only the first start fails: the restore of the old daemon works.
	m.k = &onceFailing{Fake: f}
	err := m.Apply(&config.SyncDaemon{Interface: "eth7", SyncID: 1})
	m.k = f
	if err == nil || !strings.Contains(err.Error(), "no such device") {
		t.Fatalf("err %v", err)
	}
	expect(t, f,
		"master eth0 syncid 1 group 224.0.0.81:8848 ttl 1 maxlen 1472",
		"backup eth0 syncid 1 group 224.0.0.81:8848 ttl 1 maxlen 1472")
	st, _, _ := m.Status()
	if len(st) != 2 || !st[0].Ours || !st[1].Ours {
		t.Fatalf("status after the restore %+v", st)
	}
}

// onceFailing refuses the first StartSyncDaemon, as a kernel refuses an
// interface that does not exist.
type onceFailing struct {
	*dataplane.Fake
	failed bool
}

func (o *onceFailing) StartSyncDaemon(d dataplane.SyncDaemon) error {
	if !o.failed {
		o.failed = true
		return errors.New("no such device")
	}
	return o.Fake.StartSyncDaemon(d)
}

func TestReadError(t *testing.T) {
	f, path := setup(t)
	f.Fail = map[string]error{"SyncDaemons": errors.New("netlink: permission denied")}
	m := New(f, path, nil)
	if err := m.Apply(&config.SyncDaemon{Interface: "eth0"}); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Apply: %v", err)
	}
	if _, _, err := m.Status(); err == nil {
		t.Fatal("Status without an error")
	}
}
