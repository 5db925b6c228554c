package director

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"lvsha/ldird/dataplane"
)

var (
	svcA   = dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.0.0.100"), Port: 80, Scheduler: "wrr"}
	svcB   = dataplane.Service{Protocol: "udp", Addr: netip.MustParseAddr("10.0.0.100"), Port: 53, Scheduler: "rr"}
	svcFor = dataplane.Service{Protocol: "tcp", Addr: netip.MustParseAddr("10.9.9.9"), Port: 443, Scheduler: "wlc"}
)

func dst(a string, port uint16, w int) dataplane.Dest {
	return dataplane.Dest{Addr: netip.MustParseAddr(a), Port: port, Weight: w, Method: "gate"}
}

func ds(ds ...dataplane.Dest) []DestState {
	out := make([]DestState, len(ds))
	for i, d := range ds {
		out[i] = DestState{Dest: d}
	}
	return out
}

func opStrings(ops []Op) []string {
	out := []string{}
	for _, o := range ops {
		out = append(out, o.String())
	}
	return out
}

func TestDiff(t *testing.T) {
	persistent := svcA
	persistent.Persistent = 300 * time.Second
	masked := persistent
	masked.PersistentMask = 24
	full := persistent
	full.PersistentMask = 32
	quiet := DestState{Dest: dst("10.0.1.3", 80, 0), IfPresent: true}
	fb := DestState{Dest: dst("127.0.0.1", 80, 1), Fallback: true}

	tests := []struct {
		name            string
		desired, actual []ServiceState
		want            []string
	}{
		{"empty table: add service then servers",
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1), dst("10.0.1.3", 80, 2))}},
			nil,
			[]string{"AddService tcp 10.0.0.100:80", "AddDest tcp 10.0.0.100:80 10.0.1.2:80 gate w=1", "AddDest tcp 10.0.0.100:80 10.0.1.3:80 gate w=2"}},
		{"same: nothing",
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1))}},
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1))}},
			[]string{}},
		{"foreign service untouched",
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1))}},
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1))}, {Service: svcFor, Dests: ds(dst("10.5.5.5", 443, 7))}},
			[]string{}},
		{"only the changed weight is touched",
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 0), dst("10.0.1.3", 80, 1))}},
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1), dst("10.0.1.3", 80, 1))}},
			[]string{"UpdateDest tcp 10.0.0.100:80 10.0.1.2:80 gate w=0"}},
		{"method change is an update",
			[]ServiceState{{Service: svcA, Dests: ds(dataplane.Dest{Addr: netip.MustParseAddr("10.0.1.2"), Port: 80, Weight: 1, Method: "masq"})}},
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1))}},
			[]string{"UpdateDest tcp 10.0.0.100:80 10.0.1.2:80 masq w=1"}},
		{"empty method reads as gate",
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1))}},
			[]ServiceState{{Service: svcA, Dests: ds(dataplane.Dest{Addr: netip.MustParseAddr("10.0.1.2"), Port: 80, Weight: 1})}},
			[]string{}},
		{"untracked real in our service is purged",
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1))}},
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1), dst("10.0.1.99", 80, 1))}},
			[]string{"DelDest tcp 10.0.0.100:80 10.0.1.99:80 gate w=1"}},
		{"fallback swap: add before delete",
			[]ServiceState{{Service: svcA, Dests: []DestState{fb}}},
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1))}},
			[]string{"AddDest tcp 10.0.0.100:80 127.0.0.1:80 gate w=1", "DelDest tcp 10.0.0.100:80 10.0.1.2:80 gate w=1"}},
		{"IfPresent absent: not added",
			[]ServiceState{{Service: svcA, Dests: []DestState{quiet}}},
			[]ServiceState{{Service: svcA}},
			[]string{}},
		{"IfPresent present: weight held",
			[]ServiceState{{Service: svcA, Dests: []DestState{quiet}}},
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.3", 80, 3))}},
			[]string{"UpdateDest tcp 10.0.0.100:80 10.0.1.3:80 gate w=0"}},
		{"retired service deleted, absent retired ignored",
			[]ServiceState{{Service: svcA, Remove: true}, {Service: svcB, Remove: true}},
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1))}},
			[]string{"DelService tcp 10.0.0.100:80"}},
		{"scheduler change",
			[]ServiceState{{Service: dataplane.Service{Protocol: "tcp", Addr: svcA.Addr, Port: 80, Scheduler: "rr"}}},
			[]ServiceState{{Service: svcA}},
			[]string{"UpdateService tcp 10.0.0.100:80"}},
		{"empty scheduler is wlc",
			[]ServiceState{{Service: dataplane.Service{Protocol: "tcp", Addr: svcA.Addr, Port: 80, Scheduler: "wlc"}}},
			[]ServiceState{{Service: dataplane.Service{Protocol: "tcp", Addr: svcA.Addr, Port: 80}}},
			[]string{}},
		{"persistence added",
			[]ServiceState{{Service: persistent}},
			[]ServiceState{{Service: svcA}},
			[]string{"UpdateService tcp 10.0.0.100:80"}},
		{"mask 0 equals /32",
			[]ServiceState{{Service: persistent}},
			[]ServiceState{{Service: full}},
			[]string{}},
		{"mask changed",
			[]ServiceState{{Service: masked}},
			[]ServiceState{{Service: full}},
			[]string{"UpdateService tcp 10.0.0.100:80"}},
		{"userspace limit changed",
			[]ServiceState{{Service: dataplane.Service{Protocol: "tcp", Addr: svcA.Addr, Port: 80, Scheduler: "wrr", MaxConns: 100}}},
			[]ServiceState{{Service: svcA}},
			[]string{"UpdateService tcp 10.0.0.100:80"}},
		{"userspace idle timeout changed",
			[]ServiceState{{Service: dataplane.Service{Protocol: "tcp", Addr: svcA.Addr, Port: 80, Scheduler: "wrr", ServerTimeout: time.Minute}}},
			[]ServiceState{{Service: svcA}},
			[]string{"UpdateService tcp 10.0.0.100:80"}},
		{"mask ignored without persistence",
			[]ServiceState{{Service: svcA}},
			[]ServiceState{{Service: dataplane.Service{Protocol: "tcp", Addr: svcA.Addr, Port: 80, Scheduler: "wrr", PersistentMask: 24}}},
			[]string{}},
		{"ordering across services: kinds first",
			[]ServiceState{
				{Service: svcB, Dests: ds(dst("10.0.2.2", 53, 1))},
				{Service: svcA, Dests: ds(dst("10.0.1.3", 80, 1))},
			},
			[]ServiceState{{Service: svcA, Dests: ds(dst("10.0.1.2", 80, 1))}},
			[]string{"AddService udp 10.0.0.100:53", "AddDest tcp 10.0.0.100:80 10.0.1.3:80 gate w=1",
				"AddDest udp 10.0.0.100:53 10.0.2.2:53 gate w=1", "DelDest tcp 10.0.0.100:80 10.0.1.2:80 gate w=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := opStrings(Diff(tc.desired, tc.actual))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Diff:\n got %q\nwant %q", got, tc.want)
			}
			// Applying the ops to the actual table reaches a fixed point.
			f := dataplane.NewFake()
			for _, s := range tc.actual {
				_ = f.AddService(s.Service)
				for _, d := range s.Dests {
					_ = f.AddDest(s.Service, d.Dest)
				}
			}
			for _, op := range Diff(tc.desired, tc.actual) {
				if err := applyOp(f, op); err != nil {
					t.Fatalf("apply %s: %v", op, err)
				}
			}
			var after []ServiceState
			svcs, _ := f.Services()
			for _, s := range svcs {
				x, _ := f.Dests(s)
				after = append(after, ServiceState{Service: s, Dests: ds(x...)})
			}
			if again := Diff(tc.desired, after); len(again) != 0 {
				t.Errorf("not converged: %q", opStrings(again))
			}
		})
	}
}
