//! Is the agent reachable, and does each of its collectors work?

use super::{Group, Rule, Severity};
use crate::settings::Thresholds;

pub fn group(t: &Thresholds) -> Group {
    Group {
        name: "vpsmon-availability",
        rules: vec![
            Rule {
                alert: "AgentDown",
                // Only agent targets: Prometheus, Alertmanager and the receiver carry no `agent`.
                expr: r#"up{agent!=""} == 0"#.into(),
                for_: t.agent_down_for,
                severity: Severity::Critical,
                summary: "Agent {{ $labels.agent }} is down".into(),
                description: format!(
                    "Prometheus could not scrape {{{{ $labels.agent }}}} ({{{{ $labels.instance }}}}) for more than {} (up = {{{{ $value }}}}).",
                    t.agent_down_for
                ),
                threshold: None,
            },
            Rule {
                alert: "CollectorFailed",
                expr: "node_scrape_collector_success == 0".into(),
                for_: t.collector_failed_for,
                severity: Severity::Warning,
                summary: "Collector {{ $labels.collector }} fails on {{ $labels.agent }}".into(),
                description: format!(
                    "The {{{{ $labels.collector }}}} collector on {{{{ $labels.agent }}}} ({{{{ $labels.instance }}}}) has failed for more than {} (node_scrape_collector_success = {{{{ $value }}}}); its metrics are missing.",
                    t.collector_failed_for
                ),
                threshold: None,
            },
        ],
    }
}
