package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"lvsha/internal/testenv"
	"lvsha/tests/netns"
)

func TestMetadataValidates(t *testing.T) {
	xmllint := testenv.RequireProgram(t, "xmllint", "libxml2-utils")
	testenv.RequireFile(t, "/usr/share/resource-agents/ra-api-1.dtd", "resource-agents")
	for name := range metas {
		var out, errOut bytes.Buffer
		if code := run([]string{"/x/" + name, "meta-data"}, nil, &out, &errOut); code != 0 {
			t.Fatalf("%s meta-data exit %d: %s", name, code, errOut.String())
		}
		cmd := exec.Command(xmllint, "--noout", "--valid", "-")
		cmd.Dir = "/usr/share/resource-agents"
		cmd.Stdin = &out
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s meta-data does not validate: %v\n%s", name, err, b)
		}
	}
}

func TestDispatchAndCodes(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, c := range []struct {
		argv []string
		env  []string
		code int
	}{
		{[]string{"IPaddr2", "usage"}, nil, 0},
		{[]string{"ocf-agent", "SendArp", "meta-data"}, nil, 0},
		{[]string{"IPaddr2", "promote"}, nil, 3},
		{[]string{"Unknown", "start"}, nil, 3},
		{[]string{"IPaddr2"}, nil, 2},
		{[]string{"IPaddr2", "monitor"}, nil, 6}, // no ip
		{[]string{"IPaddr2", "validate-all"}, []string{"OCF_RESKEY_ip=10.0.0.1", "OCF_RESKEY_nic=nosuchnic0"}, 6},
		{[]string{"SendArp", "monitor"}, []string{"OCF_RESKEY_ip=10.0.0.1", "OCF_RESKEY_nic=lo", "HA_RSCTMP=" + t.TempDir()}, 7},
		{[]string{"ldirectord", "monitor"}, []string{"OCF_RESKEY_configfile=/nonexistent.cf"}, 5},
		{[]string{"DRRealServer", "validate-all"}, []string{"OCF_RESKEY_vip=10.0.0.300"}, 6},
		{[]string{"DRRealServer", "monitor"}, nil, 6}, // no vip
		{[]string{"DRRealServer", "start"}, []string{"OCF_RESKEY_vip=10.0.0.1", "OCF_RESKEY_arp_ignore=9"}, 6},
	} {
		out.Reset()
		errOut.Reset()
		if got := run(c.argv, c.env, &out, &errOut); got != c.code {
			t.Errorf("%v %v: exit %d, want %d; stderr %s", c.argv, c.env, got, c.code, errOut.String())
		}
	}
}

// TestOCFTester runs the real ocf-tester (resource-agents) against each
// agent, installed as symlinks to the built binary, inside a private
// network namespace with a veth pair.
func TestOCFTester(t *testing.T) {
	tester := "/usr/sbin/ocf-tester"
	testenv.RequireProgram(t, tester, "resource-agents")
	testenv.RequireProgram(t, "xmllint", "libxml2-utils")
	netns.Require(t)
	// ocf-tester runs meta-data as nobody: the directory must be
	// world-readable, so not t.TempDir (mode 0700 parents).
	dir, err := os.MkdirTemp("", "lvsha-ocf-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ocf-agent")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gobin, "build", "-o", bin, "lvsha/resources/cmd/ocf-agent")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	prov := filepath.Join(dir, "resource.d", "lvsha")
	if err := os.MkdirAll(prov, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "resource.d"), 0o755)
	for name := range metas {
		if err := os.Symlink("../../ocf-agent", filepath.Join(prov, name)); err != nil {
			t.Fatal(err)
		}
	}
	// A fake ldird with ldirectord's status/start/stop exit codes.
	conf := filepath.Join(dir, "ldirectord.cf")
	os.WriteFile(conf, []byte("virtual=10.70.0.20:80\n"), 0o644)
	state := filepath.Join(dir, "ldird.state")
	fake := filepath.Join(dir, "fake-ldird")
	os.WriteFile(fake, []byte(`#!/bin/sh
case "$2" in
status) if [ -e `+state+` ]; then echo "ldirectord for $1 is running with pid: 1"; exit 0; fi
	echo "ldirectord is stopped for $1"; exit 3;;
start) touch `+state+`; exit 0;;
stop) rm -f `+state+`; exit 0;;
esac
exit 1
`), 0o755)

	n := netns.NewNode(t, "ocft")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	setup := "ip link add veth0 type veth peer name veth1 && ip link set veth0 up && ip link set veth1 up && ip addr add 10.70.0.1/24 dev veth0"
	if out, errOut, code, err := n.Run(ctx, "sh", "-c", setup); err != nil || code != 0 {
		t.Fatalf("setup: %v %d %s%s", err, code, out, errOut)
	}
	for _, c := range []struct {
		agent string
		opts  []string
	}{
		{"IPaddr2", []string{"ip=10.70.0.10", "nic=veth0"}},
		{"IPaddr2", []string{"ip=10.70.0.11"}}, // nic and netmask from the route
		{"IPaddr", []string{"ip=10.70.0.12", "cidr_netmask=24", "ARP_REPEAT=2", "ARP_INTERVAL_MS=50"}},
		{"SendArp", []string{"ip=10.70.0.13", "nic=veth0"}},
		{"ldirectord", []string{"configfile=" + conf, "ldirectord=" + fake}},
		{"DRRealServer", []string{"vip=10.70.0.50,fd00:70::50"}}, // no default route: "all" only
		{"DRRealServer", []string{"vip=10.70.0.51", "nic=veth0", "state_dir=" + dir}},
	} {
		args := []string{"-n", "test"}
		for _, o := range c.opts {
			args = append(args, "-o", o)
		}
		args = append(args, filepath.Join(prov, c.agent))
		out, errOut, code, err := n.Run(ctx, tester, args...)
		if err != nil || code != 0 || !strings.Contains(out, "passed all tests") {
			t.Errorf("ocf-tester %s %v: exit %d, %v\n%s%s", c.agent, c.opts, code, err, out, errOut)
		} else {
			t.Logf("ocf-tester %s %v: passed", c.agent, c.opts)
		}
	}
}
