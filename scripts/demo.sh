#!/usr/bin/env bash
# make demo: a two-director LVS cluster in network namespaces.
#
#   client ──┐                      ┌── real1   web server answering "real1"
#            ├── lan (bridge br0) ──┼── real2   web server answering "real2"
#            │    10.60.0.0/24      ├── director1 ─┐ eth1, eth2: two heartbeat
#            │                      └── director2 ─┘ links (10.61.1/24, 10.61.2/24)
#
# hbd runs on both directors with an administrator's classic files: ha.cf,
# authkeys and haresources. ldird health-checks the reals and balances the
# VIP across them: with kernel IPVS where the kernel has it (direct
# routing; the reals get the VIP on lo from scripts/lvs-realserver),
# otherwise with ldird's userspace dataplane (an L4 proxy). With IPVS, ldird
# runs on both directors with "syncdaemon = eth1" (the kernel's connection
# synchronisation over the heartbeat link) and haresources moves only the
# VIP, so the backup already knows every connection when it takes over;
# with the userspace dataplane haresources is
# "director1 IPaddr2::VIP/24/eth0 ldirectord::CONF" (hbd runs ldird).
#
# It shows round robin from the client, kills the active director and shows
# the backup serving (with IPVS: a slow download started before the kill
# finishes through the backup, byte for byte), stops a real's web server
# and shows it quiesced (weight 0, quiescent=yes) and no longer used,
# starts it again, and cleans up. Every wait has a time limit; on failure it
# prints the logs. Everything it creates (namespaces, processes, by PID, and
# its temporary directory) is removed on exit, on failure and on Ctrl-C.
#
# Environment: LVSHA_DEMO_DATAPLANE=ipvs|userspace forces a dataplane;
# LVSHA_DEMO_KEEP=1 keeps the temporary directory (configs and logs).
set -eEuo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }
BIN=$PWD/bin
for b in hbd cl_status ldird; do
  [ -x "$BIN/$b" ] || { echo "demo: build first (make build): $BIN/$b missing" >&2; exit 1; }
done
for c in ip curl busybox timeout; do
  command -v "$c" >/dev/null || { echo "demo: $c is missing (scripts/deps.sh demo installs it)" >&2; exit 1; }
done

tag=lvd$$
VIP=10.60.0.100
declare -A ip=([real1]=10.60.0.11 [real2]=10.60.0.12)
nodes=(lan client director1 director2 real1 real2)
LIMIT=${LVSHA_DEMO_LIMIT:-180} # the whole demo, seconds
work=
declare -A pid=()              # name -> PID of a process this demo started
watchdog=
t_start=$EPOCHREALTIME

# --- output --------------------------------------------------------------
if [ -t 1 ]; then B=$'\033[1m' R=$'\033[31m' N=$'\033[0m'; else B= R= N=; fi
usec() { local t=${1:-$EPOCHREALTIME}; echo "${t/[.,]/}"; }
elapsed() { local cs=$(( ($(usec) - $(usec "$t_start")) / 10000 )); printf '%3d.%02ds' $((cs / 100)) $((cs % 100)); }
ms_since() { echo $(( ($(usec) - $(usec "$1")) / 1000 )); }
step() { printf '\n%s[%s] == %s%s\n' "$B" "$(elapsed)" "$*" "$N"; }
say() { printf '[%s]    %s\n' "$(elapsed)" "$*"; }
indent() { sed 's/^/             | /'; }
quiet() { "$@" >/dev/null 2>&1; }
# logexcerpt FILE REGEX: the matching lines of an slog text log, as
# "time level message".
logexcerpt() {
  grep -E -- "$2" "$1" | sed -E 's/^time=[^T]*T([0-9:.]*)Z? level=([A-Z]+) msg=("([^"\\]|\\.)*"|[^ ]*).*/\1 \2 \3/; s/ "(.*)"$/ \1/; s/\\"/"/g' | sed "s|$work|\$tmp|g" | indent
}

ns() { echo "$tag-$1"; }
on() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
# spawn NAME NODE COMMAND...: start COMMAND in NODE's namespace in the
# background and remember its PID as NAME. The subshell execs ip, which
# execs COMMAND, so $! is COMMAND's own PID.
spawn() {
  local name=$1 n=$2
  shift 2
  ( exec ip netns exec "$(ns "$n")" "$@" ) &
  pid[$name]=$!
  disown "$!" # no "Killed" job notices when the demo kills it
}

logs() {
  [ -n "$work" ] && [ -d "$work" ] || return 0
  local f
  for f in "$work"/director*/ha-log "$work"/director*/hbd.stderr "$work"/director*/ldirectord.log "$work"/real*/httpd.log; do
    [ -s "$f" ] || continue
    printf '%s--- %s (last 25 lines)%s\n' "$B" "${f#"$work"/}" "$N" >&2
    tail -n 25 "$f" >&2
  done
}

fail() {
  trap - ERR
  printf '\n%s[%s] demo FAILED: %s%s\n' "$R" "$(elapsed)" "$*" "$N" >&2
  [ -n "${on_fail:-}" ] && "$on_fail" >&2
  logs
  exit 1
}

# wait_for SECONDS WHAT COMMAND...: poll COMMAND every 50 ms until it
# succeeds; fail with the logs after SECONDS.
wait_for() {
  local limit=$1 what=$2 t0=$EPOCHREALTIME
  shift 2
  until "$@"; do
    [ "$(ms_since "$t0")" -lt $((limit * 1000)) ] || fail "$what: not within ${limit}s"
    sleep 0.05
  done
}

# --- clean-up ------------------------------------------------------------
is_ours() { # PID NAME: the process is alive and still runs NAME
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$2"
}

cleanup() {
  local rc=$? p n k
  set +e
  trap - EXIT INT TERM ERR USR1
  [ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null
  step "Cleaning up: stopping what the demo started, deleting its namespaces"
  # ldird daemons were started by hbd's ldirectord resource; their PIDs are
  # in their pid files (LDIRD_RUNDIR, one per director).
  for n in director1 director2; do
    [ -n "$work" ] && [ -r "$work/$n/run/ldirectord.ldirectord.cf.pid" ] || continue
    p=$(cat "$work/$n/run/ldirectord.ldirectord.cf.pid")
    is_ours "$p" ldird && pid[ldird-$n]=$p
  done
  for k in "${!pid[@]}"; do kill -TERM "${pid[$k]}" 2>/dev/null; done
  for _ in $(seq 40); do
    local alive=0
    for k in "${!pid[@]}"; do kill -0 "${pid[$k]}" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.05
  done
  for k in "${!pid[@]}"; do kill -KILL "${pid[$k]}" 2>/dev/null && say "killed $k (pid ${pid[$k]}) with SIGKILL"; done
  # Anything left in our own namespaces (a web server's per-request child)
  # can only have been started by this demo.
  for n in "${nodes[@]}"; do
    for p in $(ip netns pids "$(ns "$n")" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  done
  sleep 0.1
  for n in "${nodes[@]}"; do ip netns del "$(ns "$n")" 2>/dev/null; done
  # veth ends that never made it into a namespace (a failure half-way).
  for p in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^${tag}"); do
    ip link del "$p" 2>/dev/null
  done
  if [ -n "${LVSHA_DEMO_KEEP:-}" ]; then say "kept the logs in $work (LVSHA_DEMO_KEEP)"; work=; fi
  [ -n "$work" ] && rm -rf "$work"
  local left
  left=$(ip netns list | grep -c "^$tag-")
  if [ "$left" = 0 ]; then say "removed ${#nodes[@]} namespaces, ${#pid[@]} processes and the temporary directory"; else
    printf '%s%s namespaces could not be removed%s\n' "$R" "$left" "$N" >&2; rc=1; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'fail "line $LINENO: \"$BASH_COMMAND\" failed"' ERR
trap 'printf "\n%sinterrupted%s\n" "$R" "$N" >&2; exit 130' INT
trap 'exit 143' TERM
trap 'fail "still running after ${LIMIT}s (LVSHA_DEMO_LIMIT): giving up"' USR1

work=$(mktemp -d /tmp/lvsha-demo.XXXXXX)
# The whole demo is bounded: after LIMIT seconds it is stopped (and cleaned up).
(
  trap 'kill "$s" 2>/dev/null; exit 0' TERM
  sleep "$LIMIT" & s=$!
  wait "$s"
  kill -USR1 $$
) &
watchdog=$!

# --- the network ---------------------------------------------------------
step "Building the network: a LAN bridge, a client, two directors, two real servers"
lnk() { local n=$1; shift; ip -n "$(ns "$n")" "$@"; } # ip in NODE's namespace
for n in "${nodes[@]}"; do
  ip netns add "$(ns "$n")"
  lnk "$n" link set lo up
done
lnk lan link add br0 type bridge
lnk lan link set br0 up
port=0
join() { # NODE IFNAME ADDR/CIDR: a port on the LAN bridge
  port=$((port + 1))
  ip link add "${tag}p$port" type veth peer name "${tag}q$port"
  ip link set "${tag}p$port" netns "$(ns lan)"
  ip link set "${tag}q$port" netns "$(ns "$1")"
  lnk lan link set "${tag}p$port" master br0 up
  lnk "$1" link set "${tag}q$port" name "$2"
  lnk "$1" addr add "$3" brd + dev "$2"
  lnk "$1" link set "$2" up
}
join client eth0 10.60.0.10/24
join director1 eth0 10.60.0.1/24
join director2 eth0 10.60.0.2/24
join real1 eth0 10.60.0.11/24
join real2 eth0 10.60.0.12/24
for i in 1 2; do # two direct heartbeat links between the directors
  ip link add "${tag}a$i" type veth peer name "${tag}b$i"
  ip link set "${tag}a$i" netns "$(ns director1)"
  ip link set "${tag}b$i" netns "$(ns director2)"
  lnk director1 link set "${tag}a$i" name "eth$i"
  lnk director2 link set "${tag}b$i" name "eth$i"
  lnk director1 addr add "10.61.$i.1/24" brd + dev "eth$i"
  lnk director2 addr add "10.61.$i.2/24" brd + dev "eth$i"
  lnk director1 link set "eth$i" up
  lnk director2 link set "eth$i" up
done
say "namespaces: $(printf '%s ' "${nodes[@]/#/$tag-}")"
say "client 10.60.0.10; director1 10.60.0.1, director2 10.60.0.2 (heartbeat on eth1 and eth2)"
say "real1 10.60.0.11, real2 10.60.0.12; the service: http://$VIP/"

# --- which dataplane -----------------------------------------------------
# ldird's ipvs dataplane talks to the kernel over generic netlink (family
# "IPVS"); ask the kernel for that family, after loading ip_vs if it is a
# module. No family: no IPVS, so ldird's userspace dataplane.
step "Does this kernel have IPVS?"
modprobe -q ip_vs 2>/dev/null || true
if on director1 genl ctrl get name IPVS >/dev/null 2>&1; then
  dataplane=ipvs why="the kernel has the IPVS generic netlink family"
else
  modmsg=$(modprobe ip_vs 2>&1 | sed 's/^modprobe: //; s/ in directory .*//' | head -n1) || true
  dataplane=userspace
  why="the kernel has no IPVS: no generic netlink family \"IPVS\"$( [ -e /proc/net/ip_vs ] || echo ', no /proc/net/ip_vs')${modmsg:+; modprobe ip_vs: $modmsg}"
fi
if [ -n "${LVSHA_DEMO_DATAPLANE:-}" ]; then
  [ "$LVSHA_DEMO_DATAPLANE" = ipvs ] || [ "$LVSHA_DEMO_DATAPLANE" = userspace ] || fail "LVSHA_DEMO_DATAPLANE must be ipvs or userspace"
  dataplane=$LVSHA_DEMO_DATAPLANE why="LVSHA_DEMO_DATAPLANE=$LVSHA_DEMO_DATAPLANE"
fi
say "$why"
if [ "$dataplane" = ipvs ]; then
  say "→ ldird uses kernel IPVS, direct routing (gate): the reals hold the VIP on lo"
  fwd=gate
else
  say "→ ldird uses its userspace dataplane (\"dataplane = userspace\" in ldirectord.cf):"
  say "  an L4 proxy on VIP:80; the reals see the director's address"
  fwd=masq
fi

# --- the real servers ----------------------------------------------------
step "Starting a web server on each real server (busybox httpd)"
start_web() { # REAL
  local r=$1
  mkdir -p "$work/$r/www"
  echo "$r" >"$work/$r/www/index.html"
  spawn "httpd-$r" "$r" busybox httpd -f -vv -p 80 -h "$work/$r/www" >>"$work/$r/httpd.log" 2>&1
}
web_up() { on "$1" curl -s --max-time 1 "http://127.0.0.1/" 2>/dev/null | grep -qx "$1"; }
for r in real1 real2; do
  mkdir -p "$work/$r/www"
  # The same 3 MB file on both reals, for the download across the failover.
  [ -f "$work/big" ] || head -c 3145728 /dev/urandom >"$work/big"
  cp "$work/big" "$work/$r/www/big"
  # Sent at about 400 KB/s by a CGI script, so the transfer lasts across
  # the failover whatever the client (curl's --limit-rate is not honoured
  # by every build).
  mkdir -p "$work/$r/www/cgi-bin"
  cat >"$work/$r/www/cgi-bin/big" <<EOF
#!/bin/sh
printf 'Content-Type: application/octet-stream\\r\\n\\r\\n'
i=0
while [ \$i -lt 77 ]; do
  dd if="$work/$r/www/big" bs=40960 skip=\$i count=1 2>/dev/null
  i=\$((i + 1))
  sleep 0.1
done
EOF
  chmod +x "$work/$r/www/cgi-bin/big"
  start_web "$r"
  if [ "$dataplane" = ipvs ]; then
    # LVS-DR real server: VIP on lo, arp_ignore=1/arp_announce=2.
    LVS_STATE_DIR=$work/$r/state on "$r" sh scripts/lvs-realserver start "$VIP" nic=eth0 >/dev/null 2>&1 ||
      fail "lvs-realserver start on $r"
  fi
done
for r in real1 real2; do
  wait_for 5 "web server on $r answering" web_up "$r"
  is_ours "${pid[httpd-$r]}" httpd || fail "pid ${pid[httpd-$r]} is not $r's web server"
  say "$r: busybox httpd pid ${pid[httpd-$r]} serves \"$r\" on ${ip[$r]}:80"
done

# --- the directors -------------------------------------------------------
if [ "$dataplane" = ipvs ]; then
  step "Starting ldird on both directors (syncdaemon) and hbd, which moves the VIP"
else
  step "Starting hbd on both directors (ldirectord is a resource: hbd runs ldird)"
fi
for n in director1 director2; do
  d=$work/$n
  mkdir -p "$d/ha.d" "$d/state" "$d/run"
  echo "$n" >"$d/ha.d/nodeinfo"
  cat >"$d/ha.d/ha.cf" <<EOF
# A classic two-director ha.cf, with fast timers for the demo.
logfile $d/ha-log
keepalive 100ms
warntime 300ms
deadtime 500ms
initdead 10
udpport 694
bcast eth1 eth2
auto_failback on
node director1 director2
crm no
EOF
  printf 'auth 1\n1 sha1 demo-secret\n' >"$d/ha.d/authkeys"
  chmod 600 "$d/ha.d/authkeys"
  if [ "$dataplane" = ipvs ]; then
    echo "director1 IPaddr2::$VIP/24/eth0" >"$d/ha.d/haresources"
  else
    echo "director1 IPaddr2::$VIP/24/eth0 ldirectord::$d/ha.d/ldirectord.cf" >"$d/ha.d/haresources"
  fi
  {
    echo "# ldirectord.cf as an administrator writes it."
    echo "checktimeout=1"
    echo "checkinterval=1"
    echo "autoreload=yes"
    echo "quiescent=yes"
    echo "logfile=\"$d/ldirectord.log\""
    [ "$dataplane" = userspace ] && echo "dataplane = userspace  # ldird's extension: no IPVS in this kernel"
    [ "$dataplane" = ipvs ] && echo "syncdaemon = eth1 syncid=1  # ldird's extension: the kernel's connection sync, both roles"
    cat <<EOF

virtual=$VIP:80
	real=10.60.0.11:80 $fwd 1
	real=10.60.0.12:80 $fwd 1
	service=http
	request="index.html"
	receive="real"
	scheduler=rr
	protocol=tcp
	checktype=negotiate
EOF
  } >"$d/ha.d/ldirectord.cf"
  on "$n" "$BIN/hbd" -t -c "$d/ha.d" -state-dir "$d/state" >"$d/hbd.check" 2>&1 ||
    { cat "$d/hbd.check" >&2; fail "hbd -t on $n"; }
  on "$n" "$BIN/ldird" -t "$d/ha.d/ldirectord.cf" >"$d/ldird.check" 2>&1 ||
    { cat "$d/ldird.check" >&2; fail "ldird -t on $n"; }
  if [ "$dataplane" = ipvs ]; then
    # Not a resource: the backup needs its table and its backup sync
    # daemon before it takes over.
    on "$n" env LDIRD_RUNDIR="$d/run" "$BIN/ldird" "$d/ha.d/ldirectord.cf" start >"$d/ldird.start" 2>&1 ||
      { cat "$d/ldird.start" >&2; fail "ldird start on $n"; }
    say "$n: ldird started (pid $(cat "$d/run/ldirectord.ldirectord.cf.pid")), sync daemons: $(on "$n" ipvsadm -L --daemon | sed 's/ sync daemon (mcast=/ on /; s/, maxlen.*//; s/)//' | tr '\n' ';' | sed 's/;$//')"
  fi
  # ldird finds its pid file and socket in LDIRD_RUNDIR (not /var/run: two
  # directors share this host's file system).
  spawn "hbd-$n" "$n" env LDIRD_RUNDIR="$d/run" "$BIN/hbd" -f -c "$d/ha.d" -state-dir "$d/state" \
    -pidfile "$d/hbd.pid" -socket "$d/hbd.sock" -ldird "$BIN/ldird" -on-stop-failure ignore 2>"$d/hbd.stderr"
  wait_for 5 "hbd on $n running" is_ours "${pid[hbd-$n]}" hbd
  say "$n: hbd -t:$(sed "s|^$d/ha.d:||" "$d/hbd.check" | head -n1); ldird -t: configuration OK; hbd started, pid ${pid[hbd-$n]}"
done
say "haresources on both: $(cat "$work/director1/ha.d/haresources" | sed "s|$work|\$tmp|")"

other() { [ "$1" = director1 ] && echo director2 || echo director1; }
cls() { HBD_SOCKET=$work/$1/hbd.sock on "$1" "$BIN/cl_status" "${@:2}" 2>/dev/null || true; }
ldstatus() { LDIRD_RUNDIR=$work/$1/run on "$1" timeout 5 "$BIN/ldird" "$work/$1/ha.d/ldirectord.cf" status 2>/dev/null; }
get() { on client curl -s --max-time "${1:-2}" "http://$VIP/" 2>/dev/null || echo "(no answer)"; }
served() { local r; r=$(get 0.3); [ "$r" = real1 ] || [ "$r" = real2 ]; }
sees_active() { [ "$(cls "$1" nodestatus "$(other "$1")")" = active ]; }

t0=$EPOCHREALTIME
wait_for 20 "director1 holding the VIP and the client answered" served
say "the VIP answers the client $(ms_since "$t0") ms after hbd started"
for n in director1 director2; do
  wait_for 5 "$n seeing $(other "$n") active" sees_active "$n"
  say "$n: cl_status rscstatus → $(cls "$n" rscstatus); nodestatus $(other "$n") → $(cls "$n" nodestatus "$(other "$n")"); links eth1 $(cls "$n" hblinkstatus "$(other "$n")" eth1), eth2 $(cls "$n" hblinkstatus "$(other "$n")" eth2)"
done
say "director1 holds: $(lnk director1 -4 -o addr show dev eth0 | awk '{print $4}' | tr '\n' ' ')"

# --- round robin ---------------------------------------------------------
step "The client asks http://$VIP/ six times: round robin across the reals"
declare -A seen=()
for i in 1 2 3 4 5 6; do r=$(get); seen[$r]=1; say "request $i → $r"; done
[ -n "${seen[real1]:-}" ] && [ -n "${seen[real2]:-}" ] || fail "round robin: both reals should have answered"

step "ldird status on director1 (the table, then each real's health)"
wait_for 5 "ldird status on director1" quiet ldstatus director1
ldstatus director1 | indent

# --- failover ------------------------------------------------------------
dl_pid=
if [ "$dataplane" = ipvs ]; then
  step "A slow download through the VIP (3 MB, sent at 400 KB/s), started before the failover"
  ( exec ip netns exec "$(ns client)" curl -s -o "$work/got" -w '%{http_code} %{size_download}\n' "http://$VIP/cgi-bin/big" >"$work/dl.result" 2>"$work/dl.err" ) &
  dl_pid=$!
  pid[curl]=$dl_pid
  disown "$dl_pid"
  t0=$EPOCHREALTIME
  # What the kernel says about the sync on both sides, when it failed.
  sync_state() {
    local n
    for n in director1 director2; do
      printf '%s--- %s: ipvsadm -L --daemon; -Lnc; sync sysctls; eth1 groups and counters%s\n' "$B" "$n" "$N"
      on "$n" ipvsadm -L --daemon
      on "$n" ipvsadm -Lnc
      on "$n" cat /proc/net/ip_vs_conn_sync 2>/dev/null | head -n 20
      on "$n" sh -c 'cd /proc/sys/net/ipv4/vs && for f in sync_*; do printf "%s=%s " "$f" "$(cat "$f")"; done; echo'
      lnk "$n" maddr show dev eth1
      lnk "$n" -s link show dev eth1
      on "$n" cat /proc/net/snmp | grep -E '^(Ip|Udp):'
    done
    printf '%s--- the download: curl pid %s %s; result "%s"; stderr "%s"; %s bytes so far%s\n' "$B" "$dl_pid" \
      "$(kill -0 "$dl_pid" 2>/dev/null && echo running || echo gone)" "$(cat "$work/dl.result" 2>/dev/null)" \
      "$(cat "$work/dl.err" 2>/dev/null)" "$(stat -c %s "$work/got" 2>/dev/null || echo 0)" "$N"
    on client cat /proc/net/tcp
    printf '%s--- ldird status --connections on director2%s\n' "$B" "$N"
    LDIRD_RUNDIR=$work/director2/run on director2 timeout 5 "$BIN/ldird" "$work/director2/ha.d/ldirectord.cf" status --connections 2>&1
  }
  synced() { LDIRD_RUNDIR=$work/director2/run on director2 timeout 5 "$BIN/ldird" "$work/director2/ha.d/ldirectord.cf" status --connections 2>/dev/null | grep -E "ESTABLISHED .* $VIP:80 .* sync\$" >/dev/null; }
  on_fail=sync_state
  wait_for 10 "director2 learning the download's connection" synced
  on_fail=
  say "director2 has the connection $(ms_since "$t0") ms after the download began (ldird status --connections on director2):"
  LDIRD_RUNDIR=$work/director2/run on director2 "$BIN/ldird" "$work/director2/ha.d/ldirectord.cf" status --connections 2>/dev/null | grep -E "^pro|$VIP:80" | indent
fi
step "Killing director1: kill -9 of its hbd and ldird, and its LAN cable pulled"
p=$(cat "$work/director1/run/ldirectord.ldirectord.cf.pid" 2>/dev/null || true)
[ -n "$p" ] && is_ours "$p" ldird || fail "no ldird running on director1"
kill -KILL "${pid[hbd-director1]}" "$p"
t_kill=$(( $(usec) / 1000 )) # ms since the epoch
say "killed hbd (pid ${pid[hbd-director1]}) and ldird (pid $p)"
unset 'pid[hbd-director1]'
lnk director1 link set eth0 down
t0=$EPOCHREALTIME
wait_for 10 "the client served by director2" served
say "the client is served again $(ms_since "$t0") ms after the kill (client polling every 50 ms, 0.3 s timeout)"
holds_all() { [ "$(cls "$1" rscstatus)" = all ]; }
wait_for 5 "director2 holding all resources" holds_all director2
say "director2's ha-log:"
logexcerpt "$work/director2/ha-log" 'is dead|Taking over|Running|acquired'
t_dead=$(sed -nE 's/^time=([^ ]*) .*node director1: is dead.*/\1/p' "$work/director2/ha-log" | head -n1)
t_dead=$(date -u -d "$t_dead" +%s%3N 2>/dev/null) || t_dead= # GNU date: the log's RFC 3339 time in ms
case "$t_dead" in "" | *[!0-9]*) ;; *) say "director2 declared director1 dead $((t_dead - t_kill)) ms after the kill" ;; esac
say "director2: cl_status nodestatus director1 → $(cls director2 nodestatus director1); rscstatus → $(cls director2 rscstatus)"
say "director2 holds: $(lnk director2 -4 -o addr show dev eth0 | awk '{print $4}' | tr '\n' ' ')"
seen=()
for i in 1 2 3 4; do r=$(get); seen[$r]=1; say "request $i → $r"; done
[ -n "${seen[real1]:-}" ] && [ -n "${seen[real2]:-}" ] || fail "after failover: both reals should answer"
if [ -n "$dl_pid" ]; then
  # curl writes its -w line when it ends, whatever the outcome.
  dl_done() { [ -s "$work/dl.result" ] || ! kill -0 "$dl_pid" 2>/dev/null; }
  wait_for 30 "the download finishing" dl_done
  unset 'pid[curl]'
  read -r code size <"$work/dl.result" || true
  [ "${code:-}" = 200 ] && cmp -s "$work/big" "$work/got" ||
    fail "the download did not survive the failover (HTTP ${code:-none}, ${size:-0} bytes; $(cat "$work/dl.err"))"
  say "the download finished through director2: HTTP $code, $size bytes, identical to the file (cmp)"
  say "  → the connection survived the failover: director2's IPVS had it from director1's sync daemon"
fi

# --- a real fails --------------------------------------------------------
step "Stopping the web server on real2 (kill of its pid ${pid[httpd-real2]}): ldird quiesces it"
kill -TERM "${pid[httpd-real2]}"
unset 'pid[httpd-real2]'
t0=$EPOCHREALTIME
real2_quiesced() { ldstatus director2 | grep -E -- "->[[:space:]]+10\.60\.0\.12:80" | awk '{print $4}' | grep -qx 0; }
wait_for 10 "real2 at weight 0 in ldird status" real2_quiesced
say "real2 at weight 0 after $(ms_since "$t0") ms (checkinterval 1 s, quiescent=yes keeps it in the table)"
say "director2's ldird log:"
logexcerpt "$work/director2/ldirectord.log" 'real server down|Quiescent'
say "ldird status on director2:"
ldstatus director2 | indent
for i in 1 2 3 4; do
  r=$(get); say "request $i → $r"
  [ "$r" = real1 ] || fail "with real2 quiesced every request should go to real1, got \"$r\""
done

step "Starting real2's web server again: back to weight 1"
start_web real2
t0=$EPOCHREALTIME
real2_back() { ldstatus director2 | grep -E -- "->[[:space:]]+10\.60\.0\.12:80" | awk '{print $4}' | grep -qx 1; }
wait_for 10 "real2 back at weight 1" real2_back
say "real2 (new pid ${pid[httpd-real2]}) back at weight 1 after $(ms_since "$t0") ms"
seen=()
for i in 1 2 3 4; do r=$(get); seen[$r]=1; say "request $i → $r"; done
[ -n "${seen[real1]:-}" ] && [ -n "${seen[real2]:-}" ] || fail "real2 should be serving again"

step "Demo finished: round robin, failover to director2, real2 quiesced and back"
