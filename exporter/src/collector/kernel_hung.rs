//! kernel_hung: `node_kernel_hung_tasks_total` from
//! `<procfs>/sys/kernel/hung_task_detect_count` (kernels with CONFIG_DETECT_HUNG_TASK, >= 6.12).

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::single_counter;
use super::read::read_u64;
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, Shared};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "kernel_hung",
    default_enabled: true,
    help: "Hung tasks detected since boot from /proc/sys/kernel/hung_task_detect_count",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(KernelHungCollector {
        path: config.paths.procfs.join("sys/kernel/hung_task_detect_count"),
    }))
}

struct KernelHungCollector {
    path: PathBuf,
}

impl Collector for KernelHungCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let count = match read_u64(&self.path) {
            Ok(v) => v,
            // Older kernels, or no hung-task detector: node_exporter's ErrNoData.
            Err(e) if e.is_not_found() => {
                return Err(CollectError::NoData(
                    "hung_task_detect_count does not exist".into(),
                ));
            }
            Err(e) => return Err(e),
        };
        single_counter(
            enc,
            "node_kernel_hung_tasks",
            "Total number of tasks that have been detected as hung since the system booted.",
            count,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    fn scrape(files: &[(&str, &[u8])]) -> String {
        let dir = tree(files);
        scrape_of("kernel_hung", build(&config_for(dir.path())).unwrap())
    }

    #[test]
    fn node_exporters_fixture_gives_its_line() {
        let body = scrape(&[("proc/sys/kernel/hung_task_detect_count", b"42\n")]);
        assert_eq!(samples(&body), ["node_kernel_hung_tasks_total 42"]);
        assert!(body.contains("# HELP node_kernel_hung_tasks Total number of tasks that have been detected as hung since the system booted.\n# TYPE node_kernel_hung_tasks counter\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"kernel_hung\"} 1\n"));
    }

    #[test]
    fn absent_is_no_data_and_garbage_fails() {
        // Absent (a kernel before 6.12): nothing, and no failure.
        let body = scrape(&[]);
        assert!(samples(&body).is_empty(), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"kernel_hung\"} 1\n"));
        let body = scrape(&[("proc/sys/kernel/hung_task_detect_count", b"x\n")]);
        assert!(samples(&body).is_empty(), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"kernel_hung\"} 0\n"));
    }
}
