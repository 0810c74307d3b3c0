//! The loaded configuration ([`Config`]) and what routes are made of ([`Destination`],
//! [`IntegrationDestination`], [`RouteContext`]): what the dispatcher, the renderer and the
//! integrations read. The loader (`config/mod.rs`) builds it; this file imports no loader, so
//! the registry and the integrations that the loader calls can name these types without a loop.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Serialize, Serializer};
use vpsmon_common::telemetry::LogFormat;

use super::auth::{ClientAuth, WebhookAuth};
use super::error::{ConfigError, invalid};
use super::redact::{display, human_duration, log_format, url_redacted};
use super::{actions, dashboard, watchdog};
use crate::notify::slack::config::SlackConfig;
use crate::notify::telegram::config::TelegramConfig;

/// The route `POST /alerts` uses. Named routes are `POST /alerts/{name}`.
pub const DEFAULT_ROUTE: &str = "default";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9097";
pub const DEFAULT_BODY_LIMIT: usize = vpsmon_common::webhook::BODY_LIMIT_DEFAULT;
pub const DEFAULT_DELIVERY_DEADLINE: Duration = Duration::from_secs(10);

/// The effective configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Where the file came from, for messages; not a setting.
    #[serde(skip)]
    pub source: Option<PathBuf>,
    pub listen: SocketAddr,
    pub webhook_auth: Option<WebhookAuth>,
    /// `--webhook-no-auth`: the operator chose to run the webhook without auth (else the
    /// receiver refuses to start without it).
    pub webhook_no_auth: bool,
    /// Largest accepted webhook body in bytes; larger gets 413.
    pub body_limit: usize,
    pub telegram: Option<TelegramConfig>,
    pub slack: Option<SlackConfig>,
    /// `slack.digest_threshold`: more alerts than this in one notification, and every Slack
    /// destination (the default webhook's or a route's own) gets a digest.
    pub slack_digest_threshold: usize,
    /// Destinations of `POST /alerts`.
    pub default_route: Vec<Destination>,
    /// Destinations of `POST /alerts/{name}`.
    pub routes: BTreeMap<String, Vec<Destination>>,
    #[serde(serialize_with = "display")]
    pub timezone: chrono_tz::Tz,
    pub templates_dir: Option<PathBuf>,
    #[serde(serialize_with = "human_duration")]
    pub delivery_deadline: Duration,
    /// Connections open at once; past it the oldest idle one is closed.
    pub max_connections: usize,
    /// Time to send a request's header; also how long a keep-alive connection may idle.
    #[serde(serialize_with = "human_duration")]
    pub header_timeout: Duration,
    /// The console destination also appends its lines to this file.
    pub console_file: Option<PathBuf>,
    /// More alerts than this in one notification: the console prints a digest.
    pub console_digest_threshold: usize,
    /// May carry `user:password@` (sent as basic auth); shown with it redacted.
    #[serde(serialize_with = "url_redacted")]
    pub prometheus_url: Option<String>,
    #[serde(serialize_with = "url_redacted")]
    pub alertmanager_url: Option<String>,
    /// The credential sent to Prometheus (`--prometheus-bearer-token-file`, ...).
    pub prometheus_auth: Option<ClientAuth>,
    /// The credential sent to Alertmanager.
    pub alertmanager_auth: Option<ClientAuth>,
    /// Secret files that group or others may read are refused (`--strict-secrets`).
    pub strict_secrets: bool,
    /// Telegram user ids allowed to use the bot (issue 6).
    pub allowed_users: Vec<i64>,
    /// `ACTION_USERS` and `--actions-file` (issue 19).
    pub actions: actions::ActionsConfig,
    #[serde(serialize_with = "log_format")]
    pub log_format: LogFormat,
    /// The `dashboard:` section (issue 8).
    pub dashboard: dashboard::DashboardConfig,
    /// The `watchdog:` section: the pipeline's heartbeat (issue 15).
    pub watchdog: watchdog::WatchdogConfig,
    /// Settings that are valid but probably not what was meant. Loading happens before logging
    /// is set up (the log format is a setting), so the caller logs these.
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// `--listen=127.0.0.1:9111  (env RECEIVER_LISTEN)`: each setting a flag, an env var or a
    /// receiver.yml key gave, and which, as every binary's `--print-config` lists them (secret
    /// values `<redacted>`).
    #[serde(skip)]
    pub given: Vec<String>,
}

/// Where a notification goes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    Console,
    /// A destination of an integration that defines it in its own folder (Telegram's chat,
    /// Slack's webhook, the generic webhook's endpoint, and any new integration's); shown as
    /// `<its name>: <its section>`.
    #[serde(untagged, serialize_with = "integration_destination")]
    Integration(Arc<dyn IntegrationDestination>),
}

/// An integration's own destination, as loaded from a route (`crate::notify::registry`).
pub trait IntegrationDestination: fmt::Debug + Send + Sync + 'static {
    /// Its integration's name (`webhook`).
    fn kind(&self) -> &'static str;
    /// Its name within the integration (`ntfy`, a chat `-100123/7`): the label is
    /// `webhook:ntfy`. Never a secret.
    fn name(&self) -> String;
    /// What tells apart two destinations of one name (a URL): hashed into the key of its
    /// rate limits and de-duplication, never shown.
    fn identity(&self) -> Option<&str> {
        None
    }
    /// How `--print-config` shows it, secrets as `<redacted>`.
    fn shown(&self) -> serde_json::Value;
    fn as_any(&self) -> &dyn std::any::Any;
}

impl PartialEq for dyn IntegrationDestination {
    fn eq(&self, other: &Self) -> bool {
        // `shown()` redacts secrets: the identity tells apart two webhooks of one name.
        self.kind() == other.kind()
            && self.shown() == other.shown()
            && self.identity() == other.identity()
    }
}

fn integration_destination<S: Serializer>(
    d: &Arc<dyn IntegrationDestination>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(1))?;
    m.serialize_entry(d.kind(), &d.shown())?;
    m.end()
}

impl Destination {
    /// How the destination is named in logs, metrics labels and error bodies. Never a secret.
    pub fn label(&self) -> String {
        match self {
            Destination::Console => "console".into(),
            Destination::Integration(d) => format!("{}:{}", d.kind(), d.name()),
        }
    }
    /// Its integration's name: "console", or an integration's own ("telegram", "slack", …).
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Console => "console",
            Destination::Integration(d) => d.kind(),
        }
    }
    /// The label, plus a hash of what tells apart two destinations of one name (a Slack or
    /// webhook URL): the key of its rate limits and de-duplication.
    pub fn key(&self, hash: &dyn Fn(&str) -> u64) -> String {
        let identity = match self {
            Destination::Integration(d) => d.identity(),
            Destination::Console => None,
        };
        match identity {
            Some(secret) => format!("{}#{:016x}", self.label(), hash(secret)),
            None => self.label(),
        }
    }
    /// An integration's own destination of type `T`, if this is one.
    pub fn integration<T: 'static>(&self) -> Option<&T> {
        match self {
            Destination::Integration(d) => d.as_any().downcast_ref(),
            _ => None,
        }
    }
}

/// A route's destination as written: the integration its key names reads it
/// (`crate::notify::registry` implements `Deserialize` for it).
pub struct FileDestination(pub(crate) Box<LoadDestination>);

/// Reads one route destination, given what it may use.
type LoadDestination = dyn FnOnce(&RouteContext) -> Result<Destination, ConfigError>;

impl FileDestination {
    pub fn new(
        load: impl FnOnce(&RouteContext) -> Result<Destination, ConfigError> + 'static,
    ) -> FileDestination {
        FileDestination(Box::new(load))
    }
}

impl fmt::Debug for FileDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileDestination")
    }
}

/// What an integration reading a route's destination may use.
pub struct RouteContext<'a> {
    /// The configuration but its routes: the sections (Telegram's bot, Slack's default webhook).
    pub config: &'a Config,
    /// The destination's place in its route.
    pub index: usize,
    /// `routes.ops[0]`.
    pub(crate) entry: String,
    pub(crate) integration: &'static str,
    pub(crate) key: &'a dyn Fn(&str) -> String,
}

impl<'a> RouteContext<'a> {
    /// The same destination, read by `integration`.
    pub(crate) fn named(&self, integration: &'static str) -> RouteContext<'a> {
        RouteContext {
            config: self.config,
            index: self.index,
            entry: self.entry.clone(),
            integration,
            key: self.key,
        }
    }

    /// The destination as errors name it: receiver.yml key `routes.ops[0]`.
    pub fn entry(&self) -> String {
        (self.key)(&self.entry)
    }

    /// A key of its section: `at("method")` is receiver.yml key
    /// `routes.ops[0].webhook.method`, `at("")` the section itself.
    pub fn at(&self, sub: &str) -> String {
        let mut k = format!("{}.{}", self.entry, self.integration);
        if !sub.is_empty() {
            k.push('.');
            k.push_str(sub);
        }
        (self.key)(&k)
    }

    /// An error naming the destination.
    pub fn invalid(&self, message: impl Into<String>) -> ConfigError {
        invalid(self.entry(), message)
    }
}

impl Config {
    /// The destinations of a route: `None` is `POST /alerts`. `None` result: no such route.
    pub fn route(&self, name: Option<&str>) -> Option<&[Destination]> {
        match name {
            None | Some(DEFAULT_ROUTE) => Some(&self.default_route),
            // The Watchdog's own route: its heartbeats are consumed (crate::watchdog), anything
            // else posted there goes where `POST /alerts` would, so nothing is lost.
            Some(vpsmon_common::webhook::WATCHDOG_ROUTE) => Some(&self.default_route),
            Some(name) => self.routes.get(name).map(Vec::as_slice),
        }
    }

    /// Everything a start warns about: the loading [`Config::warnings`] and what the settings
    /// together imply. One list, so that `--print-config` shows what a start would log.
    pub fn start_warnings(&self) -> Vec<String> {
        let mut w = self.warnings.clone();
        if self.webhook_auth.is_none() {
            w.push(if self.webhook_no_auth {
                format!(
                    "the webhook has no auth (--webhook-no-auth): anyone who can reach {} can post alerts",
                    self.listen
                )
            } else {
                "the webhook has no auth and no opt-out: the receiver refuses to start (set \
                 --webhook-token-file, basic auth, or --webhook-no-auth)"
                    .into()
            });
        }
        let only_console = self
            .default_route
            .iter()
            .chain(self.routes.values().flatten())
            .all(|d| *d == Destination::Console);
        if only_console {
            w.push(
                "no Telegram or Slack is configured: alerts are only printed to the console \
                 (stdout)"
                    .into(),
            );
        }
        if self.telegram.is_some() && self.allowed_users.is_empty() {
            w.push(
                "Telegram bot: ALLOWED_USERS is empty, so nobody can use the bot (a stranger \
                 gets \"Not authorized.\" once an hour in a private chat, nothing in a group)"
                    .into(),
            );
        }
        w
    }

    /// The effective configuration as YAML, secrets shown as `<redacted>` (`--print-config`).
    pub fn to_yaml(&self) -> String {
        let mut out = serde_saphyr::to_string(self)
            .unwrap_or_else(|e| format!("# cannot print config: {e}\n"));
        if !self.given.is_empty() {
            out.push_str(
                "# where the settings came from (the rest: receiver.yml or the default):\n",
            );
            for g in &self.given {
                out.push_str(&format!("#   {g}\n"));
            }
        }
        out
    }
}
