//! xfs: `node_xfs_*_total{device}` per XFS filesystem from `<sysfs>/fs/xfs/<device>/stats/stats`,
//! as node_exporter's xfs collector. No XFS mounted: nothing, success 1.

use std::path::PathBuf;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, read_with};

/// The lines node_exporter exports from and how many values each has (vnodes: 7 on old
/// kernels, 8 with `free`), as prometheus/procfs checks them.
const LINES: [(&str, &[usize]); 8] = [
    ("extent_alloc", &[4]),
    ("abt", &[4]),
    ("blk_map", &[7]),
    ("bmbt", &[4]),
    ("dir", &[4]),
    ("ig", &[7]),
    ("rw", &[2]),
    ("vnodes", &[7, 8]),
];

/// node_exporter's families (without `_total`): (name, HELP, line, index in the line).
const FAMILIES: [(&str, &str, &str, usize); 39] = [
    ("node_xfs_extent_allocation_extents_allocated", "Number of extents allocated for a filesystem.", "extent_alloc", 0),
    ("node_xfs_extent_allocation_blocks_allocated", "Number of blocks allocated for a filesystem.", "extent_alloc", 1),
    ("node_xfs_extent_allocation_extents_freed", "Number of extents freed for a filesystem.", "extent_alloc", 2),
    ("node_xfs_extent_allocation_blocks_freed", "Number of blocks freed for a filesystem.", "extent_alloc", 3),
    ("node_xfs_allocation_btree_lookups", "Number of allocation B-tree lookups for a filesystem.", "abt", 0),
    ("node_xfs_allocation_btree_compares", "Number of allocation B-tree compares for a filesystem.", "abt", 1),
    ("node_xfs_allocation_btree_records_inserted", "Number of allocation B-tree records inserted for a filesystem.", "abt", 2),
    ("node_xfs_allocation_btree_records_deleted", "Number of allocation B-tree records deleted for a filesystem.", "abt", 3),
    ("node_xfs_block_mapping_reads", "Number of block map for read operations for a filesystem.", "blk_map", 0),
    ("node_xfs_block_mapping_writes", "Number of block map for write operations for a filesystem.", "blk_map", 1),
    ("node_xfs_block_mapping_unmaps", "Number of block unmaps (deletes) for a filesystem.", "blk_map", 2),
    ("node_xfs_block_mapping_extent_list_insertions", "Number of extent list insertions for a filesystem.", "blk_map", 3),
    ("node_xfs_block_mapping_extent_list_deletions", "Number of extent list deletions for a filesystem.", "blk_map", 4),
    ("node_xfs_block_mapping_extent_list_lookups", "Number of extent list lookups for a filesystem.", "blk_map", 5),
    ("node_xfs_block_mapping_extent_list_compares", "Number of extent list compares for a filesystem.", "blk_map", 6),
    ("node_xfs_block_map_btree_lookups", "Number of block map B-tree lookups for a filesystem.", "bmbt", 0),
    ("node_xfs_block_map_btree_compares", "Number of block map B-tree compares for a filesystem.", "bmbt", 1),
    ("node_xfs_block_map_btree_records_inserted", "Number of block map B-tree records inserted for a filesystem.", "bmbt", 2),
    ("node_xfs_block_map_btree_records_deleted", "Number of block map B-tree records deleted for a filesystem.", "bmbt", 3),
    ("node_xfs_directory_operation_lookup", "Number of file name directory lookups which miss the operating systems directory name lookup cache.", "dir", 0),
    ("node_xfs_directory_operation_create", "Number of times a new directory entry was created for a filesystem.", "dir", 1),
    ("node_xfs_directory_operation_remove", "Number of times an existing directory entry was created for a filesystem.", "dir", 2),
    ("node_xfs_directory_operation_getdents", "Number of times the directory getdents operation was performed for a filesystem.", "dir", 3),
    ("node_xfs_inode_operation_attempts", "Number of times the OS looked for an XFS inode in the inode cache.", "ig", 0),
    ("node_xfs_inode_operation_found", "Number of times the OS looked for and found an XFS inode in the inode cache.", "ig", 1),
    ("node_xfs_inode_operation_recycled", "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled.", "ig", 2),
    ("node_xfs_inode_operation_missed", "Number of times the OS looked for an XFS inode in the cache, but did not find it.", "ig", 3),
    ("node_xfs_inode_operation_duplicates", "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process.", "ig", 4),
    ("node_xfs_inode_operation_reclaims", "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose.", "ig", 5),
    ("node_xfs_inode_operation_attribute_changes", "Number of times the OS explicitly changed the attributes of an XFS inode.", "ig", 6),
    ("node_xfs_read_calls", "Number of read(2) system calls made to files in a filesystem.", "rw", 1),
    ("node_xfs_write_calls", "Number of write(2) system calls made to files in a filesystem.", "rw", 0),
    ("node_xfs_vnode_active", "Number of vnodes not on free lists for a filesystem.", "vnodes", 0),
    ("node_xfs_vnode_allocate", "Number of times vn_alloc called for a filesystem.", "vnodes", 1),
    ("node_xfs_vnode_get", "Number of times vn_get called for a filesystem.", "vnodes", 2),
    ("node_xfs_vnode_hold", "Number of times vn_hold called for a filesystem.", "vnodes", 3),
    ("node_xfs_vnode_release", "Number of times vn_rele called for a filesystem.", "vnodes", 4),
    ("node_xfs_vnode_reclaim", "Number of times vn_reclaim called for a filesystem.", "vnodes", 5),
    ("node_xfs_vnode_remove", "Number of times vn_remove called for a filesystem.", "vnodes", 6),
];

/// The values of the [`LINES`] of one stats file; `None` for a line that was garbled.
/// A line the kernel does not write reads as zeros, as in procfs.
pub type XfsStats = [Option<[u64; 8]>; 8];

/// Parses a `stats/stats` file. A garbled line of ours costs that line's families; its error
/// is returned beside what was parsed.
pub fn parse_xfs_stats(data: &str) -> (XfsStats, Option<ParseError>) {
    let mut out: XfsStats = [Some([0; 8]); 8];
    let mut first_error = None;
    for (i, line) in data.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        let Some(label) = fields.next() else { continue };
        let Some(slot) = LINES.iter().position(|(l, _)| *l == label) else {
            continue;
        };
        let mut values = [0u64; 8];
        let mut n = 0;
        let mut bad = None;
        for f in fields {
            match f.parse::<u32>() {
                Ok(v) if n < values.len() => values[n] = u64::from(v),
                Ok(_) => {}
                Err(_) => bad = Some(format!("{label}: {f:?} is not a number")),
            }
            n += 1;
        }
        if bad.is_none() && !LINES[slot].1.contains(&n) {
            bad = Some(format!("{label}: {n} values, expected {:?}", LINES[slot].1));
        }
        match bad {
            Some(message) => {
                out[slot] = None;
                first_error.get_or_insert(ParseError::new(i + 1, message));
            }
            None => out[slot] = Some(values),
        }
    }
    (out, first_error)
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "xfs",
    default_enabled: true,
    help: "XFS runtime statistics from /sys/fs/xfs",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(XfsCollector {
        root: config.paths.sysfs.join("fs/xfs"),
    }))
}

struct XfsCollector {
    root: PathBuf,
}

impl Collector for XfsCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let mut devices: Vec<String> = super::held::list_dir(&self.root)
            .map(|d| {
                d.into_iter()
                    .filter_map(|e| e.name.into_string().ok())
                    .filter(|n| super::absent::is_file(&self.root.join(n).join("stats/stats")))
                    .collect()
            })
            .unwrap_or_default();
        devices.sort();
        let mut first_error = None;
        let mut all = Vec::with_capacity(devices.len());
        for device in devices {
            let path = self.root.join(&device).join("stats/stats");
            match read_with(&path, |d| Ok(parse_xfs_stats(d))) {
                Ok((stats, error)) => {
                    if let Some(e) = error {
                        first_error.get_or_insert(CollectError::parse(&path, e));
                    }
                    all.push((device, stats));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if !all.is_empty() {
            for (name, help, line, index) in FAMILIES {
                let slot = LINES.iter().position(|(l, _)| *l == line).unwrap_or(0);
                if all.iter().all(|(_, s)| s[slot].is_none()) {
                    continue;
                }
                let mut family = counter_family(enc, name, help)?;
                for (device, stats) in &all {
                    if let Some(values) = stats[slot] {
                        counter(&mut family, &[("device", device.as_str())], values[index])?;
                    }
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

    /// node_exporter's fixture sys/fs/xfs/sda1/stats/stats.
    const STATS: &str = "extent_alloc 1 872 0 0
abt 0 0 0 0
blk_map 61 29 1 1 1 91 0
bmbt 0 0 0 0
dir 3 2 1 52
trans 4 40 0
ig 5 1 0 4 0 0 1
log 8 21 0 5821 4
push_ail 44 0 1102 15 0 2 0 2 0 2
xstrat 1 0
rw 28 0
attr 0 0 0 0
icluster 2 2 2
vnodes 4 0 0 0 1 1 1 0
buf 22 25 14 0 0 8 0 8 8
abtb2 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0
xpc 3571712 3568056 0
debug 0
";

    #[test]
    fn encodes_node_exporters_lines() {
        let dir = tree(&[("sys/fs/xfs/sda1/stats/stats", STATS.as_bytes())]);
        let body = scrape_of("xfs", build(&config_for(dir.path())).unwrap());
        let lines = samples(&body);
        assert_eq!(lines.len(), 39, "{body}");
        // Lines of node_exporter 1.12's e2e-output.txt (rw is "writes reads").
        for want in [
            "node_xfs_extent_allocation_blocks_allocated_total{device=\"sda1\"} 872",
            "node_xfs_block_mapping_extent_list_lookups_total{device=\"sda1\"} 91",
            "node_xfs_directory_operation_getdents_total{device=\"sda1\"} 52",
            "node_xfs_inode_operation_attribute_changes_total{device=\"sda1\"} 1",
            "node_xfs_inode_operation_missed_total{device=\"sda1\"} 4",
            "node_xfs_read_calls_total{device=\"sda1\"} 0",
            "node_xfs_write_calls_total{device=\"sda1\"} 28",
            "node_xfs_vnode_active_total{device=\"sda1\"} 4",
            "node_xfs_vnode_remove_total{device=\"sda1\"} 1",
        ] {
            assert!(lines.contains(&want), "missing {want}:\n{body}");
        }
        assert!(body.contains("# HELP node_xfs_read_calls Number of read(2) system calls made to files in a filesystem.\n# TYPE node_xfs_read_calls counter\n"));
    }

    #[test]
    fn a_garbled_line_costs_its_families_and_names_the_line() {
        let (stats, error) = parse_xfs_stats("extent_alloc 1 872 0 0\nrw 28\nvnodes 4 0 0 0 1 1 1\n");
        assert_eq!(stats[0].unwrap()[1], 872);
        assert_eq!(stats[6], None);
        assert_eq!(stats[7].unwrap()[0], 4, "7 vnode values are an older kernel's");
        assert_eq!(error.unwrap().to_string(), "line 2: rw: 1 values, expected [2]");

        let dir = tree(&[("sys/fs/xfs/vdb/stats/stats", b"dir 3 x 1 52\nig 5 1 0 4 0 0 1\n")]);
        let config = config_for(dir.path());
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("xfs", build(&config).unwrap()));
        assert!(body.contains("node_xfs_inode_operation_attempts_total{device=\"vdb\"} 5\n"));
        // Lines the file does not have read as zeros, as in node_exporter.
        assert!(body.contains("node_xfs_read_calls_total{device=\"vdb\"} 0\n"));
        assert!(!body.contains("node_xfs_directory_operation"));
        assert!(body.contains("node_scrape_collector_success{collector=\"xfs\"} 0\n"));
        let path = config.paths.sysfs.join("fs/xfs/vdb/stats/stats");
        assert!(logs.contains(&format!("error=parsing {}: line 1: dir: \"x\" is not a number", path.display())), "{logs}");
    }

    #[test]
    fn no_xfs_is_empty_success() {
        let dir = tree(&[]);
        let body = scrape_of("xfs", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"xfs\"} 1\n"));
    }
}
