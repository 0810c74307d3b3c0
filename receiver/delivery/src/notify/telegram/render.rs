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
        let text = ctx.render_alert(&ctx.telegram, TELEGRAM_TEMPLATE, n, alert)?;
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
