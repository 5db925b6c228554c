package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// sdNotifier speaks systemd's notify protocol (Type=notify): READY=1 once
// the daemon is really ready, RELOADING=1 ... READY=1 around each reload,
// STOPPING=1 when it begins to stop, and WATCHDOG=1 from the daemon's main
// loop. It is used only when ldird runs in the foreground (-d, --foreground,
// supervised=yes), where it is the service's main process.
//
// The socket and the watchdog settings are taken from the environment once
// and removed from it, so nothing ldird starts (fallbackcommand, external
// checks, callback, execute= instances) inherits them and talks to
// systemd in the service's name. go-systemd's SdNotify reads
// NOTIFY_SOCKET at every call, hence the small sender here.
type sdNotifier struct {
	addr     string        // NOTIFY_SOCKET; "" outside systemd
	watchdog time.Duration // WATCHDOG_USEC; 0 when off
	log      *slog.Logger

	ready   atomic.Bool // READY=1 sent: reloads report RELOADING=1 from now on
	mu      sync.Mutex  // one datagram at a time, in order
	stalled bool        // the last watchdog tick found the daemon wedged
}

// newSDNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and
// unsets them. Unless use is set (ldird is the service's main process),
// the notifier stays silent: a detached daemon only makes sure its
// children do not inherit them.
func newSDNotifier(log *slog.Logger, use bool) *sdNotifier {
	n := &sdNotifier{addr: os.Getenv("NOTIFY_SOCKET"), log: log}
	os.Unsetenv("NOTIFY_SOCKET")
	wd, err := sd.SdWatchdogEnabled(true)
	if !use {
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

// enabled reports whether systemd listens.
func (n *sdNotifier) enabled() bool { return n.addr != "" }

// send writes one notification datagram.
func (n *sdNotifier) send(state string) error {
	if n.addr == "" {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
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

func (n *sdNotifier) notify(state string) {
	if err := n.send(state); err != nil {
		n.log.Warn("cannot notify systemd", "state", strings.ReplaceAll(state, "\n", " "), "err", err)
	}
}

// Ready sends READY=1 (start-up done, or a reload finished).
func (n *sdNotifier) Ready(status string) {
	if !n.enabled() {
		return
	}
	first := !n.ready.Swap(true)
	n.notify(sd.SdNotifyReady + "\nSTATUS=" + status)
	if first {
		n.log.Info("told systemd we are ready", "watchdog", n.watchdog)
	}
}

// Reloading sends RELOADING=1 (with MONOTONIC_USEC, which Type=notify-reload
// requires and older systemd ignores) once start-up has been reported.
func (n *sdNotifier) Reloading() {
	if !n.enabled() || !n.ready.Load() {
		return
	}
	var ts unix.Timespec
	msg := sd.SdNotifyReloading
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		msg += fmt.Sprintf("\nMONOTONIC_USEC=%d", ts.Nano()/1000)
	}
	n.notify(msg)
}

// ReloadDone ends a reload with READY=1, if RELOADING=1 was sent.
func (n *sdNotifier) ReloadDone(status string) {
	if !n.enabled() || !n.ready.Load() {
		return
	}
	n.notify(sd.SdNotifyReady + "\nSTATUS=" + status)
}

// Stopping sends STOPPING=1.
func (n *sdNotifier) Stopping() {
	if n.enabled() {
		n.notify(sd.SdNotifyStopping)
	}
}

// watchdogTick is called by the daemon's main loop every half watchdog
// interval. stall is how long the daemon's work has been stuck (the
// director's loop in one iteration, a reload in progress); from half the
// watchdog interval on, the feed stops and systemd restarts ldird when
// the interval passes without one.
func (n *sdNotifier) watchdogTick(stall time.Duration) {
	if n.watchdog == 0 {
		return
	}
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

// journalStream reports whether f is the stream systemd connected to the
// journal (JOURNAL_STREAM is "device:inode" of that stream).
func journalStream(f *os.File) bool {
	js := os.Getenv("JOURNAL_STREAM")
	if js == "" || f == nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return js == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
