//! End-to-end golden test, as node_exporter's e2e test: the real `vpsmon-exporter` binary is
//! started on a committed fixture tree, and its whole `/metrics` body is diffed line by line
//! against the committed `metrics.txt` next to it.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p vpsmon-exporter --test golden`.

mod support;

use std::path::{Path, PathBuf};
use support::promtool_check;

use similar::TextDiff;
use vpsmon_exporter::collector::{OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The fixture's net/dev and net/arp, not this machine's over netlink (ours' defaults; Debian's
/// node_exporter 1.5 has neither flag and reads the files).
fn fixture_not_netlink() -> [String; 2] {
    [
        "--no-collector.netdev.netlink".to_owned(),
        "--no-collector.arp.netlink".to_owned(),
    ]
}

/// One `/metrics` body of the binary run on `root` with only `collectors` enabled.
async fn scrape(root: &Path, collectors: &[&str]) -> String {
    let logs = tempfile::tempdir().expect("tempdir");
    let mut args = support::fixture_args(root);
    args.extend(fixture_not_netlink());
    args.extend(collectors.iter().map(|c| format!("--collector.{c}")));
    let running = support::start_ours(logs.path(), &args).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/metrics", running.base))
        .header(reqwest::header::ACCEPT, support::PROMETHEUS_ACCEPT)
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        OPENMETRICS_CONTENT_TYPE
    );
    resp.text().await.expect("body")
}

/// Every collector enabled by default, from the registry: the golden file changes when one is
/// added (regenerate it and read the diff).
fn debian12_vm() -> Vec<&'static str> {
    vpsmon_exporter::collector::specs()
        .iter()
        .filter(|s| s.default_enabled)
        .map(|s| s.name)
        .collect()
}

/// `collectors` less those Debian's node_exporter 1.5 lacks (ours only, like `logins`) and less
/// `time`, because node_exporter 1.5's time collector also reports clocksources.
fn shared_with_node_exporter(collectors: &[&'static str]) -> Vec<&'static str> {
    let theirs = support::node_exporter_collectors();
    collectors
        .iter()
        .copied()
        .filter(|c| theirs.contains(*c) && *c != "time")
        .collect()
}

/// The collectors whose files node_exporter's older fixture subset has: a property of that tree,
/// not of the registry (node_exporter 1.12's whole tree is `tests/node_exporter_e2e.rs`'s).
const NODE_EXPORTER_TREE: [&str; 5] = ["cpu", "diskstats", "filesystem", "netdev", "stat"];

/// Families whose values cannot be the same twice: the clock, scrape durations, and the
/// statvfs sizes of the one fixture mount that resolves to a real directory.
const VOLATILE: [&str; 9] = [
    "node_time_seconds ",
    "node_scrape_collector_duration_seconds{",
    "node_filesystem_size_bytes{",
    "node_filesystem_free_bytes{",
    "node_filesystem_avail_bytes{",
    "node_filesystem_files{",
    "node_filesystem_files_free{",
    // The machine's own zone name and offset.
    "node_time_zone_offset_seconds{",
    // adjtimex(2) asks the running kernel's clock, whatever the fixture.
    "node_timex_",
];

/// Masks what cannot be deterministic; everything else is compared byte for byte.
fn normalize(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for line in body.lines() {
        if let Some(prefix) = VOLATILE.iter().find(|p| line.starts_with(**p)) {
            let masked = if prefix.ends_with('{') {
                // Keep the labels when they are ours (collector, device, mountpoint).
                if prefix.starts_with("node_time_zone") {
                    format!("{prefix}<volatile>")
                } else {
                    let labels_end = line.rfind('}').unwrap_or(line.len());
                    format!("{} <volatile>", &line[..=labels_end])
                }
            } else if prefix.ends_with('_') {
                // A whole group of unlabelled families: keep each one's name.
                let name_end = line.find(' ').unwrap_or(line.len());
                format!("{} <volatile>", &line[..name_end])
            } else {
                format!("{prefix}<volatile>")
            };
            out.push_str(&masked);
        } else if let Some(rest) = line.strip_prefix("vpsmon_exporter_build_info{version=\"") {
            let tail = &rest[rest.find('"').unwrap_or(0)..];
            out.push_str("vpsmon_exporter_build_info{version=\"<version>");
            out.push_str(tail);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

async fn check_golden(name: &str, collectors: &[&str]) {
    let root = fixture(name);
    let actual = normalize(&scrape(&root, collectors).await);
    let golden_path = root.join("metrics.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&golden_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            golden_path.display()
        )
    });
    if expected != actual {
        let diff = TextDiff::from_lines(&expected, &actual);
        panic!(
            "scrape of fixture {name} differs from {}:\n{}",
            golden_path.display(),
            diff.unified_diff()
                .context_radius(2)
                .header("golden", "actual")
        );
    }
}

/// As node_exporter: OpenMetrics only for a client that accepts it, else the text format
/// 0.0.4 (curl, or a client asking for `text/plain; version=0.0.4`), which promtool parses.
#[tokio::test]
async fn the_format_asked_for_is_the_format_served() {
    let logs = tempfile::tempdir().expect("tempdir");
    let mut args = support::fixture_args(&fixture("debian12-vm"));
    args.extend(fixture_not_netlink());
    args.extend(debian12_vm().iter().map(|c| format!("--collector.{c}")));
    let running = support::start_ours(logs.path(), &args).await;
    let client = reqwest::Client::new();
    let get = |accept: Option<&'static str>| {
        let mut req = client.get(format!("{}/metrics", running.base));
        if let Some(accept) = accept {
            req = req.header(reqwest::header::ACCEPT, accept);
        }
        async move {
            let resp = req.send().await.expect("GET /metrics");
            assert_eq!(resp.status(), 200);
            let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
            (ct, resp.text().await.unwrap())
        }
    };

    for accept in [Some("text/plain; version=0.0.4"), None, Some("*/*")] {
        let (ct, body) = get(accept).await;
        assert_eq!(ct, TEXT_CONTENT_TYPE, "{accept:?}");
        assert!(!body.contains("# EOF"), "{accept:?}: {body}");
        assert!(
            body.contains("# HELP node_forks_total Total number of forks.\n# TYPE node_forks_total counter\nnode_forks_total "),
            "{accept:?}: {body}"
        );
        let (code, out) = support::promtool_check(&body);
        assert!(
            matches!(code, Some(0 | 3)) && !out.contains("parsing error"),
            "promtool check metrics rejects the 0.0.4 answer ({code:?}):\n{out}"
        );
        // A counter family named without `_total` (the OpenMetrics way) is linted as wrong
        // in the text format.
        assert!(!out.contains("_total\" suffix"), "{out}");
    }

    let (ct, body) = get(Some("application/openmetrics-text; version=1.0.0")).await;
    assert_eq!(ct, OPENMETRICS_CONTENT_TYPE);
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(
        body.contains("# TYPE node_forks counter\nnode_forks_total "),
        "{body}"
    );
    let (ct, _) = get(Some(support::PROMETHEUS_ACCEPT)).await;
    assert_eq!(ct, OPENMETRICS_CONTENT_TYPE);
}

#[tokio::test]
async fn debian12_vm_matches_golden() {
    check_golden("debian12-vm", &debian12_vm()).await;
}

#[tokio::test]
async fn node_exporter_fixtures_match_golden() {
    check_golden("node_exporter", &NODE_EXPORTER_TREE).await;
}

/// Copies a fixture tree into a temporary directory so a test can break one file.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[tokio::test]
async fn garbled_meminfo_fails_only_its_collector() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture("debian12-vm"), dir.path());
    std::fs::write(
        dir.path().join("proc/meminfo"),
        "MemTotal:       2014432 kB\nMemFree: lots kB\n",
    )
    .expect("garble meminfo");
    let body = scrape(dir.path(), &["cpu", "loadavg", "meminfo", "netdev"]).await;

    assert!(
        body.contains("node_scrape_collector_success{collector=\"meminfo\"} 0\n"),
        "{body}"
    );
    for ok in ["cpu", "loadavg", "netdev"] {
        assert!(
            body.contains(&format!(
                "node_scrape_collector_success{{collector=\"{ok}\"}} 1\n"
            )),
            "{ok} should still succeed:\n{body}"
        );
    }
    assert!(
        !body.contains("node_memory_"),
        "no half-written meminfo:\n{body}"
    );
    assert!(body.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} "));
    assert!(body.contains("node_load1 "));
    assert!(body.ends_with("# EOF\n"));
}

/// Issue 14 point 4: odd inputs still give a body Prometheus' own parser accepts, with the
/// lines a user would expect, and a stat without `btime` says it failed.
#[tokio::test]
async fn odd_meminfo_and_stat_still_give_valid_exposition() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture("debian12-vm"), dir.path());
    std::fs::write(
        dir.path().join("proc/meminfo"),
        "MemTotal:       2014432 kB\nWeird field name: 5 kB\nMemFree: 1 kB\nMemFree: 2 kB\n",
    )
    .expect("write meminfo");
    let stat = std::fs::read_to_string(dir.path().join("proc/stat")).expect("read stat");
    let stat: String = stat
        .lines()
        .filter(|l| !l.starts_with("btime"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("proc/stat"), stat).expect("write stat");
    let body = scrape(dir.path(), &["meminfo", "stat"]).await;

    assert!(
        body.contains("\nnode_memory_Weird_field_name_bytes 5120\n"),
        "{body}"
    );
    assert_eq!(
        body.matches("\nnode_memory_MemFree_bytes ").count(),
        1,
        "{body}"
    );
    assert!(
        body.contains("\nnode_memory_MemFree_bytes 2048\n"),
        "{body}"
    );
    assert!(body.contains("node_scrape_collector_success{collector=\"meminfo\"} 1\n"));
    assert!(!body.contains("node_boot_time_seconds"), "{body}");
    assert!(body.contains("\nnode_context_switches_total "), "{body}");
    assert!(body.contains("node_scrape_collector_success{collector=\"stat\"} 0\n"));
    let text = String::from_utf8(vpsmon_exporter::collector::to_text_format(body.as_bytes()))
        .expect("UTF-8");
    let (code, out) = promtool_check(&text);
    assert!(
        matches!(code, Some(0 | 3)) && !out.contains("parsing error"),
        "promtool check metrics rejects the body ({code:?}):\n{out}\n{text}"
    );
}

#[tokio::test]
async fn missing_file_fails_only_its_collector() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture("debian12-vm"), dir.path());
    std::fs::remove_file(dir.path().join("proc/diskstats")).expect("remove diskstats");
    let body = scrape(dir.path(), &["diskstats", "stat"]).await;
    assert!(body.contains("node_scrape_collector_success{collector=\"diskstats\"} 0\n"));
    assert!(body.contains("node_scrape_collector_success{collector=\"stat\"} 1\n"));
    assert!(body.contains("node_context_switches_total "));
}

/// Debian's node_exporter 1.5 on the same fixture tree, with flags that make its defaults ours
/// (the excludes; /proc/net/dev instead of netlink, no interface excluded).
async fn node_exporter_on(root: &Path, collectors: &[&str]) -> String {
    let logs = tempfile::tempdir().expect("tempdir");
    let mut args = support::fixture_args(root);
    args.extend(support::node_exporter_as_ours());
    args.extend(collectors.iter().map(|c| format!("--collector.{c}")));
    let running = support::start_node_exporter(logs.path(), &args).await;
    support::scrape(&running.base).await
}

/// Sizes of the fixture mount that is a real directory move between the two scrapes.
const MOVING: [&str; 5] = [
    "node_filesystem_size_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_files",
    "node_filesystem_files_free",
];

/// Labels node_exporter gained after Debian's 1.5, which these comparisons run: left out of
/// ours before comparing (the comparison with 1.12's e2e-output.txt covers them).
const NEWER_LABELS: [(&str, &str); 1] = [("node_disk_info", "rotational")];

async fn agrees_with_node_exporter(name: &str, collectors: &[&str]) {
    // node_exporter's uname collector asks the running kernel (the uname syscall), not
    // --path.procfs: give the copied tree this machine's kernel names, so both read the same.
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture(name), dir.path());
    let kernel = dir.path().join("proc/sys/kernel");
    if kernel.is_dir() {
        for file in ["osrelease", "version", "hostname", "domainname"] {
            let live = std::fs::read(Path::new("/proc/sys/kernel").join(file)).expect(file);
            std::fs::write(kernel.join(file), live).expect(file);
        }
    }
    let root = dir.path().to_path_buf();
    let theirs = support::Exposition::parse(&node_exporter_on(&root, collectors).await);
    let mut ours = support::Exposition::parse(&scrape(&root, collectors).await);
    for (metric, label) in NEWER_LABELS {
        if let Some(series) = ours.samples.remove(metric) {
            let older = series
                .into_iter()
                .map(|(mut labels, v)| {
                    labels.remove(label);
                    (labels, v)
                })
                .collect();
            ours.samples.insert(metric.to_owned(), older);
        }
    }
    let relevant = |n: &&String| {
        n.starts_with("node_")
            && !n.starts_with("node_scrape_collector_")
            && !n.starts_with("node_exporter_")
    };
    let names = |e: &support::Exposition| {
        e.samples
            .keys()
            .filter(relevant)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&ours),
        names(&theirs),
        "fixture {name}: sample names differ"
    );
    for metric in names(&theirs) {
        let (a, b) = (&ours.samples[&metric], &theirs.samples[&metric]);
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "fixture {name}: label sets of {metric} differ"
        );
        assert_eq!(
            ours.types.get(&metric),
            theirs.types.get(&metric),
            "type of {metric}"
        );
        if MOVING.contains(&metric.as_str()) {
            continue;
        }
        for (labels, theirs) in b {
            let ours = a[labels];
            assert!(
                (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
                "fixture {name}: {metric}{labels:?} is {ours}, node_exporter says {theirs}"
            );
        }
    }
}

#[tokio::test]
async fn debian12_vm_agrees_with_node_exporter_sample_for_sample() {
    agrees_with_node_exporter("debian12-vm", &shared_with_node_exporter(&debian12_vm())).await;
}

#[tokio::test]
async fn node_exporter_fixtures_agree_with_node_exporter_sample_for_sample() {
    agrees_with_node_exporter("node_exporter", &NODE_EXPORTER_TREE).await;
}
