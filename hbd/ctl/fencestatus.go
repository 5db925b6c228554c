package ctl

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"lvsha/hbd/api"
)

// fencestatus is our extension beside rscstatus: the STONITH device and
// the reset in progress, one "name value" line each (stable names, for
// scripts), or sentences with -m.
func (s *clState) fencestatus(args []string) int {
	if ops, ok := s.simpleOpts(args); !ok {
		return exitParam
	} else if len(ops) > 0 {
		fmt.Fprintf(s.errw, "fencestatus: unexpected argument %q\n", ops[0])
		return exitParam
	}
	st, err := s.client.Fencing()
	if err != nil {
		s.logf("Cannot get STONITH status")
		s.logf("REASON: %v", err)
		return exitUnknown
	}
	if s.human {
		s.printf("%s\n", fenceSentences(st))
		return exitOK
	}
	s.printf("state %s\n", st.State)
	if !st.Configured {
		return exitOK
	}
	s.printf("device %s\n", st.Device)
	s.printf("source %s\n", st.Source)
	if st.Node != "" {
		s.printf("node %s\n", st.Node)
		s.printf("attempts %d\n", st.Attempts)
		s.printf("since %s\n", st.Since.Format(time.RFC3339))
		if st.State != "fencing" {
			s.printf("next_attempt_in %s\n", msDuration(st.NextAttemptMS))
		}
	}
	if st.WaitsForOperator {
		s.printf("waits_for_operator yes\n")
	}
	for _, r := range []string{"OK", "badhost", "bad"} {
		s.printf("results_%s %d\n", r, st.Results[r])
	}
	if l := st.Last; l != nil {
		s.printf("last_node %s\n", l.Node)
		s.printf("last_result %s\n", l.Result)
		s.printf("last_exit_code %d\n", l.ExitCode)
		s.printf("last_at %s\n", l.At.Format(time.RFC3339))
		s.printf("last_duration %s\n", msDuration(l.DurationMS))
		if l.Detail != "" {
			s.printf("last_detail %s\n", oneLine(l.Detail))
		}
	}
	switch {
	case st.DeviceOK == nil:
		s.printf("device_status unknown\n")
	case *st.DeviceOK:
		s.printf("device_status ok\n")
	default:
		s.printf("device_status failed\n")
		s.printf("device_error %s\n", oneLine(st.DeviceError))
	}
	return exitOK
}

func fenceSentences(st api.FenceStatus) string {
	if !st.Configured {
		return "No STONITH device is configured for this node."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "STONITH device %s (%s).", st.Device, st.Source)
	switch st.State {
	case "idle":
		b.WriteString(" No node is being reset.")
	case "fencing":
		fmt.Fprintf(&b, " Resetting %s (attempt %d); its resources are taken over once it is reset.", st.Node, st.Attempts)
		if st.WaitsForOperator {
			fmt.Fprintf(&b, " Waiting for an operator: power %s off, then run 'meatclient -c %s'.", st.Node, st.Node)
		}
	case "retrying":
		fmt.Fprintf(&b, " Resetting %s failed %d time(s); next attempt in %s. Nothing is taken over until it succeeds.",
			st.Node, st.Attempts, msDuration(st.NextAttemptMS))
	case "delayed":
		fmt.Fprintf(&b, " %s must be reset; the peer is preferred, so this node waits %s before its reset.", st.Node, msDuration(st.NextAttemptMS))
	}
	if l := st.Last; l != nil {
		fmt.Fprintf(&b, " Last attempt: %s at %s, %s after %s", l.Node, l.At.Format("2006/01/02_15:04:05"), l.Result, msDuration(l.DurationMS))
		if l.Detail != "" && l.Result != "OK" {
			fmt.Fprintf(&b, " (%s)", oneLine(l.Detail))
		}
		b.WriteString(".")
	}
	var rs []string
	for k, v := range st.Results {
		rs = append(rs, fmt.Sprintf("%d %s", v, k))
	}
	sort.Strings(rs)
	if len(rs) > 0 {
		fmt.Fprintf(&b, " Attempts so far: %s.", strings.Join(rs, ", "))
	}
	if st.DeviceOK != nil && !*st.DeviceOK {
		fmt.Fprintf(&b, " The device's last status check failed: %s.", oneLine(st.DeviceError))
	}
	return b.String()
}

func msDuration(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).Round(time.Millisecond).String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
