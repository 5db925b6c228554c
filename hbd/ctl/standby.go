package ctl

import (
	"errors"
	"fmt"
	"io"
	"time"

	"lvsha/hbd/api"
)

// stateChangeTimeout bounds hb_standby / hb_takeover's wait for the daemon.
var stateChangeTimeout = 30 * time.Second

// resourceTool is hb_standby (standby=true) or hb_takeover. Argument
// handling and messages follow Heartbeat's scripts, including their exit
// code 1 for --help.
func resourceTool(prog string, args []string, stdout, stderr io.Writer, standby bool) int {
	usage := func() int {
		fmt.Fprintf(stdout, "usage:\n")
		fmt.Fprintf(stderr, "%s [all|foreign|local|failback]\n", prog)
		return 1
	}
	if len(args) >= 2 {
		fmt.Fprintf(stdout, "%s: too many arguments\n", prog)
		return usage()
	}
	set := "all"
	if len(args) == 1 {
		set = args[0]
	}
	switch set {
	case "all", "foreign", "local", "failback":
	case "--help":
		return usage()
	default:
		fmt.Fprintf(stdout, "%s: wrong resources(%s).\n", prog, set)
		return usage()
	}
	if standby && set == "failback" {
		set = "foreign"
	}

	path := socketPath()
	c, err := api.Dial(path, stateChangeTimeout)
	if err != nil {
		switch {
		case errors.Is(err, api.ErrNotRunning):
			fmt.Fprintf(stderr, "%s: heartbeat (hbd) is not running on this machine (no daemon listening on %s); nothing done\n", prog, path)
		case api.IsDenied(err):
			fmt.Fprintf(stderr, "%s: permission denied: only root may change resource state\n", prog)
		default:
			fmt.Fprintf(stderr, "%s: cannot reach hbd: %v\n", prog, err)
		}
		return 1
	}
	defer c.Close()
	if standby {
		err = c.Standby(set)
	} else {
		err = c.Takeover(set)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	if standby {
		fmt.Fprintf(stdout, "Going standby [%s].\n", set)
	}
	return 0
}
