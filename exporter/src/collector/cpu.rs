//! cpu: `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}`
//! from the `cpuN` lines of `<procfs>/stat`.

use std::path::PathBuf;
use std::sync::Mutex;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family, gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
    parse_num,
};

/// USER_HZ: the kernel reports CPU time in ticks of 1/100 s on every Linux architecture
/// userspace sees (the ABI fixes it; CONFIG_HZ does not change it).
pub const USER_HZ: f64 = 100.0;

/// The ten columns of a `cpu` line, in ticks of 1/[`USER_HZ`] s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
    pub guest: u64,
    pub guest_nice: u64,
}

impl CpuTimes {
    /// Sum of the non-guest columns (guest time is already inside user/nice).
    pub fn total(&self) -> u64 {
        self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
    }

    /// Ticks the CPU was not idle or waiting for I/O.
    pub fn busy(&self) -> u64 {
        self.total() - self.idle - self.iowait
    }
}

/// `/proc/stat`, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stat {
    /// The aggregate `cpu` line.
    pub total: CpuTimes,
    /// The `cpuN` lines: (N, times).
    pub cpus: Vec<(u32, CpuTimes)>,
    /// First column of `intr` (all interrupts since boot).
    pub intr: Option<u64>,
    pub ctxt: Option<u64>,
    /// Boot time, seconds since the epoch.
    pub btime: Option<u64>,
    /// Forks since boot.
    pub processes: Option<u64>,
    pub procs_running: Option<u64>,
    pub procs_blocked: Option<u64>,
    /// The `softirq` line after its total: calls per vector, in [`SOFTIRQ_VECTORS`] order.
    pub softirqs: Option<[u64; 10]>,
}

/// The vectors of the `softirq` line, named as node_exporter labels them.
pub const SOFTIRQ_VECTORS: [&str; 10] = [
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
];

/// Parses `/proc/stat`. Lines it does not know (`page`, `swap`...) are skipped.
pub fn parse_stat(data: &str) -> Result<Stat, ParseError> {
    let mut stat = Stat::default();
    let mut saw_cpu = false;
    for (i, line) in data.lines().enumerate() {
        let n = i + 1;
        let mut parts = line.split_ascii_whitespace();
        let Some(key) = parts.next() else { continue };
        if let Some(index) = key.strip_prefix("cpu") {
            let times = parse_cpu_times(n, key, parts)?;
            if index.is_empty() {
                stat.total = times;
                saw_cpu = true;
            } else {
                let index: u32 = parse_num(n, "cpu number", index)?;
                stat.cpus.push((index, times));
            }
            continue;
        }
        if key == "softirq" {
            let mut vectors = [0u64; 10];
            // The first column is the total, which the vectors add up to.
            let mut parts = parts.skip(1);
            for (k, slot) in vectors.iter_mut().enumerate() {
                let v = parts.next().ok_or_else(|| {
                    ParseError::new(n, format!("softirq: only {k} of 10 vectors"))
                })?;
                *slot = parse_num(n, "softirq", v)?;
            }
            stat.softirqs = Some(vectors);
            continue;
        }
        let slot = match key {
            "intr" => &mut stat.intr,
            "ctxt" => &mut stat.ctxt,
            "btime" => &mut stat.btime,
            "processes" => &mut stat.processes,
            "procs_running" => &mut stat.procs_running,
            "procs_blocked" => &mut stat.procs_blocked,
            _ => continue,
        };
        let value = parts
            .next()
            .ok_or_else(|| ParseError::new(n, format!("{key}: no value")))?;
        *slot = Some(parse_num(n, key, value)?);
    }
    if !saw_cpu {
        return Err(ParseError::new(0, "no \"cpu\" line"));
    }
    Ok(stat)
}

fn parse_cpu_times<'a>(
    n: usize,
    key: &str,
    mut parts: impl Iterator<Item = &'a str>,
) -> Result<CpuTimes, ParseError> {
    let mut cols = [0u64; 10];
    for (k, slot) in cols.iter_mut().enumerate() {
        match parts.next() {
            Some(s) => *slot = parse_num(n, key, s)?,
            // Kernels before 2.6.33 have fewer columns; the first four always exist.
            None if k >= 4 => break,
            None => return Err(ParseError::new(n, format!("{key}: only {k} columns"))),
        }
    }
    let [
        user,
        nice,
        system,
        idle,
        iowait,
        irq,
        softirq,
        steal,
        guest,
        guest_nice,
    ] = cols;
    Ok(CpuTimes {
        user,
        nice,
        system,
        idle,
        iowait,
        irq,
        softirq,
        steal,
        guest,
        guest_nice,
    })
}

/// If a CPU's idle time jumps back by this many ticks (3 s), it was hot-plugged: start over.
const JUMP_BACK_TICKS: u64 = 300;

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "cpu",
    default_enabled: true,
    help: "CPU time per mode from /proc/stat",
    flags: &[INFO, INFO_FLAGS_INCLUDE, INFO_BUGS_INCLUDE],
    build,
};

/// `--collector.cpu.info`: node_cpu_info (and node_cpu_frequency_hertz when cpufreq is on)
/// from /proc/cpuinfo, off by default as in node_exporter (reading it makes the kernel ask
/// every CPU for its clock).
pub const INFO: FlagSpec = FlagSpec::switch("--collector.cpu.info", false, "Enables metric cpu_info");
pub const INFO_FLAGS_INCLUDE: FlagSpec = FlagSpec::value(
    "--collector.cpu.info.flags-include",
    "",
    "Filter the `flags` field in cpuInfo with a value that must be a regular expression",
)
.checked(super::valid_regex);
pub const INFO_BUGS_INCLUDE: FlagSpec = FlagSpec::value(
    "--collector.cpu.info.bugs-include",
    "",
    "Filter the `bugs` field in cpuInfo with a value that must be a regular expression",
)
.checked(super::valid_regex);

/// One processor of `/proc/cpuinfo` (x86 layout), with what node_exporter labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuInfo<'a> {
    pub processor: &'a str,
    pub vendor: &'a str,
    pub family: &'a str,
    pub model: &'a str,
    pub model_name: &'a str,
    pub stepping: &'a str,
    pub microcode: &'a str,
    pub mhz: f64,
    pub cachesize: &'a str,
    pub package: &'a str,
    pub core: &'a str,
    pub flags: &'a str,
    pub bugs: &'a str,
}

/// Parses `/proc/cpuinfo`: one block per `processor` line. Unknown keys are ignored.
pub fn parse_cpuinfo(data: &str) -> Result<Vec<CpuInfo<'_>>, ParseError> {
    let mut out: Vec<CpuInfo<'_>> = Vec::new();
    for (i, line) in data.lines().enumerate() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key == "processor" {
            out.push(CpuInfo {
                processor: value,
                ..CpuInfo::default()
            });
            continue;
        }
        let Some(cpu) = out.last_mut() else {
            return Err(ParseError::new(i + 1, format!("{key:?} before any \"processor\" line")));
        };
        match key {
            "vendor_id" => cpu.vendor = value,
            "cpu family" => cpu.family = value,
            "model" => cpu.model = value,
            "model name" => cpu.model_name = value,
            "stepping" => cpu.stepping = value,
            "microcode" => cpu.microcode = value,
            "cpu MHz" => cpu.mhz = parse_num(i + 1, key, value)?,
            "cache size" => cpu.cachesize = value,
            "physical id" => cpu.package = value,
            "core id" => cpu.core = value,
            "flags" => cpu.flags = value,
            "bugs" => cpu.bugs = value,
            _ => {}
        }
    }
    Ok(out)
}

/// What `--collector.cpu.info` and its filters ask for.
struct InfoOptions {
    path: PathBuf,
    /// node_cpu_frequency_hertz, which node_exporter adds only when cpufreq is enabled.
    frequency: bool,
    flags: Option<regex::Regex>,
    bugs: Option<regex::Regex>,
}

fn info_options(config: &Config) -> Result<Option<InfoOptions>, ConfigError> {
    let compile = |flag: &FlagSpec| -> Result<Option<regex::Regex>, ConfigError> {
        match config.options.value(flag) {
            "" => Ok(None),
            v => super::compile_regex(flag.name, v).map(Some),
        }
    };
    let (flags, bugs) = (compile(&INFO_FLAGS_INCLUDE)?, compile(&INFO_BUGS_INCLUDE)?);
    // As node_exporter: a filter turns the info on.
    if !config.options.switch(&INFO) && flags.is_none() && bugs.is_none() {
        return Ok(None);
    }
    Ok(Some(InfoOptions {
        path: config.paths.procfs.join("cpuinfo"),
        frequency: config.enabled.contains("cpufreq"),
        flags,
        bugs,
    }))
}

fn encode_info(opts: &InfoOptions, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
    super::read_with(&opts.path, |data| {
        let cpus = parse_cpuinfo(data).map_err(|e| CollectError::parse(&opts.path, e))?;
        let mut family = gauge_family(enc, "node_cpu_info", "CPU information from /proc/cpuinfo.")?;
        for c in &cpus {
            let labels = [
                ("cachesize", c.cachesize),
                ("core", c.core),
                ("cpu", c.processor),
                ("family", c.family),
                ("microcode", c.microcode),
                ("model", c.model),
                ("model_name", c.model_name),
                ("package", c.package),
                ("stepping", c.stepping),
                ("vendor", c.vendor),
            ];
            gauge(&mut family, &labels, 1u64)?;
        }
        if opts.frequency {
            let mut family = gauge_family(
                enc,
                "node_cpu_frequency_hertz",
                "CPU frequency in hertz from /proc/cpuinfo.",
            )?;
            for c in &cpus {
                let labels = [("core", c.core), ("cpu", c.processor), ("package", c.package)];
                gauge(&mut family, &labels, c.mhz * 1e6)?;
            }
        }
        let Some(first) = cpus.first() else { return Ok(()) };
        for (filter, values, name, label, help) in [
            (
                &opts.flags,
                first.flags,
                "node_cpu_flag_info",
                "flag",
                "The `flags` field of CPU information from /proc/cpuinfo taken from the first core.",
            ),
            (
                &opts.bugs,
                first.bugs,
                "node_cpu_bug_info",
                "bug",
                "The `bugs` field of CPU information from /proc/cpuinfo taken from the first core.",
            ),
        ] {
            let Some(filter) = filter else { continue };
            let mut family = gauge_family(enc, name, help)?;
            for v in values.split_ascii_whitespace().filter(|v| filter.is_match(v)) {
                gauge(&mut family, &[(label, v)], 1u64)?;
            }
        }
        Ok(())
    })
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let cpus = config.paths.sysfs.join("devices/system/cpu");
    // Read once, as node_exporter: isolation is set on the kernel command line.
    let isolated = match std::fs::read_to_string(cpus.join("isolated")) {
        Ok(list) => parse_cpu_list(&list).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cpu: unreadable list in devices/system/cpu/isolated");
            Vec::new()
        }),
        Err(_) => Vec::new(),
    };
    Ok(Box::new(CpuCollector {
        path: config.paths.procfs.join("stat"),
        info: info_options(config)?,
        cpus,
        isolated: isolated.iter().map(u32::to_string).collect(),
        state: Mutex::new(State::default()),
    }))
}

struct CpuCollector {
    path: PathBuf,
    /// Set by `--collector.cpu.info` or one of its filters.
    info: Option<InfoOptions>,
    /// `<sysfs>/devices/system/cpu`, for the thermal throttle counts.
    cpus: PathBuf,
    /// The isolated CPUs' numbers, rendered.
    isolated: Vec<String>,
    state: Mutex<State>,
}

/// Parses a kernel CPU list (`1,3-5,9`; empty when there is none).
pub fn parse_cpu_list(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let num = |x: &str| {
            x.parse::<u32>()
                .map_err(|_| format!("{x:?} in {:?} is not a CPU number", s.trim()))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a || b - a > 65536 {
                    return Err(format!("{part:?} is not a range of CPUs"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    Ok(out)
}

/// A one-number sysfs file, or `None` when it is missing or garbled (node_exporter skips it).
fn read_count(path: &std::path::Path) -> Option<u64> {
    super::read::read_optional_u64(path).ok().flatten()
}

/// What the cpu collector reads from `<sysfs>/devices/system/cpu/cpu*`.
#[derive(Debug, Default, PartialEq, Eq)]
struct SysCpus {
    /// Throttle counts per (package, core).
    cores: Vec<((u64, u64), u64)>,
    /// Throttle counts per package.
    packages: Vec<(u64, u64)>,
    /// (CPU number, online?), empty when the first CPU has no `online` file (x86's cpu0
    /// usually cannot go offline and has none), as node_exporter.
    online: Vec<(String, bool)>,
}

/// The files [`sys_cpus`] reads of one CPU, their paths joined once per listing.
struct CpuFiles {
    /// `cpu<N>`.
    name: String,
    online: PathBuf,
    core_throttles: PathBuf,
    package_throttles: PathBuf,
    package_id: PathBuf,
    core_id: PathBuf,
}

impl CpuFiles {
    fn of(cpus: &std::path::Path, name: String) -> CpuFiles {
        let dir = cpus.join(&name);
        CpuFiles {
            online: dir.join("online"),
            core_throttles: dir.join("thermal_throttle/core_throttle_count"),
            package_throttles: dir.join("thermal_throttle/package_throttle_count"),
            package_id: dir.join("topology/physical_package_id"),
            core_id: dir.join("topology/core_id"),
            name,
        }
    }
}

/// Walks the CPU directories once, in name order as node_exporter globs them. Thermal throttle
/// counts are kept per (package, core) and per package from the first CPU of each; a CPU
/// without `thermal_throttle` (every VM) costs two failed opens and no topology read.
fn sys_cpus(cpus: &std::path::Path, files: &mut Vec<CpuFiles>) -> SysCpus {
    let mut cores = std::collections::BTreeMap::new();
    let mut packages = std::collections::BTreeMap::new();
    let mut online = Vec::new();
    let Ok(names) = super::read::numbered_entries(cpus, "cpu") else {
        return SysCpus::default();
    };
    if !files.iter().map(|f| &f.name).eq(names.iter()) {
        *files = names.into_iter().map(|n| CpuFiles::of(cpus, n)).collect();
    }
    let mut with_online = true;
    for (i, cpu) in files.iter().enumerate() {
        if with_online {
            let state = super::read_with(&cpu.online, |d| Ok(d.trim() == "1"));
            match state {
                // No `online` on the first CPU: the kernel cannot offline CPUs here.
                Err(CollectError::Read { .. }) if i == 0 => with_online = false,
                // Unreadable or missing on another CPU: node_exporter says 0.
                s => online.push((cpu.name["cpu".len()..].to_owned(), s.unwrap_or(false))),
            }
        }
        let core_count = read_count(&cpu.core_throttles);
        let package_count = read_count(&cpu.package_throttles);
        if core_count.is_none() && package_count.is_none() {
            continue;
        }
        let (Some(package), Some(core)) = (read_count(&cpu.package_id), read_count(&cpu.core_id))
        else {
            continue;
        };
        if let Some(c) = core_count {
            cores.entry((package, core)).or_insert(c);
        }
        if let Some(c) = package_count {
            packages.entry(package).or_insert(c);
        }
    }
    SysCpus {
        cores: cores.into_iter().collect(),
        packages: packages.into_iter().collect(),
        online,
    }
}

#[derive(Default)]
struct State {
    /// The highest value seen per CPU (indexed by CPU number): counters never go backwards,
    /// as node_exporter guarantees.
    last: Vec<Option<CpuTimes>>,
    /// `"0"`, `"1"`, ... rendered once.
    labels: Vec<String>,
    /// What `sys_cpus` reads, for the CPUs it last found.
    cpu_files: Vec<CpuFiles>,
}

impl Collector for CpuCollector {
    fn update(&self, shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        if let Some(info) = &self.info {
            encode_info(info, enc)?;
        }
        shared.read_with(&self.path, |data| {
            let stat = parse_stat(data).map_err(|e| CollectError::parse(&self.path, e))?;
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let state = &mut *state;
            for &(cpu, times) in &stat.cpus {
                let i = cpu as usize;
                if state.last.len() <= i {
                    state.last.resize(i + 1, None);
                }
                while state.labels.len() <= i {
                    state.labels.push(state.labels.len().to_string());
                }
                state.last[i] = Some(monotonic(state.last[i], times));
            }
            let mut family = counter_family(
                enc,
                "node_cpu_seconds",
                "Seconds the CPUs spent in each mode.",
            )?;
            for &(cpu, _) in &stat.cpus {
                let i = cpu as usize;
                let Some(t) = state.last[i] else { continue };
                let label = state.labels[i].as_str();
                for (mode, ticks) in [
                    ("user", t.user),
                    ("nice", t.nice),
                    ("system", t.system),
                    ("idle", t.idle),
                    ("iowait", t.iowait),
                    ("irq", t.irq),
                    ("softirq", t.softirq),
                    ("steal", t.steal),
                ] {
                    counter(
                        &mut family,
                        &[("cpu", label), ("mode", mode)],
                        ticks as f64 / USER_HZ,
                    )?;
                }
            }
            let mut family = counter_family(
                enc,
                "node_cpu_guest_seconds",
                "Seconds the CPUs spent in guests (VMs) for each mode.",
            )?;
            for &(cpu, _) in &stat.cpus {
                let i = cpu as usize;
                let Some(t) = state.last[i] else { continue };
                let label = state.labels[i].as_str();
                // Guest time is also inside user and nice; node_exporter reports it as is.
                counter(
                    &mut family,
                    &[("cpu", label), ("mode", "user")],
                    t.guest as f64 / USER_HZ,
                )?;
                counter(
                    &mut family,
                    &[("cpu", label), ("mode", "nice")],
                    t.guest_nice as f64 / USER_HZ,
                )?;
            }
            if !self.isolated.is_empty() {
                let mut family = gauge_family(
                    enc,
                    "node_cpu_isolated",
                    "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
                )?;
                for cpu in &self.isolated {
                    gauge(&mut family, &[("cpu", cpu.as_str())], 1u64)?;
                }
            }
            let SysCpus {
                cores,
                packages,
                online,
            } = sys_cpus(&self.cpus, &mut state.cpu_files);
            if !cores.is_empty() {
                let mut family = counter_family(
                    enc,
                    "node_cpu_core_throttles",
                    "Number of times this CPU core has been throttled.",
                )?;
                for ((package, core), count) in cores {
                    let (core, package) = (core.to_string(), package.to_string());
                    let labels = [("core", core.as_str()), ("package", package.as_str())];
                    counter(&mut family, &labels, count)?;
                }
            }
            if !packages.is_empty() {
                let mut family = counter_family(
                    enc,
                    "node_cpu_package_throttles",
                    "Number of times this CPU package has been throttled.",
                )?;
                for (package, count) in packages {
                    let package = package.to_string();
                    counter(&mut family, &[("package", package.as_str())], count)?;
                }
            }
            if !online.is_empty() {
                let mut family = gauge_family(
                    enc,
                    "node_cpu_online",
                    "CPUs that are online and being scheduled.",
                )?;
                for (cpu, up) in &online {
                    gauge(&mut family, &[("cpu", cpu.as_str())], u64::from(*up))?;
                }
            }
            Ok(())
        })
    }
}

/// node_exporter's rule: each column keeps its highest value, and a CPU whose idle time went
/// back by more than [`JUMP_BACK_TICKS`] starts over (hot-plug).
fn monotonic(old: Option<CpuTimes>, new: CpuTimes) -> CpuTimes {
    let Some(old) = old else { return new };
    if old.idle.saturating_sub(new.idle) >= JUMP_BACK_TICKS {
        return new;
    }
    CpuTimes {
        user: old.user.max(new.user),
        nice: old.nice.max(new.nice),
        system: old.system.max(new.system),
        idle: old.idle.max(new.idle),
        iowait: old.iowait.max(new.iowait),
        irq: old.irq.max(new.irq),
        softirq: old.softirq.max(new.softirq),
        steal: old.steal.max(new.steal),
        guest: old.guest.max(new.guest),
        guest_nice: old.guest_nice.max(new.guest_nice),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, scraper_of, tree};
    use super::*;

    /// The head of node_exporter's real-machine fixture (8 CPUs).
    const REAL: &str = "cpu  301854 612 111922 8979004 3552 2 3944 0 44 36
cpu0 44490 19 21045 1087069 220 1 3410 0 2 1
cpu1 47869 23 16474 1110787 591 0 46 0 3 2
intr 8885917 17 0 0 0 0
ctxt 38014093
btime 1418183276
processes 26442
procs_running 2
procs_blocked 0
softirq 5057579 250191 1481983 1647 211099 186066 0 1783454 622196 12499 508444
";

    #[test]
    fn parses_a_real_stat() {
        let stat = parse_stat(REAL).unwrap();
        assert_eq!(stat.total.user, 301854);
        assert_eq!(stat.total.guest_nice, 36);
        assert_eq!(stat.cpus.len(), 2);
        assert_eq!(
            stat.cpus[1],
            (
                1,
                CpuTimes {
                    user: 47869,
                    nice: 23,
                    system: 16474,
                    idle: 1110787,
                    iowait: 591,
                    irq: 0,
                    softirq: 46,
                    steal: 0,
                    guest: 3,
                    guest_nice: 2
                }
            )
        );
        assert_eq!(stat.intr, Some(8885917));
        assert_eq!(stat.ctxt, Some(38014093));
        assert_eq!(stat.btime, Some(1418183276));
        assert_eq!(stat.processes, Some(26442));
        assert_eq!(stat.procs_running, Some(2));
        assert_eq!(stat.procs_blocked, Some(0));
        assert_eq!(
            stat.softirqs,
            Some([
                250191, 1481983, 1647, 211099, 186066, 0, 1783454, 622196, 12499, 508444
            ])
        );
        assert_eq!(stat.total.busy(), 301854 + 612 + 111922 + 2 + 3944);
    }

    #[test]
    fn old_kernels_with_fewer_columns_parse() {
        let stat = parse_stat("cpu 1 2 3 4\ncpu0 1 2 3 4 5 6 7\n").unwrap();
        assert_eq!(stat.cpus[0].1.softirq, 7);
        assert_eq!(stat.cpus[0].1.steal, 0);
    }

    #[test]
    fn hostile_stats_are_errors_with_line_numbers() {
        let cases = [
            ("", "line 0: no \"cpu\" line"),
            ("\0\0\0", "line 0: no \"cpu\" line"),
            ("cpu 1 2 3\n", "line 1: cpu: only 3 columns"),
            (
                "cpu 1 2 3 4\ncpu0 1 x 3 4\n",
                "line 2: cpu0: \"x\" is not a number",
            ),
            (
                "cpu 1 2 3 99999999999999999999999\n",
                "line 1: cpu: \"99999999999999999999999\" is not a number",
            ),
            (
                "cpu 1 2 3 4\ncpuX 1 2 3 4\n",
                "line 2: cpu number: \"X\" is not a number",
            ),
            ("cpu 1 2 3 4\nctxt\n", "line 2: ctxt: no value"),
            (
                "cpu 1 2 3 4\nsoftirq 10 1 2 3\n",
                "line 2: softirq: only 3 of 10 vectors",
            ),
            (
                "cpu 1 2 3 4\nbtime -5\n",
                "line 2: btime: \"-5\" is not a number",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_stat(input).unwrap_err().to_string(),
                want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn counters_never_go_backwards_but_hotplug_resets() {
        let t = |user, idle| CpuTimes {
            user,
            idle,
            ..CpuTimes::default()
        };
        // A counter that dips keeps its highest value.
        assert_eq!(monotonic(Some(t(100, 1000)), t(90, 1001)), t(100, 1001));
        // Idle back by 3 s or more: the CPU was replugged, take the new values.
        assert_eq!(monotonic(Some(t(100, 1000)), t(5, 700)), t(5, 700));
    }

    #[test]
    fn encodes_node_exporters_families_in_seconds() {
        let dir = tree(&[("proc/stat", REAL.as_bytes())]);
        let body = scrape_of("cpu", build(&config_for(dir.path())).unwrap());
        assert!(body.starts_with(
            "# HELP node_cpu_seconds Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds counter\n"
        ));
        assert_eq!(
            samples(&body),
            [
                "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 444.9",
                "node_cpu_seconds_total{cpu=\"0\",mode=\"nice\"} 0.19",
                "node_cpu_seconds_total{cpu=\"0\",mode=\"system\"} 210.45",
                "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 10870.69",
                "node_cpu_seconds_total{cpu=\"0\",mode=\"iowait\"} 2.2",
                "node_cpu_seconds_total{cpu=\"0\",mode=\"irq\"} 0.01",
                "node_cpu_seconds_total{cpu=\"0\",mode=\"softirq\"} 34.1",
                "node_cpu_seconds_total{cpu=\"0\",mode=\"steal\"} 0.0",
                "node_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 478.69",
                "node_cpu_seconds_total{cpu=\"1\",mode=\"nice\"} 0.23",
                "node_cpu_seconds_total{cpu=\"1\",mode=\"system\"} 164.74",
                "node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 11107.87",
                "node_cpu_seconds_total{cpu=\"1\",mode=\"iowait\"} 5.91",
                "node_cpu_seconds_total{cpu=\"1\",mode=\"irq\"} 0.0",
                "node_cpu_seconds_total{cpu=\"1\",mode=\"softirq\"} 0.46",
                "node_cpu_seconds_total{cpu=\"1\",mode=\"steal\"} 0.0",
                "node_cpu_guest_seconds_total{cpu=\"0\",mode=\"user\"} 0.02",
                "node_cpu_guest_seconds_total{cpu=\"0\",mode=\"nice\"} 0.01",
                "node_cpu_guest_seconds_total{cpu=\"1\",mode=\"user\"} 0.03",
                "node_cpu_guest_seconds_total{cpu=\"1\",mode=\"nice\"} 0.02",
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"cpu\"} 1\n"));
    }

    #[test]
    fn isolated_cpus_and_thermal_throttles_as_node_exporter() {
        let t = "sys/devices/system/cpu/";
        let mut files: Vec<(String, &[u8])> = vec![
            ("proc/stat".into(), REAL.as_bytes()),
            (format!("{t}isolated"), b"1,3-5,9\n"),
        ];
        // node_exporter's fixture: cpu0/cpu2 on package 0, cpu1/cpu3 on package 1.
        for (cpu, package, core, core_count, package_count) in [
            ("cpu0", "0", "0", "5", "30"),
            ("cpu1", "1", "0", "0", "6"),
            ("cpu2", "0", "1", "0", "30"),
            ("cpu3", "1", "1", "9", "6"),
        ] {
            let d = format!("{t}{cpu}/");
            for (f, v) in [
                ("topology/physical_package_id", package),
                ("topology/core_id", core),
                ("thermal_throttle/core_throttle_count", core_count),
                ("thermal_throttle/package_throttle_count", package_count),
            ] {
                files.push((format!("{d}{f}"), v.as_bytes()));
            }
        }
        // A VM's CPU: topology, no thermal_throttle.
        files.push((format!("{t}cpu4/topology/core_id"), b"0"));
        let files: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
        let dir = tree(&files);
        let body = scrape_of("cpu", build(&config_for(dir.path())).unwrap());
        let lines: Vec<_> = samples(&body)
            .into_iter()
            .filter(|l| !l.starts_with("node_cpu_seconds") && !l.starts_with("node_cpu_guest"))
            .collect();
        assert_eq!(
            lines,
            [
                "node_cpu_isolated{cpu=\"1\"} 1",
                "node_cpu_isolated{cpu=\"3\"} 1",
                "node_cpu_isolated{cpu=\"4\"} 1",
                "node_cpu_isolated{cpu=\"5\"} 1",
                "node_cpu_isolated{cpu=\"9\"} 1",
                "node_cpu_core_throttles_total{core=\"0\",package=\"0\"} 5",
                "node_cpu_core_throttles_total{core=\"1\",package=\"0\"} 0",
                "node_cpu_core_throttles_total{core=\"0\",package=\"1\"} 0",
                "node_cpu_core_throttles_total{core=\"1\",package=\"1\"} 9",
                "node_cpu_package_throttles_total{package=\"0\"} 30",
                "node_cpu_package_throttles_total{package=\"1\"} 6",
            ]
        );
        assert!(body.contains("# HELP node_cpu_isolated Whether each core is isolated, information from /sys/devices/system/cpu/isolated.\n# TYPE node_cpu_isolated gauge\n"));
        assert!(body.contains("# HELP node_cpu_core_throttles Number of times this CPU core has been throttled.\n# TYPE node_cpu_core_throttles counter\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"cpu\"} 1\n"));
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<u32>::new());
        assert_eq!(parse_cpu_list("0-2,7").unwrap(), [0, 1, 2, 7]);
        assert_eq!(
            parse_cpu_list("2-x").unwrap_err(),
            "\"x\" in \"2-x\" is not a CPU number"
        );
        assert_eq!(parse_cpu_list("5-1").unwrap_err(), "\"5-1\" is not a range of CPUs");
    }

    /// The `node_cpu_online` lines of a body.
    fn online_lines(body: &str) -> Vec<String> {
        samples(body)
            .into_iter()
            .filter(|l| l.starts_with("node_cpu_online"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn online_cpus_only_where_the_first_cpu_has_the_file() {
        let t = "sys/devices/system/cpu/";
        let online = |files: &[(&str, &[u8])]| -> Vec<String> {
            let mut all: Vec<(String, &[u8])> = vec![("proc/stat".into(), REAL.as_bytes())];
            all.extend(files.iter().map(|(p, c)| (format!("{t}{p}"), *c)));
            let all: Vec<(&str, &[u8])> = all.iter().map(|(p, c)| (p.as_str(), *c)).collect();
            let dir = tree(&all);
            online_lines(&scrape_of("cpu", build(&config_for(dir.path())).unwrap()))
        };
        assert_eq!(
            online(&[
                ("cpu0/online", b"1\n"),
                ("cpu1/online", b"0\n"),
                ("cpu2/topology/core_id", b"2\n"),
            ]),
            [
                "node_cpu_online{cpu=\"0\"} 1",
                "node_cpu_online{cpu=\"1\"} 0",
                "node_cpu_online{cpu=\"2\"} 0",
            ]
        );
        // x86: cpu0 cannot go offline and has no `online` file, so there is no family.
        assert!(online(&[("cpu0/topology/core_id", b"0\n"), ("cpu1/online", b"1\n")]).is_empty());
    }

    /// The CPUs' paths are kept between scrapes: a CPU that appears (hotplug) is read from
    /// the next scrape on, and one that goes is no longer asked about.
    #[test]
    fn a_cpu_that_comes_or_goes_is_followed() {
        let t = "sys/devices/system/cpu";
        let dir = tree(&[
            ("proc/stat", REAL.as_bytes()),
            (&format!("{t}/cpu0/online"), b"1\n"),
            (&format!("{t}/cpu1/online"), b"0\n"),
        ]);
        let scraper = scraper_of("cpu", build(&config_for(dir.path())).unwrap());
        let online = || online_lines(&String::from_utf8(scraper.scrape()).unwrap());
        assert_eq!(
            online(),
            ["node_cpu_online{cpu=\"0\"} 1", "node_cpu_online{cpu=\"1\"} 0"]
        );
        std::fs::create_dir_all(dir.path().join(format!("{t}/cpu2"))).unwrap();
        std::fs::write(dir.path().join(format!("{t}/cpu2/online")), "1\n").unwrap();
        std::fs::write(dir.path().join(format!("{t}/cpu1/online")), "1\n").unwrap();
        assert_eq!(
            online(),
            [
                "node_cpu_online{cpu=\"0\"} 1",
                "node_cpu_online{cpu=\"1\"} 1",
                "node_cpu_online{cpu=\"2\"} 1",
            ]
        );
        std::fs::remove_dir_all(dir.path().join(format!("{t}/cpu1"))).unwrap();
        assert_eq!(
            online(),
            ["node_cpu_online{cpu=\"0\"} 1", "node_cpu_online{cpu=\"2\"} 1"]
        );
    }

    /// The first processor of node_exporter's fixture `proc/cpuinfo`, and a second one.
    const CPUINFO: &str = "processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 142
model name\t: Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz
stepping\t: 10
microcode\t: 0xb4
cpu MHz\t\t: 799.998
cache size\t: 8192 KB
physical id\t: 0
siblings\t: 8
core id\t\t: 0
flags\t\t: fpu vme constant_tsc aes xsave avx f16c avx2 avx512f
bugs\t\t: cpu_meltdown spectre_v1 spectre_v2 spec_store_bypass l1tf mds swapgs
power management:

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 142
model name\t: Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz
stepping\t: 10
microcode\t: 0xb4
cpu MHz\t\t: 800.037
cache size\t: 8192 KB
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu
bugs\t\t: mds
";

    fn info_lines(config: &mut Config) -> Vec<String> {
        let body = scrape_of("cpu", build(config).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"cpu\"} 1\n"), "{body}");
        samples(&body)
            .into_iter()
            .filter(|l| !l.starts_with("node_cpu_seconds") && !l.starts_with("node_cpu_guest"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn cpu_info_behind_its_flags_as_node_exporter() {
        let dir = tree(&[("proc/stat", REAL.as_bytes()), ("proc/cpuinfo", CPUINFO.as_bytes())]);
        let mut config = config_for(dir.path());
        assert!(info_lines(&mut config).is_empty(), "off by default");
        config.options.set(&INFO_FLAGS_INCLUDE, vec!["^(aes|avx.?|constant_tsc)$".into()]);
        config.options.set(&INFO_BUGS_INCLUDE, vec!["^(cpu_meltdown|spectre_.*|mds)$".into()]);
        let info = "cachesize=\"8192 KB\",core=\"0\",cpu=\"0\",family=\"6\",microcode=\"0xb4\",model=\"142\",model_name=\"Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz\",package=\"0\",stepping=\"10\",vendor=\"GenuineIntel\"";
        // A filter turns the info on; cpufreq is on by default, so the frequency comes too.
        assert_eq!(
            info_lines(&mut config),
            [
                format!("node_cpu_info{{{info}}} 1"),
                format!("node_cpu_info{{{}}} 1", info.replace("core=\"0\",cpu=\"0\"", "core=\"1\",cpu=\"1\"")),
                "node_cpu_frequency_hertz{core=\"0\",cpu=\"0\",package=\"0\"} 799998000.0".into(),
                "node_cpu_frequency_hertz{core=\"1\",cpu=\"1\",package=\"0\"} 800037000.0".into(),
                "node_cpu_flag_info{flag=\"constant_tsc\"} 1".into(),
                "node_cpu_flag_info{flag=\"aes\"} 1".into(),
                "node_cpu_flag_info{flag=\"avx\"} 1".into(),
                "node_cpu_flag_info{flag=\"avx2\"} 1".into(),
                "node_cpu_bug_info{bug=\"cpu_meltdown\"} 1".into(),
                "node_cpu_bug_info{bug=\"spectre_v1\"} 1".into(),
                "node_cpu_bug_info{bug=\"spectre_v2\"} 1".into(),
                "node_cpu_bug_info{bug=\"mds\"} 1".into(),
            ]
        );
        // --collector.cpu.info alone, without cpufreq: no filters, no frequency.
        let mut config = config_for(dir.path());
        config.options.set(&INFO, vec!["true".into()]);
        config.enabled.remove("cpufreq");
        let lines = info_lines(&mut config);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.iter().all(|l| l.starts_with("node_cpu_info{")));
        let mut config = config_for(dir.path());
        config.options.set(&INFO_BUGS_INCLUDE, vec!["(".into()]);
        let err = build(&config).err().unwrap().to_string();
        assert!(err.starts_with("--collector.cpu.info.bugs-include: invalid regular expression"), "{err}");
        assert_eq!(
            parse_cpuinfo("model : 1\n").unwrap_err().to_string(),
            "line 1: \"model\" before any \"processor\" line"
        );
    }

    #[test]
    fn a_counter_that_dips_between_scrapes_is_reported_at_its_high() {
        let dir = tree(&[("proc/stat", b"cpu 10 0 0 500\ncpu0 10 0 0 500\n")]);
        let scraper =
            super::super::testutil::scraper_of("cpu", build(&config_for(dir.path())).unwrap());
        scraper.scrape();
        std::fs::write(
            dir.path().join("proc/stat"),
            "cpu 9 0 0 501\ncpu0 9 0 0 501\n",
        )
        .unwrap();
        let body = String::from_utf8(scraper.scrape()).unwrap();
        assert!(
            body.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 0.1\n"),
            "{body}"
        );
        assert!(
            body.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 5.01\n"),
            "{body}"
        );
    }
}
