//! The fake Telegram answers raw HTTP exactly as the Bot API does: status codes, envelopes,
//! error descriptions, parameter encodings.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::telegram::{DEFAULT_TOKEN, FakeTelegram, Fault};

const CHAT: i64 = 4242;

async fn post_json(tg: &FakeTelegram, method: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/bot{}/{method}", tg.url(), tg.token()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn error(code: u16, description: &str) -> Value {
    json!({ "ok": false, "error_code": code, "description": description })
}

#[tokio::test]
async fn send_message_returns_the_message_and_records_it() {
    let tg = FakeTelegram::start().await;
    let (status, body) = post_json(
        &tg,
        "sendMessage",
        json!({"chat_id": CHAT, "text": "  <b>FIRING</b> cpu &lt; 90%  ", "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["ok"], json!(true));
    let m = &body["result"];
    assert_eq!(m["message_id"], json!(1));
    assert_eq!(
        m["chat"],
        json!({"id": CHAT, "type": "private", "first_name": "Test", "username": "user4242"})
    );
    assert_eq!(m["text"], json!("FIRING cpu < 90%"));
    assert_eq!(
        m["entities"],
        json!([{"type": "bold", "offset": 0, "length": 6}])
    );
    assert_eq!(m["from"]["is_bot"], json!(true));

    let sent = tg.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].chat_id, CHAT);
    assert_eq!(sent[0].text, "  <b>FIRING</b> cpu &lt; 90%  ");
    assert_eq!(sent[0].visible_text, "FIRING cpu < 90%");
    assert_eq!(sent[0].parse_mode.as_deref(), Some("HTML"));
}

#[tokio::test]
async fn method_names_are_case_insensitive_and_ids_count_per_chat() {
    let tg = FakeTelegram::start().await;
    for method in ["sendMessage", "SendMessage", "SENDMESSAGE"] {
        let (status, _) = post_json(&tg, method, json!({"chat_id": CHAT, "text": "x"})).await;
        assert_eq!(status, 200, "{method}");
    }
    let (_, other) = post_json(&tg, "sendmessage", json!({"chat_id": -100, "text": "x"})).await;
    assert_eq!(other["result"]["message_id"], json!(1));
    assert_eq!(other["result"]["chat"]["type"], json!("group"));
    let ids: Vec<i64> = tg.messages().iter().map(|m| m.message_id).collect();
    assert_eq!(ids, vec![1, 2, 3, 1]);
    let methods: Vec<String> = tg.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, vec!["sendMessage"; 4]);
    assert_eq!(tg.requests()[1].method_as_sent, "SendMessage");
}

#[tokio::test]
async fn form_query_and_multipart_parameters_are_read() {
    let tg = FakeTelegram::start().await;
    let base = format!("{}/bot{}", tg.url(), tg.token());
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/sendMessage"))
        .form(&[("chat_id", "7"), ("text", "a & b <c>")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!("{base}/sendMessage?chat_id=8&text=hello%20there"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let form = reqwest::multipart::Form::new()
        .text("chat_id", "9")
        .text("text", "<i>multi</i>")
        .text("parse_mode", "HTML")
        .text(
            "reply_markup",
            r#"{"inline_keyboard":[[{"text":"Silence 1h","callback_data":"s:1h"}]]}"#,
        );
    let r = client
        .post(format!("{base}/sendMessage"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m = tg.messages();
    assert_eq!(m[0].visible_text, "a & b <c>");
    assert_eq!(m[1].visible_text, "hello there");
    assert_eq!(m[2].visible_text, "multi");
    assert_eq!(
        m[2].result["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        json!("s:1h")
    );
}

#[tokio::test]
async fn wrong_token_and_unknown_paths_get_telegrams_errors() {
    let tg = FakeTelegram::start_with_token("555:right").await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/bot555:wrong/sendMessage", tg.url()))
        .json(&json!({"chat_id": 1, "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap(), error(401, "Unauthorized"));
    let r = client
        .post(format!("{}/bot555:right/noSuchMethod", tg.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap(), error(404, "Not Found"));
    assert!(tg.messages().is_empty());
    assert_eq!(tg.bot_id(), 555);
}

#[tokio::test]
async fn validation_errors_use_telegrams_descriptions() {
    let tg = FakeTelegram::start().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"text": "x"}), "Bad Request: chat_id is empty"),
        (
            json!({"chat_id": CHAT}),
            "Bad Request: message text is empty",
        ),
        (
            json!({"chat_id": CHAT, "text": " \n "}),
            "Bad Request: message text is empty",
        ),
        (
            json!({"chat_id": CHAT, "text": "x".repeat(4097)}),
            "Bad Request: message is too long",
        ),
        // 2049 emoji are 4098 UTF-16 code units: too long although only 2049 characters.
        (
            json!({"chat_id": CHAT, "text": "😀".repeat(2049)}),
            "Bad Request: message is too long",
        ),
        (
            json!({"chat_id": CHAT, "text": "<b>x", "parse_mode": "HTML"}),
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
        ),
        (
            json!({"chat_id": CHAT, "text": "<script>x</script>", "parse_mode": "HTML"}),
            "Bad Request: can't parse entities: Unsupported start tag \"script\" at byte offset 0",
        ),
        (
            json!({"chat_id": CHAT, "text": "x", "reply_to_message_id": 99}),
            "Bad Request: message to be replied not found",
        ),
        (
            json!({"chat_id": CHAT, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "t", "callback_data": "d".repeat(65)}]]}}),
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            json!({"chat_id": CHAT, "text": "x", "parse_mode": "Foo"}),
            "Bad Request: unsupported parse_mode",
        ),
    ];
    for (body, want) in cases {
        let (status, got) = post_json(&tg, "sendMessage", body.clone()).await;
        assert_eq!((status, got), (400, error(400, want)), "for {body}");
    }
    // Exactly 4096 characters after parsing pass: the markup does not count.
    let text = format!("<b>{}</b>", "x".repeat(4096));
    let (status, _) = post_json(
        &tg,
        "sendMessage",
        json!({"chat_id": CHAT, "text": text, "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(tg.messages().len(), 1);
}

#[tokio::test]
async fn chats_can_be_unknown_or_blocked() {
    let tg = FakeTelegram::start().await;
    tg.forget_chat(1);
    tg.block_chat(2);
    let (s, b) = post_json(&tg, "sendMessage", json!({"chat_id": 1, "text": "x"})).await;
    assert_eq!((s, b), (400, error(400, "Bad Request: chat not found")));
    let (s, b) = post_json(&tg, "sendMessage", json!({"chat_id": 2, "text": "x"})).await;
    assert_eq!(
        (s, b),
        (403, error(403, "Forbidden: bot was blocked by the user"))
    );
}

#[tokio::test]
async fn scripted_faults_come_in_order_then_calls_succeed() {
    let tg = FakeTelegram::start().await;
    tg.push_fault(Fault::TooManyRequests { retry_after: 5 });
    tg.push_fault(Fault::ServerError(502));
    tg.push_fault(Fault::Error {
        code: 400,
        description: "Bad Request: chat not found".into(),
    });
    tg.push_fault(Fault::Forbidden(
        "Forbidden: bot was kicked from the group chat".into(),
    ));
    let send = || post_json(&tg, "sendMessage", json!({"chat_id": CHAT, "text": "x"}));
    let (s, b) = send().await;
    assert_eq!(s, 429);
    assert_eq!(
        b,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 5", "parameters": {"retry_after": 5}})
    );
    assert_eq!(send().await, (502, error(502, "Bad Gateway")));
    assert_eq!(
        send().await,
        (400, error(400, "Bad Request: chat not found"))
    );
    assert_eq!(
        send().await,
        (
            403,
            error(403, "Forbidden: bot was kicked from the group chat")
        )
    );
    assert_eq!(send().await.0, 200);
    assert_eq!(tg.messages().len(), 1, "faulted calls deliver nothing");
    let statuses: Vec<u16> = tg.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 502, 400, 403, 200]);
}

#[tokio::test]
async fn bad_gateway_html_is_not_json() {
    let tg = FakeTelegram::start().await;
    tg.push_fault(Fault::BadGatewayHtml);
    let r = reqwest::Client::new()
        .post(format!("{}/bot{}/sendMessage", tg.url(), tg.token()))
        .json(&json!({"chat_id": CHAT, "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["content-type"], "text/html");
    assert!(r.text().await.unwrap().contains("<h1>502 Bad Gateway</h1>"));
}

#[tokio::test]
async fn an_outage_fails_every_call_until_it_ends() {
    let tg = FakeTelegram::start().await;
    // Generous margins: the first two calls land well inside the outage, the last well after.
    tg.fail_until(Duration::from_secs(2), Fault::ServerError(503));
    let (s, b) = post_json(&tg, "sendMessage", json!({"chat_id": CHAT, "text": "x"})).await;
    assert_eq!((s, b), (503, error(503, "Service Unavailable")));
    let (s, _) = post_json(
        &tg,
        "editMessageText",
        json!({"chat_id": CHAT, "message_id": 1, "text": "y"}),
    )
    .await;
    assert_eq!(s, 503, "an outage hits every method");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (s, _) = post_json(&tg, "sendMessage", json!({"chat_id": CHAT, "text": "x"})).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn clear_faults_ends_an_outage() {
    let tg = FakeTelegram::start().await;
    tg.fail_until(Duration::from_secs(3600), Fault::BadGatewayHtml);
    tg.push_fault(Fault::ServerError(500));
    assert_eq!(post_status(&tg).await, 502);
    tg.clear_faults();
    assert_eq!(post_status(&tg).await, 200);
}

async fn post_status(tg: &FakeTelegram) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/bot{}/sendMessage", tg.url(), tg.token()))
        .json(&json!({"chat_id": CHAT, "text": "x"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_timeout_fault_outlasts_the_clients_timeout() {
    let tg = FakeTelegram::start().await;
    tg.push_fault(Fault::Timeout(Duration::from_secs(3)));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client
        .post(format!("{}/bot{}/sendMessage", tg.url(), tg.token()))
        .json(&json!({"chat_id": CHAT, "text": "x"}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(tg.messages().is_empty());
}

#[tokio::test]
async fn rate_limits_when_enforced_answer_429_per_chat() {
    let tg = FakeTelegram::start().await;
    tg.enforce_rate_limits(true);
    // A burst of ten at once to one chat: whatever the machine's speed, the accepted ones are
    // at least 900 ms apart and the rest get 429 retry_after.
    let burst = (0..10).map(|i| {
        post_json(
            &tg,
            "sendMessage",
            json!({"chat_id": CHAT, "text": format!("{i}")}),
        )
    });
    let answers = futures::future::join_all(burst).await;
    let limited: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 429)
        .map(|(_, b)| b)
        .collect();
    assert!(!limited.is_empty(), "{answers:?}");
    assert!(
        limited
            .iter()
            .all(|b| b["parameters"]["retry_after"] == json!(1)
                && b["description"] == json!("Too Many Requests: retry after 1"))
    );
    let sent = tg.messages();
    assert_eq!(sent.len() + limited.len(), 10);
    for pair in sent.windows(2) {
        assert!(pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(900));
    }
    // Another chat is not limited by the first one.
    let (s, _) = post_json(
        &tg,
        "sendMessage",
        json!({"chat_id": CHAT + 1, "text": "x"}),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn wait_for_messages_returns_once_enough_arrived() {
    let tg = FakeTelegram::start().await;
    let url = format!("{}/bot{DEFAULT_TOKEN}/sendMessage", tg.url());
    let started = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for i in 0..3 {
            reqwest::Client::new()
                .post(&url)
                .json(&json!({"chat_id": CHAT, "text": format!("m{i}")}))
                .send()
                .await
                .unwrap();
        }
    });
    let got = tg.wait_for_messages(3, Duration::from_secs(20)).await;
    let texts: Vec<&str> = got.iter().map(|m| m.visible_text.as_str()).collect();
    assert_eq!(texts, vec!["m0", "m1", "m2"]);
    assert!(got[0].at >= started);
}

#[tokio::test]
#[should_panic(expected = "wanted 1 sendMessage deliveries")]
async fn wait_for_messages_panics_with_what_it_got() {
    let tg = FakeTelegram::start().await;
    tg.wait_for_messages(1, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn slow_success_delivers_although_the_client_gave_up() {
    let tg = FakeTelegram::start().await;
    tg.push_fault(Fault::SlowSuccess(Duration::from_millis(800)));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client
        .post(format!("{}/bot{}/sendMessage", tg.url(), tg.token()))
        .json(&json!({"chat_id": CHAT, "text": "late"}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    let got = tg.wait_for_messages(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].visible_text, "late");
}

#[tokio::test]
async fn a_malformed_path_is_404_and_its_token_is_not_logged() {
    let tg = FakeTelegram::start().await;
    let r = reqwest::Client::new()
        .post(format!("{}/bot{}/", tg.url(), tg.token()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let logged = &tg.requests()[0];
    assert_eq!(logged.method, "/bot<token>/");
    assert!(!format!("{logged:?}").contains(tg.token()));
}

#[tokio::test]
async fn forum_topics_are_checked_once_declared() {
    let tg = FakeTelegram::start().await;
    let forum = -1_009_999_999_999;
    tg.forum_topics(forum, &[7]);
    let (s, b) = post_json(
        &tg,
        "sendMessage",
        json!({"chat_id": forum, "message_thread_id": 7, "text": "x"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["result"]["message_thread_id"], json!(7));
    assert_eq!(b["result"]["is_topic_message"], json!(true));
    let (s, b) = post_json(
        &tg,
        "sendMessage",
        json!({"chat_id": forum, "message_thread_id": 8, "text": "x"}),
    )
    .await;
    assert_eq!(
        (s, b),
        (400, error(400, "Bad Request: message thread not found"))
    );
    assert_eq!(tg.messages()[0].message_thread_id, Some(7));
}
