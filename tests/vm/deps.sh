#!/usr/bin/env bash
# Installs, by Debian package name, what the IPVS VM tests need when missing:
# qemu (TCG), the distribution kernel and its modules (booted in the VM, not
# on this host), busybox-static and ipvsadm (copied into the initramfs), and
# xz-utils (to unpack the kernel once), keepalived (copied into the
# initramfs for the import differential). Run as root; tests/vm calls it.
set -euo pipefail
want=(qemu-system-x86 linux-image-amd64 busybox-static ipvsadm xz-utils keepalived)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "vm deps: need root to install: ${missing[*]}" >&2; exit 1
fi
echo "vm deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The kernel is only booted under qemu with our own initramfs: skip the
# host initramfs build its postinst would run (minutes on 2 cores).
export INITRD=No
# Keep package scripts from starting services on this host.
policy=/usr/sbin/policy-rc.d
had_policy=0; [ -e "$policy" ] && had_policy=1
if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; fi
trap '[ $had_policy = 0 ] && rm -f "$policy"' EXIT
apt-get update -qq >/dev/null || true
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
