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
#[cfg(test)]
pub fn parse_vmstat(data: &str) -> (Vec<(&str, i64)>, Option<ParseError>) {
    let mut out = Vec::with_capacity(200);
    let first_error = each_field(data, |name, value| out.push((name, value)));
    (out, first_error)
}

/// Calls `f` with each `name value` line of a `/proc/vmstat`, in order; a line that is not
/// `name number` is skipped, and the first such line's error returned.
fn each_field<'a>(data: &'a str, mut f: impl FnMut(&'a str, i64)) -> Option<ParseError> {
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
            Ok(v) => f(name, v),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(VmstatCollector {
        path: config.paths.procfs.join("vmstat"),
        fields: compile_regex(FIELDS.name, config.options.value(&FIELDS))?,
        layout: Mutex::new(Layout::default()),
    }))
}

struct VmstatCollector {
    path: PathBuf,
    fields: regex::Regex,
    layout: Mutex<Layout>,
}

/// The last file's fields, and the metric name and help of those the regex matched. The
/// kernel's fields are stable, so the regex runs once per field, not on every scrape; the names
/// are kept one after another, so that checking ~190 of them is one pass over a few KB rather
/// than a visit to ~190 allocations (every scrape starts with cold caches).
#[derive(Default)]
struct Layout {
    /// Every field name, one after another.
    names: String,
    /// Per field, in file order: where its name ends in `names`, and the index in `metrics` of
    /// its rendered name and help when the regex matched it.
    fields: Vec<(usize, Option<usize>)>,
    metrics: Vec<(String, String)>,
}

impl Layout {
    /// The metric of field `i`, named `field`: the remembered one, or, when the file's `i`th field
    /// is not the one remembered, rendered again (and every field after it forgotten).
    fn metric(&mut self, i: usize, field: &str, wanted: &regex::Regex) -> Option<usize> {
        let start = match i {
            0 => 0,
            _ => self.fields[i - 1].0,
        };
        if let Some(&(end, metric)) = self.fields.get(i)
            && &self.names[start..end] == field
        {
            return metric;
        }
        self.fields.truncate(i);
        self.names.truncate(start);
        let kept = self.fields.iter().filter(|(_, m)| m.is_some()).count();
        self.metrics.truncate(kept);
        let metric = wanted.is_match(field).then(|| {
            self.metrics.push((
                format!("node_vmstat_{field}"),
                format!("/proc/vmstat information field {field}."),
            ));
            self.metrics.len() - 1
        });
        self.names.push_str(field);
        self.fields.push((self.names.len(), metric));
        metric
    }
}

impl Collector for VmstatCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        read_with(&self.path, |data| {
            let mut layout = self.layout.lock().unwrap_or_else(|p| p.into_inner());
            let mut written = Ok(());
            let mut i = 0;
            let error = each_field(data, |field, value| {
                let metric = layout.metric(i, field, &self.fields);
                i += 1;
                if let (Some(m), Ok(())) = (metric, &written) {
                    let (name, help) = &layout.metrics[m];
                    written = single_untyped(enc, name, help, value);
                }
            });
            written?;
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
    fn a_file_whose_fields_change_is_rendered_from_the_change_on() {
        let wanted = regex::Regex::new("^pg").unwrap();
        let mut layout = Layout::default();
        let names = |layout: &mut Layout, fields: &[&str]| -> Vec<Option<String>> {
            fields
                .iter()
                .enumerate()
                .map(|(i, f)| layout.metric(i, f, &wanted).map(|m| layout.metrics[m].0.clone()))
                .collect()
        };
        let vm = |s: &str| Some(format!("node_vmstat_{s}"));
        let first = ["nr_free", "pgfault", "oom_kill", "pgpgin"];
        assert_eq!(names(&mut layout, &first), [None, vm("pgfault"), None, vm("pgpgin")]);
        assert_eq!(names(&mut layout, &first), [None, vm("pgfault"), None, vm("pgpgin")]);
        assert_eq!(layout.metrics.len(), 2);
        // A field appears in the middle (a new kernel, or another file): the rest shift.
        let second = ["nr_free", "pgfault", "pgsteal", "oom_kill", "pgpgin", "pgpgout"];
        assert_eq!(
            names(&mut layout, &second),
            [None, vm("pgfault"), vm("pgsteal"), None, vm("pgpgin"), vm("pgpgout")]
        );
        assert_eq!(layout.names, "nr_freepgfaultpgstealoom_killpgpginpgpgout");
        // Another second field: everything from it on is forgotten and rendered again.
        assert_eq!(names(&mut layout, &["nr_free", "pgmajfault"]), [None, vm("pgmajfault")]);
        assert_eq!((layout.fields.len(), layout.metrics.len()), (2, 1));
        assert_eq!(layout.names, "nr_freepgmajfault");
    }

    #[test]
    fn no_vmstat_file_fails() {
        let body = scrape(&[], None);
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"vmstat\"} 0\n"));
    }
}
