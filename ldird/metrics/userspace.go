package metrics

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"lvsha/ldird/dataplane/userspace"
)

// Proxy is what the userspace dataplane's collector reads at scrape time
// (*userspace.Proxy implements it).
type Proxy interface {
	Stats() []userspace.ServiceStats
	GlobalStats() userspace.GlobalStats
}

var _ Proxy = (*userspace.Proxy)(nil)

var (
	proxyConns = prometheus.NewDesc("ldird_userspace_connections",
		"Userspace dataplane: TCP connections (connecting or relayed) and UDP sessions of a virtual, what counts against its maxconn.",
		[]string{"protocol", "virtual"}, nil)
	proxyLimit = prometheus.NewDesc("ldird_userspace_connection_limit",
		"Userspace dataplane: a virtual's own maxconn (absent when it has none).",
		[]string{"protocol", "virtual"}, nil)
	proxyGlobalConns = prometheus.NewDesc("ldird_userspace_global_connections",
		"Userspace dataplane: TCP connections and UDP sessions over every virtual.", nil, nil)
	proxyGlobalLimit = prometheus.NewDesc("ldird_userspace_global_connection_limit",
		"Userspace dataplane: the global maxconn in force (set, or derived from the file descriptor limit).", nil, nil)
	proxyLimitReached = prometheus.NewDesc("ldird_userspace_limit_reached_total",
		"Userspace dataplane: times a virtual stopped accepting at its own maxconn (limit=virtual) or the global one (limit=global); its TCP clients then wait in the listen queue.",
		[]string{"protocol", "virtual", "limit"}, nil)
	proxyRefused = prometheus.NewDesc("ldird_userspace_refused_total",
		"Userspace dataplane: clients turned away, by reason: no_real (TCP reset or UDP datagram dropped: no real available or every connect failed), limit (UDP: a new client's datagram at a maxconn), no_fd (no socket for a UDP session or a TCP retry).",
		[]string{"protocol", "virtual", "reason"}, nil)
	proxyPaused = prometheus.NewDesc("ldird_userspace_accept_paused_total",
		"Userspace dataplane: times a virtual paused accepting for want of file descriptors or socket memory (EMFILE, ENFILE, ENOBUFS, ENOMEM); its clients wait.",
		[]string{"protocol", "virtual"}, nil)
	proxyTimeouts = prometheus.NewDesc("ldird_userspace_idle_timeouts_total",
		"Userspace dataplane: TCP connections reset by an idle timeout, by side (client: clienttimeout, server: servertimeout).",
		[]string{"protocol", "virtual", "side"}, nil)
)

// proxyCollector reads the userspace dataplane's counters at scrape time.
type proxyCollector struct{ p Proxy }

func (c *proxyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{proxyConns, proxyLimit, proxyGlobalConns, proxyGlobalLimit,
		proxyLimitReached, proxyRefused, proxyPaused, proxyTimeouts} {
		ch <- d
	}
}

func (c *proxyCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.p.GlobalStats()
	ch <- prometheus.MustNewConstMetric(proxyGlobalConns, prometheus.GaugeValue, float64(g.Current))
	ch <- prometheus.MustNewConstMetric(proxyGlobalLimit, prometheus.GaugeValue, float64(g.MaxConns))
	for _, s := range c.p.Stats() {
		p, v := s.Service.Protocol, netip.AddrPortFrom(s.Service.Addr, s.Service.Port).String()
		ch <- prometheus.MustNewConstMetric(proxyConns, prometheus.GaugeValue, float64(s.Current), p, v)
		if s.Service.MaxConns > 0 {
			ch <- prometheus.MustNewConstMetric(proxyLimit, prometheus.GaugeValue, float64(s.Service.MaxConns), p, v)
		}
		ch <- prometheus.MustNewConstMetric(proxyLimitReached, prometheus.CounterValue, float64(s.LimitVirtual), p, v, "virtual")
		ch <- prometheus.MustNewConstMetric(proxyLimitReached, prometheus.CounterValue, float64(s.LimitGlobal), p, v, "global")
		for _, r := range []string{userspace.RefusedNoReal, userspace.RefusedLimit, userspace.RefusedNoFD} {
			ch <- prometheus.MustNewConstMetric(proxyRefused, prometheus.CounterValue, float64(s.Refused[r]), p, v, r)
		}
		ch <- prometheus.MustNewConstMetric(proxyPaused, prometheus.CounterValue, float64(s.AcceptErrors), p, v)
		ch <- prometheus.MustNewConstMetric(proxyTimeouts, prometheus.CounterValue, float64(s.ClientTimeouts), p, v, "client")
		ch <- prometheus.MustNewConstMetric(proxyTimeouts, prometheus.CounterValue, float64(s.ServerTimeouts), p, v, "server")
	}
}
