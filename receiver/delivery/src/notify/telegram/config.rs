//! Telegram's config section: the bot (`telegram:` in receiver.yml, `BOT_TOKEN`, `ALERT_CHAT_ID`,
//! `TELEGRAM_API_URL`) as written and as loaded. [`TelegramConfig::load`] reads and checks its
//! settings, flag > env > file, through `crate::config`'s layers, which calls it once.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use vpsmon_common::Secret;
use vpsmon_receiver_telegram::ChatId;

use crate::cli::vars;
use crate::config::redact::redacted;
use crate::config::error::{ConfigError, invalid};
use crate::config::sources::Sources;

pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";

#[derive(Debug, Clone, Serialize)]
pub struct TelegramConfig {
    #[serde(serialize_with = "redacted")]
    pub token: Secret,
    /// Bot API base URL; tests point it at a loopback fake.
    pub api_url: String,
    /// The alert chat (`ALERT_CHAT_ID`), used by Telegram destinations that name no chat.
    pub chat_id: Option<ChatId>,
    /// A notification of more alerts than this becomes a digest (`render::digest`).
    pub digest_threshold: usize,
}

impl TelegramConfig {
    /// The bot: `telegram:` in receiver.yml, `--bot-token-file` (or the token in `BOT_TOKEN`),
    /// `--alert-chat-id`, `--telegram-api-url` and `--telegram-digest-threshold`, each flag > env
    /// > file. `None`: no bot token (an alert chat without one is a warning).
    pub(crate) fn load(
        src: &Sources,
        cli: &Flags,
        file: Option<FileTelegram>,
        warnings: &mut Vec<String>,
    ) -> Result<Option<TelegramConfig>, ConfigError> {
        let file = file.unwrap_or_default();
        let token = src.section_secret(
            "telegram.bot_token",
            file.bot_token.is_some(),
            cli.bot_token_file.clone(),
            [&vars::BOT_TOKEN, &vars::BOT_TOKEN_FILE],
            file.bot_token_file,
        )?;
        // The file's chat id is typed by serde (with its line and column).
        let chat_id = match src
            .layers
            .flag_or_env(&vars::ALERT_CHAT_ID, cli.alert_chat_id.clone())
        {
            Some(p) => Some(p.check(|v| v.parse::<ChatId>().map_err(|e| e.to_string()))?),
            None => file.chat_id,
        };
        let api_url = src
            .url(
                &vars::TELEGRAM_API_URL,
                cli.telegram_api_url.clone(),
                file.api_url,
                "telegram.api_url",
            )?
            .map_or_else(|| DEFAULT_TELEGRAM_API_URL.to_string(), |p| p.value);
        let digest_threshold = src.digest_threshold(
            &vars::TELEGRAM_DIGEST_THRESHOLD,
            cli.telegram_digest_threshold.clone(),
            file.digest_threshold,
            "telegram.digest_threshold",
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
                warnings.push(
                    "an alert chat (ALERT_CHAT_ID or telegram.chat_id) is set but no bot token \
                     (BOT_TOKEN, BOT_TOKEN_FILE or telegram.bot_token_file): Telegram is off"
                        .into(),
                );
                Ok(None)
            }
            None => Ok(None),
        }
    }
}

// Telegram's flags, flattened into `crate::cli::Cli` where they stand in `--help`; their env
// vars are rows of `crate::cli::vars`.
#[derive(Debug, Clone, Default, clap::Args)]
#[group(skip)]
pub struct Flags {
    /// File holding the Telegram bot token [env: RECEIVER_BOT_TOKEN_FILE or BOT_TOKEN_FILE, or the token in RECEIVER_BOT_TOKEN or BOT_TOKEN]
    #[arg(long, value_name = "FILE")]
    pub bot_token_file: Option<PathBuf>,

    /// Telegram chat that receives alerts: a number or @channel [env: RECEIVER_ALERT_CHAT_ID or ALERT_CHAT_ID]
    // Group ids are negative (-100123): without this clap takes "-1" for a flag.
    #[arg(long, value_name = "ID", allow_negative_numbers = true)]
    pub alert_chat_id: Option<String>,

    /// Telegram Bot API base URL [env: RECEIVER_TELEGRAM_API_URL or TELEGRAM_API_URL] [default: https://api.telegram.org]
    #[arg(long, value_name = "URL")]
    pub telegram_api_url: Option<String>,

    /// More alerts than this in one notification are sent to Telegram as a digest: one summary
    /// message and the full list as a document [env: RECEIVER_TELEGRAM_DIGEST_THRESHOLD or TELEGRAM_DIGEST_THRESHOLD] [default: 20]
    #[arg(long, value_name = "N")]
    pub telegram_digest_threshold: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTelegram {
    pub bot_token_file: Option<PathBuf>,
    /// Accepted only to refuse it with a helpful message.
    pub bot_token: Option<serde::de::IgnoredAny>,
    pub api_url: Option<String>,
    pub chat_id: Option<ChatId>,
    pub digest_threshold: Option<usize>,
}

/// A Telegram destination, loaded: a chat and, in a forum, one topic. `--print-config` shows it
/// as serde gives it (`chat_id`, `message_thread_id`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TelegramDestination {
    pub chat_id: ChatId,
    pub message_thread_id: Option<i64>,
}

/// A Telegram destination in a route: a chat (default: the alert chat) and a forum topic.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTelegramRoute {
    pub chat_id: Option<ChatId>,
    pub message_thread_id: Option<i64>,
}
