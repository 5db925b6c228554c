package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
	"lvsha/ldird/director"
	"lvsha/ldird/metrics"
)

// fileChanged is the watcher's callback: ldirectord's check_cfgfile.
func (d *daemon) fileChanged(data []byte, firstEvent time.Time) {
	d.mu.Lock()
	auto := d.cfg.Global.AutoReload
	d.mu.Unlock()
	d.log.Info("Configuration file '"+d.path+"' has changed on disk", "autoreload", auto)
	if auto {
		d.log.Info(" - reread new configuration")
		_ = d.reload(data, firstEvent, metrics.TriggerAutoreload)
	} else {
		d.log.Info(" - ignore new configuration")
	}
	d.mu.Lock()
	cb := d.cfg.Global.Callback
	d.mu.Unlock()
	if cb != "" {
		if st, err := os.Stat(cb); err == nil && st.Mode()&0o111 != 0 {
			go director.RunShell(d.log, "/bin/sh", cb+" "+d.path, 5*time.Minute)
		}
	}
}

// reloadStall is how long the reload in progress has been running.
func (d *daemon) reloadStall() time.Duration {
	since := d.reloadSince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}

// reloadFromFile reads the configuration file and applies it (SIGHUP,
// `ldird reload`).
func (d *daemon) reloadFromFile(at time.Time, trigger string) error {
	data, err := os.ReadFile(d.path)
	if err != nil {
		d.log.Error("reload: keeping the running configuration", "trigger", trigger, "err", err)
		d.metrics.Reload(trigger, false, 0)
		err = fmt.Errorf("read %s: %w", d.path, err)
		d.reloads.Add(at, trigger, err)
		return err
	}
	if d.watcher != nil {
		d.watcher.Seen(data)
	}
	return d.reload(data, at, trigger)
}

// reload applies new file content, or keeps everything as it runs and
// logs every error with file:line (and returns them).
func (d *daemon) reload(data []byte, since time.Time, trigger string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reloadSince.Store(time.Now().UnixNano())
	defer d.reloadSince.Store(0)
	d.sd.Reloading()
	defer func() { d.sd.ReloadDone(d.statusLine()) }()
	cfg, err := config.ParseBytes(d.path, data, config.Options{FileChecks: true})
	if err == nil {
		err = director.Validate(cfg)
	}
	if err == nil {
		if dpName := dataplaneName(cfg); dpName != d.dpName {
			err = fmt.Errorf("%s: dataplane cannot change from %s to %s on reload; restart ldird", d.path, d.dpName, dpName)
		}
	}
	if err != nil {
		d.metrics.Reload(trigger, false, d.logConfigErrors(err, trigger))
		d.reloads.Add(time.Now(), trigger, err)
		return err
	}
	old := d.cfg
	if err := d.applySync(cfg, old.Global.SyncDaemon); err != nil {
		d.metrics.Reload(trigger, false, d.logConfigErrors(err, trigger))
		return err
	}
	if err := d.dir.Reload(cfg); err != nil {
		if serr := d.applySync(old, cfg.Global.SyncDaemon); serr != nil {
			d.log.Error("sync daemons: could not go back to the running configuration", "err", serr)
		}
		d.metrics.Reload(trigger, false, d.logConfigErrors(err, trigger))
		d.reloads.Add(time.Now(), trigger, err)
		return err
	}
	d.cfg = cfg
	if l, ok := d.dp.(dataplane.ConnLimiter); ok {
		l.SetMaxConns(cfg.Global.MaxConn) // per-virtual limits and timeouts came with the table
	}
	d.metrics.Reload(trigger, true, 0)
	d.reloads.Add(time.Now(), trigger, nil)
	d.setMetricsListener(d.metricsAddr(cfg))
	if g, o := cfg.Global, old.Global; g.LogFile != o.LogFile || g.Supervised != o.Supervised {
		if h, closer, err := newLogHandler(d.inv.debug, d.inv.foreground, g.Supervised, g.LogFile, os.Stderr); err != nil {
			d.log.Error("new logfile unusable; logging stays where it was", "logfile", g.LogFile, "err", err)
		} else {
			d.swap.set(h)
			if d.closer != nil {
				d.closer.Close()
			}
			d.closer = closer
		}
	}
	d.reloadExecute(old.Global.Execute, cfg.Global.Execute)
	d.log.Info("configuration applied", "trigger", trigger, "latency", time.Since(since), "virtuals", len(cfg.Virtuals))
	return nil
}

// reloadExecute stops the execute= instances no longer named, reloads
// those still named and starts the new ones.
func (d *daemon) reloadExecute(old, cur []string) {
	for _, n := range old {
		if !slices.Contains(cur, n) {
			d.execute([]string{n}, "stop")
		}
	}
	for _, n := range cur {
		if slices.Contains(old, n) {
			d.execute([]string{n}, "reload")
		} else {
			d.execute([]string{n}, "start")
		}
	}
}

// errorList flattens a configuration error into its single errors.
func errorList(err error) []error {
	var es config.Errors
	if errors.As(err, &es) {
		list := make([]error, 0, len(es))
		for _, e := range es {
			list = append(list, e)
		}
		return list
	}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()
	}
	return []error{err}
}

// logConfigErrors logs every error of a refused configuration and returns
// how many there were.
func (d *daemon) logConfigErrors(err error, trigger string) int {
	list := errorList(err)
	for _, e := range list {
		var ce *config.Error
		if errors.As(e, &ce) {
			d.log.Error("configuration error; keeping the running configuration", "trigger", trigger,
				"file", ce.File, "line", ce.Line, "error", ce.Msg, "where", fmt.Sprintf("%s:%d", ce.File, ce.Line))
			continue
		}
		d.log.Error("configuration error; keeping the running configuration", "trigger", trigger, "error", e.Error())
	}
	return len(list)
}
