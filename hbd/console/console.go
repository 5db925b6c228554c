// Package console is hbd's web console: one page (embedded in the binary,
// no CDN) that shows both directors of the cluster, every heartbeat link,
// who holds each resource group and every virtual service and real of the
// ldird instances, updated live (server-sent events), with plots of the
// last hour; and, for an authenticated administrator, the actions: drain,
// disable or enable a real, hb_standby, hb_takeover, reload.
//
// # The cluster on one screen
//
// Each node serves its own console (ha.cf "console NODE ADDR:PORT", one
// line per node, the same file on both). A console reads its peer through
// the cluster: its own hbd already knows the peer's liveness, links and
// holdings from membership, and for what only the peer knows (its ldird,
// its view of the links) it asks the peer's console, server to server,
// with requests and answers signed by a key derived from authkeys. The
// browser talks to one console with one login, and the view stays whole
// when the peer is down (membership says so, the peer's part is marked
// unreachable with its last known state). When the console the browser
// uses goes away, the page says so and links the peer's.
//
// # Security
//
// Administrators log in with an htpasswd file of bcrypt hashes
// (console_users) or a client certificate signed by console_clientca
// (with console_tls). Without console_readonly yes nothing is shown
// before login. Every action needs an administrator, a JSON body, the
// same origin and the session's CSRF token; each is logged in one audit
// line (who, from where, what, the result).
package console

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"lvsha/hbd/config"
	hbdapi "lvsha/hbd/statusapi"
	"lvsha/hbd/wire"
	"lvsha/ldird/control"
	ldapi "lvsha/ldird/statusapi"
)

// API names the console's own documents (local, cluster).
const API = "lvsha.console/v1"

// Options configure a Server.
type Options struct {
	Node   string   // this node
	Nodes  []string // every normal node of ha.cf
	Config config.Console
	// Addr is where this console listens (the -console flag, else ha.cf).
	Addr string
	// HACF names ha.cf in errors about the console's files.
	HACF string
	Keys func() *wire.Keyring // the authkeys in force (peer requests)
	// Status is this node's hbd document.
	Status func() *hbdapi.Status
	// Standby and Takeover are hb_standby and hb_takeover on this node.
	Standby, Takeover func(set string) error
	// ReloadHbd checks hbd's configuration and, when it has no error,
	// reloads it; the error lists every problem (cfgerr) when it has.
	ReloadHbd func() error
	// LdirdSockets lists the control sockets of the ldird instances on
	// this node; nil globs control.RunDir() for ldird.*.sock.
	LdirdSockets func() []string
	// AdminFile is where an ldird instance keeps its overrides (nil:
	// control.AdminFile); the console records one there for an ldird that
	// does not run.
	AdminFile func(instance string) string
	Log       *slog.Logger
	Now       func() time.Time
}

// Server is one node's console.
type Server struct {
	o        Options
	log      *slog.Logger
	users    *Users // nil: no password logins
	tlsConf  *tls.Config
	secret   []byte // derives certificate users' CSRF tokens
	sessions sessions
	limiter  loginLimiter
	replays  replayCache
	peers    *peerClient
	agg      *aggregator
	mux      *http.ServeMux
}

func (s *Server) now() time.Time { return s.o.Now() }

// New checks the console's files (certificate, users, CA; errors name
// ha.cf's line) and builds the server.
func New(o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LdirdSockets == nil {
		o.LdirdSockets = globLdirdSockets
	}
	if o.AdminFile == nil {
		o.AdminFile = control.AdminFile
	}
	if o.Keys == nil {
		o.Keys = func() *wire.Keyring { return nil }
	}
	c := o.Config
	where := func(dir string) string { return fmt.Sprintf("%s:%d: %s", o.HACF, c.Line[dir], dir) }
	s := &Server{o: o, log: o.Log, secret: make([]byte, 32)}
	if _, err := rand.Read(s.secret); err != nil {
		return nil, err
	}
	if c.Users != "" {
		u, err := LoadUsers(c.Users)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where("console_users"), err)
		}
		s.users = u
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where("console_tls"), err)
		}
		s.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if c.ClientCA != "" {
			pem, err := os.ReadFile(c.ClientCA)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where("console_clientca"), err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: %s holds no PEM certificate", where("console_clientca"), c.ClientCA)
			}
			s.tlsConf.ClientCAs = pool
			s.tlsConf.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	pc, err := newPeerClient(c.TLSCert)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where("console_tls"), err)
	}
	s.peers = pc
	s.agg = newAggregator(s)
	s.routes()
	return s, nil
}

// Handler is the console's HTTP handler (tests serve it themselves).
func (s *Server) Handler() http.Handler { return s.mux }

// Serve listens on Options.Addr until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.o.Addr)
	if err != nil {
		return fmt.Errorf("console listener %s: %w", s.o.Addr, err)
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener serves on ln until ctx ends.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute,
		TLSConfig: s.tlsConf, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	go s.agg.run(ctx)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	scheme := "http"
	if s.tlsConf != nil {
		scheme = "https"
		ln = tls.NewListener(ln, s.tlsConf)
	}
	s.log.Info("console listening", "url", scheme+"://"+ln.Addr().String(), "users", s.users != nil,
		"client_certificates", s.tlsConf != nil && s.tlsConf.ClientCAs != nil, "read_only_view", s.o.Config.ReadOnly)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.asset("index.html"))
	m.HandleFunc("GET /assets/{name}", func(w http.ResponseWriter, r *http.Request) { s.asset(r.PathValue("name"))(w, r) })
	m.HandleFunc("GET /api/v1/session", s.handleSession)
	m.HandleFunc("POST /api/v1/login", s.handleLogin)
	m.HandleFunc("POST /api/v1/logout", s.handleLogout)
	m.HandleFunc("GET /api/v1/status", s.read(func(w http.ResponseWriter, r *http.Request, _ identity) {
		hbdapi.WriteJSON(w, http.StatusOK, s.o.Status())
	}))
	m.HandleFunc("GET /api/v1/local", s.handleLocal)
	m.HandleFunc("GET /api/v1/cluster", s.read(func(w http.ResponseWriter, r *http.Request, _ identity) {
		b, _ := s.agg.current(r.Context())
		writeRaw(w, http.StatusOK, b)
	}))
	m.HandleFunc("GET /api/v1/events", s.read(s.handleEvents))
	m.HandleFunc("POST /api/v1/actions/{action}", s.handleAction)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		hbdapi.WriteError(w, http.StatusNotFound, "no such API: "+r.Method+" "+r.URL.Path)
	})
	s.mux = m
}

func writeRaw(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b)
}

// securityHeaders: the page loads only its own scripts and styles, is
// never framed, never cached.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// read wraps a read-only handler: anonymous viewers only with
// console_readonly yes; a peer console always.
func (s *Server) read(h func(http.ResponseWriter, *http.Request, identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		id := s.identify(r)
		if !id.admin() && !s.o.Config.ReadOnly {
			if node, _, err := s.verifyPeer(r, nil); err == nil {
				id.peer = node
			} else {
				hbdapi.WriteError(w, http.StatusUnauthorized, "log in to see the cluster (console_readonly is off)")
				return
			}
		}
		h(w, r, id)
	}
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	id := s.identify(r)
	out := map[string]any{"api": API, "node": s.o.Node, "user": nil, "csrf": nil, "cert": id.cert,
		"read_only_view": s.o.Config.ReadOnly, "password_login": s.users != nil,
		"certificate_login": s.tlsConf != nil && s.tlsConf.ClientCAs != nil}
	if id.admin() {
		out["user"], out["csrf"] = id.user, id.csrf
	}
	hbdapi.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	ip := clientIP(r)
	if s.users == nil {
		hbdapi.WriteError(w, http.StatusNotFound, "password logins are off (no console_users in ha.cf)")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		hbdapi.WriteError(w, http.StatusUnsupportedMediaType, "send the login as application/json")
		return
	}
	if err := sameOrigin(r); err != nil {
		s.log.Warn("console login refused", "remote", ip, "err", err)
		hbdapi.WriteError(w, http.StatusForbidden, err.Error())
		return
	}
	now := s.now()
	if !s.limiter.allowed(ip, now) {
		s.log.Warn("console login refused: too many failures", "remote", ip)
		hbdapi.WriteError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed logins from %s; try again in a few minutes", ip))
		return
	}
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.User == "" {
		hbdapi.WriteError(w, http.StatusBadRequest, "want {\"user\":..., \"password\":...}")
		return
	}
	ok, err := s.users.Check(req.User, req.Password)
	if err != nil {
		s.log.Error("console users file", "err", err)
	}
	if !ok {
		s.limiter.failed(ip, now)
		s.log.Warn("console login failed", "user", req.User, "remote", ip)
		hbdapi.WriteError(w, http.StatusUnauthorized, "wrong user name or password")
		return
	}
	s.limiter.succeeded(ip)
	token, sess := s.sessions.create(req.User, now)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionLifetime / time.Second)})
	s.log.Info("console login", "user", req.User, "remote", ip)
	hbdapi.WriteJSON(w, http.StatusOK, map[string]any{"user": req.User, "csrf": sess.csrf})
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	id := s.identify(r)
	if !id.admin() || id.cert {
		hbdapi.WriteError(w, http.StatusBadRequest, "not logged in with a password")
		return
	}
	if err := checkCSRF(r, id); err != nil {
		hbdapi.WriteError(w, http.StatusForbidden, err.Error())
		return
	}
	if c, err := r.Cookie(cookieName); err == nil {
		s.sessions.remove(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	s.log.Info("console logout", "user", id.user, "remote", clientIP(r))
	hbdapi.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// Local is one node's own part of the cluster view: its hbd document and
// its ldird instances'. The peer's console answers it at /api/v1/local.
type Local struct {
	API   string          `json:"api"`
	Node  string          `json:"node"`
	Time  time.Time       `json:"time"`
	Hbd   *hbdapi.Status  `json:"hbd"`
	Ldird []LdirdInstance `json:"ldird"`
}

// LdirdInstance is one ldird on a node.
type LdirdInstance struct {
	Instance string        `json:"instance"` // the configuration's name (ldirectord.cf)
	Status   *ldapi.Status `json:"status"`   // null when it did not answer
	Error    *string       `json:"error"`
}

func (s *Server) handleLocal(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	node, sig, perr := s.verifyPeer(r, nil)
	id := s.identify(r)
	if perr != nil && !id.admin() && !s.o.Config.ReadOnly {
		if !errors.Is(perr, errNotPeer) {
			s.log.Warn("console: peer request refused", "remote", clientIP(r), "err", perr)
		}
		hbdapi.WriteError(w, http.StatusUnauthorized, "log in to see the cluster")
		return
	}
	b, _ := json.Marshal(s.local())
	b = append(b, '\n')
	if perr == nil {
		s.log.Debug("console: local view for the peer", "node", node)
		s.signReply(w, sig, b)
	}
	writeRaw(w, http.StatusOK, b)
}

// local reads this node's hbd and every local ldird.
func (s *Server) local() *Local {
	l := &Local{API: API, Node: s.o.Node, Time: s.now().UTC(), Hbd: s.o.Status(), Ldird: []LdirdInstance{}}
	for _, sock := range s.o.LdirdSockets() {
		inst := LdirdInstance{Instance: instanceOf(sock)}
		b, err := control.StatusJSON(sock)
		if errors.Is(err, control.ErrNotServed) {
			// A stale socket of a stopped ldird, or ldirectord's.
			continue
		}
		if err == nil {
			inst.Status, err = ldapi.Decode(b)
		}
		if err != nil {
			e := err.Error()
			inst.Error = &e
		}
		l.Ldird = append(l.Ldird, inst)
	}
	return l
}

func instanceOf(sock string) string {
	return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(sock), "ldird."), ".sock")
}

func globLdirdSockets() []string {
	m, _ := filepath.Glob(filepath.Join(control.RunDir(), "ldird.*.sock"))
	sort.Strings(m)
	return m
}

// ldirdSocket is the socket of a local instance by name, if it runs.
func (s *Server) ldirdSocket(instance string) (string, bool) {
	for _, sock := range s.o.LdirdSockets() {
		if instanceOf(sock) == instance {
			return sock, true
		}
	}
	return "", false
}

// Cluster is the whole view the page shows.
type Cluster struct {
	API       string     `json:"api"`
	ServedBy  string     `json:"served_by"`
	Time      time.Time  `json:"time"`
	Directors []Director `json:"directors"`
}

// Director is one node of the cluster.
type Director struct {
	Node string `json:"node"`
	Self bool   `json:"self"`
	// Console is the URL of its console (null when ha.cf names none).
	Console *string `json:"console"`
	// Reachable: its console answered at the last attempt (always true
	// for the serving node); Error says why not; AsOf is when Local was
	// read (it is the last one known when unreachable).
	Reachable bool       `json:"reachable"`
	Error     *string    `json:"error"`
	AsOf      *time.Time `json:"as_of"`
	Local     *Local     `json:"local"`
}

// aggregator composes the cluster view: this node's parts read in
// process and over the local ldird sockets, the peers' from their
// consoles. It polls only while someone watches.
type aggregator struct {
	s *Server

	mu       sync.Mutex
	watchers int
	wanted   time.Time
	peer     map[string]*peerState
	doc      []byte // the last cluster document
	print    string // its fingerprint
	subs     map[chan []byte]struct{}
	kick     chan struct{}
}

type peerState struct {
	local *Local
	asOf  time.Time
	err   error
	busy  bool
}

func newAggregator(s *Server) *aggregator {
	return &aggregator{s: s, peer: map[string]*peerState{}, subs: map[chan []byte]struct{}{}, kick: make(chan struct{}, 1)}
}

// Polling periods while someone watches.
const (
	localEvery  = 200 * time.Millisecond
	peerEvery   = time.Second
	pushAtLeast = 2 * time.Second // a document is pushed this often even unchanged (ages, plots)
	idleAfter   = 15 * time.Second
)

func (a *aggregator) run(ctx context.Context) {
	t := time.NewTicker(localEvery)
	defer t.Stop()
	var lastPeer, lastPush time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.kick:
		}
		a.mu.Lock()
		active := a.watchers > 0 || time.Since(a.wanted) < idleAfter
		a.mu.Unlock()
		if !active {
			continue
		}
		now := time.Now()
		if now.Sub(lastPeer) >= peerEvery {
			lastPeer = now
			a.refreshPeers(ctx, false)
		}
		doc, print := a.compose()
		a.mu.Lock()
		changed := print != a.print
		a.doc, a.print = doc, print
		if changed || now.Sub(lastPush) >= pushAtLeast {
			lastPush = now
			for ch := range a.subs {
				select {
				case ch <- doc:
				default: // a slow reader gets the next one
				}
			}
		}
		a.mu.Unlock()
	}
}

// refreshPeers asks every peer console for its local view, each in its
// own goroutine (wait: until all answered, for a one-off request).
func (a *aggregator) refreshPeers(ctx context.Context, wait bool) {
	var wg sync.WaitGroup
	for _, node := range a.s.o.Nodes {
		addr := a.s.o.Config.ConsoleAddr(node)
		if node == a.s.o.Node || addr == "" {
			continue
		}
		a.mu.Lock()
		ps := a.peer[node]
		if ps == nil {
			ps = &peerState{}
			a.peer[node] = ps
		}
		if ps.busy {
			a.mu.Unlock()
			continue
		}
		ps.busy = true
		a.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			var l Local
			code, b, err := a.s.peerDo(rctx, addr, http.MethodGet, "/api/v1/local", nil)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("HTTP %d: %s", code, strings.TrimSpace(string(b)))
			}
			if err == nil {
				err = json.Unmarshal(b, &l)
			}
			a.mu.Lock()
			ps.busy = false
			ps.err = err
			if err == nil {
				ps.local, ps.asOf = &l, time.Now()
			}
			a.mu.Unlock()
			select {
			case a.kick <- struct{}{}:
			default:
			}
		}()
	}
	if wait {
		wg.Wait()
	}
}

// compose builds the cluster document and its fingerprint.
func (a *aggregator) compose() ([]byte, string) {
	s := a.s
	now := s.now()
	c := Cluster{API: API, ServedBy: s.o.Node, Time: now.UTC()}
	self := s.local()
	for _, node := range s.o.Nodes {
		d := Director{Node: node, Self: node == s.o.Node}
		if addr := s.o.Config.Addr(node); addr != "" && (d.Self || s.o.Config.ConsoleAddr(node) != "") {
			u := s.peers.url(addr)
			d.Console = &u
		}
		if d.Self {
			d.Reachable, d.Local = true, self
			t := now.UTC()
			d.AsOf = &t
		} else {
			a.mu.Lock()
			ps := a.peer[node]
			if ps != nil {
				d.Local = ps.local
				d.Reachable = ps.err == nil && ps.local != nil
				if ps.err != nil {
					e := ps.err.Error()
					d.Error = &e
				}
				if !ps.asOf.IsZero() {
					t := ps.asOf.UTC()
					d.AsOf = &t
				}
			}
			a.mu.Unlock()
			if d.Console == nil {
				e := "no console line for " + node + " in ha.cf: its ldird cannot be shown here"
				d.Error = &e
			} else if ps == nil {
				e := "not asked yet"
				d.Error = &e
			}
		}
		c.Directors = append(c.Directors, d)
	}
	b, _ := json.Marshal(c)
	return append(b, '\n'), fingerprint(&c)
}

// fingerprint is what, when it changes, is pushed at once: states, not
// ages or counters.
func fingerprint(c *Cluster) string {
	var b strings.Builder
	for _, d := range c.Directors {
		fmt.Fprintf(&b, "%s %v|", d.Node, d.Reachable)
		if d.Local == nil {
			continue
		}
		if h := d.Local.Hbd; h != nil {
			for _, n := range h.Nodes {
				fmt.Fprintf(&b, "%s=%s", n.Name, n.Status)
				for _, l := range n.Links {
					fmt.Fprintf(&b, ",%s=%s", l.Name, l.Status)
				}
				b.WriteByte(';')
			}
			fmt.Fprintf(&b, "rsc=%s;", h.Resources.State)
			for _, g := range h.Resources.Groups {
				holder := ""
				if g.Holder != nil {
					holder = *g.Holder
				}
				fmt.Fprintf(&b, "%s=%s,%v;", g.Key, holder, g.Moving)
			}
			fmt.Fprintf(&b, "tr=%d;", len(h.Transitions))
		}
		for _, l := range d.Local.Ldird {
			fmt.Fprintf(&b, "ld %s %v;", l.Instance, l.Error != nil)
			if l.Status == nil {
				continue
			}
			fmt.Fprintf(&b, "rl=%d;", len(l.Status.Reloads))
			for _, v := range l.Status.Virtuals {
				for _, r := range v.Reals {
					w := -1
					if r.TableWeight != nil {
						w = *r.TableWeight
					}
					last := ""
					if r.Last != nil {
						last = fmt.Sprint(r.Last.OK, r.Last.Detail)
					}
					fmt.Fprintf(&b, "%s %s %s %s %v %d %s;", v.Key, r.Key, r.State, r.Admin.State, r.Up, w, last)
				}
			}
		}
	}
	return b.String()
}

// want marks the view as wanted (polling goes on for idleAfter).
func (a *aggregator) want() {
	a.mu.Lock()
	a.wanted = time.Now()
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// current is the latest document; when nobody has watched lately it is
// composed now, the peers asked first.
func (a *aggregator) current(ctx context.Context) ([]byte, string) {
	a.mu.Lock()
	fresh := a.doc != nil && (a.watchers > 0 || time.Since(a.wanted) < idleAfter)
	doc, print := a.doc, a.print
	a.mu.Unlock()
	a.want()
	if fresh {
		return doc, print
	}
	a.refreshPeers(ctx, true)
	doc, print = a.compose()
	a.mu.Lock()
	a.doc, a.print = doc, print
	a.mu.Unlock()
	return doc, print
}

func (a *aggregator) subscribe() chan []byte {
	ch := make(chan []byte, 1)
	a.mu.Lock()
	a.subs[ch] = struct{}{}
	a.watchers++
	a.mu.Unlock()
	return ch
}

func (a *aggregator) unsubscribe(ch chan []byte) {
	a.mu.Lock()
	delete(a.subs, ch)
	a.watchers--
	a.wanted = time.Now()
	a.mu.Unlock()
}

// handleEvents streams the cluster document as server-sent events: at
// once, then whenever a state changes (within 200 ms) and at least every
// two seconds.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, _ identity) {
	fl, ok := w.(http.Flusher)
	if !ok {
		hbdapi.WriteError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	ch := s.agg.subscribe()
	defer s.agg.unsubscribe(ch)
	first, _ := s.agg.current(r.Context())
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(doc []byte) bool {
		_, err := fmt.Fprintf(w, "event: cluster\ndata: %s\n\n", strings.TrimRight(string(doc), "\n"))
		fl.Flush()
		return err == nil
	}
	if !send(first) {
		return
	}
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case doc := <-ch:
			if !send(doc) {
				return
			}
		case <-keep.C:
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
