package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lvsha/hbd/wire"
)

const secret = "S3cr3tValue"

func TestAuthkeysValid(t *testing.T) {
	for _, c := range []struct {
		name, text string
		send       int
		keys       map[int]wire.Key
		warn       string
	}{
		{"md5", "auth 1\n1 md5 " + secret + "\n", 1,
			map[int]wire.Key{1: {Index: 1, Method: "md5", Secret: secret}}, ""},
		{"sha1 comments blanks", "# keys\n\n   # indented comment\n  auth 2\r\n\t2 sha1 " + secret + "\r\n", 2,
			map[int]wire.Key{2: {Index: 2, Method: "sha1", Secret: secret}}, ""},
		{"crc", "auth 3\n3 crc\n", 3, map[int]wire.Key{3: {Index: 3, Method: "crc"}}, ""},
		{"several keys", "auth 0\n0 crc\n1 md5 a\n15 sha1 b\n", 0, map[int]wire.Key{
			0: {Index: 0, Method: "crc"}, 1: {Index: 1, Method: "md5", Secret: "a"}, 15: {Index: 15, Method: "sha1", Secret: "b"}}, ""},
		{"first word of key only", "auth 1\n1 sha1 " + secret + " more words\n", 1,
			map[int]wire.Key{1: {Index: 1, Method: "sha1", Secret: secret}}, "only its first word is used"},
		{"key line before auth", "1 md5 " + secret + "\nauth 1\n", 1,
			map[int]wire.Key{1: {Index: 1, Method: "md5", Secret: secret}}, "authkeys:2: 'auth 1' comes after the line defining key 1; Heartbeat 3.0.6 refuses this order"},
		{"auth1 without blank", "auth1\n1 crc\n", 1, map[int]wire.Key{1: {Index: 1, Method: "crc"}}, ""},
		{"auth changed", "auth 1\n1 crc\nauth 2\n2 md5 x\n", 2, map[int]wire.Key{
			1: {Index: 1, Method: "crc"}, 2: {Index: 2, Method: "md5", Secret: "x"}}, "authkeys:3: auth given again"},
		{"heartbeat keeps old send key", "auth 1\n1 crc\nauth 2\n", 1, map[int]wire.Key{
			1: {Index: 1, Method: "crc"}}, "no key line for index 2 follows 'auth 2'"},
		{"trailing comments", "auth 1 # send with 1\n1 md5 " + secret + " # the key\n", 1,
			map[int]wire.Key{1: {Index: 1, Method: "md5", Secret: secret}}, ""},
		{"duplicate index", "auth 1\n1 md5 a\n1 sha1 b\n", 1, map[int]wire.Key{
			1: {Index: 1, Method: "sha1", Secret: "b"}}, "authkeys:3: key index 1 defined again"},
	} {
		r := newReport("authkeys")
		kr := parseAuthkeys(r, []byte(c.text))
		if err := r.err(); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if kr.Send != c.send || len(kr.Keys) != len(c.keys) {
			t.Errorf("%s: got %+v", c.name, kr)
		}
		for i, k := range c.keys {
			if kr.Keys[i] != k {
				t.Errorf("%s: key %d = %+v, want %+v", c.name, i, kr.Keys[i], k)
			}
		}
		if c.warn != "" && !hasWarning(r.Warnings, c.warn) {
			t.Errorf("%s: no warning %q in %v", c.name, c.warn, r.Warnings)
		}
		if c.warn == "" && len(r.Warnings) > 0 {
			t.Errorf("%s: unexpected warnings %v", c.name, r.Warnings)
		}
		for _, w := range r.Warnings {
			if strings.Contains(w.Error(), secret) {
				t.Errorf("%s: warning leaks the secret: %v", c.name, w)
			}
		}
		if kr2, err := ParseAuthkeysBytes("authkeys", []byte(c.text)); err != nil || kr2.Send != c.send {
			t.Errorf("%s: ParseAuthkeysBytes %v %v", c.name, kr2, err)
		}
	}
}

func TestAuthkeysErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"", "authkeys: missing auth directive"},
		{"# only a comment\n1 md5 " + secret + "\n", "authkeys: missing auth directive"},
		{"auth 2\n1 md5 " + secret + "\n", "authkeys:1: auth key [2] not found in keyfile"},
		{"auth x\n1 crc\n", `authkeys:1: invalid auth line: "x" is not a key index`},
		{"auth\n1 crc\n", "authkeys:1: invalid auth line (expected 'auth N')"},
		{"abc 1\nauth 1\n1 crc\n", "authkeys:1: invalid auth line (expected 'auth N')"},
		{"auth 16\n1 crc\n", "authkeys:1: auth 16: key index must be 0..15"},
		{"auth 1\n16 md5 " + secret + "\n1 crc\n", "authkeys:2: invalid key index [16]: must be 0..15"},
		{"auth 1\n-1 md5 " + secret + "\n1 crc\n", "authkeys:2: invalid key index [-1]"},
		{"auth 1\n1 crc " + secret + "\n", "authkeys:2: key 1: auth method [crc] doesn't use a key"},
		{"auth 1\n1 md5\n", "authkeys:2: key 1: auth method [md5] requires a key"},
		{"auth 1\n1 sha1\n", "authkeys:2: key 1: auth method [sha1] requires a key"},
		{"auth 1\n1 sha256 " + secret + "\n", `authkeys:2: invalid authentication method "sha256" for key 1`},
		{"auth 1\n1\n", "authkeys:2: auth line is invalid (expected 'INDEX METHOD [KEY]')"},
		{"auth 1\n" + secret + " md5 x\n", "authkeys:2: auth line is invalid: the first word must be a key index"},
	} {
		_, err := ParseAuthkeysBytes("authkeys", []byte(c.text))
		wantErrs(t, err, c.want)
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
	// Every error at once.
	_, err := ParseAuthkeysBytes("authkeys", []byte("auth 1\n1 md5\n2 crc x\n3 rot13 y\n"))
	wantErrs(t, err, "authkeys:2:", "authkeys:3:", "authkeys:4:", "authkeys:1: auth key [1] not found")
	if n := len(err.(Errors)); n != 4 {
		t.Errorf("got %d errors, want 4: %v", n, err)
	}
}

func TestAuthkeysPermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "authkeys")
	if err := os.WriteFile(path, []byte("auth 1\n1 sha1 "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o600, true}, {0o400, true}, {0o622, true}, {0o644, false}, {0o640, false}, {0o604, false}} {
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		kr, err := ParseAuthkeys(path)
		if c.ok {
			if err != nil || kr.Send != 1 || kr.Keys[1].Secret != secret {
				t.Errorf("mode %#o: %v %+v", c.mode, err, kr)
			}
			continue
		}
		wantErrs(t, err, path+": bad permissions "+fmt.Sprintf("%#o", c.mode)+" on keyfile", "600 recommended")
	}
	_, err := ParseAuthkeys(filepath.Join(dir, "missing"))
	wantErrs(t, err, "cannot open keyfile")
}
