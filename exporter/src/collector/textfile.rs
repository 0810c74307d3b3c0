//! textfile: the `*.prom` files of each `--collector.textfile.directory` merged into the scrape,
//! with `node_textfile_mtime_seconds{file}` per file served and `node_textfile_scrape_error`,
//! as node_exporter's collector/textfile.go.
//!
//! A file is served whole or not at all: one that is malformed (it names the line), has
//! client-side timestamps, or has a family that clashes with a collector's family or another
//! file's is dropped, logged at warn with its path and line, and `node_textfile_scrape_error`
//! is 1; the rest of the scrape is served. (node_exporter drops only the clashing family of a
//! file whose HELP differs from another's; here the whole file goes, so a file never shows up
//! half.) SortedFamilies of one name from several files merge when their type agrees and their HELP
//! does (or is absent), as node_exporter's do.
//!
//! The collector runs after all others ([`Collector::runs_last`]) so it can see every family
//! they wrote, and writes its parsed families straight into the body: prometheus-client's
//! encoder has no summary type and formats values its own way.

use std::collections::{BTreeMap, HashMap, HashSet};
#[cfg(test)]
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family, single_gauge};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
    read_with, with_body,
};

pub(super) const DIRECTORY: FlagSpec = FlagSpec::repeated(
    "--collector.textfile.directory",
    "Directory to read text files with metrics from, supports glob matching. (repeatable)",
);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "textfile",
    default_enabled: true,
    help: "Metrics from the *.prom files of --collector.textfile.directory",
    flags: &[DIRECTORY],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(TextfileCollector {
        directories: config.options.values(&DIRECTORY).to_vec(),
    }))
}

/// A family's type, as a text-format `# TYPE` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Untyped,
    Summary,
    Histogram,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s.to_ascii_lowercase().as_str() {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "untyped" => Kind::Untyped,
            "summary" => Kind::Summary,
            "histogram" => Kind::Histogram,
            _ => return None,
        })
    }

    /// The OpenMetrics type name (untyped is `unknown` there).
    fn openmetrics(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Untyped => "unknown",
            Kind::Summary => "summary",
            Kind::Histogram => "histogram",
        }
    }

    /// The suffixes its samples carry besides the bare name.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Kind::Counter => &["_total"],
            Kind::Gauge | Kind::Untyped => &[],
            Kind::Summary => &["_sum", "_count"],
            Kind::Histogram => &["_bucket", "_sum", "_count"],
        }
    }
}

/// One sample group: a counter/gauge/untyped sample, or one summary or histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Sorted by name; a label another series of the family has is filled in as `""`, as
    /// node_exporter does. Without `quantile` or `le`.
    pub labels: Vec<(String, String)>,
    /// The value of a counter, gauge or untyped sample.
    pub value: f64,
    /// (quantile, value) of a summary or (le, cumulative count) of a histogram, sorted.
    pub points: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
    /// The line it was first seen on.
    pub line: usize,
}

/// One parsed family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// As the file names it (a counter's may end in `_total`).
    pub name: String,
    pub kind: Kind,
    /// `None` when absent or empty.
    pub help: Option<String>,
    pub series: Vec<Series>,
    /// The line of its first HELP, TYPE or sample.
    pub line: usize,
    typed: bool,
}

impl Family {
    /// Its name in OpenMetrics: a counter's without `_total` (its samples get it back).
    pub fn openmetrics_name(&self) -> &str {
        match self.name.strip_suffix("_total") {
            Some(base) if self.kind == Kind::Counter && !base.is_empty() => base,
            _ => &self.name,
        }
    }
}

fn is_name_start(c: u8, colon: bool) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || (colon && c == b':')
}

fn is_name_char(c: u8, colon: bool) -> bool {
    is_name_start(c, colon) || c.is_ascii_digit()
}

/// Splits a metric (`colon`) or label name off the start of `s`.
fn take_name(s: &str, colon: bool) -> (&str, &str) {
    let b = s.as_bytes();
    if b.first().is_none_or(|&c| !is_name_start(c, colon)) {
        return ("", s);
    }
    let end = b
        .iter()
        .position(|&c| !is_name_char(c, colon))
        .unwrap_or(b.len());
    s.split_at(end)
}

fn blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// A float as Go's `strconv.ParseFloat` takes it (`+Inf`, `NaN` included).
fn parse_float(s: &str) -> Option<f64> {
    s.parse().ok()
}

/// Parses one file in the Prometheus text format (0.0.4), as node_exporter's parser
/// (expfmt.TextParser) does: families in the order first seen, a sample's family found by its
/// name or, for `_sum`/`_count`/`_bucket`, by its summary's or histogram's name. A timestamp
/// is an error here (node_exporter refuses such files too).
pub fn parse_textfile(data: &str) -> Result<Vec<Family>, ParseError> {
    let mut families: Vec<Family> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, raw) in data.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.trim_start_matches(blank);
        if line.trim_end_matches(blank).is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start_matches(blank);
            let (keyword, rest) = comment.split_at(comment.find(blank).unwrap_or(comment.len()));
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let rest = rest.trim_start_matches(blank);
            let (name, rest) = take_name(rest, true);
            if name.is_empty() {
                return Err(ParseError::new(
                    n,
                    format!("{keyword} line without a valid metric name"),
                ));
            }
            if !rest.is_empty() && !rest.starts_with(blank) {
                return Err(ParseError::new(
                    n,
                    format!("invalid metric name in {keyword} line: {:?}", name.to_owned() + rest),
                ));
            }
            let rest = rest.trim_start_matches(blank);
            let f = family_for(&mut families, &mut index, name, n);
            let family = &mut families[f];
            if keyword == "HELP" {
                if family.help.is_some() {
                    return Err(ParseError::new(
                        n,
                        format!("second HELP line for metric name {name:?}"),
                    ));
                }
                let help = unescape_help(rest).map_err(|m| ParseError::new(n, m))?;
                // An empty HELP counts as none (node_exporter then writes its own).
                family.help = Some(help).filter(|h| !h.is_empty());
            } else {
                if family.typed || !family.series.is_empty() {
                    return Err(ParseError::new(
                        n,
                        format!(
                            "second TYPE line for metric name {name:?}, or TYPE reported after samples"
                        ),
                    ));
                }
                let kind = rest.trim_end_matches(blank);
                family.kind = Kind::parse(kind)
                    .ok_or_else(|| ParseError::new(n, format!("unknown metric type {kind:?}")))?;
                family.typed = true;
            }
            continue;
        }
        parse_sample(line, n, &mut families, &mut index)?;
    }
    for family in &mut families {
        fill_labels(family);
        check_duplicates(family)?;
    }
    Ok(families)
}

/// The index of the family named `name`, created (untyped) if new.
fn family_for(
    families: &mut Vec<Family>,
    index: &mut HashMap<String, usize>,
    name: &str,
    line: usize,
) -> usize {
    if let Some(&i) = index.get(name) {
        return i;
    }
    families.push(Family {
        name: name.to_owned(),
        kind: Kind::Untyped,
        help: None,
        series: Vec::new(),
        line,
        typed: false,
    });
    index.insert(name.to_owned(), families.len() - 1);
    families.len() - 1
}

/// What a sample line adds to its family.
enum Part {
    Value,
    Sum,
    Count,
    Point(f64),
}

fn parse_sample(
    line: &str,
    n: usize,
    families: &mut Vec<Family>,
    index: &mut HashMap<String, usize>,
) -> Result<(), ParseError> {
    let err = |m: String| ParseError::new(n, m);
    let (name, rest) = take_name(line, true);
    if name.is_empty() {
        return Err(err(format!("invalid metric name in {line:?}")));
    }
    let (mut labels, rest) = match rest.trim_start_matches(blank).strip_prefix('{') {
        Some(inner) => parse_labels(inner).map_err(|m| err(format!("{name}: {m}")))?,
        None => (Vec::new(), rest),
    };
    if !rest.is_empty() && !rest.starts_with(blank) {
        return Err(err(format!("{name}: expected a value after the name, found {rest:?}")));
    }
    let mut fields = rest.split(blank).filter(|s| !s.is_empty());
    let value = fields
        .next()
        .ok_or_else(|| err(format!("{name}: no value")))?;
    let value =
        parse_float(value).ok_or_else(|| err(format!("{name}: value {value:?} is not a number")))?;
    if let Some(ts) = fields.next() {
        return Err(err(if ts.parse::<i64>().is_ok() {
            format!("{name}: client-side timestamps are not supported (the whole file is skipped)")
        } else {
            format!("{name}: timestamp {ts:?} is not an integer")
        }));
    }
    if let Some(extra) = fields.next() {
        return Err(err(format!("{name}: unexpected {extra:?} after the value")));
    }

    // The family: by its own name, else as a summary's or histogram's _sum/_count/_bucket.
    let mut found = index.get(name).map(|&i| (i, None));
    if found.is_none() {
        for suffix in ["_sum", "_count", "_bucket"] {
            let Some(base) = name.strip_suffix(suffix) else {
                continue;
            };
            if let Some(&i) = index.get(base) {
                let kind = families[i].kind;
                if kind == Kind::Histogram || (kind == Kind::Summary && suffix != "_bucket") {
                    found = Some((i, Some(suffix)));
                }
            }
        }
    }
    let (f, suffix) = match found {
        Some(x) => x,
        None => (family_for(families, index, name, n), None),
    };
    let family = &mut families[f];
    let part = match (family.kind, suffix) {
        (Kind::Summary | Kind::Histogram, Some("_sum")) => Part::Sum,
        (Kind::Summary | Kind::Histogram, Some("_count")) => Part::Count,
        (Kind::Summary, None) | (Kind::Histogram, Some("_bucket")) => {
            let key = if family.kind == Kind::Summary { "quantile" } else { "le" };
            let pos = labels
                .iter()
                .position(|(k, _)| k == key)
                .ok_or_else(|| err(format!("{name}: no {key:?} label")))?;
            let (_, v) = labels.remove(pos);
            let bound = parse_float(&v)
                .ok_or_else(|| err(format!("{name}: {key}={v:?} is not a number")))?;
            Part::Point(bound)
        }
        (Kind::Histogram, None) => {
            return Err(err(format!(
                "{name}: a histogram's samples are {name}_bucket, {name}_sum and {name}_count"
            )));
        }
        _ => Part::Value,
    };
    if matches!(part, Part::Count | Part::Point(_)) && family.kind == Kind::Histogram
        || matches!(part, Part::Count) && family.kind == Kind::Summary
    {
        // node_exporter keeps counts as unsigned integers.
        if value.is_nan() || value < 0.0 {
            return Err(err(format!("{name}: a count must not be negative, found {value}")));
        }
    }
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    if matches!(part, Part::Value) {
        family.series.push(Series {
            labels,
            value,
            points: Vec::new(),
            sum: 0.0,
            count: 0.0,
            line: n,
        });
        return Ok(());
    }
    // A summary's or histogram's lines group by their labels; usually they are adjacent.
    let i = match family.series.iter().rposition(|s| s.labels == labels) {
        Some(i) => i,
        None => {
            family.series.push(Series {
                labels,
                value: 0.0,
                points: Vec::new(),
                sum: 0.0,
                count: 0.0,
                line: n,
            });
            family.series.len() - 1
        }
    };
    let series = &mut family.series[i];
    match part {
        Part::Sum => series.sum = value,
        Part::Count => series.count = value.trunc(),
        Part::Point(bound) => {
            let value = if family.kind == Kind::Histogram {
                value.trunc()
            } else {
                value
            };
            // A repeated bound replaces the earlier one, as in node_exporter's map.
            match series.points.iter_mut().find(|(b, _)| b.total_cmp(&bound).is_eq()) {
                Some(p) => p.1 = value,
                None => series.points.push((bound, value)),
            }
        }
        Part::Value => unreachable!("handled above"),
    }
    Ok(())
}

type Labels = Vec<(String, String)>;

/// Parses `name="value",...}` (after the `{`), returning the labels and what follows the `}`.
fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Labels::new();
    loop {
        s = s.trim_start_matches(blank);
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let (name, rest) = take_name(s, false);
        if name.is_empty() {
            return Err(format!("invalid label name at {s:?}"));
        }
        if name == "__name__" {
            return Err("label name \"__name__\" is reserved".into());
        }
        if labels.iter().any(|(k, _)| k == name) {
            return Err(format!("label {name:?} given twice"));
        }
        let rest = rest.trim_start_matches(blank);
        let rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("expected '=' after label {name:?}"))?
            .trim_start_matches(blank);
        let rest = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name:?}: the value must be in double quotes"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {name:?}: unterminated value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => {
                        let c = other.map_or(String::new(), |(_, c)| c.to_string());
                        return Err(format!("label {name:?}: invalid escape sequence '\\{c}'"));
                    }
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((name.to_owned(), value));
        s = rest[end + 1..].trim_start_matches(blank);
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {name:?}"));
        }
    }
}

/// HELP text escapes: `\\` and `\n` only, as the text format has them.
fn unescape_help(s: &str) -> Result<String, String> {
    if !s.contains('\\') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            other => {
                let c = other.map_or(String::new(), String::from);
                return Err(format!("invalid escape sequence '\\{c}' in HELP"));
            }
        }
    }
    Ok(out)
}

/// Gives every series of the family the same label names, a missing one as `""`, as
/// node_exporter does; then sorts the series as its registry does (label count, then values).
fn fill_labels(family: &mut Family) {
    let mut names: Vec<&str> = Vec::new();
    for s in &family.series {
        for (k, _) in &s.labels {
            if !names.contains(&k.as_str()) {
                names.push(k);
            }
        }
    }
    let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
    for s in &mut family.series {
        if s.labels.len() < names.len() {
            for k in &names {
                if !s.labels.iter().any(|(have, _)| have == k) {
                    s.labels.push((k.clone(), String::new()));
                }
            }
            s.labels.sort_by(|a, b| a.0.cmp(&b.0));
        }
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
}

/// A series' identity: its labels without the empty ones (Prometheus' view: `""` = absent).
fn identity(s: &Series) -> Vec<(&str, &str)> {
    s.labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn check_duplicates(family: &Family) -> Result<(), ParseError> {
    let mut seen = HashSet::with_capacity(family.series.len());
    for s in &family.series {
        if !seen.insert(identity(s)) {
            return Err(ParseError::new(
                s.line,
                format!("{}: a second sample with the same labels", family.name),
            ));
        }
    }
    Ok(())
}

struct TextfileCollector {
    directories: Vec<String>,
}

/// A family merged from one or more files.
struct Merged {
    kind: Kind,
    help: Option<String>,
    files: Vec<String>,
    series: Vec<Series>,
}

/// One file read and parsed.
struct Parsed {
    /// The directory joined with the file name: the `file` label and what HELP and logs show.
    path: String,
    families: Vec<Family>,
    mtime: i64,
}

impl Collector for TextfileCollector {
    fn runs_last(&self) -> bool {
        true
    }

    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let mut errored = false;
        let mut parsed = Vec::new();
        for dir in self.directories.iter().flat_map(|d| expand(d)) {
            let mut names = match std::fs::read_dir(&dir) {
                Ok(entries) => entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name())
                    .filter(|n| n.as_encoded_bytes().ends_with(b".prom"))
                    .collect::<Vec<_>>(),
                Err(e) => {
                    errored = true;
                    tracing::warn!(path = %dir.display(), error = %e, "textfile: cannot read the directory");
                    continue;
                }
            };
            names.sort();
            for name in names {
                match read_file(&dir.join(&name)) {
                    Ok(p) => parsed.push(p),
                    Err(e) => {
                        errored = true;
                        tracing::warn!(error = %e, "textfile: file skipped");
                    }
                }
            }
        }

        let mut mtimes = Vec::with_capacity(parsed.len());
        if !parsed.is_empty() {
            let (merged, verdicts) = with_body(|body| merge(body, parsed));
            for (path, mtime, clash) in verdicts {
                match clash {
                    None => mtimes.push((path, mtime)),
                    Some(message) => {
                        errored = true;
                        tracing::warn!(file = %path, error = %message, "textfile: file skipped");
                    }
                }
            }
            with_body(|body| {
                for (name, family) in &merged {
                    write_family(body, name, family);
                }
            });
        }
        if !mtimes.is_empty() {
            mtimes.sort();
            let mut family = gauge_family(
                enc,
                "node_textfile_mtime_seconds",
                "Unixtime mtime of textfiles successfully read.",
            )?;
            for (path, mtime) in &mtimes {
                gauge(&mut family, &[("file", path.as_str())], *mtime)?;
            }
        }
        single_gauge(
            enc,
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
            u32::from(errored),
        )?;
        Ok(())
    }
}

/// A directory flag's value: the directories its glob matches, else itself (node_exporter
/// hands a pattern without a match to ReadDir as it is).
fn expand(pattern: &str) -> Vec<PathBuf> {
    if pattern.is_empty() {
        return Vec::new();
    }
    if pattern.contains(['*', '?', '[']) {
        let matches = glob(pattern);
        if !matches.is_empty() {
            return matches;
        }
    }
    vec![PathBuf::from(pattern)]
}

/// glob(3): the paths matching `pattern`, sorted.
fn glob(pattern: &str) -> Vec<PathBuf> {
    use std::ffi::{CStr, CString, OsStr};
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = CString::new(pattern) else {
        return Vec::new();
    };
    // SAFETY: glob_t is plain data that glob() fills; globfree releases what it allocated,
    // and the paths are copied out before that.
    unsafe {
        let mut g: libc::glob_t = std::mem::zeroed();
        let mut out = Vec::new();
        if libc::glob(c.as_ptr(), 0, None, &mut g) == 0 {
            for i in 0..g.gl_pathc {
                let p = *g.gl_pathv.add(i);
                if !p.is_null() {
                    out.push(PathBuf::from(OsStr::from_bytes(CStr::from_ptr(p).to_bytes())));
                }
            }
        }
        libc::globfree(&mut g);
        out
    }
}

fn read_file(path: &Path) -> Result<Parsed, CollectError> {
    let families = read_with(path, |data| {
        parse_textfile(data).map_err(|e| CollectError::parse(path, e))
    })?;
    // Stat only once parsed, so a failing file does not look fresh.
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|source| CollectError::Read {
            path: path.to_owned(),
            source,
        })?;
    let mtime = match mtime.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    Ok(Parsed {
        path: path.to_string_lossy().into_owned(),
        families,
        mtime,
    })
}

/// The families the body so far declares, by OpenMetrics name, with their TYPE.
fn exposed(body: &str) -> HashMap<&str, &str> {
    let mut out = HashMap::new();
    for (at, _) in body.match_indices("# TYPE ") {
        if at != 0 && body.as_bytes()[at - 1] != b'\n' {
            continue;
        }
        let line = &body[at + 7..];
        let line = &line[..line.find('\n').unwrap_or(line.len())];
        if let Some((name, kind)) = line.split_once(' ') {
            out.insert(name, kind);
        }
    }
    // Written after this collector: the meta metrics and its own.
    for name in [
        "node_scrape_collector_duration_seconds",
        "node_scrape_collector_success",
        "vpsmon_exporter_build_info",
        "node_textfile_mtime_seconds",
        "node_textfile_scrape_error",
    ] {
        out.insert(name, "gauge");
    }
    out
}

/// Whether a family of type `kind` named `family` takes the name `sample` (its own name, or
/// one its samples carry in OpenMetrics).
fn takes(family: &str, kind: &str, sample: &str) -> bool {
    let Some(suffix) = sample.strip_prefix(family) else {
        return false;
    };
    match kind {
        "counter" => matches!(suffix, "" | "_total" | "_created"),
        "summary" => matches!(suffix, "" | "_sum" | "_count" | "_created"),
        "histogram" => matches!(suffix, "" | "_bucket" | "_sum" | "_count" | "_created"),
        "info" => matches!(suffix, "" | "_info"),
        _ => suffix.is_empty(),
    }
}

/// The family in `families` (OpenMetrics name → TYPE) that takes a name the family `name` of
/// `kind` takes, if there is one: the two would write one family twice, or the same series.
fn clash_with<'a, V>(
    name: &str,
    kind: Kind,
    families: &'a HashMap<&'a str, V>,
    type_of: impl Fn(&'a V) -> &'a str,
) -> Option<(&'a str, &'a str)> {
    let ours =
        std::iter::once(name.to_owned()).chain(kind.suffixes().iter().map(|s| format!("{name}{s}")));
    for taken in ours {
        let bases = ["_total", "_created", "_sum", "_count", "_bucket", "_info"]
            .iter()
            .filter_map(|s| taken.strip_suffix(s));
        for candidate in std::iter::once(taken.as_str()).chain(bases) {
            if let Some((other, v)) = families.get_key_value(candidate) {
                let other_kind = type_of(v);
                if takes(other, other_kind, &taken) {
                    return Some((other, other_kind));
                }
            }
        }
    }
    None
}

/// A file's path, mtime, and why it was dropped if it was.
type Verdict = (String, i64, Option<String>);

/// Decides which files are served: each in turn against the collectors' families (declared in
/// `body`) and against the files accepted before it. Returns the merged families of the
/// accepted files, by OpenMetrics name, and a verdict per file.
fn merge(body: &str, parsed: Vec<Parsed>) -> (BTreeMap<String, Merged>, Vec<Verdict>) {
    let exposed = exposed(body);
    let mut verdicts = Vec::with_capacity(parsed.len());
    let mut out: BTreeMap<String, Merged> = BTreeMap::new();
    for file in parsed {
        let clash = {
            let view: HashMap<&str, &Merged> = out.iter().map(|(k, v)| (k.as_str(), v)).collect();
            judge(&file, &exposed, &view)
        };
        if clash.is_none() {
            for family in file.families {
                let entry = out
                    .entry(family.openmetrics_name().to_owned())
                    .or_insert_with(|| Merged {
                        kind: family.kind,
                        help: None,
                        files: Vec::new(),
                        series: Vec::new(),
                    });
                if entry.help.is_none() {
                    entry.help = family.help;
                }
                entry.files.push(file.path.clone());
                entry.series.extend(family.series);
            }
        }
        verdicts.push((file.path, file.mtime, clash));
    }
    // As node_exporter's registry orders them: by label count, then values.
    for family in out.values_mut() {
        family.series.sort_by(|a, b| {
            let (va, vb) = (a.labels.iter().map(|(_, v)| v), b.labels.iter().map(|(_, v)| v));
            a.labels.len().cmp(&b.labels.len()).then_with(|| va.cmp(vb))
        });
    }
    (out, verdicts)
}

/// Why `file` must be dropped, naming the line, if it must.
fn judge(
    file: &Parsed,
    exposed: &HashMap<&str, &str>,
    merged: &HashMap<&str, &Merged>,
) -> Option<String> {
    let mut own: HashMap<&str, &str> = HashMap::new();
    for family in &file.families {
        let name = family.openmetrics_name();
        let at = |m: String| Some(format!("line {}: {}: {m}", family.line, family.name));
        let kind = family.kind.openmetrics();
        if let Some((other, t)) = clash_with(name, family.kind, exposed, |t| t) {
            return at(format!("clashes with the {t} {other} of a collector"));
        }
        if let Some((other, t)) = clash_with(name, family.kind, &own, |t| t) {
            return at(format!("clashes with the {t} {other} of the same file"));
        }
        match merged.get(name) {
            Some(m) if m.kind != family.kind => {
                return at(format!(
                    "is a {kind} here but a {} in {}",
                    m.kind.openmetrics(),
                    m.files.join(", ")
                ));
            }
            Some(m) => {
                if let (Some(a), Some(b)) = (&m.help, &family.help)
                    && a != b
                {
                    return at(format!(
                        "has the HELP {b:?} here but {a:?} in {}",
                        m.files.join(", ")
                    ));
                }
                let mut seen: HashSet<Vec<(&str, &str)>> = m.series.iter().map(identity).collect();
                if let Some(s) = family.series.iter().find(|s| !seen.insert(identity(s))) {
                    return Some(format!(
                        "line {}: {}: a sample with the same labels is in {}",
                        s.line,
                        family.name,
                        m.files.join(", ")
                    ));
                }
            }
            None => {
                if let Some((other, t)) =
                    clash_with(name, family.kind, merged, |m| m.kind.openmetrics())
                {
                    return at(format!(
                        "clashes with the {t} {other} of {}",
                        merged[other].files.join(", ")
                    ));
                }
            }
        }
        own.insert(name, kind);
    }
    None
}

/// Writes a float as node_exporter (Go's `strconv.FormatFloat(v, 'g', -1, 64)`) does:
/// `1.073e-06`, `840923.79`, `1.492355615e+09`, `+Inf`.
fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let e = format!("{v:e}");
        let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        // Go's shortest 'g': the exponent form below 1e-4 and from 1e6 on.
        if !(-4..6).contains(&exp) {
            let _ = write!(out, "{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        } else {
            let _ = write!(out, "{v}");
        }
    }
}

fn push_escaped(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn push_sample(out: &mut String, name: &str, suffix: &str, labels: &[(String, String)], extra: Option<(&str, f64)>, value: f64) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            push_escaped(out, v, true);
            out.push('"');
        }
        if let Some((k, v)) = extra {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            push_float(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    push_float(out, value);
    out.push('\n');
}

/// One family in OpenMetrics (which `to_text_format` turns into the text format, like the
/// collectors' families).
fn write_family(out: &mut String, name: &str, family: &Merged) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    match &family.help {
        Some(help) => push_escaped(out, help, true),
        None => {
            out.push_str("Metric read from ");
            push_escaped(out, &family.files.join(", "), true);
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(family.kind.openmetrics());
    out.push('\n');
    for s in &family.series {
        match family.kind {
            Kind::Counter => push_sample(out, name, "_total", &s.labels, None, s.value),
            Kind::Gauge | Kind::Untyped => push_sample(out, name, "", &s.labels, None, s.value),
            Kind::Summary => {
                for &(q, v) in &s.points {
                    push_sample(out, name, "", &s.labels, Some(("quantile", q)), v);
                }
                push_sample(out, name, "_sum", &s.labels, None, s.sum);
                push_sample(out, name, "_count", &s.labels, None, s.count);
            }
            Kind::Histogram => {
                for &(le, v) in &s.points {
                    push_sample(out, name, "_bucket", &s.labels, Some(("le", le)), v);
                }
                // The +Inf bucket is required; it holds the count when the file left it out.
                if s.points.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
                    push_sample(out, name, "_bucket", &s.labels, Some(("le", f64::INFINITY)), s.count);
                }
                push_sample(out, name, "_sum", &s.labels, None, s.sum);
                push_sample(out, name, "_count", &s.labels, None, s.count);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, tree};
    use super::super::{Scraper, to_text_format};
    use super::*;

    /// A scraper running `collectors` with `--collector.textfile.directory=<dir>/tf`, and the
    /// body and logs of one scrape.
    fn scrape(dir: &Path, collectors: &[&str]) -> (String, String) {
        let mut config = config_for(dir);
        config.enabled = collectors.iter().map(|s| s.to_string()).collect();
        let tf = dir.join("tf").to_string_lossy().into_owned();
        config.options.set(&DIRECTORY, vec![tf]);
        let scraper = Scraper::new(config).unwrap();
        let mut body = Vec::new();
        let logs = logs_of(|| body = scraper.scrape());
        (String::from_utf8(body).unwrap(), logs)
    }

    fn file(dir: &Path, name: &str) -> String {
        dir.join("tf").join(name).display().to_string()
    }

    /// Each family's `# TYPE` appears once and its samples are contiguous right after it.
    fn assert_well_formed(body: &str) {
        let mut seen = HashSet::new();
        let mut current = String::new();
        for line in body.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_owned();
                assert!(seen.insert(current.clone()), "{current} twice in\n{body}");
            } else if !line.starts_with('#') {
                assert!(line.starts_with(&current), "{line} outside its family in\n{body}");
            }
        }
    }

    #[test]
    fn parses_node_exporters_fixtures_as_it_does() {
        let fx = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/node_exporter-1.12/textfile");
        let read = |p: &str| std::fs::read_to_string(fx.join(p)).unwrap();
        let families = parse_textfile(&read("inconsistent_metrics/metrics.prom")).unwrap();
        let go = families.iter().find(|f| f.name == "go_goroutines").unwrap();
        assert_eq!(go.kind, Kind::Gauge);
        assert_eq!(
            go.series.iter().map(|s| (s.labels.clone(), s.value)).collect::<Vec<_>>(),
            [
                (vec![("foo".to_owned(), "bar".to_owned())], 229.0),
                (vec![("foo".to_owned(), String::new())], 20.0)
            ]
        );
        let families = parse_textfile(&read("summary/metrics.prom")).unwrap();
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].kind, Kind::Summary);
        assert_eq!(families[0].series.len(), 4);
        assert_eq!(families[0].series[0].points, [(0.5, 1.073e-06), (0.9, 1.928e-06), (0.99, 4.35e-06)]);
        assert_eq!(families[0].series[0].count, 1.492355615e+09);
        let err = parse_textfile(&read("client_side_timestamp/metrics.prom")).unwrap_err();
        assert_eq!(err.line, 1, "{err}");
        assert!(err.to_string().contains("client-side timestamps are not supported"), "{err}");
    }

    #[test]
    fn node_exporters_fixture_families_come_out_as_in_its_outputs() {
        let fx = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/node_exporter-1.12/textfile");
        for case in [
            "two_metric_files",
            "different_metric_types",
            "histogram",
            "histogram_extra_dimension",
            "summary",
            "inconsistent_metrics",
            "metrics_merge_same_help",
            "metrics_merge_no_help",
        ] {
            let dir = tree(&[]);
            std::fs::create_dir(dir.path().join("tf")).unwrap();
            for entry in std::fs::read_dir(fx.join(case)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), dir.path().join("tf").join(entry.file_name())).unwrap();
            }
            let (body, logs) = scrape(dir.path(), &["textfile"]);
            assert_eq!(logs, "", "{case}");
            assert_well_formed(&body);
            let text = String::from_utf8(to_text_format(body.as_bytes())).unwrap();
            let prefix = dir.path().join("tf").display().to_string();
            let want = std::fs::read_to_string(fx.join(format!("{case}.out"))).unwrap();
            let want = want.replace(&format!("fixtures/textfile/{case}"), &prefix);
            // node_exporter's test pins the mtimes to 1; ours are the files' own.
            let strip = |s: &str| -> Vec<String> {
                s.lines()
                    .filter(|l| !l.starts_with("node_textfile_mtime_seconds{"))
                    .filter(|l| !l.starts_with("node_scrape_collector_") && !l.contains(" node_scrape_collector_"))
                    .filter(|l| !l.contains("vpsmon_exporter_build_info"))
                    .map(str::to_owned)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            };
            assert_eq!(strip(&text), strip(&want), "{case}:\n{text}");
        }
    }

    #[test]
    fn a_malformed_file_is_dropped_naming_its_line_and_a_good_one_next_to_it_is_served() {
        let dir = tree(&[
            ("tf/good.prom", b"# TYPE jobs_done gauge\njobs_done{job=\"backup\"} 3\n"),
            ("tf/bad.prom", b"ok_metric 1\nbroken{job=\"x\" 2\nlater 3\n"),
            ("tf/ignored.txt", b"not a metric file\n"),
        ]);
        let (body, logs) = scrape(dir.path(), &["textfile"]);
        assert_well_formed(&body);
        assert!(body.contains("# TYPE jobs_done gauge\njobs_done{job=\"backup\"} 3\n"), "{body}");
        assert!(!body.contains("ok_metric"), "{body}");
        assert!(!body.contains("later"), "{body}");
        assert!(body.contains("node_textfile_scrape_error 1\n"), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"textfile\"} 1\n"));
        let bad = file(dir.path(), "bad.prom");
        assert_eq!(
            logs,
            format!(
                " WARN vpsmon_exporter::collector::textfile: textfile: file skipped error=parsing {bad}: line 2: broken: expected ',' or '}}' after label \"job\"\n"
            )
        );
        // Only the file served has an mtime.
        assert!(body.contains(&format!("node_textfile_mtime_seconds{{file=\"{}\"}} ", file(dir.path(), "good.prom"))));
        assert!(!body.contains(&format!("{{file=\"{bad}\"}}")));
    }

    #[test]
    fn a_file_clashing_with_a_collectors_family_is_dropped() {
        for (contents, line, what) in [
            (
                "# HELP node_cpu_seconds_total Mine.\n# TYPE node_cpu_seconds_total counter\nnode_cpu_seconds_total{cpu=\"9\",mode=\"user\"} 1\n",
                1,
                "node_cpu_seconds_total: clashes with the counter node_cpu_seconds of a collector",
            ),
            (
                // A gauge of the counter's sample name would write the same series.
                "\n# TYPE node_cpu_seconds_total gauge\nnode_cpu_seconds_total 1\n",
                2,
                "node_cpu_seconds_total: clashes with the counter node_cpu_seconds of a collector",
            ),
            (
                "node_textfile_scrape_error 0\n",
                1,
                "node_textfile_scrape_error: clashes with the gauge node_textfile_scrape_error of a collector",
            ),
        ] {
            let dir = tree(&[
                ("proc/stat", b"cpu 10 0 0 500\ncpu0 10 0 0 500\n"),
                ("tf/a.prom", format!("mine 1\n{contents}").as_bytes()),
            ]);
            let (body, logs) = scrape(dir.path(), &["cpu", "textfile"]);
            assert_well_formed(&body);
            assert!(body.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 0.1\n"), "{body}");
            assert!(!body.contains("cpu=\"9\""), "{body}");
            assert!(!body.contains("mine"), "{body}");
            assert!(body.contains("node_textfile_scrape_error 1\n"), "{body}");
            let a = file(dir.path(), "a.prom");
            assert_eq!(
                logs,
                format!(
                    " WARN vpsmon_exporter::collector::textfile: textfile: file skipped file={a} error=line {}: {what}\n",
                    line + 1
                )
            );
        }
    }

    #[test]
    fn a_file_clashing_with_an_earlier_file_is_dropped_and_agreeing_ones_merge() {
        let dir = tree(&[
            ("tf/a.prom", b"# HELP backups_total Backups run.\n# TYPE backups_total counter\nbackups_total{host=\"a\"} 1\n"),
            // Same family, same type and HELP: merged.
            ("tf/b.prom", b"# HELP backups_total Backups run.\n# TYPE backups_total counter\nbackups_total{host=\"b\"} 2\n"),
            // Same name, another type.
            ("tf/c.prom", b"ok 1\n# TYPE backups_total gauge\nbackups_total{host=\"c\"} 3\n"),
            // Another HELP.
            ("tf/d.prom", b"# HELP backups_total Other.\n# TYPE backups_total counter\nbackups_total{host=\"d\"} 4\n"),
            // A series a.prom has already.
            ("tf/e.prom", b"# TYPE backups_total counter\nbackups_total{host=\"a\"} 5\n"),
            // The counter's OpenMetrics name, as a gauge.
            ("tf/f.prom", b"# TYPE backups gauge\nbackups 6\n"),
        ]);
        let (body, logs) = scrape(dir.path(), &["textfile"]);
        assert_well_formed(&body);
        assert!(
            body.contains("# HELP backups Backups run.\n# TYPE backups counter\nbackups_total{host=\"a\"} 1\nbackups_total{host=\"b\"} 2\n# HELP"),
            "{body}"
        );
        assert!(!body.contains("ok 1"), "{body}");
        assert!(body.contains("node_textfile_scrape_error 1\n"), "{body}");
        let (a, b) = (file(dir.path(), "a.prom"), file(dir.path(), "b.prom"));
        let want = [
            format!("file={} error=line 2: backups_total: clashes with the counter backups of {a}, {b}", file(dir.path(), "c.prom")),
            format!("file={} error=line 1: backups_total: has the HELP \"Other.\" here but \"Backups run.\" in {a}, {b}", file(dir.path(), "d.prom")),
            format!("file={} error=line 2: backups_total: a sample with the same labels is in {a}, {b}", file(dir.path(), "e.prom")),
            format!("file={} error=line 1: backups: is a gauge here but a counter in {a}, {b}", file(dir.path(), "f.prom")),
        ];
        let got: Vec<_> = logs.lines().collect();
        assert_eq!(got.len(), 4, "{logs}");
        for (got, want) in got.iter().zip(&want) {
            assert_eq!(*got, format!(" WARN vpsmon_exporter::collector::textfile: textfile: file skipped {want}"));
        }
        // The text format names the counter with its _total, as node_exporter does.
        let text = String::from_utf8(to_text_format(body.as_bytes())).unwrap();
        assert!(text.contains("# HELP backups_total Backups run.\n# TYPE backups_total counter\n"), "{text}");
    }

    #[test]
    fn mtime_is_the_files_in_whole_seconds() {
        let dir = tree(&[("tf/a.prom", b"x 1\n"), ("tf/b.prom", b"y 2\n")]);
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_900);
        for name in ["a.prom", "b.prom"] {
            let f = std::fs::File::options().write(true).open(dir.path().join("tf").join(name)).unwrap();
            f.set_modified(at).unwrap();
        }
        let (body, _) = scrape(dir.path(), &["textfile"]);
        let (a, b) = (file(dir.path(), "a.prom"), file(dir.path(), "b.prom"));
        assert!(
            body.contains(&format!("# HELP node_textfile_mtime_seconds Unixtime mtime of textfiles successfully read.\n# TYPE node_textfile_mtime_seconds gauge\nnode_textfile_mtime_seconds{{file=\"{a}\"}} 1700000000\nnode_textfile_mtime_seconds{{file=\"{b}\"}} 1700000000\n")),
            "{body}"
        );
        assert!(body.contains("# HELP x Metric read from "), "{body}");
        assert!(body.contains("node_textfile_scrape_error 0\n"), "{body}");
    }

    #[test]
    fn directories_repeat_and_globs_expand() {
        let dir = tree(&[
            ("jobs/a/x.prom", b"x 1\n"),
            ("jobs/b/y.prom", b"y 2\n"),
            ("other/z.prom", b"z 3\n"),
        ]);
        let mut config = config_for(dir.path());
        config.enabled = ["textfile".to_owned()].into();
        let glob = dir.path().join("jobs/[ab]").display().to_string();
        let other = dir.path().join("other").display().to_string();
        config.options.set(&DIRECTORY, vec![glob, other]);
        let body = String::from_utf8(Scraper::new(config).unwrap().scrape()).unwrap();
        for line in ["\nx 1\n", "\ny 2\n", "\nz 3\n", "node_textfile_scrape_error 0\n"] {
            assert!(body.contains(line), "{line:?} in {body}");
        }
        let file = dir.path().join("jobs/a/x.prom").display().to_string();
        assert!(body.contains(&format!("node_textfile_mtime_seconds{{file=\"{file}\"}}")));
    }

    #[test]
    fn without_a_directory_only_the_error_gauge_and_a_missing_one_is_an_error() {
        let dir = tree(&[]);
        let mut config = config_for(dir.path());
        config.enabled = ["textfile".to_owned()].into();
        let body = String::from_utf8(Scraper::new(config).unwrap().scrape()).unwrap();
        assert!(body.contains("# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 otherwise\n# TYPE node_textfile_scrape_error gauge\nnode_textfile_scrape_error 0\n"), "{body}");
        assert!(!body.contains("node_textfile_mtime_seconds"), "{body}");

        let (body, logs) = scrape(dir.path(), &["textfile"]);
        assert!(body.contains("node_textfile_scrape_error 1\n"), "{body}");
        assert!(logs.contains("textfile: cannot read the directory"), "{logs}");
        assert!(logs.contains(&dir.path().join("tf").display().to_string()), "{logs}");
    }

    #[test]
    fn labels_and_help_are_escaped_in_both_formats() {
        let dir = tree(&[(
            "tf/a.prom",
            "# HELP odd A \\\\ \"quoted\"\\nhelp.\nodd{path=\"C:\\\\x\",msg=\"say \\\"hi\\\"\\nbye\"} NaN\nodd{path=\"\"} +Inf\n".as_bytes(),
        )]);
        let (body, logs) = scrape(dir.path(), &["textfile"]);
        assert_eq!(logs, "");
        assert!(
            body.contains("# HELP odd A \\\\ \\\"quoted\\\"\\nhelp.\n# TYPE odd unknown\nodd{msg=\"\",path=\"\"} +Inf\nodd{msg=\"say \\\"hi\\\"\\nbye\",path=\"C:\\\\x\"} NaN\n"),
            "{body}"
        );
        let text = String::from_utf8(to_text_format(body.as_bytes())).unwrap();
        assert!(
            text.contains("# HELP odd A \\\\ \"quoted\"\\nhelp.\n# TYPE odd untyped\n"),
            "{text}"
        );
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        for (input, want) in [
            ("a 1\nb{x=\"1\"}\n", "line 2: b: no value"),
            ("a one\n", "line 1: a: value \"one\" is not a number"),
            ("3a 1\n", "line 1: invalid metric name in \"3a 1\""),
            ("a{x=\"1\",x=\"2\"} 1\n", "line 1: a: label \"x\" given twice"),
            ("a{x=\"\\t\"} 1\n", "line 1: a: label \"x\": invalid escape sequence '\\t'"),
            ("a{__name__=\"b\"} 1\n", "line 1: a: label name \"__name__\" is reserved"),
            ("a 1 17000 x\n", "line 1: a: client-side timestamps are not supported (the whole file is skipped)"),
            ("a 1 soon\n", "line 1: a: timestamp \"soon\" is not an integer"),
            ("a 1\n# TYPE a gauge\n", "line 2: second TYPE line for metric name \"a\", or TYPE reported after samples"),
            ("# HELP a x\n# HELP a y\n", "line 2: second HELP line for metric name \"a\""),
            ("# TYPE a gaugeish\n", "line 1: unknown metric type \"gaugeish\""),
            ("# TYPE h histogram\nh_bucket 1\n", "line 2: h_bucket: no \"le\" label"),
            ("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", "line 2: h_bucket: le=\"x\" is not a number"),
            ("# TYPE h histogram\nh 1\n", "line 2: h: a histogram's samples are h_bucket, h_sum and h_count"),
            ("# TYPE s summary\ns{q=\"1\"} 1\n", "line 2: s: no \"quantile\" label"),
            ("a{x=\"1\"} 1\na{x=\"1\",y=\"\"} 2\n", "line 2: a: a second sample with the same labels"),
            ("# HELP a bad \\t\n", "line 1: invalid escape sequence '\\t' in HELP"),
        ] {
            assert_eq!(parse_textfile(input).unwrap_err().to_string(), want, "{input:?}");
        }
    }

    #[test]
    fn floats_are_written_as_go_writes_them() {
        for (v, want) in [
            (10.0, "10"),
            (1.073e-06, "1.073e-06"),
            (840923.7919437207, "840923.7919437207"),
            (1.8652166505091474e+06, "1.8652166505091474e+06"),
            (1.492355615e+09, "1.492355615e+09"),
            (0.0001, "0.0001"),
            (-2.5e-7, "-2.5e-07"),
            (0.0, "0"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            let mut s = String::new();
            push_float(&mut s, v);
            assert_eq!(s, want);
        }
    }
}
