//! The receiver's configuration: `receiver.yml`, flags and environment variables, merged with
//! the precedence **flags > env > file > defaults**.
//!
//! Secrets (bot token, Slack webhook URL, webhook password/token) come only from env vars or from
//! files named in the config; an inline secret in `receiver.yml` is refused so that the file can
//! be shared and committed. The loaded [`Config`] holds them as [`Secret`], which prints
//! `<redacted>`, and [`Config::to_yaml`] (what `--print-config` shows) redacts them too.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use vpsmon_common::secret::redact_url;
use vpsmon_common::telemetry::LogFormat;
use vpsmon_common::{Secret, SecretError, SecretFile};

use crate::cli::Cli;
pub use crate::notify::slack::config::{FileSlack, SlackConfig};
pub use crate::notify::telegram::config::{FileTelegram, TelegramConfig};
pub use redact::redacted;
pub use vpsmon_receiver_telegram::ChatId;

pub mod actions;
pub mod dashboard;
pub mod redact;
pub mod watchdog;

/// The route `POST /alerts` uses. Named routes are `POST /alerts/{name}`.
pub const DEFAULT_ROUTE: &str = "default";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9097";
pub const DEFAULT_BODY_LIMIT: usize = vpsmon_common::webhook::BODY_LIMIT_DEFAULT;
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
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
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAuth {
    /// `Authorization: Bearer <token>`; the file is re-read when it changes (rotation).
    Bearer(#[serde(serialize_with = "secret_file")] SecretFile),
    Basic {
        user: String,
        #[serde(serialize_with = "redacted")]
        password: Secret,
    },
}

/// A credential the fleet view sends to Prometheus or Alertmanager; the files are re-read when
/// they change (rotation).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(#[serde(serialize_with = "from_file")] SecretFile),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        user: String,
        #[serde(serialize_with = "from_file")]
        password: SecretFile,
    },
}

/// Where a notification goes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    Telegram {
        chat_id: ChatId,
        message_thread_id: Option<i64>,
    },
    Slack {
        /// A short name for logs, metrics and error bodies: the URL itself is a secret.
        name: String,
        #[serde(serialize_with = "redacted")]
        webhook_url: Secret,
    },
    Console,
    /// A generic webhook (ntfy, Gotify, Discord, …): its whole section.
    Webhook(crate::notify::webhook::config::WebhookConfig),
}

impl Destination {
    /// How the destination is named in logs, metrics labels and error bodies. Never a secret.
    pub fn label(&self) -> String {
        match self {
            Destination::Telegram {
                chat_id,
                message_thread_id: Some(t),
            } => format!("telegram:{chat_id}/{t}"),
            Destination::Telegram { chat_id, .. } => format!("telegram:{chat_id}"),
            Destination::Slack { name, .. } => format!("slack:{name}"),
            Destination::Console => "console".into(),
            Destination::Webhook(w) => format!("webhook:{}", w.name),
        }
    }
    /// "telegram", "slack", "console" or "webhook".
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Telegram { .. } => "telegram",
            Destination::Slack { .. } => "slack",
            Destination::Console => "console",
            Destination::Webhook(_) => "webhook",
        }
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
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }

    /// Loads the configuration: the file named by `--config`/`RECEIVER_CONFIG` (if any), then env,
    /// then flags. `env` looks up an environment variable; tests pass their own.
    pub fn load(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let strict_secrets = cli.strict_secrets
            || match env("RECEIVER_STRICT_SECRETS") {
                Some(v) => parse_bool(&v).ok_or_else(|| {
                    invalid(
                        "env RECEIVER_STRICT_SECRETS",
                        format!("{v:?}: use true or false"),
                    )
                })?,
                None => false,
            };
        // Before the first secret file is read (and every re-read after).
        vpsmon_common::secret::set_strict(strict_secrets);
        let path = cli
            .config
            .clone()
            .or_else(|| env("RECEIVER_CONFIG").map(PathBuf::from));
        let file = match &path {
            Some(p) => FileConfig::read(p)?,
            None => FileConfig::default(),
        };
        let b = Builder {
            cli,
            env: &env,
            file,
            path,
            warnings: Vec::new(),
        };
        let mut config = b.build()?;
        config.strict_secrets = strict_secrets;
        Ok(config)
    }
}

/// A configuration error, naming the file, key, flag or variable that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("{key}: {source}")]
    Secret {
        key: String,
        #[source]
        source: SecretError,
    },
}

impl From<crate::notify::webhook::config::SectionError> for ConfigError {
    fn from(e: crate::notify::webhook::config::SectionError) -> ConfigError {
        use crate::notify::webhook::config::SectionError;
        match e {
            SectionError::Invalid { key, message } => ConfigError::Invalid { key, message },
            SectionError::Secret { key, source } => ConfigError::Secret { key, source },
        }
    }
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The file format. Separate from `Config` because the file names secret *files*, never values.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    webhook_auth: Option<FileWebhookAuth>,
    body_limit: Option<ByteSize>,
    telegram: Option<FileTelegram>,
    slack: Option<FileSlack>,
    default_route: Option<Vec<FileDestination>>,
    #[serde(default)]
    routes: BTreeMap<String, Vec<FileDestination>>,
    timezone: Option<String>,
    templates_dir: Option<PathBuf>,
    delivery_deadline: Option<String>,
    max_connections: Option<usize>,
    header_timeout: Option<String>,
    console_file: Option<PathBuf>,
    console_digest_threshold: Option<usize>,
    prometheus_url: Option<String>,
    alertmanager_url: Option<String>,
    prometheus_auth: Option<FileWebhookAuth>,
    alertmanager_auth: Option<FileWebhookAuth>,
    allowed_users: Option<Vec<i64>>,
    action_users: Option<Vec<i64>>,
    actions_file: Option<PathBuf>,
    log_format: Option<String>,
    dashboard: Option<dashboard::FileDashboard>,
    watchdog: Option<watchdog::FileWatchdog>,
}

/// Also the form of `dashboard.auth` (crate::dashboard::settings), `prometheus_auth` and
/// `alertmanager_auth`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileWebhookAuth {
    pub(crate) bearer_token_file: Option<PathBuf>,
    pub(crate) basic: Option<FileBasic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileBasic {
    pub(crate) username: String,
    pub(crate) password_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum FileDestination {
    Telegram {
        chat_id: Option<ChatId>,
        message_thread_id: Option<i64>,
    },
    Slack {
        #[serde(default)]
        name: Option<String>,
        webhook_url_file: Option<PathBuf>,
        webhook_url: Option<serde::de::IgnoredAny>,
    },
    Console,
    Webhook(crate::notify::webhook::config::FileWebhook),
}

/// A size in bytes: a number, or a string with a unit (`512KiB`, `1MiB`, `2MB`).
#[derive(Debug, Clone, Copy)]
struct ByteSize(usize);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n as usize)),
            Raw::S(s) => parse_bytes(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `1048576`, `1MiB`, `512 KiB`, `1MB`, `64k`.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (examples: 1048576, 512KiB, 1MiB)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1_000_000,
        "mib" => 1024 * 1024,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use B, KB, KiB, MB or MiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{s:?} is not a usable size"))
}

impl FileConfig {
    fn read(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        if text.trim().is_empty() {
            return Ok(FileConfig::default());
        }
        serde_saphyr::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }
}

// ---------------------------------------------------------------------------------------------

struct Builder<'a> {
    cli: &'a Cli,
    env: &'a dyn Fn(&str) -> Option<String>,
    file: FileConfig,
    path: Option<PathBuf>,
    warnings: Vec<String>,
}

/// Which layer a value came from, so an error names the flag, variable or file key.
fn pick<T>(
    flag: (Option<T>, &str),
    env: (Option<T>, &str),
    file: (Option<T>, String),
) -> Option<(T, String)> {
    flag.0
        .map(|v| (v, flag.1.to_string()))
        .or_else(|| env.0.map(|v| (v, format!("env {}", env.1))))
        .or_else(|| file.0.map(|v| (v, file.1)))
}

impl Builder<'_> {
    fn key(&self, key: &str) -> String {
        match &self.path {
            Some(p) => format!("{} key `{key}`", p.display()),
            None => format!("config key `{key}`"),
        }
    }

    fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    fn build(mut self) -> Result<Config, ConfigError> {
        let cli = self.cli;

        let listen = match pick(
            (cli.listen.clone(), "--listen"),
            (self.env("RECEIVER_LISTEN"), "RECEIVER_LISTEN"),
            (self.file.listen.take(), self.key("listen")),
        ) {
            Some((v, from)) => v.parse::<SocketAddr>().map_err(|e| {
                invalid(
                    from,
                    format!("{v:?} is not an address such as 127.0.0.1:9097 ({e})"),
                )
            })?,
            None => DEFAULT_LISTEN.parse().expect("valid default"),
        };

        let body_limit = match pick(
            (cli.body_limit.clone(), "--body-limit"),
            (self.env("RECEIVER_BODY_LIMIT"), "RECEIVER_BODY_LIMIT"),
            (None, String::new()),
        ) {
            Some((v, from)) => parse_bytes(&v).map_err(|e| invalid(from, e))?,
            None => self.file.body_limit.map_or(DEFAULT_BODY_LIMIT, |b| b.0),
        };

        let timezone = self.timezone()?;

        let templates_dir = cli
            .templates_dir
            .clone()
            .or_else(|| self.env("RECEIVER_TEMPLATES_DIR").map(PathBuf::from))
            .or(self.file.templates_dir.take());
        if let Some(dir) = &templates_dir
            && !dir.is_dir()
        {
            return Err(invalid(
                "templates_dir",
                format!("{} is not a directory", dir.display()),
            ));
        }

        let delivery_deadline = match pick(
            (cli.delivery_deadline.clone(), "--delivery-deadline"),
            (
                self.env("RECEIVER_DELIVERY_DEADLINE"),
                "RECEIVER_DELIVERY_DEADLINE",
            ),
            (
                self.file.delivery_deadline.take(),
                self.key("delivery_deadline"),
            ),
        ) {
            Some((v, from)) => humantime::parse_duration(v.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    invalid(
                        from,
                        format!("{v:?} is not a duration such as 10s or 1m30s"),
                    )
                })?,
            None => DEFAULT_DELIVERY_DEADLINE,
        };

        let defaults = vpsmon_common::serve::Limits::default();
        let max_connections = match pick(
            (cli.max_connections.clone(), "--max-connections"),
            (
                self.env("RECEIVER_MAX_CONNECTIONS"),
                "RECEIVER_MAX_CONNECTIONS",
            ),
            (
                self.file.max_connections.take().map(|n| n.to_string()),
                self.key("max_connections"),
            ),
        ) {
            Some((v, from)) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(from, format!("{v:?} is not a positive number")))?,
            None => defaults.max_connections,
        };
        let header_timeout = match pick(
            (cli.header_timeout.clone(), "--header-timeout"),
            (
                self.env("RECEIVER_HEADER_TIMEOUT"),
                "RECEIVER_HEADER_TIMEOUT",
            ),
            (self.file.header_timeout.take(), self.key("header_timeout")),
        ) {
            Some((v, from)) => humantime::parse_duration(v.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    invalid(
                        from,
                        format!("{v:?} is not a duration such as 10s or 1m30s"),
                    )
                })?,
            None => defaults.header_timeout,
        };

        let console_file = cli
            .console_file
            .clone()
            .or_else(|| self.env("RECEIVER_CONSOLE_FILE").map(PathBuf::from))
            .or(self.file.console_file.take());
        let file_console_digest_threshold = self.file.console_digest_threshold.take();
        let console_digest_threshold = self.digest_threshold(
            (
                cli.console_digest_threshold.clone(),
                "--console-digest-threshold",
            ),
            "RECEIVER_CONSOLE_DIGEST_THRESHOLD",
            (file_console_digest_threshold, "console_digest_threshold"),
        )?;

        let prometheus_url = self.url(
            cli.prometheus_url.clone(),
            "--prometheus-url",
            "PROMETHEUS_URL",
            self.file.prometheus_url.clone(),
            "prometheus_url",
        )?;
        let alertmanager_url = self.url(
            cli.alertmanager_url.clone(),
            "--alertmanager-url",
            "ALERTMANAGER_URL",
            self.file.alertmanager_url.clone(),
            "alertmanager_url",
        )?;

        let allowed_users = match pick(
            (cli.allowed_users.clone(), "--allowed-users"),
            (self.env("ALLOWED_USERS"), "ALLOWED_USERS"),
            (None, String::new()),
        ) {
            Some((v, from)) => parse_users(&v).map_err(|e| invalid(from, e))?,
            None => self.file.allowed_users.take().unwrap_or_default(),
        };
        let action_users = match pick(
            (cli.action_users.clone(), "--action-users"),
            (self.env("ACTION_USERS"), "ACTION_USERS"),
            (None, String::new()),
        ) {
            Some((v, from)) => (parse_users(&v).map_err(|e| invalid(&from, e))?, from),
            None => (
                self.file.action_users.take().unwrap_or_default(),
                self.key("action_users"),
            ),
        };
        let actions_file = pick(
            (cli.actions_file.clone(), "--actions-file"),
            (
                self.env("RECEIVER_ACTIONS_FILE").map(PathBuf::from),
                "RECEIVER_ACTIONS_FILE",
            ),
            (self.file.actions_file.take(), self.key("actions_file")),
        );
        let (actions, warning) =
            actions::ActionsConfig::build(action_users, actions_file, &allowed_users)?;
        self.warnings.extend(warning);

        let log_format = match pick(
            (cli.log_format.clone(), "--log-format"),
            (self.env("RECEIVER_LOG_FORMAT"), "RECEIVER_LOG_FORMAT"),
            (self.file.log_format.take(), self.key("log_format")),
        ) {
            Some((v, from)) => match v.trim().to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(invalid(from, format!("{v:?}: use text or json"))),
            },
            None => LogFormat::Text,
        };

        let (prometheus_file_auth, alertmanager_file_auth) = (
            self.file.prometheus_auth.take(),
            self.file.alertmanager_auth.take(),
        );
        let prometheus_auth = self.client_auth(
            "Prometheus",
            (
                cli.prometheus_bearer_token_file.clone(),
                cli.prometheus_basic_auth_user.clone(),
                cli.prometheus_basic_auth_password_file.clone(),
            ),
            prometheus_file_auth,
            prometheus_url.as_deref(),
        )?;
        let alertmanager_auth = self.client_auth(
            "Alertmanager",
            (
                cli.alertmanager_bearer_token_file.clone(),
                cli.alertmanager_basic_auth_user.clone(),
                cli.alertmanager_basic_auth_password_file.clone(),
            ),
            alertmanager_file_auth,
            alertmanager_url.as_deref(),
        )?;

        let webhook_auth = self.webhook_auth()?;
        let webhook_no_auth = match (cli.webhook_no_auth, self.env("RECEIVER_WEBHOOK_NO_AUTH")) {
            (true, _) => Some("--webhook-no-auth"),
            (false, None) => None,
            (false, Some(v)) => match parse_bool(&v) {
                Some(true) => Some("env RECEIVER_WEBHOOK_NO_AUTH"),
                Some(false) => None,
                None => {
                    return Err(invalid(
                        "env RECEIVER_WEBHOOK_NO_AUTH",
                        format!("{v:?}: use true or false"),
                    ));
                }
            },
        };
        if let (Some(from), Some(_)) = (webhook_no_auth, &webhook_auth) {
            return Err(invalid(
                from,
                "webhook auth is configured too; choose one (remove the opt-out or the auth)",
            ));
        }
        let webhook_no_auth = webhook_no_auth.is_some();
        let telegram = self.telegram()?;
        let (slack, slack_digest_threshold) = self.slack()?;

        let default_route = match self.file.default_route.take() {
            Some(list) => self.destinations(list, "default_route", &telegram, &slack)?,
            None => {
                let mut d = Vec::new();
                if let Some(TelegramConfig {
                    chat_id: Some(chat_id),
                    ..
                }) = &telegram
                {
                    d.push(Destination::Telegram {
                        chat_id: chat_id.clone(),
                        message_thread_id: None,
                    });
                }
                if let Some(s) = &slack {
                    d.push(Destination::Slack {
                        name: "default".into(),
                        webhook_url: s.webhook_url.clone(),
                    });
                }
                d
            }
        };
        // Nothing to send to still means every alert is seen: on stdout.
        let default_route = if default_route.is_empty() {
            vec![Destination::Console]
        } else {
            default_route
        };

        let mut routes = BTreeMap::new();
        for (name, list) in std::mem::take(&mut self.file.routes) {
            let key = format!("routes.{name}");
            if name == DEFAULT_ROUTE {
                return Err(invalid(
                    self.key(&key),
                    "the route `default` is `default_route`; give this route another name",
                ));
            }
            if name == vpsmon_common::webhook::WATCHDOG_ROUTE {
                return Err(invalid(
                    self.key(&key),
                    "the route `watchdog` is the Watchdog heartbeat's (/alerts/watchdog); give this route another name",
                ));
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(invalid(
                    self.key(&key),
                    "a route name may use only letters, digits, '-', '_' and '.' (it is a URL path segment)",
                ));
            }
            if list.is_empty() {
                return Err(invalid(
                    self.key(&key),
                    "a route needs at least one destination",
                ));
            }
            let d = self.destinations(list, &key, &telegram, &slack)?;
            routes.insert(name, d);
        }

        let dashboard =
            dashboard::DashboardConfig::from_file(self.file.dashboard.take(), &|k| self.key(k))?;

        let watchdog = self.watchdog()?;

        Ok(Config {
            source: self.path.clone(),
            listen,
            webhook_auth,
            webhook_no_auth,
            body_limit,
            telegram,
            slack,
            slack_digest_threshold,
            default_route,
            routes,
            timezone,
            templates_dir,
            delivery_deadline,
            max_connections,
            header_timeout,
            console_file,
            console_digest_threshold,
            prometheus_url,
            alertmanager_url,
            prometheus_auth,
            alertmanager_auth,
            strict_secrets: false,
            allowed_users,
            actions,
            log_format,
            dashboard,
            watchdog,
            warnings: std::mem::take(&mut self.warnings),
        })
    }

    fn timezone(&mut self) -> Result<chrono_tz::Tz, ConfigError> {
        let parse = |v: &str, from: String| {
            v.trim().parse::<chrono_tz::Tz>().map_err(|_| {
                invalid(
                    from,
                    format!("{v:?} is not an IANA time zone name such as UTC or Asia/Taipei"),
                )
            })
        };
        if let Some((v, from)) = pick(
            (self.cli.timezone.clone(), "--timezone"),
            (self.env("RECEIVER_TIMEZONE"), "RECEIVER_TIMEZONE"),
            (self.file.timezone.take(), self.key("timezone")),
        ) {
            return parse(&v, from);
        }
        // Containers commonly set TZ=Asia/Taipei; honour it when it is a zone name. Other TZ
        // forms (":/etc/localtime", POSIX rules) are not zone names and are left to libc.
        if let Some(tz) = self.env("TZ")
            && let Ok(tz) = tz.trim_start_matches(':').parse::<chrono_tz::Tz>()
        {
            return Ok(tz);
        }
        Ok(chrono_tz::UTC)
    }

    fn url(
        &self,
        flag: Option<String>,
        flag_name: &str,
        env_name: &str,
        file: Option<String>,
        key: &str,
    ) -> Result<Option<String>, ConfigError> {
        match pick(
            (flag, flag_name),
            (self.env(env_name), env_name),
            (file, self.key(key)),
        ) {
            Some((v, from)) => {
                let v = v.trim().trim_end_matches('/').to_string();
                if !(v.starts_with("http://") || v.starts_with("https://")) {
                    return Err(invalid(
                        from,
                        format!("{v:?} is not an http:// or https:// URL"),
                    ));
                }
                Ok(Some(v))
            }
            None => Ok(None),
        }
    }

    /// A secret given as a value in an env var, or as a file by flag, env or config key.
    /// Setting it two ways at the same level is refused rather than guessed.
    fn secret(
        &self,
        flag_file: (Option<PathBuf>, &str),
        env_value: &str,
        env_file: &str,
        file_key: (Option<PathBuf>, String),
    ) -> Result<Option<(Secret, String)>, ConfigError> {
        let read = |path: &Path, from: String| {
            vpsmon_common::secret::read_file(path)
                .map(|s| Some((s, from.clone())))
                .map_err(|source| ConfigError::Secret { key: from, source })
        };
        if let Some(p) = flag_file.0 {
            return read(&p, flag_file.1.to_string());
        }
        match (self.env(env_value), self.env(env_file)) {
            (Some(_), Some(_)) => Err(invalid(
                format!("env {env_value}"),
                format!("set either {env_value} or {env_file}, not both"),
            )),
            (Some(v), None) => Ok(Some((Secret::new(v.trim()), format!("env {env_value}")))),
            (None, Some(p)) => read(Path::new(&p), format!("env {env_file}")),
            (None, None) => match file_key.0 {
                Some(p) => read(&p, file_key.1),
                None => Ok(None),
            },
        }
    }

    /// The credential for Prometheus or Alertmanager (`service`): a bearer token file, or a user
    /// and password file, from flags, env (flag beats env field by field) or the
    /// `<service>_auth` key, which has the form of `webhook_auth`.
    fn client_auth(
        &mut self,
        service: &str,
        flags: (Option<PathBuf>, Option<String>, Option<PathBuf>),
        file: Option<FileWebhookAuth>,
        url: Option<&str>,
    ) -> Result<Option<ClientAuth>, ConfigError> {
        let name = service.to_ascii_lowercase();
        let upper = service.to_ascii_uppercase();
        let (flag, var) = (
            |f: &str| format!("--{name}-{f}"),
            |v: &str| format!("{upper}_{v}"),
        );
        let bearer_var = var("BEARER_TOKEN_FILE");
        let user_var = var("BASIC_AUTH_USER");
        let password_var = var("BASIC_AUTH_PASSWORD_FILE");
        let bearer = pick(
            (flags.0, &flag("bearer-token-file")),
            (self.env(&bearer_var).map(PathBuf::from), &bearer_var),
            (None, String::new()),
        );
        let user = pick(
            (flags.1, &flag("basic-auth-user")),
            (self.env(&user_var), &user_var),
            (None, String::new()),
        );
        let password = pick(
            (flags.2, &flag("basic-auth-password-file")),
            (self.env(&password_var).map(PathBuf::from), &password_var),
            (None, String::new()),
        );
        let open = |p: PathBuf, key: String| {
            SecretFile::open(p).map_err(|source| ConfigError::Secret { key, source })
        };
        let auth = match (bearer, user, password) {
            (Some(_), Some((_, from)), _) | (Some(_), None, Some((_, from))) => {
                return Err(invalid(
                    from,
                    format!("choose a bearer token or basic auth for {service}, not both"),
                ));
            }
            (Some((p, from)), None, None) => Some(ClientAuth::Bearer(open(p, from)?)),
            (None, Some((user, _)), Some((p, from))) => Some(ClientAuth::Basic {
                user,
                password: open(p, from)?,
            }),
            (None, Some((_, from)), None) => {
                return Err(invalid(
                    from,
                    format!("basic auth for {service} needs a password file too ({password_var})"),
                ));
            }
            (None, None, Some((_, from))) => {
                return Err(invalid(
                    from,
                    format!("basic auth for {service} needs a user too ({user_var})"),
                ));
            }
            (None, None, None) => match file {
                Some(FileWebhookAuth {
                    bearer_token_file: Some(_),
                    basic: Some(_),
                }) => {
                    return Err(invalid(
                        self.key(&format!("{name}_auth")),
                        "choose bearer_token_file or basic, not both",
                    ));
                }
                Some(FileWebhookAuth {
                    bearer_token_file: Some(p),
                    ..
                }) => Some(ClientAuth::Bearer(open(
                    p,
                    self.key(&format!("{name}_auth.bearer_token_file")),
                )?)),
                Some(FileWebhookAuth { basic: Some(b), .. }) => Some(ClientAuth::Basic {
                    user: b.username,
                    password: open(
                        b.password_file,
                        self.key(&format!("{name}_auth.basic.password_file")),
                    )?,
                }),
                Some(_) | None => None,
            },
        };
        if let Some(url) = url
            && redact_url(url) != url
        {
            if auth.is_some() {
                return Err(invalid(
                    var("URL"),
                    format!(
                        "the {service} URL carries credentials (user:password@) and a {service} \
                         credential file is set too: keep the file, drop them from the URL"
                    ),
                ));
            }
            self.warnings.push(format!(
                "the {service} URL carries credentials (user:password@): they are sent, and \
                 redacted wherever the URL is shown, but a URL is easily copied; prefer \
                 {password_var} or {bearer_var}"
            ));
        }
        Ok(auth)
    }

    /// `--watchdog-timeout`, `--heartbeat-url-file` and the `watchdog:` section.
    fn watchdog(&mut self) -> Result<watchdog::WatchdogConfig, ConfigError> {
        let file = self.file.watchdog.take().unwrap_or_default();
        if file.heartbeat_url.is_some() {
            return Err(invalid(
                self.key("watchdog.heartbeat_url"),
                "secrets are not read from the config file; use watchdog.heartbeat_url_file, \
                 RECEIVER_HEARTBEAT_URL_FILE or HEARTBEAT_URL",
            ));
        }
        let timeout = pick(
            (self.cli.watchdog_timeout.clone(), "--watchdog-timeout"),
            (
                self.env("RECEIVER_WATCHDOG_TIMEOUT"),
                "RECEIVER_WATCHDOG_TIMEOUT",
            ),
            (file.timeout, self.key("watchdog.timeout")),
        );
        let url = self.secret(
            (self.cli.heartbeat_url_file.clone(), "--heartbeat-url-file"),
            "HEARTBEAT_URL",
            "RECEIVER_HEARTBEAT_URL_FILE",
            (
                file.heartbeat_url_file,
                self.key("watchdog.heartbeat_url_file"),
            ),
        )?;
        watchdog::WatchdogConfig::new(timeout, url)
    }

    /// A destination's `digest_threshold`: a whole number of alerts, at least 1.
    fn digest_threshold(
        &self,
        flag: (Option<String>, &str),
        env: &str,
        file: (Option<usize>, &str),
    ) -> Result<usize, ConfigError> {
        match pick(
            flag,
            (self.env(env), env),
            (file.0.map(|n| n.to_string()), self.key(file.1)),
        ) {
            Some((v, from)) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    invalid(
                        from,
                        format!("{v:?} is not a number of alerts (a whole number, at least 1)"),
                    )
                }),
            None => Ok(crate::render::digest::DEFAULT_THRESHOLD),
        }
    }

    fn telegram(&mut self) -> Result<Option<TelegramConfig>, ConfigError> {
        let file = self.file.telegram.take().unwrap_or_default();
        if file.bot_token.is_some() {
            return Err(invalid(
                self.key("telegram.bot_token"),
                "secrets are not read from the config file; use telegram.bot_token_file, \
                 BOT_TOKEN_FILE or BOT_TOKEN",
            ));
        }
        let token = self.secret(
            (self.cli.bot_token_file.clone(), "--bot-token-file"),
            "BOT_TOKEN",
            "BOT_TOKEN_FILE",
            (file.bot_token_file, self.key("telegram.bot_token_file")),
        )?;
        let chat_id = match pick(
            (self.cli.alert_chat_id.clone(), "--alert-chat-id"),
            (self.env("ALERT_CHAT_ID"), "ALERT_CHAT_ID"),
            (None, String::new()),
        ) {
            Some((v, from)) => Some(v.parse::<ChatId>().map_err(|e| invalid(from, e))?),
            None => file.chat_id,
        };
        let api_url = self
            .url(
                self.cli.telegram_api_url.clone(),
                "--telegram-api-url",
                "TELEGRAM_API_URL",
                file.api_url,
                "telegram.api_url",
            )?
            .unwrap_or_else(|| DEFAULT_TELEGRAM_API_URL.to_string());
        let digest_threshold = self.digest_threshold(
            (
                self.cli.telegram_digest_threshold.clone(),
                "--telegram-digest-threshold",
            ),
            "TELEGRAM_DIGEST_THRESHOLD",
            (file.digest_threshold, "telegram.digest_threshold"),
        )?;
        match token {
            Some((token, from)) => {
                if !token.expose().contains(':') || token.expose().contains(char::is_whitespace) {
                    // Never echo the value: say what shape it should have.
                    return Err(invalid(
                        from,
                        "does not look like a Telegram bot token (<bot id>:<secret> from @BotFather)",
                    ));
                }
                Ok(Some(TelegramConfig {
                    token,
                    api_url,
                    chat_id,
                    digest_threshold,
                }))
            }
            None if chat_id.is_some() => {
                self.warnings.push(
                    "an alert chat (ALERT_CHAT_ID or telegram.chat_id) is set but no bot token \
                     (BOT_TOKEN, BOT_TOKEN_FILE or telegram.bot_token_file): Telegram is off"
                        .into(),
                );
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// The default webhook, and the digest threshold of every Slack destination.
    fn slack(&mut self) -> Result<(Option<SlackConfig>, usize), ConfigError> {
        let file = self.file.slack.take().unwrap_or_default();
        let threshold = self.digest_threshold(
            (
                self.cli.slack_digest_threshold.clone(),
                "--slack-digest-threshold",
            ),
            "SLACK_DIGEST_THRESHOLD",
            (file.digest_threshold, "slack.digest_threshold"),
        )?;
        if file.webhook_url.is_some() {
            return Err(invalid(
                self.key("slack.webhook_url"),
                "secrets are not read from the config file; use slack.webhook_url_file, \
                 SLACK_WEBHOOK_URL_FILE or SLACK_WEBHOOK_URL",
            ));
        }
        let url = self.secret(
            (
                self.cli.slack_webhook_url_file.clone(),
                "--slack-webhook-url-file",
            ),
            "SLACK_WEBHOOK_URL",
            "SLACK_WEBHOOK_URL_FILE",
            (file.webhook_url_file, self.key("slack.webhook_url_file")),
        )?;
        let slack = url
            .map(|(webhook_url, from)| {
                check_webhook_url(&webhook_url, &from)?;
                Ok::<_, ConfigError>(SlackConfig { webhook_url })
            })
            .transpose()?;
        Ok((slack, threshold))
    }

    fn webhook_auth(&mut self) -> Result<Option<WebhookAuth>, ConfigError> {
        let file = self.file.webhook_auth.take();
        let (file_bearer, file_basic) = match file {
            Some(FileWebhookAuth {
                bearer_token_file: Some(_),
                basic: Some(_),
            }) => {
                return Err(invalid(
                    self.key("webhook_auth"),
                    "choose bearer_token_file or basic, not both",
                ));
            }
            Some(f) => (f.bearer_token_file, f.basic),
            None => (None, None),
        };
        let open = |p: PathBuf, from: String| {
            SecretFile::open(p)
                .map(|f| Some(WebhookAuth::Bearer(f)))
                .map_err(|source| ConfigError::Secret { key: from, source })
        };
        if let Some(p) = self.cli.webhook_token_file.clone() {
            return open(p, "--webhook-token-file".into());
        }
        let user = self
            .cli
            .webhook_basic_user
            .clone()
            .or_else(|| self.env("WEBHOOK_BASIC_USER"));
        let pass_file = self
            .cli
            .webhook_basic_password_file
            .clone()
            .or_else(|| self.env("WEBHOOK_BASIC_PASSWORD_FILE").map(PathBuf::from));
        if let Some(p) = self.env("WEBHOOK_TOKEN_FILE") {
            if user.is_some() || pass_file.is_some() {
                return Err(invalid(
                    "env WEBHOOK_TOKEN_FILE",
                    "choose a bearer token or basic auth for the webhook, not both",
                ));
            }
            return open(PathBuf::from(p), "env WEBHOOK_TOKEN_FILE".into());
        }
        match (user, pass_file) {
            (Some(user), Some(p)) => {
                let password =
                    vpsmon_common::secret::read_file(&p).map_err(|source| ConfigError::Secret {
                        key: "--webhook-basic-password-file / WEBHOOK_BASIC_PASSWORD_FILE".into(),
                        source,
                    })?;
                return Ok(Some(WebhookAuth::Basic { user, password }));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(invalid(
                    "--webhook-basic-user / --webhook-basic-password-file",
                    "basic auth needs both a user (WEBHOOK_BASIC_USER) and a password file \
                     (WEBHOOK_BASIC_PASSWORD_FILE)",
                ));
            }
            (None, None) => {}
        }
        if let Some(p) = file_bearer {
            return open(p, self.key("webhook_auth.bearer_token_file"));
        }
        if let Some(b) = file_basic {
            let key = self.key("webhook_auth.basic.password_file");
            let password = vpsmon_common::secret::read_file(&b.password_file)
                .map_err(|source| ConfigError::Secret { key, source })?;
            return Ok(Some(WebhookAuth::Basic {
                user: b.username,
                password,
            }));
        }
        Ok(None)
    }

    fn destinations(
        &self,
        list: Vec<FileDestination>,
        key: &str,
        telegram: &Option<TelegramConfig>,
        slack: &Option<SlackConfig>,
    ) -> Result<Vec<Destination>, ConfigError> {
        let mut out = Vec::with_capacity(list.len());
        for (i, d) in list.into_iter().enumerate() {
            let raw = format!("{key}[{i}]");
            let key = self.key(&raw);
            let dest = match d {
                FileDestination::Console => Destination::Console,
                FileDestination::Webhook(w) => Destination::Webhook(w.load(&|sub| {
                    if sub.is_empty() {
                        self.key(&format!("{raw}.webhook"))
                    } else {
                        self.key(&format!("{raw}.webhook.{sub}"))
                    }
                })?),
                FileDestination::Telegram {
                    chat_id,
                    message_thread_id,
                } => {
                    let Some(tg) = telegram else {
                        return Err(invalid(
                            key,
                            "a telegram destination needs a bot token (BOT_TOKEN, BOT_TOKEN_FILE \
                             or telegram.bot_token_file)",
                        ));
                    };
                    let Some(chat_id) = chat_id.or_else(|| tg.chat_id.clone()) else {
                        return Err(invalid(
                            key,
                            "no chat_id here and no default chat (ALERT_CHAT_ID or telegram.chat_id)",
                        ));
                    };
                    Destination::Telegram {
                        chat_id,
                        message_thread_id,
                    }
                }
                FileDestination::Slack {
                    name,
                    webhook_url_file,
                    webhook_url,
                } => {
                    if webhook_url.is_some() {
                        return Err(invalid(
                            key,
                            "secrets are not read from the config file; use webhook_url_file",
                        ));
                    }
                    let (webhook_url, default_name) = match webhook_url_file {
                        Some(p) => {
                            let url = vpsmon_common::secret::read_file(&p).map_err(|source| {
                                ConfigError::Secret {
                                    key: key.clone(),
                                    source,
                                }
                            })?;
                            check_webhook_url(&url, &key)?;
                            // The file name, not the URL: the URL is the secret.
                            let n = p
                                .file_stem()
                                .map(|s| s.to_string_lossy().into_owned())
                                .unwrap_or_else(|| format!("{i}"));
                            (url, n)
                        }
                        None => match slack {
                            Some(s) => (s.webhook_url.clone(), "default".to_string()),
                            None => {
                                return Err(invalid(
                                    key,
                                    "a slack destination needs webhook_url_file here, or a default \
                                     webhook (SLACK_WEBHOOK_URL, SLACK_WEBHOOK_URL_FILE or \
                                     slack.webhook_url_file)",
                                ));
                            }
                        },
                    };
                    Destination::Slack {
                        name: name.unwrap_or(default_name),
                        webhook_url,
                    }
                }
            };
            out.push(dest);
        }
        Ok(out)
    }
}

fn check_webhook_url(url: &Secret, from: &str) -> Result<(), ConfigError> {
    let u = url.expose();
    if u.starts_with("https://") || u.starts_with("http://") {
        Ok(())
    } else {
        Err(invalid(
            from,
            "is not an http(s) URL (a Slack incoming webhook looks like https://hooks.slack.com/services/...)",
        ))
    }
}

fn parse_users(v: &str) -> Result<Vec<i64>, String> {
    v.split([',', ' '])
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| format!("{s:?} is not a Telegram user id (a number)"))
        })
        .collect()
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn url_redacted<S: Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_some(&redact_url(u)),
        None => s.serialize_none(),
    }
}

fn secret_file<S: Serializer>(f: &SecretFile, s: S) -> Result<S::Ok, S::Error> {
    // The path is not secret and helps the reader; the content is.
    s.serialize_str(&format!("token file {}", f.path().display()))
}

fn from_file<S: Serializer>(f: &SecretFile, s: S) -> Result<S::Ok, S::Error> {
    // The path helps the reader and is not secret; the content is.
    s.serialize_str(&format!("<redacted> (from {})", f.path().display()))
}

fn display<S: Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

fn human_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

fn log_format<S: Serializer>(f: &LogFormat, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match f {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    })
}
