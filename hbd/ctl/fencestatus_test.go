package ctl

import (
	"testing"
	"time"

	"lvsha/hbd/api"
)

// fenced is the fake backend with a STONITH state.
type fenced struct {
	*fake
	st api.FenceStatus
}

func (f fenced) Fencing() api.FenceStatus { return f.st }

func TestFencestatus(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	ok := true
	retrying := api.FenceStatus{Configured: true, Device: "external/ipmi", Source: "/etc/ha.d/ha.cf:14", State: "retrying",
		Node: "beta", Since: at, Attempts: 3, NextAttemptMS: 19500,
		Results:  map[string]uint64{"bad": 3},
		Last:     &api.FenceAttempt{Node: "beta", Result: "bad", ExitCode: 5, Detail: "ipmitool: unable\n to connect", At: at, DurationMS: 1012},
		DeviceOK: &ok, DeviceCheckedAt: at}
	serve(t, fenced{cluster(), retrying})
	check(t, "cl_status", []tcase{
		{"plain", []string{"fencestatus"}, "state retrying\ndevice external/ipmi\nsource /etc/ha.d/ha.cf:14\nnode beta\nattempts 3\n" +
			"since 2024-05-06T07:08:09Z\nnext_attempt_in 19.5s\nresults_OK 0\nresults_badhost 0\nresults_bad 3\n" +
			"last_node beta\nlast_result bad\nlast_exit_code 5\nlast_at 2024-05-06T07:08:09Z\nlast_duration 1.012s\n" +
			"last_detail ipmitool: unable to connect\ndevice_status ok\n", 0, ""},
		{"-m", []string{"fencestatus", "-m"}, "STONITH device external/ipmi (/etc/ha.d/ha.cf:14). Resetting beta failed 3 time(s); " +
			"next attempt in 19.5s. Nothing is taken over until it succeeds. Last attempt: beta at 2024/05/06_07:08:09, bad after 1.012s " +
			"(ipmitool: unable to connect). Attempts so far: 3 bad.\n", 0, ""},
		{"operand", []string{"fencestatus", "x"}, "", 11, "fencestatus: unexpected argument \"x\"\n"},
	})
}

func TestFencestatusNone(t *testing.T) {
	serve(t, cluster()) // a backend without a STONITH state: none
	check(t, "cl_status", []tcase{
		{"plain", []string{"fencestatus"}, "state none\n", 0, ""},
		{"-m", []string{"fencestatus", "-m"}, "No STONITH device is configured for this node.\n", 0, ""},
	})
}
