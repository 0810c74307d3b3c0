//! The Bot API methods the fake implements: each validates its parameters the way Telegram
//! does (same error descriptions) and returns the same result shape.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::error::TgError;
use super::html::{self, Parsed, utf16_len};
use super::{
    CallbackAnswer, Edit, Inner, SentDocument, SentMessage, SentPhoto, State, UploadedFile,
};

/// Telegram's limits (<https://core.telegram.org/bots/api#sendmessage>, `#sendphoto`).
pub(crate) const MAX_TEXT: usize = 4096;
pub(crate) const MAX_CAPTION: usize = 1024;
/// "Post the file using multipart/form-data in the usual way that files are uploaded via the
/// browser. 10 MB max size for photo, 50 MB for other files."
const MAX_UPLOAD: usize = 50 * 1024 * 1024;
const MAX_CALLBACK_DATA: usize = 64;

const METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "sendMessage",
    "sendPhoto",
    "sendDocument",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "deleteMessage",
    "deleteWebhook",
    "getWebhookInfo",
    "setMyCommands",
    "getMyCommands",
    "sendChatAction",
];

/// Telegram's own spelling of a method name, however the client cased it.
pub(crate) fn canonical(method: &str) -> String {
    METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(method))
        .map_or_else(|| method.to_owned(), |m| (*m).to_owned())
}

pub(crate) async fn call(
    inner: &Inner,
    method: &str,
    p: &Value,
    files: &[UploadedFile],
) -> Result<Value, TgError> {
    match method {
        "getupdates" => wait_poll(inner, start_poll(inner, p)?).await,
        "getme" => Ok(me_json(inner)),
        "sendmessage" => send_message(inner, p),
        "sendphoto" => send_photo(inner, p, files),
        "senddocument" => send_document(inner, p, files),
        "editmessagetext" => edit_message_text(inner, p),
        "editmessagereplymarkup" => edit_message_reply_markup(inner, p),
        "answercallbackquery" => answer_callback_query(inner, p),
        "deletemessage" => delete_message(inner, p),
        "deletewebhook" | "sendchataction" => Ok(json!(true)),
        "getwebhookinfo" => Ok(json!({
            "url": "",
            "has_custom_certificate": false,
            "pending_update_count": inner.lock().updates.len(),
        })),
        "setmycommands" => set_my_commands(inner, p),
        "getmycommands" => Ok(inner.lock().commands.clone().unwrap_or_else(|| json!([]))),
        _ => Err(TgError::new(404, "Not Found")),
    }
}

// ---- parameters -------------------------------------------------------------------------------

fn param<'a>(p: &'a Value, key: &str) -> Option<&'a Value> {
    p.get(key).filter(|v| !v.is_null())
}

fn p_str(p: &Value, key: &str) -> Option<String> {
    param(p, key).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// An integer parameter given as a JSON number or a decimal string.
fn p_i64(p: &Value, key: &str) -> Result<Option<i64>, TgError> {
    match param(p, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| TgError::bad(format!("invalid {key} specified"))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| TgError::bad(format!("invalid {key} specified"))),
        Some(_) => Err(TgError::bad(format!("invalid {key} specified"))),
    }
}

fn p_bool(p: &Value, key: &str) -> bool {
    match param(p, key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1"),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// A JSON-serialized parameter: an object in a JSON body, a string elsewhere.
fn p_json(p: &Value, key: &str, what: &str) -> Result<Option<Value>, TgError> {
    match param(p, key) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s)
            .map(Some)
            .map_err(|_| TgError::bad(format!("can't parse {what} JSON object"))),
        Some(v) => Ok(Some(v.clone())),
    }
}

// ---- shared pieces ----------------------------------------------------------------------------

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn next_message_id(st: &mut State, chat: i64) -> i64 {
    let n = st.next_message_id.entry(chat).or_insert(0);
    *n += 1;
    *n
}

fn bot_json(inner: &Inner) -> Value {
    json!({
        "id": inner.bot_id,
        "is_bot": true,
        "first_name": "vpsmon test bot",
        "username": "vpsmon_test_bot",
    })
}

fn me_json(inner: &Inner) -> Value {
    let mut me = bot_json(inner);
    me["can_join_groups"] = json!(true);
    me["can_read_all_group_messages"] = json!(false);
    me["supports_inline_queries"] = json!(false);
    me["can_connect_to_business"] = json!(false);
    me["has_main_web_app"] = json!(false);
    me
}

/// The Chat object for an id: positive ids are private chats, ids below -10^12 supergroups,
/// other negative ids basic groups (Telegram's id ranges).
pub(crate) fn chat_json(chat_id: i64) -> Value {
    if chat_id > 0 {
        json!({
            "id": chat_id,
            "type": "private",
            "first_name": "Test",
            "username": format!("user{chat_id}"),
        })
    } else if chat_id <= -1_000_000_000_000 {
        json!({ "id": chat_id, "type": "supergroup", "title": "Test supergroup" })
    } else {
        json!({ "id": chat_id, "type": "group", "title": "Test group" })
    }
}

fn chat_id(st: &State, p: &Value) -> Result<i64, TgError> {
    let raw = p_str(p, "chat_id").unwrap_or_default();
    if raw.is_empty() {
        return Err(TgError::bad("chat_id is empty"));
    }
    // A @channelusername is a chat the fake does not know.
    let id: i64 = raw
        .trim()
        .parse()
        .map_err(|_| TgError::bad("chat not found"))?;
    if st.unknown_chats.contains(&id) {
        return Err(TgError::bad("chat not found"));
    }
    if let Some(new) = st.migrated.get(&id) {
        return Err(TgError {
            migrate_to: Some(*new),
            ..TgError::bad("group chat was upgraded to a supergroup chat")
        });
    }
    if st.blocked_chats.contains(&id) {
        return Err(TgError::new(403, "Forbidden: bot was blocked by the user"));
    }
    Ok(id)
}

/// `message_thread_id`, checked against the topics of a chat declared a forum.
fn thread_id(st: &State, p: &Value, chat: i64) -> Result<Option<i64>, TgError> {
    let thread = p_i64(p, "message_thread_id")?;
    if let (Some(t), Some(topics)) = (thread, st.topics.get(&chat))
        && !topics.contains(&t)
    {
        return Err(TgError::bad("message thread not found"));
    }
    Ok(thread)
}

/// Parses a text or caption per `parse_mode` and trims it, as Telegram does before measuring.
fn render(text: &str, parse_mode: Option<&str>) -> Result<Parsed, TgError> {
    let parsed = match parse_mode.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Parsed {
            text: text.to_owned(),
            entities: vec![],
        },
        Some("html") => html::parse_html(text)
            .map_err(|e| TgError::bad(format!("can't parse entities: {e}")))?,
        // Markdown is not modelled: the text is taken as it is.
        Some("markdown") | Some("markdownv2") => Parsed {
            text: text.to_owned(),
            entities: vec![],
        },
        Some(_) => return Err(TgError::bad("unsupported parse_mode")),
    };
    Ok(html::trim(parsed))
}

fn entities_json(parsed: &Parsed) -> Value {
    Value::Array(parsed.entities.iter().map(html::Entity::to_json).collect())
}

/// Validates `reply_markup`. Inline keyboards are checked the way Telegram checks buttons.
fn reply_markup(p: &Value) -> Result<Option<Value>, TgError> {
    let Some(markup) = p_json(p, "reply_markup", "reply keyboard markup")? else {
        return Ok(None);
    };
    if !markup.is_object() {
        return Err(TgError::bad(
            "can't parse reply keyboard markup JSON object",
        ));
    }
    if let Some(kb) = markup.get("inline_keyboard") {
        let bad_shape = || {
            TgError::bad(
                "field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays",
            )
        };
        for row in kb.as_array().ok_or_else(bad_shape)? {
            for button in row.as_array().ok_or_else(bad_shape)? {
                check_button(button)?;
            }
        }
    }
    Ok(Some(markup))
}

fn check_button(b: &Value) -> Result<(), TgError> {
    if !b.get("text").is_some_and(Value::is_string) {
        return Err(TgError::bad(
            "can't parse inline keyboard button: Field \"text\" must be of type String",
        ));
    }
    if let Some(data) = b.get("callback_data") {
        let len = data.as_str().map_or(0, str::len);
        // 1-64 bytes (https://core.telegram.org/bots/api#inlinekeyboardbutton).
        if len == 0 || len > MAX_CALLBACK_DATA {
            return Err(TgError::bad("BUTTON_DATA_INVALID"));
        }
        return Ok(());
    }
    if let Some(url) = b.get("url") {
        let ok = url
            .as_str()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .is_some_and(|u| matches!(u.scheme(), "http" | "https" | "tg"));
        return if ok {
            Ok(())
        } else {
            Err(TgError::bad("BUTTON_URL_INVALID"))
        };
    }
    const OTHER_ACTIONS: &[&str] = &[
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ];
    if OTHER_ACTIONS.iter().any(|k| b.get(k).is_some()) {
        return Ok(());
    }
    Err(TgError::bad(
        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
    ))
}

/// Only an inline keyboard is echoed back in the Message.
fn inline_markup(markup: &Option<Value>) -> Option<Value> {
    markup
        .as_ref()
        .filter(|m| m.get("inline_keyboard").is_some())
        .cloned()
}

/// The message a send replies to: `reply_parameters.message_id` or the older
/// `reply_to_message_id`; it must exist in the chat unless sending without it is allowed.
fn reply_target(st: &State, p: &Value, chat: i64) -> Result<Option<i64>, TgError> {
    let (message_id, allow_without) =
        if let Some(rp) = p_json(p, "reply_parameters", "reply parameters")? {
            let Some(id) = rp.get("message_id").and_then(Value::as_i64) else {
                return Err(TgError::bad("can't parse reply parameters JSON object"));
            };
            let allow = rp
                .get("allow_sending_without_reply")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            (id, allow)
        } else if let Some(id) = p_i64(p, "reply_to_message_id")? {
            (id, p_bool(p, "allow_sending_without_reply"))
        } else {
            return Ok(None);
        };
    if st.stored.contains_key(&(chat, message_id)) {
        Ok(Some(message_id))
    } else if allow_without {
        Ok(None)
    } else {
        Err(TgError::bad("message to be replied not found"))
    }
}

/// Telegram's flood limits (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this):
/// about one message a second in a chat, 20 a minute in a group, 30 a second overall.
/// The per-chat gap allows 100 ms of scheduling jitter.
fn rate_limit(st: &mut State, chat: i64) -> Result<(), TgError> {
    if !st.rate_limits {
        return Ok(());
    }
    let now = Instant::now();
    if let Some(last) = st.last_send.get(&chat)
        && now.duration_since(*last) < Duration::from_millis(900)
    {
        return Err(TgError::retry_after(1));
    }
    if chat < 0 {
        let sends = st.group_sends.entry(chat).or_default();
        while sends
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            sends.pop_front();
        }
        if sends.len() >= 20 {
            let wait = 60 - now.duration_since(sends[0]).as_secs().min(59);
            return Err(TgError::retry_after(wait as u32));
        }
    }
    while st
        .all_sends
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        st.all_sends.pop_front();
    }
    if st.all_sends.len() >= 30 {
        return Err(TgError::retry_after(1));
    }
    st.last_send.insert(chat, now);
    if chat < 0 {
        st.group_sends.entry(chat).or_default().push_back(now);
    }
    st.all_sends.push_back(now);
    Ok(())
}

fn new_message(
    inner: &Inner,
    st: &mut State,
    chat: i64,
    thread: Option<i64>,
    reply_to: Option<i64>,
) -> (i64, Value) {
    let id = next_message_id(st, chat);
    let mut m = json!({
        "message_id": id,
        "from": bot_json(inner),
        "chat": chat_json(chat),
        "date": unix_now(),
    });
    if let Some(t) = thread {
        m["message_thread_id"] = json!(t);
        m["is_topic_message"] = json!(true);
    }
    if let Some(r) = reply_to
        && let Some(replied) = st.stored.get(&(chat, r))
    {
        let mut replied = replied.clone();
        if let Some(o) = replied.as_object_mut() {
            o.remove("reply_to_message");
        }
        m["reply_to_message"] = replied;
    }
    (id, m)
}

// ---- methods ----------------------------------------------------------------------------------

fn send_message(inner: &Inner, p: &Value) -> Result<Value, TgError> {
    let mut st = inner.lock();
    let chat = chat_id(&st, p)?;
    let text = p_str(p, "text").unwrap_or_default();
    let parse_mode = p_str(p, "parse_mode");
    let parsed = render(&text, parse_mode.as_deref())?;
    if parsed.text.is_empty() {
        return Err(TgError::bad("message text is empty"));
    }
    if utf16_len(&parsed.text) > MAX_TEXT {
        return Err(TgError::bad("message is too long"));
    }
    let markup = reply_markup(p)?;
    let thread = thread_id(&st, p, chat)?;
    let reply_to = reply_target(&st, p, chat)?;
    rate_limit(&mut st, chat)?;

    let (message_id, mut m) = new_message(inner, &mut st, chat, thread, reply_to);
    m["text"] = json!(parsed.text);
    if !parsed.entities.is_empty() {
        m["entities"] = entities_json(&parsed);
    }
    if let Some(k) = inline_markup(&markup) {
        m["reply_markup"] = k;
    }
    st.stored.insert((chat, message_id), m.clone());
    st.messages.push(SentMessage {
        chat_id: chat,
        message_id,
        text,
        visible_text: parsed.text,
        parse_mode,
        reply_markup: markup,
        message_thread_id: thread,
        reply_to_message_id: reply_to,
        disable_notification: p_bool(p, "disable_notification"),
        result: m.clone(),
        at: Instant::now(),
    });
    Ok(m)
}

fn send_photo(inner: &Inner, p: &Value, files: &[UploadedFile]) -> Result<Value, TgError> {
    let mut st = inner.lock();
    let chat = chat_id(&st, p)?;
    let caption = p_str(p, "caption");
    let parse_mode = p_str(p, "parse_mode");
    let parsed = render(caption.as_deref().unwrap_or(""), parse_mode.as_deref())?;
    if utf16_len(&parsed.text) > MAX_CAPTION {
        return Err(TgError::bad("message caption is too long"));
    }

    let (upload, photo_ref) = input_file(p, files, "photo")?;
    let (bytes, filename) =
        upload.map_or((vec![], None), |f| (f.bytes.clone(), f.filename.clone()));
    let (width, height) = if photo_ref.is_some() {
        (320, 320)
    } else {
        image_size(&bytes).ok_or_else(|| TgError::bad("IMAGE_PROCESS_FAILED"))?
    };
    let markup = reply_markup(p)?;
    let thread = thread_id(&st, p, chat)?;
    let reply_to = reply_target(&st, p, chat)?;
    rate_limit(&mut st, chat)?;

    st.files += 1;
    let file_no = st.files;
    let (message_id, mut m) = new_message(inner, &mut st, chat, thread, reply_to);
    m["photo"] = json!([{
        "file_id": format!("AgACAgIAAxkBAAFake{file_no:08}"),
        "file_unique_id": format!("AQADFake{file_no:08}"),
        "file_size": bytes.len(),
        "width": width,
        "height": height,
    }]);
    if !parsed.text.is_empty() {
        m["caption"] = json!(parsed.text);
        if !parsed.entities.is_empty() {
            m["caption_entities"] = entities_json(&parsed);
        }
    }
    if let Some(k) = inline_markup(&markup) {
        m["reply_markup"] = k;
    }
    st.stored.insert((chat, message_id), m.clone());
    st.photos.push(SentPhoto {
        chat_id: chat,
        message_id,
        bytes,
        filename,
        photo_ref,
        visible_caption: caption.as_ref().map(|_| parsed.text.clone()),
        caption,
        parse_mode,
        reply_markup: markup,
        reply_to_message_id: reply_to,
        message_thread_id: thread,
        result: m.clone(),
        at: Instant::now(),
    });
    Ok(m)
}

/// The InputFile parameter `field`: an uploaded file in that multipart field, an
/// `attach://<name>` reference to one, or a file_id / URL string. Returns the bytes and file
/// name of an upload, or the reference.
fn input_file<'a>(
    p: &Value,
    files: &'a [UploadedFile],
    field: &str,
) -> Result<(Option<&'a UploadedFile>, Option<String>), TgError> {
    let param = p_str(p, field);
    let upload = match param.as_deref().and_then(|s| s.strip_prefix("attach://")) {
        Some(name) => files.iter().find(|f| f.field == name),
        None => files.iter().find(|f| f.field == field),
    };
    match (upload, &param) {
        (Some(f), _) if f.bytes.is_empty() => Err(TgError::bad("file must be non-empty")),
        (Some(f), _) => Ok((Some(f), None)),
        (None, Some(s)) if !s.is_empty() && !s.starts_with("attach://") => {
            Ok((None, Some(s.clone())))
        }
        _ => Err(TgError::bad(format!("there is no {field} in the request"))),
    }
}

/// sendDocument: an uploaded file (or a file_id / URL) with an optional caption.
fn send_document(inner: &Inner, p: &Value, files: &[UploadedFile]) -> Result<Value, TgError> {
    let mut st = inner.lock();
    let chat = chat_id(&st, p)?;
    let caption = p_str(p, "caption");
    let parse_mode = p_str(p, "parse_mode");
    let parsed = render(caption.as_deref().unwrap_or(""), parse_mode.as_deref())?;
    if utf16_len(&parsed.text) > MAX_CAPTION {
        return Err(TgError::bad("message caption is too long"));
    }
    let (upload, document_ref) = input_file(p, files, "document")?;
    let (bytes, filename, content_type) = upload.map_or((vec![], None, None), |f| {
        (f.bytes.clone(), f.filename.clone(), f.content_type.clone())
    });
    if bytes.len() > MAX_UPLOAD {
        return Err(TgError::new(413, "Request Entity Too Large"));
    }
    let markup = reply_markup(p)?;
    let thread = thread_id(&st, p, chat)?;
    let reply_to = reply_target(&st, p, chat)?;
    rate_limit(&mut st, chat)?;

    st.files += 1;
    let file_no = st.files;
    let (message_id, mut m) = new_message(inner, &mut st, chat, thread, reply_to);
    let mut document = json!({
        "file_id": format!("BQACAgIAAxkBAAFake{file_no:08}"),
        "file_unique_id": format!("AgADFake{file_no:08}"),
        "file_size": bytes.len(),
    });
    if let Some(name) = &filename {
        document["file_name"] = json!(name);
    }
    if let Some(ct) = &content_type {
        document["mime_type"] = json!(ct);
    }
    m["document"] = document;
    if !parsed.text.is_empty() {
        m["caption"] = json!(parsed.text);
        if !parsed.entities.is_empty() {
            m["caption_entities"] = entities_json(&parsed);
        }
    }
    if let Some(k) = inline_markup(&markup) {
        m["reply_markup"] = k;
    }
    st.stored.insert((chat, message_id), m.clone());
    st.documents.push(SentDocument {
        chat_id: chat,
        message_id,
        bytes,
        filename,
        content_type,
        document_ref,
        visible_caption: caption.as_ref().map(|_| parsed.text.clone()),
        caption,
        parse_mode,
        reply_to_message_id: reply_to,
        message_thread_id: thread,
        result: m.clone(),
        at: Instant::now(),
    });
    Ok(m)
}

/// Width and height of a PNG or JPEG; None for anything Telegram could not process as a photo.
fn image_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() >= 24 && b.starts_with(b"\x89PNG\r\n\x1a\n") && &b[12..16] == b"IHDR" {
        let w = u32::from_be_bytes(b[16..20].try_into().ok()?);
        let h = u32::from_be_bytes(b[20..24].try_into().ok()?);
        return (w > 0 && h > 0).then_some((w, h));
    }
    if b.starts_with(&[0xff, 0xd8]) {
        // Walk the JPEG segments to the first start-of-frame.
        let mut i = 2;
        while i + 9 < b.len() {
            if b[i] != 0xff {
                return None;
            }
            let marker = b[i + 1];
            let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
            if (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
                let h = u32::from(u16::from_be_bytes([b[i + 5], b[i + 6]]));
                let w = u32::from(u16::from_be_bytes([b[i + 7], b[i + 8]]));
                return (w > 0 && h > 0).then_some((w, h));
            }
            i += 2 + len;
        }
    }
    None
}

/// The bot's own message to edit.
fn editable(inner: &Inner, st: &State, p: &Value) -> Result<(i64, i64, Value), TgError> {
    if param(p, "inline_message_id").is_some() {
        // Inline messages are not modelled.
        return Err(TgError::bad("MESSAGE_ID_INVALID"));
    }
    let chat = chat_id(st, p)?;
    let Some(message_id) = p_i64(p, "message_id")? else {
        return Err(TgError::bad("message identifier is not specified"));
    };
    let Some(m) = st.stored.get(&(chat, message_id)) else {
        return Err(TgError::bad("message to edit not found"));
    };
    if m["from"]["id"].as_i64() != Some(inner.bot_id) {
        return Err(TgError::bad("message can't be edited"));
    }
    Ok((chat, message_id, m.clone()))
}

const NOT_MODIFIED: &str = "message is not modified: specified new message content and reply \
                            markup are exactly the same as a current content and reply markup of the message";

fn edit_message_text(inner: &Inner, p: &Value) -> Result<Value, TgError> {
    let mut st = inner.lock();
    let (chat, message_id, mut m) = editable(inner, &st, p)?;
    if m.get("text").is_none() {
        return Err(TgError::bad("there is no text in the message to edit"));
    }
    let text = p_str(p, "text").unwrap_or_default();
    let parsed = render(&text, p_str(p, "parse_mode").as_deref())?;
    if parsed.text.is_empty() {
        return Err(TgError::bad("message text is empty"));
    }
    if utf16_len(&parsed.text) > MAX_TEXT {
        return Err(TgError::bad("message is too long"));
    }
    // Without reply_markup the edit removes the inline keyboard: Telegram does the same.
    let markup = reply_markup(p)?;
    let keyboard = inline_markup(&markup);
    let entities = (!parsed.entities.is_empty()).then(|| entities_json(&parsed));
    if m.get("text") == Some(&json!(parsed.text))
        && m.get("entities") == entities.as_ref()
        && m.get("reply_markup") == keyboard.as_ref()
    {
        return Err(TgError::bad(NOT_MODIFIED));
    }
    m["text"] = json!(parsed.text);
    set_or_remove(&mut m, "entities", entities);
    set_or_remove(&mut m, "reply_markup", keyboard.clone());
    m["edit_date"] = json!(unix_now());
    st.stored.insert((chat, message_id), m.clone());
    st.edits.push(Edit {
        method: "editMessageText".into(),
        chat_id: chat,
        message_id,
        text: Some(text),
        visible_text: Some(parsed.text),
        reply_markup: keyboard,
        at: Instant::now(),
    });
    Ok(m)
}

fn edit_message_reply_markup(inner: &Inner, p: &Value) -> Result<Value, TgError> {
    let mut st = inner.lock();
    let (chat, message_id, mut m) = editable(inner, &st, p)?;
    let keyboard = inline_markup(&reply_markup(p)?);
    if m.get("reply_markup") == keyboard.as_ref() {
        return Err(TgError::bad(NOT_MODIFIED));
    }
    set_or_remove(&mut m, "reply_markup", keyboard.clone());
    m["edit_date"] = json!(unix_now());
    st.stored.insert((chat, message_id), m.clone());
    st.edits.push(Edit {
        method: "editMessageReplyMarkup".into(),
        chat_id: chat,
        message_id,
        text: None,
        visible_text: None,
        reply_markup: keyboard,
        at: Instant::now(),
    });
    Ok(m)
}

fn set_or_remove(m: &mut Value, key: &str, v: Option<Value>) {
    match (v, m.as_object_mut()) {
        (Some(v), Some(o)) => {
            o.insert(key.to_owned(), v);
        }
        (None, Some(o)) => {
            o.remove(key);
        }
        _ => {}
    }
}

fn answer_callback_query(inner: &Inner, p: &Value) -> Result<Value, TgError> {
    let mut st = inner.lock();
    let id = p_str(p, "callback_query_id").unwrap_or_default();
    // A query can be answered once; an unknown or already answered one gets this error.
    if !st.pending_callbacks.remove(&id) {
        return Err(TgError::bad(
            "query is too old and response timeout expired or query id is invalid",
        ));
    }
    st.answers.push(CallbackAnswer {
        callback_query_id: id,
        text: p_str(p, "text"),
        show_alert: p_bool(p, "show_alert"),
        at: Instant::now(),
    });
    Ok(json!(true))
}

fn delete_message(inner: &Inner, p: &Value) -> Result<Value, TgError> {
    let mut st = inner.lock();
    let chat = chat_id(&st, p)?;
    let id = p_i64(p, "message_id")?.unwrap_or(0);
    if st.stored.remove(&(chat, id)).is_none() {
        return Err(TgError::bad("message to delete not found"));
    }
    Ok(json!(true))
}

fn set_my_commands(inner: &Inner, p: &Value) -> Result<Value, TgError> {
    let commands = p_json(p, "commands", "commands")?.unwrap_or_else(|| json!([]));
    let list = commands
        .as_array()
        .ok_or_else(|| TgError::bad("can't parse commands JSON object"))?;
    for c in list {
        let name = c.get("command").and_then(Value::as_str).unwrap_or("");
        // 1-32 characters: lowercase English letters, digits and underscores.
        let valid = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(TgError::bad("BOT_COMMAND_INVALID"));
        }
        let description = c.get("description").and_then(Value::as_str).unwrap_or("");
        let n = description.chars().count();
        if n == 0 || n > 256 {
            return Err(TgError::bad("command description is empty or too long"));
        }
    }
    inner.lock().commands = Some(commands);
    Ok(json!(true))
}

/// A registered long poll: see [`start_poll`].
pub(crate) struct Poll {
    generation: u64,
    limit: usize,
    timeout: Duration,
}

/// getUpdates, first half: confirms updates below `offset` (a negative offset keeps the last
/// N) and becomes the current poller. A newer getUpdates ends an older one with 409 Conflict,
/// as Telegram does when two bot instances poll.
pub(crate) fn start_poll(inner: &Inner, p: &Value) -> Result<Poll, TgError> {
    let offset = p_i64(p, "offset")?;
    let limit = p_i64(p, "limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(p_i64(p, "timeout")?.unwrap_or(0).max(0) as u64);
    let generation = {
        let mut st = inner.lock();
        match offset {
            Some(o) if o > 0 => st
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= o),
            Some(o) if o < 0 => {
                let keep = o.unsigned_abs() as usize;
                while st.updates.len() > keep {
                    st.updates.pop_front();
                }
            }
            _ => {}
        }
        st.poll_generation += 1;
        st.poll_generation
    };
    inner.updates.notify_waiters();
    Ok(Poll {
        generation,
        limit,
        timeout,
    })
}

/// getUpdates, second half: answers at once with pending updates or waits up to `timeout`
/// seconds for one.
pub(crate) async fn wait_poll(inner: &Inner, poll: Poll) -> Result<Value, TgError> {
    let deadline = Instant::now() + poll.timeout;
    loop {
        let notified = inner.updates.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let st = inner.lock();
            if st.poll_generation != poll.generation {
                return Err(TgError::new(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                ));
            }
            if !st.updates.is_empty() {
                let batch: Vec<Value> = st.updates.iter().take(poll.limit).cloned().collect();
                return Ok(Value::Array(batch));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(json!([]));
        }
        let _ = tokio::time::timeout(deadline - now, notified).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_case_insensitive() {
        assert_eq!(canonical("SendMessage"), "sendMessage");
        assert_eq!(canonical("sendmessage"), "sendMessage");
        assert_eq!(canonical("GETUPDATES"), "getUpdates");
        assert_eq!(canonical("fooBar"), "fooBar");
    }

    #[test]
    fn image_sizes() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&800u32.to_be_bytes());
        png.extend_from_slice(&400u32.to_be_bytes());
        assert_eq!(image_size(&png), Some((800, 400)));
        assert_eq!(image_size(b"not an image"), None);
        assert_eq!(image_size(b""), None);
        let jpeg = [
            0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x01,
            0x2c, 0x02, 0x58, 0x03, 0x00, 0x00,
        ];
        assert_eq!(image_size(&jpeg), Some((600, 300)));
    }
}
