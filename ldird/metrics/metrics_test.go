package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"lvsha/ldird/check"
	"lvsha/ldird/config"
	"lvsha/ldird/dataplane"
	"lvsha/ldird/director"
)

type fakeSource struct {
	mu   sync.Mutex
	snap director.Snapshot
}

func (f *fakeSource) Snapshot() director.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// value returns the sample value of the series whose text (name and
// labels, as exposed) is series, or fails.
func value(t *testing.T, body, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no series %s in:\n%s", series, grepLdird(body))
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func grepLdird(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "ldird_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func want(t *testing.T, body, series string, v float64) {
	t.Helper()
	if got := value(t, body, series); got != v {
		t.Errorf("%s = %v, want %v", series, got, v)
	}
}

var web = director.VirtualID{Protocol: "tcp", Virtual: "10.0.0.100:80"}

func TestExposition(t *testing.T) {
	src := &fakeSource{snap: director.Snapshot{
		TableServices: 2, TableDests: 3,
		Virtuals: []director.VirtualSnapshot{
			{ID: web, Reals: []director.RealSnapshot{
				{Real: "10.0.1.2:80", State: check.Up, Up: true, InTable: true, Weight: 3},
				{Real: "10.0.1.3:80", State: check.Down, InTable: true, Weight: 0},
				{Real: "10.0.1.4:80", State: check.Up, Maintenance: true},
			}},
			{ID: director.VirtualID{Protocol: "udp", Virtual: "10.0.0.100:53"}, FallbackActive: true, Reals: []director.RealSnapshot{
				{Real: "10.0.1.2:53", State: check.Down},
			}},
		},
	}}
	m := New(src, Options{Version: "test 1", Dataplane: "userspace"})
	// A sink counts in the very series CheckResult does.
	ok := m.CheckSink(web, director.OutcomeOK)
	m.CheckResult(web, director.OutcomeOK, 2*time.Millisecond)
	ok(2 * time.Millisecond)
	ok(2 * time.Millisecond)
	m.CheckResult(web, director.OutcomeFailed, 20*time.Millisecond)
	m.CheckResult(web, director.OutcomeTimeout, 1500*time.Millisecond)
	m.CheckStartDelay(300 * time.Microsecond)
	m.CheckStartDelay(400 * time.Millisecond)
	m.TableOp(director.AddDest, nil)
	m.TableOp(director.UpdateDest, nil)
	m.TableOp(director.UpdateDest, errors.New("boom"))
	m.Reload(TriggerAutoreload, true, 0)
	m.Reload(TriggerCommand, false, 2)
	m.Reload(TriggerSIGHUP, false, 1)

	body := scrape(t, m.Handler())
	for _, c := range []struct {
		series string
		v      float64
	}{
		{`ldird_real_up{protocol="tcp",real="10.0.1.2:80",virtual="10.0.0.100:80"}`, 1},
		{`ldird_real_up{protocol="tcp",real="10.0.1.3:80",virtual="10.0.0.100:80"}`, 0},
		{`ldird_real_up{protocol="tcp",real="10.0.1.4:80",virtual="10.0.0.100:80"}`, 0}, // maintenance
		{`ldird_real_weight{protocol="tcp",real="10.0.1.2:80",virtual="10.0.0.100:80"}`, 3},
		{`ldird_real_weight{protocol="tcp",real="10.0.1.3:80",virtual="10.0.0.100:80"}`, 0},
		{`ldird_real_in_table{protocol="tcp",real="10.0.1.3:80",virtual="10.0.0.100:80"}`, 1},
		{`ldird_real_in_table{protocol="tcp",real="10.0.1.4:80",virtual="10.0.0.100:80"}`, 0},
		{`ldird_virtual_reals{protocol="tcp",state="up",virtual="10.0.0.100:80"}`, 1},
		{`ldird_virtual_reals{protocol="tcp",state="down",virtual="10.0.0.100:80"}`, 2},
		{`ldird_virtual_fallback_active{protocol="tcp",virtual="10.0.0.100:80"}`, 0},
		{`ldird_virtual_fallback_active{protocol="udp",virtual="10.0.0.100:53"}`, 1},
		{`ldird_table_services`, 2},
		{`ldird_table_destinations`, 3},
		{`ldird_table_read_ok`, 1},
		{`ldird_config_virtuals`, 2},
		{`ldird_check_results_total{outcome="ok",protocol="tcp",virtual="10.0.0.100:80"}`, 3},
		{`ldird_check_results_total{outcome="failed",protocol="tcp",virtual="10.0.0.100:80"}`, 1},
		{`ldird_check_results_total{outcome="timeout",protocol="tcp",virtual="10.0.0.100:80"}`, 1},
		{`ldird_check_duration_seconds_count{protocol="tcp",virtual="10.0.0.100:80"}`, 5},
		{`ldird_check_duration_seconds_bucket{protocol="tcp",virtual="10.0.0.100:80",le="0.0025"}`, 3},
		{`ldird_check_duration_seconds_bucket{protocol="tcp",virtual="10.0.0.100:80",le="0.025"}`, 4},
		{`ldird_check_duration_seconds_bucket{protocol="tcp",virtual="10.0.0.100:80",le="1"}`, 4},
		{`ldird_check_duration_seconds_bucket{protocol="tcp",virtual="10.0.0.100:80",le="2.5"}`, 5},
		{`ldird_check_start_delay_seconds_count`, 2},
		{`ldird_check_start_delay_seconds_bucket{le="0.001"}`, 1},
		{`ldird_check_start_delay_seconds_bucket{le="0.25"}`, 1},
		{`ldird_check_start_delay_seconds_bucket{le="0.5"}`, 2},
		{`ldird_dataplane_operations_total{op="add_dest",result="ok"}`, 1},
		{`ldird_dataplane_operations_total{op="update_dest",result="ok"}`, 1},
		{`ldird_dataplane_operations_total{op="update_dest",result="failed"}`, 1},
		{`ldird_dataplane_operations_total{op="del_service",result="ok"}`, 0},
		{`ldird_reloads_total{result="ok",trigger="autoreload"}`, 1},
		{`ldird_reloads_total{result="failed",trigger="command"}`, 1},
		{`ldird_reloads_total{result="failed",trigger="sighup"}`, 1},
		{`ldird_reloads_total{result="ok",trigger="sighup"}`, 0},
		{`ldird_config_errors_total{trigger="command"}`, 2},
		{`ldird_config_errors_total{trigger="sighup"}`, 1},
		{`ldird_config_errors_total{trigger="autoreload"}`, 0},
		{`ldird_config_last_reload_successful`, 0},
		{`ldird_info{dataplane="userspace",version="test 1"}`, 1},
	} {
		want(t, body, c.series, c.v)
	}
	if sum := value(t, body, `ldird_check_duration_seconds_sum{protocol="tcp",virtual="10.0.0.100:80"}`); sum < 1.525 || sum > 1.527 {
		t.Errorf("latency sum %v, want 1.526", sum)
	}
	if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Error("runtime and process metrics missing")
	}

	// A good reload sets last_reload_successful again.
	m.Reload(TriggerCommand, true, 0)
	body = scrape(t, m.Handler())
	want(t, body, `ldird_config_last_reload_successful`, 1)
	want(t, body, `ldird_reloads_total{result="ok",trigger="command"}`, 1)

	// A virtual that a reload removed loses its per-virtual series.
	m.VirtualRemoved(web)
	src.mu.Lock()
	src.snap.Virtuals = src.snap.Virtuals[1:]
	src.mu.Unlock()
	ok(time.Millisecond) // a sink looked up before does not bring them back
	body = scrape(t, m.Handler())
	for _, gone := range []string{`virtual="10.0.0.100:80"`} {
		if strings.Contains(body, gone) {
			t.Errorf("series of a removed virtual remain:\n%s", grepLdird(body))
		}
	}
	want(t, body, `ldird_config_virtuals`, 1)
}

func TestTableUnreadable(t *testing.T) {
	src := &fakeSource{snap: director.Snapshot{TableErr: errors.New("netlink: permission denied"),
		Virtuals: []director.VirtualSnapshot{{ID: web, Reals: []director.RealSnapshot{{Real: "10.0.1.2:80", State: check.Up, Up: true}}}}}}
	body := scrape(t, New(src, Options{}).Handler())
	want(t, body, `ldird_table_read_ok`, 0)
	want(t, body, `ldird_real_up{protocol="tcp",real="10.0.1.2:80",virtual="10.0.0.100:80"}`, 1)
	for _, absent := range []string{"ldird_real_weight{", "ldird_table_services ", "ldird_virtual_fallback_active{"} {
		if strings.Contains(body, absent) {
			t.Errorf("%s exposed although the table could not be read", absent)
		}
	}
}

func TestOpNames(t *testing.T) {
	for k, w := range map[director.OpKind]string{director.AddService: "add_service", director.UpdateService: "update_service",
		director.DelService: "del_service", director.AddDest: "add_dest", director.UpdateDest: "update_dest", director.DelDest: "del_dest"} {
		if got := opName(k); got != w {
			t.Errorf("opName(%v) = %q, want %q", k, got, w)
		}
	}
}

// switchable is a checker whose answer per real address the test sets.
type switchable struct {
	mu sync.Mutex
	ok map[string]bool
}

func (s *switchable) set(ip string, ok bool) { s.mu.Lock(); s.ok[ip] = ok; s.mu.Unlock() }
func (s *switchable) Check(ctx context.Context, t check.Target) check.Result {
	s.mu.Lock()
	ok := s.ok[t.IP.String()]
	s.mu.Unlock()
	if ok {
		return check.Result{OK: true, Latency: 3 * time.Millisecond, Detail: "ok"}
	}
	return check.Result{OK: false, Err: fmt.Errorf("connect: %w", context.DeadlineExceeded), Latency: 40 * time.Millisecond}
}

// TestWithDirector runs a real director on the fake dataplane with the
// metrics as its observer and source: simulated checks move the scraped
// state, weights, fallback, counters and histogram.
func TestWithDirector(t *testing.T) {
	cfg, err := config.ParseBytes("test.cf", []byte(`checkinterval=1
checktimeout=1
quiescent=yes
virtual=10.0.0.100:80
	real=10.0.1.2:80 masq 2
	real=10.0.1.3:80 masq 1
	fallback=127.0.0.1:80 masq
	checktype=connect
virtual=10.0.0.101:80
	real=10.0.1.2:80 masq 1
	checktype=connect
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	chk := &switchable{ok: map[string]bool{"10.0.1.2": true, "10.0.1.3": true}}
	dp := dataplane.NewFake()
	var d *director.Director
	m := New(SourceFunc(func() director.Snapshot { return d.Snapshot() }), Options{Version: "t", Dataplane: "userspace"})
	d = director.New(director.Options{
		Dataplane: dp, Logger: slog.New(slog.DiscardHandler), Observer: m,
		NewChecker: func(check.Spec) (check.Checker, error) { return chk, nil },
		TuneReal:   func(rc *check.RealConfig) { rc.Interval = 20 * time.Millisecond },
	})
	if err := d.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	h := m.Handler()
	const r2, r3 = `real="10.0.1.2:80"`, `real="10.0.1.3:80"`
	// series is a series as exposed: labels sorted, le last.
	series := func(name, vip, extra string) string {
		labels := []string{`protocol="tcp"`, `virtual="` + vip + `"`}
		le := ""
		if e := strings.TrimSuffix(extra, ","); strings.HasPrefix(e, "le=") {
			le = "," + e
		} else if e != "" {
			labels = append(labels, e)
		}
		sort.Strings(labels)
		return name + "{" + strings.Join(labels, ",") + le + "}"
	}
	body := scrape(t, h)
	want(t, body, series("ldird_real_up", "10.0.0.100:80", r3+","), 1)
	want(t, body, series("ldird_real_weight", "10.0.0.100:80", r2+","), 2)
	want(t, body, "ldird_table_services", 2)
	want(t, body, "ldird_table_destinations", 3)
	want(t, body, `ldird_dataplane_operations_total{op="add_service",result="ok"}`, 2)
	want(t, body, `ldird_dataplane_operations_total{op="add_dest",result="ok"}`, 3)

	// 10.0.1.3 fails: down, quiesced to weight 0, failed checks counted as
	// timeouts for its virtual only.
	chk.set("10.0.1.3", false)
	waitFor(t, h, series("ldird_real_weight", "10.0.0.100:80", r3+","), 0)
	body = scrape(t, h)
	want(t, body, series("ldird_real_up", "10.0.0.100:80", r3+","), 0)
	want(t, body, series("ldird_real_in_table", "10.0.0.100:80", r3+","), 1)
	want(t, body, series("ldird_virtual_fallback_active", "10.0.0.100:80", ""), 0)
	if v := value(t, body, series("ldird_check_results_total", "10.0.0.100:80", `outcome="timeout",`)); v < 1 {
		t.Errorf("timeouts of 10.0.0.100:80 = %v, want >= 1", v)
	}
	if strings.Contains(body, series("ldird_check_results_total", "10.0.0.101:80", `outcome="timeout",`)) {
		t.Errorf("10.0.0.101:80 has timeouts although its real is up:\n%s", grepLdird(body))
	}
	// 10.0.1.2 is checked once for both virtuals and counts in each.
	if a, b := value(t, body, series("ldird_check_results_total", "10.0.0.100:80", `outcome="ok",`)),
		value(t, body, series("ldird_check_results_total", "10.0.0.101:80", `outcome="ok",`)); a < b || b < 1 {
		t.Errorf("ok results: 10.0.0.100:80 %v, 10.0.0.101:80 %v", a, b)
	}
	n := value(t, body, series("ldird_check_duration_seconds_count", "10.0.0.100:80", ""))
	fast := value(t, body, series("ldird_check_duration_seconds_bucket", "10.0.0.100:80", `le="0.005",`))
	if fast == 0 || fast == n {
		t.Errorf("histogram: %v of %v checks under 5 ms; want the fast ok checks only", fast, n)
	}

	// Every real of 10.0.0.100:80 down: the fallback is active.
	chk.set("10.0.1.2", false)
	waitFor(t, h, series("ldird_virtual_fallback_active", "10.0.0.100:80", ""), 1)
	body = scrape(t, h)
	want(t, body, series("ldird_virtual_reals", "10.0.0.100:80", `state="down",`), 2)
	want(t, body, series("ldird_real_up", "10.0.0.101:80", r2+","), 0)
	// quiescent=yes (global) holds for 10.0.0.101:80 too: quiesced, not removed.
	want(t, body, series("ldird_real_in_table", "10.0.0.101:80", r2+","), 1)
	want(t, body, series("ldird_real_weight", "10.0.0.101:80", r2+","), 0)

	// Back up: fallback gone, weights restored.
	chk.set("10.0.1.2", true)
	waitFor(t, h, series("ldird_real_weight", "10.0.0.100:80", r2+","), 2)
	waitFor(t, h, series("ldird_virtual_fallback_active", "10.0.0.100:80", ""), 0)

	// A reload that drops 10.0.0.101:80 drops its series.
	cfg2, err := config.ParseBytes("test.cf", []byte(`checkinterval=1
checktimeout=1
quiescent=yes
virtual=10.0.0.100:80
	real=10.0.1.2:80 masq 2
	real=10.0.1.3:80 masq 1
	fallback=127.0.0.1:80 masq
	checktype=connect
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(cfg2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, h, "ldird_table_services", 1)
	time.Sleep(100 * time.Millisecond) // checks keep running; none may count for the old virtual
	body = scrape(t, h)
	if strings.Contains(body, `virtual="10.0.0.101:80"`) {
		t.Errorf("series of the removed virtual remain:\n%s", grepLdird(body))
	}
	want(t, body, `ldird_dataplane_operations_total{op="del_service",result="ok"}`, 1)
}

func waitFor(t *testing.T, h http.Handler, series string, v float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		body := scrape(t, h)
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
		if m := re.FindStringSubmatch(body); m != nil && m[1] == strconv.FormatFloat(v, 'g', -1, 64) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became %v:\n%s", series, v, grepLdird(body))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSyncSeries: the sync daemons and the connection table's origins as
// read at scrape time; an unreadable kernel drops the series it could not
// read and says so.
func TestSyncSeries(t *testing.T) {
	var mu sync.Mutex
	st := SyncState{
		Daemons: []SyncDaemon{
			{Role: "master", Interface: "eth0", SyncID: 7, Group: "224.0.0.81:8848", Ours: true},
			{Role: "backup", Interface: "eth0", SyncID: 7, Group: "224.0.0.81:8848"},
		},
		Local: 5, Synced: 3,
	}
	m := New(&fakeSource{}, Options{Version: "v", Dataplane: "ipvs", Sync: func() SyncState {
		mu.Lock()
		defer mu.Unlock()
		return st
	}})
	body := scrape(t, m.Handler())
	for series, want := range map[string]float64{
		`ldird_sync_daemon{group="224.0.0.81:8848",interface="eth0",role="master",started_by="ldird",syncid="7"}`: 1,
		`ldird_sync_daemon{group="224.0.0.81:8848",interface="eth0",role="backup",started_by="other",syncid="7"}`: 1,
		`ldird_sync_daemons_read_ok`:             1,
		`ldird_ipvs_connections{origin="local"}`: 5,
		`ldird_ipvs_connections{origin="sync"}`:  3,
	} {
		if got := value(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	mu.Lock()
	st = SyncState{Err: errors.New("netlink"), ConnErr: errors.New("proc")}
	mu.Unlock()
	body = scrape(t, m.Handler())
	if got := value(t, body, "ldird_sync_daemons_read_ok"); got != 0 {
		t.Errorf("read_ok %v with an error", got)
	}
	for _, gone := range []string{"ldird_sync_daemon{", "ldird_ipvs_connections{"} {
		if strings.Contains(body, gone) {
			t.Errorf("%s exposed although unreadable", gone)
		}
	}
	// Without a Sync source (userspace) none of the series exist.
	if body := scrape(t, New(&fakeSource{}, Options{}).Handler()); strings.Contains(body, "ldird_sync_") || strings.Contains(body, "ldird_ipvs_connections") {
		t.Error("sync series without a source")
	}
}
