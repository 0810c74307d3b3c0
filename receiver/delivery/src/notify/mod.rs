//! Delivery, on the model of Alertmanager's `notify/`: one folder per integration
//! ([`telegram`], [`slack`], [`console`], [`webhook`]), each implementing the small [`Notify`]
//! interface — render a notification into messages, send one message and say whether a failure
//! is worth retrying — and describing itself to the rest by [`registry::Integration`]; the one
//! `integrations![…]` line below registers them, and the [`Dispatcher`] delivers through that
//! list without naming any.
//!
//! For each destination of a route, concurrently, the dispatcher
//! 1. takes the destination's lock, so that two copies of one notification (an Alertmanager retry
//!    racing the first attempt, or two Alertmanagers of a cluster) are handled one after the other;
//!    for a chat, the notifications waiting there go out together as one digest when they hold
//!    more alerts between them than its digest threshold ([`coalesce`]);
//! 2. drops the alerts the destination already received ([`dedup`]);
//! 3. renders the rest and sends message after message, each paced by the service's rate limits
//!    ([`ratelimit`]) and retried with backoff, or after a 429's retry-after, until the deadline
//!    ([`retry`]); every delivered message is recorded at once, alert by alert. A message still
//!    awaiting its answer at the deadline is finished in the background with the lock held, so
//!    the next copy of the notification knows whether it arrived.
//!
//! The answer to Alertmanager ([`Outcome`]): every destination done → 200; any destination still
//! failing at the deadline, or refusing on its configuration (bad token, bot removed, chat not
//! found, revoked Slack webhook: an operator fixes these in minutes) → 503, so Alertmanager
//! retries and, thanks to step 2, only what is missing goes out once it works; only the
//! service refusing what we rendered (a receiver bug: the same bytes would be refused again) →
//! 422. Errors are logged and counted, failing destinations are listed by `/healthz`
//! ([`Deliver::health`]), and nothing is ever posted into a chat about them. When every
//! destination failed, the alerts are printed to the console meanwhile ([`fallback`]).

mod coalesce;
pub mod dedup;
mod fallback;
pub mod metrics;
pub mod ratelimit;
pub mod registry;
pub mod retry;

// The integrations: a folder each, registered here and nowhere else.
registry::integrations![telegram, slack, console, webhook];

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::config::model::{Config, Destination};
use crate::payload::Notification;
use crate::render::{RenderContext, RenderError};

pub use metrics::{DeliveryResult, NotifyMetrics};

use dedup::Dedup;
use ratelimit::RateLimiter;
use retry::{Backoff, Event, Failure, Pacing};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What became of one notification across all destinations of its route. The HTTP handler turns
/// it into Alertmanager's answer: 200, 422 (final, Alertmanager does not retry), or 503 (retried).
/// When several destinations failed, `destination` lists them and `reason` gives each one's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every destination has every alert.
    Delivered,
    /// Only refusals of what we rendered: Alertmanager is answered 422 and does not retry.
    Permanent { destination: String, reason: String },
    /// A destination may work later (an outage, or a configuration an operator can fix): 503.
    Transient { destination: String, reason: String },
}

/// Delivers one notification to the destinations of a route. `route` is the route's name
/// ([`crate::config::DEFAULT_ROUTE`] for `POST /alerts`); `destinations` is already resolved.
pub trait Deliver: Send + Sync {
    fn deliver<'a>(
        &'a self,
        route: &'a str,
        destinations: &'a [Destination],
        notification: &'a Notification,
    ) -> BoxFuture<'a, Outcome>;

    /// What `/healthz` shows: `{"status":"ok"}`, or `{"status":"degraded","failing":[...]}`
    /// naming each destination whose last delivery failed, how, why and since when.
    fn health(&self) -> serde_json::Value {
        serde_json::json!({ "status": "ok" })
    }
}

/// Why one message was not delivered, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// A 5xx, a network error, a timeout: may work later.
    #[error("{0}")]
    Transient(String),
    /// A 429: may work after `retry_after`.
    #[error("rate limited ({reason})")]
    RateLimited {
        retry_after: Duration,
        reason: String,
    },
    /// The service refused on the destination's configuration (a revoked token, a bot removed
    /// from the chat, a chat or webhook that does not exist, a wrong API URL): the same request
    /// fails until an operator fixes it, which takes minutes. Not retried within the deadline,
    /// but Alertmanager is answered 503 so that it keeps retrying until then.
    #[error("{0}")]
    Refused(String),
    /// The service refused what we rendered (Telegram's "can't parse entities", Slack's
    /// invalid_payload): a receiver bug. Every retry would send the same bytes and be refused
    /// the same way, so Alertmanager is answered 422; logged as an error that says BUG.
    #[error("{0}")]
    Bug(String),
}

impl NotifyError {
    /// A refusal by the service, with a hint for the operator ("" for none) appended in
    /// parentheses.
    pub(crate) fn refused(reason: String, hint: &str, bug: bool) -> NotifyError {
        let reason = if hint.is_empty() {
            reason
        } else {
            format!("{reason} ({hint})")
        };
        if bug {
            NotifyError::Bug(reason)
        } else {
            NotifyError::Refused(reason)
        }
    }
}

/// One message for a destination, and the alerts it carries (indices into
/// `Notification::alerts`, ascending; an alert too long for one message appears in consecutive
/// messages).
#[derive(Clone)]
pub struct Message {
    /// Telegram HTML, Slack JSON, or console lines, ready to send.
    pub text: String,
    pub alert_indices: Vec<usize>,
    /// What the integration that rendered the message keeps with it for sending (Telegram: the
    /// hook's [`telegram::Additions`]); only that integration reads it.
    pub extra: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("text", &self.text)
            .field("alert_indices", &self.alert_indices)
            .field("extra", &self.extra.is_some())
            .finish()
    }
}

/// One integration, sending to one destination.
pub trait Notify: Send + Sync {
    /// Its integration's name ([`registry::Integration::NAME`]).
    fn integration(&self) -> &'static str;
    /// The rate limits messages to this destination count against; `None`: unlimited.
    fn pacing(&self) -> Option<&Pacing>;
    /// The messages for `n`, in order.
    fn render(&self, n: &Notification, ctx: &RenderContext) -> Result<Vec<Message>, RenderError>;
    /// Sends one message, once: retrying is the dispatcher's business.
    fn notify<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>>;
    /// Notifications waiting together for this destination's next send slot that hold more
    /// alerts than this between them go out as one digest ([`coalesce`]); `None` (the default):
    /// each notification goes on its own.
    fn coalesce_threshold(&self) -> Option<usize> {
        None
    }
}

/// Delivery settings; [`Default`] has the documented defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// All delivery of one notification happens within this (`delivery_deadline`).
    pub deadline: Duration,
    /// The de-duplication window of a notification whose webhook URL names none.
    pub dedup_ttl: Duration,
    pub dedup_capacity: usize,
    /// First retry delay after a transient failure, and the largest.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Notifications delivered at once; more are answered 503 at once (Alertmanager retries),
    /// so an overload costs retries instead of unbounded memory for queued webhooks.
    pub max_in_flight: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            deadline: crate::config::DEFAULT_DELIVERY_DEADLINE,
            dedup_ttl: vpsmon_common::webhook::default_dedup_window(),
            dedup_capacity: dedup::DEFAULT_CAPACITY,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(4),
            max_in_flight: 256,
        }
    }
}

/// Builds the dispatcher for a loaded configuration; `hook` adds the fleet view's keyboards and
/// photos to Telegram messages (`None`: plain messages).
pub fn dispatcher(
    config: Arc<Config>,
    render: Arc<RenderContext>,
    metrics: NotifyMetrics,
    hook: Option<Arc<dyn telegram::MessageHook>>,
) -> Arc<dyn Deliver> {
    let options = Options {
        deadline: config.delivery_deadline,
        ..Options::default()
    };
    Arc::new(Dispatcher::new(config, render, metrics, options).with_telegram_hook(hook))
}

/// A destination's integration and the lock that serialises deliveries to it.
struct Target {
    label: String,
    /// Part of every de-duplication key: the label, plus a hash of the Slack URL (two webhooks
    /// may share a name).
    key: String,
    notify: Box<dyn Notify>,
    /// Held for the whole delivery of one notification, and past the deadline by a message
    /// still awaiting its answer (the next notification then learns its fate).
    busy: Arc<tokio::sync::Mutex<()>>,
    /// Notifications waiting for `busy`, for [`coalesce`] to carry together.
    waiting: coalesce::Waiting,
}

/// Delivers to every destination of a route through the integrations of [`INTEGRATIONS`].
pub struct Dispatcher {
    config: Arc<Config>,
    render: Arc<RenderContext>,
    metrics: NotifyMetrics,
    options: Options,
    client: reqwest::Client,
    bot: Option<Arc<telegram::Bot>>,
    /// Shared with the Telegram alert charts, whose photos count against the same limits.
    limiter: Arc<RateLimiter>,
    /// The fleet view's additions to Telegram messages; `None`: plain messages.
    hook: Option<(Arc<dyn telegram::MessageHook>, Arc<telegram::Photos>)>,
    dedup: Arc<Dedup>,
    targets: Mutex<HashMap<String, Arc<Target>>>,
    hasher: RandomState,
    in_flight: AtomicUsize,
    /// Destinations whose last delivery failed, by label.
    failing: Mutex<std::collections::BTreeMap<String, Failing>>,
}

/// Counts a notification in flight until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How one destination fared.
#[derive(Clone)]
enum Fate {
    Done,
    Failed { kind: FailKind, reason: String },
}

/// How a destination failed, as `/healthz` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailKind {
    /// May work later by itself (an outage, a rate limit): 503.
    Transient,
    /// Refused on its configuration until an operator fixes it: 503.
    Configuration,
    /// Refused what the receiver rendered: 422.
    Bug,
}

impl FailKind {
    fn as_str(self) -> &'static str {
        match self {
            FailKind::Transient => "transient",
            FailKind::Configuration => "configuration",
            FailKind::Bug => "bug",
        }
    }

    fn of(err: &NotifyError) -> FailKind {
        match err {
            NotifyError::Refused(_) => FailKind::Configuration,
            NotifyError::Bug(_) => FailKind::Bug,
            NotifyError::Transient(_) | NotifyError::RateLimited { .. } => FailKind::Transient,
        }
    }
}

/// A destination whose last delivery failed, for `/healthz`.
#[derive(Debug, Clone)]
struct Failing {
    kind: FailKind,
    reason: String,
    since: chrono::DateTime<chrono::Utc>,
}

impl Dispatcher {
    pub fn new(
        config: Arc<Config>,
        render: Arc<RenderContext>,
        metrics: NotifyMetrics,
        options: Options,
    ) -> Dispatcher {
        // Attempts end at the delivery deadline, or one more deadline later for an answer still
        // awaited then (`finish_in_flight`); these only stop a stuck connection from outliving
        // that. No redirects: a webhook URL that redirects is wrong.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        let bot = config.telegram.as_ref().map(|t| {
            Arc::new(telegram::Bot::new(
                client.clone(),
                t.token.clone(),
                &t.api_url,
            ))
        });
        let limiter = Arc::new(RateLimiter::new());
        Dispatcher {
            render,
            metrics,
            hook: None,
            dedup: Arc::new(Dedup::new(options.dedup_ttl, options.dedup_capacity)),
            options,
            client,
            bot,
            limiter,
            targets: Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
            in_flight: AtomicUsize::new(0),
            failing: Mutex::new(std::collections::BTreeMap::new()),
            config,
        }
    }

    /// Adds `hook`'s keyboards and photos to every Telegram message; the photos count against the
    /// same rate limits as the texts.
    pub fn with_telegram_hook(mut self, hook: Option<Arc<dyn telegram::MessageHook>>) -> Self {
        self.hook = hook.map(|h| {
            let photos = telegram::Photos {
                limiter: self.limiter.clone(),
                metrics: self.metrics.clone(),
            };
            (h, Arc::new(photos))
        });
        self
    }

    /// What the integrations' senders take beyond the config ([`registry::NotifyContext::wired`]).
    fn wired(&self) -> Vec<Arc<dyn std::any::Any + Send + Sync>> {
        let telegram = self.bot.as_ref().map(|bot| telegram::Wiring {
            bot: bot.clone(),
            hook: self.hook.clone(),
        });
        telegram
            .into_iter()
            .map(|w| Arc::new(w) as Arc<dyn std::any::Any + Send + Sync>)
            .collect()
    }

    /// The integration for a destination, built on first use and kept (with its lock).
    fn target(&self, d: &Destination) -> Result<Arc<Target>, String> {
        let label = d.label();
        let hash = |secret: &str| self.hasher.hash_one(secret);
        let key = d.key(&hash);
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = targets.get(&key) {
            return Ok(t.clone());
        }
        let notify = registry::notify(
            d,
            &registry::NotifyContext {
                config: &self.config,
                client: &self.client,
                label: &label,
                hash: &hash,
                wired: &self.wired(),
            },
        )?;
        let t = Arc::new(Target {
            label,
            key: key.clone(),
            notify,
            busy: Arc::new(tokio::sync::Mutex::new(())),
            waiting: coalesce::Waiting::default(),
        });
        targets.insert(key, t.clone());
        Ok(t)
    }

    /// Delivers `n` to every destination; the answer for Alertmanager.
    pub async fn deliver_all(&self, destinations: &[Destination], n: &Notification) -> Outcome {
        let _in_flight = InFlight(&self.in_flight);
        if self.in_flight.fetch_add(1, Ordering::Relaxed) >= self.options.max_in_flight {
            let labels: Vec<String> = destinations.iter().map(Destination::label).collect();
            for l in &labels {
                self.metrics.count(l, DeliveryResult::failed_transient);
            }
            tracing::warn!(
                max_in_flight = self.options.max_in_flight,
                group_key = %n.group_key,
                "overloaded: notification refused with 503 for Alertmanager to retry"
            );
            return Outcome::Transient {
                destination: labels.join(", "),
                reason: format!(
                    "overloaded: {} notifications are being delivered; retry later",
                    self.options.max_in_flight
                ),
            };
        }
        if n.truncated_alerts > 0 {
            // Every message says so too (but the console's one line per alert).
            tracing::warn!(
                group_key = %n.group_key,
                truncated = n.truncated_alerts,
                "Alertmanager left alerts out of this notification (max_alerts)"
            );
        }
        let started = Instant::now();
        let deadline = started + self.options.deadline;
        let fates = join_all(
            destinations
                .iter()
                .map(|d| self.deliver_to(d, n, started, deadline)),
        )
        .await;
        // The console is a fallback, not only an alternative ([`fallback`]).
        if fates.iter().all(|f| matches!(f, Fate::Failed { .. }))
            && !destinations.contains(&Destination::Console)
        {
            self.fallback_to_console(destinations, n).await;
        }
        let mut transient = Vec::new();
        let mut permanent = Vec::new();
        for (d, fate) in destinations.iter().zip(fates) {
            match fate {
                Fate::Done => {}
                Fate::Failed {
                    kind: FailKind::Bug,
                    reason,
                } => permanent.push((d.label(), reason)),
                Fate::Failed { reason, .. } => transient.push((d.label(), reason)),
            }
        }
        // A destination that may recover, by itself or by an operator's fix, decides:
        // Alertmanager must retry, and de-duplication keeps the destinations that already have
        // the alerts from getting them twice.
        if !transient.is_empty() {
            transient.extend(permanent);
            let (destination, reason) = summarise(transient);
            Outcome::Transient {
                destination,
                reason,
            }
        } else if !permanent.is_empty() {
            let (destination, reason) = summarise(permanent);
            Outcome::Permanent {
                destination,
                reason,
            }
        } else {
            Outcome::Delivered
        }
    }

    async fn deliver_to(
        &self,
        d: &Destination,
        n: &Notification,
        started: Instant,
        deadline: Instant,
    ) -> Fate {
        let target = match self.target(d) {
            Ok(t) => t,
            Err(reason) => {
                // Config::load refuses this already; should it slip through, it is the
                // operator's to fix, and Alertmanager keeps the alerts meanwhile.
                tracing::error!(destination = %d.label(), %reason, "cannot deliver");
                self.metrics.count(&d.label(), DeliveryResult::refused);
                let fate = Fate::Failed {
                    kind: FailKind::Configuration,
                    reason,
                };
                self.note_health(&d.label(), &fate);
                return fate;
            }
        };
        let fate = self.deliver_locked(&target, n, deadline).await;
        self.metrics
            .latency
            .get_or_create(&metrics::DestinationLabels {
                destination: target.label.clone(),
            })
            .observe(started.elapsed().as_secs_f64());
        match &fate {
            Fate::Failed {
                kind: FailKind::Bug,
                reason,
            } => tracing::error!(
                destination = %target.label,
                group_key = %n.group_key,
                %reason,
                "delivery failed permanently; Alertmanager is told not to retry"
            ),
            Fate::Failed {
                kind: FailKind::Configuration,
                reason,
            } => tracing::error!(
                destination = %target.label,
                group_key = %n.group_key,
                %reason,
                "the destination refused the message: fix its configuration; Alertmanager is told to retry until then"
            ),
            Fate::Failed { reason, .. } => tracing::warn!(
                destination = %target.label,
                group_key = %n.group_key,
                %reason,
                "delivery failed for now; Alertmanager is told to retry"
            ),
            Fate::Done => {}
        }
        self.note_health(&target.label, &fate);
        fate
    }

    /// Keeps `/healthz` and the configuration-error gauge up to date with the last delivery.
    fn note_health(&self, label: &str, fate: &Fate) {
        let misconfigured = matches!(
            fate,
            Fate::Failed {
                kind: FailKind::Configuration,
                ..
            }
        );
        self.metrics
            .config_error
            .get_or_create(&metrics::DestinationLabels {
                destination: label.to_string(),
            })
            .set(i64::from(misconfigured));
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        match fate {
            Fate::Done => {
                if failing.remove(label).is_some() {
                    tracing::info!(destination = %label, "the destination works again");
                }
            }
            Fate::Failed { kind, reason } => {
                let since = match failing.get(label) {
                    Some(f) if f.kind == *kind => f.since,
                    _ => chrono::Utc::now(),
                };
                failing.insert(
                    label.to_string(),
                    Failing {
                        kind: *kind,
                        reason: reason.clone(),
                        since,
                    },
                );
            }
        }
    }

    async fn deliver_locked(
        &self,
        target: &Arc<Target>,
        n: &Notification,
        deadline: Instant,
    ) -> Fate {
        // Chat destinations carry the notifications that wait together as one digest.
        if let Some(threshold) = target.notify.coalesce_threshold() {
            return self.deliver_coalesced(target, n, deadline, threshold).await;
        }
        let Ok(busy) =
            tokio::time::timeout_at(deadline.into(), Arc::clone(&target.busy).lock_owned()).await
        else {
            return self.still_busy(target);
        };
        let pending = self.pending(target, n);
        self.note_skipped(target, &pending);
        self.send_pending(target, busy, pending, deadline).await
    }

    /// The answer when the destination's lock did not come before the deadline.
    fn still_busy(&self, target: &Target) -> Fate {
        self.metrics
            .count(&target.label, DeliveryResult::failed_transient);
        Fate::Failed {
            kind: FailKind::Transient,
            reason: "an earlier notification to this destination was still being delivered at the deadline".into(),
        }
    }

    /// The alerts of `n` that `target` has not received yet.
    fn pending(&self, target: &Target, n: &Notification) -> Pending {
        let now = Instant::now();
        let mut rest = n.clone();
        rest.alerts.clear();
        let mut keys = Vec::with_capacity(n.alerts.len());
        for a in &n.alerts {
            let key = self.alert_key(&target.key, n, a);
            if !self.dedup.contains(key, now) {
                rest.alerts.push(a.clone());
                keys.push((key, n.dedup_window));
            }
        }
        Pending {
            skipped: n.alerts.len() - rest.alerts.len(),
            n: rest,
            keys,
        }
    }

    /// Counts and logs the alerts left out of `pending` as already delivered.
    fn note_skipped(&self, target: &Target, pending: &Pending) {
        if pending.skipped == 0 {
            return;
        }
        self.metrics
            .deduplicated
            .get_or_create(&metrics::DestinationLabels {
                destination: target.label.clone(),
            })
            .inc_by(pending.skipped as u64);
        tracing::info!(
            destination = %target.label,
            group_key = %pending.n.group_key,
            skipped = pending.skipped,
            pending = pending.n.alerts.len(),
            "alerts already delivered to this destination are not sent again"
        );
    }

    /// Renders what `target` is missing and sends it, message after message, holding `busy`.
    async fn send_pending(
        &self,
        target: &Arc<Target>,
        busy: tokio::sync::OwnedMutexGuard<()>,
        pending: Pending,
        deadline: Instant,
    ) -> Fate {
        let Pending { n, keys, .. } = pending;
        if n.alerts.is_empty() {
            return Fate::Done;
        }
        let messages = match target.notify.render(&n, &self.render) {
            Ok(m) => m,
            Err(e) => {
                self.metrics
                    .count(&target.label, DeliveryResult::failed_permanent);
                return Fate::Failed {
                    kind: FailKind::Bug,
                    reason: format!("cannot render the message: {e}"),
                };
            }
        };

        // Shared, so that an attempt still awaiting its answer at the deadline can own its message.
        let messages: Vec<Arc<Message>> = messages.into_iter().map(Arc::new).collect();
        let mut backoff = Backoff::new(self.options.backoff_initial, self.options.backoff_max);
        let total = messages.len();
        for (k, message) in messages.iter().enumerate() {
            // An alert split over several messages counts as delivered with its last.
            let later = &messages[k + 1..];
            let done: Vec<(dedup::Key, Option<Duration>)> = message
                .alert_indices
                .iter()
                .filter(|i| !later.iter().any(|m| m.alert_indices.contains(i)))
                .map(|&i| keys[i])
                .collect();
            let sent = match target.notify.pacing() {
                Some(pacing) => {
                    let (t, m) = (Arc::clone(target), Arc::clone(message));
                    retry::send(
                        &self.limiter,
                        pacing,
                        deadline,
                        &mut backoff,
                        move || {
                            let (t, m) = (Arc::clone(&t), Arc::clone(&m));
                            async move { t.notify.notify(&m).await }
                        },
                        |event| self.observe(target, event),
                    )
                    .await
                }
                // Unpaced (the console): one try; an I/O error is for Alertmanager to retry.
                None => target.notify.notify(message).await.map_err(Failure::Failed),
            };
            let progress = || {
                if k > 0 {
                    format!(" ({k} of {total} messages delivered before)")
                } else {
                    String::new()
                }
            };
            match sent {
                Ok(()) => record_delivered(&self.metrics, &self.dedup, &target.label, done),
                Err(Failure::InFlight(attempt)) => {
                    self.metrics
                        .count(&target.label, DeliveryResult::failed_transient);
                    self.finish_in_flight(target, busy, attempt, done);
                    return Fate::Failed {
                        kind: FailKind::Transient,
                        reason: format!(
                            "no answer before the delivery deadline; the message is still being sent, and the retry will know whether it arrived{}",
                            progress()
                        ),
                    };
                }
                Err(Failure::Failed(err)) => {
                    let kind = FailKind::of(&err);
                    self.metrics.count(
                        &target.label,
                        match kind {
                            FailKind::Bug => DeliveryResult::failed_permanent,
                            FailKind::Configuration => DeliveryResult::refused,
                            FailKind::Transient => DeliveryResult::failed_transient,
                        },
                    );
                    if kind == FailKind::Bug {
                        tracing::error!(
                            destination = %target.label,
                            reason = %err,
                            "BUG: the service refused a message the receiver rendered; please report it with the alert's labels"
                        );
                    }
                    return Fate::Failed {
                        kind,
                        reason: format!("{err}{}", progress()),
                    };
                }
            }
        }
        tracing::info!(
            destination = %target.label,
            integration = target.notify.integration(),
            group_key = %n.group_key,
            alerts = n.alerts.len(),
            messages = total,
            "delivered"
        );
        Fate::Done
    }

    /// Awaits, after the webhook has been answered, the answer to a message that was still on
    /// its way at the deadline, for at most one more deadline. The destination stays locked
    /// meanwhile, so Alertmanager's retry waits for that answer and then sends only what did not
    /// arrive.
    fn finish_in_flight<Fut>(
        &self,
        target: &Arc<Target>,
        busy: tokio::sync::OwnedMutexGuard<()>,
        attempt: Pin<Box<Fut>>,
        done: Vec<(dedup::Key, Option<Duration>)>,
    ) where
        Fut: Future<Output = Result<(), NotifyError>> + Send + 'static,
    {
        let (label, dedup, metrics, limiter) = (
            target.label.clone(),
            Arc::clone(&self.dedup),
            self.metrics.clone(),
            Arc::clone(&self.limiter),
        );
        let own = target.notify.pacing().map(|p| p.own.clone());
        let wait = self.options.deadline;
        tokio::spawn(async move {
            let _busy = busy;
            match tokio::time::timeout(wait, attempt).await {
                Ok(Ok(())) => {
                    record_delivered(&metrics, &dedup, &label, done);
                    tracing::info!(destination = %label, "a message answered after the delivery deadline was delivered; the retry will not send it again");
                }
                Ok(Err(err)) => {
                    if let (NotifyError::RateLimited { retry_after, .. }, Some(own)) = (&err, &own)
                    {
                        limiter.hold_until(own, Instant::now() + *retry_after);
                        metrics.count(&label, DeliveryResult::rate_limited);
                    }
                    tracing::warn!(destination = %label, reason = %err, "a message answered after the delivery deadline was not delivered; the retry sends it");
                }
                Err(_) => {
                    tracing::warn!(destination = %label, ?wait, "no answer to a message even one deadline after the delivery deadline: whether it arrived is unknown, and the retry sends it again");
                }
            }
        });
    }

    fn observe(&self, target: &Target, event: Event) {
        match event {
            Event::Retrying { reason } => {
                self.metrics.count(&target.label, DeliveryResult::retried);
                tracing::warn!(destination = %target.label, %reason, "retrying after a transient failure");
            }
            Event::RateLimited { retry_after } => {
                self.metrics
                    .count(&target.label, DeliveryResult::rate_limited);
                tracing::warn!(destination = %target.label, ?retry_after, "rate limited by the service; waiting");
            }
        }
    }

    /// Alerts currently remembered as delivered.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    fn health_json(&self) -> serde_json::Value {
        let failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        if failing.is_empty() {
            return serde_json::json!({ "status": "ok" });
        }
        let list: Vec<serde_json::Value> = failing
            .iter()
            .map(|(destination, f)| {
                serde_json::json!({
                    "destination": destination,
                    "kind": f.kind.as_str(),
                    "reason": f.reason,
                    "since": f.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                })
            })
            .collect();
        serde_json::json!({ "status": "degraded", "failing": list })
    }
}

impl Deliver for Dispatcher {
    fn deliver<'a>(
        &'a self,
        _route: &'a str,
        destinations: &'a [Destination],
        notification: &'a Notification,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.deliver_all(destinations, notification))
    }

    fn health(&self) -> serde_json::Value {
        self.health_json()
    }
}

/// A message went out: count it, and remember the alerts it finished, each for its
/// notification's window, so no retry sends them again.
fn record_delivered(
    metrics: &NotifyMetrics,
    dedup: &Dedup,
    label: &str,
    done: Vec<(dedup::Key, Option<Duration>)>,
) {
    metrics.count(label, DeliveryResult::sent);
    let now = Instant::now();
    // Notifications carried together ([`coalesce`]) may ask for different windows.
    let mut windows: Vec<Option<Duration>> = Vec::new();
    for (_, w) in &done {
        if !windows.contains(w) {
            windows.push(*w);
        }
    }
    for w in windows {
        dedup.record(done.iter().filter(|d| d.1 == w).map(|d| d.0), now, w);
    }
    metrics.dedup_entries.set(dedup.len() as i64);
}

/// The alerts of a notification that a destination has not received yet.
struct Pending {
    /// The notification with only those alerts: several merged into one when [`coalesce`]
    /// carries them together.
    n: Notification,
    /// Per alert of `n`: its de-duplication key and the window to remember it for.
    keys: Vec<(dedup::Key, Option<Duration>)>,
    /// Alerts left out because the destination has them already.
    skipped: usize,
}

/// `("telegram:-1", "chat not found")`, or for several: labels joined, reasons prefixed.
fn summarise(failures: Vec<(String, String)>) -> (String, String) {
    if let [(d, r)] = failures.as_slice() {
        return (d.clone(), r.clone());
    }
    let destinations = failures.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>();
    let reasons = failures
        .iter()
        .map(|(d, r)| format!("{d}: {r}"))
        .collect::<Vec<_>>();
    (destinations.join(", "), reasons.join("; "))
}

/// Runs futures concurrently on the caller's task and returns their outputs in order. A route
/// has a handful of destinations; this spares a dependency and a task spawn per destination.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// A reqwest error in words, without the URL (it holds the bot token or the Slack webhook).
pub(crate) fn describe_http_error(service: &str, err: reqwest::Error) -> String {
    let err = err.without_url();
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else if err.is_body() || err.is_decode() {
        "broken answer"
    } else {
        "request failed"
    };
    // The source chain (connection refused, reset, ...) says why; it never holds the URL.
    let mut detail = String::new();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        format!("{service}: {what}")
    } else {
        format!("{service}: {what}: {detail}")
    }
}

/// A service's error text, cut to a length fit for a log line and an HTTP answer.
pub(crate) fn short(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;

    fn notification() -> Notification {
        Notification::from_json(
            br#"{"version":"4","groupKey":"g","status":"firing","receiver":"r","alerts":[
            {"status":"firing","labels":{"alertname":"A"},"startsAt":"2026-11-21T10:00:00Z"}]}"#,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn past_the_in_flight_limit_the_answer_is_503_at_once() {
        let config = Config::load(&Cli::default(), &|_| None).unwrap();
        let render = Arc::new(RenderContext::new(chrono_tz::UTC, None).unwrap());
        let options = Options {
            max_in_flight: 0,
            ..Options::default()
        };
        let d = Dispatcher::new(Arc::new(config), render, NotifyMetrics::default(), options);
        assert_eq!(
            d.deliver_all(&[Destination::Console], &notification())
                .await,
            Outcome::Transient {
                destination: "console".into(),
                reason: "overloaded: 0 notifications are being delivered; retry later".into()
            }
        );
        assert_eq!(
            d.in_flight.load(Ordering::Relaxed),
            0,
            "the count is released"
        );
        assert_eq!(d.dedup_len(), 0, "nothing was delivered");
    }
}
