#!/usr/bin/env bash
# Installs, by Debian package name, what the demo and the tests need when it is missing.
#   deps.sh test    every real peer any test of `make test` uses (the default); make test runs
#                   it before any test starts, so no test installs anything while others run
#   deps.sh demo    what `make demo` (scripts/demo.sh) calls
#   deps.sh bench   what `make bench` needs: test's list (it has ldirectord and ipvsadm), haproxy and wrk
# "a|b" means either package will do (the first is installed when neither is).
# Packages that would start services on install are kept from doing so (policy-rc.d).
# With everything present it only asks dpkg, once.
set -euo pipefail
# demo.sh: ip and genl (iproute2), curl (the client), busybox httpd (the web
# servers), modprobe (kmod: load ip_vs where it is a module), timeout/date/seq
# (coreutils), awk, sed and grep.
demo=(iproute2 curl 'busybox-static|busybox' kmod coreutils mawk sed grep)
# make test, by what uses it (read the tests' testenv.Require*/Skip calls):
test=(
  # the demo itself (make test runs scripts/demo.sh), and in the VM (tests/install/vmdemo)
  iproute2 curl kmod coreutils mawk sed grep
  # busybox httpd: ldird/check; the VM's initramfs needs the static one (it conflicts with busybox)
  busybox-static
  # tests/netns, tests/cluster, bench: the real Heartbeat 3.0.6 and cl_status
  heartbeat
  # hbd/fence, tests/fencing: cluster-glue's stonith program, meatware/meatclient and the
  # external/ plugin directory (Heartbeat depends on it too)
  cluster-glue
  # nsenter, mount, setpriv (tests/netns, tests/hardening control socket), ping (tests/netns)
  util-linux mount 'iputils-ping|inetutils-ping'
  # tests/hardening: nftables drops; iptables NFQUEUE delays (this kernel's nftables has no
  # queue statement); tcpdump (tests/cluster captures gratuitous ARPs); procps, psmisc
  nftables iptables tcpdump procps psmisc
  # resources: the real IPaddr2 and Dummy, ocf-tester, ra-api-1.dtd; xmllint validates meta-data
  resource-agents libxml2-utils
  # ldird/config: the real Perl ldirectord 4.12 parser (differential tests); ldird/check
  # external-perl checks
  ldirectord perl
  # ldird/check against real servers: dnsmasq (DNS), slapd (LDAP), PostgreSQL, python3 http.server
  # (and hbd/wire's verify_hbauth.py)
  dnsmasq-base slapd postgresql python3
  # tests/install: make install/uninstall, man pages rendered (groff -ww, man -l), units checked
  # with systemd-analyze verify
  make groff-base man-db systemd
  # tests/console: hbd's web console in a real browser (headless Chromium driven by chromedp), and a
  # font for its screenshot
  chromium fonts-dejavu-core
  # tests/vm and tests/install/vmdemo: qemu (TCG), Debian's kernel and modules (booted in the VM,
  # not on this host; see INITRD below), ipvsadm (copied into the initramfs), xz (unpacks the kernel)
  qemu-system-x86 linux-image-amd64 ipvsadm xz-utils
  # importer and tests/vm (TestImportDifferentialInVM): the real keepalived 2.2.7, compared with
  # lvsha-import's output (keepalived -t, a VRRP pair, and its IPVS table in the VM)
  keepalived
)
case "${1:-test}" in
  test) want=("${test[@]}") ;;
  # bench/proxy_test.go: HAProxy 2.6 (mode tcp) beside the userspace dataplane, loaded by wrk
  bench) want=("${test[@]}" haproxy wrk) ;;
  demo) want=("${demo[@]}") ;;
  *) echo "usage: deps.sh [test|demo|bench]" >&2; exit 2 ;;
esac
# One dpkg-query for every name: the installed ones print "name ok".
declare -A have=()
names=()
for alts in "${want[@]}"; do IFS='|' read -r -a choices <<<"$alts"; names+=("${choices[@]}"); done
while read -r name status; do
  [ "$status" = installed ] && have[$name]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${names[@]}" 2>/dev/null || true)
missing=()
for alts in "${want[@]}"; do
  ok=0
  IFS='|' read -r -a choices <<<"$alts"
  for p in "${choices[@]}"; do [ -n "${have[$p]:-}" ] && { ok=1; break; }; done
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
# The kernel is installed only to be booted under qemu with the VM's own
# initramfs: skip the host initramfs its postinst would build (minutes on 2
# cores). Only when linux-image-amd64 is missing, i.e. this host does not
# boot Debian's kernel package (a container); a host that does has it already.
for p in "${missing[@]}"; do [ "$p" = linux-image-amd64 ] && export INITRD=No; done
# Keep package scripts from starting daemons (heartbeat, ldirectord, slapd,
# postgresql, dnsmasq) on this host.
policy=/usr/sbin/policy-rc.d
had_policy=0; [ -e "$policy" ] && had_policy=1
if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; fi
trap '[ $had_policy = 0 ] && rm -f "$policy"' EXIT
apt-get update -qq >/dev/null || true
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
