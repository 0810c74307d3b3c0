//! loadavg: `node_load1`, `node_load5`, `node_load15` from `<procfs>/loadavg`.

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::single_gauge;
use super::{CollectorSpec, 
    CollectError, Collector, Config, ConfigError, ParseError, Shared, parse_num, read_with,
};

/// The three load averages of `/proc/loadavg`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loadavg {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

/// Parses `/proc/loadavg` (`0.52 0.58 0.59 1/389 12345`).
pub fn parse_loadavg(data: &str) -> Result<Loadavg, ParseError> {
    let mut fields = data.split_ascii_whitespace();
    let mut next = |what: &str| -> Result<f64, ParseError> {
        let s = fields
            .next()
            .ok_or_else(|| ParseError::new(1, format!("missing {what}")))?;
        parse_num(1, what, s)
    };
    Ok(Loadavg {
        one: next("load1")?,
        five: next("load5")?,
        fifteen: next("load15")?,
    })
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "loadavg",
    default_enabled: true,
    help: "Load average from /proc/loadavg",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(LoadavgCollector {
        path: config.paths.procfs.join("loadavg"),
    }))
}

struct LoadavgCollector {
    path: PathBuf,
}

impl Collector for LoadavgCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        read_with(&self.path, |data| {
            let load = parse_loadavg(data).map_err(|e| CollectError::parse(&self.path, e))?;
            single_gauge(enc, "node_load1", "1m load average.", load.one)?;
            single_gauge(enc, "node_load5", "5m load average.", load.five)?;
            single_gauge(enc, "node_load15", "15m load average.", load.fifteen)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn parses_and_encodes_a_real_loadavg() {
        assert_eq!(
            parse_loadavg("0.21 0.37 0.39 1/719 19737\n").unwrap(),
            Loadavg {
                one: 0.21,
                five: 0.37,
                fifteen: 0.39
            }
        );
        let dir = tree(&[("proc/loadavg", b"0.21 0.37 0.39 1/719 19737\n")]);
        let body = scrape_of("loadavg", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            ["node_load1 0.21", "node_load5 0.37", "node_load15 0.39"]
        );
        assert!(body.contains("# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\n"));
    }

    #[test]
    fn hostile_loadavgs_are_errors() {
        for (input, want) in [
            ("", "line 1: missing load1"),
            ("0.21 0.37", "line 1: missing load15"),
            ("0.21 x 0.39", "line 1: load5: \"x\" is not a number"),
            (
                "\u{1}\u{2}",
                "line 1: load1: \"\\u{1}\\u{2}\" is not a number",
            ),
        ] {
            assert_eq!(parse_loadavg(input).unwrap_err().to_string(), want);
        }
    }
}
