#!/usr/bin/env bash
# make demo: two hbd directors in their own network namespaces, joined by two
# links (eth1, eth2), heartbeating with bcast on both. It shows what
# cl_status reports, cuts one link, then both, brings them back, and kills one
# node. Everything it creates is removed on exit, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }
HBD=$PWD/bin/hbd
[ -x "$HBD" ] || { echo "demo: build first (make build)" >&2; exit 1; }

tag=d$$
work=$(mktemp -d /tmp/lvsha-demo.XXXXXX)
nodes=(director1 director2)
pids=()

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ns() { echo "$tag-$1"; }

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for n in "${nodes[@]}"; do ip netns del "$(ns "$n")" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

for n in "${nodes[@]}"; do
  ip netns add "$(ns "$n")"
  ip -n "$(ns "$n")" link set lo up
done
for i in 1 2; do
  ip link add "${tag}a$i" type veth peer name "${tag}b$i"
  ip link set "${tag}a$i" netns "$(ns director1)"
  ip link set "${tag}b$i" netns "$(ns director2)"
  ip -n "$(ns director1)" link set "${tag}a$i" name "eth$i"
  ip -n "$(ns director2)" link set "${tag}b$i" name "eth$i"
  ip -n "$(ns director1)" addr add "10.200.$i.1/24" broadcast + dev "eth$i"
  ip -n "$(ns director2)" addr add "10.200.$i.2/24" broadcast + dev "eth$i"
  ip -n "$(ns director1)" link set "eth$i" up
  ip -n "$(ns director2)" link set "eth$i" up
done

for n in "${nodes[@]}"; do
  d=$work/$n
  mkdir -p "$d/ha.d" "$d/state"
  printf '%s\n' "$n" >"$d/ha.d/nodeinfo"
  cat >"$d/ha.d/ha.cf" <<EOF
# The demo's ha.cf: a classic two-director file, with fast timers.
keepalive 200ms
warntime 600ms
deadtime 1
initdead 2
udpport 694
bcast eth1 eth2
auto_failback on
node director1 director2
logfile $d/ha-log
EOF
  printf 'auth 1\n1 sha1 demo-secret\n' >"$d/ha.d/authkeys"
  chmod 600 "$d/ha.d/authkeys"
  ip netns exec "$(ns "$n")" "$HBD" -f -c "$d/ha.d" -state-dir "$d/state" \
    -pidfile "$d/hbd.pid" -socket "$d/hbd.sock" 2>"$d/stderr" &
  pids+=($!)
done

cls() { # node, cl_status args...
  local n=$1; shift
  HBD_SOCKET=$work/$n/hbd.sock ip netns exec "$(ns "$n")" "$PWD/bin/cl_status" "$@" || true
}
show() {
  for n in "${nodes[@]}"; do
    local peer=director2; [ "$n" = director2 ] && peer=director1
    printf '%-10s sees %-10s %-7s links: eth1 %-5s eth2 %s\n' "$n" "$peer" \
      "$(cls "$n" nodestatus "$peer")" "$(cls "$n" hblinkstatus "$peer" eth1)" "$(cls "$n" hblinkstatus "$peer" eth2)"
  done
}

bold "Two directors started (keepalive 200ms, deadtime 1s, bcast on eth1 and eth2)"
sleep 1.5
show
bold "cl_status listnodes -v on director1"
cls director1 listnodes -v

bold "Cutting eth1 on director1: the link dies, the node stays up"
ip -n "$(ns director1)" link set eth1 down
sleep 1.6
show

bold "Cutting eth2 too: no link hears the peer, so it is declared dead"
ip -n "$(ns director1)" link set eth2 down
sleep 1.6
show

bold "Both links back: the peer is alive again"
ip -n "$(ns director1)" link set eth1 up
ip -n "$(ns director1)" link set eth2 up
sleep 1.5
show

bold "kill -9 of director2's hbd: director1 declares it dead within its deadtime"
kill -9 "${pids[1]}"
start=$(date +%s%N)
until [ "$(cls director1 nodestatus director2)" = dead ]; do sleep 0.02; done
echo "director2 declared dead after $(( ($(date +%s%N) - start) / 1000000 )) ms (deadtime 1000 ms)"
show

bold "What director1 logged"
grep -E 'Status update|Link |is dead|Late heartbeat' "$work/director1/ha-log" | sed 's/^/  /' | tail -15
bold "Packet counters on director1 (cl_status counters)"
cls director1 counters
echo
echo "Demo done; cleaning up."
