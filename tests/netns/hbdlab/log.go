package hbdlab

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"lvsha/tests/netns"
)

// LogFile is the log file HACF names, in each node.
const LogFile = "/var/log/ha-log"

// Log is the node's LogFile so far ("" before there is one): each line
// once, where the debug file and hbd's stderr repeat it.
func Log(n *netns.Node) string {
	b, _ := n.ReadFile(LogFile)
	return string(b)
}

// WaitLog waits until the node's LogFile contains text.
func WaitLog(t testing.TB, n *netns.Node, text string, timeout time.Duration) {
	t.Helper()
	netns.Eventually(t, timeout, 100*time.Millisecond, func() (bool, string) {
		return strings.Contains(Log(n), text), fmt.Sprintf("%s: log line %q", n.Name, text)
	})
}

var timeRE = regexp.MustCompile(`time=(\S+)`)

// LogTime finds the time hbd logged (slog's time=) on the first line of
// log that contains text and has one.
func LogTime(log, text string) (time.Time, bool) {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, text) {
			if m := timeRE.FindStringSubmatch(line); m != nil {
				if ts, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
					return ts, true
				}
			}
		}
	}
	return time.Time{}, false
}

// FailoverMargin is what a takeover may take beyond deadtime and the
// group's own start time: death noticed on the next tick, the takeover
// dispatched, the gratuitous ARPs reaching the client and its next poll,
// on a loaded 2-core machine. The README states it with the guarantee.
const FailoverMargin = 500 * time.Millisecond

var tookRE = regexp.MustCompile(`msg="resource groups acquired".* took=(\S+)`)

// GroupStart reads from log how long starting the resource groups took,
// as rm logs it (took= on its "resource groups acquired" line).
func GroupStart(log string) (time.Duration, error) {
	m := tookRE.FindStringSubmatch(log)
	if m == nil {
		return 0, errors.New(`no "resource groups acquired" line`)
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		return 0, fmt.Errorf("took=%s: %v", m[1], err)
	}
	return d, nil
}

// LastLines is the last n lines of s, for failure messages.
func LastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
