//! The Telegram Bot API layer that delivery (alert messages) and the fleet view (the bot) share:
//! chat ids as the operator writes them, the API base URL, and the method URLs that carry the
//! token. It owns nothing else and imports neither side: both import it.
//!
//! The bot token is part of every method URL (`/bot<token>/sendMessage`), so a [`Bot`] never
//! shows one: its `Debug` form names the API base only.

use std::fmt;

use serde::{Deserialize, Serialize};
use teloxide::types::{ChatId as TgChatId, Recipient};
use vpsmon_common::Secret;

/// A Telegram chat: a numeric id (negative for groups) or a public `@channelusername`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatId {
    Id(i64),
    Username(String),
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatId::Id(id) => write!(f, "{id}"),
            ChatId::Username(name) => f.write_str(name),
        }
    }
}

impl std::str::FromStr for ChatId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(id) = s.parse::<i64>() {
            Ok(ChatId::Id(id))
        } else if s.len() > 1 && s.starts_with('@') && !s.contains(char::is_whitespace) {
            Ok(ChatId::Username(s.to_string()))
        } else {
            Err(format!(
                "{s:?} is not a Telegram chat id (a number such as -1001234567890, or @channelname)"
            ))
        }
    }
}

impl ChatId {
    /// The chat as teloxide names a recipient, and whether it is a group or channel (paced
    /// more slowly than a private chat). A public @channel is a broadcast chat: a group, to be
    /// safe.
    pub fn recipient(&self) -> (Recipient, bool) {
        match self {
            ChatId::Id(id) => (Recipient::Id(TgChatId(*id)), *id < 0),
            ChatId::Username(name) => (Recipient::ChannelUsername(name.clone()), true),
        }
    }
}

/// One bot: its token, API base URL and HTTP client, shared by every chat it sends to.
pub struct Bot {
    client: reqwest::Client,
    /// The API base, parsed once; `Err` holds why the configured URL is unusable.
    api_url: Result<reqwest::Url, String>,
    token: Secret,
}

impl fmt::Debug for Bot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bot")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// Parses the configured Bot API base (`TELEGRAM_API_URL`); the error says what is wrong.
pub fn api_base(api_url: &str) -> Result<reqwest::Url, String> {
    reqwest::Url::parse(api_url)
        .map_err(|e| format!("TELEGRAM_API_URL {api_url:?} is not a URL: {e}"))
        .and_then(|u| {
            if u.cannot_be_a_base() {
                Err(format!("TELEGRAM_API_URL {api_url:?} cannot be a base URL"))
            } else {
                Ok(u)
            }
        })
}

impl Bot {
    pub fn new(client: reqwest::Client, token: Secret, api_url: &str) -> Bot {
        Bot {
            client,
            api_url: api_base(api_url),
            token,
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// `<api_url>/bot<token>/<method>`, as teloxide builds it. Contains the token: never log it.
    /// `Err`: why the configured API URL is unusable.
    pub fn method_url(&self, method: &str) -> Result<reqwest::Url, String> {
        let mut url = self.api_url.clone()?;
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .push(&format!("bot{}", self.token.expose()))
                .push(method);
        }
        Ok(url)
    }
}

/// The bot as a teloxide client (long polling, the bot's replies), with teloxide's own HTTP
/// settings. `Err`: why the API URL is not a URL.
pub fn teloxide_bot(token: &Secret, api_url: &str) -> Result<teloxide::Bot, String> {
    let url = reqwest::Url::parse(api_url).map_err(|e| e.to_string())?;
    Ok(teloxide::Bot::new(token.expose()).set_api_url(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_the_token_where_telegram_expects_it() {
        let bot = Bot::new(
            reqwest::Client::new(),
            Secret::new("1:abc"),
            "http://127.0.0.1:1/",
        );
        assert_eq!(
            bot.method_url("sendMessage").unwrap().as_str(),
            "http://127.0.0.1:1/bot1:abc/sendMessage"
        );
        // ... and the Debug form shows the API URL, never the token.
        assert!(!format!("{bot:?}").contains("abc"));
    }
}
