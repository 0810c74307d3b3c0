//! The generic webhook's per-alert template: its name (also its file name in `templates_dir`)
//! and the embedded default. Registered by `Integration::TEMPLATE` in this folder's `mod.rs`.

pub const TEMPLATE: &str = "webhook.txt";
pub const DEFAULT: &str = include_str!("webhook.txt");

/// Plain text: the destination's body template escapes for its content type.
pub fn escape(s: &str) -> String {
    s.to_string()
}
