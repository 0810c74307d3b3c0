//! The generic webhook's per-alert template: its name (also its file name in `templates_dir`)
//! and the embedded default. A leaf, so that `crate::render`, which loads every template, does
//! not import the webhook's renderer, which imports it.

pub const TEMPLATE: &str = "webhook.txt";
pub const DEFAULT: &str = include_str!("webhook.txt");
