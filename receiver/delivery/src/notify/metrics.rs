//! Delivery's metrics, registered into the receiver's one registry (prefix `vpsmon_receiver_`).

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// What became of one message (or one attempt, for `retried` and `rate_limited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum DeliveryResult {
    /// The destination accepted the message.
    sent,
    /// An attempt failed transiently and was tried again.
    retried,
    /// The destination answered 429; the next attempt waited its retry-after.
    rate_limited,
    /// The destination refused what the receiver rendered (a receiver bug): Alertmanager was
    /// answered 422 and does not retry.
    failed_permanent,
    /// The destination refused on its configuration (bad token, bot removed, chat not found,
    /// revoked webhook): Alertmanager was answered 503 and retries until an operator fixes it.
    refused,
    /// Still failing at the delivery deadline: Alertmanager was answered 503 and will retry.
    failed_transient,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabels {
    /// The destination's label (`telegram:-100123`, `slack:ops`, `console`): never a secret.
    pub destination: String,
    pub result: DeliveryResult,
}

/// What became of one alert chart (a photo replying to a Telegram alert message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ChartResult {
    sent,
    /// No chart: Prometheus unreachable or without data, no expression in the generatorURL, or
    /// Telegram refused the photo. The alert's text went out all the same.
    failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ChartLabels {
    pub result: ChartResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DestinationLabels {
    pub destination: String,
}

/// The delivery counters and histogram. Cloning shares them.
#[derive(Debug, Clone)]
pub struct NotifyMetrics {
    /// `vpsmon_receiver_notifications_total{destination,result}`.
    pub notifications: Family<ResultLabels, Counter>,
    /// `vpsmon_receiver_alerts_deduplicated_total{destination}`: alerts not sent again because
    /// the destination already had them (an Alertmanager retry or a second Alertmanager).
    pub deduplicated: Family<DestinationLabels, Counter>,
    /// `vpsmon_receiver_delivery_duration_seconds{destination}`: from the webhook's arrival to
    /// the destination's last message (or to giving up), waits for rate limits included.
    pub latency: Family<DestinationLabels, Histogram>,
    /// `vpsmon_receiver_dedup_entries`: deliveries remembered for de-duplication.
    pub dedup_entries: Gauge,
    /// `vpsmon_receiver_alert_charts_total{result}`: charts sent after firing alerts, or not.
    pub alert_charts: Family<ChartLabels, Counter>,
    /// `vpsmon_receiver_destination_config_error{destination}`: 1 while a destination's last
    /// delivery was refused on its configuration, 0 once it works again.
    pub config_error: Family<DestinationLabels, Gauge>,
}

fn latency_histogram() -> Histogram {
    // 5 ms .. ~20 s: a console line, a Telegram round trip, a 429 wait near the deadline.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

impl Default for NotifyMetrics {
    fn default() -> Self {
        NotifyMetrics {
            notifications: Family::default(),
            deduplicated: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            dedup_entries: Gauge::default(),
            alert_charts: Family::default(),
            config_error: Family::default(),
        }
    }
}

impl NotifyMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = NotifyMetrics::default();
        registry.register(
            "notifications",
            "Messages to destinations by result: sent, retried, rate_limited, refused, failed_permanent, failed_transient",
            m.notifications.clone(),
        );
        registry.register(
            "alerts_deduplicated",
            "Alerts not sent again because the destination already received them",
            m.deduplicated.clone(),
        );
        registry.register_with_unit(
            "delivery_duration",
            "Time to deliver one notification to one destination, rate-limit waits and retries included",
            prometheus_client::registry::Unit::Seconds,
            m.latency.clone(),
        );
        registry.register(
            "dedup_entries",
            "Deliveries remembered for de-duplication",
            m.dedup_entries.clone(),
        );
        registry.register(
            "alert_charts",
            "Charts sent as photos after firing Telegram alerts (sent), or not (failed)",
            m.alert_charts.clone(),
        );
        registry.register(
            "destination_config_error",
            "1 while a destination refuses the receiver's messages on its configuration (token, chat, webhook): fix it; Alertmanager keeps retrying",
            m.config_error.clone(),
        );
        m
    }

    pub(crate) fn count(&self, destination: &str, result: DeliveryResult) {
        self.notifications
            .get_or_create(&ResultLabels {
                destination: destination.to_string(),
                result,
            })
            .inc();
    }
}
