// Package netns is the integration-test harness: it makes cluster nodes, each
// in its own network + UTS + mount namespace, links them with veth pairs, and
// runs our daemon or the real Heartbeat 3.0.6 from Debian inside them.
//
// Typical use:
//
//	netns.Require(t)                       // skips unless root + namespaces
//	a, b := netns.NewNode(t, "alpha"), netns.NewNode(t, "beta")
//	netns.Connect(t, a, b, "eth1", "10.31.1") // alpha 10.31.1.1/24, beta .2
//	a.WriteFile("/etc/ha.d/ha.cf", cf, 0o644) // path as the node sees it
//	p, err := a.Start("/path/to/hbd")         // or a.StartHeartbeat()
//	out, _, code, err := a.Run(ctx, "cl_status", "nodestatus", "beta")
//	a.SetLink("eth1", false)
//
// Everything is torn down by t.Cleanup, also when the test fails or panics:
// processes started in the node, then every other process left in its
// network+mount namespaces (found by scanning /proc, killed by PID), then the
// holder, then the node's directory. The holder and started processes carry
// PDEATHSIG=SIGKILL, so if the test binary itself dies (e.g. -timeout)
// they die too; Heartbeat's helper processes then exit by themselves within
// a few seconds and only the /tmp/lvsha-node-* directories remain. Nothing
// is created in the host's network namespace (veth pairs are made inside a
// node with the peer created directly in the other), so parallel test
// packages cannot clash; two full runs at once were tried.
//
// # Facts about the real Heartbeat found while writing this (Debian 12)
//
// Measured on this machine with heartbeat 1:3.0.6-13+b2.
//
// Installed by scripts/deps.sh (package heartbeat; resource-agents for the
// OCF shell functions that /etc/ha.d/shellfuncs sources). Paths:
//   - daemon /usr/libexec/heartbeat/heartbeat (options "dDkMrRsvWlC:Vf"; -h is
//     not an option). Other daemons there: ccm, ipfail, dopd, apphbd, and
//     api_test, clmtest.
//   - /usr/bin/cl_status, /usr/bin/cl_respawn; helper scripts in
//     /usr/share/heartbeat (ResourceManager, mach_down, req_resource,
//     hb_standby, hb_takeover); plugins in /usr/lib/heartbeat/plugins/{HBcomm,
//     HBauth,quorum,tiebreaker}.
//   - systemd unit: ExecStart=heartbeat -f, ExecStop=heartbeat -k,
//     PIDFile=/run/heartbeat.pid, KillMode=process.
//   - the package creates user hacluster (uid 103) and group haclient
//     (gid 106). tmpfiles.d makes /run/heartbeat{,/ccm,/crm,/dopd} and
//     /run/crm hacluster:haclient 0750; NewNode does the same in the node's
//     private /run.
//
// What one instance writes (so what must be private per node): /run/heartbeat.pid
// (text, the PID right-aligned in 10 columns and a newline), /run/heartbeat/register
// (API socket, root, 0777), /run/heartbeat/rsctmp (root, 1755),
// /var/lib/heartbeat/{hb_uuid (16 bytes), hb_generation, fifo (named pipe,
// root 0600), hostcache, delhostcache}, the log files named in ha.cf (created
// hacluster:haclient 0644), and resource scripts use /run/resource-agents.
// The host's /var/lib/heartbeat skeleton (api, casual, ccm, ckpt, cores/*,
// crm, lrm, pengine, with their owners) is copied. A private /run is needed
// (not only /run/heartbeat) because the PID file sits directly in /run.
// Heartbeat runs as root; nothing it needs runs as hacluster in haresources
// mode (no ccm, no crm).
//
// Two instances on one machine: one per node as set up here works, both on
// udpport 694, with no other changes. The node name is `uname -n` from the
// node's UTS namespace; no /etc/ha.d/nodeinfo is needed. A mixed-case
// host name ("Alpha") matches "node alpha" (names are lowercased).
//
// Start-up requirements, each checked before anything starts (exit status 6,
// "Configuration error, heartbeat not started."):
//   - authkeys must be mode 0600: "Bad permissions on keyfile
//     [/etc/ha.d//authkeys], 600 recommended." then "Authentication
//     configuration error." (checked before haresources).
//   - /etc/ha.d/haresources must exist; an empty file is fine. Missing:
//     "Cannot open resources file [/etc/ha.d//haresources]".
//   - with "use_logd no" there must be a logfile or debugfile line: "No log
//     entry found in ha.cf and use_logd is set to off". With "logfile" and
//     "use_logd no" it needs neither logd nor syslog (it only warns "Logging
//     daemon is disabled --enabling logging daemon is recommended").
//
// Noise that is harmless: "udpport setting must precede media statements"
// on stderr (no newline) even when udpport does come first; "ERROR: Cannot
// lock ourselves into memory: System limits on locked-in memory are too
// small." (this VM's RLIMIT_MEMLOCK is 8 MB hard and CAP_SYS_RESOURCE is
// missing, so prlimit cannot raise it); core-dump WARNs; "Initial dead time
// [2000 ms] may be too small!". Do not start it as a process-group leader
// (Setpgid): its own setsid() then fails, "ERROR: setsid() failure.:
// Operation not permitted". With -f the log lines up to "Configuration
// validated. Starting heartbeat 3.0.6" also go to stderr; the rest only to
// the log files.
//
// The bcast medium sends to the interface's broadcast address. An address
// added without "brd +" has none, and then not one packet leaves and nothing
// is logged about it; Connect always sets it. Sending on a downed interface
// logs "ERROR: glib: bcast_write: Unable to send HBcomm packet eth1
// 10.31.1.255:694 len=294 [-1]: Network is unreachable" each time until
// "WARN: Temporarily Suppressing write error messages" / "Is a cable
// unplugged on bcast eth1?".
//
// Process tree: master control process, FIFO reader, and a read and a write
// process per medium (5 helpers with bcast eth1 eth2). After kill -9 of the
// master the helpers exit by themselves (within about 1 s here; up to ~5 s
// when the test binary died). If the master dies while harc/mach_down
// scripts run, those can block for ever writing to /var/lib/heartbeat/fifo;
// the node teardown kills them.
//
// Figures (keepalive 200ms, deadtime 1, warntime 500ms, initdead 2, both
// nodes started at once; TestRealHeartbeatPair logs them on every run):
//   - API socket accepts connections 1.2-1.6 s after exec (the master sits in
//     poll first); before that cl_status fails with "Cannot signon with
//     heartbeat" / "REASON: hb_api_signon: Can't initiate connection to
//     heartbeat", exit 1.
//   - each node sees the other "active" 1.3-1.6 s after start; all four link
//     views "up" after 1.4-2.1 s.
//   - the fixed 10 s wait: "local resource transition completed." on one
//     node and "remote resource transition completed." on the other (plus
//     "Initial resource acquisition complete (T_RESOURCES(us))") 11.4-11.7 s
//     after start.
//   - if one node starts more than initdead before the other, it declares the
//     other dead ("WARN: node beta: is dead"), runs mach_down, and logs
//     "WARN: T_STARTING received during takeover." when the other appears.
//   - link cut (ip link set eth1 down on alpha) in steady state: alpha reports
//     link beta/eth1 "dead" after 1.1-1.2 s, beta reports alpha/eth1 dead
//     after 1.2-1.5 s; the node stays "active" over eth2. The same cut
//     within the start-up window (before the 10 s wait ends) took 3.2-3.8 s:
//     dead time is apparently lengthened while resources start. Link back up:
//     0.15-0.4 s.
//   - kill -9 of the master: the peer reports it "dead" after 1.0-1.25 s.
//   - SIGTERM (what heartbeat -k sends via the PID file) in steady state:
//     exits after 2.1-2.2 s ("Giving up all HA resources", then ~2 s later
//     it SIGTERMs its helpers, then "<node> Heartbeat shutdown complete.").
//     During resource activity it logs "Shutdown delayed until current
//     resource activity finishes" and takes longer: 5.4-7 s right after a
//     takeover, 10 s when stopped during its own start-up. heartbeat -k waits
//     for the exit (4 s once in a manual trial).
//   - cl_status hbparameter -p keepalive prints the raw "200ms".
package netns
