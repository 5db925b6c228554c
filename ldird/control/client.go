package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// dialTimeout bounds connecting to the socket.
const dialTimeout = 2 * time.Second

// ErrNotServed: no daemon that knows "reload" answers at the socket (none
// listens, or it is ldirectord's or an older ldird's); the caller falls
// back to SIGHUP.
var ErrNotServed = errors.New("no ldird answers reload requests on the control socket")

// RefusedError is a reload the daemon refused: it kept its running
// configuration, for these reasons (one line each).
type RefusedError struct{ Problems []string }

func (e *RefusedError) Error() string {
	return "the daemon kept its running configuration: " + strings.Join(e.Problems, "; ")
}

// Status copies the daemon's status answer to w.
func Status(path string, w io.Writer) error {
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(RequestTimeout))
	if _, err := io.WriteString(c, "status\n"); err != nil {
		return err
	}
	_, err = io.Copy(w, c)
	return err
}

// Connections copies the daemon's connection table to w. A daemon that
// does not know the request (an older ldird) is an error wrapping
// ErrNotServed.
func Connections(path string, w io.Writer) error {
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(RequestTimeout))
	if _, err := io.WriteString(c, "connections\n"); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	first, err := r.ReadString('\n')
	if first == "error: unknown request\n" {
		return fmt.Errorf("%w: the running ldird does not list connections (restart it with this version)", ErrNotConnections)
	}
	if _, werr := io.WriteString(w, first); werr != nil {
		return werr
	}
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	_, err = io.Copy(w, r)
	return err
}

// ErrNotConnections: the daemon does not answer "connections".
var ErrNotConnections = errors.New("no connection listing on the control socket")

// Reload asks the daemon at path to apply its configuration file and waits
// for the answer: nil when it did, a *RefusedError when it kept its
// running configuration, an error wrapping ErrNotServed when no daemon
// that knows the request answers, and any other error when the daemon
// took the request but gave no answer.
func Reload(path string) error {
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotServed, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ReloadTimeout + 5*time.Second))
	if _, err := io.WriteString(c, "reload\n"); err != nil {
		return fmt.Errorf("%w: %v", ErrNotServed, err)
	}
	var lines []string
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	switch {
	case len(lines) == 1 && lines[0] == "error: unknown request":
		return ErrNotServed
	case len(lines) == 1 && lines[0] == "ok":
		return nil
	case len(lines) == 0:
		msg := "connection closed"
		if err := sc.Err(); err != nil {
			msg = err.Error()
		}
		return fmt.Errorf("no answer from the daemon: %s", msg)
	}
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "error: ")
	}
	return &RefusedError{Problems: lines}
}

// StatusJSON asks the daemon at path for its JSON status document
// (ldird/statusapi). An error wrapping ErrNotServed means the daemon does
// not answer the request (ldirectord, an older ldird).
func StatusJSON(path string) ([]byte, error) {
	lines, err := request(path, "status-json", RequestTimeout)
	if err != nil {
		return nil, err
	}
	if len(lines) == 1 && strings.HasPrefix(lines[0], "{") {
		return []byte(lines[0]), nil
	}
	return nil, answerError(lines)
}

// Admin asks the daemon at path to drain, disable or enable a real, and
// waits until the table reflects it.
func Admin(path string, req AdminRequest) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	lines, err := request(path, "admin "+string(b), ReloadTimeout+5*time.Second)
	if err != nil {
		return err
	}
	if len(lines) == 1 && lines[0] == "ok" {
		return nil
	}
	return answerError(lines)
}

// request sends one request line and reads the whole answer.
func request(path, line string, timeout time.Duration) ([]string, error) {
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotServed, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotServed, err)
	}
	var lines []string
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return lines, nil
}

// answerError is the error an answer other than the expected one means.
func answerError(lines []string) error {
	switch {
	case len(lines) == 0:
		return errors.New("no answer from the daemon")
	case len(lines) == 1 && lines[0] == "error: unknown request":
		return ErrNotServed
	}
	msgs := make([]string, len(lines))
	for i, l := range lines {
		msgs[i] = strings.TrimPrefix(l, "error: ")
	}
	return errors.New(strings.Join(msgs, "; "))
}
