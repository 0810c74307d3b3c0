//! cpu: `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}`
//! from the `cpuN` lines of `<procfs>/stat`.

use std::path::PathBuf;
use std::sync::Mutex;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family};
use super::{CollectError, Collector, Config, ConfigError, ParseError, parse_num, read_with};

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
}

/// Parses `/proc/stat`. Lines it does not know (`softirq`, `page`...) are skipped.
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

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(CpuCollector {
        path: config.paths.procfs.join("stat"),
        state: Mutex::new(State::default()),
    }))
}

struct CpuCollector {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The highest value seen per CPU (indexed by CPU number): counters never go backwards,
    /// as node_exporter guarantees.
    last: Vec<Option<CpuTimes>>,
    /// `"0"`, `"1"`, ... rendered once.
    labels: Vec<String>,
}

impl Collector for CpuCollector {
    fn update(&self, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        read_with(&self.path, |data| {
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
