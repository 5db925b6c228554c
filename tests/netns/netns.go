package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lvsha/internal/testenv"
)

// DefaultRunTimeout bounds Node.Run when the context has no deadline.
const DefaultRunTimeout = 30 * time.Second

// privateMounts maps each directory that a node sees privately to its place
// under Node.Dir. Longest prefixes first. /var/run and /var/lock are symlinks
// to /run and /run/lock on Debian 12, so they follow /run.
var privateMounts = []struct{ inNode, inDir string }{
	{"/var/lib/heartbeat", "var/lib/heartbeat"},
	{"/etc/ha.d", "etc/ha.d"},
	{"/var/log", "var/log"},
	{"/var/run", "run"},
	{"/run", "run"},
}

// Node is one simulated cluster machine: a holder process (`sleep infinity`
// cloned with new network, UTS and mount namespaces) keeps the namespaces
// alive; every command enters them with `nsenter -t <holder> -n -u -m`.
type Node struct {
	// Name is the node's host name (`uname -n` inside the node).
	Name string

	t      testing.TB
	dir    string
	holder *exec.Cmd
	pid    int
	netNS  string // readlink /proc/<holder>/ns/net, e.g. "net:[4026532281]"
	mntNS  string

	mu    sync.Mutex
	procs []*Proc
	seq   int
	ports int // bridge ports made by JoinLAN
}

var (
	requireOnce sync.Once
	requireErr  error
)

// Require skips the test (with the reason; in strict mode it fails, see
// lvsha/internal/testenv) unless it runs as root on a kernel that lets it
// create network, UTS and mount namespaces, and nsenter, ip and sleep are
// installed.
func Require(t testing.TB) {
	t.Helper()
	requireOnce.Do(func() { requireErr = probe() })
	if requireErr != nil {
		testenv.Skipf(t, "netns: %v", requireErr)
	}
}

func probe() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network/mount namespaces, veth); run the tests as root")
	}
	for _, b := range []string{"nsenter", "ip", "sleep", "mount", "sh"} {
		if _, err := lookPath(b); err != nil {
			return fmt.Errorf("%s not installed (util-linux, iproute2): %v", b, err)
		}
	}
	cmd := exec.Command("true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS | syscall.CLONE_NEWNS}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cannot create network/UTS/mount namespaces: %v", err)
	}
	return nil
}

// lookPath finds a binary in PATH or the sbin directories (PATH of a test run
// may lack them).
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found", name)
}

// nodeEnv is the environment of every command run in a node: fixed and
// small, like an init system would give a daemon.
var nodeEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"LANG=C",
	"LC_ALL=C",
}

// NewNode creates a node named name (also its host name) and registers its
// teardown with t.Cleanup. Inside the node these directories are private
// bind mounts of directories under Dir(): /etc/ha.d (a copy of the host's, so
// harc, rc.d, resource.d and shellfuncs are there; no ha.cf, authkeys or
// haresources), /var/lib/heartbeat (the host's empty directory tree with its
// owners), /run (so also /var/run, /var/lock, /run/heartbeat.pid; it holds
// heartbeat/{ccm,crm,dopd} and crm owned hacluster:haclient 0750, lock 1777,
// resource-agents) and /var/log (empty). Everything else, /tmp included, is
// the host's. Loopback is up. Teardown kills every process still in the
// node's network namespace (by PID), then the holder, and removes Dir (kept
// when LVSHA_NETNS_KEEP=1). It fails the test on error.
func NewNode(t testing.TB, name string) *Node {
	t.Helper()
	Require(t)
	if name == "" || strings.ContainsAny(name, "/ \t\n") || len(name) > 64 {
		t.Fatalf("netns: bad node name %q", name)
	}
	dir, err := os.MkdirTemp("", "lvsha-node-"+name+"-")
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	n := &Node{Name: name, t: t, dir: dir}
	t.Cleanup(n.close)
	if err := n.prepareDir(); err != nil {
		t.Fatalf("netns: node %s: prepare %s: %v", name, dir, err)
	}
	sleep, _ := lookPath("sleep")
	h := exec.Command(sleep, "infinity")
	h.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS | syscall.CLONE_NEWNS,
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL, // the namespaces go away if the test binary dies
	}
	if err := h.Start(); err != nil {
		t.Fatalf("netns: node %s: start holder: %v", name, err)
	}
	n.holder, n.pid = h, h.Process.Pid
	if n.netNS, err = os.Readlink(fmt.Sprintf("/proc/%d/ns/net", n.pid)); err != nil {
		t.Fatalf("netns: node %s: %v", name, err)
	}
	if n.mntNS, err = os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", n.pid)); err != nil {
		t.Fatalf("netns: node %s: %v", name, err)
	}
	// One shell does the setup inside the namespaces. Mount points missing on
	// the host (heartbeat not installed) are created first.
	const setup = `set -e
mount --make-rprivate /
printf '%s\n' "$1" > /proc/sys/kernel/hostname
ip link set lo up
for m in etc/ha.d var/lib/heartbeat var/log; do
	mkdir -p "/$m"
	mount --bind "$2/$m" "/$m"
done
mount --bind "$2/run" /run
`
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, errOut, code, err := n.Run(ctx, "sh", "-c", setup, "setup", name, dir)
	if err != nil || code != 0 {
		t.Fatalf("netns: node %s: setup failed (exit %d, %v): %s%s", name, code, err, out, errOut)
	}
	return n
}

// prepareDir fills the node's private root.
func (n *Node) prepareDir() error {
	if err := copyTree("/etc/ha.d", filepath.Join(n.dir, "etc/ha.d")); err != nil {
		return err
	}
	vlh := filepath.Join(n.dir, "var/lib/heartbeat")
	if err := copyDirs("/var/lib/heartbeat", vlh); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(n.dir, "var/log"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(n.dir, "out"), 0o755); err != nil {
		return err
	}
	uid, gid := 0, 0
	if u, err := user.Lookup("hacluster"); err == nil {
		uid, _ = strconv.Atoi(u.Uid)
	}
	if g, err := user.LookupGroup("haclient"); err == nil {
		gid, _ = strconv.Atoi(g.Gid)
	}
	run := filepath.Join(n.dir, "run")
	// As /usr/lib/tmpfiles.d/heartbeat.conf would make them at boot.
	for _, d := range []struct {
		p      string
		mode   os.FileMode
		hacl   bool
		sticky bool
	}{
		{"", 0o755, false, false},
		{"heartbeat", 0o750, true, false},
		{"heartbeat/ccm", 0o750, true, false},
		{"heartbeat/crm", 0o750, true, false},
		{"heartbeat/dopd", 0o750, true, false},
		{"crm", 0o750, true, false},
		{"lock", 0o777, false, true},
		{"resource-agents", 0o755, false, false},
	} {
		p := filepath.Join(run, d.p)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		mode := d.mode
		if d.sticky {
			mode |= os.ModeSticky
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		if d.hacl {
			if err := os.Chown(p, uid, gid); err != nil {
				return err
			}
		}
	}
	return os.Chmod(n.dir, 0o755)
}

// copyTree copies directories, regular files and symlinks with modes and
// owners. A missing source gives an empty destination.
func copyTree(src, dst string) error {
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dst, 0o755)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, _ := info.Sys().(*syscall.Stat_t)
		switch {
		case info.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(target, info.Mode().Perm()|info.Mode()&(os.ModeSticky|os.ModeSetgid)); err != nil {
				return err
			}
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, target); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, data, info.Mode().Perm()); err != nil {
				return err
			}
			if err := os.Chmod(target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil // sockets, fifos: state, not configuration
		}
		if st != nil {
			return os.Lchown(target, int(st.Uid), int(st.Gid))
		}
		return nil
	})
}

// copyDirs copies only the directory skeleton (modes, owners) of src.
func copyDirs(src, dst string) error {
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dst, 0o755)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(target, info.Mode().Perm()|info.Mode()&(os.ModeSticky|os.ModeSetgid)); err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			return os.Lchown(target, int(st.Uid), int(st.Gid))
		}
		return nil
	})
}

// Dir is the host path of the node's private root: Dir()+"/etc/ha.d" is the
// node's /etc/ha.d, likewise var/lib/heartbeat, var/log and run. Output of
// processes started with Start goes to Dir()+"/out".
func (n *Node) Dir() string { return n.dir }

// PID is the holder's PID; `nsenter -t PID -n -u -m` enters the node.
func (n *Node) PID() int { return n.pid }

// HostPath maps a path as seen inside the node to the host path of the same
// file. Only paths in the node's private directories (/etc/ha.d,
// /var/lib/heartbeat, /var/log, /run, /var/run) are accepted: anything else
// inside the node is the host's own file.
func (n *Node) HostPath(path string) (string, error) {
	clean := filepath.Clean(path)
	for _, m := range privateMounts {
		if clean == m.inNode || strings.HasPrefix(clean, m.inNode+"/") {
			return filepath.Join(n.dir, m.inDir, strings.TrimPrefix(clean, m.inNode)), nil
		}
	}
	return "", fmt.Errorf("netns: %s is not in a private directory of node %s", path, n.Name)
}

// WriteFile writes a file the node sees at path (e.g. /etc/ha.d/ha.cf),
// creating parent directories, and sets mode exactly. It fails the test on
// error, so call it from the test goroutine.
func (n *Node) WriteFile(path string, data []byte, mode os.FileMode) {
	n.t.Helper()
	hp, err := n.HostPath(path)
	if err == nil {
		if err = os.MkdirAll(filepath.Dir(hp), 0o755); err == nil {
			if err = os.WriteFile(hp, data, mode); err == nil {
				err = os.Chmod(hp, mode)
			}
		}
	}
	if err != nil {
		n.t.Fatalf("netns: node %s: write %s: %v", n.Name, path, err)
	}
}

// ReadFile reads a file the node sees at path (private directories only).
func (n *Node) ReadFile(path string) ([]byte, error) {
	hp, err := n.HostPath(path)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(hp)
}

// Command prepares (does not start) name with args inside the node's
// namespaces, with the fixed node environment. nsenter execs the command
// itself, so the started process's PID is the command's PID.
func (n *Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	nsenter, _ := lookPath("nsenter")
	argv := append([]string{"-t", strconv.Itoa(n.pid), "-n", "-u", "-m", "--", name}, args...)
	cmd := exec.CommandContext(ctx, nsenter, argv...)
	cmd.Env = append([]string(nil), nodeEnv...)
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// Run runs a command inside the node and waits for it. A non-zero exit is
// reported in exitCode with err nil; err is set when the command could not be
// run or was killed because ctx ended (DefaultRunTimeout when ctx has no
// deadline).
func (n *Node) Run(ctx context.Context, name string, args ...string) (stdout, stderr string, exitCode int, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultRunTimeout)
		defer cancel()
	}
	var o, e bytes.Buffer
	cmd := n.Command(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return o.String(), e.String(), 0, nil
	case ctx.Err() != nil:
		return o.String(), e.String(), -1, fmt.Errorf("netns: node %s: %s: %w", n.Name, name, ctx.Err())
	case errors.As(err, &ee) && ee.Exited():
		return o.String(), e.String(), ee.ExitCode(), nil
	default:
		return o.String(), e.String(), -1, fmt.Errorf("netns: node %s: %s: %w", n.Name, name, err)
	}
}

// MustRun runs a command inside the node (bounded by DefaultRunTimeout) and
// fails the test unless it exits 0. It returns stdout.
func (n *Node) MustRun(name string, args ...string) string {
	n.t.Helper()
	out, errOut, code, err := n.Run(context.Background(), name, args...)
	if err != nil || code != 0 {
		n.t.Fatalf("netns: node %s: %s %s: exit %d, %v\nstdout: %s\nstderr: %s",
			n.Name, name, strings.Join(args, " "), code, err, out, errOut)
	}
	return out
}

// SetLink sets interface ifname inside the node up or down.
func (n *Node) SetLink(ifname string, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	out, errOut, code, err := n.Run(context.Background(), "ip", "link", "set", "dev", ifname, state)
	if err == nil && code != 0 {
		err = fmt.Errorf("netns: node %s: ip link set %s %s: exit %d: %s%s", n.Name, ifname, state, code, out, errOut)
	}
	return err
}

// Connect links a and b with a veth pair named ifname on both sides (e.g.
// "eth1"). The pair is created inside a with its peer created directly in b,
// so no name ever appears in the host's namespace and parallel tests cannot
// clash. subnet is the first three octets ("10.31.1"; "10.31.1.0/24" is also
// accepted): a gets <subnet>.1/24 and b <subnet>.2/24, both with the
// broadcast address set (`brd +`: Heartbeat's bcast medium sends to the
// interface's broadcast address and sends nothing without one). Both ends
// are up. The pair disappears with the nodes.
func Connect(t testing.TB, a, b *Node, ifname string, subnet string) {
	t.Helper()
	s := strings.TrimSuffix(subnet, "/24")
	if parts := strings.Split(s, "."); len(parts) == 4 {
		s = strings.Join(parts[:3], ".")
	}
	if len(strings.Split(s, ".")) != 3 || len(ifname) == 0 || len(ifname) > 15 {
		t.Fatalf("netns: Connect: bad subnet %q or interface name %q", subnet, ifname)
	}
	a.MustRun("ip", "link", "add", "dev", ifname, "type", "veth", "peer", "name", ifname, "netns", strconv.Itoa(b.pid))
	for i, n := range []*Node{a, b} {
		addr := fmt.Sprintf("%s.%d/24", s, i+1)
		n.MustRun("ip", "addr", "add", addr, "brd", "+", "dev", ifname)
		n.MustRun("ip", "link", "set", "dev", ifname, "up")
	}
}

// Eventually polls cond every poll until it returns true, and fails the test
// with cond's last message when timeout passes first. It returns the time
// it took.
func Eventually(t testing.TB, timeout, poll time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %s", timeout, msg)
		}
		time.Sleep(poll)
	}
}

// Start starts a long-running process inside the node. Its stdout and stderr
// go to a file under Dir()+"/out" (Proc.LogPath). The node's teardown kills
// it if it is still running.
func (n *Node) Start(name string, args ...string) (*Proc, error) {
	n.mu.Lock()
	n.seq++
	seq := n.seq
	n.mu.Unlock()
	logPath := filepath.Join(n.dir, "out", fmt.Sprintf("%02d-%s.log", seq, filepath.Base(name)))
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := n.Command(context.Background(), name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// No Setpgid/Setsid: daemons such as Heartbeat call setsid() themselves,
	// which fails with EPERM for a process-group leader.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netns: node %s: start %s: %w", n.Name, name, err)
	}
	p := &Proc{Name: name, PID: cmd.Process.Pid, LogPath: logPath, node: n, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.mu.Lock()
	n.procs = append(n.procs, p)
	n.mu.Unlock()
	return p, nil
}

// Proc is a process started in a node with Start.
type Proc struct {
	Name    string
	PID     int    // host PID of the process itself (nsenter execs it)
	LogPath string // host path of its combined stdout+stderr

	node *Node
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Signal sends sig to the process (not to its children).
func (p *Proc) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	return syscall.Kill(p.PID, sig)
}

// Kill sends SIGKILL to the process.
func (p *Proc) Kill() error { return p.Signal(syscall.SIGKILL) }

// Exited reports whether the process has ended (and been reaped).
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to end. It returns the process's
// own error (nil for exit 0, *exec.ExitError otherwise), or an error saying it
// is still running.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("netns: node %s: %s (pid %d) still running after %v", p.node.Name, p.Name, p.PID, timeout)
	}
}

// Stop sends SIGTERM, waits up to timeout, then SIGKILL (and waits 5 s more).
// It returns true when the process ended on SIGTERM.
func (p *Proc) Stop(timeout time.Duration) bool {
	if p.Signal(syscall.SIGTERM) != nil {
		_ = p.Wait(5 * time.Second)
		return true
	}
	if p.Wait(timeout) == nil || p.Exited() {
		return true
	}
	_ = p.Kill()
	_ = p.Wait(5 * time.Second)
	return false
}

// Output returns what the process has written so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Pids lists the host PIDs of all processes inside the node's network and
// mount namespaces, except the holder: those started by Start and Run and
// everything they forked.
func (n *Node) Pids() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == n.pid {
			continue
		}
		net, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil || net != n.netNS {
			continue
		}
		if mnt, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err != nil || mnt != n.mntNS {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// close tears the node down: started processes, then any process left in
// the namespaces, then the holder, then Dir.
func (n *Node) close() {
	n.mu.Lock()
	procs := append([]*Proc(nil), n.procs...)
	n.mu.Unlock()
	if n.t.Failed() {
		n.dumpLogs(procs)
	}
	for _, p := range procs {
		_ = p.Kill()
	}
	for _, p := range procs {
		if err := p.Wait(5 * time.Second); err != nil && !p.Exited() {
			n.t.Logf("netns: node %s: %s (pid %d) did not die on SIGKILL", n.Name, p.Name, p.PID)
		}
	}
	if n.holder != nil {
		deadline := time.Now().Add(5 * time.Second)
		for {
			pids := n.Pids()
			if len(pids) == 0 {
				break
			}
			if time.Now().After(deadline) {
				n.t.Errorf("netns: node %s: processes %v survive SIGKILL", n.Name, pids)
				break
			}
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = n.holder.Process.Kill()
		done := make(chan struct{})
		go func() { _ = n.holder.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			n.t.Errorf("netns: node %s: holder %d not reaped", n.Name, n.pid)
		}
	}
	if os.Getenv("LVSHA_NETNS_KEEP") == "1" {
		n.t.Logf("netns: node %s: kept %s", n.Name, n.dir)
		return
	}
	if err := os.RemoveAll(n.dir); err != nil {
		n.t.Errorf("netns: node %s: %v", n.Name, err)
	}
}

// dumpLogs logs the tails of the node's process outputs and of every file in
// its /var/log, to explain a failed test.
func (n *Node) dumpLogs(procs []*Proc) {
	files := []string{}
	for _, p := range procs {
		files = append(files, p.LogPath)
	}
	logs, _ := filepath.Glob(filepath.Join(n.dir, "var/log/*"))
	files = append(files, logs...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		const max = 4000
		if len(b) > max {
			b = b[len(b)-max:]
		}
		n.t.Logf("netns: node %s: tail of %s:\n%s", n.Name, f, b)
	}
}

// NewSwitch creates a node holding an Ethernet bridge br0: a LAN that
// several nodes join with JoinLAN (a client and two directors sharing a
// VIP subnet need one L2 segment, which a veth pair cannot give).
func NewSwitch(t testing.TB, name string) *Node {
	t.Helper()
	sw := NewNode(t, name)
	sw.MustRun("ip", "link", "add", "br0", "type", "bridge")
	sw.MustRun("ip", "link", "set", "br0", "up")
	return sw
}

// JoinLAN connects n to the switch's bridge with a veth pair: ifname inside
// n carries addr (CIDR, with its broadcast set), the other end is a port of
// br0.
func JoinLAN(t testing.TB, sw, n *Node, ifname, addr string) {
	t.Helper()
	sw.mu.Lock()
	sw.ports++
	port := fmt.Sprintf("p%d", sw.ports)
	sw.mu.Unlock()
	sw.MustRun("ip", "link", "add", "dev", port, "type", "veth", "peer", "name", ifname, "netns", strconv.Itoa(n.pid))
	sw.MustRun("ip", "link", "set", "dev", port, "master", "br0")
	sw.MustRun("ip", "link", "set", "dev", port, "up")
	n.MustRun("ip", "addr", "add", addr, "brd", "+", "dev", ifname)
	n.MustRun("ip", "link", "set", "dev", ifname, "up")
}
