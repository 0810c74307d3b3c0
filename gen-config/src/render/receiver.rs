//! `receiver/action-agents.yml`: each agent with an `action_key_file` in agents.yml, with the
//! URL and key file the receiver's bot signs its action requests with (issue 19). The receiver
//! reads it at start (`--actions-file`); the keys themselves are never copied, only their paths.

use super::{header, q};
use crate::agents::Agent;

/// Where the file goes under --out-dir.
pub const PATH: &str = "receiver/action-agents.yml";

/// The file, or `None` when no agent has an action key.
pub fn render(source_name: &str, agents: &[Agent]) -> Option<String> {
    let with_keys: Vec<&Agent> = agents.iter().filter(|a| a.action.is_some()).collect();
    if with_keys.is_empty() {
        return None;
    }
    let mut s = header(source_name);
    s.push_str("# For vpsmon-receiver --actions-file (RECEIVER_ACTIONS_FILE).\nagents:\n");
    for a in with_keys {
        let Some(access) = &a.action else { continue };
        s.push_str(&format!(
            "  - name: {}\n    url: {}\n    key_file: {}\n",
            q(&a.name),
            q(&access.url),
            q(&access.key_file)
        ));
        if !a.labels.is_empty() {
            s.push_str("    labels:\n");
            for (k, v) in &a.labels {
                s.push_str(&format!("      {}: {}\n", q(k), q(v)));
            }
        }
    }
    Some(s)
}
