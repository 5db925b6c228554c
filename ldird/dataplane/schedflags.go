package dataplane

import (
	"fmt"
	"strings"
)

// SchedFlags are a service's scheduler flags (ipvsadm -b), the kernel's
// IP_VS_SVC_F_SCHED1..3 bits: what each means is the scheduler's (for sh,
// flag-1 is sh-fallback and flag-2 sh-port).
type SchedFlags uint8

const (
	SchedFlag1 SchedFlags = 1 << iota // sh-fallback, mh-fallback
	SchedFlag2                        // sh-port, mh-port
	SchedFlag3
)

// ParseSchedFlags reads an ipvsadm -b list (ldirectord.cf's schedflags) as
// ipvsadm 1.31 does: comma-separated flag-1, flag-2, flag-3, or the named
// flags of the sh and mh schedulers, which only those schedulers take
// (scheduler "" is ipvsadm's default, wlc). Empty items are skipped, as
// ipvsadm's strtok skips them.
func ParseSchedFlags(scheduler, list string) (SchedFlags, error) {
	if scheduler == "" {
		scheduler = "wlc"
	}
	var f SchedFlags
	for _, name := range strings.Split(list, ",") {
		switch name {
		case "":
		case "flag-1":
			f |= SchedFlag1
		case "flag-2":
			f |= SchedFlag2
		case "flag-3":
			f |= SchedFlag3
		case "sh-fallback", "sh-port", "mh-fallback", "mh-port":
			if want := name[:2]; scheduler != want {
				return 0, fmt.Errorf("scheduler flag %q needs scheduler %s, not %s (ipvsadm: incompatible scheduler flag)", name, want, scheduler)
			}
			if strings.HasSuffix(name, "-fallback") {
				f |= SchedFlag1
			} else {
				f |= SchedFlag2
			}
		default:
			return 0, fmt.Errorf("invalid scheduler flag %q (ipvsadm knows flag-1, flag-2, flag-3, sh-fallback, sh-port, mh-fallback and mh-port)", name)
		}
	}
	return f, nil
}

// String is the flags as ipvsadm -b takes them.
func (f SchedFlags) String() string {
	var out []string
	for i, n := range []string{"flag-1", "flag-2", "flag-3"} {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}
