//! edac: `node_edac_*_errors_total` per memory controller, csrow and channel from
//! `<sysfs>/devices/system/edac/mc/mc*/`, as node_exporter's edac collector. A host without
//! EDAC has no controllers: nothing is exported and the collector succeeds, as there.

use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, Shared, read_u64};

/// One memory controller's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    pub number: String,
    pub ce: u64,
    pub ue: u64,
    /// Errors not attributed to a csrow (`ce_noinfo_count`, `ue_noinfo_count`).
    pub ce_noinfo: u64,
    pub ue_noinfo: u64,
    pub csrows: Vec<Csrow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csrow {
    pub number: String,
    pub ce: u64,
    pub ue: u64,
    pub channels: Vec<Channel>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub number: String,
    pub dimm_label: String,
    pub ce: u64,
    /// Absent on some drivers; node_exporter then skips the sample.
    pub ue: Option<u64>,
}

/// `name` minus `prefix`, when what follows is digits (then anything): glob `prefix[0-9]*`.
fn numbered<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(prefix)?;
    let len = rest.bytes().take_while(u8::is_ascii_digit).count();
    (len > 0).then(|| &rest[..len])
}

/// Entries of `dir` (sorted, as Go's Glob) whose number `numbered(_, prefix)` gives.
fn numbered_entries(dir: &Path, prefix: &str) -> Vec<(String, String)> {
    let Ok(entries) = super::held::list_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .into_iter()
        .filter_map(|e| e.name.into_string().ok())
        .filter_map(|n| Some((numbered(&n, prefix)?.to_owned(), n)))
        .map(|(num, n)| (n, num))
        .collect();
    out.sort();
    out
}

/// node_exporter's label: `mc#0csrow#1channel#0` becomes `mc0_csrow1_channel0`.
pub fn dimm_label(raw: &str) -> String {
    raw.trim()
        .replace('#', "")
        .replace("csrow", "_csrow")
        .replace("channel", "_channel")
}

fn read_controller(dir: &Path, number: &str) -> Result<Controller, CollectError> {
    let mut controller = Controller {
        number: number.to_owned(),
        ce: read_u64(&dir.join("ce_count"))?,
        ce_noinfo: read_u64(&dir.join("ce_noinfo_count"))?,
        ue: read_u64(&dir.join("ue_count"))?,
        ue_noinfo: read_u64(&dir.join("ue_noinfo_count"))?,
        csrows: Vec::new(),
    };
    for (name, number) in numbered_entries(dir, "csrow") {
        let dir = dir.join(name);
        let mut csrow = Csrow {
            number,
            ce: read_u64(&dir.join("ce_count"))?,
            ue: read_u64(&dir.join("ue_count"))?,
            channels: Vec::new(),
        };
        let mut files: Vec<String> = super::held::list_dir(&dir)
            .map(|e| {
                e.into_iter()
                    .filter_map(|e| e.name.into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        for file in files {
            let Some(ch) = file
                .strip_prefix("ch")
                .and_then(|f| f.strip_suffix("_ce_count"))
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let label = std::fs::read_to_string(dir.join(format!("ch{ch}_dimm_label")))
                .map_or_else(|_| "unknown".to_owned(), |raw| dimm_label(&raw));
            csrow.channels.push(Channel {
                number: ch.to_owned(),
                dimm_label: label,
                ce: read_u64(&dir.join(&file))?,
                ue: read_u64(&dir.join(format!("ch{ch}_ue_count"))).ok(),
            });
        }
        controller.csrows.push(csrow);
    }
    Ok(controller)
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "edac",
    default_enabled: true,
    help: "Memory error counters from /sys/devices/system/edac",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(EdacCollector {
        mc: config.paths.sysfs.join("devices/system/edac/mc"),
    }))
}

struct EdacCollector {
    mc: PathBuf,
}

impl Collector for EdacCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        // A controller whose counters cannot be read is left out and reported; the rest stay.
        let mut first_error = None;
        let mut controllers = Vec::new();
        for (name, number) in numbered_entries(&self.mc, "mc") {
            match read_controller(&self.mc.join(name), &number) {
                Ok(c) => controllers.push(c),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if !controllers.is_empty() {
            encode(enc, &controllers)?;
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn encode(enc: &mut DescriptorEncoder<'_>, controllers: &[Controller]) -> Result<(), CollectError> {
    for (name, help, ue) in [
        ("node_edac_correctable_errors", "Total correctable memory errors.", false),
        ("node_edac_uncorrectable_errors", "Total uncorrectable memory errors.", true),
    ] {
        let mut family = counter_family(enc, name, help)?;
        for c in controllers {
            let v = if ue { c.ue } else { c.ce };
            counter(&mut family, &[("controller", c.number.as_str())], v)?;
        }
    }
    for (name, help, ue) in [
        (
            "node_edac_csrow_correctable_errors",
            "Total correctable memory errors for this csrow.",
            false,
        ),
        (
            "node_edac_csrow_uncorrectable_errors",
            "Total uncorrectable memory errors for this csrow.",
            true,
        ),
    ] {
        let mut family = counter_family(enc, name, help)?;
        for c in controllers {
            let controller = c.number.as_str();
            let noinfo = if ue { c.ue_noinfo } else { c.ce_noinfo };
            counter(&mut family, &[("controller", controller), ("csrow", "unknown")], noinfo)?;
            for r in &c.csrows {
                let v = if ue { r.ue } else { r.ce };
                counter(&mut family, &[("controller", controller), ("csrow", r.number.as_str())], v)?;
            }
        }
    }
    let channels = || {
        controllers.iter().flat_map(|c| {
            c.csrows
                .iter()
                .flat_map(move |r| r.channels.iter().map(move |ch| (c, r, ch)))
        })
    };
    for (name, help, ue) in [
        (
            "node_edac_channel_correctable_errors",
            "Total correctable memory errors for this channel.",
            false,
        ),
        (
            "node_edac_channel_uncorrectable_errors",
            "Total uncorrectable memory errors for this channel.",
            true,
        ),
    ] {
        let value = |ch: &Channel| if ue { ch.ue } else { Some(ch.ce) };
        if !channels().any(|(_, _, ch)| value(ch).is_some()) {
            continue;
        }
        let mut family = counter_family(enc, name, help)?;
        for (c, r, ch) in channels() {
            let Some(v) = value(ch) else { continue };
            let labels = [
                ("channel", ch.number.as_str()),
                ("controller", c.number.as_str()),
                ("csrow", r.number.as_str()),
                ("dimm_label", ch.dimm_label.as_str()),
            ];
            counter(&mut family, &labels, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn dimm_labels_as_node_exporter_rewrites_them() {
        assert_eq!(dimm_label("mc#0csrow#1channel#0\n"), "mc0_csrow1_channel0");
        assert_eq!(dimm_label("CPU_SrcID#0_Ha#0_Chan#0_DIMM#0"), "CPU_SrcID0_Ha0_Chan0_DIMM0");
    }

    #[test]
    fn encodes_node_exporters_lines() {
        let mc = "sys/devices/system/edac/mc/mc0";
        let file = |f: &str| format!("{mc}/{f}");
        let files = [
            (file("ce_count"), "1\n"),
            (file("ce_noinfo_count"), "2\n"),
            (file("ue_count"), "5\n"),
            (file("ue_noinfo_count"), "6\n"),
            (file("csrow0/ce_count"), "3\n"),
            (file("csrow0/ue_count"), "4\n"),
            (file("csrow0/ch0_ce_count"), "0\n"),
            (file("csrow0/ch0_ue_count"), "2\n"),
            (file("csrow0/ch0_dimm_label"), "mc#0csrow#0channel#0\n"),
            (file("csrow0/ch1_ce_count"), "0\n"),
            (file("csrow0/ch1_ue_count"), "2\n"),
            (file("csrow0/ch1_dimm_label"), "mc#0csrow#0channel#1\n"),
            (file("csrow2/ce_count"), "0\n"),
            (file("csrow2/ue_count"), "5\n"),
            (file("csrow2/ch0_ce_count"), "0\n"),
            (file("csrow2/ch0_dimm_label"), "mc#0csrow#2channel#0\n"),
            // Not a controller or csrow.
            ("sys/devices/system/edac/mc/power/x".into(), "1\n"),
        ];
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_bytes()))
            .collect();
        let dir = tree(&files);
        let body = scrape_of("edac", build(&config_for(dir.path())).unwrap());
        // Lines of node_exporter 1.12's e2e-output.txt (its fixture has a csrow1 too).
        assert_eq!(
            samples(&body),
            [
                "node_edac_correctable_errors_total{controller=\"0\"} 1",
                "node_edac_uncorrectable_errors_total{controller=\"0\"} 5",
                "node_edac_csrow_correctable_errors_total{controller=\"0\",csrow=\"unknown\"} 2",
                "node_edac_csrow_correctable_errors_total{controller=\"0\",csrow=\"0\"} 3",
                "node_edac_csrow_correctable_errors_total{controller=\"0\",csrow=\"2\"} 0",
                "node_edac_csrow_uncorrectable_errors_total{controller=\"0\",csrow=\"unknown\"} 6",
                "node_edac_csrow_uncorrectable_errors_total{controller=\"0\",csrow=\"0\"} 4",
                "node_edac_csrow_uncorrectable_errors_total{controller=\"0\",csrow=\"2\"} 5",
                "node_edac_channel_correctable_errors_total{channel=\"0\",controller=\"0\",csrow=\"0\",dimm_label=\"mc0_csrow0_channel0\"} 0",
                "node_edac_channel_correctable_errors_total{channel=\"1\",controller=\"0\",csrow=\"0\",dimm_label=\"mc0_csrow0_channel1\"} 0",
                "node_edac_channel_correctable_errors_total{channel=\"0\",controller=\"0\",csrow=\"2\",dimm_label=\"mc0_csrow2_channel0\"} 0",
                "node_edac_channel_uncorrectable_errors_total{channel=\"0\",controller=\"0\",csrow=\"0\",dimm_label=\"mc0_csrow0_channel0\"} 2",
                "node_edac_channel_uncorrectable_errors_total{channel=\"1\",controller=\"0\",csrow=\"0\",dimm_label=\"mc0_csrow0_channel1\"} 2",
            ]
        );
        assert!(body.contains("# HELP node_edac_correctable_errors Total correctable memory errors.\n# TYPE node_edac_correctable_errors counter\n"));
    }

    #[test]
    fn no_edac_is_empty_success_and_a_bad_counter_names_its_file() {
        let dir = tree(&[]);
        let body = scrape_of("edac", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"edac\"} 1\n"));

        let dir = tree(&[
            ("sys/devices/system/edac/mc/mc0/ce_count", b"x\n"),
            ("sys/devices/system/edac/mc/mc1/ce_count", b"7\n"),
            ("sys/devices/system/edac/mc/mc1/ce_noinfo_count", b"0\n"),
            ("sys/devices/system/edac/mc/mc1/ue_count", b"0\n"),
            ("sys/devices/system/edac/mc/mc1/ue_noinfo_count", b"0\n"),
        ]);
        let config = config_for(dir.path());
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("edac", build(&config).unwrap()));
        assert!(body.contains("node_edac_correctable_errors_total{controller=\"1\"} 7\n"), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"edac\"} 0\n"));
        let path = config.paths.sysfs.join("devices/system/edac/mc/mc0/ce_count");
        assert!(logs.contains(&format!("error=parsing {}: line 1: \"x\" is not a number", path.display())), "{logs}");
    }
}
