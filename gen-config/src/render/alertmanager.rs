//! alertmanager.yml: every alert to the vpsmon receiver's webhook.

use std::fmt::Write;

use super::{header, q};
use crate::settings::Settings;

pub fn render(s: &Settings) -> String {
    let mut out = header(&s.source_name);
    out.push_str("route:\n");
    out.push_str("  receiver: vpsmon-receiver\n");
    out.push_str(
        "  # One notification per alert and agent, so each chat message is about one machine.\n",
    );
    out.push_str("  group_by:\n    - alertname\n    - agent\n");
    let _ = writeln!(out, "  group_wait: {}", s.intervals.group_wait);
    let _ = writeln!(out, "  group_interval: {}", s.intervals.group_interval);
    let _ = writeln!(out, "  repeat_interval: {}", s.intervals.repeat_interval);
    out.push_str("receivers:\n");
    out.push_str("  - name: vpsmon-receiver\n");
    out.push_str("    webhook_configs:\n");
    let _ = writeln!(out, "      - url: {}", q(&s.receiver_url));
    out.push_str("        send_resolved: true\n");
    if let Some(file) = &s.receiver_token_file {
        out.push_str("        http_config:\n");
        out.push_str("          authorization:\n");
        let _ = writeln!(out, "            credentials_file: {}", q(file));
    }
    out
}
