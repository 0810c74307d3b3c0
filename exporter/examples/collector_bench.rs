//! Micro-benchmark of the collector layer: CPU microseconds per scrape on this machine.
//!
//! `cargo run --release -p vpsmon-exporter --example collector_bench [-- N]`
//!
//! Prints, each from the same run:
//! - `read-only`: just reading the files the enabled collectors read (+ one statvfs per
//!   reported mount): the floor no exporter can go under;
//! - `scrape`: `Scraper::scrape()` with the ten collectors of issue 2 (vpsmon's way: one
//!   prometheus-client `Collector` that writes each family straight into the body);
//! - `families`: the same samples put into prometheus-client `Family`/`Counter`/`Gauge`
//!   metrics in a fresh `Registry` and encoded with `encoding::text::encode`
//!   (the other way the owner's library offers), for cpu + meminfo + netdev + diskstats only;
//! - `scrape, every default collector` and `only <name>`: the collectors the registry enables by
//!   default, together and one by one.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use vpsmon_exporter::collector::{Config, Scraper, cpu, diskstats, filesystem, meminfo, netdev};

fn cpu_time() -> f64 {
    // SAFETY: clock_gettime fills the zeroed timespec.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// (CPU µs, wall µs) per call of `f`, over `n` calls after a warm-up.
fn measure(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..n / 10 + 1 {
        f();
    }
    let (c0, w0) = (cpu_time(), Instant::now());
    for _ in 0..n {
        f();
    }
    let cpu = (cpu_time() - c0) / n as f64 * 1e6;
    let wall = w0.elapsed().as_secs_f64() / n as f64 * 1e6;
    (cpu, wall)
}

/// The collectors node_exporter's figure (≈1.5 ms CPU per scrape) was measured with: those on by
/// default, from the registry, but vpsmon's own logins (node_exporter has no such collector).
fn issue_2() -> Vec<&'static str> {
    vpsmon_exporter::collector::specs()
        .iter()
        .filter(|s| s.default_enabled && s.name != "logins")
        .map(|s| s.name)
        .collect()
}

const FILES: [&str; 12] = [
    "/proc/stat",
    "/proc/stat",
    "/proc/meminfo",
    "/proc/loadavg",
    "/proc/net/dev",
    "/proc/diskstats",
    "/proc/1/mounts",
    "/proc/sys/kernel/ostype",
    "/proc/sys/kernel/osrelease",
    "/proc/sys/kernel/version",
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/domainname",
];

fn families_way() -> String {
    let stat = cpu::parse_stat(&std::fs::read_to_string("/proc/stat").unwrap()).unwrap();
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap();
    let mem = meminfo::parse_meminfo(&mem).unwrap();
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let dev = netdev::parse_netdev(&dev).unwrap();
    let disk = std::fs::read_to_string("/proc/diskstats").unwrap();
    let disk = diskstats::parse_diskstats(&disk).unwrap();

    let mut registry = Registry::default();
    let cpu_family = Family::<Vec<(&'static str, String)>, Counter<f64>>::default();
    for (i, t) in &stat.cpus {
        for (mode, v) in [
            ("user", t.user),
            ("nice", t.nice),
            ("system", t.system),
            ("idle", t.idle),
        ] {
            cpu_family
                .get_or_create(&vec![("cpu", i.to_string()), ("mode", mode.to_string())])
                .inc_by(v as f64 / cpu::USER_HZ);
        }
    }
    registry.register(
        "node_cpu_seconds",
        "Seconds the CPUs spent in each mode.",
        cpu_family,
    );
    for f in &mem {
        let g = Gauge::<i64>::default();
        g.set(f.value as i64);
        let name = meminfo::metric_name(f);
        let help = format!("Memory information field {name}.");
        registry.register(name, help, g);
    }
    for (k, field) in netdev::RECEIVE_FIELDS.iter().enumerate() {
        let fam = Family::<Vec<(&'static str, String)>, Counter>::default();
        for d in &dev {
            fam.get_or_create(&vec![("device", d.device.to_string())])
                .inc_by(d.receive[k]);
        }
        registry.register(
            format!("node_network_receive_{field}"),
            "Network device statistic.",
            fam,
        );
    }
    for col in 0..11 {
        let fam = Family::<Vec<(&'static str, String)>, Counter>::default();
        for d in &disk {
            fam.get_or_create(&vec![("device", d.device.to_string())])
                .inc_by(d.stats[col]);
        }
        registry.register(format!("node_disk_col{col}"), "Disk statistic.", fam);
    }
    let mut out = String::new();
    encode(&mut out, &registry).unwrap();
    out
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let scraper = Scraper::new(Config {
        enabled: issue_2().iter().map(|s| s.to_string()).collect(),
        ..Config::default()
    })
    .expect("default config");
    let body_len = scraper.scrape().len();
    if std::env::var_os("SCRAPE_ONLY").is_some() {
        // For profilers: nothing but full scrapes.
        let (cpu, wall) = measure(n, || {
            black_box(scraper.scrape());
        });
        println!("scrape, the 10 collectors of issue 2: {cpu:.1} µs CPU  {wall:.1} µs wall");
        return;
    }

    let (read_cpu, read_wall) = measure(n, || {
        for f in FILES {
            black_box(std::fs::read_to_string(f).ok());
        }
        black_box(std::fs::metadata("/etc/os-release").ok());
        black_box(filesystem::statvfs(Path::new("/")).ok());
    });
    let (scrape_cpu, scrape_wall) = measure(n, || {
        black_box(scraper.scrape());
    });
    let (fam_cpu, fam_wall) = measure(n, || {
        black_box(families_way());
    });
    let defaults = Scraper::new(Config::default()).expect("default config");
    let (def_cpu, def_wall) = measure(n, || {
        black_box(defaults.scrape());
    });
    let (sub_cpu, sub_wall) = measure(n, || {
        // The same four collectors the `families` way covers, through the Scraper.
        black_box(SUBSET.with(|s| s.scrape()));
    });

    println!("scrapes per measurement: {n}; body: {body_len} bytes");
    println!("read-only (files + statvfs /):      {read_cpu:8.1} µs CPU  {read_wall:8.1} µs wall");
    println!(
        "scrape, the 10 collectors of issue 2:{scrape_cpu:8.1} µs CPU  {scrape_wall:8.1} µs wall"
    );
    println!(
        "scrape, every default collector:    {def_cpu:8.1} µs CPU  {def_wall:8.1} µs wall ({} bytes)",
        defaults.scrape().len()
    );
    println!("scrape, cpu+meminfo+netdev+disk:    {sub_cpu:8.1} µs CPU  {sub_wall:8.1} µs wall");
    println!("Family/Registry per scrape, same 4: {fam_cpu:8.1} µs CPU  {fam_wall:8.1} µs wall");
    for spec in vpsmon_exporter::collector::specs()
        .iter()
        .filter(|s| s.default_enabled)
    {
        let one = Scraper::new(Config {
            enabled: [spec.name.to_string()].into_iter().collect(),
            ..Config::default()
        })
        .expect("one collector");
        let (cpu, wall) = measure(n, || {
            black_box(one.scrape());
        });
        println!(
            "  only {:<12}                     {cpu:8.1} µs CPU  {wall:8.1} µs wall",
            spec.name
        );
    }
    println!(
        "scrape / read-only = {:.2}x; Family way / Collector way (same 4) = {:.2}x",
        scrape_cpu / read_cpu,
        fam_cpu / sub_cpu
    );
}

thread_local! {
    static SUBSET: Scraper = Scraper::new(Config {
        enabled: ["cpu", "meminfo", "netdev", "diskstats"].iter().map(|s| s.to_string()).collect(),
        ..Config::default()
    })
    .expect("subset config");
}
