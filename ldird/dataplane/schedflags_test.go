package dataplane

import "testing"

func TestParseSchedFlags(t *testing.T) {
	for _, c := range []struct {
		sched, list string
		want        SchedFlags
		err         bool
	}{
		{"sh", "sh-fallback", SchedFlag1, false},
		{"sh", "sh-port", SchedFlag2, false},
		{"sh", "sh-fallback,sh-port", SchedFlag1 | SchedFlag2, false},
		{"mh", "mh-port", SchedFlag2, false},
		{"wrr", "flag-1,flag-3", SchedFlag1 | SchedFlag3, false},
		{"", "flag-2", SchedFlag2, false},
		{"wrr", "sh-port", 0, true}, // ipvsadm: incompatible scheduler flag
		{"", "sh-fallback", 0, true},
		{"sh", "mh-port", 0, true},
		{"sh", "sh-port,", SchedFlag2, false}, // strtok skips empty items
		{"sh", "bogus", 0, true},
		{"sh", "SH-PORT", 0, true}, // ipvsadm compares exactly
	} {
		got, err := ParseSchedFlags(c.sched, c.list)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseSchedFlags(%q, %q) = %v, %v; want %v, error %v", c.sched, c.list, got, err, c.want, c.err)
		}
	}
	if s := (SchedFlag1 | SchedFlag3).String(); s != "flag-1,flag-3" {
		t.Errorf("String: %q", s)
	}
}
