//! ports: `vpsmon_listening_port{proto,address,port} 1` for every listening TCP socket and
//! bound UDP socket in `<procfs>/net/{tcp,tcp6,udp,udp6}`, at most `--collector.ports.max`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{CollectorSpec, FlagSpec, CollectError, Collector, Config, ConfigError, ParseError, Shared, read_with};

/// TCP_LISTEN in the `st` column.
const TCP_LISTEN: u8 = 0x0A;
/// TCP_CLOSE: what an unconnected (bound) UDP socket shows.
const UDP_UNCONNECTED: u8 = 0x07;

/// One listening socket: `(proto, address, port)`; ordered for a stable output.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listener {
    pub proto: &'static str,
    pub address: IpAddr,
    pub port: u16,
}

/// Decodes the kernel's `ADDR:PORT` hex: the address is the in-memory (network-order) bytes
/// printed as 32-bit words in the host's (little-endian) order, 1 word for IPv4, 4 for IPv6.
pub fn parse_hex_endpoint(s: &str) -> Result<(IpAddr, u16), String> {
    let (addr, port) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not ADDR:PORT"))?;
    let port = u16::from_str_radix(port, 16).map_err(|_| format!("port {port:?} is not hex"))?;
    let word = |w: &str| -> Result<[u8; 4], String> {
        u32::from_str_radix(w, 16)
            .map(u32::to_le_bytes)
            .map_err(|_| format!("address {addr:?} is not hex"))
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(&addr[i * 8..i * 8 + 8])?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        n => return Err(format!("address {addr:?} has {n} hex digits, not 8 or 32")),
    };
    Ok((ip, port))
}

/// Parses one `/proc/net/{tcp,udp}[6]` table and adds its listeners to `out`.
pub fn parse_table(
    proto: &'static str,
    data: &str,
    out: &mut BTreeSet<Listener>,
) -> Result<(), ParseError> {
    let udp = proto.starts_with("udp");
    for (i, line) in data.lines().enumerate().skip(1) {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_ascii_whitespace();
        let (_sl, local, _remote, state) =
            match (fields.next(), fields.next(), fields.next(), fields.next()) {
                (Some(a), Some(b), Some(c), Some(d)) => (a, b, c, d),
                _ => return Err(ParseError::new(n, format!("too few fields in {line:?}"))),
            };
        let state = u8::from_str_radix(state, 16)
            .map_err(|_| ParseError::new(n, format!("state {state:?} is not hex")))?;
        let (address, port) = parse_hex_endpoint(local)
            .map_err(|e| ParseError::new(n, format!("local_address: {e}")))?;
        let listening = if udp {
            state == UDP_UNCONNECTED && port != 0
        } else {
            state == TCP_LISTEN
        };
        if listening {
            out.insert(Listener {
                proto,
                address,
                port,
            });
        }
    }
    Ok(())
}

/// `--collector.ports.max`: past it the first N are kept and the collector reports failure.
pub const MAX: FlagSpec = FlagSpec::value(
    "--collector.ports.max",
    "1000",
    "Most listening ports exported; past it the first N are kept and the ports collector reports failure (node_scrape_collector_success 0) and logs the cap",
)
.checked(super::positive_integer);

const TABLES: [&str; 4] = ["tcp", "tcp6", "udp", "udp6"];

// Off by default: the kernel walks its whole TCP hash table (sized by RAM) to produce
// /proc/net/tcp, ~2.7 ms of CPU per scrape on a 24 GiB host even with 45 sockets.
pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "ports",
    default_enabled: false,
    help: "Listening TCP and bound UDP ports from /proc/net",
    flags: &[MAX],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let net = config.paths.procfs.join("net");
    Ok(Box::new(PortsCollector {
        tables: TABLES.map(|t| (t, net.join(t))),
        max: config.options.value(&MAX).parse().map_err(|_| ConfigError::Invalid {
            flag: MAX.name,
            message: format!("{:?} is not a positive integer", config.options.value(&MAX)),
        })?,
    }))
}

struct PortsCollector {
    tables: [(&'static str, PathBuf); 4],
    max: usize,
}

impl PortsCollector {
    fn listeners(&self) -> Result<BTreeSet<Listener>, CollectError> {
        let mut out = BTreeSet::new();
        for (proto, path) in &self.tables {
            let res = read_with(path, |data| {
                parse_table(proto, data, &mut out).map_err(|e| CollectError::parse(path, e))
            });
            match res {
                // A kernel built without IPv6 has no tcp6/udp6: nothing listens there.
                Err(CollectError::Read { source, .. })
                    if proto.ends_with('6') && source.kind() == std::io::ErrorKind::NotFound => {}
                r => r?,
            }
        }
        Ok(out)
    }
}

impl Collector for PortsCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let listeners = self.listeners()?;
        let mut family = gauge_family(
            enc,
            "vpsmon_listening_port",
            "1 for each listening TCP socket and bound UDP socket (deduplicated by proto, address, port).",
        )?;
        for l in listeners.iter().take(self.max) {
            let (address, port) = (l.address.to_string(), l.port.to_string());
            gauge(
                &mut family,
                &[
                    ("proto", l.proto),
                    ("address", address.as_str()),
                    ("port", port.as_str()),
                ],
                1u64,
            )?;
        }
        if listeners.len() > self.max {
            // The first `max` are exported; the failure tells the user the list is cut short.
            return Err(CollectError::Capped {
                flag: MAX.name,
                max: self.max,
                found: listeners.len(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    // Real lines of this machine's /proc/net/tcp and a Debian 12 VM's tcp6/udp/udp6.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 624 1 000000005bd25b42 100 0 0 10 0
   1: 0100007F:955B 0100007F:AABA 06 00000000:00000000 03:00001214 00000000     0        0 0 3 00000000d316a60e
   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7771 1 0000000041bd2b71 100 0 0 10 0
   3: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7772 1 0000000041bd2b72 100 0 0 10 0
   4: 0F02000A:0016 0202000A:C4E2 01 00000000:00000000 02:0006B6A3 00000000     0        0 19842 2 00000000b3bb2b1d 20 4 29 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17240 1 0000000068a9ad4d 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 18101 1 000000006d6a4e0d 100 0 0 10 0
   2: 0000000000000000FFFF00000F02000A:0016 0000000000000000FFFF00000202000A:D1C2 01 00000000:00000000 02:0009D5B5 00000000     0        0 20231 2 00000000ff2e22c5 20 4 31 10 -1
";
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  512: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   102        0 15933 2 00000000c3b6d2d5 0
  777: 0F02000A:0044 0202000A:0043 01 00000000:00000000 00:00000000 00000000     0        0 15540 2 0000000012f8a4e3 0
";

    #[test]
    fn decodes_kernel_hex_addresses() {
        for (s, ip, port) in [
            ("0100007F:1F90", "127.0.0.1", 8080),
            ("0F02000A:0016", "10.0.2.15", 22),
            ("00000000:07E8", "0.0.0.0", 2024),
            ("00000000000000000000000001000000:0277", "::1", 631),
            ("00000000000000000000000000000000:0016", "::", 22),
            (
                "0000000000000000FFFF00000F02000A:0016",
                "::ffff:10.0.2.15",
                22,
            ),
            ("B80D0120000000000000000001000000:01BB", "2001:db8::1", 443),
        ] {
            let (a, p) = parse_hex_endpoint(s).unwrap();
            assert_eq!((a.to_string().as_str(), p), (ip, port), "{s}");
        }
        for (s, want) in [
            ("0100007F", "\"0100007F\" is not ADDR:PORT"),
            ("0100007F:XYZ", "port \"XYZ\" is not hex"),
            (
                "0100007:0016",
                "address \"0100007\" has 7 hex digits, not 8 or 32",
            ),
            ("0100007G:0016", "address \"0100007G\" is not hex"),
        ] {
            assert_eq!(parse_hex_endpoint(s).unwrap_err(), want);
        }
    }

    fn collect(max: usize, files: &[(&str, &[u8])]) -> String {
        let dir = tree(files);
        let mut config = config_for(dir.path());
        config.options.set(&MAX, vec![max.to_string()]);
        scrape_of("ports", build(&config).unwrap())
    }

    #[test]
    fn listening_tcp_and_bound_udp_deduplicated() {
        let body = collect(
            1000,
            &[
                ("proc/net/tcp", TCP.as_bytes()),
                ("proc/net/tcp6", TCP6.as_bytes()),
                ("proc/net/udp", UDP.as_bytes()),
                ("proc/net/udp6", b"  sl  local_address remote_address st\n"),
            ],
        );
        assert_eq!(
            samples(&body),
            [
                "vpsmon_listening_port{proto=\"tcp\",address=\"0.0.0.0\",port=\"2024\"} 1",
                "vpsmon_listening_port{proto=\"tcp\",address=\"127.0.0.1\",port=\"8080\"} 1",
                "vpsmon_listening_port{proto=\"tcp6\",address=\"::\",port=\"22\"} 1",
                "vpsmon_listening_port{proto=\"tcp6\",address=\"::1\",port=\"631\"} 1",
                "vpsmon_listening_port{proto=\"udp\",address=\"127.0.0.53\",port=\"53\"} 1",
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"ports\"} 1\n"));
    }

    #[test]
    fn the_cap_exports_the_first_n_and_fails_the_collector() {
        let body = collect(
            2,
            &[
                ("proc/net/tcp", TCP.as_bytes()),
                ("proc/net/tcp6", TCP6.as_bytes()),
                ("proc/net/udp", UDP.as_bytes()),
                ("proc/net/udp6", b""),
            ],
        );
        assert_eq!(
            samples(&body),
            [
                "vpsmon_listening_port{proto=\"tcp\",address=\"0.0.0.0\",port=\"2024\"} 1",
                "vpsmon_listening_port{proto=\"tcp\",address=\"127.0.0.1\",port=\"8080\"} 1",
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"ports\"} 0\n"));
        let err = CollectError::Capped {
            flag: MAX.name,
            max: 2,
            found: 5,
        };
        assert_eq!(
            err.to_string(),
            "5 series found, more than --collector.ports.max=2: only the first 2 are exported"
        );
    }

    #[test]
    fn no_ipv6_is_fine_but_a_missing_tcp_table_or_bad_line_is_an_error() {
        let body = collect(
            10,
            &[("proc/net/tcp", TCP.as_bytes()), ("proc/net/udp", b"")],
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"ports\"} 1\n"));
        let body = collect(10, &[("proc/net/udp", b"")]);
        assert!(body.contains("node_scrape_collector_success{collector=\"ports\"} 0\n"));
        let mut out = BTreeSet::new();
        assert_eq!(
            parse_table("tcp", "header\n   0: 0100007F:1F90\n", &mut out)
                .unwrap_err()
                .to_string(),
            "line 2: too few fields in \"   0: 0100007F:1F90\""
        );
        assert_eq!(
            parse_table(
                "tcp",
                "header\n 0: 0100007F:1F90 00000000:0000 ZZ\n",
                &mut out
            )
            .unwrap_err()
            .to_string(),
            "line 2: state \"ZZ\" is not hex"
        );
        assert_eq!(
            parse_table("udp", "header\n 0: 0100007F 00000000:0000 07\n", &mut out)
                .unwrap_err()
                .to_string(),
            "line 2: local_address: \"0100007F\" is not ADDR:PORT"
        );
    }
}
