#!/usr/bin/env bash
# vpsmon's test command (README: "Run the tests"). On a fresh Debian/Ubuntu machine it installs
# the real Prometheus, Alertmanager, node_exporter, VictoriaMetrics and docker-compose the tests
# run against, then runs every test of the workspace plus the config checks.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

# The CLI, conformance and end-to-end tests run the built binaries, so build them all first
# (`cargo test -p X` builds only X's own binaries).
cargo build --workspace --bins
cargo test --workspace
