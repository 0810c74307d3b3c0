//! Command-line flags. Environment variables are read by [`crate::config::Config::load`], not by
//! clap, so that the precedence (flags > env > file > defaults) is one explicit piece of code that
//! tests can drive without touching the process environment. Secret *values* are never flags
//! (a flag shows in `ps`); they come from env vars or files.

use std::path::PathBuf;

use clap::Parser;

const ENV_HELP: &str = "\
Environment variables (a flag wins over its variable, a variable over receiver.yml):
  RECEIVER_CONFIG, RECEIVER_LISTEN, RECEIVER_BODY_LIMIT, RECEIVER_TIMEZONE (else TZ if it is a
  zone name), RECEIVER_TEMPLATES_DIR, RECEIVER_DELIVERY_DEADLINE, RECEIVER_CONSOLE_FILE,
  RECEIVER_MAX_CONNECTIONS, RECEIVER_HEADER_TIMEOUT, RECEIVER_CONSOLE_DIGEST_THRESHOLD,
  RECEIVER_LOG_FORMAT, RUST_LOG (log level, default info)
  BOT_TOKEN or BOT_TOKEN_FILE        Telegram bot token (secret)
  ALERT_CHAT_ID                      Telegram chat for alerts (number or @channel)
  TELEGRAM_API_URL                   Bot API base URL [default: https://api.telegram.org]
  TELEGRAM_DIGEST_THRESHOLD          more alerts than this: one digest message [default: 20]
  SLACK_WEBHOOK_URL or SLACK_WEBHOOK_URL_FILE   Slack incoming webhook (secret)
  SLACK_DIGEST_THRESHOLD             more alerts than this: a Slack digest [default: 20]
  WEBHOOK_TOKEN_FILE                 bearer token Alertmanager must send (re-read on change)
  WEBHOOK_BASIC_USER, WEBHOOK_BASIC_PASSWORD_FILE   basic auth Alertmanager must send
  RECEIVER_WEBHOOK_NO_AUTH=1         serve the webhook without auth (required when none is set)
  PROMETHEUS_URL, ALERTMANAGER_URL, ALLOWED_USERS (comma-separated Telegram user ids)
  ACTION_USERS (ids that may run actions), RECEIVER_ACTIONS_FILE (agents' URLs and key files)
  PROMETHEUS_BEARER_TOKEN_FILE, or PROMETHEUS_BASIC_AUTH_USER and
  PROMETHEUS_BASIC_AUTH_PASSWORD_FILE        credential sent to Prometheus (re-read on change)
  ALERTMANAGER_BEARER_TOKEN_FILE, or ALERTMANAGER_BASIC_AUTH_USER and
  ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE      credential sent to Alertmanager (re-read on change)
  RECEIVER_STRICT_SECRETS            true: refuse secret files that group or others may read
  RECEIVER_WATCHDOG_TIMEOUT          no Watchdog heartbeat this long: pipeline broken [default: 5m]
  HEARTBEAT_URL or RECEIVER_HEARTBEAT_URL_FILE   URL to GET on each heartbeat (secret)

With no Telegram or Slack configured, alerts are printed to stdout, one line per alert; with
them, an alert that no destination took before the delivery deadline is printed there too.";

/// Alertmanager webhook receiver: delivers alerts to Telegram, Slack or the console.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "vpsmon-receiver", version, after_help = ENV_HELP)]
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

    /// File holding the Telegram bot token [env: BOT_TOKEN_FILE, or the token in BOT_TOKEN]
    #[arg(long, value_name = "FILE")]
    pub bot_token_file: Option<PathBuf>,

    /// Telegram chat that receives alerts: a number or @channel [env: ALERT_CHAT_ID]
    // Group ids are negative (-100123): without this clap takes "-1" for a flag.
    #[arg(long, value_name = "ID", allow_negative_numbers = true)]
    pub alert_chat_id: Option<String>,

    /// Telegram Bot API base URL [env: TELEGRAM_API_URL] [default: https://api.telegram.org]
    #[arg(long, value_name = "URL")]
    pub telegram_api_url: Option<String>,

    /// More alerts than this in one notification are sent to Telegram as a digest: one summary
    /// message and the full list as a document [env: TELEGRAM_DIGEST_THRESHOLD] [default: 20]
    #[arg(long, value_name = "N")]
    pub telegram_digest_threshold: Option<String>,

    /// File holding the Slack incoming webhook URL
    /// [env: SLACK_WEBHOOK_URL_FILE, or the URL in SLACK_WEBHOOK_URL]
    #[arg(long, value_name = "FILE")]
    pub slack_webhook_url_file: Option<PathBuf>,

    /// More alerts than this in one notification are sent to Slack as a digest: a summary and
    /// one compact line per alert, in as few posts as Slack's limits allow
    /// [env: SLACK_DIGEST_THRESHOLD] [default: 20]
    #[arg(long, value_name = "N")]
    pub slack_digest_threshold: Option<String>,

    /// File holding the bearer token Alertmanager must send; re-read when it changes
    /// [env: WEBHOOK_TOKEN_FILE]
    #[arg(long, value_name = "FILE")]
    pub webhook_token_file: Option<PathBuf>,

    /// User for basic auth on the webhook [env: WEBHOOK_BASIC_USER]
    #[arg(long, value_name = "USER")]
    pub webhook_basic_user: Option<String>,

    /// File holding the basic-auth password [env: WEBHOOK_BASIC_PASSWORD_FILE]
    #[arg(long, value_name = "FILE")]
    pub webhook_basic_password_file: Option<PathBuf>,

    /// Serve the webhook without auth: anyone who reaches the port can post alerts. Without
    /// this, the receiver refuses to start unless a token or basic auth is configured
    /// [env: RECEIVER_WEBHOOK_NO_AUTH=1]
    #[arg(long)]
    pub webhook_no_auth: bool,

    /// Prometheus base URL, for links and the bot [env: PROMETHEUS_URL]
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,

    /// Alertmanager base URL, for links and the bot [env: ALERTMANAGER_URL]
    #[arg(long, value_name = "URL")]
    pub alertmanager_url: Option<String>,

    /// File holding a bearer token sent to Prometheus; re-read when it changes
    /// [env: PROMETHEUS_BEARER_TOKEN_FILE]
    #[arg(long, value_name = "FILE")]
    pub prometheus_bearer_token_file: Option<PathBuf>,

    /// User for basic auth to Prometheus [env: PROMETHEUS_BASIC_AUTH_USER]
    #[arg(long, value_name = "USER")]
    pub prometheus_basic_auth_user: Option<String>,

    /// File holding the basic-auth password sent to Prometheus; re-read when it changes
    /// [env: PROMETHEUS_BASIC_AUTH_PASSWORD_FILE]
    #[arg(long, value_name = "FILE")]
    pub prometheus_basic_auth_password_file: Option<PathBuf>,

    /// File holding a bearer token sent to Alertmanager; re-read when it changes
    /// [env: ALERTMANAGER_BEARER_TOKEN_FILE]
    #[arg(long, value_name = "FILE")]
    pub alertmanager_bearer_token_file: Option<PathBuf>,

    /// User for basic auth to Alertmanager [env: ALERTMANAGER_BASIC_AUTH_USER]
    #[arg(long, value_name = "USER")]
    pub alertmanager_basic_auth_user: Option<String>,

    /// File holding the basic-auth password sent to Alertmanager; re-read when it changes
    /// [env: ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE]
    #[arg(long, value_name = "FILE")]
    pub alertmanager_basic_auth_password_file: Option<PathBuf>,

    /// Refuse to start with a secret file that group or others may read (without it: a
    /// warning) [env: RECEIVER_STRICT_SECRETS]
    #[arg(long)]
    pub strict_secrets: bool,

    /// Telegram user ids allowed to use the bot, comma-separated [env: ALLOWED_USERS]
    #[arg(long, value_name = "IDS")]
    pub allowed_users: Option<String>,

    /// Telegram user ids allowed to run actions, comma-separated; each must be in
    /// ALLOWED_USERS [env: ACTION_USERS]
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
    /// [env: RECEIVER_HEARTBEAT_URL_FILE, or the URL in HEARTBEAT_URL]
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
