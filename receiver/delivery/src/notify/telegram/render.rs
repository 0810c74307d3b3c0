//! Telegram messages (parse_mode HTML, at most 4096 characters each).

use super::html;
use super::template::TEMPLATE as TELEGRAM_TEMPLATE;
use crate::payload::{Notification, Status};
use crate::render::{Part, RenderContext, RenderError, utf16_len};

/// Telegram's limit for one message's text, "1-4096 characters after entities parsing". This
/// module measures the HTML as sent in UTF-16 code units, which is never less than what Telegram
/// counts (entities and tags only shrink when parsed), so every message is within the limit
/// however Telegram counts.
pub const MAX_MESSAGE: usize = 4096;

/// Room kept for the header line of a multi-part message (`<b>… part 12/13</b>`).
const HEADER_ROOM: usize = 160;

const SEPARATOR: &str = "\n\n";

/// Renders a notification as Telegram HTML messages, each ≤ [`MAX_MESSAGE`] and valid on its own.
///
/// Alerts are packed in order, several to a message, cutting only between alerts; an alert too
/// long for one message alone is split inside its text (see [`html::split`]). A notification of
/// more than one alert, or more than one message, starts each message with a header line
/// ("🔥 3 firing, ✅ 1 resolved · part 1/2").
pub fn telegram(n: &Notification, ctx: &RenderContext) -> Result<Vec<Part<String>>, RenderError> {
    let budget = MAX_MESSAGE - HEADER_ROOM;
    // (text, alert index) pieces, each ≤ budget.
    let mut pieces: Vec<(String, usize)> = Vec::with_capacity(n.alerts.len());
    for (i, alert) in n.alerts.iter().enumerate() {
        let text = ctx.render_alert(TELEGRAM_TEMPLATE, n, alert)?;
        let text = text.trim().to_string();
        let invalid = |e: html::HtmlError| RenderError::Template {
            name: TELEGRAM_TEMPLATE.into(),
            message: format!("renders {e} (alert {:?})", alert.name()),
        };
        if utf16_len(&text) <= budget {
            html::validate(&text).map_err(invalid)?;
            pieces.push((text, i));
        } else {
            // Later pieces say whose text they continue; a hostile, huge name is left out.
            let mut cont = format!("<i>{} (continued)</i>\n", html::escape(alert.name()));
            if utf16_len(&cont) > 200 {
                cont = "<i>(continued)</i>\n".to_string();
            }
            let split = html::split(&text, budget - utf16_len(&cont)).map_err(invalid)?;
            for (k, piece) in split.into_iter().enumerate() {
                let piece = if k == 0 {
                    piece
                } else {
                    format!("{cont}{piece}")
                };
                pieces.push((piece, i));
            }
        }
    }

    let mut parts: Vec<Part<String>> = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    let mut indices: Vec<usize> = Vec::new();
    for (text, i) in pieces {
        let len = utf16_len(&text);
        let needed = if cur.is_empty() {
            len
        } else {
            cur_len + SEPARATOR.len() + len
        };
        // A piece of an alert split inside its text always goes alone, so it reads as one.
        let same_alert_continues = indices.last() == Some(&i);
        if !cur.is_empty() && (needed > budget || same_alert_continues) {
            parts.push(Part {
                body: std::mem::take(&mut cur),
                alert_indices: std::mem::take(&mut indices),
            });
            cur_len = 0;
        }
        if !cur.is_empty() {
            cur.push_str(SEPARATOR);
            cur_len += SEPARATOR.len();
        }
        cur.push_str(&text);
        cur_len += len;
        if indices.last() != Some(&i) {
            indices.push(i);
        }
    }
    if !cur.is_empty() {
        parts.push(Part {
            body: cur,
            alert_indices: indices,
        });
    }

    let total = parts.len();
    if n.alerts.len() > 1 || total > 1 || n.truncated_alerts > 0 {
        let (firing, resolved) = counts(n);
        for (k, part) in parts.iter_mut().enumerate() {
            let mut header = String::from("<b>");
            let mut sep = "";
            if firing > 0 {
                header.push_str(&format!("🔥 {firing} firing"));
                sep = ", ";
            }
            if resolved > 0 {
                header.push_str(&format!("{sep}✅ {resolved} resolved"));
            }
            if total > 1 {
                header.push_str(&format!(" · part {}/{total}", k + 1));
            }
            header.push_str("</b>");
            if n.truncated_alerts > 0 {
                // Alertmanager left these out (max_alerts); say so instead of hiding it.
                header.push_str(&format!(
                    "\n<i>{} not sent by Alertmanager (max_alerts)</i>",
                    crate::render::count(n.truncated_alerts, "more alert", "more alerts")
                ));
            }
            debug_assert!(utf16_len(&header) + SEPARATOR.len() <= HEADER_ROOM);
            part.body = format!("{header}{SEPARATOR}{}", part.body);
        }
    }
    ctx.count_split("telegram", total);
    Ok(parts)
}

fn counts(n: &Notification) -> (usize, usize) {
    let firing = n
        .alerts
        .iter()
        .filter(|a| a.status == Status::Firing)
        .count();
    (firing, n.alerts.len() - firing)
}

/// How many (alert name, severity) lines a digest shows; the rest are counted in one line.
const DIGEST_KINDS: usize = 20;
/// Longest alert name or agent a digest shows (the document has them whole).
const DIGEST_NAME: usize = 64;

/// The full list that follows a digest, as one `sendDocument`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// Plain text, no parse mode.
    pub caption: String,
}

/// A storm digest: one HTML message with the counts by alert name and severity, the first
/// agents and, with `dashboard_url`, a link to the dashboard's alert view; and the document
/// holding every alert's labels, annotations and times.
pub fn digest(
    n: &Notification,
    ctx: &RenderContext,
    dashboard_url: Option<&str>,
) -> (String, Document) {
    use crate::render::digest::{AGENT_NAME, Summary, cut, document, fitting};
    let s = Summary::of(n);
    let mut head = format!(
        "<b>{}</b> · digest: every alert is in the attached file",
        s.headline()
    );
    if n.truncated_alerts > 0 {
        head.push_str(&format!(
            "\n<i>{} not sent by Alertmanager (max_alerts)</i>",
            crate::render::count(n.truncated_alerts, "more alert", "more alerts")
        ));
    }
    head.push('\n');
    let mut tail = String::new();
    if !s.first_agents.is_empty() {
        let names: Vec<String> = s
            .first_agents
            .iter()
            .map(|a| html::escape(&cut(a, AGENT_NAME)))
            .collect();
        tail.push_str(&format!(
            "\n\n<b>{}:</b> {}",
            crate::render::count(s.agents, "agent", "agents"),
            names.join(", ")
        ));
        if s.agents > s.first_agents.len() {
            tail.push_str(&format!(" and {} more", s.agents - s.first_agents.len()));
        }
    }
    if let Some(url) = dashboard_url.filter(|u| u.len() <= 1024) {
        tail.push_str(&format!(
            "\n\n<a href=\"{}/silences\">Firing alerts on the dashboard</a>",
            html::escape(url)
        ));
    }
    let lines: Vec<String> = s
        .by_kind
        .iter()
        .map(|(name, severity, count)| {
            let name = if name.is_empty() {
                "(no alertname)"
            } else {
                name
            };
            let mut line = format!("\n<b>{}</b>", html::escape(&cut(name, DIGEST_NAME)));
            if !severity.is_empty() {
                line.push_str(&format!(" {}", html::escape(&cut(severity, DIGEST_NAME))));
            }
            line.push_str(&format!(": {count}"));
            line
        })
        .collect();
    // Room for the "other kinds" line.
    let budget = MAX_MESSAGE - utf16_len(&head) - utf16_len(&tail) - 80;
    let shown = fitting(&lines, budget, DIGEST_KINDS);
    let mut text = head;
    for line in &lines[..shown] {
        text.push_str(line);
    }
    if shown < lines.len() {
        let rest: usize = s.by_kind[shown..].iter().map(|k| k.2).sum();
        text.push_str(&format!(
            "\n<i>{} of {} other kinds</i>",
            crate::render::count(rest, "alert", "alerts"),
            lines.len() - shown
        ));
    }
    text.push_str(&tail);
    debug_assert!(utf16_len(&text) <= MAX_MESSAGE);
    let stamp = chrono::Utc::now().with_timezone(&ctx.tz);
    let doc = Document {
        file_name: format!(
            "alerts-{}-{}.txt",
            n.status.as_str(),
            stamp.format("%Y%m%d-%H%M%S")
        ),
        bytes: document(n, ctx.tz).into_bytes(),
        caption: format!(
            "All {}: labels, annotations and times.",
            crate::render::count(n.alerts.len(), "alert", "alerts")
        ),
    };
    (text, doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile alert names escape to five times their length (`&` → `&amp;`): the summary still
    /// fits one message, shows what fits and counts the rest, and the document has them all.
    #[test]
    fn a_digest_of_hostile_names_stays_within_one_message() {
        let alerts: Vec<String> = (0..60)
            .map(|i| {
                format!(
                    r#"{{"status":"firing","labels":{{"alertname":"{i:02}{}","severity":"{}","agent":"{}"}},"startsAt":"2026-11-21T10:00:00Z"}}"#,
                    "&".repeat(200),
                    "&".repeat(200),
                    "&".repeat(200)
                )
            })
            .collect();
        let n = Notification::from_json(
            format!(
                r#"{{"version":"4","groupKey":"g","status":"firing","receiver":"r","alerts":[{}]}}"#,
                alerts.join(",")
            )
            .as_bytes(),
        )
        .unwrap();
        let ctx = RenderContext::new(chrono_tz::UTC, None).unwrap();
        let (text, doc) = digest(&n, &ctx, Some(&format!("https://x/{}", "a".repeat(900))));
        assert!(utf16_len(&text) <= MAX_MESSAGE, "{}", utf16_len(&text));
        html::validate(&text).unwrap();
        let shown = text.matches("<b>").count() - 2; // the headline and the agents
        assert!(shown >= 1, "{text}");
        assert!(
            text.contains(&format!(
                "<i>{} alerts of {} other kinds</i>",
                60 - shown,
                60 - shown
            )),
            "{text}"
        );
        assert!(text.ends_with("/silences\">Firing alerts on the dashboard</a>"));
        let doc = String::from_utf8(doc.bytes).unwrap();
        for i in 0..60 {
            assert!(doc.contains(&format!(" FIRING {i:02}&&&")), "{i}");
        }
    }
}
