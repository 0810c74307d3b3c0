//! A loopback fake of the Telegram Bot API (<https://core.telegram.org/bots/api>).
//!
//! Point a client at [`FakeTelegram::url`] instead of `https://api.telegram.org` (teloxide:
//! `Bot::new(token).set_api_url(url)`; the receiver: `TELEGRAM_API_URL`). It answers
//! `/bot<token>/<method>` like Telegram: method names are case-insensitive, parameters come as a
//! query string, JSON, form-urlencoded or multipart body, every answer is the
//! `{"ok":…,"result":…}` / `{"ok":false,"error_code":…,"description":…,"parameters":…}` envelope,
//! and `parse_mode=HTML` is parsed by a port of tdlib's parser ([`html`]) so malformed markup gets
//! Telegram's exact `can't parse entities` error. See testkit/README.md for every behaviour and
//! its source.

mod error;
pub mod html;
mod methods;
mod server;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::server::{FaultPlan, Server, Until, wait_until};

/// A token in Telegram's format, accepted by default.
pub const DEFAULT_TOKEN: &str = "123456789:AAH-test-token-for-vpsmon-fake-telegram";

/// Which calls a scripted fault applies to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scope {
    /// Every method but getUpdates (so background polling does not eat faults meant for sends).
    Sends,
    /// One method, lowercased.
    Method(String),
    /// Calls whose `chat_id` is this chat.
    Chat(i64),
}

/// One HTTP request the fake received, whatever it answered.
#[derive(Debug, Clone)]
pub struct TgRequest {
    /// The method in Telegram's canonical spelling (`sendMessage`), however the client cased it.
    pub method: String,
    /// The method exactly as it appeared in the URL (teloxide sends `SendMessage`).
    pub method_as_sent: String,
    /// All parameters: JSON values from a JSON body; strings from a query, form or multipart.
    pub params: Value,
    /// Uploaded files of a multipart body.
    pub files: Vec<UploadedFile>,
    /// The request's Content-Type (empty if none).
    pub content_type: String,
    /// The HTTP status the fake answered; 0 while the request is still being answered (a long
    /// poll, a request held by [`Fault::Timeout`]) or for a long poll whose client hung up.
    pub status: u16,
    /// The `description` of an error answer.
    pub error: Option<String>,
    pub at: Instant,
}

#[derive(Debug, Clone)]
pub struct UploadedFile {
    pub field: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A message the bot sent successfully with sendMessage.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub chat_id: i64,
    pub message_id: i64,
    /// The `text` parameter as the client sent it (with its HTML, if any).
    pub text: String,
    /// What a user sees: the text after Telegram parsed the markup and trimmed it.
    pub visible_text: String,
    pub parse_mode: Option<String>,
    pub reply_markup: Option<Value>,
    pub message_thread_id: Option<i64>,
    pub reply_to_message_id: Option<i64>,
    pub disable_notification: bool,
    /// The Message object returned to the client.
    pub result: Value,
    pub at: Instant,
}

/// A photo the bot sent successfully with sendPhoto.
#[derive(Debug, Clone)]
pub struct SentPhoto {
    pub chat_id: i64,
    pub message_id: i64,
    /// The uploaded bytes; empty when the photo was given as a file_id or URL string.
    pub bytes: Vec<u8>,
    pub filename: Option<String>,
    /// A file_id or URL given instead of an upload.
    pub photo_ref: Option<String>,
    pub caption: Option<String>,
    pub visible_caption: Option<String>,
    pub parse_mode: Option<String>,
    pub reply_markup: Option<Value>,
    pub reply_to_message_id: Option<i64>,
    pub message_thread_id: Option<i64>,
    pub result: Value,
    pub at: Instant,
}

/// A document the bot sent successfully with sendDocument.
#[derive(Debug, Clone)]
pub struct SentDocument {
    pub chat_id: i64,
    pub message_id: i64,
    /// The uploaded bytes; empty when the document was given as a file_id or URL string.
    pub bytes: Vec<u8>,
    pub filename: Option<String>,
    /// The upload's Content-Type, as the client declared it.
    pub content_type: Option<String>,
    /// A file_id or URL given instead of an upload.
    pub document_ref: Option<String>,
    pub caption: Option<String>,
    pub visible_caption: Option<String>,
    pub parse_mode: Option<String>,
    pub reply_to_message_id: Option<i64>,
    pub message_thread_id: Option<i64>,
    pub result: Value,
    pub at: Instant,
}

/// A successful editMessageText / editMessageReplyMarkup.
#[derive(Debug, Clone)]
pub struct Edit {
    pub method: String,
    pub chat_id: i64,
    pub message_id: i64,
    pub text: Option<String>,
    pub visible_text: Option<String>,
    pub reply_markup: Option<Value>,
    pub at: Instant,
}

/// A successful answerCallbackQuery.
#[derive(Debug, Clone)]
pub struct CallbackAnswer {
    pub callback_query_id: String,
    pub text: Option<String>,
    pub show_alert: bool,
    pub at: Instant,
}

/// A scripted failure, answered instead of the real result.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after = N`.
    TooManyRequests { retry_after: u32 },
    /// The given 5xx with Telegram's JSON envelope (`{"ok":false,"error_code":502,...}`).
    ServerError(u16),
    /// 502 with the HTML page of Telegram's front-end proxy instead of JSON.
    BadGatewayHtml,
    /// This status with an nginx HTML page instead of JSON: a proxy in front of the Bot API, or
    /// a `TELEGRAM_API_URL` pointing at the wrong server (`HtmlPage(404)`).
    HtmlPage(u16),
    /// Holds the request this long (make it longer than the client's timeout), then answers
    /// 504; nothing is delivered.
    Timeout(Duration),
    /// Holds the request this long, then performs it normally: the message **is** delivered,
    /// but a client with a shorter timeout never learns it (and may send it again).
    SlowSuccess(Duration),
    /// Any error envelope, e.g. `{ code: 400, description: "Bad Request: chat not found" }`.
    Error { code: u16, description: String },
    /// 403 with this description, e.g. `Forbidden: bot was blocked by the user`.
    Forbidden(String),
}

pub(crate) struct Inner {
    token: String,
    bot_id: i64,
    state: Mutex<State>,
    /// Woken on every recorded request.
    notify: Arc<Notify>,
    /// Woken when an update is queued or a new getUpdates starts.
    updates: Notify,
}

#[derive(Default)]
pub(crate) struct State {
    requests: Vec<TgRequest>,
    messages: Vec<SentMessage>,
    photos: Vec<SentPhoto>,
    documents: Vec<SentDocument>,
    edits: Vec<Edit>,
    answers: Vec<CallbackAnswer>,
    /// Every message that exists, by (chat, message id): what edits, replies and buttons refer to.
    stored: HashMap<(i64, i64), Value>,
    next_message_id: HashMap<i64, i64>,
    pending_callbacks: HashSet<String>,
    next_callback: u64,
    commands: Option<Value>,
    updates: VecDeque<Value>,
    next_update_id: i64,
    poll_generation: u64,
    faults: FaultPlan<Scope, Fault>,
    migrated: HashMap<i64, i64>,
    unknown_chats: HashSet<i64>,
    /// Chats declared as forums, with their topic ids.
    topics: HashMap<i64, HashSet<i64>>,
    blocked_chats: HashSet<i64>,
    rate_limits: bool,
    last_send: HashMap<i64, Instant>,
    group_sends: HashMap<i64, VecDeque<Instant>>,
    all_sends: VecDeque<Instant>,
    files: u64,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not turn every later call into a poison error.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake Bot API server. Dropping it stops the server.
pub struct FakeTelegram {
    inner: Arc<Inner>,
    server: Server,
}

impl FakeTelegram {
    /// Starts on 127.0.0.1 (a free port) accepting [`DEFAULT_TOKEN`].
    pub async fn start() -> FakeTelegram {
        Self::start_with_token(DEFAULT_TOKEN).await
    }

    /// Starts accepting only `/bot<token>/...`; any other token gets Telegram's
    /// 401 `Unauthorized`.
    pub async fn start_with_token(token: &str) -> FakeTelegram {
        let bot_id = token
            .split(':')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or(123_456_789);
        let inner = Arc::new(Inner {
            token: token.to_owned(),
            bot_id,
            state: Mutex::new(State {
                next_update_id: 1,
                ..State::default()
            }),
            notify: Arc::new(Notify::new()),
            updates: Notify::new(),
        });
        let server = Server::start("telegram", server::app(inner.clone()));
        FakeTelegram { inner, server }
    }

    /// The API base URL, e.g. `http://127.0.0.1:PORT` (no trailing slash): what
    /// `TELEGRAM_API_URL` / teloxide's `set_api_url` take.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn token(&self) -> &str {
        &self.inner.token
    }

    /// The bot's user id (the number before `:` in the token).
    pub fn bot_id(&self) -> i64 {
        self.inner.bot_id
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<TgRequest> {
        self.inner.lock().requests.clone()
    }

    /// Requests for one method (any casing), in order.
    pub fn requests_for(&self, method: &str) -> Vec<TgRequest> {
        let m = method.to_ascii_lowercase();
        self.requests()
            .into_iter()
            .filter(|r| r.method.to_ascii_lowercase() == m)
            .collect()
    }

    /// Messages delivered by sendMessage, in order.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.inner.lock().messages.clone()
    }

    /// Photos delivered by sendPhoto, in order.
    pub fn photos(&self) -> Vec<SentPhoto> {
        self.inner.lock().photos.clone()
    }

    /// Documents delivered by sendDocument, in order.
    pub fn documents(&self) -> Vec<SentDocument> {
        self.inner.lock().documents.clone()
    }

    /// Successful edits, in order.
    pub fn edits(&self) -> Vec<Edit> {
        self.inner.lock().edits.clone()
    }

    /// Successful answerCallbackQuery calls, in order.
    pub fn callback_answers(&self) -> Vec<CallbackAnswer> {
        self.inner.lock().answers.clone()
    }

    /// The commands set by the last setMyCommands (the `commands` array).
    pub fn my_commands(&self) -> Option<Value> {
        self.inner.lock().commands.clone()
    }

    /// The current state of a message (after edits), as Telegram would return it.
    pub fn message(&self, chat_id: i64, message_id: i64) -> Option<Value> {
        self.inner
            .lock()
            .stored
            .get(&(chat_id, message_id))
            .cloned()
    }

    /// Waits until at least `n` messages were delivered and returns them all; panics after
    /// `timeout`, listing what did arrive and the errors the fake answered.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        wait_until(
            &self.inner.notify,
            timeout,
            || {
                let st = self.inner.lock();
                (st.messages.len() >= n).then(|| st.messages.clone())
            },
            || self.describe(&format!("{n} sendMessage deliveries")),
        )
        .await
    }

    /// Waits until at least `n` photos were delivered.
    pub async fn wait_for_photos(&self, n: usize, timeout: Duration) -> Vec<SentPhoto> {
        wait_until(
            &self.inner.notify,
            timeout,
            || {
                let st = self.inner.lock();
                (st.photos.len() >= n).then(|| st.photos.clone())
            },
            || self.describe(&format!("{n} sendPhoto deliveries")),
        )
        .await
    }

    /// Waits until at least `n` documents were delivered.
    pub async fn wait_for_documents(&self, n: usize, timeout: Duration) -> Vec<SentDocument> {
        wait_until(
            &self.inner.notify,
            timeout,
            || {
                let st = self.inner.lock();
                (st.documents.len() >= n).then(|| st.documents.clone())
            },
            || self.describe(&format!("{n} sendDocument deliveries")),
        )
        .await
    }

    /// Waits until at least `n` requests for `method` arrived (whatever was answered).
    pub async fn wait_for_requests(
        &self,
        method: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<TgRequest> {
        wait_until(
            &self.inner.notify,
            timeout,
            || {
                let r = self.requests_for(method);
                (r.len() >= n).then_some(r)
            },
            || self.describe(&format!("{n} {method} requests")),
        )
        .await
    }

    /// Waits until at least `n` edits succeeded.
    pub async fn wait_for_edits(&self, n: usize, timeout: Duration) -> Vec<Edit> {
        wait_until(
            &self.inner.notify,
            timeout,
            || {
                let st = self.inner.lock();
                (st.edits.len() >= n).then(|| st.edits.clone())
            },
            || self.describe(&format!("{n} edits")),
        )
        .await
    }

    /// Waits until at least `n` callback queries were answered.
    pub async fn wait_for_callback_answers(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Vec<CallbackAnswer> {
        wait_until(
            &self.inner.notify,
            timeout,
            || {
                let st = self.inner.lock();
                (st.answers.len() >= n).then(|| st.answers.clone())
            },
            || self.describe(&format!("{n} answerCallbackQuery calls")),
        )
        .await
    }

    fn describe(&self, wanted: &str) -> String {
        let st = self.inner.lock();
        let mut s = format!(
            "wanted {wanted}; the fake Telegram got {} requests:",
            st.requests.len()
        );
        for r in st.requests.iter().filter(|r| r.method != "getUpdates") {
            s.push_str(&format!(
                "\n  {} -> {} {}",
                r.method,
                r.status,
                r.error.as_deref().unwrap_or("ok")
            ));
        }
        s
    }

    /// The next call (of any method but getUpdates) gets `fault` instead of its result.
    /// Faults queue up and are used one per call, in order.
    pub fn push_fault(&self, fault: Fault) {
        self.inner.lock().faults.push(Scope::Sends, fault);
    }

    /// Like [`push_fault`](Self::push_fault) but only for calls of `method` (any casing;
    /// `getUpdates` allowed).
    pub fn push_fault_for(&self, method: &str, fault: Fault) {
        self.inner
            .lock()
            .faults
            .push(Scope::Method(method.to_ascii_lowercase()), fault);
    }

    /// The next call that carries `chat_id` gets `fault` (other chats are unaffected).
    pub fn push_fault_for_chat(&self, chat_id: i64, fault: Fault) {
        self.inner.lock().faults.push(Scope::Chat(chat_id), fault);
    }

    /// An outage of one chat: calls carrying `chat_id` get `fault` until `until`.
    pub fn fail_chat_until(&self, chat_id: i64, until: impl Until, fault: Fault) {
        self.inner
            .lock()
            .faults
            .fail_until(until.instant(), Scope::Chat(chat_id), fault);
    }

    /// The group `old` became the supergroup `new`: calls to `old` get Telegram's 400
    /// `Bad Request: group chat was upgraded to a supergroup chat` with
    /// `parameters.migrate_to_chat_id = new`.
    pub fn migrate_chat(&self, old: i64, new: i64) {
        self.inner.lock().migrated.insert(old, new);
    }

    /// An outage: every call (but getUpdates) gets `fault` until `until` (an `Instant` or a
    /// `Duration` from now). Queued faults wait until it ends.
    pub fn fail_until(&self, until: impl Until, fault: Fault) {
        self.inner
            .lock()
            .faults
            .fail_until(until.instant(), Scope::Sends, fault);
    }

    /// Ends an outage and drops queued faults.
    pub fn clear_faults(&self) {
        self.inner.lock().faults.clear();
    }

    /// From now on this chat does not exist: `400 Bad Request: chat not found`.
    pub fn forget_chat(&self, chat_id: i64) {
        self.inner.lock().unknown_chats.insert(chat_id);
    }

    /// Declares `chat_id` a forum with these topics: a send with another `message_thread_id`
    /// gets `400 Bad Request: message thread not found`. (Chats not declared accept any.)
    pub fn forum_topics(&self, chat_id: i64, topics: &[i64]) {
        self.inner
            .lock()
            .topics
            .insert(chat_id, topics.iter().copied().collect());
    }

    /// From now on the user blocked the bot: `403 Forbidden: bot was blocked by the user`.
    pub fn block_chat(&self, chat_id: i64) {
        self.inner.lock().blocked_chats.insert(chat_id);
    }

    /// Enforces Telegram's documented limits on sendMessage/sendPhoto/sendDocument with 429 `retry_after`:
    /// one message a second per chat, 20 a minute per group, 30 a second overall.
    pub fn enforce_rate_limits(&self, on: bool) {
        self.inner.lock().rate_limits = on;
    }

    /// Queues a raw update for getUpdates; `update_id` is assigned if missing. Returns it.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let mut st = self.inner.lock();
        let id = match update.get("update_id").and_then(Value::as_i64) {
            Some(id) => {
                st.next_update_id = st.next_update_id.max(id + 1);
                id
            }
            None => {
                let id = st.next_update_id;
                st.next_update_id += 1;
                update["update_id"] = json!(id);
                id
            }
        };
        st.updates.push_back(update);
        drop(st);
        self.inner.updates.notify_waiters();
        id
    }

    /// A user writes `text` in `chat_id` (use the user's id for a private chat). A text starting
    /// with `/` carries a `bot_command` entity as Telegram adds. Returns the update id.
    pub fn user_message(&self, user_id: i64, chat_id: i64, text: &str) -> i64 {
        let message = {
            let mut st = self.inner.lock();
            let message_id = methods::next_message_id(&mut st, chat_id);
            let mut m = json!({
                "message_id": message_id,
                "from": user_json(user_id),
                "chat": methods::chat_json(chat_id),
                "date": methods::unix_now(),
                "text": text,
            });
            if text.starts_with('/') {
                let cmd = text.split_whitespace().next().unwrap_or(text);
                m["entities"] = json!([{
                    "type": "bot_command", "offset": 0, "length": html::utf16_len(cmd)
                }]);
            }
            st.stored.insert((chat_id, message_id), m.clone());
            m
        };
        self.push_update(json!({ "message": message }))
    }

    /// A user presses an inline button with `data` under the bot's message `message_id` in
    /// `chat_id`. Returns the callback query id the bot must answer. Panics if the message does
    /// not exist (a test mistake).
    pub fn press_button(&self, user_id: i64, chat_id: i64, message_id: i64, data: &str) -> String {
        let (id, message) = {
            let mut st = self.inner.lock();
            let message = st
                .stored
                .get(&(chat_id, message_id))
                .cloned()
                .unwrap_or_else(|| {
                    panic!("press_button: no message {message_id} in chat {chat_id}")
                });
            st.next_callback += 1;
            let id = format!("{}{:06}", self.inner.bot_id, st.next_callback);
            st.pending_callbacks.insert(id.clone());
            (id, message)
        };
        self.push_update(json!({
            "callback_query": {
                "id": id,
                "from": user_json(user_id),
                "message": message,
                "chat_instance": format!("-{}", chat_id.unsigned_abs()),
                "data": data,
            }
        }));
        id
    }

    /// Updates queued and not yet confirmed by a getUpdates with a higher offset.
    pub fn pending_updates(&self) -> usize {
        self.inner.lock().updates.len()
    }
}

/// The `User` object the fake uses for a test user: first name `Test`, username `user<id>`.
pub fn user_json(user_id: i64) -> Value {
    json!({
        "id": user_id,
        "is_bot": false,
        "first_name": "Test",
        "username": format!("user{user_id}"),
        "language_code": "en",
    })
}
