//! alertmanager.yml: every alert to the vpsmon receiver's webhook.

use std::fmt::Write;

use vpsmon_common::webhook::{
    BODY_LIMIT_DEFAULT, DEDUP_WINDOW_PARAM, WATCHDOG_ALERTNAME, WATCHDOG_ROUTE,
};

use super::{header, q};
use crate::duration::PromDuration;
use crate::settings::Settings;

/// What one alert of the generated rules can take in Alertmanager's webhook JSON, at most.
/// The largest is HighDisk: labels `mountpoint`, `device`, `fstype` come from the agent at run
/// time, and its summary and description repeat `mountpoint` twice and `device` once.
/// Counting each run-time value at up to 1 KiB (a Linux mount path is rarely 100 bytes) and
/// the target labels (agent, instance, job, agents.yml's `labels`) at up to 2 KiB:
///   labels          3 × 1 KiB + 2 KiB + alertname/severity          ≈  5.1 KiB
///   annotations     templates 0.3 KiB + 3 × 1 KiB + 3 × the agent    ≈  3.6 KiB
///   generatorURL    the longest expression, percent-encoded, + host  ≤  2 KiB
///   status, times, fingerprint, JSON keys                            ≈  0.2 KiB
/// ≈ 11 KiB; 16 KiB leaves room for JSON escapes.
const ALERT_BUDGET: usize = 16 * 1024;

/// The most alerts one webhook carries, so that it fits the receiver's default body limit
/// (a larger one would be refused with 413, which Alertmanager never retries). The envelope
/// (commonLabels and commonAnnotations are subsets of one alert's; groupLabels, groupKey,
/// externalURL are shorter) takes at most one budget:
///   (1 MiB − 16 KiB) / 16 KiB = (1,048,576 − 16,384) / 16,384 = 63
/// Alertmanager counts the rest in `truncatedAlerts`, and the receiver's message says so.
pub const MAX_ALERTS: usize = (BODY_LIMIT_DEFAULT - ALERT_BUDGET) / ALERT_BUDGET;

pub fn render(s: &Settings) -> String {
    let mut out = header(&s.source_name);
    out.push_str("route:\n");
    out.push_str("  receiver: vpsmon-receiver\n");
    out.push_str(
        "  # One notification per alert and agent, so each chat message is about one machine.\n",
    );
    out.push_str("  group_by:\n    - alertname\n    - agent\n");
    let _ = writeln!(out, "  group_wait: {}", s.intervals.group_wait);
    let _ = writeln!(out, "  group_interval: {}", s.intervals.group_interval);
    let _ = writeln!(out, "  repeat_interval: {}", s.intervals.repeat_interval);
    watchdog_route(&mut out, s);
    inhibit_rules(&mut out);
    out.push_str("receivers:\n");
    out.push_str("  - name: vpsmon-receiver\n");
    out.push_str("    webhook_configs:\n");
    let url = format!(
        "{}?{DEDUP_WINDOW_PARAM}={}",
        s.receiver_url,
        s.dedup_window()
    );
    let _ = writeln!(out, "      - url: {}", q(&url));
    out.push_str("        send_resolved: true\n");
    let _ = writeln!(
        out,
        "        # At most {MAX_ALERTS} alerts a webhook, so it fits the receiver's default body limit\n        # ({BODY_LIMIT_DEFAULT} bytes); the message says how many more there were. {DEDUP_WINDOW_PARAM}\n        # (max(group_interval, 10s) + 15s per Alertmanager): an identical notification within it\n        # is a retry, not a reminder."
    );
    let _ = writeln!(out, "        max_alerts: {MAX_ALERTS}");
    auth(&mut out, s);
    out.push_str("  - name: vpsmon-watchdog\n");
    out.push_str("    webhook_configs:\n");
    let _ = writeln!(out, "      - url: {}", q(&watchdog_url(&s.receiver_url)));
    out.push_str("        send_resolved: false\n");
    auth(&mut out, s);
    out
}

/// While MonitorCutOff fires (rules/cutoff.rs), the AgentDown alerts it explains are held
/// back; each agent's alert still resolves on its own, and one still down after the cut-off
/// ends is notified then. `equal: [shard]`: a sharded Prometheus counts only its own agents
/// and adds its `shard` external label to both alerts; unsharded, neither has it (equal).
fn inhibit_rules(out: &mut String) {
    out.push_str("inhibit_rules:\n");
    out.push_str(
        "  # Many agents down at once: one message about the monitoring host, not one per agent.\n",
    );
    let _ = writeln!(
        out,
        "  - source_matchers:\n      - {}\n    target_matchers:\n      - {}\n    equal:\n      - shard",
        q(&format!(
            "alertname=\"{}\"",
            crate::rules::cutoff::ALERTNAME
        )),
        q("alertname=\"AgentDown\""),
    );
}

fn auth(out: &mut String, s: &Settings) {
    if let Some(file) = &s.receiver_token_file {
        out.push_str("        http_config:\n");
        out.push_str("          authorization:\n");
        let _ = writeln!(out, "            credentials_file: {}", q(file));
    }
}

/// The Watchdog (rules/watchdog.rs) on a short repeat, to its own receiver: its reminders are
/// the heartbeat. The receiver's watchdog endpoint does not de-duplicate, so the repeat may be
/// shorter than the `dedup_window` arithmetic would allow on the alert route.
fn watchdog_route(out: &mut String, s: &Settings) {
    let every = s.intervals.watchdog_interval;
    // Alertmanager sends a reminder at the first group_interval tick after repeat_interval.
    let tick = PromDuration(every.millis().div_ceil(6).clamp(1000, 10_000));
    out.push_str("  routes:\n");
    let _ = writeln!(
        out,
        "    # The pipeline's heartbeat, every {every}: vpsmon-receiver reports the monitoring pipeline\n    # broken when it stops arriving, and never shows it as an alert."
    );
    let _ = writeln!(
        out,
        "    - matchers:\n        - {}",
        q(&format!("alertname=\"{WATCHDOG_ALERTNAME}\""))
    );
    out.push_str("      receiver: vpsmon-watchdog\n");
    out.push_str("      group_wait: 0s\n");
    let _ = writeln!(out, "      group_interval: {tick}");
    let _ = writeln!(out, "      repeat_interval: {every}");
}

/// The receiver's watchdog endpoint beside its webhook: `…/alerts[/{route}]` becomes
/// `…/alerts/watchdog`; a URL with no `alerts` segment gets `/alerts/watchdog` appended.
pub fn watchdog_url(receiver_url: &str) -> String {
    let Ok(mut url) = reqwest::Url::parse(receiver_url) else {
        return format!(
            "{}/alerts/{WATCHDOG_ROUTE}",
            receiver_url.trim_end_matches('/')
        );
    };
    let segments: Vec<String> = url
        .path_segments()
        .map(|p| p.filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let keep = segments
        .iter()
        .rposition(|s| s == "alerts")
        .unwrap_or(segments.len());
    let mut path: Vec<&str> = segments[..keep].iter().map(String::as_str).collect();
    path.extend(["alerts", WATCHDOG_ROUTE]);
    url.set_path(&path.join("/"));
    url.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn max_alerts_is_the_arithmetic_in_the_comment() {
        assert_eq!(super::MAX_ALERTS, 63);
    }

    #[test]
    fn the_watchdog_url_sits_beside_the_webhook() {
        for (given, want) in [
            (
                "http://127.0.0.1:9097/alerts",
                "http://127.0.0.1:9097/alerts/watchdog",
            ),
            (
                "https://alerts.example.com/alerts/ops",
                "https://alerts.example.com/alerts/watchdog",
            ),
            (
                "https://alerts.example.com/vpsmon/alerts/",
                "https://alerts.example.com/vpsmon/alerts/watchdog",
            ),
            (
                "https://alerts.example.com/",
                "https://alerts.example.com/alerts/watchdog",
            ),
        ] {
            assert_eq!(super::watchdog_url(given), want, "{given}");
        }
    }
}
