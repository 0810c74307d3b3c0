//! stat: boot time, context switches, forks, interrupts and run-queue counts from
//! `<procfs>/stat` (parsed by [`super::cpu::parse_stat`]).

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::cpu::parse_stat;
use super::encode::{single_counter, single_gauge};
use super::{CollectError, Collector, Config, ConfigError, read_with};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(StatCollector {
        path: config.paths.procfs.join("stat"),
    }))
}

struct StatCollector {
    path: PathBuf,
}

impl Collector for StatCollector {
    fn update(&self, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        read_with(&self.path, |data| {
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
