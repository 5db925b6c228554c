package main

import (
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
	"lvsha/ldird/metrics"
	"lvsha/ldird/syncd"
)

// syncPath is the record of the sync daemons this instance started.
func syncPath(cfgName string) string {
	return filepath.Join(runDir(), "ldird."+cfgName+".syncd")
}

// syncError names the syncdaemon line of cfg in err, so it is logged and
// answered as file:line like a configuration error.
func syncError(cfg *config.Config, sd *config.SyncDaemon, err error) error {
	if sd == nil {
		return fmt.Errorf("syncdaemon removed: %w", err)
	}
	return &config.Error{File: cfg.Path, Line: sd.Line, Msg: "syncdaemon: " + err.Error(), Err: err}
}

// applySync makes the kernel's sync daemons follow cfg; on an error the
// ones of old are put back (old nil: none of ldird's), and the error names
// cfg's syncdaemon line. d.mu is held, or the daemon is starting.
func (d *daemon) applySync(cfg *config.Config, old *config.SyncDaemon) error {
	sd := cfg.Global.SyncDaemon
	if d.syncd == nil {
		if sd != nil {
			return syncError(cfg, sd, fmt.Errorf("the %s dataplane cannot synchronise connections", d.dpName))
		}
		return nil
	}
	err := d.syncd.Apply(sd)
	if err == nil {
		return nil
	}
	if rerr := d.syncd.Apply(old); rerr != nil {
		d.log.Error("sync daemons: could not go back to the running configuration", "err", rerr)
	}
	return syncError(cfg, sd, err)
}

// connOrigins counts the connection table by origin, when the dataplane
// can (IPVS).
type connOrigins interface {
	ConnOrigins() (local, synced int, err error)
}

// writeSyncStatus is `ldird status`'s connection synchronisation section.
func (d *daemon) writeSyncStatus(w io.Writer) {
	fmt.Fprintln(w)
	if d.syncd == nil {
		fmt.Fprintf(w, "Connection synchronisation (ldird): not available with dataplane = %s\n", d.dpName)
		return
	}
	ds, sd, err := d.syncd.Status()
	switch {
	case sd == nil:
		fmt.Fprintln(w, "Connection synchronisation (ldird): off (no syncdaemon directive)")
	default:
		fmt.Fprintf(w, "Connection synchronisation (ldird): syncdaemon = %s (%s:%d)\n", syncSpec(sd), d.path, sd.Line)
	}
	if err != nil {
		fmt.Fprintf(w, "  sync daemons unreadable: %v\n", err)
		return
	}
	if len(ds) == 0 {
		fmt.Fprintln(w, "  no sync daemon runs")
	}
	for _, x := range ds {
		who := "started by ldird"
		if !x.Ours {
			who = "started by someone else (ldird leaves it)"
		}
		fmt.Fprintf(w, "  %s  %s\n", x.SyncDaemon, who)
	}
	if co, ok := d.dp.(connOrigins); ok {
		if local, synced, err := co.ConnOrigins(); err == nil {
			fmt.Fprintf(w, "  connections: %d in the table, %d of them learnt from another director\n", local+synced, synced)
		} else {
			fmt.Fprintf(w, "  connections unreadable: %v\n", err)
		}
	}
}

// syncState is what the metrics show of the synchronisation at a scrape.
func (d *daemon) syncState() metrics.SyncState {
	var st metrics.SyncState
	ds, _, err := d.syncd.Status()
	st.Err = err
	for _, x := range ds {
		st.Daemons = append(st.Daemons, metrics.SyncDaemon{Role: string(x.Role), Interface: x.Interface,
			SyncID: int(x.SyncID), Group: x.GroupPort(), Ours: x.Ours})
	}
	if co, ok := d.dp.(connOrigins); ok {
		st.Local, st.Synced, st.ConnErr = co.ConnOrigins()
	} else {
		st.ConnErr = fmt.Errorf("the %s dataplane has no connection table", d.dpName)
	}
	return st
}

// syncSpec is the directive's value as it would be written.
func syncSpec(sd *config.SyncDaemon) string {
	s := sd.Interface
	if sd.SyncID != 0 {
		s += fmt.Sprintf(" syncid=%d", sd.SyncID)
	}
	if sd.MaxLen != 0 {
		s += fmt.Sprintf(" maxlen=%d", sd.MaxLen)
	}
	switch {
	case sd.Group.IsValid() && sd.Port != 0:
		s += " mcast=" + netip.AddrPortFrom(sd.Group, sd.Port).String()
	case sd.Group.IsValid():
		s += " mcast=" + sd.Group.String()
	}
	if sd.TTL != 0 {
		s += fmt.Sprintf(" ttl=%d", sd.TTL)
	}
	return s
}

// WriteConnections is control.Backend: the connection table in the layout
// of `ipvsadm -Lnc`, with each entry's origin added (local: scheduled
// here; sync: learnt from another director's master sync daemon).
func (d *daemon) WriteConnections(w io.Writer) error {
	cl, ok := d.dp.(dataplane.ConnLister)
	if !ok {
		fmt.Fprintf(w, "The %s dataplane keeps no connection table to list: it is a proxy, and each connection ends in ldird. "+
			"`ldird status` shows each real server's active and inactive connections.\n", d.dpName)
		return nil
	}
	conns, err := cl.Connections()
	if err != nil {
		return err
	}
	WriteConns(w, conns)
	return nil
}

// WriteConns prints conns as ipvsadm -Lnc does (its column widths, the
// expiry as mm:ss), plus an origin column.
func WriteConns(w io.Writer, conns []dataplane.Conn) {
	fmt.Fprintln(w, "IPVS connection entries")
	fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %-18s %s\n", "state", "source", "virtual", "destination", "origin")
	for _, c := range conns {
		secs := int(c.Expires / time.Second)
		origin := "local"
		if c.Synced {
			origin = "sync"
		}
		fmt.Fprintf(w, "%-3s %-6s %-11s %-18s %-18s %-18s %s\n", c.Protocol, fmt.Sprintf("%02d:%02d", secs/60, secs%60),
			c.State, c.Client, c.Virtual, c.Real, origin)
	}
}

// syncLogValue is a daemon list for a log line.
func syncLogValue(ds []syncd.Daemon) string {
	var parts []string
	for _, x := range ds {
		parts = append(parts, x.SyncDaemon.String())
	}
	return strings.Join(parts, "; ")
}
