# Test-only stand-in for prom/prometheus, which CI cannot pull (no registry): Debian's package on
# the local Debian base, laid out like the upstream image (binary as entrypoint, /prometheus
# owned by nobody, wget for the compose health check). Debian's Prometheus is 2.42; see
# e2e/tests/compose.rs for the one compose-file feature that needs newer.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus wget \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o nobody -g nogroup /prometheus /etc/prometheus
USER 65534:65534
WORKDIR /prometheus
ENTRYPOINT ["/usr/bin/prometheus"]
