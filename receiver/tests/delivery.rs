//! Delivery as Alertmanager and a chat see it: the real receiver (config, HTTP server,
//! dispatcher) on a loopback port, POSTed webhooks, and loopback fakes of Telegram, Slack and a
//! generic (ntfy-style) webhook that speak their wire formats and inject 429s, 5xx, and refusals. Each test asserts on what the
//! fake received (messages, request times) and on the status and JSON body Alertmanager gets.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::procs::{Proc, free_port, wait_http_ok};
use testkit::slack::{FakeSlack, SlackFault};
use testkit::telegram::{FakeTelegram, Fault};
use testkit::webhook::{FakeWebhook, WebhookFault};
use tokio::sync::oneshot;

mod support;

const WAIT: Duration = Duration::from_secs(60);

/// The receiver, in this process, on 127.0.0.1:<free port>.
struct Receiver {
    url: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Receiver {
    /// Loads `yaml` plus `env` as the binary would, and serves it.
    async fn start(yaml: &str, env: &[(&str, String)]) -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let config = support::load_config(Some(dir.path()), yaml, env);
        let state = vpsmon_receiver::state(config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(vpsmon_receiver::server::run(listener, state, async {
            let _ = stopped.await;
        }));
        Receiver {
            url,
            http: reqwest::Client::new(),
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// POSTs a webhook as Alertmanager does; the status and JSON body it gets.
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        post(&self.http, format!("{}{path}", self.url), body).await
    }

    /// POSTs every body at once, as Alertmanager flushes many groups together; the answers in
    /// the order of `bodies`.
    async fn post_all(&self, path: &str, bodies: &[Value]) -> Vec<(u16, Value)> {
        let mut set = tokio::task::JoinSet::new();
        for (i, body) in bodies.iter().enumerate() {
            let (http, url, body) = (
                self.http.clone(),
                format!("{}{path}", self.url),
                body.clone(),
            );
            set.spawn(async move { (i, post(&http, url, &body).await) });
        }
        let mut answers: Vec<(usize, (u16, Value))> = set.join_all().await;
        answers.sort_by_key(|a| a.0);
        answers.into_iter().map(|a| a.1).collect()
    }

    async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

async fn post(http: &reqwest::Client, url: String, body: &Value) -> (u16, Value) {
    let resp = http.post(url).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    (status, json)
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One alert; its summary `mark-NNNN-end` appears once in its message, so a test can count it.
fn alert(i: usize, status: &str) -> Value {
    let ends_at = if status == "resolved" {
        "2026-11-21T10:05:00Z"
    } else {
        "0001-01-01T00:00:00Z"
    };
    json!({
        "status": status,
        "labels": {"alertname": "DiskFull", "agent": format!("web-{i}"), "severity": "warning"},
        "annotations": {"summary": format!("mark-{i:04}-end")},
        "startsAt": "2026-11-21T10:00:00Z",
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
        "fingerprint": format!("{i:016x}"),
    })
}

fn notification(status: &str, alerts: Vec<Value>) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"DiskFull\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "vpsmon",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    })
}

fn firing(n: usize) -> Value {
    notification("firing", (0..n).map(|i| alert(i, "firing")).collect())
}

/// How often each `mark-NNNN-end` appears across `texts`.
fn marks<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for text in texts {
        let mut rest = text;
        while let Some(i) = rest.find("mark-") {
            let candidate = &rest[i..];
            if candidate.len() >= 13 && &candidate[9..13] == "-end" {
                *seen.entry(candidate[..13].to_string()).or_insert(0) += 1;
            }
            rest = &rest[i + 5..];
        }
    }
    seen
}

/// Asserts every alert 0..n appears exactly once.
fn assert_each_once(seen: &BTreeMap<String, usize>, n: usize) {
    let wrong: Vec<_> = (0..n)
        .map(|i| format!("mark-{i:04}-end"))
        .filter(|m| seen.get(m) != Some(&1))
        .map(|m| (m.clone(), seen.get(&m).copied().unwrap_or(0)))
        .collect();
    assert!(wrong.is_empty(), "alerts not seen exactly once: {wrong:?}");
    assert_eq!(seen.len(), n, "unexpected marks: {seen:?}");
}

/// The send* requests Telegram got, asserting none was refused (a 429 would mean the receiver
/// outpaced it).
fn sends_all_accepted(tg: &FakeTelegram) -> Vec<testkit::telegram::TgRequest> {
    let sends: Vec<_> = tg
        .requests()
        .into_iter()
        .filter(|r| r.method.starts_with("send"))
        .collect();
    assert!(
        sends.iter().all(|r| r.status == 200),
        "the receiver outpaced Telegram: {sends:?}"
    );
    sends
}

fn telegram_env(tg: &FakeTelegram) -> Vec<(&'static str, String)> {
    vec![
        ("BOT_TOKEN", tg.token().to_string()),
        ("TELEGRAM_API_URL", tg.url()),
    ]
}

/// `env` with digests out of the way, for the tests of splitting one notification over many
/// messages.
fn no_digest(mut env: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    env.push(("TELEGRAM_DIGEST_THRESHOLD", "100000".into()));
    env
}

fn telegram_yaml(chat: i64, deadline: &str) -> String {
    format!("delivery_deadline: {deadline}\ndefault_route:\n  - telegram: {{ chat_id: {chat} }}\n")
}

/// The value of the exact series `line_prefix` (name and labels) in /metrics.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_honoured_the_retry_comes_after_retry_after() {
    let tg = FakeTelegram::start().await;
    let rx = Receiver::start(&telegram_yaml(4242, "20s"), &telegram_env(&tg)).await;
    tg.push_fault(Fault::TooManyRequests { retry_after: 2 });

    let (status, body) = rx.post("/alerts", &firing(1)).await;
    assert_eq!(status, 200, "{body}");

    let requests = tg.requests_for("sendMessage");
    assert_eq!(requests.len(), 2, "one 429, then one delivery");
    assert_eq!(requests[0].status, 429);
    assert_eq!(requests[1].status, 200);
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_secs(2),
        "the retry came {waited:?} after the 429, sooner than retry_after=2s"
    );
    assert_each_once(
        &marks(tg.messages().iter().map(|m| m.visible_text.as_str())),
        1,
    );

    let m = rx.metrics().await;
    let series = |r: &str| {
        format!(
            "vpsmon_receiver_notifications_total{{destination=\"telegram:4242\",result=\"{r}\"}}"
        )
    };
    assert_eq!(metric(&m, &series("rate_limited")), Some(1.0), "{m}");
    assert_eq!(metric(&m, &series("sent")), Some(1.0), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_past_the_deadline_answers_503_at_once_and_holds_back_further_tries() {
    let tg = FakeTelegram::start().await;
    let rx = Receiver::start(&telegram_yaml(4242, "3s"), &telegram_env(&tg)).await;
    tg.push_fault(Fault::TooManyRequests { retry_after: 120 });

    let (status, body) = rx.post("/alerts", &firing(1)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["destination"], "telegram:4242");
    assert_eq!(
        body["reason"],
        "rate limited (Telegram 429: Too Many Requests: retry after 120), past the delivery deadline"
    );
    // Alertmanager's retry within the 120 s is answered 503 without asking Telegram again.
    let (status, body) = rx.post("/alerts", &firing(1)).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .starts_with("rate limit: the next free slot is"),
        "{body}"
    );
    assert_eq!(tg.requests_for("sendMessage").len(), 1, "no retry storm");
}

/// Telegram delivers the message but answers only after the deadline: the receiver answers
/// Alertmanager 503 at the deadline, yet keeps waiting for that answer, so Alertmanager's retry
/// learns the message went out and nothing is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_answered_after_the_deadline_is_not_sent_twice() {
    let tg = FakeTelegram::start().await;
    let rx = Receiver::start(&telegram_yaml(4242, "3s"), &telegram_env(&tg)).await;
    tg.push_fault(Fault::SlowSuccess(Duration::from_secs(4)));

    let posted = Instant::now();
    let (status, body) = rx.post("/alerts", &firing(2)).await;
    let answered = posted.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["reason"],
        "no answer before the delivery deadline; the message is still being sent, and the retry will know whether it arrived"
    );
    assert!(
        answered < Duration::from_millis(4500),
        "Alertmanager waited {answered:?} for a 3 s deadline"
    );

    // Alertmanager's retry, while the first send still waits for its answer (due at 4 s): it
    // waits for that answer within its own deadline.
    let (status, body) = rx.post("/alerts", &firing(2)).await;
    assert_eq!(status, 200, "{body}");
    assert_each_once(
        &marks(tg.messages().iter().map(|m| m.visible_text.as_str())),
        2,
    );
    assert_eq!(tg.requests_for("sendMessage").len(), 1, "sent once");
    let m = rx.metrics().await;
    assert_eq!(
        metric(
            &m,
            "vpsmon_receiver_notifications_total{destination=\"telegram:4242\",result=\"sent\"}"
        ),
        Some(1.0),
        "{m}"
    );
}

/// The same, but Telegram's late answer is a 504 (nothing delivered): the retry waits for it
/// and then sends the message, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_refused_after_the_deadline_is_sent_by_the_retry() {
    let tg = FakeTelegram::start().await;
    let rx = Receiver::start(&telegram_yaml(4242, "3s"), &telegram_env(&tg)).await;
    tg.push_fault(Fault::Timeout(Duration::from_secs(4)));

    let (status, body) = rx.post("/alerts", &firing(2)).await;
    assert_eq!(status, 503, "{body}");
    assert!(tg.messages().is_empty());

    let retried = Instant::now();
    let (status, body) = rx.post("/alerts", &firing(2)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        retried.elapsed() >= Duration::from_millis(500),
        "the retry did not wait for the first send's answer ({:?})",
        retried.elapsed()
    );
    let sends = tg.requests_for("sendMessage");
    assert_eq!(
        sends.iter().map(|r| r.status).collect::<Vec<_>>(),
        [504, 200]
    );
    assert_each_once(
        &marks(tg.messages().iter().map(|m| m.visible_text.as_str())),
        2,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_gives_503_and_the_retry_after_recovery_delivers_exactly_once() {
    let tg = FakeTelegram::start().await;
    let rx = Receiver::start(&telegram_yaml(4242, "2s"), &telegram_env(&tg)).await;
    // The outage lasts until the test ends it, so the 503 cannot be the outage running out.
    tg.fail_until(Duration::from_secs(3600), Fault::ServerError(503));

    let (status, body) = rx.post("/alerts", &firing(3)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "delivery failed for now; retry later");
    assert_eq!(body["destination"], "telegram:4242");
    assert_eq!(body["reason"], "Telegram 503: Service Unavailable");
    let tries = tg.requests_for("sendMessage").len();
    assert!(
        tries >= 2,
        "a 5xx is retried within the deadline ({tries} tries)"
    );
    assert!(tg.messages().is_empty());

    tg.clear_faults();
    // Alertmanager retries the same notification.
    let (status, body) = rx.post("/alerts", &firing(3)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = rx.post("/alerts", &firing(3)).await;
    assert_eq!(status, 200);
    let messages = tg.messages();
    assert_eq!(messages.len(), 1, "delivered once: {messages:?}");
    assert_each_once(&marks([messages[0].visible_text.as_str()]), 3);

    let m = rx.metrics().await;
    let series = |r: &str| {
        format!(
            "vpsmon_receiver_notifications_total{{destination=\"telegram:4242\",result=\"{r}\"}}"
        )
    };
    assert_eq!(metric(&m, &series("failed_transient")), Some(1.0), "{m}");
    assert_eq!(
        metric(&m, &series("retried")),
        Some(tries as f64 - 1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "vpsmon_receiver_webhooks_received_total{code=\"503\"}"),
        Some(1.0),
        "{m}"
    );
}

/// 500 alerts make ~38 Telegram messages, which at one a second to a chat take longer than the
/// delivery deadline: the receiver sends what fits, answers 503, and each of Alertmanager's
/// retries sends only what is still missing, until the last one is answered 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partly_delivered_notification_is_completed_by_retries_without_repeats() {
    let tg = FakeTelegram::start().await;
    let rx = Receiver::start(&telegram_yaml(4242, "6s"), &no_digest(telegram_env(&tg))).await;
    let big = firing(500);

    // Telegram fails from the 5th message on (messages go one a second to a chat, so the
    // outage starts well before the 5th).
    let post = rx.post("/alerts", &big);
    let outage = async {
        tg.wait_for_messages(4, WAIT).await;
        tg.fail_until(Duration::from_secs(3600), Fault::ServerError(502));
    };
    let ((status, body), ()) = tokio::join!(post, outage);
    assert_eq!(status, 503, "{body}");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("Telegram 502: Bad Gateway (4 of ")
            && reason.ends_with(" messages delivered before)"),
        "{reason}"
    );
    assert_eq!(tg.messages().len(), 4);

    tg.clear_faults();
    // Alertmanager retries until it gets a 2xx (bounded here).
    let mut answers = Vec::new();
    for _ in 0..30 {
        let (status, body) = rx.post("/alerts", &big).await;
        answers.push(status);
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
    }
    assert_eq!(answers.last(), Some(&200), "never completed: {answers:?}");

    let messages = tg.messages();
    for m in &messages {
        assert!(m.text.chars().map(char::len_utf16).sum::<usize>() <= 4096);
    }
    assert_each_once(
        &marks(messages.iter().map(|m| m.visible_text.as_str())),
        500,
    );
    let m = rx.metrics().await;
    let skipped = metric(
        &m,
        "vpsmon_receiver_alerts_deduplicated_total{destination=\"telegram:4242\"}",
    )
    .unwrap();
    assert!(
        skipped >= 50.0,
        "the delivered alerts were skipped: {skipped}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_notification_to_a_group_stays_within_telegrams_limits() {
    let tg = FakeTelegram::start().await;
    // The fake answers 429 to anything faster than Telegram allows.
    tg.enforce_rate_limits(true);
    let rx = Receiver::start(
        &telegram_yaml(-100777, "30s"),
        &no_digest(telegram_env(&tg)),
    )
    .await;

    let (status, body) = rx.post("/alerts", &firing(100)).await;
    assert_eq!(status, 200, "{body}");
    let refused: Vec<_> = tg
        .requests_for("sendMessage")
        .into_iter()
        .filter(|r| r.status != 200)
        .map(|r| (r.status, r.error))
        .collect();
    assert!(
        refused.is_empty(),
        "the receiver outpaced Telegram: {refused:?}"
    );
    let messages = tg.messages();
    assert!(messages.len() > 3, "{} messages", messages.len());
    assert_each_once(
        &marks(messages.iter().map(|m| m.visible_text.as_str())),
        100,
    );
    for (i, w) in messages.windows(2).enumerate() {
        let gap = w[1].at - w[0].at;
        // One a second per chat; the fake measures arrival, so allow a little network jitter.
        assert!(
            gap >= Duration::from_millis(900),
            "messages {i} and {} {gap:?} apart",
            i + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_notification_from_two_alertmanagers_is_delivered_once() {
    let tg = FakeTelegram::start().await;
    let rx = Receiver::start(&telegram_yaml(-100555, "20s"), &telegram_env(&tg)).await;

    // Two Alertmanagers of a cluster whose gossip failed send the same group at the same time.
    let five = firing(5);
    let ((s1, b1), (s2, b2)) = tokio::join!(rx.post("/alerts", &five), rx.post("/alerts", &five));
    assert_eq!((s1, s2), (200, 200), "{b1} {b2}");
    // And one of them again a moment later.
    let (s3, _) = rx.post("/alerts", &firing(5)).await;
    assert_eq!(s3, 200);
    let messages = tg.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_each_once(&marks([messages[0].visible_text.as_str()]), 5);

    // The resolved notification of the same alerts is news, not a duplicate.
    let resolved = notification("resolved", (0..5).map(|i| alert(i, "resolved")).collect());
    let ((s1, _), (s2, _)) =
        tokio::join!(rx.post("/alerts", &resolved), rx.post("/alerts", &resolved));
    assert_eq!((s1, s2), (200, 200));
    let messages = tg.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[1].visible_text.contains("RESOLVED"),
        "{}",
        messages[1].visible_text
    );
    assert_each_once(&marks([messages[1].visible_text.as_str()]), 5);

    let m = rx.metrics().await;
    assert_eq!(
        metric(
            &m,
            "vpsmon_receiver_alerts_deduplicated_total{destination=\"telegram:-100555\"}"
        ),
        Some(15.0),
        "5 alerts skipped three times: {m}"
    );
}

/// A refusal an operator can fix (chat not found, bot blocked, a deleted or archived Slack
/// channel) is answered 503, so Alertmanager keeps the alerts and retries; one request per
/// webhook, no retry storm inside the deadline. `/healthz` and a gauge name each destination.
/// Only a refusal of what the receiver rendered (a bug: the same bytes are refused again) is 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_refusals_answer_503_naming_destination_and_reason_and_show_in_healthz() {
    let tg = FakeTelegram::start().await;
    let slack_gone = FakeSlack::start().await;
    let slack_archived = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gone_file = dir.path().join("gone.url");
    let archived_file = dir.path().join("archived.url");
    std::fs::write(&gone_file, slack_gone.webhook_url()).unwrap();
    std::fs::write(&archived_file, slack_archived.webhook_url()).unwrap();
    let yaml = format!(
        "delivery_deadline: 5s
default_route:
  - telegram: {{ chat_id: -1001 }}
routes:
  blocked:
    - telegram: {{ chat_id: 2002 }}
  slack-gone:
    - slack: {{ name: ops, webhook_url_file: {} }}
  slack-archived:
    - slack: {{ name: archive, webhook_url_file: {} }}
  buggy:
    - telegram: {{ chat_id: 3003 }}
",
        gone_file.display(),
        archived_file.display()
    );
    let rx = Receiver::start(&yaml, &telegram_env(&tg)).await;
    tg.forget_chat(-1001);
    tg.block_chat(2002);
    slack_gone.push_fault(SlackFault::ChannelNotFound);
    slack_archived.push_fault(SlackFault::ChannelIsArchived);

    let cases = [
        (
            "/alerts",
            "telegram:-1001",
            "Telegram 400: Bad Request: chat not found (check chat_id, and that the bot was added to the chat)",
        ),
        (
            "/alerts/blocked",
            "telegram:2002",
            "Telegram 403: Forbidden: bot was blocked by the user (the user blocked the bot)",
        ),
        (
            "/alerts/slack-gone",
            "slack:ops",
            "Slack 404: channel_not_found (the webhook's channel was deleted)",
        ),
        (
            "/alerts/slack-archived",
            "slack:archive",
            "Slack 410: channel_is_archived (the webhook's channel is archived)",
        ),
    ];
    for (path, destination, reason) in cases {
        let (status, body) = rx.post(path, &firing(2)).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(
            body,
            json!({
                "error": "delivery failed for now; retry later",
                "destination": destination,
                "reason": reason,
            })
        );
    }
    assert_eq!(
        tg.requests_for("sendMessage").len(),
        2,
        "one request per chat"
    );
    assert_eq!(slack_gone.requests().len(), 1);
    assert_eq!(slack_archived.requests().len(), 1);

    // What no retry can fix: Telegram refuses the HTML we rendered.
    tg.push_fault_for_chat(
        3003,
        Fault::Error {
            code: 400,
            description:
                "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0"
                    .into(),
        },
    );
    let (status, body) = rx.post("/alerts/buggy", &firing(1)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"],
        "delivery failed permanently; not worth retrying"
    );

    let m = rx.metrics().await;
    for destination in [
        "telegram:-1001",
        "telegram:2002",
        "slack:ops",
        "slack:archive",
    ] {
        let series = format!(
            "vpsmon_receiver_notifications_total{{destination=\"{destination}\",result=\"refused\"}}"
        );
        assert_eq!(metric(&m, &series), Some(1.0), "{series} in\n{m}");
        let gauge =
            format!("vpsmon_receiver_destination_config_error{{destination=\"{destination}\"}}");
        assert_eq!(metric(&m, &gauge), Some(1.0), "{gauge} in\n{m}");
    }
    assert_eq!(
        metric(
            &m,
            "vpsmon_receiver_notifications_total{destination=\"telegram:3003\",result=\"failed_permanent\"}"
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "vpsmon_receiver_webhooks_received_total{code=\"503\"}"),
        Some(4.0)
    );
    assert_eq!(
        metric(&m, "vpsmon_receiver_webhooks_received_total{code=\"422\"}"),
        Some(1.0)
    );

    let health = rx
        .http
        .get(format!("{}/healthz", rx.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "liveness stays up");
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    let failing: Vec<(String, String, String)> = health["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["destination"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut expected: Vec<(String, String, String)> = cases
        .iter()
        .map(|(_, d, r)| (d.to_string(), "configuration".to_string(), r.to_string()))
        .collect();
    expected.push((
        "telegram:3003".into(),
        "bug".into(),
        "Telegram 400: Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0 (the rendered HTML was refused: a receiver bug)".into(),
    ));
    expected.sort();
    assert_eq!(failing, expected, "{health}");

    // The operator fixes the Slack channel: the destination leaves /healthz and the gauge.
    let (status, body) = rx.post("/alerts/slack-gone", &firing(2)).await;
    assert_eq!(status, 200, "{body}");
    let m = rx.metrics().await;
    assert_eq!(
        metric(
            &m,
            "vpsmon_receiver_destination_config_error{destination=\"slack:ops\"}"
        ),
        Some(0.0),
        "{m}"
    );
    let health: Value = rx
        .http
        .get(format!("{}/healthz", rx.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!health.to_string().contains("slack:ops"), "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_429_and_5xx_are_retried_within_the_deadline() {
    let slack = FakeSlack::start().await;
    let yaml = "delivery_deadline: 20s\ndefault_route:\n  - slack: {}\n";
    let rx = Receiver::start(yaml, &[("SLACK_WEBHOOK_URL", slack.webhook_url())]).await;
    slack.push_fault(SlackFault::ServerError(500));
    slack.push_fault(SlackFault::RateLimited {
        retry_after_secs: 2,
    });

    let (status, body) = rx.post("/alerts", &firing(2)).await;
    assert_eq!(status, 200, "{body}");
    let requests = slack.requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 429, 200]
    );
    let waited = requests[2].at - requests[1].at;
    assert!(
        waited >= Duration::from_secs(2),
        "retried {waited:?} after a Retry-After: 2"
    );
    let posts = slack.posts();
    assert_eq!(posts.len(), 1);
    let blocks = posts[0].body.to_string();
    assert_each_once(&marks([blocks.as_str()]), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_recovers_gets_the_rest_and_the_others_nothing_twice() {
    let tg = FakeTelegram::start().await;
    let slack = FakeSlack::start().await;
    let yaml =
        "delivery_deadline: 2s\ndefault_route:\n  - telegram: { chat_id: 31337 }\n  - slack: {}\n";
    let mut env = telegram_env(&tg);
    env.push(("SLACK_WEBHOOK_URL", slack.webhook_url()));
    let rx = Receiver::start(yaml, &env).await;
    slack.fail_until(Duration::from_secs(3600), SlackFault::ServerError(503));

    let (status, body) = rx.post("/alerts", &firing(2)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["destination"], "slack:default");
    assert_eq!(tg.messages().len(), 1, "Telegram got it at once");

    slack.clear_faults();
    let (status, body) = rx.post("/alerts", &firing(2)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(tg.messages().len(), 1, "Telegram did not get it twice");
    assert_eq!(slack.posts().len(), 1);
}

/// The binary, run with debug logging, through 5xx, 429, refusals and a dead endpoint: neither
/// its log nor its answers ever contain the bot token or the Slack webhook's secret path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs_or_the_answers() {
    let token = "987654321:AAH-super-secret-token-do-not-leak";
    let tg = FakeTelegram::start_with_token(token).await;
    let slack = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A webhook on a port where nothing listens: a connection error, whose text names the URL
    // unless the receiver strips it.
    let dead = format!(
        "http://127.0.0.1:{}/services/T0DEAD000/B0DEAD000/deadSecretPathValue123",
        free_port()
    );
    let dead_file = dir.path().join("dead.url");
    std::fs::write(&dead_file, &dead).unwrap();
    let config = dir.path().join("receiver.yml");
    std::fs::write(
        &config,
        format!(
            "delivery_deadline: 6s
default_route:
  - telegram: {{ chat_id: 777 }}
  - slack: {{}}
routes:
  refused:
    - telegram: {{ chat_id: 888 }}
  dead:
    - slack: {{ name: dead, webhook_url_file: {} }}
",
            dead_file.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vpsmon-receiver"));
    cmd.arg("--config")
        .arg(&config)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--webhook-no-auth")
        .env("RUST_LOG", "debug")
        .env("BOT_TOKEN", token)
        .env("TELEGRAM_API_URL", tg.url())
        .env("SLACK_WEBHOOK_URL", slack.webhook_url());
    let mut proc = Proc::spawn("vpsmon-receiver", cmd, &dir.path().join("receiver.log")).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_http_ok(&mut proc, &format!("{url}/healthz"), WAIT)
        .await
        .unwrap();

    tg.push_fault(Fault::BadGatewayHtml);
    tg.push_fault(Fault::TooManyRequests { retry_after: 1 });
    slack.push_fault(SlackFault::ServerError(500));
    tg.forget_chat(888);
    let http = reqwest::Client::new();
    let mut answers = String::new();
    for (path, expected) in [
        ("/alerts", 200),
        ("/alerts/refused", 503),
        ("/alerts/dead", 503),
    ] {
        let resp = http
            .post(format!("{url}{path}"))
            .json(&firing(2))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, expected, "{path}: {body}");
        answers.push_str(&body);
    }
    answers.push_str(
        &http
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    drop(proc);
    let log = std::fs::read_to_string(dir.path().join("receiver.log")).unwrap();

    // The failures did happen and were logged: the test cannot pass on an empty log.
    for expected in [
        "Telegram 502",
        "rate limited",
        "Slack 500",
        "chat not found",
        "Slack: cannot connect",
    ] {
        assert!(
            log.contains(expected) || answers.contains(expected),
            "{expected:?} missing from the log and answers:\n{log}\n{answers}"
        );
    }
    let slack_secret = slack.webhook_url();
    let slack_secret = slack_secret.split("/services/").nth(1).unwrap();
    for secret in [
        token,
        "super-secret-token",
        slack_secret,
        "deadSecretPathValue123",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
        assert!(
            !answers.contains(secret),
            "{secret:?} leaked into an answer:\n{answers}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The generic webhook (ntfy, Gotify, Discord, …): the same guarantees as Slack's.

/// A webhook destination to `hook`, as receiver.yml names it, with `extra` keys added.
fn webhook_yaml(hook: &FakeWebhook, deadline: &str, extra: &str) -> String {
    format!(
        "delivery_deadline: {deadline}\ndefault_route:\n  - webhook:\n      name: ntfy\n      url: {}\n{extra}",
        hook.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_gets_the_configured_method_headers_and_body() {
    let hook = FakeWebhook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("ntfy.auth");
    std::fs::write(&token, "Bearer tk_0123456789abcdef\n").unwrap();
    hook.require_header("authorization", "Bearer tk_0123456789abcdef");
    let extra = format!(
        "      method: PUT\n      headers: {{ Tags: warning, X-Source: vpsmon }}\n      header_files: {{ Authorization: {} }}\n      content_type: application/json\n      body: '{{\"title\": \"{{{{ title }}}}\", \"message\": \"{{{{ text }}}}\", \"n\": {{{{ count }}}}}}'\n",
        token.display()
    );
    let rx = Receiver::start(&webhook_yaml(&hook, "10s", &extra), &[]).await;

    let (status, body) = rx.post("/alerts", &firing(1)).await;
    assert_eq!(status, 200, "{body}");
    let got = hook.wait_for_messages(1, WAIT).await;
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(r.path, testkit::webhook::TOPIC_PATH);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("tags"), Some("warning"));
    assert_eq!(r.header("x-source"), Some("vpsmon"));
    let sent: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        sent,
        json!({
            "title": "FIRING: DiskFull",
            "message": "⚠️ FIRING DiskFull on web-0 (warning)\nmark-0000-end\nStarted: 2026-11-21 10:00:00 UTC\nhttp://prometheus:9090/graph?g0.expr=disk",
            "n": 1
        })
    );

    // The resolved notification says so, in the same shape.
    let resolved = notification("resolved", vec![alert(0, "resolved")]);
    let (status, body) = rx.post("/alerts", &resolved).await;
    assert_eq!(status, 200, "{body}");
    let got = hook.wait_for_messages(2, WAIT).await;
    let sent: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(sent["title"], "RESOLVED: DiskFull");
    assert!(
        sent["message"]
            .as_str()
            .unwrap()
            .starts_with("✅ RESOLVED DiskFull on web-0 (warning)\nmark-0000-end\n"),
        "{sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_webhook_notification_is_split_and_each_alert_sent_once() {
    let hook = FakeWebhook::start().await;
    let rx = Receiver::start(&webhook_yaml(&hook, "30s", "      max_length: 300\n"), &[]).await;

    let (status, body) = rx.post("/alerts", &firing(5)).await;
    assert_eq!(status, 200, "{body}");
    let got = hook.messages();
    assert_eq!(got.len(), 3, "two alerts a message: {got:#?}");
    for m in &got {
        assert!(
            m.body.chars().count() <= 300,
            "{} chars",
            m.body.chars().count()
        );
    }
    assert_each_once(&marks(got.iter().map(|m| m.body.as_str())), 5);
    // One message a second per endpoint.
    for pair in got.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(900),
            "{gap:?} between messages"
        );
    }
    assert_eq!(
        metric(
            &rx.metrics().await,
            r#"vpsmon_receiver_messages_split_total{integration="webhook"}"#
        ),
        Some(2.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_429_and_5xx_are_retried_within_the_deadline() {
    let hook = FakeWebhook::start().await;
    let rx = Receiver::start(&webhook_yaml(&hook, "20s", ""), &[]).await;
    hook.push_fault(WebhookFault::ServerError(500));
    hook.push_fault(WebhookFault::RateLimited {
        retry_after_secs: 2,
    });

    let (status, body) = rx.post("/alerts", &firing(2)).await;
    assert_eq!(status, 200, "{body}");
    let requests = hook.requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 429, 200]
    );
    let waited = requests[2].at - requests[1].at;
    assert!(
        waited >= Duration::from_secs(2),
        "retried {waited:?} after a Retry-After: 2"
    );
    assert_each_once(&marks([requests[2].body.as_str()]), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_outage_gives_503_and_the_retries_deliver_each_alert_once() {
    let hook = FakeWebhook::start().await;
    let rx = Receiver::start(&webhook_yaml(&hook, "2s", ""), &[]).await;
    hook.fail_until(Duration::from_secs(3600), WebhookFault::ServerError(503));

    let (status, body) = rx.post("/alerts", &firing(2)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["destination"], "webhook:ntfy");
    assert!(hook.messages().is_empty());

    // Alertmanager's retry after the endpoint recovered, then a second Alertmanager's copy.
    hook.clear_faults();
    let (status, body) = rx.post("/alerts", &firing(2)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = rx.post("/alerts", &firing(2)).await;
    assert_eq!(status, 200, "{body}");
    let got = hook.messages();
    assert_eq!(got.len(), 1, "delivered once: {got:#?}");
    assert_each_once(&marks(got.iter().map(|m| m.body.as_str())), 2);
}

/// The binary, with debug logging, through a 5xx, a refusal and a dead endpoint: neither its log,
/// its answers nor `--print-config` contain the URL's key or the header read from a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_secrets_never_reach_the_logs_or_the_answers() {
    let hook = FakeWebhook::start().await;
    hook.require_header("authorization", "Bearer tk_webhookSecretToken42");
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("ntfy.auth");
    std::fs::write(&auth, "Bearer tk_webhookSecretToken42").unwrap();
    let wrong = dir.path().join("wrong.auth");
    std::fs::write(&wrong, "Bearer tk_wrongSecretToken77").unwrap();
    // A URL whose path is the key (Discord, Bark), where nothing listens.
    let dead = format!(
        "http://127.0.0.1:{}/api/webhooks/1/deadWebhookKeyValue123",
        free_port()
    );
    let dead_file = dir.path().join("dead.url");
    std::fs::write(&dead_file, &dead).unwrap();
    let config = dir.path().join("receiver.yml");
    std::fs::write(
        &config,
        format!(
            "delivery_deadline: 4s
default_route:
  - webhook: {{ name: ntfy, url: '{url}', header_files: {{ Authorization: {auth} }} }}
routes:
  refused:
    - webhook: {{ name: wrong, url: '{url}', header_files: {{ Authorization: {wrong} }} }}
  dead:
    - webhook: {{ name: dead, url_file: {dead} }}
",
            url = hook.url(),
            auth = auth.display(),
            wrong = wrong.display(),
            dead = dead_file.display(),
        ),
    )
    .unwrap();
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_vpsmon-receiver"))
        .arg("--config")
        .arg(&config)
        .arg("--webhook-no-auth")
        .arg("--print-config")
        .output()
        .unwrap();
    assert!(printed.status.success());
    let mut answers = String::from_utf8_lossy(&printed.stdout).into_owned();
    assert!(answers.contains("<redacted>"), "{answers}");
    let port = free_port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vpsmon-receiver"));
    cmd.arg("--config")
        .arg(&config)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--webhook-no-auth")
        .env("RUST_LOG", "debug");
    let mut proc = Proc::spawn("vpsmon-receiver", cmd, &dir.path().join("receiver.log")).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_http_ok(&mut proc, &format!("{url}/healthz"), WAIT)
        .await
        .unwrap();

    hook.push_fault(WebhookFault::ServerError(500));
    let http = reqwest::Client::new();
    for (path, expected) in [
        ("/alerts", 200),
        ("/alerts/refused", 503),
        ("/alerts/dead", 503),
    ] {
        let resp = http
            .post(format!("{url}{path}"))
            .json(&firing(2))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, expected, "{path}: {body}");
        answers.push_str(&body);
    }
    for path in ["/metrics", "/healthz"] {
        answers.push_str(
            &http
                .get(format!("{url}{path}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    drop(proc);
    let log = std::fs::read_to_string(dir.path().join("receiver.log")).unwrap();

    // The failures did happen and were logged: the test cannot pass on an empty log.
    for expected in ["webhook 500", "webhook 403", "webhook: cannot connect"] {
        assert!(
            log.contains(expected) || answers.contains(expected),
            "{expected:?} missing from the log and answers:\n{log}\n{answers}"
        );
    }
    assert_eq!(hook.messages().len(), 1, "the good one got through");
    for secret in [
        "tk_webhookSecretToken42",
        "tk_wrongSecretToken77",
        "deadWebhookKeyValue123",
    ] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log:\n{log}"
        );
        assert!(
            !answers.contains(secret),
            "{secret:?} leaked into an answer:\n{answers}"
        );
    }
}

/// Issue 18's storm: one group of 400 alerts, each with a 150-character summary and a
/// 300-character description. `i % 4 == 0` is an AgentDown (critical), the rest DiskFull
/// (warning); alert `i` is on agent `web-i` and its summary carries `mark-NNNN-end`.
fn storm(status: &str) -> Value {
    let alerts = (0..400)
        .map(|i| {
            let mut a = alert(i, status);
            if i % 4 == 0 {
                a["labels"]["alertname"] = json!("AgentDown");
                a["labels"]["severity"] = json!("critical");
            }
            let summary = format!("mark-{i:04}-end {}", "s".repeat(150 - 14));
            a["annotations"] = json!({"summary": summary, "description": "d".repeat(300)});
            a
        })
        .collect();
    notification(status, alerts)
}

/// Before, the storm was 45 messages to a group limited to 20 a minute: 503 at every deadline
/// and 190 of 400 alerts in the chat after 166 s. Now it is one summary and one document,
/// delivered within the first webhook's (default 10 s) deadline.
async fn a_storm_is_one_summary_and_one_document(status: &str, headline: &str) {
    let tg = FakeTelegram::start().await;
    tg.enforce_rate_limits(true);
    let yaml = format!(
        "{}dashboard: {{ url: \"https://mon.example.com/\" }}\n",
        telegram_yaml(-100777, "10s")
    );
    let rx = Receiver::start(&yaml, &telegram_env(&tg)).await;

    let (code, body) = rx.post("/alerts", &storm(status)).await;
    assert_eq!(code, 200, "answered on the first post: {body}");
    let sends = sends_all_accepted(&tg);
    let (messages, documents) = (tg.messages(), tg.documents());
    assert!(messages.len() + documents.len() <= 3, "{sends:?}");
    assert_eq!(messages.len(), 1);
    assert_eq!(documents.len(), 1);

    assert_eq!(
        messages[0].visible_text,
        format!(
            "{headline} · digest: every alert is in the attached file\n\n\
             DiskFull warning: 300\nAgentDown critical: 100\n\n\
             400 agents: web-0, web-1, web-2, web-3, web-4 and 395 more\n\n\
             Firing alerts on the dashboard"
        )
    );
    assert!(
        messages[0].text.ends_with(
            "<a href=\"https://mon.example.com/silences\">Firing alerts on the dashboard</a>"
        ),
        "{}",
        messages[0].text
    );
    assert_eq!(
        messages[0].reply_markup, None,
        "no silence buttons on a digest"
    );

    let doc = &documents[0];
    assert!(
        doc.message_id > messages[0].message_id,
        "the summary comes first"
    );
    assert_eq!(
        doc.visible_caption.as_deref(),
        Some("All 400 alerts: labels, annotations and times.")
    );
    let name = doc.filename.as_deref().unwrap();
    assert!(
        name.starts_with(&format!("alerts-{status}-")) && name.ends_with(".txt"),
        "{name}"
    );
    assert_eq!(
        doc.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let text = String::from_utf8(doc.bytes.clone()).unwrap();
    assert_each_once(&marks([text.as_str()]), 400);
    let upper = status.to_ascii_uppercase();
    for (i, a) in storm(status)["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let entry = format!(
            "\n#{} {upper} {}\n  started: 2026-11-21 10:00:00 UTC\n",
            i + 1,
            a["labels"]["alertname"].as_str().unwrap()
        );
        assert!(text.contains(&entry), "alert {i} missing: {entry}");
        let labels = format!(
            "  labels: {{agent=\"web-{i}\", alertname=\"{}\", severity=\"{}\"}}\n",
            a["labels"]["alertname"].as_str().unwrap(),
            a["labels"]["severity"].as_str().unwrap()
        );
        assert!(
            text.contains(&labels),
            "alert {i}'s labels missing: {labels}"
        );
    }
    assert_eq!(
        text.matches(&format!("\n    description: {}\n", "d".repeat(300)))
            .count(),
        400
    );
    assert_eq!(
        text.matches("  ends: 2026-11-21 10:05:00 UTC\n").count(),
        if status == "resolved" { 400 } else { 0 }
    );

    // Alertmanager's retry of the same notification sends nothing again.
    let (code, body) = rx.post("/alerts", &storm(status)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!((tg.messages().len(), tg.documents().len()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_storm_to_a_group_is_a_digest_within_the_first_deadline() {
    a_storm_is_one_summary_and_one_document("firing", "🔥 400 firing").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_storm_to_a_group_is_a_digest_too() {
    a_storm_is_one_summary_and_one_document("resolved", "✅ 400 resolved").await;
}

/// `digest_threshold` is the most alerts a notification may have and still be shown alert by
/// alert; without a dashboard URL the summary has no link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_threshold_is_configurable() {
    let tg = FakeTelegram::start().await;
    let yaml = format!(
        "{}telegram: {{ digest_threshold: 3 }}\n",
        telegram_yaml(4242, "10s")
    );
    let rx = Receiver::start(&yaml, &telegram_env(&tg)).await;
    let (code, body) = rx.post("/alerts", &firing(3)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!((tg.messages().len(), tg.documents().len()), (1, 0));
    assert!(
        tg.messages()[0]
            .visible_text
            .starts_with("🔥 3 firing\n\n⚠️ FIRING · DiskFull")
    );

    let four = notification("firing", (10..14).map(|i| alert(i, "firing")).collect());
    let (code, body) = rx.post("/alerts", &four).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(tg.documents().len(), 1);
    assert_eq!(
        tg.messages()[1].visible_text,
        "🔥 4 firing · digest: every alert is in the attached file\n\n\
         DiskFull warning: 4\n\n\
         4 agents: web-10, web-11, web-12, web-13"
    );
    let text = String::from_utf8(tg.documents()[0].bytes.clone()).unwrap();
    let want: BTreeMap<String, usize> = (10..14).map(|i| (format!("mark-{i:04}-end"), 1)).collect();
    assert_eq!(marks([text.as_str()]), want);
}

/// The console prints a storm as a summary line and one compact line per alert (no description,
/// no fingerprint): 401 lines for 400 alerts, each alert exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_on_the_console_is_a_summary_line_and_a_compact_line_per_alert() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("console.log");
    let yaml = format!(
        "default_route: [console]\nconsole_file: {}\n",
        file.display()
    );
    let rx = Receiver::start(&yaml, &[]).await;
    for status in ["firing", "resolved"] {
        let (code, body) = rx.post("/alerts", &storm(status)).await;
        assert_eq!(code, 200, "{body}");
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 * 401);
    let (firing, resolved) = lines.split_at(401);
    let agents = "400 agents: web-0, web-1, web-2, web-3, web-4 and 395 more";
    assert_eq!(
        firing[0],
        format!(
            "DIGEST 400 alerts (🔥 400 firing): DiskFull warning 300, AgentDown critical 100; {agents}"
        )
    );
    let s = "s".repeat(136);
    assert_eq!(
        firing[1],
        format!(
            "FIRING critical AgentDown agent=\"web-0\" since 2026-11-21 10:00:00 UTC: mark-0000-end {s}"
        )
    );
    assert_eq!(
        resolved[0],
        format!(
            "DIGEST 400 alerts (✅ 400 resolved): DiskFull warning 300, AgentDown critical 100; {agents}"
        )
    );
    assert_eq!(
        resolved[2],
        format!(
            "RESOLVED warning DiskFull agent=\"web-1\" 2026-11-21 10:00:00 UTC – 2026-11-21 10:05:00 UTC: mark-0001-end {s}"
        )
    );
    assert_each_once(&marks(firing.iter().copied()), 400);
    assert_each_once(&marks(resolved.iter().copied()), 400);
}

/// Slack gets the storm as a summary section and one compact line per alert: 400 alerts in one
/// post (Slack's 50 blocks of 3000 characters hold them), each alert exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_on_slack_is_a_summary_and_a_compact_line_per_alert_in_one_post() {
    let slack = FakeSlack::start().await;
    slack.enforce_rate_limit(true);
    let yaml = "default_route:\n  - slack: {}\n";
    let rx = Receiver::start(yaml, &[("SLACK_WEBHOOK_URL", slack.webhook_url())]).await;
    let (code, body) = rx.post("/alerts", &storm("firing")).await;
    assert_eq!(code, 200, "{body}");
    assert!(slack.requests().iter().all(|r| r.status == 200));
    let posts = slack.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].visible_text().as_deref(),
        Some("🔥 400 firing: AgentDown, DiskFull (digest)")
    );
    let blocks = posts[0].body["blocks"].as_array().unwrap();
    assert_eq!(
        blocks[0]["text"]["text"],
        "*🔥 400 firing* · digest, one line per alert\n*DiskFull* warning: 300\n\
         *AgentDown* critical: 100\n*400 agents:* web-0, web-1, web-2, web-3, web-4 and 395 more"
    );
    let s = "s".repeat(136);
    assert!(
        blocks[1]["text"]["text"].as_str().unwrap().starts_with(&format!(
            "FIRING critical AgentDown agent=\"web-0\" since 2026-11-21 10:00:00 UTC: mark-0000-end {s}\n\
             FIRING warning DiskFull agent=\"web-1\" since"
        )),
        "{}",
        blocks[1]
    );
    let text = posts[0].body.to_string();
    assert_each_once(&marks([text.as_str()]), 400);
}

/// Agent `web-i` down (or back), as Alertmanager sends it with gen-config's grouping by
/// `[alertname, agent]`: a group, and a notification, of its own.
fn agent_down(i: usize, status: &str) -> Value {
    let mut a = alert(i, status);
    a["labels"]["alertname"] = json!("AgentDown");
    a["labels"]["severity"] = json!("critical");
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{agent=\"web-{i}\", alertname=\"AgentDown\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "vpsmon",
        "groupLabels": {"agent": format!("web-{i}"), "alertname": "AgentDown"},
        "commonLabels": a["labels"].clone(),
        "commonAnnotations": a["annotations"].clone(),
        "externalURL": "http://alertmanager:9093",
        "alerts": [a],
    })
}

/// How agent `web-i`'s notification reads when it goes alone, as before issue 18.
fn alone(i: usize, status: &str) -> String {
    let mark = if status == "firing" { "🔥" } else { "✅" };
    format!(
        "{mark} {} · AgentDown\nAgent: web-{i}\nSeverity: critical\nSummary: mark-{i:04}-end\n\
         Started: 2026-11-21 10:00:00 UTC\n",
        status.to_ascii_uppercase()
    )
}

/// Issue 18's benchmark: 50 of 500 agents stop at once, which is 50 notifications of one
/// AgentDown each; one message each, a group chat (20 a minute) could not take them in time.
/// Those waiting for the chat's next send slot go out in it as one digest: at most 3 messages
/// and the document, every agent exactly once, every webhook answered 200 on its first post.
async fn notifications_waiting_together_are_one_digest(status: &str) {
    let tg = FakeTelegram::start().await;
    tg.enforce_rate_limits(true);
    let rx = Receiver::start(&telegram_yaml(-100888, "10s"), &telegram_env(&tg)).await;
    let storm: Vec<Value> = (0..50).map(|i| agent_down(i, status)).collect();

    for (i, (code, body)) in rx.post_all("/alerts", &storm).await.iter().enumerate() {
        assert_eq!(*code, 200, "web-{i}, on its first post: {body}");
    }
    let sends = sends_all_accepted(&tg);
    let (messages, documents) = (tg.messages(), tg.documents());
    assert!(messages.len() <= 3, "{messages:#?}");
    assert_eq!(documents.len(), 1, "{sends:?}");

    // The digest's summary is the message just before its document; what went before the
    // others were waiting went alone, as it always did.
    let doc = String::from_utf8(documents[0].bytes.clone()).unwrap();
    let carried = marks([doc.as_str()]).len();
    let headline = if status == "firing" {
        format!("🔥 {carried} firing")
    } else {
        format!("✅ {carried} resolved")
    };
    let (summary, before) = messages.split_last().unwrap();
    assert!(documents[0].message_id > summary.message_id);
    assert!(
        summary.visible_text.starts_with(&format!(
            "{headline} · digest: every alert is in the attached file\n\n\
             AgentDown critical: {carried}\n\n{carried} agents: web-"
        )) && summary
            .visible_text
            .ends_with(&format!(" and {} more", carried - 5)),
        "{}",
        summary.visible_text
    );
    for m in before {
        let agent = m.visible_text.split("Agent: web-").nth(1).unwrap();
        let i: usize = agent[..agent.find('\n').unwrap()].parse().unwrap();
        assert!(
            m.visible_text.starts_with(&alone(i, status)),
            "{}",
            m.visible_text
        );
    }
    assert!(
        doc.starts_with(&format!(
            "vpsmon alert digest: {headline} ({carried} alerts)\nreceiver: vpsmon\n\
             group: {{alertname=\"AgentDown\"}}\n"
        )),
        "what the groups share heads the document: {doc}"
    );
    let chat = before
        .iter()
        .map(|m| m.visible_text.as_str())
        .chain([doc.as_str()]);
    assert_each_once(&marks(chat), 50);

    // Alertmanager's retries of them all send nothing again.
    for (code, body) in rx.post_all("/alerts", &storm).await {
        assert_eq!(code, 200, "{body}");
    }
    assert_eq!(
        (tg.messages().len(), tg.documents().len()),
        (messages.len(), 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_agents_down_at_once_reach_a_group_as_one_digest() {
    notifications_waiting_together_are_one_digest("firing").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_agents_back_at_once_reach_a_group_as_one_digest() {
    notifications_waiting_together_are_one_digest("resolved").await;
}

/// Waiting notifications that hold no more alerts than the threshold between them still go
/// one by one, each with its own message (and its own silence buttons).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_notifications_at_once_still_go_one_by_one() {
    let tg = FakeTelegram::start().await;
    tg.enforce_rate_limits(true);
    let rx = Receiver::start(&telegram_yaml(-100888, "10s"), &telegram_env(&tg)).await;
    let few: Vec<Value> = (0..5).map(|i| agent_down(i, "firing")).collect();
    for (code, body) in rx.post_all("/alerts", &few).await {
        assert_eq!(code, 200, "{body}");
    }
    let mut agents: Vec<usize> = tg
        .messages()
        .iter()
        .map(|m| {
            (0..5)
                .find(|&i| m.visible_text.starts_with(&alone(i, "firing")))
                .unwrap_or_else(|| panic!("not one alert alone: {}", m.visible_text))
        })
        .collect();
    agents.sort();
    assert_eq!(agents, [0, 1, 2, 3, 4]);
    assert!(tg.documents().is_empty());
}

/// A storm lasts while its backlog does: notifications that queue up while a digest is still
/// being sent go out together at the next slot, even fewer than the threshold (here in full,
/// as one message), and the storm ends with the first turn that finds one waiting alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tail_of_a_storm_goes_out_together_and_then_the_storm_ends() {
    let tg = FakeTelegram::start().await;
    let mut env = telegram_env(&tg);
    env.push(("TELEGRAM_DIGEST_THRESHOLD", "3".into()));
    let rx = Receiver::start(&telegram_yaml(-100888, "20s"), &env).await;
    // The digest's document takes 3 s to be answered, so the tail queues up meanwhile.
    tg.push_fault_for("sendDocument", Fault::SlowSuccess(Duration::from_secs(3)));
    let storm: Vec<Value> = (0..10).map(|i| agent_down(i, "firing")).collect();
    let tail: Vec<Value> = (10..12).map(|i| agent_down(i, "firing")).collect();
    let during = async {
        let started = Instant::now();
        while !tg
            .messages()
            .iter()
            .any(|m| m.visible_text.contains("· digest:"))
        {
            assert!(started.elapsed() < WAIT, "no digest");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rx.post_all("/alerts", &tail).await
    };
    let (first, second) = tokio::join!(rx.post_all("/alerts", &storm), during);
    for (code, body) in first.into_iter().chain(second) {
        assert_eq!(code, 200, "{body}");
    }
    let last = tg.messages().pop().unwrap();
    assert!(
        last.visible_text.starts_with("🔥 2 firing\n\n")
            || last.visible_text.starts_with("🔥 3 firing\n\n"),
        "{}",
        last.visible_text
    );
    for i in [10, 11] {
        assert!(
            last.visible_text.contains(&format!("Agent: web-{i}\n")),
            "{}",
            last.visible_text
        );
    }
    assert_eq!(tg.documents().len(), 1);

    let (code, body) = rx.post("/alerts", &agent_down(12, "firing")).await;
    assert_eq!(code, 200, "{body}");
    let last = tg.messages().pop().unwrap();
    assert!(
        last.visible_text.starts_with(&alone(12, "firing")),
        "{}",
        last.visible_text
    );
}

/// A storm that trickles in never has many notifications waiting at once: the alerts the chat
/// got over the last minute count toward the threshold, so two waiting right after three went
/// out one by one are carried together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_sent_in_the_last_minute_count_toward_a_storm() {
    let tg = FakeTelegram::start().await;
    let mut env = telegram_env(&tg);
    env.push(("TELEGRAM_DIGEST_THRESHOLD", "3".into()));
    let rx = Receiver::start(&telegram_yaml(-100888, "10s"), &env).await;
    for i in 0..3 {
        let (code, body) = rx.post("/alerts", &agent_down(i, "firing")).await;
        assert_eq!(code, 200, "{body}");
    }
    let two: Vec<Value> = (3..5).map(|i| agent_down(i, "firing")).collect();
    for (code, body) in rx.post_all("/alerts", &two).await {
        assert_eq!(code, 200, "{body}");
    }
    let messages = tg.messages();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    for (i, m) in messages[..3].iter().enumerate() {
        assert!(
            m.visible_text.starts_with(&alone(i, "firing")),
            "{}",
            m.visible_text
        );
    }
    let last = &messages[3].visible_text;
    assert!(last.starts_with("🔥 2 firing\n\n"), "{last}");
    for i in [3, 4] {
        assert!(last.contains(&format!("Agent: web-{i}\n")), "{last}");
    }
    assert!(tg.documents().is_empty());
}

/// Two notifications a minute apart never wait together: two ordinary messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_a_minute_apart_are_two_ordinary_messages() {
    let tg = FakeTelegram::start().await;
    tg.enforce_rate_limits(true);
    let rx = Receiver::start(&telegram_yaml(-100888, "10s"), &telegram_env(&tg)).await;
    let (code, body) = rx.post("/alerts", &agent_down(0, "firing")).await;
    assert_eq!(code, 200, "{body}");
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (code, body) = rx.post("/alerts", &agent_down(1, "firing")).await;
    assert_eq!(code, 200, "{body}");
    let messages = tg.messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    for (i, m) in messages.iter().enumerate() {
        assert!(
            m.visible_text.starts_with(&alone(i, "firing")),
            "{}",
            m.visible_text
        );
    }
    assert!(tg.documents().is_empty());
}

/// A digest that fails fails every notification it carried: each is answered 503, and
/// Alertmanager's retries deliver them all, each agent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_digest_fails_every_notification_it_carried() {
    let tg = FakeTelegram::start().await;
    let rx = Receiver::start(&telegram_yaml(-100888, "10s"), &telegram_env(&tg)).await;
    tg.push_fault_for(
        "sendDocument",
        Fault::Error {
            code: 400,
            description: "Bad Request: chat not found".into(),
        },
    );
    let storm: Vec<Value> = (0..50).map(|i| agent_down(i, "firing")).collect();
    let answers = rx.post_all("/alerts", &storm).await;
    let sent_alone = marks(alone_texts(&tg).iter().map(String::as_str));
    for (i, (code, body)) in answers.iter().enumerate() {
        if sent_alone.contains_key(&format!("mark-{i:04}-end")) {
            assert_eq!(*code, 200, "{body}");
        } else {
            assert_eq!(*code, 503, "web-{i} was in the failed digest: {body}");
            assert_eq!(
                body["reason"],
                "Telegram 400: Bad Request: chat not found (check chat_id, and that the bot was added to the chat) (1 of 2 messages delivered before)"
            );
        }
    }
    assert!(sent_alone.len() < 50, "nothing was carried: {sent_alone:?}");
    assert!(tg.documents().is_empty());

    for (code, body) in rx.post_all("/alerts", &storm).await {
        assert_eq!(code, 200, "{body}");
    }
    let documents = tg.documents();
    assert_eq!(documents.len(), 1);
    let doc = String::from_utf8(documents[0].bytes.clone()).unwrap();
    let alone = alone_texts(&tg);
    assert_each_once(
        &marks(alone.iter().map(String::as_str).chain([doc.as_str()])),
        50,
    );
}

/// The texts of the messages that are not a digest's summary.
fn alone_texts(tg: &FakeTelegram) -> Vec<String> {
    tg.messages()
        .into_iter()
        .filter(|m| !m.visible_text.contains("· digest:"))
        .map(|m| m.visible_text)
        .collect()
}

/// Slack: the same 50 notifications, at Slack's one post a second, are at most 3 posts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_agents_down_at_once_reach_slack_as_one_digest() {
    let slack = FakeSlack::start().await;
    slack.enforce_rate_limit(true);
    let yaml = "default_route:\n  - slack: {}\n";
    let rx = Receiver::start(yaml, &[("SLACK_WEBHOOK_URL", slack.webhook_url())]).await;
    let storm: Vec<Value> = (0..50).map(|i| agent_down(i, "firing")).collect();
    for (i, (code, body)) in rx.post_all("/alerts", &storm).await.iter().enumerate() {
        assert_eq!(*code, 200, "web-{i}, on its first post: {body}");
    }
    assert!(slack.requests().iter().all(|r| r.status == 200));
    let posts = slack.posts();
    assert!(posts.len() <= 3, "{} posts", posts.len());
    let digests: Vec<_> = posts
        .iter()
        .filter_map(|p| p.visible_text())
        .filter(|t| t.ends_with(": AgentDown (digest)"))
        .collect();
    assert_eq!(digests.len(), 1, "{digests:?}");
    let texts: Vec<String> = posts.iter().map(|p| p.body.to_string()).collect();
    assert_each_once(&marks(texts.iter().map(String::as_str)), 50);
}
