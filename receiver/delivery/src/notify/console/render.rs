//! Console lines: one line per alert, for stdout and the optional console file.

use super::template::TEMPLATE as CONSOLE_TEMPLATE;
use crate::payload::Notification;
use crate::render::{RenderContext, RenderError};

pub use super::template::escape;

/// One line per alert, in the order of `Notification::alerts` (line `i` is alert `i`).
pub fn console(n: &Notification, ctx: &RenderContext) -> Result<Vec<String>, RenderError> {
    n.alerts
        .iter()
        .map(|a| {
            let line = ctx.render_alert(CONSOLE_TEMPLATE, n, a)?;
            // The template's own newlines (a trailing one from the file) are not part of it.
            Ok(line.replace(['\n', '\r'], " ").trim().to_string())
        })
        .collect()
}

/// A storm digest: a summary line (counts by alert name and severity, the first agents), then
/// one compact line per alert ([`crate::render::digest::compact_line`]), instead of the
/// template's longer line.
pub fn digest(n: &Notification, ctx: &RenderContext) -> Vec<String> {
    use crate::render::digest::{Summary, compact_line, cut};
    let s = Summary::of(n);
    let kinds: Vec<String> = s
        .by_kind
        .iter()
        .map(|(name, severity, count)| {
            let kind = format!("{name} {severity}");
            format!("{} {count}", cut(kind.trim(), 64))
        })
        .collect();
    let mut head = format!(
        "DIGEST {} alerts ({}): {}",
        n.alerts.len(),
        s.headline(),
        kinds.join(", ")
    );
    if !s.first_agents.is_empty() {
        head.push_str(&format!(
            "; {}: {}",
            crate::render::count(s.agents, "agent", "agents"),
            s.first_agents.join(", ")
        ));
        if s.agents > s.first_agents.len() {
            head.push_str(&format!(" and {} more", s.agents - s.first_agents.len()));
        }
    }
    if n.truncated_alerts > 0 {
        head.push_str(&format!(
            "; {} not sent by Alertmanager (max_alerts)",
            crate::render::count(n.truncated_alerts, "more alert", "more alerts")
        ));
    }
    let head: String = head
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    std::iter::once(head)
        .chain(n.alerts.iter().map(|a| compact_line(a, ctx.tz)))
        .collect()
}
