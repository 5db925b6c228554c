package metrics

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"lvsha/ldird/dataplane"
	"lvsha/ldird/dataplane/userspace"
	"lvsha/ldird/director"
)

type fakeProxy struct {
	stats  []userspace.ServiceStats
	global userspace.GlobalStats
}

func (f *fakeProxy) Stats() []userspace.ServiceStats    { return f.stats }
func (f *fakeProxy) GlobalStats() userspace.GlobalStats { return f.global }

func TestUserspaceMetrics(t *testing.T) {
	vip := netip.MustParseAddr("10.0.0.100")
	fp := &fakeProxy{
		global: userspace.GlobalStats{Current: 7, MaxConns: 1000},
		stats: []userspace.ServiceStats{
			{Service: dataplane.Service{Protocol: "tcp", Addr: vip, Port: 80, MaxConns: 5}, Current: 5,
				LimitVirtual: 3, LimitGlobal: 1, AcceptErrors: 2, ClientTimeouts: 4, ServerTimeouts: 6,
				Refused: map[string]uint64{userspace.RefusedNoReal: 9, userspace.RefusedLimit: 0, userspace.RefusedNoFD: 1}},
			{Service: dataplane.Service{Protocol: "udp", Addr: vip, Port: 53}, Current: 2,
				Refused: map[string]uint64{userspace.RefusedNoReal: 0, userspace.RefusedLimit: 8, userspace.RefusedNoFD: 0}},
		},
	}
	m := New(&fakeSource{snap: director.Snapshot{}}, Options{Version: "test", Dataplane: "userspace", Proxy: fp})
	body := scrape(t, m.Handler())
	tcp, udp := `{protocol="tcp",virtual="10.0.0.100:80"`, `{protocol="udp",virtual="10.0.0.100:53"`
	want(t, body, "ldird_userspace_global_connections", 7)
	want(t, body, "ldird_userspace_global_connection_limit", 1000)
	want(t, body, "ldird_userspace_connections"+tcp+"}", 5)
	want(t, body, "ldird_userspace_connections"+udp+"}", 2)
	want(t, body, "ldird_userspace_connection_limit"+tcp+"}", 5)
	if strings.Contains(body, "ldird_userspace_connection_limit"+udp) {
		t.Error("a limit series for a virtual without its own maxconn")
	}
	want(t, body, `ldird_userspace_limit_reached_total{limit="virtual",protocol="tcp",virtual="10.0.0.100:80"}`, 3)
	want(t, body, `ldird_userspace_limit_reached_total{limit="global",protocol="tcp",virtual="10.0.0.100:80"}`, 1)
	want(t, body, `ldird_userspace_refused_total{protocol="tcp",reason="no_real",virtual="10.0.0.100:80"}`, 9)
	want(t, body, `ldird_userspace_refused_total{protocol="tcp",reason="no_fd",virtual="10.0.0.100:80"}`, 1)
	want(t, body, `ldird_userspace_refused_total{protocol="udp",reason="limit",virtual="10.0.0.100:53"}`, 8)
	want(t, body, "ldird_userspace_accept_paused_total"+tcp+"}", 2)
	want(t, body, `ldird_userspace_idle_timeouts_total{protocol="tcp",side="client",virtual="10.0.0.100:80"}`, 4)
	want(t, body, `ldird_userspace_idle_timeouts_total{protocol="tcp",side="server",virtual="10.0.0.100:80"}`, 6)

	// Without a proxy (ipvs), no userspace series at all.
	body = scrape(t, New(&fakeSource{}, Options{Dataplane: "ipvs"}).Handler())
	if strings.Contains(body, "ldird_userspace_") {
		t.Errorf("userspace series with the ipvs dataplane:\n%s", grepLdird(body))
	}
}

// TestUserspaceMetricsLive reads a real proxy: a client reset for want of
// a real is counted under its virtual.
func TestUserspaceMetricsLive(t *testing.T) {
	p := userspace.New(userspace.Options{MaxConns: 50})
	defer p.Close()
	svc := dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("127.0.0.1"), Port: freeTCPPort(t), Scheduler: "rr", MaxConns: 3}
	if err := p.AddService(svc); err != nil {
		t.Fatal(err)
	}
	if c, err := dialTCP(svc); err == nil {
		c.SetReadDeadline(deadline())
		c.Read(make([]byte, 1)) // the reset
		c.Close()
	}
	m := New(&fakeSource{}, Options{Dataplane: "userspace", Proxy: p})
	body := scrape(t, m.Handler())
	v := `virtual="127.0.0.1:` + itoa(svc.Port) + `"`
	want(t, body, `ldird_userspace_refused_total{protocol="tcp",reason="no_real",`+v+`}`, 1)
	want(t, body, `ldird_userspace_connection_limit{protocol="tcp",`+v+`}`, 3)
	want(t, body, "ldird_userspace_global_connection_limit", 50)
}

func freeTCPPort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func dialTCP(svc dataplane.Service) (net.Conn, error) {
	return net.DialTimeout("tcp4", netip.AddrPortFrom(svc.Addr, svc.Port).String(), 5*time.Second)
}

func deadline() time.Time { return time.Now().Add(5 * time.Second) }

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
