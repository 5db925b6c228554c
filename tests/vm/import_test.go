package vm

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// importShards splits the corpus over this many boots, each within
// BootTimeout: the inputs of one boot run in parallel in the guest.
const importShards = 3

// TestImportDifferentialInVM runs importer/vmdiff's TestImportDifferential
// in the guest: every keepalived.conf of the import corpus with virtual
// servers is run by the real keepalived 2.2.7 (checker only) in one set of
// namespaces and, imported by lvsha-import, by ldird in another; their
// `ipvsadm -Ln` tables must be identical, before and after one real's
// servers stop. lvsha-import, ldird and the test binary are built static
// here; keepalived and its libraries are in the initramfs.
func TestImportDifferentialInVM(t *testing.T) {
	testenv.SkipShort(t, "boots the VM three times (about 3 minutes)")
	start := time.Now()
	dir := t.TempDir()
	test, ldird, imp := filepath.Join(dir, "vmdiff.test"), filepath.Join(dir, "ldird"), filepath.Join(dir, "lvsha-import")
	if err := BuildTest("lvsha/importer/vmdiff", test, "vm"); err != nil {
		t.Fatal(err)
	}
	if err := BuildProgram("lvsha/ldird", ldird); err != nil {
		t.Fatal(err)
	}
	if err := BuildProgram("lvsha/importer/cmd/lvsha-import", imp); err != nil {
		t.Fatal(err)
	}
	t.Logf("built the in-VM test binary, ldird and lvsha-import (static) in %v", time.Since(start).Round(10*time.Millisecond))
	files := map[string]string{"vmdiff.test": test, "ldird": ldird, "lvsha-import": imp}
	corpus, err := filepath.Abs("../../importer/testdata/corpus")
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(corpus, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(corpus, p)
		files["corpus/"+rel] = p
		return nil
	})
	samples := ""
	if s, _ := filepath.Glob("/usr/share/doc/keepalived/samples/keepalived.conf.*"); len(s) > 0 {
		samples = "/share/samples"
		for _, p := range s {
			files["samples/"+filepath.Base(p)] = p
		}
	}
	// Executed many times: from the guest's tmpfs, not the share.
	for shard := 0; shard < importShards; shard++ {
		script := "cp /share/vmdiff.test /share/ldird /share/lvsha-import /tmp/ && cd /tmp && " +
			fmt.Sprintf("LVSHA_IMPORT=/tmp/lvsha-import LVSHA_LDIRD=/tmp/ldird LVSHA_CORPUS_ROOT=/share LVSHA_SAMPLES=%s LVSHA_VMDIFF_SHARD=%d/%d ", samples, shard, importShards) +
			"./vmdiff.test -test.v -test.count=1 -test.parallel=64 -test.run '^TestImportDifferential$' -test.timeout=105s\n"
		out, err := Run(t, script, files)
		t.Logf("shard %d/%d in the VM:\n%s", shard, importShards, out)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"--- PASS: TestImportDifferential", "\nPASS"} {
			if !strings.Contains(out, want) {
				t.Errorf("shard %d: in-VM output lacks %q", shard, want)
			}
		}
	}
	t.Logf("whole import differential: %v", time.Since(start).Round(10*time.Millisecond))
}
