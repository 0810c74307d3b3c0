//! softirqs: `node_softirqs_functions_total{cpu,type}` from `<procfs>/softirqs` (off by
//! default, as in node_exporter; `--collector.stat.softirq` gives the per-vector totals).

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, parse_num,
    read_with,
};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "softirqs",
    default_enabled: false,
    help: "Softirq counts per CPU from /proc/softirqs",
    flags: &[],
    build,
};

/// The rows node_exporter exports, in its order.
const TYPES: [&str; 10] = [
    "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
];

/// Parses `/proc/softirqs`: per known type (in [`TYPES`] order), the counts per CPU column.
/// Unknown rows are skipped; a count that is not a number is an error, as in procfs.
pub fn parse_softirqs(data: &str) -> Result<Vec<(&'static str, Vec<u64>)>, ParseError> {
    let mut rows: Vec<(&'static str, Vec<u64>)> = Vec::with_capacity(TYPES.len());
    let mut lines = data.lines().enumerate();
    if lines.next().is_none() {
        return Err(ParseError::new(0, "empty"));
    }
    for (i, line) in lines {
        let mut parts = line.split_ascii_whitespace();
        let Some(name) = parts.next().and_then(|p| p.strip_suffix(':')) else {
            continue;
        };
        let Some(kind) = TYPES.iter().find(|t| **t == name) else {
            continue;
        };
        let counts = parts
            .map(|c| parse_num(i + 1, name, c))
            .collect::<Result<Vec<u64>, _>>()?;
        rows.push((kind, counts));
    }
    rows.sort_by_key(|(kind, _)| TYPES.iter().position(|t| t == kind));
    Ok(rows)
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(SoftirqsCollector {
        path: config.paths.procfs.join("softirqs"),
    }))
}

struct SoftirqsCollector {
    path: PathBuf,
}

impl Collector for SoftirqsCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        read_with(&self.path, |data| {
            let rows = parse_softirqs(data).map_err(|e| CollectError::parse(&self.path, e))?;
            let width = rows.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
            // node_exporter labels a column by its position, not by the header's CPU name.
            let cpus: Vec<String> = (0..width).map(|i| i.to_string()).collect();
            let mut family =
                counter_family(enc, "node_softirqs_functions", "Softirq counts per CPU.")?;
            for (kind, counts) in &rows {
                for (cpu, count) in cpus.iter().zip(counts) {
                    counter(&mut family, &[("cpu", cpu.as_str()), ("type", *kind)], *count)?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    /// node_exporter's fixture `proc/softirqs`, rows reordered and one unknown row added.
    const FIXTURE: &str = "                    CPU0       CPU1       
       TIMER:     424191     108342
          HI:          7          1
      NET_TX:       2301       2430
      NET_RX:      43066     104508
       BLOCK:      23776      24115
    IRQ_POLL:          0          0
     TASKLET:        372       1899
       SCHED:     378895     152852
     HRTIMER:         40        346
         RCU:     155929     146631
      NEWONE:          1          2
";

    #[test]
    fn node_exporters_fixture_gives_its_lines() {
        let dir = tree(&[("proc/softirqs", FIXTURE.as_bytes())]);
        let body = scrape_of("softirqs", build(&config_for(dir.path())).unwrap());
        let mut want = Vec::new();
        for (kind, a, b) in [
            ("HI", 7, 1),
            ("TIMER", 424191, 108342),
            ("NET_TX", 2301, 2430),
            ("NET_RX", 43066, 104508),
            ("BLOCK", 23776, 24115),
            ("IRQ_POLL", 0, 0),
            ("TASKLET", 372, 1899),
            ("SCHED", 378895, 152852),
            ("HRTIMER", 40, 346),
            ("RCU", 155929, 146631),
        ] {
            want.push(format!("node_softirqs_functions_total{{cpu=\"0\",type=\"{kind}\"}} {a}"));
            want.push(format!("node_softirqs_functions_total{{cpu=\"1\",type=\"{kind}\"}} {b}"));
        }
        assert_eq!(samples(&body), want);
        assert!(body.contains("# HELP node_softirqs_functions Softirq counts per CPU.\n# TYPE node_softirqs_functions counter\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"softirqs\"} 1\n"));
    }

    #[test]
    fn garbled_softirqs_are_errors() {
        assert_eq!(
            parse_softirqs("").unwrap_err().to_string(),
            "line 0: empty"
        );
        assert_eq!(
            parse_softirqs("  CPU0\n  HI: 1\n  RCU: x\n")
                .unwrap_err()
                .to_string(),
            "line 3: RCU: \"x\" is not a number"
        );
        let dir = tree(&[("proc/softirqs", b"  CPU0\n  HI: -1\n")]);
        let body = scrape_of("softirqs", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"softirqs\"} 0\n"));
    }
}
