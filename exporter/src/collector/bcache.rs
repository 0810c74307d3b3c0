//! bcache: `node_bcache_*` per cache set from `<sysfs>/fs/bcache/<uuid>/` (the set, its
//! backing devices `bdev*` and cache devices `cache*`), as node_exporter's bcache collector.
//! No bcache: nothing, success 1.

use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::encode::{Families, Value};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
    read_with,
};

/// `--collector.bcache.priorityStats`: reading `priority_stats` makes the kernel walk every
/// bucket, so node_exporter leaves it off by default.
pub const PRIORITY_STATS: FlagSpec = FlagSpec::switch(
    "--collector.bcache.priorityStats",
    false,
    "Expose expensive priority stats.",
);

/// bcache's "human" numbers (`20.4G`, `427.5k`), decoded exactly as prometheus/procfs does:
/// the digits after the point count in 1/10.24ths, as the kernel's bch_hprint writes them.
pub fn dehumanize(s: &str) -> Option<u64> {
    let s = s.trim();
    let last = *s.as_bytes().last()?;
    if last.is_ascii_digit() {
        return Some(s.parse::<f64>().ok()? as u64);
    }
    // An unknown unit multiplies by 0, as procfs' map lookup does.
    let multiplier = match last {
        b'k' => 1024f64,
        b'M' => 1024f64.powi(2),
        b'G' => 1024f64.powi(3),
        b'T' => 1024f64.powi(4),
        b'P' => 1024f64.powi(5),
        b'E' => 1024f64.powi(6),
        b'Z' => 1024f64.powi(7),
        b'Y' => 1024f64.powi(8),
        _ => 0.0,
    };
    let mant = &s[..s.len() - 1];
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let mut value: f64 = int.parse().ok()?;
    if !frac.is_empty() {
        value += frac.parse::<f64>().ok()? / 10.24;
    }
    Some((value * multiplier) as u64)
}

/// As [`dehumanize`], with a leading `-`.
pub fn dehumanize_signed(s: &str) -> Option<i64> {
    let s = s.trim();
    match s.strip_prefix('-') {
        Some(rest) => Some((dehumanize(rest)? as i64).wrapping_neg()),
        None => Some(dehumanize(s)? as i64),
    }
}

/// The `writeback_rate_debug` figures node_exporter exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WritebackRate {
    pub rate: u64,
    pub target: u64,
    pub proportional: i64,
    pub integral: i64,
    pub change: i64,
}

/// Parses a backing device's `writeback_rate_debug` (`rate:  1.1M/sec` lines).
pub fn parse_writeback_rate_debug(data: &str) -> Result<WritebackRate, ParseError> {
    let mut w = WritebackRate::default();
    for (i, line) in data.lines().enumerate() {
        let Some((key, _)) = line.split_once(':') else {
            continue;
        };
        let raw = line.split_ascii_whitespace().last().unwrap_or("");
        let bad = || ParseError::new(i + 1, format!("{key}: {raw:?} is not a bcache number"));
        let per_sec = raw.trim_end_matches("/sec");
        match key {
            "rate" => w.rate = dehumanize(per_sec).ok_or_else(bad)?,
            "target" => w.target = dehumanize(raw).ok_or_else(bad)?,
            "proportional" => w.proportional = dehumanize_signed(raw).ok_or_else(bad)?,
            "integral" => w.integral = dehumanize_signed(raw).ok_or_else(bad)?,
            "change" => w.change = dehumanize_signed(per_sec).ok_or_else(bad)?,
            _ => {}
        }
    }
    Ok(w)
}

/// `(unused, metadata)` percentages of a cache device's `priority_stats`.
pub fn parse_priority_stats(data: &str) -> Result<(u64, u64), ParseError> {
    let (mut unused, mut metadata) = (0, 0);
    for (i, line) in data.lines().enumerate() {
        let slot = if line.starts_with("Unused:") {
            &mut unused
        } else if line.starts_with("Metadata:") {
            &mut metadata
        } else {
            continue;
        };
        let raw = line.split_ascii_whitespace().last().unwrap_or("");
        *slot = raw
            .trim_end_matches('%')
            .parse()
            .map_err(|_| ParseError::new(i + 1, format!("{raw:?} is not a percentage")))?;
    }
    Ok((unused, metadata))
}

/// One value file; a missing one reads as 0, as in procfs.
fn value(path: &Path) -> Result<u64, CollectError> {
    match read_with(path, |d| {
        dehumanize(d).ok_or_else(|| {
            CollectError::parse(
                path,
                ParseError::new(1, format!("{:?} is not a bcache number", d.trim())),
            )
        })
    }) {
        Err(CollectError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(0)
        }
        other => other,
    }
}

/// Sorted entries of `dir` named `prefix` and a digit (Go's Glob `prefix[0-9]*`).
fn numbered(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = super::held::list_dir(dir)
        .map(|d| {
            d.into_iter()
                .filter_map(|e| e.name.into_string().ok())
                .filter(|n| {
                    n.strip_prefix(prefix)
                        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The gauge and counter families of the set itself: (file under the set, name, HELP, kind).
const SET: [(&str, &str, &str, MetricType); 9] = [
    (
        "average_key_size",
        "node_bcache_average_key_size_sectors",
        "Average data per key in the btree (sectors).",
        MetricType::Gauge,
    ),
    (
        "btree_cache_size",
        "node_bcache_btree_cache_size_bytes",
        "Amount of memory currently used by the btree cache.",
        MetricType::Gauge,
    ),
    (
        "cache_available_percent",
        "node_bcache_cache_available_percent",
        "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).",
        MetricType::Gauge,
    ),
    ("congested", "node_bcache_congested", "Congestion.", MetricType::Gauge),
    (
        "root_usage_percent",
        "node_bcache_root_usage_percent",
        "Percentage of the root btree node in use (tree depth increases if too high).",
        MetricType::Gauge,
    ),
    ("tree_depth", "node_bcache_tree_depth", "Depth of the btree.", MetricType::Gauge),
    (
        "internal/active_journal_entries",
        "node_bcache_active_journal_entries",
        "Number of journal entries that are newer than the index.",
        MetricType::Gauge,
    ),
    (
        "internal/btree_nodes",
        "node_bcache_btree_nodes",
        "Total nodes in the btree.",
        MetricType::Gauge,
    ),
    (
        "internal/cache_read_races",
        "node_bcache_cache_read_races",
        "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed.",
        MetricType::Counter,
    ),
];

/// A backing device's `stats_total/` counters: (file, name without `_total`, HELP).
const PERIOD: [(&str, &str, &str); 7] = [
    (
        "bypassed",
        "node_bcache_bypassed_bytes",
        "Amount of IO (both reads and writes) that has bypassed the cache.",
    ),
    (
        "cache_hits",
        "node_bcache_cache_hits",
        "Hits counted per individual IO as bcache sees them.",
    ),
    (
        "cache_misses",
        "node_bcache_cache_misses",
        "Misses counted per individual IO as bcache sees them.",
    ),
    (
        "cache_bypass_hits",
        "node_bcache_cache_bypass_hits",
        "Hits for IO intended to skip the cache.",
    ),
    (
        "cache_bypass_misses",
        "node_bcache_cache_bypass_misses",
        "Misses for IO intended to skip the cache.",
    ),
    (
        "cache_miss_collisions",
        "node_bcache_cache_miss_collisions",
        "Instances where data insertion from cache miss raced with write (data already present).",
    ),
    (
        "cache_readaheads",
        "node_bcache_cache_readaheads",
        "Count of times readahead occurred.",
    ),
];

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "bcache",
    default_enabled: true,
    help: "bcache statistics from /sys/fs/bcache",
    flags: &[PRIORITY_STATS],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(BcacheCollector {
        root: config.paths.sysfs.join("fs/bcache"),
        priority_stats: config.options.switch(&PRIORITY_STATS),
    }))
}

struct BcacheCollector {
    root: PathBuf,
    priority_stats: bool,
}

impl BcacheCollector {
    /// Adds one cache set's samples to `f`.
    fn read_set(&self, uuid: &str, f: &mut Families) -> Result<(), CollectError> {
        let dir = self.root.join(uuid);
        let set = || vec![("uuid", uuid.to_owned())];
        // Read everything first, so that a set with a bad file adds nothing.
        let mut values = Vec::new();
        for (file, name, help, kind) in SET {
            values.push((name, help, kind, Value::U(value(&dir.join(file))?)));
        }
        // node_exporter's name says seconds, its source file microseconds, and it multiplies
        // by 1e-9: kept as is, so that dashboards agree with it.
        let duration = value(&dir.join("internal/btree_read_average_duration_us"))?;
        let mut bdevs = Vec::new();
        for bdev in numbered(&dir, "bdev") {
            let bdir = dir.join(&bdev);
            let debug_path = bdir.join("writeback_rate_debug");
            let rate = read_with(&debug_path, |d| {
                parse_writeback_rate_debug(d).map_err(|e| CollectError::parse(&debug_path, e))
            })?;
            let mut period = Vec::new();
            for (file, ..) in PERIOD {
                period.push(value(&bdir.join("stats_total").join(file))?);
            }
            bdevs.push((bdev, value(&bdir.join("dirty_data"))?, rate, period));
        }
        let mut caches = Vec::new();
        for cache in numbered(&dir, "cache") {
            let cdir = dir.join(&cache);
            let priority = if self.priority_stats {
                let path = cdir.join("priority_stats");
                Some(read_with(&path, |d| {
                    parse_priority_stats(d).map_err(|e| CollectError::parse(&path, e))
                })?)
            } else {
                None
            };
            caches.push((
                cache,
                value(&cdir.join("io_errors"))?,
                value(&cdir.join("metadata_written"))?,
                value(&cdir.join("written"))?,
                priority,
            ));
        }

        for (name, help, kind, v) in values {
            f.add(name, help, kind, set(), v);
        }
        f.add(
            "node_bcache_btree_read_average_duration_seconds",
            "Average btree read duration.",
            MetricType::Gauge,
            set(),
            Value::F(duration as f64 * 1e-9),
        );
        for (bdev, dirty, rate, period) in bdevs {
            let labels = || vec![("backing_device", bdev.clone()), ("uuid", uuid.to_owned())];
            let gauges = [
                (
                    "node_bcache_dirty_data_bytes",
                    "Amount of dirty data for this backing device in the cache.",
                    Value::U(dirty),
                ),
                (
                    "node_bcache_dirty_target_bytes",
                    "Current dirty data target threshold for this backing device in bytes.",
                    Value::U(rate.target),
                ),
                (
                    "node_bcache_writeback_rate",
                    "Current writeback rate for this backing device in bytes.",
                    Value::U(rate.rate),
                ),
                (
                    "node_bcache_writeback_rate_proportional_term",
                    "Current result of proportional controller, part of writeback rate",
                    Value::I(rate.proportional),
                ),
                (
                    "node_bcache_writeback_rate_integral_term",
                    "Current result of integral controller, part of writeback rate",
                    Value::I(rate.integral),
                ),
                (
                    "node_bcache_writeback_change",
                    "Last writeback rate change step for this backing device.",
                    Value::I(rate.change),
                ),
            ];
            for (name, help, v) in gauges {
                f.add(name, help, MetricType::Gauge, labels(), v);
            }
            for ((file, name, help), v) in PERIOD.iter().zip(period) {
                // node_exporter leaves readaheads out while they are 0.
                if *file == "cache_readaheads" && v == 0 {
                    continue;
                }
                f.add(*name, *help, MetricType::Counter, labels(), Value::U(v));
            }
        }
        for (cache, io_errors, metadata, written, priority) in caches {
            let labels = || vec![("cache_device", cache.clone()), ("uuid", uuid.to_owned())];
            f.add(
                "node_bcache_io_errors",
                "Number of errors that have occurred, decayed by io_error_halflife.",
                MetricType::Gauge,
                labels(),
                Value::U(io_errors),
            );
            f.add(
                "node_bcache_metadata_written_bytes",
                "Sum of all non data writes (btree writes and all other metadata).",
                MetricType::Counter,
                labels(),
                Value::U(metadata),
            );
            f.add(
                "node_bcache_written_bytes",
                "Sum of all data that has been written to the cache.",
                MetricType::Counter,
                labels(),
                Value::U(written),
            );
            if let Some((unused, meta)) = priority {
                f.add(
                    "node_bcache_priority_stats_unused_percent",
                    "The percentage of the cache that doesn't contain any data.",
                    MetricType::Gauge,
                    labels(),
                    Value::U(unused),
                );
                f.add(
                    "node_bcache_priority_stats_metadata_percent",
                    "Bcache's metadata overhead.",
                    MetricType::Gauge,
                    labels(),
                    Value::U(meta),
                );
            }
        }
        Ok(())
    }
}

impl Collector for BcacheCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let mut sets: Vec<String> = super::held::list_dir(&self.root)
            .map(|d| {
                d.into_iter()
                    .filter_map(|e| e.name.into_string().ok())
                    .filter(|n| n.contains('-'))
                    .collect()
            })
            .unwrap_or_default();
        sets.sort();
        let mut families = Families::default();
        // A set with a bad file is left out and reported; node_exporter would drop them all.
        let mut first_error = None;
        for uuid in &sets {
            if let Err(e) = self.read_set(uuid, &mut families) {
                first_error.get_or_insert(e);
            }
        }
        families.encode(enc)?;
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn dehumanizes_as_procfs() {
        assert_eq!(dehumanize("0\n"), Some(0));
        assert_eq!(dehumanize("512"), Some(512));
        assert_eq!(dehumanize("1.1M"), Some(1150976));
        assert_eq!(dehumanize("20.4G"), Some(21894266880));
        assert_eq!(dehumanize("427.5k"), Some(437748));
        assert_eq!(dehumanize_signed("-321.5k"), Some(-329204));
        assert_eq!(dehumanize("lots"), None);
        assert_eq!(dehumanize(""), None);
    }

    const UUID: &str = "deaddd54-c735-46d5-868e-f331c5fd7c74";

    /// node_exporter's fixture cache set (sys.ttar's fs/bcache), its files that matter.
    fn fixture() -> tempfile::TempDir {
        let set = format!("sys/fs/bcache/{UUID}");
        let mut files: Vec<(String, &str)> = vec![
            (format!("{set}/average_key_size"), "0\n"),
            (format!("{set}/btree_cache_size"), "0\n"),
            (format!("{set}/cache_available_percent"), "100\n"),
            (format!("{set}/congested"), "0\n"),
            (format!("{set}/root_usage_percent"), "0\n"),
            (format!("{set}/tree_depth"), "0\n"),
            (format!("{set}/internal/active_journal_entries"), "1\n"),
            (format!("{set}/internal/btree_nodes"), "0\n"),
            (format!("{set}/internal/btree_read_average_duration_us"), "1305\n"),
            (format!("{set}/internal/cache_read_races"), "0\n"),
            (format!("{set}/bdev0/dirty_data"), "0\n"),
            (
                format!("{set}/bdev0/writeback_rate_debug"),
                "rate:\t\t1.1M/sec\ndirty:\t\t20.4G\ntarget:\t\t20.4G\nproportional:\t427.5k\nintegral:\t790.0k\nchange:\t\t321.5k/sec\nnext io:\t17ms\n",
            ),
            (format!("{set}/cache0/io_errors"), "0\n"),
            (format!("{set}/cache0/metadata_written"), "512\n"),
            (format!("{set}/cache0/written"), "0\n"),
            (
                format!("{set}/cache0/priority_stats"),
                "Unused:\t\t99%\nMetadata:\t0%\nAverage:\t10473\nSectors per Q:\t64\n",
            ),
        ];
        for (file, v) in [
            ("bypassed", "0\n"),
            ("cache_hits", "546\n"),
            ("cache_misses", "0\n"),
            ("cache_bypass_hits", "0\n"),
            ("cache_bypass_misses", "0\n"),
            ("cache_miss_collisions", "0\n"),
            ("cache_readaheads", "13\n"),
        ] {
            files.push((format!("{set}/bdev0/stats_total/{file}"), v));
        }
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_bytes()))
            .collect();
        tree(&files)
    }

    #[test]
    fn encodes_node_exporters_lines_with_priority_stats() {
        let dir = fixture();
        let mut config = config_for(dir.path());
        config.options.set(&PRIORITY_STATS, vec!["true".into()]);
        let body = scrape_of("bcache", build(&config).unwrap());
        let lines = samples(&body);
        let u = format!("uuid=\"{UUID}\"");
        // Lines of node_exporter 1.12's e2e-output.txt (run with --collector.bcache.priorityStats).
        for want in [
            format!("node_bcache_active_journal_entries{{{u}}} 1"),
            format!("node_bcache_cache_available_percent{{{u}}} 100"),
            format!("node_bcache_btree_read_average_duration_seconds{{{u}}} 0.000001305"),
            format!("node_bcache_cache_read_races_total{{{u}}} 0"),
            format!("node_bcache_cache_hits_total{{backing_device=\"bdev0\",{u}}} 546"),
            format!("node_bcache_cache_readaheads_total{{backing_device=\"bdev0\",{u}}} 13"),
            format!("node_bcache_dirty_target_bytes{{backing_device=\"bdev0\",{u}}} 21894266880"),
            format!("node_bcache_writeback_rate{{backing_device=\"bdev0\",{u}}} 1150976"),
            format!("node_bcache_writeback_rate_integral_term{{backing_device=\"bdev0\",{u}}} 808960"),
            format!("node_bcache_writeback_rate_proportional_term{{backing_device=\"bdev0\",{u}}} 437748"),
            format!("node_bcache_writeback_change{{backing_device=\"bdev0\",{u}}} 329204"),
            format!("node_bcache_metadata_written_bytes_total{{cache_device=\"cache0\",{u}}} 512"),
            format!("node_bcache_priority_stats_unused_percent{{cache_device=\"cache0\",{u}}} 99"),
            format!("node_bcache_priority_stats_metadata_percent{{cache_device=\"cache0\",{u}}} 0"),
        ] {
            assert!(lines.contains(&want.as_str()), "missing {want}:\n{body}");
        }
        assert_eq!(lines.len(), 28, "{body}");
        assert!(body.contains("# HELP node_bcache_written_bytes Sum of all data that has been written to the cache.\n# TYPE node_bcache_written_bytes counter\n"));
    }

    #[test]
    fn priority_stats_only_when_asked_and_zero_readaheads_left_out() {
        let dir = fixture();
        let set = dir.path().join("sys/fs/bcache").join(UUID);
        std::fs::write(set.join("bdev0/stats_total/cache_readaheads"), "0\n").unwrap();
        let body = scrape_of("bcache", build(&config_for(dir.path())).unwrap());
        assert!(!body.contains("priority_stats"));
        assert!(!body.contains("node_bcache_cache_readaheads"));
        assert!(body.contains("node_bcache_cache_hits_total{backing_device=\"bdev0\""));
    }

    #[test]
    fn a_garbled_file_costs_its_set_and_names_the_file() {
        let dir = fixture();
        let set = dir.path().join("sys/fs/bcache").join(UUID);
        std::fs::write(set.join("congested"), "very\n").unwrap();
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("bcache", build(&config_for(dir.path())).unwrap()));
        assert!(samples(&body).is_empty(), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"bcache\"} 0\n"));
        let path = set.join("congested");
        assert!(logs.contains(&format!("error=parsing {}: line 1: \"very\" is not a bcache number", path.display())), "{logs}");
        let dir = tree(&[]);
        let body = scrape_of("bcache", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"bcache\"} 1\n"));
    }
}
