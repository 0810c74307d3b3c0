//! Small helpers over prometheus-client's encoder, and the exporter's own meta metrics.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, NoLabelSet,
};
use prometheus_client::metrics::MetricType;

use super::Entry;

/// A counter family; `name` is without `_total` (the encoder appends it).
pub(crate) fn counter_family<'e>(
    enc: &'e mut DescriptorEncoder<'_>,
    name: &'e str,
    help: &str,
) -> Result<prometheus_client::encoding::MetricEncoder<'e>, fmt::Error> {
    enc.encode_descriptor(name, help, None, MetricType::Counter)
}

/// A gauge family.
pub(crate) fn gauge_family<'e>(
    enc: &'e mut DescriptorEncoder<'_>,
    name: &'e str,
    help: &str,
) -> Result<prometheus_client::encoding::MetricEncoder<'e>, fmt::Error> {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)
}

/// An untyped family (node_exporter's `UntypedValue`: vmstat, netstat): `unknown` in
/// OpenMetrics, `untyped` in the text format.
pub(crate) fn untyped_family<'e>(
    enc: &'e mut DescriptorEncoder<'_>,
    name: &'e str,
    help: &str,
) -> Result<prometheus_client::encoding::MetricEncoder<'e>, fmt::Error> {
    enc.encode_descriptor(name, help, None, MetricType::Unknown)
}

/// An unlabelled untyped family with one sample.
pub(crate) fn single_untyped<V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: V,
) -> fmt::Result {
    untyped_family(enc, name, help)?.encode_gauge(&value)
}

/// One labelled counter sample.
pub(crate) fn counter<S: EncodeLabelSet, V: EncodeCounterValue>(
    family: &mut prometheus_client::encoding::MetricEncoder<'_>,
    labels: &S,
    value: V,
) -> fmt::Result {
    family
        .encode_family(labels)?
        .encode_counter::<NoLabelSet, V, u64>(&value, None)
}

/// One labelled gauge sample.
pub(crate) fn gauge<S: EncodeLabelSet, V: EncodeGaugeValue>(
    family: &mut prometheus_client::encoding::MetricEncoder<'_>,
    labels: &S,
    value: V,
) -> fmt::Result {
    family.encode_family(labels)?.encode_gauge(&value)
}

/// An unlabelled gauge family with one sample.
pub(crate) fn single_gauge<V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: V,
) -> fmt::Result {
    gauge_family(enc, name, help)?.encode_gauge(&value)
}

/// An unlabelled counter family with one sample; `name` is without `_total`.
pub(crate) fn single_counter<V: EncodeCounterValue>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: V,
) -> fmt::Result {
    counter_family(enc, name, help)?.encode_counter::<NoLabelSet, V, u64>(&value, None)
}

/// A sample's value as the kernel gave it, so that whole numbers print as whole numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    U(u64),
    I(i64),
    F(f64),
}

/// Families whose samples are found in any order (one file per pool, device or filesystem),
/// written grouped, each family where it first appeared. A repeated series is kept once
/// (node_exporter's client would reject the duplicate).
#[derive(Default)]
pub(crate) struct Families {
    index: HashMap<String, usize>,
    list: Vec<Family>,
}

struct Family {
    /// Without `_total` for a counter (the encoder appends it).
    name: String,
    help: String,
    kind: MetricType,
    samples: Vec<(Vec<(&'static str, String)>, Value)>,
}

impl Families {
    pub(crate) fn add(
        &mut self,
        name: impl Into<String>,
        help: impl Into<String>,
        kind: MetricType,
        labels: Vec<(&'static str, String)>,
        value: Value,
    ) {
        let name = name.into();
        let i = match self.index.get(&name) {
            Some(&i) => i,
            None => {
                self.list.push(Family {
                    name: name.clone(),
                    help: help.into(),
                    kind,
                    samples: Vec::new(),
                });
                self.index.insert(name, self.list.len() - 1);
                self.list.len() - 1
            }
        };
        let family = &mut self.list[i];
        if !family.samples.iter().any(|(l, _)| *l == labels) {
            family.samples.push((labels, value));
        }
    }

    pub(crate) fn encode(&self, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
        for f in &self.list {
            let mut family = enc.encode_descriptor(&f.name, &f.help, None, f.kind)?;
            for (labels, value) in &f.samples {
                let labels: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let counter_kind = matches!(f.kind, MetricType::Counter);
                // Without labels no `{}` either.
                match (*value, labels.is_empty(), counter_kind) {
                    (Value::U(v), true, true) => {
                        family.encode_counter::<NoLabelSet, _, u64>(&v, None)?
                    }
                    (Value::I(v), true, true) => {
                        family.encode_counter::<NoLabelSet, _, u64>(&(v as f64), None)?
                    }
                    (Value::F(v), true, true) => {
                        family.encode_counter::<NoLabelSet, _, u64>(&v, None)?
                    }
                    (Value::U(v), false, true) => counter(&mut family, &labels, v)?,
                    (Value::I(v), false, true) => counter(&mut family, &labels, v as f64)?,
                    (Value::F(v), false, true) => counter(&mut family, &labels, v)?,
                    (Value::U(v), true, false) => family.encode_gauge(&v)?,
                    (Value::I(v), true, false) => family.encode_gauge(&v)?,
                    (Value::F(v), true, false) => family.encode_gauge(&v)?,
                    (Value::U(v), false, false) => gauge(&mut family, &labels, v)?,
                    (Value::I(v), false, false) => gauge(&mut family, &labels, v)?,
                    (Value::F(v), false, false) => gauge(&mut family, &labels, v)?,
                }
            }
        }
        Ok(())
    }
}

/// Families gathered sample by sample in any order (a sysfs walk meets them chip by chip),
/// then written sorted as node_exporter's registry sorts them: by name, samples by label
/// values.
#[derive(Default)]
pub(crate) struct SortedFamilies(BTreeMap<String, SortedFamily>);

/// One sample: its labels, in name order, and value.
type Sample = (Vec<(&'static str, String)>, f64);

struct SortedFamily {
    help: String,
    counter: bool,
    samples: Vec<Sample>,
}

impl SortedFamilies {
    pub(crate) fn add(
        &mut self,
        name: String,
        help: String,
        labels: Vec<(&'static str, String)>,
        v: f64,
    ) {
        self.add_kind(name, help, false, labels, v);
    }

    pub(crate) fn add_kind(
        &mut self,
        name: String,
        help: String,
        counter: bool,
        labels: Vec<(&'static str, String)>,
        v: f64,
    ) {
        // A second HELP for a family (one chip's `in0`, another's `in0_input`) keeps the first.
        let family = self.0.entry(name).or_insert(SortedFamily {
            help,
            counter,
            samples: Vec::new(),
        });
        family.samples.push((labels, v));
    }

    pub(crate) fn encode(mut self, enc: &mut DescriptorEncoder<'_>) -> fmt::Result {
        for (
            name,
            SortedFamily {
                help,
                counter: is_counter,
                samples,
            },
        ) in &mut self.0
        {
            // client_golang's order: label count, then the values.
            samples.sort_by(|a, b| {
                let (va, vb) = (a.0.iter().map(|l| &l.1), b.0.iter().map(|l| &l.1));
                a.0.len().cmp(&b.0.len()).then_with(|| va.cmp(vb))
            });
            if *is_counter {
                let base = name.strip_suffix("_total").unwrap_or(name);
                let mut family = counter_family(enc, base, help)?;
                for (labels, v) in samples.iter() {
                    if labels.is_empty() {
                        family.encode_counter::<NoLabelSet, f64, u64>(v, None)?;
                    } else {
                        counter(&mut family, labels, *v)?;
                    }
                }
            } else {
                let mut family = gauge_family(enc, name, help)?;
                for (labels, v) in samples.iter() {
                    if labels.is_empty() {
                        family.encode_gauge(v)?;
                    } else {
                        gauge(&mut family, labels, *v)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `node_scrape_collector_{duration_seconds,success}` and `vpsmon_exporter_build_info`.
pub(super) fn meta(
    enc: &mut DescriptorEncoder<'_>,
    entries: &[Entry],
    outcomes: &[(f64, bool)],
) -> fmt::Result {
    let mut family = gauge_family(
        enc,
        "node_scrape_collector_duration_seconds",
        "node_exporter: Duration of a collector scrape.",
    )?;
    for (entry, (seconds, _)) in entries.iter().zip(outcomes) {
        gauge(&mut family, &[("collector", entry.name)], *seconds)?;
    }
    let mut family = gauge_family(
        enc,
        "node_scrape_collector_success",
        "node_exporter: Whether a collector succeeded.",
    )?;
    for (entry, (_, ok)) in entries.iter().zip(outcomes) {
        gauge(&mut family, &[("collector", entry.name)], u64::from(*ok))?;
    }
    let mut family = gauge_family(
        enc,
        "vpsmon_exporter_build_info",
        "A metric with a constant '1' value labeled by the version of vpsmon-exporter.",
    )?;
    gauge(&mut family, &BUILD_LABELS, 1u64)
}

const BUILD_LABELS: [(&str, &str); 1] = [("version", env!("CARGO_PKG_VERSION"))];

/// Rewrites an OpenMetrics body from [`super::Scraper::scrape`] into the Prometheus text
/// format 0.0.4, for clients that do not accept OpenMetrics (as node_exporter negotiates).
/// prometheus-client writes only OpenMetrics, and the two differ in few places: a counter
/// family is named with its `_total` in HELP and TYPE, an untyped one is `untyped` rather
/// than `unknown`, HELP escapes no `"`, there is no `# UNIT` and no `# EOF`. Samples and label
/// escaping are the same. One pass, one allocation, and only for such
/// clients: Prometheus asks for OpenMetrics.
pub fn to_text_format(om: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(om.len() + om.len() / 32);
    let mut lines = om.split_inclusive(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        if line.starts_with(b"# EOF") || line.starts_with(b"# UNIT ") {
            continue;
        }
        if let Some(name) = line
            .strip_prefix(b"# TYPE ")
            .and_then(|rest| rest.strip_suffix(b" unknown\n"))
        {
            out.extend_from_slice(b"# TYPE ");
            out.extend_from_slice(name);
            out.extend_from_slice(b" untyped\n");
            continue;
        }
        if let Some(rest) = line.strip_prefix(b"# HELP ") {
            // prometheus-client writes HELP then TYPE for the same name.
            let name_len = rest.iter().position(|&b| b == b' ' || b == b'\n');
            let name_len = name_len.unwrap_or(rest.len());
            let name = &rest[..name_len];
            let counter = lines.peek().is_some_and(|next| {
                next.strip_prefix(b"# TYPE ")
                    .and_then(|t| t.strip_prefix(name))
                    .is_some_and(|t| t.trim_ascii_end() == b" counter")
            });
            if counter {
                out.extend_from_slice(b"# HELP ");
                out.extend_from_slice(name);
                out.extend_from_slice(b"_total");
                push_help(&mut out, &rest[name_len..]);
                out.extend_from_slice(b"# TYPE ");
                out.extend_from_slice(name);
                out.extend_from_slice(b"_total counter\n");
                lines.next();
                continue;
            }
        }
        if line.starts_with(b"# HELP ") {
            push_help(&mut out, line);
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

/// A HELP line with OpenMetrics' `\"` as the text format has it: a plain `"`.
fn push_help(out: &mut Vec<u8>, line: &[u8]) {
    if !line.contains(&b'\\') {
        out.extend_from_slice(line);
        return;
    }
    let mut rest = line;
    while let Some(at) = rest.windows(2).position(|w| w == b"\\\"" || w == b"\\\\") {
        out.extend_from_slice(&rest[..at]);
        // `\\` stays as it is (and must not pair its second `\` with a following `"`).
        out.extend_from_slice(if rest[at + 1] == b'"' {
            &b"\""[..]
        } else {
            &b"\\\\"[..]
        });
        rest = &rest[at + 2..];
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_names_counters_with_total_and_drops_eof() {
        let om = "# HELP node_forks Total number of forks.\n# TYPE node_forks counter\nnode_forks_total 7\n# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.5\n# HELP node_x_seconds X.\n# TYPE node_x_seconds gauge\n# UNIT node_x_seconds seconds\nnode_x_seconds{a=\"q\\\"\"} 1\n# HELP node_vmstat_pgfault F.\n# TYPE node_vmstat_pgfault unknown\nnode_vmstat_pgfault 3\n# EOF\n";
        let text = String::from_utf8(to_text_format(om.as_bytes())).unwrap();
        assert_eq!(
            text,
            "# HELP node_forks_total Total number of forks.\n# TYPE node_forks_total counter\nnode_forks_total 7\n# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.5\n# HELP node_x_seconds X.\n# TYPE node_x_seconds gauge\nnode_x_seconds{a=\"q\\\"\"} 1\n# HELP node_vmstat_pgfault F.\n# TYPE node_vmstat_pgfault untyped\nnode_vmstat_pgfault 3\n"
        );
    }
}
