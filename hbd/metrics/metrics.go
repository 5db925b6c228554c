// Package metrics exposes hbd's state to Prometheus: node and link state,
// packets by outcome and drop reason, and what this node holds. Values are
// read from the daemon at scrape time, so nothing is duplicated or can drift.
//
// hbd's families are written in the text exposition format by family
// below; the Go runtime and process metrics (go_*, process_*) come from
// github.com/VictoriaMetrics/metrics. Not prometheus/client_golang (which
// ldird uses): its protobuf-based data model is 2.3 MB of code, and in a
// daemon that locks its memory and must stay small (issue 18: RSS ≤ 12 MB)
// that was the difference. Every value here is a gauge or counter read at
// scrape time, which needs no registry.
package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"lvsha/hbd/api"
)

// Source is what the handler reads (daemon.Backend implements it).
type Source interface {
	Nodes() []api.NodeInfo
	Counters() map[string]uint64
	ResourceState() string
}

// fenceSource is implemented by a Source that knows the STONITH state
// (daemon.Backend does).
type fenceSource interface {
	Fencing() api.FenceStatus
}

// desc is one metric family: its name, type, help and label names.
type desc struct {
	name, typ, help string
	labels          []string
}

var (
	nodeStatus = desc{"hbd_node_status", "gauge", "Node status as cl_status nodestatus reports it (1 for the current status).", []string{"node", "status"}}
	linkUp     = desc{"hbd_link_up", "gauge", "Whether a heartbeat link to a node is up.", []string{"link", "node"}}
	dropped    = desc{"hbd_packets_dropped_total", "counter", "Packets and messages dropped, by reason (bad_auth, bad_framing, old_generation, unknown_node, ...).", []string{"reason"}}
	linkPkts   = desc{"hbd_link_packets_total", "counter", "Datagrams per link and direction.", []string{"direction", "link"}}
	linkErrs   = desc{"hbd_link_send_errors_total", "counter", "Send errors per link.", []string{"link"}}
	holding    = desc{"hbd_resources_holding", "gauge", "What this node holds, as cl_status rscstatus reports it (1 for the current value).", []string{"holding"}}
	counter    = desc{"hbd_events_total", "counter", "Other daemon counters (rx_packets, rx_accepted, rx_duplicates, tx_packets, tx_retransmits, rsc_transitions, rsc_failures, ...).", []string{"event"}}

	fenceConfigured = desc{"hbd_stonith_configured", "gauge", "1 if a STONITH device (stonith / stonith_host) applies to this node.", []string{"device"}}
	fenceAttempts   = desc{"hbd_stonith_attempts_total", "counter", "STONITH reset attempts by result (OK, badhost, bad).", []string{"result"}}
	fencePending    = desc{"hbd_stonith_pending", "gauge", "1 while a dead node must be reset before its groups are taken over (state: delayed, fencing, retrying).", []string{"node", "state"}}
	fencePendingAtt = desc{"hbd_stonith_pending_attempts", "gauge", "Attempts made so far at the reset in progress.", nil}
	fenceLastDur    = desc{"hbd_stonith_last_duration_seconds", "gauge", "How long the last reset attempt took.", []string{"node", "result"}}
	fenceLastTime   = desc{"hbd_stonith_last_attempt_timestamp_seconds", "gauge", "When the last reset attempt started.", []string{"node", "result"}}
	fenceDeviceOK   = desc{"hbd_stonith_device_ok", "gauge", "1 if the device's last status check (stonith -S, at start and hourly) passed.", nil}
)

// sample is one series of a family: label values in desc.labels' order.
type sample struct {
	values []string
	v      float64
}

// exposition collects a scrape's samples by family, then writes each
// family once (HELP, TYPE, its samples sorted), as the format requires.
type exposition struct {
	order []desc
	fams  map[string][]sample
}

func (e *exposition) add(d desc, v float64, values ...string) {
	if e.fams == nil {
		e.fams = map[string][]sample{}
	}
	if _, ok := e.fams[d.name]; !ok {
		e.order = append(e.order, d)
	}
	e.fams[d.name] = append(e.fams[d.name], sample{values, v})
}

func (e *exposition) write(b *bytes.Buffer) {
	for _, d := range e.order {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", d.name, escape(d.help, false), d.name, d.typ)
		ss := e.fams[d.name]
		lines := make([]string, 0, len(ss))
		for _, s := range ss {
			var l strings.Builder
			l.WriteString(d.name)
			if len(d.labels) > 0 {
				l.WriteByte('{')
				for i, n := range d.labels {
					if i > 0 {
						l.WriteByte(',')
					}
					l.WriteString(n + `="` + escape(s.values[i], true) + `"`)
				}
				l.WriteByte('}')
			}
			l.WriteString(" " + strconv.FormatFloat(s.v, 'g', -1, 64) + "\n")
			lines = append(lines, l.String())
		}
		sort.Strings(lines)
		for _, l := range lines {
			b.WriteString(l)
		}
	}
}

// escape is the text format's escaping: backslash and newline in help
// text, and also the double quote in label values.
func escape(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	if quote {
		r = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	}
	return r.Replace(s)
}

// collect reads src into e.
func collect(e *exposition, src Source) {
	for _, n := range src.Nodes() {
		e.add(nodeStatus, 1, n.Name, n.Status)
		for _, l := range n.Links {
			v := 0.0
			if l.Status == "up" {
				v = 1
			}
			e.add(linkUp, v, l.Name, n.Name)
		}
	}
	for name, v := range src.Counters() {
		f := float64(v)
		switch {
		case strings.HasPrefix(name, "rx_dropped_"):
			e.add(dropped, f, strings.TrimPrefix(name, "rx_dropped_"))
		case strings.HasPrefix(name, "link_") && strings.HasSuffix(name, "_send_errors"):
			e.add(linkErrs, f, strings.TrimSuffix(strings.TrimPrefix(name, "link_"), "_send_errors"))
		case strings.HasPrefix(name, "link_") && strings.HasSuffix(name, "_sent"):
			e.add(linkPkts, f, "sent", strings.TrimSuffix(strings.TrimPrefix(name, "link_"), "_sent"))
		case strings.HasPrefix(name, "link_") && strings.HasSuffix(name, "_received"):
			e.add(linkPkts, f, "received", strings.TrimSuffix(strings.TrimPrefix(name, "link_"), "_received"))
		default:
			e.add(counter, f, name)
		}
	}
	e.add(holding, 1, src.ResourceState())
	if f, ok := src.(fenceSource); ok {
		collectFencing(e, f.Fencing())
	}
}

func collectFencing(e *exposition, st api.FenceStatus) {
	if !st.Configured {
		e.add(fenceConfigured, 0, "")
		return
	}
	e.add(fenceConfigured, 1, st.Device)
	for _, r := range []string{"OK", "badhost", "bad"} {
		e.add(fenceAttempts, float64(st.Results[r]), r)
	}
	if st.Node != "" {
		e.add(fencePending, 1, st.Node, st.State)
	}
	e.add(fencePendingAtt, float64(st.Attempts))
	if l := st.Last; l != nil {
		e.add(fenceLastDur, float64(l.DurationMS)/1000, l.Node, l.Result)
		e.add(fenceLastTime, float64(l.At.UnixMilli())/1000, l.Node, l.Result)
	}
	if st.DeviceOK != nil {
		v := 0.0
		if *st.DeviceOK {
			v = 1
		}
		e.add(fenceDeviceOK, v)
	}
}

// Handler returns the /metrics handler: hbd's families, then the Go
// runtime and process metrics.
func Handler(src Source) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e exposition
		collect(&e, src)
		var b bytes.Buffer
		e.write(&b)
		vm.WriteProcessMetrics(&b)
		vm.WriteFDMetrics(&b)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write(b.Bytes())
	})
}

// Route is a handler served next to /metrics (the JSON status API shares
// the listener).
type Route struct {
	Path    string
	Handler http.Handler
}

// Serve listens on addr and serves /metrics, and extra, until ctx ends.
func Serve(ctx context.Context, addr string, src Source, log *slog.Logger, extra ...Route) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", Handler(src))
	for _, r := range extra {
		mux.Handle(r.Path, r.Handler)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
