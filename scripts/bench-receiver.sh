#!/bin/sh
# Benchmark of vpsmon-receiver's own cost per webhook (parse, render, de-dup, console hand-off):
# builds the release binary and the load generator, then prints a table of figures and targets.
# Arguments go to the generator: [--rate 2000] [--seconds 10] [--alerts 10] [--connections 8].
set -eu
cd "$(dirname "$0")/.."
cargo build --release -q -p vpsmon-receiver --bin vpsmon-receiver --example bench_webhook
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/examples/bench_webhook" --receiver "$target/release/vpsmon-receiver" "$@"
