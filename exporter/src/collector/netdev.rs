//! netdev: `node_network_{receive,transmit}_*_total{device}` from `<procfs>/net/dev`.

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family};
use super::{CollectError, Collector, Config, ConfigError, ParseError, parse_num, read_with};

/// The eight receive columns of `/proc/net/dev`, as node_exporter names them.
pub const RECEIVE_FIELDS: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "frame",
    "compressed",
    "multicast",
];
/// The eight transmit columns of `/proc/net/dev`, as node_exporter names them.
pub const TRANSMIT_FIELDS: [&str; 8] = [
    "bytes",
    "packets",
    "errs",
    "drop",
    "fifo",
    "colls",
    "carrier",
    "compressed",
];

/// One interface line of `/proc/net/dev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetDev<'a> {
    pub device: &'a str,
    /// In the order of [`RECEIVE_FIELDS`].
    pub receive: [u64; 8],
    /// In the order of [`TRANSMIT_FIELDS`].
    pub transmit: [u64; 8],
}

/// Parses `/proc/net/dev` (two header lines, then `name: 16 numbers`).
pub fn parse_netdev(data: &str) -> Result<Vec<NetDev<'_>>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in data.lines().enumerate() {
        let n = i + 1;
        if n <= 2 || line.trim().is_empty() {
            continue;
        }
        // The last colon ends the name: interface names may contain colons (`ibr10:30`).
        let (device, rest) = line
            .rsplit_once(':')
            .ok_or_else(|| ParseError::new(n, format!("no ':' in {line:?}")))?;
        let device = device.trim();
        let mut nums = [0u64; 16];
        let mut parts = rest.split_ascii_whitespace();
        for (k, slot) in nums.iter_mut().enumerate() {
            let s = parts
                .next()
                .ok_or_else(|| ParseError::new(n, format!("{device}: {k} of 16 columns")))?;
            *slot = parse_num(n, device, s)?;
        }
        let mut receive = [0; 8];
        let mut transmit = [0; 8];
        receive.copy_from_slice(&nums[..8]);
        transmit.copy_from_slice(&nums[8..]);
        out.push(NetDev {
            device,
            receive,
            transmit,
        });
    }
    Ok(out)
}

/// (family name without `_total`, help) for the 16 columns, receive then transmit.
const FAMILIES: [(&str, &str); 16] = [
    (
        "node_network_receive_bytes",
        "Network device statistic receive_bytes.",
    ),
    (
        "node_network_receive_packets",
        "Network device statistic receive_packets.",
    ),
    (
        "node_network_receive_errs",
        "Network device statistic receive_errs.",
    ),
    (
        "node_network_receive_drop",
        "Network device statistic receive_drop.",
    ),
    (
        "node_network_receive_fifo",
        "Network device statistic receive_fifo.",
    ),
    (
        "node_network_receive_frame",
        "Network device statistic receive_frame.",
    ),
    (
        "node_network_receive_compressed",
        "Network device statistic receive_compressed.",
    ),
    (
        "node_network_receive_multicast",
        "Network device statistic receive_multicast.",
    ),
    (
        "node_network_transmit_bytes",
        "Network device statistic transmit_bytes.",
    ),
    (
        "node_network_transmit_packets",
        "Network device statistic transmit_packets.",
    ),
    (
        "node_network_transmit_errs",
        "Network device statistic transmit_errs.",
    ),
    (
        "node_network_transmit_drop",
        "Network device statistic transmit_drop.",
    ),
    (
        "node_network_transmit_fifo",
        "Network device statistic transmit_fifo.",
    ),
    (
        "node_network_transmit_colls",
        "Network device statistic transmit_colls.",
    ),
    (
        "node_network_transmit_carrier",
        "Network device statistic transmit_carrier.",
    ),
    (
        "node_network_transmit_compressed",
        "Network device statistic transmit_compressed.",
    ),
];

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(NetdevCollector {
        path: config.paths.procfs.join("net/dev"),
    }))
}

struct NetdevCollector {
    path: PathBuf,
}

impl Collector for NetdevCollector {
    fn update(&self, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        read_with(&self.path, |data| {
            let devs = parse_netdev(data).map_err(|e| CollectError::parse(&self.path, e))?;
            for (k, (name, help)) in FAMILIES.iter().enumerate() {
                let mut family = counter_family(enc, name, help)?;
                for dev in &devs {
                    let v = if k < 8 {
                        dev.receive[k]
                    } else {
                        dev.transmit[k - 8]
                    };
                    counter(&mut family, &[("device", dev.device)], v)?;
                }
            }
            Ok(())
        })
    }
}
