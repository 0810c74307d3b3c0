//! diskstats: the `node_disk_*` counters per block device from `<procfs>/diskstats`,
//! skipping devices that match `--collector.diskstats.device-exclude` (or not matching
//! `--collector.diskstats.device-include`), with `node_disk_info` and the udev-derived
//! `node_disk_filesystem_info`, `node_disk_device_mapper_info` and `node_disk_ata_*`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use prometheus_client::encoding::DescriptorEncoder;
use regex::Regex;

use super::encode::{counter, counter_family, gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
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

/// The udev properties of one device node_exporter reads (`E:KEY=value` lines of its udev
/// database file); empty when udev has no record (containers, fixture trees).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdevInfo {
    pub path: String,
    pub wwn: String,
    pub model: String,
    /// SCSI_IDENT_SERIAL (the serial on the label), else ID_SERIAL_SHORT, else ID_SERIAL
    /// (virtio, mmc), as node_exporter chooses.
    pub serial: String,
    pub revision: String,
    /// ID_FS_TYPE, ID_FS_USAGE, ID_FS_UUID, ID_FS_VERSION.
    pub fs: [String; 4],
    /// DM_LV_LAYER, DM_LV_NAME, DM_NAME, DM_UUID, DM_VG_NAME.
    pub dm: [String; 5],
    /// ID_ATA is set (non-empty).
    pub ata: bool,
    /// The raw values of the [`ATA`] properties, when present.
    pub ata_values: [Option<String>; 3],
}

/// `node_disk_ata_*` families: (name, HELP, udev property).
const ATA: [(&str, &str, &str); 3] = [
    (
        "node_disk_ata_rotation_rate_rpm",
        "ATA disk rotation rate in RPMs (0 for SSDs).",
        "ID_ATA_ROTATION_RATE_RPM",
    ),
    (
        "node_disk_ata_write_cache",
        "ATA disk has a write cache.",
        "ID_ATA_WRITE_CACHE",
    ),
    (
        "node_disk_ata_write_cache_enabled",
        "ATA disk has its write cache enabled.",
        "ID_ATA_WRITE_CACHE_ENABLED",
    ),
];

const FS_KEYS: [&str; 4] = ["ID_FS_TYPE", "ID_FS_USAGE", "ID_FS_UUID", "ID_FS_VERSION"];
const FS_LABELS: [&str; 4] = ["type", "usage", "uuid", "version"];
// In label order (sorted, as node_exporter's client writes them).
const DM_KEYS: [&str; 5] = ["DM_LV_LAYER", "DM_LV_NAME", "DM_NAME", "DM_UUID", "DM_VG_NAME"];
const DM_LABELS: [&str; 5] = ["lv_layer", "lv_name", "name", "uuid", "vg_name"];
/// DM_NAME's index: a device mapper device is one with a name.
const DM_NAME: usize = 2;

/// Parses a udev database file (`/run/udev/data/b<major>:<minor>`); lines other than `E:`
/// properties are ignored, and a later duplicate wins, as in node_exporter.
pub fn parse_udev_properties(data: &str) -> UdevInfo {
    let mut info = UdevInfo::default();
    let (mut ident_serial, mut serial_short, mut serial) = ("", "", "");
    for line in data.lines() {
        let Some((key, value)) = line.strip_prefix("E:").and_then(|l| l.split_once('=')) else {
            continue;
        };
        let slot = match key {
            "ID_PATH" => &mut info.path,
            "ID_WWN" => &mut info.wwn,
            "ID_MODEL" => &mut info.model,
            "ID_REVISION" => &mut info.revision,
            "SCSI_IDENT_SERIAL" => {
                ident_serial = value;
                continue;
            }
            "ID_SERIAL_SHORT" => {
                serial_short = value;
                continue;
            }
            "ID_SERIAL" => {
                serial = value;
                continue;
            }
            "ID_ATA" => {
                info.ata = !value.is_empty();
                continue;
            }
            _ => {
                if let Some(i) = FS_KEYS.iter().position(|k| *k == key) {
                    &mut info.fs[i]
                } else if let Some(i) = DM_KEYS.iter().position(|k| *k == key) {
                    &mut info.dm[i]
                } else if let Some(i) = ATA.iter().position(|a| a.2 == key) {
                    info.ata_values[i] = Some(value.to_owned());
                    continue;
                } else {
                    continue;
                }
            }
        };
        value.clone_into(slot);
    }
    info.serial = [ident_serial, serial_short, serial]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("")
        .to_owned();
    info
}

/// `--collector.diskstats.device-exclude`, node_exporter's default.
pub const DEVICE_EXCLUDE: FlagSpec = FlagSpec::value(
    "--collector.diskstats.device-exclude",
    r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$",
    "Regexp of diskstats devices to exclude (mutually exclusive to device-include)",
);

/// `--collector.diskstats.device-include`: when given, only matching devices are kept.
pub const DEVICE_INCLUDE: FlagSpec = FlagSpec::value(
    "--collector.diskstats.device-include",
    "",
    "Regexp of diskstats devices to include (mutually exclusive to device-exclude)",
);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "diskstats",
    default_enabled: true,
    help: "Disk I/O statistics from /proc/diskstats",
    flags: &[DEVICE_EXCLUDE, DEVICE_INCLUDE],
    build,
};

/// Which devices are kept: node_exporter's deviceFilter.
enum DeviceFilter {
    Exclude(Regex),
    Include(Regex),
}

impl DeviceFilter {
    fn new(config: &Config) -> Result<DeviceFilter, ConfigError> {
        let include = config.options.value(&DEVICE_INCLUDE);
        let exclude = config.options.value(&DEVICE_EXCLUDE);
        if include.is_empty() {
            return Ok(DeviceFilter::Exclude(compile_regex(
                DEVICE_EXCLUDE.name,
                exclude,
            )?));
        }
        // The default exclude gives way to an include; one given explicitly clashes with it.
        if !config.options.values(&DEVICE_EXCLUDE).is_empty() && !exclude.is_empty() {
            return Err(ConfigError::Invalid {
                flag: DEVICE_INCLUDE.name,
                message: format!(
                    "cannot be combined with {} (they are mutually exclusive)",
                    DEVICE_EXCLUDE.name
                ),
            });
        }
        Ok(DeviceFilter::Include(compile_regex(
            DEVICE_INCLUDE.name,
            include,
        )?))
    }

    fn ignored(&self, device: &str) -> bool {
        match self {
            DeviceFilter::Exclude(re) => !re.as_str().is_empty() && re.is_match(device),
            DeviceFilter::Include(re) => !re.is_match(device),
        }
    }
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(DiskstatsCollector {
        path: config.paths.procfs.join("diskstats"),
        udev: config.paths.udev_data.clone(),
        block: config.paths.sysfs.join("block"),
        filter: DeviceFilter::new(config)?,
        ignored: Mutex::new(HashMap::new()),
    }))
}

/// The most device names whose filter answer is kept; past it the answers are forgotten.
const MAX_KEPT_ANSWERS: usize = 4096;

struct DiskstatsCollector {
    path: PathBuf,
    /// udev's database (`<udev.data>/b<major>:<minor>`), for the info families.
    udev: PathBuf,
    /// `<sysfs>/block`, for `<dev>/queue/rotational`.
    block: PathBuf,
    filter: DeviceFilter,
    /// The filter's answer per device name: a scrape asks about the same devices each time,
    /// and the regex matches were 0.5% of a scrape's CPU in perf (ten devices).
    ignored: Mutex<HashMap<String, bool>>,
}

impl DiskstatsCollector {
    /// Leaves out the disks the filter flags exclude (the kept answers locked once).
    fn retain_wanted(&self, disks: &mut Vec<DiskLine<'_>>) {
        let mut kept = self.ignored.lock().unwrap_or_else(|e| e.into_inner());
        disks.retain(|d| !self.ignored(&mut kept, d.device));
    }

    /// Whether `device` is left out by the filter flags, by the answer in `kept` or the
    /// filter's (then kept).
    fn ignored(&self, kept: &mut HashMap<String, bool>, device: &str) -> bool {
        if let Some(&ignored) = kept.get(device) {
            return ignored;
        }
        let ignored = self.filter.ignored(device);
        if kept.len() >= MAX_KEPT_ANSWERS {
            kept.clear();
        }
        kept.insert(device.to_owned(), ignored);
        ignored
    }
}

/// What one kept device adds to the info families.
struct Extra {
    major: String,
    minor: String,
    rotational: &'static str,
    udev: UdevInfo,
}

impl DiskstatsCollector {
    fn extra(&self, d: &DiskLine<'_>) -> Extra {
        let udev = read_with(&self.udev.join(format!("b{}:{}", d.major, d.minor)), |data| {
            Ok(parse_udev_properties(data))
        })
        .unwrap_or_default();
        // "0" when the device has no queue (dm, md) or the file is unreadable, as node_exporter.
        let rotational = read_with(&self.block.join(d.device).join("queue/rotational"), |data| {
            Ok(if data.trim() == "1" { "1" } else { "0" })
        })
        .unwrap_or("0");
        Extra {
            major: d.major.to_string(),
            minor: d.minor.to_string(),
            rotational,
            udev,
        }
    }

    fn encode_info(
        enc: &mut DescriptorEncoder<'_>,
        disks: &[DiskLine<'_>],
        extras: &[Extra],
    ) -> Result<(), CollectError> {
        let mut family = gauge_family(enc, "node_disk_info", "Info of /sys/block/<block_device>.")?;
        for (d, x) in disks.iter().zip(extras) {
            let u = &x.udev;
            let labels = [
                ("device", d.device),
                ("major", x.major.as_str()),
                ("minor", x.minor.as_str()),
                ("model", u.model.as_str()),
                ("path", u.path.as_str()),
                ("revision", u.revision.as_str()),
                ("rotational", x.rotational),
                ("serial", u.serial.as_str()),
                ("wwn", u.wwn.as_str()),
            ];
            gauge(&mut family, &labels, 1u64)?;
        }
        Ok(())
    }

    /// `node_disk_filesystem_info`, `node_disk_device_mapper_info` and `node_disk_ata_*`:
    /// only devices udev gave the properties, and no family without samples.
    fn encode_udev(
        enc: &mut DescriptorEncoder<'_>,
        disks: &[DiskLine<'_>],
        extras: &[Extra],
    ) -> Result<(), CollectError> {
        let with_fs = || {
            disks
                .iter()
                .zip(extras)
                .filter(|(_, x)| !x.udev.fs[0].is_empty())
        };
        if with_fs().next().is_some() {
            let mut family =
                gauge_family(enc, "node_disk_filesystem_info", "Info about disk filesystem.")?;
            for (d, x) in with_fs() {
                let mut labels = [("device", d.device); 5];
                for (i, v) in x.udev.fs.iter().enumerate() {
                    labels[i + 1] = (FS_LABELS[i], v);
                }
                gauge(&mut family, &labels, 1u64)?;
            }
        }
        let with_dm = || {
            disks
                .iter()
                .zip(extras)
                .filter(|(_, x)| !x.udev.dm[DM_NAME].is_empty())
        };
        if with_dm().next().is_some() {
            let mut family = gauge_family(
                enc,
                "node_disk_device_mapper_info",
                "Info about disk device mapper.",
            )?;
            for (d, x) in with_dm() {
                let mut labels = [("device", d.device); 6];
                for (i, v) in x.udev.dm.iter().enumerate() {
                    labels[i + 1] = (DM_LABELS[i], v);
                }
                gauge(&mut family, &labels, 1u64)?;
            }
        }
        for (i, (name, help, key)) in ATA.iter().enumerate() {
            let values: Vec<(&str, f64)> = disks
                .iter()
                .zip(extras)
                .filter(|(_, x)| x.udev.ata)
                .filter_map(|(d, x)| {
                    let raw = x.udev.ata_values[i].as_deref()?;
                    match raw.parse::<f64>() {
                        Ok(v) => Some((d.device, v)),
                        Err(_) => {
                            // node_exporter logs and skips the value; so do we.
                            tracing::debug!(device = d.device, key, raw, "ATA value not a number");
                            None
                        }
                    }
                })
                .collect();
            if values.is_empty() {
                continue;
            }
            let mut family = gauge_family(enc, name, help)?;
            for (device, v) in values {
                // Whole numbers (all of udev's) print as node_exporter prints them: `7200`.
                if v.fract() == 0.0 && (0.0..9e15).contains(&v) {
                    gauge(&mut family, &[("device", device)], v as u64)?;
                } else {
                    gauge(&mut family, &[("device", device)], v)?;
                }
            }
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
            self.retain_wanted(&mut disks);
            let extras: Vec<Extra> = disks.iter().map(|d| self.extra(d)).collect();
            Self::encode_info(enc, &disks, &extras)?;
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
            Self::encode_udev(enc, &disks, &extras)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::FlagKind;
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
        let FlagKind::Value { default } = DEVICE_EXCLUDE.kind else {
            unreachable!()
        };
        let re = Regex::new(default).unwrap();
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
        // node_exporter 1.12 skips zram too.
        assert_eq!(kept, ["sda", "vda", "nvme0n1", "dm-0", "mmcblk0p1"]);
    }

    /// The kept answers are the filter's, asked again or past [`MAX_KEPT_ANSWERS`] names.
    #[test]
    fn kept_filter_answers_are_the_filters() {
        let collector = DiskstatsCollector {
            path: PathBuf::new(),
            udev: PathBuf::new(),
            block: PathBuf::new(),
            filter: DeviceFilter::new(&Config::default()).unwrap(),
            ignored: Mutex::new(HashMap::new()),
        };
        let names: Vec<String> = (0..MAX_KEPT_ANSWERS + 10)
            .flat_map(|i| [format!("loop{i}"), format!("dm-{i}")])
            .collect();
        for _ in 0..2 {
            for name in &names {
                let expected = name.starts_with("loop");
                let mut kept = collector.ignored.lock().unwrap();
                assert_eq!(collector.ignored(&mut kept, name), expected, "{name}");
                drop(kept);
                assert_eq!(collector.filter.ignored(name), expected, "{name}");
            }
        }
        assert!(collector.ignored.lock().unwrap().len() <= MAX_KEPT_ANSWERS);
    }

    #[test]
    fn encodes_node_exporters_units() {
        let dir = tree(&[
            ("proc/diskstats", REAL.as_bytes()),
            (
                "udev/data/b8:0",
                b"S:disk/by-id/ata-X\nE:ID_MODEL=Samsung_SSD_860\nE:ID_PATH=pci-0000:00:1f.2-ata-1\nE:ID_SERIAL_SHORT=S3Z\nE:ID_REVISION=RVT01B6Q\nE:ID_WWN=0x5002538e40a0eb1a\n",
            ),
        ]);
        let body = scrape_of("diskstats", build(&config_for(dir.path())).unwrap());
        let lines = samples(&body);
        for want in [
            "node_disk_info{device=\"sda\",major=\"8\",minor=\"0\",model=\"Samsung_SSD_860\",path=\"pci-0000:00:1f.2-ata-1\",revision=\"RVT01B6Q\",rotational=\"0\",serial=\"S3Z\",wwn=\"0x5002538e40a0eb1a\"} 1",
            "node_disk_info{device=\"mmcblk0p1\",major=\"179\",minor=\"1\",model=\"\",path=\"\",revision=\"\",rotational=\"0\",serial=\"\",wwn=\"\"} 1",
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
        assert_eq!(parse_udev_properties("garbage\n\0"), UdevInfo::default());
    }

    #[test]
    fn serial_falls_back_from_scsi_ident_to_short_to_full() {
        let serial = |data: &str| parse_udev_properties(data).serial;
        // node_exporter's fixture sda: the label's serial wins over ID_SERIAL_SHORT.
        assert_eq!(
            serial("E:ID_SERIAL_SHORT=2160A0D5FVGG_X\nE:SCSI_IDENT_SERIAL=2160A0D5FVGG\nE:ID_SERIAL=T\n"),
            "2160A0D5FVGG"
        );
        assert_eq!(serial("E:ID_SERIAL=AMI_X-0:0\nE:ID_SERIAL_SHORT=AAAA\n"), "AAAA");
        // mmc and virtio disks have only ID_SERIAL.
        assert_eq!(serial("E:ID_SERIAL=0x83e36d93\n"), "0x83e36d93");
        assert_eq!(serial("E:SCSI_IDENT_SERIAL=\nE:ID_SERIAL=v\n"), "v");
    }

    /// Trimmed copies of node_exporter's fixture udev database (udev.ttar) and sysfs.
    const UDEV_SDA: &str = "S:disk/by-id/wwn-0x7c72382b8de36a64
E:ID_ATA=1
E:ID_MODEL=TOSHIBA_KSDB4U86
E:ID_REVISION=0102
E:ID_SERIAL=TOSHIBA_KSDB4U866TE_DTB0QRJR2EIG
E:ID_SERIAL_SHORT=2160A0D5FVGG
E:ID_ATA_WRITE_CACHE=1
E:ID_ATA_WRITE_CACHE_ENABLED=0
E:ID_ATA_ROTATION_RATE_RPM=7200
E:ID_WWN=0x7c72382b8de36a64
E:ID_PATH=pci-0000:3b:00.0-sas-phy7-lun-0
E:ID_FS_UUID=cVVv6j-HSA2-IY33-1Jmj-dO2H-YL7w-b4Oxqw
E:ID_FS_VERSION=LVM2 001
E:ID_FS_TYPE=LVM2_member
E:ID_FS_USAGE=raid
E:SCSI_IDENT_SERIAL=2160A0D5FVGG
";
    const UDEV_DM1: &str = "E:DM_NAME=system-swap_1
E:DM_UUID=LVM-wbGqQEBL9SxrW2DLntJwgg8fAv946hw3Tvjqh0v31fWgxEtD4BoHO0lROWFUY65T
E:DM_SUSPENDED=0
E:DM_VG_NAME=system
E:DM_LV_NAME=swap_1
E:DM_LV_LAYER=
E:ID_FS_UUID=5272bb60-04b5-49cd-b730-be57c7604450
E:ID_FS_VERSION=1
E:ID_FS_TYPE=swap
E:ID_FS_USAGE=other
";

    #[test]
    fn udev_and_sysfs_give_node_exporters_info_families() {
        let diskstats = "   8       0 sda 25354637 34367663 1003346126 18492372 28444756 11134226 505697032 63877960 0 9653880 82621804
 252       1 dm-1 261 0 2088 48 0 0 0 0 0 48 48
 254       0 vda 1 0 2 0 0 0 0 0 0 0 0
 179       0 mmcblk0 192 3 1560 156 0 0 0 0 0 136 156
";
        let dir = tree(&[
            ("proc/diskstats", diskstats.as_bytes()),
            ("udev/data/b8:0", UDEV_SDA.as_bytes()),
            ("udev/data/b252:1", UDEV_DM1.as_bytes()),
            // An ATA disk whose value is garbage loses that value only.
            ("udev/data/b254:0", b"E:ID_ATA=1\nE:ID_ATA_WRITE_CACHE=yes\nE:ID_PATH=pci-0000:00:06.0\nE:ID_FS_TYPE=\n"),
            ("udev/data/b179:0", b"E:ID_PATH=platform-df2969f3.mmc\nE:ID_SERIAL=0x83e36d93\n"),
            ("sys/block/sda/queue/rotational", b"1\n"),
            ("sys/block/vda/queue/rotational", b"0\n"),
        ]);
        let body = scrape_of("diskstats", build(&config_for(dir.path())).unwrap());
        let lines = samples(&body);
        // Lines as in node_exporter 1.12's e2e-output.txt.
        for want in [
            "node_disk_ata_rotation_rate_rpm{device=\"sda\"} 7200",
            "node_disk_ata_write_cache{device=\"sda\"} 1",
            "node_disk_ata_write_cache_enabled{device=\"sda\"} 0",
            "node_disk_device_mapper_info{device=\"dm-1\",lv_layer=\"\",lv_name=\"swap_1\",name=\"system-swap_1\",uuid=\"LVM-wbGqQEBL9SxrW2DLntJwgg8fAv946hw3Tvjqh0v31fWgxEtD4BoHO0lROWFUY65T\",vg_name=\"system\"} 1",
            "node_disk_filesystem_info{device=\"dm-1\",type=\"swap\",usage=\"other\",uuid=\"5272bb60-04b5-49cd-b730-be57c7604450\",version=\"1\"} 1",
            "node_disk_filesystem_info{device=\"sda\",type=\"LVM2_member\",usage=\"raid\",uuid=\"cVVv6j-HSA2-IY33-1Jmj-dO2H-YL7w-b4Oxqw\",version=\"LVM2 001\"} 1",
            "node_disk_info{device=\"dm-1\",major=\"252\",minor=\"1\",model=\"\",path=\"\",revision=\"\",rotational=\"0\",serial=\"\",wwn=\"\"} 1",
            "node_disk_info{device=\"mmcblk0\",major=\"179\",minor=\"0\",model=\"\",path=\"platform-df2969f3.mmc\",revision=\"\",rotational=\"0\",serial=\"0x83e36d93\",wwn=\"\"} 1",
            "node_disk_info{device=\"sda\",major=\"8\",minor=\"0\",model=\"TOSHIBA_KSDB4U86\",path=\"pci-0000:3b:00.0-sas-phy7-lun-0\",revision=\"0102\",rotational=\"1\",serial=\"2160A0D5FVGG\",wwn=\"0x7c72382b8de36a64\"} 1",
            "node_disk_info{device=\"vda\",major=\"254\",minor=\"0\",model=\"\",path=\"pci-0000:00:06.0\",revision=\"\",rotational=\"0\",serial=\"\",wwn=\"\"} 1",
        ] {
            assert!(lines.contains(&want), "missing {want}:\n{body}");
        }
        // Only devices with the properties: one filesystem_info without the empty ID_FS_TYPE,
        // no ATA value for vda's "yes", no device_mapper_info but dm-1's.
        assert_eq!(body.matches("node_disk_filesystem_info{").count(), 2);
        assert_eq!(body.matches("node_disk_device_mapper_info{").count(), 1);
        assert_eq!(body.matches("node_disk_ata_write_cache{").count(), 1);
        assert!(body.contains("# HELP node_disk_ata_rotation_rate_rpm ATA disk rotation rate in RPMs (0 for SSDs).\n# TYPE node_disk_ata_rotation_rate_rpm gauge\n"));
        assert!(body.contains("# HELP node_disk_device_mapper_info Info about disk device mapper.\n"));
        assert!(body.contains("# HELP node_disk_filesystem_info Info about disk filesystem.\n"));
    }

    #[test]
    fn no_udev_data_means_no_udev_families() {
        let dir = tree(&[("proc/diskstats", b"   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n")]);
        let body = scrape_of("diskstats", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_disk_info{device=\"sda\",major=\"8\",minor=\"0\",model=\"\",path=\"\",revision=\"\",rotational=\"0\",serial=\"\",wwn=\"\"} 1\n"));
        assert!(!body.contains("node_disk_filesystem_info") && !body.contains("node_disk_ata_"));
    }

    #[test]
    fn device_include_keeps_only_matches_and_clashes_with_an_explicit_exclude() {
        let dir = tree(&[(
            "proc/diskstats",
            b"   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n   8       1 sda1 1 2 3 4 5 6 7 8 9 10 11\n 252 0 dm-0 1 2 3 4 5 6 7 8 9 10 11\n",
        )]);
        let mut config = config_for(dir.path());
        config.options.set(&DEVICE_INCLUDE, vec!["^sda".into()]);
        let body = scrape_of("diskstats", build(&config).unwrap());
        // The default exclude gives way: sda1 is kept, dm-0 is not included.
        assert!(body.contains("node_disk_reads_completed_total{device=\"sda\"} 1\n"));
        assert!(body.contains("node_disk_reads_completed_total{device=\"sda1\"} 1\n"));
        assert!(!body.contains("dm-0"));
        config.options.set(&DEVICE_EXCLUDE, vec!["^sd".into()]);
        let err = build(&config).err().unwrap().to_string();
        assert_eq!(
            err,
            "--collector.diskstats.device-include: cannot be combined with --collector.diskstats.device-exclude (they are mutually exclusive)"
        );
        let mut config = config_for(dir.path());
        config.options.set(&DEVICE_EXCLUDE, vec![String::new()]);
        let body = scrape_of("diskstats", build(&config).unwrap());
        assert!(body.contains("{device=\"sda1\"}"), "an empty exclude keeps all");
    }
}
