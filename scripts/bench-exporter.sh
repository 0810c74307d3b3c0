#!/usr/bin/env bash
# Benchmark of vpsmon-exporter against Debian's node_exporter on this host (issues 2 and 14).
#
# Two comparisons, each in the same run on the same machine:
# - nine: both with the same 9 collectors (cpu meminfo filesystem netdev loadavg stat uname time
#   diskstats) and the same filesystem/netdev filters (issue 2's comparison);
# - defaults: each with its own defaults and no flag at all, as a user who swaps one for the
#   other runs them (issue 14: every collector node_exporter enables by default against ours).
# Measured as Prometheus runs them in production: one scrape per exporter per interval, so every
# scrape starts cold. A Rust driver (examples/bench_scrape.rs) scrapes the two in turn, scrape by
# scrape (ours, node_exporter, ours...), each over its own keep-alive connection with Prometheus'
# Accept header, sleeping PAUSE_MS and evicting the CPU caches (it writes a buffer twice the
# last-level cache) before every scrape; first plain, then with Accept-Encoding: gzip (what
# Prometheus sends). CPU per scrape is each exporter's run time over the whole run (the
# nanoseconds of /proc/PID/task/*/schedstat) divided by N. Prints a table per comparison, the
# ratios against node_exporter (CPU per scrape, p50 latency), our RSS, and whether the targets
# are met: CPU per scrape <= 0.1x, p50 latency <= 0.25x, RSS <= 5 MB. The machine may be shared
# (CI, other builds): both are measured in the same minutes, interleaved, so the ratios hold;
# the load average is printed with the figures.
#
# Usage: scripts/bench-exporter.sh [--set nine|defaults|both] [N] [PAUSE_MS]
#            (default both; N scrapes of each exporter per mode, default 500; PAUSE_MS 20:
#            about 2 x N x (PAUSE_MS + 15 ms) per mode and set, ~2 min for both sets)
#        scripts/bench-exporter.sh --update-symbol-order
#            regenerates exporter/symbol-order.txt (needs valgrind) and exits; see below.
# Env:   NODE_EXPORTER_BIN (default: prometheus-node-exporter or node_exporter on PATH)
set -euo pipefail

SETS="both"
if [[ "${1:-}" == --set ]]; then
    SETS="${2:?--set needs nine, defaults or both}"
    shift 2
elif [[ "${1:-}" == --set=* ]]; then
    SETS="${1#--set=}"
    shift
fi
case "$SETS" in
    nine) SETS=(nine) ;;
    defaults) SETS=(defaults) ;;
    both) SETS=(nine defaults) ;;
    *) echo "--set: $SETS is not nine, defaults or both" >&2; exit 2 ;;
esac
N="${1:-500}"
PAUSE_MS="${2:-20}"
cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

# The build measured is the one users install (exporter/README.md, "Which build to install"),
# made by scripts/build-exporter.sh, which the Dockerfile uses too.
DRIVER="$TARGET_DIR/release-small/examples/bench_scrape"
ORDER_FILE=exporter/symbol-order.txt
OURS=""
build() {
    echo "building (release-small, static, ordered)..." >&2
    OURS="$(scripts/build-exporter.sh)"
    # The driver is an ordinary build, separate: in the same command it would change the binary.
    env -u RUSTFLAGS cargo build --quiet --profile release-small -p vpsmon-exporter --example bench_scrape
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

COLLECTORS=(cpu meminfo filesystem netdev loadavg stat uname time diskstats)
MOUNTS_EXCLUDE='^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)'
FSTYPES_EXCLUDE='^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$'
common=(--collector.disable-defaults
    "--collector.filesystem.mount-points-exclude=$MOUNTS_EXCLUDE"
    "--collector.filesystem.fs-types-exclude=$FSTYPES_EXCLUDE")
for c in "${COLLECTORS[@]}"; do common+=("--collector.$c"); done

LOGDIR="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$LOGDIR"
}
trap cleanup EXIT

wait_ready() { # url pid
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { echo "exporter $2 died; log:" >&2; cat "$LOGDIR"/*.log >&2; exit 1; }
        sleep 0.1
    done
    echo "$1 did not answer" >&2
    exit 1
}

# Runs the exporter as users do (default collectors) under callgrind, drives 200 plain and 200
# gzip scrapes and one request to each other endpoint, and writes every function that ran
# (start-up included: its code stays resident too) to the ordering file, sorted by name so that
# a regeneration gives a readable diff. glibc picks its string functions per CPU at run time
# (IFUNC) and valgrind's virtual CPU is not the host's, so all variants of those are listed.
update_symbol_order() {
    command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install valgrind" >&2; exit 1; }
    build
    local port out ran variants pid
    port=$(free_port)
    out="$LOGDIR/callgrind.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" --compress-strings=no --compress-pos=no \
        --demangle=no "$OURS" "--web.listen-address=127.0.0.1:$port" --log.level=warn \
        >"$LOGDIR/ours.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    wait_ready "http://127.0.0.1:$port/ping" "$pid"
    "$DRIVER" --target ours "http://127.0.0.1:$port/metrics" "$pid" --n 200 --pause-ms 0 >/dev/null
    "$DRIVER" --target ours "http://127.0.0.1:$port/metrics" "$pid" --n 200 --pause-ms 0 --gzip >/dev/null
    for path in /api/health / /nope; do curl -s -o /dev/null "http://127.0.0.1:$port$path"; done
    kill -TERM "$pid"
    wait "$pid" || true
    ran="$LOGDIR/ran.txt"
    # callgrind marks recursion levels as NAME'2; code without a symbol shows as an address, and
    # it names the code before main "(below main)".
    sed -n "s/^fn=//p" "$out" | sed "s/'[0-9]*\$//" | { grep -v -e '^0x' -e ' ' || true; } | sort -u >"$ran"
    variants=$(sed -n 's/^__\([a-z]*\)_\(avx\|evex\|sse\|erms\).*/\1/p' "$ran" | sort -u | paste -sd'|' -)
    {
        echo "# Functions vpsmon-exporter runs at start-up and per scrape, placed first in .text by"
        echo "# lld (--symbol-ordering-file) so that fewer pages of its code become resident."
        echo "# Generated by: scripts/bench-exporter.sh --update-symbol-order"
        {
            cat "$ran"
            if [[ -n "$variants" ]]; then
                nm --defined-only "$OURS" | awk '{print $3}' | { grep -E "^__($variants)_(avx|evex|sse|erms)" || true; }
            fi
        } | sort -u
    } >"$ORDER_FILE"
    echo "wrote $ORDER_FILE ($(grep -vc '^#' "$ORDER_FILE") symbols); the next run of $0 relinks with it" >&2
}

if [[ "$N" == --update-symbol-order ]]; then
    update_symbol_order
    exit 0
fi

NODE_EXPORTER_BIN="${NODE_EXPORTER_BIN:-$(command -v prometheus-node-exporter || command -v node_exporter || true)}"
if [[ -z "$NODE_EXPORTER_BIN" ]]; then
    echo "node_exporter not found: apt-get install prometheus-node-exporter (or set NODE_EXPORTER_BIN)" >&2
    exit 1
fi
build

# Starts both exporters with the comparison's flags, measures them, prints the table and the
# ratios, and stops them.
compare() { # name
    local name=$1 node_args=() our_args=()
    case "$name" in
        nine)
            # Debian's node_exporter hides lo by default; ours serves it, so both serve the same
            # interfaces.
            node_args=("${common[@]}" '--collector.netdev.device-exclude=^$')
            our_args=("${common[@]}")
            ;;
        defaults) ;;
    esac
    local node_port our_port node_pid our_pid
    node_port=$(free_port)
    "$NODE_EXPORTER_BIN" "--web.listen-address=127.0.0.1:$node_port" ${node_args[@]+"${node_args[@]}"} \
        >"$LOGDIR/node-$name.log" 2>&1 &
    node_pid=$!
    PIDS+=("$node_pid")
    our_port=$(free_port)
    "$OURS" "--web.listen-address=127.0.0.1:$our_port" ${our_args[@]+"${our_args[@]}"} --log.level=warn \
        >"$LOGDIR/ours-$name.log" 2>&1 &
    our_pid=$!
    PIDS+=("$our_pid")
    wait_ready "http://127.0.0.1:$node_port/metrics" "$node_pid"
    wait_ready "http://127.0.0.1:$our_port/metrics" "$our_pid"

    echo
    case "$name" in
        nine) echo "== nine: the same collectors in both: ${COLLECTORS[*]}" ;;
        defaults)
            echo "== defaults: each with its own defaults, no flags;" \
                "$(curl -s "http://127.0.0.1:$node_port/metrics" | grep -c '^node_scrape_collector_success{') collectors in node_exporter," \
                "$(curl -s -H 'Accept: text/plain; version=0.0.4' "http://127.0.0.1:$our_port/metrics" | grep -c '^node_scrape_collector_success{') in ours"
            ;;
    esac
    echo "$N cold scrapes of each per mode, interleaved, $PAUSE_MS ms pause and cache eviction before each; load: $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-9s %-15s %12s %10s %9s %9s %9s %9s %9s %11s %11s\n' mode exporter "CPU ms/scr" "(ticks)" "p50 ms" "p99 ms" "RSS MiB" "anon MiB" "file MiB" "body B" "gzip B"
    declare -A R
    local mode flag line who out
    for mode in plain gzip; do
        flag=""
        [[ $mode == gzip ]] && flag="--gzip"
        out=$("$DRIVER" --n "$N" --pause-ms "$PAUSE_MS" $flag \
            --target ours "http://127.0.0.1:$our_port/metrics" "$our_pid" \
            --target node "http://127.0.0.1:$node_port/metrics" "$node_pid")
        R[$mode,node]=$(sed -n 's/^node //p' <<<"$out")
        R[$mode,ours]=$(sed -n 's/^ours //p' <<<"$out")
        for who in node ours; do
            line=${R[$mode,$who]}
            printf '%-9s %-15s %12s %10s %9s %9s %9.2f %9.2f %9.2f %11s %11s\n' "$mode" \
                "$([[ $who == node ]] && echo node_exporter || echo vpsmon-exporter)" \
                "$(field "$line" cpu_ms_per_scrape)" "$(field "$line" ticks_cpu_ms_per_scrape)" \
                "$(field "$line" p50_ms)" "$(field "$line" p99_ms)" \
                "$(awk "BEGIN{print $(field "$line" rss_kib)/1024}")" \
                "$(awk "BEGIN{print $(field "$line" rss_anon_kib)/1024}")" \
                "$(awk "BEGIN{print $(field "$line" rss_file_kib)/1024}")" \
                "$(field "$line" body_bytes)" "$(field "$line" gzip_bytes)"
        done
    done
    local n o cpu_ratio p50_ratio rss_mb
    for mode in plain gzip; do
        n=${R[$mode,node]} o=${R[$mode,ours]}
        cpu_ratio=$(awk "BEGIN{printf \"%.3f\", $(field "$o" cpu_ms_per_scrape)/$(field "$n" cpu_ms_per_scrape)}")
        p50_ratio=$(awk "BEGIN{printf \"%.3f\", $(field "$o" p50_ms)/$(field "$n" p50_ms)}")
        rss_mb=$(awk "BEGIN{printf \"%.2f\", $(field "$o" rss_kib)*1024/1000000}")
        echo "$name, $mode: CPU per scrape ${cpu_ratio}x node_exporter (target <= 0.1x: $(verdict "$cpu_ratio" 0.1)); p50 ${p50_ratio}x (target <= 0.25x: $(verdict "$p50_ratio" 0.25)); RSS ${rss_mb} MB (target <= 5 MB: $(verdict "$rss_mb" 5))"
    done
    kill "$node_pid" "$our_pid"
    wait "$node_pid" "$our_pid" 2>/dev/null || true
}

field() { # line key
    sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"
}
verdict() { # value target
    awk -v v="$1" -v t="$2" 'BEGIN{ if (v <= t) print "met"; else print "NOT met" }'
}

echo "host: $(nproc) CPUs, $(uname -r); node_exporter: $("$NODE_EXPORTER_BIN" --version 2>&1 | head -1)"
# A stale ordering list (compiler, Cargo.lock or code changed) costs memory, never the build:
# say how much of it still matches, so a rising RSS has its explanation at hand.
if [[ -f "$ORDER_FILE" ]] && command -v nm >/dev/null; then
    listed=$(grep -v '^#' "$ORDER_FILE" | sort -u)
    found=$(comm -12 <(echo "$listed") <(nm --defined-only "$OURS" | awk '{print $3}' | sort -u) | wc -l)
    echo "symbol ordering: $found of $(echo "$listed" | wc -l) functions in $ORDER_FILE found in the binary (regenerate with $0 --update-symbol-order when few are)"
fi
for set in "${SETS[@]}"; do
    compare "$set"
done
