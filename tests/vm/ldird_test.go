package vm

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// TestLdirdInVM runs the real ldird binary against the guest kernel's IPVS
// (ldird/dataplane/ipvs's TestLdirdIPVS, behind the vm tag): ldird is built
// static here and carried in through the share, the in-VM test starts it
// with `dataplane = ipvs` over three real-server namespaces (NAT with
// quiescent=yes and =no, DR), compares `ipvsadm -Ln` with the
// configuration and with `ldird status`, stops and restores a real,
// kills ldird with SIGKILL and restarts it three times while sampling
// `ipvsadm -Ln` every 50 ms (no weight may change, no real may leave or
// return), and stops it with cleanstop=yes and =no, while a client
// namespace requests the VIPs and counts failures.
func TestLdirdInVM(t *testing.T) {
	testenv.SkipShort(t, "boots a VM (about 30-40 s)")
	start := time.Now()
	dir := t.TempDir()
	test, ldird := filepath.Join(dir, "ipvs.test"), filepath.Join(dir, "ldird")
	if err := BuildTest("lvsha/ldird/dataplane/ipvs", test, "vm"); err != nil {
		t.Fatal(err)
	}
	if err := BuildProgram("lvsha/ldird", ldird); err != nil {
		t.Fatal(err)
	}
	t.Logf("built the in-VM test binary and ldird (static) in %v", time.Since(start).Round(10*time.Millisecond))
	// ldird is copied to the guest's tmpfs: it is executed many times
	// (status, start, the daemon re-executing itself) and the share has no
	// page cache (cache=none).
	script := "cp /share/ldird /tmp/ldird && cd /share && " +
		"LVSHA_LDIRD=/tmp/ldird ./ipvs.test -test.v -test.count=1 -test.run '^TestLdirdIPVS$' -test.timeout=100s\n"
	out, err := Run(t, script, map[string]string{"ipvs.test": test, "ldird": ldird})
	t.Logf("in the VM:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	testenv.CheckSkips(t, "lvsha/ldird/dataplane/ipvs", out)
	for _, want := range []string{"--- PASS: TestLdirdIPVS", "\nPASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("in-VM output lacks %q", want)
		}
	}
	t.Logf("whole ldird VM test: %v", time.Since(start).Round(10*time.Millisecond))
}
