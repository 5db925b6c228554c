package main

import (
	"lvsha/ldird/config"
	"lvsha/ldird/metrics"
)

// metricsAddr is where metrics are served for cfg: --metrics, else the
// metrics directive, else nowhere ("").
func (d *daemon) metricsAddr(cfg *config.Config) string {
	if d.inv.metricsAddr != "" {
		return d.inv.metricsAddr
	}
	return cfg.Global.Metrics
}

// setMetricsListener serves metrics on addr ("" = off). A new address is
// opened before the old listener closes; if it cannot be opened the old
// one stays. d.mu is held, or the daemon is still single-threaded.
func (d *daemon) setMetricsListener(addr string) {
	if addr == d.msrvAddr && (addr == "" || d.msrv != nil) {
		return
	}
	if addr == "" {
		if err := d.msrv.Close(); err != nil {
			d.log.Warn("metrics listener", "err", err)
		}
		d.log.Info("metrics off", "addr", d.msrvAddr)
		d.msrv, d.msrvAddr = nil, ""
		return
	}
	s, err := metrics.Listen(addr, d.metrics, d.log)
	if err != nil {
		d.log.Error("metrics not served at the new address; the director runs on", "addr", addr, "err", err,
			"still_serving", d.msrvAddr)
		return
	}
	if d.msrv != nil {
		if err := d.msrv.Close(); err != nil {
			d.log.Warn("metrics listener", "err", err)
		}
	}
	d.msrv, d.msrvAddr = s, addr
}
