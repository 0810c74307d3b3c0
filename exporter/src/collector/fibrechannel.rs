//! fibrechannel: Fibre Channel host adapters from `<sysfs>/class/fc_host/*` as node_exporter's
//! `node_fibrechannel_info` and `node_fibrechannel_*_total{fc_host}` (procfs'
//! FibreChannelClass). A counter the firmware does not implement (all ones) is left out; a
//! host whose port state is unknown reports its counters as 0, as node_exporter. No fc_host
//! class: no data: nothing, and success 1 (see
//! `CollectError::NoData`).

use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::SortedFamilies;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, read_attr_once,
};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "fibrechannel",
    default_enabled: true,
    help: "Fibre Channel host statistics from /sys/class/fc_host",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(FibreChannelCollector {
        class: config.paths.sysfs.join("class/fc_host"),
    }))
}

/// The attributes that label `node_fibrechannel_info`, and whether procfs strips their `0x`.
const INFO: [(&str, bool); 10] = [
    ("dev_loss_tmo", false),
    ("fabric_name", true),
    ("port_id", true),
    ("port_name", true),
    ("port_state", false),
    ("port_type", false),
    ("speed", false),
    ("supported_classes", false),
    ("supported_speeds", false),
    ("symbolic_name", false),
];

/// statistics/<file>, metric name, HELP.
const COUNTERS: [(&str, &str, &str); 14] = [
    ("dumped_frames", "dumped_frames_total", "Number of dumped frames"),
    ("error_frames", "error_frames_total", "Number of errors in frames"),
    ("invalid_crc_count", "invalid_crc_total", "Invalid Cyclic Redundancy Check count"),
    ("rx_frames", "rx_frames_total", "Number of frames received"),
    ("rx_words", "rx_words_total", "Number of words received by host port"),
    ("tx_frames", "tx_frames_total", "Number of frames transmitted by host port"),
    ("tx_words", "tx_words_total", "Number of words transmitted by host port"),
    (
        "seconds_since_last_reset",
        "seconds_since_last_reset_total",
        "Number of seconds since last host port reset",
    ),
    (
        "invalid_tx_word_count",
        "invalid_tx_words_total",
        "Number of invalid words transmitted by host port",
    ),
    (
        "link_failure_count",
        "link_failure_total",
        "Number of times the host port link has failed",
    ),
    (
        "loss_of_sync_count",
        "loss_of_sync_total",
        "Number of failures on either bit or transmission word boundaries",
    ),
    (
        "loss_of_signal_count",
        "loss_of_signal_total",
        "Number of times signal has been lost",
    ),
    (
        "nos_count",
        "nos_total",
        "Number Not_Operational Primitive Sequence received by host port",
    ),
    ("fcp_packet_aborts", "fcp_packet_aborts_total", "Number of aborted packets"),
];

struct FibreChannelCollector {
    class: PathBuf,
}

/// An attribute, trimmed; `None` when the driver does not expose it.
fn attr(path: &Path) -> Result<Option<String>, CollectError> {
    match read_attr_once(path) {
        Ok(v) => Ok(Some(v.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CollectError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// A counter as procfs reads it: decimal, or hex with `0x`.
pub fn parse_counter(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// One host's samples into `out`.
fn host(dir: &Path, name: &str, out: &mut SortedFamilies) -> Result<(), CollectError> {
    let mut labels = vec![("fc_host", name.to_owned())];
    let mut state = None;
    for (attr_name, strip) in INFO {
        let mut value = attr(&dir.join(attr_name))?.unwrap_or_default();
        if strip && value.len() > 2 {
            value.drain(..2);
        }
        if attr_name == "port_state" {
            state = Some(value.clone()).filter(|v| !v.is_empty());
        }
        labels.push((attr_name, value));
    }
    labels.sort();
    out.add(
        "node_fibrechannel_info".into(),
        "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.".into(),
        labels,
        1.0,
    );
    let unknown = state.as_deref().is_none_or(|s| s == "Unknown");
    for (file, metric, help) in COUNTERS {
        let value = if unknown {
            0
        } else {
            let path = dir.join("statistics").join(file);
            match attr(&path)? {
                None => 0,
                Some(v) => parse_counter(&v).ok_or_else(|| {
                    CollectError::parse(&path, ParseError::new(1, format!("{v:?} is not a number")))
                })?,
            }
        };
        // All ones: the firmware does not implement this counter.
        if value == u64::MAX {
            continue;
        }
        out.add_kind(
            format!("node_fibrechannel_{metric}"),
            help.into(),
            true,
            vec![("fc_host", name.to_owned())],
            value as f64,
        );
    }
    Ok(())
}

impl Collector for FibreChannelCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let entries = match super::held::list_dir(&self.class) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
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
        let mut names: Vec<String> = entries
            .into_iter()
            .filter_map(|e| e.name.into_string().ok())
            .collect();
        names.sort();
        let mut out = SortedFamilies::default();
        for name in &names {
            host(&self.class.join(name), name, &mut out)?;
        }
        out.encode(enc)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn hosts_as_node_exporter_gives_them() {
        let dir = tree(&[
            ("sys/class/fc_host/host0/port_state", b"Online\n"),
            ("sys/class/fc_host/host0/port_id", b"0x000002\n"),
            ("sys/class/fc_host/host0/fabric_name", b"0x0\n"),
            ("sys/class/fc_host/host0/speed", b"16 Gbit\n"),
            ("sys/class/fc_host/host0/statistics/dumped_frames", b"0xffffffffffffffff\n"),
            ("sys/class/fc_host/host0/statistics/error_frames", b"0x13\n"),
            ("sys/class/fc_host/host0/statistics/reset_statistics", b""),
            ("sys/class/fc_host/host1/port_state", b"Unknown\n"),
            ("sys/class/fc_host/host1/statistics/error_frames", b"0x20\n"),
        ]);
        let body = scrape_of("fibrechannel", build(&config_for(dir.path())).unwrap());
        let lines = samples(&body);
        for want in [
            "node_fibrechannel_error_frames_total{fc_host=\"host0\"} 19.0",
            "node_fibrechannel_error_frames_total{fc_host=\"host1\"} 0.0",
            "node_fibrechannel_dumped_frames_total{fc_host=\"host1\"} 0.0",
            "node_fibrechannel_info{dev_loss_tmo=\"\",fabric_name=\"0\",fc_host=\"host0\",port_id=\"000002\",port_name=\"\",port_state=\"Online\",port_type=\"\",speed=\"16 Gbit\",supported_classes=\"\",supported_speeds=\"\",symbolic_name=\"\"} 1.0",
        ] {
            assert!(lines.contains(&want), "{want} in {body}");
        }
        // Not implemented by host0's firmware.
        assert!(!body.contains("node_fibrechannel_dumped_frames_total{fc_host=\"host0\"}"));
        assert!(body.contains("# HELP node_fibrechannel_invalid_crc Invalid Cyclic Redundancy Check count\n# TYPE node_fibrechannel_invalid_crc counter\n"));
        assert_eq!(parse_counter("0x1f"), Some(31));
        assert_eq!(parse_counter("12"), Some(12));
        assert_eq!(parse_counter("x"), None);
    }

    #[test]
    fn a_bad_counter_fails_and_no_class_is_no_data() {
        let dir = tree(&[
            ("sys/class/fc_host/host0/port_state", b"Online\n"),
            ("sys/class/fc_host/host0/statistics/rx_words", b"many\n"),
        ]);
        let body = scrape_of("fibrechannel", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"fibrechannel\"} 0\n"));
        assert!(samples(&body).is_empty());
        let dir = tree(&[]);
        let body = scrape_of("fibrechannel", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"fibrechannel\"} 1\n"));
    }
}
