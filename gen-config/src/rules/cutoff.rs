//! "The monitor is cut off" (issue 18): when a large share of the agents is down at once, the
//! likelier cause is the monitoring host's own network, not that many machines. One alert says
//! so, and alertmanager.yml's `inhibit_rules` holds back the AgentDown alerts while it fires
//! (render/alertmanager.rs), so the chat gets one message instead of one per agent.

use super::{Group, Rule, Severity, number, ratio};
use crate::settings::Thresholds;

/// Also the name alertmanager.yml's inhibit rule matches on.
pub const ALERTNAME: &str = "MonitorCutOff";

pub fn group(t: &Thresholds) -> Group {
    // Only agent targets count: Prometheus, Alertmanager and the receiver carry no `agent`.
    // Like AgentDown, the counts are per Prometheus (per shard when sharded).
    let down = r#"count(up{agent!=""} == 0)"#;
    let all = r#"count(up{agent!=""})"#;
    Group {
        name: "vpsmon-cutoff",
        rules: vec![Rule {
            alert: ALERTNAME,
            // The value is the number of agents down. An aggregate: no `agent` label.
            expr: format!(
                "{down} >= {min} and {down} / {all} >= {share}",
                min = t.cutoff_min_agents,
                share = ratio(t.cutoff_percent),
            ),
            // AgentDown's `for`, so both start firing in the same evaluation and the inhibition
            // is in place before the first AgentDown notification (group_wait) goes out.
            for_: t.agent_down_for,
            severity: Severity::Critical,
            summary: format!(
                "The monitoring host may have lost its network: {{{{ $value }}}} of {{{{ with query `{all}` }}}}{{{{ . | first | value }}}}{{{{ end }}}} agents are down at once"
            ),
            description: format!(
                "At least {}% of the agents (and at least {}) have been unreachable for more than {}. Check the monitoring host's network, DNS and firewall first. The individual AgentDown alerts are held back while this fires; agents still down after it resolves are reported one by one.",
                number(t.cutoff_percent),
                t.cutoff_min_agents,
                t.agent_down_for
            ),
            threshold: None,
        }],
    }
}
