//! arp: `node_arp_entries{device}`, the IPv4 neighbour entries per interface. As node_exporter
//! 1.12: from an rtnetlink dump (RTM_GETNEIGH, entries without NUD_NOARP) by default, from
//! `<procfs>/net/arp` with `--no-collector.arp.netlink`. The kernel leaves NOARP entries out of
//! /proc/net/arp too, so both count the same entries.

use std::collections::BTreeMap;
use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
    compile_regex, read_with,
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

/// node_exporter's device filter: a device is skipped when it matches the exclude regex or,
/// with an include regex, does not match it. An empty flag is no regex.
#[derive(Debug)]
pub(crate) struct DeviceFilter {
    exclude: Option<regex::Regex>,
    include: Option<regex::Regex>,
}

impl DeviceFilter {
    pub(crate) fn new(
        config: &Config,
        exclude: &FlagSpec,
        include: &FlagSpec,
    ) -> Result<DeviceFilter, ConfigError> {
        let compile = |flag: &FlagSpec| match config.options.value(flag) {
            "" => Ok(None),
            v => compile_regex(flag.name, v).map(Some),
        };
        Ok(DeviceFilter {
            exclude: compile(exclude)?,
            include: compile(include)?,
        })
    }

    pub(crate) fn ignored(&self, device: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(device))
            || self.include.as_ref().is_some_and(|r| !r.is_match(device))
    }
}

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
    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let mut bad = Vec::new();
        let counts: BTreeMap<String, u64> = if self.netlink {
            netlink::neighbours_per_device().map_err(|source| CollectError::Read {
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

/// The rtnetlink neighbour dump, over a plain `libc` netlink socket.
mod netlink {
    use std::collections::BTreeMap;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// nlmsghdr (16 bytes) + ndmsg (12 bytes).
    const HDR: usize = 16;
    const REQUEST_LEN: usize = HDR + 12;
    const SEQ: u32 = 1;

    /// IPv4 neighbours without NUD_NOARP, counted per interface name.
    pub(super) fn neighbours_per_device() -> io::Result<BTreeMap<String, u64>> {
        let per_index = dump()?;
        let mut out = BTreeMap::new();
        for (index, n) in per_index {
            *out.entry(interface_name(index)?).or_insert(0) += n;
        }
        Ok(out)
    }

    fn interface_name(index: u32) -> io::Result<String> {
        let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
        // SAFETY: buf holds IF_NAMESIZE bytes, as if_indextoname requires.
        let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
        if p.is_null() {
            // The interface went away since the dump: name it by index rather than fail.
            return Ok(format!("if{index}"));
        }
        // SAFETY: on success buf holds a NUL-terminated name.
        let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        Ok(name.to_string_lossy().into_owned())
    }

    fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    /// Entries per interface index.
    fn dump() -> io::Result<BTreeMap<u32, u64>> {
        // SAFETY: plain socket(2); the result is checked and owned below.
        let fd = check(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        })?;
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // A kernel that does not answer must not hang the scrape.
        let timeout = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: the option value is a timeval of the size given.
        check(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
        let mut req = [0u8; REQUEST_LEN];
        req[0..4].copy_from_slice(&(REQUEST_LEN as u32).to_ne_bytes());
        req[4..6].copy_from_slice(&libc::RTM_GETNEIGH.to_ne_bytes());
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
        req[6..8].copy_from_slice(&flags.to_ne_bytes());
        req[8..12].copy_from_slice(&SEQ.to_ne_bytes());
        req[HDR] = libc::AF_INET as u8;
        // SAFETY: req is a valid buffer of the length given; to the kernel (no address).
        check(unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) } as _)?;

        let mut counts = BTreeMap::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: buf is writable for its length.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "netlink socket closed before NLMSG_DONE",
                ));
            }
            if parse_messages(&buf[..n], &mut counts)? {
                return Ok(counts);
            }
        }
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_ne_bytes([b[at], b[at + 1]])
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// Adds the RTM_NEWNEIGH messages of one datagram to `counts`; true at NLMSG_DONE.
    pub(super) fn parse_messages(b: &[u8], counts: &mut BTreeMap<u32, u64>) -> io::Result<bool> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("netlink: {what}"));
        let mut off = 0;
        while off + HDR <= b.len() {
            let len = u32_at(b, off) as usize;
            if len < HDR || off + len > b.len() {
                return Err(bad("truncated message"));
            }
            let kind = u16_at(b, off + 4);
            let body = &b[off + HDR..off + len];
            match libc::c_int::from(kind) {
                libc::NLMSG_DONE => return Ok(true),
                libc::NLMSG_ERROR => {
                    let errno = body.get(..4).map(|e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                    return match errno {
                        Some(0) => Ok(true),
                        Some(e) => Err(io::Error::from_raw_os_error(-e)),
                        None => Err(bad("short NLMSG_ERROR")),
                    };
                }
                _ if kind == libc::RTM_NEWNEIGH => {
                    if body.len() < 12 {
                        return Err(bad("short ndmsg"));
                    }
                    let family = body[0];
                    let index = u32_at(body, 4);
                    let state = u16_at(body, 8);
                    if family == libc::AF_INET as u8 && state & libc::NUD_NOARP == 0 {
                        *counts.entry(index).or_insert(0) += 1;
                    }
                }
                _ => {}
            }
            off += (len + 3) & !3;
        }
        Ok(false)
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
        assert_eq!(netlink::neighbours_per_device().unwrap(), from_proc);
    }

    #[test]
    fn netlink_messages_are_parsed_and_noarp_entries_skipped() {
        let msg = |kind: u16, family: u8, index: u32, state: u16| {
            let mut m = vec![0u8; 28];
            m[0..4].copy_from_slice(&28u32.to_ne_bytes());
            m[4..6].copy_from_slice(&kind.to_ne_bytes());
            m[16] = family;
            m[20..24].copy_from_slice(&index.to_ne_bytes());
            m[24..26].copy_from_slice(&state.to_ne_bytes());
            m
        };
        let mut b = msg(libc::RTM_NEWNEIGH, libc::AF_INET as u8, 2, 0x02);
        b.extend(msg(libc::RTM_NEWNEIGH, libc::AF_INET as u8, 2, 0x04));
        b.extend(msg(libc::RTM_NEWNEIGH, libc::AF_INET as u8, 1, libc::NUD_NOARP));
        b.extend(msg(libc::RTM_NEWNEIGH, libc::AF_INET6 as u8, 3, 0x02));
        let mut counts = BTreeMap::new();
        assert!(!netlink::parse_messages(&b, &mut counts).unwrap());
        assert_eq!(counts, BTreeMap::from([(2, 2)]));
        let done = msg(libc::NLMSG_DONE as u16, 0, 0, 0);
        assert!(netlink::parse_messages(&done, &mut counts).unwrap());
        assert_eq!(
            netlink::parse_messages(&b[..20], &mut counts)
                .unwrap_err()
                .to_string(),
            "netlink: truncated message"
        );
    }
}
