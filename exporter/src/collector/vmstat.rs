//! vmstat: `node_vmstat_<field>` (untyped, as node_exporter) for the lines of
//! `<procfs>/vmstat` whose name matches `--collector.vmstat.fields`.

use std::path::PathBuf;
use std::sync::Mutex;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::single_untyped;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
    compile_regex, parse_num, read_with,
};

/// `--collector.vmstat.fields`, node_exporter's flag and default.
pub const FIELDS: FlagSpec = FlagSpec::value(
    "--collector.vmstat.fields",
    "^(oom_kill|pgpg|pswp|pg.*fault).*",
    "Regexp of fields to return for vmstat collector.",
)
.checked(super::valid_regex);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "vmstat",
    default_enabled: true,
    help: "Virtual memory statistics from /proc/vmstat",
    flags: &[FIELDS],
    build,
};

/// Parses `/proc/vmstat` (`name value` per line). A line that is not `name number` costs that
/// line: it is skipped and its error returned alongside the rest.
pub fn parse_vmstat(data: &str) -> (Vec<(&str, i64)>, Option<ParseError>) {
    let mut out = Vec::with_capacity(200);
    let mut first_error = None;
    for (i, line) in data.lines().enumerate() {
        let n = i + 1;
        let mut parts = line.split_ascii_whitespace();
        let Some(name) = parts.next() else { continue };
        let parsed = match parts.next() {
            Some(v) => parse_num(n, name, v),
            None => Err(ParseError::new(n, format!("{name}: no value"))),
        };
        match parsed {
            Ok(v) => out.push((name, v)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    (out, first_error)
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(VmstatCollector {
        path: config.paths.procfs.join("vmstat"),
        fields: compile_regex(FIELDS.name, config.options.value(&FIELDS))?,
        names: Mutex::new(Vec::new()),
    }))
}

struct VmstatCollector {
    path: PathBuf,
    fields: regex::Regex,
    /// Per line of the last file: its field and, when the regex matched it, the rendered metric
    /// name and help. The kernel's fields are stable, so the regex runs once per field, not on
    /// every scrape.
    names: Mutex<Vec<Line>>,
}

struct Line {
    field: String,
    metric: Option<(String, String)>,
}

impl Collector for VmstatCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        read_with(&self.path, |data| {
            let (fields, error) = parse_vmstat(data);
            let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            names.truncate(fields.len());
            for (i, &(field, value)) in fields.iter().enumerate() {
                if names.get(i).is_none_or(|l| l.field != field) {
                    let metric = self.fields.is_match(field).then(|| {
                        (
                            format!("node_vmstat_{field}"),
                            format!("/proc/vmstat information field {field}."),
                        )
                    });
                    let line = Line {
                        field: field.to_owned(),
                        metric,
                    };
                    if i < names.len() {
                        names[i] = line;
                    } else {
                        names.push(line);
                    }
                }
                if let Some((name, help)) = &names[i].metric {
                    single_untyped(enc, name, help, value)?;
                }
            }
            match error {
                Some(e) => Err(CollectError::parse(&self.path, e)),
                None => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    /// Lines of node_exporter's fixture `proc/vmstat`.
    const REAL: &str = "nr_free_pages 977769
pgpgin 7344136
pgpgout 1541180581
pswpin 1476
pswpout 35045
pgalloc_dma 0
pgfault 2320168809
pgmajfault 507162
oom_kill 0
";

    fn scrape(files: &[(&str, &[u8])], fields: Option<&str>) -> String {
        let dir = tree(files);
        let mut config = config_for(dir.path());
        if let Some(f) = fields {
            config.options.set(&FIELDS, vec![f.to_owned()]);
        }
        scrape_of("vmstat", build(&config).unwrap())
    }

    #[test]
    fn default_fields_as_node_exporter() {
        let body = scrape(&[("proc/vmstat", REAL.as_bytes())], None);
        assert_eq!(
            samples(&body),
            [
                "node_vmstat_pgpgin 7344136",
                "node_vmstat_pgpgout 1541180581",
                "node_vmstat_pswpin 1476",
                "node_vmstat_pswpout 35045",
                "node_vmstat_pgfault 2320168809",
                "node_vmstat_pgmajfault 507162",
                "node_vmstat_oom_kill 0",
            ]
        );
        assert!(body.contains(
            "# HELP node_vmstat_oom_kill /proc/vmstat information field oom_kill.\n# TYPE node_vmstat_oom_kill unknown\n"
        ));
        assert!(body.contains("node_scrape_collector_success{collector=\"vmstat\"} 1\n"));
        let text = String::from_utf8(super::super::to_text_format(body.as_bytes())).unwrap();
        assert!(text.contains("# TYPE node_vmstat_oom_kill untyped\n"), "{text}");
    }

    #[test]
    fn the_fields_flag_picks_other_fields() {
        let body = scrape(
            &[("proc/vmstat", REAL.as_bytes())],
            Some("^nr_free|pgalloc"),
        );
        assert_eq!(
            samples(&body),
            ["node_vmstat_nr_free_pages 977769", "node_vmstat_pgalloc_dma 0"]
        );
        let dir = tree(&[]);
        let mut config = config_for(dir.path());
        config.options.set(&FIELDS, vec!["(".into()]);
        let err = build(&config).err().unwrap().to_string();
        assert!(
            err.starts_with("--collector.vmstat.fields: invalid regular expression \"(\""),
            "{err}"
        );
    }

    #[test]
    fn a_bad_line_costs_that_line_and_fails_the_collector() {
        let body = scrape(
            &[("proc/vmstat", b"pgfault 12\npgmajfault x\npswpin\noom_kill 3\n")],
            None,
        );
        assert_eq!(
            samples(&body),
            ["node_vmstat_pgfault 12", "node_vmstat_oom_kill 3"]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"vmstat\"} 0\n"));
        let (_, err) = parse_vmstat("pgfault 12\npgmajfault x\npswpin\n");
        assert_eq!(
            err.unwrap().to_string(),
            "line 2: pgmajfault: \"x\" is not a number"
        );
        assert_eq!(
            parse_vmstat("pswpin\n").1.unwrap().to_string(),
            "line 1: pswpin: no value"
        );
    }

    #[test]
    fn no_vmstat_file_fails() {
        let body = scrape(&[], None);
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"vmstat\"} 0\n"));
    }
}
