//! ipvs: `node_ipvs_{connections,incoming_packets,outgoing_packets,incoming_bytes,
//! outgoing_bytes}_total` from `<procfs>/net/ip_vs_stats`, and per backend
//! `node_ipvs_backend_{connections_active,connections_inactive,weight}` from `<procfs>/net/ip_vs`,
//! summed over the backends that share the labels `--collector.ipvs.backend-labels` keeps.
//! No ip_vs_stats (no IPVS module) is ErrNoData, as node_exporter.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter_family, gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
    read_with,
};

/// node_exporter's backend labels, in its order.
const LABELS: [&str; 6] = [
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "proto",
    "local_mark",
];

pub const BACKEND_LABELS: FlagSpec = FlagSpec::value(
    "--collector.ipvs.backend-labels",
    "local_address,local_port,remote_address,remote_port,proto,local_mark",
    "Comma separated list for IPVS backend stats labels.",
)
.checked(check_labels);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "ipvs",
    default_enabled: true,
    help: "IPVS connection statistics from /proc/net/ip_vs{,_stats}",
    flags: &[BACKEND_LABELS],
    build,
};

/// The labels a `--collector.ipvs.backend-labels` value keeps, as indexes into [`LABELS`]
/// sorted by label name (the order node_exporter's output shows).
fn parse_labels(value: &str) -> Result<Vec<usize>, String> {
    let mut unknown: Vec<&str> = value
        .split(',')
        .filter(|l| !l.is_empty() && !LABELS.contains(l))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        unknown.dedup();
        return Err(format!(
            "unknown IPVS backend labels: {:?}",
            unknown.join(", ")
        ));
    }
    let mut keep: Vec<usize> = (0..LABELS.len())
        .filter(|&i| value.split(',').any(|l| l == LABELS[i]))
        .collect();
    keep.sort_by_key(|&i| LABELS[i]);
    Ok(keep)
}

fn check_labels(value: &str) -> Result<(), String> {
    parse_labels(value).map(|_| ())
}

/// The five totals of ip_vs_stats: its third line, hex.
pub fn parse_stats(data: &str) -> Result<[u64; 5], ParseError> {
    let line = data
        .lines()
        .nth(2)
        .ok_or_else(|| ParseError::new(0, "fewer than 3 lines"))?;
    let mut out = [0u64; 5];
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    if fields.len() != out.len() {
        return Err(ParseError::new(
            3,
            format!("{} fields, expected 5", fields.len()),
        ));
    }
    for (slot, f) in out.iter_mut().zip(fields) {
        *slot = u64::from_str_radix(f, 16)
            .map_err(|_| ParseError::new(3, format!("{f:?} is not hex")))?;
    }
    Ok(out)
}

/// One backend line of ip_vs with the virtual service it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// In the order of [`LABELS`].
    pub labels: [String; 6],
    pub weight: u64,
    pub active: u64,
    pub inactive: u64,
}

/// `C0A80016:0CEA` (IPv4, hex in network order) or `[2620:...:0001]:0050` (IPv6).
fn parse_ip_port(s: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = s.rsplit_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
        Some(v6) => IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?),
        None if ip.len() == 8 => IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?)),
        None => return None,
    };
    Some((ip, port))
}

/// Parses ip_vs: a service line (`TCP|UDP addr:port sched` or `FWM mark sched`) followed by
/// its backends (`-> addr:port forward weight active inactive`). A bad line costs that line
/// (and a bad service line its backends).
pub fn parse_backends(data: &str, bad: &mut Vec<ParseError>) -> Vec<Backend> {
    let mut out = Vec::new();
    // (local_address, local_port, proto, local_mark) of the current service.
    let mut service: Option<(String, String, String, String)> = None;
    for (i, line) in data.lines().enumerate() {
        let n = i + 1;
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        match f.as_slice() {
            [] | ["IP", ..] | ["Prot", ..] | [_, "RemoteAddress:Port", ..] => {}
            [proto @ ("TCP" | "UDP"), local, ..] => {
                service = parse_ip_port(local).map(|(ip, port)| {
                    (ip.to_string(), port.to_string(), proto.to_string(), String::new())
                });
                if service.is_none() {
                    bad.push(ParseError::new(n, format!("bad address {local:?}")));
                }
            }
            ["FWM", mark, ..] => {
                service = Some((String::new(), "0".into(), "FWM".into(), mark.to_string()));
            }
            ["->", remote, _forward, weight, active, inactive, ..] => {
                let Some((addr, port, proto, mark)) = &service else {
                    continue;
                };
                let parsed = parse_ip_port(remote).zip(
                    weight
                        .parse()
                        .ok()
                        .zip(active.parse().ok())
                        .zip(inactive.parse().ok()),
                );
                match parsed {
                    Some(((ip, rport), ((weight, active), inactive))) => out.push(Backend {
                        labels: [
                            addr.clone(),
                            port.clone(),
                            ip.to_string(),
                            rport.to_string(),
                            proto.clone(),
                            mark.clone(),
                        ],
                        weight,
                        active,
                        inactive,
                    }),
                    None => bad.push(ParseError::new(n, format!("bad backend line {line:?}"))),
                }
            }
            _ => {}
        }
    }
    out
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let labels = parse_labels(config.options.value(&BACKEND_LABELS)).map_err(|message| {
        ConfigError::Invalid {
            flag: BACKEND_LABELS.name,
            message,
        }
    })?;
    Ok(Box::new(IpvsCollector {
        stats: config.paths.procfs.join("net/ip_vs_stats"),
        backends: config.paths.procfs.join("net/ip_vs"),
        labels,
    }))
}

struct IpvsCollector {
    stats: PathBuf,
    backends: PathBuf,
    /// Indexes into [`LABELS`], sorted by name.
    labels: Vec<usize>,
}

const TOTALS: [(&str, &str); 5] = [
    ("node_ipvs_connections", "The total number of connections made."),
    (
        "node_ipvs_incoming_packets",
        "The total number of incoming packets.",
    ),
    (
        "node_ipvs_outgoing_packets",
        "The total number of outgoing packets.",
    ),
    ("node_ipvs_incoming_bytes", "The total amount of incoming data."),
    ("node_ipvs_outgoing_bytes", "The total amount of outgoing data."),
];

impl Collector for IpvsCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let totals = read_with(&self.stats, |data| {
            parse_stats(data).map_err(|e| CollectError::parse(&self.stats, e))
        })
        .map_err(CollectError::absent_is_no_data)?;
        let mut bad = Vec::new();
        let backends = read_with(&self.backends, |data| Ok(parse_backends(data, &mut bad)))?;
        for ((name, help), v) in TOTALS.iter().zip(totals) {
            counter_family(enc, name, help)?
                .encode_counter::<prometheus_client::encoding::NoLabelSet, u64, u64>(&v, None)?;
        }
        // Backends sharing the kept labels are summed, as node_exporter does.
        let mut sums: BTreeMap<Vec<(&str, &str)>, [u64; 3]> = BTreeMap::new();
        for b in &backends {
            let key: Vec<(&str, &str)> = self
                .labels
                .iter()
                .map(|&i| (LABELS[i], b.labels[i].as_str()))
                .collect();
            let sum = sums.entry(key).or_default();
            sum[0] += b.active;
            sum[1] += b.inactive;
            sum[2] += b.weight;
        }
        for (k, (name, help)) in [
            (
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
            ),
            (
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
            ),
            (
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let mut family = gauge_family(enc, name, help)?;
            for (labels, sum) in &sums {
                gauge(&mut family, labels, sum[k])?;
            }
        }
        match bad.into_iter().next() {
            Some(e) => Err(CollectError::parse(&self.backends, e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    const STATS: &str = "   Total Incoming Outgoing         Incoming         Outgoing
   Conns  Packets  Packets            Bytes            Bytes
 16AA370 E33656E5        0     51D8C8883AB3                0

 Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
       4    1FB3C        0          1282A8F                0
";
    const IP_VS: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C0A80016:0CEA wlc
  -> C0A85216:0CEA      Tunnel  100    248        2
  -> C0A85318:0CEA      Tunnel  100    248        2
FWM  10001000 wlc
  -> C0A8321A:0CEA      Tunnel  20     64         1
  -> C0A83120:0CEA      Tunnel  100    321        5
TCP  [2620:0000:0000:0000:0000:0000:0000:0001]:0050 sh
  -> [2620:0000:0000:0000:0000:0000:0000:0002]:0050      Route   10     1          0
";

    fn scrape(labels: Option<&str>) -> String {
        let dir = tree(&[
            ("proc/net/ip_vs_stats", STATS.as_bytes()),
            ("proc/net/ip_vs", IP_VS.as_bytes()),
        ]);
        let mut config = config_for(dir.path());
        if let Some(l) = labels {
            config.options.set(&BACKEND_LABELS, vec![l.to_owned()]);
        }
        scrape_of("ipvs", build(&config).unwrap())
    }

    #[test]
    fn node_exporters_fixture_lines() {
        let body = scrape(None);
        let s = samples(&body);
        for line in [
            "node_ipvs_connections_total 23765872",
            "node_ipvs_incoming_packets_total 3811989221",
            "node_ipvs_outgoing_packets_total 0",
            "node_ipvs_incoming_bytes_total 89991519156915",
            "node_ipvs_outgoing_bytes_total 0",
            "node_ipvs_backend_connections_active{local_address=\"\",local_mark=\"10001000\",local_port=\"0\",proto=\"FWM\",remote_address=\"192.168.49.32\",remote_port=\"3306\"} 321",
            "node_ipvs_backend_connections_inactive{local_address=\"192.168.0.22\",local_mark=\"\",local_port=\"3306\",proto=\"TCP\",remote_address=\"192.168.82.22\",remote_port=\"3306\"} 2",
            "node_ipvs_backend_weight{local_address=\"\",local_mark=\"10001000\",local_port=\"0\",proto=\"FWM\",remote_address=\"192.168.50.26\",remote_port=\"3306\"} 20",
            "node_ipvs_backend_weight{local_address=\"2620::1\",local_mark=\"\",local_port=\"80\",proto=\"TCP\",remote_address=\"2620::2\",remote_port=\"80\"} 10",
        ] {
            assert!(s.contains(&line), "{line} missing from\n{body}");
        }
        assert_eq!(s.len(), 5 + 3 * 5, "{body}");
        assert!(body.contains("# HELP node_ipvs_connections The total number of connections made.\n# TYPE node_ipvs_connections counter\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"ipvs\"} 1\n"));
    }

    #[test]
    fn fewer_labels_sum_the_backends_that_share_them() {
        let body = scrape(Some("proto,local_port"));
        let active: Vec<_> = samples(&body)
            .into_iter()
            .filter(|l| l.starts_with("node_ipvs_backend_connections_active"))
            .collect();
        assert_eq!(
            active,
            [
                "node_ipvs_backend_connections_active{local_port=\"0\",proto=\"FWM\"} 385",
                "node_ipvs_backend_connections_active{local_port=\"3306\",proto=\"TCP\"} 496",
                "node_ipvs_backend_connections_active{local_port=\"80\",proto=\"TCP\"} 1",
            ]
        );
        assert_eq!(
            check_labels("proto,nope,zz"),
            Err("unknown IPVS backend labels: \"nope, zz\"".into())
        );
    }

    #[test]
    fn no_ipvs_is_no_data_and_a_bad_backend_costs_only_itself() {
        let dir = tree(&[("proc/net/other", b"")]);
        let body = scrape_of("ipvs", build(&config_for(dir.path())).unwrap());
        assert_eq!(samples(&body), Vec::<&str>::new());
        assert!(body.contains("node_scrape_collector_success{collector=\"ipvs\"} 1\n"));

        let mut bad = Vec::new();
        let backends = parse_backends(
            "TCP  C0A80016:0CEA wlc\n  -> C0A85216:0CEA Tunnel x 1 2\n  -> C0A85216:0CEA Tunnel 1 1 2\n",
            &mut bad,
        );
        assert_eq!(backends.len(), 1);
        assert_eq!(
            bad[0].to_string(),
            "line 2: bad backend line \"  -> C0A85216:0CEA Tunnel x 1 2\""
        );
    }
}
