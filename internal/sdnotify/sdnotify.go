// Package sdnotify tells systemd how a Type=notify service is doing: ready,
// reloading, stopping, and alive (the watchdog, fed only while the daemon
// makes progress). It takes the notify socket and watchdog settings from the
// environment once, so a daemon can keep them from the programs it starts.
package sdnotify

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// Options says how the notifier treats the environment.
type Options struct {
	// Silent: the process is not the service's main process (ldird's
	// detached child of `start`); nothing is sent, and the variables are
	// still removed from the environment.
	Silent bool
	// KeepEnv leaves NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID in the
	// environment, for a daemon that re-executes itself in place (hbd) and
	// leaves them out of its children's environment itself. Otherwise
	// they are removed, so nothing the daemon starts (checks, commands,
	// agents) inherits them and talks to systemd in the service's name.
	KeepEnv bool
}

// Notifier sends notifications to the socket systemd gave the service.
// Outside systemd (no NOTIFY_SOCKET) every method does nothing.
type Notifier struct {
	// addr is NOTIFY_SOCKET as found at New: go-systemd's SdNotify reads
	// the variable at every call, which would mean keeping it in the
	// environment every child inherits, so the datagram is sent here.
	addr     string
	watchdog time.Duration // WATCHDOG_USEC when it is ours; 0 when off
	log      *slog.Logger

	ready   atomic.Bool // READY=1 sent: reloads report RELOADING=1 from now on
	mu      sync.Mutex  // one datagram at a time, in order; guards stalled
	stalled bool        // the last watchdog tick found the daemon stuck
}

// New reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (a watchdog
// meant for another process is not ours) and, unless o.KeepEnv, unsets
// them.
func New(log *slog.Logger, o Options) *Notifier {
	n := &Notifier{addr: os.Getenv("NOTIFY_SOCKET"), log: log}
	if !o.KeepEnv {
		os.Unsetenv("NOTIFY_SOCKET")
	}
	wd, err := sd.SdWatchdogEnabled(!o.KeepEnv)
	if o.Silent {
		n.addr = ""
		return n
	}
	if err != nil {
		log.Warn("systemd watchdog settings unusable; not feeding the watchdog", "err", err)
	}
	if n.addr != "" {
		n.watchdog = wd
	}
	return n
}

// Enabled reports whether systemd listens.
func (n *Notifier) Enabled() bool { return n.addr != "" }

// Watchdog is systemd's watchdog interval (WatchdogSec), 0 when off: call
// WatchdogTick more often than every half of it.
func (n *Notifier) Watchdog() time.Duration { return n.watchdog }

// send writes one notification datagram.
func (n *Notifier) send(state string) error {
	if n.addr == "" {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr, err)
	}
	return nil
}

// notify sends state, logging a failure; n.mu is held.
func (n *Notifier) notify(state string) {
	if err := n.send(state); err != nil {
		n.log.Warn("cannot notify systemd", "state", strings.ReplaceAll(state, "\n", " "), "err", err)
	}
}

func (n *Notifier) notifyLocked(state string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notify(state)
}

// withStatus appends STATUS= (what `systemctl status` shows) unless empty.
func withStatus(state, status string) string {
	if status == "" {
		return state
	}
	return state + "\nSTATUS=" + status
}

// Ready sends READY=1 (start-up done) with an optional status line.
func (n *Notifier) Ready(status string) {
	if !n.Enabled() {
		return
	}
	first := !n.ready.Swap(true)
	n.notifyLocked(withStatus(sd.SdNotifyReady, status))
	if first {
		n.log.Info("told systemd we are ready", "watchdog", n.watchdog)
	}
}

// Reloading sends RELOADING=1 with MONOTONIC_USEC (which
// Type=notify-reload requires and older systemd ignores), once start-up
// has been reported: before READY=1 systemd is still starting the service.
func (n *Notifier) Reloading() {
	if !n.Enabled() || !n.ready.Load() {
		return
	}
	msg := sd.SdNotifyReloading
	if m := strings.TrimSuffix(sd.SdNotifyMonotonicUsec(), "\n"); m != "" {
		msg += "\n" + m
	}
	n.notifyLocked(msg)
}

// ReloadDone ends a reload with READY=1, if Reloading sent RELOADING=1.
func (n *Notifier) ReloadDone(status string) {
	if !n.Enabled() || !n.ready.Load() {
		return
	}
	n.notifyLocked(withStatus(sd.SdNotifyReady, status))
}

// Stopping sends STOPPING=1.
func (n *Notifier) Stopping() {
	if n.Enabled() {
		n.notifyLocked(sd.SdNotifyStopping)
	}
}

// WatchdogTick feeds the watchdog (WATCHDOG=1) unless the daemon is stuck:
// stall is how long its work has made no progress (a loop in one
// iteration, a reload in progress). From half the watchdog interval on the
// feed stops, logged once per stall, and systemd restarts the service when
// the interval passes without one.
func (n *Notifier) WatchdogTick(stall time.Duration) {
	if n.watchdog == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if stall >= n.watchdog/2 {
		if !n.stalled {
			n.log.Error("daemon wedged: not feeding the systemd watchdog", "stalled", stall, "watchdog", n.watchdog)
		}
		n.stalled = true
		return
	}
	if n.stalled {
		n.log.Warn("daemon moving again: feeding the systemd watchdog")
		n.stalled = false
	}
	n.notify(sd.SdNotifyWatchdog)
}
