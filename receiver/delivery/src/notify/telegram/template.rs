//! Telegram's alert template: its name (also its file name in `templates_dir`), the embedded
//! default, and the escape every `{{ value }}` in it gets. Registered by
//! `Integration::TEMPLATE` in this folder's `mod.rs`.

pub const TEMPLATE: &str = "telegram.html";
pub const DEFAULT: &str = include_str!("telegram.html");

/// Escapes text for Telegram HTML, both in element content and in double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}
