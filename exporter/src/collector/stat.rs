//! stat: boot time, context switches, forks, interrupts and run-queue counts from
//! `<procfs>/stat` (parsed by [`super::cpu::parse_stat`]).

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::cpu::{SOFTIRQ_VECTORS, parse_stat};
use super::encode::{counter, counter_family, single_counter, single_gauge};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
};

/// `--collector.stat.softirq`, node_exporter's flag (off by default).
pub const SOFTIRQ: FlagSpec = FlagSpec::switch(
    "--collector.stat.softirq",
    false,
    "Export softirq calls per vector",
);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "stat",
    default_enabled: true,
    help: "Boot time, context switches, forks, interrupts from /proc/stat",
    flags: &[SOFTIRQ],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(StatCollector {
        path: config.paths.procfs.join("stat"),
        softirq: config.options.switch(&SOFTIRQ),
    }))
}

struct StatCollector {
    path: PathBuf,
    softirq: bool,
}

impl Collector for StatCollector {
    fn update(&self, shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        shared.read_with(&self.path, |data| {
            let stat = parse_stat(data).map_err(|e| CollectError::parse(&self.path, e))?;
            if let Some(v) = stat.intr {
                single_counter(enc, "node_intr", "Total number of interrupts serviced.", v)?;
            }
            if let Some(v) = stat.ctxt {
                single_counter(
                    enc,
                    "node_context_switches",
                    "Total number of context switches.",
                    v,
                )?;
            }
            if let Some(v) = stat.processes {
                single_counter(enc, "node_forks", "Total number of forks.", v)?;
            }
            if let Some(v) = stat.btime {
                single_gauge(
                    enc,
                    "node_boot_time_seconds",
                    "Node boot time, in unixtime.",
                    v,
                )?;
            }
            if let Some(v) = stat.procs_running {
                single_gauge(
                    enc,
                    "node_procs_running",
                    "Number of processes in runnable state.",
                    v,
                )?;
            }
            if let Some(v) = stat.procs_blocked {
                single_gauge(
                    enc,
                    "node_procs_blocked",
                    "Number of processes blocked waiting for I/O to complete.",
                    v,
                )?;
            }
            if let (true, Some(vectors)) = (self.softirq, stat.softirqs) {
                let mut family =
                    counter_family(enc, "node_softirqs", "Number of softirq calls.")?;
                for (vector, calls) in SOFTIRQ_VECTORS.iter().zip(vectors) {
                    counter(&mut family, &[("vector", *vector)], calls)?;
                }
            }
            // As node_exporter, whose stat collector errors when procfs cannot give it every
            // line: the families found are still served, and success says 0 rather than
            // hiding that a truncated file lost the others.
            let missing = [
                ("intr", stat.intr),
                ("ctxt", stat.ctxt),
                ("btime", stat.btime),
                ("processes", stat.processes),
                ("procs_running", stat.procs_running),
                ("procs_blocked", stat.procs_blocked),
                // Needed only when asked for.
                ("softirq", if self.softirq { stat.softirqs.map(|_| 0) } else { Some(0) }),
            ]
            .into_iter()
            .find(|(_, v)| v.is_none());
            match missing {
                Some((line, _)) => Err(CollectError::parse(
                    &self.path,
                    ParseError::new(0, format!("no {line} line")),
                )),
                None => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn encodes_node_exporters_stat_families() {
        let dir = tree(&[(
            "proc/stat",
            b"cpu  1 2 3 4 5 6 7 8 9 10\nintr 8885917 17 0\nctxt 38014093\nbtime 1418183276\nprocesses 26442\nprocs_running 2\nprocs_blocked 1\n",
        )]);
        let body = scrape_of("stat", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "node_intr_total 8885917",
                "node_context_switches_total 38014093",
                "node_forks_total 26442",
                "node_boot_time_seconds 1418183276",
                "node_procs_running 2",
                "node_procs_blocked 1",
            ]
        );
        assert!(body.contains("# TYPE node_forks counter\n"));
        // No softirq line, and none asked for: a success.
        assert!(body.contains("node_scrape_collector_success{collector=\"stat\"} 1\n"));
        assert!(body.contains("# TYPE node_boot_time_seconds gauge\n"));
    }

    #[test]
    fn a_stat_without_btime_serves_the_rest_and_fails() {
        let dir = tree(&[(
            "proc/stat",
            b"cpu  1 2 3 4 5 6 7 8 9 10\nintr 8885917 17 0\nctxt 38014093\nprocesses 26442\nprocs_running 2\nprocs_blocked 1\n",
        )]);
        let body = scrape_of("stat", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "node_intr_total 8885917",
                "node_context_switches_total 38014093",
                "node_forks_total 26442",
                "node_procs_running 2",
                "node_procs_blocked 1",
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"stat\"} 0\n"));
        // Truncated after ctxt: the same.
        let dir = tree(&[("proc/stat", b"cpu  1 2 3 4 5 6 7 8 9 10\nintr 1\nctxt 2\n")]);
        let body = scrape_of("stat", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            ["node_intr_total 1", "node_context_switches_total 2"]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"stat\"} 0\n"));
    }

    #[test]
    fn softirqs_per_vector_behind_the_flag() {
        let stat = b"cpu  1 2 3 4 5 6 7 8 9 10\nintr 1\nctxt 2\nbtime 3\nprocesses 4\nprocs_running 5\nprocs_blocked 6\nsoftirq 5057579 250191 1481983 1647 211099 186066 0 1783454 622196 12499 508444\n";
        let dir = tree(&[("proc/stat", stat)]);
        let mut config = config_for(dir.path());
        let body = scrape_of("stat", build(&config).unwrap());
        assert!(!body.contains("softirqs"), "{body}");
        config.options.set(&SOFTIRQ, vec!["true".into()]);
        let body = scrape_of("stat", build(&config).unwrap());
        assert!(body.contains("# HELP node_softirqs Number of softirq calls.\n# TYPE node_softirqs counter\n"));
        // node_exporter's e2e-output lines (it prints 1.783454e+06 for 1783454).
        let lines: Vec<_> = samples(&body)
            .into_iter()
            .filter(|l| l.starts_with("node_softirqs"))
            .collect();
        assert_eq!(
            lines,
            [
                "node_softirqs_total{vector=\"hi\"} 250191",
                "node_softirqs_total{vector=\"timer\"} 1481983",
                "node_softirqs_total{vector=\"net_tx\"} 1647",
                "node_softirqs_total{vector=\"net_rx\"} 211099",
                "node_softirqs_total{vector=\"block\"} 186066",
                "node_softirqs_total{vector=\"block_iopoll\"} 0",
                "node_softirqs_total{vector=\"tasklet\"} 1783454",
                "node_softirqs_total{vector=\"sched\"} 622196",
                "node_softirqs_total{vector=\"hrtimer\"} 12499",
                "node_softirqs_total{vector=\"rcu\"} 508444",
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"stat\"} 1\n"));
        // Asked for but absent from the file: the rest is served and success says 0.
        let cut = std::str::from_utf8(stat).unwrap().find("softirq").unwrap();
        let dir = tree(&[("proc/stat", &stat[..cut])]);
        let mut config = config_for(dir.path());
        config.options.set(&SOFTIRQ, vec!["true".into()]);
        let body = scrape_of("stat", build(&config).unwrap());
        assert!(body.contains("node_procs_blocked 6\n"), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"stat\"} 0\n"));
    }

    #[test]
    fn a_garbled_value_fails_the_collector() {
        let dir = tree(&[("proc/stat", b"cpu 1 2 3 4\nctxt many\n")]);
        let body = scrape_of("stat", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty(), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"stat\"} 0\n"));
    }
}
