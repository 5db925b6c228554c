package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lvsha/hbd/config"
)

// hbd -t checks the console's files: a users file with a hash that is not
// bcrypt is an error naming ha.cf's line and the file's.
func TestCheckConsole(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "console.htpasswd")
	os.WriteFile(users, []byte("admin:$apr1$xyz$abc\n"), 0o600)
	cfg := &config.Config{HA: &config.HACF{Path: "/etc/ha.d/ha.cf", Nodes: []string{"alpha", "beta"},
		Console: config.Console{Listen: map[string]string{"alpha": "127.0.0.1:0"}, Users: users, Line: map[string]int{"console_users": 12}}}}
	err := checkConsole(options{}, cfg, "alpha")
	if err == nil || !strings.Contains(err.Error(), "/etc/ha.d/ha.cf:12: console_users: "+users+":1: user admin: only bcrypt hashes") {
		t.Fatalf("checkConsole: %v", err)
	}
	// Not this node's console: nothing to check.
	if err := checkConsole(options{}, cfg, "beta"); err != nil {
		t.Fatalf("beta: %v", err)
	}
	// -console turns it on for beta too.
	if err := checkConsole(options{consoleAddr: "127.0.0.1:0"}, cfg, "beta"); err == nil {
		t.Fatal("-console on beta did not check the users file")
	}
}
