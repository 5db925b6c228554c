package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Client is a connection to hbd's control socket. Its methods may be called
// from several goroutines; requests are serialized on the one connection.
type Client struct {
	mu      sync.Mutex
	conn    net.Conn
	br      *bufio.Reader
	timeout time.Duration
	nextID  uint64
	hello   Hello
}

// Dial connects to the socket at path and signs on. timeout bounds the
// connection and each later request (0 means 5 s). If nothing listens the
// error wraps ErrNotRunning; if the daemon refuses the peer, IsDenied(err).
func Dial(path string, timeout time.Duration) (*Client, error) {
	return DialContext(context.Background(), path, timeout)
}

// DialContext is Dial with a context bounding the connection and sign-on.
func DialContext(ctx context.Context, path string, timeout time.Duration) (*Client, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOTDIR):
			return nil, fmt.Errorf("%w (%s: %v)", ErrNotRunning, path, unwrapSyscall(err))
		case errors.Is(err, os.ErrPermission):
			return nil, &Error{Code: CodeDenied, Msg: fmt.Sprintf("permission denied connecting to %s", path)}
		}
		return nil, err
	}
	c := &Client{conn: conn, br: bufio.NewReaderSize(conn, 1<<20), timeout: timeout}
	var resp response
	if err := c.call(ctx, &request{Op: opHello}, &resp); err != nil {
		conn.Close()
		return nil, err
	}
	if resp.Hello != nil {
		c.hello = *resp.Hello
	}
	return c, nil
}

func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Hello is the daemon's sign-on reply.
func (c *Client) Hello() Hello { return c.hello }

// call sends req and decodes the reply into resp; a server-side error is
// returned as *Error.
func (c *Client) call(ctx context.Context, req *request, resp *response) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	req.V, req.ID = ProtocolVersion, c.nextID
	deadline := time.Now().Add(c.timeout + time.Duration(req.TimeoutMS)*time.Millisecond)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return c.ioErr(ctx, err)
	}
	line, err := c.br.ReadBytes('\n')
	if err != nil {
		return c.ioErr(ctx, err)
	}
	if err := json.Unmarshal(line, resp); err != nil {
		return fmt.Errorf("hbd: malformed response: %w", err)
	}
	if resp.Error != nil {
		return resp.Error
	}
	if resp.ID != req.ID {
		return fmt.Errorf("hbd: response id %d for request %d", resp.ID, req.ID)
	}
	if !resp.OK {
		return errors.New("hbd: request failed without a reason")
	}
	return nil
}

func (c *Client) ioErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("hbd control socket: %w", err)
}

// Nodes lists the nodes, in ha.cf order.
func (c *Client) Nodes() ([]NodeInfo, error) {
	var r response
	err := c.call(context.Background(), &request{Op: opNodes}, &r)
	return r.Nodes, err
}

// Param returns the recorded value of an ha.cf directive; ok is false if it
// is unset.
func (c *Client) Param(name string) (value string, ok bool, err error) {
	var r response
	err = c.call(context.Background(), &request{Op: opParam, Name: name}, &r)
	return r.Value, r.Found, err
}

// ResourceState is none|local|foreign|all|transition.
func (c *Client) ResourceState() (string, error) {
	var r response
	err := c.call(context.Background(), &request{Op: opRsc}, &r)
	return r.Value, err
}

// ClientStatus asks for a client's status on node. The daemon may wait for
// the answer until shortly before ctx's deadline (500 ms without one).
func (c *Client) ClientStatus(ctx context.Context, node, client string) (string, error) {
	wait := 500 * time.Millisecond
	if d, ok := ctx.Deadline(); ok {
		wait = max(time.Until(d)-100*time.Millisecond, time.Millisecond)
	}
	return c.ClientStatusWait(ctx, node, client, wait)
}

// ClientStatusWait is ClientStatus with an explicit wait for the daemon
// (Heartbeat's timeout argument); ctx still bounds the whole call.
func (c *Client) ClientStatusWait(ctx context.Context, node, client string, wait time.Duration) (string, error) {
	req := &request{Op: opClientStatus, Node: node, Client: client, TimeoutMS: max(int(wait/time.Millisecond), 1)}
	var r response
	err := c.call(ctx, req, &r)
	return r.Value, err
}

// Counters returns the daemon's counters.
func (c *Client) Counters() (map[string]uint64, error) {
	var r response
	err := c.call(context.Background(), &request{Op: opCounters}, &r)
	return r.Counters, err
}

// Standby asks the daemon to give up resources: all|foreign|local.
func (c *Client) Standby(set string) error {
	return c.call(context.Background(), &request{Op: opStandby, Set: set}, &response{})
}

// Takeover asks the daemon to take resources: all|foreign|local|failback.
func (c *Client) Takeover(set string) error {
	return c.call(context.Background(), &request{Op: opTakeover, Set: set}, &response{})
}

// Version is the daemon's version string.
func (c *Client) Version() (string, error) {
	var r response
	err := c.call(context.Background(), &request{Op: opVersion}, &r)
	return r.Value, err
}

// Status returns the daemon's JSON status document (hbd/statusapi).
func (c *Client) Status() (json.RawMessage, error) {
	var r response
	err := c.call(context.Background(), &request{Op: opStatus}, &r)
	return r.Status, err
}
