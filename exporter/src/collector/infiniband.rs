//! infiniband: `node_infiniband_info{board_id,device,firmware_version,hca_type}` and per port
//! `node_infiniband_{state_id,physical_state_id,rate_bytes_per_second}` and the port's counters
//! (`counters/`, `counters_ext/`, `hw_counters/`) from `<sysfs>/class/infiniband/<device>/`.
//!
//! node_exporter's procfs lists each counters directory and reads every file; this reads the
//! files it exports by name. A counter a port does not have, or whose value is
//! `N/A (no PMA)`, is left out, as there. No `/sys/class/infiniband` is ErrNoData.

use std::io;
use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::device_filter::DeviceFilter;
use super::encode::{counter, counter_family, gauge, gauge_family};
use super::read::{attr_absent, parse_sysfs_uint, read_attr};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, Shared};

pub const DEVICE_INCLUDE: FlagSpec = FlagSpec::value(
    "--collector.infiniband.device-include",
    "",
    "Regexp of infiniband devices to include (mutually exclusive to device-exclude).",
);

pub const DEVICE_EXCLUDE: FlagSpec = FlagSpec::value(
    "--collector.infiniband.device-exclude",
    "",
    "Regexp of infiniband devices to exclude (mutually exclusive to device-include).",
);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "infiniband",
    default_enabled: true,
    help: "InfiniBand ports' state and counters from /sys/class/infiniband",
    flags: &[DEVICE_INCLUDE, DEVICE_EXCLUDE],
    build,
};

/// One exported counter: (directory under the port, file, family without `_total`, HELP,
/// multiplier). `port_*_data*` count 32-bit words, hence 4.
type CounterFile = (&'static str, &'static str, &'static str, &'static str, u64);

const COUNTERS: [CounterFile; 60] = [
    ("counters_ext", "port_multicast_rcv_packets", "legacy_multicast_packets_received", "Number of multicast packets received", 1),
    ("counters_ext", "port_multicast_xmit_packets", "legacy_multicast_packets_transmitted", "Number of multicast packets transmitted", 1),
    ("counters_ext", "port_rcv_data_64", "legacy_data_received_bytes", "Number of data octets received on all links", 4),
    ("counters_ext", "port_rcv_packets_64", "legacy_packets_received", "Number of data packets received on all links", 1),
    ("counters_ext", "port_unicast_rcv_packets", "legacy_unicast_packets_received", "Number of unicast packets received", 1),
    ("counters_ext", "port_unicast_xmit_packets", "legacy_unicast_packets_transmitted", "Number of unicast packets transmitted", 1),
    ("counters_ext", "port_xmit_data_64", "legacy_data_transmitted_bytes", "Number of data octets transmitted on all links", 4),
    ("counters_ext", "port_xmit_packets_64", "legacy_packets_transmitted", "Number of data packets received on all links", 1),
    ("counters", "excessive_buffer_overrun_errors", "excessive_buffer_overrun_errors", "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error.", 1),
    ("counters", "link_downed", "link_downed", "Number of times the link failed to recover from an error state and went down", 1),
    ("counters", "link_error_recovery", "link_error_recovery", "Number of times the link successfully recovered from an error state", 1),
    ("counters", "local_link_integrity_errors", "local_link_integrity_errors", "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors.", 1),
    ("counters", "multicast_rcv_packets", "multicast_packets_received", "Number of multicast packets received (including errors)", 1),
    ("counters", "multicast_xmit_packets", "multicast_packets_transmitted", "Number of multicast packets transmitted (including errors)", 1),
    ("counters", "port_rcv_constraint_errors", "port_constraint_errors_received", "Number of packets received on the switch physical port that are discarded", 1),
    ("counters", "port_xmit_constraint_errors", "port_constraint_errors_transmitted", "Number of packets not transmitted from the switch physical port", 1),
    ("counters", "port_rcv_data", "port_data_received_bytes", "Number of data octets received on all links", 4),
    ("counters", "port_xmit_data", "port_data_transmitted_bytes", "Number of data octets transmitted on all links", 4),
    ("counters", "port_rcv_discards", "port_discards_received", "Number of inbound packets discarded by the port because the port is down or congested", 1),
    ("counters", "port_xmit_discards", "port_discards_transmitted", "Number of outbound packets discarded by the port because the port is down or congested", 1),
    ("counters", "port_rcv_errors", "port_errors_received", "Number of packets containing an error that were received on this port", 1),
    ("counters", "port_rcv_packets", "port_packets_received", "Number of packets received on all VLs by this port (including errors)", 1),
    ("counters", "port_xmit_packets", "port_packets_transmitted", "Number of packets transmitted on all VLs from this port (including errors)", 1),
    ("counters", "port_xmit_wait", "port_transmit_wait", "Number of ticks during which the port had data to transmit but no data was sent during the entire tick", 1),
    ("counters", "unicast_rcv_packets", "unicast_packets_received", "Number of unicast packets received (including errors)", 1),
    ("counters", "unicast_xmit_packets", "unicast_packets_transmitted", "Number of unicast packets transmitted (including errors)", 1),
    ("counters", "port_rcv_remote_physical_errors", "port_receive_remote_physical_errors", "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port.", 1),
    ("counters", "port_rcv_switch_relay_errors", "port_receive_switch_relay_errors", "Number of packets that could not be forwarded by the switch.", 1),
    ("counters", "symbol_error", "symbol_error", "Number of minor link errors detected on one or more physical lanes.", 1),
    ("counters", "VL15_dropped", "vl15_dropped", "Number of incoming VL15 packets dropped due to resource limitations.", 1),
    ("hw_counters", "duplicate_request", "duplicate_requests_packets", "The number of received packets. A duplicate request is a request that had been previously executed.", 1),
    ("hw_counters", "implied_nak_seq_err", "implied_nak_seq_errors", "The number of time the requested decided an ACK. with a PSN larger than the expected PSN for an RDMA read or response.", 1),
    ("hw_counters", "local_ack_timeout_err", "local_ack_timeout_errors", "The number of times QP's ack timer expired for RC, XRC, DCT QPs at the sender side. The QP retry limit was not exceed, therefore it is still recoverable error.", 1),
    ("hw_counters", "np_cnp_sent", "np_cnp_packets_sent", "The number of CNP packets sent by the Notification Point when it noticed congestion experienced in the RoCEv2 IP header (ECN bits). The counters was added in MLNX_OFED 4.1", 1),
    ("hw_counters", "np_ecn_marked_roce_packets", "np_ecn_marked_roce_packets_received", "The number of RoCEv2 packets received by the notification point which were marked for experiencing the congestion (ECN bits where '11' on the ingress RoCE traffic) . The counters was added in MLNX_OFED 4.1", 1),
    ("hw_counters", "out_of_buffer", "out_of_buffer_drops", "The number of drops occurred due to lack of WQE for the associated QPs.", 1),
    ("hw_counters", "out_of_sequence", "out_of_sequence_packets_received", "The number of out of sequence packets received.", 1),
    ("hw_counters", "packet_seq_err", "packet_sequence_errors", "The number of received NAK sequence error packets. The QP retry limit was not exceeded.", 1),
    ("hw_counters", "req_cqe_error", "req_cqes_errors", "The number of times requester detected CQEs completed with errors. The counters was added in MLNX_OFED 4.1", 1),
    ("hw_counters", "req_cqe_flush_error", "req_cqes_flush_errors", "The number of times requester detected CQEs completed with flushed errors. The counters was added in MLNX_OFED 4.1", 1),
    ("hw_counters", "req_remote_access_errors", "req_remote_access_errors", "The number of times requester detected remote access errors. The counters was added in MLNX_OFED 4.1", 1),
    ("hw_counters", "req_remote_invalid_request", "req_remote_invalid_request_errors", "The number of times requester detected remote invalid request errors. The counters was added in MLNX_OFED 4.1", 1),
    ("hw_counters", "resp_cqe_error", "resp_cqes_errors", "The number of times responder detected CQEs completed with errors. The counters was added in MLNX_OFED 4.1", 1),
    ("hw_counters", "resp_cqe_flush_error", "resp_cqes_flush_errors", "The number of times responder detected CQEs completed with flushed errors. The counters was added in MLNX_OFED 4.1", 1),
    ("hw_counters", "resp_local_length_error", "resp_local_length_errors", "The number of times responder detected local length errors. The counters was added in MLNX_OFED 4.1", 1),
    ("hw_counters", "resp_remote_access_errors", "resp_remote_access_errors", "The number of times responder detected remote access errors. The counters was added in MLNX_OFED 4.1", 1),
    ("hw_counters", "rnr_nak_retry_err", "rnr_nak_retry_packets_received", "The number of received RNR NAK packets. The QP retry limit was not exceeded.", 1),
    ("hw_counters", "roce_adp_retrans", "roce_adp_retransmits", "The number of adaptive retransmissions for RoCE traffic. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0", 1),
    ("hw_counters", "roce_adp_retrans_to", "roce_adp_retransmits_timeout", "The number of times RoCE traffic reached timeout due to adaptive retransmission. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0", 1),
    ("hw_counters", "roce_slow_restart", "roce_slow_restart_used", "The number of times RoCE slow restart was used. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0", 1),
    ("hw_counters", "roce_slow_restart_cnps", "roce_slow_restart_cnps", "The number of times RoCE slow restart generated CNP packets. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0", 1),
    ("hw_counters", "roce_slow_restart_trans", "roce_slow_restart", "The number of times RoCE slow restart changed state to slow restart. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0", 1),
    ("hw_counters", "rp_cnp_handled", "rp_cnp_packets_handled", "The number of CNP packets handled by the Reaction Point HCA to throttle the transmission rate. The counters was added in MLNX_OFED 4.1", 1),
    ("hw_counters", "rp_cnp_ignored", "rp_cnp_ignored_packets_received", "The number of CNP packets received and ignored by the Reaction Point HCA. This counter should not raise if RoCE Congestion Control was enabled in the network. If this counter raise, verify that ECN was enabled on the adapter.", 1),
    ("hw_counters", "rx_atomic_requests", "rx_atomic_requests", "The number of received ATOMIC request for the associated QPs.", 1),
    ("hw_counters", "rx_dct_connect", "rx_dct_connect_requests", "The number of received connection requests for the associated DCTs.", 1),
    ("hw_counters", "rx_read_requests", "rx_read_requests", "The number of received READ requests for the associated QPs.", 1),
    ("hw_counters", "rx_write_requests", "rx_write_requests", "The number of received WRITE requests for the associated QPs.", 1),
    ("hw_counters", "rx_icrc_encapsulated", "rx_icrc_encapsulated_errors", "The number of RoCE packets with ICRC errors. This counter was added in MLNX_OFED 4.4 and kernel 4.19", 1),
    // A gauge, in seconds: the file is in ms (see `LIFESPAN`).
    ("hw_counters", "lifespan", "lifespan_seconds", "The maximum period in ms which defines the aging of the counter reads. Two consecutive reads within this period might return the same values.", 1),
];
const LIFESPAN: usize = COUNTERS.len() - 1;

/// One port's readings.
#[derive(Debug)]
struct Port {
    device: String,
    port: String,
    state_id: u64,
    phys_state_id: u64,
    rate: u64,
    counters: [Option<u64>; COUNTERS.len()],
}

/// One device's `info` labels.
#[derive(Debug)]
struct Device {
    name: String,
    board_id: String,
    firmware_version: String,
    hca_type: String,
}

/// One scrape's readings, and the files that failed (each cost only its port or device).
struct Readings {
    devices: Vec<Device>,
    ports: Vec<Port>,
    errors: Vec<CollectError>,
}

/// `4: ACTIVE` -> 4.
pub fn parse_state(s: &str) -> Option<u64> {
    let (id, _name) = s.split_once(':')?;
    id.trim().parse().ok()
}

/// `40 Gb/sec (4X QDR)` -> bytes per second (Gb/s × 125,000,000), through an f32 as procfs.
pub fn parse_rate(s: &str) -> Option<u64> {
    let (value, _unit) = s.split_once(' ')?;
    let gbits: f32 = value.trim().parse().ok()?;
    Some((f64::from(gbits) * 125_000_000.0) as u64)
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(InfinibandCollector {
        dir: config.paths.sysfs.join("class/infiniband"),
        filter: DeviceFilter::new(config, &DEVICE_EXCLUDE, &DEVICE_INCLUDE)?,
    }))
}

struct InfinibandCollector {
    dir: PathBuf,
    filter: DeviceFilter,
}

/// Reads the attribute files of one directory; absent ones are `Ok(None)`.
struct Reader {
    buf: Vec<u8>,
    errors: Vec<CollectError>,
}

impl Reader {
    fn text(&mut self, path: &Path) -> Option<String> {
        match read_attr(path, &mut self.buf) {
            Ok(s) => Some(s.to_owned()),
            Err(e) if attr_absent(&e) => None,
            Err(source) => {
                self.errors.push(CollectError::Read {
                    path: path.to_owned(),
                    source,
                });
                None
            }
        }
    }

    /// A required attribute: its absence is an error too.
    fn required<T>(&mut self, path: &Path, parse: fn(&str) -> Option<T>) -> Option<T> {
        let text = self.text(path);
        let v = text.as_deref().and_then(parse);
        if v.is_none() {
            self.errors.push(CollectError::Record {
                path: path.to_owned(),
                offset: 0,
                message: format!("missing or not understood: {text:?}"),
            });
        }
        v
    }

    fn port(&mut self, device: &str, dir: &Path, port: String) -> Option<Port> {
        let state_id = self.required(&dir.join("state"), parse_state)?;
        let phys_state_id = self.required(&dir.join("phys_state"), parse_state)?;
        let rate = self.required(&dir.join("rate"), parse_rate)?;
        let mut counters = [None; COUNTERS.len()];
        for (slot, (sub, file, _, _, multiplier)) in counters.iter_mut().zip(COUNTERS) {
            let path = dir.join(sub).join(file);
            let Some(text) = self.text(&path) else {
                continue;
            };
            *slot = match parse_sysfs_uint(&text) {
                Some(v) => Some(v.wrapping_mul(multiplier)),
                None if text.contains("N/A (no PMA)") => None,
                None => {
                    self.errors.push(CollectError::Record {
                        path,
                        offset: 0,
                        message: format!("{text:?} is not a number"),
                    });
                    None
                }
            };
        }
        Some(Port {
            device: device.to_owned(),
            port,
            state_id,
            phys_state_id,
            rate,
            counters,
        })
    }
}

/// The names of a directory's entries, sorted; non-UTF-8 names are read lossily.
fn entries(dir: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = super::held::list_dir(dir)?
        .into_iter()
        .map(|e| e.name.to_string_lossy().into_owned())
        .collect();
    names.sort_unstable();
    Ok(names)
}

impl InfinibandCollector {
    fn read(&self) -> Result<Readings, CollectError> {
        let names = entries(&self.dir).map_err(|e| CollectError::listing(&self.dir, e))?;
        let mut r = Reader {
            buf: Vec::with_capacity(128),
            errors: Vec::new(),
        };
        let (mut devices, mut ports) = (Vec::new(), Vec::new());
        for name in names.into_iter().filter(|n| !self.filter.ignored(n)) {
            let dir = self.dir.join(&name);
            // A device without fw_ver (or unreadable) costs that device.
            let Some(firmware_version) = r.required(&dir.join("fw_ver"), |s| Some(s.to_owned()))
            else {
                continue;
            };
            let ports_dir = dir.join("ports");
            let port_names = match entries(&ports_dir) {
                Ok(p) => p,
                Err(source) => {
                    r.errors.push(CollectError::Read {
                        path: ports_dir,
                        source,
                    });
                    continue;
                }
            };
            devices.push(Device {
                board_id: r.text(&dir.join("board_id")).unwrap_or_default(),
                hca_type: r.text(&dir.join("hca_type")).unwrap_or_default(),
                firmware_version,
                name: name.clone(),
            });
            for port in port_names {
                if port.parse::<u32>().is_err() {
                    continue;
                }
                if let Some(p) = r.port(&name, &ports_dir.join(&port), port) {
                    ports.push(p);
                }
            }
        }
        Ok(Readings {
            devices,
            ports,
            errors: r.errors,
        })
    }
}

impl Collector for InfinibandCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let Readings {
            devices,
            ports,
            errors,
        } = self.read()?;
        if !devices.is_empty() {
            let mut family = gauge_family(
                enc,
                "node_infiniband_info",
                "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
            )?;
            for d in &devices {
                let labels = [
                    ("board_id", d.board_id.as_str()),
                    ("device", d.name.as_str()),
                    ("firmware_version", d.firmware_version.as_str()),
                    ("hca_type", d.hca_type.as_str()),
                ];
                gauge(&mut family, &labels, 1u64)?;
            }
        }
        let labels = |p: &Port| [("device", p.device.clone()), ("port", p.port.clone())];
        if !ports.is_empty() {
            for (name, help, value) in [
                (
                    "node_infiniband_state_id",
                    "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)",
                    (|p| p.state_id) as fn(&Port) -> u64,
                ),
                (
                    "node_infiniband_physical_state_id",
                    "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)",
                    |p| p.phys_state_id,
                ),
                (
                    "node_infiniband_rate_bytes_per_second",
                    "Maximum signal transfer rate",
                    |p| p.rate,
                ),
            ] {
                let mut family = gauge_family(enc, name, help)?;
                for p in &ports {
                    gauge(&mut family, &labels(p), value(p))?;
                }
            }
        }
        for (k, (_, _, suffix, help, _)) in COUNTERS.iter().enumerate() {
            if !ports.iter().any(|p| p.counters[k].is_some()) {
                continue;
            }
            let name = format!("node_infiniband_{suffix}");
            if k == LIFESPAN {
                let mut family = gauge_family(enc, &name, help)?;
                for p in &ports {
                    if let Some(ms) = p.counters[k] {
                        gauge(&mut family, &labels(p), ms / 1000)?;
                    }
                }
            } else {
                let mut family = counter_family(enc, &name, help)?;
                for p in &ports {
                    if let Some(v) = p.counters[k] {
                        counter(&mut family, &labels(p), v)?;
                    }
                }
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn states_and_rates() {
        assert_eq!(parse_state("4: ACTIVE"), Some(4));
        assert_eq!(parse_state("5: LinkUp"), Some(5));
        assert_eq!(parse_state("ACTIVE"), None);
        assert_eq!(parse_rate("40 Gb/sec (4X QDR)"), Some(5_000_000_000));
        assert_eq!(parse_rate("10 Gb/sec (4X)"), Some(1_250_000_000));
        assert_eq!(parse_rate("2.5 Gb/sec (1X SDR)"), Some(312_500_000));
        assert_eq!(parse_rate("fast"), None);
    }

    /// Parts of node_exporter's fixture: mlx4_0 port 1 with counters (some in words) and
    /// counters_ext, i40iw0 whose counters all say `N/A (no PMA)`.
    fn fixture() -> tempfile::TempDir {
        let p = "sys/class/infiniband/mlx4_0/ports/1";
        let i = "sys/class/infiniband/i40iw0/ports/1";
        let files: Vec<(String, &[u8])> = vec![
            ("sys/class/infiniband/mlx4_0/fw_ver".into(), b"2.31.5050\n"),
            ("sys/class/infiniband/mlx4_0/board_id".into(), b"SM_1141000001000\n"),
            ("sys/class/infiniband/mlx4_0/hca_type".into(), b"MT4099\n"),
            (format!("{p}/state"), b"4: ACTIVE\n"),
            (format!("{p}/phys_state"), b"5: LinkUp\n"),
            (format!("{p}/rate"), b"40 Gb/sec (4X QDR)\n"),
            (format!("{p}/link_layer"), b"InfiniBand\n"),
            (format!("{p}/counters/port_rcv_data"), b"4631917\n"),
            (format!("{p}/counters/port_xmit_wait"), b"4294967295\n"),
            (format!("{p}/counters/VL15_dropped"), b"0\n"),
            (format!("{p}/counters_ext/port_rcv_data_64"), b"4631917\n"),
            (format!("{p}/hw_counters/lifespan"), b"10000\n"),
            ("sys/class/infiniband/i40iw0/fw_ver".into(), b"0.2\n"),
            ("sys/class/infiniband/i40iw0/board_id".into(), b"I40IW Board ID\n"),
            ("sys/class/infiniband/i40iw0/hca_type".into(), b"I40IW\n"),
            (format!("{i}/state"), b"4: ACTIVE\n"),
            (format!("{i}/phys_state"), b"5: LinkUp\n"),
            (format!("{i}/rate"), b"10 Gb/sec (4X)\n"),
            (format!("{i}/counters/link_downed"), b"N/A (no PMA)\n"),
        ];
        let files: Vec<(&str, &[u8])> = files.iter().map(|(p, v)| (p.as_str(), *v)).collect();
        tree(&files)
    }

    #[test]
    fn node_exporters_fixture_lines() {
        let dir = fixture();
        let body = scrape_of("infiniband", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "node_infiniband_info{board_id=\"I40IW Board ID\",device=\"i40iw0\",firmware_version=\"0.2\",hca_type=\"I40IW\"} 1",
                "node_infiniband_info{board_id=\"SM_1141000001000\",device=\"mlx4_0\",firmware_version=\"2.31.5050\",hca_type=\"MT4099\"} 1",
                "node_infiniband_state_id{device=\"i40iw0\",port=\"1\"} 4",
                "node_infiniband_state_id{device=\"mlx4_0\",port=\"1\"} 4",
                "node_infiniband_physical_state_id{device=\"i40iw0\",port=\"1\"} 5",
                "node_infiniband_physical_state_id{device=\"mlx4_0\",port=\"1\"} 5",
                "node_infiniband_rate_bytes_per_second{device=\"i40iw0\",port=\"1\"} 1250000000",
                "node_infiniband_rate_bytes_per_second{device=\"mlx4_0\",port=\"1\"} 5000000000",
                "node_infiniband_legacy_data_received_bytes_total{device=\"mlx4_0\",port=\"1\"} 18527668",
                "node_infiniband_port_data_received_bytes_total{device=\"mlx4_0\",port=\"1\"} 18527668",
                "node_infiniband_port_transmit_wait_total{device=\"mlx4_0\",port=\"1\"} 4294967295",
                "node_infiniband_vl15_dropped_total{device=\"mlx4_0\",port=\"1\"} 0",
                "node_infiniband_lifespan_seconds{device=\"mlx4_0\",port=\"1\"} 10",
            ]
        );
        assert!(body.contains("# HELP node_infiniband_vl15_dropped Number of incoming VL15 packets dropped due to resource limitations.\n# TYPE node_infiniband_vl15_dropped counter\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"infiniband\"} 1\n"));
    }

    #[test]
    fn filters_no_data_and_a_broken_port_costs_only_itself() {
        let dir = fixture();
        let mut config = config_for(dir.path());
        config.options.set(&DEVICE_EXCLUDE, vec!["^mlx".into()]);
        let body = scrape_of("infiniband", build(&config).unwrap());
        assert!(!body.contains("mlx4_0"), "{body}");
        assert!(body.contains("node_infiniband_state_id{device=\"i40iw0\",port=\"1\"} 4\n"));

        std::fs::write(
            dir.path().join("sys/class/infiniband/mlx4_0/ports/1/state"),
            "weird\n",
        )
        .unwrap();
        let body = scrape_of("infiniband", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_infiniband_state_id{device=\"i40iw0\",port=\"1\"} 4\n"));
        assert!(!body.contains("node_infiniband_state_id{device=\"mlx4_0\""), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"infiniband\"} 0\n"));

        let empty = tree(&[("sys/class/net/lo/mtu", b"1\n")]);
        let body = scrape_of("infiniband", build(&config_for(empty.path())).unwrap());
        assert_eq!(samples(&body), Vec::<&str>::new());
        assert!(body.contains("node_scrape_collector_success{collector=\"infiniband\"} 1\n"));
    }
}
