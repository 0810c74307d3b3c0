//! Slack's alert template: its name (also its file name in `templates_dir`), the embedded
//! default, and the escape every `{{ value }}` in it gets. Registered by
//! `Integration::TEMPLATE` in this folder's `mod.rs`.

pub const TEMPLATE: &str = "slack.md";
pub const DEFAULT: &str = include_str!("slack.md");

/// Escapes text for Slack mrkdwn.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}
