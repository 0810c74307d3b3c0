//! alert.rules.yml from the rule groups.

use std::fmt::Write;

use super::{header, q};
use crate::rules::{Group, THRESHOLD_ANNOTATION, number};

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
            if let Some(t) = r.threshold {
                let _ = writeln!(out, "          {THRESHOLD_ANNOTATION}: {}", q(&number(t)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::groups;
    use crate::settings::Profile;

    /// The resource rules carry their threshold for the receiver, in the rule's own unit; the
    /// other rules carry none.
    #[test]
    fn resource_rules_carry_their_threshold_as_an_annotation() {
        let mut t = Profile::Default.defaults().rules;
        t.cpu_percent = 70.0;
        t.load_per_cpu = 2.5;
        let out = render("test", &groups(&t));
        let annotations: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("vpsmon_threshold"))
            .collect();
        assert_eq!(
            annotations,
            [
                "          vpsmon_threshold: '70'",
                "          vpsmon_threshold: '85'",
                "          vpsmon_threshold: '90'",
                "          vpsmon_threshold: '2.5'",
            ]
        );
        let cpu = out.find("- alert: HighCPU").unwrap();
        let memory = out.find("- alert: HighMemory").unwrap();
        assert!(out[cpu..memory].contains("vpsmon_threshold: '70'"), "{out}");
    }
}
