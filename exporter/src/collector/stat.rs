//! stat: boot time, context switches, forks, interrupts and run-queue counts from
//! `<procfs>/stat` (parsed by [`super::cpu::parse_stat`]).

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::cpu::parse_stat;
use super::encode::{single_counter, single_gauge};
use super::{CollectError, Collector, Config, ConfigError, Shared};

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
            Ok(())
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
    fn a_garbled_value_fails_the_collector() {
        let dir = tree(&[("proc/stat", b"cpu 1 2 3 4\nctxt many\n")]);
        let body = scrape_of("stat", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty(), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"stat\"} 0\n"));
    }
}
