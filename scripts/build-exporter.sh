#!/usr/bin/env bash
# Builds vpsmon-exporter as it is installed on the VPSs (exporter/README.md, "Which build to
# install") and prints the binary's path. Used by the Dockerfile and scripts/bench-exporter.sh,
# so the image ships the build the benchmark measures.
#
# On x86_64: the release-small profile (root Cargo.toml), glibc linked statically (no
# libc.so/ld.so/libm/libgcc_s mapped), and the functions the start-up and a scrape run placed
# together at the start of .text (rust-lld's --symbol-ordering-file, exporter/symbol-order.txt),
# so the kernel's fault-around maps few 64 KiB windows of code. Functions missing from the
# ordering file (code changed since it was generated) go after the listed ones, silently: a
# stale file costs memory, never the build. v0 symbol mangling keeps the listed names free of
# per-function hashes. --target keeps RUSTFLAGS off build scripts and proc macros, and these
# artefacts in their own directory, so ordinary builds are not rebuilt. The ordering file's
# path is relative (cargo links from the workspace root), so RUSTFLAGS, and with them the
# build, are the same in every checkout.
# Elsewhere (arm64 ...): release-small alone (GNU ld does not know --symbol-ordering-file).
#
# Usage: scripts/build-exporter.sh [extra cargo flags, e.g. --locked]
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

if [[ "$(uname -m)" != x86_64 ]]; then
    cargo build --quiet --profile release-small -p vpsmon-exporter --bin vpsmon-exporter "$@" >&2
    echo "$TARGET_DIR/release-small/vpsmon-exporter"
    exit 0
fi

TRIPLE=x86_64-unknown-linux-gnu
ORDER_FILE=exporter/symbol-order.txt
export RUSTFLAGS="-C target-feature=+crt-static -C symbol-mangling-version=v0 -C link-arg=-Wl,--symbol-ordering-file=$ORDER_FILE -C link-arg=-Wl,--no-warn-symbol-ordering"
BIN="$TARGET_DIR/$TRIPLE/release-small/vpsmon-exporter"
# Cargo does not track the ordering file: relink when it is newer than the binary.
if [[ -e "$BIN" && "$ORDER_FILE" -nt "$BIN" ]]; then touch exporter/src/main.rs; fi
# The binary alone: an example or test in the same command would turn on the dev-dependencies'
# features of shared dependencies, which changes the binary (and every symbol name listed).
cargo build --quiet --profile release-small --target "$TRIPLE" -p vpsmon-exporter --bin vpsmon-exporter "$@" >&2
echo "$BIN"
