//! sockstat: `node_sockstat_sockets_used` and `node_sockstat_<PROTO>_<field>` from
//! `<procfs>/net/sockstat` and `<procfs>/net/sockstat6`.

use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::single_gauge;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, parse_num,
};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "sockstat",
    default_enabled: true,
    help: "Socket statistics from /proc/net/sockstat{,6}",
    flags: &[],
    build,
};

/// The per-protocol fields node_exporter exports, in its order (`inuse` is always there).
const FIELDS: [&str; 6] = ["inuse", "orphan", "tw", "alloc", "mem", "memory"];
const MEM: usize = 4;

/// `inuse` in [`Protocol::fields`].
pub(super) const INUSE: usize = 0;

/// One protocol line: `TCP: inuse 4 orphan 0 tw 4 alloc 17 mem 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol<'a> {
    pub name: &'a str,
    /// In the order of [`FIELDS`]; `None` where the line lacks it (`inuse` reads 0 then).
    pub fields: [Option<i64>; FIELDS.len()],
}

/// A sockstat file: the `sockets: used N` line (IPv4 only) and the protocol lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sockstat<'a> {
    pub used: Option<i64>,
    pub protocols: Vec<Protocol<'a>>,
}

/// Parses a sockstat file. A malformed line costs that line: it is skipped and reported in
/// `bad`.
pub fn parse_sockstat<'a>(data: &'a str, bad: &mut Vec<ParseError>) -> Sockstat<'a> {
    let mut out = Sockstat::default();
    for (i, line) in data.lines().enumerate() {
        match parse_line(i + 1, line) {
            Ok(None) => {}
            Ok(Some(Line::Used(n))) => out.used = Some(n),
            Ok(Some(Line::Protocol(p))) => out.protocols.push(p),
            Err(e) => bad.push(e),
        }
    }
    out
}

enum Line<'a> {
    Used(i64),
    Protocol(Protocol<'a>),
}

fn parse_line(n: usize, line: &str) -> Result<Option<Line<'_>>, ParseError> {
    let mut parts = line.split_ascii_whitespace();
    let Some(proto) = parts.next() else {
        return Ok(None);
    };
    let name = proto.strip_suffix(':').unwrap_or(proto);
    let kvs: Vec<&str> = parts.collect();
    if kvs.is_empty() || !kvs.len().is_multiple_of(2) {
        return Err(ParseError::new(
            n,
            format!("{name}: not key/value pairs: {line:?}"),
        ));
    }
    let mut fields = [None; FIELDS.len()];
    let mut used = None;
    for kv in kvs.chunks_exact(2) {
        let v: i64 = parse_num(n, kv[0], kv[1])?;
        if let Some(k) = FIELDS.iter().position(|f| *f == kv[0]) {
            fields[k] = Some(v);
        }
        if kv[0] == "used" {
            used = Some(v);
        }
    }
    Ok(Some(if name == "sockets" {
        Line::Used(used.unwrap_or(0))
    } else {
        Line::Protocol(Protocol { name, fields })
    }))
}

/// The page size, for `mem_bytes` (the kernel counts socket memory in pages).
fn page_size() -> i64 {
    // SAFETY: sysconf reads a constant; it has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size } else { 4096 }
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(SockstatCollector {
        paths: [
            config.paths.procfs.join("net/sockstat"),
            config.paths.procfs.join("net/sockstat6"),
        ],
        page_size: page_size(),
        names: Mutex::new(Vec::new()),
    }))
}

struct SockstatCollector {
    paths: [PathBuf; 2],
    page_size: i64,
    /// Each protocol field's family name and HELP, made when first seen: a scrape writes
    /// about twenty, and formatting both anew each time was 0.3% of a scrape's CPU in perf.
    names: Mutex<Vec<Named>>,
}

/// One protocol field's family.
struct Named {
    protocol: String,
    field: &'static str,
    name: String,
    help: String,
}

/// At most this many [`Named`] are kept (the kernel prints 10 protocol lines of 1 to 5
/// fields, 19 families with TCP's and UDP's `mem_bytes`; past it, a fixture tree's odd lines
/// are named without being kept).
const MAX_NAMED: usize = 64;

impl Collector for SockstatCollector {
    fn update(&self, shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let mut errors = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (ipv6, path) in self.paths.iter().enumerate() {
            // Through `shared`: udp_queues reads the UDP lines of the same files.
            let result = shared.read_with(path, |data| {
                let mut bad = Vec::new();
                let stat = parse_sockstat(data, &mut bad);
                errors.extend(bad.into_iter().map(|e| CollectError::parse(path, e)));
                // sockstat6 has no such line; node_exporter reads it from sockstat only.
                if let (0, Some(used)) = (ipv6, stat.used) {
                    single_gauge(
                        enc,
                        "node_sockstat_sockets_used",
                        "Number of IPv4 sockets in use.",
                        used,
                    )?;
                }
                for p in &stat.protocols {
                    // A protocol seen twice keeps its first line: one series per name.
                    if seen.iter().any(|s| s == p.name) {
                        continue;
                    }
                    seen.push(p.name.to_owned());
                    self.encode_protocol(p, enc)?;
                }
                Ok(())
            });
            match result {
                // IPv4 or IPv6 disabled: nothing from that file, as node_exporter.
                Err(CollectError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl SockstatCollector {
    fn encode_protocol(
        &self,
        p: &Protocol<'_>,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let mut put = |field: &'static str, v: i64| -> Result<(), CollectError> {
            let at = match names
                .iter()
                .position(|n| n.field == field && n.protocol == p.name)
            {
                Some(at) => at,
                None => {
                    let named = Named {
                        protocol: p.name.to_owned(),
                        field,
                        name: format!("node_sockstat_{}_{field}", p.name),
                        help: format!("Number of {} sockets in state {field}.", p.name),
                    };
                    if names.len() >= MAX_NAMED {
                        return Ok(single_gauge(enc, &named.name, &named.help, v)?);
                    }
                    names.push(named);
                    names.len() - 1
                }
            };
            Ok(single_gauge(enc, &names[at].name, &names[at].help, v)?)
        };
        for (k, field) in FIELDS.iter().enumerate() {
            match p.fields[k] {
                Some(v) => put(field, v)?,
                None if k == 0 => put(field, 0)?,
                None => {}
            }
        }
        if let Some(mem) = p.fields[MEM] {
            put("mem_bytes", mem.saturating_mul(self.page_size))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, scraper_of, tree};
    use super::*;

    // node_exporter's fixtures.
    const SOCKSTAT: &str = "sockets: used 229
TCP: inuse 4 orphan 0 tw 4 alloc 17 mem 1
UDP: inuse 0 mem 0
UDPLITE: inuse 0
RAW: inuse 0
FRAG: inuse 0 memory 0
";
    const SOCKSTAT6: &str = "TCP6: inuse 17
UDP6: inuse 9
UDPLITE6: inuse 0
RAW6: inuse 1
FRAG6: inuse 0 memory 0
";

    #[test]
    fn node_exporters_fixture_lines() {
        let dir = tree(&[
            ("proc/net/sockstat", SOCKSTAT.as_bytes()),
            ("proc/net/sockstat6", SOCKSTAT6.as_bytes()),
        ]);
        let body = scrape_of("sockstat", build(&config_for(dir.path())).unwrap());
        let page = page_size();
        assert_eq!(
            samples(&body),
            [
                "node_sockstat_sockets_used 229".to_owned(),
                "node_sockstat_TCP_inuse 4".into(),
                "node_sockstat_TCP_orphan 0".into(),
                "node_sockstat_TCP_tw 4".into(),
                "node_sockstat_TCP_alloc 17".into(),
                "node_sockstat_TCP_mem 1".into(),
                format!("node_sockstat_TCP_mem_bytes {page}"),
                "node_sockstat_UDP_inuse 0".into(),
                "node_sockstat_UDP_mem 0".into(),
                "node_sockstat_UDP_mem_bytes 0".into(),
                "node_sockstat_UDPLITE_inuse 0".into(),
                "node_sockstat_RAW_inuse 0".into(),
                "node_sockstat_FRAG_inuse 0".into(),
                "node_sockstat_FRAG_memory 0".into(),
                "node_sockstat_TCP6_inuse 17".into(),
                "node_sockstat_UDP6_inuse 9".into(),
                "node_sockstat_UDPLITE6_inuse 0".into(),
                "node_sockstat_RAW6_inuse 1".into(),
                "node_sockstat_FRAG6_inuse 0".into(),
                "node_sockstat_FRAG6_memory 0".into(),
            ]
        );
        assert!(body.contains(
            "# HELP node_sockstat_TCP_tw Number of TCP sockets in state tw.\n# TYPE node_sockstat_TCP_tw gauge\n"
        ));
        assert!(body.contains("node_scrape_collector_success{collector=\"sockstat\"} 1\n"));
    }

    /// The names made on the first scrape serve the next ones, whose files may differ: a
    /// protocol that appears is named, and one past [`MAX_NAMED`] still is.
    #[test]
    fn later_scrapes_name_each_family_as_the_first() {
        let dir = tree(&[
            ("proc/net/sockstat", SOCKSTAT.as_bytes()),
            ("proc/net/sockstat6", SOCKSTAT6.as_bytes()),
        ]);
        let scraper = scraper_of("sockstat", build(&config_for(dir.path())).unwrap());
        let first = String::from_utf8(scraper.scrape()).unwrap();
        let again = String::from_utf8(scraper.scrape()).unwrap();
        assert_eq!(samples(&first), samples(&again));
        assert_eq!(
            first.lines().filter(|l| l.starts_with("# ")).collect::<Vec<_>>(),
            again.lines().filter(|l| l.starts_with("# ")).collect::<Vec<_>>()
        );
        let many: String = (0..MAX_NAMED + 2)
            .map(|i| format!("P{i}: inuse {i}\n"))
            .collect();
        std::fs::write(dir.path().join("proc/net/sockstat"), format!("TCP: inuse 7\n{many}")).unwrap();
        for _ in 0..2 {
            let body = String::from_utf8(scraper.scrape()).unwrap();
            let lines = samples(&body);
            assert_eq!(lines[0], "node_sockstat_TCP_inuse 7");
            let last = MAX_NAMED + 1;
            assert!(lines.contains(&format!("node_sockstat_P{last}_inuse {last}").as_str()));
            assert!(body.contains(&format!(
                "# HELP node_sockstat_P{last}_inuse Number of P{last} sockets in state inuse.\n"
            )));
            assert!(lines.contains(&"node_sockstat_TCP6_inuse 17"));
        }
    }

    #[test]
    fn no_ipv6_is_fine_and_a_bad_line_costs_only_itself() {
        let data = "sockets: used 3\nTCP: inuse x\nUDP: inuse 2 mem\nRAW: inuse 1\nRAW: inuse 9\n";
        let mut bad = Vec::new();
        parse_sockstat(data, &mut bad);
        assert_eq!(
            bad.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "line 2: inuse: \"x\" is not a number",
                "line 3: UDP: not key/value pairs: \"UDP: inuse 2 mem\"",
            ]
        );
        let dir = tree(&[("proc/net/sockstat", data.as_bytes())]);
        let body = scrape_of("sockstat", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            ["node_sockstat_sockets_used 3", "node_sockstat_RAW_inuse 1"]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"sockstat\"} 0\n"));

        let dir = tree(&[("proc/net/sockstat", b"sockets: used 3\n")]);
        let body = scrape_of("sockstat", build(&config_for(dir.path())).unwrap());
        assert_eq!(samples(&body), ["node_sockstat_sockets_used 3"]);
        assert!(body.contains("node_scrape_collector_success{collector=\"sockstat\"} 1\n"));
    }
}
