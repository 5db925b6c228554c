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
)

// Collector is a prometheus.Collector over a Source.
type Collector struct{ src Source }

// NewCollector returns a collector reading src.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeStatus, linkUp, dropped, linkPkts, linkErrs, holding, counter} {
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
