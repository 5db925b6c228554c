#!/usr/bin/env bash
# make bench: runs the side-by-side benchmarks (go test -tags bench ./bench/)
# and writes their tables to bench/results/DATE.txt (DATE-quick.txt under
# LVSHA_BENCH_QUICK=1), headed by what the figures depend on: the machine,
# the commit, the tools' versions and the load before and after. The full
# go test output goes next to it as DATE.log (not committed).
#   LVSHA_BENCH_QUICK=1   a few minutes, 2 runs per figure: NOT citable
#   LVSHA_BENCH_RUNS=N    runs per figure (default 7; fewer is not citable)
#   LVSHA_BENCH_SOAK=10m  length of the false-failover soak
#   BENCH_RUN=REGEXP      only the matching tests (go test -run)
set -uo pipefail
cd "$(dirname "$0")/.."
quick=${LVSHA_BENCH_QUICK:-}
suffix=; [ -n "$quick" ] && suffix=-quick
dir=bench/results
mkdir -p "$dir"
day=$(date +%F)
out=$dir/$day$suffix.txt
k=2
while [ -e "$out" ]; do out=$dir/$day$suffix-$k.txt; k=$((k+1)); done
log=${out%.txt}.log
timeout=120m; [ -n "$quick" ] && timeout=25m

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
# busiest: the five processes using most CPU over 2 s (top's second frame).
busiest() {
  top -b -n 2 -d 2 -w 200 2>/dev/null | awk '/^top -/ { n++ }
    n == 2 && $1 ~ /^[0-9]+$/ { printf "     %5s %% %s\n", $9, $12; if (++c == 5) exit }'
}
# busy: how busy the whole machine is over 3 s (all CPUs, from /proc/stat).
busy() {
  local a b
  a=$(head -n1 /proc/stat); sleep 3; b=$(head -n1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x); split(b, y); t = 0; i = 0
    for (k = 2; k <= 9; k++) t += y[k] - x[k]
    i = (y[5] - x[5]) + (y[6] - x[6])
    printf "%.0f %% of %d CPUs busy over 3 s", t ? 100 * (t - i) / t : 0, '"$(nproc)"' }'
}
{
  echo "lvsha make bench — results"
  if [ -n "$quick" ] || { [ -n "${LVSHA_BENCH_RUNS:-}" ] && [ "${LVSHA_BENCH_RUNS}" -lt 7 ]; }; then
    echo "mode: QUICK (LVSHA_BENCH_QUICK=1 or fewer than 7 runs): for trying the bench, NOT CITABLE"
  else
    echo "mode: full (7 or more runs per figure)"
  fi
  echo "started: $(date -Is)"
  commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
  # Results files are not code: a new one replacing an old one is no change.
  dirty=$(git status --porcelain --untracked-files=no -- . ':!bench/results' 2>/dev/null | wc -l)
  echo "commit: $commit on $(git rev-parse --abbrev-ref HEAD 2>/dev/null)$( [ "$dirty" -gt 0 ] && echo " + $dirty uncommitted change(s)")"
  echo "machine: $(uname -srm); $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "         $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo); virtualization: $(systemd-detect-virt 2>/dev/null || echo unknown)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME") (debian_version $(cat /etc/debian_version 2>/dev/null))"
  echo "go: $(go version | cut -d' ' -f3-)"
  echo "tools: heartbeat $(pkgver heartbeat), ldirectord $(pkgver ldirectord), resource-agents $(pkgver resource-agents), haproxy $(pkgver haproxy), wrk $(pkgver wrk), ipvsadm $(pkgver ipvsadm) (a stand-in replaces it: no IPVS here)"
  echo "settings: LVSHA_BENCH_RUNS=${LVSHA_BENCH_RUNS:-default} LVSHA_BENCH_SOAK=${LVSHA_BENCH_SOAK:-default} BENCH_RUN=${BENCH_RUN:-all}"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(busy)"
  echo "   busiest processes before (%CPU of one core over 2 s):"
  busiest
} >"$out"
echo "bench: results go to $out (full output: $log)"
t0=$(date +%s)
export LVSHA_BENCH_RESULTS="$PWD/$out"
go test -tags bench -count=1 -v -timeout "$timeout" ${BENCH_RUN:+-run "$BENCH_RUN"} ./bench/ 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
{
  echo
  echo "finished: $(date -Is) after $(( ($(date +%s) - t0) / 60 )) min $(( ($(date +%s) - t0) % 60 )) s; go test exit status $rc"
  grep -E '^\s*--- FAIL' "$log" | sed 's/^/   /'
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(busy)"
  echo "   busiest processes after (%CPU of one core over 2 s):"
  busiest
} >>"$out"
echo "bench: wrote $out"
exit "$rc"
