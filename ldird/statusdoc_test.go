package main

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"

	"lvsha/internal/cfgerr"
	"lvsha/ldird/check"
	"lvsha/ldird/director"
	"lvsha/ldird/statusapi"
)

var docT0 = time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)

func docDetail() director.Detail {
	return director.Detail{TableServices: 1, TableDests: 2, Applied: 3, Virtuals: []director.VirtualDetail{{
		ID: director.VirtualID{Protocol: "tcp", Virtual: "10.0.0.1:80"}, Key: "tcp 10.0.0.1:80", Line: 4, Scheduler: "rr",
		Check: "negotiate/http", CheckInterval: time.Second, CheckTimeout: 2 * time.Second, FailureCount: 1, Quiescent: true,
		InTable: true, Fallback: "127.0.0.1:80",
		Reals: []director.RealDetail{
			{Key: "10.0.1.2:80", Dest: "10.0.1.2:80", Line: 5, Method: "masq", Weight: 1, State: check.Up, Admin: director.AdminEnabled,
				Up: true, InTable: true, TableWeight: 1, HasConns: true, Active: 2, Inactive: 7, Checks: 9,
				Recent:  []director.CheckRecord{{At: docT0, OK: true, Outcome: "ok", Latency: 1500 * time.Microsecond, Detail: "HTTP/1.0 200 OK", Up: true}},
				Buckets: []director.CheckBucket{{Start: docT0.Truncate(time.Minute), OK: 3, Failed: 1, SumLatency: 8 * time.Millisecond, MaxLatency: 5 * time.Millisecond, Down: true}}},
			{Key: "10.0.1.3:80", Dest: "10.0.1.3:80", Line: 6, Method: "masq", Weight: 1, State: check.Down, Admin: director.AdminDrained,
				AdminBy: "alice", AdminAt: docT0},
		}}}}
}

func TestBuildStatus(t *testing.T) {
	info := statusInfo{Version: "v", Host: "h", Config: "/etc/ha.d/ldirectord.cf", Instance: "ldirectord.cf", Dataplane: "userspace", PID: 42, Started: docT0}
	var rl statusapi.Reloads
	rl.Add(docT0, "start", nil)
	rl.Add(docT0, "autoreload", cfgerr.Errors{{File: "/etc/ha.d/ldirectord.cf", Line: 7, Msg: "unknown directive"}})
	s := buildStatus(docDetail(), info, rl.List(), nil, docT0.Add(time.Second))
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := statusapi.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Reloads, s.Reloads) || back.API != statusapi.API {
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
	if e := back.Reloads[1]; e.OK || e.Errors[0] != (statusapi.ConfigError{File: "/etc/ha.d/ldirectord.cf", Line: 7, Message: "unknown directive"}) {
		t.Errorf("reload: %+v", e)
	}
	// Every documented field is present (null, not absent).
	var raw map[string]any
	json.Unmarshal(b, &raw)
	eqDocKeys(t, "document", raw, "api", "version", "host", "pid", "config", "instance", "dataplane", "time", "started", "table", "virtuals", "reloads", "sync")
	v := raw["virtuals"].([]any)[0].(map[string]any)
	eqDocKeys(t, "virtual", v, "key", "protocol", "address", "line", "scheduler", "persistent_s", "check", "check_interval_s",
		"check_timeout_s", "failure_count", "quiescent", "in_table", "fallback", "reals")
	eqDocKeys(t, "real", v["reals"].([]any)[1].(map[string]any), "key", "server", "line", "forward", "weight", "state", "maintenance",
		"admin", "up", "in_table", "table_weight", "connections", "checks", "failures", "last", "recent", "history")

	det := docDetail()
	det.TableErr = errors.New("netlink: no such family")
	sync := &statusapi.Sync{Daemons: []statusapi.SyncDaemon{{Role: "master", Interface: "eth1", SyncID: 7,
		Group: "224.0.0.81:8848", StartedBy: "ldird"}}, Connections: &statusapi.SyncConnections{Local: 2, Synced: 5}}
	s = buildStatus(det, info, nil, sync, docT0)
	if s.Table.Error == nil || s.Virtuals[0].Reals[0].TableWeight != nil || s.Sync == nil || s.Reloads == nil {
		t.Errorf("unreadable table: %+v", s.Table)
	}
	b, err = json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	raw = nil
	json.Unmarshal(b, &raw)
	sm := raw["sync"].(map[string]any)
	eqDocKeys(t, "sync", sm, "daemons", "error", "connections")
	eqDocKeys(t, "sync daemon", sm["daemons"].([]any)[0].(map[string]any), "role", "interface", "syncid", "group", "started_by")
	eqDocKeys(t, "sync connections", sm["connections"].(map[string]any), "local", "synced")
}

func eqDocKeys(t *testing.T, what string, m map[string]any, want ...string) {
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
