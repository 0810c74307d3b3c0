//! mdadm: `node_md_*` per software RAID array from `<procfs>/mdstat` (disks, state, blocks)
//! and `<sysfs>/block/md*/md/` (raid_disks, degraded), as node_exporter's mdadm collector.
//! No /proc/mdstat (a kernel without md) is node_exporter's ErrNoData: nothing, logged at debug
//! (see `CollectError::NoData`).

use std::io;
use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, read_trimmed,
    read_u64, read_with,
};

/// One array of /proc/mdstat, with what node_exporter exports of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdStat<'a> {
    pub name: &'a str,
    /// `active`, `inactive`, or the sync in progress: `recovering`, `resyncing`, `checking`,
    /// `reshaping`.
    pub state: &'a str,
    pub disks_active: u64,
    pub disks_total: u64,
    pub disks_failed: u64,
    pub disks_spare: u64,
    pub blocks_total: u64,
    pub blocks_synced: u64,
}

/// Parses /proc/mdstat as prometheus/procfs does. An array whose lines cannot be parsed is
/// left out and reported (the others are kept); node_exporter would drop them all.
pub fn parse_mdstat(data: &str) -> (Vec<MdStat<'_>>, Option<ParseError>) {
    let lines: Vec<&str> = data.split('\n').collect();
    let mut out = Vec::new();
    let mut first_error = None;
    let mut personalities_seen = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() || line.starts_with(' ') || line.starts_with("unused") {
            continue;
        }
        if !personalities_seen && line.starts_with("Personalities : ") {
            personalities_seen = true;
            continue;
        }
        match parse_array(&lines, i) {
            Ok(md) => out.push(md),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    (out, first_error)
}

/// The array whose device line is `lines[i]`, with its status and sync lines below it.
fn parse_array<'a>(lines: &[&'a str], i: usize) -> Result<MdStat<'a>, ParseError> {
    let n = i + 1;
    let line = lines[i];
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    if fields.len() < 3 {
        return Err(ParseError::new(
            n,
            format!("expected 3 or more fields in {line:?}"),
        ));
    }
    let name = fields[0];
    if lines.len() <= i + 3 {
        return Err(ParseError::new(
            n,
            format!("{name}: too few lines for an md device"),
        ));
    }
    let status = lines[i + 1];
    let size: u64 = status
        .split_ascii_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ParseError::new(n + 1, format!("{name}: unexpected status line {status:?}")))?;
    let (active, total) = if line.contains("raid0") || line.contains("linear") {
        // Only the member disks carry a `[n]` on these arrays' device line.
        let members = line.matches('[').count() as u64;
        (members, members)
    } else if line.contains("inactive") {
        (0, 0)
    } else {
        status_counts(status).ok_or_else(|| {
            ParseError::new(
                n + 1,
                format!("{name}: no [total/active] [U_] in {status:?}"),
            )
        })?
    };
    let mut sync_idx = i + 2;
    if lines[sync_idx].contains("bitmap") {
        sync_idx += 1;
    }
    let sync = lines.get(sync_idx).copied().unwrap_or("");
    let mut state = fields[2];
    let mut blocks_synced = size;
    let sync_state = if sync.contains("recovery") {
        Some("recovering")
    } else if sync.contains("reshape") {
        Some("reshaping")
    } else if sync.contains("check") {
        Some("checking")
    } else if sync.contains("resync") {
        Some("resyncing")
    } else {
        None
    };
    if let Some(s) = sync_state {
        state = s;
        blocks_synced = if sync.contains("PENDING") || sync.contains("DELAYED") {
            0
        } else {
            synced_blocks(sync).ok_or_else(|| {
                ParseError::new(
                    sync_idx + 1,
                    format!("{name}: no (synced/total) in {sync:?}"),
                )
            })?
        };
    }
    Ok(MdStat {
        name,
        state,
        disks_active: active,
        disks_total: total,
        disks_failed: line.matches("(F)").count() as u64,
        disks_spare: line.matches("(S)").count() as u64,
        blocks_total: size,
        blocks_synced,
    })
}

/// `(active, total)` from a status line's last `[total/active] [UU_]` pair.
fn status_counts(status: &str) -> Option<(u64, u64)> {
    if !status.contains(" blocks ") {
        return None;
    }
    let fields: Vec<&str> = status.split_ascii_whitespace().collect();
    fields.windows(2).rev().find_map(|w| {
        let (total, active) = w[0].strip_prefix('[')?.strip_suffix(']')?.split_once('/')?;
        let bar = w[1].strip_prefix('[')?.strip_suffix(']')?;
        if bar.is_empty() || !bar.bytes().all(|b| b == b'U' || b == b'_') {
            return None;
        }
        Some((active.parse().ok()?, total.parse().ok()?))
    })
}

/// The synced blocks of a sync line: `... (16775552/195310144) finish=...`.
fn synced_blocks(sync: &str) -> Option<u64> {
    let start = sync.find('(')? + 1;
    let end = start + sync[start..].find(')')?;
    let (done, _total) = sync[start..end].split_once('/')?;
    done.parse().ok()
}

/// One array's sysfs figures: `raid_disks` (absent for containers) and `degraded`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdRaid {
    pub device: String,
    pub disks: Option<u64>,
    pub degraded: u64,
}

/// Reads `<sysfs>/block/<device>/md/` as prometheus/procfs' `Mdraids` does, only the files
/// node_exporter exports from.
fn read_mdraid(block: &Path, device: &str) -> Result<MdRaid, CollectError> {
    let md = block.join(device).join("md");
    let read = |file: &str| read_trimmed(&md.join(file));
    let level = read("level")?;
    let disks = match level.as_str() {
        "container" | "imsm" | "ddf" | "" => None,
        // During a reshape the file says "current (previous)".
        _ => read("raid_disks")?
            .split(' ')
            .next()
            .and_then(|s| s.parse().ok()),
    };
    let degraded = match level.as_str() {
        "raid1" | "raid4" | "raid5" | "raid6" | "raid10" => read_u64(&md.join("degraded"))?,
        _ => 0,
    };
    Ok(MdRaid {
        device: device.to_owned(),
        disks,
        degraded,
    })
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "mdadm",
    default_enabled: true,
    help: "Software RAID statistics from /proc/mdstat and /sys/block/md*/md",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(MdadmCollector {
        mdstat: config.paths.procfs.join("mdstat"),
        block: config.paths.sysfs.join("block"),
    }))
}

struct MdadmCollector {
    mdstat: PathBuf,
    block: PathBuf,
}

impl MdadmCollector {
    /// The `md*` entries of `<sysfs>/block` that have an `md` directory, sorted.
    fn md_devices(&self) -> Vec<String> {
        let Ok(dir) = super::held::list_dir(&self.block) else {
            return Vec::new();
        };
        let mut names: Vec<String> = dir
            .into_iter()
            .filter_map(|e| e.name.into_string().ok())
            .filter(|n| n.starts_with("md") && super::absent::is_dir(&self.block.join(n).join("md")))
            .collect();
        names.sort();
        names
    }
}

impl Collector for MdadmCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let result = read_with(&self.mdstat, |data| {
            let (arrays, error) = parse_mdstat(data);
            encode_mdstat(enc, &arrays)?;
            Ok(error.map(|e| CollectError::parse(&self.mdstat, e)))
        });
        let mdstat_error = match result {
            Err(CollectError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(CollectError::NoData(format!(
                    "{} does not exist",
                    self.mdstat.display()
                )));
            }
            Err(e) => return Err(e),
            Ok(error) => error,
        };
        let mut first_error = mdstat_error;
        let mut raids = Vec::new();
        for device in self.md_devices() {
            match read_mdraid(&self.block, &device) {
                Ok(r) => raids.push(r),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if raids.iter().any(|r| r.disks.is_some()) {
            let mut family =
                gauge_family(enc, "node_md_raid_disks", "Number of raid disks on device.")?;
            for r in &raids {
                if let Some(disks) = r.disks {
                    gauge(&mut family, &[("device", r.device.as_str())], disks)?;
                }
            }
        }
        if !raids.is_empty() {
            let mut family =
                gauge_family(enc, "node_md_degraded", "Number of degraded disks on device.")?;
            for r in &raids {
                gauge(&mut family, &[("device", r.device.as_str())], r.degraded)?;
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// node_md_state's `state` labels and the mdstat state each stands for.
const STATES: [(&str, &str); 5] = [
    ("active", "active"),
    ("inactive", "inactive"),
    ("recovering", "recovering"),
    ("resync", "resyncing"),
    ("check", "checking"),
];

fn encode_mdstat(enc: &mut DescriptorEncoder<'_>, arrays: &[MdStat<'_>]) -> Result<(), CollectError> {
    if arrays.is_empty() {
        return Ok(());
    }
    let mut family = gauge_family(enc, "node_md_disks_required", "Total number of disks of device.")?;
    for a in arrays {
        gauge(&mut family, &[("device", a.name)], a.disks_total)?;
    }
    let mut family = gauge_family(
        enc,
        "node_md_disks",
        "Number of active/failed/spare disks of device.",
    )?;
    for a in arrays {
        for (state, v) in [
            ("active", a.disks_active),
            ("failed", a.disks_failed),
            ("spare", a.disks_spare),
        ] {
            gauge(&mut family, &[("device", a.name), ("state", state)], v)?;
        }
    }
    let mut family = gauge_family(enc, "node_md_state", "Indicates the state of md-device.")?;
    for a in arrays {
        for (label, state) in STATES {
            let v = u64::from(a.state == state);
            gauge(&mut family, &[("device", a.name), ("state", label)], v)?;
        }
    }
    let mut family = gauge_family(enc, "node_md_blocks", "Total number of blocks on device.")?;
    for a in arrays {
        gauge(&mut family, &[("device", a.name)], a.blocks_total)?;
    }
    let mut family = gauge_family(enc, "node_md_blocks_synced", "Number of blocks synced on device.")?;
    for a in arrays {
        gauge(&mut family, &[("device", a.name)], a.blocks_synced)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, tree};
    use super::*;

    /// Arrays from node_exporter's fixture /proc/mdstat.
    const MDSTAT: &str = "Personalities : [linear] [multipath] [raid0] [raid1] [raid6] [raid5] [raid4] [raid10]

md3 : active raid6 sda1[8] sdh1[7] sdg1[6] sdf1[5] sde1[11] sdd1[3] sdc1[10] sdb1[9] sdd1[10](S) sdd2[11](S)
      5853468288 blocks super 1.2 level 6, 64k chunk, algorithm 2 [8/8] [UUUUUUUU]

md4 : inactive raid1 sda3[0](F) sdb3[1](S)
      4883648 blocks [2/2] [UU]

md6 : active raid1 sdb2[2](F) sdc[1](S) sda2[0]
      195310144 blocks [2/1] [U_]
      [=>...................]  recovery =  8.5% (16775552/195310144) finish=17.0min speed=259783K/sec

md201 : active raid1 sda3[0] sdb3[1]
      1993728 blocks super 1.2 [2/2] [UU]
      [=>...................]  check =  5.7% (114176/1993728) finish=0.2min speed=114176K/sec

md7 : active raid6 sdb1[0] sde1[3] sdd1[2] sdc1[1](F)
      7813735424 blocks super 1.2 level 6, 512k chunk, algorithm 2 [4/3] [U_UU]
      bitmap: 0/30 pages [0KB], 65536KB chunk

md9 : active raid1 sdc2[2] sdd2[3] sdb2[1] sda2[0] sde[4](F) sdf[5](F) sdg[6](S)
      523968 blocks super 1.2 [4/4] [UUUU]
      resync=DELAYED

md11 : active (auto-read-only) raid1 sdb2[0] sdc2[1] sdc3[2](F) hda[4](S) ssdc2[3](S)
      4190208 blocks super 1.2 [2/2] [UU]
      resync=PENDING

md126 : active raid0 sdb[1] sdc[0]
      1855870976 blocks super external:/md127/0 128k chunks

md219 : inactive sdb[2](S) sdc[1](S) sda[0](S)
        7932 blocks super external:imsm

md120 : active linear sda1[1] sdb1[0]
        2095104 blocks super 1.2 0k rounding

unused devices: <none>
";

    #[test]
    fn parses_node_exporters_fixture_arrays() {
        let (arrays, error) = parse_mdstat(MDSTAT);
        assert_eq!(error, None);
        let md = |name: &str| arrays.iter().find(|a| a.name == name).unwrap().clone();
        assert_eq!(
            md("md6"),
            MdStat {
                name: "md6",
                state: "recovering",
                disks_active: 1,
                disks_total: 2,
                disks_failed: 1,
                disks_spare: 1,
                blocks_total: 195310144,
                blocks_synced: 16775552,
            }
        );
        assert_eq!((md("md7").disks_active, md("md7").disks_total), (3, 4));
        assert_eq!(md("md7").state, "active");
        assert_eq!((md("md11").state, md("md11").blocks_synced), ("resyncing", 0));
        assert_eq!((md("md126").disks_active, md("md126").disks_total), (2, 2));
        assert_eq!((md("md219").state, md("md219").disks_spare), ("inactive", 3));
        assert_eq!(arrays.len(), 10);
    }

    #[test]
    fn a_bad_array_costs_only_that_array() {
        let data = "Personalities : [raid1]
md0 : active raid1 sda1[0] sdb1[1]
      lots blocks [2/2] [UU]

md1 : active raid1 sdc1[0] sdd1[1]
      1000 blocks [2/2] [UU]

";
        let (arrays, error) = parse_mdstat(data);
        assert_eq!(arrays.len(), 1);
        assert_eq!(arrays[0].name, "md1");
        assert_eq!(
            error.unwrap().to_string(),
            "line 3: md0: unexpected status line \"      lots blocks [2/2] [UU]\""
        );
    }

    #[test]
    fn encodes_node_exporters_lines_with_sysfs() {
        let dir = tree(&[
            ("proc/mdstat", MDSTAT.as_bytes()),
            ("sys/block/md0/md/level", b"raid0\n"),
            ("sys/block/md0/md/raid_disks", b"2\n"),
            ("sys/block/md5/md/level", b"raid5\n"),
            ("sys/block/md5/md/raid_disks", b"3\n"),
            ("sys/block/md5/md/degraded", b"1\n"),
            ("sys/block/md9/md/level", b"container\n"),
            ("sys/block/sda/queue/rotational", b"1\n"),
        ]);
        let body = scrape_of("mdadm", build(&config_for(dir.path())).unwrap());
        let lines = samples(&body);
        // Lines of node_exporter 1.12's e2e-output.txt.
        for want in [
            "node_md_disks_required{device=\"md3\"} 8",
            "node_md_disks{device=\"md3\",state=\"active\"} 8",
            "node_md_disks{device=\"md3\",state=\"spare\"} 2",
            "node_md_disks{device=\"md7\",state=\"failed\"} 1",
            "node_md_state{device=\"md6\",state=\"recovering\"} 1",
            "node_md_state{device=\"md6\",state=\"active\"} 0",
            "node_md_state{device=\"md201\",state=\"check\"} 1",
            "node_md_state{device=\"md11\",state=\"resync\"} 1",
            "node_md_state{device=\"md219\",state=\"inactive\"} 1",
            "node_md_blocks{device=\"md7\"} 7813735424",
            "node_md_blocks_synced{device=\"md6\"} 16775552",
            "node_md_blocks_synced{device=\"md219\"} 7932",
            "node_md_raid_disks{device=\"md0\"} 2",
            "node_md_raid_disks{device=\"md5\"} 3",
            "node_md_degraded{device=\"md0\"} 0",
            "node_md_degraded{device=\"md5\"} 1",
            "node_md_degraded{device=\"md9\"} 0",
        ] {
            assert!(lines.contains(&want), "missing {want}:\n{body}");
        }
        // A container has no raid_disks.
        assert!(!body.contains("node_md_raid_disks{device=\"md9\"}"));
        assert!(body.contains("# HELP node_md_disks Number of active/failed/spare disks of device.\n# TYPE node_md_disks gauge\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"mdadm\"} 1\n"));
    }

    #[test]
    fn no_mdstat_is_no_data_logged_at_debug_only() {
        let dir = tree(&[]);
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("mdadm", build(&config_for(dir.path())).unwrap()));
        assert!(samples(&body).is_empty(), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"mdadm\"} 1\n"));
        assert!(!logs.contains("WARN"), "{logs}");
    }

    #[test]
    fn a_missing_sysfs_file_fails_the_collector_naming_it_but_keeps_the_rest() {
        let dir = tree(&[
            ("proc/mdstat", MDSTAT.as_bytes()),
            ("sys/block/md1/md/level", b"raid1\n"),
            ("sys/block/md1/md/raid_disks", b"2\n"),
            ("sys/block/md2/md/level", b"raid0\n"),
            ("sys/block/md2/md/raid_disks", b"2\n"),
        ]);
        let config = config_for(dir.path());
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("mdadm", build(&config).unwrap()));
        assert!(body.contains("node_md_raid_disks{device=\"md2\"} 2\n"), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"mdadm\"} 0\n"));
        let path = config.paths.sysfs.join("block/md1/md/degraded");
        assert!(logs.contains(&format!("error=reading {}: No such file", path.display())), "{logs}");
    }
}
