//! Alertmanager's webhook payload, version 4 (`notify/webhook/webhook.go` `Message`, which embeds
//! `template.Data`). Unknown fields are accepted: newer Alertmanagers add fields such as
//! `notification_reason` and `routeLabels`, and a receiver must not break on an upgrade.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// Labels and annotations, sorted by name so every rendering is stable.
pub type Kv = BTreeMap<String, String>;

/// One webhook POST from Alertmanager: a group of alerts routed to one receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Always "4" for every Alertmanager since 0.x; checked by [`Notification::from_json`].
    pub version: String,
    /// Identifies the aggregation group; the de-duplication key together with the alerts.
    pub group_key: String,
    /// How many alerts Alertmanager left out because of the receiver's `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: Status,
    pub receiver: String,
    #[serde(default)]
    pub group_labels: Kv,
    #[serde(default)]
    pub common_labels: Kv,
    #[serde(default)]
    pub common_annotations: Kv,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<Alert>,
    /// Not in the payload: the de-duplication window the webhook URL asked for
    /// (`?dedup_window=`, written by gen-config next to `repeat_interval`); `None` for the
    /// default ([`vpsmon_common::webhook::default_dedup_window`]).
    #[serde(skip)]
    pub dedup_window: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: Status,
    pub labels: Kv,
    #[serde(default)]
    pub annotations: Kv,
    pub starts_at: DateTime<Utc>,
    /// `None` while firing: Alertmanager sends Go's zero time "0001-01-01T00:00:00Z" then.
    #[serde(default, deserialize_with = "zero_time_is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// Alertmanager always sends it. A hand-written payload may leave it out; then it is computed
    /// from the labels exactly as Alertmanager does, so de-duplication still works.
    #[serde(default)]
    pub fingerprint: String,
}

impl Alert {
    /// The alert's name (label `alertname`), or "" when absent.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// Which machine the alert is about: label `agent` (vpsmon's rules set it), else `instance`.
    pub fn agent(&self) -> Option<&str> {
        self.labels
            .get("agent")
            .or_else(|| self.labels.get("instance"))
            .map(String::as_str)
    }
}

fn zero_time_is_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let t: Option<DateTime<Utc>> = Option::deserialize(d)?;
    // Go's time.Time{} marshals as year 1; no real alert ends before 1970.
    Ok(t.filter(|t| t.year() > 1))
}

/// Why a webhook body was refused. `field` is the JSON path (`alerts[3].startsAt`) when the fault
/// is in one field, so the 400 answer tells the sender exactly what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PayloadError {
    pub field: Option<String>,
    pub message: String,
}

impl Notification {
    /// Parses a webhook body, naming the offending field on error.
    pub fn from_json(body: &[u8]) -> Result<Notification, PayloadError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let mut n: Notification = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            // serde_json's message for a missing field already names it ("missing field `status`");
            // prefix the path of the object it was missing from.
            // The path is "." at the top level and "?" where no field was reached (bad syntax).
            let field = match (path.as_str(), missing_field(&inner.to_string())) {
                ("." | "?", Some(f)) => Some(f),
                (p, Some(f)) => Some(format!("{p}.{f}")),
                ("." | "?", None) => None,
                (p, None) => Some(p.to_string()),
            };
            let message = match &field {
                Some(f) => format!("{f}: {inner}"),
                None => inner.to_string(),
            };
            PayloadError { field, message }
        })?;
        if n.version != "4" {
            return Err(PayloadError {
                field: Some("version".into()),
                message: format!(
                    "version: unsupported webhook payload version {:?}, expected \"4\"",
                    n.version
                ),
            });
        }
        for alert in &mut n.alerts {
            if alert.fingerprint.is_empty() {
                alert.fingerprint = fingerprint(&alert.labels);
            }
        }
        Ok(n)
    }
}

fn missing_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

/// Alertmanager's alert fingerprint (`model.LabelSet.Fingerprint`): FNV-1a 64 over the labels
/// sorted by name, each name and value followed by the byte 0xff, printed as 16 hex digits.
pub fn fingerprint(labels: &Kv) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = r#"{"receiver":"vpsmon","status":"firing","alerts":[{"status":"firing",
        "labels":{"alertname":"AgentDown","instance":"10.0.0.1:9100","agent":"web-1","severity":"critical"},
        "annotations":{"summary":"web-1 is down"},"startsAt":"2026-11-21T10:00:00.123Z",
        "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom:9090/graph?g0.expr=up",
        "fingerprint":"c6d9b6b7d0f0a3a1"}],"groupLabels":{"alertname":"AgentDown"},
        "commonLabels":{"alertname":"AgentDown"},"commonAnnotations":{},
        "externalURL":"http://am:9093","version":"4","groupKey":"{}:{alertname=\"AgentDown\"}",
        "truncatedAlerts":0,"notification_reason":"new","routeLabels":{}}"#;

    #[test]
    fn reads_alertmanagers_payload_and_ignores_new_fields() {
        let n = Notification::from_json(REAL.as_bytes()).unwrap();
        assert_eq!(n.status, Status::Firing);
        assert_eq!(n.alerts[0].ends_at, None);
        assert_eq!(n.alerts[0].agent(), Some("web-1"));
        assert_eq!(n.external_url, "http://am:9093");
        assert_eq!(n.alerts[0].fingerprint, "c6d9b6b7d0f0a3a1");
    }

    #[test]
    fn missing_field_is_named_with_its_path() {
        let body = REAL.replace(r#""startsAt":"2026-11-21T10:00:00.123Z","#, "");
        let err = Notification::from_json(body.as_bytes()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("alerts[0].startsAt"));
        let body = REAL.replace(r#""status":"firing","alerts""#, r#""alerts""#);
        let err = Notification::from_json(body.as_bytes()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("status"));
    }

    #[test]
    fn wrong_type_is_named() {
        let body = REAL.replace(r#""truncatedAlerts":0"#, r#""truncatedAlerts":"x""#);
        let err = Notification::from_json(body.as_bytes()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("truncatedAlerts"));
    }

    #[test]
    fn fingerprint_matches_alertmanager() {
        // prometheus/common model/signature_test.go, TestMetricToFingerprint: the values
        // Alertmanager's alert fingerprints are made of.
        let labels: Kv = [("name", "garland, briggs"), ("fear", "love is not enough")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            fingerprint(&labels),
            format!("{:016x}", 5799056148416392346u64)
        );
        assert_eq!(
            fingerprint(&Kv::new()),
            format!("{:016x}", 14695981039346656037u64)
        );
    }
}
