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
            let line = ctx.render_alert(&ctx.console, CONSOLE_TEMPLATE, n, a)?;
            // The template's own newlines (a trailing one from the file) are not part of it.
            Ok(line.replace(['\n', '\r'], " ").trim().to_string())
        })
        .collect()
}
