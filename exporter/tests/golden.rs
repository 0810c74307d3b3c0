//! End-to-end golden test, as node_exporter's e2e test: a whole scrape of a committed fixture
//! tree, diffed line by line against the committed `metrics.txt` next to it.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p vpsmon-exporter --test golden`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use similar::TextDiff;
use vpsmon_exporter::collector::{Config, Paths, Scraper};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn config(root: &Path, collectors: &[&str]) -> Config {
    Config {
        paths: Paths {
            procfs: root.join("proc"),
            sysfs: root.join("sys"),
            rootfs: root.join("rootfs"),
        },
        enabled: collectors
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        ..Config::default()
    }
}

fn scrape(config: Config) -> String {
    let scraper = Scraper::new(config).expect("fixture config is valid");
    String::from_utf8(scraper.scrape()).expect("the body is UTF-8")
}

/// Families whose values cannot be the same twice: the clock, scrape durations, and the
/// statvfs sizes of the one fixture mount that resolves to a real directory.
const VOLATILE: [&str; 8] = [
    "node_time_seconds ",
    "node_scrape_collector_duration_seconds{",
    "node_filesystem_size_bytes{",
    "node_filesystem_free_bytes{",
    "node_filesystem_avail_bytes{",
    "node_filesystem_files{",
    "node_filesystem_files_free{",
    // The machine's own zone name and offset.
    "node_time_zone_offset_seconds{",
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

fn check_golden(name: &str, collectors: &[&str]) {
    let root = fixture(name);
    let actual = normalize(&scrape(config(&root, collectors)));
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

#[test]
fn debian12_vm_matches_golden() {
    check_golden(
        "debian12-vm",
        &[
            "cpu",
            "diskstats",
            "filesystem",
            "loadavg",
            "meminfo",
            "netdev",
            "os",
            "stat",
            "time",
            "uname",
        ],
    );
}

#[test]
fn node_exporter_fixtures_match_golden() {
    check_golden(
        "node_exporter",
        &["cpu", "diskstats", "filesystem", "netdev", "stat"],
    );
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

#[test]
fn garbled_meminfo_fails_only_its_collector() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture("debian12-vm"), dir.path());
    std::fs::write(
        dir.path().join("proc/meminfo"),
        "MemTotal:       2014432 kB\nMemFree: lots kB\n",
    )
    .expect("garble meminfo");
    let body = scrape(config(dir.path(), &["cpu", "loadavg", "meminfo", "netdev"]));

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

#[test]
fn missing_file_fails_only_its_collector() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture("debian12-vm"), dir.path());
    std::fs::remove_file(dir.path().join("proc/diskstats")).expect("remove diskstats");
    let body = scrape(config(dir.path(), &["diskstats", "stat"]));
    assert!(body.contains("node_scrape_collector_success{collector=\"diskstats\"} 0\n"));
    assert!(body.contains("node_scrape_collector_success{collector=\"stat\"} 1\n"));
    assert!(body.contains("node_context_switches_total "));
}
