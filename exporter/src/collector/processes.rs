//! processes: node_exporter's processes collector — `node_processes_pids`,
//! `node_processes_threads`, `node_processes_state{state}`, `node_processes_max_processes`,
//! `node_processes_max_threads` — from `<procfs>/<pid>/stat` and `<procfs>/sys/kernel/`.
//!
//! Off by default, as in node_exporter: it reads one file per process on every scrape, so its
//! cost grows with the process count while the other collectors read a fixed dozen files.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family, single_gauge};
use super::{CollectorSpec, 
    CollectError, Collector, Config, ConfigError, ParseError, Shared, parse_num, read_with,
};

/// What one `/proc/<pid>/stat` contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// The one-letter state (`R`, `S`, `D`, `Z`, `T`, `t`, `X`, `I`, …).
    pub state: char,
    pub num_threads: u64,
}

/// Parses `/proc/<pid>/stat`. The command name is in parentheses and may itself hold spaces,
/// parentheses and any bytes, so the fields are counted from the last `)`.
pub fn parse_stat(data: &[u8]) -> Result<ProcStat, ParseError> {
    let close = data
        .iter()
        .rposition(|&b| b == b')')
        .ok_or_else(|| ParseError::new(1, "no ')' after the command name"))?;
    let rest = std::str::from_utf8(&data[close + 1..])
        .map_err(|_| ParseError::new(1, "fields after the command name are not UTF-8"))?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields
        .next()
        .and_then(|s| {
            let mut c = s.chars();
            c.next().filter(|_| c.next().is_none())
        })
        .ok_or_else(|| ParseError::new(1, "missing or malformed state"))?;
    // After the state: ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime
    // stime cutime cstime priority nice num_threads (field 20 of proc(5)).
    let threads = fields
        .nth(16)
        .ok_or_else(|| ParseError::new(1, "missing num_threads"))?;
    Ok(ProcStat {
        state,
        num_threads: parse_num(1, "num_threads", threads)?,
    })
}

/// Totals over all processes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub pids: u64,
    pub threads: u64,
    pub states: BTreeMap<char, u64>,
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "processes",
    default_enabled: false,
    help: "Process and thread counts by state from /proc/<pid>/stat",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let procfs = config.paths.procfs.clone();
    Ok(Box::new(ProcessesCollector {
        pid_max: procfs.join("sys/kernel/pid_max"),
        threads_max: procfs.join("sys/kernel/threads-max"),
        procfs,
    }))
}

struct ProcessesCollector {
    procfs: PathBuf,
    pid_max: PathBuf,
    threads_max: PathBuf,
}

/// Whether a read failed because the process went away between listing and reading.
fn vanished(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// Walks `<procfs>/<pid>/stat` for every numeric entry.
pub fn totals(procfs: &Path) -> Result<Totals, CollectError> {
    let read_err = |path: &Path, source| CollectError::Read {
        path: path.to_owned(),
        source,
    };
    let mut totals = Totals::default();
    let mut buf = Vec::with_capacity(1024);
    for entry in std::fs::read_dir(procfs).map_err(|e| read_err(procfs, e))? {
        let entry = entry.map_err(|e| read_err(procfs, e))?;
        let name = entry.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        let path = entry.path().join("stat");
        buf.clear();
        match std::fs::File::open(&path).and_then(|mut f| f.read_to_end(&mut buf)) {
            Ok(_) => {}
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(read_err(&path, e)),
        }
        let stat = parse_stat(&buf).map_err(|e| CollectError::parse(&path, e))?;
        totals.pids += 1;
        totals.threads += stat.num_threads;
        *totals.states.entry(stat.state).or_default() += 1;
    }
    Ok(totals)
}

fn read_u64(path: &Path) -> Result<u64, CollectError> {
    read_with(path, |data| {
        parse_num(1, "value", data.trim()).map_err(|e| CollectError::parse(path, e))
    })
}

impl Collector for ProcessesCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let totals = totals(&self.procfs)?;
        let threads_max = read_u64(&self.threads_max)?;
        let pid_max = read_u64(&self.pid_max)?;
        single_gauge(
            enc,
            "node_processes_threads",
            "Allocated threads in system",
            totals.threads,
        )?;
        single_gauge(
            enc,
            "node_processes_max_threads",
            "Limit of threads in the system",
            threads_max,
        )?;
        let mut family = gauge_family(
            enc,
            "node_processes_state",
            "Number of processes in each state.",
        )?;
        let mut state = [0u8; 4];
        for (s, n) in &totals.states {
            gauge(&mut family, &[("state", &*s.encode_utf8(&mut state))], *n)?;
        }
        single_gauge(enc, "node_processes_pids", "Number of PIDs", totals.pids)?;
        single_gauge(
            enc,
            "node_processes_max_processes",
            "Number of max PIDs limit",
            pid_max,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    // Real lines (Debian 12): systemd, a kernel thread, and a command name with ") (" in it.
    const INIT: &[u8] = b"1 (systemd) S 0 1 1 0 -1 4194560 30443 1234960 113 1113 90 147 1421 797 20 0 1 0 24 171356160 3346 18446744073709551615 1 1 0 0 0 0 671173123 4096 1260 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
    const KWORKER: &[u8] = b"57 (kworker/1:1-events) I 2 0 0 0 -1 69238880 0 0 0 0 0 21 0 0 20 0 1 0 40 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
    const ODD: &[u8] = b"812 (a) (b c) R 1 812 812 0 -1 4194304 1 0 0 0 5 2 0 0 20 0 12 0 300 1 1 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn parses_state_and_threads_past_odd_command_names() {
        assert_eq!(
            parse_stat(INIT).unwrap(),
            ProcStat {
                state: 'S',
                num_threads: 1
            }
        );
        assert_eq!(parse_stat(ODD).unwrap().num_threads, 12);
        assert_eq!(parse_stat(ODD).unwrap().state, 'R');
        for (input, want) in [
            (
                &b"1 systemd S 0"[..],
                "line 1: no ')' after the command name",
            ),
            (b"1 (x) ", "line 1: missing or malformed state"),
            (b"1 (x) S 0 1", "line 1: missing num_threads"),
            (
                b"1 (x) S 0 1 1 0 -1 4 3 1 1 1 9 1 1 7 20 0 many 0",
                "line 1: num_threads: \"many\" is not a number",
            ),
        ] {
            assert_eq!(parse_stat(input).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn counts_pids_threads_and_states() {
        let dir = tree(&[
            ("proc/1/stat", INIT),
            ("proc/57/stat", KWORKER),
            ("proc/812/stat", ODD),
            ("proc/self/stat", INIT),
            ("proc/sys/kernel/pid_max", b"4194304\n"),
            ("proc/sys/kernel/threads-max", b"15499\n"),
            ("proc/loadavg", b"0 0 0 1/1 1\n"),
        ]);
        // A pid directory without stat: the process exited between listing and reading.
        std::fs::create_dir_all(dir.path().join("proc/999")).unwrap();
        let body = scrape_of("processes", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "node_processes_threads 14",
                "node_processes_max_threads 15499",
                "node_processes_state{state=\"I\"} 1",
                "node_processes_state{state=\"R\"} 1",
                "node_processes_state{state=\"S\"} 1",
                "node_processes_pids 3",
                "node_processes_max_processes 4194304",
            ]
        );
        assert!(body.contains("# HELP node_processes_pids Number of PIDs\n"));
    }

    #[test]
    fn a_garbled_stat_names_the_file() {
        let dir = tree(&[
            ("proc/7/stat", b"7 (x) S\n"),
            ("proc/sys/kernel/pid_max", b"10\n"),
            ("proc/sys/kernel/threads-max", b"10\n"),
        ]);
        let path = dir.path().join("proc/7/stat");
        assert_eq!(
            totals(&dir.path().join("proc")).unwrap_err().to_string(),
            format!("parsing {}: line 1: missing num_threads", path.display())
        );
        let body = scrape_of("processes", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"processes\"} 0\n"));
    }
}
