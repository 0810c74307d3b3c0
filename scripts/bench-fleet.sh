#!/bin/sh
# The fleet benchmark (issue 18): what one monitoring host spends on N agents, with the shipped
# configs. Builds the binaries (release: what users run), then runs e2e/examples/bench_fleet.rs,
# which starts N real vpsmon-exporters on 127.1.x.y, gen-config's output for them (default
# profile), Debian's Prometheus and Alertmanager and the receiver with a loopback fake Telegram,
# and prints a table: Prometheus CPU/RSS/series per agent, scrape p99, rule evaluation, the
# dashboard's latency, and what the chat gets when 10 % of the agents vanish at once.
#
# Usage: scripts/bench-fleet.sh N [--intervals K] [--stop-share 0.1] [--storm-timeout SECS]
# Needs: prometheus, prometheus-alertmanager, prometheus-node-exporter (scripts/install-deps.sh);
# about 4 MB of RAM and one open file per agent (ulimit -n >= 2 N + 200).
set -eu
cd "$(dirname "$0")/.."
N="${1:?usage: scripts/bench-fleet.sh N [options]}"
need=$((2 * N + 200))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null || { echo "bench-fleet: needs ulimit -n >= $need" >&2; exit 1; }
fi
cargo build --release -q --bins -p vpsmon-exporter -p vpsmon-gen-config -p vpsmon-receiver
cargo build --release -q -p vpsmon-e2e --example bench_fleet
target="${CARGO_TARGET_DIR:-target}"
# The harness runs the binaries next to itself (target/release).
exec "$target/release/examples/bench_fleet" "$@"
