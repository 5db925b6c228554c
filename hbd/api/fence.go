package api

import (
	"context"
	"time"
)

// FenceStatus is this node's STONITH state: the device configured for it,
// the reset in progress, and what the attempts so far gave. cl_status
// fencestatus prints it; the metrics and the status JSON carry it.
type FenceStatus struct {
	Configured bool   `json:"configured"`
	Device     string `json:"device,omitempty"` // plugin type, e.g. external/ipmi
	Source     string `json:"source,omitempty"` // the ha.cf line, e.g. /etc/ha.d/ha.cf:14
	// State is none (no device), idle, delayed (the first reset waits:
	// the peer is preferred), fencing (an attempt runs), or retrying (the
	// last attempt failed; the next one is due in NextAttemptMS).
	State         string    `json:"state"`
	Node          string    `json:"node,omitempty"` // the node being reset
	Since         time.Time `json:"since,omitzero"` // when it was found to need a reset
	Attempts      int       `json:"attempts,omitempty"`
	NextAttemptMS int64     `json:"next_attempt_ms,omitempty"`
	// WaitsForOperator: meatware, which returns only after an operator's
	// `meatclient -c NODE`.
	WaitsForOperator bool              `json:"waits_for_operator,omitempty"`
	Results          map[string]uint64 `json:"results,omitempty"` // attempts by result: OK, badhost, bad
	Last             *FenceAttempt     `json:"last,omitempty"`
	// DeviceOK is the last device status check (stonith -S at start and
	// every hour, as Heartbeat's); nil before the first.
	DeviceOK        *bool     `json:"device_ok,omitempty"`
	DeviceCheckedAt time.Time `json:"device_checked_at,omitzero"`
	DeviceError     string    `json:"device_error,omitempty"`
}

// FenceAttempt is one reset attempt.
type FenceAttempt struct {
	Node       string    `json:"node"`
	Result     string    `json:"result"` // OK | badhost | bad
	ExitCode   int       `json:"exit_code"`
	Detail     string    `json:"detail,omitempty"`
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
}

// FenceReporter may be implemented by a Backend that knows the STONITH
// state; without it the server reports state none.
type FenceReporter interface {
	Fencing() FenceStatus
}

// Fencing returns the daemon's STONITH state.
func (c *Client) Fencing() (FenceStatus, error) {
	var r response
	err := c.call(context.Background(), &request{Op: opFence}, &r)
	if r.Fence == nil {
		return FenceStatus{State: "none"}, err
	}
	return *r.Fence, err
}
