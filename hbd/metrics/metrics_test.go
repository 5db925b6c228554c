package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"lvsha/hbd/api"
)

type fakeSource struct{}

func (fakeSource) Nodes() []api.NodeInfo {
	return []api.NodeInfo{
		{Name: "alpha", Status: "active", Links: []api.LinkInfo{{Name: "eth1", Status: "up"}}},
		{Name: "beta", Status: "dead", Links: []api.LinkInfo{{Name: "eth1", Status: "dead"}, {Name: "eth2", Status: "dead"}}},
	}
}

func (fakeSource) Counters() map[string]uint64 {
	return map[string]uint64{"rx_dropped_bad_auth": 42, "link_eth1_sent": 7, "link_eth1_received": 5,
		"link_eth1_send_errors": 1, "rx_accepted": 3, "rsc_transitions": 2}
}

func (fakeSource) ResourceState() string { return "local" }

func TestMetricsExposition(t *testing.T) {
	srv := httptest.NewServer(Handler(fakeSource{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`hbd_node_status{node="alpha",status="active"} 1`,
		`hbd_node_status{node="beta",status="dead"} 1`,
		`hbd_link_up{link="eth1",node="alpha"} 1`,
		`hbd_link_up{link="eth2",node="beta"} 0`,
		`hbd_packets_dropped_total{reason="bad_auth"} 42`,
		`hbd_link_packets_total{direction="sent",link="eth1"} 7`,
		`hbd_link_packets_total{direction="received",link="eth1"} 5`,
		`hbd_link_send_errors_total{link="eth1"} 1`,
		`hbd_events_total{event="rx_accepted"} 3`,
		`hbd_events_total{event="rsc_transitions"} 2`,
		`hbd_resources_holding{holding="local"} 1`,
		`# HELP hbd_link_up Whether a heartbeat link to a node is up.`,
		`# TYPE hbd_packets_dropped_total counter`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
		`process_open_fds`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	families := parse(t, body)
	for name, typ := range map[string]string{"hbd_node_status": "GAUGE", "hbd_link_packets_total": "COUNTER", "hbd_events_total": "COUNTER"} {
		if f := families[name]; f == nil || f.GetType().String() != typ || f.GetHelp() == "" {
			t.Errorf("family %s: %v (want type %s with help)", name, f, typ)
		}
	}
	if n := len(families["hbd_node_status"].GetMetric()); n != 2 {
		t.Errorf("hbd_node_status has %d series, want 2", n)
	}
}

// parse reads an exposition with Prometheus's own text parser, which
// refuses a family written twice, a bad escape or a malformed line.
func parse(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	return fams
}

// Label values and help text are escaped as the format says: a device
// name with a quote, a backslash and a newline comes back unchanged.
func TestMetricsEscaping(t *testing.T) {
	dev := "ext\\ipmi \"rack 2\"\nslot"
	body := scrape(t, fencingSource{st: api.FenceStatus{Configured: true, Device: dev, State: "none", Results: map[string]uint64{}}})
	f := parse(t, body)["hbd_stonith_configured"]
	if f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetLabel()[0].GetValue() != dev {
		t.Fatalf("device label not round-tripped: %v", f)
	}
}

// fencingSource adds a STONITH state to fakeSource.
type fencingSource struct {
	fakeSource
	st api.FenceStatus
}

func (f fencingSource) Fencing() api.FenceStatus { return f.st }

func scrape(t *testing.T, src Source) string {
	t.Helper()
	srv := httptest.NewServer(Handler(src))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestMetricsFencing(t *testing.T) {
	ok := false
	body := scrape(t, fencingSource{st: api.FenceStatus{Configured: true, Device: "external/ipmi", State: "retrying", Node: "beta",
		Attempts: 2, Results: map[string]uint64{"bad": 2, "OK": 1},
		Last: &api.FenceAttempt{Node: "beta", Result: "bad", DurationMS: 1500, At: time.Unix(1700000000, 0)}, DeviceOK: &ok}})
	for _, want := range []string{
		`hbd_stonith_configured{device="external/ipmi"} 1`,
		`hbd_stonith_attempts_total{result="OK"} 1`,
		`hbd_stonith_attempts_total{result="bad"} 2`,
		`hbd_stonith_attempts_total{result="badhost"} 0`,
		`hbd_stonith_pending{node="beta",state="retrying"} 1`,
		`hbd_stonith_pending_attempts 2`,
		`hbd_stonith_last_duration_seconds{node="beta",result="bad"} 1.5`,
		`hbd_stonith_last_attempt_timestamp_seconds{node="beta",result="bad"} 1.7e+09`,
		`hbd_stonith_device_ok 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	body = scrape(t, fencingSource{st: api.FenceStatus{State: "none"}})
	if !strings.Contains(body, `hbd_stonith_configured{device=""} 0`) || strings.Contains(body, "hbd_stonith_attempts_total") {
		t.Errorf("unconfigured fencing exposed as:\n%s", body)
	}
}
