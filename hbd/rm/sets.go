package rm

import "fmt"

// Set is a resource set relative to one node, as Heartbeat's rsc_hold field
// carries it: local = the groups whose haresources line names that node,
// foreign = every other group.
type Set uint8

// The values match Heartbeat's bit values (none=0, local=1, foreign=2, all=3).
const (
	None    Set = 0
	Local   Set = 1
	Foreign Set = 2
	All     Set = Local | Foreign
)

func (s Set) String() string {
	switch s & All {
	case Local:
		return "local"
	case Foreign:
		return "foreign"
	case All:
		return "all"
	}
	return "none"
}

// Swap converts a set named relative to one node into the same groups named
// relative to the other node of a pair.
func (s Set) Swap() Set {
	var out Set
	if s&Local != 0 {
		out |= Foreign
	}
	if s&Foreign != 0 {
		out |= Local
	}
	return out
}

// ParseSet reads an rsc_hold value. Heartbeat's hb_standby also takes
// "failback", meaning foreign.
func ParseSet(s string) (Set, error) {
	switch s {
	case "none":
		return None, nil
	case "local":
		return Local, nil
	case "foreign", "failback":
		return Foreign, nil
	case "all", "":
		return All, nil
	}
	return None, fmt.Errorf("unknown resource set %q (want all, local, foreign or failback)", s)
}
