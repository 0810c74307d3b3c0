//! udp_queues: `node_udp_queues{ip,queue}`, the bytes queued in UDP sockets, summed over the
//! sockets of `<procfs>/net/udp` (v4) and `<procfs>/net/udp6` (v6).
//!
//! node_exporter's procfs parses every column of every socket; only `tx_queue:rx_queue` (the
//! fifth) is needed, so only it is parsed. No file at all (no IP stack) is ErrNoData.

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, read_with,
};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "udp_queues",
    default_enabled: true,
    help: "Bytes queued in UDP sockets, from /proc/net/udp{,6}",
    flags: &[],
    build,
};

/// Sums `(tx_queue, rx_queue)` over the socket lines (after the header). A bad line costs
/// that line (reported in `bad`).
pub fn parse_udp_queues(data: &str, bad: &mut Vec<ParseError>) -> (u64, u64) {
    let (mut tx, mut rx) = (0u64, 0u64);
    for (i, line) in data.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let queues = line.split_ascii_whitespace().nth(4);
        let parsed = queues.and_then(|q| {
            let (t, r) = q.split_once(':')?;
            Some((
                u64::from_str_radix(t, 16).ok()?,
                u64::from_str_radix(r, 16).ok()?,
            ))
        });
        match parsed {
            Some((t, r)) => {
                tx = tx.saturating_add(t);
                rx = rx.saturating_add(r);
            }
            None => bad.push(ParseError::new(
                i + 1,
                format!("no tx_queue:rx_queue in {line:?}"),
            )),
        }
    }
    (tx, rx)
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(UdpQueuesCollector {
        paths: [
            ("v4", config.paths.procfs.join("net/udp")),
            ("v6", config.paths.procfs.join("net/udp6")),
        ],
    }))
}

struct UdpQueuesCollector {
    paths: [(&'static str, PathBuf); 2],
}

impl Collector for UdpQueuesCollector {
    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let mut sums = Vec::new();
        let mut errors = Vec::new();
        let mut missing = None;
        for (ip, path) in &self.paths {
            let mut bad = Vec::new();
            match read_with(path, |data| Ok(parse_udp_queues(data, &mut bad))) {
                Ok(sum) => sums.push((*ip, sum)),
                // No IPv4 or no IPv6: nothing for it, as node_exporter.
                Err(e) => match e.absent_is_no_data() {
                    no_data @ CollectError::NoData { .. } => missing = Some(no_data),
                    e => return Err(e),
                },
            }
            errors.extend(bad.into_iter().map(|e| CollectError::parse(path, e)));
        }
        if sums.is_empty() {
            // Both files missing.
            return missing.map_or(Ok(()), Err);
        }
        let mut family = gauge_family(
            enc,
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
        )?;
        for (ip, (tx, rx)) in sums {
            gauge(&mut family, &[("ip", ip), ("queue", "tx")], tx)?;
            gauge(&mut family, &[("ip", ip), ("queue", "rx")], rx)?;
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

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";

    fn scrape(files: &[(&str, &[u8])]) -> String {
        let dir = tree(files);
        scrape_of("udp_queues", build(&config_for(dir.path())).unwrap())
    }

    #[test]
    fn sums_both_files_and_node_exporters_fixture() {
        // node_exporter's fixture line.
        let v4 = format!(
            "{HEADER}   0: 00000000:0016 00000000:0000 0A 00000015:00000000 00:00000000 00000000     0        0 2740 1 ffff88003d3af3c0 100 0 0 10 0\n"
        );
        let v6 = format!(
            "{HEADER}  1: 00000000000000000000000000000000:0202 00000000000000000000000000000000:0000 07 00000000:00000100 00:00000000 00000000 0 0 1 2 0000000000000000 0\n  2: 00000000000000000000000000000000:0203 00000000000000000000000000000000:0000 07 00000002:00000001 00:00000000 00000000 0 0 1 2 0000000000000000 0\n"
        );
        let body = scrape(&[
            ("proc/net/udp", v4.as_bytes()),
            ("proc/net/udp6", v6.as_bytes()),
        ]);
        assert_eq!(
            samples(&body),
            [
                "node_udp_queues{ip=\"v4\",queue=\"tx\"} 21",
                "node_udp_queues{ip=\"v4\",queue=\"rx\"} 0",
                "node_udp_queues{ip=\"v6\",queue=\"tx\"} 2",
                "node_udp_queues{ip=\"v6\",queue=\"rx\"} 257",
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"udp_queues\"} 1\n"));
    }

    #[test]
    fn no_files_is_no_data_and_a_bad_line_costs_only_itself() {
        let body = scrape(&[("proc/net/other", b"")]);
        assert_eq!(samples(&body), Vec::<&str>::new());
        assert!(body.contains("node_scrape_collector_success{collector=\"udp_queues\"} 1\n"));

        let v4 = format!("{HEADER} 0: a b 07 00000001:00000002\n 1: a b 07 zz\n");
        let body = scrape(&[("proc/net/udp", v4.as_bytes())]);
        assert_eq!(
            samples(&body),
            [
                "node_udp_queues{ip=\"v4\",queue=\"tx\"} 1",
                "node_udp_queues{ip=\"v4\",queue=\"rx\"} 2",
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"udp_queues\"} 0\n"));
        let mut bad = Vec::new();
        parse_udp_queues(&v4, &mut bad);
        assert_eq!(
            bad.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["line 3: no tx_queue:rx_queue in \" 1: a b 07 zz\""]
        );
    }
}
