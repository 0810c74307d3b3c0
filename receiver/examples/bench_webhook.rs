//! The receiver's own cost per webhook, measured on the release binary: parse, render, de-dup,
//! and hand-off to the console destination, whose stdout is /dev/null (it answers at once, and a
//! chat service would throttle a benchmark: Telegram allows one message a second per chat).
//!
//! Run by `scripts/bench-receiver.sh`. It starts `vpsmon-receiver` with no Telegram or Slack
//! configured (so every route goes to the console), then, over HTTP keep-alive on loopback:
//! 1. reference: `GET /healthz` in a closed loop — the HTTP stack alone, for a ratio;
//! 2. throughput: `POST /alerts` of N alerts in a closed loop on C connections;
//! 3. latency and memory at a fixed rate (open loop: requests are started on schedule whatever
//!    the answers do), sampling the receiver's RSS from /proc.
//!
//! Every webhook is a different group with different fingerprints, so de-duplication never
//! spares the rendering. Latency is measured by the client, so it includes loopback HTTP and the
//! client's own scheduling on the same cores: an upper bound of the receiver's cost.
//! Prints figures and whether each target is met; it is not a test and asserts nothing.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Args {
    receiver: String,
    rate: u64,
    seconds: u64,
    alerts: usize,
    connections: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        receiver: String::new(),
        rate: 2000,
        seconds: 10,
        alerts: 10,
        connections: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--receiver" => a.receiver = value(),
            "--rate" => a.rate = value().parse().expect("--rate N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds N"),
            "--alerts" => a.alerts = value().parse().expect("--alerts N"),
            "--connections" => a.connections = value().parse().expect("--connections N"),
            other => panic!(
                "unknown argument {other}; usage: bench_webhook --receiver PATH [--rate 2000] [--seconds 10] [--alerts 10] [--connections 8]"
            ),
        }
    }
    assert!(!a.receiver.is_empty(), "--receiver PATH is required");
    a
}

/// A webhook of `alerts` alerts, unique by `n`.
fn body(n: u64, alerts: usize) -> String {
    let alerts: Vec<String> = (0..alerts)
        .map(|k| {
            format!(
                r#"{{"status":"firing","labels":{{"alertname":"HighCPU","agent":"web-{k}","instance":"10.0.{k}.1:9100","severity":"warning","n":"{n}"}},"annotations":{{"summary":"CPU busy on web-{k}","description":"CPU has been above 90% for 5 minutes (now 97.3%)."}},"startsAt":"2026-11-21T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph?g0.expr=cpu","fingerprint":"{n:08x}{k:08x}"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"HighCPU\",n=\"{n}\"}}","truncatedAlerts":0,"status":"firing","receiver":"vpsmon","groupLabels":{{"alertname":"HighCPU"}},"commonLabels":{{"alertname":"HighCPU","severity":"warning"}},"commonAnnotations":{{}},"externalURL":"http://alertmanager:9093","alerts":[{}]}}"#,
        alerts.join(",")
    )
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Closed loop on `connections` tasks for `dur`: (requests per second, latencies, failures).
async fn closed_loop(
    http: &reqwest::Client,
    url: &str,
    post: Option<usize>,
    connections: usize,
    dur: Duration,
    counter: &Arc<AtomicU64>,
) -> (f64, Vec<Duration>, u64) {
    let end = Instant::now() + dur;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let http = http.clone();
        let url = url.to_string();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0u64;
            while Instant::now() < end {
                let req = match post {
                    Some(alerts) => {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        http.post(&url)
                            .header("content-type", "application/json")
                            .body(body(n, alerts))
                    }
                    None => http.get(&url),
                };
                let t = Instant::now();
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed());
                    }
                    _ => failed += 1,
                }
            }
            (lat, failed)
        }));
    }
    let mut all = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (lat, f) = t.await.expect("load task");
        all.extend(lat);
        failed += f;
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (rate, all, failed)
}

/// Requests started on schedule at `rate` for `dur`, whatever the answers do: (sorted
/// latencies, failures, achieved rate, peak RSS of `pid` sampled every 100 ms).
async fn open_loop(
    http: &reqwest::Client,
    url: &str,
    post: Option<usize>,
    rate: u64,
    dur: Duration,
    counter: &Arc<AtomicU64>,
    pid: u32,
) -> (Vec<Duration>, u64, f64, u64) {
    let lat = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let failed = Arc::new(AtomicU64::new(0));
    let total = rate * dur.as_secs();
    let start = Instant::now();
    let mut rss_peak = 0u64;
    let mut next_sample = start;
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        if Instant::now() >= next_sample {
            rss_peak = rss_peak.max(rss_kib(pid, "VmRSS:"));
            next_sample += Duration::from_millis(100);
        }
        let req = match post {
            Some(alerts) => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                http.post(url)
                    .header("content-type", "application/json")
                    .body(body(n, alerts))
            }
            None => http.get(url),
        };
        let lat = lat.clone();
        let failed = failed.clone();
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            match req.send().await {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                    lat.lock().unwrap().push(t.elapsed());
                }
                _ => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    let rss_peak = rss_peak.max(rss_kib(pid, "VmRSS:"));
    let mut all = std::mem::take(&mut *lat.lock().unwrap());
    all.sort();
    (all, failed.load(Ordering::Relaxed), achieved, rss_peak)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = Command::new(&args.receiver)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        // Measures delivery, not the constant-time token check.
        .arg("--webhook-no-auth")
        .env("RUST_LOG", "warn")
        .env_remove("BOT_TOKEN")
        .env_remove("ALERT_CHAT_ID")
        .env_remove("SLACK_WEBHOOK_URL")
        .env_remove("RECEIVER_CONFIG")
        .env_remove("RECEIVER_CONSOLE_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start vpsmon-receiver");
    let pid = child.id();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let ready = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            ready.elapsed() < Duration::from_secs(20),
            "receiver did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_idle = rss_kib(pid, "VmRSS:");
    let counter = Arc::new(AtomicU64::new(0));
    let alerts_url = format!("{base}/alerts");

    // Warm-up: connections, allocator, template caches.
    closed_loop(
        &http,
        &alerts_url,
        Some(args.alerts),
        args.connections,
        Duration::from_secs(1),
        &counter,
    )
    .await;

    let phase = Duration::from_secs(args.seconds.div_ceil(2).max(2));
    let (ref_rate, ref_lat, _) = closed_loop(
        &http,
        &format!("{base}/healthz"),
        None,
        args.connections,
        phase,
        &counter,
    )
    .await;
    let (max_rate, max_lat, max_failed) = closed_loop(
        &http,
        &alerts_url,
        Some(args.alerts),
        args.connections,
        phase,
        &counter,
    )
    .await;

    // Fixed rate, open loop: first the reference (GET /healthz), then the webhooks.
    let rate_phase = Duration::from_secs(args.seconds);
    let (ref_fixed, _, _, _) = open_loop(
        &http,
        &format!("{base}/healthz"),
        None,
        args.rate,
        rate_phase,
        &counter,
        pid,
    )
    .await;
    let (fixed, failed, achieved, rss_peak) = open_loop(
        &http,
        &alerts_url,
        Some(args.alerts),
        args.rate,
        rate_phase,
        &counter,
        pid,
    )
    .await;
    let hwm = rss_kib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();

    let p99 = percentile(&fixed, 0.99);
    let ref_p99 = percentile(&ref_fixed, 0.99);
    let yes = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "vpsmon-receiver webhook benchmark: {} alerts per webhook, console destination to /dev/null, {} connections, {} CPUs",
        args.alerts,
        args.connections,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| figure | value | target | |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| latency at {} webhooks/s (open loop, {} s, {} requests): p50 / p99 / max | {} / {} / {} | p99 ≤ 2 ms | {} |",
        args.rate,
        args.seconds,
        fixed.len(),
        ms(percentile(&fixed, 0.5)),
        ms(p99),
        ms(fixed.last().copied().unwrap_or_default()),
        yes(p99 <= Duration::from_millis(2))
    );
    println!(
        "| achieved rate in that run | {achieved:.0} webhooks/s | {} | |",
        args.rate
    );
    println!(
        "| throughput, closed loop ({} connections) | {max_rate:.0} webhooks/s (p99 {}) | ≥ 2,000/s | {} |",
        args.connections,
        ms(percentile(&max_lat, 0.99)),
        yes(max_rate >= 2000.0)
    );
    println!(
        "| RSS: idle / peak sampled under load / VmHWM | {:.1} / {:.1} / {:.1} MB | ≤ 20 MB | {} |",
        rss_idle as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
        hwm as f64 / 1024.0,
        yes(hwm <= 20 * 1024)
    );
    println!(
        "| reference: GET /healthz at {} req/s, open loop: p50 / p99 / max | {} / {} / {} | | |",
        args.rate,
        ms(percentile(&ref_fixed, 0.5)),
        ms(ref_p99),
        ms(ref_fixed.last().copied().unwrap_or_default()),
    );
    println!(
        "| reference: GET /healthz closed loop | {ref_rate:.0} req/s, p99 {} | | |",
        ms(percentile(&ref_lat, 0.99))
    );
    println!(
        "| ratio webhook / healthz: p99 at {}/s; closed-loop rate | {:.2}x; {:.2}x | | |",
        args.rate,
        p99.as_secs_f64() / ref_p99.as_secs_f64().max(1e-9),
        max_rate / ref_rate.max(1e-9)
    );
    println!(
        "| failed requests (not 2xx) | {} | 0 | {} |",
        max_failed + failed,
        yes(max_failed + failed == 0)
    );
}
