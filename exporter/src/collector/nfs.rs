//! nfs: the NFS client's RPC statistics from `<procfs>/net/rpc/nfs` as node_exporter's
//! `node_nfs_*` (procfs' ClientRPCStats): packets, connections, RPCs, retransmissions,
//! authentication refreshes and `node_nfs_requests_total{method,proto}` for NFS v2, v3 and v4.
//! No such file (no NFS client module): no data: nothing, and success 1 (see
//! `CollectError::NoData`).
//! The line format is shared with nfsd (`/proc/net/rpc/nfsd`), which uses this file's parser.

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::SortedFamilies;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, read_with,
};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "nfs",
    default_enabled: true,
    help: "NFS client RPC statistics from /proc/net/rpc/nfs",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(NfsCollector {
        path: config.paths.procfs.join("net/rpc/nfs"),
    }))
}

/// NFSv2 procedures in `proc2` order (procfs' V2Stats).
pub(super) const V2: [&str; 18] = [
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedures in `proc3` order (procfs' V3Stats).
pub(super) const V3: [&str; 22] = [
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// NFSv4 client operations in `proc4` order (procfs' ClientV4Stats); an older kernel's
/// shorter line leaves the rest 0.
const CLIENT_V4: [&str; 59] = [
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "GetDeviceInfo",
    "LayoutGet",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

/// One line of `/proc/net/rpc/{nfs,nfsd}`: 1-based line number, key, numbers. `th` has two
/// numbers then a histogram of floats, of which only the numbers are taken (as procfs).
pub(super) fn rpc_lines(
    data: &str,
) -> impl Iterator<Item = Result<(usize, &str, Vec<u64>), ParseError>> {
    data.lines().enumerate().filter_map(|(i, line)| {
        let n = i + 1;
        let mut parts = line.split_ascii_whitespace();
        let key = parts.next()?;
        let parts: Vec<&str> = if key == "th" {
            parts.take(2).collect()
        } else {
            parts.collect()
        };
        if parts.is_empty() {
            return Some(Err(ParseError::new(n, format!("{key}: no values"))));
        }
        let values: Result<Vec<u64>, _> = parts.iter().map(|p| p.parse::<u64>()).collect();
        Some(
            values
                .map(|v| (n, key, v))
                .map_err(|_| ParseError::new(n, format!("{key}: {line:?} has a value that is not a whole number"))),
        )
    })
}

/// Exactly `len` values, or an error naming the line.
pub(super) fn exactly<'a>(
    n: usize,
    key: &str,
    v: &'a [u64],
    len: usize,
) -> Result<&'a [u64], ParseError> {
    if v.len() == len {
        Ok(v)
    } else {
        Err(ParseError::new(
            n,
            format!("{key}: {} values, expected {len}", v.len()),
        ))
    }
}

/// A `procN` line: its count, then that many values, at least `min`.
pub(super) fn counted<'a>(
    n: usize,
    key: &str,
    v: &'a [u64],
    min: usize,
) -> Result<&'a [u64], ParseError> {
    let count = v[0] as usize;
    if v.len() - 1 != count || count < min {
        return Err(ParseError::new(
            n,
            format!(
                "{key}: says {count} values and has {}, expected at least {min}",
                v.len() - 1
            ),
        ));
    }
    Ok(&v[1..])
}

/// `/proc/net/rpc/nfs`, parsed. A line that is absent leaves its numbers 0, as in procfs.
#[derive(Debug, PartialEq)]
pub struct ClientStats {
    /// net: packets, udp, tcp, tcp connections.
    pub net: [u64; 4],
    /// rpc: calls, retransmissions, authentication refreshes.
    pub rpc: [u64; 3],
    pub v2: [u64; 18],
    pub v3: [u64; 22],
    pub v4: [u64; 59],
}

impl Default for ClientStats {
    fn default() -> Self {
        ClientStats {
            net: [0; 4],
            rpc: [0; 3],
            v2: [0; 18],
            v3: [0; 22],
            v4: [0; 59],
        }
    }
}

/// Parses `/proc/net/rpc/nfs`; an unknown line or one of the wrong length is an error, as in
/// procfs.
pub fn parse_nfs(data: &str) -> Result<ClientStats, ParseError> {
    let mut s = ClientStats::default();
    for line in rpc_lines(data) {
        let (n, key, v) = line?;
        match key {
            "net" => s.net.copy_from_slice(exactly(n, key, &v, 4)?),
            "rpc" => s.rpc.copy_from_slice(exactly(n, key, &v, 3)?),
            "proc2" => s.v2.copy_from_slice(&counted(n, key, &v, 18)?[..18]),
            "proc3" => s.v3.copy_from_slice(&counted(n, key, &v, 22)?[..22]),
            "proc4" => {
                let ops = counted(n, key, &v, 0)?;
                let k = ops.len().min(59);
                s.v4 = [0; 59];
                s.v4[..k].copy_from_slice(&ops[..k]);
            }
            _ => return Err(ParseError::new(n, format!("unknown line {key:?}"))),
        }
    }
    Ok(s)
}

/// `node_<subsystem>_requests_total{method,proto}` samples.
pub(super) fn requests(
    out: &mut SortedFamilies,
    name: &str,
    help: &str,
    proto: &str,
    names: &[&str],
    values: &[u64],
) {
    for (method, v) in names.iter().zip(values) {
        out.add_kind(
            name.to_owned(),
            help.to_owned(),
            true,
            vec![("method", (*method).to_owned()), ("proto", proto.to_owned())],
            *v as f64,
        );
    }
}

struct NfsCollector {
    path: PathBuf,
}

impl Collector for NfsCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let s = read_with(&self.path, |data| {
            parse_nfs(data).map_err(|e| CollectError::parse(&self.path, e))
        })
        .map_err(|e| match e {
            CollectError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                CollectError::NoData(format!("{}: {source}", self.path.display()))
            }
            e => e,
        })?;
        let mut out = SortedFamilies::default();
        let mut counter = |name: &str, help: &str, labels: Vec<(&'static str, String)>, v: u64| {
            out.add_kind(name.into(), help.into(), true, labels, v as f64);
        };
        let packets = "Total NFSd network packets (sent+received) by protocol type.";
        counter("node_nfs_packets_total", packets, vec![("protocol", "udp".into())], s.net[1]);
        counter("node_nfs_packets_total", packets, vec![("protocol", "tcp".into())], s.net[2]);
        counter("node_nfs_connections_total", "Total number of NFSd TCP connections.", vec![], s.net[3]);
        counter("node_nfs_rpcs_total", "Total number of RPCs performed.", vec![], s.rpc[0]);
        counter(
            "node_nfs_rpc_retransmissions_total",
            "Number of RPC transmissions performed.",
            vec![],
            s.rpc[1],
        );
        counter(
            "node_nfs_rpc_authentication_refreshes_total",
            "Number of RPC authentication refreshes performed.",
            vec![],
            s.rpc[2],
        );
        let help = "Number of NFS procedures invoked.";
        requests(&mut out, "node_nfs_requests_total", help, "2", &V2, &s.v2);
        requests(&mut out, "node_nfs_requests_total", help, "3", &V3, &s.v3);
        requests(&mut out, "node_nfs_requests_total", help, "4", &CLIENT_V4, &s.v4);
        out.encode(enc)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    /// node_exporter's fixture (an old kernel's 48-operation proc4 line).
    const NFS: &str = "net 70 70 69 45\nrpc 1218785755 374636 1218815394\nproc2 18 16 57 74 52 71 73 45 86 0 52 83 61 17 53 50 23 70 82\nproc3 22 0 1061909262 48906 4077635 117661341 5 29391916 2570425 2993289 590 0 0 7815 15 1130 0 3983 92385 13332 2 1 23729\nproc4 48 98 51 54 83 85 23 24 1 28 73 68 83 12 84 39 68 59 58 88 29 74 69 96 21 84 15 53 86 54 66 56 97 36 49 32 85 81 11 58 32 67 13 28 35 1 90 26 0\n";

    #[test]
    fn the_client_file_gives_node_exporters_lines() {
        let dir = tree(&[("proc/net/rpc/nfs", NFS.as_bytes())]);
        let body = scrape_of("nfs", build(&config_for(dir.path())).unwrap());
        let lines = samples(&body);
        assert_eq!(lines.len(), 105);
        for want in [
            "node_nfs_connections_total 45.0",
            "node_nfs_packets_total{protocol=\"tcp\"} 69.0",
            "node_nfs_rpc_retransmissions_total 374636.0",
            "node_nfs_requests_total{method=\"Access\",proto=\"3\"} 117661341.0",
            "node_nfs_requests_total{method=\"Access\",proto=\"4\"} 58.0",
            "node_nfs_requests_total{method=\"Clone\",proto=\"4\"} 0.0",
            "node_nfs_requests_total{method=\"WrCache\",proto=\"2\"} 86.0",
        ] {
            assert!(lines.contains(&want), "{want} in {body}");
        }
        assert!(body.contains("# HELP node_nfs_requests Number of NFS procedures invoked.\n# TYPE node_nfs_requests counter\n"));
    }

    #[test]
    fn bad_lines_are_errors_and_no_file_is_no_data() {
        for (input, want) in [
            ("net 1 2 3\n", "line 1: net: 3 values, expected 4"),
            ("rpc 1 2 x\n", "line 1: rpc: \"rpc 1 2 x\" has a value that is not a whole number"),
            ("net 1 2 3 4\nproc3 2 1 1\n", "line 2: proc3: says 2 values and has 2, expected at least 22"),
            ("proc2 19 1\n", "line 1: proc2: says 19 values and has 1, expected at least 18"),
            ("nfs 1\n", "line 1: unknown line \"nfs\""),
            ("net\n", "line 1: net: no values"),
        ] {
            assert_eq!(parse_nfs(input).unwrap_err().to_string(), want, "{input:?}");
        }
        let dir = tree(&[]);
        let body = scrape_of("nfs", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"nfs\"} 1\n"));
    }
}
