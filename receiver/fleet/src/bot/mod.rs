//! The interactive Telegram bot (issue 6): long polling (`getUpdates`) in the receiver's tokio
//! runtime, next to the webhook server; on when a bot token is configured.
//!
//! - [`commands`]: text → [`Command`](commands::Command) (English names, the seed's aliases).
//! - [`auth`]: the `ALLOWED_USERS` allowlist.
//! - one file per command group, each `parse → ask Prometheus/Alertmanager → reply`:
//!   [`agents`] (`/agents`, `/cpu` `/mem` `/disk` `/load`), [`chart`] (`/chart`),
//!   [`alerts`] (`/alerts`, `/silences`, `/silence`), [`ports`] (`/ports`), [`buttons`]
//!   (the silence buttons under alert messages), and [`actions`] (`/actions`, `/run` and the
//!   seed's `/op_exec`, `/broadcast`, `/op_stop`: HTML replies, `ACTION_USERS` only).
//!
//! Replies are plain text (no parse mode), so agent names and alert text can never break the
//! markup. A failed Prometheus or Alertmanager call is answered with its
//! [`ApiError`](crate::promapi::ApiError) text: which service, its URL, and why.

pub mod actions;
pub mod agents;
pub mod alert_chart;
pub mod alerts;
pub mod auth;
pub mod buttons;
pub mod chart;
pub mod commands;
pub mod ports;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use teloxide::prelude::*;
use teloxide::types::{BotCommand, InlineKeyboardMarkup, InputFile, UpdateKind, User};

use crate::promapi::{AlertmanagerClient, PrometheusClient};
use crate::thresholds::RuleThresholds;
use commands::Command;
use vpsmon_receiver_delivery::config::Config;

/// How long one `getUpdates` waits for an update (Telegram allows up to 50 s).
const POLL_SECONDS: u32 = 25;
/// Telegram's message limit is 4096 characters; leave room.
const MESSAGE_LIMIT: usize = 4000;
/// Telegram's caption limit.
pub const CAPTION_LIMIT: usize = 1024;

/// What the handlers need: the APIs to ask, who may ask, how to show time.
#[derive(Debug, Clone)]
pub struct Context {
    pub prom: PrometheusClient,
    pub am: AlertmanagerClient,
    pub allowed: Vec<i64>,
    pub tz: Tz,
    /// The loaded alert rules' thresholds, else `dashboard.thresholds`.
    pub thresholds: Arc<RuleThresholds>,
    /// Signs and checks the silence buttons; `None` without a bot token.
    pub buttons: Option<buttons::ButtonKey>,
    /// Who was last told "Not authorized.", and when.
    pub refusals: Arc<auth::Refusals>,
    /// `None` without an actions file naming agents.
    pub actions: Option<Arc<actions::Actions>>,
}

impl Context {
    /// The bot's view of a loaded configuration (Prometheus/Alertmanager default to the local
    /// ports, as for the dashboard).
    pub fn from_config(config: &Config) -> Context {
        let prom = PrometheusClient::for_config(config);
        Context {
            thresholds: Arc::new(RuleThresholds::new(
                prom.clone(),
                config.dashboard.thresholds,
            )),
            prom,
            am: AlertmanagerClient::for_config(config),
            allowed: config.allowed_users.clone(),
            tz: config.timezone,
            buttons: config
                .telegram
                .as_ref()
                .map(|t| buttons::ButtonKey::from_token(&t.token)),
            refusals: Arc::default(),
            actions: actions::Actions::from_config(&config.actions),
        }
    }
}

/// A reply to one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Text(String),
    Photo {
        png: Vec<u8>,
        caption: String,
    },
    /// Text with inline buttons under it (`/agents`' Prev/Next).
    Buttons {
        text: String,
        keyboard: InlineKeyboardMarkup,
    },
}

/// The bot, ready to poll.
pub struct TelegramBot {
    bot: Bot,
    ctx: Arc<Context>,
}

impl TelegramBot {
    /// `None` when no bot token is configured (the bot is off).
    pub fn from_config(config: &Config) -> Option<TelegramBot> {
        let tg = config.telegram.as_ref()?;
        let bot = match vpsmon_receiver_telegram::teloxide_bot(&tg.token, &tg.api_url) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(api_url = %tg.api_url, error = %e, "Telegram bot off: the API URL is not a URL");
                return None;
            }
        };
        Some(TelegramBot {
            bot,
            ctx: Arc::new(Context::from_config(config)),
        })
    }
}

/// Polls Telegram until `shutdown` completes; each update is answered on its own task so a
/// slow chart does not hold up the next command.
pub async fn run(bot: TelegramBot, shutdown: impl Future<Output = ()>) {
    let TelegramBot { bot, ctx } = bot;
    // An empty ALLOWED_USERS is among Config::start_warnings, logged by serve().
    tracing::info!(
        prometheus = ctx.prom.base_url(),
        alertmanager = ctx.am.base_url(),
        allowed_users = ctx.allowed.len(),
        "Telegram bot polling"
    );
    tokio::pin!(shutdown);
    // The command menu in Telegram's clients; not worth failing over.
    let menu: Vec<BotCommand> = commands::HELP
        .iter()
        .filter_map(|(usage, what, _)| {
            let name = usage.split_whitespace().next()?.trim_start_matches('/');
            Some(BotCommand::new(name, *what))
        })
        .collect();
    if let Err(e) = bot.set_my_commands(menu).await {
        tracing::warn!(error = %e, "Telegram bot: setMyCommands failed");
    }
    let mut offset: i32 = 0;
    let mut backoff = Duration::from_secs(1);
    loop {
        let poll = bot.get_updates().offset(offset).timeout(POLL_SECONDS);
        let updates = tokio::select! {
            _ = &mut shutdown => break,
            r = poll.send() => r,
        };
        match updates {
            Ok(updates) => {
                backoff = Duration::from_secs(1);
                for u in updates {
                    offset = offset.max(u.id.0 as i32 + 1);
                    let (bot, ctx) = (bot.clone(), ctx.clone());
                    tokio::spawn(async move { handle(&bot, &ctx, u.kind).await });
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "Telegram bot: getUpdates failed");
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
    tracing::info!("Telegram bot stopped");
}

async fn handle(bot: &Bot, ctx: &Context, kind: UpdateKind) {
    match kind {
        UpdateKind::Message(msg) => {
            let (Some(user), Some(text)) = (msg.from.as_ref(), msg.text()) else {
                return;
            };
            let chat = msg.chat.id;
            if !auth::allowed(ctx, user) {
                // Once an hour in a private chat; never in a group, whose 20 messages a minute
                // belong to the alerts.
                if auth::refuse(ctx, user) && msg.chat.is_private() {
                    send(bot, chat, Reply::Text(auth::NOT_AUTHORIZED.into())).await;
                }
                return;
            }
            if let Some(cmd) = actions::parse(text) {
                match cmd {
                    Ok(cmd) => actions::command(bot, ctx, user, chat, cmd).await,
                    Err(usage) => send(bot, chat, Reply::Text(usage)).await,
                }
                return;
            }
            if let Some(reply) = answer(ctx, user, text).await {
                send(bot, chat, reply).await;
            }
        }
        UpdateKind::CallbackQuery(q) if agents::is_page_press(&q) => {
            agents::press(bot, ctx, q).await
        }
        UpdateKind::CallbackQuery(q)
            if q.data.as_deref().is_some_and(actions::is_action_button) =>
        {
            actions::press(bot, ctx, q).await
        }
        UpdateKind::CallbackQuery(q) => buttons::press(bot, ctx, q).await,
        _ => {}
    }
}

/// The reply to one text message from `user`, who is allowed ([`auth::allowed`]); `None` for
/// text that asks nothing.
pub async fn answer(ctx: &Context, user: &User, text: &str) -> Option<Reply> {
    let cmd = match commands::parse(text) {
        Ok(Some(cmd)) => cmd,
        Ok(None) => return Some(Reply::Text("Send /help for the commands.".into())),
        Err(usage) => return Some(Reply::Text(usage)),
    };
    tracing::info!(user = user.id.0, command = %text.split_whitespace().next().unwrap_or(""), "Telegram bot command");
    let reply = match cmd {
        Command::Help => Ok(Reply::Text(help(ctx.actions.is_some()))),
        Command::Agents => agents::agents(ctx).await,
        Command::Usage { metric, agent } => agents::usage(ctx, metric, agent.as_deref())
            .await
            .map(Reply::Text),
        Command::Chart {
            metric,
            agent,
            minutes,
            at,
        } => chart::chart(ctx, metric, agent.as_deref(), minutes, at).await,
        Command::Alerts => alerts::alerts(ctx).await.map(Reply::Text),
        Command::Silences => alerts::silences(ctx).await.map(Reply::Text),
        Command::Silence {
            target,
            duration,
            comment,
        } => alerts::silence(ctx, user, &target, duration, &comment)
            .await
            .map(Reply::Text),
        Command::Ports { agent } => ports::ports(ctx, &agent).await.map(Reply::Text),
    };
    Some(reply.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "Telegram bot: command failed");
        Reply::Text(format!("⚠️ {e}"))
    }))
}

/// `/help`: every command, with an example; the action commands when actions are configured.
pub fn help(with_actions: bool) -> String {
    let mut s = String::from("vpsmon bot: ask the fleet.\n");
    let extra = if with_actions { actions::HELP } else { &[] };
    for (usage, what, example) in commands::HELP.iter().chain(extra) {
        s.push_str(&format!("\n{usage}\n  {what}\n  e.g. {example}\n"));
    }
    s.push_str("\nAn agent is given by name or by address (10.0.0.5 or 10.0.0.5:9100).");
    s
}

async fn send(bot: &Bot, chat: ChatId, reply: Reply) {
    let result = match reply {
        Reply::Text(text) => {
            let mut r = Ok(());
            for part in split(&text, MESSAGE_LIMIT) {
                if let Err(e) = bot.send_message(chat, part).await {
                    r = Err(e);
                    break;
                }
            }
            r
        }
        Reply::Buttons { text, keyboard } => bot
            .send_message(chat, truncate(&text, MESSAGE_LIMIT))
            .reply_markup(keyboard)
            .await
            .map(|_| ()),
        Reply::Photo { png, caption } => bot
            .send_photo(chat, InputFile::memory(png).file_name("chart.png"))
            .caption(truncate(&caption, CAPTION_LIMIT))
            .await
            .map(|_| ()),
    };
    if let Err(e) = result {
        tracing::warn!(chat = chat.0, error = %e, "Telegram bot: cannot send the reply");
    }
}

/// Splits at line ends so each part has at most `limit` characters (a longer line is cut).
pub fn split(text: &str, limit: usize) -> Vec<String> {
    let mut parts = vec![String::new()];
    for line in text.lines() {
        let line = truncate(line, limit);
        let cur = parts.last_mut().expect("never empty");
        let need = cur.chars().count() + line.chars().count() + usize::from(!cur.is_empty());
        if need > limit && !cur.is_empty() {
            parts.push(line);
        } else {
            if !cur.is_empty() {
                cur.push('\n');
            }
            cur.push_str(&line);
        }
    }
    parts.retain(|p| !p.trim().is_empty());
    parts
}

/// At most `limit` characters, the last one "…" when cut.
pub fn truncate(s: &str, limit: usize) -> String {
    if s.chars().count() <= limit {
        return s.to_string();
    }
    let mut t: String = s.chars().take(limit.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// The whole second every reply's numbers are evaluated at and say they are ("as of 20:55:03
/// UTC"): the start of the second [`crate::fleet::settled`] falls in, so a reader who checks them
/// against Prometheus gets the same numbers.
pub fn settled_second() -> DateTime<Utc> {
    let t = crate::fleet::settled(Utc::now());
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// "as of 20:55:03 UTC" in the configured zone.
pub fn as_of(ctx: &Context, t: DateTime<Utc>) -> String {
    format!("as of {}", t.with_timezone(&ctx.tz).format("%H:%M:%S %Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_lines_whole_and_under_the_limit() {
        let text = "aaaa\nbbbb\ncccc";
        assert_eq!(split(text, 9), ["aaaa\nbbbb", "cccc"]);
        assert_eq!(split("abcdefghij", 5), ["abcd…"]);
        assert_eq!(split("", 5), Vec::<String>::new());
    }
}
