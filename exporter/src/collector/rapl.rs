//! rapl: `node_rapl_<zone>_joules_total{index,path}` from `<sysfs>/class/powercap/*/energy_uj`
//! (Intel/AMD RAPL energy counters), as node_exporter (procfs' GetRaplZones); with
//! `--collector.rapl.enable-zone-label` one family, `node_rapl_joules_total{index,path,rapl_zone}`.
//! No powercap class, or counters only root may read (the kernel's default since 2020): no
//! data: nothing, and success 1 (see `CollectError::NoData`).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::SortedFamilies;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
};

pub(super) const ZONE_LABEL: FlagSpec = FlagSpec::switch(
    "--collector.rapl.enable-zone-label",
    false,
    "Enables service unit metric unit_start_time_seconds",
);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "rapl",
    default_enabled: true,
    help: "RAPL energy counters from /sys/class/powercap",
    flags: &[ZONE_LABEL],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(RaplCollector {
        class: config.paths.sysfs.join("class/powercap"),
        zone_label: config.options.switch(&ZONE_LABEL),
    }))
}

struct RaplCollector {
    class: PathBuf,
    zone_label: bool,
}

/// One RAPL zone: its name without the index, the index, its directory.
#[derive(Debug, PartialEq)]
pub struct Zone {
    pub name: String,
    pub index: u64,
    pub path: PathBuf,
}

/// `package-0` → (0, `package`); a name without an index gets how many zones of that name
/// came before (several `dram` zones), as procfs' getIndexAndName.
fn index_and_name(counts: &mut HashMap<String, u64>, name: &str) -> (u64, String) {
    let (index, name) = match name.split('-').collect::<Vec<_>>()[..] {
        [base, n] if n.parse::<u64>().is_ok() => (n.parse().unwrap_or(0), base.to_owned()),
        _ => (counts.get(name).copied().unwrap_or(0), name.to_owned()),
    };
    counts.insert(name.clone(), index + 1);
    (index, name)
}

/// node_exporter's SanitizeMetricName: each run of characters outside `[0-9A-Za-z_]`, with
/// the underscores around it, becomes one `_`.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending = String::new();
    let mut bad = false;
    for c in name.chars() {
        if c == '_' {
            pending.push(c);
        } else if c.is_ascii_alphanumeric() {
            out.push_str(if bad { "_" } else { &pending });
            pending.clear();
            bad = false;
            out.push(c);
        } else {
            bad = true;
            pending.clear();
        }
    }
    out.push_str(if bad { "_" } else { &pending });
    out
}

fn read_uint(path: &Path) -> Result<u64, CollectError> {
    let data = std::fs::read_to_string(path).map_err(|source| {
        if matches!(source.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) {
            CollectError::NoData(format!("{}: {source}", path.display()))
        } else {
            CollectError::Read {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let data = data.trim();
    data.parse().map_err(|_| {
        CollectError::parse(path, ParseError::new(1, format!("{data:?} is not an integer")))
    })
}

/// The zones of `class`: each subdirectory with a `name` file.
pub fn zones(class: &Path) -> Result<Vec<Zone>, CollectError> {
    let entries = super::held::list_dir(class).map_err(|source| match source.kind() {
        ErrorKind::NotFound | ErrorKind::PermissionDenied => {
            CollectError::NoData(format!("{}: {source}", class.display()))
        }
        _ => CollectError::Read {
            path: class.to_owned(),
            source,
        },
    })?;
    let mut dirs: Vec<_> = entries.into_iter().map(|e| class.join(e.name)).collect();
    dirs.sort();
    let mut counts = HashMap::new();
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(name) = std::fs::read_to_string(dir.join("name")) else {
            continue;
        };
        let (index, name) = index_and_name(&mut counts, name.trim());
        // procfs requires it, though node_exporter does not export it.
        read_uint(&dir.join("max_energy_range_uj"))?;
        out.push(Zone {
            name,
            index,
            path: dir,
        });
    }
    Ok(out)
}

impl Collector for RaplCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let mut out = SortedFamilies::default();
        for zone in zones(&self.class)? {
            let joules = read_uint(&zone.path.join("energy_uj"))? as f64 / 1000000.0;
            let mut labels = vec![
                ("index", zone.index.to_string()),
                ("path", zone.path.to_string_lossy().into_owned()),
            ];
            let (name, help) = if self.zone_label {
                labels.push(("rapl_zone", zone.name.clone()));
                (
                    "node_rapl_joules_total".to_owned(),
                    "Current RAPL value in joules".to_owned(),
                )
            } else {
                (
                    format!("node_rapl_{}_joules_total", sanitize(&zone.name)),
                    format!("Current RAPL {} value in joules", zone.name),
                )
            };
            out.add_kind(name, help, true, labels, joules);
        }
        out.encode(enc)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    const TREE: &[(&str, &[u8])] = &[
        ("sys/class/powercap/intel-rapl/enabled", b"1\n"),
        ("sys/class/powercap/intel-rapl:0/name", b"package-0\n"),
        ("sys/class/powercap/intel-rapl:0/energy_uj", b"240422366267\n"),
        ("sys/class/powercap/intel-rapl:0/max_energy_range_uj", b"262143328850\n"),
        ("sys/class/powercap/intel-rapl:0:0/name", b"core\n"),
        ("sys/class/powercap/intel-rapl:0:0/energy_uj", b"118821284256\n"),
        ("sys/class/powercap/intel-rapl:0:0/max_energy_range_uj", b"262143328850\n"),
        ("sys/class/powercap/intel-rapl:0:1/name", b"core\n"),
        ("sys/class/powercap/intel-rapl:0:1/energy_uj", b"5\n"),
        ("sys/class/powercap/intel-rapl:0:1/max_energy_range_uj", b"9\n"),
    ];

    #[test]
    fn zones_as_node_exporter_names_them() {
        let dir = tree(TREE);
        let config = config_for(dir.path());
        let body = scrape_of("rapl", build(&config).unwrap());
        let p = config.paths.sysfs.join("class/powercap").display().to_string();
        assert_eq!(
            samples(&body),
            [
                format!("node_rapl_core_joules_total{{index=\"0\",path=\"{p}/intel-rapl:0:0\"}} 118821.284256"),
                format!("node_rapl_core_joules_total{{index=\"1\",path=\"{p}/intel-rapl:0:1\"}} 0.000005"),
                format!("node_rapl_package_joules_total{{index=\"0\",path=\"{p}/intel-rapl:0\"}} 240422.366267"),
            ]
        );
        assert!(body.contains("# HELP node_rapl_core_joules Current RAPL core value in joules\n# TYPE node_rapl_core_joules counter\n"), "{body}");

        let mut config = config;
        config.options.set(&ZONE_LABEL, vec!["true".into()]);
        let body = scrape_of("rapl", build(&config).unwrap());
        assert!(body.contains(&format!("# HELP node_rapl_joules Current RAPL value in joules\n# TYPE node_rapl_joules counter\nnode_rapl_joules_total{{index=\"0\",path=\"{p}/intel-rapl:0\",rapl_zone=\"package\"}} 240422.366267\nnode_rapl_joules_total{{index=\"0\",path=\"{p}/intel-rapl:0:0\",rapl_zone=\"core\"}} 118821.284256\n")), "{body}");
    }

    #[test]
    fn unreadable_counters_are_no_data_and_names_are_sanitised() {
        let dir = tree(&[]);
        let body = scrape_of("rapl", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"rapl\"} 1\n"));
        assert!(samples(&body).is_empty());
        assert_eq!(sanitize("psys"), "psys");
        assert_eq!(sanitize("dram.0 x"), "dram_0_x");
        assert_eq!(sanitize("a_-_b"), "a_b");
        assert_eq!(sanitize("a__b"), "a__b");
    }
}
