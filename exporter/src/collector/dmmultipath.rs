//! dmmultipath: `node_dmmultipath_*` per device-mapper multipath device (a `<sysfs>/block/dm-*`
//! whose `dm/uuid` starts with `mpath-`) and its paths (`slaves/*`), as node_exporter's
//! dmmultipath collector. No /sys/block: node_exporter's ErrNoData (see `CollectError::NoData`).

use std::io;
use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::encode::{Families, Value};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, Shared, read_trimmed, read_u64,
};

/// Bytes per sector of a block device's sysfs `size`.
const SECTOR_BYTES: u64 = 512;

/// One multipath device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipath {
    pub name: String,
    pub sysfs_name: String,
    pub uuid: String,
    pub suspended: bool,
    pub size_bytes: u64,
    /// (path device, its `device/state`).
    pub paths: Vec<(String, String)>,
}

/// A path counts as active when SCSI says `running` or NVMe `live`.
fn active(state: &str) -> bool {
    state == "running" || state == "live"
}

fn sorted_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = super::held::list_dir(dir)?
        .into_iter()
        .filter_map(|e| e.name.into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Reads `<block>/<dm>` when it is a multipath device (`Ok(None)` when it is not).
fn read_multipath(block: &Path, dm: &str) -> Result<Option<Multipath>, CollectError> {
    let dir = block.join(dm);
    let uuid = match read_trimmed(&dir.join("dm/uuid")) {
        Err(CollectError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(None);
        }
        other => other?,
    };
    if !uuid.starts_with("mpath-") {
        return Ok(None);
    }
    let mut paths = Vec::new();
    let slaves = dir.join("slaves");
    match sorted_names(&slaves) {
        Ok(names) => {
            for path in names {
                let state = read_trimmed(&block.join(&path).join("device/state"))?;
                paths.push((path, state));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(CollectError::Read {
                path: slaves,
                source,
            });
        }
    }
    Ok(Some(Multipath {
        name: read_trimmed(&dir.join("dm/name"))?,
        sysfs_name: dm.to_owned(),
        uuid,
        suspended: read_u64(&dir.join("dm/suspended"))? == 1,
        size_bytes: read_u64(&dir.join("size"))?.saturating_mul(SECTOR_BYTES),
        paths,
    }))
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "dmmultipath",
    default_enabled: true,
    help: "Device-mapper multipath devices and their paths from /sys/block",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(DmMultipathCollector {
        block: config.paths.sysfs.join("block"),
    }))
}

struct DmMultipathCollector {
    block: PathBuf,
}

impl Collector for DmMultipathCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let names = match sorted_names(&self.block) {
            Ok(names) => names,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                ) =>
            {
                return Err(CollectError::NoData(format!(
                    "{}: {e}",
                    self.block.display()
                )));
            }
            Err(source) => {
                return Err(CollectError::Read {
                    path: self.block.clone(),
                    source,
                });
            }
        };
        // A device that cannot be read is left out and reported; node_exporter drops them all.
        let mut first_error = None;
        let mut families = Families::default();
        for dm in names.iter().filter(|n| n.starts_with("dm-")) {
            let d = match read_multipath(&self.block, dm) {
                Ok(Some(d)) => d,
                Ok(None) => continue,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            let labels = || vec![("device", d.name.clone()), ("sysfs_name", d.sysfs_name.clone())];
            let mut info = labels();
            info.push(("uuid", d.uuid.clone()));
            let gauge = MetricType::Gauge;
            families.add(
                "node_dmmultipath_device_info",
                "Non-numeric information about a DM-multipath device.",
                gauge,
                info,
                Value::U(1),
            );
            families.add(
                "node_dmmultipath_device_active",
                "Whether the multipath device-mapper device is active (1) or suspended (0).",
                gauge,
                labels(),
                Value::U(u64::from(!d.suspended)),
            );
            families.add(
                "node_dmmultipath_device_size_bytes",
                "Size of the multipath device in bytes, read from /sys/block/<dm>/size.",
                gauge,
                labels(),
                Value::U(d.size_bytes),
            );
            let up = d.paths.iter().filter(|(_, s)| active(s)).count() as u64;
            families.add(
                "node_dmmultipath_device_paths",
                "Number of paths for a multipath device.",
                gauge,
                labels(),
                Value::U(d.paths.len() as u64),
            );
            families.add(
                "node_dmmultipath_device_paths_active",
                "Number of paths in active state (SCSI running or NVMe live) for a multipath device.",
                gauge,
                labels(),
                Value::U(up),
            );
            families.add(
                "node_dmmultipath_device_paths_failed",
                "Number of paths not in active state for a multipath device.",
                gauge,
                labels(),
                Value::U(d.paths.len() as u64 - up),
            );
            for (path, state) in &d.paths {
                families.add(
                    "node_dmmultipath_path_state",
                    "Reports the underlying device state for a multipath path, as read from /sys/block/<dev>/device/state.",
                    gauge,
                    vec![
                        ("device", d.name.clone()),
                        ("path", path.clone()),
                        ("state", state.clone()),
                    ],
                    Value::U(1),
                );
            }
        }
        families.encode(enc)?;
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, tree};
    use super::*;

    /// node_exporter's fixture device mpathA (sys.ttar's block/dm-5), and a plain LVM volume.
    fn fixture() -> tempfile::TempDir {
        tree(&[
            ("sys/block/dm-5/dm/uuid", b"mpath-3600508b1001c1234567890abcdef1234\n"),
            ("sys/block/dm-5/dm/name", b"mpathA\n"),
            ("sys/block/dm-5/dm/suspended", b"0\n"),
            ("sys/block/dm-5/size", b"104857600\n"),
            ("sys/block/dm-5/slaves/sdi", b""),
            ("sys/block/dm-5/slaves/sdj", b""),
            ("sys/block/dm-5/slaves/sdl", b""),
            ("sys/block/sdi/device/state", b"running\n"),
            ("sys/block/sdj/device/state", b"running\n"),
            ("sys/block/sdl/device/state", b"offline\n"),
            ("sys/block/dm-0/dm/uuid", b"LVM-wbGqQEBL9SxrW2DLntJwgg8fAv946hw3\n"),
            ("sys/block/dm-0/dm/name", b"system-root\n"),
        ])
    }

    #[test]
    fn encodes_node_exporters_lines() {
        let dir = fixture();
        let body = scrape_of("dmmultipath", build(&config_for(dir.path())).unwrap());
        let d = "device=\"mpathA\",sysfs_name=\"dm-5\"";
        // Lines of node_exporter 1.12's e2e-output.txt (its mpathA has a fourth path).
        assert_eq!(
            samples(&body),
            [
                format!("node_dmmultipath_device_info{{{d},uuid=\"mpath-3600508b1001c1234567890abcdef1234\"}} 1"),
                format!("node_dmmultipath_device_active{{{d}}} 1"),
                format!("node_dmmultipath_device_size_bytes{{{d}}} 53687091200"),
                format!("node_dmmultipath_device_paths{{{d}}} 3"),
                format!("node_dmmultipath_device_paths_active{{{d}}} 2"),
                format!("node_dmmultipath_device_paths_failed{{{d}}} 1"),
                "node_dmmultipath_path_state{device=\"mpathA\",path=\"sdi\",state=\"running\"} 1".to_owned(),
                "node_dmmultipath_path_state{device=\"mpathA\",path=\"sdj\",state=\"running\"} 1".to_owned(),
                "node_dmmultipath_path_state{device=\"mpathA\",path=\"sdl\",state=\"offline\"} 1".to_owned(),
            ]
        );
        assert!(body.contains("# HELP node_dmmultipath_device_active Whether the multipath device-mapper device is active (1) or suspended (0).\n# TYPE node_dmmultipath_device_active gauge\n"));
    }

    #[test]
    fn a_path_without_state_fails_naming_it_and_no_block_is_no_data() {
        let dir = fixture();
        std::fs::remove_file(dir.path().join("sys/block/sdl/device/state")).unwrap();
        let config = config_for(dir.path());
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("dmmultipath", build(&config).unwrap()));
        assert!(samples(&body).is_empty(), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"dmmultipath\"} 0\n"));
        let path = config.paths.sysfs.join("block/sdl/device/state");
        assert!(logs.contains(&format!("error=reading {}: No such file", path.display())), "{logs}");

        let dir = tree(&[]);
        let logs = logs_of(|| body = scrape_of("dmmultipath", build(&config_for(dir.path())).unwrap()));
        assert!(body.contains("node_scrape_collector_success{collector=\"dmmultipath\"} 1\n"));
        assert!(!logs.contains("WARN"), "{logs}");
    }
}
