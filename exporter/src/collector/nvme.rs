//! nvme: `node_nvme_info` per controller and `node_nvme_namespace_*` per namespace from
//! `<sysfs>/class/nvme/`, as node_exporter's nvme collector. No such directory (no NVMe
//! driver) is node_exporter's ErrNoData: nothing, logged at debug (see `CollectError::NoData`).

use std::io;
use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, Shared, read_trimmed, read_u64,
};

/// One controller: its identity files and namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvmeDevice {
    pub name: String,
    pub firmware_revision: String,
    pub model: String,
    pub serial: String,
    pub state: String,
    pub cntlid: String,
    pub namespaces: Vec<Namespace>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub id: String,
    /// `ana_state`, "unknown" when the file is absent (no multipath).
    pub ana_state: String,
    pub used_blocks: u64,
    pub size_blocks: u64,
    pub logical_block_size: u64,
}

/// The namespace id of a `nvme<ctrl>n<id>` directory name (procfs' `nvme\d+n(\d+)`).
pub fn namespace_id(name: &str) -> Option<&str> {
    let rest = &name[name.find("nvme")? + 4..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = rest[digits..].strip_prefix('n').filter(|_| digits > 0)?;
    let len = id.bytes().take_while(u8::is_ascii_digit).count();
    (len > 0).then(|| &id[..len])
}

/// Reads one controller directory as prometheus/procfs' `NVMeClass` does.
fn read_device(dir: &Path, name: &str) -> Result<NvmeDevice, CollectError> {
    let read = |f: &str| read_trimmed(&dir.join(f));
    let mut device = NvmeDevice {
        name: name.to_owned(),
        firmware_revision: read("firmware_rev")?,
        model: read("model")?,
        serial: read("serial")?,
        state: read("state")?,
        cntlid: read("cntlid")?,
        namespaces: Vec::new(),
    };
    let entries = super::held::list_dir(dir).map_err(|source| CollectError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .into_iter()
        .filter_map(|e| e.name.into_string().ok())
        .filter(|n| namespace_id(n).is_some())
        .collect();
    names.sort();
    for ns_name in names {
        let ns = dir.join(&ns_name);
        // procfs reads these as numbers and leaves 0 where one is not; a missing file fails.
        let num = |f: &str| -> Result<u64, CollectError> {
            match read_u64(&ns.join(f)) {
                Err(CollectError::Parse { .. }) => Ok(0),
                other => other,
            }
        };
        device.namespaces.push(Namespace {
            id: namespace_id(&ns_name).unwrap_or_default().to_owned(),
            used_blocks: num("nuse")?,
            size_blocks: num("size")?,
            logical_block_size: num("queue/logical_block_size")?,
            ana_state: read_trimmed(&ns.join("ana_state")).unwrap_or_else(|_| "unknown".into()),
        });
    }
    Ok(device)
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "nvme",
    default_enabled: true,
    help: "NVMe controllers and namespaces from /sys/class/nvme",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(NvmeCollector {
        class: config.paths.sysfs.join("class/nvme"),
    }))
}

struct NvmeCollector {
    class: PathBuf,
}

/// The per-namespace gauges: (name, HELP, value).
type NsFamily = (&'static str, &'static str, fn(&Namespace) -> u64);

const NS_FAMILIES: [NsFamily; 4] = [
    (
        "node_nvme_namespace_capacity_bytes",
        "Capacity of the NVMe namespace in bytes. Computed as namespace_size * namespace_logical_block_size",
        |n| n.size_blocks.wrapping_mul(n.logical_block_size),
    ),
    (
        "node_nvme_namespace_size_bytes",
        "Size of the NVMe namespace in bytes. Available in /sys/class/nvme/<device>/<namespace>/size",
        |n| n.size_blocks.wrapping_mul(n.logical_block_size),
    ),
    (
        "node_nvme_namespace_used_bytes",
        "Used space of the NVMe namespace in bytes. Available in /sys/class/nvme/<device>/<namespace>/nuse",
        |n| n.used_blocks.wrapping_mul(n.logical_block_size),
    ),
    (
        "node_nvme_namespace_logical_block_size_bytes",
        "Logical block size of the NVMe namespace in bytes. Usually 4Kb. Available in /sys/class/nvme/<device>/<namespace>/queue/logical_block_size",
        |n| n.logical_block_size,
    ),
];

impl Collector for NvmeCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let entries = match super::held::list_dir(&self.class) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CollectError::NoData(format!(
                    "{} does not exist",
                    self.class.display()
                )));
            }
            Err(source) => {
                return Err(CollectError::Read {
                    path: self.class.clone(),
                    source,
                });
            }
        };
        let mut names: Vec<String> = entries
            .into_iter()
            .filter_map(|e| e.name.into_string().ok())
            .collect();
        names.sort();
        // A controller whose files cannot be read is left out and reported; the others stay.
        let mut first_error = None;
        let mut devices = Vec::new();
        for name in names {
            match read_device(&self.class.join(&name), &name) {
                Ok(d) => devices.push(d),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if !devices.is_empty() {
            let mut family = gauge_family(
                enc,
                "node_nvme_info",
                "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
            )?;
            for d in &devices {
                let labels = [
                    ("cntlid", d.cntlid.as_str()),
                    ("device", d.name.as_str()),
                    ("firmware_revision", d.firmware_revision.as_str()),
                    ("model", d.model.as_str()),
                    ("serial", d.serial.as_str()),
                    ("state", d.state.as_str()),
                ];
                gauge(&mut family, &labels, 1u64)?;
            }
        }
        let namespaces: Vec<(&str, &Namespace)> = devices
            .iter()
            .flat_map(|d| d.namespaces.iter().map(|n| (d.name.as_str(), n)))
            .collect();
        if !namespaces.is_empty() {
            let mut family = gauge_family(
                enc,
                "node_nvme_namespace_info",
                "Information about NVMe namespaces. Value is always 1",
            )?;
            for (device, n) in &namespaces {
                let labels = [
                    ("ana_state", n.ana_state.as_str()),
                    ("device", device),
                    ("nsid", n.id.as_str()),
                ];
                gauge(&mut family, &labels, 1u64)?;
            }
            for (name, help, value) in NS_FAMILIES {
                let mut family = gauge_family(enc, name, help)?;
                for (device, n) in &namespaces {
                    let labels = [("device", *device), ("nsid", n.id.as_str())];
                    gauge(&mut family, &labels, value(n))?;
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn namespace_ids_as_procfs_matches_them() {
        assert_eq!(namespace_id("nvme0n1"), Some("1"));
        assert_eq!(namespace_id("nvme12n34"), Some("34"));
        assert_eq!(namespace_id("nvme0c0n1"), None);
        assert_eq!(namespace_id("ng0n1"), None);
        assert_eq!(namespace_id("nvmen1"), None);
        assert_eq!(namespace_id("power"), None);
    }

    /// node_exporter's fixture controller (sys.ttar's class/nvme/nvme0).
    fn fixture() -> tempfile::TempDir {
        tree(&[
            ("sys/class/nvme/nvme0/firmware_rev", b"1B2QEXP7\n"),
            ("sys/class/nvme/nvme0/model", b"Samsung SSD 970 PRO 512GB \n"),
            ("sys/class/nvme/nvme0/serial", b"S680HF8N190894I\n"),
            ("sys/class/nvme/nvme0/state", b"live\n"),
            ("sys/class/nvme/nvme0/cntlid", b"1997\n"),
            ("sys/class/nvme/nvme0/nvme0n1/nuse", b"488281250\n"),
            ("sys/class/nvme/nvme0/nvme0n1/size", b"3906250000\n"),
            (
                "sys/class/nvme/nvme0/nvme0n1/queue/logical_block_size",
                b"4096\n",
            ),
            ("sys/class/nvme/nvme0/nvme0n1/ana_state", b"optimized\n"),
        ])
    }

    #[test]
    fn encodes_node_exporters_lines() {
        let dir = fixture();
        let body = scrape_of("nvme", build(&config_for(dir.path())).unwrap());
        // Lines of node_exporter 1.12's e2e-output.txt.
        assert_eq!(
            samples(&body),
            [
                "node_nvme_info{cntlid=\"1997\",device=\"nvme0\",firmware_revision=\"1B2QEXP7\",model=\"Samsung SSD 970 PRO 512GB\",serial=\"S680HF8N190894I\",state=\"live\"} 1",
                "node_nvme_namespace_info{ana_state=\"optimized\",device=\"nvme0\",nsid=\"1\"} 1",
                "node_nvme_namespace_capacity_bytes{device=\"nvme0\",nsid=\"1\"} 16000000000000",
                "node_nvme_namespace_size_bytes{device=\"nvme0\",nsid=\"1\"} 16000000000000",
                "node_nvme_namespace_used_bytes{device=\"nvme0\",nsid=\"1\"} 2000000000000",
                "node_nvme_namespace_logical_block_size_bytes{device=\"nvme0\",nsid=\"1\"} 4096",
            ]
        );
        assert!(body.contains("# HELP node_nvme_info Non-numeric data from /sys/class/nvme/<device>, value is always 1.\n# TYPE node_nvme_info gauge\n"));
    }

    #[test]
    fn no_ana_state_is_unknown_and_a_broken_controller_costs_only_itself() {
        let dir = fixture();
        let root = dir.path().join("sys/class/nvme");
        std::fs::remove_file(root.join("nvme0/nvme0n1/ana_state")).unwrap();
        std::fs::create_dir_all(root.join("nvme1")).unwrap();
        std::fs::write(root.join("nvme1/model"), "x\n").unwrap();
        let config = config_for(dir.path());
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("nvme", build(&config).unwrap()));
        assert!(body.contains("node_nvme_namespace_info{ana_state=\"unknown\",device=\"nvme0\",nsid=\"1\"} 1\n"), "{body}");
        assert!(!body.contains("nvme1"));
        assert!(body.contains("node_scrape_collector_success{collector=\"nvme\"} 0\n"));
        let path = root.join("nvme1/firmware_rev");
        assert!(logs.contains(&format!("error=reading {}: No such file", path.display())), "{logs}");
    }

    #[test]
    fn no_nvme_class_is_no_data() {
        let dir = tree(&[]);
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("nvme", build(&config_for(dir.path())).unwrap()));
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"nvme\"} 1\n"));
        assert!(!logs.contains("WARN"), "{logs}");
    }
}
