//! filesystem: `node_filesystem_*{device,fstype,mountpoint}` from the mounts of
//! `<procfs>/1/mounts` and a statvfs of each, bounded by a timeout.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use prometheus_client::encoding::DescriptorEncoder;
use regex::Regex;

use super::encode::{gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, Options, ParseError,
    Prefetch, Prefetched, Shared, compile_regex, read_with,
};

/// The sizes statvfs reports for one filesystem.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsStats {
    pub size_bytes: u64,
    pub free_bytes: u64,
    pub avail_bytes: u64,
    pub files: u64,
    pub files_free: u64,
}

/// Why a bounded statvfs gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum StatError {
    #[error("statvfs {path}: no answer within {timeout:?} (hung mount?)")]
    Timeout { path: String, timeout: Duration },
    #[error("statvfs {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// statvfs(2) of `path`, unbounded. Blocks as long as the kernel does (a dead NFS server).
pub fn statvfs(path: &Path) -> io::Result<FsStats> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let mut buf: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated string and `buf` is a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut buf) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let frsize = buf.f_frsize as u64;
    Ok(FsStats {
        size_bytes: buf.f_blocks as u64 * frsize,
        free_bytes: buf.f_bfree as u64 * frsize,
        avail_bytes: buf.f_bavail as u64 * frsize,
        files: buf.f_files as u64,
        files_free: buf.f_ffree as u64,
    })
}

/// statvfs of `path` on a helper thread, giving up after `timeout` so that a hung mount
/// cannot stall the caller (the thread is left to finish on its own).
pub fn statvfs_bounded(path: &Path, timeout: Duration) -> Result<FsStats, StatError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let owned = path.to_path_buf();
    std::thread::Builder::new()
        .name("statvfs".into())
        .spawn(move || {
            let _ = tx.send(statvfs(&owned));
        })
        .map_err(|source| StatError::Io {
            path: path.display().to_string(),
            source,
        })?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(stats)) => Ok(stats),
        Ok(Err(source)) => Err(StatError::Io {
            path: path.display().to_string(),
            source,
        }),
        Err(_) => Err(StatError::Timeout {
            path: path.display().to_string(),
            timeout,
        }),
    }
}

/// One line of `/proc/<pid>/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount<'a> {
    pub device: &'a str,
    /// With fstab(5)'s `\040` (space) and `\011` (tab) decoded, as node_exporter does.
    pub mount_point: Cow<'a, str>,
    pub fs_type: &'a str,
    pub options: &'a str,
}

impl Mount<'_> {
    /// Mounted read-only (`ro` among the mount options).
    pub fn readonly(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

/// Parses `/proc/<pid>/mounts` (`device mountpoint fstype options dump pass`). A mount point
/// that was not UTF-8 (read as U+FFFD, see `read_with`) is skipped: its statvfs path would not
/// resolve and report a false device error.
pub fn parse_mounts(data: &str) -> Result<Vec<Mount<'_>>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in data.lines().enumerate() {
        let mut parts = line.split_ascii_whitespace();
        let Some(device) = parts.next() else { continue };
        let (Some(mount_point), Some(fs_type), Some(options)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(ParseError::new(
                i + 1,
                format!("expected at least 4 fields in {line:?}"),
            ));
        };
        if mount_point.contains(char::REPLACEMENT_CHARACTER) {
            tracing::debug!(line = i + 1, "mounts: mount point not UTF-8, skipped");
            continue;
        }
        let mount_point = if mount_point.contains('\\') {
            Cow::Owned(mount_point.replace("\\040", " ").replace("\\011", "\t"))
        } else {
            Cow::Borrowed(mount_point)
        };
        out.push(Mount {
            device,
            mount_point,
            fs_type,
            options,
        });
    }
    Ok(out)
}

/// A statvfs implementation; tests inject one that blocks.
pub type StatFn = dyn Fn(&Path) -> io::Result<FsStats> + Send + Sync;

/// node_exporter's default for `--collector.filesystem.mount-points-exclude`.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter's default for `--collector.filesystem.fs-types-exclude`.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";

pub const MOUNT_POINTS_EXCLUDE: FlagSpec = FlagSpec::value(
    "--collector.filesystem.mount-points-exclude",
    DEFAULT_MOUNT_POINTS_EXCLUDE,
    "Regex of mount points the filesystem collector ignores",
)
.value_name("REGEX");

pub const FS_TYPES_EXCLUDE: FlagSpec = FlagSpec::value(
    "--collector.filesystem.fs-types-exclude",
    DEFAULT_FS_TYPES_EXCLUDE,
    "Regex of filesystem types the filesystem collector ignores",
)
.value_name("REGEX");

/// Longest a statvfs may take before the mount counts as hung.
pub const MOUNT_TIMEOUT: FlagSpec = FlagSpec::value(
    "--collector.filesystem.mount-timeout",
    "5s",
    "Longest one statvfs may take; a slower (hung) mount reports device_error=1",
)
.value_name("DURATION")
.checked(super::positive_duration);

/// `--collector.filesystem.mount-timeout`'s value; /api/health bounds its statvfs by it too.
pub fn mount_timeout(options: &Options) -> Result<Duration, ConfigError> {
    options.parsed(&MOUNT_TIMEOUT, super::duration)
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "filesystem",
    default_enabled: true,
    help: "Filesystem sizes and usage (statvfs of each mount)",
    flags: &[MOUNT_POINTS_EXCLUDE, FS_TYPES_EXCLUDE, MOUNT_TIMEOUT],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(FilesystemCollector::new(
        config,
        Arc::new(statvfs),
    )?))
}

/// The filesystem collector, with its statvfs runner.
pub(crate) struct FilesystemCollector {
    mounts: [PathBuf; 2],
    rootfs: PathBuf,
    mount_points_exclude: Regex,
    fs_types_exclude: Regex,
    runner: StatRunner,
    /// The mounts file held open to learn when the mount table changes, and the rows read.
    watch: Mutex<Option<MountWatch>>,
}

/// The kernel says when a mount namespace's table changes: polling its mounts file gives
/// POLLPRI (and POLLERR) once after each mount, unmount, remount or move since the last poll,
/// counted from the file's opening (`mounts_poll` in fs/proc_namespace.c; how systemd and
/// libmount watch mounts). The rows of an unchanged table are reused, so that the kernel does
/// not format every mount (their options, cgroup's included) on each scrape to say the same.
/// The file is opened before the table is read, so a change while reading is seen next time.
struct MountWatch {
    path: PathBuf,
    file: std::fs::File,
    rows: Vec<Row>,
}

impl MountWatch {
    /// Opens `path` to watch it, if it is a procfs mounts file (not a fixture's copy).
    fn open(path: &Path) -> Option<std::fs::File> {
        let file = std::fs::File::open(path).ok()?;
        super::held::generated(&file).then_some(file)
    }

    /// Whether the table may have changed since the last call (or the opening).
    fn changed(&self) -> bool {
        super::absent::pollpri(&self.file)
    }
}

impl FilesystemCollector {
    pub(crate) fn new(config: &Config, stat: Arc<StatFn>) -> Result<Self, ConfigError> {
        let options = &config.options;
        Ok(FilesystemCollector {
            mounts: [
                config.paths.procfs.join("1/mounts"),
                config.paths.procfs.join("mounts"),
            ],
            rootfs: config.paths.rootfs.clone(),
            mount_points_exclude: compile_regex(
                MOUNT_POINTS_EXCLUDE.name,
                options.value(&MOUNT_POINTS_EXCLUDE),
            )?,
            fs_types_exclude: compile_regex(
                FS_TYPES_EXCLUDE.name,
                options.value(&FS_TYPES_EXCLUDE),
            )?,
            runner: StatRunner::new(stat, mount_timeout(options)?),
            watch: Mutex::new(None),
        })
    }

    /// node_exporter's rootfsStripPrefix: mount points as the host sees them.
    fn label_mount_point<'m>(&self, mount_point: &'m str) -> &'m str {
        let root = self.rootfs.as_os_str().to_str().unwrap_or("/");
        if root == "/" || root.is_empty() {
            return mount_point;
        }
        match mount_point.strip_prefix(root.trim_end_matches('/')) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => mount_point,
        }
    }

    fn read_mounts<T>(
        &self,
        mut f: impl FnMut(&Path, &str) -> Result<T, CollectError>,
    ) -> Result<T, CollectError> {
        // /proc/1/mounts is the host's view when the exporter runs in its own mount
        // namespace; it is hidden by hidepid, hence the fallback.
        match read_with(&self.mounts[0], |data| f(&self.mounts[0], data)) {
            Err(CollectError::Read { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                ) =>
            {
                read_with(&self.mounts[1], |data| f(&self.mounts[1], data))
            }
            other => other,
        }
    }
}

impl FilesystemCollector {
    /// The mounts to report this scrape: those read last time if the table has not changed
    /// since ([`MountWatch`]), else read from the mounts file.
    fn plan(&self) -> Result<Vec<Row>, CollectError> {
        let mut watch = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = watch.as_ref()
            && !w.changed()
        {
            return Ok(w.rows.clone());
        }
        // Opened before reading: a change from here on shows at the next poll.
        let mut opened = watch
            .take()
            .map(|w| (w.path, w.file))
            .or_else(|| self.mounts.iter().find_map(|p| Some((p.clone(), MountWatch::open(p)?))));
        let mut read_from = PathBuf::new();
        let rows = self.read_rows(&mut read_from)?;
        if let Some((path, file)) = opened.take()
            && path == read_from
        {
            *watch = Some(MountWatch {
                path,
                file,
                rows: rows.clone(),
            });
        }
        Ok(rows)
    }

    /// The mounts to report, read from the mounts file (whose path goes to `read_from`).
    fn read_rows(&self, read_from: &mut PathBuf) -> Result<Vec<Row>, CollectError> {
        self.read_mounts(|path, data| {
            path.clone_into(read_from);
            let mounts = parse_mounts(data).map_err(|e| CollectError::parse(path, e))?;
            let mut rows: Vec<Row> = Vec::new();
            for m in &mounts {
                let mp = self.label_mount_point(&m.mount_point);
                if self.mount_points_exclude.is_match(mp)
                    || self.fs_types_exclude.is_match(m.fs_type)
                {
                    continue;
                }
                // Keep the first of identical (device, mountpoint, fstype) lines.
                if rows
                    .iter()
                    .any(|r| r.device == m.device && r.mount_point == mp && r.fs_type == m.fs_type)
                {
                    continue;
                }
                rows.push(Row {
                    device: m.device.to_owned(),
                    mount_point: mp.to_owned(),
                    fs_type: m.fs_type.to_owned(),
                    readonly: m.readonly(),
                    in_memory: false,
                });
            }
            for row in &mut rows {
                row.in_memory = self.statfs_in_memory(&mounts, row);
            }
            Ok(rows)
        })
    }

    /// Whether statvfs of `row` only reads counters the kernel keeps in memory, so that it can
    /// run on the calling thread: its filesystem type is one of [`IN_MEMORY_STATFS`], and so is
    /// that of every mount on its mount point or above it (the path walk passes through those;
    /// a local filesystem mounted below a dead NFS mount would hang the walk). Everything else,
    /// network and FUSE filesystems first of all, goes through the bounded statvfs thread.
    fn statfs_in_memory(&self, mounts: &[Mount<'_>], row: &Row) -> bool {
        IN_MEMORY_STATFS.contains(&row.fs_type.as_str())
            && mounts.iter().all(|m| {
                !is_at_or_above(self.label_mount_point(&m.mount_point), &row.mount_point)
                    || IN_MEMORY_STATFS.contains(&m.fs_type)
            })
    }

    /// What to statvfs for each row.
    fn targets(&self, rows: &[Row]) -> Vec<Target> {
        rows.iter()
            .map(|r| Target {
                mount_point: r.mount_point.clone(),
                path: self.rootfs.join(r.mount_point.trim_start_matches('/')),
                in_memory: r.in_memory,
            })
            .collect()
    }

    /// Reads the mounts and statvfs's them, waiting for the statvfs thread without blocking the
    /// calling thread: the server awaits this on its runtime thread before the (quick,
    /// synchronous) encoding, so a hung mount never holds up other requests.
    pub(crate) async fn measure(&self) -> Measured {
        let start = Instant::now();
        let rows = self.plan();
        let results = match &rows {
            Ok(rows) => self.runner.stat_all_async(self.targets(rows)).await,
            Err(_) => Vec::new(),
        };
        Measured {
            rows,
            results,
            took: start.elapsed(),
        }
    }

    /// [`FilesystemCollector::measure`], blocking the calling thread while statvfs runs.
    fn measure_blocking(&self) -> Measured {
        let start = Instant::now();
        let rows = self.plan();
        let results = match &rows {
            Ok(rows) => self.runner.stat_all(self.targets(rows)),
            Err(_) => Vec::new(),
        };
        Measured {
            rows,
            results,
            took: start.elapsed(),
        }
    }
}

/// Filesystem types whose statfs answers from counters in kernel memory, without I/O or a
/// server or daemon to wait for (ext4 and xfs sum per-CPU counters; tmpfs, ramfs and devtmpfs
/// have no backing store). Their statvfs runs on the scraping thread, which saves two thread
/// switches per scrape. Not listed, so bounded by the statvfs thread: nfs, cifs, fuse.*, ceph
/// and every other network or userspace filesystem, autofs, and filesystems whose statfs may
/// wait on locks held across I/O (btrfs, zfs).
const IN_MEMORY_STATFS: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "vfat", "tmpfs", "ramfs", "devtmpfs", "rootfs",
];

/// `ancestor` is `path` or one of its parent directories.
fn is_at_or_above(ancestor: &str, path: &str) -> bool {
    match path.strip_prefix(ancestor) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || ancestor.ends_with('/'),
        None => false,
    }
}

/// One mount to report.
#[derive(Debug)]
#[derive(Clone)]
struct Row {
    device: String,
    /// As the host sees it (`--path.rootfs` stripped).
    mount_point: String,
    fs_type: String,
    readonly: bool,
    /// See [`FilesystemCollector::statfs_in_memory`].
    in_memory: bool,
}

/// One statvfs to make.
struct Target {
    mount_point: String,
    path: PathBuf,
    /// Made on the calling thread rather than the statvfs thread.
    in_memory: bool,
}

/// The filesystem collector's reading of one scrape: the mounts and their statvfs results
/// (`None` where statvfs failed or timed out).
#[derive(Debug)]
pub(crate) struct Measured {
    rows: Result<Vec<Row>, CollectError>,
    results: Vec<Option<FsStats>>,
    /// How long reading the mounts and the statvfs calls took.
    pub(crate) took: Duration,
}

impl Collector for FilesystemCollector {
    fn update(&self, shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        // Measured ahead by the server (see `measure`); a plain `Scraper::scrape` measures here.
        let measured = shared
            .take_filesystem()
            .unwrap_or_else(|| self.measure_blocking());
        let rows = measured.rows?;
        encode_filesystems(enc, &rows, &measured.results)?;
        Ok(())
    }

    fn prefetch(&self) -> Option<Prefetch<'_>> {
        Some(Box::pin(async move {
            Prefetched::Filesystem(self.measure().await)
        }))
    }
}

/// (name, help, value) of one of the statvfs families.
type SizeFamily = (&'static str, &'static str, fn(&FsStats) -> u64);

fn labels(r: &Row) -> [(&'static str, &str); 3] {
    [
        ("device", &r.device),
        ("fstype", &r.fs_type),
        ("mountpoint", &r.mount_point),
    ]
}

fn encode_filesystems(
    enc: &mut DescriptorEncoder<'_>,
    selected: &[Row],
    results: &[Option<FsStats>],
) -> std::fmt::Result {
    let families: [SizeFamily; 5] = [
        (
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            |s| s.size_bytes,
        ),
        (
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            |s| s.free_bytes,
        ),
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            |s| s.avail_bytes,
        ),
        (
            "node_filesystem_files",
            "Filesystem total file nodes.",
            |s| s.files,
        ),
        (
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            |s| s.files_free,
        ),
    ];
    for (name, help, value) in families {
        let mut family = gauge_family(enc, name, help)?;
        for (s, r) in selected.iter().zip(results) {
            if let Some(stats) = r {
                gauge(&mut family, &labels(s), value(stats))?;
            }
        }
    }
    let mut family = gauge_family(
        enc,
        "node_filesystem_readonly",
        "Filesystem read-only status.",
    )?;
    for (s, r) in selected.iter().zip(results) {
        if r.is_some() {
            gauge(&mut family, &labels(s), u64::from(s.readonly))?;
        }
    }
    let mut family = gauge_family(
        enc,
        "node_filesystem_device_error",
        "Whether an error occurred while getting statistics for the given device.",
    )?;
    for (s, r) in selected.iter().zip(results) {
        gauge(&mut family, &labels(s), u64::from(r.is_none()))?;
    }
    Ok(())
}

/// Runs statvfs calls on a helper thread so that a hung mount (dead NFS) costs the scrape at
/// most `timeout`, once: a mount that timed out is "stuck" and skipped (device_error=1) until
/// the call still hanging on it returns, so threads never pile up on one mount
/// (node_exporter's stuckMounts). A scrape hands the thread all its mounts at once and is
/// woken once when they are done, which keeps the cost to two thread switches per scrape.
/// In-memory filesystems (see [`IN_MEMORY_STATFS`]) are statted on the calling thread.
struct StatRunner {
    stat: Arc<StatFn>,
    timeout: Duration,
    /// Mount points whose statvfs is still hanging.
    stuck: Arc<Mutex<HashSet<String>>>,
    idle: Mutex<Option<Worker>>,
}

struct Worker {
    tx: mpsc::Sender<Batch>,
}

/// The mounts of one scrape from `start` on, and where the worker reports.
struct Batch {
    items: Arc<Vec<(String, PathBuf)>>,
    start: usize,
    progress: Arc<Mutex<Progress>>,
    /// One message when the batch is done.
    done: Done,
}

/// How the worker tells the scrape that its batch is done: a thread blocked on a channel, or a
/// task awaiting a oneshot (the server's runtime thread, which must not block).
enum Done {
    Thread(mpsc::Sender<()>),
    Task(tokio::sync::oneshot::Sender<()>),
}

impl Done {
    fn send(self) {
        match self {
            Done::Thread(tx) => {
                let _ = tx.send(());
            }
            Done::Task(tx) => {
                let _ = tx.send(());
            }
        }
    }
}

struct Progress {
    /// Index of the item being statted (== items.len() when done).
    next: usize,
    /// When the statvfs of `next` started.
    started: Instant,
    results: Vec<Option<FsStats>>,
    /// The scrape gave up on this batch (its `next` item is stuck).
    abandoned: bool,
}

/// One scrape's statvfs calls for the statvfs thread (the mounts not known to be stuck), and
/// the results so far.
struct Pending {
    /// The results by index in the scrape's list; the in-memory ones are already there.
    results: Vec<Option<FsStats>>,
    /// Index in `results` of each item.
    slots: Vec<usize>,
    items: Arc<Vec<(String, PathBuf)>>,
    out: Vec<Option<FsStats>>,
    /// The first item not yet handed to a worker.
    start: usize,
}

impl Pending {
    fn is_done(&self) -> bool {
        self.start >= self.items.len()
    }

    fn results(self) -> Vec<Option<FsStats>> {
        let mut results = self.results;
        for (slot, r) in self.slots.into_iter().zip(self.out) {
            results[slot] = r;
        }
        results
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StatRunner {
    fn new(stat: Arc<StatFn>, timeout: Duration) -> StatRunner {
        StatRunner {
            stat,
            timeout,
            stuck: Arc::new(Mutex::new(HashSet::new())),
            idle: Mutex::new(None),
        }
    }

    fn spawn_worker(&self) -> Option<Worker> {
        let (tx, rx) = mpsc::channel::<Batch>();
        let stat = Arc::clone(&self.stat);
        let stuck = Arc::clone(&self.stuck);
        std::thread::Builder::new()
            .name("statvfs".into())
            .spawn(move || worker_loop(rx, stat, stuck))
            .ok()?;
        Some(Worker { tx })
    }

    /// Makes the in-memory statvfs calls and lists the others for the statvfs thread, without
    /// the mounts still stuck from an earlier scrape: those are not touched again.
    fn pending(&self, all: Vec<Target>) -> Pending {
        let mut results = vec![None; all.len()];
        let (mut slots, mut items) = (Vec::new(), Vec::new());
        let mut stuck = None;
        for (i, t) in all.into_iter().enumerate() {
            if t.in_memory {
                match (self.stat)(&t.path) {
                    Ok(stats) => results[i] = Some(stats),
                    Err(e) => {
                        tracing::debug!(path = %t.path.display(), error = %e, "statvfs failed")
                    }
                }
                continue;
            }
            let stuck = stuck.get_or_insert_with(|| lock(&self.stuck));
            if stuck.contains(&t.mount_point) {
                tracing::debug!(mountpoint = %t.mount_point, "mount point is still unresponsive, skipped");
                continue;
            }
            slots.push(i);
            items.push((t.mount_point, t.path));
        }
        drop(stuck);
        Pending {
            results,
            slots,
            out: vec![None; items.len()],
            items: Arc::new(items),
            start: 0,
        }
    }

    /// Hands the items from `pending.start` on to the idle worker (or a new one). `None` if no
    /// thread can be started.
    fn dispatch(&self, pending: &Pending, done: Done) -> Option<(Worker, Arc<Mutex<Progress>>)> {
        let mut done = done;
        loop {
            let worker = lock(&self.idle).take();
            let Some(worker) = worker.or_else(|| self.spawn_worker()) else {
                tracing::warn!("cannot start a statvfs thread");
                return None;
            };
            let progress = Arc::new(Mutex::new(Progress {
                next: pending.start,
                started: Instant::now(),
                results: vec![None; pending.items.len()],
                abandoned: false,
            }));
            let batch = Batch {
                items: Arc::clone(&pending.items),
                start: pending.start,
                progress: Arc::clone(&progress),
                done,
            };
            match worker.tx.send(batch) {
                Ok(()) => return Some((worker, progress)),
                // That worker is gone (a panicking stat function); start another.
                Err(mpsc::SendError(batch)) => done = batch.done,
            }
        }
    }

    /// Called when the scrape waited `timeout` without hearing from the worker: how much longer
    /// to wait, or `None` when the mount being statted is overdue. That mount is then marked
    /// stuck and the batch abandoned (the scrape goes on with the next mount).
    fn overdue(&self, pending: &Pending, progress: &Mutex<Progress>) -> Option<Duration> {
        let mut p = lock(progress);
        if p.next >= pending.items.len() {
            return Some(self.timeout); // finished just now; the message is on its way
        }
        let elapsed = p.started.elapsed();
        if elapsed < self.timeout {
            return Some(self.timeout - elapsed); // a later mount, not yet due
        }
        // Marked under the batch lock, so the worker's "recovered" comes after.
        p.abandoned = true;
        let mp = &pending.items[p.next].0;
        lock(&self.stuck).insert(mp.clone());
        tracing::warn!(
            mountpoint = %mp,
            timeout = ?self.timeout,
            "statvfs did not answer; mount point marked as stuck until it does"
        );
        None
    }

    /// Takes what the batch measured; a worker that finished is kept for the next scrape.
    fn settle(
        &self,
        pending: &mut Pending,
        progress: &Mutex<Progress>,
        worker: Worker,
        finished: bool,
    ) {
        let p = lock(progress);
        let (start, end) = (pending.start, p.next.min(pending.items.len()));
        pending.out[start..end].copy_from_slice(&p.results[start..end]);
        // The item the batch stopped on (stuck, or its stat function panicked) is skipped.
        pending.start = p.next + 1;
        drop(p);
        if finished {
            let mut idle = lock(&self.idle);
            if idle.is_none() {
                *idle = Some(worker);
            }
        }
    }

    /// statvfs of every (mount point, path); `None` where it failed or timed out. Blocks.
    fn stat_all(&self, all: Vec<Target>) -> Vec<Option<FsStats>> {
        let mut pending = self.pending(all);
        while !pending.is_done() {
            let (done_tx, done_rx) = mpsc::channel();
            let Some((worker, progress)) = self.dispatch(&pending, Done::Thread(done_tx)) else {
                break;
            };
            let mut wait = self.timeout;
            let finished = loop {
                match done_rx.recv_timeout(wait) {
                    Ok(()) => break true,
                    Err(mpsc::RecvTimeoutError::Timeout) => match self.overdue(&pending, &progress)
                    {
                        Some(more) => wait = more,
                        None => break false,
                    },
                    // The stat function panicked on the current item.
                    Err(mpsc::RecvTimeoutError::Disconnected) => break false,
                }
            };
            self.settle(&mut pending, &progress, worker, finished);
        }
        pending.results()
    }

    /// [`StatRunner::stat_all`] for a tokio task: the same bounds, but waiting suspends the
    /// task instead of blocking its thread. Needs a tokio runtime with timers.
    async fn stat_all_async(&self, all: Vec<Target>) -> Vec<Option<FsStats>> {
        let mut pending = self.pending(all);
        while !pending.is_done() {
            let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
            let Some((worker, progress)) = self.dispatch(&pending, Done::Task(done_tx)) else {
                break;
            };
            let mut wait = self.timeout;
            let finished = loop {
                match tokio::time::timeout(wait, &mut done_rx).await {
                    Ok(Ok(())) => break true,
                    // The stat function panicked on the current item.
                    Ok(Err(_)) => break false,
                    Err(_) => match self.overdue(&pending, &progress) {
                        Some(more) => wait = more,
                        None => break false,
                    },
                }
            };
            self.settle(&mut pending, &progress, worker, finished);
        }
        pending.results()
    }
}

fn worker_loop(rx: mpsc::Receiver<Batch>, stat: Arc<StatFn>, stuck: Arc<Mutex<HashSet<String>>>) {
    for batch in rx {
        for i in batch.start..batch.items.len() {
            let (mp, path) = &batch.items[i];
            let r = stat(path);
            let mut p = lock(&batch.progress);
            match r {
                Ok(stats) => p.results[i] = Some(stats),
                Err(e) => tracing::debug!(path = %path.display(), error = %e, "statvfs failed"),
            }
            // Same critical section: the scrape never sees the next item with an old start.
            p.next = i + 1;
            p.started = Instant::now();
            if p.abandoned {
                // The scrape moved on without this thread; it ends once the mount answers.
                drop(p);
                lock(&stuck).remove(mp);
                tracing::info!(mountpoint = %mp, "mount point answers again, monitoring resumes");
                return;
            }
        }
        batch.done.send();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc::Receiver;

    use super::super::testutil::{config_for, samples, scrape_of, scraper_of, tree};
    use super::*;

    #[test]
    fn parses_real_mounts_with_escapes() {
        let data = "/dev/dm-2 / ext4 rw,relatime,errors=remount-ro 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
/dev/sda /var/lib/kubelet/[vsanDatastore]\\040bafb9e5a/a\\011b.vmdk ext4 rw,relatime 0 0
";
        let mounts = parse_mounts(data).unwrap();
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].mount_point, "/");
        assert!(!mounts[0].readonly(), "errors=remount-ro is not ro");
        assert!(mounts[1].readonly());
        assert_eq!(
            mounts[2].mount_point,
            "/var/lib/kubelet/[vsanDatastore] bafb9e5a/a\tb.vmdk"
        );
    }

    #[test]
    fn a_non_utf8_mount_point_skips_only_that_mount() {
        let dir = tree(&[(
            "proc/mounts",
            b"/dev/vda1 / ext4 rw 0 0\n/dev/vdb /mnt/caf\xe9 ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n",
        )]);
        let mounts = read_with(&dir.path().join("proc/mounts"), |data| {
            let mounts = parse_mounts(data).unwrap();
            Ok(mounts
                .iter()
                .map(|m| m.mount_point.to_string())
                .collect::<Vec<_>>())
        })
        .unwrap();
        assert_eq!(mounts, ["/", "/run"]);
    }

    #[test]
    fn hostile_mounts_are_errors_with_line_numbers() {
        assert_eq!(
            parse_mounts("/dev/vda / ext4 rw 0 0\n/dev/vdb /srv\n")
                .unwrap_err()
                .to_string(),
            "line 2: expected at least 4 fields in \"/dev/vdb /srv\""
        );
        assert!(parse_mounts("").unwrap().is_empty());
    }

    #[test]
    fn default_excludes_are_node_exporters() {
        let mp = Regex::new(DEFAULT_MOUNT_POINTS_EXCLUDE).unwrap();
        let fs = Regex::new(DEFAULT_FS_TYPES_EXCLUDE).unwrap();
        let kept: Vec<_> = [
            "/",
            "/dev",
            "/dev/shm",
            "/proc",
            "/sys/fs/cgroup",
            "/run",
            "/run/credentials/x.service",
            "/var/lib/docker/overlay2/abc",
            "/var/lib/docker",
            "/home",
        ]
        .into_iter()
        .filter(|m| !mp.is_match(m))
        .collect();
        assert_eq!(kept, ["/", "/run", "/var/lib/docker", "/home"]);
        let kept: Vec<_> = [
            "ext4",
            "xfs",
            "tmpfs",
            "overlay",
            "cgroup2",
            "squashfs",
            "nfs4",
            "fuse.sshfs",
        ]
        .into_iter()
        .filter(|t| !fs.is_match(t))
        .collect();
        assert_eq!(kept, ["ext4", "xfs", "tmpfs", "nfs4", "fuse.sshfs"]);
    }

    fn sizes() -> FsStats {
        FsStats {
            size_bytes: 1000,
            free_bytes: 600,
            avail_bytes: 500,
            files: 100,
            files_free: 90,
        }
    }

    #[test]
    fn encodes_node_exporters_families_and_errors() {
        let dir = tree(&[(
            "proc/1/mounts",
            b"/dev/vda1 / ext4 rw 0 0\n/dev/vda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\n/dev/vdb /srv xfs ro 0 0\nnfs:/x /mnt/nfs nfs4 rw 0 0\n",
        )]);
        let config = config_for(dir.path());
        let rootfs = config.paths.rootfs.clone();
        let stat: Arc<StatFn> = Arc::new(move |p: &Path| {
            if p == rootfs.join("mnt/nfs") {
                Err(io::Error::from_raw_os_error(libc::EACCES))
            } else {
                Ok(sizes())
            }
        });
        let collector = FilesystemCollector::new(&config, stat).unwrap();
        let body = scrape_of("filesystem", Box::new(collector));
        let l = |m: &str, fs: &str, mp: &str| {
            format!("device=\"{m}\",fstype=\"{fs}\",mountpoint=\"{mp}\"")
        };
        let (root, srv, nfs) = (
            l("/dev/vda1", "ext4", "/"),
            l("/dev/vdb", "xfs", "/srv"),
            l("nfs:/x", "nfs4", "/mnt/nfs"),
        );
        assert_eq!(
            samples(&body),
            [
                format!("node_filesystem_size_bytes{{{root}}} 1000"),
                format!("node_filesystem_size_bytes{{{srv}}} 1000"),
                format!("node_filesystem_free_bytes{{{root}}} 600"),
                format!("node_filesystem_free_bytes{{{srv}}} 600"),
                format!("node_filesystem_avail_bytes{{{root}}} 500"),
                format!("node_filesystem_avail_bytes{{{srv}}} 500"),
                format!("node_filesystem_files{{{root}}} 100"),
                format!("node_filesystem_files{{{srv}}} 100"),
                format!("node_filesystem_files_free{{{root}}} 90"),
                format!("node_filesystem_files_free{{{srv}}} 90"),
                format!("node_filesystem_readonly{{{root}}} 0"),
                format!("node_filesystem_readonly{{{srv}}} 1"),
                format!("node_filesystem_device_error{{{root}}} 0"),
                format!("node_filesystem_device_error{{{srv}}} 0"),
                format!("node_filesystem_device_error{{{nfs}}} 1"),
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"filesystem\"} 1\n"));
    }

    #[test]
    fn a_non_utf8_mount_point_costs_only_its_own_lines() {
        // node_exporter's client drops a sample whose label is not UTF-8; the other mounts stay.
        let dir = tree(&[(
            "proc/1/mounts",
            b"/dev/vda1 / ext4 rw 0 0\n/dev/vdb /mnt/caf\xe9 ext4 rw 0 0\n/dev/vdc /srv xfs ro 0 0\n",
        )]);
        let config = config_for(dir.path());
        let collector =
            FilesystemCollector::new(&config, Arc::new(|_: &Path| Ok(sizes()))).unwrap();
        let body = scrape_of("filesystem", Box::new(collector));
        let lines = samples(&body);
        for want in [
            "node_filesystem_size_bytes{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} 1000",
            "node_filesystem_size_bytes{device=\"/dev/vdc\",fstype=\"xfs\",mountpoint=\"/srv\"} 1000",
            "node_filesystem_readonly{device=\"/dev/vdc\",fstype=\"xfs\",mountpoint=\"/srv\"} 1",
            "node_filesystem_device_error{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} 0",
        ] {
            assert!(lines.contains(&want), "missing {want}:\n{body}");
        }
        assert!(!body.contains("/dev/vdb"), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"filesystem\"} 1\n"));
    }

    #[test]
    fn falls_back_to_proc_mounts_when_pid_1_is_hidden() {
        let dir = tree(&[("proc/mounts", b"/dev/vda1 / ext4 rw 0 0\n")]);
        let config = config_for(dir.path());
        let collector =
            FilesystemCollector::new(&config, Arc::new(|_: &Path| Ok(sizes()))).unwrap();
        let body = scrape_of("filesystem", Box::new(collector));
        assert!(body.contains("node_filesystem_size_bytes{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} 1000\n"), "{body}");
    }

    /// A stat function that hangs on `/hung` until released, like a dead NFS server.
    struct Hang {
        calls_on_hung: AtomicUsize,
        release: Mutex<Option<Receiver<()>>>,
    }

    #[test]
    fn a_hung_mount_times_out_is_skipped_while_stuck_and_recovers() {
        let dir = tree(&[(
            "proc/1/mounts",
            b"/dev/vda1 / ext4 rw 0 0\nnfs:/a /hung nfs4 rw 0 0\n/dev/vdb /srv xfs rw 0 0\n",
        )]);
        let mut config = config_for(dir.path());
        config.options.set(&MOUNT_TIMEOUT, vec!["200ms".into()]);
        let (release_tx, release_rx) = mpsc::channel();
        let hang = Arc::new(Hang {
            calls_on_hung: AtomicUsize::new(0),
            release: Mutex::new(Some(release_rx)),
        });
        let h = Arc::clone(&hang);
        let stat: Arc<StatFn> = Arc::new(move |p: &Path| {
            if p.ends_with("hung") {
                h.calls_on_hung.fetch_add(1, Ordering::SeqCst);
                // Only the first call hangs; it returns once the test releases it.
                let rx = h.release.lock().unwrap().take();
                if let Some(rx) = rx {
                    let _ = rx.recv();
                }
            }
            Ok(sizes())
        });
        let scraper = scraper_of(
            "filesystem",
            Box::new(FilesystemCollector::new(&config, stat).unwrap()),
        );
        let hung_error = "node_filesystem_device_error{device=\"nfs:/a\",fstype=\"nfs4\",mountpoint=\"/hung\"} 1\n";
        let hung_size = "node_filesystem_size_bytes{device=\"nfs:/a\",fstype=\"nfs4\",mountpoint=\"/hung\"} 1000\n";
        let srv_size = "node_filesystem_size_bytes{device=\"/dev/vdb\",fstype=\"xfs\",mountpoint=\"/srv\"} 1000\n";

        // First scrape: /hung times out; the mounts before and after it are still measured.
        let body = String::from_utf8(scraper.scrape()).unwrap();
        assert!(body.contains(hung_error), "{body}");
        assert!(body.contains(srv_size), "{body}");
        assert!(body.contains("node_filesystem_size_bytes{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} 1000\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"filesystem\"} 1\n"));
        assert_eq!(hang.calls_on_hung.load(Ordering::SeqCst), 1);

        // Second scrape while the first call still hangs: no second thread on /hung.
        let body = String::from_utf8(scraper.scrape()).unwrap();
        assert!(body.contains(hung_error), "{body}");
        assert!(body.contains(srv_size), "{body}");
        assert_eq!(hang.calls_on_hung.load(Ordering::SeqCst), 1);

        // The server comes back: once the hanging call returns, /hung is measured again.
        release_tx.send(()).unwrap();
        let mut recovered = false;
        for _ in 0..200 {
            let body = String::from_utf8(scraper.scrape()).unwrap();
            if body.contains(hung_size) {
                recovered = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(recovered, "/hung never reported again");
        assert_eq!(hang.calls_on_hung.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn only_in_memory_filesystems_reached_through_local_mounts_are_statted_inline() {
        let dir = tree(&[(
            "proc/1/mounts",
            b"/dev/vda1 / ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\nnfs:/a /mnt nfs4 rw 0 0\n/dev/vdc /mnt/data ext4 rw 0 0\n/dev/vdd /srv btrfs rw 0 0\n/dev/vde /run/x xfs rw 0 0\n/dev/vdf /run/x sshfs rw 0 0\n",
        )]);
        let config = config_for(dir.path());
        let rootfs = config.paths.rootfs.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let stat: Arc<StatFn> = Arc::new(move |p: &Path| {
            let on_statvfs_thread = std::thread::current().name() == Some("statvfs");
            let mp = format!("/{}", p.strip_prefix(&rootfs).unwrap().display());
            s.lock().unwrap().push((mp, on_statvfs_thread));
            Ok(sizes())
        });
        let body = scrape_of(
            "filesystem",
            Box::new(FilesystemCollector::new(&config, stat).unwrap()),
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"filesystem\"} 1\n"));
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        let expect = |mp: &str, thread: bool| (mp.to_string(), thread);
        assert_eq!(
            seen,
            [
                expect("/", false),
                expect("/mnt", true),
                // ext4, but the walk to it passes the NFS mount.
                expect("/mnt/data", true),
                expect("/run", false),
                // xfs, but an sshfs mount sits on the same mount point.
                expect("/run/x", true),
                expect("/run/x", true),
                expect("/srv", true),
            ]
        );
    }

    /// What the server runs: while statvfs hangs, the scrape only waits, so the (single)
    /// runtime thread keeps serving other tasks; a mount that does not answer within the
    /// timeout is reported as an error, the others are measured.
    #[tokio::test(flavor = "current_thread")]
    async fn the_async_scrape_waits_for_a_hung_mount_without_blocking_its_thread() {
        let dir = tree(&[(
            "proc/1/mounts",
            b"/dev/vda1 / ext4 rw 0 0\nnfs:/a /hung nfs4 rw 0 0\n/dev/vdb /srv xfs rw 0 0\n",
        )]);
        let mut config = config_for(dir.path());
        config.options.set(&MOUNT_TIMEOUT, vec!["60s".into()]);
        let (entered_tx, mut entered_rx) = tokio::sync::mpsc::unbounded_channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(Some(release_rx));
        let stat: Arc<StatFn> = Arc::new(move |p: &Path| {
            if p.ends_with("hung") {
                let _ = entered_tx.send(());
                if let Some(rx) = release_rx.lock().unwrap().take() {
                    let _ = rx.recv_timeout(Duration::from_secs(120));
                }
            }
            Ok(sizes())
        });
        let scraper = Arc::new(scraper_of(
            "filesystem",
            Box::new(FilesystemCollector::new(&config, stat).unwrap()),
        ));
        let scrape = tokio::spawn({
            let scraper = Arc::clone(&scraper);
            async move { String::from_utf8(scraper.scrape_async().await).unwrap() }
        });
        // This test runs on the same single thread as the scrape: it gets here only because
        // the scrape is suspended while statvfs hangs.
        assert_eq!(entered_rx.recv().await, Some(()));
        assert!(!scrape.is_finished());
        release_tx.send(()).unwrap();
        let body = scrape.await.unwrap();
        assert!(body.contains("node_filesystem_size_bytes{device=\"nfs:/a\",fstype=\"nfs4\",mountpoint=\"/hung\"} 1000\n"), "{body}");
        assert!(body.contains("node_filesystem_device_error{device=\"/dev/vdb\",fstype=\"xfs\",mountpoint=\"/srv\"} 0\n"), "{body}");

        // Now one that never answers in time: error for it, sizes for the others.
        config.options.set(&MOUNT_TIMEOUT, vec!["200ms".into()]);
        let (_keep_hung, hung_rx) = mpsc::channel::<()>();
        let hung_rx = Mutex::new(hung_rx);
        let stat: Arc<StatFn> = Arc::new(move |p: &Path| {
            if p.ends_with("hung") {
                let _ = hung_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(30));
            }
            Ok(sizes())
        });
        let scraper = scraper_of(
            "filesystem",
            Box::new(FilesystemCollector::new(&config, stat).unwrap()),
        );
        let body = String::from_utf8(scraper.scrape_async().await).unwrap();
        assert!(body.contains("node_filesystem_device_error{device=\"nfs:/a\",fstype=\"nfs4\",mountpoint=\"/hung\"} 1\n"), "{body}");
        assert!(body.contains("node_filesystem_size_bytes{device=\"/dev/vdb\",fstype=\"xfs\",mountpoint=\"/srv\"} 1000\n"), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"filesystem\"} 1\n"));
    }

    #[test]
    fn statvfs_bounded_reports_real_sizes_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let stats = statvfs_bounded(dir.path(), Duration::from_secs(30)).unwrap();
        assert!(stats.size_bytes > 0 && stats.size_bytes >= stats.free_bytes);
        let missing = dir.path().join("missing");
        let err = statvfs_bounded(&missing, Duration::from_secs(30)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "statvfs {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
    }
}
