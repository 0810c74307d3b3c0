//! cpu: `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}`
//! from the `cpuN` lines of `<procfs>/stat`.

use std::path::PathBuf;
use std::sync::Mutex;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family};
use super::{CollectorSpec, CollectError, Collector, Config, ConfigError, ParseError, Shared, parse_num};

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

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "cpu",
    default_enabled: true,
    help: "CPU time per mode from /proc/stat",
    flags: &[],
    build,
};

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
    fn update(&self, shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
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
    use super::super::testutil::{config_for, samples, scrape_of, tree};
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
