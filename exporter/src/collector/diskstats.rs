//! diskstats: the `node_disk_*` counters per block device from `<procfs>/diskstats`,
//! skipping devices that match `--collector.diskstats.device-exclude`.

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;
use regex::Regex;

use super::encode::{counter, counter_family, gauge, gauge_family};
use super::{CollectorSpec, 
    CollectError, Collector, Config, ConfigError, DiskstatsOptions, ParseError, Shared,
    compile_regex, parse_num, read_with,
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

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "diskstats",
    default_enabled: true,
    help: "Disk I/O statistics from /proc/diskstats",
    flags: &[],
    build,
};

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
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
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

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    /// Lines of node_exporter's real fixture: 11, 15 and 17 columns, and excluded devices.
    const REAL: &str = "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0
   8       0 sda 25354637 34367663 1003346126 18492372 28444756 11134226 505697032 63877960 0 9653880 82621804
   8       1 sda1 250 0 2000 36 0 0 0 0 0 36 36
 259       2 nvme0n1p2 45914 4 4631243 21626 1036885 43950 39451632 919480 0 131580 940970
 179       1 mmcblk0p1 17 3 160 24 0 0 0 0 0 24 24
   8       0 sdb 326552 841 9657779 84 41822 2895 1972905 5007 0 60730 67070 68851 0 1925173784 11130
   8       0 sdc 126552 141 1657779 14 11822 1895 172905 1007 0 10730 17070 18851 0 125173784 11130 1555 1944
";

    #[test]
    fn parses_every_column_count() {
        let disks = parse_diskstats(REAL).unwrap();
        assert_eq!(disks.len(), 7);
        assert_eq!(
            (disks[1].major, disks[1].minor, disks[1].device),
            (8, 0, "sda")
        );
        assert_eq!(disks[1].len, 11);
        assert_eq!(disks[5].len, 15);
        assert_eq!(disks[6].len, 17);
        assert_eq!(disks[6].stats[16], 1944);
    }

    #[test]
    fn default_exclude_drops_partitions_loops_and_rams() {
        let re = Regex::new(DiskstatsOptions::DEFAULT_DEVICE_EXCLUDE).unwrap();
        let kept: Vec<_> = [
            "loop0",
            "ram1",
            "fd0",
            "sda",
            "sda1",
            "vda",
            "vda2",
            "xvda1",
            "nvme0n1",
            "nvme0n1p2",
            "dm-0",
            "mmcblk0p1",
            "zram0",
        ]
        .into_iter()
        .filter(|d| !re.is_match(d))
        .collect();
        assert_eq!(
            kept,
            ["sda", "vda", "nvme0n1", "dm-0", "mmcblk0p1", "zram0"]
        );
    }

    #[test]
    fn encodes_node_exporters_units() {
        let dir = tree(&[
            ("proc/diskstats", REAL.as_bytes()),
            (
                "rootfs/run/udev/data/b8:0",
                b"S:disk/by-id/ata-X\nE:ID_MODEL=Samsung_SSD_860\nE:ID_PATH=pci-0000:00:1f.2-ata-1\nE:ID_SERIAL_SHORT=S3Z\nE:ID_REVISION=RVT01B6Q\nE:ID_WWN=0x5002538e40a0eb1a\n",
            ),
        ]);
        let body = scrape_of("diskstats", build(&config_for(dir.path())).unwrap());
        let lines = samples(&body);
        for want in [
            "node_disk_info{device=\"sda\",major=\"8\",minor=\"0\",model=\"Samsung_SSD_860\",path=\"pci-0000:00:1f.2-ata-1\",revision=\"RVT01B6Q\",serial=\"S3Z\",wwn=\"0x5002538e40a0eb1a\"} 1",
            "node_disk_info{device=\"mmcblk0p1\",major=\"179\",minor=\"1\",model=\"\",path=\"\",revision=\"\",serial=\"\",wwn=\"\"} 1",
            "node_disk_reads_completed_total{device=\"sda\"} 25354637",
            "node_disk_read_bytes_total{device=\"sda\"} 513713216512",
            "node_disk_read_time_seconds_total{device=\"sda\"} 18492.372",
            "node_disk_io_now{device=\"sda\"} 0",
            "node_disk_io_time_weighted_seconds_total{device=\"sda\"} 82621.804",
            "node_disk_discarded_sectors_total{device=\"sdb\"} 1925173784",
            "node_disk_flush_requests_total{device=\"sdc\"} 1555",
            "node_disk_flush_requests_time_seconds_total{device=\"sdc\"} 1.944",
        ] {
            assert!(lines.contains(&want), "missing {want}:\n{body}");
        }
        // Excluded devices are absent; discard/flush families only list devices that have them.
        assert!(
            !body.contains("\"sda1\"")
                && !body.contains("\"loop0\"")
                && !body.contains("nvme0n1p2")
        );
        assert!(!body.contains("node_disk_discards_completed_total{device=\"sda\"}"));
        assert!(!body.contains("node_disk_flush_requests_total{device=\"sdb\"}"));
        assert!(body.contains("# TYPE node_disk_io_now gauge\n"));
        assert!(body.contains("# TYPE node_disk_read_bytes counter\n"));
    }

    #[test]
    fn hostile_diskstats_are_errors_with_line_numbers() {
        for (input, want) in [
            ("   8       0 sda 1 2 3\n", "line 1: sda: only 3 statistics"),
            ("   8       0\n", "line 1: no device name"),
            ("   8\n", "line 1: no minor number"),
            (
                "   x       0 sda 1 2 3 4\n",
                "line 1: major: \"x\" is not a number",
            ),
            (
                "   8       0 sda 1 2 3 4\n   8 0 sdb 1 -2 3 4\n",
                "line 2: sdb: \"-2\" is not a number",
            ),
        ] {
            assert_eq!(
                parse_diskstats(input).unwrap_err().to_string(),
                want,
                "{input:?}"
            );
        }
        assert!(parse_diskstats("").unwrap().is_empty());
    }

    #[test]
    fn udev_properties_missing_are_empty() {
        assert_eq!(parse_udev_properties("garbage\n\0"), [""; 5]);
    }
}
