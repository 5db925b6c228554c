//go:build vm

package ipvs

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
	"lvsha/ldird/syncd"
)

// ipvsadmDaemons is `ipvsadm -L --daemon`, one line per daemon.
func ipvsadmDaemons(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ipvsadm", "-L", "--daemon").CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm -L --daemon: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func daemonsOf(t *testing.T, v *IPVS) []dataplane.SyncDaemon {
	t.Helper()
	ds, err := v.SyncDaemons()
	if err != nil {
		t.Fatalf("SyncDaemons: %v", err)
	}
	return ds
}

// TestSyncDaemonKernel drives the guest kernel's sync daemons over
// netlink: start both roles, read them back (and as ipvsadm shows them),
// the kernel's defaults and clamps, the errors, a change, a stop, and
// sharing the kernel with a daemon `ipvsadm --start-daemon` started.
func TestSyncDaemonKernel(t *testing.T) {
	v := mustNew(t)
	run(t, "bash", "-c", "ip link add sva type veth peer name svb && ip addr add 10.95.0.1/24 dev sva && ip addr add 10.95.0.2/24 dev svb && ip link set sva up && ip link set svb up")
	t.Cleanup(func() {
		for _, r := range []dataplane.SyncRole{dataplane.SyncMaster, dataplane.SyncBackup} {
			v.StopSyncDaemon(r)
		}
		exec.Command("ip", "link", "del", "sva").Run()
	})
	if ds := daemonsOf(t, v); len(ds) != 0 {
		t.Fatalf("daemons before the test: %v", ds)
	}

	// 1. Both roles: the master with the kernel's defaults, the backup with
	// every parameter given.
	master := dataplane.SyncDaemon{Role: dataplane.SyncMaster, Interface: "sva", SyncID: 7}
	backup := dataplane.SyncDaemon{Role: dataplane.SyncBackup, Interface: "sva", SyncID: 7, MaxLen: 1400,
		Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 3}
	for _, d := range []dataplane.SyncDaemon{master, backup} {
		if err := v.StartSyncDaemon(d); err != nil {
			t.Fatalf("start %s: %v", d.Role, err)
		}
	}
	ds := daemonsOf(t, v)
	t.Logf("read back: %v", ds)
	t.Logf("ipvsadm -L --daemon:\n%s", ipvsadmDaemons(t))
	if len(ds) != 2 || ds[0].Role != dataplane.SyncMaster || ds[1].Role != dataplane.SyncBackup {
		t.Fatalf("read back %v", ds)
	}
	m, b := ds[0], ds[1]
	// The kernel's defaults, reported filled in.
	if m.Interface != "sva" || m.SyncID != 7 || m.Group != dataplane.DefaultSyncGroup || m.Port != 8848 || m.TTL != 1 || m.MaxLen == 0 {
		t.Errorf("master read back as %v, want sva syncid 7 group 224.0.0.81:8848 ttl 1 and a maxlen", m)
	}
	if b.Interface != "sva" || b.SyncID != 7 || b.Group != backup.Group || b.Port != 9000 || b.TTL != 3 {
		t.Errorf("backup read back as %v, want %v", b, backup)
	}
	t.Logf("maxlen: master default %d; backup asked 1400, kernel uses %d", m.MaxLen, b.MaxLen)
	// ipvsadm sees the same daemons.
	ia := ipvsadmDaemons(t)
	for _, want := range []string{"master sync daemon (mcast=sva, syncid=7", "backup sync daemon (mcast=sva, syncid=7"} {
		if !strings.Contains(ia, want) {
			t.Errorf("ipvsadm -L --daemon lacks %q:\n%s", want, ia)
		}
	}

	// 2. Errors: a second daemon of a role, an unknown interface, stopping
	// what does not run.
	if err := v.StartSyncDaemon(master); !errors.Is(err, dataplane.ErrExist) {
		t.Errorf("second master: %v, want ErrExist", err)
	}
	if err := v.StopSyncDaemon(dataplane.SyncBackup); err != nil {
		t.Fatal(err)
	}
	if err := v.StopSyncDaemon(dataplane.SyncBackup); !errors.Is(err, dataplane.ErrNotExist) {
		t.Errorf("stop a stopped backup: %v, want ErrNotExist", err)
	}
	err := v.StartSyncDaemon(dataplane.SyncDaemon{Role: dataplane.SyncBackup, Interface: "nosuch0"})
	if !errors.Is(err, syscall.ENODEV) {
		t.Errorf("unknown interface: %v, want ENODEV", err)
	}
	t.Logf("unknown interface: %v", err)

	// 3. A change (stop, start with other parameters), an IPv6 group, and
	// maxlen at the edges (the kernel clamps).
	changed := dataplane.SyncDaemon{Role: dataplane.SyncBackup, Interface: "svb", SyncID: 8, Group: netip.MustParseAddr("ff02::81"), Port: 8850}
	if err := v.StartSyncDaemon(changed); err != nil {
		t.Fatalf("IPv6 group: %v", err)
	}
	ds = daemonsOf(t, v)
	if len(ds) != 2 || ds[1].Interface != "svb" || ds[1].SyncID != 8 || ds[1].Group != changed.Group || ds[1].Port != 8850 {
		t.Fatalf("after the change: %v", ds)
	}
	t.Logf("changed backup: %v", ds[1])
	for _, asked := range []uint16{1, 512, 65507} {
		for _, r := range []dataplane.SyncRole{dataplane.SyncMaster, dataplane.SyncBackup} {
			t.Logf("maxlen %d: stopping %s", asked, r)
			stopWithin(t, v, r)
			if err := v.StartSyncDaemon(dataplane.SyncDaemon{Role: r, Interface: "sva", MaxLen: asked}); err != nil {
				t.Fatalf("maxlen %d: %v", asked, err)
			}
		}
		ds = daemonsOf(t, v)
		t.Logf("maxlen asked %d: master %d, backup %d", asked, ds[0].MaxLen, ds[1].MaxLen)
	}

	// 4. Stop both.
	for _, r := range []dataplane.SyncRole{dataplane.SyncMaster, dataplane.SyncBackup} {
		t.Logf("stopping %s", r)
		stopWithin(t, v, r)
	}
	if ds := daemonsOf(t, v); len(ds) != 0 {
		t.Fatalf("after stopping both: %v", ds)
	}
	if ia := ipvsadmDaemons(t); ia != "" {
		t.Fatalf("ipvsadm still shows\n%s", ia)
	}

	// 5. With a backup ipvsadm started: ldird's manager starts only the
	// master, reads the other's backup, and stops only its own.
	run(t, "ipvsadm", "--start-daemon", "backup", "--mcast-interface", "svb", "--syncid", "4")
	rec := filepath.Join(t.TempDir(), "ldird.syncd")
	mgr := syncd.New(v, rec, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err := mgr.Apply(&config.SyncDaemon{Interface: "sva", SyncID: 4}); err != nil {
		t.Fatal(err)
	}
	st, _, err := mgr.Status()
	if err != nil || len(st) != 2 || !st[0].Ours || st[1].Ours || st[1].Interface != "svb" {
		t.Fatalf("manager status with ipvsadm's backup: %+v %v", st, err)
	}
	if err := mgr.Stop(); err != nil {
		t.Fatal(err)
	}
	ds = daemonsOf(t, v)
	if len(ds) != 1 || ds[0].Role != dataplane.SyncBackup || ds[0].Interface != "svb" || ds[0].SyncID != 4 {
		t.Fatalf("after the manager's stop: %v, want ipvsadm's backup alone", ds)
	}
	if ia := ipvsadmDaemons(t); !strings.Contains(ia, "backup sync daemon (mcast=svb, syncid=4") || strings.Contains(ia, "master") {
		t.Fatalf("ipvsadm after the manager's stop:\n%s", ia)
	}
	run(t, "ipvsadm", "--stop-daemon", "backup")
	if ds := daemonsOf(t, v); len(ds) != 0 {
		t.Fatalf("after ipvsadm --stop-daemon: %v", ds)
	}
}

// stopWithin stops role's daemon and fails the test if the kernel takes
// more than 10 s to answer.
func stopWithin(t *testing.T, v *IPVS, r dataplane.SyncRole) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- v.StopSyncDaemon(r) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop %s: %v", r, err)
		}
	case <-time.After(10 * time.Second):
		out, _ := exec.Command("sh", "-c", "ps; cat /proc/*/stack 2>/dev/null | head -50").CombinedOutput()
		t.Fatalf("stop %s: no answer from the kernel in 10 s\n%s", r, out)
	}
}
