# syntax=docker/dockerfile:1
# One image with vpsmon's three programs; docker-compose.yml picks the program per service.
# One image rather than three: the binaries share nearly all their dependencies (tokio, axum,
# reqwest, rustls), so one `cargo build` compiles them once, and the three together are a few
# tens of MB on top of debian-slim. Build: docker build -t vpsmon .
#
# Where the programs come from (build argument BINARIES):
# - build (the default): compiled in the Rust stage below, from this source tree.
# - prebuilt: taken as they are from prebuilt/ in the build context (vpsmon-exporter,
#   vpsmon-gen-config, vpsmon-receiver, built on a Debian 12 host as the build stage would:
#   `cargo build --release -p vpsmon-gen-config -p vpsmon-receiver` and
#   scripts/build-exporter.sh). For machines that cannot pull the rust image, such as CI
#   (e2e/tests/compose.rs); the Rust stage is then skipped, never pulled.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
ARG BINARIES=build

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the crate registry and target dir between builds, so a source
# change recompiles only vpsmon's crates. --locked: exactly the versions CI tested.
# The exporter is built on its own, as exporter/README.md says to install it (static, size-
# optimised, hot code first: 3.5 MiB RSS instead of 9): scripts/build-exporter.sh, the build
# scripts/bench-exporter.sh measures.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p vpsmon-gen-config -p vpsmon-receiver \
 && exporter="$(scripts/build-exporter.sh --locked)" \
 && install -D -m 0755 -t /out "$exporter" target/release/vpsmon-gen-config target/release/vpsmon-receiver

FROM scratch AS prebuilt
COPY prebuilt/vpsmon-exporter prebuilt/vpsmon-gen-config prebuilt/vpsmon-receiver /out/

FROM ${BINARIES} AS binaries

FROM debian:${DEBIAN_RELEASE}-slim
# ca-certificates: the receiver talks https to api.telegram.org and hooks.slack.com.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/*
COPY --from=binaries /out/ /usr/local/bin/
# Not root: the exporter only reads /proc and the read-only host mount; the receiver needs
# nothing but the network.
USER 65532:65532
# Default program; compose overrides `command` per service.
ENTRYPOINT []
CMD ["vpsmon-exporter", "--help"]
