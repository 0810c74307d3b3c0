//! conntrack: `node_nf_conntrack_entries`, `node_nf_conntrack_entries_limit` from
//! `<procfs>/sys/net/netfilter/nf_conntrack_{count,max}`, and `node_nf_conntrack_stat_*` summed
//! over the CPUs of `<procfs>/net/stat/nf_conntrack`.
//!
//! Without the nf_conntrack module none of the files exist: node_exporter's ErrNoData (nothing,
//! success 0, logged at debug). Like node_exporter, the two gauges are still exported when only
//! the stat file is missing.

use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::single_gauge;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, parse_num,
    read_with,
};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "conntrack",
    default_enabled: true,
    help: "Connection tracking table use and statistics from /proc",
    flags: &[],
    build,
};

/// The statistics exported: (column, family, HELP).
const STATS: [(&str, &str, &str); 8] = [
    (
        "found",
        "node_nf_conntrack_stat_found",
        "Number of searched entries which were successful.",
    ),
    (
        "invalid",
        "node_nf_conntrack_stat_invalid",
        "Number of packets seen which can not be tracked.",
    ),
    (
        "ignore",
        "node_nf_conntrack_stat_ignore",
        "Number of packets seen which are already connected to a conntrack entry.",
    ),
    (
        "insert",
        "node_nf_conntrack_stat_insert",
        "Number of entries inserted into the list.",
    ),
    (
        "insert_failed",
        "node_nf_conntrack_stat_insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    (
        "drop",
        "node_nf_conntrack_stat_drop",
        "Number of packets dropped due to conntrack failure.",
    ),
    (
        "early_drop",
        "node_nf_conntrack_stat_early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        "search_restart",
        "node_nf_conntrack_stat_search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

/// Column positions of [`STATS`] in a line, as procfs reads them: 16 or 17 hex columns, the
/// first twelve fixed, `search_restart` the 17th (0 when there are 16).
const COLUMNS: [usize; 8] = [2, 4, 5, 8, 9, 10, 11, 16];

/// Sums the per-CPU lines of `net/stat/nf_conntrack` (after its header), in the order of
/// [`STATS`]. A bad line costs that line (reported in `bad`).
pub fn parse_conntrack_stat(data: &str, bad: &mut Vec<ParseError>) -> [u64; STATS.len()] {
    let mut sums = [0u64; STATS.len()];
    for (i, line) in data.lines().enumerate().skip(1) {
        let n = i + 1;
        let mut cols = [0u64; 17];
        let mut width = 0;
        let mut error = None;
        for (k, s) in line.split_ascii_whitespace().enumerate() {
            width = k + 1;
            if k >= cols.len() {
                continue;
            }
            match u64::from_str_radix(s, 16) {
                Ok(v) => cols[k] = v,
                Err(_) => {
                    error = Some(format!("column {width}: {s:?} is not hex"));
                    break;
                }
            }
        }
        if error.is_none() && !(16..=17).contains(&width) {
            error = Some(format!("{width} columns, expected 16 or 17"));
        }
        match error {
            Some(message) => bad.push(ParseError::new(n, message)),
            None => {
                for (sum, &c) in sums.iter_mut().zip(&COLUMNS) {
                    *sum = sum.wrapping_add(cols[c]);
                }
            }
        }
    }
    sums
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let procfs = &config.paths.procfs;
    Ok(Box::new(ConntrackCollector {
        count: procfs.join("sys/net/netfilter/nf_conntrack_count"),
        max: procfs.join("sys/net/netfilter/nf_conntrack_max"),
        stat: procfs.join("net/stat/nf_conntrack"),
    }))
}

struct ConntrackCollector {
    count: PathBuf,
    max: PathBuf,
    stat: PathBuf,
}

fn read_number(path: &Path) -> Result<u64, CollectError> {
    read_with(path, |data| {
        parse_num(1, "value", data.trim()).map_err(|e| CollectError::parse(path, e))
    })
    .map_err(CollectError::absent_is_no_data)
}

impl Collector for ConntrackCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let count = read_number(&self.count)?;
        let max = read_number(&self.max)?;
        single_gauge(
            enc,
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
            count,
        )?;
        single_gauge(
            enc,
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
            max,
        )?;
        let mut bad = Vec::new();
        let sums = read_with(&self.stat, |data| Ok(parse_conntrack_stat(data, &mut bad)))
            .map_err(CollectError::absent_is_no_data)?;
        for ((_, name, help), sum) in STATS.iter().zip(sums) {
            single_gauge(enc, name, help, sum)?;
        }
        match bad.into_iter().next() {
            Some(e) => Err(CollectError::parse(&self.stat, e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, tree};
    use super::*;

    // node_exporter's fixture.
    const STAT: &str = "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000021  00000000 00000000 00000000 00000003 0000588a 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000
00000021  00000000 00000000 00000000 00000002 000056a4 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000002
00000021  00000000 00000000 00000000 00000001 000058d4 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000001
00000021  00000000 00000000 00000000 0000002f 00005688 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000004
";

    fn scrape(files: &[(&str, &[u8])]) -> String {
        let dir = tree(files);
        scrape_of("conntrack", build(&config_for(dir.path())).unwrap())
    }

    #[test]
    fn node_exporters_fixture_lines() {
        let body = scrape(&[
            ("proc/sys/net/netfilter/nf_conntrack_count", b"123\n"),
            ("proc/sys/net/netfilter/nf_conntrack_max", b"65536\n"),
            ("proc/net/stat/nf_conntrack", STAT.as_bytes()),
        ]);
        assert_eq!(
            samples(&body),
            [
                "node_nf_conntrack_entries 123",
                "node_nf_conntrack_entries_limit 65536",
                "node_nf_conntrack_stat_found 0",
                "node_nf_conntrack_stat_invalid 53",
                "node_nf_conntrack_stat_ignore 89738",
                "node_nf_conntrack_stat_insert 0",
                "node_nf_conntrack_stat_insert_failed 0",
                "node_nf_conntrack_stat_drop 0",
                "node_nf_conntrack_stat_early_drop 0",
                "node_nf_conntrack_stat_search_restart 7",
            ]
        );
        assert!(body.contains("# HELP node_nf_conntrack_stat_search_restart Number of conntrack table lookups which had to be restarted due to hashtable resizes.\n# TYPE node_nf_conntrack_stat_search_restart gauge\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"conntrack\"} 1\n"));
    }

    #[test]
    fn no_module_is_no_data_and_a_bad_line_costs_only_itself() {
        // No module: nothing, success 1 and no warning (node_exporter's ErrNoData, at debug).
        let mut body = String::new();
        let logs = logs_of(|| body = scrape(&[("proc/sys/net/other", b"")]));
        assert_eq!(logs, "");
        assert_eq!(samples(&body), Vec::<&str>::new());
        assert!(body.contains("node_scrape_collector_success{collector=\"conntrack\"} 1\n"));

        let body = scrape(&[
            ("proc/sys/net/netfilter/nf_conntrack_count", b"1\n"),
            ("proc/sys/net/netfilter/nf_conntrack_max", b"2\n"),
        ]);
        assert_eq!(
            samples(&body),
            [
                "node_nf_conntrack_entries 1",
                "node_nf_conntrack_entries_limit 2"
            ]
        );

        let mut bad = Vec::new();
        let stat = "header\n1 2 3\n0 0 1 0 1 1 0 0 1 1 1 1 0 0 0 0\n0 0 zz 0\n";
        let sums = parse_conntrack_stat(stat, &mut bad);
        assert_eq!(sums, [1, 1, 1, 1, 1, 1, 1, 0]);
        assert_eq!(
            bad.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "line 2: 3 columns, expected 16 or 17",
                "line 4: column 3: \"zz\" is not hex",
            ]
        );
    }
}
