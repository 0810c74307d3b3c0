//! nfsd: the NFS server's statistics from `<procfs>/net/rpc/nfsd` as node_exporter's
//! `node_nfsd_*` (procfs' ServerRPCStats): reply cache, file handles, disk bytes, threads,
//! read-ahead cache, packets, RPCs and errors, and `node_nfsd_requests_total{method,proto}`.
//! No such file (no NFS server): no data: nothing, and success 1 (see
//! `CollectError::NoData`).

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::SortedFamilies;
use super::nfs::{V2, V3, counted, exactly, requests, rpc_lines};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, read_with,
};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "nfsd",
    default_enabled: true,
    help: "NFS server statistics from /proc/net/rpc/nfsd",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(NfsdCollector {
        path: config.paths.procfs.join("net/rpc/nfsd"),
    }))
}

/// The `proc4ops` operations node_exporter exports, with their index in the line (after
/// the count). `RelLockOwner` (40) is 0 on kernels whose line has 39.
const V4_OPS: [(&str, usize); 35] = [
    ("Access", 4),
    ("Close", 5),
    ("Commit", 6),
    ("Create", 7),
    ("DelegPurge", 8),
    ("DelegReturn", 9),
    ("GetAttr", 10),
    ("GetFH", 11),
    ("Link", 12),
    ("Lock", 13),
    ("Lockt", 14),
    ("Locku", 15),
    ("Lookup", 16),
    ("LookupRoot", 17),
    ("Nverify", 18),
    ("Open", 19),
    ("OpenAttr", 20),
    ("OpenConfirm", 21),
    ("OpenDgrd", 22),
    ("PutFH", 23),
    ("Read", 26),
    ("ReadDir", 27),
    ("ReadLink", 28),
    ("Remove", 29),
    ("Rename", 30),
    ("Renew", 31),
    ("RestoreFH", 32),
    ("SaveFH", 33),
    ("SecInfo", 34),
    ("SetAttr", 35),
    ("SetClientID", 36),
    ("SetClientIDConfirm", 37),
    ("Verify", 38),
    ("Write", 39),
    ("RelLockOwner", 40),
];

/// `/proc/net/rpc/nfsd`, parsed; an absent line leaves its numbers 0, as in procfs.
#[derive(Debug, PartialEq)]
pub struct ServerStats {
    /// rc: hits, misses, nocache.
    pub reply_cache: [u64; 3],
    /// fh: stale, and four lookup counts.
    pub file_handles: [u64; 5],
    /// io: bytes read, written.
    pub io: [u64; 2],
    /// th: threads, times all were busy.
    pub threads: [u64; 2],
    /// ra: cache size, 10 histogram buckets, not found.
    pub read_ahead: [u64; 12],
    /// net: packets, udp, tcp, tcp connections.
    pub net: [u64; 4],
    /// rpc: calls, bad calls, bad format, bad auth, bad client.
    pub rpc: [u64; 5],
    pub v2: [u64; 18],
    pub v3: [u64; 22],
    /// proc4ops, index 1 on (index 0 unused so that indices match the kernel's op numbers+1).
    pub v4_ops: [u64; 41],
    pub wdeleg_getattr: u64,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            reply_cache: [0; 3],
            file_handles: [0; 5],
            io: [0; 2],
            threads: [0; 2],
            read_ahead: [0; 12],
            net: [0; 4],
            rpc: [0; 5],
            v2: [0; 18],
            v3: [0; 22],
            v4_ops: [0; 41],
            wdeleg_getattr: 0,
        }
    }
}

/// Parses `/proc/net/rpc/nfsd`; an unknown line or one of the wrong length is an error, as
/// in procfs.
pub fn parse_nfsd(data: &str) -> Result<ServerStats, ParseError> {
    let mut s = ServerStats::default();
    for line in rpc_lines(data) {
        let (n, key, v) = line?;
        match key {
            "rc" => s.reply_cache.copy_from_slice(exactly(n, key, &v, 3)?),
            "fh" => s.file_handles.copy_from_slice(exactly(n, key, &v, 5)?),
            "io" => s.io.copy_from_slice(exactly(n, key, &v, 2)?),
            "th" => s.threads.copy_from_slice(exactly(n, key, &v, 2)?),
            "ra" => s.read_ahead.copy_from_slice(exactly(n, key, &v, 12)?),
            "net" => s.net.copy_from_slice(exactly(n, key, &v, 4)?),
            "rpc" => s.rpc.copy_from_slice(exactly(n, key, &v, 5)?),
            "proc2" => s.v2.copy_from_slice(&counted(n, key, &v, 18)?[..18]),
            "proc3" => s.v3.copy_from_slice(&counted(n, key, &v, 22)?[..22]),
            "proc4" => {
                let ops = counted(n, key, &v, 2)?;
                if ops.len() != 2 {
                    return Err(ParseError::new(n, format!("proc4: {} values, expected 2", ops.len())));
                }
            }
            "proc4ops" => {
                let ops = counted(n, key, &v, 39)?;
                let k = ops.len().min(40);
                s.v4_ops = [0; 41];
                s.v4_ops[1..=k].copy_from_slice(&ops[..k]);
            }
            "wdeleg_getattr" => s.wdeleg_getattr = exactly(n, key, &v, 1)?[0],
            _ => return Err(ParseError::new(n, format!("unknown line {key:?}"))),
        }
    }
    Ok(s)
}

struct NfsdCollector {
    path: PathBuf,
}

impl Collector for NfsdCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let s = read_with(&self.path, |data| {
            parse_nfsd(data).map_err(|e| CollectError::parse(&self.path, e))
        })
        .map_err(|e| match e {
            CollectError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                CollectError::NoData(format!("{}: {source}", self.path.display()))
            }
            e => e,
        })?;
        let mut out = SortedFamilies::default();
        let mut add = |name: &str, help: &str, counter: bool, labels: Vec<(&'static str, String)>, v: u64| {
            out.add_kind(format!("node_nfsd_{name}"), help.into(), counter, labels, v as f64);
        };
        add("reply_cache_hits_total", "Total number of NFSd Reply Cache hits (client lost server response).", true, vec![], s.reply_cache[0]);
        add("reply_cache_misses_total", "Total number of NFSd Reply Cache an operation that requires caching (idempotent).", true, vec![], s.reply_cache[1]);
        add("reply_cache_nocache_total", "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).", true, vec![], s.reply_cache[2]);
        add("file_handles_stale_total", "Total number of NFSd stale file handles", true, vec![], s.file_handles[0]);
        add("disk_bytes_read_total", "Total NFSd bytes read.", true, vec![], s.io[0]);
        add("disk_bytes_written_total", "Total NFSd bytes written.", true, vec![], s.io[1]);
        add("server_threads", "Total number of NFSd kernel threads that are running.", false, vec![], s.threads[0]);
        add("read_ahead_cache_size_blocks", "How large the read ahead cache is in blocks.", false, vec![], s.read_ahead[0]);
        add("read_ahead_cache_not_found_total", "Total number of NFSd read ahead cache not found.", true, vec![], s.read_ahead[11]);
        let packets = "Total NFSd network packets (sent+received) by protocol type.";
        add("packets_total", packets, true, vec![("proto", "udp".into())], s.net[1]);
        add("packets_total", packets, true, vec![("proto", "tcp".into())], s.net[2]);
        add("connections_total", "Total number of NFSd TCP connections.", true, vec![], s.net[3]);
        let errors = "Total number of NFSd RPC errors by error type.";
        add("rpc_errors_total", errors, true, vec![("error", "fmt".into())], s.rpc[2]);
        add("rpc_errors_total", errors, true, vec![("error", "auth".into())], s.rpc[3]);
        add("rpc_errors_total", errors, true, vec![("error", "cInt".into())], s.rpc[4]);
        add("server_rpcs_total", "Total number of NFSd RPCs.", true, vec![], s.rpc[0]);
        let name = "node_nfsd_requests_total";
        let help = "Total number NFSd Requests by method and protocol.";
        // node_exporter leaves out v2's and v3's Null.
        requests(&mut out, name, help, "2", &V2[1..], &s.v2[1..]);
        requests(&mut out, name, help, "3", &V3[1..], &s.v3[1..]);
        let (ops, values): (Vec<&str>, Vec<u64>) =
            V4_OPS.iter().map(|(op, i)| (*op, s.v4_ops[*i])).unzip();
        requests(&mut out, name, help, "4", &ops, &values);
        requests(&mut out, name, help, "4", &["WdelegGetattr"], &[s.wdeleg_getattr]);
        out.encode(enc)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    /// node_exporter's fixture.
    const NFSD: &str = "rc 0 6 18622\nfh 0 0 0 0 0\nio 157286400 72864\nth 8 0 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000\nra 32 0 0 0 0 0 0 0 0 0 0 0\nnet 972 55 917 1\nrpc 18628 3 1 2 0\nproc2 18 2 69 0 0 4410 0 0 0 0 0 0 0 0 0 0 0 99 2\nproc3 22 2 112 0 2719 111 0 0 0 0 0 0 0 0 0 0 0 27 216 0 2 1 0\nproc4 2 2 10853\nproc4ops 72 0 0 0 1098 2 0 0 0 0 8179 5896 0 0 0 0 5900 0 0 2 0 2 0 9609 0 2 150 1272 0 0 0 1236 0 0 0 0 3 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\nwdeleg_getattr 15\n";

    #[test]
    fn the_server_file_gives_node_exporters_lines() {
        let dir = tree(&[("proc/net/rpc/nfsd", NFSD.as_bytes())]);
        let body = scrape_of("nfsd", build(&config_for(dir.path())).unwrap());
        let lines = samples(&body);
        assert_eq!(lines.len(), 90, "{body}");
        for want in [
            "node_nfsd_disk_bytes_read_total 157286400.0",
            "node_nfsd_server_threads 8.0",
            "node_nfsd_packets_total{proto=\"tcp\"} 917.0",
            "node_nfsd_rpc_errors_total{error=\"cInt\"} 0.0",
            "node_nfsd_requests_total{method=\"Renew\",proto=\"4\"} 1236.0",
            "node_nfsd_requests_total{method=\"PutFH\",proto=\"4\"} 9609.0",
            "node_nfsd_requests_total{method=\"WdelegGetattr\",proto=\"4\"} 15.0",
            "node_nfsd_requests_total{method=\"ReadDirPlus\",proto=\"3\"} 216.0",
        ] {
            assert!(lines.contains(&want), "{want} in {body}");
        }
        assert!(!body.contains("method=\"Null\""));
        assert!(body.contains("# HELP node_nfsd_server_threads Total number of NFSd kernel threads that are running.\n# TYPE node_nfsd_server_threads gauge\n"));
    }

    #[test]
    fn bad_lines_are_errors_and_no_file_is_no_data() {
        for (input, want) in [
            ("rc 1 2\n", "line 1: rc: 2 values, expected 3"),
            ("th x 0\n", "line 1: th: \"th x 0\" has a value that is not a whole number"),
            ("proc4ops 3 1 2 3\n", "line 1: proc4ops: says 3 values and has 3, expected at least 39"),
            ("proc4 3 1 2 3\n", "line 1: proc4: 3 values, expected 2"),
            ("xyz 1\n", "line 1: unknown line \"xyz\""),
        ] {
            assert_eq!(parse_nfsd(input).unwrap_err().to_string(), want, "{input:?}");
        }
        let dir = tree(&[]);
        let body = scrape_of("nfsd", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"nfsd\"} 1\n"));
    }
}
