package hbdlab

import (
	"fmt"
	"strconv"
	"time"

	"lvsha/tests/netns"
)

// HACF is the ha.cf the labs share: per-node log files (LogFile and
// /var/log/ha-debug), no logd, deadtime 1 s, warntime 500 ms, udpport 694,
// bcast on eth1 and eth2, timers a real Heartbeat accepts too. The fields
// are what the tests vary.
type HACF struct {
	Comment   string        // the first line, after "# "
	Keepalive time.Duration // written as Go prints it: 200ms, 100ms
	Initdead  int           // seconds
	Failback  string        // auto_failback: on, off, legacy
	Nodes     string        // the node line's names, e.g. "alpha beta"
	Extra     string        // lines appended as they are (stonith_host ...)
}

func (c HACF) String() string {
	return "# " + c.Comment + `
logfile ` + LogFile + `
debugfile /var/log/ha-debug
use_logd no
keepalive ` + c.Keepalive.String() + `
deadtime 1
warntime 500ms
initdead ` + strconv.Itoa(c.Initdead) + `
udpport 694
bcast eth1 eth2
auto_failback ` + c.Failback + `
node ` + c.Nodes + "\n" + c.Extra
}

// Authkeys is an authkeys file with one key, index 1, of method (crc,
// md5 or sha1; crc takes no key).
func Authkeys(method, key string) string {
	if method == "crc" {
		return "auth 1\n1 crc\n"
	}
	return fmt.Sprintf("auth 1\n1 %s %s\n", method, key)
}

// Configure writes the node's ha.cf, authkeys (mode 0600: Heartbeat and
// hbd refuse a key file others can read) and haresources.
func Configure(n *netns.Node, haCF, authkeys, haresources string) {
	n.WriteFile("/etc/ha.d/ha.cf", []byte(haCF), 0o644)
	n.WriteFile("/etc/ha.d/authkeys", []byte(authkeys), 0o600)
	n.WriteFile("/etc/ha.d/haresources", []byte(haresources), 0o644)
}

// WebScript is the resource.d script "webserver" the LAN's directors
// have: httpd-like, it serves the node's name on port 80, so the client
// sees who holds the VIP.
const WebScript = `#!/bin/sh
# webserver: an httpd-like resource.d script. It serves the node's name on
# port 80 and answers status the way Heartbeat's ResourceManager reads it.
PID=/run/webserver.pid
running() { [ -f $PID ] && kill -0 "$(cat $PID)" 2>/dev/null; }
case "$1" in
start)
	running && exit 0
	mkdir -p /run/web && uname -n > /run/web/index.html
	setsid python3 -m http.server 80 --bind 0.0.0.0 --directory /run/web </dev/null >/dev/null 2>&1 &
	echo $! > $PID
	i=0
	while [ $i -lt 100 ]; do
		curl -s -o /dev/null --max-time 1 http://127.0.0.1/ && exit 0
		sleep 0.05; i=$((i+1))
	done
	echo "webserver did not start" >&2; exit 1;;
stop)
	if running; then kill "$(cat $PID)"; fi
	rm -f $PID; exit 0;;
status)
	if running; then echo running; else echo stopped; fi; exit 0;;
*) echo "usage: $0 start|stop|status" >&2; exit 1;;
esac
`
