package hardening

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvsha/tests/netns"
	"lvsha/tests/netns/hbdlab"
)

// TestReloadKeepsRunningConfig: a reload (SIGHUP, hbd -r) with a broken
// file is refused with file:line and the running configuration kept; a
// good authkeys change applies in place; a changed ha.cf makes hbd
// re-execute itself keeping its resources, so the VIP is never unanswered
// and the peer never sees it dead. Counted in cl_status counters.
func TestReloadKeepsRunningConfig(t *testing.T) {
	l := directors(t)
	pa, pb := l.startBoth()
	l.waitStable()
	before := l.snapshot()
	p := l.poll(20 * time.Millisecond)

	hbdR := func() (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, errOut, code, err := l.Alpha.Run(ctx, hbdlab.Bin("hbd"), "-r")
		if err != nil {
			t.Fatalf("hbd -r: %v", err)
		}
		return out + errOut, code
	}
	waitCounter := func(name string, want uint64) {
		t.Helper()
		netns.Eventually(t, 5*time.Second, 50*time.Millisecond, func() (bool, string) {
			got := hbdlab.Counters(t, l.Alpha)[name]
			return got == want, fmt.Sprintf("%s is %d, want %d", name, got, want)
		})
	}

	// 1. A good authkeys change (a second key; the active one unchanged):
	// applied without a restart.
	l.Alpha.WriteFile("/etc/ha.d/authkeys", []byte(authkeys()+"2 sha1 another-key\n"), 0o600)
	if err := pa.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitCounter("reloads_ok", 1)

	// 2. A broken authkeys (auth names a key that is not there): refused,
	// the running keys kept, so alpha and beta still agree.
	l.Alpha.WriteFile("/etc/ha.d/authkeys", []byte("auth 9\n1 md5 "+secret+"\n"), 0o600)
	out, code := hbdR()
	t.Logf("hbd -r with a broken authkeys: exit %d: %s", code, strings.TrimSpace(out))
	if code == 0 || !strings.Contains(out, "/etc/ha.d/authkeys:1") {
		t.Errorf("hbd -r accepted a broken authkeys or did not name file:line (exit %d): %q", code, out)
	}
	if err := pa.Signal(syscall.SIGHUP); err != nil { // straight to the daemon too
		t.Fatal(err)
	}
	waitCounter("reloads_failed", 1)

	// 3. A broken ha.cf: refused with file:line, nothing changes.
	cf := haCF("off")
	broken := cf + "keepalive banana\n"
	line := strings.Count(broken, "\n")
	l.Alpha.WriteFile("/etc/ha.d/ha.cf", []byte(broken), 0o644)
	if err := pa.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitCounter("reloads_failed", 2)
	want := "/etc/ha.d/ha.cf:" + strconv.Itoa(line)
	if log := readLogs(l.Alpha); !strings.Contains(log, "reload refused") || !strings.Contains(log, want) {
		t.Errorf("the log does not say the reload was refused at %s:\n%s", want, tail(log, 2000))
	}
	// For 3 deadtimes both sides' views stay as they were.
	_, changes := l.watch(before, 3*deadtime)
	reportChanges(t, "refused reloads", changes)
	if v, _ := hbdlab.Ours.Ask(l.Alpha, "parameter", "-p", "keepalive"); v == "" || strings.Contains(v, "banana") {
		t.Errorf("keepalive parameter after the refused reload: %q", v)
	}

	// 4. A good ha.cf change (a comment and the restored authkeys): hbd
	// re-executes itself with its resources kept.
	l.Alpha.WriteFile("/etc/ha.d/authkeys", []byte(authkeys()), 0o600)
	l.Alpha.WriteFile("/etc/ha.d/ha.cf", []byte(cf+"# edited\n"), 0o644)
	if err := pa.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	netns.Eventually(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		return strings.Count(readLogs(l.Alpha), "heartbeat started") >= 2, "hbd did not re-execute after the ha.cf change"
	})
	hbdlab.Ours.WaitStatus(t, l.Beta, "alpha", "active", 5*time.Second)
	hbdlab.Ours.WaitRsc(t, l.Alpha, "local", 5*time.Second)
	time.Sleep(3 * deadtime)
	ok, fail, worst, servers := p.finish()
	t.Logf("client across four reloads and a re-exec: %d answers %v, %d failures, longest gap %v", ok, servers, fail, worst.Round(time.Millisecond))
	if fail > 0 || servers["beta"] > 0 {
		t.Errorf("the VIP moved or went unanswered during the reloads: %d failures, %v", fail, servers)
	}
	if log := readLogs(l.Beta); strings.Contains(log, "is dead") {
		t.Errorf("beta declared alpha dead during the re-exec")
	}
	if s := l.snapshot(); !reflect.DeepEqual(s, before) {
		t.Errorf("state after the re-exec:\n before %v\n after  %v", before, s)
	}
	if pa.Exited() || pb.Exited() {
		t.Fatal("hbd exited")
	}
}
