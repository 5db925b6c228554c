// Package vm runs Go tests inside a qemu virtual machine booting Debian's
// own kernel, for the kernel paths this host cannot exercise: the host
// kernel has no IPVS and loads no modules, so ldird's IPVS dataplane is
// tested in a guest that has both.
//
// # Running
//
//	go test ./tests/vm                        # as part of go test ./... / make test
//	go test -run TestIPVSInVM -v ./tests/vm   # just the VM test, with the guest's output
//	CGO_ENABLED=0 go test -tags vm -exec 'go run lvsha/tests/vm/vmexec' ./ldird/dataplane/ipvs
//	go test -run TestLdirdInVM -v ./tests/vm  # ldird itself on the guest's IPVS
//	go test -run TestSyncFailoverInVM -v ./tests/vm  # syncdaemon: hbd+ldird failover, sessions kept
//
// (TestLdirdIPVS needs the ldird binary: TestLdirdInVM and vmexec build
// it and name it in $LVSHA_LDIRD.)
//
// Strict mode (LVSHA_STRICT=1, see lvsha/internal/testenv) reaches the
// guest: Run and vmexec export it to the guest's script, so a test there
// that would skip fails unless internal/testenv/allowed-skips.txt lists
// it, and TestIPVSInVM and TestLdirdInVM check the guest's -v output for
// skips with testenv.CheckSkips. TestNewExplainsMissingIPVS is the one
// allowed there: the guest has IPVS.
//
// TestIPVSInVM compiles `go test -c -tags vm ./ldird/dataplane/ipvs`
// (static, CGO_ENABLED=0), boots the VM once, runs the binary there and
// fails if anything inside failed. The in-VM tests (vm_test.go in that
// package, behind the vm build tag) check every table change by reading
// it back both through the Dataplane and by parsing `ipvsadm -Ln`, read a
// table ipvsadm wrote, check per-namespace handles, and send HTTP from a
// client namespace through a VIP to two real-server namespaces over NAT
// and over DR. It is skipped with -short, and with a reason when qemu or
// the kernel are missing (strict mode: it fails instead).
//
// TestLdirdInVM boots a second VM for the real ldird binary on the guest
// kernel's IPVS: it builds ldird static (BuildProgram) next to the same
// test binary, carries both in through the share (Run's files; ldird is
// copied to the guest's tmpfs and named in $LVSHA_LDIRD) and runs
// TestLdirdIPVS (ldird/dataplane/ipvs/vm_ldird_test.go) there. Three
// real-server namespaces serve HTTP; ldirectord.cf has a NAT virtual with
// quiescent=yes and cleanstop=no, a NAT virtual with quiescent=no and
// cleanstop=yes and a DR virtual, all checktype=negotiate, checkinterval=1.
// The test starts ldird (-d and daemonized), compares `ipvsadm -Ln` with
// the configuration and with `ldird CONF status`, stops and restores a
// real's server (weight 0 / removed, then back), kills ldird with SIGKILL
// and restarts it three times (once with a real down) while sampling the
// table every 50 ms over netlink and with `ipvsadm -Ln --nosort` (kernel
// order, so a removal and re-add between samples shows too): the table
// must never change and the new daemon must log no table operation. It
// ends with `ldird CONF stop` (cleanstop=yes virtuals purged, the
// cleanstop=no one kept byte for byte and still serving). A client
// namespace requests two VIPs all along; every failure outside the windows
// where one is expected (a real stopped and not yet quiesced; the purged
// virtual after the stop) fails the test. TestIPVSInVM skips TestLdird*.
//
// TestSyncFailoverInVM carries static hbd and ldird in (and the bridge
// module with llc and stp, which the guest does not load at boot) and runs
// TestSyncDaemonKernel (the sync daemon netlink commands against the guest
// kernel) and TestSyncFailover (vm_failover_test.go): a client, two
// directors and two reals in namespaces on a bridge, hbd moving a NAT VIP,
// a DR VIP and the reals' gateway, ldird on both directors; echo sessions
// through the VIPs while the active director is killed, once without
// syncdaemon (every session must break) and once with it (every session
// must go on, byte for byte). About 35 s in the guest.
//
// TestImportDifferentialInVM (import_test.go) runs importer/vmdiff's
// TestImportDifferential in three boots, a third of the import corpus each:
// keepalived (in the initramfs, with its libraries) and ldird with the
// imported ldirectord.cf run side by side in guest namespaces and their
// ipvsadm -Ln must agree (importer/vmdiff/doc.go); about 3 minutes.
//
// Measured on the 2-core CI machine: boot to the guest's script about 3 s;
// the whole in-VM run (boot, tests, power-off) about 11 s; with the test
// binary's compilation about 15-30 s in total (less with a warm build
// cache). TestLdirdInVM: about 25 s in the guest and 35 s in total on a
// quiet machine; 60-90 s seen while other jobs kept the host's load at 9.
// Every boot is bounded by BootTimeout; qemu is killed by its PID when it
// runs over.
//
// # What it needs
//
// Debian packages qemu-system-x86, linux-image-amd64, busybox-static,
// ipvsadm, xz-utils and keepalived (Packages). scripts/deps.sh test installs them with
// the rest of what make test needs, before any test starts, with a
// policy-rc.d that keeps services from starting, and INITRD=No so the
// kernel's postinst does not spend minutes building a host initramfs that
// is never used. Prepare only checks: installing from inside a test would
// race with the other packages' tests. No KVM: qemu runs under TCG
// (software emulation).
//
// # How the guest is made
//
//   - Kernel: the newest /boot/vmlinuz-* with modules installed. Under TCG
//     the kernel's self-decompression costs about 3 s a boot, so the
//     compressed payload is cut out of the bzImage using its boot header
//     (payload_offset/payload_length, the exact form of the kernel's
//     scripts/extract-vmlinux), unpacked once (xz for Debian's kernels,
//     gzip/zstd/lzma also handled) and cached. qemu boots that ELF
//     vmlinux directly through its PVH entry note (Debian builds
//     CONFIG_PVH=y). Without the note it falls back to the bzImage.
//     Measured: 3.0-3.5 s from qemu start to the guest's script with the
//     vmlinux, 6.1-6.3 s with the bzImage.
//   - Initramfs: an uncompressed newc cpio built here (no cpio tool
//     needed) from busybox-static (with its applet links), bash, iproute2's
//     ip (busybox's ip cannot make veth pairs or namespaces), ipvsadm,
//     keepalived, and their shared libraries found from their ELF headers; the modules
//     below with their dependencies from the host's modules.dep; a
//     modules.dep made by busybox depmod; and /init. It is cached in
//     CacheDir under a hash of every input, so a changed binary, module or
//     init script rebuilds it.
//   - Modules loaded at boot: virtio_pci, 9pnet_virtio and 9p for the
//     share; crc32c_generic before nf_conntrack and ip_vs (libcrc32c asks
//     the crypto API for crc32c at load time); ip_vs and the schedulers
//     rr wrr lc wlc lblc lblcr dh sh sed nq; veth; ipip.
//   - qemu: -M pc, -cpu qemu64, 1 GiB, one CPU, -nodefaults, serial console
//     on stdio, -no-reboot, kernel command line "console=ttyS0
//     mitigations=off panic=-1 quiet", no network device (all traffic stays
//     in namespaces inside the guest), and a virtio-9p share of a host
//     temporary directory mounted at /share.
//   - /init mounts proc, sys, dev, run, tmp and the share, loads the
//     modules, runs /share/run.sh under bash with its output in
//     /share/output, writes its exit code to /share/rc and powers off.
//
// Facts the in-VM tests rely on: DR replies travelling back through the
// director (the VM's root namespace) carry the VIP, a local address there,
// so the director needs accept_local=1 and rp_filter=0; busybox's wget -T
// crashes, so the HTTP client is the test binary itself, run in the client
// namespace with `ip netns exec` (as are the real servers).
package vm
