package statusapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"testing"
	"time"

	"lvsha/internal/cfgerr"
	"lvsha/ldird/check"
	"lvsha/ldird/director"
)

var t0 = time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)

func detail() director.Detail {
	return director.Detail{TableServices: 1, TableDests: 2, Applied: 3, Virtuals: []director.VirtualDetail{{
		ID: director.VirtualID{Protocol: "tcp", Virtual: "10.0.0.1:80"}, Key: "tcp 10.0.0.1:80", Line: 4, Scheduler: "rr",
		Check: "negotiate/http", CheckInterval: time.Second, CheckTimeout: 2 * time.Second, FailureCount: 1, Quiescent: true,
		InTable: true, Fallback: "127.0.0.1:80",
		Reals: []director.RealDetail{
			{Key: "10.0.1.2:80", Dest: "10.0.1.2:80", Line: 5, Method: "masq", Weight: 1, State: check.Up, Admin: director.AdminEnabled,
				Up: true, InTable: true, TableWeight: 1, HasConns: true, Active: 2, Inactive: 7, Checks: 9,
				Recent:  []director.CheckRecord{{At: t0, OK: true, Outcome: "ok", Latency: 1500 * time.Microsecond, Detail: "HTTP/1.0 200 OK", Up: true}},
				Buckets: []director.CheckBucket{{Start: t0.Truncate(time.Minute), OK: 3, Failed: 1, SumLatency: 8 * time.Millisecond, MaxLatency: 5 * time.Millisecond, Down: true}}},
			{Key: "10.0.1.3:80", Dest: "10.0.1.3:80", Line: 6, Method: "masq", Weight: 1, State: check.Down, Admin: director.AdminDrained,
				AdminBy: "alice", AdminAt: t0},
		}}}}
}

func TestBuild(t *testing.T) {
	info := Info{Version: "v", Host: "h", Config: "/etc/ha.d/ldirectord.cf", Instance: "ldirectord.cf", Dataplane: "userspace", PID: 42, Started: t0}
	var rl Reloads
	rl.Add(t0, "start", nil)
	rl.Add(t0, "autoreload", cfgerr.Errors{{File: "/etc/ha.d/ldirectord.cf", Line: 7, Msg: "unknown directive"}})
	s := Build(detail(), info, rl.List(), nil, t0.Add(time.Second))
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Reloads, s.Reloads) || back.API != API {
		t.Fatalf("round trip: %+v", back)
	}
	r0, r1 := back.Virtuals[0].Reals[0], back.Virtuals[0].Reals[1]
	if *r0.TableWeight != 1 || r0.Connections.Active != 2 || r0.Last.LatencyMS != 1.5 || r0.Last.Detail != "HTTP/1.0 200 OK" {
		t.Errorf("real 0: %+v", r0)
	}
	if h := r0.History; h.BucketS != 60 || h.Buckets[0].MeanLatencyMS != 2 || h.Buckets[0].MaxLatencyMS != 5 || !h.Buckets[0].Down {
		t.Errorf("history: %+v", h)
	}
	if r1.Admin.State != "drain" || *r1.Admin.By != "alice" || r1.TableWeight != nil || r1.Connections != nil || r1.Last != nil || r1.State != "down" {
		t.Errorf("real 1: %+v", r1)
	}
	if e := back.Reloads[1]; e.OK || e.Errors[0] != (ConfigError{File: "/etc/ha.d/ldirectord.cf", Line: 7, Message: "unknown directive"}) {
		t.Errorf("reload: %+v", e)
	}
	// Every documented field is present (null, not absent).
	var raw map[string]any
	json.Unmarshal(b, &raw)
	eqKeys(t, "document", raw, "api", "version", "host", "pid", "config", "instance", "dataplane", "time", "started", "table", "virtuals", "reloads", "sync")
	v := raw["virtuals"].([]any)[0].(map[string]any)
	eqKeys(t, "virtual", v, "key", "protocol", "address", "line", "scheduler", "persistent_s", "check", "check_interval_s",
		"check_timeout_s", "failure_count", "quiescent", "in_table", "fallback", "reals")
	eqKeys(t, "real", v["reals"].([]any)[1].(map[string]any), "key", "server", "line", "forward", "weight", "state", "maintenance",
		"admin", "up", "in_table", "table_weight", "connections", "checks", "failures", "last", "recent", "history")

	det := detail()
	det.TableErr = errors.New("netlink: no such family")
	s = Build(det, info, nil, map[string]string{"state": "master"}, t0)
	if s.Table.Error == nil || s.Virtuals[0].Reals[0].TableWeight != nil || s.Sync == nil || s.Reloads == nil {
		t.Errorf("unreadable table: %+v", s.Table)
	}
}

func eqKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s keys:\n got %q\nwant %q", what, got, want)
	}
}

func TestReloadsBounded(t *testing.T) {
	var rl Reloads
	for i := range MaxReloads + 5 {
		rl.Add(t0.Add(time.Duration(i)*time.Second), "sighup", fmt.Errorf("read: %d", i))
	}
	l := rl.List()
	if len(l) != MaxReloads || l[0].At != t0.Add(5*time.Second) || l[len(l)-1].Errors[0].Message != fmt.Sprintf("read: %d", MaxReloads+4) {
		t.Fatalf("history: %d entries, first %v", len(l), l[0].At)
	}
}

func TestHandler(t *testing.T) {
	h := Handler(func() *Status { return Build(detail(), Info{}, nil, nil, t0) })
	for _, c := range []struct {
		method string
		code   int
	}{{"GET", 200}, {"HEAD", 200}, {"POST", 405}, {"DELETE", 405}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, Path, nil))
		if rec.Code != c.code {
			t.Errorf("%s: %d, want %d", c.method, rec.Code, c.code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: content type %q", c.method, ct)
		}
		if c.code == http.StatusMethodNotAllowed {
			var e map[string]string
			if json.Unmarshal(rec.Body.Bytes(), &e); e["error"] == "" || rec.Header().Get("Allow") == "" {
				t.Errorf("%s: body %q", c.method, rec.Body)
			}
		}
	}
	if _, err := Decode([]byte(`{"api":"lvsha.hbd/v1"}`)); err == nil {
		t.Error("another API's document decoded")
	}
}
