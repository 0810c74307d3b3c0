//! A real teloxide `Bot` against the fake: every result must deserialize into teloxide's strict
//! types, and every error must surface as the `RequestError` teloxide gives for real Telegram.

use std::time::Duration;

use teloxide::adaptors::throttle::Limits;
use teloxide::payloads::{
    AnswerCallbackQuerySetters, EditMessageReplyMarkupSetters, GetUpdatesSetters,
    SendDocumentSetters, SendMessageSetters, SendPhotoSetters,
};
use teloxide::prelude::*;
use teloxide::types::{
    BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId, ParseMode,
    ReplyParameters, Seconds, UpdateKind,
};
use teloxide::{ApiError, RequestError};
use testkit::telegram::{FakeTelegram, Fault};

const CHAT: ChatId = ChatId(4242);

fn bot(tg: &FakeTelegram) -> Bot {
    Bot::new(tg.token()).set_api_url(tg.url().parse().unwrap())
}

fn keyboard(data: &str) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback("Silence 1h", format!("{data}:1h")),
        InlineKeyboardButton::callback("Silence 4h", format!("{data}:4h")),
    ]])
}

/// A PNG header (signature + IHDR) for a 640×480 image: all the fake reads of a photo.
fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&640u32.to_be_bytes());
    b.extend_from_slice(&480u32.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    b
}

#[tokio::test]
async fn send_message_html_round_trips() {
    let tg = FakeTelegram::start().await;
    let msg = bot(&tg)
        .send_message(CHAT, "🔥 <b>FIRING</b> HighCPU on &lt;web-1&gt;")
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboard("s"))
        .await
        .expect("teloxide accepts the fake's Message");
    assert_eq!(msg.text(), Some("🔥 FIRING HighCPU on <web-1>"));
    assert_eq!(msg.chat.id, CHAT);
    assert_eq!(msg.id, MessageId(1));
    assert_eq!(msg.reply_markup(), Some(&keyboard("s")));
    let entity = &msg.entities().unwrap()[0];
    assert_eq!((entity.offset, entity.length), (3, 6));

    let req = &tg.requests()[0];
    assert_eq!(req.method, "sendMessage");
    assert_eq!(req.method_as_sent, "SendMessage");
    assert_eq!(req.content_type, "application/json");
    assert_eq!(
        tg.messages()[0].text,
        "🔥 <b>FIRING</b> HighCPU on &lt;web-1&gt;"
    );
}

#[tokio::test]
async fn errors_surface_as_teloxides_request_errors() {
    let tg = FakeTelegram::start().await;
    let bot = bot(&tg);

    tg.push_fault(Fault::TooManyRequests { retry_after: 7 });
    match bot.send_message(CHAT, "x").await {
        Err(RequestError::RetryAfter(s)) => assert_eq!(s, Seconds::from_seconds(7)),
        other => panic!("want RetryAfter(7), got {other:?}"),
    }

    match bot
        .send_message(CHAT, "<b>cut")
        .parse_mode(ParseMode::Html)
        .await
    {
        Err(RequestError::Api(ApiError::CantParseEntities(s))) => assert_eq!(
            s,
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""
        ),
        other => panic!("want CantParseEntities, got {other:?}"),
    }

    let long = "x".repeat(4097);
    assert!(matches!(
        bot.send_message(CHAT, long).await,
        Err(RequestError::Api(ApiError::MessageIsTooLong))
    ));
    assert!(matches!(
        bot.send_message(CHAT, " ").await,
        Err(RequestError::Api(ApiError::MessageTextIsEmpty))
    ));

    tg.forget_chat(1);
    tg.block_chat(2);
    assert!(matches!(
        bot.send_message(ChatId(1), "x").await,
        Err(RequestError::Api(ApiError::ChatNotFound))
    ));
    assert!(matches!(
        bot.send_message(ChatId(2), "x").await,
        Err(RequestError::Api(ApiError::BotBlocked))
    ));

    let wrong = Bot::new("1:wrong").set_api_url(tg.url().parse().unwrap());
    assert!(matches!(
        wrong.get_me().await,
        Err(RequestError::Api(ApiError::InvalidToken))
    ));
    assert!(tg.messages().is_empty());
}

#[tokio::test]
async fn send_photo_multipart_replying_to_the_alert() {
    let tg = FakeTelegram::start().await;
    let bot = bot(&tg);
    let alert = bot.send_message(CHAT, "alert").await.unwrap();
    let photo = bot
        .send_photo(CHAT, InputFile::memory(png()).file_name("chart.png"))
        .caption("<b>cpu</b> last 30m")
        .parse_mode(ParseMode::Html)
        .reply_parameters(ReplyParameters::new(alert.id))
        .await
        .expect("teloxide accepts the photo Message");
    assert_eq!(photo.caption(), Some("cpu last 30m"));
    let sizes = photo.photo().unwrap();
    assert_eq!((sizes[0].width, sizes[0].height), (640, 480));
    assert_eq!(photo.reply_to_message().unwrap().id, alert.id);

    let sent = &tg.photos()[0];
    assert_eq!(sent.bytes, png());
    assert_eq!(sent.filename.as_deref(), Some("chart.png"));
    assert_eq!(sent.reply_to_message_id, Some(alert.id.0 as i64));
    assert_eq!(sent.visible_caption.as_deref(), Some("cpu last 30m"));
    assert!(
        tg.requests_for("sendPhoto")[0]
            .content_type
            .starts_with("multipart/form-data")
    );

    // What Telegram refuses: a caption over 1024, bytes that are not an image, a reply to
    // nothing.
    match bot
        .send_photo(CHAT, InputFile::memory(png()).file_name("c.png"))
        .caption("y".repeat(1025))
        .await
    {
        Err(RequestError::Api(ApiError::Unknown(s))) => {
            assert_eq!(s, "Bad Request: message caption is too long")
        }
        other => panic!("want caption too long, got {other:?}"),
    }
    match bot
        .send_photo(
            CHAT,
            InputFile::memory(b"<html>".to_vec()).file_name("c.png"),
        )
        .await
    {
        // teloxide knows this one by its exact text.
        Err(RequestError::Api(ApiError::ImageProcessFailed)) => {}
        other => panic!("want IMAGE_PROCESS_FAILED, got {other:?}"),
    }
    assert!(matches!(
        bot.send_photo(CHAT, InputFile::memory(png()).file_name("c.png"))
            .reply_parameters(ReplyParameters::new(MessageId(999)))
            .await,
        Err(RequestError::Api(ApiError::MessageToReplyNotFound))
    ));
    assert_eq!(tg.photos().len(), 1);
}

#[tokio::test]
async fn send_document_multipart_as_teloxide_sends_it() {
    let tg = FakeTelegram::start().await;
    let bot = bot(&tg);
    let text = b"HighCPU web-1\nHighCPU web-2\n".to_vec();
    let doc = bot
        .send_document(
            CHAT,
            InputFile::memory(text.clone()).file_name("alerts.txt"),
        )
        .caption("<b>2</b> alerts")
        .parse_mode(ParseMode::Html)
        .await
        .expect("teloxide accepts the document Message");
    assert_eq!(doc.caption(), Some("2 alerts"));
    let d = doc.document().expect("a document");
    assert_eq!(d.file_name.as_deref(), Some("alerts.txt"));
    assert_eq!(d.file.size, text.len() as u32);

    let sent = &tg.documents()[0];
    assert_eq!(sent.bytes, text);
    assert_eq!(sent.filename.as_deref(), Some("alerts.txt"));
    assert_eq!(sent.visible_caption.as_deref(), Some("2 alerts"));

    // What Telegram refuses: no document, an empty file, a caption over 1024.
    let request = |field: &str, bytes: Vec<u8>| {
        let form = reqwest::multipart::Form::new()
            .text("chat_id", CHAT.0.to_string())
            .part(
                field.to_string(),
                reqwest::multipart::Part::bytes(bytes).file_name("a.txt"),
            );
        reqwest::Client::new()
            .post(format!("{}/bot{}/sendDocument", tg.url(), tg.token()))
            .multipart(form)
            .send()
    };
    let answer = request("file", b"x".to_vec()).await.unwrap();
    assert_eq!(answer.status(), 400);
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"ok": false, "error_code": 400, "description": "Bad Request: there is no document in the request"})
    );
    let answer = request("document", vec![]).await.unwrap();
    assert_eq!(answer.status(), 400);
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"ok": false, "error_code": 400, "description": "Bad Request: file must be non-empty"})
    );
    match bot
        .send_document(CHAT, InputFile::memory(b"x".to_vec()).file_name("a.txt"))
        .caption("y".repeat(1025))
        .await
    {
        Err(RequestError::Api(ApiError::Unknown(s))) => {
            assert_eq!(s, "Bad Request: message caption is too long")
        }
        other => panic!("want caption too long, got {other:?}"),
    }
    assert_eq!(tg.documents().len(), 1);
}

#[tokio::test]
async fn commands_and_button_presses_arrive_through_get_updates() {
    let tg = FakeTelegram::start().await;
    let bot = bot(&tg);
    let alert = bot
        .send_message(CHAT, "alert")
        .reply_markup(keyboard("s"))
        .await
        .unwrap();
    tg.user_message(CHAT.0, CHAT.0, "/cpu web-1");
    let query_id = tg.press_button(77, CHAT.0, alert.id.0 as i64, "s:1h");

    let updates = bot.get_updates().timeout(5).await.unwrap();
    assert_eq!(updates.len(), 2);
    match &updates[0].kind {
        UpdateKind::Message(m) => {
            assert_eq!(m.text(), Some("/cpu web-1"));
            assert_eq!(m.from.as_ref().unwrap().id, UserId(CHAT.0 as u64));
        }
        other => panic!("want a message, got {other:?}"),
    }
    let q = match &updates[1].kind {
        UpdateKind::CallbackQuery(q) => q.clone(),
        other => panic!("want a callback query, got {other:?}"),
    };
    assert_eq!(q.id.0, query_id);
    assert_eq!(q.data.as_deref(), Some("s:1h"));
    assert_eq!(q.from.id, UserId(77));
    assert_eq!(q.from.username.as_deref(), Some("user77"));
    assert_eq!(q.message.as_ref().unwrap().id(), alert.id);

    bot.answer_callback_query(q.id.clone())
        .text("Silenced for 1h")
        .await
        .unwrap();
    assert!(matches!(
        bot.answer_callback_query(q.id.clone()).await,
        Err(RequestError::Api(ApiError::InvalidQueryId))
    ));
    assert_eq!(
        tg.callback_answers()[0].text.as_deref(),
        Some("Silenced for 1h")
    );

    // Confirming with the next offset empties the queue.
    let next = updates[1].id.0 as i32 + 1;
    assert!(bot.get_updates().offset(next).await.unwrap().is_empty());
    assert_eq!(tg.pending_updates(), 0);
}

#[tokio::test]
async fn long_polling_wakes_when_an_update_arrives() {
    let tg = FakeTelegram::start().await;
    let bot = bot(&tg);
    let poll = tokio::spawn(async move { bot.get_updates().timeout(10).await });
    tg.wait_for_requests("getUpdates", 1, Duration::from_secs(10))
        .await;
    tg.user_message(5, 5, "/agents");
    let updates = poll.await.unwrap().unwrap();
    assert_eq!(updates.len(), 1);
}

#[tokio::test]
async fn a_second_poller_ends_the_first_with_409_conflict() {
    let tg = FakeTelegram::start().await;
    let first = {
        let bot = bot(&tg);
        tokio::spawn(async move { bot.get_updates().timeout(10).await })
    };
    tg.wait_for_requests("getUpdates", 1, Duration::from_secs(10))
        .await;
    let second = {
        let bot = bot(&tg);
        tokio::spawn(async move { bot.get_updates().timeout(1).await })
    };
    assert!(matches!(
        first.await.unwrap(),
        Err(RequestError::Api(ApiError::TerminatedByOtherGetUpdates))
    ));
    assert!(second.await.unwrap().unwrap().is_empty());
}

#[tokio::test]
async fn edits_replace_text_and_keyboard_like_telegram() {
    let tg = FakeTelegram::start().await;
    let bot = bot(&tg);
    let alert = bot
        .send_message(CHAT, "FIRING HighCPU")
        .reply_markup(keyboard("s"))
        .await
        .unwrap();

    // Editing the text without reply_markup drops the keyboard, as Telegram does.
    let edited = bot
        .edit_message_text(
            CHAT,
            alert.id,
            "FIRING HighCPU — <i>silenced by @user77 for 1h</i>",
        )
        .parse_mode(ParseMode::Html)
        .await
        .unwrap();
    assert_eq!(
        edited.text(),
        Some("FIRING HighCPU — silenced by @user77 for 1h")
    );
    assert_eq!(edited.reply_markup(), None);
    assert!(edited.edit_date().is_some());

    assert!(matches!(
        bot.edit_message_text(
            CHAT,
            alert.id,
            "FIRING HighCPU — <i>silenced by @user77 for 1h</i>"
        )
        .parse_mode(ParseMode::Html)
        .await,
        Err(RequestError::Api(ApiError::MessageNotModified))
    ));
    assert!(matches!(
        bot.edit_message_text(CHAT, MessageId(99), "x").await,
        Err(RequestError::Api(ApiError::MessageToEditNotFound))
    ));

    let marked = bot
        .edit_message_reply_markup(CHAT, alert.id)
        .reply_markup(keyboard("resolved"))
        .await
        .unwrap();
    assert_eq!(marked.reply_markup(), Some(&keyboard("resolved")));

    let edits = tg.edits();
    assert_eq!(edits.len(), 2);
    assert_eq!(
        edits[0].visible_text.as_deref(),
        Some("FIRING HighCPU — silenced by @user77 for 1h")
    );
    let now = tg.message(CHAT.0, alert.id.0 as i64).unwrap();
    assert_eq!(now["text"], "FIRING HighCPU — silenced by @user77 for 1h");
}

#[tokio::test]
async fn bot_setup_calls_succeed() {
    let tg = FakeTelegram::start_with_token("987654:test-token").await;
    let bot = bot(&tg);
    let me = bot.get_me().await.unwrap();
    assert_eq!(me.username(), "vpsmon_test_bot");
    assert_eq!(me.id, UserId(987654));
    bot.delete_webhook().await.unwrap();
    bot.set_my_commands([
        BotCommand::new("agents", "every agent, up or down"),
        BotCommand::new("cpu", "CPU now: /cpu web-1"),
    ])
    .await
    .unwrap();
    assert_eq!(tg.my_commands().unwrap()[1]["command"], "cpu");
    assert!(
        bot.set_my_commands([BotCommand::new("Mon-CPU", "bad name")])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn teloxides_throttle_passes_the_enforced_rate_limits() {
    let tg = FakeTelegram::start().await;
    tg.enforce_rate_limits(true);
    let bot = bot(&tg).throttle(Limits::default());
    for i in 0..3 {
        bot.send_message(CHAT, format!("part {i}")).await.unwrap();
    }
    assert_eq!(tg.messages().len(), 3);
    assert!(tg.requests().iter().all(|r| r.status == 200));

    // Without the throttle a burst gets Telegram's 429.
    let raw = Bot::new(tg.token()).set_api_url(tg.url().parse().unwrap());
    let burst = (0..5).map(|i| raw.send_message(ChatId(9), format!("b{i}")).into_future());
    let results = futures::future::join_all(burst).await;
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(RequestError::RetryAfter(_)))),
        "{results:?}"
    );
}

#[tokio::test]
async fn a_teloxide_dispatcher_polls_answers_and_confirms_updates() {
    use teloxide::dispatching::{Dispatcher, UpdateFilterExt};
    use teloxide::error_handlers::LoggingErrorHandler;
    use teloxide::update_listeners::Polling;

    let tg = FakeTelegram::start().await;
    let bot = bot(&tg);
    let handler = Update::filter_message().endpoint(|bot: Bot, msg: Message| async move {
        let text = format!("pong: {}", msg.text().unwrap_or_default());
        bot.send_message(msg.chat.id, text).await?;
        respond(())
    });
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler).build();
    let shutdown = dispatcher.shutdown_token();
    let listener = Polling::builder(bot)
        .timeout(Duration::from_secs(1))
        .delete_webhook()
        .await
        .build();
    let task = tokio::spawn(async move {
        dispatcher
            .dispatch_with_listener(listener, LoggingErrorHandler::new())
            .await
    });

    tg.user_message(11, 11, "/ping");
    tg.user_message(12, 12, "hello");
    let replies = tg.wait_for_messages(2, Duration::from_secs(30)).await;
    let mut got: Vec<(i64, String)> = replies
        .iter()
        .map(|m| (m.chat_id, m.visible_text.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![(11, "pong: /ping".into()), (12, "pong: hello".into())]
    );

    shutdown.shutdown().unwrap().await;
    task.await.unwrap();
    // teloxide confirmed what it handled, so nothing is left for the next poller.
    assert_eq!(tg.pending_updates(), 0);
    let polls: Vec<(u16, Option<String>, serde_json::Value)> = tg
        .requests_for("getUpdates")
        .into_iter()
        .map(|r| (r.status, r.error, r.params))
        .collect();
    // The poll teloxide dropped at shutdown stays unanswered (0); none failed.
    assert!(polls.iter().all(|p| p.0 == 200 || p.0 == 0), "{polls:#?}");
}

#[tokio::test]
async fn per_chat_faults_and_a_migrated_group() {
    let tg = FakeTelegram::start().await;
    let bot = bot(&tg);
    tg.fail_chat_until(-100, Duration::from_secs(3600), Fault::ServerError(500));
    tg.push_fault_for_chat(7, Fault::TooManyRequests { retry_after: 3 });
    // Chat 8 is untouched by chat 7's fault and by the outage of -100.
    bot.send_message(ChatId(8), "fine").await.unwrap();
    assert!(matches!(
        bot.send_message(ChatId(7), "x").await,
        Err(RequestError::RetryAfter(s)) if s == Seconds::from_seconds(3)
    ));
    bot.send_message(ChatId(7), "then fine").await.unwrap();
    let status = reqwest::Client::new()
        .post(format!("{}/bot{}/sendMessage", tg.url(), tg.token()))
        .form(&[("chat_id", "-100"), ("text", "x")])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 500);

    tg.migrate_chat(-200, -1_001_234_567_890);
    assert!(matches!(
        bot.send_message(ChatId(-200), "x").await,
        Err(RequestError::MigrateToChatId(ChatId(-1_001_234_567_890)))
    ));
    let to_new = bot
        .send_message(ChatId(-1_001_234_567_890), "x")
        .await
        .unwrap();
    assert!(to_new.chat.is_supergroup());
}
