#!/usr/bin/env bash
# Installs the Debian packages vpsmon's tests and local stack use: the real Prometheus,
# Alertmanager (with promtool and amtool), node_exporter (the conformance reference),
# VictoriaMetrics (the scale-out test's remote_write target), docker-compose 1.29 with Podman
# and runc as its engine (e2e/tests/compose.rs starts docker-compose.yml for real through
# Podman's Docker API; runc because crun fails on these machines' hybrid cgroups; iptables, only
# suggested by podman, for the bridge network its image builds use) and Chromium
# (the dashboard's browser test). systemd-analyze checks the hardened units; debootstrap makes
# the minimal Debian root on which no default collector of the exporter may fail
# (exporter/tests/stock_machine.rs) and the compose test's base image; strace watches the
# exporter skip the lookups of sources it remembers missing (exporter/tests/absent_sources.rs);
# iproute2 makes the veth pair whose changes exporter/tests/link_changes.rs scrapes. Does nothing
# when they are all present; `install-deps.sh PKG...` installs just the packages named.
set -euo pipefail

packages=(prometheus prometheus-alertmanager prometheus-node-exporter victoria-metrics docker-compose podman runc iptables chromium systemd debootstrap strace iproute2)
binaries=(prometheus promtool prometheus-alertmanager amtool prometheus-node-exporter victoria-metrics docker-compose podman runc iptables chromium systemd-analyze debootstrap strace ip)

# With arguments: install exactly those packages (./vpsmon passes the ones the stack lacks).
if [ "$#" -gt 0 ]; then
  packages=("$@")
else
  missing=0
  for b in "${binaries[@]}"; do
    # debootstrap and iptables are in /usr/sbin, which a user's PATH may lack.
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/bin/$b" ] || [ -x "/usr/sbin/$b" ] || missing=1
  done
  [ "$missing" = 0 ] && exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get not found; install these packages by hand: ${packages[*]}" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo for apt-get" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${packages[*]}" >&2
# policy-rc.d 101: on a machine with an init system, Debian's postinst scripts would start
# prometheus, alertmanager and node_exporter as services on ports 9090/9093/9100, which the
# local stack and the tests want for themselves.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && $sudo rm -f "$policy"' EXIT
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
