//! Console lines: one line per alert, for stdout and the optional console file.

use super::{CONSOLE_TEMPLATE, RenderContext, RenderError};
use crate::payload::Notification;

/// Keeps a value on one line: newlines, tabs and other control characters become `\n`, `\t`,
/// `\u{..}`, and a backslash is doubled so the line can be read back unambiguously.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// One line per alert, in the order of `Notification::alerts` (line `i` is alert `i`).
pub fn console(n: &Notification, ctx: &RenderContext) -> Result<Vec<String>, RenderError> {
    n.alerts
        .iter()
        .map(|a| {
            let line = ctx.render_alert(&ctx.console, CONSOLE_TEMPLATE, n, a)?;
            // The template's own newlines (a trailing one from the file) are not part of it.
            Ok(line.replace(['\n', '\r'], " ").trim().to_string())
        })
        .collect()
}
