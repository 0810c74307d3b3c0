//! Command-line flags, and [`vars`]: every setting's env var. The variables are read by
//! [`crate::config::Config::load`] through `vpsmon_common::config::Layers::lookup`, not by clap,
//! so that tests can drive the precedence (flags > env > file > defaults) without touching the
//! process environment. Secret
//! *values* are never flags (a flag shows in `ps`); they come from env vars or files.

use std::path::PathBuf;

use clap::Parser;

/// `--help`'s list of variables, from the one table [`vars::ALL`].
fn env_help() -> String {
    let older: Vec<String> = vars::ALL
        .iter()
        .filter(|s| !s.flag.is_empty() && !s.aliases.is_empty())
        .map(|s| format!("{} ({})", s.aliases.join(", "), s.env))
        .collect();
    let values: Vec<String> = vars::ALL
        .iter()
        .filter(|s| s.flag.is_empty())
        .map(|s| format!("  {} or {}", s.env, s.aliases.join(", ")))
        .collect();
    format!(
        "Environment variables: every flag reads {prefix}<FLAG> (--alert-chat-id: \
         {prefix}ALERT_CHAT_ID); a flag wins over its variable, a variable over receiver.yml.\n\
         Older names, read when the {prefix} one is unset: {older}.\n\
         Secrets given as values (never flags, which ps shows):\n{values}\n\
         (the bot token, the Slack webhook URL, the heartbeat URL). RECEIVER_TIMEZONE falls back \
         to TZ if it is a zone name; RUST_LOG sets the log level (default info).\n\n\
         With no Telegram or Slack configured, alerts are printed to stdout, one line per alert; \
         with them, an alert that no destination took before the delivery deadline is printed \
         there too.",
        prefix = vars::PREFIX,
        older = older.join(", "),
        values = values.join("\n"),
    )
}

/// Every setting's env var, in one table (its own file: the integrations' sections read it).
pub mod vars;

/// Alertmanager webhook receiver: delivers alerts to Telegram, Slack or the console.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "vpsmon-receiver", version, after_help = env_help())]
pub struct Cli {
    /// YAML config file [env: RECEIVER_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on [env: RECEIVER_LISTEN] [default: 127.0.0.1:9097]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Largest webhook body, e.g. 1MiB or 1048576 [env: RECEIVER_BODY_LIMIT] [default: 1MiB]
    #[arg(long, value_name = "SIZE")]
    pub body_limit: Option<String>,

    /// Time zone for times in messages, e.g. Asia/Taipei [env: RECEIVER_TIMEZONE] [default: UTC]
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,

    /// Directory of templates overriding the embedded ones [env: RECEIVER_TEMPLATES_DIR]
    #[arg(long, value_name = "DIR")]
    pub templates_dir: Option<PathBuf>,

    /// How long to keep retrying a failing destination before answering 503
    /// [env: RECEIVER_DELIVERY_DEADLINE] [default: 10s]
    #[arg(long, value_name = "DURATION")]
    pub delivery_deadline: Option<String>,

    /// Most connections open at once; past it the oldest idle one is closed
    /// [env: RECEIVER_MAX_CONNECTIONS] [default: 512]
    #[arg(long, value_name = "N")]
    pub max_connections: Option<String>,

    /// Time a client has to send a request's header; idle keep-alive connections are closed
    /// after it too [env: RECEIVER_HEADER_TIMEOUT] [default: 10s]
    #[arg(long, value_name = "DURATION")]
    pub header_timeout: Option<String>,

    /// Also append console alert lines to this file [env: RECEIVER_CONSOLE_FILE]
    #[arg(long, value_name = "FILE")]
    pub console_file: Option<PathBuf>,

    /// More alerts than this in one notification are printed as a digest: a summary line, then
    /// one compact line per alert [env: RECEIVER_CONSOLE_DIGEST_THRESHOLD] [default: 20]
    #[arg(long, value_name = "N")]
    pub console_digest_threshold: Option<String>,

    // Telegram's and Slack's flags, declared in their folders (`notify/<name>/config.rs`).
    #[command(flatten)]
    pub telegram: crate::notify::telegram::config::Flags,

    #[command(flatten)]
    pub slack: crate::notify::slack::config::Flags,

    /// File holding the bearer token Alertmanager must send; re-read when it changes
    /// [env: RECEIVER_WEBHOOK_TOKEN_FILE or WEBHOOK_TOKEN_FILE]
    #[arg(long, value_name = "FILE")]
    pub webhook_token_file: Option<PathBuf>,

    /// User for basic auth on the webhook [env: RECEIVER_WEBHOOK_BASIC_USER or WEBHOOK_BASIC_USER]
    #[arg(long, value_name = "USER")]
    pub webhook_basic_user: Option<String>,

    /// File holding the basic-auth password [env: RECEIVER_WEBHOOK_BASIC_PASSWORD_FILE or WEBHOOK_BASIC_PASSWORD_FILE]
    #[arg(long, value_name = "FILE")]
    pub webhook_basic_password_file: Option<PathBuf>,

    /// Serve the webhook without auth: anyone who reaches the port can post alerts. Without
    /// this, the receiver refuses to start unless a token or basic auth is configured
    /// [env: RECEIVER_WEBHOOK_NO_AUTH=1]
    #[arg(long)]
    pub webhook_no_auth: bool,

    /// Prometheus base URL, for links and the bot [env: RECEIVER_PROMETHEUS_URL or PROMETHEUS_URL]
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,

    /// Alertmanager base URL, for links and the bot [env: RECEIVER_ALERTMANAGER_URL or ALERTMANAGER_URL]
    #[arg(long, value_name = "URL")]
    pub alertmanager_url: Option<String>,

    /// File holding a bearer token sent to Prometheus; re-read when it changes
    /// [env: RECEIVER_PROMETHEUS_BEARER_TOKEN_FILE or PROMETHEUS_BEARER_TOKEN_FILE]
    #[arg(long, value_name = "FILE")]
    pub prometheus_bearer_token_file: Option<PathBuf>,

    /// User for basic auth to Prometheus [env: RECEIVER_PROMETHEUS_BASIC_AUTH_USER or PROMETHEUS_BASIC_AUTH_USER]
    #[arg(long, value_name = "USER")]
    pub prometheus_basic_auth_user: Option<String>,

    /// File holding the basic-auth password sent to Prometheus; re-read when it changes
    /// [env: RECEIVER_PROMETHEUS_BASIC_AUTH_PASSWORD_FILE or PROMETHEUS_BASIC_AUTH_PASSWORD_FILE]
    #[arg(long, value_name = "FILE")]
    pub prometheus_basic_auth_password_file: Option<PathBuf>,

    /// File holding a bearer token sent to Alertmanager; re-read when it changes
    /// [env: RECEIVER_ALERTMANAGER_BEARER_TOKEN_FILE or ALERTMANAGER_BEARER_TOKEN_FILE]
    #[arg(long, value_name = "FILE")]
    pub alertmanager_bearer_token_file: Option<PathBuf>,

    /// User for basic auth to Alertmanager [env: RECEIVER_ALERTMANAGER_BASIC_AUTH_USER or ALERTMANAGER_BASIC_AUTH_USER]
    #[arg(long, value_name = "USER")]
    pub alertmanager_basic_auth_user: Option<String>,

    /// File holding the basic-auth password sent to Alertmanager; re-read when it changes
    /// [env: RECEIVER_ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE or ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE]
    #[arg(long, value_name = "FILE")]
    pub alertmanager_basic_auth_password_file: Option<PathBuf>,

    /// Refuse to start with a secret file that group or others may read (without it: a
    /// warning) [env: RECEIVER_STRICT_SECRETS]
    #[arg(long)]
    pub strict_secrets: bool,

    /// Telegram user ids allowed to use the bot, comma-separated [env: RECEIVER_ALLOWED_USERS or ALLOWED_USERS]
    #[arg(long, value_name = "IDS")]
    pub allowed_users: Option<String>,

    /// Telegram user ids allowed to run actions, comma-separated; each must be in
    /// ALLOWED_USERS [env: RECEIVER_ACTION_USERS or ACTION_USERS]
    #[arg(long, value_name = "IDS")]
    pub action_users: Option<String>,

    /// The actions file: each agent's URL and action-key file (gen-config writes
    /// receiver/action-agents.yml) [env: RECEIVER_ACTIONS_FILE]
    #[arg(long, value_name = "FILE")]
    pub actions_file: Option<PathBuf>,

    /// No Watchdog heartbeat from Alertmanager for this long: tell every destination the
    /// monitoring pipeline is broken; `off` to disable. Set, it is watched from start-up;
    /// else from the first heartbeat [env: RECEIVER_WATCHDOG_TIMEOUT] [default: 5m]
    #[arg(long, value_name = "DURATION")]
    pub watchdog_timeout: Option<String>,

    /// File holding a URL to GET on each Watchdog heartbeat (healthchecks.io-style)
    /// [env: RECEIVER_HEARTBEAT_URL_FILE, or the URL in RECEIVER_HEARTBEAT_URL or HEARTBEAT_URL]
    #[arg(long, value_name = "FILE")]
    pub heartbeat_url_file: Option<PathBuf>,

    /// Log format: text or json [env: RECEIVER_LOG_FORMAT] [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// Print the effective configuration (secrets redacted) and exit; the warnings a start
    /// would log go to stderr as `warning: ...` lines
    #[arg(long)]
    pub print_config: bool,
}

#[cfg(test)]
mod tests {
    use super::vars::{ALL, PREFIX};

    #[test]
    fn every_variable_has_the_prefix_and_names_its_flag() {
        for s in ALL {
            assert!(s.env.starts_with(PREFIX), "{s:?}");
            if !s.flag.is_empty() {
                let from_flag = format!(
                    "{PREFIX}{}",
                    s.flag
                        .trim_start_matches("--")
                        .to_ascii_uppercase()
                        .replace('-', "_")
                );
                assert_eq!(s.env, from_flag);
            }
        }
    }
}
