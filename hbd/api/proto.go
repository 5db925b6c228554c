// Package api is hbd's local control socket: the server the daemon runs and
// the client that cl_status, hb_standby and hb_takeover use.
//
// It replaces Heartbeat's client API socket (/var/run/heartbeat/register) for
// the local tools only; it does not speak Heartbeat's IPC framing.
//
// # Wire format (protocol version 1)
//
// A Unix stream socket carrying newline-terminated JSON objects. The client
// writes one request per line and reads exactly one response line per
// request, in order; several requests may be sent on one connection
// (pipelining). A request line is at most MaxRequest bytes.
//
//	request:  {"v":1,"id":7,"op":"nodes"}
//	response: {"v":1,"id":7,"ok":true,"nodes":[...]}
//	error:    {"v":1,"id":7,"ok":false,"error":{"code":"denied","msg":"..."}}
//
// Operations: hello (the sign-on: authorizes the peer and returns the daemon's
// identity), nodes, param (name), rsc, clientstatus (node, client,
// timeout_ms), counters, fence, version, standby (set), takeover (set), and
// status (the versioned JSON status document of hbd/statusapi, in "status";
// when the Backend is a StatusJSONer).
//
// # Authorization
//
// The peer is identified with SO_PEERCRED. Read-only operations are allowed
// for uid 0 and for processes whose primary or supplementary group is
// haclient (when that group exists). standby and takeover are allowed for uid
// 0 only.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// DefaultSocket is where hbd listens. The tools honour $HBD_SOCKET.
const DefaultSocket = "/var/run/heartbeat/hbd.sock"

// ProtocolVersion is the "v" of every request and response.
const ProtocolVersion = 1

// MaxRequest bounds one request line, newline included.
const MaxRequest = 64 << 10

// Group is the group whose members may read the cluster state.
const Group = "haclient"

// LinkInfo is one heartbeat link of a node as Heartbeat reports it.
type LinkInfo struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "up" | "dead"
}

// NodeInfo is one node of ha.cf, ping nodes included.
type NodeInfo struct {
	Name   string     `json:"name"`
	Type   string     `json:"type"`   // "normal" | "ping"
	Status string     `json:"status"` // "active" | "up" | "dead" | "init" | "ping"
	Weight int        `json:"weight"`
	Site   string     `json:"site"`
	Links  []LinkInfo `json:"links,omitempty"`
}

// Backend is what the daemon provides to the control socket.
type Backend interface {
	Nodes() []NodeInfo                                                     // config order, ping nodes included
	Param(name string) (string, bool)                                      // raw recorded ha.cf value; "hbversion" etc.
	ResourceState() string                                                 // none|local|foreign|all|transition
	ClientStatus(ctx context.Context, node, client string) (string, error) // online|offline|join|leave
	Counters() map[string]uint64                                           // shown by `cl_status counters`
	Standby(set string) error                                              // all|foreign|local
	Takeover(set string) error                                             // all|foreign|local|failback
	Version() string                                                       // e.g. "3.0.6 (lvsha hbd)"
}

// LocalNoder may optionally be implemented by a Backend to name the local
// node (Heartbeat's "mynodeid", shown by `cl_status test`). Without it the
// server reports the lowercased host name, as Heartbeat's default.
type LocalNoder interface {
	LocalNode() string
}

// StatusJSONer may optionally be implemented by a Backend to answer the
// "status" operation with the JSON status document.
type StatusJSONer interface {
	StatusJSON() ([]byte, error)
}

// Hello is the sign-on reply.
type Hello struct {
	Version     string `json:"version"` // Backend.Version()
	Node        string `json:"node"`    // local node name
	DeadtimeMS  int64  `json:"deadtime_ms"`
	KeepaliveMS int64  `json:"keepalive_ms"`
}

// Error codes carried in responses.
const (
	CodeDenied     = "denied"     // the peer may not do this
	CodeBadRequest = "badreq"     // malformed or unknown request
	CodeBadVersion = "badversion" // unsupported protocol version
	CodeTooLarge   = "toolarge"   // request line over MaxRequest
	CodeBusy       = "busy"       // too many connections
	CodeFailed     = "failed"     // the backend returned an error
	CodeInternal   = "internal"   // the backend panicked
)

// Error is an error reported by the server.
type Error struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
}

func (e *Error) Error() string { return e.Msg }

// ErrNotRunning is wrapped by Dial's error when nothing listens on the
// socket (no socket file, or a stale one).
var ErrNotRunning = errors.New("hbd is not running")

// IsDenied reports whether err is an authorization refusal (by the server,
// or by the socket's file permissions).
func IsDenied(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeDenied
}

// msgOnlyRoot refuses state changes by non-root peers.
const msgOnlyRoot = "permission denied: only root may change resource state"

type request struct {
	V         int    `json:"v"`
	ID        uint64 `json:"id,omitempty"`
	Op        string `json:"op"`
	Name      string `json:"name,omitempty"`
	Node      string `json:"node,omitempty"`
	Client    string `json:"client,omitempty"`
	Set       string `json:"set,omitempty"`
	TimeoutMS int    `json:"timeout_ms,omitempty"`
}

type response struct {
	V        int               `json:"v"`
	ID       uint64            `json:"id,omitempty"`
	OK       bool              `json:"ok"`
	Error    *Error            `json:"error,omitempty"`
	Hello    *Hello            `json:"hello,omitempty"`
	Nodes    []NodeInfo        `json:"nodes,omitempty"`
	Value    string            `json:"value,omitempty"`
	Found    bool              `json:"found,omitempty"`
	Counters map[string]uint64 `json:"counters,omitempty"`
	Status   json.RawMessage   `json:"status,omitempty"`
	Fence    *FenceStatus      `json:"fence,omitempty"`
}

const (
	opHello        = "hello"
	opNodes        = "nodes"
	opParam        = "param"
	opRsc          = "rsc"
	opClientStatus = "clientstatus"
	opCounters     = "counters"
	opVersion      = "version"
	opStandby      = "standby"
	opTakeover     = "takeover"
	opStatus       = "status"
	opFence        = "fence"
)

// mutating reports whether op changes cluster state.
func mutating(op string) bool { return op == opStandby || op == opTakeover }

func errorf(code, format string, a ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, a...)}
}
