package config

import (
	"io"
	"os"
	"strconv"
	"strings"

	"lvsha/hbd/wire"
)

// maxAuth is MAXAUTH: key indices are 0..15 (the man page says 1..15).
const maxAuth = 16

// ParseAuthkeys reads an authkeys file. Like Heartbeat it refuses a file
// that group or others can read; write bits are not checked.
func ParseAuthkeys(path string) (*wire.Keyring, error) {
	kr, r := readAuthkeys(path)
	if err := r.err(); err != nil {
		return nil, err
	}
	return kr, nil
}

func readAuthkeys(path string) (*wire.Keyring, *report) {
	r := newReport(path)
	f, err := os.Open(path)
	if err != nil {
		r.wrapf(0, err, "cannot open keyfile: %v", err)
		return nil, r
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		r.wrapf(0, err, "cannot stat keyfile: %v", err)
		return nil, r
	}
	if mode := st.Mode().Perm(); mode&0o044 != 0 {
		r.errorf(0, "bad permissions %#o on keyfile: group or others can read it; 600 recommended (chmod 600 %s)", mode, path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		r.wrapf(0, err, "cannot read keyfile: %v", err)
		return nil, r
	}
	kr := parseAuthkeys(r, data)
	return kr, r
}

// ParseAuthkeysBytes parses authkeys content; name is used in messages. The
// file mode is not checked. Messages never contain a secret.
func ParseAuthkeysBytes(name string, data []byte) (*wire.Keyring, error) {
	r := newReport(name)
	kr := parseAuthkeys(r, data)
	if err := r.err(); err != nil {
		return nil, err
	}
	return kr, nil
}

// parseAuthkeys follows parse_authfile. One deliberate difference: Heartbeat
// selects the sending key only when the key line for N comes *after*
// "auth N" (otherwise "Auth Key [N] not found"); we also accept the key line
// first, with a warning, since the file's meaning is unambiguous.
func parseAuthkeys(r *report, data []byte) *wire.Keyring {
	kr := &wire.Keyring{Send: -1, Keys: map[int]wire.Key{}}
	authnum, authLine := -1, 0
	hbSend := -1 // the key Heartbeat 3.0.6 itself would select
	for i, raw := range strings.Split(string(data), "\n") {
		ln := i + 1
		s := strings.TrimLeft(raw, whitespace)
		if s == "" || s[0] == '#' {
			continue
		}
		if s[0] == 'a' {
			rest, ok := strings.CutPrefix(s, "auth")
			f := fields(rest)
			if !ok || len(f) == 0 {
				r.errorf(ln, "invalid auth line (expected 'auth N')")
				continue
			}
			n, err := strconv.Atoi(f[0])
			if err != nil {
				r.errorf(ln, "invalid auth line: %q is not a key index", f[0])
				continue
			}
			if n < 0 || n >= maxAuth {
				r.errorf(ln, "auth %d: key index must be 0..%d", n, maxAuth-1)
				continue
			}
			if len(f) > 1 && !strings.HasPrefix(f[1], "#") { // a trailing "# ..." is harmless
				r.warnf(ln, "auth: extra words after the index ignored")
			}
			if authnum >= 0 {
				r.warnf(ln, "auth given again (first on line %d); the last one is used", authLine)
			}
			authnum, authLine = n, ln
			continue
		}
		f := fields(s)
		if len(f) < 2 {
			r.errorf(ln, "auth line is invalid (expected 'INDEX METHOD [KEY]')")
			continue
		}
		idx, err := strconv.Atoi(f[0])
		if err != nil {
			r.errorf(ln, "auth line is invalid: the first word must be a key index 0..%d", maxAuth-1)
			continue
		}
		if idx < 0 || idx >= maxAuth {
			r.errorf(ln, "invalid key index [%d]: must be 0..%d", idx, maxAuth-1)
			continue
		}
		m, err := wire.ParseMethod(f[1])
		if err != nil {
			r.wrapf(ln, err, "invalid authentication method %q for key %d (crc, md5 or sha1)", f[1], idx)
			continue
		}
		key := ""
		if len(f) > 2 {
			key = f[2] // only the first word counts, as with sscanf("%d%s%s")
		}
		if key != "" && !m.NeedsKey() {
			r.errorf(ln, "key %d: auth method [%s] doesn't use a key", idx, f[1])
			continue
		}
		if key == "" && m.NeedsKey() {
			r.errorf(ln, "key %d: auth method [%s] requires a key", idx, f[1])
			continue
		}
		if len(f) > 3 && !strings.HasPrefix(f[3], "#") {
			r.warnf(ln, "key %d contains blanks: only its first word is used (as Heartbeat does)", idx)
		}
		if _, dup := kr.Keys[idx]; dup {
			r.warnf(ln, "key index %d defined again; the last definition is used", idx)
		}
		kr.Keys[idx] = wire.Key{Index: idx, Method: m, Secret: key}
		if idx == authnum {
			hbSend = idx
		}
	}
	switch {
	case authnum < 0:
		r.errorf(0, "missing auth directive (add a line 'auth N' naming the key used to sign packets)")
	case hbSend >= 0:
		kr.Send = hbSend
		if hbSend != authnum {
			r.warnf(authLine, "no key line for index %d follows 'auth %d'; like Heartbeat, key %d stays the sending key", authnum, authnum, hbSend)
		}
	default:
		if _, ok := kr.Keys[authnum]; !ok {
			r.errorf(authLine, "auth key [%d] not found in keyfile", authnum)
			break
		}
		kr.Send = authnum
		r.warnf(authLine, "'auth %d' comes after the line defining key %d; Heartbeat 3.0.6 refuses this order (\"Auth Key [%d] not found\"), so put 'auth %d' first if real Heartbeat nodes read this file",
			authnum, authnum, authnum, authnum)
	}
	return kr
}
