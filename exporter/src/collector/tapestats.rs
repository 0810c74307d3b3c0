//! tapestats: `node_tape_*{device}` per SCSI tape drive (`st<N>`) from
//! `<sysfs>/class/scsi_tape/<device>/stats/`, as node_exporter's tapestats collector, skipping
//! devices matching `--collector.tapestats.ignored-devices`. No such class (no tape driver):
//! node_exporter's ErrNoData (nothing, logged at debug; see `CollectError::NoData`).

use std::io;
use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use regex::Regex;

use super::encode::{Families, Value};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, Shared, compile_regex,
    read_u64,
};

/// `--collector.tapestats.ignored-devices`, node_exporter's default (none).
pub const IGNORED_DEVICES: FlagSpec = FlagSpec::value(
    "--collector.tapestats.ignored-devices",
    "^$",
    "Regexp of devices to ignore for tapestats.",
);

/// node_exporter's families: (stats file, name without `_total` for counters, HELP, kind,
/// nanoseconds to export in seconds).
const FAMILIES: [(&str, &str, &str, MetricType, bool); 10] = [
    (
        "in_flight",
        "node_tape_io_now",
        "The number of I/Os currently outstanding to this device.",
        MetricType::Gauge,
        false,
    ),
    (
        "io_ns",
        "node_tape_io_time_seconds",
        "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used.",
        MetricType::Counter,
        true,
    ),
    (
        "other_cnt",
        "node_tape_io_others",
        "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total",
        MetricType::Counter,
        false,
    ),
    (
        "read_byte_cnt",
        "node_tape_read_bytes",
        "The number of bytes read from the tape drive.",
        MetricType::Counter,
        false,
    ),
    (
        "read_cnt",
        "node_tape_reads_completed",
        "The number of read requests issued to the tape drive.",
        MetricType::Counter,
        false,
    ),
    (
        "read_ns",
        "node_tape_read_time_seconds",
        "The amount of time spent waiting for read requests to complete.",
        MetricType::Counter,
        true,
    ),
    (
        "resid_cnt",
        "node_tape_residual",
        "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape.",
        MetricType::Counter,
        false,
    ),
    (
        "write_byte_cnt",
        "node_tape_written_bytes",
        "The number of bytes written to the tape drive.",
        MetricType::Counter,
        false,
    ),
    (
        "write_cnt",
        "node_tape_writes_completed",
        "The number of write requests issued to the tape drive.",
        MetricType::Counter,
        false,
    ),
    (
        "write_ns",
        "node_tape_write_time_seconds",
        "The amount of time spent waiting for write requests to complete.",
        MetricType::Counter,
        true,
    ),
];

/// `st<N>`: the tape itself, not its `nst`/`a`/`l`/`m` variants (procfs' `^st\d+$`).
fn is_tape(name: &str) -> bool {
    name.strip_prefix("st")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "tapestats",
    default_enabled: true,
    help: "SCSI tape drive statistics from /sys/class/scsi_tape",
    flags: &[IGNORED_DEVICES],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(TapestatsCollector {
        class: config.paths.sysfs.join("class/scsi_tape"),
        ignored: compile_regex(IGNORED_DEVICES.name, config.options.value(&IGNORED_DEVICES))?,
    }))
}

struct TapestatsCollector {
    class: PathBuf,
    ignored: Regex,
}

impl Collector for TapestatsCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let entries = match super::held::list_dir(&self.class) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CollectError::NoData(format!(
                    "{} does not exist",
                    self.class.display()
                )));
            }
            Err(source) => {
                return Err(CollectError::Read {
                    path: self.class.clone(),
                    source,
                });
            }
        };
        let mut tapes: Vec<String> = entries
            .into_iter()
            .filter_map(|e| e.name.into_string().ok())
            .filter(|n| is_tape(n) && !self.ignored.is_match(n))
            .collect();
        tapes.sort();
        let mut families = Families::default();
        // A drive whose counters cannot be read is left out and reported; the others stay.
        let mut first_error = None;
        'tapes: for tape in tapes {
            let stats = self.class.join(&tape).join("stats");
            let mut values = [0u64; FAMILIES.len()];
            for (v, (file, ..)) in values.iter_mut().zip(FAMILIES) {
                match read_u64(&stats.join(file)) {
                    Ok(n) => *v = n,
                    // procfs reads the files that are there; one the kernel lacks stays 0.
                    Err(CollectError::Read { source, .. })
                        if source.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        first_error.get_or_insert(e);
                        continue 'tapes;
                    }
                }
            }
            for (v, (_, name, help, kind, ns)) in values.into_iter().zip(FAMILIES) {
                let value = if ns {
                    Value::F(v as f64 * 1e-9)
                } else {
                    Value::U(v)
                };
                families.add(name, help, kind, vec![("device", tape.clone())], value);
            }
        }
        families.encode(enc)?;
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, tree};
    use super::*;

    /// node_exporter's fixture drive st0 (sys.ttar's class/scsi_tape/st0/stats).
    fn fixture() -> tempfile::TempDir {
        let stats = [
            ("in_flight", "1"),
            ("io_ns", "9247011087720"),
            ("other_cnt", "1409"),
            ("read_byte_cnt", "979383912"),
            ("read_cnt", "3741"),
            ("read_ns", "33788355744"),
            ("resid_cnt", "19"),
            ("write_byte_cnt", "1496246784000"),
            ("write_cnt", "53772916"),
            ("write_ns", "5233597394395"),
        ];
        let mut files: Vec<(String, String)> = stats
            .iter()
            .map(|(f, v)| (format!("sys/class/scsi_tape/st0/stats/{f}"), format!("{v}\n")))
            .collect();
        files.push(("sys/class/scsi_tape/nst0/stats/read_cnt".into(), "7\n".into()));
        files.push(("sys/class/scsi_tape/st1/stats/read_cnt".into(), "8\n".into()));
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_bytes()))
            .collect();
        tree(&files)
    }

    #[test]
    fn encodes_node_exporters_lines() {
        let dir = fixture();
        let mut config = config_for(dir.path());
        config.options.set(&IGNORED_DEVICES, vec!["^st1$".into()]);
        let body = scrape_of("tapestats", build(&config).unwrap());
        // Lines of node_exporter 1.12's e2e-output.txt; nst0 and the ignored st1 are left out.
        assert_eq!(
            samples(&body),
            [
                "node_tape_io_now{device=\"st0\"} 1",
                "node_tape_io_time_seconds_total{device=\"st0\"} 9247.01108772",
                "node_tape_io_others_total{device=\"st0\"} 1409",
                "node_tape_read_bytes_total{device=\"st0\"} 979383912",
                "node_tape_reads_completed_total{device=\"st0\"} 3741",
                "node_tape_read_time_seconds_total{device=\"st0\"} 33.788355744",
                "node_tape_residual_total{device=\"st0\"} 19",
                "node_tape_written_bytes_total{device=\"st0\"} 1496246784000",
                "node_tape_writes_completed_total{device=\"st0\"} 53772916",
                "node_tape_write_time_seconds_total{device=\"st0\"} 5233.597394395",
            ]
        );
        assert!(body.contains("# HELP node_tape_io_now The number of I/Os currently outstanding to this device.\n# TYPE node_tape_io_now gauge\n"));
    }

    #[test]
    fn garbled_counter_names_the_file_and_no_class_is_no_data() {
        let dir = fixture();
        std::fs::write(dir.path().join("sys/class/scsi_tape/st1/stats/io_ns"), "x\n").unwrap();
        let config = config_for(dir.path());
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("tapestats", build(&config).unwrap()));
        assert!(body.contains("node_tape_io_now{device=\"st0\"} 1\n"));
        assert!(!body.contains("\"st1\""));
        assert!(body.contains("node_scrape_collector_success{collector=\"tapestats\"} 0\n"));
        let path = config.paths.sysfs.join("class/scsi_tape/st1/stats/io_ns");
        assert!(logs.contains(&format!("error=parsing {}: line 1: \"x\" is not a number", path.display())), "{logs}");

        let dir = tree(&[]);
        let logs = logs_of(|| body = scrape_of("tapestats", build(&config_for(dir.path())).unwrap()));
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"tapestats\"} 1\n"));
        assert!(!logs.contains("WARN"), "{logs}");
    }
}
