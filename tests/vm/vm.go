package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// BootTimeout bounds one boot, from qemu's start to its exit.
const BootTimeout = 120 * time.Second

// ErrUnavailable marks why no VM can be booted here (qemu or the kernel
// missing): callers skip rather than fail (in strict mode the skip fails,
// see lvsha/internal/testenv).
var ErrUnavailable = errors.New("VM tests unavailable")

// Kit is what a boot needs.
type Kit struct {
	Qemu          string // qemu-system-x86_64
	Kernel        string // the extracted vmlinux (PVH), or the bzImage as a fallback
	Initramfs     string // cached uncompressed cpio
	KernelVersion string // e.g. 6.1.0-56-amd64
}

// CacheDir is where kernels and initramfs archives are kept between runs:
// $LVSHA_VM_CACHE, else /var/cache/lvsha-vm for root, else the user cache.
func CacheDir() (string, error) {
	if d := os.Getenv("LVSHA_VM_CACHE"); d != "" {
		return d, nil
	}
	if os.Geteuid() == 0 {
		return "/var/cache/lvsha-vm", nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("vm cache dir: %w", err)
	}
	return filepath.Join(d, "lvsha-vm"), nil
}

// Packages is what a VM needs, by Debian package name. scripts/deps.sh
// test installs them (before any test starts: installing while other
// packages' tests run would race with them, so Prepare only checks).
const Packages = "qemu-system-x86 linux-image-amd64 busybox-static ipvsadm xz-utils keepalived"

// Prepare returns a Kit, building the kernel and initramfs into the cache
// when their inputs changed. Errors that mean "cannot have a VM here"
// (a package missing) wrap ErrUnavailable.
func Prepare(logf func(string, ...any)) (*Kit, error) {
	if err := havePrograms(); err != nil {
		return nil, fmt.Errorf("%w: %v: run scripts/deps.sh test as root (it installs %s)", ErrUnavailable, err, Packages)
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	bz, kver, err := findKernel()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	dir, err := CacheDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("vm cache dir: %w", err)
	}
	kernel, err := kernelImage(dir, bz, logf)
	if err != nil {
		return nil, err
	}
	initrd, err := initramfs(dir, kver, logf)
	if err != nil {
		return nil, err
	}
	return &Kit{Qemu: qemu, Kernel: kernel, Initramfs: initrd, KernelVersion: kver}, nil
}

func havePrograms() error {
	for _, p := range []string{"qemu-system-x86_64", "busybox", "ipvsadm", "xz", "keepalived"} {
		if _, err := testenv.LookProgram(p); err != nil {
			return err
		}
	}
	_, _, err := findKernel()
	return err
}

// findKernel picks the newest /boot/vmlinuz-* whose modules are installed.
func findKernel() (image, version string, err error) {
	imgs, _ := filepath.Glob("/boot/vmlinuz-*")
	type k struct {
		path, ver string
		mtime     time.Time
	}
	var ks []k
	for _, p := range imgs {
		ver := strings.TrimPrefix(filepath.Base(p), "vmlinuz-")
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join("/lib/modules", ver, "modules.dep")); err != nil {
			continue
		}
		ks = append(ks, k{p, ver, st.ModTime()})
	}
	if len(ks) == 0 {
		return "", "", errors.New("no /boot/vmlinuz-* with its /lib/modules (install linux-image-amd64)")
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].mtime.After(ks[j].mtime) })
	return ks[0].path, ks[0].ver, nil
}

// Result is what one boot produced.
type Result struct {
	Output   string        // what run.sh wrote (stdout and stderr)
	ExitCode int           // run.sh's exit code
	Console  string        // the serial console (kernel messages, init)
	Elapsed  time.Duration // qemu start to exit
}

// Boot starts the VM with share as /share, where /init runs run.sh under
// bash and leaves "output" and "rc" beside it, then powers off. The boot is
// killed (by its PID, through the context) at BootTimeout or ctx's end.
func (k *Kit) Boot(ctx context.Context, share string) (Result, error) {
	var res Result
	if _, err := os.Stat(filepath.Join(share, "run.sh")); err != nil {
		return res, fmt.Errorf("vm: share has no run.sh: %w", err)
	}
	os.Remove(filepath.Join(share, "rc"))
	os.Remove(filepath.Join(share, "output"))
	ctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	args := []string{
		"-M", "pc", "-accel", "tcg", "-cpu", "qemu64", "-m", "1024", "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", k.Kernel, "-initrd", k.Initramfs,
		// quiet console; panic=-1 turns a panic into an exit (with -no-reboot).
		"-append", "console=ttyS0 mitigations=off panic=-1 quiet loglevel=4 rdinit=/init",
		"-fsdev", "local,id=share,path=" + share + ",security_model=none",
		"-device", "virtio-9p-pci,fsdev=share,mount_tag=share",
	}
	cmd := exec.CommandContext(ctx, k.Qemu, args...)
	var console bytes.Buffer
	cmd.Stdout, cmd.Stderr = &console, &console
	cmd.WaitDelay = 5 * time.Second
	// If this process dies first (a go test -timeout panic), take qemu along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Run()
	res.Elapsed = time.Since(start)
	res.Console = console.String()
	if out, rerr := os.ReadFile(filepath.Join(share, "output")); rerr == nil {
		res.Output = string(out)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("vm: no exit within %v (killed qemu): %w\nconsole:\n%s", BootTimeout, ctx.Err(), tail(res.Console, 3000))
	}
	if err != nil {
		return res, fmt.Errorf("vm: qemu: %w\nconsole:\n%s", err, tail(res.Console, 3000))
	}
	rc, err := os.ReadFile(filepath.Join(share, "rc"))
	if err != nil {
		return res, fmt.Errorf("vm: guest left no exit code: %w\nconsole:\n%s", err, tail(res.Console, 3000))
	}
	res.ExitCode, err = strconv.Atoi(strings.TrimSpace(string(rc)))
	if err != nil {
		return res, fmt.Errorf("vm: bad exit code %q: %w", rc, err)
	}
	return res, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Run boots a VM for a test and runs script under bash in /share, with
// files (guest name in /share -> host path) copied in first. It skips the
// test when no VM can be had here (strict mode: fails), and returns the
// script's output and an error when it exits non-zero or the boot fails.
// Strict mode reaches the guest: the script runs with LVSHA_STRICT=1 when
// the test does, so a test binary run there fails rather than skips (check
// its output with testenv.CheckSkips too, for skips that bypass testenv).
func Run(t testing.TB, script string, files map[string]string) (string, error) {
	t.Helper()
	kit, err := Prepare(t.Logf)
	if errors.Is(err, ErrUnavailable) {
		testenv.Skipf(t, "no VM: %v", err)
	}
	if err != nil {
		return "", err
	}
	share := t.TempDir()
	for name, src := range files {
		if err := copyFile(src, filepath.Join(share, name)); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(share, "run.sh"), []byte(GuestEnv()+script), 0o755); err != nil {
		return "", fmt.Errorf("vm: write run.sh: %w", err)
	}
	ctx := context.Background()
	if dl, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := dl.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d.Add(-5*time.Second))
			defer cancel()
		}
	}
	res, err := kit.Boot(ctx, share)
	t.Logf("vm: boot and run took %v (kernel %s, %s)", res.Elapsed.Round(10*time.Millisecond), kit.KernelVersion, filepath.Base(kit.Kernel))
	if err != nil {
		return res.Output, err
	}
	if res.ExitCode != 0 {
		return res.Output, fmt.Errorf("vm: script exited %d\nconsole:\n%s", res.ExitCode, tail(res.Console, 2000))
	}
	return res.Output, nil
}

// GuestEnv is the shell prologue that carries the host's strict mode into
// the guest's run.sh.
func GuestEnv() string {
	if testenv.Strict() {
		return "export " + testenv.StrictEnv + "=1\n"
	}
	return ""
}

// BuildTest compiles package pkg's tests (with build tags tags) into a
// static binary at out, for running inside the guest.
func BuildTest(pkg, out string, tags ...string) error {
	args := []string{"test", "-c", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	return goCmd(append(args, pkg)...)
}

// BuildProgram compiles main package pkg into a static binary at out.
func BuildProgram(pkg, out string) error {
	return goCmd("build", "-o", out, pkg)
}

func goCmd(args ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, args...)
	// Static: the guest has only the libraries copied for bash, ip, ipvsadm.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("vm: copy into share: %w", err)
	}
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("vm: copy into share: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("vm: copy into share: %w", err)
	}
	if err := os.WriteFile(dst, b, st.Mode().Perm()); err != nil {
		return fmt.Errorf("vm: copy into share: %w", err)
	}
	return nil
}
