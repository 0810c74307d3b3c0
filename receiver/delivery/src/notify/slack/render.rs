//! Slack incoming-webhook messages: `{"text": ..., "blocks": [...]}` in mrkdwn.
//!
//! Slack's rules: `&`, `<` and `>` are escaped as `&amp;`, `&lt;`, `&gt;` (everything else is
//! literal); a section block's text holds at most 3000 characters; a message at most 50 blocks.

use serde_json::{Value, json};

use super::template::TEMPLATE as SLACK_TEMPLATE;
use crate::payload::{Notification, Status};
use crate::render::{Part, RenderContext, RenderError, utf16_len};

pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_BLOCKS: usize = 50;

pub use super::template::escape;

/// Renders a notification as Slack messages. Each alert becomes one section block (several
/// when its text is longer than 3000), alerts are separated by dividers, and a message that would
/// pass 50 blocks continues in the next one, cutting only between alerts when it can.
pub fn slack(n: &Notification, ctx: &RenderContext) -> Result<Vec<Part<Value>>, RenderError> {
    // Sections of each alert.
    let mut alerts: Vec<Vec<String>> = Vec::with_capacity(n.alerts.len());
    for alert in &n.alerts {
        let text = ctx.render_alert(SLACK_TEMPLATE, n, alert)?;
        alerts.push(split_mrkdwn(text.trim(), MAX_SECTION_TEXT));
    }

    // Alertmanager left alerts out (max_alerts): the first message says so in a block of its
    // own, so every message keeps room for it.
    let max_blocks = MAX_BLOCKS - usize::from(n.truncated_alerts > 0);
    let mut messages: Vec<(Vec<Value>, Vec<usize>)> = Vec::new();
    let mut blocks: Vec<Value> = Vec::new();
    let mut indices: Vec<usize> = Vec::new();
    for (i, sections) in alerts.into_iter().enumerate() {
        let divider = usize::from(!blocks.is_empty());
        // Start a new message when this alert does not fit the rest of this one but would fit
        // a fresh one; an alert of more than 50 sections simply continues across messages.
        if blocks.len() + divider + sections.len() > max_blocks && sections.len() <= max_blocks {
            messages.push((std::mem::take(&mut blocks), std::mem::take(&mut indices)));
        }
        if !blocks.is_empty() {
            blocks.push(json!({"type": "divider"}));
        }
        for s in sections {
            if blocks.len() == max_blocks {
                messages.push((std::mem::take(&mut blocks), std::mem::take(&mut indices)));
            }
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": s}}));
            if indices.last() != Some(&i) {
                indices.push(i);
            }
        }
    }
    if !blocks.is_empty() {
        messages.push((blocks, indices));
    }

    let total = messages.len();
    let parts: Vec<Part<Value>> = messages
        .into_iter()
        .enumerate()
        .map(|(k, (mut blocks, alert_indices))| {
            let mut text = fallback_text(n, &alert_indices);
            if total > 1 {
                text.push_str(&format!(" (part {}/{total})", k + 1));
            }
            if n.truncated_alerts > 0 {
                let note = format!(
                    "{} not sent by Alertmanager (max_alerts)",
                    crate::render::count(n.truncated_alerts, "more alert", "more alerts")
                );
                text.push_str(&format!("; {note}"));
                if k == 0 {
                    blocks.insert(
                        0,
                        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("_{note}_")}]}),
                    );
                }
            }
            Part {
                body: json!({ "text": text, "blocks": blocks }),
                alert_indices,
            }
        })
        .collect();
    ctx.count_split("slack", total);
    Ok(parts)
}

/// A storm digest: a summary section (counts by alert name and severity, the first agents), then
/// one compact line per alert ([`crate::render::digest::compact_line`]), the lines packed into
/// sections of up to 3000 characters and the sections into messages of up to 50 blocks: as few
/// posts as Slack's limits allow (400 alerts with 150-character summaries fit one).
pub fn digest(n: &Notification, ctx: &RenderContext) -> Vec<Part<Value>> {
    use crate::render::digest::{AGENT_NAME, Summary, compact_line, cut, fitting};
    let s = Summary::of(n);
    let mut head = format!("*{}* · digest, one line per alert", s.headline());
    if n.truncated_alerts > 0 {
        head.push_str(&format!(
            "\n_{} not sent by Alertmanager (max_alerts)_",
            crate::render::count(n.truncated_alerts, "more alert", "more alerts")
        ));
    }
    let mut tail = String::new();
    if !s.first_agents.is_empty() {
        let names: Vec<String> = s
            .first_agents
            .iter()
            .map(|a| escape(&cut(a, AGENT_NAME)))
            .collect();
        tail.push_str(&format!(
            "\n*{}:* {}",
            crate::render::count(s.agents, "agent", "agents"),
            names.join(", ")
        ));
        if s.agents > s.first_agents.len() {
            tail.push_str(&format!(" and {} more", s.agents - s.first_agents.len()));
        }
    }
    let lines: Vec<String> = s
        .by_kind
        .iter()
        .map(|(name, severity, count)| {
            format!(
                "\n*{}* {}: {count}",
                escape(&cut(name, 64)),
                escape(&cut(severity, 64))
            )
        })
        .collect();
    // Room for the "other kinds" line.
    let budget = MAX_SECTION_TEXT - utf16_len(&head) - utf16_len(&tail) - 80;
    let shown = fitting(&lines, budget, 20);
    for line in &lines[..shown] {
        head.push_str(line);
    }
    if shown < lines.len() {
        let rest: usize = s.by_kind[shown..].iter().map(|k| k.2).sum();
        head.push_str(&format!(
            "\n_{} of {} other kinds_",
            crate::render::count(rest, "alert", "alerts"),
            lines.len() - shown
        ));
    }
    head.push_str(&tail);

    // Sections: (text, alerts), the summary first; each line whole where it fits.
    let mut sections: Vec<(String, Vec<usize>)> = vec![(head, Vec::new())];
    let mut cur = String::new();
    let mut cur_alerts: Vec<usize> = Vec::new();
    for (i, a) in n.alerts.iter().enumerate() {
        for piece in split_mrkdwn(&escape(&compact_line(a, ctx.tz)), MAX_SECTION_TEXT) {
            if !cur.is_empty() && utf16_len(&cur) + 1 + utf16_len(&piece) > MAX_SECTION_TEXT {
                sections.push((std::mem::take(&mut cur), std::mem::take(&mut cur_alerts)));
            }
            if !cur.is_empty() {
                cur.push('\n');
            }
            cur.push_str(&piece);
            if cur_alerts.last() != Some(&i) {
                cur_alerts.push(i);
            }
        }
    }
    if !cur.is_empty() {
        sections.push((cur, cur_alerts));
    }

    let chunks: Vec<&[(String, Vec<usize>)]> = sections.chunks(MAX_BLOCKS).collect();
    let total = chunks.len();
    let parts: Vec<Part<Value>> = chunks
        .into_iter()
        .enumerate()
        .map(|(k, chunk)| {
            let mut alert_indices: Vec<usize> = chunk.iter().flat_map(|c| c.1.clone()).collect();
            alert_indices.dedup();
            let blocks: Vec<Value> = chunk
                .iter()
                .map(|(t, _)| json!({"type": "section", "text": {"type": "mrkdwn", "text": t}}))
                .collect();
            let mut text = format!(
                "{} (digest)",
                fallback_text(n, &(0..n.alerts.len()).collect::<Vec<_>>())
            );
            if total > 1 {
                text.push_str(&format!(" (part {}/{total})", k + 1));
            }
            Part {
                body: json!({ "text": text, "blocks": blocks }),
                alert_indices,
            }
        })
        .collect();
    ctx.count_split("slack", total);
    parts
}

/// The message's plain `text`: what notifications and old clients show. Names up to 5 alerts.
fn fallback_text(n: &Notification, indices: &[usize]) -> String {
    let alerts: Vec<_> = indices.iter().map(|&i| &n.alerts[i]).collect();
    let firing = alerts.iter().filter(|a| a.status == Status::Firing).count();
    let resolved = alerts.len() - firing;
    let mut names: Vec<&str> = Vec::new();
    for a in &alerts {
        if !names.contains(&a.name()) {
            names.push(a.name());
        }
    }
    let more = names.len().saturating_sub(5);
    names.truncate(5);
    let mut text = match (firing, resolved) {
        (f, 0) => format!("🔥 {f} firing"),
        (0, r) => format!("✅ {r} resolved"),
        (f, r) => format!("🔥 {f} firing, ✅ {r} resolved"),
    };
    text.push_str(": ");
    text.push_str(&escape(&names.join(", ")));
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// Splits mrkdwn into pieces of at most `limit` UTF-16 units, never inside a `<link|label>` or
/// an `&entity;`, preferring a newline, then a space, in the second half of a piece.
fn split_mrkdwn(s: &str, limit: usize) -> Vec<String> {
    if utf16_len(s) <= limit {
        return vec![s.to_string()];
    }
    // Atoms: a whole <...> span, a whole &...; entity, or one character.
    let mut atoms: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let len = if rest.starts_with('<') {
            rest.find('>').map_or(1, |e| e + 1)
        } else if rest.starts_with('&') {
            rest.find(';').filter(|&e| e <= 8).map_or(1, |e| e + 1)
        } else {
            rest.chars().next().map_or(1, char::len_utf8)
        };
        atoms.push(&rest[..len]);
        i += len;
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    let (mut newline, mut space): (Option<usize>, Option<usize>) = (None, None);
    for atom in atoms {
        let len = utf16_len(atom);
        if cur_len + len > limit && !cur.is_empty() {
            let half = |c: Option<usize>| c.filter(|&b| utf16_len(&cur[..b]) >= limit / 2);
            let cut = half(newline).or(half(space)).unwrap_or(cur.len());
            let rest = cur.split_off(cut);
            out.push(std::mem::replace(&mut cur, rest));
            cur_len = utf16_len(&cur);
            newline = None;
            space = None;
        }
        cur.push_str(atom);
        cur_len += len;
        match atom {
            "\n" => newline = Some(cur.len()),
            " " => space = Some(cur.len()),
            _ => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_links_and_entities_whole() {
        let s = format!(
            "{} <http://x/a&amp;b|link> {}",
            "&lt;".repeat(40),
            "y ".repeat(40)
        );
        let parts = split_mrkdwn(&s, 50);
        assert_eq!(parts.concat(), s);
        for p in &parts {
            assert!(utf16_len(p) <= 50);
            assert_eq!(p.matches('<').count(), p.matches('>').count(), "{p}");
            assert_eq!(p.matches('&').count(), p.matches(';').count(), "{p}");
        }
    }
}
