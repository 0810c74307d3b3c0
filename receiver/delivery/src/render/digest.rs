//! What every integration's storm digest shares: a notification of more alerts than the
//! destination's `digest_threshold` is summed up (counts by alert name and severity, the first
//! agents affected) instead of shown alert by alert, and its full list is written out as plain
//! text, a compact line or a block per alert. Each integration lays the summary out in its own
//! markup (`crate::notify::<integration>::render`).

use chrono_tz::Tz;

use super::format_time;
use crate::payload::{Alert, Notification, Status};

/// More alerts than this in one notification make a digest, unless a destination's
/// `digest_threshold` says otherwise (issue 18: 400 alerts were 45 Telegram messages, more than a
/// group's 20 a minute).
pub const DEFAULT_THRESHOLD: usize = 20;

/// Longest agent name a summary shows (the full list has them whole).
pub const AGENT_NAME: usize = 32;

/// How many agents a summary names before "and N more".
pub const FIRST_AGENTS: usize = 5;

/// A notification summed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub firing: usize,
    pub resolved: usize,
    /// (alertname, severity, count), most alerts first, then by name and severity.
    pub by_kind: Vec<(String, String, usize)>,
    /// The first [`FIRST_AGENTS`] distinct agents, in the order of the alerts.
    pub first_agents: Vec<String>,
    /// Distinct agents in all.
    pub agents: usize,
}

impl Summary {
    pub fn of(n: &Notification) -> Summary {
        let mut kinds: std::collections::BTreeMap<(String, String), usize> = Default::default();
        let mut seen = std::collections::HashSet::new();
        let mut first_agents = Vec::new();
        for a in &n.alerts {
            let severity = a.labels.get("severity").cloned().unwrap_or_default();
            *kinds.entry((a.name().to_string(), severity)).or_default() += 1;
            if let Some(agent) = a.agent()
                && seen.insert(agent)
                && first_agents.len() < FIRST_AGENTS
            {
                first_agents.push(agent.to_string());
            }
        }
        let mut by_kind: Vec<(String, String, usize)> =
            kinds.into_iter().map(|((a, s), c)| (a, s, c)).collect();
        // Stable: equal counts stay in name order.
        by_kind.sort_by_key(|k| std::cmp::Reverse(k.2));
        let firing = n
            .alerts
            .iter()
            .filter(|a| a.status == Status::Firing)
            .count();
        Summary {
            firing,
            resolved: n.alerts.len() - firing,
            by_kind,
            first_agents,
            agents: seen.len(),
        }
    }

    /// `🔥 400 firing, ✅ 3 resolved`: the parts that are not zero.
    pub fn headline(&self) -> String {
        let mut parts = Vec::new();
        if self.firing > 0 {
            parts.push(format!("🔥 {} firing", self.firing));
        }
        if self.resolved > 0 {
            parts.push(format!("✅ {} resolved", self.resolved));
        }
        parts.join(", ")
    }
}

/// `s` cut to `max` characters, with `…` when cut: a hostile label must not crowd out the rest
/// of a summary.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// How many of `lines` fit in `budget` UTF-16 units, one separator character each, at most
/// `max`: hostile label values escape to several times their length, and a summary must stay
/// within the service's limit whatever they are.
pub fn fitting(lines: &[String], budget: usize, max: usize) -> usize {
    let mut used = 0;
    lines
        .iter()
        .take(max)
        .take_while(|l| {
            used += super::utf16_len(l) + 1;
            used <= budget
        })
        .count()
}

/// One alert on one line: `FIRING critical HighCPU agent="web-1" since 2026-11-21 10:00:00 UTC:
/// <summary>`. Control characters (a newline in a summary) become spaces.
pub fn compact_line(a: &Alert, tz: Tz) -> String {
    let mut line = format!("{} ", a.status.as_str().to_ascii_uppercase());
    if let Some(s) = a.labels.get("severity") {
        line.push_str(s);
        line.push(' ');
    }
    line.push_str(a.name());
    if let Some(agent) = a.agent() {
        line.push_str(&format!(" agent={agent:?}"));
    }
    match (a.status, a.ends_at) {
        (Status::Resolved, Some(end)) => line.push_str(&format!(
            " {} – {}",
            format_time(a.starts_at, tz),
            format_time(end, tz)
        )),
        _ => line.push_str(&format!(" since {}", format_time(a.starts_at, tz))),
    }
    if let Some(s) = a.annotations.get("summary").filter(|s| !s.is_empty()) {
        line.push_str(": ");
        line.push_str(s);
    }
    line.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The full list as plain text: every alert with all its labels, annotations and times, so a
/// digest drops nothing.
pub fn document(n: &Notification, tz: Tz) -> String {
    let summary = Summary::of(n);
    let mut out = format!(
        "vpsmon alert digest: {} ({} alerts{})\nreceiver: {}\ngroup: {}\n",
        summary.headline(),
        n.alerts.len(),
        if n.truncated_alerts > 0 {
            format!(
                "; {} more not sent by Alertmanager (max_alerts)",
                n.truncated_alerts
            )
        } else {
            String::new()
        },
        n.receiver,
        labels_line(&n.group_labels),
    );
    if !n.external_url.is_empty() {
        out.push_str(&format!("alertmanager: {}\n", n.external_url));
    }
    for (k, a) in n.alerts.iter().enumerate() {
        out.push_str(&format!(
            "\n#{} {} {}\n",
            k + 1,
            a.status.as_str().to_ascii_uppercase(),
            a.name()
        ));
        out.push_str(&format!("  started: {}\n", format_time(a.starts_at, tz)));
        if let Some(end) = a.ends_at {
            out.push_str(&format!("  ends: {}\n", format_time(end, tz)));
        }
        out.push_str(&format!("  labels: {}\n", labels_line(&a.labels)));
        if !a.annotations.is_empty() {
            out.push_str("  annotations:\n");
            for (k, v) in &a.annotations {
                // Continuation lines are indented, so no value can fake another alert's entry.
                out.push_str(&format!("    {k}: {}\n", v.replace('\n', "\n      ")));
            }
        }
        if !a.generator_url.is_empty() {
            out.push_str(&format!("  source: {}\n", a.generator_url));
        }
        out.push_str(&format!("  fingerprint: {}\n", a.fingerprint));
    }
    out
}

/// `{agent="web-1", alertname="HighCPU"}`, as Prometheus writes a label set.
fn labels_line(labels: &crate::payload::Kv) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storm() -> Notification {
        let alerts: Vec<String> = (0..7)
            .map(|i| {
                let (name, sev) = if i < 4 { ("AgentDown", "critical") } else { ("HighCPU", "warning") };
                format!(
                    r#"{{"status":"firing","labels":{{"alertname":"{name}","severity":"{sev}","agent":"web-{}"}},"annotations":{{"summary":"s{i}","description":"line one\nline two"}},"startsAt":"2026-11-21T10:00:00Z","fingerprint":"f{i}"}}"#,
                    i % 6
                )
            })
            .collect();
        Notification::from_json(
            format!(
                r#"{{"version":"4","groupKey":"g","status":"firing","receiver":"vpsmon","groupLabels":{{"job":"agents"}},"alerts":[{}]}}"#,
                alerts.join(",")
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn the_summary_counts_by_name_and_severity_and_names_the_first_agents() {
        let s = Summary::of(&storm());
        assert_eq!(
            s.by_kind,
            vec![
                ("AgentDown".into(), "critical".into(), 4),
                ("HighCPU".into(), "warning".into(), 3)
            ]
        );
        assert_eq!(
            s.first_agents,
            ["web-0", "web-1", "web-2", "web-3", "web-4"]
        );
        assert_eq!(s.agents, 6);
        assert_eq!(s.headline(), "🔥 7 firing");
    }

    #[test]
    fn the_document_holds_every_alert_whole() {
        let doc = document(&storm(), chrono_tz::UTC);
        assert!(doc.starts_with(
            "vpsmon alert digest: 🔥 7 firing (7 alerts)\nreceiver: vpsmon\ngroup: {job=\"agents\"}\n"
        ));
        assert!(doc.contains(
            "\n#7 FIRING HighCPU\n  started: 2026-11-21 10:00:00 UTC\n  labels: {agent=\"web-0\", alertname=\"HighCPU\", severity=\"warning\"}\n  annotations:\n    description: line one\n      line two\n    summary: s6\n  fingerprint: f6\n"
        ), "{doc}");
    }

    #[test]
    fn only_the_lines_that_fit_are_taken() {
        let lines: Vec<String> = ["aaaa", "bb", "cc"].map(String::from).to_vec();
        assert_eq!(fitting(&lines, 8, 20), 2);
        assert_eq!(fitting(&lines, 100, 2), 2);
        assert_eq!(fitting(&lines, 4, 20), 0);
    }

    #[test]
    fn a_compact_line_is_one_line() {
        let n = storm();
        assert_eq!(
            compact_line(&n.alerts[0], chrono_tz::UTC),
            "FIRING critical AgentDown agent=\"web-0\" since 2026-11-21 10:00:00 UTC: s0"
        );
    }
}
