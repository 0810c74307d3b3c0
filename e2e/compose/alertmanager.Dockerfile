# Test-only stand-in for prom/alertmanager, which CI cannot pull (no registry): Debian's package
# (0.25) on the local Debian base, laid out like the upstream image (binary as entrypoint,
# /alertmanager owned by nobody, wget for the compose health check).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus-alertmanager wget \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o nobody -g nogroup /alertmanager /etc/alertmanager
USER 65534:65534
WORKDIR /alertmanager
ENTRYPOINT ["/usr/bin/prometheus-alertmanager"]
