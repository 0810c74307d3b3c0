//! diskstats: the `node_disk_*` counters per block device from `<procfs>/diskstats`,
//! skipping devices that match `--collector.diskstats.device-exclude`.

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;
use regex::Regex;

use super::encode::{counter, counter_family, gauge, gauge_family};
use super::{
    CollectError, Collector, Config, ConfigError, DiskstatsOptions, ParseError, compile_regex,
    parse_num, read_with,
};

/// Bytes per sector as /proc/diskstats counts them (always 512, whatever the device's size).
const SECTOR_BYTES: u64 = 512;

/// One line of `/proc/diskstats`: the device and up to 17 statistic columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLine<'a> {
    pub major: u32,
    pub minor: u32,
    pub device: &'a str,
    /// The statistic columns, as many as the kernel wrote (4, 11, 15 or 17).
    pub stats: [u64; 17],
    pub len: usize,
}

/// Parses `/proc/diskstats` (`major minor name` and 4 to 17 numbers per line).
pub fn parse_diskstats(data: &str) -> Result<Vec<DiskLine<'_>>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in data.lines().enumerate() {
        let n = i + 1;
        let mut parts = line.split_ascii_whitespace();
        let Some(major) = parts.next() else { continue };
        let major = parse_num(n, "major", major)?;
        let minor = parts
            .next()
            .ok_or_else(|| ParseError::new(n, "no minor number"))?;
        let minor = parse_num(n, "minor", minor)?;
        let device = parts
            .next()
            .ok_or_else(|| ParseError::new(n, "no device name"))?;
        let mut stats = [0u64; 17];
        let mut len = 0;
        for s in parts {
            if len == stats.len() {
                break; // newer kernels may add columns; they are not ours to name yet
            }
            stats[len] = parse_num(n, device, s)?;
            len += 1;
        }
        if len < 4 {
            return Err(ParseError::new(
                n,
                format!("{device}: only {len} statistics"),
            ));
        }
        out.push(DiskLine {
            major,
            minor,
            device,
            stats,
            len,
        });
    }
    Ok(out)
}

/// How a column becomes a sample.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    /// Counter of sectors, exported in bytes.
    Bytes,
    /// Counter of milliseconds, exported in seconds.
    Seconds,
    Gauge,
}

/// node_exporter's families, indexed by column of /proc/diskstats.
/// The 4-column layout of old kernels' partitions is not supported (Linux < 2.6.25).
const COLUMNS: [(&str, &str, Kind); 17] = [
    (
        "node_disk_reads_completed",
        "The total number of reads completed successfully.",
        Kind::Counter,
    ),
    (
        "node_disk_reads_merged",
        "The total number of reads merged.",
        Kind::Counter,
    ),
    (
        "node_disk_read_bytes",
        "The total number of bytes read successfully.",
        Kind::Bytes,
    ),
    (
        "node_disk_read_time_seconds",
        "The total number of seconds spent by all reads.",
        Kind::Seconds,
    ),
    (
        "node_disk_writes_completed",
        "The total number of writes completed successfully.",
        Kind::Counter,
    ),
    (
        "node_disk_writes_merged",
        "The number of writes merged.",
        Kind::Counter,
    ),
    (
        "node_disk_written_bytes",
        "The total number of bytes written successfully.",
        Kind::Bytes,
    ),
    (
        "node_disk_write_time_seconds",
        "This is the total number of seconds spent by all writes.",
        Kind::Seconds,
    ),
    (
        "node_disk_io_now",
        "The number of I/Os currently in progress.",
        Kind::Gauge,
    ),
    (
        "node_disk_io_time_seconds",
        "Total seconds spent doing I/Os.",
        Kind::Seconds,
    ),
    (
        "node_disk_io_time_weighted_seconds",
        "The weighted # of seconds spent doing I/Os.",
        Kind::Seconds,
    ),
    (
        "node_disk_discards_completed",
        "The total number of discards completed successfully.",
        Kind::Counter,
    ),
    (
        "node_disk_discards_merged",
        "The total number of discards merged.",
        Kind::Counter,
    ),
    (
        "node_disk_discarded_sectors",
        "The total number of sectors discarded successfully.",
        Kind::Counter,
    ),
    (
        "node_disk_discard_time_seconds",
        "This is the total number of seconds spent by all discards.",
        Kind::Seconds,
    ),
    (
        "node_disk_flush_requests",
        "The total number of flush requests completed successfully",
        Kind::Counter,
    ),
    (
        "node_disk_flush_requests_time_seconds",
        "This is the total number of seconds spent by all flush requests.",
        Kind::Seconds,
    ),
];

/// The udev properties node_exporter puts on `node_disk_info`, as (label, udev key).
const UDEV_LABELS: [(&str, &str); 5] = [
    ("model", "E:ID_MODEL="),
    ("path", "E:ID_PATH="),
    ("revision", "E:ID_REVISION="),
    ("serial", "E:ID_SERIAL_SHORT="),
    ("wwn", "E:ID_WWN="),
];

/// The udev properties of one device from its udev database file (`E:KEY=value` lines);
/// empty strings when udev has no record (containers, fixture trees).
pub fn parse_udev_properties(data: &str) -> [&str; 5] {
    let mut out = [""; 5];
    for line in data.lines() {
        for (slot, (_, key)) in out.iter_mut().zip(UDEV_LABELS) {
            if let Some(v) = line.strip_prefix(key) {
                *slot = v;
            }
        }
    }
    out
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(DiskstatsCollector {
        path: config.paths.procfs.join("diskstats"),
        udev: config.paths.rootfs.join("run/udev/data"),
        exclude: compile_regex(
            DiskstatsOptions::DEVICE_EXCLUDE_FLAG,
            &config.diskstats.device_exclude,
        )?,
    }))
}

struct DiskstatsCollector {
    path: PathBuf,
    /// udev's database (`/run/udev/data/b<major>:<minor>`), for `node_disk_info`.
    udev: PathBuf,
    exclude: Regex,
}

impl DiskstatsCollector {
    fn encode_info(
        &self,
        enc: &mut DescriptorEncoder<'_>,
        disks: &[DiskLine<'_>],
    ) -> Result<(), CollectError> {
        let mut family = gauge_family(enc, "node_disk_info", "Info of /sys/block/<block_device>.")?;
        let mut file = String::new();
        for d in disks {
            let (major, minor) = (d.major.to_string(), d.minor.to_string());
            file.clear();
            use std::fmt::Write as _;
            let _ = write!(file, "b{major}:{minor}");
            // A device udev does not know has empty properties, as in node_exporter.
            let props = read_with(&self.udev.join(&file), |data| {
                Ok(parse_udev_properties(data).map(str::to_owned))
            })
            .unwrap_or_default();
            let labels = [
                ("device", d.device),
                ("major", major.as_str()),
                ("minor", minor.as_str()),
                (UDEV_LABELS[0].0, props[0].as_str()),
                (UDEV_LABELS[1].0, props[1].as_str()),
                (UDEV_LABELS[2].0, props[2].as_str()),
                (UDEV_LABELS[3].0, props[3].as_str()),
                (UDEV_LABELS[4].0, props[4].as_str()),
            ];
            gauge(&mut family, &labels, 1u64)?;
        }
        Ok(())
    }
}

impl Collector for DiskstatsCollector {
    fn update(&self, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        read_with(&self.path, |data| {
            let mut disks =
                parse_diskstats(data).map_err(|e| CollectError::parse(&self.path, e))?;
            disks.retain(|d| !self.exclude.is_match(d.device));
            self.encode_info(enc, &disks)?;
            for (col, (name, help, kind)) in COLUMNS.iter().enumerate() {
                if !disks.iter().any(|d| d.len > col) {
                    continue;
                }
                if let Kind::Gauge = kind {
                    let mut family = gauge_family(enc, name, help)?;
                    for d in disks.iter().filter(|d| d.len > col) {
                        gauge(&mut family, &[("device", d.device)], d.stats[col])?;
                    }
                    continue;
                }
                let mut family = counter_family(enc, name, help)?;
                for d in disks.iter().filter(|d| d.len > col) {
                    let labels = [("device", d.device)];
                    let v = d.stats[col];
                    match kind {
                        Kind::Bytes => match v.checked_mul(SECTOR_BYTES) {
                            Some(bytes) => counter(&mut family, &labels, bytes)?,
                            None => counter(&mut family, &labels, v as f64 * SECTOR_BYTES as f64)?,
                        },
                        Kind::Seconds => counter(&mut family, &labels, v as f64 / 1000.0)?,
                        _ => counter(&mut family, &labels, v)?,
                    }
                }
            }
            Ok(())
        })
    }
}
