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
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vpsmon_common::SecretFile;
use vpsmon_common::config::{Layers, Picked};
use vpsmon_common::secret::redact_url;
use vpsmon_common::telemetry::LogFormat;

use crate::cli::Cli;
use crate::cli::vars::{self, Setting};
pub use crate::notify::slack::config::{FileSlack, SlackConfig, check_webhook_url};
pub use crate::notify::telegram::config::{FileTelegram, TelegramConfig};
pub use redact::redacted;
pub use vpsmon_receiver_telegram::ChatId;

pub mod actions;
pub mod auth;
pub mod dashboard;
pub mod error;
pub mod model;
pub mod redact;
pub(crate) mod sources;
pub mod watchdog;

pub(crate) use auth::FileWebhookAuth;
pub use auth::{ClientAuth, WebhookAuth};
pub use error::ConfigError;
pub(crate) use error::invalid;
pub use model::*;
pub(crate) use sources::Sources;
use sources::{boolean, duration, known};

impl Config {
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
