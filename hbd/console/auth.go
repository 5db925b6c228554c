package console

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Users is an htpasswd file's bcrypt entries: the administrators. It is
// read again when the file changes, so adding one needs no restart.
type Users struct {
	path string

	mu    sync.Mutex
	mtime time.Time
	size  int64
	hash  map[string][]byte
	err   error
}

// LoadUsers reads path (htpasswd -B). Every line is NAME:HASH; blank
// lines and # comments are skipped. Only bcrypt hashes ($2a$, $2b$, $2y$)
// are accepted: the others htpasswd makes (MD5 apr1, SHA-1, crypt) are
// weak, and an error names the line.
func LoadUsers(path string) (*Users, error) {
	u := &Users{path: path}
	if err := u.reload(); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *Users) reload() error {
	st, err := os.Stat(u.path)
	if err != nil {
		return fmt.Errorf("console users: %w", err)
	}
	if st.ModTime().Equal(u.mtime) && st.Size() == u.size && u.hash != nil {
		return u.err
	}
	b, err := os.ReadFile(u.path)
	if err != nil {
		return fmt.Errorf("console users: %w", err)
	}
	hash, err := parseHtpasswd(u.path, b)
	u.mtime, u.size, u.err = st.ModTime(), st.Size(), err
	if err == nil {
		u.hash = hash
	}
	return err
}

func parseHtpasswd(path string, b []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s:%d: want NAME:HASH (htpasswd -B)", path, ln)
		}
		if !(strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")) {
			return nil, fmt.Errorf("%s:%d: user %s: only bcrypt hashes are accepted (make them with htpasswd -B)", path, ln, name)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %s: %v", path, ln, name, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s:%d: user %s listed twice", path, ln, name)
		}
		out[name] = []byte(hash)
	}
	return out, sc.Err()
}

// Check reports whether name's password is password. An unknown name
// costs a bcrypt comparison too, so timing does not tell names apart.
func (u *Users) Check(name, password string) (bool, error) {
	u.mu.Lock()
	err := u.reload()
	h, ok := u.hash[name]
	u.mu.Unlock()
	if err != nil && u.hash == nil {
		return false, err
	}
	if !ok {
		h = []byte(dummyHash)
	}
	match := bcrypt.CompareHashAndPassword(h, []byte(password)) == nil
	return ok && match, err
}

// dummyHash is compared against for unknown users, so they cost as much as
// a wrong password. It is bcrypt("no such user") at DefaultCost written out:
// generating it at package init took 57 ms, paid by every hbd, cl_status,
// hb_standby and hb_takeover run (the console is linked into the one binary).
const dummyHash = "$2a$10$8B7wh4DVtcQPB6QJfFNtgu./Uc888AQAWdU5kfBZHNQnXJevoYfm6"

// Session lifetimes.
const (
	sessionIdle     = time.Hour
	sessionLifetime = 12 * time.Hour
	cookieName      = "lvsha_console"
	csrfHeader      = "X-CSRF-Token"
)

type session struct {
	user          string
	csrf          string
	created, seen time.Time
}

// sessions are the logged-in administrators, in memory (a restart of hbd
// logs everyone out).
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(user string, now time.Time) (token string, sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*session{}
	}
	for k, v := range s.m { // expired ones go as new ones come
		if now.Sub(v.seen) > sessionIdle || now.Sub(v.created) > sessionLifetime {
			delete(s.m, k)
		}
	}
	token = randomToken()
	sess = &session{user: user, csrf: randomToken(), created: now, seen: now}
	s.m[token] = sess
	return token, sess
}

func (s *sessions) get(token string, now time.Time) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[token]
	if v == nil {
		return nil
	}
	if now.Sub(v.seen) > sessionIdle || now.Sub(v.created) > sessionLifetime {
		delete(s.m, token)
		return nil
	}
	v.seen = now
	return v
}

func (s *sessions) remove(token string) {
	s.mu.Lock()
	delete(s.m, token)
	s.mu.Unlock()
}

// identity is who makes a request.
type identity struct {
	user string // "" anonymous
	csrf string // the token an action must carry
	cert bool   // by client certificate
	peer string // a peer console (node name), authenticated with authkeys
}

func (id identity) admin() bool { return id.user != "" }

// certIdentity is the administrator a verified client certificate names.
// Its CSRF token is derived from the certificate, so it needs no session.
func (s *Server) certIdentity(r *http.Request) (identity, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return identity{}, false
	}
	leaf := r.TLS.PeerCertificates[0]
	cn := leaf.Subject.CommonName
	if cn == "" {
		return identity{}, false
	}
	fp := sha256.Sum256(leaf.Raw)
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "cert\n%s\n%x", cn, fp)
	return identity{user: "cert:" + cn, csrf: hex.EncodeToString(m.Sum(nil)), cert: true}, true
}

// identify finds who makes r: a client certificate, a session cookie, or
// nobody.
func (s *Server) identify(r *http.Request) identity {
	if id, ok := s.certIdentity(r); ok {
		return id
	}
	if c, err := r.Cookie(cookieName); err == nil {
		if sess := s.sessions.get(c.Value, s.now()); sess != nil {
			return identity{user: sess.user, csrf: sess.csrf}
		}
	}
	return identity{}
}

// sameOrigin refuses a request a page of another site could make: an
// Origin (or Sec-Fetch-Site) that is not this console.
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("cross-site request (Sec-Fetch-Site: %s)", site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" { // not sent by a browser (curl), or a same-origin GET
		return nil
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if origin != scheme+"://"+r.Host {
		return fmt.Errorf("request from another origin (%s)", origin)
	}
	return nil
}

// checkCSRF is the protection of every action: a JSON body (a form of
// another site cannot send one without a preflight), the same origin, and
// the identity's token in X-CSRF-Token.
func checkCSRF(r *http.Request, id identity) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("an action must be sent as application/json (got %q)", ct)
	}
	if err := sameOrigin(r); err != nil {
		return err
	}
	tok := r.Header.Get(csrfHeader)
	if tok == "" {
		return fmt.Errorf("missing %s header", csrfHeader)
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(id.csrf)) != 1 {
		return fmt.Errorf("wrong %s", csrfHeader)
	}
	return nil
}

// loginLimiter slows password guessing: after maxFailures failed logins
// from one address within failureWindow, further attempts from it are
// refused until the window has passed.
type loginLimiter struct {
	mu sync.Mutex
	m  map[string][]time.Time
}

const (
	maxFailures   = 5
	failureWindow = 5 * time.Minute
)

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (l *loginLimiter) recent(ip string, now time.Time) []time.Time {
	var keep []time.Time
	for _, t := range l.m[ip] {
		if now.Sub(t) < failureWindow {
			keep = append(keep, t)
		}
	}
	return keep
}

func (l *loginLimiter) allowed(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(ip, now)) < maxFailures
}

func (l *loginLimiter) failed(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string][]time.Time{}
	}
	l.m[ip] = append(l.recent(ip, now), now)
	if len(l.m) > 10000 { // bound memory under a spray of addresses
		for k := range l.m {
			if len(l.recent(k, now)) == 0 {
				delete(l.m, k)
			}
		}
	}
}

func (l *loginLimiter) succeeded(ip string) {
	l.mu.Lock()
	delete(l.m, ip)
	l.mu.Unlock()
}
