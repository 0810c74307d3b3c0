//! The collector layer: one file per collector, each declaring its `SPEC` (name, flags, builder),
//! and one name per collector in the `collectors!` list.
//!
//! A [`Scraper`] is built once at start-up from a [`Config`]; every call to
//! [`Scraper::scrape`] reads the enabled collectors' files and returns one OpenMetrics body.

mod encode;
mod read;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

pub use encode::to_text_format;
pub(crate) use read::{Shared, read_attr, read_with};

/// The Content-Type of [`Scraper::scrape`]'s output.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The Content-Type of [`to_text_format`]'s output, as node_exporter sends it.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where the host's trees are mounted (`--path.procfs|sysfs|rootfs|udev.data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub procfs: PathBuf,
    pub sysfs: PathBuf,
    pub rootfs: PathBuf,
    /// udev's database (`--path.udev.data`), for disk serials and device-mapper names.
    pub udev_data: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
            udev_data: PathBuf::from("/run/udev/data"),
        }
    }
}

/// Options of the filesystem collector (node_exporter's flag names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesystemOptions {
    /// Regex of mount points to ignore (`--collector.filesystem.mount-points-exclude`).
    pub mount_points_exclude: String,
    /// Regex of filesystem types to ignore (`--collector.filesystem.fs-types-exclude`).
    pub fs_types_exclude: String,
    /// Longest a statvfs may take before the mount counts as hung
    /// (`--collector.filesystem.mount-timeout`).
    pub statfs_timeout: Duration,
}

impl FilesystemOptions {
    pub const MOUNT_POINTS_EXCLUDE_FLAG: &'static str =
        "--collector.filesystem.mount-points-exclude";
    pub const FS_TYPES_EXCLUDE_FLAG: &'static str = "--collector.filesystem.fs-types-exclude";
    pub const MOUNT_TIMEOUT_FLAG: &'static str = "--collector.filesystem.mount-timeout";
    pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &'static str =
        "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
    pub const DEFAULT_FS_TYPES_EXCLUDE: &'static str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";
    pub const DEFAULT_STATFS_TIMEOUT: Duration = Duration::from_secs(5);
}

impl Default for FilesystemOptions {
    fn default() -> Self {
        FilesystemOptions {
            mount_points_exclude: Self::DEFAULT_MOUNT_POINTS_EXCLUDE.to_owned(),
            fs_types_exclude: Self::DEFAULT_FS_TYPES_EXCLUDE.to_owned(),
            statfs_timeout: Self::DEFAULT_STATFS_TIMEOUT,
        }
    }
}

/// Options of the diskstats collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskstatsOptions {
    /// Regex of devices to ignore (`--collector.diskstats.device-exclude`).
    pub device_exclude: String,
}

impl DiskstatsOptions {
    pub const DEVICE_EXCLUDE_FLAG: &'static str = "--collector.diskstats.device-exclude";
    pub const DEFAULT_DEVICE_EXCLUDE: &'static str =
        r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";
}

impl Default for DiskstatsOptions {
    fn default() -> Self {
        DiskstatsOptions {
            device_exclude: Self::DEFAULT_DEVICE_EXCLUDE.to_owned(),
        }
    }
}

/// Everything a [`Scraper`] needs; `Config::default()` is node_exporter's default set-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub paths: Paths,
    /// Names (from [`specs`]) of the collectors to run.
    pub enabled: BTreeSet<String>,
    pub filesystem: FilesystemOptions,
    pub diskstats: DiskstatsOptions,
    pub logins: logins::LoginsOptions,
    pub tunnel: tunnel::TunnelOptions,
    /// The values of the collectors' own [`FlagSpec`]s.
    pub options: Options,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            paths: Paths::default(),
            enabled: specs()
                .iter()
                .filter(|s| s.default_enabled)
                .map(|s| s.name.to_owned())
                .collect(),
            filesystem: FilesystemOptions::default(),
            diskstats: DiskstatsOptions::default(),
            logins: logins::LoginsOptions::default(),
            tunnel: tunnel::TunnelOptions::default(),
            options: Options::default(),
        }
    }
}

/// One collector as the command line sees it: `--collector.<name>` / `--no-collector.<name>`,
/// plus its own flags. Each collector's file declares its `SPEC`.
#[derive(Clone, Copy)]
pub struct CollectorSpec {
    pub name: &'static str,
    pub default_enabled: bool,
    pub help: &'static str,
    /// The collector's own flags (`--collector.<name>.<option>`), generated by the CLI.
    pub flags: &'static [FlagSpec],
    build: Builder,
}

/// One collector-specific flag, declared next to the code that reads it. The CLI turns it into
/// a flag with a `VPSMON_*` env var; the collector reads it from [`Config::options`].
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    /// With its dashes, as users type it and errors name it: `--collector.netstat.fields`.
    pub name: &'static str,
    pub help: &'static str,
    pub kind: FlagKind,
    /// Checks a value when the command line is parsed, so a bad one stops the start naming
    /// the flag (the collector's build parses it again, knowing it is valid).
    pub check: Option<FlagCheck>,
}

/// Checks one value of a flag; the error says what is wrong with it.
pub type FlagCheck = fn(&str) -> Result<(), String>;

/// A [`FlagSpec::check`] for counts of at least 1.
pub fn positive_integer(s: &str) -> Result<(), String> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(()),
        _ => Err(format!("{s:?} is not a whole number of at least 1")),
    }
}

/// What a [`FlagSpec`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// One value, with its default (node_exporter's).
    Value { default: &'static str },
    /// `--x`, `--x=false` or `--no-x`, as node_exporter's kingpin bools.
    Switch { default: bool },
    /// May be given more than once; the default is none.
    Repeated,
}

impl FlagSpec {
    pub const fn value(name: &'static str, default: &'static str, help: &'static str) -> Self {
        FlagSpec {
            name,
            help,
            kind: FlagKind::Value { default },
            check: None,
        }
    }

    pub const fn switch(name: &'static str, default: bool, help: &'static str) -> Self {
        FlagSpec {
            name,
            help,
            kind: FlagKind::Switch { default },
            check: None,
        }
    }

    pub const fn repeated(name: &'static str, help: &'static str) -> Self {
        FlagSpec {
            name,
            help,
            kind: FlagKind::Repeated,
            check: None,
        }
    }

    /// Adds a check run on the value when the command line is parsed.
    pub const fn checked(self, check: FlagCheck) -> Self {
        FlagSpec {
            check: Some(check),
            ..self
        }
    }
}

/// The values given for collectors' [`FlagSpec`]s; a flag not given reads as its default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options(std::collections::BTreeMap<&'static str, Vec<String>>);

impl Options {
    /// Sets a flag's value(s), replacing what it had.
    pub fn set(&mut self, flag: &FlagSpec, values: Vec<String>) {
        self.0.insert(flag.name, values);
    }

    /// A [`FlagKind::Value`] flag's value.
    pub fn value<'a>(&'a self, flag: &FlagSpec) -> &'a str {
        match (self.0.get(flag.name).and_then(|v| v.last()), flag.kind) {
            (Some(v), _) => v,
            (None, FlagKind::Value { default }) => default,
            (None, _) => "",
        }
    }

    /// A [`FlagKind::Switch`] flag's value.
    pub fn switch(&self, flag: &FlagSpec) -> bool {
        match (self.0.get(flag.name).and_then(|v| v.last()), flag.kind) {
            (Some(v), _) => v == "true",
            (None, FlagKind::Switch { default }) => default,
            (None, _) => false,
        }
    }

    /// A [`FlagKind::Repeated`] flag's values, in the order given.
    pub fn values<'a>(&'a self, flag: &FlagSpec) -> &'a [String] {
        self.0.get(flag.name).map_or(&[], Vec::as_slice)
    }
}

impl std::fmt::Debug for CollectorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorSpec")
            .field("name", &self.name)
            .field("default_enabled", &self.default_enabled)
            .field("help", &self.help)
            .finish()
    }
}

type Builder = fn(&Config) -> Result<Box<dyn Collector>, ConfigError>;

/// The one list of collectors, in output order. Adding a collector = one file + one line here.
pub fn specs() -> &'static [CollectorSpec] {
    &SPECS
}

/// The one list of collectors, in output order: `mod` + `SPEC` from one name each.
macro_rules! collectors {
    ($($name:ident),* $(,)?) => {
        $(pub mod $name;)*
        /// How many collectors [`SPECS`] lists.
        const N_COLLECTORS: usize = [$(stringify!($name)),*].len();
        static SPECS: [CollectorSpec; N_COLLECTORS] = [$($name::SPEC),*];
    };
}

// Adding a collector = its file (with its `SPEC` and flags) + its name here.
collectors! {
    cpu,
    diskstats,
    fibrechannel,
    filesystem,
    hwmon,
    loadavg,
    logins,
    meminfo,
    netdev,
    nfs,
    nfsd,
    os,
    ports,
    powersupplyclass,
    processes,
    rapl,
    stat,
    textfile,
    thermal_zone,
    time,
    tunnel,
    uname,
}

/// A configuration the exporter cannot start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{flag}: invalid regular expression {value:?}: {source}")]
    InvalidRegex {
        flag: &'static str,
        value: String,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("unknown collector {0:?} (known: {1})")]
    UnknownCollector(String, String),
    #[error("{flag}: {message}")]
    Invalid { flag: &'static str, message: String },
}

/// Compiles one flag's regex, naming the flag when it is not valid.
pub(crate) fn compile_regex(flag: &'static str, value: &str) -> Result<regex::Regex, ConfigError> {
    regex::Regex::new(value).map_err(|e| ConfigError::InvalidRegex {
        flag,
        value: value.to_owned(),
        source: Box::new(e),
    })
}

/// Why one collector produced nothing this scrape. The message names the file.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
    #[error("parsing {}: record at byte offset {offset}: {message}", path.display())]
    Record {
        path: PathBuf,
        offset: usize,
        message: String,
    },
    #[error("{found} series found, more than {flag}={max}: only the first {max} are exported")]
    Capped {
        flag: &'static str,
        max: usize,
        found: usize,
    },
    #[error("encoding the metrics failed")]
    Encode(#[from] std::fmt::Error),
    /// The host has no such hardware or feature (no /sys/class/hwmon, no NFS): logged at
    /// debug, and the collector counts as successful. node_exporter reports success 0 for its
    /// ErrNoData; here that would raise CollectorFailed on every VPS without the hardware
    /// (issue 15: a stock machine has no failing collector).
    #[error("no data: {0}")]
    NoData(String),
}

impl CollectError {
    pub(crate) fn parse(path: &Path, source: ParseError) -> CollectError {
        CollectError::Parse {
            path: path.to_owned(),
            source,
        }
    }
}

/// One collector. `update` reads and parses everything first and only then writes its
/// families, so a failure leaves no half-written family behind.
pub(crate) trait Collector: Send + Sync {
    /// `shared` holds the files more than one collector reads in this scrape (/proc/stat).
    fn update(&self, shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError>;

    /// The part of a scrape that may wait on the kernel for long (a hung mount's statvfs), as a
    /// future that waits without blocking its thread. [`Scraper::scrape_async`] awaits it before
    /// encoding and hands the result to `update` through [`Shared`]. Most collectors only read
    /// /proc and have none.
    fn prefetch(&self) -> Option<Prefetch<'_>> {
        None
    }

    /// Whether this collector runs after all the others, so that [`with_body`] shows it every
    /// family they wrote (textfile must not expose a family a collector already did).
    fn runs_last(&self) -> bool {
        false
    }
}

thread_local! {
    /// The body of the scrape being encoded on this thread. prometheus-client's encoder writes
    /// into it through [`BodyWriter`]; [`with_body`] lets a collector read what is written so
    /// far and write what the encoder cannot express (a parsed textfile's summaries).
    static BODY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The encoder's writer: appends to [`BODY`], held once per scrape (a thread-local lookup per
/// write would cost more than the push).
struct BodyWriter<'a>(&'a std::cell::RefCell<String>);

impl std::fmt::Write for BodyWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.borrow_mut().push_str(s);
        Ok(())
    }
}

/// The body of this thread's scrape as written so far, for a collector's `update` to read or
/// extend (it must not call the encoder from within `f`).
pub(crate) fn with_body<T>(f: impl FnOnce(&mut String) -> T) -> T {
    BODY.with_borrow_mut(f)
}

/// A collector's [`Collector::prefetch`].
pub(crate) type Prefetch<'a> = Pin<Box<dyn Future<Output = Prefetched> + Send + 'a>>;

/// What a [`Collector::prefetch`] measured.
#[derive(Debug)]
pub(crate) enum Prefetched {
    Filesystem(filesystem::Measured),
}

impl Prefetched {
    /// How long the prefetch took; it counts in the collector's scrape duration.
    fn took(&self) -> Duration {
        match self {
            Prefetched::Filesystem(m) => m.took,
        }
    }
}

thread_local! {
    /// The prefetches of the scrape about to be encoded on this thread, by entry index:
    /// `Registry` offers no way to pass them to `All::encode` as an argument.
    static PREFETCHED: std::cell::RefCell<Vec<(usize, Prefetched)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Failure logs are rate-limited to one per collector per this interval.
const WARN_INTERVAL: Duration = Duration::from_secs(60);

struct Entry {
    name: &'static str,
    collector: Box<dyn Collector>,
    last_warn: Mutex<Option<Instant>>,
}

/// Everything a scrape runs, registered as one prometheus-client collector.
struct All {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for All {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.entries.iter().map(|e| e.name).collect();
        f.debug_struct("All").field("collectors", &names).finish()
    }
}

impl prometheus_client::collector::Collector for All {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut outcomes = [(0.0f64, false); N_COLLECTORS];
        let shared = Shared::default();
        let mut prefetched: [Option<Prefetched>; N_COLLECTORS] = std::array::from_fn(|_| None);
        for (i, p) in PREFETCHED.take() {
            prefetched[i] = Some(p);
        }
        // Those that must see the others' families (textfile) run after all of them.
        for last in [false, true] {
            for (i, entry) in self.entries.iter().enumerate() {
                if entry.collector.runs_last() != last {
                    continue;
                }
                let start = Instant::now();
                let prefetched = prefetched[i].take();
                let took = prefetched.as_ref().map_or(Duration::ZERO, Prefetched::took);
                shared.set_prefetched(prefetched);
                let result = entry.collector.update(&shared, &mut enc);
                let ok = matches!(result, Ok(()) | Err(CollectError::NoData(_)));
                outcomes[i] = ((start.elapsed() + took).as_secs_f64(), ok);
                if let Err(err) = result {
                    entry.warn(&err);
                }
            }
        }
        let outcomes = &outcomes[..self.entries.len()];
        encode::meta(&mut enc, &self.entries, outcomes)
    }
}

impl Entry {
    fn warn(&self, err: &CollectError) {
        if let CollectError::NoData(_) = err {
            tracing::debug!(collector = self.name, error = %err, "collector returned no data");
            return;
        }
        let mut last = self.last_warn.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= WARN_INTERVAL) {
            *last = Some(now);
            tracing::warn!(collector = self.name, error = %err, "collector failed (logged at most once a minute)");
        }
    }
}

/// Runs the enabled collectors; built once, shared by every request (Send + Sync).
pub struct Scraper {
    config: Config,
    /// The collectors, also registered in `registry`.
    all: Arc<All>,
    registry: Registry,
    /// Size of the last body, so the next one is allocated once.
    last_len: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Scraper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scraper")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Scraper {
    /// Compiles the regexes and checks the collector names; an error names the offending flag.
    pub fn new(config: Config) -> Result<Scraper, ConfigError> {
        if let Some(unknown) = config
            .enabled
            .iter()
            .find(|n| !SPECS.iter().any(|s| s.name == n.as_str()))
        {
            let known: Vec<_> = SPECS.iter().map(|s| s.name).collect();
            return Err(ConfigError::UnknownCollector(
                unknown.clone(),
                known.join(", "),
            ));
        }
        let mut entries = Vec::new();
        for spec in SPECS.iter().filter(|s| config.enabled.contains(s.name)) {
            entries.push(Entry {
                name: spec.name,
                collector: (spec.build)(&config)?,
                last_warn: Mutex::new(None),
            });
        }
        Ok(Self::from_entries(config, entries))
    }

    fn from_entries(config: Config, entries: Vec<Entry>) -> Scraper {
        let all = Arc::new(All { entries });
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Arc::clone(&all)));
        Scraper {
            config,
            all,
            registry,
            last_len: std::sync::atomic::AtomicUsize::new(16 * 1024),
        }
    }

    /// The configuration this scraper was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// [`Scraper::scrape`] for a tokio task: what may wait on the kernel for long (statvfs) is
    /// awaited first, without blocking the thread, then the body is read and encoded
    /// synchronously (about 0.1 ms of /proc reads). This is what the server runs, on its
    /// runtime thread: no hand-off to another thread but the statvfs one. Needs a tokio runtime
    /// with timers.
    pub async fn scrape_async(&self) -> Vec<u8> {
        let mut prefetched = Vec::new();
        for (i, entry) in self.all.entries.iter().enumerate() {
            if let Some(prefetch) = entry.collector.prefetch() {
                prefetched.push((i, prefetch.await));
            }
        }
        // Taken by `All::encode` within the `scrape` below, on this thread.
        PREFETCHED.set(prefetched);
        self.scrape()
    }

    /// One full collection as an OpenMetrics text body. Never fails: a failing collector is
    /// reported through `node_scrape_collector_success{collector} 0`. Blocks while statvfs runs.
    pub fn scrape(&self) -> Vec<u8> {
        use std::sync::atomic::Ordering::Relaxed;
        let body = BODY.with(|cell| {
            *cell.borrow_mut() = String::with_capacity(self.last_len.load(Relaxed) + 1024);
            // Writing into a String cannot fail, and collectors report their own errors.
            let _ =
                prometheus_client::encoding::text::encode(&mut BodyWriter(cell), &self.registry);
            cell.take()
        });
        self.last_len.store(body.len(), Relaxed);
        body.into_bytes()
    }
}

/// What was wrong with a file's contents; the caller adds the file's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number (0 = the file as a whole).
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            message: message.into(),
        }
    }
}

/// Parses one whitespace-separated number, naming the field when it is not one.
pub(crate) fn parse_num<T: std::str::FromStr>(
    line: usize,
    what: &str,
    s: &str,
) -> Result<T, ParseError> {
    s.parse()
        .map_err(|_| ParseError::new(line, format!("{what}: {s:?} is not a number")))
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Helpers for the collectors' unit tests: a temporary tree and a one-collector scrape.

    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use super::{Collector, Config, Entry, Paths, Scraper};

    /// A temporary directory holding `files` (paths relative to it).
    pub(crate) fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, contents) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, contents).expect("write");
        }
        dir
    }

    /// procfs = `<dir>/proc`, sysfs = `<dir>/sys`, rootfs = `<dir>/rootfs`.
    pub(crate) fn config_for(dir: &Path) -> Config {
        Config {
            paths: Paths {
                procfs: dir.join("proc"),
                sysfs: dir.join("sys"),
                rootfs: dir.join("rootfs"),
                udev_data: dir.join("udev/data"),
            },
            ..Config::default()
        }
    }

    /// A scraper running only `collector`, reported under `name`.
    pub(crate) fn scraper_of(name: &'static str, collector: Box<dyn Collector>) -> Scraper {
        let entry = Entry {
            name,
            collector,
            last_warn: Mutex::new(None),
        };
        Scraper::from_entries(Config::default(), vec![entry])
    }

    /// One scrape of `collector` alone.
    pub(crate) fn scrape_of(name: &'static str, collector: Box<dyn Collector>) -> String {
        String::from_utf8(scraper_of(name, collector).scrape()).expect("UTF-8")
    }

    /// Log lines written while `f` runs on this thread.
    pub(crate) fn logs_of(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    /// The sample lines (no comments, no meta metrics) of a body.
    pub(crate) fn samples(body: &str) -> Vec<&str> {
        body.lines()
            .filter(|l| {
                !l.starts_with('#')
                    && !l.starts_with("node_scrape_collector_")
                    && !l.starts_with("vpsmon_exporter_build_info")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{config_for, logs_of, scraper_of, tree};
    use super::*;

    #[test]
    fn specs_are_unique_and_default_config_enables_the_defaults() {
        let names: BTreeSet<_> = specs().iter().map(|s| s.name).collect();
        assert_eq!(names.len(), specs().len());
        let config = Config::default();
        assert_eq!(
            config
                .enabled
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            [
                "cpu",
                "diskstats",
                "fibrechannel",
                "filesystem",
                "hwmon",
                "loadavg",
                "logins",
                "meminfo",
                "netdev",
                "nfs",
                "nfsd",
                "os",
                "powersupplyclass",
                "rapl",
                "stat",
                "textfile",
                "thermal_zone",
                "time",
                "uname"
            ]
        );
    }

    #[test]
    fn unknown_collector_is_a_config_error_listing_the_known_ones() {
        let mut config = Config::default();
        config.enabled.insert("cpufreq".into());
        let err = Scraper::new(config).unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown collector \"cpufreq\" (known: cpu, diskstats, fibrechannel, filesystem, hwmon, loadavg, logins, meminfo, netdev, nfs, nfsd, os, ports, powersupplyclass, processes, rapl, stat, textfile, thermal_zone, time, tunnel, uname)"
        );
    }

    #[test]
    fn bad_regex_names_the_flag() {
        let mut config = Config::default();
        config.filesystem.mount_points_exclude = "^/(dev".into();
        let err = Scraper::new(config).unwrap_err().to_string();
        assert!(
            err.starts_with("--collector.filesystem.mount-points-exclude: invalid regular expression \"^/(dev\": "),
            "{err}"
        );
        let mut config = Config::default();
        config.diskstats.device_exclude = "[".into();
        let err = Scraper::new(config).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "--collector.diskstats.device-exclude: invalid regular expression \"[\""
            ),
            "{err}"
        );
    }

    #[test]
    fn missing_file_error_names_the_file() {
        let dir = tree(&[]);
        let config = config_for(dir.path());
        let path = config.paths.procfs.join("loadavg");
        let err = read_with(&path, |_| Ok(())).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "reading {}: No such file or directory (os error 2)",
                path.display()
            )
        );
    }

    #[test]
    fn binary_garbage_is_a_parse_error_naming_the_file_and_line() {
        // Not UTF-8 is read as U+FFFD (one odd interface name must not cost the whole file);
        // garbage then fails the parse, which names the file and line.
        let dir = tree(&[("proc/meminfo", &[0xff, 0xfe, 0x00, 0x80, b'\n'])]);
        let config = config_for(dir.path());
        let path = config.paths.procfs.join("meminfo");
        let err = read_with(&path, |d| {
            meminfo::parse_meminfo(d)
                .map(|_| ())
                .map_err(|e| CollectError::parse(&path, e))
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            format!(
                "parsing {}: line 1: no ':' in \"\u{FFFD}\u{FFFD}\\0\u{FFFD}\"",
                path.display()
            )
        );
    }

    #[test]
    fn a_shared_file_is_read_once_and_its_error_repeats_for_each_reader() {
        let dir = tree(&[("proc/stat", b"cpu 1 2 3 4\n")]);
        let path = config_for(dir.path()).paths.procfs.join("stat");
        let shared = Shared::default();
        assert_eq!(shared.read_with(&path, |d| Ok(d.len())).unwrap(), 12);
        // Gone from disk, still served from this scrape's copy.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(shared.read_with(&path, |d| Ok(d.len())).unwrap(), 12);
        // A new scrape sees the missing file, every reader with the same message.
        let shared = Shared::default();
        let want = format!(
            "reading {}: No such file or directory (os error 2)",
            path.display()
        );
        for _ in 0..2 {
            let err = shared.read_with(&path, |_| Ok(())).unwrap_err();
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn one_scraper_serves_concurrent_scrapes() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Scraper>();
        let dir = tree(&[
            (
                "proc/1/mounts",
                b"/dev/vda1 / ext4 rw 0 0\nnfs:/x /srv nfs4 ro 0 0\n",
            ),
            ("proc/loadavg", b"0.21 0.37 0.39 1/719 19737\n"),
            ("rootfs/srv/.keep", b""),
        ]);
        let mut config = config_for(dir.path());
        config.enabled = ["filesystem", "loadavg"].map(String::from).into();
        let scraper = Arc::new(Scraper::new(config).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let scraper = Arc::clone(&scraper);
                std::thread::spawn(move || {
                    (0..25)
                        .map(|_| String::from_utf8(scraper.scrape()).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for t in threads {
            for body in t.join().unwrap() {
                assert!(body.contains("node_filesystem_readonly{device=\"nfs:/x\",fstype=\"nfs4\",mountpoint=\"/srv\"} 1\n"), "{body}");
                assert!(body.contains("node_filesystem_device_error{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"} 0\n"), "{body}");
                assert!(body.contains("node_load1 0.21\n"));
                assert!(body.ends_with("# EOF\n"));
            }
        }
    }

    #[test]
    fn a_failing_collector_logs_once_a_minute_naming_the_file_and_line() {
        let dir = tree(&[("proc/meminfo", b"MemTotal: 2014432 kB\nMemFree: lots kB\n")]);
        let config = config_for(dir.path());
        let collector = meminfo::build(&config).unwrap();
        let scraper = scraper_of("meminfo", collector);
        let mut bodies = Vec::new();
        let logs = logs_of(|| {
            for _ in 0..3 {
                bodies.push(String::from_utf8(scraper.scrape()).unwrap());
            }
        });
        let path = config.paths.procfs.join("meminfo");
        assert_eq!(
            logs,
            format!(
                " WARN vpsmon_exporter::collector: collector failed (logged at most once a minute) collector=\"meminfo\" error=parsing {}: line 2: MemFree: \"lots\" is not a number\n",
                path.display()
            )
        );
        for body in bodies {
            assert!(body.contains("node_scrape_collector_success{collector=\"meminfo\"} 0\n"));
            assert!(!body.contains("node_memory_"));
        }
    }
}
