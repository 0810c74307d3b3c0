//! Every setting's env var: `RECEIVER_` and its flag, and the names it had before (read when
//! that one is unset). A new setting is one line here, a field of [`crate::cli::Cli`], and, with a file
//! key, a field of the file's form; `Config::load` resolves it with `Layers::flag_env_file`.

/// The prefix of every env var of the receiver.
pub const PREFIX: &str = "RECEIVER_";

pub use vpsmon_common::config::Setting;

macro_rules! settings {
    ($($name:ident = $flag:literal, $env:literal $(, $alias:literal)*;)+) => {
        $(pub const $name: Setting = Setting {
            flag: $flag,
            env: $env,
            aliases: &[$($alias),*],
        };)+
        /// Every setting, in `--help`'s order.
        pub const ALL: &[Setting] = &[$($name),+];
    };
}

settings! {
    CONFIG = "--config", "RECEIVER_CONFIG";
    LISTEN = "--listen", "RECEIVER_LISTEN";
    BODY_LIMIT = "--body-limit", "RECEIVER_BODY_LIMIT";
    TIMEZONE = "--timezone", "RECEIVER_TIMEZONE";
    TEMPLATES_DIR = "--templates-dir", "RECEIVER_TEMPLATES_DIR";
    DELIVERY_DEADLINE = "--delivery-deadline", "RECEIVER_DELIVERY_DEADLINE";
    MAX_CONNECTIONS = "--max-connections", "RECEIVER_MAX_CONNECTIONS";
    HEADER_TIMEOUT = "--header-timeout", "RECEIVER_HEADER_TIMEOUT";
    CONSOLE_FILE = "--console-file", "RECEIVER_CONSOLE_FILE";
    CONSOLE_DIGEST_THRESHOLD = "--console-digest-threshold", "RECEIVER_CONSOLE_DIGEST_THRESHOLD";
    BOT_TOKEN = "", "RECEIVER_BOT_TOKEN", "BOT_TOKEN";
    BOT_TOKEN_FILE = "--bot-token-file", "RECEIVER_BOT_TOKEN_FILE", "BOT_TOKEN_FILE";
    ALERT_CHAT_ID = "--alert-chat-id", "RECEIVER_ALERT_CHAT_ID", "ALERT_CHAT_ID";
    TELEGRAM_API_URL = "--telegram-api-url", "RECEIVER_TELEGRAM_API_URL", "TELEGRAM_API_URL";
    TELEGRAM_DIGEST_THRESHOLD = "--telegram-digest-threshold", "RECEIVER_TELEGRAM_DIGEST_THRESHOLD", "TELEGRAM_DIGEST_THRESHOLD";
    SLACK_WEBHOOK_URL = "", "RECEIVER_SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL";
    SLACK_WEBHOOK_URL_FILE = "--slack-webhook-url-file", "RECEIVER_SLACK_WEBHOOK_URL_FILE", "SLACK_WEBHOOK_URL_FILE";
    SLACK_DIGEST_THRESHOLD = "--slack-digest-threshold", "RECEIVER_SLACK_DIGEST_THRESHOLD", "SLACK_DIGEST_THRESHOLD";
    WEBHOOK_TOKEN_FILE = "--webhook-token-file", "RECEIVER_WEBHOOK_TOKEN_FILE", "WEBHOOK_TOKEN_FILE";
    WEBHOOK_BASIC_USER = "--webhook-basic-user", "RECEIVER_WEBHOOK_BASIC_USER", "WEBHOOK_BASIC_USER";
    WEBHOOK_BASIC_PASSWORD_FILE = "--webhook-basic-password-file", "RECEIVER_WEBHOOK_BASIC_PASSWORD_FILE", "WEBHOOK_BASIC_PASSWORD_FILE";
    WEBHOOK_NO_AUTH = "--webhook-no-auth", "RECEIVER_WEBHOOK_NO_AUTH";
    PROMETHEUS_URL = "--prometheus-url", "RECEIVER_PROMETHEUS_URL", "PROMETHEUS_URL";
    ALERTMANAGER_URL = "--alertmanager-url", "RECEIVER_ALERTMANAGER_URL", "ALERTMANAGER_URL";
    PROMETHEUS_BEARER_TOKEN_FILE = "--prometheus-bearer-token-file", "RECEIVER_PROMETHEUS_BEARER_TOKEN_FILE", "PROMETHEUS_BEARER_TOKEN_FILE";
    PROMETHEUS_BASIC_AUTH_USER = "--prometheus-basic-auth-user", "RECEIVER_PROMETHEUS_BASIC_AUTH_USER", "PROMETHEUS_BASIC_AUTH_USER";
    PROMETHEUS_BASIC_AUTH_PASSWORD_FILE = "--prometheus-basic-auth-password-file", "RECEIVER_PROMETHEUS_BASIC_AUTH_PASSWORD_FILE", "PROMETHEUS_BASIC_AUTH_PASSWORD_FILE";
    ALERTMANAGER_BEARER_TOKEN_FILE = "--alertmanager-bearer-token-file", "RECEIVER_ALERTMANAGER_BEARER_TOKEN_FILE", "ALERTMANAGER_BEARER_TOKEN_FILE";
    ALERTMANAGER_BASIC_AUTH_USER = "--alertmanager-basic-auth-user", "RECEIVER_ALERTMANAGER_BASIC_AUTH_USER", "ALERTMANAGER_BASIC_AUTH_USER";
    ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE = "--alertmanager-basic-auth-password-file", "RECEIVER_ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE", "ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE";
    STRICT_SECRETS = "--strict-secrets", "RECEIVER_STRICT_SECRETS";
    ALLOWED_USERS = "--allowed-users", "RECEIVER_ALLOWED_USERS", "ALLOWED_USERS";
    ACTION_USERS = "--action-users", "RECEIVER_ACTION_USERS", "ACTION_USERS";
    ACTIONS_FILE = "--actions-file", "RECEIVER_ACTIONS_FILE";
    LOG_FORMAT = "--log-format", "RECEIVER_LOG_FORMAT";
    WATCHDOG_TIMEOUT = "--watchdog-timeout", "RECEIVER_WATCHDOG_TIMEOUT";
    HEARTBEAT_URL = "", "RECEIVER_HEARTBEAT_URL", "HEARTBEAT_URL";
    HEARTBEAT_URL_FILE = "--heartbeat-url-file", "RECEIVER_HEARTBEAT_URL_FILE";
}
