//! Benchmark driver for scripts/bench-exporter.sh: scrapes one or more exporters as Prometheus
//! does in production, where each is scraped once per interval (15 s), so every scrape starts
//! with cold CPU caches and a sleeping process.
//!
//! The targets are scraped in turn, scrape by scrape (A, B, A, B...), each over its own
//! kept-alive connection, with Prometheus' Accept header (and `Accept-Encoding: gzip` with
//! `--gzip`). Before every scrape the driver sleeps `--pause-ms` and then writes a buffer twice
//! the size of the last-level cache, so the exporter's code and data are evicted and the scrape
//! starts cold (`--warm` leaves the caches alone, to see what the eviction costs: on the 2-vCPU
//! development VM, nothing measurable next to the 20 ms sleep). Prints one line per target: `label key=value...`:
//! - `cpu_ms_per_scrape`: the exporter's CPU time over the whole run (pauses included: what it
//!   spends between scrapes is part of what a scrape costs in production) divided by the
//!   scrapes, from the nanosecond run times of /proc/PID/task/*/schedstat;
//! - `ticks_cpu_ms_per_scrape`: the same from utime+stime of /proc/PID/stat (10 ms ticks, and
//!   it counts threads that exited: a cross-check);
//! - `p50_ms`, `p99_ms`: latency at the client; `rss_kib`, `rss_anon_kib`, `rss_file_kib` after
//!   the run; `body_bytes`, `gzip_bytes`: one plain and one gzip body.
//!
//! `cargo run --release -p vpsmon-exporter --example bench_scrape -- --target LABEL URL PID
//!  [--target LABEL URL PID...] [--n 500] [--pause-ms 20] [--gzip] [--warm]`

use std::time::{Duration, Instant};

struct Target {
    label: String,
    url: String,
    pid: u32,
}

struct Args {
    targets: Vec<Target>,
    n: usize,
    pause: Duration,
    gzip: bool,
    warm: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        targets: Vec::new(),
        n: 500,
        pause: Duration::from_millis(20),
        gzip: false,
        warm: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--target" => {
                let label = value();
                let url = value();
                let pid = value()
                    .parse()
                    .expect("--target LABEL URL PID: PID is a number");
                args.targets.push(Target { label, url, pid });
            }
            "--n" => args.n = value().parse().expect("--n: a number"),
            "--pause-ms" => {
                args.pause = Duration::from_millis(value().parse().expect("--pause-ms: a number"))
            }
            "--gzip" => args.gzip = true,
            "--warm" => args.warm = true,
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(
        !args.targets.is_empty(),
        "--target LABEL URL PID is required"
    );
    assert!(args.n > 0, "--n must be at least 1");
    args
}

/// utime + stime of the whole process `pid` (exited threads included), in seconds.
fn tick_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The command name may contain spaces; the fields after it start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of proc(5), i.e. 12 and 13 counted from field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

/// Nanoseconds on the CPU of every live thread of `pid` (the first field of each
/// /proc/PID/task/TID/schedstat: exact, where utime/stime are 10 ms ticks).
fn runtime_ns(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("list /proc/PID/task");
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A `kB` field of /proc/PID/status: VmRSS, RssAnon (heap, stacks) or RssFile (code mapped
/// from the binary and the shared libraries).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/PID/status"))
}

/// Size of the largest CPU cache (the last level), from sysfs; 32 MiB if unknown.
fn llc_bytes() -> usize {
    let Ok(dir) = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache") else {
        return 32 << 20;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("size")).ok())
        .filter_map(|s| {
            let s = s.trim();
            let (num, mult) = match s.strip_suffix('K') {
                Some(n) => (n, 1 << 10),
                None => match s.strip_suffix('M') {
                    Some(n) => (n, 1 << 20),
                    None => (s, 1),
                },
            };
            num.parse::<usize>().ok().map(|n| n * mult)
        })
        .max()
        .unwrap_or(32 << 20)
}

/// Writes one byte per cache line of `buf`: every line of the LLC now holds the driver's data.
fn evict(buf: &mut [u8], round: u8) {
    for i in (0..buf.len()).step_by(64) {
        buf[i] = buf[i].wrapping_add(round);
    }
    std::hint::black_box(&buf);
}

/// The Accept header Prometheus sends on every scrape, so that both exporters answer in the
/// format they answer Prometheus in.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

async fn get(client: &reqwest::Client, url: &str, gzip: bool) -> usize {
    let mut req = client.get(url).header("Accept", PROMETHEUS_ACCEPT);
    if gzip {
        req = req.header("Accept-Encoding", "gzip");
    }
    let resp = req.send().await.expect("scrape");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    resp.bytes().await.expect("body").len()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Run {
    client: reqwest::Client,
    plain_bytes: usize,
    gzip_bytes: usize,
    latencies: Vec<Duration>,
    ns_before: u64,
    ticks_before: f64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args();
    let mut runs = Vec::new();
    for t in &args.targets {
        // Its own keep-alive connection, as Prometheus keeps one per target.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let plain_bytes = get(&client, &t.url, false).await;
        let gzip_bytes = get(&client, &t.url, true).await;
        runs.push(Run {
            client,
            plain_bytes,
            gzip_bytes,
            latencies: Vec::with_capacity(args.n),
            ns_before: 0,
            ticks_before: 0.0,
        });
    }
    let mut buf = vec![0u8; 2 * llc_bytes()];
    for (t, r) in args.targets.iter().zip(&mut runs) {
        r.ns_before = runtime_ns(t.pid);
        r.ticks_before = tick_seconds(t.pid);
    }
    for round in 0..args.n {
        for (t, r) in args.targets.iter().zip(&mut runs) {
            tokio::time::sleep(args.pause).await;
            if !args.warm {
                evict(&mut buf, round as u8 | 1);
            }
            let start = Instant::now();
            get(&r.client, &t.url, args.gzip).await;
            r.latencies.push(start.elapsed());
        }
    }
    for (t, r) in args.targets.iter().zip(&mut runs) {
        let ns = runtime_ns(t.pid).saturating_sub(r.ns_before);
        let ticks = tick_seconds(t.pid) - r.ticks_before;
        r.latencies.sort();
        println!(
            "{} cpu_ms_per_scrape={:.4} ticks_cpu_ms_per_scrape={:.4} p50_ms={:.3} p99_ms={:.3} rss_kib={} rss_anon_kib={} rss_file_kib={} body_bytes={} gzip_bytes={} n={}",
            t.label,
            ns as f64 / 1e6 / args.n as f64,
            ticks * 1000.0 / args.n as f64,
            percentile(&r.latencies, 0.50),
            percentile(&r.latencies, 0.99),
            status_kib(t.pid, "VmRSS"),
            status_kib(t.pid, "RssAnon"),
            status_kib(t.pid, "RssFile"),
            r.plain_bytes,
            r.gzip_bytes,
            args.n
        );
    }
}
