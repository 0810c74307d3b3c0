//! Logins (issue 7, seed 002's login alert): one alert for each new session on an agent.

use super::{Group, Rule, Severity};
use crate::duration::PromDuration;

pub fn group() -> Group {
    Group {
        name: "vpsmon-logins",
        rules: vec![Rule {
            alert: "NewLogin",
            // One series per session (user, tty, remote_host), so one alert per session: it fires
            // while the session is less than 2 minutes old and then resolves by itself.
            // max_over_time bridges a missed scrape (which would otherwise resolve and re-fire
            // the same login) and keeps a session that ended within a scrape or two.
            expr: "time() - max_over_time(vpsmon_login_session_start_time_seconds[3m]) < 120"
                .into(),
            for_: PromDuration::secs(0),
            severity: Severity::Info,
            summary: "New login on {{ $labels.agent }}: {{ $labels.user }}".into(),
            description: "{{ $labels.user }} logged in on {{ $labels.agent }} ({{ $labels.tty }}) {{ if $labels.remote_host }}from {{ $labels.remote_host }}{{ else }}locally{{ end }}, {{ $value | humanizeDuration }} ago.".into(),
            threshold: None,
        }],
    }
}
