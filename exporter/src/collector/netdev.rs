//! netdev: `node_network_{receive,transmit}_*_total{device}` from an rtnetlink link dump (as
//! node_exporter 1.12 by default) or, with `--no-collector.netdev.netlink`, from
//! `<procfs>/net/dev`; with `--collector.netdev.address-info` `node_network_address_info`
//! from getifaddrs(3).

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::device_filter::DeviceFilter;
use super::encode::{counter, counter_family, gauge, gauge_family};
use super::netlink;
use super::read::{attr_absent, read_attr};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
    parse_num, read_with,
};

pub const DEVICE_INCLUDE: FlagSpec = FlagSpec::value(
    "--collector.netdev.device-include",
    "",
    "Regexp of net devices to include (mutually exclusive to device-exclude).",
);

pub const DEVICE_EXCLUDE: FlagSpec = FlagSpec::value(
    "--collector.netdev.device-exclude",
    "",
    "Regexp of net devices to exclude (mutually exclusive to device-include).",
);

/// node_exporter's deprecated spellings of the two flags above, still accepted by 1.12.
pub const DEVICE_WHITELIST: FlagSpec = FlagSpec::value(
    "--collector.netdev.device-whitelist",
    "",
    "DEPRECATED: Use collector.netdev.device-include",
);

pub const DEVICE_BLACKLIST: FlagSpec = FlagSpec::value(
    "--collector.netdev.device-blacklist",
    "",
    "DEPRECATED: Use collector.netdev.device-exclude",
);

pub const ADDRESS_INFO: FlagSpec = FlagSpec::switch(
    "--collector.netdev.address-info",
    false,
    "Collect address-info for every device",
);

pub const DETAILED_METRICS: FlagSpec = FlagSpec::switch(
    "--collector.netdev.enable-detailed-metrics",
    false,
    "Use (incompatible) metric names that provide more detailed stats on Linux",
);

pub const NETLINK: FlagSpec = FlagSpec::switch(
    "--collector.netdev.netlink",
    true,
    "Use netlink to gather stats instead of /proc/net/dev.",
);

pub const LABEL_IFALIAS: FlagSpec = FlagSpec::switch(
    "--collector.netdev.label-ifalias",
    false,
    "Add ifAlias label",
);

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

/// The families of the 16 columns of /proc/net/dev, receive then transmit, as node_exporter
/// names them (`node_network_<key>_total`, HELP `Network device statistic <key>.`).
const PROC_KEYS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

/// With `--collector.netdev.enable-detailed-metrics`, node_exporter names errs and drop after
/// the kernel's fields.
fn detailed_key(key: &'static str) -> &'static str {
    match key {
        "receive_errs" => "receive_errors",
        "receive_drop" => "receive_dropped",
        "transmit_errs" => "transmit_errors",
        "transmit_drop" => "transmit_dropped",
        other => other,
    }
}

/// What netlink's link statistics add to the /proc/net/dev columns.
const NOHANDLER: &str = "receive_nohandler";

/// The fields of `struct rtnl_link_stats64` (and of the 32-bit `rtnl_link_stats`) in the
/// kernel's order, named as node_exporter's detailed metrics.
const LINK_STATS: [&str; 24] = [
    "receive_packets",
    "transmit_packets",
    "receive_bytes",
    "transmit_bytes",
    "receive_errors",
    "transmit_errors",
    "receive_dropped",
    "transmit_dropped",
    "multicast",
    "collisions",
    "receive_length_errors",
    "receive_over_errors",
    "receive_crc_errors",
    "receive_frame_errors",
    "receive_fifo_errors",
    "receive_missed_errors",
    "transmit_aborted_errors",
    "transmit_carrier_errors",
    "transmit_fifo_errors",
    "transmit_heartbeat_errors",
    "transmit_window_errors",
    "receive_compressed",
    "transmit_compressed",
    "receive_nohandler",
];

/// The link statistics folded into [`PROC_KEYS`] and [`NOHANDLER`] as the kernel folds them into
/// /proc/net/dev (`dev_seq_printf_stats`; node_exporter's `legacy()`).
pub fn legacy(r: &[u64; 24]) -> Vec<u64> {
    let sum = |ix: &[usize]| ix.iter().fold(0u64, |a, &i| a.wrapping_add(r[i]));
    vec![
        r[2],
        r[0],
        r[4],
        sum(&[6, 15]),
        r[14],
        sum(&[13, 10, 11, 12]),
        r[21],
        r[8],
        r[3],
        r[1],
        r[5],
        r[7],
        r[18],
        r[9],
        sum(&[17, 16, 19, 20]),
        r[22],
        r[23],
    ]
}

/// Parses one RTM_NEWLINK body (ifinfomsg, then attributes) into the name and statistics
/// (IFLA_STATS64, else the 32-bit IFLA_STATS). A link without either is `None`.
pub fn parse_link(body: &[u8]) -> Option<(String, [u64; 24])> {
    const IFINFOMSG: usize = 16;
    const IFLA_IFNAME: u16 = 3;
    const IFLA_STATS: u16 = 7;
    const IFLA_STATS64: u16 = 23;
    let mut name = None;
    let mut stats: Option<[u64; 24]> = None;
    let mut stats32: Option<[u64; 24]> = None;
    for (kind, value) in netlink::attributes(body.get(IFINFOMSG..)?) {
        match kind {
            IFLA_IFNAME => {
                let bytes = value.split(|&b| b == 0).next().unwrap_or_default();
                name = Some(String::from_utf8_lossy(bytes).into_owned());
            }
            IFLA_STATS64 if value.len() >= 24 * 8 => {
                let mut s = [0u64; 24];
                for (i, slot) in s.iter_mut().enumerate() {
                    let b: [u8; 8] = value[i * 8..i * 8 + 8].try_into().ok()?;
                    *slot = u64::from_ne_bytes(b);
                }
                stats = Some(s);
            }
            IFLA_STATS if value.len() >= 24 * 4 => {
                let mut s = [0u64; 24];
                for (i, slot) in s.iter_mut().enumerate() {
                    *slot = u64::from(netlink::u32_at(value, i * 4));
                }
                stats32 = Some(s);
            }
            _ => {}
        }
    }
    Some((name?, stats.or(stats32)?))
}

/// Every link's statistics, from the scrape's RTM_GETLINK dump.
fn link_stats(shared: &Shared) -> io::Result<Vec<(String, [u64; 24])>> {
    shared.with_links(|bodies| bodies.iter().filter_map(|b| parse_link(b)).collect())
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "netdev",
    default_enabled: true,
    help: "Network interface statistics over rtnetlink, or from /proc/net/dev",
    flags: &[
        DEVICE_INCLUDE,
        DEVICE_EXCLUDE,
        DEVICE_WHITELIST,
        DEVICE_BLACKLIST,
        ADDRESS_INFO,
        DETAILED_METRICS,
        LABEL_IFALIAS,
        NETLINK,
    ],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let options = &config.options;
    // The deprecated spelling stands in for the new one, with a warning, as node_exporter.
    let resolve = |new: &FlagSpec, old: &FlagSpec| match (options.value(new), options.value(old)) {
        (value, "") => Ok((new.name, value)),
        ("", value) => {
            tracing::warn!(
                "{} is DEPRECATED and will be removed in 2.0.0, use {}",
                old.name,
                new.name
            );
            Ok((old.name, value))
        }
        _ => Err(ConfigError::Invalid {
            flag: old.name,
            message: format!("cannot be used with {}", new.name),
        }),
    };
    let include = resolve(&DEVICE_INCLUDE, &DEVICE_WHITELIST)?;
    let exclude = resolve(&DEVICE_EXCLUDE, &DEVICE_BLACKLIST)?;
    if !include.1.is_empty() && !exclude.1.is_empty() {
        return Err(ConfigError::Invalid {
            flag: include.0,
            message: format!("cannot be used with {}", exclude.0),
        });
    }
    let (netlink, detailed) = (options.switch(&NETLINK), options.switch(&DETAILED_METRICS));
    let keys: Vec<&'static str> = match (netlink, detailed) {
        (true, true) => LINK_STATS.to_vec(),
        (true, false) => PROC_KEYS.iter().copied().chain([NOHANDLER]).collect(),
        (false, true) => PROC_KEYS.iter().map(|k| detailed_key(k)).collect(),
        (false, false) => PROC_KEYS.to_vec(),
    };
    // Each family's name and HELP, made once rather than on every scrape.
    let families = keys
        .iter()
        .map(|key| {
            (
                format!("node_network_{key}"),
                format!("Network device statistic {key}."),
            )
        })
        .collect();
    Ok(Box::new(NetdevCollector {
        path: config.paths.procfs.join("net/dev"),
        class_net: config.paths.sysfs.join("class/net"),
        filter: DeviceFilter::from_values(exclude, include)?,
        address_info: options.switch(&ADDRESS_INFO),
        detailed,
        label_ifalias: options.switch(&LABEL_IFALIAS),
        netlink,
        families,
    }))
}

struct NetdevCollector {
    path: PathBuf,
    class_net: PathBuf,
    filter: DeviceFilter,
    address_info: bool,
    detailed: bool,
    label_ifalias: bool,
    netlink: bool,
    /// The families' names (`node_network_<key>_total`) and HELP, in the order of a device's
    /// values.
    families: Vec<(String, String)>,
}

impl NetdevCollector {
    /// The `ifalias` label of a device, as node_exporter's `--collector.netdev.label-ifalias`:
    /// the sysfs attribute (empty when the device has none), no label for a device sysfs does
    /// not list.
    fn ifalias(&self, device: &str, buf: &mut Vec<u8>) -> Option<String> {
        let dir = self.class_net.join(device);
        match read_attr(&dir.join("ifalias"), buf) {
            Ok(s) => Some(s.to_owned()),
            Err(e) if attr_absent(&e) && dir.is_dir() => Some(String::new()),
            Err(_) => None,
        }
    }

    /// Writes one counter family per key, `rows` holding each device's values in key order.
    fn encode_stats(
        &self,
        rows: &[(&str, Vec<u64>)],
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let mut buf = Vec::new();
        let labels: Vec<Vec<(&str, String)>> = rows
            .iter()
            .map(|(device, _)| {
                let mut l = vec![("device", device.to_string())];
                if self.label_ifalias
                    && let Some(alias) = self.ifalias(device, &mut buf)
                {
                    l.push(("ifalias", alias));
                }
                l
            })
            .collect();
        for (k, (name, help)) in self.families.iter().enumerate() {
            let mut family = counter_family(enc, name, help)?;
            for ((_, values), labels) in rows.iter().zip(&labels) {
                counter(&mut family, labels, values[k])?;
            }
        }
        Ok(())
    }
}

impl Collector for NetdevCollector {
    fn update(&self, shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        if self.netlink {
            let links = link_stats(shared).map_err(|source| CollectError::Read {
                path: PathBuf::from("rtnetlink RTM_GETLINK"),
                source,
            })?;
            let rows: Vec<(&str, Vec<u64>)> = links
                .iter()
                .filter(|(name, _)| !self.filter.ignored(name))
                .map(|(name, s)| (name.as_str(), if self.detailed { s.to_vec() } else { legacy(s) }))
                .collect();
            self.encode_stats(&rows, enc)?;
        } else {
            read_with(&self.path, |data| {
                let devs = parse_netdev(data).map_err(|e| CollectError::parse(&self.path, e))?;
                let rows: Vec<(&str, Vec<u64>)> = devs
                    .iter()
                    .filter(|d| !self.filter.ignored(d.device))
                    .map(|d| (d.device, [d.receive, d.transmit].concat()))
                    .collect();
                self.encode_stats(&rows, enc)
            })?;
        }
        if self.address_info {
            let mut addrs = addresses().map_err(|source| CollectError::Read {
                path: PathBuf::from("getifaddrs(3)"),
                source,
            })?;
            addrs.retain(|a| !self.filter.ignored(&a.device));
            let mut family = gauge_family(
                enc,
                "node_network_address_info",
                "node network address by device",
            )?;
            for a in &addrs {
                let labels = [
                    ("address", a.address.to_string()),
                    ("device", a.device.clone()),
                    ("netmask", a.prefix.to_string()),
                    ("scope", scope(a.address).to_owned()),
                ];
                gauge(&mut family, &labels, 1u64)?;
            }
        }
        Ok(())
    }
}

/// One address of an interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Address {
    device: String,
    address: IpAddr,
    prefix: u32,
}

/// node_exporter's `scope()`, on Go's definitions of the address classes.
pub fn scope(ip: IpAddr) -> &'static str {
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || {
            // 224.0.0.0/24, Go's IsLinkLocalMulticast for IPv4.
            let o = v4.octets();
            o[0] == 224 && o[1] == 0 && o[2] == 0
        },
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback() || s[0] & 0xffc0 == 0xfe80 || s[0] & 0xff0f == 0xff02
        }
    };
    if link_local {
        return "link-local";
    }
    if let IpAddr::V6(v6) = ip
        && v6.segments()[0] & 0xff0f == 0xff01
    {
        return "interface-local";
    }
    let global = match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || v4.is_loopback())
        }
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast() || v6.is_loopback()),
    };
    if global { "global" } else { "" }
}

/// The IPv4 and IPv6 addresses of every interface, sorted (getifaddrs(3)).
fn addresses() -> io::Result<Vec<Address>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        // SAFETY: ifa_addr and ifa_netmask are null or point to sockaddrs of the family
        // ifa_addr says; the name is a NUL-terminated string.
        let (addr, mask) = unsafe { (sockaddr_ip(ifa.ifa_addr), sockaddr_ip(ifa.ifa_netmask)) };
        let (Some(address), Some(mask)) = (addr, mask) else {
            continue;
        };
        let prefix = match mask {
            IpAddr::V4(m) => u32::from(m).count_ones(),
            IpAddr::V6(m) => u128::from(m).count_ones(),
        };
        // SAFETY: as above.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        out.push(Address {
            device: name.to_string_lossy().into_owned(),
            address,
            prefix,
        });
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out.sort();
    out.dedup();
    Ok(out)
}

/// The address in a sockaddr_in or sockaddr_in6; other families are `None`.
///
/// # Safety
/// `sa` is null or points to a sockaddr whose family tells its real size.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: the caller's promise; read_unaligned copies the struct the family names.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in>());
                Some(IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes()))
            }
            libc::AF_INET6 => {
                let sin6 = std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>());
                Some(IpAddr::from(sin6.sin6_addr.s6_addr))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, tree};
    use super::*;

    /// A config reading `<dir>/proc/net/dev` (not the machine's links over netlink).
    fn proc_config(dir: &std::path::Path) -> Config {
        let mut config = config_for(dir);
        config.options.set(&NETLINK, vec!["false".into()]);
        config
    }

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
        let body = scrape_of("netdev", build(&proc_config(dir.path())).unwrap());
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

    fn scrape(data: &[u8], options: &[(&FlagSpec, &str)]) -> String {
        let dir = tree(&[("proc/net/dev", data)]);
        let mut config = proc_config(dir.path());
        for (flag, v) in options {
            config.options.set(flag, vec![v.to_string()]);
        }
        scrape_of("netdev", build(&config).unwrap())
    }

    /// The receive_bytes samples of a body.
    fn rx_bytes(body: &str) -> Vec<&str> {
        samples(body)
            .into_iter()
            .filter(|l| l.starts_with("node_network_receive_bytes"))
            .collect()
    }

    #[test]
    fn a_file_without_its_header_keeps_every_interface() {
        let body = scrape(
            b"eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n\
              eth1: 2 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n\
              eth2: 3 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
            &[],
        );
        assert_eq!(
            rx_bytes(&body),
            [
                "node_network_receive_bytes_total{device=\"eth0\"} 1",
                "node_network_receive_bytes_total{device=\"eth1\"} 2",
                "node_network_receive_bytes_total{device=\"eth2\"} 3",
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"netdev\"} 1\n"));
    }

    #[test]
    fn a_duplicated_interface_keeps_its_first_line_and_says_so() {
        let data = format!(
            "{HEADER}eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n\
             lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n\
             eth0: 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9\n"
        );
        let mut body = String::new();
        let logs = logs_of(|| body = scrape(data.as_bytes(), &[]));
        assert_eq!(
            rx_bytes(&body),
            [
                "node_network_receive_bytes_total{device=\"eth0\"} 1",
                "node_network_receive_bytes_total{device=\"lo\"} 0",
            ]
        );
        assert!(
            logs.contains("WARN") && logs.contains("net/dev: duplicate interface dropped")
                && logs.contains("line=5") && logs.contains("device=\"eth0\""),
            "{logs}"
        );
    }

    #[test]
    fn device_filters_detailed_names_and_the_ifalias_label() {
        let data = format!(
            "{HEADER}eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n\
             lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        );
        let body = scrape(data.as_bytes(), &[(&DEVICE_INCLUDE, "^lo$")]);
        assert_eq!(
            rx_bytes(&body),
            ["node_network_receive_bytes_total{device=\"lo\"} 0"]
        );
        let body = scrape(data.as_bytes(), &[(&DEVICE_EXCLUDE, "^lo$")]);
        assert_eq!(
            rx_bytes(&body),
            ["node_network_receive_bytes_total{device=\"eth0\"} 1"]
        );

        let body = scrape(
            data.as_bytes(),
            &[(&DETAILED_METRICS, "true"), (&DEVICE_INCLUDE, "eth0")],
        );
        let s = samples(&body);
        for line in [
            "node_network_receive_errors_total{device=\"eth0\"} 3",
            "node_network_receive_dropped_total{device=\"eth0\"} 4",
            "node_network_transmit_errors_total{device=\"eth0\"} 11",
            "node_network_transmit_dropped_total{device=\"eth0\"} 12",
            "node_network_receive_fifo_total{device=\"eth0\"} 5",
        ] {
            assert!(s.contains(&line), "{line} missing from {body}");
        }
        assert!(!body.contains("receive_errs"), "{body}");

        let dir = tree(&[
            ("proc/net/dev", data.as_bytes()),
            ("sys/class/net/eth0/ifalias", b"uplink to core\n"),
            ("sys/class/net/lo/mtu", b"65536\n"),
        ]);
        let mut config = proc_config(dir.path());
        config.options.set(&LABEL_IFALIAS, vec!["true".into()]);
        let body = scrape_of("netdev", build(&config).unwrap());
        assert_eq!(
            rx_bytes(&body),
            [
                "node_network_receive_bytes_total{device=\"eth0\",ifalias=\"uplink to core\"} 1",
                "node_network_receive_bytes_total{device=\"lo\",ifalias=\"\"} 0",
            ]
        );

        let mut config = proc_config(dir.path());
        config.options.set(&DEVICE_INCLUDE, vec!["a".into()]);
        config.options.set(&DEVICE_EXCLUDE, vec!["b".into()]);
        assert_eq!(
            build(&config).err().unwrap().to_string(),
            "--collector.netdev.device-include: cannot be used with --collector.netdev.device-exclude"
        );

        // node_exporter's deprecated spelling still works, with a warning.
        let mut config = proc_config(dir.path());
        config.options.set(&DEVICE_BLACKLIST, vec!["^lo$".into()]);
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("netdev", build(&config).unwrap()));
        assert_eq!(
            rx_bytes(&body),
            ["node_network_receive_bytes_total{device=\"eth0\"} 1"]
        );
        assert!(logs.contains("--collector.netdev.device-blacklist is DEPRECATED and will be removed in 2.0.0, use --collector.netdev.device-exclude"), "{logs}");
        config.options.set(&DEVICE_EXCLUDE, vec!["x".into()]);
        assert_eq!(
            build(&config).err().unwrap().to_string(),
            "--collector.netdev.device-blacklist: cannot be used with --collector.netdev.device-exclude"
        );
    }

    #[test]
    fn address_info_lists_this_machines_loopback() {
        let body = scrape(
            format!("{HEADER}lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n").as_bytes(),
            &[(&ADDRESS_INFO, "true"), (&DEVICE_INCLUDE, "^lo$")],
        );
        assert!(
            body.contains("node_network_address_info{address=\"127.0.0.1\",device=\"lo\",netmask=\"8\",scope=\"link-local\"} 1\n"),
            "{body}"
        );
        assert!(body.contains("# HELP node_network_address_info node network address by device\n"));
    }

    #[test]
    fn netlink_lists_the_links_of_proc_net_dev_with_counters_at_least_as_high() {
        let proc_dev = std::fs::read_to_string("/proc/net/dev").unwrap();
        let from_proc = parse_netdev(&proc_dev).unwrap();
        let links = link_stats(&Shared::default()).unwrap();
        let mut names: Vec<&str> = links.iter().map(|(n, _)| n.as_str()).collect();
        let mut proc_names: Vec<&str> = from_proc.iter().map(|d| d.device).collect();
        names.sort_unstable();
        proc_names.sort_unstable();
        assert_eq!(names, proc_names);
        for d in &from_proc {
            let (_, stats) = links.iter().find(|(n, _)| n == d.device).unwrap();
            let values = legacy(stats);
            let proc_values = [d.receive, d.transmit].concat();
            for (k, key) in PROC_KEYS.iter().enumerate() {
                assert!(values[k] >= proc_values[k], "{} {key}", d.device);
            }
        }
    }

    #[test]
    fn netlink_mode_adds_nohandler_and_detailed_names_every_field() {
        let dir = tree(&[]);
        let mut config = config_for(dir.path());
        config.options.set(&DEVICE_INCLUDE, vec!["^lo$".into()]);
        let body = scrape_of("netdev", build(&config).unwrap());
        assert!(
            body.contains("node_network_receive_nohandler_total{device=\"lo\"} 0\n"),
            "{body}"
        );
        assert!(body.contains("node_network_transmit_colls_total{device=\"lo\"} 0\n"));
        assert_eq!(samples(&body).len(), 17, "{body}");
        config.options.set(&DETAILED_METRICS, vec!["true".into()]);
        let body = scrape_of("netdev", build(&config).unwrap());
        assert!(body.contains("node_network_collisions_total{device=\"lo\"} 0\n"));
        assert!(body.contains("node_network_receive_missed_errors_total{device=\"lo\"} 0\n"));
        assert_eq!(samples(&body).len(), 24, "{body}");
    }

    #[test]
    fn link_messages_parse_with_64_or_32_bit_statistics() {
        let attr = |kind: u16, value: &[u8]| {
            let len = 4 + value.len();
            let mut a = (len as u16).to_ne_bytes().to_vec();
            a.extend(kind.to_ne_bytes());
            a.extend(value);
            a.resize(len.div_ceil(4) * 4, 0);
            a
        };
        let stats64: Vec<u8> = (1..=24u64).flat_map(u64::to_ne_bytes).collect();
        let stats32: Vec<u8> = (1..=24u32).flat_map(|v| (v * 10).to_ne_bytes()).collect();
        let mut body = vec![0u8; 16];
        body.extend(attr(3, b"eth0\0"));
        body.extend(attr(7, &stats32));
        body.extend(attr(23, &stats64));
        let (name, stats) = parse_link(&body).unwrap();
        assert_eq!(name, "eth0");
        assert_eq!(stats[0], 1);
        // rx_drop = rx_dropped (7) + rx_missed_errors (16); rx_frame = 14 + 11 + 12 + 13.
        let l = legacy(&stats);
        assert_eq!((l[0], l[3], l[5], l[16]), (3, 23, 50, 24));
        let mut body = vec![0u8; 16];
        body.extend(attr(3, b"eth1\0"));
        body.extend(attr(7, &stats32));
        assert_eq!(parse_link(&body).unwrap().1[23], 240);
        let mut body = vec![0u8; 16];
        body.extend(attr(3, b"dummy\0"));
        assert_eq!(parse_link(&body), None);
    }

    #[test]
    fn scopes_follow_gos_address_classes() {
        for (ip, want) in [
            ("127.0.0.1", "link-local"),
            ("169.254.1.1", "link-local"),
            ("224.0.0.251", "link-local"),
            ("10.8.0.2", "global"),
            ("203.0.113.7", "global"),
            ("239.1.1.1", ""),
            ("::1", "link-local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "link-local"),
            ("ff01::1", "interface-local"),
            ("2001:db8::1", "global"),
            ("fd00::1", "global"),
            ("ff05::2", ""),
        ] {
            assert_eq!(scope(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn a_non_utf8_interface_name_costs_only_its_own_entry() {
        let mut data = HEADER.as_bytes().to_vec();
        data.extend_from_slice(b"  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n");
        data.extend_from_slice(b"  w\xfflan: 5 0 0 0 0 0 0 0 6 0 0 0 0 0 0 0\n");
        let dir = tree(&[("proc/net/dev", &data)]);
        let body = scrape_of("netdev", build(&proc_config(dir.path())).unwrap());
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
