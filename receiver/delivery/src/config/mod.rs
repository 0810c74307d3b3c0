//! The receiver's configuration: `receiver.yml`, flags and environment variables, merged with
//! the precedence **flags > env > file > defaults** by the idiom every binary shares
//! ([`vpsmon_common::config::Layers::lookup`] over the table `crate::cli::vars`), each value
//! knowing where it came from so that errors name it. Every variable is `RECEIVER_` and its
//! flag, older names kept. The env layer is a lookup rather than clap's `env`, so that tests
//! hand it their variables without touching the process environment.
//!
//! Secrets (bot token, Slack webhook URL, webhook password/token) come only from env vars or from
//! files named in the config; an inline secret in `receiver.yml` is refused so that the file can
//! be shared and committed. The loaded [`Config`] holds them as [`Secret`], which prints
//! `<redacted>`, and [`Config::to_yaml`] (what `--print-config` shows) redacts them too.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use vpsmon_common::config::{Layers, Origin, Picked, Source};
use vpsmon_common::secret::redact_url;
use vpsmon_common::telemetry::LogFormat;
use vpsmon_common::{Secret, SecretError, SecretFile};

use crate::cli::Cli;
use crate::cli::vars::{self, Setting};
pub use crate::notify::slack::config::{FileSlack, SlackConfig, check_webhook_url};
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
pub struct FileDestination(Box<LoadDestination>);

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
    entry: String,
    integration: &'static str,
    key: &'a dyn Fn(&str) -> String,
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

    /// Loads the configuration: the file named by `--config`/`RECEIVER_CONFIG` (if any), then env,
    /// then flags. `env` looks up an environment variable; tests pass their own.
    pub fn load(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let layers = Layers::lookup(vars::ALL, env);
        let strict_secrets = layers.switch(&vars::STRICT_SECRETS, cli.strict_secrets)
            || match layers.env(&vars::STRICT_SECRETS) {
                Some(p) => p.check(boolean)?,
                None => false,
            };
        // Before the first secret file is read (and every re-read after).
        vpsmon_common::secret::set_strict(strict_secrets);
        let path = layers
            .flag_or_env(&vars::CONFIG, cli.config.clone())
            .map(|p| p.value);
        let file = match &path {
            Some(p) => FileConfig::read(p)?,
            None => FileConfig::default(),
        };
        let b = Builder {
            cli,
            src: Sources { layers, path },
            file,
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
    /// A setting's value that cannot be used: `--listen (from RECEIVER_LISTEN): …`.
    #[error(transparent)]
    Setting(#[from] vpsmon_common::config::ConfigError),
    #[error("{key}: {source}")]
    Secret {
        key: String,
        #[source]
        source: SecretError,
    },
}

pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
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
    src: Sources<'a>,
    file: FileConfig,
    warnings: Vec<String>,
}

/// The flag and env layers, and the file's name for its keys: what a section reads its settings
/// through (`notify::telegram::config`), each value named by its source.
pub(crate) struct Sources<'a> {
    pub(crate) layers: Layers<'a>,
    path: Option<PathBuf>,
}

/// `"10s"`: a duration above zero.
fn duration(v: String) -> Result<Duration, String> {
    humantime::parse_duration(v.trim())
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{v:?} is not a duration such as 10s or 1m30s"))
}

/// `"true"` or `"false"` (also 1/0, yes/no, on/off).
fn boolean(v: String) -> Result<bool, String> {
    parse_bool(&v).ok_or_else(|| format!("{v:?}: use true or false"))
}

/// The variable a message suggests for `s`: the seed's name, which most set-ups use, else its
/// `RECEIVER_` one.
fn known(s: &Setting) -> &'static str {
    s.aliases.first().copied().unwrap_or(s.env)
}

/// The env var a value was read from.
fn var_of(p: &Picked<String>) -> String {
    match &p.origin.source {
        Source::Env(var) => var.clone(),
        _ => p.origin.flag.clone(),
    }
}

impl Sources<'_> {
    /// A key of receiver.yml as errors name it: receiver.yml key `telegram.chat_id`.
    pub(crate) fn key(&self, key: &str) -> String {
        match &self.path {
            Some(p) => format!("{} key `{key}`", p.display()),
            None => format!("config key `{key}`"),
        }
    }

    /// Flag > env > file (`key`, a key of receiver.yml): the value and where it came from;
    /// `None`: the default applies.
    pub(crate) fn pick<T: From<String> + AsRef<std::ffi::OsStr>>(
        &self,
        s: &Setting,
        flag: Option<T>,
        file: Option<T>,
        key: &str,
    ) -> Option<Picked<T>> {
        self.layers
            .flag_env_file(s, flag, file.map(|v| (v, self.key(key))))
    }

    /// A setting read from the file's `key`, as errors name it:
    /// --bot-token-file (from receiver.yml key `telegram.bot_token_file`).
    pub(crate) fn file_origin(&self, s: &Setting, key: &str) -> String {
        Origin {
            flag: s.named().to_owned(),
            source: Source::File(self.key(key)),
        }
        .to_string()
    }

    /// An http(s) base URL, without its trailing slash.
    pub(crate) fn url(
        &self,
        setting: &Setting,
        flag: Option<String>,
        file: Option<String>,
        key: &str,
    ) -> Result<Option<Picked<String>>, ConfigError> {
        self.pick(setting, flag, file, key)
            .map(|p| {
                let origin = p.origin.clone();
                p.check(|v| {
                    let v = v.trim().trim_end_matches('/').to_string();
                    if v.starts_with("http://") || v.starts_with("https://") {
                        Ok(v)
                    } else {
                        Err(format!("{v:?} is not an http:// or https:// URL"))
                    }
                })
                .map(|value| Picked { value, origin })
            })
            .transpose()
            .map_err(Into::into)
    }

    /// A secret given as a value in an env var (`value`), or as a file by flag, env
    /// (`file_setting`) or config key. Setting it two ways at the same level is refused rather
    /// than guessed.
    pub(crate) fn secret(
        &self,
        flag_file: Option<PathBuf>,
        value: &Setting,
        file_setting: &Setting,
        file_key: (Option<PathBuf>, String),
    ) -> Result<Option<(Secret, String)>, ConfigError> {
        let read = |path: &Path, from: String| {
            vpsmon_common::secret::read_file(path)
                .map(|s| Some((s, from.clone())))
                .map_err(|source| ConfigError::Secret { key: from, source })
        };
        if let Some(p) = flag_file {
            return read(&p, file_setting.flag.to_string());
        }
        match (self.layers.env(value), self.layers.env(file_setting)) {
            (Some(v), Some(f)) => Err(invalid(
                v.origin.to_string(),
                format!("set either {} or {}, not both", var_of(&v), var_of(&f)),
            )),
            (Some(v), None) => Ok(Some((Secret::new(v.value.trim()), v.origin.to_string()))),
            (None, Some(f)) => read(Path::new(&f.value), f.origin.to_string()),
            (None, None) => match file_key.0 {
                Some(p) => read(&p, file_key.1),
                None => Ok(None),
            },
        }
    }

    /// A section's secret (`key`, `telegram.bot_token`): refused written in the file, where only
    /// its file (`<key>_file`) is read; else read as [`Sources::secret`] does.
    pub(crate) fn section_secret(
        &self,
        key: &str,
        inline: bool,
        flag_file: Option<PathBuf>,
        [value, file_setting]: [&Setting; 2],
        file: Option<PathBuf>,
    ) -> Result<Option<(Secret, String)>, ConfigError> {
        if inline {
            return Err(invalid(
                self.key(key),
                format!(
                    "secrets are not read from the config file; use {key}_file, {} or {}",
                    known(file_setting),
                    known(value)
                ),
            ));
        }
        let file_key = self.file_origin(file_setting, &format!("{key}_file"));
        self.secret(flag_file, value, file_setting, (file, file_key))
    }

    /// A destination's `digest_threshold`: a whole number of alerts, at least 1.
    pub(crate) fn digest_threshold(
        &self,
        setting: &Setting,
        flag: Option<String>,
        file: Option<usize>,
        key: &str,
    ) -> Result<usize, ConfigError> {
        match self.pick(setting, flag, file.map(|n| n.to_string()), key) {
            Some(p) => Ok(p.check(|v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        format!("{v:?} is not a number of alerts (a whole number, at least 1)")
                    })
            })?),
            None => Ok(crate::render::digest::DEFAULT_THRESHOLD),
        }
    }
}

impl Builder<'_> {
    fn build(mut self) -> Result<Config, ConfigError> {
        let cli = self.cli;

        let listen = match self.src.pick(
            &vars::LISTEN,
            cli.listen.clone(),
            self.file.listen.take(),
            "listen",
        ) {
            Some(p) => p.check(|v| {
                v.parse::<SocketAddr>()
                    .map_err(|e| format!("{v:?} is not an address such as 127.0.0.1:9097 ({e})"))
            })?,
            None => DEFAULT_LISTEN.parse().expect("valid default"),
        };

        // The file's size is parsed with its line and column (`ByteSize`).
        let body_limit = match self
            .src
            .layers
            .flag_or_env(&vars::BODY_LIMIT, cli.body_limit.clone())
        {
            Some(p) => p.check(|v| parse_bytes(&v))?,
            None => self.file.body_limit.map_or(DEFAULT_BODY_LIMIT, |b| b.0),
        };

        let timezone = self.timezone()?;

        let templates_dir = self
            .src
            .pick(
                &vars::TEMPLATES_DIR,
                cli.templates_dir.clone(),
                self.file.templates_dir.take(),
                "templates_dir",
            )
            .map(|p| {
                p.check(|dir| {
                    if dir.is_dir() {
                        Ok(dir)
                    } else {
                        Err(format!("{} is not a directory", dir.display()))
                    }
                })
            })
            .transpose()?;

        let delivery_deadline = match self.src.pick(
            &vars::DELIVERY_DEADLINE,
            cli.delivery_deadline.clone(),
            self.file.delivery_deadline.take(),
            "delivery_deadline",
        ) {
            Some(p) => p.check(duration)?,
            None => DEFAULT_DELIVERY_DEADLINE,
        };

        let defaults = vpsmon_common::serve::Limits::default();
        let max_connections = match self.src.pick(
            &vars::MAX_CONNECTIONS,
            cli.max_connections.clone(),
            self.file.max_connections.take().map(|n| n.to_string()),
            "max_connections",
        ) {
            Some(p) => p.check(|v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{v:?} is not a positive number"))
            })?,
            None => defaults.max_connections,
        };
        let header_timeout = match self.src.pick(
            &vars::HEADER_TIMEOUT,
            cli.header_timeout.clone(),
            self.file.header_timeout.take(),
            "header_timeout",
        ) {
            Some(p) => p.check(duration)?,
            None => defaults.header_timeout,
        };

        let console_file = self
            .src
            .pick(
                &vars::CONSOLE_FILE,
                cli.console_file.clone(),
                self.file.console_file.take(),
                "console_file",
            )
            .map(|p| p.value);
        let file_console_digest_threshold = self.file.console_digest_threshold.take();
        let console_digest_threshold = self.src.digest_threshold(
            &vars::CONSOLE_DIGEST_THRESHOLD,
            cli.console_digest_threshold.clone(),
            file_console_digest_threshold,
            "console_digest_threshold",
        )?;

        let prometheus_url = self.src.url(
            &vars::PROMETHEUS_URL,
            cli.prometheus_url.clone(),
            self.file.prometheus_url.clone(),
            "prometheus_url",
        )?;
        let alertmanager_url = self.src.url(
            &vars::ALERTMANAGER_URL,
            cli.alertmanager_url.clone(),
            self.file.alertmanager_url.clone(),
            "alertmanager_url",
        )?;

        // Seed 002 gave the list in env only: the file's is a YAML list.
        let allowed_users = match self
            .src
            .layers
            .flag_or_env(&vars::ALLOWED_USERS, cli.allowed_users.clone())
        {
            Some(p) => p.check(|v| parse_users(&v))?,
            None => self.file.allowed_users.take().unwrap_or_default(),
        };
        let action_users = match self
            .src
            .layers
            .flag_or_env(&vars::ACTION_USERS, cli.action_users.clone())
        {
            Some(p) => {
                let from = p.origin.to_string();
                (p.check(|v| parse_users(&v))?, from)
            }
            None => (
                self.file.action_users.take().unwrap_or_default(),
                self.src.file_origin(&vars::ACTION_USERS, "action_users"),
            ),
        };
        let actions_file = self
            .src
            .pick(
                &vars::ACTIONS_FILE,
                cli.actions_file.clone(),
                self.file.actions_file.take(),
                "actions_file",
            )
            .map(|p| {
                let from = p.origin.to_string();
                (p.value, from)
            });
        let (actions, warning) =
            actions::ActionsConfig::build(action_users, actions_file, &allowed_users)?;
        self.warnings.extend(warning);

        let log_format = match self.src.pick(
            &vars::LOG_FORMAT,
            cli.log_format.clone(),
            self.file.log_format.take(),
            "log_format",
        ) {
            Some(p) => p.check(|v| match v.trim().to_ascii_lowercase().as_str() {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("{v:?}: use text or json")),
            })?,
            None => LogFormat::Text,
        };

        let (prometheus_file_auth, alertmanager_file_auth) = (
            self.file.prometheus_auth.take(),
            self.file.alertmanager_auth.take(),
        );
        let prometheus_auth = self.client_auth(
            "Prometheus",
            [
                &vars::PROMETHEUS_BEARER_TOKEN_FILE,
                &vars::PROMETHEUS_BASIC_AUTH_USER,
                &vars::PROMETHEUS_BASIC_AUTH_PASSWORD_FILE,
            ],
            (
                cli.prometheus_bearer_token_file.clone(),
                cli.prometheus_basic_auth_user.clone(),
                cli.prometheus_basic_auth_password_file.clone(),
            ),
            prometheus_file_auth,
            prometheus_url.as_ref(),
        )?;
        let alertmanager_auth = self.client_auth(
            "Alertmanager",
            [
                &vars::ALERTMANAGER_BEARER_TOKEN_FILE,
                &vars::ALERTMANAGER_BASIC_AUTH_USER,
                &vars::ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE,
            ],
            (
                cli.alertmanager_bearer_token_file.clone(),
                cli.alertmanager_basic_auth_user.clone(),
                cli.alertmanager_basic_auth_password_file.clone(),
            ),
            alertmanager_file_auth,
            alertmanager_url.as_ref(),
        )?;

        let webhook_auth = self.webhook_auth()?;
        let webhook_no_auth = if self
            .src
            .layers
            .switch(&vars::WEBHOOK_NO_AUTH, cli.webhook_no_auth)
        {
            Some(vars::WEBHOOK_NO_AUTH.flag.to_string())
        } else {
            match self.src.layers.env(&vars::WEBHOOK_NO_AUTH) {
                Some(p) => {
                    let from = p.origin.to_string();
                    p.check(boolean)?.then_some(from)
                }
                None => None,
            }
        };
        if let (Some(from), Some(_)) = (&webhook_no_auth, &webhook_auth) {
            return Err(invalid(
                from,
                "webhook auth is configured too; choose one (remove the opt-out or the auth)",
            ));
        }
        let webhook_no_auth = webhook_no_auth.is_some();
        let telegram = TelegramConfig::load(
            &self.src,
            &cli.telegram,
            self.file.telegram.take(),
            &mut self.warnings,
        )?;
        let (slack, slack_digest_threshold) =
            SlackConfig::load(&self.src, &cli.slack, self.file.slack.take())?;

        let dashboard = dashboard::DashboardConfig::from_file(self.file.dashboard.take(), &|k| {
            self.src.key(k)
        })?;

        let watchdog = self.watchdog()?;

        let mut config = Config {
            source: self.src.path.clone(),
            listen,
            webhook_auth,
            webhook_no_auth,
            body_limit,
            telegram,
            slack,
            slack_digest_threshold,
            default_route: Vec::new(),
            routes: BTreeMap::new(),
            timezone,
            templates_dir,
            delivery_deadline,
            max_connections,
            header_timeout,
            console_file,
            console_digest_threshold,
            prometheus_url: prometheus_url.map(|p| p.value),
            alertmanager_url: alertmanager_url.map(|p| p.value),
            prometheus_auth,
            alertmanager_auth,
            strict_secrets: false,
            allowed_users,
            actions,
            log_format,
            dashboard,
            watchdog,
            warnings: std::mem::take(&mut self.warnings),
            given: Vec::new(),
        };
        self.routes(&mut config)?;
        config.given = self.src.layers.print().lines().map(str::to_owned).collect();
        Ok(config)
    }

    /// `default_route` and `routes`, each destination read by its integration with the
    /// sections of `config`.
    fn routes(&mut self, config: &mut Config) -> Result<(), ConfigError> {
        let default_route = match self.file.default_route.take() {
            Some(list) => self.destinations(list, "default_route", config)?,
            // No routes in the file: what each integration's section implies, in registration
            // order (`Integration::default_destination`).
            None => crate::notify::registry::default_route(config),
        };
        // Nothing to send to still means every alert is seen: on stdout.
        config.default_route = if default_route.is_empty() {
            vec![Destination::Console]
        } else {
            default_route
        };

        let mut routes = BTreeMap::new();
        for (name, list) in std::mem::take(&mut self.file.routes) {
            let key = format!("routes.{name}");
            if name == DEFAULT_ROUTE {
                return Err(invalid(
                    self.src.key(&key),
                    "the route `default` is `default_route`; give this route another name",
                ));
            }
            if name == vpsmon_common::webhook::WATCHDOG_ROUTE {
                return Err(invalid(
                    self.src.key(&key),
                    "the route `watchdog` is the Watchdog heartbeat's (/alerts/watchdog); give this route another name",
                ));
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(invalid(
                    self.src.key(&key),
                    "a route name may use only letters, digits, '-', '_' and '.' (it is a URL path segment)",
                ));
            }
            if list.is_empty() {
                return Err(invalid(
                    self.src.key(&key),
                    "a route needs at least one destination",
                ));
            }
            let d = self.destinations(list, &key, config)?;
            routes.insert(name, d);
        }
        config.routes = routes;
        Ok(())
    }

    fn timezone(&mut self) -> Result<chrono_tz::Tz, ConfigError> {
        if let Some(p) = self.src.pick(
            &vars::TIMEZONE,
            self.cli.timezone.clone(),
            self.file.timezone.take(),
            "timezone",
        ) {
            return Ok(p.check(|v| {
                v.trim().parse::<chrono_tz::Tz>().map_err(|_| {
                    format!("{v:?} is not an IANA time zone name such as UTC or Asia/Taipei")
                })
            })?);
        }
        // Containers commonly set TZ=Asia/Taipei; honour it when it is a zone name. Other TZ
        // forms (":/etc/localtime", POSIX rules) are not zone names and are left to libc.
        if let Some(tz) = self.src.layers.var("TZ")
            && let Ok(tz) = tz.trim_start_matches(':').parse::<chrono_tz::Tz>()
        {
            return Ok(tz);
        }
        Ok(chrono_tz::UTC)
    }

    /// The credential for Prometheus or Alertmanager (`service`): a bearer token file, or a user
    /// and password file, from flags, env (flag beats env field by field) or the
    /// `<service>_auth` key, which has the form of `webhook_auth`.
    fn client_auth(
        &mut self,
        service: &str,
        [bearer_setting, user_setting, password_setting]: [&Setting; 3],
        flags: (Option<PathBuf>, Option<String>, Option<PathBuf>),
        file: Option<FileWebhookAuth>,
        url: Option<&Picked<String>>,
    ) -> Result<Option<ClientAuth>, ConfigError> {
        let name = service.to_ascii_lowercase();
        let (bearer_var, user_var, password_var) = (
            known(bearer_setting),
            known(user_setting),
            known(password_setting),
        );
        let from = |p: &Picked<_>| p.origin.to_string();
        let bearer = self.src.layers.flag_or_env(bearer_setting, flags.0);
        let user = self.src.layers.flag_or_env(user_setting, flags.1);
        let password = self.src.layers.flag_or_env(password_setting, flags.2);
        let open = |p: PathBuf, key: String| {
            SecretFile::open(p).map_err(|source| ConfigError::Secret { key, source })
        };
        let auth = match (bearer, user, password) {
            (Some(_), Some(u), _) => {
                return Err(invalid(
                    from(&u),
                    format!("choose a bearer token or basic auth for {service}, not both"),
                ));
            }
            (Some(_), None, Some(p)) => {
                return Err(invalid(
                    p.origin.to_string(),
                    format!("choose a bearer token or basic auth for {service}, not both"),
                ));
            }
            (Some(b), None, None) => {
                let key = b.origin.to_string();
                Some(ClientAuth::Bearer(open(b.value, key)?))
            }
            (None, Some(u), Some(p)) => {
                let key = p.origin.to_string();
                Some(ClientAuth::Basic {
                    user: u.value,
                    password: open(p.value, key)?,
                })
            }
            (None, Some(u), None) => {
                return Err(invalid(
                    from(&u),
                    format!("basic auth for {service} needs a password file too ({password_var})"),
                ));
            }
            (None, None, Some(p)) => {
                return Err(invalid(
                    p.origin.to_string(),
                    format!("basic auth for {service} needs a user too ({user_var})"),
                ));
            }
            (None, None, None) => match file {
                Some(FileWebhookAuth {
                    bearer_token_file: Some(_),
                    basic: Some(_),
                }) => {
                    return Err(invalid(
                        self.src.key(&format!("{name}_auth")),
                        "choose bearer_token_file or basic, not both",
                    ));
                }
                Some(FileWebhookAuth {
                    bearer_token_file: Some(p),
                    ..
                }) => Some(ClientAuth::Bearer(open(
                    p,
                    self.src
                        .file_origin(bearer_setting, &format!("{name}_auth.bearer_token_file")),
                )?)),
                Some(FileWebhookAuth { basic: Some(b), .. }) => Some(ClientAuth::Basic {
                    user: b.username,
                    password: open(
                        b.password_file,
                        self.src.file_origin(
                            password_setting,
                            &format!("{name}_auth.basic.password_file"),
                        ),
                    )?,
                }),
                Some(_) | None => None,
            },
        };
        if let Some(url) = url
            && redact_url(&url.value) != url.value
        {
            if auth.is_some() {
                return Err(invalid(
                    url.origin.to_string(),
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
                self.src.key("watchdog.heartbeat_url"),
                "secrets are not read from the config file; use watchdog.heartbeat_url_file, \
                 RECEIVER_HEARTBEAT_URL_FILE or HEARTBEAT_URL",
            ));
        }
        let timeout = self
            .src
            .pick(
                &vars::WATCHDOG_TIMEOUT,
                self.cli.watchdog_timeout.clone(),
                file.timeout,
                "watchdog.timeout",
            )
            .map(|p| {
                let from = p.origin.to_string();
                (p.value, from)
            });
        let url = self.src.secret(
            self.cli.heartbeat_url_file.clone(),
            &vars::HEARTBEAT_URL,
            &vars::HEARTBEAT_URL_FILE,
            (
                file.heartbeat_url_file,
                self.src
                    .file_origin(&vars::HEARTBEAT_URL_FILE, "watchdog.heartbeat_url_file"),
            ),
        )?;
        watchdog::WatchdogConfig::new(timeout, url)
    }

    fn webhook_auth(&mut self) -> Result<Option<WebhookAuth>, ConfigError> {
        let file = self.file.webhook_auth.take();
        let (file_bearer, file_basic) = match file {
            Some(FileWebhookAuth {
                bearer_token_file: Some(_),
                basic: Some(_),
            }) => {
                return Err(invalid(
                    self.src.key("webhook_auth"),
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
            return open(p, vars::WEBHOOK_TOKEN_FILE.flag.into());
        }
        let user = self.src.layers.flag_or_env(
            &vars::WEBHOOK_BASIC_USER,
            self.cli.webhook_basic_user.clone(),
        );
        let pass_file = self.src.layers.flag_or_env(
            &vars::WEBHOOK_BASIC_PASSWORD_FILE,
            self.cli.webhook_basic_password_file.clone(),
        );
        if let Some(p) = self.src.layers.env(&vars::WEBHOOK_TOKEN_FILE) {
            let from = p.origin.to_string();
            if user.is_some() || pass_file.is_some() {
                return Err(invalid(
                    from,
                    "choose a bearer token or basic auth for the webhook, not both",
                ));
            }
            return open(PathBuf::from(p.value), from);
        }
        match (user, pass_file) {
            (Some(user), Some(p)) => {
                let key = p.origin.to_string();
                let password = vpsmon_common::secret::read_file(&p.value)
                    .map_err(|source| ConfigError::Secret { key, source })?;
                return Ok(Some(WebhookAuth::Basic {
                    user: user.value,
                    password,
                }));
            }
            (Some(Picked { origin, .. }), None) | (None, Some(Picked { origin, .. })) => {
                return Err(invalid(
                    origin.to_string(),
                    "basic auth needs both a user (WEBHOOK_BASIC_USER) and a password file \
                     (WEBHOOK_BASIC_PASSWORD_FILE)",
                ));
            }
            (None, None) => {}
        }
        if let Some(p) = file_bearer {
            return open(
                p,
                self.src
                    .file_origin(&vars::WEBHOOK_TOKEN_FILE, "webhook_auth.bearer_token_file"),
            );
        }
        if let Some(b) = file_basic {
            let key = self.src.file_origin(
                &vars::WEBHOOK_BASIC_PASSWORD_FILE,
                "webhook_auth.basic.password_file",
            );
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
        config: &Config,
    ) -> Result<Vec<Destination>, ConfigError> {
        let name_key = |k: &str| self.src.key(k);
        list.into_iter()
            .enumerate()
            .map(|(index, d)| {
                (d.0)(&RouteContext {
                    config,
                    index,
                    entry: format!("{key}[{index}]"),
                    integration: "",
                    key: &name_key,
                })
            })
            .collect()
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
