package config

import (
	"strings"
	"testing"
	"time"
)

func TestProxyDirectives(t *testing.T) {
	const us = "dataplane = userspace\n"
	two := minimal + "virtual=10.0.0.1:81\n\treal=10.0.0.2 gate\n"
	for _, tc := range []struct {
		name string
		text string
		// global maxconn, then per virtual: maxconn, client and server timeouts
		global  int
		virtual [][3]int64
	}{
		{"unset", us + two, 0, [][3]int64{{0, 0, 0}, {0, 0, 0}}},
		{"global", us + "maxconn = 5000 # all virtuals\nclienttimeout=60\nservertimeout = 30\n" + two,
			5000, [][3]int64{{0, 60, 30}, {0, 60, 30}}},
		{"own-wins", us + "clienttimeout=60\nservertimeout=30\n" + minimal + "\tmaxconn=100\n\tclienttimeout = 5\n\tservertimeout=7 # c\nvirtual=10.0.0.1:81\n\treal=10.0.0.2 gate\n",
			0, [][3]int64{{100, 5, 7}, {0, 60, 30}}},
		{"global-after-sections", us + two + "servertimeout=9\n", 0, [][3]int64{{0, 0, 9}, {0, 0, 9}}},
		{"dataplane-last", two + "\tmaxconn=3\n" + us, 0, [][3]int64{{0, 0, 0}, {3, 0, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.text)
			if c.Global.MaxConn != tc.global {
				t.Errorf("global maxconn %d, want %d", c.Global.MaxConn, tc.global)
			}
			for i, v := range c.Virtuals {
				got := [3]int64{int64(v.MaxConn), int64(v.ClientTimeout / time.Second), int64(v.ServerTimeout / time.Second)}
				if got != tc.virtual[i] {
					t.Errorf("virtual %s: maxconn, clienttimeout, servertimeout %v, want %v", v.Key(), got, tc.virtual[i])
				}
			}
		})
	}
}

func TestProxyDirectiveErrors(t *testing.T) {
	const us = "dataplane=userspace\n"
	for _, tc := range []struct {
		name string
		text string
		line int
		msg  string
	}{
		{"ipvs", "maxconn=10\n" + minimal, 1, "maxconn needs dataplane = userspace (IPVS has no per-service connection limit)"},
		{"ipvs-virtual", minimal + "\tclienttimeout=10\n", 3, "clienttimeout needs dataplane = userspace (IPVS's idle timeouts are kernel-wide"},
		{"ipvs-explicit", "dataplane=ipvs\n" + minimal + "\tservertimeout=10\n", 4, "servertimeout needs dataplane = userspace"},
		{"zero", us + "maxconn=0\n" + minimal, 2, `maxconn = "0": want a whole number of connections from 1 to 16777216`},
		{"too-many", us + minimal + "\tmaxconn=16777217\n", 4, "maxconn"},
		{"words", us + "clienttimeout=1m\n" + minimal, 2, `clienttimeout = "1m": want a whole number of seconds greater than 0`},
		{"empty", us + minimal + "\tservertimeout=\n", 4, "servertimeout"},
		{"no-equals", us + "maxconn 10\n" + minimal, 2, `missing "=" after "maxconn"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := parseErr(t, tc.text)
			for _, e := range es {
				if e.Line == tc.line && strings.Contains(e.Msg, tc.msg) {
					return
				}
			}
			t.Errorf("want line %d %q, got:\n%v", tc.line, tc.msg, es)
		})
	}
}
