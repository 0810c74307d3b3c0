//! The receiver's one Prometheus registry. The HTTP side registers its counters here; delivery
//! ([`crate::notify::NotifyMetrics`]) registers its own into the same registry, so `/metrics`
//! shows both.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::notify::NotifyMetrics;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CodeLabels {
    pub code: u16,
}

pub use crate::render::IntegrationLabels;

#[derive(Debug, Clone)]
pub struct Metrics {
    /// `vpsmon_receiver_webhooks_received_total{code}`: every POST to /alerts, by the status
    /// code it was answered with.
    pub webhooks: Family<CodeLabels, Counter>,
    /// `vpsmon_receiver_messages_split_total{integration}`: extra messages a notification needed
    /// because it did not fit one (a notification sent as 3 messages adds 2).
    pub messages_split: Family<IntegrationLabels, Counter>,
    pub notify: NotifyMetrics,
}

impl Metrics {
    /// A registry holding every receiver metric, and the handles to update them.
    pub fn new() -> (Metrics, Registry) {
        let mut registry = Registry::with_prefix("vpsmon_receiver");
        let webhooks = Family::<CodeLabels, Counter>::default();
        registry.register(
            "webhooks_received",
            "Alertmanager webhooks received, by HTTP status code answered",
            webhooks.clone(),
        );
        let messages_split = Family::<IntegrationLabels, Counter>::default();
        registry.register(
            "messages_split",
            "Extra messages needed because a notification exceeded one message's limit",
            messages_split.clone(),
        );
        // Present at 0 from the start, so a rate() over them works before the first split.
        for i in crate::notify::INTEGRATIONS.iter().filter(|i| i.splits) {
            let _ = messages_split.get_or_create(&IntegrationLabels {
                integration: i.name,
            });
        }
        let notify = NotifyMetrics::register(&mut registry);
        (
            Metrics {
                webhooks,
                messages_split,
                notify,
            },
            registry,
        )
    }
}

impl AsRef<crate::render::SplitCounter> for Metrics {
    fn as_ref(&self) -> &crate::render::SplitCounter {
        &self.messages_split
    }
}

/// The registry in Prometheus' text format.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}
