package main

import (
	"context"
	"log/slog"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"lvsha/hbd/daemon"
)

// notifySystemd tells systemd (Type=notify) that hbd is ready once its
// sockets are open and the loop runs, and feeds the watchdog while the
// daemon loop keeps running: a wedged loop stops the pings and systemd
// restarts hbd. Outside systemd both are no-ops.
func notifySystemd(ctx context.Context, d *daemon.Daemon, log *slog.Logger) {
	if ok, err := sd.SdNotify(false, sd.SdNotifyReady); err != nil {
		log.Warn("sd_notify READY failed", "err", err)
	} else if ok {
		log.Info("told systemd we are ready")
	}
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return
	}
	go func() {
		t := time.NewTicker(interval / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				sd.SdNotify(false, sd.SdNotifyStopping)
				return
			case <-t.C:
				if age := d.LoopAge(); age < interval/2 {
					sd.SdNotify(false, sd.SdNotifyWatchdog)
				} else {
					log.Error("daemon loop stalled: not feeding the systemd watchdog", "stalled", age)
				}
			}
		}
	}()
}
