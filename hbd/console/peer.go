package console

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"lvsha/hbd/wire"
)

// The consoles of a cluster talk to each other (a console shows its peer's
// ldird and forwards actions meant for it) with requests signed by a key
// derived from authkeys: the secret the nodes already share, so nothing
// more has to be distributed. Answers are signed too, so a plain-HTTP
// console cannot be fed a forged view of its peer.
const (
	peerKeyInfo  = "lvsha console peer v1"
	peerScheme   = "LVSHA-Peer"
	peerSigReply = "X-LVSHA-Peer-Signature"
	peerSkew     = 30 * time.Second // largest clock difference accepted
	maxPeerBody  = 1 << 20
	maxPeerReply = 64 << 20
)

// peerKeys derives the signing key (from the `auth N` key) and the keys
// accepted (every key with a secret, so a key rollover done one node at a
// time keeps the consoles talking). crc keys have no secret: with only crc
// keys the consoles cannot authenticate each other.
func peerKeys(kr *wire.Keyring) (send []byte, accept [][]byte) {
	if kr == nil {
		return nil, nil
	}
	idx := make([]int, 0, len(kr.Keys))
	for i := range kr.Keys {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		k := kr.Keys[i]
		if !k.Method.NeedsKey() || k.Secret == "" {
			continue
		}
		d, err := hkdf.Key(sha256.New, []byte(k.Secret), nil, peerKeyInfo, 32)
		if err != nil {
			continue
		}
		if i == kr.Send {
			send = d
		}
		accept = append(accept, d)
	}
	if send == nil && len(accept) > 0 {
		send = accept[0]
	}
	return send, accept
}

func peerMAC(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		io.WriteString(m, p)
		m.Write([]byte{'\n'})
	}
	return hex.EncodeToString(m.Sum(nil))
}

func bodyHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// signRequest adds the Authorization header of a peer request.
func signRequest(r *http.Request, key []byte, node string, now time.Time, body []byte) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := randomToken() // two requests in one second differ
	sig := peerMAC(key, "request", r.Method, r.URL.RequestURI(), node, ts, nonce, bodyHash(body))
	r.Header.Set("Authorization", fmt.Sprintf("%s node=%s,ts=%s,nonce=%s,sig=%s", peerScheme, node, ts, nonce, sig))
	return sig
}

// replayCache remembers the signatures seen within the skew window.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (c *replayCache) fresh(sig string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	for k, t := range c.seen {
		if now.Sub(t) > 2*peerSkew {
			delete(c.seen, k)
		}
	}
	if _, ok := c.seen[sig]; ok {
		return false
	}
	c.seen[sig] = now
	return true
}

var errNotPeer = errors.New("not a peer request")

// verifyPeer checks a peer request's signature: a node of the cluster
// other than this one, a time within peerSkew, a key from authkeys, and a
// signature not seen before. It returns the node and the signature.
func (s *Server) verifyPeer(r *http.Request, body []byte) (node, sig string, err error) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, peerScheme+" ")
	if !ok {
		return "", "", errNotPeer
	}
	f := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		f[k] = v
	}
	node, sig = f["node"], f["sig"]
	ts, nonce := f["ts"], f["nonce"]
	if node == "" || node == s.o.Node || !slices.Contains(s.o.Nodes, node) {
		return "", "", fmt.Errorf("peer request from %q, not another node of this cluster", node)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", "", errors.New("peer request without a valid time")
	}
	now := s.now()
	if d := now.Sub(time.Unix(sec, 0)); d > peerSkew || d < -peerSkew {
		return "", "", fmt.Errorf("peer request from %s is %v off this node's clock (more than %v)", node, d.Round(time.Second), peerSkew)
	}
	_, accept := peerKeys(s.o.Keys())
	for _, k := range accept {
		want := peerMAC(k, "request", r.Method, r.URL.RequestURI(), node, ts, nonce, bodyHash(body))
		if hmac.Equal([]byte(want), []byte(sig)) {
			if !s.replays.fresh(sig, now) {
				return "", "", fmt.Errorf("peer request from %s replayed", node)
			}
			return node, sig, nil
		}
	}
	return "", "", fmt.Errorf("peer request from %s: bad signature (do both nodes have the same authkeys?)", node)
}

// signReply signs an answer to a peer request.
func (s *Server) signReply(w http.ResponseWriter, reqSig string, body []byte) {
	key, _ := peerKeys(s.o.Keys())
	if key != nil {
		w.Header().Set(peerSigReply, peerMAC(key, "reply", reqSig, bodyHash(body)))
	}
}

// peerClient calls the other consoles.
type peerClient struct {
	http *http.Client
	tls  bool
}

// newPeerClient trusts the system's roots and the console's own
// certificate (a cluster commonly shares one certificate, or one CA).
func newPeerClient(certFile string) (*peerClient, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a management network: never through a proxy
	pc := &peerClient{http: &http.Client{Transport: tr, Timeout: 3 * time.Second}}
	if certFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(certFile)
		if err != nil {
			return nil, err
		}
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		pc.tls = true
	}
	// Redirects would carry the signature elsewhere.
	pc.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return pc, nil
}

// peerURL is the base URL of a console at addr.
func (pc *peerClient) url(addr string) string {
	if pc.tls {
		return "https://" + addr
	}
	return "http://" + addr
}

// do sends a signed request to the console at addr and returns the
// verified answer's status and body.
func (s *Server) peerDo(ctx context.Context, addr, method, path string, body []byte) (int, []byte, error) {
	key, accept := peerKeys(s.o.Keys())
	if key == nil {
		return 0, nil, errors.New("authkeys has no key with a secret (crc only): the consoles cannot authenticate each other")
	}
	req, err := http.NewRequestWithContext(ctx, method, s.peers.url(addr)+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sig := signRequest(req, key, s.o.Node, s.now(), body)
	resp, err := s.peers.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerReply))
	if err != nil {
		return 0, nil, err
	}
	got := resp.Header.Get(peerSigReply)
	for _, k := range accept {
		if hmac.Equal([]byte(got), []byte(peerMAC(k, "reply", sig, bodyHash(b)))) {
			return resp.StatusCode, b, nil
		}
	}
	return 0, nil, fmt.Errorf("%s: the answer is not signed with our authkeys (HTTP %d)", addr, resp.StatusCode)
}
