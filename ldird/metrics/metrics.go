// Package metrics exposes ldird to Prometheus on an opt-in listen address:
// per-real health and weight, check results and latency per virtual, the
// table's size, dataplane operations, reloads and configuration errors.
//
// State (health, weights, fallback, table size) is read from the director
// at scrape time, so it cannot drift from what `ldird status` prints;
// events (check results, table operations, reloads) are counted as they
// happen. Label cardinality stays bounded for large farms: per-real series
// are two gauges (ldird_real_up, ldird_real_weight); counters and the
// latency histogram are per virtual, never per real. Everything lives in a
// private registry (no global state).
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

	"lvsha/ldird/director"
)

// Source is what the collector reads at scrape time (*director.Director
// implements it).
type Source interface {
	Snapshot() director.Snapshot
}

// SourceFunc adapts a function to Source. The director takes its observer
// (the Metrics) when it is built, so the daemon hands New a function that
// reads the director built next.
type SourceFunc func() director.Snapshot

// Snapshot implements Source.
func (f SourceFunc) Snapshot() director.Snapshot { return f() }

// Reload triggers, the values of the trigger label of ldird_reloads_total.
const (
	TriggerAutoreload = "autoreload" // autoreload=yes saw the file change
	TriggerSIGHUP     = "sighup"     // SIGHUP (kill -HUP, ExecReload=kill -HUP)
	TriggerCommand    = "command"    // `ldird reload` / `force-reload` over the control socket
)

// Options describe the daemon in ldird_info.
type Options struct {
	Version   string
	Dataplane string // "ipvs" or "userspace"
	// Proxy, when set, adds the userspace dataplane's connection counts,
	// limits, refusals and timeouts (ldird_userspace_*).
	Proxy Proxy
	// Sync, when set, is read at scrape time for the connection
	// synchronisation series (ldird_sync_daemon, ldird_ipvs_connections).
	Sync func() SyncState
}

// SyncState is the kernel's connection synchronisation at one scrape.
// The kernel keeps no counters for it (messages sent, received, dropped):
// what there is to see is which daemons run and how many entries of the
// connection table came from another director.
type SyncState struct {
	Daemons []SyncDaemon
	Err     error // the daemons could not be read
	// Local and Synced count the connection table by origin; ConnErr says
	// why they could not be.
	Local, Synced int
	ConnErr       error
}

// SyncDaemon is one running sync daemon.
type SyncDaemon struct {
	Role, Interface, Group string // Group: ADDRESS:PORT
	SyncID                 int
	Ours                   bool // started by ldird
}

var (
	realUp = prometheus.NewDesc("ldird_real_up",
		"Whether a real server is up: its check passes and it is not in maintenance (1) or not (0).",
		[]string{"protocol", "virtual", "real"}, nil)
	realWeight = prometheus.NewDesc("ldird_real_weight",
		"Weight of a real server in the table (0 when quiesced or not in the table).",
		[]string{"protocol", "virtual", "real"}, nil)
	realInTable = prometheus.NewDesc("ldird_real_in_table",
		"Whether a real server has an entry in the table (a quiesced real has one at weight 0; with quiescent=no a failed real has none).",
		[]string{"protocol", "virtual", "real"}, nil)
	fallbackActive = prometheus.NewDesc("ldird_virtual_fallback_active",
		"Whether the virtual's fallback server is in the table (every real is down).",
		[]string{"protocol", "virtual"}, nil)
	virtualReals = prometheus.NewDesc("ldird_virtual_reals",
		"Configured real servers of a virtual by state (up, down).",
		[]string{"protocol", "virtual", "state"}, nil)
	tableServices = prometheus.NewDesc("ldird_table_services",
		"Virtual services in the dataplane table (all of them, as ipvsadm -L -n lists them).", nil, nil)
	tableDests = prometheus.NewDesc("ldird_table_destinations",
		"Real servers in the dataplane table, summed over every service.", nil, nil)
	tableReadOK = prometheus.NewDesc("ldird_table_read_ok",
		"Whether the table could be read at this scrape (0: table metrics are missing or partial).", nil, nil)
	configVirtuals = prometheus.NewDesc("ldird_config_virtuals",
		"Virtual services in the running configuration.", nil, nil)
	syncDaemon = prometheus.NewDesc("ldird_sync_daemon",
		"An IPVS connection synchronisation daemon the kernel runs (always 1), by role (master, backup), interface, sync id, multicast group and who started it (ldird, other).",
		[]string{"role", "interface", "syncid", "group", "started_by"}, nil)
	syncReadOK = prometheus.NewDesc("ldird_sync_daemons_read_ok",
		"Whether the kernel's sync daemons could be read at this scrape.", nil, nil)
	ipvsConns = prometheus.NewDesc("ldird_ipvs_connections",
		"Entries of the kernel's IPVS connection table by origin: local (scheduled by this director) or sync (learnt from another director's master sync daemon).",
		[]string{"origin"}, nil)
)

// Metrics holds ldird's registry and event counters; it implements
// director.Observer and director.CheckSinker. The zero value is not
// usable; call New.
type Metrics struct {
	reg *prometheus.Registry

	checks     *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	startDelay prometheus.Histogram
	ops        *prometheus.CounterVec
	reloads    *prometheus.CounterVec
	cfgErrors  *prometheus.CounterVec
	lastOK     prometheus.Gauge
	lastOKAt   prometheus.Gauge

	// routes are served next to /metrics by Listen (the JSON status API).
	routes map[string]http.Handler
}

// Handle serves h at path on the listeners Listen opens from now on, next
// to /metrics (the JSON status API shares the metrics listener).
func (m *Metrics) Handle(path string, h http.Handler) {
	if m.routes == nil {
		m.routes = map[string]http.Handler{}
	}
	m.routes[path] = h
}

// checkBuckets span a LAN check (well under a millisecond) to the longest
// checktimeout one is likely to configure.
var checkBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// startDelayBuckets span a timer's slack (a check normally starts within
// a millisecond of its due time) to several intervals behind.
var startDelayBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New builds the registry over src. The configuration counts as loaded
// successfully now (ldird_config_last_reload_successful 1).
func New(src Source, o Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ldird_check_results_total",
			Help: "Health check results per virtual, by outcome (ok, failed, timeout). A real checked for several virtuals counts in each."},
			[]string{"protocol", "virtual", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ldird_check_duration_seconds",
			Help: "Wall time of health checks per virtual, whatever their outcome.", Buckets: checkBuckets},
			[]string{"protocol", "virtual"}),
		startDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ldird_check_start_delay_seconds",
			Help:    "How long after its due time each scheduled health check started (a real's first check is not counted). Past a quarter of checkinterval a round is late: ldird or its machine is not keeping up (and ldird logs a warning).",
			Buckets: startDelayBuckets}),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ldird_dataplane_operations_total",
			Help: "Table changes ldird attempted, by operation (add_service, update_service, del_service, add_dest, update_dest, del_dest) and result (ok, failed)."},
			[]string{"op", "result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ldird_reloads_total",
			Help: "Configuration reloads by trigger (autoreload, sighup, command) and result (ok, failed: the running configuration was kept)."},
			[]string{"trigger", "result"}),
		cfgErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ldird_config_errors_total",
			Help: "Errors (each logged with file:line) found in configurations that a reload refused, by trigger."},
			[]string{"trigger"}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ldird_config_last_reload_successful",
			Help: "Whether the last configuration load or reload was applied (1) or refused (0)."}),
		lastOKAt: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ldird_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded or reloaded successfully (Unix time)."}),
	}
	m.lastOK.Set(1)
	m.lastOKAt.SetToCurrentTime()
	for _, t := range []string{TriggerAutoreload, TriggerSIGHUP, TriggerCommand} {
		for _, r := range []string{"ok", "failed"} {
			m.reloads.WithLabelValues(t, r)
		}
		m.cfgErrors.WithLabelValues(t)
	}
	for k := director.AddService; k <= director.DelService; k++ {
		m.ops.WithLabelValues(opName(k), "ok")
		m.ops.WithLabelValues(opName(k), "failed")
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ldird_info", Help: "ldird's version and dataplane (always 1).",
		ConstLabels: prometheus.Labels{"version": o.Version, "dataplane": o.Dataplane}})
	info.Set(1)
	if o.Sync != nil {
		m.reg.MustRegister(syncCollector(o.Sync))
	}
	m.reg.MustRegister(&collector{src: src}, m.checks, m.latency, m.startDelay, m.ops, m.reloads, m.cfgErrors, m.lastOK, m.lastOKAt, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.Proxy != nil {
		m.reg.MustRegister(&proxyCollector{p: o.Proxy})
	}
	return m
}

// opName is an OpKind as a label value: AddDest -> add_dest.
func opName(k director.OpKind) string {
	var b strings.Builder
	for i, c := range k.String() {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

var _ director.CheckSinker = (*Metrics)(nil)

// CheckResult implements director.Observer.
func (m *Metrics) CheckResult(v director.VirtualID, outcome string, latency time.Duration) {
	m.checks.WithLabelValues(v.Protocol, v.Virtual, outcome).Inc()
	m.latency.WithLabelValues(v.Protocol, v.Virtual).Observe(latency.Seconds())
}

// CheckSink implements director.CheckSinker: CheckResult(v, outcome, ·)
// with its two series looked up once, for the results the checks'
// goroutines report themselves (thousands a second).
func (m *Metrics) CheckSink(v director.VirtualID, outcome string) func(time.Duration) {
	c := m.checks.WithLabelValues(v.Protocol, v.Virtual, outcome)
	h := m.latency.WithLabelValues(v.Protocol, v.Virtual)
	return func(latency time.Duration) {
		c.Inc()
		h.Observe(latency.Seconds())
	}
}

// CheckStartDelay implements director.Observer.
func (m *Metrics) CheckStartDelay(d time.Duration) { m.startDelay.Observe(d.Seconds()) }

// TableOp implements director.Observer.
func (m *Metrics) TableOp(kind director.OpKind, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.ops.WithLabelValues(opName(kind), result).Inc()
}

// VirtualRemoved implements director.Observer: the virtual's counters and
// histogram are dropped, so reloads that rename virtuals do not leave
// series behind.
func (m *Metrics) VirtualRemoved(v director.VirtualID) {
	l := prometheus.Labels{"protocol": v.Protocol, "virtual": v.Virtual}
	m.checks.DeletePartialMatch(l)
	m.latency.DeletePartialMatch(l)
}

// Reload records one reload: applied (errs == 0 and ok) or refused with
// errs configuration errors.
func (m *Metrics) Reload(trigger string, ok bool, errs int) {
	if ok {
		m.reloads.WithLabelValues(trigger, "ok").Inc()
		m.lastOK.Set(1)
		m.lastOKAt.SetToCurrentTime()
		return
	}
	m.reloads.WithLabelValues(trigger, "failed").Inc()
	m.cfgErrors.WithLabelValues(trigger).Add(float64(errs))
	m.lastOK.Set(0)
}

// Handler is the /metrics handler over the private registry (with Go
// runtime and process metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// collector reads the director's snapshot at scrape time.
type collector struct{ src Source }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{realUp, realWeight, realInTable, fallbackActive, virtualReals,
		tableServices, tableDests, tableReadOK, configVirtuals} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	seenV := map[director.VirtualID]bool{}
	for _, v := range s.Virtuals {
		if seenV[v.ID] {
			continue
		}
		seenV[v.ID] = true
		p, vn := v.ID.Protocol, v.ID.Virtual
		up, down := 0, 0
		seenR := map[string]bool{}
		for _, r := range v.Reals {
			if seenR[r.Real] {
				continue
			}
			seenR[r.Real] = true
			if r.Up {
				up++
			} else {
				down++
			}
			ch <- prometheus.MustNewConstMetric(realUp, prometheus.GaugeValue, b2f(r.Up), p, vn, r.Real)
			if s.TableErr == nil {
				ch <- prometheus.MustNewConstMetric(realWeight, prometheus.GaugeValue, float64(r.Weight), p, vn, r.Real)
				ch <- prometheus.MustNewConstMetric(realInTable, prometheus.GaugeValue, b2f(r.InTable), p, vn, r.Real)
			}
		}
		ch <- prometheus.MustNewConstMetric(virtualReals, prometheus.GaugeValue, float64(up), p, vn, "up")
		ch <- prometheus.MustNewConstMetric(virtualReals, prometheus.GaugeValue, float64(down), p, vn, "down")
		if s.TableErr == nil {
			ch <- prometheus.MustNewConstMetric(fallbackActive, prometheus.GaugeValue, b2f(v.FallbackActive), p, vn)
		}
	}
	ch <- prometheus.MustNewConstMetric(configVirtuals, prometheus.GaugeValue, float64(len(seenV)))
	ch <- prometheus.MustNewConstMetric(tableReadOK, prometheus.GaugeValue, b2f(s.TableErr == nil))
	if s.TableErr == nil {
		ch <- prometheus.MustNewConstMetric(tableServices, prometheus.GaugeValue, float64(s.TableServices))
		ch <- prometheus.MustNewConstMetric(tableDests, prometheus.GaugeValue, float64(s.TableDests))
	}
}

// syncCollector reads the sync daemons and the connection table's origins
// at scrape time.
type syncCollector func() SyncState

func (c syncCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- syncDaemon
	ch <- syncReadOK
	ch <- ipvsConns
}

func (c syncCollector) Collect(ch chan<- prometheus.Metric) {
	st := c()
	ch <- prometheus.MustNewConstMetric(syncReadOK, prometheus.GaugeValue, b2f(st.Err == nil))
	for _, d := range st.Daemons {
		by := "other"
		if d.Ours {
			by = "ldird"
		}
		ch <- prometheus.MustNewConstMetric(syncDaemon, prometheus.GaugeValue, 1,
			d.Role, d.Interface, fmt.Sprint(d.SyncID), d.Group, by)
	}
	if st.ConnErr == nil {
		ch <- prometheus.MustNewConstMetric(ipvsConns, prometheus.GaugeValue, float64(st.Local), "local")
		ch <- prometheus.MustNewConstMetric(ipvsConns, prometheus.GaugeValue, float64(st.Synced), "sync")
	}
}

// Server serves /metrics on one listen address.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Listen opens addr and serves m's /metrics on it in the background.
func Listen(addr string, m *Metrics, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	for p, h := range m.routes {
		mux.Handle(p, h)
	}
	s := &Server{ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: time.Minute}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening and waits (up to 2 s) for scrapes in flight.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	if err != nil {
		return fmt.Errorf("metrics server %s: %w", s.Addr(), err)
	}
	return nil
}
