package adminstate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecordAndLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ldird.ld.cf.admin")
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	k := Key{Virtual: "tcp 10.0.0.1:80", Real: "10.0.1.2:80"}
	if err := Record(path, k, Drained, "alice@alpha", at); err != nil {
		t.Fatal(err)
	}
	if err := Record(path, Key{Virtual: "tcp 10.0.0.1:80", Real: "10.0.1.3:80"}, Disabled, "bob", at); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil || len(m) != 2 || m[k] != (Entry{Virtual: k.Virtual, Real: k.Real, State: Drained, By: "alice@alpha", At: at}) {
		t.Fatalf("load: %v %v", m, err)
	}
	if err := Record(path, k, Enabled, "alice", at); err != nil {
		t.Fatal(err)
	}
	if m, _ := Load(path); len(m) != 1 {
		t.Fatalf("after enable: %v", m)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if _, err := Parse("halt"); err == nil {
		t.Error("halt parsed")
	}
	os.WriteFile(path, []byte("{"), 0o644)
	if err := Record(path, k, Drained, "x", at); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("record over a broken file: %v", err)
	}
}
