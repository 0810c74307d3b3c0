//! The console's alert template: its name (also its file name in `templates_dir`), the embedded
//! default, and the escape every `{{ value }}` in it gets. Registered by
//! `Integration::TEMPLATE` in this folder's `mod.rs`.

pub const TEMPLATE: &str = "console.txt";
pub const DEFAULT: &str = include_str!("console.txt");

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
