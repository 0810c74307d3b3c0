//! Small helpers over prometheus-client's encoder, and the exporter's own meta metrics.

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
