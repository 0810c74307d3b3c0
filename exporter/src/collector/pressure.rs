//! pressure: `node_pressure_*_seconds_total`, the pressure-stall totals of
//! `<procfs>/pressure/{cpu,io,memory,irq}` (Linux >= 4.20 with PSI; irq >= 6.1).

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::single_counter;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, parse_num,
    read_with,
};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "pressure",
    default_enabled: true,
    help: "Pressure stall information from /proc/pressure",
    flags: &[],
    build,
};

/// The `total=` (microseconds) of a PSI file's `some` and `full` lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Psi {
    pub some: Option<u64>,
    pub full: Option<u64>,
}

/// Parses one PSI file: `some avg10=0.00 avg60=0.00 avg300=0.00 total=14036781` and `full ...`.
pub fn parse_psi(data: &str) -> Result<Psi, ParseError> {
    let mut psi = Psi::default();
    for (i, line) in data.lines().enumerate() {
        let n = i + 1;
        let mut parts = line.split_ascii_whitespace();
        let slot = match parts.next() {
            None => continue,
            Some("some") => &mut psi.some,
            Some("full") => &mut psi.full,
            Some(other) => {
                return Err(ParseError::new(
                    n,
                    format!("{other:?} is not \"some\" or \"full\""),
                ));
            }
        };
        let total = parts
            .find_map(|p| p.strip_prefix("total="))
            .ok_or_else(|| ParseError::new(n, "no total="))?;
        *slot = Some(parse_num(n, "total", total)?);
    }
    Ok(psi)
}

/// Which line of which file feeds which family.
struct Family {
    some: bool,
    name: &'static str,
    help: &'static str,
}

/// node_exporter's families per resource; irq has only `full`, cpu only `some` is used.
const RESOURCES: [(&str, &[Family]); 4] = [
    (
        "cpu",
        &[Family {
            some: true,
            name: "node_pressure_cpu_waiting_seconds",
            help: "Total time in seconds that processes have waited for CPU time",
        }],
    ),
    (
        "io",
        &[
            Family {
                some: true,
                name: "node_pressure_io_waiting_seconds",
                help: "Total time in seconds that processes have waited due to IO congestion",
            },
            Family {
                some: false,
                name: "node_pressure_io_stalled_seconds",
                help: "Total time in seconds no process could make progress due to IO congestion",
            },
        ],
    ),
    (
        "memory",
        &[
            Family {
                some: true,
                name: "node_pressure_memory_waiting_seconds",
                help: "Total time in seconds that processes have waited for memory",
            },
            Family {
                some: false,
                name: "node_pressure_memory_stalled_seconds",
                help: "Total time in seconds no process could make progress due to memory congestion",
            },
        ],
    ),
    (
        "irq",
        &[Family {
            some: false,
            name: "node_pressure_irq_stalled_seconds",
            help: "Total time in seconds no process could make progress due to IRQ congestion",
        }],
    ),
];

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let dir = config.paths.procfs.join("pressure");
    Ok(Box::new(PressureCollector {
        files: RESOURCES.map(|(r, _)| dir.join(r)),
    }))
}

struct PressureCollector {
    files: [PathBuf; 4],
}

/// EOPNOTSUPP: the files exist but PSI is off (`psi=0` on the kernel command line).
fn is_not_supported(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EOPNOTSUPP)
}

impl Collector for PressureCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        // Read and parse all first: node_exporter's "no data" cases then leave nothing behind.
        let mut found: [Option<Psi>; 4] = [None; 4];
        for (i, path) in self.files.iter().enumerate() {
            match read_with(path, |d| parse_psi(d).map_err(|e| CollectError::parse(path, e))) {
                Ok(psi) => found[i] = Some(psi),
                // An older kernel or one without CONFIG_PSI: that resource is skipped.
                Err(e) if e.is_not_found() => {}
                Err(CollectError::Read { source, .. }) if is_not_supported(&source) => {
                    return Err(CollectError::NoData(
                        "pressure information is disabled, add psi=1 kernel command line to enable it".into(),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        if found.iter().all(Option::is_none) {
            return Err(CollectError::NoData(
                "pressure information is unavailable, you need a Linux kernel >= 4.20 and/or CONFIG_PSI enabled".into(),
            ));
        }
        for ((resource, families), psi) in RESOURCES.iter().zip(&found) {
            let Some(psi) = psi else { continue };
            // As node_exporter: a file without the line it needs means no data at all.
            if families
                .iter()
                .any(|f| if f.some { psi.some } else { psi.full }.is_none())
            {
                return Err(CollectError::NoData(format!(
                    "pressure/{resource} lacks its some or full line"
                )));
            }
        }
        for (families, psi) in RESOURCES.iter().map(|(_, f)| f).zip(found) {
            let Some(psi) = psi else { continue };
            for f in families.iter() {
                let micros = if f.some { psi.some } else { psi.full }.unwrap_or(0);
                // node_exporter's arithmetic, so the float is the same to the last bit.
                single_counter(enc, f.name, f.help, micros as f64 / 1000.0 / 1000.0)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    const CPU: &[u8] = b"some avg10=0.00 avg60=0.00 avg300=0.00 total=14036781\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
    const IO: &[u8] = b"some avg10=0.18 avg60=0.34 avg300=0.10 total=159886802\nfull avg10=0.18 avg60=0.34 avg300=0.10 total=159229614\n";
    const MEMORY: &[u8] = b"some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
    // node_exporter's fixture has no trailing newline here.
    const IRQ: &[u8] = b"full avg10=0.00 avg60=0.00 avg300=0.00 total=8494";

    fn scrape(files: &[(&str, &[u8])]) -> String {
        let dir = tree(files);
        scrape_of("pressure", build(&config_for(dir.path())).unwrap())
    }

    #[test]
    fn node_exporters_fixture_gives_its_lines() {
        let body = scrape(&[
            ("proc/pressure/cpu", CPU),
            ("proc/pressure/io", IO),
            ("proc/pressure/memory", MEMORY),
            ("proc/pressure/irq", IRQ),
        ]);
        // node_exporter prints 14.036781000000001: the same f64 (bits 0x402C12D8...), which
        // prometheus-client's float printer spells with a different last digit.
        assert_eq!(
            samples(&body),
            [
                "node_pressure_cpu_waiting_seconds_total 14.036781000000002",
                "node_pressure_io_waiting_seconds_total 159.886802",
                "node_pressure_io_stalled_seconds_total 159.229614",
                "node_pressure_memory_waiting_seconds_total 0.0",
                "node_pressure_memory_stalled_seconds_total 0.0",
                "node_pressure_irq_stalled_seconds_total 0.008494",
            ]
        );
        assert!(body.contains("# HELP node_pressure_cpu_waiting_seconds Total time in seconds that processes have waited for CPU time\n# TYPE node_pressure_cpu_waiting_seconds counter\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"pressure\"} 1\n"));
    }

    #[test]
    fn a_kernel_without_irq_pressure_gives_the_rest() {
        let body = scrape(&[("proc/pressure/cpu", CPU), ("proc/pressure/io", IO)]);
        assert_eq!(samples(&body).len(), 3, "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"pressure\"} 1\n"));
    }

    #[test]
    fn no_psi_at_all_is_no_data() {
        let body = scrape(&[]);
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"pressure\"} 1\n"));
        // A memory file without its `full` line: node_exporter's ErrNoData too.
        let body = scrape(&[
            ("proc/pressure/cpu", CPU),
            ("proc/pressure/memory", b"some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n"),
        ]);
        assert!(samples(&body).is_empty(), "{body}");
    }

    #[test]
    fn garbled_files_are_errors_naming_the_line() {
        assert_eq!(
            parse_psi("some avg10=0.00\n").unwrap_err().to_string(),
            "line 1: no total="
        );
        assert_eq!(
            parse_psi("some total=1\nhalf total=2\n")
                .unwrap_err()
                .to_string(),
            "line 2: \"half\" is not \"some\" or \"full\""
        );
        assert_eq!(
            parse_psi("full total=x\n").unwrap_err().to_string(),
            "line 1: total: \"x\" is not a number"
        );
        let body = scrape(&[("proc/pressure/cpu", b"some total=x\n")]);
        assert!(body.contains("node_scrape_collector_success{collector=\"pressure\"} 0\n"));
    }
}
