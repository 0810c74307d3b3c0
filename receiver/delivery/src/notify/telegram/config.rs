//! Telegram's config section: the bot (`telegram:` in receiver.yml, `BOT_TOKEN`, `ALERT_CHAT_ID`,
//! `TELEGRAM_API_URL`) as written and as loaded. `crate::config` reads it with the other layers
//! (flag > env > file) and checks it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use vpsmon_common::Secret;
use vpsmon_receiver_telegram::ChatId;

use crate::config::redact::redacted;

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

/// A Telegram destination in a route: a chat (default: the alert chat) and a forum topic.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTelegramRoute {
    pub chat_id: Option<ChatId>,
    pub message_thread_id: Option<i64>,
}
