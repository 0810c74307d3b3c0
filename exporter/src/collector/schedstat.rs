//! schedstat: `node_schedstat_{running,waiting}_seconds_total` and
//! `node_schedstat_timeslices_total` per CPU from `<procfs>/schedstat`.

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, Shared, read_with};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "schedstat",
    default_enabled: true,
    help: "Scheduler statistics per CPU from /proc/schedstat",
    flags: &[],
    build,
};

/// One `cpuN` line: nanoseconds running, nanoseconds waiting, timeslices run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSched<'a> {
    pub cpu: &'a str,
    pub running_ns: u64,
    pub waiting_ns: u64,
    pub timeslices: u64,
}

/// Parses `/proc/schedstat`'s `cpuN` lines (columns 7 to 9 of 9). As procfs, a line that
/// does not have nine numbers is skipped; `domainN`, `version` and `timestamp` are ignored.
pub fn parse_schedstat(data: &str) -> Vec<CpuSched<'_>> {
    let mut out = Vec::new();
    for line in data.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let Some(cpu) = fields.next().filter(|c| is_digits(c)) else {
            continue;
        };
        let mut cols = [0u64; 9];
        if !cols.iter_mut().all(|slot| {
            fields
                .next()
                .filter(|f| is_digits(f))
                .and_then(|f| f.parse().ok())
                .map(|v| *slot = v)
                .is_some()
        }) {
            continue;
        }
        out.push(CpuSched {
            cpu,
            running_ns: cols[6],
            waiting_ns: cols[7],
            timeslices: cols[8],
        });
    }
    out
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(SchedstatCollector {
        path: config.paths.procfs.join("schedstat"),
    }))
}

struct SchedstatCollector {
    path: PathBuf,
}

const NS_PER_SEC: f64 = 1e9;

/// How a family's value comes from a CPU's line.
type Value = fn(&CpuSched) -> f64;

impl Collector for SchedstatCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let res = read_with(&self.path, |data| {
            let cpus = parse_schedstat(data);
            let families: [(&str, &str, Value); 3] = [
                (
                    "node_schedstat_running_seconds",
                    "Number of seconds CPU spent running a process.",
                    |c| c.running_ns as f64 / NS_PER_SEC,
                ),
                (
                    "node_schedstat_waiting_seconds",
                    "Number of seconds spent by processing waiting for this CPU.",
                    |c| c.waiting_ns as f64 / NS_PER_SEC,
                ),
                (
                    "node_schedstat_timeslices",
                    "Number of timeslices executed by CPU.",
                    |c| c.timeslices as f64,
                ),
            ];
            for (name, help, value) in families {
                let mut family = counter_family(enc, name, help)?;
                for c in &cpus {
                    counter(&mut family, &[("cpu", c.cpu)], value(c))?;
                }
            }
            Ok(())
        });
        match res {
            // A kernel without CONFIG_SCHEDSTATS: node_exporter's ErrNoData.
            Err(e) if e.is_not_found() => Err(CollectError::NoData("no schedstat file".into())),
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    /// node_exporter's fixture `proc/schedstat`.
    const FIXTURE: &str = "version 15
timestamp 15819019232
cpu0 498494191 0 3533438552 2553969831 3853684107 2465731542 2045936778163039 343796328169361 4767485306
domain0 00000000,00000003 212499247 210112015 1861015 1860405436 536440 369895 32599 210079416
cpu1 518377256 0 4155211005 2778589869 10466382 2867629021 1904686152592476 364107263788241 5145567945
cpu2 1 2 3
";

    #[test]
    fn node_exporters_fixture_gives_its_lines() {
        let dir = tree(&[("proc/schedstat", FIXTURE.as_bytes())]);
        let body = scrape_of("schedstat", build(&config_for(dir.path())).unwrap());
        // node_exporter prints 2.045936778163039e+06 and 4.767485306e+09: the same floats.
        assert_eq!(
            samples(&body),
            [
                "node_schedstat_running_seconds_total{cpu=\"0\"} 2045936.778163039",
                "node_schedstat_running_seconds_total{cpu=\"1\"} 1904686.152592476",
                "node_schedstat_waiting_seconds_total{cpu=\"0\"} 343796.328169361",
                "node_schedstat_waiting_seconds_total{cpu=\"1\"} 364107.263788241",
                "node_schedstat_timeslices_total{cpu=\"0\"} 4767485306.0",
                "node_schedstat_timeslices_total{cpu=\"1\"} 5145567945.0",
            ]
        );
        assert!(body.contains("# HELP node_schedstat_timeslices Number of timeslices executed by CPU.\n# TYPE node_schedstat_timeslices counter\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"schedstat\"} 1\n"));
    }

    #[test]
    fn short_lines_are_skipped_and_no_file_is_no_data() {
        assert!(parse_schedstat("cpu0 1 2 3\ncpuX 1 2 3 4 5 6 7 8 9\n").is_empty());
        let dir = tree(&[]);
        let body = scrape_of("schedstat", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"schedstat\"} 1\n"));
    }
}
