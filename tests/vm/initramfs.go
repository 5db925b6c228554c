package vm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Modules the guest loads at boot, by module name. Dependencies come from
// the host's modules.dep. crc32c_generic is listed because libcrc32c asks
// the crypto API for "crc32c" at load time instead of depending on it.
var bootModules = []string{
	"virtio_pci", "9pnet_virtio", "9p", // the share
	"crc32c_generic", "nf_conntrack", "ip_vs",
	"ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc", "ip_vs_lblcr",
	"ip_vs_dh", "ip_vs_sh", "ip_vs_sed", "ip_vs_nq",
	"veth", "ipip",
}

// Programs copied into the guest with their shared libraries. busybox gives
// the shell tools; bash and iproute2's ip are needed because busybox's ip
// cannot make veth pairs or network namespaces; ipvsadm is the reference
// the tests compare against; keepalived runs beside ldird in the import
// differential (TestImportDifferentialInVM).
var guestPrograms = []string{"/bin/bash", "/sbin/ip", "/usr/sbin/ipvsadm", "/usr/sbin/keepalived"}

// initScript is the guest's /init. It runs $LVSHA_SCRIPT (run.sh on the
// share) under bash, writes its exit code next to it, and powers off.
const initScript = `#!/bin/busybox sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
mkdir -p /dev/pts /run/netns
mount -t devpts devpts /dev/pts
modprobe -a virtio_pci 9pnet_virtio 9p || echo "LVSHA-VM: loading the 9p modules failed"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none share /share || echo "LVSHA-VM: mounting the share failed"
modprobe -a @MODULES@ || echo "LVSHA-VM: loading modules failed"
ip link set lo up
hostname lvsha-vm
cd /share
bash /share/run.sh >/share/output 2>&1 </dev/null
rc=$?
echo $rc >/share/rc
echo "LVSHA-VM-EXIT $rc"
cd /
umount /share
poweroff -f
`

// initramfs builds (or finds in cacheDir) the guest's initramfs for kernel
// version kver and returns its path. The name is a hash of every input, so
// a changed binary, module or init script yields a new archive.
func initramfs(cacheDir, kver string, logf func(string, ...any)) (string, error) {
	modDir := filepath.Join("/lib/modules", kver)
	mods, err := resolveModules(filepath.Join(modDir, "modules.dep"), bootModules)
	if err != nil {
		return "", err
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox (busybox-static) not found: %w", err)
	}
	files := map[string]bool{busybox: true}
	for _, p := range guestPrograms {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("guest program: %w", err)
		}
		deps, err := elfClosure(p)
		if err != nil {
			return "", err
		}
		for _, d := range deps {
			files[d] = true
		}
	}
	for _, m := range mods {
		files[filepath.Join(modDir, m)] = true
	}
	list := make([]string, 0, len(files))
	for f := range files {
		list = append(list, f)
	}
	sort.Strings(list)

	h := sha256.New()
	fmt.Fprintf(h, "v1\n%s\n%s\n%s\n", kver, initScript, strings.Join(bootModules, " "))
	for _, f := range list {
		st, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("initramfs input: %w", err)
		}
		fmt.Fprintf(h, "%s %d %d\n", f, st.Size(), st.ModTime().UnixNano())
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	out := filepath.Join(cacheDir, "initramfs-"+sum+".cpio")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	logf("vm: building %s", out)

	stage, err := os.MkdirTemp(cacheDir, "stage-")
	if err != nil {
		return "", fmt.Errorf("initramfs stage: %w", err)
	}
	defer os.RemoveAll(stage)
	for _, f := range list {
		if err := copyInto(stage, f); err != nil {
			return "", err
		}
	}
	if err := busyboxLinks(stage, busybox); err != nil {
		return "", err
	}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "share", "etc", "root"} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return "", fmt.Errorf("initramfs stage: %w", err)
		}
	}
	script := strings.ReplaceAll(initScript, "@MODULES@", strings.Join(bootModules[3:], " "))
	if err := os.WriteFile(filepath.Join(stage, "init"), []byte(script), 0o755); err != nil {
		return "", fmt.Errorf("initramfs init: %w", err)
	}
	// /etc/passwd and group keep ip and bash from complaining about ids.
	if err := os.WriteFile(filepath.Join(stage, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(stage, "etc/group"), []byte("root:x:0:\n"), 0o644); err != nil {
		return "", err
	}
	// busybox depmod writes the cut-down modules.dep busybox modprobe reads.
	if out, err := exec.Command(busybox, "depmod", "-b", stage, kver).CombinedOutput(); err != nil {
		return "", fmt.Errorf("busybox depmod: %w: %s", err, out)
	}
	var buf bytes.Buffer
	if err := writeCpio(&buf, stage); err != nil {
		return "", err
	}
	if err := writeAtomic(out, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	// Older archives are unreachable now: drop them.
	old, _ := filepath.Glob(filepath.Join(cacheDir, "initramfs-*.cpio"))
	for _, o := range old {
		if o != out {
			os.Remove(o)
		}
	}
	return out, nil
}

// resolveModules returns the modules.dep paths (relative to the modules
// directory) of names and everything they depend on.
func resolveModules(depFile string, names []string) ([]string, error) {
	f, err := os.Open(depFile)
	if err != nil {
		return nil, fmt.Errorf("kernel modules: %w", err)
	}
	defer f.Close()
	deps := map[string][]string{} // path -> dependency paths
	byName := map[string]string{} // module name -> path
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		path, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[path] = strings.Fields(rest)
		byName[moduleName(path)] = path
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", depFile, err)
	}
	seen := map[string]bool{}
	var walk func(p string)
	walk = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, d := range deps[p] {
			walk(d)
		}
	}
	for _, n := range names {
		p, ok := byName[strings.ReplaceAll(n, "-", "_")]
		if !ok {
			// Built into this kernel, or absent; modprobe will say which.
			continue
		}
		walk(p)
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func moduleName(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// elfClosure returns an executable, its interpreter and every shared
// library it needs (transitively), found where the host's loader finds them.
func elfClosure(path string) ([]string, error) {
	dirs := []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}
	var out []string
	seen := map[string]bool{}
	var visit func(p string) error
	visit = func(p string) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		out = append(out, p)
		f, err := elf.Open(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		defer f.Close()
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				b, err := io.ReadAll(prog.Open())
				if err != nil {
					return fmt.Errorf("read %s interpreter: %w", p, err)
				}
				if err := visit(string(bytes.TrimRight(b, "\x00"))); err != nil {
					return err
				}
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("read %s libraries: %w", p, err)
		}
		for _, lib := range libs {
			found := ""
			for _, d := range dirs {
				if _, err := os.Stat(filepath.Join(d, lib)); err == nil {
					found = filepath.Join(d, lib)
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%s needs %s, not found in %v", p, lib, dirs)
			}
			if err := visit(found); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(path); err != nil {
		return nil, err
	}
	return out, nil
}

// copyInto copies host file p to the same path under root, recreating on
// the way every symlink of the path (Debian's /bin -> usr/bin and the
// like), so programs and the loader find things where they expect them.
func copyInto(root, p string) error {
	p = filepath.Clean(p)
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := filepath.Join(cur, part)
		st, err := os.Lstat(next)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		dst := filepath.Join(root, next)
		switch {
		case st.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(next)
			if err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
			if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return fmt.Errorf("initramfs: %w", err)
				}
				if err := os.Symlink(target, dst); err != nil {
					return fmt.Errorf("initramfs: %w", err)
				}
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(cur, target)
			}
			rest := filepath.Join(append([]string{target}, parts[i+1:]...)...)
			return copyInto(root, rest)
		case st.IsDir():
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
		default:
			if i != len(parts)-1 {
				return fmt.Errorf("initramfs: %s is not a directory", next)
			}
			if _, err := os.Lstat(dst); err == nil {
				return nil
			}
			b, err := os.ReadFile(next)
			if err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
			if err := os.WriteFile(dst, b, st.Mode().Perm()); err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
		}
		cur = next
	}
	return nil
}

// busyboxLinks makes /bin/<applet> -> busybox for every applet that no real
// program already provides, as `busybox --install -s` would at boot, but
// once here instead of at every boot.
func busyboxLinks(root, busybox string) error {
	out, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	for _, applet := range strings.Fields(string(out)) {
		dst := filepath.Join(root, applet)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		// Resolve through the relative /bin -> usr/bin style links already
		// in the stage, so an applet does not shadow a copied program.
		dir, err := filepath.EvalSymlinks(filepath.Join(root, filepath.Dir(applet)))
		if err != nil || !strings.HasPrefix(dir, root+"/") {
			dir = filepath.Join(root, filepath.Dir(applet))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
		}
		dst = filepath.Join(dir, filepath.Base(applet))
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		// Absolute: it resolves inside the guest's root.
		if err := os.Symlink(busybox, dst); err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
	}
	return nil
}
