//! The console as the last resort (issue 15): when no destination of a notification could take
//! it before the delivery deadline, its alerts are printed to stdout (and the console file) in
//! the console destination's format and logged at error, so an outage of Telegram or Slack never
//! leaves an alert only in WARN lines. Alertmanager is still answered 5xx and retries: the
//! print is not a delivery.
//!
//! The print is remembered in [`super::dedup`] under its own key, never a remote destination's:
//! a retry during the same outage does not print the alert again, and once the destination
//! works the retry still delivers it there.

use std::time::Instant;

use super::console::Console;
use super::{Dispatcher, Notify, dedup};
use crate::config::Destination;
use crate::payload::{Alert, Notification};

/// The de-duplication key of the fallback print: no destination's label can be this.
const KEY: &str = "console fallback";

impl Dispatcher {
    /// Prints the alerts of `n` that no destination received and that were not printed before.
    /// Called only when every destination failed, and when none is the console itself.
    pub(super) async fn fallback_to_console(&self, destinations: &[Destination], n: &Notification) {
        let now = Instant::now();
        let targets: Vec<String> = destinations
            .iter()
            .filter_map(|d| self.target(d).ok().map(|t| t.key.clone()))
            .collect();
        // An alert split over messages, or partly delivered before a failure, may have reached
        // a destination already: only the rest is printed.
        let (keys, pending): (Vec<dedup::Key>, Vec<Alert>) = n
            .alerts
            .iter()
            .filter(|a| {
                !targets
                    .iter()
                    .any(|t| self.dedup.contains(self.alert_key(t, n, a), now))
            })
            .map(|a| (self.alert_key(KEY, n, a), a))
            .filter(|(k, _)| !self.dedup.contains(*k, now))
            .map(|(k, a)| (k, a.clone()))
            .unzip();
        if pending.is_empty() {
            return;
        }
        let labels: Vec<String> = destinations.iter().map(Destination::label).collect();
        let names = pending
            .iter()
            .map(Alert::name)
            .collect::<Vec<_>>()
            .join(", ");
        let mut rest = n.clone();
        rest.alerts = pending;
        let console = Console::new(self.config.console_file.clone())
            .with_digest(self.config.console_digest_threshold);
        let printed = async {
            for m in console
                .render(&rest, &self.render)
                .map_err(|e| e.to_string())?
            {
                console.notify(&m).await.map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }
        .await;
        match printed {
            Ok(()) => {
                tracing::error!(
                    destinations = %labels.join(", "),
                    group_key = %n.group_key,
                    alerts = %names,
                    "no destination took these alerts before the delivery deadline: printed to the console instead; Alertmanager is told to retry"
                );
                self.dedup.record(keys, now, n.dedup_window);
            }
            Err(e) => tracing::error!(
                destinations = %labels.join(", "),
                group_key = %n.group_key,
                alerts = %names,
                error = %e,
                "no destination took these alerts, and printing them to the console failed too; Alertmanager is told to retry"
            ),
        }
    }

    /// The de-duplication key of one alert of `n` at the destination whose key is `target`.
    pub(super) fn alert_key(&self, target: &str, n: &Notification, a: &Alert) -> dedup::Key {
        self.dedup.key((
            target,
            &n.group_key,
            a.status,
            &a.fingerprint,
            a.starts_at,
            a.ends_at,
        ))
    }
}
