//! dmi: `node_dmi_info`, the firmware's identity from `<sysfs>/class/dmi/id`, read once at
//! start (it changes only with a reboot), as node_exporter does.

use std::path::Path;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, Shared};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "dmi",
    default_enabled: true,
    help: "Firmware, board and product identity from /sys/class/dmi/id",
    flags: &[],
    build,
};

/// (file, label), sorted by label as node_exporter prints them.
const FIELDS: [(&str, &str); 20] = [
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
];

const HELP: &str = "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, bios_version, board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, product_sku, product_uuid, product_version, system_vendor if provided by DMI.";

/// Go's `strings.ToValidUTF8(s, "\u{FFFD}")`: each run of invalid bytes becomes one U+FFFD.
pub fn to_valid_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut in_invalid_run = false;
    for chunk in bytes.utf8_chunks() {
        if !chunk.valid().is_empty() {
            out.push_str(chunk.valid());
            in_invalid_run = false;
        }
        if !chunk.invalid().is_empty() {
            if !in_invalid_run {
                out.push('\u{FFFD}');
            }
            in_invalid_run = true;
        }
    }
    out
}

/// The labels the files in `dir` give; a file only root may read (serials, uuid) is left out.
pub fn read_dmi(dir: &Path) -> std::io::Result<Vec<(&'static str, String)>> {
    let mut labels = Vec::new();
    for (file, label) in FIELDS {
        let path = dir.join(file);
        // Regular files only, as procfs (symlinks such as `subsystem` are not attributes).
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_file() => {}
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
        match std::fs::read(&path) {
            Ok(bytes) => labels.push((label, to_valid_utf8(bytes.trim_ascii()))),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err(e),
        }
    }
    Ok(labels)
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let dir = config.paths.sysfs.join("class/dmi/id");
    let labels = match read_dmi(&dir) {
        Ok(l) => Ok(l),
        Err(e) => Err(format!("reading {}: {e}", dir.display())),
    };
    Ok(Box::new(DmiCollector { labels }))
}

struct DmiCollector {
    /// The labels read at start, or why they could not be.
    labels: Result<Vec<(&'static str, String)>, String>,
}

impl Collector for DmiCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let labels = match &self.labels {
            // A platform without DMI (ARM boards, some VMs): node_exporter's ErrNoData.
            Ok(l) if l.is_empty() => {
                return Err(CollectError::NoData("no DMI information".into()));
            }
            Ok(l) => l,
            Err(e) => return Err(CollectError::NoData(e.clone())),
        };
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut family = gauge_family(enc, "node_dmi_info", HELP)?;
        gauge(&mut family, &labels, 1u64)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn node_exporters_fixture_gives_its_line() {
        let d = "sys/class/dmi/id/";
        let files: Vec<(String, &[u8])> = [
            ("bios_date", &b"04/12/2021\n"[..]),
            ("bios_release", b"2.2\n"),
            ("bios_vendor", b"Dell Inc.\n"),
            ("bios_version", b"2.2.4\n"),
            ("board_name", b"07PXPY\n"),
            ("board_serial", b".7N62AI2.GRTCL6944100GP.\n"),
            ("board_vendor", b"Dell Inc.\n"),
            ("board_version", b"A01\n"),
            ("chassis_asset_tag", b"\n"),
            ("chassis_serial", b"7N62AI2\n"),
            ("chassis_type", b"23\n"),
            ("chassis_vendor", b"Dell Inc.\n"),
            ("chassis_version", b"\n"),
            ("modalias", b"dmi:bvnDellInc.\n"),
            ("product_family", b"PowerEdge\n"),
            ("product_name", b"PowerEdge R6515\n"),
            ("product_serial", b"7N62AI2\n"),
            ("product_sku", b"SKU=NotProvided;ModelName=PowerEdge R6515\n"),
            ("product_uuid", b"83340ca8-cb49-4474-8c29-d2088ca84dd9\n"),
            ("product_version", b"\xef\xbf\xbd\x1c[\xef\xbf\xbd\n"),
            ("sys_vendor", b"Dell Inc.\n"),
        ]
        .into_iter()
        .map(|(f, c)| (format!("{d}{f}"), c))
        .collect();
        let files: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
        let dir = tree(&files);
        let body = scrape_of("dmi", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            ["node_dmi_info{bios_date=\"04/12/2021\",bios_release=\"2.2\",bios_vendor=\"Dell Inc.\",bios_version=\"2.2.4\",board_name=\"07PXPY\",board_serial=\".7N62AI2.GRTCL6944100GP.\",board_vendor=\"Dell Inc.\",board_version=\"A01\",chassis_asset_tag=\"\",chassis_serial=\"7N62AI2\",chassis_vendor=\"Dell Inc.\",chassis_version=\"\",product_family=\"PowerEdge\",product_name=\"PowerEdge R6515\",product_serial=\"7N62AI2\",product_sku=\"SKU=NotProvided;ModelName=PowerEdge R6515\",product_uuid=\"83340ca8-cb49-4474-8c29-d2088ca84dd9\",product_version=\"\u{FFFD}\u{1c}[\u{FFFD}\",system_vendor=\"Dell Inc.\"} 1"]
        );
        assert!(body.contains(&format!("# HELP node_dmi_info {HELP}\n# TYPE node_dmi_info gauge\n")));
        assert!(body.contains("node_scrape_collector_success{collector=\"dmi\"} 1\n"));
    }

    #[test]
    fn invalid_bytes_collapse_as_go_does_and_no_dmi_is_no_data() {
        assert_eq!(to_valid_utf8(b"a\xff\xfe b\xc3"), "a\u{FFFD} b\u{FFFD}");
        let dir = tree(&[]);
        let body = scrape_of("dmi", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"dmi\"} 1\n"));
    }
}
