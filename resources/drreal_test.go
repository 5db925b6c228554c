package resources

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"

	"lvsha/resources/garp"
	"lvsha/tests/netns"
)

func TestDRRealServerParams(t *testing.T) {
	opts := NativeOptions{Logger: quietLogger(), StateDir: "/run/x"}
	a, err := NewDRRealServer(map[string]string{"vip": "10.0.0.100, fd00:0::100 10.0.0.101/32,10.0.0.100"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("10.0.0.100"), netip.MustParseAddr("fd00::100"), netip.MustParseAddr("10.0.0.101")}
	if !slices.Equal(a.VIPs, want) || a.ARPIgnore != 1 || a.ARPAnnounce != 2 || a.StateDir != "/run/x" || len(a.NICs) != 0 {
		t.Errorf("parsed %+v", a)
	}
	if got := a.id(); got != "10.0.0.100_fd00:0000:0000:0000:0000:0000:0000:0100_10.0.0.101" {
		t.Errorf("id %q (the script names its holder file the same way)", got)
	}
	if a.String() != "DRRealServer::10.0.0.100::fd00::100::10.0.0.101" {
		t.Errorf("token %q", a)
	}
	for _, p := range []map[string]string{
		{},
		{"vip": ""},
		{"vip": "10.0.0.300"},
		{"vip": "10.0.0.1/24"},
		{"vip": "fd00::1/64"},
		{"vip": "127.0.0.2"},
		{"vip": "224.0.0.1"},
		{"vip": "fe80::1"},
		{"vip": "0.0.0.0"},
		{"vip": "10.0.0.1", "arp_ignore": "4"},
		{"vip": "10.0.0.1", "arp_announce": "3"},
		{"vip": "10.0.0.1", "arp_announce": "x"},
		{"vip": "10.0.0.1", "nic": "all"},
		{"vip": "10.0.0.1", "nic": "lo"},
		{"vip": "10.0.0.1", "nic": "../x"},
		{"vip": "10.0.0.1", "state_dir": "relative"},
	} {
		if _, err := NewDRRealServer(p, opts); OCFCode(err) != OCFErrConfigured {
			t.Errorf("NewDRRealServer(%v): %v, want OCF_ERR_CONFIGURED", p, err)
		}
	}
	b, err := NewDRRealServer(map[string]string{"vip": "10.0.0.1", "nic": "eth1, eth2", "arp_ignore": "8", "arp_announce": "1", "state_dir": "/tmp/s"}, opts)
	if err != nil || !slices.Equal(b.NICs, []string{"eth1", "eth2"}) || b.ARPIgnore != 8 || b.ARPAnnounce != 1 || b.StateDir != "/tmp/s" {
		t.Errorf("explicit parameters: %+v %v", b, err)
	}

	if p, err := DRRealServerParamsFromArgs([]string{"10.0.0.100", "10.0.0.101", "nic=eth1"}); err != nil ||
		p["vip"] != "10.0.0.100,10.0.0.101" || p["nic"] != "eth1" || len(p) != 2 {
		t.Errorf("args: %v %v", p, err)
	}
	for _, args := range [][]string{nil, {"nic=eth1"}, {"10.0.0.1", "colour=blue"}, {"10.0.0.1", "vip=10.0.0.2"}} {
		if _, err := DRRealServerParamsFromArgs(args); err == nil {
			t.Errorf("args %q accepted", args)
		}
	}

	r := &Resolver{Native: true, Logger: quietLogger(), StateDir: "/run/y", HADir: t.TempDir(), InitDir: t.TempDir()}
	ag, err := r.Resolve("DRRealServer", []string{"10.0.0.100"})
	if d, ok := ag.(*DRRealServer); err != nil || !ok || d.String() != "DRRealServer::10.0.0.100" || d.StateDir != "/run/y" {
		t.Errorf("Resolve(DRRealServer::10.0.0.100) = %v, %v", ag, err)
	}
	if _, err := r.Resolve("DRRealServer", []string{"bogus"}); err == nil {
		t.Error("Resolve(DRRealServer::bogus) accepted")
	}
	r.Native = false
	if _, err := r.Resolve("DRRealServer", []string{"10.0.0.100"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("without native agents DRRealServer must be a script: %v", err)
	}
}

// sysctl reads net.ipv4.conf.IFACE.NAME in the current network namespace.
func sysctl(t *testing.T, iface, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv4/conf", iface, name))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func setSysctl(t *testing.T, iface, name string, v int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join("/proc/sys/net/ipv4/conf", iface, name), []byte(strconv.Itoa(v)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// arpSysctls is the four values on all and iface: all.ignore all.announce
// iface.ignore iface.announce.
func arpSysctls(t *testing.T, iface string) [4]int {
	t.Helper()
	return [4]int{sysctl(t, "all", "arp_ignore"), sysctl(t, "all", "arp_announce"), sysctl(t, iface, "arp_ignore"), sysctl(t, iface, "arp_announce")}
}

func setArpSysctls(t *testing.T, iface string, v [4]int) {
	t.Helper()
	setSysctl(t, "all", "arp_ignore", v[0])
	setSysctl(t, "all", "arp_announce", v[1])
	setSysctl(t, iface, "arp_ignore", v[2])
	setSysctl(t, iface, "arp_announce", v[3])
}

// hostOnLo reports whether lo holds ip as a /32 or /128.
func hostOnLo(t *testing.T, ip string) bool {
	t.Helper()
	ad := addrOn(t, "lo", ip)
	if ad == nil {
		return false
	}
	ones, bits := ad.Mask.Size()
	return ones == bits
}

// realServerNode gives the namespace a LAN interface veth0 with the
// default route on it, and odd starting values of the ARP sysctls, which
// stop must bring back.
func realServerNode(t *testing.T) [4]int {
	t.Helper()
	la, _ := veth(t, "veth0", "veth1", "10.90.0.2/24")
	if err := netlink.RouteAdd(&netlink.Route{LinkIndex: la.Attrs().Index, Gw: net.ParseIP("10.90.0.1")}); err != nil {
		t.Fatalf("default route: %v", err)
	}
	odd := [4]int{0, 1, 2, 0}
	setArpSysctls(t, "veth0", odd)
	return odd
}

// TestDRRealServerNetns drives the native agent through start, monitor,
// stop, their repetitions and the failure states, in a private network
// namespace.
func TestDRRealServerNetns(t *testing.T) {
	if !inNode(t) {
		return
	}
	ctx := context.Background()
	odd := realServerNode(t)
	state := t.TempDir()
	opts := NativeOptions{Logger: quietLogger(), StateDir: state}
	a, err := NewDRRealServer(map[string]string{"vip": "10.90.0.100 fd00:90::100"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(ctx); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if st, err := a.Status(ctx); st != Stopped || err != nil {
		t.Fatalf("status before start: %v %v", st, err)
	}
	for i := 0; i < 2; i++ { // the second start must change nothing, nor re-record
		if err := a.Start(ctx); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		if !hostOnLo(t, "10.90.0.100") || !hostOnLo(t, "fd00:90::100") {
			t.Fatalf("start %d: VIPs not on lo as /32 and /128", i+1)
		}
		if got := arpSysctls(t, "veth0"); got != [4]int{1, 2, 1, 2} {
			t.Fatalf("start %d: all/veth0 arp_ignore,arp_announce = %v, want 1 2 1 2", i+1, got)
		}
		if st, err := a.Status(ctx); st != Running || err != nil {
			t.Fatalf("status after start %d: %v %v", i+1, st, err)
		}
	}
	saved, _ := os.ReadFile(filepath.Join(state, drSysctlFile))
	if string(saved) != "all arp_ignore 0\nall arp_announce 1\nveth0 arp_ignore 2\nveth0 arp_announce 0\n" {
		t.Errorf("saved values:\n%s", saved)
	}
	for i := 0; i < 2; i++ {
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("stop %d: %v", i+1, err)
		}
		if hostOnLo(t, "10.90.0.100") || hostOnLo(t, "fd00:90::100") {
			t.Fatalf("stop %d: VIPs still on lo", i+1)
		}
		if got := arpSysctls(t, "veth0"); got != odd {
			t.Fatalf("stop %d: sysctls %v, want the previous %v", i+1, got, odd)
		}
		if st, err := a.Status(ctx); st != Stopped || err != nil {
			t.Fatalf("status after stop %d: %v %v", i+1, st, err)
		}
	}
	if _, err := os.Stat(filepath.Join(state, drSysctlFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("saved values left behind after the last stop: %v", err)
	}

	t.Run("failed states", func(t *testing.T) {
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		lo, _ := netlink.LinkByName("lo")
		if err := netlink.AddrDel(lo, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("fd00:90::100"), Mask: net.CIDRMask(128, 128)}}); err != nil {
			t.Fatal(err)
		}
		if st, err := a.Status(ctx); st != Failed || OCFCode(err) != OCFErrGeneric || !strings.Contains(err.Error(), "fd00:90::100 not on lo") {
			t.Errorf("one VIP missing: %v %v", st, err)
		}
		if err := a.Start(ctx); err != nil { // start repairs
			t.Fatal(err)
		}
		setSysctl(t, "veth0", "arp_ignore", 0)
		if st, err := a.Status(ctx); st != Failed || err == nil || !strings.Contains(err.Error(), "net.ipv4.conf.veth0.arp_ignore=0 (want 1)") {
			t.Errorf("sysctl reset: %v %v", st, err)
		}
		if err := a.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if got := arpSysctls(t, "veth0"); got != odd {
			t.Errorf("sysctls %v, want %v", got, odd)
		}
	})

	t.Run("shared sysctls", func(t *testing.T) {
		// Two instances: the values come back only when the last stops;
		// the second one's extra interface comes back with it.
		b, _ := NewDRRealServer(map[string]string{"vip": "10.90.0.101"}, opts)
		c, _ := NewDRRealServer(map[string]string{"vip": "10.90.0.102", "nic": "veth0,veth1"}, opts)
		setSysctl(t, "veth1", "arp_announce", 1)
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if sysctl(t, "veth1", "arp_ignore") != 1 || sysctl(t, "veth1", "arp_announce") != 2 {
			t.Fatal("nic=veth0,veth1: veth1 not set")
		}
		if err := b.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if got := arpSysctls(t, "veth0"); got != [4]int{1, 2, 1, 2} {
			t.Fatalf("after the first stop sysctls %v; the other instance still needs 1 2 1 2", got)
		}
		if st, _ := c.Status(ctx); st != Running {
			t.Fatalf("other instance %v", st)
		}
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if got := arpSysctls(t, "veth0"); got != odd || sysctl(t, "veth1", "arp_announce") != 1 {
			t.Fatalf("after the last stop sysctls %v veth1.arp_announce %d, want %v and 1", got, sysctl(t, "veth1", "arp_announce"), odd)
		}
	})

	t.Run("IPv6 only touches no sysctl", func(t *testing.T) {
		b, _ := NewDRRealServer(map[string]string{"vip": "fd00:90::101"}, opts)
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if !hostOnLo(t, "fd00:90::101") || arpSysctls(t, "veth0") != odd {
			t.Fatalf("IPv6 VIP on lo %v, sysctls %v", hostOnLo(t, "fd00:90::101"), arpSysctls(t, "veth0"))
		}
		if st, err := b.Status(ctx); st != Running {
			t.Fatalf("status %v %v", st, err)
		}
		if err := b.Stop(ctx); err != nil || hostOnLo(t, "fd00:90::101") {
			t.Fatalf("stop: %v", err)
		}
	})

	t.Run("unknown nic", func(t *testing.T) {
		b, _ := NewDRRealServer(map[string]string{"vip": "10.90.0.103", "nic": "nosuch0"}, opts)
		if err := b.Validate(ctx); OCFCode(err) != OCFErrConfigured {
			t.Errorf("validate: %v", err)
		}
		if err := b.Start(ctx); OCFCode(err) != OCFErrConfigured {
			t.Errorf("start: %v", err)
		}
		if err := b.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})

	t.Run("script and agent share state", func(t *testing.T) {
		script := lvsRealServerScript(t)
		o := opts
		o.StateDir = "/run/resource-agents" // the script's default
		b, _ := NewDRRealServer(map[string]string{"vip": "10.90.0.104,fd00:90:0::104"}, o)
		if out, code := runScript(t, nil, script, "start", "10.90.0.104", "fd00:90::104"); code != 0 {
			t.Fatalf("script start: %d %s", code, out)
		}
		if st, err := b.Status(ctx); st != Running {
			t.Fatalf("agent status after script start: %v %v", st, err)
		}
		if err := b.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if got := arpSysctls(t, "veth0"); got != odd || hostOnLo(t, "10.90.0.104") {
			t.Fatalf("agent stop after script start: sysctls %v, want %v", got, odd)
		}
		if ents, _ := os.ReadDir(filepath.Join(o.StateDir, drHolderDir)); len(ents) != 0 {
			t.Fatalf("holder files left: %v (the agent must name them as the script does)", ents)
		}
	})
}

func lvsRealServerScript(t *testing.T) string {
	t.Helper()
	// Inside a node the working directory is /, so find the script from
	// this source file's path instead.
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	p := filepath.Join(filepath.Dir(self), "..", "scripts", "lvs-realserver")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("script: %v", err)
	}
	return p
}

// runScript runs the script with sh (as an init system or Heartbeat
// would, minus the execute bit) and returns stdout+stderr and the exit code.
func runScript(t *testing.T, env []string, script string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %s %v: %v", script, args, err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// TestLVSRealServerScript: scripts/lvs-realserver in both calling forms
// (init: ACTION VIP..., Heartbeat: VIP... ACTION), its LSB codes and
// status words, and through hbd's own resource.d and LSB runners.
func TestLVSRealServerScript(t *testing.T) {
	if !inNode(t) {
		return
	}
	ctx := context.Background()
	odd := realServerNode(t)
	script := lvsRealServerScript(t)
	state := t.TempDir()
	env := []string{"LVS_STATE_DIR=" + state, "LVS_REALSERVER_DEFAULTS=/nonexistent"}
	stdout := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command("sh", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out)), cmd.ProcessState.ExitCode()
	}

	if out, code := stdout("status", "10.90.0.100", "fd00:90::100"); out != "stopped" || code != 3 {
		t.Fatalf("status before start: %q %d, want stopped 3", out, code)
	}
	for i, args := range [][]string{{"start", "10.90.0.100", "fd00:90::100"}, {"10.90.0.100", "fd00:90:0::100", "start"}} {
		if out, code := runScript(t, env, script, args...); code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, out)
		}
		if !hostOnLo(t, "10.90.0.100") || !hostOnLo(t, "fd00:90::100") {
			t.Fatalf("start %d: VIPs not on lo", i+1)
		}
		if got := arpSysctls(t, "veth0"); got != [4]int{1, 2, 1, 2} {
			t.Fatalf("start %d: sysctls %v, want 1 2 1 2", i+1, got)
		}
		if out, code := stdout("10.90.0.100", "fd00:90::100", "status"); out != "running" || code != 0 {
			t.Fatalf("status after start %d: %q %d, want running 0", i+1, out, code)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(state, "lvs-realserver.d")); len(ents) != 1 {
		t.Errorf("holder files %v: both spellings of the IPv6 VIP are one instance", ents)
	}

	// Partial: Heartbeat must read "not running" (it then starts, which repairs).
	lo, _ := netlink.LinkByName("lo")
	if err := netlink.AddrDel(lo, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("10.90.0.100").To4(), Mask: net.CIDRMask(32, 32)}}); err != nil {
		t.Fatal(err)
	}
	out, code := stdout("status", "10.90.0.100", "fd00:90::100")
	if code != 1 || StatusFromOutput(out) != Stopped || !strings.Contains(out, "10.90.0.100") {
		t.Errorf("partial status: %q %d, want exit 1 and a Heartbeat 'not running'", out, code)
	}
	runScript(t, env, script, "start", "10.90.0.100", "fd00:90::100")
	setSysctl(t, "all", "arp_announce", 0)
	if out, code := stdout("status", "10.90.0.100", "fd00:90::100"); code != 1 || !strings.Contains(out, "net.ipv4.conf.all.arp_announce=0") {
		t.Errorf("sysctl reset: %q %d", out, code)
	}
	setSysctl(t, "all", "arp_announce", 2)

	for i, args := range [][]string{{"stop", "10.90.0.100", "fd00:90::100"}, {"10.90.0.100", "fd00:90::100", "undo"}} {
		if out, code := runScript(t, env, script, args...); code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, out)
		}
		if hostOnLo(t, "10.90.0.100") || hostOnLo(t, "fd00:90::100") {
			t.Fatalf("stop %d: VIPs still on lo", i+1)
		}
		if got := arpSysctls(t, "veth0"); got != odd {
			t.Fatalf("stop %d: sysctls %v, want the previous %v", i+1, got, odd)
		}
		if out, code := stdout("status", "10.90.0.100", "fd00:90::100"); out != "stopped" || code != 3 {
			t.Fatalf("status after stop %d: %q %d", i+1, out, code)
		}
	}

	for _, args := range [][]string{{}, {"frobnicate"}, {"start"}, {"start", "10.90.0.300"}, {"start", "10.90.0.1/24"},
		{"start", "10.90.0.100", "arp_ignore=5"}, {"start", "10.90.0.100", "colour=blue"}} {
		if out, code := runScript(t, env, script, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (invalid argument)\n%s", args, code, out)
		}
	}
	if _, code := stdout("status", "nonsense"); code != 4 {
		t.Errorf("status with a bad VIP: exit %d, want 4 (unknown)", code)
	}
	if out, code := runScript(t, env, script, "start", "10.90.0.100", "nic=nosuch0"); code != 6 {
		t.Errorf("unknown nic: exit %d, want 6\n%s", code, out)
	}

	t.Run("as a haresources resource.d script", func(t *testing.T) {
		ha := t.TempDir()
		rd := filepath.Join(ha, "resource.d")
		os.MkdirAll(rd, 0o755)
		if err := os.Symlink(script, filepath.Join(rd, "lvs-realserver")); err != nil {
			t.Fatal(err)
		}
		r := &Resolver{HADir: ha, InitDir: t.TempDir(), Logger: quietLogger(), Timeout: 20 * time.Second, Env: env}
		a, err := r.Resolve("lvs-realserver", []string{"10.90.0.110", "nic=veth0"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := a.(*ScriptAgent); !ok {
			t.Fatalf("resolved to %T", a)
		}
		lifecycle(t, ctx, a, "10.90.0.110", odd)
	})

	t.Run("as an init script", func(t *testing.T) {
		initd := t.TempDir()
		defaults := filepath.Join(t.TempDir(), "lvs-realserver")
		os.WriteFile(defaults, []byte("LVS_VIPS=\"10.90.0.111 fd00:90::111\"\nLVS_STATE_DIR="+state+"\n"), 0o644)
		if err := os.Symlink(script, filepath.Join(initd, "lvs-realserver")); err != nil {
			t.Fatal(err)
		}
		r := &Resolver{HADir: t.TempDir(), InitDir: initd, Logger: quietLogger(), Timeout: 20 * time.Second,
			Env: []string{"LVS_REALSERVER_DEFAULTS=" + defaults}}
		a, err := r.Resolve("lvs-realserver", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := a.(*LSBAgent); !ok {
			t.Fatalf("resolved to %T", a)
		}
		lifecycle(t, ctx, a, "10.90.0.111", odd)
	})
}

// lifecycle checks status, start, start, status, stop, stop, status of a
// real-server resource whose first VIP is vip.
func lifecycle(t *testing.T, ctx context.Context, a Agent, vip string, odd [4]int) {
	t.Helper()
	if st, err := a.Status(ctx); st != Stopped {
		t.Fatalf("%s before start: %v %v", a, st, err)
	}
	for i := 0; i < 2; i++ {
		if err := a.Start(ctx); err != nil {
			t.Fatalf("%s start: %v", a, err)
		}
	}
	if st, err := a.Status(ctx); st != Running || !hostOnLo(t, vip) || arpSysctls(t, "veth0") != [4]int{1, 2, 1, 2} {
		t.Fatalf("%s after start: %v %v, on lo %v, sysctls %v", a, st, err, hostOnLo(t, vip), arpSysctls(t, "veth0"))
	}
	for i := 0; i < 2; i++ {
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("%s stop: %v", a, err)
		}
	}
	if st, err := a.Status(ctx); st != Stopped || hostOnLo(t, vip) || arpSysctls(t, "veth0") != odd {
		t.Fatalf("%s after stop: %v %v, on lo %v, sysctls %v", a, st, err, hostOnLo(t, vip), arpSysctls(t, "veth0"))
	}
}

// helperEnv, when set, makes this test binary (TestMain, main_test.go) run
// drrealHelper's job instead of the tests: TestDRRealServerARP runs it
// inside its nodes (the agent, or an ARP/ND probe from the client), since
// sockets and netlink act on the namespace of the process that opens them.
const helperEnv = "LVSHA_DRREAL_HELPER"

// drrealHelper runs one job: "start VIP", "stop VIP" (the agent), or
// "probe IFACE SRC TARGET", which prints "ANSWER <mac>" per answer.
func drrealHelper(job []string) error {
	ctx := context.Background()
	switch {
	case len(job) == 2 && (job[0] == "start" || job[0] == "stop"):
		a, err := NewDRRealServer(map[string]string{"vip": job[1]}, NativeOptions{Logger: quietLogger()})
		if err != nil {
			return err
		}
		if job[0] == "start" {
			return a.Start(ctx)
		}
		return a.Stop(ctx)
	case len(job) == 4 && job[0] == "probe":
		macs, err := probeNeighbour(job[1], netip.MustParseAddr(job[2]), netip.MustParseAddr(job[3]))
		if err != nil {
			return err
		}
		for _, m := range macs {
			fmt.Printf("ANSWER %s\n", m)
		}
		return nil
	default:
		return fmt.Errorf("unknown helper job %q", job)
	}
}

// probeNeighbour asks who has target (ARP request, or IPv6 neighbour
// solicitation) from src on ifname, three times, and returns the sender
// hardware addresses of every answer.
func probeNeighbour(ifname string, src, target netip.Addr) ([]string, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	etype := garp.EtherTypeARP
	if target.Is6() {
		etype = garp.EtherTypeIPv6
	}
	c, err := packet.Listen(ifi, packet.Raw, etype, nil)
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET on %s: %w", ifname, err)
	}
	defer c.Close()
	var frame []byte
	var dst net.HardwareAddr
	if target.Is4() {
		frame, dst = arpRequest(ifi.HardwareAddr, src, target), garp.Broadcast
	} else {
		frame, dst = neighbourSolicitation(ifi.HardwareAddr, src, target)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.WriteTo(frame, &packet.Addr{HardwareAddr: dst}); err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var macs []string
	c.SetReadDeadline(time.Now().Add(time.Second))
	b := make([]byte, 2048)
	want := target.AsSlice()
	for {
		n, _, err := c.ReadFrom(b)
		if err != nil {
			break // deadline
		}
		f := b[:n]
		var mac string
		switch {
		case target.Is4() && n >= 42 && binary.BigEndian.Uint16(f[20:22]) == garp.OpReply && bytes.Equal(f[28:32], want):
			mac = net.HardwareAddr(f[22:28]).String()
		case target.Is6() && n >= 78 && f[20] == 58 && f[54] == 136 && bytes.Equal(f[62:78], want):
			mac = net.HardwareAddr(f[6:12]).String() // neighbour advertisement for target
		}
		if mac != "" && !slices.Contains(macs, mac) {
			macs = append(macs, mac)
		}
	}
	return macs, nil
}

func arpRequest(mac net.HardwareAddr, src, target netip.Addr) []byte {
	b := make([]byte, 42)
	copy(b[0:6], garp.Broadcast)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:], garp.EtherTypeARP)
	binary.BigEndian.PutUint16(b[14:], 1)      // Ethernet
	binary.BigEndian.PutUint16(b[16:], 0x0800) // IPv4
	b[18], b[19] = 6, 4
	binary.BigEndian.PutUint16(b[20:], garp.OpRequest)
	copy(b[22:28], mac)
	s, d := src.As4(), target.As4()
	copy(b[28:32], s[:])
	copy(b[38:42], d[:])
	return b
}

// neighbourSolicitation builds the NS for target to its solicited-node
// multicast group, with our link-layer address option.
func neighbourSolicitation(mac net.HardwareAddr, src, target netip.Addr) ([]byte, net.HardwareAddr) {
	t := target.As16()
	group := [16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]}
	dmac := net.HardwareAddr{0x33, 0x33, 0xff, t[13], t[14], t[15]}
	icmp := make([]byte, 32)
	icmp[0] = 135 // neighbour solicitation
	copy(icmp[8:24], t[:])
	icmp[24], icmp[25] = 1, 1 // source link-layer address option, 8 bytes
	copy(icmp[26:32], mac)
	s := src.As16()
	// ICMPv6 checksum over the pseudo-header and the message.
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	add(s[:])
	add(group[:])
	add([]byte{0, 0, 0, byte(len(icmp)), 0, 0, 0, 58})
	add(icmp)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(icmp[2:], ^uint16(sum))
	b := make([]byte, 14+40+len(icmp))
	copy(b[0:6], dmac)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:], garp.EtherTypeIPv6)
	ip := b[14:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(icmp)))
	ip[6], ip[7] = 58, 255 // ICMPv6, hop limit 255 as ND requires
	copy(ip[8:24], s[:])
	copy(ip[24:40], group[:])
	copy(ip[40:], icmp)
	return b, dmac
}

// TestDRRealServerARP is the LVS-DR picture end to end: a director with the
// VIP on eth0, a real server and a client on one LAN. Without the set-up
// the real server answers ARP for the VIP it holds on lo (the classic
// "ARP problem", shown first so the probe is known to see it); after the
// script's or the agent's start only the director answers, for IPv4 ARP
// and IPv6 neighbour discovery alike.
func TestDRRealServerARP(t *testing.T) {
	netns.Require(t)
	script := lvsRealServerScript(t)
	sw := netns.NewSwitch(t, "drsw")
	dir := netns.NewNode(t, "drdir")
	real := netns.NewNode(t, "drreal")
	client := netns.NewNode(t, "drcli")
	netns.JoinLAN(t, sw, dir, "eth0", "10.80.0.1/24")
	netns.JoinLAN(t, sw, real, "eth0", "10.80.0.2/24")
	netns.JoinLAN(t, sw, client, "eth0", "10.80.0.3/24")
	dir.MustRun("ip", "addr", "add", "10.80.0.100/24", "dev", "eth0")
	for i, n := range []*netns.Node{dir, real, client} {
		n.MustRun("ip", "addr", "add", fmt.Sprintf("fd00:80::%d/64", i+1), "dev", "eth0", "nodad")
	}
	dir.MustRun("ip", "addr", "add", "fd00:80::100/64", "dev", "eth0", "nodad")
	real.MustRun("ip", "route", "add", "default", "via", "10.80.0.1")
	// The real server starts as an untuned host would: answer for any address.
	for _, k := range []string{"all", "eth0"} {
		real.MustRun("sysctl", "-qw", "net.ipv4.conf."+k+".arp_ignore=0", "net.ipv4.conf."+k+".arp_announce=0")
	}
	mac := func(n *netns.Node) string {
		f := strings.Fields(n.MustRun("ip", "-o", "link", "show", "dev", "eth0"))
		i := slices.Index(f, "link/ether")
		if i < 0 {
			t.Fatalf("no MAC in %v", f)
		}
		return f[i+1]
	}
	dirMAC, realMAC := mac(dir), mac(real)
	helper := func(n *netns.Node, job string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, errOut, code, err := n.Run(ctx, "env", helperEnv+"="+job, os.Args[0])
		if err != nil || code != 0 {
			t.Fatalf("helper %q in %s: exit %d %v\n%s%s", job, n.Name, code, err, out, errOut)
		}
		return out
	}
	answers := func(vip string) []string {
		t.Helper()
		src := "10.80.0.3"
		if strings.Contains(vip, ":") {
			src = "fd00:80::3"
		}
		var macs []string
		for _, l := range strings.Split(helper(client, "probe eth0 "+src+" "+vip), "\n") {
			if m, ok := strings.CutPrefix(l, "ANSWER "); ok {
				macs = append(macs, m)
			}
		}
		slices.Sort(macs)
		return macs
	}
	onlyDirector := func(what string) {
		t.Helper()
		for _, vip := range []string{"10.80.0.100", "fd00:80::100"} {
			if got := answers(vip); !slices.Equal(got, []string{dirMAC}) {
				t.Errorf("%s: %s answered by %v, want only the director %s (real server %s)", what, vip, got, dirMAC, realMAC)
			}
		}
	}

	real.MustRun("ip", "addr", "add", "10.80.0.100/32", "dev", "lo")
	if got, want := answers("10.80.0.100"), []string{dirMAC, realMAC}; !slices.Equal(got, sortedCopy(want)) {
		t.Fatalf("control: with the VIP on lo and arp_ignore=0 the answers are %v, want both %v", got, want)
	}
	real.MustRun("ip", "addr", "del", "10.80.0.100/32", "dev", "lo")

	t.Run("script", func(t *testing.T) {
		real.MustRun("sh", script, "start", "10.80.0.100", "fd00:80::100")
		if out := real.MustRun("sh", script, "status", "10.80.0.100", "fd00:80::100"); strings.TrimSpace(out) != "running" {
			t.Fatalf("status %q", out)
		}
		onlyDirector("after lvs-realserver start")
		real.MustRun("sh", script, "stop", "10.80.0.100", "fd00:80::100")
	})
	t.Run("agent", func(t *testing.T) {
		helper(real, "start 10.80.0.100,fd00:80::100")
		onlyDirector("after DRRealServer start")
		helper(real, "stop 10.80.0.100,fd00:80::100")
		if out := real.MustRun("sysctl", "-n", "net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.eth0.arp_announce"); strings.Fields(out)[0] != "0" || strings.Fields(out)[1] != "0" {
			t.Errorf("after stop the sysctls are %q, want 0 0 back", out)
		}
	})
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
