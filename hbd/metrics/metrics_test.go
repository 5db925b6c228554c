package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

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
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
