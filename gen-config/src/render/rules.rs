//! alert.rules.yml from the rule groups.

use std::fmt::Write;

use super::{header, q};
use crate::rules::Group;

pub fn render(source_name: &str, groups: &[Group]) -> String {
    let mut out = header(source_name);
    out.push_str("groups:\n");
    for g in groups {
        let _ = writeln!(out, "  - name: {}", g.name);
        out.push_str("    rules:\n");
        for r in &g.rules {
            let _ = writeln!(out, "      - alert: {}", r.alert);
            let _ = writeln!(out, "        expr: {}", q(&r.expr));
            let _ = writeln!(out, "        for: {}", r.for_);
            out.push_str("        labels:\n");
            let _ = writeln!(out, "          severity: {}", r.severity.as_str());
            out.push_str("        annotations:\n");
            let _ = writeln!(out, "          summary: {}", q(&r.summary));
            let _ = writeln!(out, "          description: {}", q(&r.description));
        }
    }
    out
}
