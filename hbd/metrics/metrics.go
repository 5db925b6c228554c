// Package metrics exposes hbd's state to Prometheus: node and link state,
// packets by outcome and drop reason, and what this node holds. Values are
// read from the daemon at scrape time, so nothing is duplicated or can drift.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"lvsha/hbd/api"
)

// Source is what the collector reads (daemon.Backend implements it).
type Source interface {
	Nodes() []api.NodeInfo
	Counters() map[string]uint64
	ResourceState() string
}

var (
	nodeStatus = prometheus.NewDesc("hbd_node_status", "Node status as cl_status nodestatus reports it (1 for the current status).", []string{"node", "status"}, nil)
	linkUp     = prometheus.NewDesc("hbd_link_up", "Whether a heartbeat link to a node is up.", []string{"node", "link"}, nil)
	dropped    = prometheus.NewDesc("hbd_packets_dropped_total", "Packets and messages dropped, by reason (bad_auth, bad_framing, old_generation, unknown_node, ...).", []string{"reason"}, nil)
	linkPkts   = prometheus.NewDesc("hbd_link_packets_total", "Datagrams per link and direction.", []string{"link", "direction"}, nil)
	linkErrs   = prometheus.NewDesc("hbd_link_send_errors_total", "Send errors per link.", []string{"link"}, nil)
	holding    = prometheus.NewDesc("hbd_resources_holding", "What this node holds, as cl_status rscstatus reports it (1 for the current value).", []string{"holding"}, nil)
	counter    = prometheus.NewDesc("hbd_events_total", "Other daemon counters (rx_packets, rx_accepted, rx_duplicates, tx_packets, tx_retransmits, rsc_transitions, rsc_failures, ...).", []string{"event"}, nil)

	fenceConfigured = prometheus.NewDesc("hbd_stonith_configured", "1 if a STONITH device (stonith / stonith_host) applies to this node.", []string{"device"}, nil)
	fenceAttempts   = prometheus.NewDesc("hbd_stonith_attempts_total", "STONITH reset attempts by result (OK, badhost, bad).", []string{"result"}, nil)
	fencePending    = prometheus.NewDesc("hbd_stonith_pending", "1 while a dead node must be reset before its groups are taken over (state: delayed, fencing, retrying).", []string{"node", "state"}, nil)
	fencePendingAtt = prometheus.NewDesc("hbd_stonith_pending_attempts", "Attempts made so far at the reset in progress.", nil, nil)
	fenceLastDur    = prometheus.NewDesc("hbd_stonith_last_duration_seconds", "How long the last reset attempt took.", []string{"node", "result"}, nil)
	fenceLastTime   = prometheus.NewDesc("hbd_stonith_last_attempt_timestamp_seconds", "When the last reset attempt started.", []string{"node", "result"}, nil)
	fenceDeviceOK   = prometheus.NewDesc("hbd_stonith_device_ok", "1 if the device's last status check (stonith -S, at start and hourly) passed.", nil, nil)
)

// fenceSource is implemented by a Source that knows the STONITH state
// (daemon.Backend does).
type fenceSource interface {
	Fencing() api.FenceStatus
}

// Collector is a prometheus.Collector over a Source.
type Collector struct{ src Source }

// NewCollector returns a collector reading src.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeStatus, linkUp, dropped, linkPkts, linkErrs, holding, counter,
		fenceConfigured, fenceAttempts, fencePending, fencePendingAtt, fenceLastDur, fenceLastTime, fenceDeviceOK} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.src.Nodes() {
		ch <- prometheus.MustNewConstMetric(nodeStatus, prometheus.GaugeValue, 1, n.Name, n.Status)
		for _, l := range n.Links {
			v := 0.0
			if l.Status == "up" {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(linkUp, prometheus.GaugeValue, v, n.Name, l.Name)
		}
	}
	for name, v := range c.src.Counters() {
		f := float64(v)
		switch {
		case strings.HasPrefix(name, "rx_dropped_"):
			ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, f, strings.TrimPrefix(name, "rx_dropped_"))
		case strings.HasPrefix(name, "link_") && strings.HasSuffix(name, "_send_errors"):
			ch <- prometheus.MustNewConstMetric(linkErrs, prometheus.CounterValue, f, strings.TrimSuffix(strings.TrimPrefix(name, "link_"), "_send_errors"))
		case strings.HasPrefix(name, "link_") && strings.HasSuffix(name, "_sent"):
			ch <- prometheus.MustNewConstMetric(linkPkts, prometheus.CounterValue, f, strings.TrimSuffix(strings.TrimPrefix(name, "link_"), "_sent"), "sent")
		case strings.HasPrefix(name, "link_") && strings.HasSuffix(name, "_received"):
			ch <- prometheus.MustNewConstMetric(linkPkts, prometheus.CounterValue, f, strings.TrimSuffix(strings.TrimPrefix(name, "link_"), "_received"), "received")
		default:
			ch <- prometheus.MustNewConstMetric(counter, prometheus.CounterValue, f, name)
		}
	}
	ch <- prometheus.MustNewConstMetric(holding, prometheus.GaugeValue, 1, c.src.ResourceState())
	if f, ok := c.src.(fenceSource); ok {
		collectFencing(ch, f.Fencing())
	}
}

func collectFencing(ch chan<- prometheus.Metric, st api.FenceStatus) {
	if !st.Configured {
		ch <- prometheus.MustNewConstMetric(fenceConfigured, prometheus.GaugeValue, 0, "")
		return
	}
	ch <- prometheus.MustNewConstMetric(fenceConfigured, prometheus.GaugeValue, 1, st.Device)
	for _, r := range []string{"OK", "badhost", "bad"} {
		ch <- prometheus.MustNewConstMetric(fenceAttempts, prometheus.CounterValue, float64(st.Results[r]), r)
	}
	if st.Node != "" {
		ch <- prometheus.MustNewConstMetric(fencePending, prometheus.GaugeValue, 1, st.Node, st.State)
	}
	ch <- prometheus.MustNewConstMetric(fencePendingAtt, prometheus.GaugeValue, float64(st.Attempts))
	if l := st.Last; l != nil {
		ch <- prometheus.MustNewConstMetric(fenceLastDur, prometheus.GaugeValue, float64(l.DurationMS)/1000, l.Node, l.Result)
		ch <- prometheus.MustNewConstMetric(fenceLastTime, prometheus.GaugeValue, float64(l.At.UnixMilli())/1000, l.Node, l.Result)
	}
	if st.DeviceOK != nil {
		v := 0.0
		if *st.DeviceOK {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(fenceDeviceOK, prometheus.GaugeValue, v)
	}
}

// Handler returns the /metrics handler over a private registry (no global
// state), with Go runtime and process metrics included.
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
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
