//! netdev: `node_network_{receive,transmit}_*_total{device}` from `<procfs>/net/dev`.

use std::collections::HashSet;
use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family};
use super::{CollectorSpec, 
    CollectError, Collector, Config, ConfigError, ParseError, Shared, parse_num, read_with,
};

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

/// Parses `/proc/net/dev` (header lines, then `name: 16 numbers`). The header is known by
/// its content (`|` and no `:`), not by position, so a file without it keeps its first two
/// interfaces. An interface seen twice keeps its first line (the rest are logged and
/// dropped): a duplicate series would make Prometheus reject the whole scrape.
pub fn parse_netdev(data: &str) -> Result<Vec<NetDev<'_>>, ParseError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in data.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        // The last colon ends the name: interface names may contain colons (`ibr10:30`).
        let Some((device, rest)) = line.rsplit_once(':') else {
            if line.contains('|') {
                continue;
            }
            return Err(ParseError::new(n, format!("no ':' in {line:?}")));
        };
        let device = device.trim();
        if !seen.insert(device) {
            tracing::warn!(line = n, device, "net/dev: duplicate interface dropped");
            continue;
        }
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

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "netdev",
    default_enabled: true,
    help: "Network interface statistics from /proc/net/dev",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(NetdevCollector {
        path: config.paths.procfs.join("net/dev"),
    }))
}

struct NetdevCollector {
    path: PathBuf,
}

impl Collector for NetdevCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
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

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    const HEADER: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
";

    #[test]
    fn parses_real_lines_including_names_with_colons() {
        let data = format!(
            "{HEADER}  eth0:68210035552 520993275    0    0    0     0          0         0 9315587528 43451486    0    0    0     0       0          0
ibr10:30:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
"
        );
        let devs = parse_netdev(&data).unwrap();
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[0].device, "eth0");
        assert_eq!(devs[0].receive[0], 68210035552);
        assert_eq!(devs[0].transmit[1], 43451486);
        assert_eq!(devs[1].device, "ibr10:30");
    }

    #[test]
    fn encodes_sixteen_counter_families_per_device() {
        let data = format!("{HEADER}    lo:  1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n");
        let dir = tree(&[("proc/net/dev", data.as_bytes())]);
        let body = scrape_of("netdev", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "node_network_receive_bytes_total{device=\"lo\"} 1",
                "node_network_receive_packets_total{device=\"lo\"} 2",
                "node_network_receive_errs_total{device=\"lo\"} 3",
                "node_network_receive_drop_total{device=\"lo\"} 4",
                "node_network_receive_fifo_total{device=\"lo\"} 5",
                "node_network_receive_frame_total{device=\"lo\"} 6",
                "node_network_receive_compressed_total{device=\"lo\"} 7",
                "node_network_receive_multicast_total{device=\"lo\"} 8",
                "node_network_transmit_bytes_total{device=\"lo\"} 9",
                "node_network_transmit_packets_total{device=\"lo\"} 10",
                "node_network_transmit_errs_total{device=\"lo\"} 11",
                "node_network_transmit_drop_total{device=\"lo\"} 12",
                "node_network_transmit_fifo_total{device=\"lo\"} 13",
                "node_network_transmit_colls_total{device=\"lo\"} 14",
                "node_network_transmit_carrier_total{device=\"lo\"} 15",
                "node_network_transmit_compressed_total{device=\"lo\"} 16",
            ]
        );
        assert!(body.contains(
            "# HELP node_network_receive_bytes Network device statistic receive_bytes.\n# TYPE node_network_receive_bytes counter\n"
        ));
    }

    #[test]
    fn a_file_without_its_header_keeps_every_interface() {
        let devs = parse_netdev(
            "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n\
             eth1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n\
             eth2: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
        )
        .unwrap();
        let names: Vec<_> = devs.iter().map(|d| d.device).collect();
        assert_eq!(names, ["eth0", "eth1", "eth2"]);
    }

    #[test]
    fn a_duplicated_interface_keeps_its_first_line() {
        let data = format!(
            "{HEADER}eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n\
             lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n\
             eth0: 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9\n"
        );
        let devs = parse_netdev(&data).unwrap();
        let names: Vec<_> = devs.iter().map(|d| d.device).collect();
        assert_eq!(names, ["eth0", "lo"]);
        assert_eq!(devs[0].receive[0], 1);
    }

    #[test]
    fn a_non_utf8_interface_name_costs_only_its_own_entry() {
        let mut data = HEADER.as_bytes().to_vec();
        data.extend_from_slice(b"  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n");
        data.extend_from_slice(b"  w\xfflan: 5 0 0 0 0 0 0 0 6 0 0 0 0 0 0 0\n");
        let dir = tree(&[("proc/net/dev", &data)]);
        let body = scrape_of("netdev", build(&config_for(dir.path())).unwrap());
        assert!(
            body.contains("node_network_receive_bytes_total{device=\"eth0\"} 1\n"),
            "{body}"
        );
        assert!(
            body.contains("node_network_receive_bytes_total{device=\"w\u{FFFD}lan\"} 5\n"),
            "{body}"
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"netdev\"} 1\n"));
    }

    #[test]
    fn hostile_net_devs_are_errors_with_line_numbers() {
        for (body, want) in [
            ("eth0 1 2 3\n", "line 3: no ':' in \"eth0 1 2 3\""),
            ("eth0: 1 2 3\n", "line 3: eth0: 3 of 16 columns"),
            (
                "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n",
                "line 3: eth0: \"x\" is not a number",
            ),
            (
                "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 18446744073709551616\n",
                "line 3: eth0: \"18446744073709551616\" is not a number",
            ),
        ] {
            let data = format!("{HEADER}{body}");
            assert_eq!(parse_netdev(&data).unwrap_err().to_string(), want);
        }
        // Only the header (or nothing): no interfaces, not an error.
        assert!(parse_netdev(HEADER).unwrap().is_empty());
        assert!(parse_netdev("").unwrap().is_empty());
    }
}
