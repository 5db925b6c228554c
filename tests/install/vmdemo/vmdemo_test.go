//go:build vmdemo

// Package vmdemo runs `make demo`'s script inside the tests/vm guest, whose
// kernel (Debian's) has IPVS, so that the demo's ipvs branch (kernel IPVS,
// direct routing, the reals set up by scripts/lvs-realserver) is exercised
// too; on this host the demo can only take the userspace branch. There a
// slow download started before the kill of the active director must finish
// through the backup (syncdaemon: the kernel's connection synchronisation).
//
//	go test -tags vmdemo -v ./tests/install/vmdemo    # about 2 minutes under TCG
//
// The guest's initramfs has busybox, bash, ip and ipvsadm; the test carries
// in through the share what else the demo calls (static hbd and ldird,
// curl, genl and GNU date with their shared libraries, and the bridge
// module with its dependencies, which the guest does not load at boot).
package vmdemo

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"lvsha/internal/testenv"
	"lvsha/tests/vm"
)

func TestDemoInVM(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	files := map[string]string{
		"demo/scripts/demo.sh":        filepath.Join(root, "scripts/demo.sh"),
		"demo/scripts/lvs-realserver": filepath.Join(root, "scripts/lvs-realserver"),
	}
	for _, p := range []string{"hbd", "ldird"} {
		out := filepath.Join(tmp, p)
		if err := vm.BuildProgram("lvsha/"+p, out); err != nil {
			t.Fatal(err)
		}
		files["demo/bin/"+p] = out
	}
	files["demo/bin/cl_status"] = filepath.Join(tmp, "hbd") // hbd acts on its name
	for _, prog := range []string{"curl", "genl", "date"} {
		path := testenv.RequireProgram(t, prog, map[string]string{"curl": "curl", "genl": "iproute2", "date": "coreutils"}[prog])
		files["xbin/"+prog] = path
		out, err := exec.Command("ldd", path).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", path, err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/") {
				files["lib/"+filepath.Base(f[2])] = f[2]
			}
		}
	}
	// The guest boots the newest kernel with modules (tests/vm findKernel);
	// take the bridge from the same tree.
	bridges, _ := filepath.Glob("/lib/modules/*/kernel/net/bridge/bridge.ko")
	if len(bridges) == 0 {
		testenv.Skip(t, "no bridge.ko under /lib/modules (Debian package linux-image-amd64; scripts/deps.sh test installs it)")
	}
	kernel := filepath.Dir(filepath.Dir(filepath.Dir(bridges[len(bridges)-1])))
	for name, rel := range map[string]string{"llc.ko": "net/llc/llc.ko", "stp.ko": "net/802/stp.ko", "bridge.ko": "net/bridge/bridge.ko"} {
		files["mods/"+name] = filepath.Join(kernel, rel)
	}
	script := `set -e
for m in llc stp bridge; do insmod /share/mods/$m.ko; done
export LD_LIBRARY_PATH=/share/lib PATH=/share/xbin:$PATH
cd /share/demo
LVSHA_DEMO_LIMIT=110 bash scripts/demo.sh
`
	out, err := vm.Run(t, script, files)
	t.Logf("guest output:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"the kernel has the IPVS generic netlink family",
		"→ ldird uses kernel IPVS, direct routing (gate)",
		"IP Virtual Server version",              // ldird status shows the kernel's table
		"Route   0",                              // real2 quiesced, DR
		"sync daemons: master on eth1, syncid=1", // ldird started both roles
		"director2 has the connection",           // learnt before the kill
		"the download finished through director2: HTTP 200, 3145728 bytes, identical",
		"Demo finished",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("guest output lacks %q", want)
		}
	}
}
