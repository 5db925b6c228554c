#!/usr/bin/env bash
# Installs, by Debian package name, what the demo and the tests need when it is missing.
# Packages that would start services on install are kept from doing so (policy-rc.d).
set -euo pipefail
want=(heartbeat iproute2 nftables tcpdump procps psmisc libxml2-utils resource-agents curl python3)
case "${1:-test}" in
  demo) want=(iproute2 nftables procps curl) ;;
  bench) want+=(ldirectord ipvsadm) ;;
esac
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
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
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
