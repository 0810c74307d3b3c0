//! bcachefs: `node_bcachefs_*` per filesystem from `<sysfs>/fs/bcachefs/<uuid>/` (btree cache,
//! compression, errors, every `counters/*` file, btree writes, and each `dev-*` device), as
//! node_exporter's bcachefs collector. No bcachefs: node_exporter's ErrNoData (nothing, logged
//! at debug; success stays 1, see `CollectError::NoData`).

use std::io;
use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::encode::{Families, Value};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, read_with};

/// bcachefs' sizes (`2.05G`, `28.2k`, `720`) in bytes, as prometheus/procfs reads them.
pub fn human_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, multiplier) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1u64 << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        b't' | b'T' => (&s[..s.len() - 1], 1 << 40),
        b'p' | b'P' => (&s[..s.len() - 1], 1 << 50),
        b'e' | b'E' => (&s[..s.len() - 1], 1 << 60),
        _ => (s, 1),
    };
    let value: f64 = digits.trim().parse().ok()?;
    Some((value * multiplier as f64) as u64)
}

/// node_exporter's SanitizeMetricName: each run of characters outside `[0-9A-Za-z_]`, with the
/// underscores around it, becomes one `_`.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_bad = false;
    let mut underscores = 0;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_bad {
                out.push('_');
            } else {
                out.extend(std::iter::repeat_n('_', underscores));
            }
            pending_bad = false;
            underscores = 0;
            out.push(c);
        } else if c == '_' {
            underscores += 1;
        } else {
            pending_bad = true;
        }
    }
    if pending_bad {
        out.push('_');
    } else {
        out.extend(std::iter::repeat_n('_', underscores));
    }
    out
}

fn bad(line: usize, what: &str, raw: &str) -> ParseError {
    ParseError::new(line, format!("{what}: {raw:?} is not a number"))
}

/// `compression_stats`: (algorithm, compressed bytes, uncompressed bytes), after the header.
pub fn parse_compression(data: &str) -> Result<Vec<(&str, u64, u64)>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in data.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let algorithm = f[0].trim_end_matches(':');
        let compressed = human_bytes(f[1]).ok_or_else(|| bad(i + 1, algorithm, f[1]))?;
        let uncompressed = human_bytes(f[2]).ok_or_else(|| bad(i + 1, algorithm, f[2]))?;
        out.push((algorithm, compressed, uncompressed));
    }
    Ok(out)
}

/// `errors`: (error type, count).
pub fn parse_errors(data: &str) -> Result<Vec<(&str, u64)>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in data.lines().enumerate() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 2 {
            continue;
        }
        out.push((f[0], f[1].parse().map_err(|_| bad(i + 1, f[0], f[1]))?));
    }
    Ok(out)
}

/// A `counters/<name>` file: its "since filesystem creation" figure (0 when only "since
/// mount" is there, as in procfs).
pub fn parse_counter(data: &str) -> Result<u64, ParseError> {
    let mut seen = false;
    let mut creation = 0;
    for (i, line) in data.lines().enumerate() {
        if let Some(v) = line.strip_prefix("since filesystem creation:") {
            creation = human_bytes(v).ok_or_else(|| bad(i + 1, "since filesystem creation", v))?;
            seen = true;
        } else if let Some(v) = line.strip_prefix("since mount:") {
            human_bytes(v).ok_or_else(|| bad(i + 1, "since mount", v))?;
            seen = true;
        }
    }
    if !seen {
        return Err(ParseError::new(0, "counter file format not recognized"));
    }
    Ok(creation)
}

/// `btree_write_stats`: (type, count, average size in bytes), after the header.
pub fn parse_btree_writes(data: &str) -> Result<Vec<(&str, u64, u64)>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in data.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let kind = f[0].trim_end_matches(':');
        let count = f[1].parse().map_err(|_| bad(i + 1, kind, f[1]))?;
        let size = human_bytes(f[2]).ok_or_else(|| bad(i + 1, kind, f[2]))?;
        out.push((kind, count, size));
    }
    Ok(out)
}

/// A device's `io_done`: (operation, data type, bytes).
pub fn parse_io_done(data: &str) -> Result<Vec<(&str, &str, u64)>, ParseError> {
    let mut out = Vec::new();
    let mut op = "";
    for (i, line) in data.lines().enumerate() {
        let line = line.trim();
        if line == "read:" || line == "write:" {
            op = line.trim_end_matches(':');
            continue;
        }
        let Some((kind, v)) = line.split_once(':').filter(|_| !op.is_empty()) else {
            continue;
        };
        let kind = kind.trim();
        let v = v.trim();
        out.push((op, kind, v.parse().map_err(|_| bad(i + 1, kind, v))?));
    }
    Ok(out)
}

/// A device's `io_errors`: the "since filesystem creation" section's (type, count).
pub fn parse_io_errors(data: &str) -> Result<Vec<(&str, u64)>, ParseError> {
    let mut out = Vec::new();
    let mut in_creation = false;
    for (i, line) in data.lines().enumerate() {
        if line.starts_with("IO errors since filesystem creation") {
            in_creation = true;
            continue;
        }
        if line.starts_with("IO errors since ") {
            break;
        }
        let Some((kind, v)) = line.trim().split_once(':').filter(|_| in_creation) else {
            continue;
        };
        let kind = kind.trim();
        let v = v.trim();
        out.push((kind, v.parse().map_err(|_| bad(i + 1, kind, v))?));
    }
    Ok(out)
}

/// Runs `parse` on `path`; a missing file gives `missing`, as procfs' openIfExists.
fn optional<T>(
    path: &Path,
    missing: T,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<T, CollectError> {
    match read_with(path, |d| parse(d).map_err(|e| CollectError::parse(path, e))) {
        Err(CollectError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(missing)
        }
        other => other,
    }
}

fn sorted_dir(dir: &Path) -> Result<Vec<(String, bool)>, CollectError> {
    let entries = super::held::list_dir(dir).map_err(|source| CollectError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut out: Vec<(String, bool)> = entries
        .into_iter()
        .filter_map(|e| {
            // A symlink to a directory (a device) counts as one, as Go's IsDir on sysfs does not;
            // metadata() follows it.
            let is_dir = super::absent::is_dir(&dir.join(&e.name));
            Some((e.name.into_string().ok()?, is_dir))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The fixed counter families, whose names a `counters/*` file must not take.
const FIXED_COUNTERS: [&str; 4] = [
    "node_bcachefs_errors",
    "node_bcachefs_btree_writes",
    "node_bcachefs_device_io_done_bytes",
    "node_bcachefs_device_io_errors",
];

/// Reads one filesystem into `f`. Everything is read before anything is added, so a garbled
/// file adds nothing of its filesystem.
fn read_fs(dir: &Path, uuid: &str, f: &mut Families) -> Result<(), CollectError> {
    let cache = optional(&dir.join("btree_cache_size"), 0, |d| {
        human_bytes(d).ok_or_else(|| bad(1, "btree_cache_size", d.trim()))
    })?;
    let owned = |v: Vec<(&str, u64, u64)>| -> Vec<(String, u64, u64)> {
        v.into_iter().map(|(a, b, c)| (a.to_owned(), b, c)).collect()
    };
    let compression = optional(&dir.join("compression_stats"), Vec::new(), |d| {
        parse_compression(d).map(owned)
    })?;
    let errors = optional(&dir.join("errors"), Vec::new(), |d| {
        parse_errors(d).map(|v| v.into_iter().map(|(a, b)| (a.to_owned(), b)).collect())
    })?;
    let mut counters = Vec::new();
    let counters_dir = dir.join("counters");
    if super::absent::is_dir(&counters_dir) {
        for (name, is_dir) in sorted_dir(&counters_dir)? {
            if !is_dir {
                let v = optional(&counters_dir.join(&name), 0, parse_counter)?;
                counters.push((name, v));
            }
        }
    }
    let writes = optional(&dir.join("btree_write_stats"), Vec::new(), |d| {
        parse_btree_writes(d).map(owned)
    })?;
    let mut devices = Vec::new();
    for (entry, is_dir) in sorted_dir(dir)? {
        let Some(device) = entry.strip_prefix("dev-").filter(|_| is_dir) else {
            continue;
        };
        let ddir = dir.join(&entry);
        let text = |file: &str| -> Result<String, CollectError> {
            optional(&ddir.join(file), String::new(), |d| Ok(d.trim().to_owned()))
        };
        let bucket_raw = text("bucket_size")?;
        let bucket = if bucket_raw.is_empty() {
            0
        } else {
            human_bytes(&bucket_raw).ok_or_else(|| {
                CollectError::parse(&ddir.join("bucket_size"), bad(1, "bucket_size", &bucket_raw))
            })?
        };
        let number = |file: &str| -> Result<u64, CollectError> {
            optional(&ddir.join(file), 0, |d| {
                d.trim().parse().map_err(|_| bad(1, file, d.trim()))
            })
        };
        let io_done: Vec<(String, String, u64)> =
            optional(&ddir.join("io_done"), Vec::new(), |d| {
                parse_io_done(d).map(|v| {
                    v.into_iter()
                        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c))
                        .collect()
                })
            })?;
        let io_errors: Vec<(String, u64)> = optional(&ddir.join("io_errors"), Vec::new(), |d| {
            parse_io_errors(d).map(|v| v.into_iter().map(|(a, b)| (a.to_owned(), b)).collect())
        })?;
        devices.push((
            device.to_owned(),
            text("label")?,
            text("state")?,
            bucket,
            number("nbuckets")?,
            number("durability")?,
            io_done,
            io_errors,
        ));
    }

    let u = || ("uuid", uuid.to_owned());
    let gauge = MetricType::Gauge;
    let counter = MetricType::Counter;
    f.add("node_bcachefs_info", "Filesystem information.", gauge, vec![u()], Value::U(1));
    f.add(
        "node_bcachefs_btree_cache_size_bytes",
        "Btree cache memory usage in bytes.",
        gauge,
        vec![u()],
        Value::U(cache),
    );
    for (algorithm, compressed, uncompressed) in compression {
        let labels = || vec![("algorithm", algorithm.clone()), u()];
        f.add(
            "node_bcachefs_compression_compressed_bytes",
            "Compressed size by algorithm.",
            gauge,
            labels(),
            Value::U(compressed),
        );
        f.add(
            "node_bcachefs_compression_uncompressed_bytes",
            "Uncompressed size by algorithm.",
            gauge,
            labels(),
            Value::U(uncompressed),
        );
    }
    for (kind, count) in errors {
        f.add(
            "node_bcachefs_errors",
            "Error count by error type.",
            counter,
            vec![("error_type", kind), u()],
            Value::U(count),
        );
    }
    for (name, v) in counters {
        let family = format!("node_bcachefs_{}", sanitize(&name));
        if FIXED_COUNTERS.contains(&family.as_str()) {
            continue;
        }
        f.add(
            family,
            format!("Bcachefs counter {name} since filesystem creation."),
            counter,
            vec![u()],
            Value::U(v),
        );
    }
    for (kind, count, size) in writes {
        f.add(
            "node_bcachefs_btree_writes",
            "Number of btree writes by type.",
            counter,
            vec![("type", kind.clone()), u()],
            Value::U(count),
        );
        f.add(
            "node_bcachefs_btree_write_average_size_bytes",
            "Average btree write size by type.",
            gauge,
            vec![("type", kind), u()],
            Value::U(size),
        );
    }
    for (device, label, state, bucket, buckets, durability, io_done, io_errors) in devices {
        let d = || ("device", device.clone());
        f.add(
            "node_bcachefs_device_info",
            "Device information.",
            gauge,
            vec![d(), ("label", label), ("state", state), u()],
            Value::U(1),
        );
        for (name, help, v) in [
            ("node_bcachefs_device_bucket_size_bytes", "Bucket size in bytes.", bucket),
            ("node_bcachefs_device_buckets", "Total number of buckets.", buckets),
            (
                "node_bcachefs_device_durability",
                "Device durability setting.",
                durability,
            ),
        ] {
            f.add(name, help, gauge, vec![d(), u()], Value::U(v));
        }
        for (op, kind, v) in io_done {
            f.add(
                "node_bcachefs_device_io_done_bytes",
                "IO bytes by operation type and data type.",
                counter,
                vec![("data_type", kind), d(), ("operation", op), u()],
                Value::U(v),
            );
        }
        for (kind, v) in io_errors {
            f.add(
                "node_bcachefs_device_io_errors",
                "IO errors by error type.",
                counter,
                vec![d(), ("type", kind), u()],
                Value::U(v),
            );
        }
    }
    Ok(())
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "bcachefs",
    default_enabled: true,
    help: "bcachefs statistics from /sys/fs/bcachefs",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(BcachefsCollector {
        root: config.paths.sysfs.join("fs/bcachefs"),
    }))
}

struct BcachefsCollector {
    root: PathBuf,
}

impl Collector for BcachefsCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let filesystems: Vec<String> = match sorted_dir(&self.root) {
            Ok(entries) => entries
                .into_iter()
                .filter(|(_, is_dir)| *is_dir)
                .map(|(n, _)| n)
                .collect(),
            Err(CollectError::Read { source, .. })
                if source.kind() == io::ErrorKind::NotFound =>
            {
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        if filesystems.is_empty() {
            return Err(CollectError::NoData(format!(
                "no bcachefs filesystem in {}",
                self.root.display()
            )));
        }
        // A filesystem with a garbled file is left out and reported; the others stay.
        let mut first_error = None;
        let mut families = Families::default();
        for uuid in &filesystems {
            if let Err(e) = read_fs(&self.root.join(uuid), uuid, &mut families) {
                first_error.get_or_insert(e);
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

    #[test]
    fn sizes_and_names_as_node_exporter_reads_them() {
        assert_eq!(human_bytes("2.05G"), Some(2201170739));
        assert_eq!(human_bytes("28.2k"), Some(28876));
        assert_eq!(human_bytes("720"), Some(720));
        assert_eq!(human_bytes("x"), None);
        assert_eq!(sanitize("btree_node_read"), "btree_node_read");
        assert_eq!(sanitize("io-read__-x"), "io_read_x");
        assert_eq!(sanitize("a.b"), "a_b");
    }

    const UUID: &str = "deadbeef-1234-5678-9012-abcdefabcdef";

    /// Trimmed copies of node_exporter's fixture filesystem (sys.ttar's fs/bcachefs).
    fn fixture() -> tempfile::TempDir {
        let fs = format!("sys/fs/bcachefs/{UUID}");
        let files: Vec<(String, &str)> = vec![
            (format!("{fs}/btree_cache_size"), "2.05G\n"),
            (
                format!("{fs}/compression_stats"),
                "typetype          compressed    uncompressed     average extent size\nlz4                    48.9G           71.2G                   62.5k\nincompressible         10.8T           10.8T                   90.4k\n",
            ),
            (
                format!("{fs}/errors"),
                "btree_node_data_missing                         2       1753593586\nbset_bad_csum                                   2       1767112063\n",
            ),
            (
                format!("{fs}/counters/accounting_key_to_wb_slowpath"),
                "since mount:                   39816825\nsince filesystem creation:     44105502\n",
            ),
            (
                format!("{fs}/btree_write_stats"),
                "                   nr        size\ninitial:           3298401   100k\ninit_next_bset:    4055926   28.2k\n",
            ),
            (format!("{fs}/dev-4/bucket_size"), "2.00M\n"),
            (format!("{fs}/dev-4/durability"), "1\n"),
            (format!("{fs}/dev-4/nbuckets"), "7629824\n"),
            (format!("{fs}/dev-4/label"), "disk-4\n"),
            (format!("{fs}/dev-4/state"), "[rw] ro evacuating spare \n"),
            (
                format!("{fs}/dev-4/io_done"),
                "read:\nsb          :       86016\nuser        :3770452246528\nwrite:\nsb          :      645120\n",
            ),
            (
                format!("{fs}/dev-4/io_errors"),
                "IO errors since filesystem creation\n  read:    197416\n  write:   205\n  checksum:0\nIO errors since 8 y ago\n  read:    1\n",
            ),
        ];
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_bytes()))
            .collect();
        tree(&files)
    }

    #[test]
    fn encodes_node_exporters_lines() {
        let dir = fixture();
        let body = scrape_of("bcachefs", build(&config_for(dir.path())).unwrap());
        let lines = samples(&body);
        let u = format!("uuid=\"{UUID}\"");
        // Lines of node_exporter 1.12's e2e-output.txt.
        for want in [
            format!("node_bcachefs_info{{{u}}} 1"),
            format!("node_bcachefs_btree_cache_size_bytes{{{u}}} 2201170739"),
            format!("node_bcachefs_compression_compressed_bytes{{algorithm=\"lz4\",{u}}} 52505975193"),
            format!("node_bcachefs_compression_uncompressed_bytes{{algorithm=\"incompressible\",{u}}} 11874725579980"),
            format!("node_bcachefs_errors_total{{error_type=\"bset_bad_csum\",{u}}} 2"),
            format!("node_bcachefs_accounting_key_to_wb_slowpath_total{{{u}}} 44105502"),
            format!("node_bcachefs_btree_writes_total{{type=\"init_next_bset\",{u}}} 4055926"),
            format!("node_bcachefs_btree_write_average_size_bytes{{type=\"init_next_bset\",{u}}} 28876"),
            format!("node_bcachefs_device_info{{device=\"4\",label=\"disk-4\",state=\"[rw] ro evacuating spare\",{u}}} 1"),
            format!("node_bcachefs_device_bucket_size_bytes{{device=\"4\",{u}}} 2097152"),
            format!("node_bcachefs_device_buckets{{device=\"4\",{u}}} 7629824"),
            format!("node_bcachefs_device_durability{{device=\"4\",{u}}} 1"),
            format!("node_bcachefs_device_io_done_bytes_total{{data_type=\"user\",device=\"4\",operation=\"read\",{u}}} 3770452246528"),
            format!("node_bcachefs_device_io_done_bytes_total{{data_type=\"sb\",device=\"4\",operation=\"write\",{u}}} 645120"),
            format!("node_bcachefs_device_io_errors_total{{device=\"4\",type=\"read\",{u}}} 197416"),
        ] {
            assert!(lines.contains(&want.as_str()), "missing {want}:\n{body}");
        }
        assert_eq!(body.matches("node_bcachefs_device_io_errors_total{").count(), 3);
        assert!(body.contains("# HELP node_bcachefs_accounting_key_to_wb_slowpath Bcachefs counter accounting_key_to_wb_slowpath since filesystem creation.\n# TYPE node_bcachefs_accounting_key_to_wb_slowpath counter\n"));
    }

    #[test]
    fn garbled_counter_costs_its_filesystem_and_none_is_no_data() {
        let dir = fixture();
        let path = dir
            .path()
            .join("sys/fs/bcachefs")
            .join(UUID)
            .join("counters/bkey_pack_pos_fail");
        std::fs::write(&path, "nothing to see\n").unwrap();
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("bcachefs", build(&config_for(dir.path())).unwrap()));
        assert!(samples(&body).is_empty(), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"bcachefs\"} 0\n"));
        assert!(logs.contains(&format!("error=parsing {}: line 0: counter file format not recognized", path.display())), "{logs}");

        let dir = tree(&[]);
        let logs = logs_of(|| body = scrape_of("bcachefs", build(&config_for(dir.path())).unwrap()));
        assert!(body.contains("node_scrape_collector_success{collector=\"bcachefs\"} 1\n"));
        assert!(!logs.contains("WARN"), "{logs}");
    }
}
