//! Conformance with Debian's node_exporter: both run on loopback with the same collectors on the
//! real /proc; every family issue 2 lists must exist in both with the same label names and series,
//! and the values must agree. node_exporter is scraped before and after ours, so a counter of ours
//! must lie between its two readings (no time tolerance needed); gauges get a sane tolerance,
//! static values must be equal.

mod support;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use support::{Exposition, Labels, scrape, start_node_exporter, start_ours};

const COLLECTORS: [&str; 10] = [
    "cpu",
    "meminfo",
    "filesystem",
    "netdev",
    "loadavg",
    "stat",
    "diskstats",
    "time",
    "uname",
    "os",
];

/// The families issue 2 lists by name.
const LISTED: &[&str] = &[
    "node_cpu_seconds_total",
    "node_cpu_guest_seconds_total",
    "node_filesystem_size_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_files",
    "node_filesystem_files_free",
    "node_filesystem_readonly",
    "node_filesystem_device_error",
    "node_load1",
    "node_load5",
    "node_load15",
    "node_boot_time_seconds",
    "node_context_switches_total",
    "node_forks_total",
    "node_intr_total",
    "node_procs_running",
    "node_procs_blocked",
    "node_time_seconds",
    "node_uname_info",
    "node_os_info",
    "node_scrape_collector_duration_seconds",
    "node_scrape_collector_success",
];

/// The families issue 2 lists by pattern ("every field of /proc/meminfo", "the node_disk_*
/// counters", "node_network_{receive,transmit}_*"): whatever node_exporter serves under them.
const LISTED_PREFIXES: &[&str] = &[
    "node_memory_",
    "node_network_receive_",
    "node_network_transmit_",
    "node_disk_",
];

/// node_disk_* families node_exporter takes from udev's database (absent in most containers),
/// not from /proc/diskstats.
const NOT_FROM_PROC: &[&str] = &["node_disk_info", "node_disk_device_mapper_info"];

#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Must be equal (boot time, sizes, info metrics).
    Exact,
    /// node_exporter's first reading <= ours <= its second reading.
    Between,
    /// Within [min, max] of node_exporter's two readings widened by this much.
    Near(f64),
    /// Only the series must match (timings).
    Present,
}

fn rule(name: &str, mem_total: f64, fs_size: f64) -> Rule {
    match name {
        "node_boot_time_seconds"
        | "node_uname_info"
        | "node_os_info"
        | "node_filesystem_size_bytes"
        | "node_filesystem_readonly"
        | "node_filesystem_device_error"
        | "node_scrape_collector_success"
        | "node_memory_MemTotal_bytes" => Rule::Exact,
        "node_scrape_collector_duration_seconds" => Rule::Present,
        "node_load1" | "node_load5" | "node_load15" => Rule::Near(0.5),
        "node_procs_running" | "node_procs_blocked" | "node_disk_io_now" => Rule::Near(10.0),
        "node_time_seconds" => Rule::Near(5.0),
        // Other processes (compilers on a shared 2-core machine) allocate meanwhile.
        n if n.starts_with("node_memory_") && n.ends_with("_bytes") => Rule::Near(0.02 * mem_total),
        n if n.starts_with("node_memory_") => Rule::Near(1.0),
        "node_filesystem_free_bytes" | "node_filesystem_avail_bytes" => Rule::Near(0.01 * fs_size),
        "node_filesystem_files_free" => Rule::Near(1000.0),
        // Fixed on ext4 and tmpfs (then this is equality), but XFS sizes its inode count by its
        // free space, which a build on the same disk keeps moving.
        "node_filesystem_files" => Rule::Between,
        n if n.ends_with("_total") => Rule::Between,
        _ => Rule::Near(0.0),
    }
}

fn fmt_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

struct Mismatch {
    family: String,
    labels: String,
    node: String,
    ours: String,
    what: String,
}

#[tokio::test]
async fn agrees_with_node_exporter_on_the_real_proc() {
    let dir = tempfile::tempdir().unwrap();
    let mut node_args: Vec<String> = vec!["--collector.disable-defaults".into()];
    node_args.extend(support::node_exporter_as_ours());
    // /proc/net/dev on both sides (node_exporter_as_ours turns its netlink off too).
    let mut our_args: Vec<String> = vec![
        "--collector.disable-defaults".into(),
        "--no-collector.netdev.netlink".into(),
    ];
    for c in COLLECTORS {
        node_args.push(format!("--collector.{c}"));
        our_args.push(format!("--collector.{c}"));
    }
    let node = start_node_exporter(dir.path(), &node_args).await;
    let ours = start_ours(dir.path(), &our_args).await;

    let before_text = scrape(&node.base).await;
    let ours_text = scrape(&ours.base).await;
    let after_text = scrape(&node.base).await;
    let before = Exposition::parse(&before_text);
    let mine = Exposition::parse(&ours_text);
    let after = Exposition::parse(&after_text);

    let mut families: BTreeSet<String> = LISTED.iter().map(|s| s.to_string()).collect();
    for prefix in LISTED_PREFIXES {
        families.extend(
            before
                .names_with_prefix(prefix)
                .into_iter()
                .filter(|n| !NOT_FROM_PROC.contains(&n.as_str())),
        );
    }
    let scalar = |e: &Exposition, name: &str| {
        e.samples
            .get(name)
            .and_then(|s| s.values().next().copied())
            .unwrap_or(0.0)
    };
    let mem_total = scalar(&before, "node_memory_MemTotal_bytes");
    let mut rows: Vec<Mismatch> = Vec::new();
    let mut compared = 0usize;
    for family in &families {
        let (Some(a1), Some(b), Some(a2)) = (
            before.samples.get(family),
            mine.samples.get(family),
            after.samples.get(family),
        ) else {
            rows.push(Mismatch {
                family: family.clone(),
                labels: String::new(),
                node: if before.samples.contains_key(family) {
                    "present"
                } else {
                    "MISSING"
                }
                .into(),
                ours: if mine.samples.contains_key(family) {
                    "present"
                } else {
                    "MISSING"
                }
                .into(),
                what: "family must exist in both".into(),
            });
            continue;
        };
        if before.types.get(family) == Some(&"counter".to_string())
            && mine.types.get(family) != Some(&"counter".to_string())
        {
            rows.push(Mismatch {
                family: family.clone(),
                labels: String::new(),
                node: "counter".into(),
                ours: mine
                    .types
                    .get(family)
                    .cloned()
                    .unwrap_or_else(|| "untyped".into()),
                what: "type".into(),
            });
        }
        let names = |s: &std::collections::BTreeMap<Labels, f64>| -> BTreeSet<Vec<String>> {
            s.keys().map(|l| l.keys().cloned().collect()).collect()
        };
        if names(a1) != names(b) {
            rows.push(Mismatch {
                family: family.clone(),
                labels: String::new(),
                node: format!("{:?}", names(a1)),
                ours: format!("{:?}", names(b)),
                what: "label names".into(),
            });
            continue;
        }
        for (labels, &v1) in a1 {
            let fs_size = before
                .samples
                .get("node_filesystem_size_bytes")
                .and_then(|s| s.get(labels))
                .copied()
                .unwrap_or(0.0);
            let Some(&ours_v) = b.get(labels) else {
                rows.push(Mismatch {
                    family: family.clone(),
                    labels: fmt_labels(labels),
                    node: v1.to_string(),
                    ours: "MISSING".into(),
                    what: "series".into(),
                });
                continue;
            };
            let v2 = a2.get(labels).copied().unwrap_or(v1);
            let (lo, hi) = (v1.min(v2), v1.max(v2));
            compared += 1;
            let r = rule(family, mem_total, fs_size);
            let ok = match r {
                Rule::Exact => ours_v == v1 && ours_v == v2,
                // Float formatting of e.g. ticks/100 may differ in the last digit.
                Rule::Between => ours_v >= lo - 1e-9 * lo.abs() && ours_v <= hi + 1e-9 * hi.abs(),
                Rule::Near(tol) => ours_v >= lo - tol && ours_v <= hi + tol,
                Rule::Present => true,
            };
            if !ok {
                rows.push(Mismatch {
                    family: family.clone(),
                    labels: fmt_labels(labels),
                    node: if v1 == v2 {
                        v1.to_string()
                    } else {
                        format!("{v1} .. {v2}")
                    },
                    ours: ours_v.to_string(),
                    what: format!("{r:?}"),
                });
            }
        }
        for labels in b
            .keys()
            .filter(|l| !a1.contains_key(*l) && !a2.contains_key(*l))
        {
            rows.push(Mismatch {
                family: family.clone(),
                labels: fmt_labels(labels),
                node: "MISSING".into(),
                ours: b[labels].to_string(),
                what: "series only in ours".into(),
            });
        }
    }

    if !rows.is_empty() {
        let mut table = format!(
            "{} mismatches against node_exporter ({} series compared in {} families):\n{:<45} {:<50} {:>22} {:>22}  {}\n",
            rows.len(),
            compared,
            families.len(),
            "family",
            "labels",
            "node_exporter",
            "vpsmon",
            "check"
        );
        for r in &rows {
            let _ = writeln!(
                table,
                "{:<45} {:<50} {:>22} {:>22}  {}",
                r.family, r.labels, r.node, r.ours, r.what
            );
        }
        panic!("{table}");
    }
    assert!(compared > 100, "only {compared} series compared");
    println!(
        "{compared} series in {} families agree with node_exporter",
        families.len()
    );
}
