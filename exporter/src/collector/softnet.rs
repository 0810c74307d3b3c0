//! softnet: `node_softnet_*{cpu}` from `<procfs>/net/softnet_stat` (one line of hex columns per
//! CPU).

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family, gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, read_with,
};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "softnet",
    default_enabled: true,
    help: "Per-CPU packet processing statistics from /proc/net/softnet_stat",
    flags: &[],
    build,
};

/// One CPU's line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Softnet {
    pub cpu: u32,
    pub processed: u32,
    pub dropped: u32,
    pub time_squeezed: u32,
    pub cpu_collision: u32,
    pub received_rps: u32,
    pub flow_limit_count: u32,
    pub backlog_len: u32,
}

/// Parses softnet_stat as procfs does: at least 9 columns; the 10th and 11th (received_rps,
/// flow_limit_count) and the 12th and 13th (backlog length, CPU index; Linux 5.10+) when
/// there. Without an index column the CPU is the line's position. A bad line costs that line
/// (reported in `bad`); a CPU index seen twice keeps its first line.
pub fn parse_softnet(data: &str, bad: &mut Vec<ParseError>) -> Vec<Softnet> {
    let mut out: Vec<Softnet> = Vec::new();
    for (i, line) in data.lines().enumerate() {
        let n = i + 1;
        let mut cols = [0u32; 13];
        let mut width = 0;
        let mut error = None;
        for (k, s) in line.split_ascii_whitespace().enumerate().take(cols.len()) {
            width = k + 1;
            match u32::from_str_radix(s, 16) {
                Ok(v) => cols[k] = v,
                Err(_) => {
                    error = Some(format!("column {width}: {s:?} is not a 32-bit hex number"));
                    break;
                }
            }
        }
        if width < 9 && error.is_none() {
            error = Some(format!("{width} columns, expected at least 9"));
        }
        if let Some(message) = error {
            bad.push(ParseError::new(n, message));
            continue;
        }
        let cpu = if width >= 13 { cols[12] } else { i as u32 };
        if out.iter().any(|s| s.cpu == cpu) {
            bad.push(ParseError::new(n, format!("CPU {cpu} seen twice")));
            continue;
        }
        out.push(Softnet {
            cpu,
            processed: cols[0],
            dropped: cols[1],
            time_squeezed: cols[2],
            cpu_collision: cols[8],
            received_rps: cols[9],
            flow_limit_count: cols[10],
            backlog_len: cols[11],
        });
    }
    out
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(SoftnetCollector {
        path: config.paths.procfs.join("net/softnet_stat"),
    }))
}

struct SoftnetCollector {
    path: PathBuf,
}

/// Picks one column of a line.
type Column = fn(&Softnet) -> u32;

/// The counter families: (name without `_total`, HELP, column).
const COUNTERS: [(&str, &str, Column); 6] = [
    (
        "node_softnet_processed",
        "Number of processed packets",
        |s| s.processed,
    ),
    (
        "node_softnet_dropped",
        "Number of dropped packets",
        |s| s.dropped,
    ),
    (
        "node_softnet_times_squeezed",
        "Number of times processing packets ran out of quota",
        |s| s.time_squeezed,
    ),
    (
        "node_softnet_cpu_collision",
        "Number of collision occur while obtaining device lock while transmitting",
        |s| s.cpu_collision,
    ),
    (
        "node_softnet_received_rps",
        "Number of times cpu woken up received_rps",
        |s| s.received_rps,
    ),
    (
        "node_softnet_flow_limit_count",
        "Number of times flow limit has been reached",
        |s| s.flow_limit_count,
    ),
];

impl Collector for SoftnetCollector {
    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let mut bad = Vec::new();
        let stats = read_with(&self.path, |data| Ok(parse_softnet(data, &mut bad)))?;
        let cpus: Vec<String> = stats.iter().map(|s| s.cpu.to_string()).collect();
        if !stats.is_empty() {
            for (name, help, column) in COUNTERS {
                let mut family = counter_family(enc, name, help)?;
                for (s, cpu) in stats.iter().zip(&cpus) {
                    counter(&mut family, &[("cpu", cpu.as_str())], column(s))?;
                }
            }
            let mut family = gauge_family(enc, "node_softnet_backlog_len", "Softnet backlog status")?;
            for (s, cpu) in stats.iter().zip(&cpus) {
                gauge(&mut family, &[("cpu", cpu.as_str())], s.backlog_len)?;
            }
        }
        match bad.into_iter().next() {
            Some(e) => Err(CollectError::parse(&self.path, e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn node_exporters_fixture_and_a_modern_kernels_lines() {
        // Two lines of node_exporter's fixture (9+2 columns), one of Linux 5.10+ (13).
        let data = "00049279 00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
000dfb82 00000029 0000000a 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
00000010 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000003 00000004 00000005 00000006 00000007
";
        let dir = tree(&[("proc/net/softnet_stat", data.as_bytes())]);
        let body = scrape_of("softnet", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "node_softnet_processed_total{cpu=\"0\"} 299641",
                "node_softnet_processed_total{cpu=\"1\"} 916354",
                "node_softnet_processed_total{cpu=\"7\"} 16",
                "node_softnet_dropped_total{cpu=\"0\"} 0",
                "node_softnet_dropped_total{cpu=\"1\"} 41",
                "node_softnet_dropped_total{cpu=\"7\"} 1",
                "node_softnet_times_squeezed_total{cpu=\"0\"} 1",
                "node_softnet_times_squeezed_total{cpu=\"1\"} 10",
                "node_softnet_times_squeezed_total{cpu=\"7\"} 2",
                "node_softnet_cpu_collision_total{cpu=\"0\"} 0",
                "node_softnet_cpu_collision_total{cpu=\"1\"} 0",
                "node_softnet_cpu_collision_total{cpu=\"7\"} 3",
                "node_softnet_received_rps_total{cpu=\"0\"} 0",
                "node_softnet_received_rps_total{cpu=\"1\"} 0",
                "node_softnet_received_rps_total{cpu=\"7\"} 4",
                "node_softnet_flow_limit_count_total{cpu=\"0\"} 0",
                "node_softnet_flow_limit_count_total{cpu=\"1\"} 0",
                "node_softnet_flow_limit_count_total{cpu=\"7\"} 5",
                "node_softnet_backlog_len{cpu=\"0\"} 0",
                "node_softnet_backlog_len{cpu=\"1\"} 0",
                "node_softnet_backlog_len{cpu=\"7\"} 6",
            ]
        );
        assert!(body.contains(
            "# HELP node_softnet_processed Number of processed packets\n# TYPE node_softnet_processed counter\n"
        ));
        assert!(body.contains("node_scrape_collector_success{collector=\"softnet\"} 1\n"));
    }

    #[test]
    fn a_bad_line_costs_only_itself() {
        let mut bad = Vec::new();
        let stats = parse_softnet(
            "1 2 3\n1 0 0 0 0 0 0 0 0\n1 0 0 0 0 0 0 0 zz\n2 0 0 0 0 0 0 0 0\n",
            &mut bad,
        );
        assert_eq!(
            bad.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "line 1: 3 columns, expected at least 9",
                "line 3: column 9: \"zz\" is not a 32-bit hex number",
            ]
        );
        // A line's position is its CPU: a skipped line does not shift the ones after it.
        let cpus: Vec<_> = stats.iter().map(|s| (s.cpu, s.processed)).collect();
        assert_eq!(cpus, [(1, 1), (3, 2)]);
        let dir = tree(&[("proc/net/softnet_stat", b"1 2 3\n1 0 0 0 0 0 0 0 0\n")]);
        let body = scrape_of("softnet", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_softnet_processed_total{cpu=\"1\"} 1\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"softnet\"} 0\n"));
    }
}
