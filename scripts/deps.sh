#!/usr/bin/env bash
# Installs, by Debian package name, what the demo and the tests need when it is missing.
#   deps.sh test    what `make test` needs (the default)
#   deps.sh demo    what `make demo` (scripts/demo.sh) calls
#   deps.sh bench   test's list plus the reference ldirectord, ipvsadm, haproxy and wrk
# "a|b" means either package will do (the first is installed when neither is):
# busybox and busybox-static conflict, and tests/vm installs busybox-static.
# Packages that would start services on install are kept from doing so (policy-rc.d).
set -euo pipefail
# groff-base and man-db: tests/install renders every man page (groff -ww, man -l).
# iptables: tests/hardening delays heartbeats through an NFQUEUE rule (this
# kernel's nftables has no queue statement).
want=(heartbeat iproute2 nftables iptables tcpdump procps psmisc libxml2-utils resource-agents curl python3
  groff-base man-db)
case "${1:-test}" in
  test) ;;
  # demo.sh: ip and genl (iproute2), curl (the client), busybox httpd (the web
  # servers), modprobe (kmod: load ip_vs where it is a module), timeout/date/seq
  # (coreutils), awk, sed and grep.
  demo) want=(iproute2 curl 'busybox-static|busybox' kmod coreutils mawk sed grep) ;;
  bench) want+=(ldirectord ipvsadm haproxy wrk) ;;
  *) echo "usage: deps.sh [test|demo|bench]" >&2; exit 2 ;;
esac
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
for alts in "${want[@]}"; do
  ok=0
  IFS='|' read -r -a choices <<<"$alts"
  for p in "${choices[@]}"; do installed "$p" && { ok=1; break; }; done
  # awk may come from another package (gawk, original-awk): any awk will do.
  [ $ok = 0 ] && [ "$alts" = mawk ] && command -v awk >/dev/null && ok=1
  [ $ok = 1 ] || missing+=("${choices[0]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: need root to install: ${missing[*]}" >&2; exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting daemons (heartbeat, ldirectord) on this host.
policy=/usr/sbin/policy-rc.d
had_policy=0; [ -e "$policy" ] && had_policy=1
if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; fi
trap '[ $had_policy = 0 ] && rm -f "$policy"' EXIT
apt-get update -qq >/dev/null || true
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
