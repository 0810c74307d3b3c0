//! zfs: OpenZFS's kstats from `<procfs>/spl/kstat/zfs/` as node_exporter's zfs collector
//! exports them: every numeric entry of `arcstats`, `abdstats`, `dbufstats`, ... as an untyped
//! `node_zfs_<subsystem>_<name>`, each pool's `io` (`node_zfs_zpool_*{zpool}`), each dataset's
//! `objset-*` (`node_zfs_zpool_dataset_*{dataset,zpool}`) and `state`
//! (`node_zfs_zpool_state{state,zpool}`). No ZFS module: node_exporter's ErrNoData (nothing,
//! logged at debug; see `CollectError::NoData`).

use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::encode::{Families, Value};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, read_with};

/// node_exporter's subsystems and the kstat file each is read from, sorted by subsystem.
const SUBSYSTEMS: [(&str, &str); 11] = [
    ("zfs_abd", "abdstats"),
    ("zfs_arc", "arcstats"),
    ("zfs_dbuf", "dbufstats"),
    ("zfs_dmu_tx", "dmu_tx"),
    ("zfs_dnode", "dnodestats"),
    ("zfs_fm", "fm"),
    ("zfs_vdev_cache", "vdev_cache_stats"),
    ("zfs_vdev_mirror", "vdev_mirror_stats"),
    ("zfs_xuio", "xuio_stats"),
    ("zfs_zfetch", "zfetchstats"),
    ("zfs_zil", "zil"),
];

/// `node_zfs_zpool_state`'s states.
const POOL_STATES: [&str; 7] = [
    "online",
    "degraded",
    "faulted",
    "offline",
    "removed",
    "unavail",
    "suspended",
];

/// The metric name node_exporter makes of a kstat name: `-` becomes `_`; `None` when what is
/// left is not a valid name part (node_exporter's client would reject the metric).
fn name_part(kstat: &str) -> Option<String> {
    let name = kstat.replace('-', "_");
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
    valid.then_some(name)
}

/// The entries after a `name type data` header, as (line number, name, type, the rest of the
/// line from the data on). Lines before the header (the kstat's own header) are skipped.
fn kstat_entries(data: &str) -> Option<Vec<(usize, &str, &str, &str)>> {
    let mut lines = data.lines().enumerate();
    lines.find(|(_, l)| l.split_ascii_whitespace().eq(["name", "type", "data"]))?;
    let mut out = Vec::new();
    for (i, line) in lines {
        let mut parts = line.split_ascii_whitespace();
        let (Some(name), Some(kind), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        // The data runs to the end of the line (a dataset name may hold spaces).
        let after_name = line.find(name).unwrap_or(0) + name.len();
        let after_kind = after_name + line[after_name..].find(kind).unwrap_or(0) + kind.len();
        out.push((i + 1, name, kind, line[after_kind..].trim_start()));
    }
    Some(out)
}

/// Parses a kstat named file (`arcstats`): its UINT64 and INT64 entries. A value that is not
/// a number is an error naming the line's entry, as in node_exporter.
pub(crate) fn parse_kstat(data: &str) -> Result<Vec<(&str, Value)>, ParseError> {
    let entries =
        kstat_entries(data).ok_or_else(|| ParseError::new(0, "no \"name type data\" header"))?;
    let mut out = Vec::with_capacity(entries.len());
    for (n, name, kind, rest) in entries {
        let raw = rest.split_ascii_whitespace().next().unwrap_or("");
        let value = match kind {
            "4" => raw.parse().map(Value::U).ok(),
            "3" => raw.parse().map(Value::I).ok(),
            _ => continue,
        };
        let value = value
            .ok_or_else(|| ParseError::new(n, format!("{name}: {raw:?} is not a number")))?;
        out.push((name, value));
    }
    Ok(out)
}

/// Parses a pool's `io` file: the header line starting `nread` and the values below it.
pub fn parse_pool_io(data: &str) -> Result<Vec<(&str, u64)>, ParseError> {
    let mut lines = data.lines().enumerate();
    let Some(fields) = lines.find_map(|(_, l)| {
        let f: Vec<&str> = l.split_ascii_whitespace().collect();
        (f.len() >= 12 && f[0] == "nread").then_some(f)
    }) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, line) in lines {
        let values: Vec<&str> = line.split_ascii_whitespace().collect();
        for (j, field) in fields.iter().enumerate() {
            let raw = values.get(j).copied().unwrap_or("");
            let v = raw.parse().map_err(|_| {
                ParseError::new(i + 1, format!("{field}: {raw:?} is not a number"))
            })?;
            out.push((*field, v));
        }
    }
    Ok(out)
}

/// A dataset's name and its UINT64 entries.
pub type Objset<'a> = (&'a str, Vec<(&'a str, u64)>);

/// Parses a dataset's `objset-*` file: its `dataset_name` and UINT64 entries.
pub fn parse_objset(data: &str) -> Result<Objset<'_>, ParseError> {
    let entries =
        kstat_entries(data).ok_or_else(|| ParseError::new(0, "no \"name type data\" header"))?;
    let mut dataset = "";
    let mut out = Vec::new();
    for (n, name, kind, rest) in entries {
        if name == "dataset_name" {
            dataset = rest;
            continue;
        }
        if kind == "4" {
            let raw = rest.split_ascii_whitespace().next().unwrap_or("");
            let v = raw
                .parse()
                .map_err(|_| ParseError::new(n, format!("{name}: {raw:?} is not a number")))?;
            out.push((name, v));
        }
    }
    Ok((dataset, out))
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "zfs",
    default_enabled: true,
    help: "OpenZFS statistics from /proc/spl/kstat/zfs",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(ZfsCollector {
        base: config.paths.procfs.join("spl/kstat/zfs"),
    }))
}

struct ZfsCollector {
    base: PathBuf,
}

impl ZfsCollector {
    /// The pool directories' files named `file` (or starting with `prefix-`), sorted by path
    /// as Go's Glob returns them.
    fn pool_files(&self, pools: &[String], matches: impl Fn(&str) -> bool) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        for pool in pools {
            let dir = self.base.join(pool);
            let Ok(entries) = super::held::list_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .into_iter()
                .filter_map(|e| e.name.into_string().ok())
                .filter(|n| matches(n))
                .collect();
            names.sort();
            out.extend(names.into_iter().map(|n| (pool.clone(), dir.join(n))));
        }
        out
    }
}

/// Reads and parses `path`, keeping the first error: a bad file costs only its own figures.
fn each<T>(
    path: &Path,
    first_error: &mut Option<CollectError>,
    f: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Option<T> {
    match read_with(path, |d| f(d).map_err(|e| CollectError::parse(path, e))) {
        Ok(v) => Some(v),
        Err(e) => {
            first_error.get_or_insert(e);
            None
        }
    }
}

impl Collector for ZfsCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let entries = super::held::list_dir(&self.base).map_err(|e| {
            CollectError::NoData(format!("{}: {e} (ZFS not loaded)", self.base.display()))
        })?;
        let mut pools: Vec<String> = entries
            .into_iter()
            .filter(|e| e.kind == libc::DT_DIR)
            .filter_map(|e| e.name.into_string().ok())
            .collect();
        pools.sort();
        let mut first_error = None;
        let mut families = Families::default();
        for (subsystem, file) in SUBSYSTEMS {
            let path = self.base.join(file);
            // Each file comes with a ZFS feature; one the module lacks is no error.
            if !path.is_file() {
                continue;
            }
            each(&path, &mut first_error, |data| {
                for (name, value) in parse_kstat(data)? {
                    let Some(part) = name_part(name) else { continue };
                    families.add(
                        format!("node_{subsystem}_{part}"),
                        format!("kstat.zfs.misc.{file}.{name}"),
                        MetricType::Unknown,
                        Vec::new(),
                        value,
                    );
                }
                Ok(())
            });
        }
        for (pool, path) in self.pool_files(&pools, |n| n == "io") {
            each(&path, &mut first_error, |data| {
                for (field, v) in parse_pool_io(data)? {
                    let Some(part) = name_part(field) else { continue };
                    families.add(
                        format!("node_zfs_zpool_{part}"),
                        format!("kstat.zfs.misc.io.{field}"),
                        MetricType::Unknown,
                        vec![("zpool", pool.clone())],
                        Value::U(v),
                    );
                }
                Ok(())
            });
        }
        for (pool, path) in self.pool_files(&pools, |n| n.starts_with("objset-")) {
            each(&path, &mut first_error, |data| {
                let (dataset, entries) = parse_objset(data)?;
                for (name, v) in entries {
                    let Some(part) = name_part(name) else { continue };
                    families.add(
                        format!("node_zfs_zpool_dataset_{part}"),
                        format!("kstat.zfs.misc.objset.{name}"),
                        MetricType::Unknown,
                        vec![("dataset", dataset.to_owned()), ("zpool", pool.clone())],
                        Value::U(v),
                    );
                }
                Ok(())
            });
        }
        for (pool, path) in self.pool_files(&pools, |n| n == "state") {
            each(&path, &mut first_error, |data| {
                let actual = data.lines().next().unwrap_or("").to_lowercase();
                for state in POOL_STATES {
                    families.add(
                        "node_zfs_zpool_state".to_owned(),
                        "kstat.zfs.misc.state".to_owned(),
                        MetricType::Gauge,
                        vec![("state", state.to_owned()), ("zpool", pool.clone())],
                        Value::U(u64::from(actual == state)),
                    );
                }
                Ok(())
            });
        }
        families.encode(enc)?;
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, tree};
    use super::*;

    const ARCSTATS: &str = "6 1 0x01 91 4368 5266997922 97951858082072
name                            type data
anon_evictable_data             4    0
anon_size                       4    1917440
arc_no_grow                     4    0
arc_meta_min                    4    16777216
memory_available_bytes          3    -922337203685477580
l2_hdr_size                     4    0
";

    #[test]
    fn parses_kstats_skipping_other_types() {
        let data = format!("{ARCSTATS}note 7 text\n");
        let entries = parse_kstat(&data).unwrap();
        assert_eq!(entries[1], ("anon_size", Value::U(1917440)));
        assert_eq!(
            entries[4],
            ("memory_available_bytes", Value::I(-922337203685477580))
        );
        assert_eq!(entries.len(), 6);
        // The value is the third word, not the first "0" of the line (node_exporter's fixture).
        assert_eq!(
            parse_kstat("name type data\ndbuf_cache_level_10_bytes       4    0\n").unwrap(),
            [("dbuf_cache_level_10_bytes", Value::U(0))]
        );
        assert_eq!(
            parse_kstat("name type data\nhits 4 lots\n")
                .unwrap_err()
                .to_string(),
            "line 2: hits: \"lots\" is not a number"
        );
    }

    #[test]
    fn encodes_node_exporters_lines() {
        let dir = tree(&[
            ("proc/spl/kstat/zfs/arcstats", ARCSTATS.as_bytes()),
            (
                "proc/spl/kstat/zfs/pool1/io",
                b"12 3 0x00 1 80 79205351707403 395818011156865
nread    nwritten reads    writes   wtime    wlentime wupdate  rtime    rlentime rupdate  wcnt     rcnt    
1884160  3206144  22       132      7155162  104112268 79210489694949 24168078 104112268 79210489849220 0        0       
",
            ),
            (
                "proc/spl/kstat/zfs/pool3/objset-2",
                b"23 1 0x01 7 2160 221578688875 6665999035587
name                            type data
dataset_name                    7    pool3/dataset with  space
writes                          4    4
nwritten                        4    12302
",
            ),
            ("proc/spl/kstat/zfs/pool1/state", b"ONLINE\n"),
        ]);
        let body = scrape_of("zfs", build(&config_for(dir.path())).unwrap());
        let lines = samples(&body);
        // Lines of node_exporter 1.12's e2e-output.txt.
        for want in [
            "node_zfs_arc_anon_size 1917440",
            "node_zfs_arc_arc_meta_min 16777216",
            "node_zfs_arc_memory_available_bytes -922337203685477580",
            "node_zfs_zpool_nread{zpool=\"pool1\"} 1884160",
            "node_zfs_zpool_rupdate{zpool=\"pool1\"} 79210489849220",
            "node_zfs_zpool_dataset_nwritten{dataset=\"pool3/dataset with  space\",zpool=\"pool3\"} 12302",
            "node_zfs_zpool_state{state=\"online\",zpool=\"pool1\"} 1",
            "node_zfs_zpool_state{state=\"suspended\",zpool=\"pool1\"} 0",
        ] {
            assert!(lines.contains(&want), "missing {want}:\n{body}");
        }
        assert!(body.contains("# HELP node_zfs_arc_anon_size kstat.zfs.misc.arcstats.anon_size\n# TYPE node_zfs_arc_anon_size unknown\n"));
        assert!(body.contains("# HELP node_zfs_zpool_state kstat.zfs.misc.state\n# TYPE node_zfs_zpool_state gauge\n"));
        let text = String::from_utf8(super::super::to_text_format(body.as_bytes())).unwrap();
        assert!(text.contains("# TYPE node_zfs_zpool_nread untyped\n"), "{text}");
    }

    #[test]
    fn no_zfs_is_no_data_and_a_bad_file_costs_only_itself() {
        let dir = tree(&[]);
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("zfs", build(&config_for(dir.path())).unwrap()));
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"zfs\"} 1\n"));
        assert!(!logs.contains("WARN"), "{logs}");

        let dir = tree(&[
            ("proc/spl/kstat/zfs/arcstats", ARCSTATS.as_bytes()),
            ("proc/spl/kstat/zfs/zil", b"name type data\nzil_commit_count 4 x\n"),
        ]);
        let config = config_for(dir.path());
        let logs = logs_of(|| body = scrape_of("zfs", build(&config).unwrap()));
        assert!(body.contains("node_zfs_arc_anon_size 1917440\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"zfs\"} 0\n"));
        let path = config.paths.procfs.join("spl/kstat/zfs/zil");
        assert!(logs.contains(&format!("error=parsing {}: line 2: zil_commit_count: \"x\" is not a number", path.display())), "{logs}");
    }
}
