package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleDir copies ../../ha.d into a temp dir, with authkeys at mode 600
// (git does not keep that mode).
func sampleDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"ha.cf", "authkeys", "haresources"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "ha.d", f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, f, string(data))
	}
	return dir
}

func writeFile(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, name), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadSamples(t *testing.T) {
	dir := sampleDir(t)
	for _, node := range []string{"director1", "director2", "DIRECTOR1"} {
		cfg, err := Load(dir, Options{NodeName: node, LookupIP: stubLookup})
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		h := cfg.HA
		if len(h.Nodes) != 2 || h.Nodes[0] != "director1" || h.Nodes[1] != "director2" ||
			h.AutoFailback != "on" || len(h.Media) != 2 || h.Media[0].Iface != "eth0" || h.Media[1].Iface != "eth1" ||
			h.Keepalive != time.Second || h.Deadtime != 10*time.Second || h.Initdead != 30*time.Second ||
			h.Params["pacemaker"] != "no" {
			t.Errorf("ha.cf: %+v", h)
		}
		if cfg.Keys.Send != 1 || cfg.Keys.Keys[1].Method != "sha1" {
			t.Errorf("authkeys: %+v", cfg.Keys)
		}
		if len(cfg.Groups) != 1 || cfg.Groups[0].Node != "director1" || cfg.Groups[0].Key != "192.168.56.200/32/eth1/192.168.56.200" ||
			len(cfg.Groups[0].Resources) != 2 || cfg.Groups[0].Resources[1].Name != "ldirectord" {
			t.Errorf("haresources: %+v", cfg.Groups)
		}
		if len(cfg.Warnings) != 0 {
			t.Errorf("sample files give warnings: %v", cfg.Warnings)
		}
	}
	// The samples also parse through the file-level entry points.
	if _, err := ParseHACF(filepath.Join(dir, "ha.cf"), Options{NodeName: "director1"}); err != nil {
		t.Error(err)
	}
	if _, err := ParseAuthkeys(filepath.Join(dir, "authkeys")); err != nil {
		t.Error(err)
	}
	if _, err := ParseHaresources(filepath.Join(dir, "haresources")); err != nil {
		t.Error(err)
	}
}

func TestLoadOptionalHaresources(t *testing.T) {
	dir := sampleDir(t)
	os.Remove(filepath.Join(dir, "haresources"))
	cfg, err := Load(dir, Options{NodeName: "director1"})
	if err != nil || len(cfg.Groups) != 0 {
		t.Fatalf("%v %+v", err, cfg)
	}
}

func TestLoadAllErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ha.cf", "node a b\nbcast eth0\nlogfile /x\nkeepalive 10s\nauto_failback on\n")
	writeFile(t, dir, "authkeys", "auth 1\n1 md5\n")
	os.Chmod(filepath.Join(dir, "authkeys"), 0o644)
	writeFile(t, dir, "haresources", "a 10.0.0.1 httpd\nc 10.0.0.2\nb\n")
	cfg, err := Load(dir, Options{NodeName: "a"})
	if cfg != nil {
		t.Error("config returned with errors")
	}
	p := func(f string) string { return filepath.Join(dir, f) }
	wantErrs(t, err,
		p("ha.cf")+":4: keepalive: invalid time",
		p("authkeys")+": bad permissions 0644 on keyfile",
		p("authkeys")+":2: key 1: auth method [md5] requires a key",
		p("authkeys")+":1: auth key [1] not found",
		p("haresources")+":3: node b has no resources",
		p("haresources")+":2: bad nodename [c]: not declared with 'node' in "+p("ha.cf"),
	)
	if n := len(err.(Errors)); n != 6 {
		t.Errorf("want 6 errors, got %d:\n%v", n, err)
	}
}

func TestLoadMissingFiles(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir, Options{NodeName: "a"})
	wantErrs(t, err, filepath.Join(dir, "ha.cf")+": cannot open config file", filepath.Join(dir, "authkeys")+": cannot open keyfile")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(ErrNotExist) false: %v", err)
	}
	if strings.Contains(err.Error(), "haresources") {
		t.Errorf("a missing haresources is not an error: %v", err)
	}
}

func TestLoadWarnings(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ha.cf", "node a\nbcast eth0\nlogfile /x\n")
	writeFile(t, dir, "authkeys", "1 crc\nauth 1\n")
	writeFile(t, dir, "haresources", "a 10.0.0.1/255.255.255.0 httpd\n")
	cfg, err := Load(dir, Options{NodeName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ha.cf: deprecated 'legacy'", "authkeys:2: 'auth 1' comes after", "haresources:1: resource"} {
		if !hasWarning(cfg.Warnings, w) {
			t.Errorf("no warning %q in %v", w, cfg.Warnings)
		}
	}
}
