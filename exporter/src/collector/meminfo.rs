//! meminfo: `node_memory_<Field>[_bytes]` for every line of `<procfs>/meminfo`.

use std::path::PathBuf;
use std::sync::Mutex;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::single_gauge;
use super::{CollectorSpec, 
    CollectError, Collector, Config, ConfigError, ParseError, Shared, parse_num, read_with,
};

/// One line of `/proc/meminfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemField<'a> {
    /// The field name as the kernel writes it (`Active(anon)`).
    pub name: &'a str,
    /// Bytes when the line had a `kB` unit, else the raw count (`HugePages_Total`).
    pub value: u64,
    /// Whether the line had a unit (then the metric name gets `_bytes`).
    pub bytes: bool,
}

/// Parses `/proc/meminfo`; `kB` values are converted to bytes. A key seen twice gives one
/// series (a duplicate would make Prometheus reject the whole scrape) at its first position
/// with its last value, as node_exporter (procfs overwrites the field on each line); the
/// duplicate is logged.
pub fn parse_meminfo(data: &str) -> Result<Vec<MemField<'_>>, ParseError> {
    let mut out: Vec<MemField<'_>> = Vec::with_capacity(64);
    // Per hash of a name, 1 + the index in `out` of the first name with it (0: none yet).
    let mut first = [0u8; 256];
    for (i, line) in data.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| ParseError::new(n, format!("no ':' in {line:?}")))?;
        let mut parts = rest.split_ascii_whitespace();
        let value = parts
            .next()
            .ok_or_else(|| ParseError::new(n, format!("{name}: no value")))?;
        let value: u64 = parse_num(n, name, value)?;
        let (value, bytes) = match parts.next() {
            None => (value, false),
            Some("kB") => (
                value
                    .checked_mul(1024)
                    .ok_or_else(|| ParseError::new(n, format!("{name}: {value} kB overflows")))?,
                true,
            ),
            Some(unit) => return Err(ParseError::new(n, format!("{name}: unknown unit {unit:?}"))),
        };
        let name = name.trim();
        // A name's first line, by a hash of the name: a look at one earlier line, and a search
        // of all of them only when two names share a slot (or there are over 255 lines).
        let slot = &mut first[usize::from(name_hash(name))];
        let earlier = match *slot {
            0 => None,
            s if out[usize::from(s) - 1].name == name => Some(usize::from(s) - 1),
            _ => out.iter().position(|f| f.name == name),
        };
        if let Some(seen) = earlier {
            tracing::warn!(line = n, field = name, "meminfo: duplicate field, last value kept");
            out[seen] = MemField { name, value, bytes };
            continue;
        }
        if *slot == 0 {
            *slot = u8::try_from(out.len() + 1).unwrap_or(0);
        }
        out.push(MemField { name, value, bytes });
    }
    if out.is_empty() {
        return Err(ParseError::new(0, "no fields"));
    }
    Ok(out)
}

/// A byte of a meminfo name's length and ends: the ~60 names of a kernel mostly differ in it.
fn name_hash(name: &str) -> u8 {
    let b = name.as_bytes();
    let (first, last) = (b.first().copied().unwrap_or(0), b.last().copied().unwrap_or(0));
    let mid = b.get(b.len() / 2).copied().unwrap_or(0);
    (b.len() as u8)
        .wrapping_mul(31)
        .wrapping_add(first.wrapping_mul(7))
        .wrapping_add(mid.wrapping_mul(3))
        .wrapping_add(last)
}

/// The value of one field (bytes for `kB` fields), if present.
pub fn get(fields: &[MemField<'_>], name: &str) -> Option<u64> {
    fields.iter().find(|f| f.name == name).map(|f| f.value)
}

/// node_exporter's metric name for a field: `Active(anon)` -> `node_memory_Active_anon_bytes`,
/// `HugePages_Total` (no unit) -> `node_memory_HugePages_Total`. Any other character outside
/// Prometheus' name alphabet `[a-zA-Z0-9_:]` becomes `_`, so an odd kernel field
/// (`Weird field name`) still gives a name Prometheus accepts.
pub fn metric_name(field: &MemField<'_>) -> String {
    let mut name = String::with_capacity(field.name.len() + 20);
    name.push_str("node_memory_");
    for c in field.name.chars() {
        match c {
            '(' => name.push('_'),
            ')' => {}
            c if c.is_ascii_alphanumeric() || c == '_' || c == ':' => name.push(c),
            _ => name.push('_'),
        }
    }
    if field.bytes {
        name.push_str("_bytes");
    }
    name
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "meminfo",
    default_enabled: true,
    help: "Memory statistics from /proc/meminfo",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(MeminfoCollector {
        path: config.paths.procfs.join("meminfo"),
        names: Mutex::new(Vec::new()),
    }))
}

struct MeminfoCollector {
    path: PathBuf,
    /// (field, bytes?, metric name, help) in file order; the kernel's order is stable, so
    /// the names are rendered once rather than on every scrape.
    names: Mutex<Vec<Rendered>>,
}

struct Rendered {
    field: String,
    bytes: bool,
    name: String,
    help: String,
}

impl Collector for MeminfoCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        read_with(&self.path, |data| {
            let fields = parse_meminfo(data).map_err(|e| CollectError::parse(&self.path, e))?;
            let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            for (i, field) in fields.iter().enumerate() {
                let fresh = names
                    .get(i)
                    .is_some_and(|r| r.field == field.name && r.bytes == field.bytes);
                if !fresh {
                    let name = metric_name(field);
                    let help = format!(
                        "Memory information field {}.",
                        &name["node_memory_".len()..]
                    );
                    let rendered = Rendered {
                        field: field.name.to_owned(),
                        bytes: field.bytes,
                        name,
                        help,
                    };
                    if i < names.len() {
                        names[i] = rendered;
                    } else {
                        names.push(rendered);
                    }
                }
                let r = &names[i];
                single_gauge(enc, &r.name, &r.help, field.value)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, tree};
    use super::*;

    const REAL: &str = "MemTotal:        2014432 kB
MemFree:          123456 kB
Active(anon):       1572 kB
HugePages_Total:       0
HugePages_Free:        0
Hugepagesize:       2048 kB
DirectMap1G:     1048576 kB
";

    #[test]
    fn parses_units_and_names_as_node_exporter() {
        let fields = parse_meminfo(REAL).unwrap();
        assert_eq!(fields.len(), 7);
        assert_eq!(get(&fields, "MemTotal"), Some(2014432 * 1024));
        assert_eq!(get(&fields, "HugePages_Total"), Some(0));
        let names: Vec<_> = fields.iter().map(metric_name).collect();
        assert_eq!(
            names,
            [
                "node_memory_MemTotal_bytes",
                "node_memory_MemFree_bytes",
                "node_memory_Active_anon_bytes",
                "node_memory_HugePages_Total",
                "node_memory_HugePages_Free",
                "node_memory_Hugepagesize_bytes",
                "node_memory_DirectMap1G_bytes",
            ]
        );
    }

    #[test]
    fn encodes_every_field_as_a_gauge() {
        let dir = tree(&[("proc/meminfo", REAL.as_bytes())]);
        let collector = build(&config_for(dir.path())).unwrap();
        let scraper = super::super::testutil::scraper_of("meminfo", collector);
        // Twice: the second scrape uses the names rendered by the first.
        for _ in 0..2 {
            let body = String::from_utf8(scraper.scrape()).unwrap();
            assert_eq!(
                samples(&body),
                [
                    "node_memory_MemTotal_bytes 2062778368",
                    "node_memory_MemFree_bytes 126418944",
                    "node_memory_Active_anon_bytes 1609728",
                    "node_memory_HugePages_Total 0",
                    "node_memory_HugePages_Free 0",
                    "node_memory_Hugepagesize_bytes 2097152",
                    "node_memory_DirectMap1G_bytes 1073741824",
                ]
            );
            assert!(body.contains(
                "# HELP node_memory_Active_anon_bytes Memory information field Active_anon_bytes.\n# TYPE node_memory_Active_anon_bytes gauge\n"
            ));
        }
        // A kernel with other fields re-renders the names.
        std::fs::write(dir.path().join("proc/meminfo"), "Zswap:  4 kB\n").unwrap();
        let body = String::from_utf8(scraper.scrape()).unwrap();
        assert_eq!(samples(&body), ["node_memory_Zswap_bytes 4096"]);
    }

    #[test]
    fn odd_field_names_become_valid_metric_names() {
        let fields =
            parse_meminfo("Weird field name: 5 kB\nÜber-Feld/x: 1\nActive(anon): 2 kB\n").unwrap();
        let names: Vec<_> = fields.iter().map(metric_name).collect();
        assert_eq!(
            names,
            [
                "node_memory_Weird_field_name_bytes",
                "node_memory__ber_Feld_x",
                "node_memory_Active_anon_bytes",
            ]
        );
    }

    fn scrape(meminfo: &str) -> String {
        let dir = tree(&[("proc/meminfo", meminfo.as_bytes())]);
        super::super::testutil::scrape_of("meminfo", build(&config_for(dir.path())).unwrap())
    }

    #[test]
    fn a_duplicated_field_gives_one_series_with_the_last_value() {
        let fields = parse_meminfo("MemTotal: 1 kB\nMemFree: 2 kB\nMemTotal: 3 kB\n").unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(get(&fields, "MemTotal"), Some(3072));
        assert_eq!(get(&fields, "MemFree"), Some(2048));
        let body = scrape("MemTotal: 1 kB\nMemFree: 2 kB\nMemTotal: 3 kB\n");
        assert_eq!(
            samples(&body),
            ["node_memory_MemTotal_bytes 3072", "node_memory_MemFree_bytes 2048"]
        );
        assert_eq!(body.matches("# TYPE node_memory_MemTotal_bytes gauge\n").count(), 1);
        assert!(body.contains("node_scrape_collector_success{collector=\"meminfo\"} 1\n"));
    }

    /// Hundreds of names, many sharing a slot of the duplicate check, some repeated: each
    /// comes once, at its first position, with its last value.
    #[test]
    fn duplicates_are_found_among_many_names() {
        let mut text = String::new();
        let mut expected: Vec<(String, u64)> = Vec::new();
        for i in 0..400u64 {
            // Every seventh line repeats an earlier name.
            let name = if i % 7 == 6 { format!("F{}", i / 3) } else { format!("F{i}") };
            text.push_str(&format!("{name}: {i}\n"));
            match expected.iter_mut().find(|(n, _)| *n == name) {
                Some(seen) => seen.1 = i,
                None => expected.push((name, i)),
            }
        }
        let fields = parse_meminfo(&text).unwrap();
        let got: Vec<(String, u64)> = fields.iter().map(|f| (f.name.to_owned(), f.value)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_field_with_a_space_gives_a_valid_name() {
        let body = scrape("MemTotal: 1 kB\nWeird field name: 5 kB\n");
        assert_eq!(
            samples(&body),
            [
                "node_memory_MemTotal_bytes 1024",
                "node_memory_Weird_field_name_bytes 5120"
            ]
        );
        assert!(body.contains(
            "# HELP node_memory_Weird_field_name_bytes Memory information field Weird_field_name_bytes.\n# TYPE node_memory_Weird_field_name_bytes gauge\n"
        ));
        // Every sample line is `name value` with a name in Prometheus' alphabet.
        for line in samples(&body) {
            let (name, value) = line.split_once(' ').unwrap();
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
                "{line}"
            );
            value.parse::<f64>().unwrap();
        }
    }

    #[test]
    fn hostile_meminfos_are_errors_with_line_numbers() {
        let huge = format!("MemTotal: {} kB\n", u64::MAX / 512);
        for (input, want) in [
            ("", "line 0: no fields".to_owned()),
            ("\n\n", "line 0: no fields".to_owned()),
            (
                "MemTotal 2014432 kB\n",
                "line 1: no ':' in \"MemTotal 2014432 kB\"".to_owned(),
            ),
            ("MemTotal:\n", "line 1: MemTotal: no value".to_owned()),
            (
                "MemTotal: 1 kB\nMemFree: -1 kB\n",
                "line 2: MemFree: \"-1\" is not a number".to_owned(),
            ),
            (
                "MemTotal: 20 MB\n",
                "line 1: MemTotal: unknown unit \"MB\"".to_owned(),
            ),
            (
                "MemTotal: 99999999999999999999999 kB\n",
                "line 1: MemTotal: \"99999999999999999999999\" is not a number".to_owned(),
            ),
            (
                huge.as_str(),
                format!("line 1: MemTotal: {} kB overflows", u64::MAX / 512),
            ),
            ("MemTot", "line 1: no ':' in \"MemTot\"".to_owned()),
        ] {
            assert_eq!(
                parse_meminfo(input).unwrap_err().to_string(),
                want,
                "{input:?}"
            );
        }
    }
}
