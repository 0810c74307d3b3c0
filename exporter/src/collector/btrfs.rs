//! btrfs: `node_btrfs_*` per filesystem from `<sysfs>/fs/btrfs/<uuid>/` (label, commit
//! statistics, allocation per block group type and layout, device sizes), as node_exporter's
//! btrfs collector reads them through prometheus/procfs. No btrfs: nothing, success 1.
//!
//! node_exporter also queries each mounted btrfs with ioctls (BTRFS_IOC_DEV_INFO,
//! BTRFS_IOC_GET_DEV_STATS) for `node_btrfs_device_errors_total`,
//! `node_btrfs_device_unused_bytes` and a `btrfs_dev_uuid` label; when those fail it falls back
//! to the sysfs device sizes, which is what this collector exports (see README).

use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family, gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, parse_num,
    read_with,
};

/// Bytes per sector of a block device's sysfs `size`.
const SECTOR_BYTES: u64 = 512;

/// The block group types, in node_exporter's order.
const GROUP_TYPES: [&str; 3] = ["data", "metadata", "system"];

/// One btrfs filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub uuid: String,
    pub label: String,
    pub global_rsv_size: u64,
    pub commits: CommitStats,
    /// Per [`GROUP_TYPES`]: reserved bytes and the layouts (`raid1`, `single`, ...).
    pub allocation: [Allocation; 3],
    /// (device name, size in bytes), sorted by name.
    pub devices: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub commits: u64,
    pub last_commit_ms: u64,
    pub max_commit_ms: u64,
    pub total_commit_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allocation {
    pub reserved_bytes: u64,
    pub layouts: Vec<Layout>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub mode: String,
    pub used_bytes: u64,
    pub total_bytes: u64,
    pub ratio: f64,
}

/// Parses `commit_stats` (`commits 258051` lines); unknown keys are ignored.
pub fn parse_commit_stats(data: &str) -> Result<CommitStats, ParseError> {
    let mut s = CommitStats::default();
    for (i, line) in data.lines().enumerate() {
        let n = i + 1;
        let mut parts = line.split_ascii_whitespace();
        let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseError::new(n, format!("expected \"key value\" in {line:?}")));
        };
        let value: u64 = parse_num(n, key, value)?;
        match key {
            "commits" => s.commits = value,
            "last_commit_ms" => s.last_commit_ms = value,
            "max_commit_ms" => s.max_commit_ms = value,
            "total_commit_ms" => s.total_commit_ms = value,
            _ => {}
        }
    }
    Ok(s)
}

/// How many copies of the data a layout keeps, as procfs computes it from the device count.
pub fn allocation_ratio(mode: &str, devices: usize) -> f64 {
    let d = devices as f64;
    match mode {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid1c3" => 3.0,
        "raid1c4" => 4.0,
        "raid5" => d / (d - 1.0),
        "raid6" => d / (d - 2.0),
        _ => 0.0,
    }
}

/// A file's trimmed contents; a missing one reads as empty, as procfs' btrfs reader does.
fn read_optional(path: &Path) -> Result<String, CollectError> {
    match read_with(path, |d| Ok(d.trim().to_owned())) {
        Err(CollectError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(String::new())
        }
        other => other,
    }
}

/// A number file; missing or not a number reads as 0, as procfs' btrfs reader does.
fn read_value(path: &Path) -> Result<u64, CollectError> {
    Ok(read_optional(path)?.parse().unwrap_or(0))
}

/// Sorted names of the entries of `dir`; only directories when `dirs_only`.
fn list(dir: &Path, dirs_only: bool) -> Result<Vec<String>, CollectError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CollectError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| !dirs_only || e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Reads one `<sysfs>/fs/btrfs/<uuid>` directory.
pub fn read_stats(dir: &Path) -> Result<Stats, CollectError> {
    let mut devices = Vec::new();
    for name in list(&dir.join("devices"), false)? {
        let size = read_value(&dir.join("devices").join(&name).join("size"))?;
        devices.push((name, size.saturating_mul(SECTOR_BYTES)));
    }
    let mut allocation: [Allocation; 3] = Default::default();
    for (slot, group) in allocation.iter_mut().zip(GROUP_TYPES) {
        let gdir = dir.join("allocation").join(group);
        slot.reserved_bytes = read_value(&gdir.join("bytes_reserved"))?;
        for mode in list(&gdir, true)? {
            let ldir = gdir.join(&mode);
            slot.layouts.push(Layout {
                used_bytes: read_value(&ldir.join("used_bytes"))?,
                total_bytes: read_value(&ldir.join("total_bytes"))?,
                ratio: allocation_ratio(&mode, devices.len()),
                mode,
            });
        }
    }
    let commit_path = dir.join("commit_stats");
    let commits = match read_with(&commit_path, |d| {
        parse_commit_stats(d).map_err(|e| CollectError::parse(&commit_path, e))
    }) {
        Err(CollectError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            CommitStats::default()
        }
        other => other?,
    };
    let mut uuid = read_optional(&dir.join("metadata_uuid"))?;
    if uuid.is_empty() {
        uuid = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    Ok(Stats {
        uuid,
        label: read_optional(&dir.join("label"))?,
        global_rsv_size: read_value(&dir.join("allocation/global_rsv_size"))?,
        commits,
        allocation,
        devices,
    })
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "btrfs",
    default_enabled: true,
    help: "Btrfs filesystem statistics from /sys/fs/btrfs",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(BtrfsCollector {
        root: config.paths.sysfs.join("fs/btrfs"),
    }))
}

struct BtrfsCollector {
    root: PathBuf,
}

impl Collector for BtrfsCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        // procfs globs `fs/btrfs/*-*`: the UUID directories, not `features`.
        let names = list(&self.root, false).unwrap_or_default();
        let mut all = Vec::new();
        let mut first_error = None;
        for name in names.iter().filter(|n| n.contains('-')) {
            match read_stats(&self.root.join(name)) {
                Ok(s) => all.push(s),
                // node_exporter fails the collector; the other filesystems are kept here.
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if !all.is_empty() {
            encode(enc, &all)?;
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn encode(enc: &mut DescriptorEncoder<'_>, all: &[Stats]) -> Result<(), CollectError> {
    let mut family = gauge_family(enc, "node_btrfs_info", "Filesystem information")?;
    for s in all {
        let labels = [("label", s.label.as_str()), ("uuid", s.uuid.as_str())];
        gauge(&mut family, &labels, 1u64)?;
    }
    let mut family = gauge_family(enc, "node_btrfs_global_rsv_size_bytes", "Size of global reserve.")?;
    for s in all {
        gauge(&mut family, &[("uuid", s.uuid.as_str())], s.global_rsv_size)?;
    }
    let mut family = counter_family(
        enc,
        "node_btrfs_commits",
        "The total number of commits that have occurred.",
    )?;
    for s in all {
        counter(&mut family, &[("uuid", s.uuid.as_str())], s.commits.commits)?;
    }
    type Ms = fn(&CommitStats) -> u64;
    for (name, help, ms) in [
        (
            "node_btrfs_last_commit_seconds",
            "Duration of the most recent commit, in seconds.",
            (|c| c.last_commit_ms) as Ms,
        ),
        (
            "node_btrfs_max_commit_seconds",
            "Duration of the slowest commit, in seconds.",
            |c| c.max_commit_ms,
        ),
    ] {
        let mut family = gauge_family(enc, name, help)?;
        for s in all {
            gauge(&mut family, &[("uuid", s.uuid.as_str())], ms(&s.commits) as f64 / 1000.0)?;
        }
    }
    let mut family = counter_family(
        enc,
        "node_btrfs_commit_seconds",
        "Sum of the duration of all commits, in seconds.",
    )?;
    for s in all {
        let v = s.commits.total_commit_ms as f64 / 1000.0;
        counter(&mut family, &[("uuid", s.uuid.as_str())], v)?;
    }
    let mut family = gauge_family(
        enc,
        "node_btrfs_reserved_bytes",
        "Amount of space reserved for a data type",
    )?;
    for s in all {
        for (a, group) in s.allocation.iter().zip(GROUP_TYPES) {
            let labels = [("block_group_type", group), ("uuid", s.uuid.as_str())];
            gauge(&mut family, &labels, a.reserved_bytes)?;
        }
    }
    for (i, (name, help)) in [
        (
            "node_btrfs_used_bytes",
            "Amount of used space by a layout/data type",
        ),
        (
            "node_btrfs_size_bytes",
            "Amount of space allocated for a layout/data type",
        ),
        (
            "node_btrfs_allocation_ratio",
            "Data allocation ratio for a layout/data type",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut family = gauge_family(enc, name, help)?;
        for s in all {
            for (a, group) in s.allocation.iter().zip(GROUP_TYPES) {
                for l in &a.layouts {
                    let labels = [
                        ("block_group_type", group),
                        ("mode", l.mode.as_str()),
                        ("uuid", s.uuid.as_str()),
                    ];
                    match i {
                        0 => gauge(&mut family, &labels, l.used_bytes)?,
                        1 => gauge(&mut family, &labels, l.total_bytes)?,
                        _ => gauge(&mut family, &labels, l.ratio)?,
                    }
                }
            }
        }
    }
    if all.iter().any(|s| !s.devices.is_empty()) {
        let mut family = gauge_family(
            enc,
            "node_btrfs_device_size_bytes",
            "Size of a device that is part of the filesystem.",
        )?;
        for s in all {
            for (device, size) in &s.devices {
                let labels = [("device", device.as_str()), ("uuid", s.uuid.as_str())];
                gauge(&mut family, &labels, *size)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, tree};
    use super::*;

    const UUID: &str = "7f07c59f-6136-449c-ab87-e1cf2328731b";

    /// node_exporter's fixture filesystem 7f07c59f (raid5 data over three loop devices).
    fn fixture() -> tempfile::TempDir {
        let fs = format!("sys/fs/btrfs/{UUID}");
        let files: Vec<(String, &str)> = vec![
            (format!("{fs}/label"), "\n"),
            (format!("{fs}/metadata_uuid"), "7f07c59f-6136-449c-ab87-e1cf2328731b\n"),
            (format!("{fs}/devices/loop22/size"), "20971520\n"),
            (format!("{fs}/devices/loop23/size"), "20971520\n"),
            (format!("{fs}/devices/loop24/size"), "20971520\n"),
            (format!("{fs}/devices/loop25/size"), "20971520\n"),
            (format!("{fs}/allocation/global_rsv_size"), "16777216\n"),
            (format!("{fs}/allocation/data/bytes_reserved"), "0\n"),
            (format!("{fs}/allocation/data/raid5/total_bytes"), "644087808\n"),
            (format!("{fs}/allocation/data/raid5/used_bytes"), "0\n"),
            (format!("{fs}/allocation/metadata/bytes_reserved"), "0\n"),
            (format!("{fs}/allocation/metadata/raid6/total_bytes"), "429391872\n"),
            (format!("{fs}/allocation/metadata/raid6/used_bytes"), "114688\n"),
            (format!("{fs}/allocation/system/bytes_reserved"), "0\n"),
            (format!("{fs}/allocation/system/raid6/total_bytes"), "16777216\n"),
            (format!("{fs}/allocation/system/raid6/used_bytes"), "16384\n"),
            ("sys/fs/btrfs/features/mixed_groups".into(), "0\n"),
        ];
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_bytes()))
            .collect();
        tree(&files)
    }

    #[test]
    fn commit_stats_parse_and_garbage_names_the_line() {
        let s = parse_commit_stats(
            "commits 258051\nlast_commit_ms 1000\nmax_commit_ms 51462\ntotal_commit_ms 47836090",
        )
        .unwrap();
        assert_eq!(
            s,
            CommitStats {
                commits: 258051,
                last_commit_ms: 1000,
                max_commit_ms: 51462,
                total_commit_ms: 47836090
            }
        );
        assert_eq!(
            parse_commit_stats("commits 1\nmax_commit_ms x\n")
                .unwrap_err()
                .to_string(),
            "line 2: max_commit_ms: \"x\" is not a number"
        );
    }

    #[test]
    fn encodes_node_exporters_lines() {
        let dir = fixture();
        let fs = dir.path().join("sys/fs/btrfs").join(UUID);
        std::fs::write(
            fs.join("commit_stats"),
            "commits 258051\nlast_commit_ms 1000\nmax_commit_ms 51462\ntotal_commit_ms 47836090",
        )
        .unwrap();
        let body = scrape_of("btrfs", build(&config_for(dir.path())).unwrap());
        let lines = samples(&body);
        let u = format!("uuid=\"{UUID}\"");
        // Lines of node_exporter 1.12's e2e-output.txt (commit figures from its other fixture).
        for want in [
            format!("node_btrfs_info{{label=\"\",{u}}} 1"),
            format!("node_btrfs_global_rsv_size_bytes{{{u}}} 16777216"),
            format!("node_btrfs_commits_total{{{u}}} 258051"),
            format!("node_btrfs_last_commit_seconds{{{u}}} 1.0"),
            format!("node_btrfs_max_commit_seconds{{{u}}} 51.462"),
            format!("node_btrfs_commit_seconds_total{{{u}}} 47836.09"),
            format!("node_btrfs_reserved_bytes{{block_group_type=\"metadata\",{u}}} 0"),
            format!("node_btrfs_used_bytes{{block_group_type=\"metadata\",mode=\"raid6\",{u}}} 114688"),
            format!("node_btrfs_size_bytes{{block_group_type=\"data\",mode=\"raid5\",{u}}} 644087808"),
            format!("node_btrfs_allocation_ratio{{block_group_type=\"data\",mode=\"raid5\",{u}}} 1.3333333333333333"),
            format!("node_btrfs_allocation_ratio{{block_group_type=\"system\",mode=\"raid6\",{u}}} 2.0"),
            format!("node_btrfs_device_size_bytes{{device=\"loop22\",{u}}} 10737418240"),
        ] {
            assert!(lines.contains(&want.as_str()), "missing {want}:\n{body}");
        }
        assert!(body.contains("# HELP node_btrfs_commits The total number of commits that have occurred.\n# TYPE node_btrfs_commits counter\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"btrfs\"} 1\n"));
    }

    #[test]
    fn without_commit_stats_the_figures_are_zero_and_no_btrfs_is_empty() {
        let dir = fixture();
        let body = scrape_of("btrfs", build(&config_for(dir.path())).unwrap());
        assert!(body.contains(&format!("node_btrfs_commits_total{{uuid=\"{UUID}\"}} 0\n")));
        let dir = tree(&[]);
        let body = scrape_of("btrfs", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"btrfs\"} 1\n"));
    }

    #[test]
    fn a_filesystem_without_devices_costs_only_itself() {
        let dir = fixture();
        let other = dir.path().join("sys/fs/btrfs/0abb23a9-579b-43e6-ad30-227ef47fcb9d");
        std::fs::create_dir_all(&other).unwrap();
        let config = config_for(dir.path());
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("btrfs", build(&config).unwrap()));
        assert!(body.contains(&format!("node_btrfs_info{{label=\"\",uuid=\"{UUID}\"}} 1\n")));
        assert!(!body.contains("0abb23a9"));
        assert!(body.contains("node_scrape_collector_success{collector=\"btrfs\"} 0\n"));
        let path = other.join("devices");
        assert!(logs.contains(&format!("error=reading {}: No such file", path.display())), "{logs}");
    }
}
