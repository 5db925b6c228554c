package vm

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// TestSyncFailoverInVM runs ldird/dataplane/ipvs's TestSyncFailover and
// TestSyncDaemonKernel in the guest: the sync daemon commands against the
// real kernel (start, read back, change, stop, next to a daemon
// `ipvsadm --start-daemon` started), and two directors (hbd and ldird in
// network namespaces on a bridge) with long-lived echo sessions through a
// NAT and a DR VIP while the active director is killed, with and without
// syncdaemon. hbd and ldird are built static here and carried in; the
// bridge module (with llc and stp) too, as the guest does not load it.
func TestSyncFailoverInVM(t *testing.T) {
	testenv.SkipShort(t, "boots a VM (about 60-90 s)")
	start := time.Now()
	dir := t.TempDir()
	files := map[string]string{}
	test := filepath.Join(dir, "ipvs.test")
	if err := BuildTest("lvsha/ldird/dataplane/ipvs", test, "vm"); err != nil {
		t.Fatal(err)
	}
	files["ipvs.test"] = test
	for _, p := range []string{"ldird", "hbd"} {
		out := filepath.Join(dir, p)
		if err := BuildProgram("lvsha/"+p, out); err != nil {
			t.Fatal(err)
		}
		files[p] = out
	}
	kit, err := Prepare(t.Logf)
	if errors.Is(err, ErrUnavailable) {
		testenv.Skipf(t, "no VM: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	modDir := filepath.Join("/lib/modules", kit.KernelVersion, "kernel")
	for name, rel := range map[string]string{"llc.ko": "net/llc/llc.ko", "stp.ko": "net/802/stp.ko", "bridge.ko": "net/bridge/bridge.ko"} {
		files[name] = filepath.Join(modDir, rel)
	}
	t.Logf("built the in-VM test binary, ldird and hbd (static) in %v", time.Since(start).Round(10*time.Millisecond))
	// The binaries run from the guest's tmpfs (the share has no page cache).
	script := "set -e\nfor m in llc stp bridge; do insmod /share/$m.ko; done\n" +
		"cp /share/ldird /share/hbd /tmp/ && cd /share && " +
		"LVSHA_LDIRD=/tmp/ldird LVSHA_HBD=/tmp/hbd ./ipvs.test -test.v -test.count=1 -test.run '^(TestSyncDaemonKernel|TestSyncFailover)$' -test.timeout=200s\n"
	out, err := Run(t, script, files)
	t.Logf("in the VM:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--- PASS: TestSyncDaemonKernel", "--- PASS: TestSyncFailover/without-syncdaemon",
		"--- PASS: TestSyncFailover/with-syncdaemon", "\nPASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("in-VM output lacks %q", want)
		}
	}
	for _, m := range regexp.MustCompile(`RESULT [^\n]*`).FindAllString(out, -1) {
		t.Log(m)
	}
	t.Logf("whole sync VM test: %v", time.Since(start).Round(10*time.Millisecond))
}
