//! btrfs: `node_btrfs_*` per filesystem from `<sysfs>/fs/btrfs/<uuid>/` (label, commit
//! statistics, allocation per block group type and layout, device sizes), as node_exporter's
//! btrfs collector reads them through prometheus/procfs. No btrfs: nothing, success 1.
//!
//! Like node_exporter, each mounted btrfs (from `<procfs>/1/mounts`, under `--path.rootfs`) is
//! also asked with ioctls (BTRFS_IOC_FS_INFO, BTRFS_IOC_DEV_INFO, BTRFS_IOC_GET_DEV_STATS) for
//! its devices' sizes, unused bytes and error counters, labelled with `btrfs_dev_uuid`; where
//! that fails (not mounted here, no permission) the sysfs device sizes are exported instead.

use std::collections::HashMap;
use std::io;
use std::os::fd::AsRawFd;
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
    let entries = super::held::list_dir(dir).map_err(|source| CollectError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .into_iter()
        .filter(|e| !dirs_only || e.kind == libc::DT_DIR)
        .filter_map(|e| e.name.into_string().ok())
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

/// One device of a mounted btrfs, as node_exporter's ioctls report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoctlDevice {
    /// The device's name (the last part of its path: `/dev/sda` gives `sda`).
    pub device: String,
    /// The device's btrfs UUID, dashed.
    pub uuid: String,
    pub bytes_used: u64,
    pub total_bytes: u64,
    /// BTRFS_DEV_STAT_{WRITE,READ,FLUSH,CORRUPTION,GENERATION}_ERRS.
    pub errors: [u64; 5],
}

/// node_exporter's `type` label of each of [`IoctlDevice::errors`].
const ERROR_TYPES: [&str; 5] = ["write", "read", "flush", "corruption", "generation"];

/// The btrfs ioctls, with the asm-generic encoding (x86, arm, riscv): direction, argument size,
/// magic 0x94, number. The buffers below are exactly the sizes encoded here, which are the
/// kernel's structure sizes (linux/btrfs.h), so the kernel never writes past them.
mod ioctl {
    const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
        (dir << 30) | ((size as u64) << 16) | (0x94 << 8) | nr
    }
    pub const FS_INFO_SIZE: usize = 1024;
    pub const DEV_INFO_SIZE: usize = 4096;
    pub const DEV_STATS_SIZE: usize = 1032;
    /// _IOR(0x94, 31, struct btrfs_ioctl_fs_info_args)
    pub const FS_INFO: u64 = ioc(2, 31, FS_INFO_SIZE);
    /// _IOWR(0x94, 30, struct btrfs_ioctl_dev_info_args)
    pub const DEV_INFO: u64 = ioc(3, 30, DEV_INFO_SIZE);
    /// _IOWR(0x94, 52, struct btrfs_ioctl_get_dev_stats)
    pub const GET_DEV_STATS: u64 = ioc(3, 52, DEV_STATS_SIZE);
}

/// An ioctl argument buffer, 8-byte aligned as the kernel's structures are.
#[repr(C, align(8))]
struct Arg<const N: usize>([u8; N]);

impl<const N: usize> Arg<N> {
    fn u64_at(&self, offset: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[offset..offset + 8]);
        u64::from_ne_bytes(b)
    }

    fn set_u64(&mut self, offset: usize, v: u64) {
        self.0[offset..offset + 8].copy_from_slice(&v.to_ne_bytes());
    }

    fn call(&mut self, fd: &std::fs::File, request: u64) -> io::Result<()> {
        // SAFETY: `fd` is an open file and `self` a buffer of exactly the size `request`
        // encodes, which is all the kernel reads or writes.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, self.0.as_mut_ptr()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// A btrfs UUID as dennwc/btrfs prints it (node_exporter's `btrfs_dev_uuid`).
pub fn format_uuid(id: &[u8]) -> String {
    if id.iter().all(|&b| b == 0) {
        return "<zero>".to_owned();
    }
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The filesystem id (undashed hex, as node_exporter matches it to the sysfs UUID) and devices
/// of the btrfs mounted at `path`.
fn ioctl_stats(path: &Path) -> io::Result<(String, Vec<IoctlDevice>)> {
    let fd = std::fs::File::open(path)?;
    let mut info = Arg([0u8; ioctl::FS_INFO_SIZE]);
    info.call(&fd, ioctl::FS_INFO)?;
    let (max_id, num_devices) = (info.u64_at(0), info.u64_at(8));
    let fsid: String = info.0[16..32].iter().map(|b| format!("{b:02x}")).collect();
    let mut devices = Vec::new();
    // Device ids need not start at 0 nor be contiguous: a missing one answers ENODEV.
    for devid in 0..=max_id {
        let mut dev = Arg([0u8; ioctl::DEV_INFO_SIZE]);
        dev.set_u64(0, devid);
        match dev.call(&fd, ioctl::DEV_INFO) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => continue,
            other => other?,
        }
        let mut stats = Arg([0u8; ioctl::DEV_STATS_SIZE]);
        stats.set_u64(0, devid);
        stats.set_u64(8, ERROR_TYPES.len() as u64);
        stats.call(&fd, ioctl::GET_DEV_STATS)?;
        // The path fills the last 1024 bytes, NUL-terminated.
        let raw = &dev.0[ioctl::DEV_INFO_SIZE - 1024..];
        let raw = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
        let path = String::from_utf8_lossy(raw);
        devices.push(IoctlDevice {
            device: path.rsplit('/').next().unwrap_or_default().to_owned(),
            uuid: format_uuid(&dev.0[8..24]),
            bytes_used: dev.u64_at(24),
            total_bytes: dev.u64_at(32),
            errors: std::array::from_fn(|i| stats.u64_at(24 + 8 * i)),
        });
        if devices.len() as u64 == num_devices {
            break;
        }
    }
    Ok((fsid, devices))
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
        mounts: [
            config.paths.procfs.join("1/mounts"),
            config.paths.procfs.join("mounts"),
        ],
        rootfs: config.paths.rootfs.clone(),
        ask: ioctl_stats,
    }))
}

/// How a mounted btrfs is asked for its devices (tests give a stand-in).
type Ask = fn(&Path) -> io::Result<(String, Vec<IoctlDevice>)>;

struct BtrfsCollector {
    root: PathBuf,
    /// `<procfs>/1/mounts`, else `<procfs>/mounts` (hidepid), as the filesystem collector.
    mounts: [PathBuf; 2],
    rootfs: PathBuf,
    ask: Ask,
}

impl BtrfsCollector {
    /// The ioctl figures of every mounted btrfs, by undashed filesystem id. A mount that cannot
    /// be asked is skipped (logged at debug), as in node_exporter: sysfs sizes stand in.
    fn ioctl_stats(&self) -> HashMap<String, Vec<IoctlDevice>> {
        let mut out = HashMap::new();
        let mounts = read_with(&self.mounts[0], |d| Ok(btrfs_mounts(d)))
            .or_else(|_| read_with(&self.mounts[1], |d| Ok(btrfs_mounts(d))))
            .unwrap_or_default();
        let mut devices_done = Vec::new();
        for (device, mount_point) in mounts {
            if devices_done.contains(&device) {
                continue;
            }
            let path = self.rootfs.join(mount_point.trim_start_matches('/'));
            match (self.ask)(&path) {
                Ok((fsid, devices)) => {
                    devices_done.push(device);
                    out.entry(fsid).or_insert(devices);
                }
                Err(e) => {
                    tracing::debug!(mount_point = %path.display(), error = %e, "btrfs ioctls failed")
                }
            }
        }
        out
    }
}

/// (device, mount point) of the btrfs mounts of a mounts file.
fn btrfs_mounts(data: &str) -> Vec<(String, String)> {
    super::filesystem::parse_mounts(data)
        .map(|mounts| {
            mounts
                .into_iter()
                .filter(|m| m.fs_type == "btrfs")
                .map(|m| (m.device.to_owned(), m.mount_point.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

impl Collector for BtrfsCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

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
            encode(enc, &all, &self.ioctl_stats())?;
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn encode(
    enc: &mut DescriptorEncoder<'_>,
    all: &[Stats],
    ioctl: &HashMap<String, Vec<IoctlDevice>>,
) -> Result<(), CollectError> {
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
    // node_exporter matches the sysfs UUID, undashed, with the ioctls' filesystem id.
    let asked = |s: &Stats| ioctl.get(&s.uuid.replace('-', ""));
    if all
        .iter()
        .any(|s| !s.devices.is_empty() || asked(s).is_some_and(|d| !d.is_empty()))
    {
        let mut family = gauge_family(
            enc,
            "node_btrfs_device_size_bytes",
            "Size of a device that is part of the filesystem.",
        )?;
        for s in all {
            match asked(s) {
                Some(devices) => {
                    for d in devices {
                        gauge(&mut family, &ioctl_labels(d, s), d.total_bytes)?;
                    }
                }
                None => {
                    for (device, size) in &s.devices {
                        let labels = [("device", device.as_str()), ("uuid", s.uuid.as_str())];
                        gauge(&mut family, &labels, *size)?;
                    }
                }
            }
        }
    }
    let asked: Vec<(&Stats, &Vec<IoctlDevice>)> = all
        .iter()
        .filter_map(|s| Some((s, asked(s)?)))
        .filter(|(_, d)| !d.is_empty())
        .collect();
    if asked.is_empty() {
        return Ok(());
    }
    let mut family = gauge_family(
        enc,
        "node_btrfs_device_unused_bytes",
        "Unused bytes unused on a device that is part of the filesystem.",
    )?;
    for (s, devices) in &asked {
        for d in devices.iter() {
            let unused = d.total_bytes.saturating_sub(d.bytes_used);
            gauge(&mut family, &ioctl_labels(d, s), unused)?;
        }
    }
    let mut family = counter_family(
        enc,
        "node_btrfs_device_errors",
        "Errors reported for the device",
    )?;
    for (s, devices) in &asked {
        for d in devices.iter() {
            for (kind, v) in ERROR_TYPES.iter().zip(d.errors) {
                let labels = [
                    ("btrfs_dev_uuid", d.uuid.as_str()),
                    ("device", d.device.as_str()),
                    ("type", kind),
                    ("uuid", s.uuid.as_str()),
                ];
                counter(&mut family, &labels, v)?;
            }
        }
    }
    Ok(())
}

fn ioctl_labels<'a>(d: &'a IoctlDevice, s: &'a Stats) -> [(&'static str, &'a str); 3] {
    [
        ("btrfs_dev_uuid", d.uuid.as_str()),
        ("device", d.device.as_str()),
        ("uuid", s.uuid.as_str()),
    ]
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

    #[test]
    fn ioctl_numbers_are_the_kernels() {
        // linux/btrfs.h on x86_64, as `strace` prints them.
        assert_eq!(ioctl::FS_INFO, 0x8400_941f);
        assert_eq!(ioctl::DEV_INFO, 0xd000_941e);
        assert_eq!(ioctl::GET_DEV_STATS, 0xc408_9434);
        assert_eq!(
            format_uuid(&[
                0x5f, 0x0c, 0x1e, 0x3a, 0x64, 0x20, 0x4a, 0x17, 0x9f, 0x29, 0x3a, 0x1c, 0x6b,
                0x6e, 0x58, 0x51
            ]),
            "5f0c1e3a-6420-4a17-9f29-3a1c6b6e5851"
        );
        assert_eq!(format_uuid(&[0; 16]), "<zero>");
        // Not a btrfs: the ioctl is refused and sysfs sizes stand in.
        let dir = tree(&[]);
        assert!(ioctl_stats(dir.path()).is_err());
    }

    #[test]
    fn a_mounted_btrfs_gets_node_exporters_device_families() {
        fn ask(path: &Path) -> io::Result<(String, Vec<IoctlDevice>)> {
            assert!(path.ends_with("rootfs/srv"), "{}", path.display());
            let device = |name: &str, uuid: &str, errors| IoctlDevice {
                device: name.to_owned(),
                uuid: uuid.to_owned(),
                bytes_used: 4 << 30,
                total_bytes: 10 << 30,
                errors,
            };
            Ok((
                UUID.replace('-', ""),
                vec![
                    device("loop22", "0a9d5f7c-0d54-4cd5-9db4-6b6d26ef5d11", [0, 2, 0, 1, 0]),
                    device("loop23", "1c3e8b66-5a1b-4e0d-8a5f-7f2a9c0b3e22", [0; 5]),
                ],
            ))
        }
        let dir = fixture();
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        std::fs::write(
            dir.path().join("proc/mounts"),
            "/dev/loop22 /srv btrfs rw 0 0\n/dev/loop22 /srv/sub btrfs rw 0 0\n/dev/vda1 / ext4 rw 0 0\n",
        )
        .unwrap();
        let config = config_for(dir.path());
        let collector = Box::new(BtrfsCollector {
            root: config.paths.sysfs.join("fs/btrfs"),
            mounts: [
                config.paths.procfs.join("1/mounts"),
                config.paths.procfs.join("mounts"),
            ],
            rootfs: config.paths.rootfs.clone(),
            ask,
        });
        let body = scrape_of("btrfs", collector);
        let lines = samples(&body);
        let u = format!("uuid=\"{UUID}\"");
        let d = "btrfs_dev_uuid=\"0a9d5f7c-0d54-4cd5-9db4-6b6d26ef5d11\",device=\"loop22\"";
        for want in [
            format!("node_btrfs_device_size_bytes{{{d},{u}}} 10737418240"),
            format!("node_btrfs_device_unused_bytes{{{d},{u}}} 6442450944"),
            format!("node_btrfs_device_errors_total{{{d},type=\"read\",{u}}} 2"),
            format!("node_btrfs_device_errors_total{{{d},type=\"corruption\",{u}}} 1"),
            format!("node_btrfs_device_errors_total{{{d},type=\"generation\",{u}}} 0"),
        ] {
            assert!(lines.contains(&want.as_str()), "missing {want}:\n{body}");
        }
        // The ioctl devices replace the sysfs ones, whose label set differs.
        assert_eq!(body.matches("node_btrfs_device_size_bytes{").count(), 2, "{body}");
        assert_eq!(body.matches("node_btrfs_device_errors_total{").count(), 10);
        assert!(body.contains("# HELP node_btrfs_device_errors Errors reported for the device\n# TYPE node_btrfs_device_errors counter\n"));
    }
}
