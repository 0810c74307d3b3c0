//! Telegram: `sendMessage` with `parse_mode=HTML` to one chat (and optionally one forum topic).
//!
//! The request body is teloxide's own [`SendMessage`] payload and Telegram's error descriptions
//! are classified with teloxide's [`ApiError`], but the HTTP exchange is ours (reqwest, the client
//! teloxide itself uses), for two reasons that matter to a webhook with a deadline:
//! - teloxide-core's request path sleeps 10 s after any 5xx before it returns the error
//!   (`DELAY_ON_SERVER_ERROR` in `net/request.rs`), which alone eats the whole default delivery
//!   deadline and rules out retrying a brief 502 inside it;
//! - teloxide drops the HTTP status, and a 5xx with Telegram's JSON envelope then comes back as
//!   `ApiError::Unknown`, indistinguishable from a permanent 400 we do not know by name.
//!
//! What the fleet view adds to an alert message comes through a [`MessageHook`] wired at start-up
//! (delivery cannot import the fleet view): an inline keyboard (the silence buttons) and photos
//! that follow the message (a firing alert's chart). Each photo is a `sendPhoto` replying to the
//! alert message, made and sent on its own task so the text's delivery (and Alertmanager's
//! answer) never waits for Prometheus or plotters, and paced by the same rate limits as the
//! texts. A photo that cannot be made or sent is logged and counted
//! (`vpsmon_receiver_alert_charts_total{result="failed"}`); the text has gone out already.
//!
//! A notification of more alerts than `digest_threshold` is a storm digest instead: one summary
//! message and the full list as one multipart `sendDocument` ([`render::digest`]).
//!
//! The bot token is part of the URL (`/bot<token>/sendMessage`), so no URL ever reaches a log or
//! an error: reqwest errors are stripped of it with `without_url()`.
//!
//! This folder owns the Telegram integration whole: its config section (`config.rs`), its
//! rendering (`render.rs`, Telegram's HTML rules in `html.rs`), its template (`template.rs`,
//! `telegram.html`), the sender and the [`MessageHook`] interface. It may import the delivery
//! core (`crate::notify`'s interface, `crate::render`, `crate::payload`, `crate::config`) and the
//! shared Telegram layer (`vpsmon-receiver-telegram`), nothing of the other integrations, and
//! nothing of the fleet view, which it cannot reach.

use super::registry::{self, NotifyContext};
use crate::config::{Config, ConfigError, Destination, IntegrationDestination, RouteContext};
use crate::render::Template;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use teloxide::ApiError;
use teloxide::payloads::SendMessage;
use teloxide::types::{LinkPreviewOptions, MessageId, ParseMode, Recipient, ReplyMarkup, ThreadId};
pub use vpsmon_receiver_telegram::Bot;

pub mod config;
pub use config::TelegramDestination;
pub mod html;
pub mod render;
pub mod template;

use super::Notify;
use super::metrics::{ChartLabels, ChartResult};
use super::ratelimit::{Bucket, RateLimiter, limits};
use super::retry::{self, Backoff, Pacing};
use super::{BoxFuture, Message, NotifyError, NotifyMetrics, describe_http_error, short};
use crate::config::ChatId;
use crate::payload::Notification;
use crate::render::{RenderContext, RenderError};

/// Sends one Bot API request and sorts the answer ([`classify`]): the new message's id.
async fn call(request: reqwest::RequestBuilder) -> Result<Option<i64>, NotifyError> {
    let transient = |e| NotifyError::Transient(describe_http_error("Telegram", e));
    let resp = request.send().await.map_err(transient)?;
    let status = resp.status();
    let body = resp.text().await.map_err(transient)?;
    classify(status, &body)
}

/// `<api_url>/bot<token>/<method>`; an unusable API URL is the operator's to fix.
fn method_url(bot: &Bot, method: &str) -> Result<reqwest::Url, NotifyError> {
    bot.method_url(method).map_err(NotifyError::Refused)
}

/// What the fleet view adds to Telegram alert messages, handed in at start-up: delivery calls
/// it when it renders a notification, and knows nothing of what it does.
pub trait MessageHook: Send + Sync {
    /// The additions to each message of `n`, given as the alerts each carries (in order, as
    /// sent); one entry per message.
    fn decorate(&self, n: &Notification, messages: &[&[usize]]) -> Vec<Additions>;
}

/// What a [`MessageHook`] adds to one message.
#[derive(Clone, Default)]
pub struct Additions {
    /// The message's inline keyboard (the silence buttons).
    pub reply_markup: Option<ReplyMarkup>,
    /// Sent after the message, as replies to it, each made when its turn comes.
    pub photos: Vec<Arc<dyn Photo>>,
}

impl std::fmt::Debug for Additions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Additions")
            .field("reply_markup", &self.reply_markup)
            .field("photos", &self.photos.len())
            .finish()
    }
}

/// A photo that follows an alert message (an alert's chart).
pub trait Photo: Send + Sync {
    /// What the log calls it (the alert's name).
    fn name(&self) -> String;
    /// The PNG and its caption, or why it cannot be made.
    fn make(&self) -> BoxFuture<'_, Result<(Vec<u8>, String), String>>;
}

/// What the photos need besides the bot: the rate limiter the texts use, and the counter of
/// photos sent and failed.
pub struct Photos {
    pub limiter: Arc<RateLimiter>,
    pub metrics: NotifyMetrics,
}

/// How long one chart may take, rate-limit waits included, before it is given up.
const CHART_DEADLINE: Duration = Duration::from_secs(60);

/// A Telegram chat as a destination.
pub struct Telegram {
    bot: Arc<Bot>,
    chat: Recipient,
    thread: Option<ThreadId>,
    pacing: Pacing,
    /// The fleet view's additions, and what sending their photos needs.
    hook: Option<(Arc<dyn MessageHook>, Arc<Photos>)>,
    /// More alerts than this in one notification: a digest ([`render::digest`]).
    digest_threshold: usize,
    /// The dashboard's base URL, for the digest's link to its alert view.
    dashboard_url: Option<String>,
}

impl Telegram {
    pub fn new(bot: Arc<Bot>, chat: &ChatId, thread: Option<i64>) -> Telegram {
        let (recipient, is_group) = chat.recipient();
        let mut pacing = Pacing::new(Bucket::new(
            format!("telegram chat {chat}"),
            limits::TELEGRAM_CHAT,
        ));
        if is_group {
            pacing.shared.push(Bucket::new(
                format!("telegram group {chat}"),
                limits::TELEGRAM_GROUP,
            ));
        }
        pacing
            .shared
            .push(Bucket::new("telegram bot", limits::TELEGRAM_BOT));
        Telegram {
            bot,
            chat: recipient,
            thread: thread
                .and_then(|t| i32::try_from(t).ok())
                .map(|t| ThreadId(MessageId(t))),
            pacing,
            hook: None,
            digest_threshold: crate::render::digest::DEFAULT_THRESHOLD,
            dashboard_url: None,
        }
    }

    /// Sends notifications of more than `threshold` alerts as a digest, linking to the
    /// dashboard at `dashboard_url` if given.
    pub fn with_digest(mut self, threshold: usize, dashboard_url: Option<String>) -> Telegram {
        self.digest_threshold = threshold;
        self.dashboard_url = dashboard_url;
        self
    }

    /// Adds the hook's keyboards and photos to the messages.
    pub fn with_hook(mut self, hook: Option<(Arc<dyn MessageHook>, Arc<Photos>)>) -> Telegram {
        self.hook = hook;
        self
    }

    /// The exact JSON teloxide would send for this message.
    fn payload(&self, text: &str) -> SendMessage {
        let mut p = SendMessage::new(self.chat.clone(), text);
        p.parse_mode = Some(ParseMode::Html);
        p.message_thread_id = self.thread;
        // Alerts link to Prometheus; a preview card of a login page helps nobody.
        p.link_preview_options = Some(LinkPreviewOptions {
            is_disabled: true,
            url: None,
            prefer_small_media: false,
            prefer_large_media: false,
            show_above_text: false,
        });
        p
    }

    async fn send(&self, message: &Message) -> Result<(), NotifyError> {
        if let Some(doc) = message
            .extra
            .as_ref()
            .and_then(|e| e.downcast_ref::<render::Document>())
        {
            return self.send_document(doc).await;
        }
        let url = method_url(&self.bot, "sendMessage")?;
        let mut payload = self.payload(&message.text);
        let additions = message
            .extra
            .as_ref()
            .and_then(|e| e.downcast_ref::<Additions>());
        payload.reply_markup = additions.and_then(|a| a.reply_markup.clone());
        let message_id = call(self.bot.client().post(url).json(&payload)).await?;
        tracing::debug!(chat = %self.chat, ?message_id, "telegram message sent");
        if let (Some((_, photos)), Some(reply_to), Some(additions)) =
            (&self.hook, message_id, additions)
            && !additions.photos.is_empty()
        {
            let followers = ChartPhotos {
                bot: self.bot.clone(),
                chat: self.chat.clone(),
                thread: self.thread,
                pacing: self.pacing.clone(),
                reply_to,
            };
            tokio::spawn(followers.send_all(photos.clone(), additions.photos.clone()));
        }
        Ok(())
    }
}

impl Telegram {
    /// A digest's full list: one multipart `sendDocument`, the file in field `document`.
    async fn send_document(&self, doc: &render::Document) -> Result<(), NotifyError> {
        let url = method_url(&self.bot, "sendDocument")?;
        let file = reqwest::multipart::Part::bytes(doc.bytes.clone())
            .file_name(doc.file_name.clone())
            .mime_str("text/plain; charset=utf-8")
            .map_err(|e| NotifyError::Bug(format!("document part: {e}")))?;
        let mut form = reqwest::multipart::Form::new()
            .text("chat_id", recipient_param(&self.chat))
            .text("caption", doc.caption.clone())
            .part("document", file);
        if let Some(ThreadId(MessageId(t))) = self.thread {
            form = form.text("message_thread_id", t.to_string());
        }
        call(self.bot.client().post(url).multipart(form))
            .await
            .map(|_| ())
    }
}

/// A chat as a form field: its number or `@channel`.
fn recipient_param(chat: &Recipient) -> String {
    match chat {
        Recipient::Id(id) => id.0.to_string(),
        Recipient::ChannelUsername(name) => name.clone(),
    }
}

/// The charts that follow one alert message, as photos replying to it.
struct ChartPhotos {
    bot: Arc<Bot>,
    chat: Recipient,
    thread: Option<ThreadId>,
    pacing: Pacing,
    reply_to: i64,
}

impl ChartPhotos {
    async fn send_all(self, charts: Arc<Photos>, photos: Vec<Arc<dyn Photo>>) {
        for photo in photos {
            let alertname = photo.name();
            let result = match photo.make().await {
                Ok((png, caption)) => self.send(&charts, &png, &caption).await,
                Err(e) => Err(e),
            };
            let result = match result {
                Ok(()) => ChartResult::sent,
                Err(reason) => {
                    tracing::warn!(chat = %self.chat, %alertname, %reason, "alert chart not sent (the alert's text was)");
                    ChartResult::failed
                }
            };
            charts
                .metrics
                .alert_charts
                .get_or_create(&ChartLabels { result })
                .inc();
        }
    }

    /// Paced like the texts; retried after a 5xx or a 429 until [`CHART_DEADLINE`].
    async fn send(&self, charts: &Photos, png: &[u8], caption: &str) -> Result<(), String> {
        let deadline = Instant::now() + CHART_DEADLINE;
        retry::send(
            &charts.limiter,
            &self.pacing,
            deadline,
            &mut Backoff::default(),
            || self.send_photo(png, caption),
            |_| {},
        )
        .await
        // A photo still on its way at the deadline is dropped: a late chart is not worth
        // holding the chat for.
        .map_err(|e| e.into_error().to_string())
    }

    /// One `sendPhoto`: multipart, the PNG in field `photo`, a reply to the alert message (sent
    /// even if that message was deleted meanwhile).
    async fn send_photo(&self, png: &[u8], caption: &str) -> Result<(), NotifyError> {
        let url = method_url(&self.bot, "sendPhoto")?;
        let chat = recipient_param(&self.chat);
        let photo = reqwest::multipart::Part::bytes(png.to_vec())
            .file_name("chart.png")
            .mime_str("image/png")
            .map_err(|e| NotifyError::Bug(format!("chart part: {e}")))?;
        let reply =
            serde_json::json!({"message_id": self.reply_to, "allow_sending_without_reply": true});
        let mut form = reqwest::multipart::Form::new()
            .text("chat_id", chat)
            .text("caption", caption.to_string())
            .text("reply_parameters", reply.to_string())
            .part("photo", photo);
        if let Some(ThreadId(MessageId(t))) = self.thread {
            form = form.text("message_thread_id", t.to_string());
        }
        call(self.bot.client().post(url).multipart(form))
            .await
            .map(|_| ())
    }
}

impl Notify for Telegram {
    fn integration(&self) -> &'static str {
        "telegram"
    }

    fn pacing(&self) -> Option<&Pacing> {
        Some(&self.pacing)
    }

    fn render(&self, n: &Notification, ctx: &RenderContext) -> Result<Vec<Message>, RenderError> {
        if n.alerts.len() > self.digest_threshold {
            // A storm: two messages, whatever its size. Both carry every alert, so an alert
            // counts as delivered once the document is. No buttons (they fit three alerts) and
            // no charts (they would queue behind the group's 20 messages a minute).
            let (text, doc) = render::digest(n, ctx, self.dashboard_url.as_deref());
            let all: Vec<usize> = (0..n.alerts.len()).collect();
            ctx.count_split("telegram", 2);
            return Ok(vec![
                Message {
                    text,
                    alert_indices: all.clone(),
                    extra: None,
                },
                Message {
                    text: doc.caption.clone(),
                    alert_indices: all,
                    extra: Some(Arc::new(doc)),
                },
            ]);
        }
        let parts = render::telegram(n, ctx)?;
        let mut additions = match &self.hook {
            Some((hook, _)) => {
                let messages: Vec<&[usize]> =
                    parts.iter().map(|p| p.alert_indices.as_slice()).collect();
                hook.decorate(n, &messages)
            }
            None => Vec::new(),
        }
        .into_iter();
        Ok(parts
            .into_iter()
            .map(|p| Message {
                text: p.body,
                alert_indices: p.alert_indices,
                extra: additions
                    .next()
                    .map(|a| Arc::new(a) as Arc<dyn std::any::Any + Send + Sync>),
            })
            .collect())
    }

    fn notify<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(self.send(message))
    }

    /// Notifications waiting together for this chat are a storm past the same threshold.
    fn coalesce_threshold(&self) -> Option<usize> {
        Some(self.digest_threshold)
    }
}

/// Telegram's answer envelope: `{"ok":true,"result":…}` or
/// `{"ok":false,"error_code":…,"description":…,"parameters":{"retry_after":…}}`.
#[derive(Debug, Deserialize)]
struct Reply {
    ok: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameters: Option<Value>,
}

/// Sorts Telegram's answer into success (the new message's id), retry later, or give up.
pub(crate) fn classify(status: StatusCode, body: &str) -> Result<Option<i64>, NotifyError> {
    let Ok(reply) = serde_json::from_str::<Reply>(body) else {
        let what = format!("Telegram {status} (not the Bot API's JSON)");
        return Err(
            if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
                // A proxy's or a wrong base URL's 404 page: the operator's to fix.
                NotifyError::Refused(format!("{what}: is TELEGRAM_API_URL right?"))
            } else {
                // A proxy's 502 page, a truncated 200: worth another try.
                NotifyError::Transient(what)
            },
        );
    };
    if reply.ok && status.is_success() {
        let id = reply
            .result
            .as_ref()
            .and_then(|r| r.get("message_id"))
            .and_then(Value::as_i64);
        return Ok(id);
    }
    let code = reply.error_code.unwrap_or(status.as_u16());
    let description = short(&reply.description);
    let reason = format!("Telegram {code}: {description}");
    let param = |name: &str| {
        reply
            .parameters
            .as_ref()
            .and_then(|p| p.get(name))
            .and_then(Value::as_i64)
    };
    if let Some(secs) = param("retry_after").or((code == 429).then_some(1)) {
        return Err(NotifyError::RateLimited {
            retry_after: Duration::from_secs(secs.clamp(0, 86_400) as u64),
            reason,
        });
    }
    if let Some(to) = param("migrate_to_chat_id") {
        return Err(NotifyError::Refused(format!(
            "{reason} (the group became a supergroup: set its chat_id to {to})"
        )));
    }
    if code >= 500 || status.is_server_error() {
        return Err(NotifyError::Transient(reason));
    }
    // Every other error stays until something changes: a refusal of what we rendered until a
    // new release (a bug), anything else until an operator fixes the token, the chat or the
    // bot's membership.
    let kind = ApiError::deserialize(serde_json::Value::String(reply.description.clone()))
        .unwrap_or(ApiError::Unknown(String::new()));
    let (hint, bug) = match kind {
        ApiError::CantParseEntities(_) => ("the rendered HTML was refused: a receiver bug", true),
        ApiError::MessageIsTooLong | ApiError::MessageTextIsEmpty => {
            ("the rendered message was refused: a receiver bug", true)
        }
        ApiError::ChatNotFound => (
            "check chat_id, and that the bot was added to the chat",
            false,
        ),
        ApiError::BotBlocked => ("the user blocked the bot", false),
        ApiError::BotKicked
        | ApiError::BotKickedFromSupergroup
        | ApiError::BotKickedFromChannel => {
            ("the bot was removed from the chat; add it again", false)
        }
        ApiError::InvalidToken => ("check BOT_TOKEN", false),
        ApiError::NotEnoughRightsToPostMessages => ("make the bot an admin of the channel", false),
        _ => ("", false),
    };
    Err(NotifyError::refused(reason, hint, bug))
}

/// Telegram, as the list of integrations (`notify/mod.rs`) knows it.
pub struct Integration;

impl registry::Integration for Integration {
    const NAME: &'static str = "telegram";
    const TEMPLATE: Template = Template {
        name: template::TEMPLATE,
        default: template::DEFAULT,
        escape: template::escape,
    };
    const SPLITS: bool = true;
    type Route = config::FileTelegramRoute;

    fn route(file: config::FileTelegramRoute, cx: &RouteContext) -> Result<Destination, ConfigError> {
        let Some(tg) = &cx.config.telegram else {
            return Err(cx.invalid(
                "a telegram destination needs a bot token (BOT_TOKEN, BOT_TOKEN_FILE \
                 or telegram.bot_token_file)",
            ));
        };
        let Some(chat_id) = file.chat_id.or_else(|| tg.chat_id.clone()) else {
            return Err(cx.invalid(
                "no chat_id here and no default chat (ALERT_CHAT_ID or telegram.chat_id)",
            ));
        };
        Ok(Destination::Integration(Arc::new(TelegramDestination {
            chat_id,
            message_thread_id: file.message_thread_id,
        })))
    }

    fn notify(d: &Destination, cx: &NotifyContext) -> Option<Result<Box<dyn Notify>, String>> {
        let TelegramDestination {
            chat_id,
            message_thread_id,
        } = d.integration()?;
        let Some(Wiring { bot, hook }) = cx.wired::<Wiring>() else {
            return Some(Err("no Telegram bot token is configured (BOT_TOKEN)".to_string()));
        };
        let threshold = cx
            .config
            .telegram
            .as_ref()
            .map_or(crate::render::digest::DEFAULT_THRESHOLD, |t| {
                t.digest_threshold
            });
        Some(Ok(Box::new(
            Telegram::new(bot.clone(), chat_id, *message_thread_id)
                .with_hook(hook.clone())
                .with_digest(threshold, cx.config.dashboard.url.clone()),
        )))
    }

    /// The seed's set-up: with a bot token and an alert chat (`BOT_TOKEN`, `ALERT_CHAT_ID`), the
    /// default route sends to that chat.
    fn default_destination(config: &Config) -> Option<Destination> {
        let chat_id = config.telegram.as_ref()?.chat_id.clone()?;
        Some(Destination::Integration(Arc::new(TelegramDestination {
            chat_id,
            message_thread_id: None,
        })))
    }
}

impl IntegrationDestination for TelegramDestination {
    fn kind(&self) -> &'static str {
        <Integration as registry::Integration>::NAME
    }
    /// The chat, and its topic after a slash: `telegram:-100123/7`.
    fn name(&self) -> String {
        match self.message_thread_id {
            Some(t) => format!("{}/{t}", self.chat_id),
            None => self.chat_id.to_string(),
        }
    }
    fn shown(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// What the dispatcher hands Telegram's senders (through [`NotifyContext::wired`]): the one bot
/// of the receiver and the fleet view's additions, if `main` wired them.
pub struct Wiring {
    pub bot: Arc<Bot>,
    pub hook: Option<(Arc<dyn MessageHook>, Arc<Photos>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_returns_the_message_id() {
        let body =
            r#"{"ok":true,"result":{"message_id":42,"date":0,"chat":{"id":-1,"type":"group"}}}"#;
        assert_eq!(classify(StatusCode::OK, body), Ok(Some(42)));
    }

    #[test]
    fn retry_after_is_read_from_the_parameters() {
        let body = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, body),
            Err(NotifyError::RateLimited {
                retry_after: Duration::from_secs(7),
                reason: "Telegram 429: Too Many Requests: retry after 7".into()
            })
        );
    }

    #[test]
    fn server_errors_are_transient_with_or_without_json() {
        let body = r#"{"ok":false,"error_code":502,"description":"Bad Gateway"}"#;
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, body),
            Err(NotifyError::Transient("Telegram 502: Bad Gateway".into()))
        );
        let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, html),
            Err(NotifyError::Transient(_))
        ));
    }

    #[test]
    fn refusals_are_named_and_bugs_told_apart() {
        let cases = [
            (
                400,
                "Bad Request: chat not found",
                "Telegram 400: Bad Request: chat not found (check chat_id, and that the bot was added to the chat)",
                false,
            ),
            (
                403,
                "Forbidden: bot was blocked by the user",
                "Telegram 403: Forbidden: bot was blocked by the user (the user blocked the bot)",
                false,
            ),
            (
                400,
                "Bad Request: can't parse entities: Unsupported start tag \"script\" at byte offset 5",
                "Telegram 400: Bad Request: can't parse entities: Unsupported start tag \"script\" at byte offset 5 (the rendered HTML was refused: a receiver bug)",
                true,
            ),
            (
                400,
                "Bad Request: message thread not found",
                "Telegram 400: Bad Request: message thread not found",
                false,
            ),
            (
                401,
                "Unauthorized",
                "Telegram 401: Unauthorized (check BOT_TOKEN)",
                false,
            ),
            (
                403,
                "Forbidden: bot was kicked from the supergroup chat",
                "Telegram 403: Forbidden: bot was kicked from the supergroup chat (the bot was removed from the chat; add it again)",
                false,
            ),
        ];
        for (code, description, reason, bug) in cases {
            let body =
                serde_json::json!({"ok": false, "error_code": code, "description": description});
            assert_eq!(
                classify(StatusCode::from_u16(code).unwrap(), &body.to_string()),
                Err(NotifyError::refused(reason.into(), "", bug)),
            );
        }
    }

    #[test]
    fn a_proxy_s_html_404_is_a_configuration_to_fix() {
        assert_eq!(
            classify(
                StatusCode::NOT_FOUND,
                "<html><body>404 Not Found</body></html>"
            ),
            Err(NotifyError::Refused(
                "Telegram 404 Not Found (not the Bot API's JSON): is TELEGRAM_API_URL right?"
                    .into()
            ))
        );
    }

    #[test]
    fn the_payload_is_html_without_link_previews() {
        let bot = Arc::new(Bot::new(
            reqwest::Client::new(),
            vpsmon_common::Secret::new("1:x"),
            "http://a",
        ));
        let t = Telegram::new(bot, &ChatId::Id(-100), Some(7));
        let json = serde_json::to_value(t.payload("<b>hi</b>")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "chat_id": -100,
                "text": "<b>hi</b>",
                "message_thread_id": 7,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true}
            })
        );
    }
}
