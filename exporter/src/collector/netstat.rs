//! netstat: `node_netstat_<Protocol>_<Field>` (untyped) from `<procfs>/net/netstat`,
//! `<procfs>/net/snmp` and `<procfs>/net/snmp6`, the fields `--collector.netstat.fields`
//! matches.
//!
//! The regex is matched once per field name and remembered: the names are the kernel's and do
//! not change between scrapes, so a scrape does no regex work.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use prometheus_client::encoding::DescriptorEncoder;
use regex::Regex;

use super::encode::untyped_family;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
    compile_regex, read_with,
};

pub const FIELDS: FlagSpec = FlagSpec::value(
    "--collector.netstat.fields",
    "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$",
    "Regexp of fields to return for netstat collector.",
);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "netstat",
    default_enabled: true,
    help: "Network statistics from /proc/net/{netstat,snmp,snmp6}",
    flags: &[FIELDS],
    build,
};

/// One statistic: protocol (`TcpExt`, `Ip6`), field (`ListenDrops`) and its value as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat<'a> {
    pub protocol: &'a str,
    pub name: &'a str,
    pub value: &'a str,
}

/// Parses `/proc/net/{netstat,snmp}`: pairs of lines `Proto: names...` / `Proto: values...`.
/// A pair whose lines disagree (protocol or field count) costs that pair: it is skipped and
/// reported in `bad`, the others are kept.
pub fn parse_pairs<'a>(data: &'a str, out: &mut Vec<Stat<'a>>, bad: &mut Vec<ParseError>) {
    let mut lines = data.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    while let Some((i, names)) = lines.next() {
        let n = i + 1;
        let Some((_, values)) = lines.next() else {
            bad.push(ParseError::new(n, "a line of names without its line of values"));
            break;
        };
        let mut names = names.split_ascii_whitespace();
        let mut values = values.split_ascii_whitespace();
        let (Some(proto), Some(proto_v)) = (names.next(), values.next()) else {
            continue;
        };
        let protocol = proto.strip_suffix(':').unwrap_or(proto);
        if proto != proto_v || names.clone().count() != values.clone().count() {
            bad.push(ParseError::new(
                n,
                format!("{protocol}: names and values do not match"),
            ));
            continue;
        }
        for (name, value) in names.zip(values) {
            out.push(Stat {
                protocol,
                name,
                value,
            });
        }
    }
}

/// Parses `/proc/net/snmp6`: `Ip6InReceives  123` lines; the protocol is the name up to its
/// first `6`. Lines without a `6` or a value are skipped, as node_exporter does.
pub fn parse_snmp6<'a>(data: &'a str, out: &mut Vec<Stat<'a>>) {
    for line in data.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (fields.next(), fields.next()) else {
            continue;
        };
        if let Some(six) = key.find('6') {
            out.push(Stat {
                protocol: &key[..=six],
                name: &key[six + 1..],
                value,
            });
        }
    }
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let procfs = &config.paths.procfs;
    Ok(Box::new(NetstatCollector {
        netstat: procfs.join("net/netstat"),
        snmp: procfs.join("net/snmp"),
        snmp6: procfs.join("net/snmp6"),
        fields: compile_regex(FIELDS.name, config.options.value(&FIELDS))?,
        known: Mutex::new(Known::default()),
    }))
}

struct NetstatCollector {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
    fields: Regex,
    known: Mutex<Known>,
}

/// What was decided about the statistics the files list, remembered between scrapes: the
/// kernel lists them in the same order every time, so the decision for the n-th is kept at
/// index n and only checked to be for the same protocol and field (two short compares in a
/// sequential walk, instead of building ~450 names, matching or hashing them each scrape).
#[derive(Default)]
struct Known {
    /// Per statistic seen: its protocol and field, and the series it is exported as (if
    /// `fields` matches it).
    stats: Vec<(Box<str>, Box<str>, Option<usize>)>,
    /// Per series: `node_netstat_<Proto>_<Field>` and its HELP. A field listed twice (two
    /// blocks of one protocol) is one series.
    series: Vec<(String, String)>,
    /// Per pair of lines of netstat and snmp, in order, as last seen ([`Pair`]).
    pairs: Vec<Pair>,
}

/// A pair of lines (`Proto: names...` / `Proto: values...`) as last seen: while its line of
/// names is the same, the values line is only split, and the exported columns taken from it.
#[derive(Default)]
struct Pair {
    names: Box<str>,
    /// The fields it has (its values line has as many, after the protocol).
    fields: usize,
    /// The exported columns (1 is the first field) and their series, in column order.
    picks: Vec<(usize, usize)>,
}

impl Known {
    /// The series statistic `at` (`s`) is exported as, if any, deciding it if it is new.
    fn series_of(&mut self, at: usize, s: &Stat<'_>, fields: &Regex) -> Option<usize> {
        if let Some((p, n, series)) = self.stats.get(at)
            && **p == *s.protocol
            && **n == *s.name
        {
            return *series;
        }
        let key = format!("{}_{}", s.protocol, s.name);
        let series = fields.is_match(&key).then(|| {
            let name = format!("node_netstat_{key}");
            match self.series.iter().position(|(n, _)| *n == name) {
                Some(i) => i,
                None => {
                    let help = format!("Statistic {}{}.", s.protocol, s.name);
                    self.series.push((name, help));
                    self.series.len() - 1
                }
            }
        });
        let entry = (s.protocol.into(), s.name.into(), series);
        if at < self.stats.len() {
            self.stats[at] = entry;
        } else {
            self.stats.push(entry);
        }
        series
    }
}

/// One exported sample: its series, the file it came from (for an error) and its value.
struct Sample<'p> {
    series: usize,
    path: &'p Path,
    value: Result<Value, String>,
}

enum Value {
    Int(i64),
    Float(f64),
}

impl Value {
    fn parse(s: &str) -> Result<Value, String> {
        if let Ok(v) = s.parse::<i64>() {
            Ok(Value::Int(v))
        } else if let Ok(v) = s.parse::<f64>() {
            Ok(Value::Float(v))
        } else {
            Err(s.to_owned())
        }
    }
}

impl NetstatCollector {
    /// Adds the matching statistics of `stats` to `out`; `at` counts the statistics seen so
    /// far this scrape.
    fn select<'p>(
        &self,
        known: &mut Known,
        path: &'p Path,
        stats: &[Stat<'_>],
        at: &mut usize,
        out: &mut Vec<Sample<'p>>,
    ) {
        for s in stats {
            if let Some(series) = known.series_of(*at, s, &self.fields) {
                out.push(Sample {
                    series,
                    path,
                    value: Value::parse(s.value),
                });
            }
            *at += 1;
        }
    }

    /// Adds the matching statistics of netstat or snmp (`data`, read from `path`) to `out`.
    /// `pair` counts the pairs of lines seen so far this scrape, `at` the statistics.
    #[allow(clippy::too_many_arguments)] // the walk's state, threaded through two files
    fn select_pairs<'p>(
        &self,
        known: &mut Known,
        path: &'p Path,
        data: &str,
        pair: &mut usize,
        at: &mut usize,
        out: &mut Vec<Sample<'p>>,
        errors: &mut Vec<CollectError>,
    ) {
        let mut lines = data.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        while let Some((i, names)) = lines.next() {
            let Some((_, values)) = lines.next() else {
                let e = ParseError::new(i + 1, "a line of names without its line of values");
                errors.push(CollectError::parse(path, e));
                break;
            };
            let p = *pair;
            *pair += 1;
            if let Some(seen) = known.pairs.get(p)
                && *seen.names == *names
            {
                let kept = out.len();
                if take_picks(seen, path, values, out) {
                    *at += seen.fields;
                    continue;
                }
                // The values line does not fit the names: decided afresh below.
                out.truncate(kept);
            }
            let (mut stats, mut bad) = (Vec::new(), Vec::new());
            let two = format!("{names}\n{values}\n");
            parse_pairs(&two, &mut stats, &mut bad);
            let mut seen = Pair {
                names: names.into(),
                fields: stats.len(),
                picks: Vec::new(),
            };
            if bad.is_empty() {
                for (col, s) in stats.iter().enumerate() {
                    if let Some(series) = known.series_of(*at + col, s, &self.fields) {
                        seen.picks.push((col + 1, series));
                    }
                }
                take_picks(&seen, path, values, out);
                *at += seen.fields;
            } else {
                // Never matches again: a line of names is never empty.
                seen.names = "".into();
            }
            errors.extend(
                bad.into_iter()
                    .map(|e| CollectError::parse(path, ParseError::new(i + 1, e.message))),
            );
            if p < known.pairs.len() {
                known.pairs[p] = seen;
            } else {
                known.pairs.push(seen);
            }
        }
    }

    fn read_pairs<'p>(
        &self,
        known: &mut Known,
        path: &'p Path,
        pair: &mut usize,
        at: &mut usize,
        out: &mut Vec<Sample<'p>>,
        errors: &mut Vec<CollectError>,
    ) -> Result<(), CollectError> {
        read_with(path, |data| {
            self.select_pairs(known, path, data, pair, at, out, errors);
            Ok(())
        })
    }
}

/// Adds the columns `seen` exports from `values` to `out`; false if the line does not have
/// its protocol and field count.
fn take_picks<'p>(seen: &Pair, path: &'p Path, values: &str, out: &mut Vec<Sample<'p>>) -> bool {
    let mut picks = seen.picks.iter().peekable();
    let mut tokens = values.split_ascii_whitespace();
    let proto = seen.names.split_ascii_whitespace().next();
    if tokens.next() != proto {
        return false;
    }
    let mut count = 0;
    for (col, token) in tokens.enumerate() {
        count += 1;
        if let Some(&&(want, series)) = picks.peek()
            && want == col + 1
        {
            picks.next();
            out.push(Sample {
                series,
                path,
                value: Value::parse(token),
            });
        }
    }
    count == seen.fields
}

impl Collector for NetstatCollector {
    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let known = &mut *known;
        let mut samples = Vec::new();
        let mut errors = Vec::new();
        let (mut at, mut pair) = (0, 0);
        self.read_pairs(known, &self.netstat, &mut pair, &mut at, &mut samples, &mut errors)?;
        self.read_pairs(known, &self.snmp, &mut pair, &mut at, &mut samples, &mut errors)?;
        // No snmp6 on a kernel without IPv6.
        match read_with(&self.snmp6, |data| {
            let mut stats = Vec::new();
            parse_snmp6(data, &mut stats);
            self.select(known, &self.snmp6, &stats, &mut at, &mut samples);
            Ok(())
        }) {
            Err(CollectError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
        // A field seen twice keeps its last value (node_exporter's map keeps the last block
        // of a protocol): one series per name, or Prometheus would reject the scrape.
        let mut seen = vec![false; known.series.len()];
        let mut keep = vec![false; samples.len()];
        for (i, s) in samples.iter().enumerate().rev() {
            keep[i] = !std::mem::replace(&mut seen[s.series], true);
        }
        for (s, _) in samples.iter().zip(&keep).filter(|(_, k)| **k) {
            let (name, help) = &known.series[s.series];
            match &s.value {
                Ok(Value::Int(v)) => untyped_family(enc, name, help)?.encode_gauge(v)?,
                Ok(Value::Float(v)) => untyped_family(enc, name, help)?.encode_gauge(v)?,
                Err(value) => errors.push(CollectError::Record {
                    path: s.path.to_owned(),
                    offset: 0,
                    message: format!(
                        "{}: {value:?} is not a number",
                        name.trim_start_matches("node_netstat_")
                    ),
                }),
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, scraper_of, tree};
    use super::*;

    const NETSTAT: &str = "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPTimeouts PruneCalled
TcpExt: 0 0 0 0 115 0
IpExt: InNoRoutes InOctets OutOctets
IpExt: 0 6286396970 2786264347
";
    const SNMP: &str = "Ip: Forwarding DefaultTTL InReceives InHdrErrors
Ip: 1 64 57740232 0
Icmp: InMsgs InErrors OutMsgs
Icmp: 104 0 120
Tcp: RtoAlgorithm MaxConn ActiveOpens CurrEstab InErrs
Tcp: 1 -1 3556 11 5
Udp: InDatagrams NoPorts InErrors OutDatagrams
Udp: 88542 120 0 53028
";
    const SNMP6: &str = "Ip6InReceives                   \t2
Ip6InOctets                     \t460
Icmp6InMsgs                     \t0
Icmp6OutMsgs                    \t8
Udp6InDatagrams                 \t0
UdpLite6InErrors                \t0
Ip6XYZ
";

    fn scrape(files: &[(&str, &[u8])], fields: Option<&str>) -> String {
        let dir = tree(files);
        let mut config = config_for(dir.path());
        if let Some(f) = fields {
            config.options.set(&FIELDS, vec![f.to_owned()]);
        }
        scrape_of("netstat", build(&config).unwrap())
    }

    /// The decisions remembered by position are checked by name: statistics in another order
    /// than the last scrape's (another kernel's files) are selected by their names.
    #[test]
    fn selection_follows_names_when_the_order_changes() {
        let config = config_for(Path::new("/nonexistent"));
        let collector = NetstatCollector {
            netstat: PathBuf::new(),
            snmp: PathBuf::new(),
            snmp6: PathBuf::new(),
            fields: compile_regex(FIELDS.name, config.options.value(&FIELDS)).unwrap(),
            known: Mutex::new(Known::default()),
        };
        let stat = |protocol, name| Stat {
            protocol,
            name,
            value: "1",
        };
        let select = |stats: &[Stat<'_>]| {
            let (mut at, mut out) = (0, Vec::new());
            let mut known = collector.known.lock().unwrap();
            collector.select(&mut known, Path::new("snmp"), stats, &mut at, &mut out);
            out.into_iter()
                .map(|s| known.series[s.series].0.trim_start_matches("node_netstat_").to_owned())
                .collect::<Vec<_>>()
        };
        let first = [stat("Tcp", "InErrs"), stat("Tcp", "MaxConn")];
        assert_eq!(select(&first), ["Tcp_InErrs"]);
        assert_eq!(select(&first), ["Tcp_InErrs"]);
        let moved = [
            stat("Tcp", "MaxConn"),
            stat("Tcp", "InErrs"),
            stat("Udp", "NoPorts"),
        ];
        assert_eq!(select(&moved), ["Tcp_InErrs", "Udp_NoPorts"]);
        assert_eq!(select(&moved[..1]), Vec::<String>::new());
    }

    #[test]
    fn the_default_fields_of_the_three_files() {
        let body = scrape(
            &[
                ("proc/net/netstat", NETSTAT.as_bytes()),
                ("proc/net/snmp", SNMP.as_bytes()),
                ("proc/net/snmp6", SNMP6.as_bytes()),
            ],
            None,
        );
        assert_eq!(
            samples(&body),
            [
                "node_netstat_TcpExt_SyncookiesSent 0",
                "node_netstat_TcpExt_SyncookiesRecv 0",
                "node_netstat_TcpExt_ListenOverflows 0",
                "node_netstat_TcpExt_ListenDrops 0",
                "node_netstat_TcpExt_TCPTimeouts 115",
                "node_netstat_IpExt_InOctets 6286396970",
                "node_netstat_IpExt_OutOctets 2786264347",
                "node_netstat_Ip_Forwarding 1",
                "node_netstat_Icmp_InMsgs 104",
                "node_netstat_Icmp_InErrors 0",
                "node_netstat_Icmp_OutMsgs 120",
                "node_netstat_Tcp_ActiveOpens 3556",
                "node_netstat_Tcp_CurrEstab 11",
                "node_netstat_Tcp_InErrs 5",
                "node_netstat_Udp_InDatagrams 88542",
                "node_netstat_Udp_NoPorts 120",
                "node_netstat_Udp_InErrors 0",
                "node_netstat_Udp_OutDatagrams 53028",
                "node_netstat_Ip6_InOctets 460",
                "node_netstat_Icmp6_InMsgs 0",
                "node_netstat_Icmp6_OutMsgs 8",
                "node_netstat_Udp6_InDatagrams 0",
                "node_netstat_UdpLite6_InErrors 0",
            ]
        );
        assert!(body.contains(
            "# HELP node_netstat_Tcp_InErrs Statistic TcpInErrs.\n# TYPE node_netstat_Tcp_InErrs unknown\n"
        ));
        assert!(body.contains("node_scrape_collector_success{collector=\"netstat\"} 1\n"));
    }

    #[test]
    fn fields_flag_no_snmp6_and_a_duplicated_protocol() {
        let snmp = format!("{SNMP}Tcp: MaxConn\nTcp: 7\n");
        let body = scrape(
            &[
                ("proc/net/netstat", b""),
                ("proc/net/snmp", snmp.as_bytes()),
            ],
            Some("^Tcp_(MaxConn|CurrEstab)$"),
        );
        // MaxConn's last value wins; no IPv6 is no error.
        assert_eq!(
            samples(&body),
            ["node_netstat_Tcp_CurrEstab 11", "node_netstat_Tcp_MaxConn 7"]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"netstat\"} 1\n"));
    }

    #[test]
    fn a_mismatched_pair_costs_only_that_pair() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1\nUdp: NoPorts\nUdp: 120\n";
        let mut stats = Vec::new();
        let mut bad = Vec::new();
        parse_pairs(snmp, &mut stats, &mut bad);
        assert_eq!(
            bad.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["line 1: Ip: names and values do not match"]
        );
        let body = scrape(
            &[
                ("proc/net/netstat", b""),
                ("proc/net/snmp", snmp.as_bytes()),
            ],
            None,
        );
        assert_eq!(samples(&body), ["node_netstat_Udp_NoPorts 120"]);
        assert!(body.contains("node_scrape_collector_success{collector=\"netstat\"} 0\n"));
    }

    /// One scraper over files that change between scrapes: new values are read through the
    /// remembered pairs, and a pair whose names change (a field added, a values line cut
    /// short) is decided afresh, as a first scrape would.
    #[test]
    fn later_scrapes_read_new_values_and_follow_changed_lines() {
        let dir = tree(&[
            ("proc/net/netstat", NETSTAT.as_bytes()),
            ("proc/net/snmp", SNMP.as_bytes()),
        ]);
        let scraper = scraper_of("netstat", build(&config_for(dir.path())).unwrap());
        let scrape = || String::from_utf8(scraper.scrape()).unwrap();
        let first = scrape();
        assert!(first.contains("node_netstat_Tcp_InErrs 5\n"), "{first}");
        assert_eq!(samples(&scrape()), samples(&first));

        let snmp = dir.path().join("proc/net/snmp");
        std::fs::write(&snmp, SNMP.replace("Tcp: 1 -1 3556 11 5", "Tcp: 1 -1 3557 12 6")).unwrap();
        let body = scrape();
        assert!(body.contains("node_netstat_Tcp_InErrs 6\n"), "{body}");
        assert!(body.contains("node_netstat_Tcp_CurrEstab 12\n"), "{body}");
        assert!(body.contains("node_netstat_Tcp_ActiveOpens 3557\n"), "{body}");

        // A field inserted before InErrs: the columns move.
        let moved = SNMP
            .replace("Tcp: RtoAlgorithm MaxConn", "Tcp: RtoAlgorithm OutRsts MaxConn")
            .replace("Tcp: 1 -1 3556 11 5", "Tcp: 1 9 -1 3556 11 5");
        std::fs::write(&snmp, moved).unwrap();
        let body = scrape();
        assert!(body.contains("node_netstat_Tcp_InErrs 5\n"), "{body}");
        assert!(body.contains("node_netstat_Tcp_OutRsts 9\n"), "{body}");

        // The same names with a values line cut short: that pair is reported and left out.
        let short = SNMP.replace("Tcp: 1 -1 3556 11 5", "Tcp: 1 -1 3556");
        std::fs::write(&snmp, short).unwrap();
        let body = scrape();
        assert!(!body.contains("node_netstat_Tcp_"), "{body}");
        assert!(body.contains("node_netstat_Udp_NoPorts 120\n"), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"netstat\"} 0\n"));
    }

    #[test]
    fn a_missing_snmp_file_fails_the_collector() {
        let body = scrape(&[("proc/net/netstat", NETSTAT.as_bytes())], None);
        assert_eq!(samples(&body), Vec::<&str>::new());
        assert!(body.contains("node_scrape_collector_success{collector=\"netstat\"} 0\n"));
    }
}
