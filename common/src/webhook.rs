//! The contract between the Alertmanager config gen-config writes and the receiver that reads
//! its webhooks: values both sides must agree on, kept once.

use std::time::Duration;

/// The receiver's default largest webhook body. gen-config sizes `max_alerts` so that a
/// notification of the largest alerts fits under it.
pub const BODY_LIMIT_DEFAULT: usize = 1024 * 1024;

/// The webhook URL's query parameter that carries the de-duplication window
/// (`/alerts?dedup_window=5m15s`), written by gen-config next to the `repeat_interval` it
/// must stay below.
pub const DEDUP_WINDOW_PARAM: &str = "dedup_window";

/// The longest window a webhook URL may carry: a day of alerts is more than the receiver's
/// de-duplication memory holds anyway.
pub const DEDUP_WINDOW_MAX: Duration = Duration::from_secs(24 * 3600);

/// The always-firing alert gen-config generates as the pipeline's heartbeat (a dead man's
/// switch). The receiver takes it as a heartbeat, never as an alert for people.
pub const WATCHDOG_ALERTNAME: &str = "Watchdog";

/// The route (`/alerts/watchdog`) gen-config sends the Watchdog to. Heartbeats are never
/// de-duplicated (each is consumed, nothing is delivered, and a retried one is just one more
/// heartbeat), so its short `repeat_interval` needs no `dedup_window`.
pub const WATCHDOG_ROUTE: &str = "watchdog";

/// Alertmanager never gives a notification less than this to succeed (`notify.MinTimeout`).
const ALERTMANAGER_MIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Alertmanager's default `--cluster.peer-timeout`: the k-th member of a cluster waits k times
/// this before sending what the others may have sent.
const ALERTMANAGER_PEER_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the receiver must remember a delivered alert so that Alertmanager's retries of the
/// same notification, and the copies of a cluster's other members, are not delivered twice.
///
/// Alertmanager retries one notification until `max(group_interval, 10s)` plus its cluster
/// position times the peer timeout have passed (`dispatch.go`: the flush's context timeout),
/// then gives up until the next flush. One peer timeout per member covers the positions
/// (0 .. members-1) plus one for the receiver's own delivery time. A reminder comes
/// `repeat_interval` after the last notification succeeded, so the window must be shorter
/// than that, or the reminder is taken for a retry and dropped.
///
/// A notification whose delivery outlasts the window (a group of hundreds of alerts, paced at
/// one message a second) may have its first messages sent again by a later retry; gen-config's
/// `max_alerts` keeps a group to a few messages, delivered well within it.
pub fn dedup_window(group_interval: Duration, alertmanagers: u32) -> Duration {
    group_interval.max(ALERTMANAGER_MIN_TIMEOUT) + ALERTMANAGER_PEER_TIMEOUT * alertmanagers.max(1)
}

/// The window when the webhook URL does not say (a hand-written alertmanager.yml): one
/// Alertmanager with its default `group_interval` of 5m, so 5m15s.
pub fn default_dedup_window() -> Duration {
    dedup_window(Duration::from_secs(300), 1)
}

/// The shortest `repeat_interval` whose reminders the window lets through: a reminder arrives
/// at least `repeat_interval` after the delivery was recorded, and the receiver keeps whole
/// seconds, so one second more than the window.
pub fn min_repeat_interval(window: Duration) -> Duration {
    window + Duration::from_secs(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_alertmanagers_retries_and_peers() {
        let s = Duration::from_secs;
        assert_eq!(dedup_window(s(300), 1), s(315));
        assert_eq!(default_dedup_window(), s(315));
        // Below Alertmanager's minimum timeout, its retries still last 10 s.
        assert_eq!(dedup_window(s(2), 1), s(25));
        assert_eq!(dedup_window(s(300), 3), s(345));
    }
}
