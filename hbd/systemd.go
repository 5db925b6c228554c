package main

import (
	"context"
	"log/slog"
	"time"

	"lvsha/internal/sdnotify"
)

// loopClock is what the watchdog feed looks at (*daemon.Daemon).
type loopClock interface {
	// LoopAge is how long ago the daemon loop last ran.
	LoopAge() time.Duration
}

// notifySystemd tells systemd (Type=notify) that hbd is ready once its
// sockets are open and the loop runs, and feeds the watchdog while the
// daemon loop keeps running: a wedged loop stops the pings and systemd
// restarts hbd. Outside systemd it is a no-op. The environment keeps
// NOTIFY_SOCKET, because hbd re-executes itself on a changed ha.cf; agents
// and respawned programs get it removed (resources.ChildEnv).
//
// The feed ends with ctx and says nothing more: the caller sends STOPPING=1
// on a real stop and RELOADING=1 before a re-exec (the same PID then says
// READY=1 again), so systemd never takes a re-exec for a stop.
func notifySystemd(ctx context.Context, d loopClock, log *slog.Logger) *sdnotify.Notifier {
	n := sdnotify.New(log, sdnotify.Options{KeepEnv: true})
	n.Ready("")
	interval := n.Watchdog()
	if interval == 0 {
		return n
	}
	go func() {
		t := time.NewTicker(interval / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				n.WatchdogTick(d.LoopAge())
			}
		}
	}()
	return n
}
