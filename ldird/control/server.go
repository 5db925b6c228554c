// Package control is ldird's control socket: a Unix socket only root can
// use, on which `ldird status` and `ldird reload` ask the running daemon for
// its table and health, or to apply its configuration file. The server
// answers through a narrow Backend (the daemon, or a fake in tests), and the
// client half is what those commands call.
//
// The protocol is one request line, "status", "connections" or "reload".
// "status" is answered with the status text; "connections" with the
// connection table (`ldird status --connections`); "reload" with "ok" once the file is
// applied, or one "error: MESSAGE" line per problem when the daemon kept
// its running configuration. Any other request gets "error: unknown
// request" (which is also how a client tells an older daemon).
//
// Two more requests serve tools (hbd's web console) when the Backend has
// them (JSONStatuser, Administrator): "status-json" is answered with the
// versioned JSON status (ldird/statusapi) on one line; "admin" followed by
// a JSON AdminRequest on the same line drains, disables or enables a real
// and is answered "ok" once the table reflects it, or "error: MESSAGE".
package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	// RequestTimeout bounds reading a request and writing the status.
	RequestTimeout = 10 * time.Second
	// ReloadTimeout bounds how long a reload request may take (a large
	// table takes a while over netlink).
	ReloadTimeout = 2 * time.Minute
	// Mode is the socket's permission: root only, as every request either
	// shows the configuration's addresses or changes the table.
	Mode fs.FileMode = 0o600
	// MaxPath is the longest socket path a client can connect to (the
	// size of sockaddr_un's sun_path on Linux).
	MaxPath = 108
)

// Backend is the daemon as the control socket sees it.
type Backend interface {
	// WriteStatus writes the table and the health of every real, as
	// `ldird status` prints them.
	WriteStatus(w io.Writer) error
	// WriteConnections writes the connection table, as `ldird status
	// --connections` prints it.
	WriteConnections(w io.Writer) error
	// Reload reads the configuration file again and applies it. An error
	// means the running configuration was kept; an error with
	// Unwrap() []error (config.Errors) is answered one line per entry.
	Reload() error
}

// ErrStarting is what a Backend's Reload returns before start-up is done.
var ErrStarting = errors.New("ldird is still starting (first check round); try again")

// Server answers requests on the control socket.
type Server struct {
	path string
	ln   *net.UnixListener
	ino  uint64 // inode of our socket file, so Close removes only our own
	b    Backend
	log  *slog.Logger
}

// listenHooks let tests look at, or break, the steps of Listen.
type listenHooks struct {
	chmod func(string, fs.FileMode) error
	bound func(tmpSocket string) // after bind and chmod, before the rename
}

// Listen creates the socket at path, never more open than Mode: it is
// bound in a private directory (0700) next to path, given Mode, and only
// then renamed into place, so at no moment can anyone but its owner
// connect, whatever the umask (a process-wide setting other goroutines
// depend on). A socket at path that nobody answers (left by a killed
// daemon) is replaced; one that answers is another ldird's, and anything
// else at path is not ours to replace.
func Listen(path string, b Backend, log *slog.Logger) (*Server, error) {
	return listen(path, b, log, listenHooks{chmod: os.Chmod})
}

func listen(path string, b Backend, log *slog.Logger, h listenHooks) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if b == nil {
		return nil, errors.New("control socket: nil backend")
	}
	if len(path) > MaxPath {
		return nil, fmt.Errorf("control socket %s: longer than %d bytes", path, MaxPath)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s exists and is not a socket; not replacing it", path)
		}
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s is in use by another ldird", path)
		}
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// MkdirTemp makes the directory 0700 (less under a stricter umask).
	tmp, err := os.MkdirTemp(dir, ".ldird-")
	if err != nil {
		return nil, fmt.Errorf("control socket: private directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // it moves; Close removes it at path
	if err := h.chmod(tmpSock, Mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: set mode %v: %w", Mode, err)
	}
	if h.bound != nil {
		h.bound(tmpSock)
	}
	if err := os.Rename(tmpSock, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &Server{path: path, ln: ln, b: b, log: log}
	if fi, err := os.Lstat(path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			s.ino = st.Ino
		}
	}
	return s, nil
}

// Path is where the socket is.
func (s *Server) Path() string { return s.path }

// Serve answers connections until Close, each in its own goroutine.
func (s *Server) Serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("control socket stopped", "path", s.path, "err", err)
			}
			return
		}
		go s.handle(c)
	}
}

// Close stops listening and removes the socket file if it is still ours
// (a newer ldird may have replaced it).
func (s *Server) Close() error {
	err := s.ln.Close()
	if fi, lerr := os.Lstat(s.path); lerr == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino == s.ino {
			os.Remove(s.path)
		}
	}
	return err
}

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(RequestTimeout))
	line, _ := bufio.NewReader(io.LimitReader(c, 4096)).ReadString('\n')
	req, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch req {
	case "status-json":
		js, ok := s.b.(JSONStatuser)
		if !ok || arg != "" {
			fmt.Fprintln(c, "error: unknown request")
			return
		}
		if err := js.WriteStatusJSON(c); err != nil {
			fmt.Fprintf(c, "error: %v\n", err)
		}
	case "admin":
		ad, ok := s.b.(Administrator)
		if !ok {
			fmt.Fprintln(c, "error: unknown request")
			return
		}
		s.admin(c, ad, arg)
	case "status":
		if err := s.b.WriteStatus(c); err != nil {
			fmt.Fprintf(c, "error: %v\n", err)
		}
	case "connections":
		if err := s.b.WriteConnections(c); err != nil {
			fmt.Fprintf(c, "error: %v\n", err)
		}
	case "reload":
		_ = c.SetDeadline(time.Now().Add(ReloadTimeout))
		if err := s.b.Reload(); err != nil {
			for _, e := range errorLines(err) {
				fmt.Fprintf(c, "error: %s\n", e)
			}
			return
		}
		fmt.Fprintln(c, "ok")
	default:
		fmt.Fprintln(c, "error: unknown request")
	}
}

// JSONStatuser is a Backend that also answers "status-json".
type JSONStatuser interface {
	// WriteStatusJSON writes the status document (ldird/statusapi) and
	// a newline.
	WriteStatusJSON(w io.Writer) error
}

// Administrator is a Backend that also answers "admin".
type Administrator interface {
	// SetAdmin drains, disables or enables a real and returns once the
	// table reflects it.
	SetAdmin(req AdminRequest) error
}

// AdminRequest is the argument of "admin".
type AdminRequest struct {
	Virtual string `json:"virtual"` // "tcp 10.0.0.1:80" (statusapi Virtual.Key) or "10.0.0.1:80"
	Real    string `json:"real"`    // "10.0.1.2:80" (statusapi Real.Key or Server)
	State   string `json:"state"`   // drain, disable, enable
	By      string `json:"by"`      // who asked, for the log and the state file
}

func (s *Server) admin(c net.Conn, ad Administrator, arg string) {
	var req AdminRequest
	dec := json.NewDecoder(strings.NewReader(arg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fmt.Fprintf(c, "error: malformed admin request: %v\n", err)
		return
	}
	if req.Virtual == "" || req.Real == "" || req.State == "" {
		fmt.Fprintln(c, "error: admin request needs virtual, real and state")
		return
	}
	_ = c.SetDeadline(time.Now().Add(ReloadTimeout))
	if err := ad.SetAdmin(req); err != nil {
		s.log.Warn("control socket: admin request refused", "virtual", req.Virtual, "real", req.Real, "state", req.State, "by", req.By, "err", err)
		fmt.Fprintf(c, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	fmt.Fprintln(c, "ok")
}

// errorLines is one line per problem: the entries of a list error
// (config.Errors, errors.Join), else the error itself, each on one line.
func errorLines(err error) []string {
	list := []error{err}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		list = u.Unwrap()
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, strings.ReplaceAll(e.Error(), "\n", "; "))
	}
	return out
}
