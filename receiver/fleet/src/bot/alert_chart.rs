//! The chart that goes with a firing alert: the rule's expression, taken from the alert's
//! generatorURL (`…/graph?g0.expr=…`), split at its top-level comparison (`lhs > 0.8`) into the
//! charted side and the threshold, asked of Prometheus with `query_range` over the last 30
//! minutes, and only the series that belong to the alert (its labels) drawn.
//!
//! The Telegram notifier sends it as a photo replying to the alert message
//! ([`vpsmon_receiver_delivery::notify::telegram`]); [`requests`] picks which alerts of a message get one.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use chrono_tz::Tz;

use crate::chart::{self, Chart, Line, Unit};
use crate::promapi::PrometheusClient;
use vpsmon_receiver_delivery::payload::{Notification, Status};

use super::{CAPTION_LIMIT, truncate};

/// How far back the alert's chart looks.
pub const WINDOW: Duration = Duration::from_secs(30 * 60);

/// At most this many charts per notification: each photo takes a slot of the chat's rate limit
/// (about one message a second), and the alert texts must not wait behind a wall of pictures.
pub const MAX_PER_NOTIFICATION: usize = 3;

/// The built-in rules (vpsmon-gen-config's resource group) whose alerts get a chart, and the unit
/// of their expression's charted side. The availability, tunnel and login rules are states
/// (0 or 1), which a chart does not explain better than the text.
pub fn builtin_unit(alertname: &str) -> Option<Unit> {
    match alertname {
        // Their left-hand sides are ratios (0.93); drawn as percent.
        "HighCPU" | "HighMemory" | "HighDisk" => Some(Unit::Percent),
        "HighLoad" => Some(Unit::PerCpu),
        _ => None,
    }
}

/// One alert to chart: what [`alert_chart`] needs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartRequest {
    pub labels: BTreeMap<String, String>,
    pub generator_url: String,
}

/// The chart requests for one message carrying `indices` of `n`'s alerts: its firing alerts from
/// the built-in rules, each once (`charted` holds the fingerprints of earlier messages' charts),
/// no more than [`MAX_PER_NOTIFICATION`] in all.
pub fn requests(
    n: &Notification,
    indices: &[usize],
    charted: &mut Vec<String>,
) -> Vec<ChartRequest> {
    let mut out = Vec::new();
    for a in indices.iter().filter_map(|i| n.alerts.get(*i)) {
        if charted.len() >= MAX_PER_NOTIFICATION {
            break;
        }
        if a.status == Status::Firing
            && builtin_unit(a.name()).is_some()
            && !a.generator_url.is_empty()
            && !charted.contains(&a.fingerprint)
        {
            charted.push(a.fingerprint.clone());
            out.push(ChartRequest {
                labels: a.labels.clone(),
                generator_url: a.generator_url.clone(),
            });
        }
    }
    out
}

/// Why no chart could be made (logged and counted by the caller; the text alert goes out).
#[derive(Debug, thiserror::Error)]
pub enum AlertChartError {
    #[error("the alert has no generatorURL with a g0.expr")]
    NoExpression,
    #[error(transparent)]
    Api(#[from] crate::promapi::ApiError),
    #[error("Prometheus has no data for {0} in the last 30 minutes")]
    NoData(String),
    #[error(transparent)]
    Chart(#[from] chart::ChartError),
}

/// The rule's expression from a Prometheus generatorURL.
pub fn expression(generator_url: &str) -> Option<String> {
    let url = reqwest::Url::parse(generator_url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v.into_owned())
        .filter(|e| !e.trim().is_empty())
}

/// `(charted side, threshold)`: the part before the first comparison with a number at the top
/// level (outside parentheses, braces, brackets and strings), e.g. `(1 - x) > 0.8 and y == 0`
/// → `((1 - x), Some(0.8))`. Without one, the whole expression and no threshold.
pub fn split_threshold(expr: &str) -> (String, Option<f64>) {
    let b = expr.as_bytes();
    let (mut depth, mut quote) = (0i32, None::<u8>);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'(' | b'{' | b'[' => depth += 1,
                b')' | b'}' | b']' => depth -= 1,
                b'>' | b'<' | b'=' | b'!' if depth == 0 => {
                    let op_len = if b.get(i + 1) == Some(&b'=') { 2 } else { 1 };
                    if (c == b'=' || c == b'!') && op_len == 1 {
                        i += 1;
                        continue;
                    }
                    let rest = expr[i + op_len..].trim_start();
                    let rest = rest.strip_prefix("bool").unwrap_or(rest).trim_start();
                    let num: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '-' | '+'))
                        .collect();
                    if let Ok(n) = num.parse::<f64>() {
                        return (expr[..i].trim().to_string(), Some(n));
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    (expr.trim().to_string(), None)
}

/// The PNG and its caption for one firing alert.
pub async fn alert_chart(
    prom: &PrometheusClient,
    tz: Tz,
    labels: &BTreeMap<String, String>,
    generator_url: &str,
) -> Result<(Vec<u8>, String), AlertChartError> {
    let expr = expression(generator_url).ok_or(AlertChartError::NoExpression)?;
    let (lhs, threshold) = split_threshold(&expr);
    let alertname = labels.get("alertname").map_or("alert", String::as_str);
    // Another rule's expression is drawn as its plain numbers.
    let unit = builtin_unit(alertname).unwrap_or(Unit::PerCpu);
    let (query, threshold) = match unit {
        Unit::Percent => (format!("100 * ({lhs})"), threshold.map(|t| t * 100.0)),
        _ => (lhs.clone(), threshold),
    };
    let end = Utc::now();
    let start = end - TimeDelta::from_std(WINDOW).unwrap_or(TimeDelta::minutes(30));
    let series = prom
        .query_range(&query, start, end, Duration::from_secs(10))
        .await?;
    // The alert's own series: every label they share with the alert has the alert's value.
    let mut lines: Vec<Line> = series
        .into_iter()
        .filter(|s| {
            s.labels
                .iter()
                .all(|(k, v)| labels.get(k).is_none_or(|a| a == v))
        })
        .map(|s| Line {
            name: name(&s.labels),
            points: s.points,
        })
        .collect();
    if lines.is_empty() {
        return Err(AlertChartError::NoData(lhs));
    }
    lines.sort_by(|a, b| a.name.cmp(&b.name));
    let title = match labels.get("agent") {
        Some(agent) => format!("{alertname} — {agent}"),
        None => alertname.to_string(),
    };
    let png = chart::to_png(&Chart {
        title: title.clone(),
        unit,
        threshold,
        lines,
        start,
        end,
        tz,
        width: super::chart::WIDTH,
        height: super::chart::HEIGHT,
    })?;
    let mut caption = format!("📈 {title}: the last 30 minutes of {lhs}");
    match (threshold, unit) {
        (Some(t), Unit::Percent) => caption.push_str(&format!(" (threshold {}%)", round(t))),
        (Some(t), _) => caption.push_str(&format!(" (threshold {})", round(t))),
        (None, _) => {}
    }
    Ok((png, truncate(&caption, CAPTION_LIMIT)))
}

/// 80.00000000000001 → 80: a threshold as the rule wrote it.
fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// A line's legend: the identifying labels, not the whole set.
fn name(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = ["agent", "mountpoint", "device", "instance"]
        .iter()
        .filter_map(|k| labels.get(*k).map(|v| v.to_string()))
        .take(2)
        .collect();
    if parts.is_empty() {
        "value".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firing_alerts_of_the_resource_rules_get_a_chart_once_and_at_most_three() {
        let alert = |name: &str, status: &str, fp: &str, url: &str| {
            serde_json::json!({"status": status, "labels": {"alertname": name, "agent": fp},
                "startsAt": "2026-11-21T10:00:00Z", "generatorURL": url, "fingerprint": fp})
        };
        let g = "http://p/graph?g0.expr=x+%3E+1";
        let n = Notification::from_json(
            serde_json::json!({"version": "4", "groupKey": "g", "status": "firing",
                "receiver": "r", "alerts": [
                alert("HighCPU", "firing", "a", g),
                alert("HighCPU", "resolved", "b", g),
                alert("AgentDown", "firing", "c", g),
                alert("HighDisk", "firing", "d", ""),
                alert("HighLoad", "firing", "e", g),
                alert("HighMemory", "firing", "f", g),
                alert("HighDisk", "firing", "h", g),
            ]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let agents = |rs: Vec<ChartRequest>| -> Vec<String> {
            rs.iter().map(|r| r.labels["agent"].clone()).collect()
        };
        let mut charted = Vec::new();
        // Alert 0 is split over two messages: charted with the first only.
        assert_eq!(agents(requests(&n, &[0, 1, 2, 3], &mut charted)), ["a"]);
        assert_eq!(
            agents(requests(&n, &[0, 4, 5, 6], &mut charted)),
            ["e", "f"]
        );
        assert_eq!(charted.len(), MAX_PER_NOTIFICATION);
    }

    #[test]
    fn expression_from_generator_url() {
        assert_eq!(
            expression(
                "http://prom:9090/graph?g0.expr=up%7Bagent%21%3D%22%22%7D+%3D%3D+0&g0.tab=1"
            )
            .as_deref(),
            Some(r#"up{agent!=""} == 0"#)
        );
        assert_eq!(expression("http://prom:9090/graph"), None);
        assert_eq!(expression("not a url"), None);
    }

    #[test]
    fn threshold_split_at_the_top_level_comparison() {
        let cpu = r#"(1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[2m]))) > 0.8"#;
        assert_eq!(
            split_threshold(cpu),
            (
                r#"(1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[2m])))"#
                    .into(),
                Some(0.8)
            )
        );
        let disk = r#"(1 - node_filesystem_avail_bytes{fstype!~"tmpfs"} / node_filesystem_size_bytes{fstype!~"tmpfs"}) > 0.9 and node_filesystem_readonly == 0"#;
        let (lhs, t) = split_threshold(disk);
        assert_eq!(t, Some(0.9));
        assert!(
            lhs.ends_with(r#"node_filesystem_size_bytes{fstype!~"tmpfs"})"#),
            "{lhs}"
        );
        assert_eq!(
            split_threshold(r#"up{agent!=""} == 0"#),
            (r#"up{agent!=""}"#.into(), Some(0.0))
        );
        assert_eq!(
            split_threshold("node_load1 >= bool 1.5"),
            ("node_load1".into(), Some(1.5))
        );
        assert_eq!(split_threshold("absent(up)"), ("absent(up)".into(), None));
    }
}
