//! udp_queues: `node_udp_queues{ip,queue}`, the bytes queued in UDP sockets, summed over the
//! sockets of `<procfs>/net/udp` (v4) and `<procfs>/net/udp6` (v6).
//!
//! node_exporter's procfs parses every column of every socket; only `tx_queue:rx_queue` (the
//! fifth) is needed, so only it is parsed. No file at all (no IP stack) is ErrNoData.
//!
//! Reading the machine's own `/proc`, the same sums come from a sock_diag dump instead
//! (`SOCK_DIAG_BY_FAMILY`, UDP, every state): udp_diag reports each socket's
//! `udp_rqueue_get` and `sk_wmem_alloc_get`, the very figures /proc/net/udp prints as
//! rx_queue and tx_queue, of the same sockets (the namespace's udp_table, one family). A file
//! makes the kernel walk the whole UDP hash table for its first read and again for the read
//! that finds its end; a dump walks it once. Where the dump fails (a kernel without
//! udp_diag), the files are read from then on.
//!
//! The walk visits every slot of the table (16,384 on a 24 GiB machine), empty or not, for
//! each family. Where sockstat counts no UDP socket of a family (`UDP: inuse 0` in
//! net/sockstat, `UDP6: inuse 0` in net/sockstat6: the kernel's count of the sockets in that
//! very table), its sums are 0 and its walk is skipped. The sockstat collector reads the same
//! files in the same scrape, so they are read once: a socket bound between that read and
//! udp_queues' turn shows from the next scrape on.

use std::path::{Path, PathBuf};

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
    let procfs = &config.paths.procfs;
    Ok(Box::new(UdpQueuesCollector {
        paths: [
            ("v4", procfs.join("net/udp")),
            ("v6", procfs.join("net/udp6")),
        ],
        // The dump describes this process' network namespace, which only its own /proc shows
        // (a fixture tree, or a host's /proc mounted elsewhere, is read as files).
        diag: std::sync::atomic::AtomicBool::new(procfs == std::path::Path::new("/proc")),
        // /proc/net/udp6 is missing where IPv6 is off at boot (and node_exporter then has no
        // v6 series): the families are the files there are.
        families: [
            ("v4", libc::AF_INET, "net/udp", "net/sockstat", "UDP"),
            ("v6", libc::AF_INET6, "net/udp6", "net/sockstat6", "UDP6"),
        ]
        .into_iter()
        .filter(|(_, _, file, _, _)| procfs.join(file).exists())
        .map(|(ip, family, _, sockstat, protocol)| Family {
            ip,
            family: family as u8,
            sockstat: procfs.join(sockstat),
            protocol,
        })
        .collect(),
    }))
}

struct UdpQueuesCollector {
    paths: [(&'static str, PathBuf); 2],
    /// Ask sock_diag rather than read the files (cleared when a dump fails).
    diag: std::sync::atomic::AtomicBool,
    /// The address families to ask about.
    families: Vec<Family>,
}

/// One address family as sock_diag is asked about it.
struct Family {
    /// The `ip` label.
    ip: &'static str,
    /// `AF_INET` or `AF_INET6`.
    family: u8,
    /// The sockstat file that counts its UDP sockets, and the protocol's name there.
    sockstat: PathBuf,
    protocol: &'static str,
}

/// How many UDP sockets of a family the kernel counts (`inuse` of `protocol`'s line in
/// `sockstat`); `None` if the file or the line cannot be read.
fn sockets_in_use(shared: &Shared, sockstat: &Path, protocol: &str) -> Option<i64> {
    shared
        .read_with(sockstat, |data| {
            let stat = super::sockstat::parse_sockstat(data, &mut Vec::new());
            Ok(stat
                .protocols
                .iter()
                .find(|p| p.name == protocol)
                .and_then(|p| p.fields[super::sockstat::INUSE]))
        })
        .ok()
        .flatten()
}

/// (tx, rx) summed over the UDP sockets of address family `family`, from a sock_diag dump.
fn diag_sums(family: u8) -> std::io::Result<(u64, u64)> {
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    // struct inet_diag_req_v2: family, protocol, ext, pad, states (every one), then a zero
    // inet_diag_sockid (48 bytes): no filter.
    let mut request = [0u8; 56];
    request[0] = family;
    request[1] = libc::IPPROTO_UDP as u8;
    request[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
    let (mut tx, mut rx) = (0u64, 0u64);
    // struct inet_diag_msg: family, state, timer, retrans, inet_diag_sockid (48), expires,
    // rqueue at 56, wqueue at 60, uid, inode.
    super::netlink::dump_on(
        libc::NETLINK_SOCK_DIAG,
        SOCK_DIAG_BY_FAMILY,
        &request,
        SOCK_DIAG_BY_FAMILY,
        |msg| {
            if msg.len() >= 64 {
                rx = rx.saturating_add(u64::from(super::netlink::u32_at(msg, 56)));
                tx = tx.saturating_add(u64::from(super::netlink::u32_at(msg, 60)));
            }
        },
    )?;
    Ok((tx, rx))
}

impl UdpQueuesCollector {
    /// The sums over sock_diag. `None` if a dump fails: the files are read instead, from then
    /// on.
    fn sums_over_diag(&self, shared: &Shared) -> Option<Vec<(&'static str, (u64, u64))>> {
        use std::sync::atomic::Ordering;
        if !self.diag.load(Ordering::Relaxed) {
            return None;
        }
        let mut sums = Vec::new();
        for f in &self.families {
            // No socket of the family: nothing is queued, and the table need not be walked.
            if sockets_in_use(shared, &f.sockstat, f.protocol) == Some(0) {
                sums.push((f.ip, (0, 0)));
                continue;
            }
            match diag_sums(f.family) {
                Ok(sum) => sums.push((f.ip, sum)),
                Err(e) => {
                    tracing::debug!(error = %e, "udp_queues: no sock_diag, reading /proc/net/udp{{,6}}");
                    self.diag.store(false, Ordering::Relaxed);
                    return None;
                }
            }
        }
        (!sums.is_empty()).then_some(sums)
    }
}

impl Collector for UdpQueuesCollector {
    fn update(&self, shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        if let Some(sums) = self.sums_over_diag(shared) {
            return encode(enc, sums);
        }
        let mut sums = Vec::new();
        let mut errors = Vec::new();
        let mut missing = None;
        for (ip, path) in &self.paths {
            let mut bad = Vec::new();
            match read_with(path, |data| Ok(parse_udp_queues(data, &mut bad))) {
                Ok(sum) => sums.push((*ip, sum)),
                // No IPv4 or no IPv6: nothing for it, as node_exporter.
                Err(e) => match e.absent_is_no_data() {
                    no_data @ (CollectError::NoData(_) | CollectError::Absent { .. }) => {
                        missing = Some(no_data)
                    }
                    e => return Err(e),
                },
            }
            errors.extend(bad.into_iter().map(|e| CollectError::parse(path, e)));
        }
        if sums.is_empty() {
            // Both files missing.
            return missing.map_or(Ok(()), Err);
        }
        encode(enc, sums)?;
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn encode(
    enc: &mut DescriptorEncoder<'_>,
    sums: Vec<(&'static str, (u64, u64))>,
) -> Result<(), CollectError> {
    let mut family = gauge_family(
        enc,
        "node_udp_queues",
        "Number of allocated memory in the kernel for UDP datagrams in bytes.",
    )?;
    for (ip, (tx, rx)) in sums {
        gauge(&mut family, &[("ip", ip), ("queue", "tx")], tx)?;
        gauge(&mut family, &[("ip", ip), ("queue", "rx")], rx)?;
    }
    Ok(())
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

    /// The file sums of `path` on this host.
    fn file_sums(path: &str) -> (u64, u64) {
        let mut bad = Vec::new();
        let sums = parse_udp_queues(&std::fs::read_to_string(path).unwrap(), &mut bad);
        assert!(bad.is_empty(), "{bad:?}");
        sums
    }

    /// The tests that bind sockets and compare this host's sums, one at a time.
    static HOST: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Sockets with datagrams queued, held while they are: a v4 one with 4 x 300 bytes (and
    /// its sender), and a v6 one with 300 bytes where the host has IPv6.
    fn queued_sockets() -> ([std::net::UdpSocket; 2], Option<std::net::UdpSocket>) {
        let queued = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..4 {
            sender.send_to(&[7u8; 300], queued.local_addr().unwrap()).unwrap();
        }
        let v6 = std::net::UdpSocket::bind("[::1]:0").ok();
        if let Some(v6) = &v6 {
            v6.send_to(&[7u8; 300], v6.local_addr().unwrap()).unwrap();
        }
        ([queued, sender], v6)
    }

    /// sock_diag and /proc/net/udp{,6} count the same sockets and the same bytes: a socket
    /// with datagrams queued shows in both, by the same amounts (other processes' sockets may
    /// move between the two reads, so a few tries are allowed).
    #[test]
    fn sock_diag_gives_the_sums_of_the_files_on_this_host() {
        let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
        let (_v4, v6) = queued_sockets();
        for (family, path, held) in [
            (libc::AF_INET as u8, "/proc/net/udp", true),
            (libc::AF_INET6 as u8, "/proc/net/udp6", v6.is_some()),
        ] {
            if !held {
                continue;
            }
            let mut last = None;
            let same = (0..5).any(|_| {
                let (diag, file) = (diag_sums(family).unwrap(), file_sums(path));
                last = Some((diag, file));
                diag == file
            });
            let (diag, file) = last.unwrap();
            assert!(same, "{path}: sock_diag {diag:?}, file {file:?}");
            assert!(diag.1 >= 300, "{path}: the queued datagrams are not counted: {diag:?}");
        }
    }

    /// The collector on this host's /proc, where it asks sock_diag, or skips a family whose
    /// sockstat line counts no socket: its figures are the files' (other processes' sockets
    /// may move between the reads, so a few tries are allowed). A socket of each family with
    /// datagrams queued is held (v6 where the host has it), so a skip where sockets are would
    /// show as 0 bytes queued; a family without sockets, skipped, must read 0 as the files do
    /// (which sockets this host has otherwise decides whether that case is met).
    #[test]
    fn the_collector_on_this_hosts_proc_gives_the_sums_of_the_files() {
        let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
        let (_v4, v6) = queued_sockets();
        let mut last = None;
        let same = (0..5).any(|_| {
            let body = scrape_of("udp_queues", build(&Config::default()).unwrap());
            let mut expected = Vec::new();
            for (ip, path) in [("v4", "/proc/net/udp"), ("v6", "/proc/net/udp6")] {
                if std::path::Path::new(path).exists() {
                    let (tx, rx) = file_sums(path);
                    expected.push(format!("node_udp_queues{{ip=\"{ip}\",queue=\"tx\"}} {tx}"));
                    expected.push(format!("node_udp_queues{{ip=\"{ip}\",queue=\"rx\"}} {rx}"));
                }
            }
            let got: Vec<String> = samples(&body).into_iter().map(str::to_owned).collect();
            let same = got == expected;
            last = Some((got, expected));
            same
        });
        let (got, expected) = last.unwrap();
        assert!(same, "collector {got:?}, files {expected:?}");
        let queued_in = |ip: &str| {
            got.iter().any(|l| {
                l.starts_with(&format!("node_udp_queues{{ip=\"{ip}\",queue=\"rx\"}} "))
                    && !l.ends_with(" 0")
            })
        };
        assert!(queued_in("v4"), "the queued datagrams are not counted: {got:?}");
        if v6.is_some() {
            assert!(queued_in("v6"), "the queued v6 datagram is not counted: {got:?}");
        }
    }

    /// sockstat's count of a family's UDP sockets, as the skip reads it.
    #[test]
    fn sockets_in_use_reads_the_protocols_line() {
        let dir = tree(&[
            (
                "net/sockstat",
                b"sockets: used 8\nTCP: inuse 1 orphan 0 tw 4 alloc 1 mem 9\nUDP: inuse 0 mem 0\nUDPLITE: inuse 3\n",
            ),
            ("net/sockstat6", b"TCP6: inuse 2\nUDP6: inuse 9\n"),
            ("net/bad", b"UDP: inuse x\n"),
        ]);
        let shared = Shared::default();
        let at = |f: &str| dir.path().join(f);
        assert_eq!(sockets_in_use(&shared, &at("net/sockstat"), "UDP"), Some(0));
        assert_eq!(sockets_in_use(&shared, &at("net/sockstat6"), "UDP6"), Some(9));
        // UDPLITE is not UDP; a line or file that is not there, or a bad count, is unknown.
        assert_eq!(sockets_in_use(&shared, &at("net/sockstat6"), "UDP"), None);
        assert_eq!(sockets_in_use(&shared, &at("net/none"), "UDP"), None);
        assert_eq!(sockets_in_use(&shared, &at("net/bad"), "UDP"), None);
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
