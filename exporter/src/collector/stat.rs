//! stat: boot time, context switches, forks, interrupts and run-queue counts from
//! `<procfs>/stat` (parsed by [`super::cpu::parse_stat`]).

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::cpu::parse_stat;
use super::encode::{single_counter, single_gauge};
use super::{CollectorSpec, CollectError, Collector, Config, ConfigError, ParseError, Shared};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "stat",
    default_enabled: true,
    help: "Boot time, context switches, forks, interrupts from /proc/stat",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(StatCollector {
        path: config.paths.procfs.join("stat"),
    }))
}

struct StatCollector {
    path: PathBuf,
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
        assert!(body.contains("# TYPE node_boot_time_seconds gauge\n"));
    }

    #[test]
    fn a_stat_without_btime_serves_the_rest_and_fails() {
        let dir = tree(&[(
            "proc/stat",
            b"cpu  1 2 3 4 5 6 7 8 9 10\nintr 8885917 17 0\nctxt 38014093\nprocesses 26442\nprocs_running 2\nprocs_blocked 1\n",
        )]);
        let body = scrape_of("stat", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_forks_total 26442\n"), "{body}");
        assert!(!body.contains("node_boot_time_seconds"), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"stat\"} 0\n"));
        // Truncated after ctxt: the same.
        let dir = tree(&[("proc/stat", b"cpu  1 2 3 4 5 6 7 8 9 10\nintr 1\nctxt 2\n")]);
        let body = scrape_of("stat", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_context_switches_total 2\n"), "{body}");
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
