package gossip

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"sort"

	"lvsha/hbd/wire"
)

// keyInfo is the HKDF info string: it ties derived keys to this use, so the
// same authkeys secret yields unrelated keys anywhere else it might be fed
// to HKDF. Changing it is a protocol break (bump the version).
const keyInfo = "lvsha gossip v1"

// KeySize is the length of the derived memberlist key (AES-256-GCM).
const KeySize = 32

// DeriveKey turns an authkeys secret into memberlist's SecretKey with
// HKDF-SHA256 (no salt: both sides must derive the same key from nothing but
// the shared secret).
func DeriveKey(secret []byte) ([]byte, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("gossip: derive key: empty secret")
	}
	k, err := hkdf.Key(sha256.New, secret, nil, keyInfo, KeySize)
	if err != nil {
		return nil, fmt.Errorf("gossip: derive key: %w", err)
	}
	return k, nil
}

// KeyringSecrets picks the secrets of an authkeys keyring for Options: the
// `auth N` key as Secret (it encrypts what we send) and every other key with a
// secret as OtherSecrets (accepted inbound, so a key rollover done one node at
// a time keeps the gossip cluster together, as it does for the heartbeats).
// crc keys have no secret: with only crc keys, gossip runs unencrypted.
func KeyringSecrets(kr *wire.Keyring) (secret []byte, others [][]byte) {
	if kr == nil {
		return nil, nil
	}
	if k, ok := kr.Keys[kr.Send]; ok && k.Method.NeedsKey() && k.Secret != "" {
		secret = []byte(k.Secret)
	}
	idx := make([]int, 0, len(kr.Keys))
	for i := range kr.Keys {
		idx = append(idx, i)
	}
	sort.Ints(idx) // deterministic keyring order
	for _, i := range idx {
		k := kr.Keys[i]
		if i == kr.Send || !k.Method.NeedsKey() || k.Secret == "" {
			continue
		}
		others = append(others, []byte(k.Secret))
	}
	if secret == nil && len(others) > 0 {
		// The sending key is crc: encrypt with the first real secret anyway
		// rather than leave the member list open.
		secret, others = others[0], others[1:]
	}
	return secret, others
}
