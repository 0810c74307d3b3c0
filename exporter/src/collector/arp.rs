//! arp: `node_arp_entries{device}`, the IPv4 neighbour entries per interface. As node_exporter
//! 1.12: from an rtnetlink dump (RTM_GETNEIGH, entries without NUD_NOARP) by default, from
//! `<procfs>/net/arp` with `--no-collector.arp.netlink`. The kernel leaves NOARP entries out of
//! /proc/net/arp too, so both count the same entries.

use std::collections::BTreeMap;
use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::device_filter::DeviceFilter;
use super::encode::{gauge, gauge_family};
use super::netlink;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
    read_with,
};

pub const DEVICE_INCLUDE: FlagSpec = FlagSpec::value(
    "--collector.arp.device-include",
    "",
    "Regexp of arp devices to include (mutually exclusive to device-exclude).",
);

pub const DEVICE_EXCLUDE: FlagSpec = FlagSpec::value(
    "--collector.arp.device-exclude",
    "",
    "Regexp of arp devices to exclude (mutually exclusive to device-include).",
);

pub const NETLINK: FlagSpec = FlagSpec::switch(
    "--collector.arp.netlink",
    true,
    "Use netlink to gather stats instead of /proc/net/arp.",
);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "arp",
    default_enabled: true,
    help: "ARP entries per interface (rtnetlink, or /proc/net/arp)",
    flags: &[DEVICE_INCLUDE, DEVICE_EXCLUDE, NETLINK],
    build,
};

/// Counts the entries of `/proc/net/arp` per device. Lines of 6 columns are entries; the
/// header (9 columns) and blank lines are skipped; any other line costs that line (reported
/// in `bad`).
pub fn parse_arp<'a>(data: &'a str, bad: &mut Vec<ParseError>) -> BTreeMap<&'a str, u64> {
    let mut out = BTreeMap::new();
    for (i, line) in data.lines().enumerate() {
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        match cols.len() {
            0 | 9 => {}
            6 => *out.entry(cols[5]).or_insert(0) += 1,
            n => bad.push(ParseError::new(
                i + 1,
                format!("{n} columns, expected 6: {line:?}"),
            )),
        }
    }
    out
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(ArpCollector {
        path: config.paths.procfs.join("net/arp"),
        filter: DeviceFilter::new(config, &DEVICE_EXCLUDE, &DEVICE_INCLUDE)?,
        netlink: config.options.switch(&NETLINK),
    }))
}

struct ArpCollector {
    path: PathBuf,
    filter: DeviceFilter,
    netlink: bool,
}

impl Collector for ArpCollector {
    fn update(&self, shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let mut bad = Vec::new();
        let counts: BTreeMap<String, u64> = if self.netlink {
            neighbours_per_device(shared).map_err(|source| CollectError::Read {
                path: PathBuf::from("rtnetlink RTM_GETNEIGH"),
                source,
            })?
        } else {
            read_with(&self.path, |data| {
                let counts = parse_arp(data, &mut bad);
                Ok(counts.into_iter().map(|(d, n)| (d.to_owned(), n)).collect())
            })?
        };
        let mut family = gauge_family(enc, "node_arp_entries", "ARP entries by device")?;
        for (device, n) in counts.iter().filter(|(d, _)| !self.filter.ignored(d)) {
            gauge(&mut family, &[("device", device.as_str())], *n)?;
        }
        match bad.into_iter().next() {
            Some(e) => Err(CollectError::parse(&self.path, e)),
            None => Ok(()),
        }
    }
}

/// IPv4 neighbours without NUD_NOARP, counted per interface name, from an RTM_GETNEIGH dump;
/// the names from the scrape's link dump (an index not in it, a link made since, is asked for).
fn neighbours_per_device(shared: &Shared) -> std::io::Result<BTreeMap<String, u64>> {
    // struct ndmsg: family, 3 bytes of padding, ifindex, state, flags, type.
    let mut request = [0u8; 12];
    request[0] = libc::AF_INET as u8;
    let mut per_index: BTreeMap<u32, u64> = BTreeMap::new();
    netlink::dump(libc::RTM_GETNEIGH, &request, libc::RTM_NEWNEIGH, |body| {
        count_neighbour(body, &mut per_index)
    })?;
    let names: BTreeMap<u32, String> = if per_index.is_empty() {
        BTreeMap::new()
    } else {
        shared
            .with_links(|bodies| bodies.iter().filter_map(|b| netlink::link_name(b)).collect())
            .unwrap_or_default()
    };
    let mut out = BTreeMap::new();
    for (index, n) in per_index {
        let name = match names.get(&index) {
            Some(name) => name.clone(),
            None => netlink::interface_name(index),
        };
        *out.entry(name).or_insert(0) += n;
    }
    Ok(out)
}

/// Counts one RTM_NEWNEIGH body (an ndmsg, then attributes) under its interface index.
fn count_neighbour(body: &[u8], per_index: &mut BTreeMap<u32, u64>) {
    if body.len() < 12 {
        return;
    }
    let (family, index, state) = (body[0], netlink::u32_at(body, 4), netlink::u16_at(body, 8));
    if family == libc::AF_INET as u8 && state & libc::NUD_NOARP == 0 {
        *per_index.entry(index).or_insert(0) += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    // node_exporter's fixture.
    const ARP: &str = "IP address       HW type     Flags       HW address            Mask     Device
192.168.1.1    0x1         0x2         cc:aa:dd:ee:aa:bb     *        eth0
192.168.1.2    0x1         0x2         bb:cc:dd:ee:ff:aa     *        eth0
192.168.1.3    0x1         0x2         aa:bb:cc:dd:ee:ff     *        eth0
192.168.1.4    0x1         0x2         dd:ee:ff:aa:bb:cc     *        eth1
192.168.1.5    0x1         0x2         ee:ff:aa:bb:cc:dd     *        eth1
192.168.1.6    0x1         0x2         ff:aa:bb:cc:dd:ee     *        eth1
10.0.0.1       0x1         0x2         de:ad:be:ef:00:00     *        nope
";

    fn scrape(data: &str, options: &[(&FlagSpec, &str)]) -> String {
        let dir = tree(&[("proc/net/arp", data.as_bytes())]);
        let mut config = config_for(dir.path());
        config.options.set(&NETLINK, vec!["false".into()]);
        for (flag, v) in options {
            config.options.set(flag, vec![v.to_string()]);
        }
        scrape_of("arp", build(&config).unwrap())
    }

    #[test]
    fn proc_net_arp_with_node_exporters_e2e_flags() {
        let body = scrape(ARP, &[(&DEVICE_EXCLUDE, "nope")]);
        assert_eq!(
            samples(&body),
            [
                "node_arp_entries{device=\"eth0\"} 3",
                "node_arp_entries{device=\"eth1\"} 3"
            ]
        );
        assert!(body.contains("# HELP node_arp_entries ARP entries by device\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"arp\"} 1\n"));
        let body = scrape(ARP, &[(&DEVICE_INCLUDE, "^eth1$")]);
        assert_eq!(samples(&body), ["node_arp_entries{device=\"eth1\"} 3"]);
    }

    #[test]
    fn a_bad_line_costs_only_itself() {
        let body = scrape(&format!("{ARP}garbage\n"), &[]);
        assert_eq!(
            samples(&body),
            [
                "node_arp_entries{device=\"eth0\"} 3",
                "node_arp_entries{device=\"eth1\"} 3",
                "node_arp_entries{device=\"nope\"} 1"
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"arp\"} 0\n"));
        let mut bad = Vec::new();
        parse_arp("a b c\n", &mut bad);
        assert_eq!(bad[0].to_string(), "line 1: 3 columns, expected 6: \"a b c\"");
    }

    #[test]
    fn netlink_counts_what_proc_net_arp_lists_on_this_machine() {
        let proc_arp = std::fs::read_to_string("/proc/net/arp").unwrap();
        let from_proc: BTreeMap<String, u64> = parse_arp(&proc_arp, &mut Vec::new())
            .into_iter()
            .map(|(d, n)| (d.to_owned(), n))
            .collect();
        assert_eq!(neighbours_per_device(&Shared::default()).unwrap(), from_proc);
    }

    #[test]
    fn neighbours_are_counted_per_interface_without_noarp_ones() {
        let ndmsg = |family: u8, index: u32, state: u16| {
            let mut m = vec![0u8; 12];
            m[0] = family;
            m[4..8].copy_from_slice(&index.to_ne_bytes());
            m[8..10].copy_from_slice(&state.to_ne_bytes());
            m
        };
        let mut counts = BTreeMap::new();
        for body in [
            ndmsg(libc::AF_INET as u8, 2, 0x02),
            ndmsg(libc::AF_INET as u8, 2, 0x04),
            ndmsg(libc::AF_INET as u8, 1, libc::NUD_NOARP),
            ndmsg(libc::AF_INET6 as u8, 3, 0x02),
            vec![0u8; 4],
        ] {
            count_neighbour(&body, &mut counts);
        }
        assert_eq!(counts, BTreeMap::from([(2, 2)]));
    }
}
