package wire

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
)

// Method is an authkeys method name, as Heartbeat's HBauth plugins are named.
type Method string

const (
	MethodCRC  Method = "crc"
	MethodMD5  Method = "md5"
	MethodSHA1 Method = "sha1"
)

// ParseMethod accepts exactly the plugin names Heartbeat 3.0.6 ships. The
// match is case-sensitive because Heartbeat loads the plugin by file name.
func ParseMethod(s string) (Method, error) {
	switch m := Method(s); m {
	case MethodCRC, MethodMD5, MethodSHA1:
		return m, nil
	}
	return "", fmt.Errorf("wire: unknown authentication method %q (want crc, md5 or sha1)", s)
}

// NeedsKey reports whether the method uses a secret (md5, sha1; not crc).
func (m Method) NeedsKey() bool { return m == MethodMD5 || m == MethodSHA1 }

func (m Method) valid() bool { return m == MethodCRC || m == MethodMD5 || m == MethodSHA1 }

// Key is one authkeys line. Secret is the first word of the key, which is all
// Heartbeat uses (sscanf "%d%s%s").
type Key struct {
	Index  int
	Method Method
	Secret string
}

// Keyring is a parsed authkeys file. Send is the `auth N` index that signs
// outbound messages; every key in Keys is accepted inbound.
type Keyring struct {
	Send int
	Keys map[int]Key
}

func (k *Keyring) key(idx int) (Key, bool) {
	if k == nil {
		return Key{}, false
	}
	key, ok := k.Keys[idx]
	return key, ok
}

// Compute returns the lowercase hex MAC of data the way the HBauth plugins
// print it: crc is CRC-32/POSIX without the length suffix printed with %lx
// (not zero-padded, the secret is ignored); md5 and sha1 are RFC 2104 HMACs
// keyed with the secret's bytes. An unknown method yields "".
func Compute(method Method, secret string, data []byte) string {
	var h func() hash.Hash
	switch method {
	case MethodCRC:
		return strconv.FormatUint(uint64(crc32POSIX(data)), 16)
	case MethodMD5:
		h = md5.New
	case MethodSHA1:
		h = sha1.New
	default:
		return ""
	}
	mac := hmac.New(h, []byte(secret))
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil))
}

// Sign returns "<N> <hex>" computed with the Send key: the value of both the
// inner auth field and the netstring trailer.
func (k *Keyring) Sign(data []byte) (string, error) {
	if k == nil {
		return "", fmt.Errorf("wire: no keyring to sign with")
	}
	key, ok := k.key(k.Send)
	if !ok {
		return "", fmt.Errorf("wire: send key %d is not in the keyring", k.Send)
	}
	if !key.Method.valid() {
		return "", fmt.Errorf("wire: send key %d has unknown method %q", k.Send, key.Method)
	}
	return strconv.Itoa(k.Send) + " " + Compute(key.Method, key.Secret, data), nil
}

// verify checks an auth string "<N> <hex>" against data with key N of ring.
//
// Heartbeat quirk: its hb_compute_authentication uses the *algorithm* of
// index N but the *secret* of its own current outbound key. We use key N's own
// secret, which is what that code means and gives the same result whenever
// both nodes share one key (the only working setup with stock nodes).
func verify(ring *Keyring, authstr []byte, data []byte) *DecodeError {
	idx, tok, ok := parseAuthString(authstr)
	if !ok {
		return &DecodeError{Reason: ReasonBadAuth, Detail: fmt.Sprintf("unparsable auth string %q", clipDetail(authstr))}
	}
	key, ok := ring.key(idx)
	if !ok {
		return &DecodeError{Reason: ReasonUnknownKey, Detail: fmt.Sprintf("key index %d is not in authkeys", idx)}
	}
	if !key.Method.valid() {
		return &DecodeError{Reason: ReasonBadMethod, Detail: fmt.Sprintf("key %d has unknown method %q", idx, key.Method)}
	}
	want := Compute(key.Method, key.Secret, data)
	// Constant time so that the comparison leaks nothing about the expected
	// MAC; Heartbeat's strcmp is exact too (uppercase hex does not match).
	if subtle.ConstantTimeCompare([]byte(want), tok) != 1 {
		return &DecodeError{Reason: ReasonBadAuth, Detail: fmt.Sprintf("%s token %q does not match (key %d)", key.Method, clipDetail(tok), idx)}
	}
	return nil
}

// parseAuthString mimics sscanf(s, "%d %s"): optional leading white space,
// a signed decimal, any white space, then a run of non-blank bytes. The index
// is bounded to 9 digits so it cannot overflow.
func parseAuthString(s []byte) (idx int, tok []byte, ok bool) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if i-start >= 9 {
			return 0, nil, false
		}
		idx = idx*10 + int(s[i]-'0')
		i++
	}
	if i == start {
		return 0, nil, false
	}
	if neg {
		idx = -idx
	}
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	start = i
	for i < len(s) && !isCSpace(s[i]) && s[i] != 0 {
		i++
	}
	if i == start {
		return 0, nil, false
	}
	return idx, s[start:i], true
}

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// clipDetail bounds attacker-controlled bytes quoted in error details.
func clipDetail(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// crcTable is the MSB-first table for poly 0x04C11DB7 (no reflection), as in
// Heartbeat's lib/plugins/HBauth/crc.c.
var crcTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc32POSIX is CRC-32/POSIX (cksum) without the length suffix: init 0,
// final xor 0xFFFFFFFF.
func crc32POSIX(data []byte) uint32 {
	var c uint32
	for _, b := range data {
		c = c<<8 ^ crcTable[byte(c>>24)^b]
	}
	return ^c
}
