//! watchdog: `node_watchdog_*` for each device in `<sysfs>/class/watchdog`.

use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, read_with};
use super::Shared;

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "watchdog",
    default_enabled: true,
    help: "Hardware and software watchdogs from /sys/class/watchdog",
    flags: &[],
    build,
};

/// The numeric files, in node_exporter's family order: (file, metric, help).
const NUMBERS: [(&str, &str, &str); 7] = [
    (
        "bootstatus",
        "node_watchdog_bootstatus",
        "Value of /sys/class/watchdog/<watchdog>/bootstatus",
    ),
    (
        "fw_version",
        "node_watchdog_fw_version",
        "Value of /sys/class/watchdog/<watchdog>/fw_version",
    ),
    (
        "nowayout",
        "node_watchdog_nowayout",
        "Value of /sys/class/watchdog/<watchdog>/nowayout",
    ),
    (
        "timeleft",
        "node_watchdog_timeleft_seconds",
        "Value of /sys/class/watchdog/<watchdog>/timeleft",
    ),
    (
        "timeout",
        "node_watchdog_timeout_seconds",
        "Value of /sys/class/watchdog/<watchdog>/timeout",
    ),
    (
        "pretimeout",
        "node_watchdog_pretimeout_seconds",
        "Value of /sys/class/watchdog/<watchdog>/pretimeout",
    ),
    (
        "access_cs0",
        "node_watchdog_access_cs0",
        "Value of /sys/class/watchdog/<watchdog>/access_cs0",
    ),
];

/// The text files that label `node_watchdog_info`, in its (sorted) label order but `name`.
const TEXTS: [&str; 5] = [
    "identity",
    "options",
    "pretimeout_governor",
    "state",
    "status",
];

/// One watchdog device; a file it lacks is `None`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Watchdog {
    pub name: String,
    pub numbers: [Option<i64>; 7],
    pub texts: [Option<String>; 5],
}

/// A sysfs attribute, trimmed; `None` if the device lacks it.
fn read_attr(path: &Path) -> Result<Option<String>, CollectError> {
    match read_with(path, |d| Ok(d.trim().to_owned())) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_watchdog(dir: &Path, name: String) -> Result<Watchdog, CollectError> {
    let mut wd = Watchdog {
        name,
        ..Watchdog::default()
    };
    for ((file, _, _), slot) in NUMBERS.iter().zip(&mut wd.numbers) {
        let path = dir.join(file);
        if let Some(v) = read_attr(&path)? {
            let n = v
                .parse()
                .map_err(|_| CollectError::parse(&path, ParseError::new(1, format!("{v:?} is not a number"))))?;
            *slot = Some(n);
        }
    }
    for (file, slot) in TEXTS.iter().zip(&mut wd.texts) {
        *slot = read_attr(&dir.join(file))?;
    }
    Ok(wd)
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(WatchdogCollector {
        dir: config.paths.sysfs.join("class/watchdog"),
    }))
}

struct WatchdogCollector {
    dir: PathBuf,
}

impl WatchdogCollector {
    fn devices(&self) -> Result<Vec<Watchdog>, CollectError> {
        let entries = match super::held::list_dir(&self.dir) {
            Ok(e) => e,
            // No watchdog class (or not readable): node_exporter's ErrNoData.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                return Err(CollectError::NoData(format!(
                    "{}: {e}",
                    self.dir.display()
                )));
            }
            Err(source) => {
                return Err(CollectError::Read {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut names: Vec<String> = entries
            .into_iter()
            .map(|e| e.name.to_string_lossy().into_owned())
            .collect();
        names.sort_unstable();
        names
            .into_iter()
            .map(|n| read_watchdog(&self.dir.join(&n), n))
            .collect()
    }
}

impl Collector for WatchdogCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let devices = self.devices()?;
        for (i, (_, name, help)) in NUMBERS.iter().enumerate() {
            if devices.iter().all(|d| d.numbers[i].is_none()) {
                continue;
            }
            let mut family = gauge_family(enc, name, help)?;
            for d in &devices {
                if let Some(v) = d.numbers[i] {
                    gauge(&mut family, &[("name", d.name.as_str())], v)?;
                }
            }
        }
        if !devices.is_empty() {
            let mut family = gauge_family(
                enc,
                "node_watchdog_info",
                "Info of /sys/class/watchdog/<watchdog>",
            )?;
            for d in &devices {
                let t = |i: usize| d.texts[i].as_deref().unwrap_or("");
                let labels = [
                    ("identity", t(0)),
                    ("name", d.name.as_str()),
                    ("options", t(1)),
                    ("pretimeout_governor", t(2)),
                    ("state", t(3)),
                    ("status", t(4)),
                ];
                gauge(&mut family, &labels, 1u64)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    fn scrape(files: &[(&str, &[u8])]) -> String {
        let dir = tree(files);
        std::fs::create_dir_all(dir.path().join("sys/class/watchdog/watchdog1")).unwrap();
        scrape_of("watchdog", build(&config_for(dir.path())).unwrap())
    }

    #[test]
    fn node_exporters_fixture_gives_its_lines() {
        let w = "sys/class/watchdog/watchdog0/";
        let files: Vec<(String, &[u8])> = [
            ("access_cs0", &b"0\n"[..]),
            ("bootstatus", b"1\n"),
            ("fw_version", b"2\n"),
            ("identity", b"Software Watchdog\n"),
            ("nowayout", b"0\n"),
            ("options", b"0x8380\n"),
            ("pretimeout", b"120\n"),
            ("pretimeout_governor", b"noop\n"),
            ("state", b"active\n"),
            ("status", b"0x8000\n"),
            ("timeleft", b"300\n"),
            ("timeout", b"60\n"),
        ]
        .into_iter()
        .map(|(f, c)| (format!("{w}{f}"), c))
        .collect();
        let files: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
        let body = scrape(&files);
        assert_eq!(
            samples(&body),
            [
                "node_watchdog_bootstatus{name=\"watchdog0\"} 1",
                "node_watchdog_fw_version{name=\"watchdog0\"} 2",
                "node_watchdog_nowayout{name=\"watchdog0\"} 0",
                "node_watchdog_timeleft_seconds{name=\"watchdog0\"} 300",
                "node_watchdog_timeout_seconds{name=\"watchdog0\"} 60",
                "node_watchdog_pretimeout_seconds{name=\"watchdog0\"} 120",
                "node_watchdog_access_cs0{name=\"watchdog0\"} 0",
                "node_watchdog_info{identity=\"Software Watchdog\",name=\"watchdog0\",options=\"0x8380\",pretimeout_governor=\"noop\",state=\"active\",status=\"0x8000\"} 1",
                "node_watchdog_info{identity=\"\",name=\"watchdog1\",options=\"\",pretimeout_governor=\"\",state=\"\",status=\"\"} 1",
            ]
        );
        assert!(body.contains("# HELP node_watchdog_info Info of /sys/class/watchdog/<watchdog>\n# TYPE node_watchdog_info gauge\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"watchdog\"} 1\n"));
    }

    #[test]
    fn no_watchdog_class_is_no_data_and_a_bad_number_fails() {
        let dir = tree(&[]);
        let body = scrape_of("watchdog", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"watchdog\"} 1\n"));
        let body = scrape(&[("sys/class/watchdog/watchdog0/timeout", b"soon\n")]);
        assert!(samples(&body).is_empty(), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"watchdog\"} 0\n"));
    }
}
