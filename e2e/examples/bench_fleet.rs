//! The fleet benchmark (issue 18): N real vpsmon-exporters on distinct 127.x addresses, the
//! configs vpsmon-gen-config writes for them with the shipped (`default`) profile, Debian's
//! Prometheus and Alertmanager, and the real receiver (with its dashboard) delivering to the
//! loopback fake Telegram. It prints what one monitoring host spends on N agents:
//!
//! - Prometheus' CPU (over a measured window of whole scrape intervals) and memory, in total and
//!   per agent, and its active series per agent against node_exporter's series for this host;
//! - the p99 scrape duration and the slowest rule group's evaluation time;
//! - the receiver's `/api/status` and fleet page latency;
//! - after stopping 10 % of the agents: when the first AgentDown message reached the chat, when
//!   every stopped agent had been named, and how many messages that took.
//!
//! Not a test: it asserts nothing about speed; it prints figures (README.md carries them).
//! Run through `scripts/bench-fleet.sh N`, which builds the binaries first.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use vpsmon_e2e::{AgentSpec, CHAT_ID, Fleet, Options};

/// The shipped profile scrapes every 15 s.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(15);

struct Args {
    agents: usize,
    /// Whole scrape intervals measured.
    intervals: u32,
    /// Share of the agents stopped for the storm.
    stop_share: f64,
    /// Longest wait for the storm's messages.
    storm_timeout: Duration,
}

fn args() -> Result<Args> {
    let mut a = Args {
        agents: 100,
        intervals: 4,
        stop_share: 0.1,
        storm_timeout: Duration::from_secs(420),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--intervals" => a.intervals = value("--intervals")?.parse()?,
            "--stop-share" => a.stop_share = value("--stop-share")?.parse()?,
            "--storm-timeout" => {
                a.storm_timeout = Duration::from_secs(value("--storm-timeout")?.parse()?)
            }
            n if !n.starts_with('-') => {
                a.agents = n.parse().with_context(|| format!("agents: {n:?}"))?
            }
            other => bail!(
                "unknown argument {other:?} (usage: bench_fleet N [--intervals K] [--stop-share 0.1] [--storm-timeout SECS])"
            ),
        }
    }
    if a.agents == 0 || a.agents > 60_000 {
        bail!("N must be between 1 and 60000");
    }
    Ok(a)
}

/// Agent i listens on 127.1.x.y: distinct addresses, as a real fleet's targets are.
fn host(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8)
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("no ')' in stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// VmRSS of a process, in bytes.
fn rss_bytes(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .context("no VmRSS")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb * 1024.0)
}

async fn scalar(prom: &str, q: &str) -> Result<f64> {
    let url = format!("{prom}/api/v1/query?query={}", urlencode(q));
    let data = Fleet::api(&url).await?;
    let v = data["result"]
        .get(0)
        .and_then(|r| r["value"][1].as_str())
        .with_context(|| format!("{q}: no result"))?;
    Ok(v.parse()?)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Median and slowest of `n` GETs of `url` (each must answer 200).
async fn latency(client: &reqwest::Client, url: &str, n: usize) -> Result<(Duration, Duration)> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let resp = client.get(url).send().await?;
        let status = resp.status();
        resp.bytes().await?;
        if !status.is_success() {
            bail!("{url} answered {status}");
        }
        times.push(start.elapsed());
    }
    times.sort();
    Ok((times[n / 2], times[n - 1]))
}

/// node_exporter's series on this host with its defaults, for the per-agent comparison.
async fn node_exporter_series() -> Result<usize> {
    let bin = testkit::procs::require_binary(
        "NODE_EXPORTER_BIN",
        &["prometheus-node-exporter", "node_exporter"],
        "prometheus-node-exporter",
    );
    let port = testkit::procs::free_port();
    let dir = tempfile::tempdir()?;
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut p = testkit::procs::Proc::spawn("node_exporter", cmd, &dir.path().join("ne.log"))?;
    let url = format!("http://127.0.0.1:{port}/metrics");
    testkit::procs::wait_http_ok(&mut p, &url, Duration::from_secs(30)).await?;
    let body = reqwest::get(&url).await?.text().await?;
    p.kill();
    Ok(body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count())
}

fn mb(bytes: f64) -> String {
    format!("{:.0} MB", bytes / 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = args()?;
    let n = args.agents;
    let started = Instant::now();
    eprintln!("starting {n} exporters, Prometheus, Alertmanager and the receiver...");
    let agents = (0..n)
        .map(|i| AgentSpec {
            host: host(i),
            ..AgentSpec::real(&format!("vps{i:05}"))
        })
        .collect();
    let mut fleet = Fleet::start_with_profile(
        Options {
            agents,
            shards: 1,
            remote_write: None,
            receiver: false,
        },
        "default",
    )
    .await?;
    let prom = format!("http://127.0.0.1:{}", fleet.prometheus[0].0);
    fleet.receiver_env = vec![
        ("PROMETHEUS_URL".into(), prom.clone()),
        (
            "ALERTMANAGER_URL".into(),
            format!("http://127.0.0.1:{}", fleet.alertmanager_port),
        ),
    ];
    fleet.start_receiver().await?;
    eprintln!("started in {:.0} s", started.elapsed().as_secs_f64());

    // Every target scraped at least twice before measuring (rates need two samples).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let up = scalar(&prom, "sum(up{job=\"agents\"})")
            .await
            .unwrap_or(0.0);
        let scraped = scalar(&prom, "count(count_over_time(up{job=\"agents\"}[1m]) >= 2)")
            .await
            .unwrap_or(0.0);
        if up as usize == n && scraped as usize == n {
            break;
        }
        if Instant::now() > deadline {
            bail!("after 120 s only {up} of {n} agents are up ({scraped} scraped twice)");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    let prom_pid = fleet.prometheus[0].1.pid();
    let (receiver_pid, am_pid) = fleet.pids();
    let window = SCRAPE_INTERVAL * args.intervals;
    eprintln!("measuring Prometheus over {} s...", window.as_secs());
    let cpu0 = cpu_seconds(prom_pid)?;
    let t0 = Instant::now();
    tokio::time::sleep(window).await;
    let cpu = (cpu_seconds(prom_pid)? - cpu0) / t0.elapsed().as_secs_f64();
    let prom_rss = rss_bytes(prom_pid)?;
    let series = scalar(&prom, "prometheus_tsdb_head_series").await?;
    let samples_per_agent = scalar(&prom, "avg(scrape_samples_scraped{job=\"agents\"})").await?;
    let scrape_p99 = scalar(
        &prom,
        "quantile(0.99, max_over_time(scrape_duration_seconds{job=\"agents\"}[1m]))",
    )
    .await?;
    let rule_eval = scalar(&prom, "max(prometheus_rule_group_last_duration_seconds)").await?;
    let ne_series = node_exporter_series().await?;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let receiver = format!("http://127.0.0.1:{}", fleet.receiver_port);
    let (status_p50, status_max) = latency(&client, &format!("{receiver}/api/status"), 10).await?;
    let (page_p50, page_max) = latency(&client, &format!("{receiver}/"), 10).await?;
    let receiver_rss = receiver_pid.map(rss_bytes).transpose()?.unwrap_or(0.0);
    let am_rss = am_pid.map(rss_bytes).transpose()?.unwrap_or(0.0);
    let exporter_rss: f64 = {
        let pids: Vec<u32> = (0..n.min(20)).filter_map(|i| fleet.agent_pid(i)).collect();
        let total: f64 = pids.iter().map(|p| rss_bytes(*p).unwrap_or(0.0)).sum();
        total / pids.len().max(1) as f64
    };

    // The storm: every 10th agent vanishes at once.
    let stop = ((n as f64 * args.stop_share).round() as usize).max(1);
    let every = n / stop;
    let stopped: Vec<usize> = (0..stop).map(|k| k * every).collect();
    let before = fleet.telegram.messages().len();
    eprintln!(
        "stopping {stop} agents; waiting up to {} s for the chat...",
        args.storm_timeout.as_secs()
    );
    let killed_at = Instant::now();
    for &i in &stopped {
        fleet.kill_agent(i);
    }
    let names: Vec<String> = stopped
        .iter()
        .map(|&i| fleet.agents[i].name.clone())
        .collect();
    let mut first = None;
    let mut all = None;
    let deadline = killed_at + args.storm_timeout;
    while Instant::now() < deadline {
        let msgs: Vec<_> = fleet
            .telegram
            .messages()
            .into_iter()
            .skip(before)
            .filter(|m| m.chat_id == CHAT_ID && m.visible_text.contains("AgentDown"))
            .collect();
        let docs = fleet.telegram.requests_for("sendDocument");
        if first.is_none() {
            first = msgs.first().map(|m| m.at.duration_since(killed_at));
        }
        let seen = |name: &String| {
            msgs.iter().any(|m| m.visible_text.contains(name.as_str()))
                || docs.iter().any(|d| {
                    d.files
                        .iter()
                        .any(|f| String::from_utf8_lossy(&f.bytes).contains(name.as_str()))
                })
        };
        if names.iter().all(seen) {
            all = Some((
                msgs.last()
                    .map_or(Duration::ZERO, |m| m.at.duration_since(killed_at)),
                msgs.len(),
                docs.len(),
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    println!();
    println!(
        "fleet benchmark: {n} agents, shipped profile (scrape 15 s), {} cores",
        num_cpus()
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| Prometheus CPU | {:.1} % of a core ({:.2} ms per agent per second) |",
        cpu * 100.0,
        cpu * 1e3 / n as f64
    );
    println!(
        "| Prometheus RSS | {} ({:.0} kB per agent) |",
        mb(prom_rss),
        prom_rss / 1e3 / n as f64
    );
    println!(
        "| active series | {series:.0} ({:.0} per agent; node_exporter here: {ne_series}) |",
        series / n as f64
    );
    println!("| samples per scrape (ours) | {samples_per_agent:.0} |");
    println!("| scrape duration p99 | {:.1} ms |", scrape_p99 * 1e3);
    println!("| slowest rule group | {:.1} ms |", rule_eval * 1e3);
    println!(
        "| receiver /api/status | p50 {}, max {} |",
        ms(status_p50),
        ms(status_max)
    );
    println!(
        "| receiver fleet page | p50 {}, max {} |",
        ms(page_p50),
        ms(page_max)
    );
    println!(
        "| RSS: receiver, Alertmanager, one exporter | {}, {}, {:.1} MB |",
        mb(receiver_rss),
        mb(am_rss),
        exporter_rss / 1e6
    );
    match (first, all) {
        (Some(f), Some((last, msgs, docs))) => println!(
            "| storm: {stop} agents stopped | first message {:.0} s, all named by {:.0} s, in {msgs} messages and {docs} documents |",
            f.as_secs_f64(),
            last.as_secs_f64()
        ),
        (f, _) => println!(
            "| storm: {stop} agents stopped | NOT all named within {} s (first message: {}) |",
            args.storm_timeout.as_secs(),
            f.map_or("none".into(), |f| format!("{:.0} s", f.as_secs_f64()))
        ),
    }
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
