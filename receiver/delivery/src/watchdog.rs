//! Who watches the monitor (issue 15): gen-config's always-firing `Watchdog` alert reaches the
//! receiver on a short repeat (`POST /alerts/watchdog`), and each one is a heartbeat.
//!
//! - A Watchdog alert is never shown to people: [`Heartbeats`] takes it out of every
//!   notification, on any route, before delivery (the dashboard and the bot leave it out of
//!   Alertmanager's alert list too, `promapi::alertmanager`).
//! - When no heartbeat has come for `watchdog.timeout`, Prometheus, its rules, Alertmanager or
//!   the way to the receiver is broken, and no alert can reach anyone: [`Watchdog::run`] says so
//!   straight to every destination of every route, bypassing Alertmanager, once per outage, and
//!   says when the heartbeat is back. Both go through the dispatcher (rate limits, retries,
//!   de-duplication), as an alert of its own, `MonitoringPipelineBroken`.
//! - Each heartbeat can also GET an external URL (healthchecks.io and the like), so that
//!   something off the host notices when the host or the receiver itself dies. The URL holds the
//!   check's secret: it is read from a file or env only and shown as `scheme://host/<redacted>`.
//!
//! The watch starts at the first heartbeat, so a receiver behind an alertmanager.yml without a
//! Watchdog never cries wolf; a timeout set explicitly starts it at start-up, so a pipeline that
//! never delivered a heartbeat after a restart is reported too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use vpsmon_common::Secret;
use vpsmon_common::webhook::{WATCHDOG_ALERTNAME, WATCHDOG_ROUTE};

pub use crate::config::watchdog::{DEFAULT_TIMEOUT, FileWatchdog, WatchdogConfig, redact};
use crate::config::{Config, Destination};
use crate::notify::{BoxFuture, Deliver, Outcome};
use crate::payload::{Alert, Kv, Notification, Status};

/// The external heartbeat GET gives up after this; the next heartbeat tries again.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed delivery of the watchdog's own message, the next try waits this long.
const RETRY_PAUSE: Duration = Duration::from_secs(15);
/// The alert the receiver raises itself when the heartbeat stops.
pub const BROKEN_ALERTNAME: &str = "MonitoringPipelineBroken";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// The last heartbeat, the outage being reported, and the external ping.
pub struct Watchdog {
    timeout: Option<Duration>,
    tz: chrono_tz::Tz,
    /// Every destination of every route, once each.
    destinations: Vec<Destination>,
    deliver: Arc<dyn Deliver>,
    state: Mutex<State>,
    /// Notified on each heartbeat, so a recovery is reported at once.
    beat: tokio::sync::Notify,
    ping: Option<Ping>,
    last_heartbeat: Gauge<f64, AtomicU64>,
}

#[derive(Clone, Copy)]
struct Quiet {
    at: Instant,
    since: DateTime<Utc>,
    /// A heartbeat was heard (else `since` is the receiver's start).
    heard: bool,
}

struct State {
    /// Since when there is silence: the last heartbeat, or the start when watched from there.
    /// `None`: not watched yet.
    quiet_since: Option<Quiet>,
    outage: Option<Outage>,
    /// After a failed delivery, the next try waits until then.
    retry_at: Option<Instant>,
}

/// A heartbeat outage: when it began (the last heartbeat), whether "broken" went out, and when
/// the heartbeat came back.
#[derive(Clone, Copy)]
struct Outage {
    since: DateTime<Utc>,
    heard: bool,
    reported: bool,
    back: Option<DateTime<Utc>>,
}

struct Ping {
    url: Secret,
    client: reqwest::Client,
    /// One ping at a time: a slow service never piles up requests.
    busy: Arc<AtomicBool>,
    results: Family<ResultLabels, Counter>,
}

impl Watchdog {
    /// The watchdog for `config`, sending through `deliver`; registers its metrics.
    pub fn new(config: &Config, deliver: Arc<dyn Deliver>, registry: &mut Registry) -> Watchdog {
        let mut destinations = config.default_route.clone();
        for d in config.routes.values().flatten() {
            if !destinations.contains(d) {
                destinations.push(d.clone());
            }
        }
        let last_heartbeat = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "watchdog_last_heartbeat_timestamp_seconds",
            "When the last Watchdog heartbeat arrived from Alertmanager (unix time; 0: none yet)",
            last_heartbeat.clone(),
        );
        let ping = config.watchdog.heartbeat_url.clone().map(|url| {
            let results = Family::<ResultLabels, Counter>::default();
            registry.register(
                "watchdog_heartbeat_pings",
                "GETs of the external heartbeat URL, by result (ok or failed)",
                results.clone(),
            );
            for result in ["ok", "failed"] {
                let _ = results.get_or_create(&ResultLabels { result });
            }
            Ping {
                url,
                client: reqwest::Client::builder()
                    .timeout(PING_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::limited(3))
                    .build()
                    .unwrap_or_default(),
                busy: Arc::new(AtomicBool::new(false)),
                results,
            }
        });
        let w = &config.watchdog;
        let now = Quiet {
            at: Instant::now(),
            since: Utc::now(),
            heard: false,
        };
        Watchdog {
            timeout: w.timeout,
            tz: config.timezone,
            destinations,
            deliver,
            state: Mutex::new(State {
                quiet_since: (w.timeout.is_some() && w.from_start).then_some(now),
                outage: None,
                retry_at: None,
            }),
            beat: tokio::sync::Notify::new(),
            ping,
            last_heartbeat,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One heartbeat: the silence ends (and an outage, if one is being reported), and the
    /// external URL is pinged.
    pub fn heartbeat(&self) {
        let now = Utc::now();
        self.last_heartbeat
            .set(now.timestamp_millis() as f64 / 1000.0);
        {
            let mut s = self.state();
            s.quiet_since = Some(Quiet {
                at: Instant::now(),
                since: now,
                heard: true,
            });
            if let Some(o) = &mut s.outage
                && o.back.is_none()
            {
                o.back = Some(now);
            }
        }
        self.beat.notify_one();
        if let Some(p) = &self.ping
            && !p.busy.swap(true, Ordering::AcqRel)
        {
            let (url, client, results, busy) = (
                p.url.clone(),
                p.client.clone(),
                p.results.clone(),
                Arc::clone(&p.busy),
            );
            tokio::spawn(async move {
                let result = match client.get(url.expose()).send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("answered {}", r.status())),
                    Err(e) => Err(crate::notify::describe_http_error("heartbeat URL", e)),
                };
                busy.store(false, Ordering::Release);
                match result {
                    Ok(()) => results.get_or_create(&ResultLabels { result: "ok" }).inc(),
                    Err(reason) => {
                        results
                            .get_or_create(&ResultLabels { result: "failed" })
                            .inc();
                        // The URL holds the check's secret: only its host is shown.
                        tracing::warn!(url = %redact(&url), %reason, "the external heartbeat ping failed");
                        0
                    }
                };
            });
        }
    }

    /// Watches for silence until `shutdown`: reports an outage once, and its end.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let Some(timeout) = self.timeout else {
            return;
        };
        // Often enough that an outage is reported within a small part of the timeout.
        let tick = (timeout / 10).clamp(Duration::from_millis(200), Duration::from_secs(5));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(tick) => {}
                _ = self.beat.notified() => {}
            }
            self.check(timeout).await;
        }
    }

    async fn check(&self, timeout: Duration) {
        let outage = {
            let mut s = self.state();
            if s.outage.is_none()
                && let Some(q) = s.quiet_since
                && q.at.elapsed() >= timeout
            {
                tracing::error!(
                    last_heartbeat = %q.since,
                    heard = q.heard,
                    ?timeout,
                    "the monitoring pipeline is broken: no Watchdog heartbeat from Alertmanager"
                );
                s.outage = Some(Outage {
                    since: q.since,
                    heard: q.heard,
                    reported: false,
                    back: None,
                });
            }
            if s.retry_at.is_some_and(|t| Instant::now() < t) {
                return;
            }
            match &s.outage {
                None
                | Some(Outage {
                    reported: true,
                    back: None,
                    ..
                }) => return,
                Some(Outage {
                    reported: false,
                    back: Some(_),
                    ..
                }) => {
                    // Back before anyone was told: nothing to take back.
                    tracing::info!("the Watchdog heartbeat is back");
                    s.outage = None;
                    return;
                }
                Some(o) => *o,
            }
        };
        let n = self.notification(&outage);
        match self
            .deliver
            .deliver(WATCHDOG_ROUTE, &self.destinations, &n)
            .await
        {
            Outcome::Delivered => {
                let mut s = self.state();
                s.retry_at = None;
                if outage.back.is_some() {
                    tracing::info!("the Watchdog heartbeat is back; said so to every destination");
                    s.outage = None;
                } else if let Some(o) = &mut s.outage {
                    o.reported = true;
                }
            }
            // The dispatcher logged why (its own retries took up to the delivery deadline); try
            // again a little later, and what already arrived somewhere is not sent there twice
            // (de-duplication).
            Outcome::Transient { destination, .. } | Outcome::Permanent { destination, .. } => {
                self.state().retry_at = Some(Instant::now() + RETRY_PAUSE);
                tracing::warn!(
                    retry_in = ?RETRY_PAUSE,
                    %destination,
                    back = outage.back.is_some(),
                    "the watchdog's message was not delivered everywhere; trying again"
                );
            }
        }
    }

    /// "Broken" (`back` None) or its resolution, as an alert of the receiver's own.
    fn notification(&self, outage: &Outage) -> Notification {
        let (since, back) = (outage.since, outage.back);
        let fmt = |t: DateTime<Utc>| {
            t.with_timezone(&self.tz)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        };
        let timeout = self
            .timeout
            .map(|t| humantime::format_duration(t).to_string())
            .unwrap_or_default();
        let (status, summary, description) = match back {
            None => (
                Status::Firing,
                format!(
                    "The monitoring pipeline is broken: no heartbeat from Alertmanager since {}{}",
                    fmt(since),
                    if outage.heard {
                        ""
                    } else {
                        " (the receiver's start: none has come yet)"
                    }
                ),
                format!(
                    "vpsmon-receiver has had no Watchdog notification for more than {timeout}: Prometheus \
                     or Alertmanager is down, the rules are not evaluated, or Alertmanager cannot reach \
                     the receiver. Until it is fixed, no alert reaches you. This message comes from the \
                     receiver itself, not through Alertmanager."
                ),
            ),
            Some(back) => (
                Status::Resolved,
                format!(
                    "The monitoring pipeline works again: the heartbeat from Alertmanager is back since {} (silent since {})",
                    fmt(back),
                    fmt(since)
                ),
                "Alerts raised meanwhile arrive now, as Alertmanager sends them.".into(),
            ),
        };
        let labels: Kv = [
            ("alertname".to_string(), BROKEN_ALERTNAME.to_string()),
            ("severity".to_string(), "critical".to_string()),
        ]
        .into();
        let annotations: Kv = [
            ("summary".to_string(), summary),
            ("description".to_string(), description),
        ]
        .into();
        Notification {
            version: "4".into(),
            group_key: format!("vpsmon-receiver/{WATCHDOG_ROUTE}"),
            truncated_alerts: 0,
            status,
            receiver: "vpsmon-receiver".into(),
            group_labels: Kv::new(),
            common_labels: labels.clone(),
            common_annotations: Kv::new(),
            external_url: String::new(),
            alerts: vec![Alert {
                status,
                labels,
                annotations,
                starts_at: since,
                ends_at: back,
                generator_url: String::new(),
                // None: Alertmanager has no such alert, so no silence buttons.
                fingerprint: String::new(),
            }],
            // Remembered as long as the receiver can: a destination that fails for a while gets
            // the message when it works again, and the others do not get it a second time.
            dedup_window: Some(vpsmon_common::webhook::DEDUP_WINDOW_MAX),
        }
    }
}

/// Wraps the dispatcher: takes the Watchdog out of every notification as a heartbeat and
/// delivers the rest, so the Watchdog is never shown, whichever route it comes by.
pub struct Heartbeats {
    pub watchdog: Arc<Watchdog>,
    pub inner: Arc<dyn Deliver>,
}

impl Deliver for Heartbeats {
    fn deliver<'a>(
        &'a self,
        route: &'a str,
        destinations: &'a [Destination],
        n: &'a Notification,
    ) -> BoxFuture<'a, Outcome> {
        if !n.alerts.iter().any(|a| a.name() == WATCHDOG_ALERTNAME) {
            return self.inner.deliver(route, destinations, n);
        }
        // Only a firing one is a heartbeat; a resolved one (send_resolved in a hand-written
        // alertmanager.yml) is not news for anyone either.
        if n.alerts
            .iter()
            .any(|a| a.name() == WATCHDOG_ALERTNAME && a.status == Status::Firing)
        {
            self.watchdog.heartbeat();
        }
        let mut rest = n.clone();
        rest.alerts.retain(|a| a.name() != WATCHDOG_ALERTNAME);
        Box::pin(async move {
            if rest.alerts.is_empty() {
                Outcome::Delivered
            } else {
                self.inner.deliver(route, destinations, &rest).await
            }
        })
    }

    fn health(&self) -> serde_json::Value {
        self.inner.health()
    }
}
