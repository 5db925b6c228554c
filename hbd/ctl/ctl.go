// Package ctl implements the command-line tools that hbd acts as when
// invoked under their names: cl_status, hb_standby and hb_takeover. They
// talk to the running daemon through the control socket (package api) at
// api.DefaultSocket, or $HBD_SOCKET if set.
//
// cl_status reproduces Heartbeat 3.0.6's output and exit codes exactly,
// including its messages on stderr (logged in cl_log's format). One
// sub-command is ours: `cl_status counters` prints the daemon's counters.
//
// hb_standby and hb_takeover accept the same arguments as Heartbeat's
// scripts and print the same usage errors. Deliberate difference: instead of
// writing to the FIFO /var/lib/heartbeat/fifo (which blocks, or silently
// fails, when heartbeat is not running) they send the request over the
// control socket, wait for the daemon to accept it, and report failure: if
// hbd is not running they print an error and exit 1.
package ctl

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"lvsha/hbd/api"
)

// Test hooks.
var (
	globalTimeout = 5 * time.Second // cl_status's alarm(5)
	nowFunc       = time.Now
	pidFunc       = os.Getpid
)

// Main runs the tool prog (the basename hbd was invoked as) with its
// arguments and returns the exit code.
func Main(prog string, args []string, stdout, stderr io.Writer) int {
	switch prog {
	case "cl_status":
		return clStatus(args, stdout, stderr)
	case "hb_standby":
		return resourceTool(prog, args, stdout, stderr, true)
	case "hb_takeover":
		return resourceTool(prog, args, stdout, stderr, false)
	}
	fmt.Fprintf(stderr, "hbd: unknown tool %q (expected cl_status, hb_standby or hb_takeover)\n", prog)
	return 1
}

func socketPath() string {
	if p := os.Getenv("HBD_SOCKET"); p != "" {
		return p
	}
	return api.DefaultSocket
}

// gate is a writer that can be shut: after the global timeout fires,
// late writes from the abandoned command are dropped.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
