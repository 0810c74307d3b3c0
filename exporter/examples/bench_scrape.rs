//! Benchmark driver for scripts/bench-exporter.sh: scrapes one exporter N times in a row and
//! prints, as one `key=value` line, the server's CPU time per scrape (utime+stime of
//! /proc/PID/stat before and after), p50/p99 latency, RSS afterwards and the body sizes.
//!
//! `cargo run --release -p vpsmon-exporter --example bench_scrape -- --url URL --pid PID [--n 1000] [--gzip]`

use std::time::{Duration, Instant};

struct Args {
    url: String,
    pid: u32,
    n: usize,
    warmup: usize,
    gzip: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        url: String::new(),
        pid: 0,
        n: 1000,
        warmup: 20,
        gzip: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => args.url = value(),
            "--pid" => args.pid = value().parse().expect("--pid: a number"),
            "--n" => args.n = value().parse().expect("--n: a number"),
            "--warmup" => args.warmup = value().parse().expect("--warmup: a number"),
            "--gzip" => args.gzip = true,
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(
        !args.url.is_empty() && args.pid != 0,
        "--url and --pid are required"
    );
    args
}

/// utime + stime of every thread of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args();
    // One keep-alive connection, as Prometheus keeps one per target.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let plain_bytes = get(&client, &args.url, false).await;
    let gzip_bytes = get(&client, &args.url, true).await;
    for _ in 0..args.warmup {
        get(&client, &args.url, args.gzip).await;
    }
    let cpu_before = cpu_seconds(args.pid);
    let mut latencies = Vec::with_capacity(args.n);
    for _ in 0..args.n {
        let start = Instant::now();
        get(&client, &args.url, args.gzip).await;
        latencies.push(start.elapsed());
    }
    let cpu = cpu_seconds(args.pid) - cpu_before;
    latencies.sort();
    println!(
        "cpu_ms_per_scrape={:.4} p50_ms={:.3} p99_ms={:.3} rss_kib={} rss_anon_kib={} rss_file_kib={} body_bytes={} gzip_bytes={} n={}",
        cpu * 1000.0 / args.n as f64,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        status_kib(args.pid, "VmRSS"),
        status_kib(args.pid, "RssAnon"),
        status_kib(args.pid, "RssFile"),
        plain_bytes,
        gzip_bytes,
        args.n
    );
}
