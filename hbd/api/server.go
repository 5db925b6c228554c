package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server limits. Variables so that tests can shorten them.
var (
	// MaxConns bounds concurrently served connections; further ones are
	// answered with a "busy" error and closed.
	MaxConns = 32
	// IdleTimeout bounds the wait for each request line and for writing
	// each response.
	IdleTimeout = 10 * time.Second
	// MaxClientStatusWait caps the wait a clientstatus request may ask for.
	MaxClientStatusWait = 10 * time.Second
)

// Server serves the control socket.
type Server struct {
	path string
	b    Backend
	log  *slog.Logger
	ln   *net.UnixListener
	ino  uint64 // inode of our socket file, to remove only our own

	auth     *authorizer
	peerCred func(*net.UnixConn) (Cred, error)

	sem  chan struct{}
	wg   sync.WaitGroup
	idle time.Duration
	mu   sync.Mutex // guards peerCred and auth (swapped by tests)
}

// NewServer creates the Unix socket at path. A socket file already there is
// removed only if nothing listens on it. The socket gets mode 0660 and group
// haclient when that group exists (and we may chown to it), else 0600; the
// parent directory is created with mode 0755 if missing.
func NewServer(path string, b Backend, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if b == nil {
		return nil, errors.New("api: nil backend")
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		_ = os.Chmod(dir, 0o755) // not subject to the umask
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket; not removing it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another process is already listening (is hbd already running?)", path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
		log.Info("removed stale control socket", "path", path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false) // Serve removes it, if it is still ours
	mode := os.FileMode(0o600)
	if gid, ok := lookupGroup(); ok {
		if err := os.Chown(path, 0, int(gid)); err == nil {
			mode = 0o660
		} else {
			log.Warn("cannot give the control socket to group "+Group, "path", path, "err", err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, err
	}
	s := &Server{
		path:     path,
		b:        b,
		log:      log,
		ln:       ln,
		auth:     defaultAuthorizer(),
		peerCred: peerCred,
		sem:      make(chan struct{}, max(MaxConns, 1)),
		idle:     IdleTimeout,
	}
	if fi, err := os.Lstat(path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			s.ino = st.Ino
		}
	}
	return s, nil
}

// Path is the socket path.
func (s *Server) Path() string { return s.path }

// Serve accepts connections until ctx is done, then closes the listener,
// waits briefly for connections in progress, and removes the socket.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	defer s.cleanup()
	var tempDelay time.Duration
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				s.log.Warn("control socket accept", "err", err)
				select {
				case <-time.After(tempDelay):
				case <-ctx.Done():
					return nil
				}
				continue
			}
			s.ln.Close()
			return err
		}
		tempDelay = 0
		select {
		case s.sem <- struct{}{}:
		default:
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetWriteDeadline(time.Now().Add(time.Second))
				writeResponse(c, &response{V: ProtocolVersion, Error: errorf(CodeBusy, "hbd: too many control connections, try again")})
			}()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			s.handle(ctx, c)
		}()
	}
}

func (s *Server) cleanup() {
	s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	// Remove the socket only if it is still the one we created (a new
	// daemon may have replaced it).
	if fi, err := os.Lstat(s.path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (s.ino == 0 || st.Ino == s.ino) {
			os.Remove(s.path)
		}
	}
}

func writeResponse(w io.Writer, r *response) error {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(&response{V: ProtocolVersion, ID: r.ID, Error: errorf(CodeInternal, "cannot encode response: %v", err)})
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func (s *Server) handle(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	s.mu.Lock()
	getCred, auth := s.peerCred, s.auth
	s.mu.Unlock()
	cred, err := getCred(c)
	if err != nil {
		s.log.Warn("control socket: cannot read peer credentials", "err", err)
		c.SetWriteDeadline(time.Now().Add(s.idle))
		writeResponse(c, &response{V: ProtocolVersion, Error: errorf(CodeDenied, "permission denied: cannot identify peer: %v", err)})
		return
	}
	br := bufio.NewReaderSize(c, MaxRequest)
	for {
		c.SetReadDeadline(time.Now().Add(s.idle))
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.SetWriteDeadline(time.Now().Add(s.idle))
			writeResponse(c, &response{V: ProtocolVersion, Error: errorf(CodeTooLarge, "request larger than %d bytes", MaxRequest)})
			return
		}
		if err != nil && len(bytes.TrimSpace(line)) == 0 {
			return // EOF, timeout, or shutdown
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		resp := s.dispatch(ctx, auth, cred, line)
		c.SetWriteDeadline(time.Now().Add(s.idle))
		if werr := writeResponse(c, resp); werr != nil || err != nil {
			return
		}
	}
}

// dispatch decodes and answers one request line.
func (s *Server) dispatch(ctx context.Context, auth *authorizer, cred Cred, line []byte) (resp *response) {
	var req request
	resp = &response{V: ProtocolVersion}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		resp.Error = errorf(CodeBadRequest, "malformed request: %v", err)
		return resp
	}
	resp.ID = req.ID
	if req.V != ProtocolVersion {
		resp.Error = errorf(CodeBadVersion, "unsupported protocol version %d (hbd speaks %d)", req.V, ProtocolVersion)
		return resp
	}
	if !knownOp(req.Op) {
		resp.Error = errorf(CodeBadRequest, "unknown operation %q", req.Op)
		return resp
	}
	if e := auth.authorize(cred, req.Op); e != nil {
		if mutating(req.Op) {
			s.log.Warn("control request refused", "op", req.Op, "set", req.Set, "uid", cred.UID, "gid", cred.GID, "pid", cred.PID)
		} else {
			s.log.Debug("control request refused", "op", req.Op, "uid", cred.UID, "pid", cred.PID)
		}
		resp.Error = e
		return resp
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("control request: backend panic", "op", req.Op, "panic", fmt.Sprint(p))
			resp = &response{V: ProtocolVersion, ID: req.ID, Error: errorf(CodeInternal, "internal error in hbd")}
		}
	}()
	switch req.Op {
	case opHello:
		resp.Hello = s.hello()
	case opNodes:
		resp.Nodes = s.b.Nodes()
	case opParam:
		name := req.Name
		if name == "" {
			resp.Error = errorf(CodeBadRequest, "param: missing name")
			return resp
		}
		if name == "crm" { // Heartbeat's deprecated alias
			name = "pacemaker"
		}
		resp.Value, resp.Found = s.b.Param(name)
	case opRsc:
		resp.Value = s.b.ResourceState()
	case opClientStatus:
		if req.Node == "" || req.Client == "" {
			resp.Error = errorf(CodeBadRequest, "clientstatus: node and client are required")
			return resp
		}
		wait := time.Duration(req.TimeoutMS) * time.Millisecond
		if wait <= 0 {
			wait = 500 * time.Millisecond
		}
		wait = min(wait, MaxClientStatusWait)
		cctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		v, err := s.b.ClientStatus(cctx, req.Node, req.Client)
		if err != nil {
			resp.Error = errorf(CodeFailed, "%v", err)
			return resp
		}
		resp.Value = v
	case opCounters:
		resp.Counters = s.b.Counters()
	case opFence:
		st := FenceStatus{State: "none"}
		if f, ok := s.b.(FenceReporter); ok {
			st = f.Fencing()
		}
		resp.Fence = &st
	case opVersion:
		resp.Value = s.b.Version()
	case opStatus:
		sj, ok := s.b.(StatusJSONer)
		if !ok {
			resp.Error = errorf(CodeBadRequest, "status: not available from this daemon")
			return resp
		}
		b, err := sj.StatusJSON()
		if err != nil {
			resp.Error = errorf(CodeFailed, "%v", err)
			return resp
		}
		resp.Status = b
	case opStandby, opTakeover:
		if !validSet(req.Op, req.Set) {
			resp.Error = errorf(CodeBadRequest, "%s: invalid resource set %q", req.Op, req.Set)
			return resp
		}
		s.log.Info("control request", "op", req.Op, "set", req.Set, "uid", cred.UID, "pid", cred.PID)
		var err error
		if req.Op == opStandby {
			err = s.b.Standby(req.Set)
		} else {
			err = s.b.Takeover(req.Set)
		}
		if err != nil {
			s.log.Warn("control request failed", "op", req.Op, "set", req.Set, "uid", cred.UID, "pid", cred.PID, "err", err)
			resp.Error = errorf(CodeFailed, "%v", err)
			return resp
		}
	}
	resp.OK = true
	return resp
}

func knownOp(op string) bool {
	switch op {
	case opHello, opNodes, opParam, opRsc, opClientStatus, opCounters, opFence, opVersion, opStandby, opTakeover, opStatus:
		return true
	}
	return false
}

func validSet(op, set string) bool {
	switch set {
	case "all", "foreign", "local":
		return true
	case "failback":
		return op == opTakeover
	}
	return false
}

func (s *Server) hello() *Hello {
	h := &Hello{Version: s.b.Version()}
	if ln, ok := s.b.(LocalNoder); ok {
		h.Node = ln.LocalNode()
	} else if hn, err := os.Hostname(); err == nil {
		h.Node = strings.ToLower(hn)
	}
	if v, ok := s.b.Param("deadtime"); ok {
		h.DeadtimeMS, _ = ParseMillis(v)
	}
	if v, ok := s.b.Param("keepalive"); ok {
		h.KeepaliveMS, _ = ParseMillis(v)
	}
	return h
}

// ParseMillis converts a Heartbeat time value ("2", "1.5", "500ms",
// "2000000us", "3s") to milliseconds. A bare number is seconds.
func ParseMillis(v string) (int64, error) {
	v = strings.TrimSpace(v)
	mult, div := 1000.0, 1.0
	switch {
	case strings.HasSuffix(v, "ms"):
		v, mult = strings.TrimSuffix(v, "ms"), 1
	case strings.HasSuffix(v, "us"):
		v, mult, div = strings.TrimSuffix(v, "us"), 1, 1000
	case strings.HasSuffix(v, "s"):
		v = strings.TrimSuffix(v, "s")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad time value %q", v)
	}
	return int64(f * mult / div), nil
}
