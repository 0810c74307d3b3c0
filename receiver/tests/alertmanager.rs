//! A real Alertmanager (Debian's `prometheus-alertmanager`) sends to the real receiver binary,
//! which delivers to the loopback fake Telegram. Alerts are injected through Alertmanager's API;
//! the tests assert what the chat got, which proves the receiver reads the real payload, and that
//! Alertmanager, the one that retries, never loses an alert: not when Telegram refuses the token
//! or the chat, not a reminder, not a group too large for one webhook.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::procs::{Proc, eventually, free_port, require_binary, wait_http_ok, workspace_bin};
use testkit::telegram::{FakeTelegram, Fault};

const WAIT: Duration = Duration::from_secs(60);

/// The webhook token file in `dir` that the receiver requires and Alertmanager sends.
const TOKEN: &str = "am-webhook-token";
fn token_file(dir: &Path) -> PathBuf {
    dir.join("webhook.token")
}

/// The receiver binary, configured by env alone, as a first-time user would, sending to `chat`;
/// it requires the token in [`token_file`], which it writes.
async fn start_receiver(tg: &FakeTelegram, chat: i64, dir: &Path) -> (Proc, String) {
    start_receiver_cmd(
        Command::new(env!("CARGO_BIN_EXE_vpsmon-receiver")),
        tg,
        chat,
        dir,
    )
    .await
}

/// [`start_receiver`] run by `cmd`, which may wrap the binary and add flags.
async fn start_receiver_cmd(
    mut cmd: Command,
    tg: &FakeTelegram,
    chat: i64,
    dir: &Path,
) -> (Proc, String) {
    std::fs::write(token_file(dir), format!("{TOKEN}\n")).unwrap();
    let rport = free_port();
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{rport}"))
        .env("WEBHOOK_TOKEN_FILE", token_file(dir))
        .env("BOT_TOKEN", tg.token())
        .env("ALERT_CHAT_ID", chat.to_string())
        .env("TELEGRAM_API_URL", tg.url())
        .env_remove("SLACK_WEBHOOK_URL")
        .env_remove("RECEIVER_CONFIG");
    let mut receiver = Proc::spawn("vpsmon-receiver", cmd, &dir.join("receiver.log")).unwrap();
    let receiver_url = format!("http://127.0.0.1:{rport}");
    wait_http_ok(&mut receiver, &format!("{receiver_url}/healthz"), WAIT)
        .await
        .unwrap();
    (receiver, receiver_url)
}

/// Alertmanager on `config`.
async fn start_alertmanager(config: &Path, dir: &Path) -> (Proc, String) {
    let alertmanager = require_binary(
        "ALERTMANAGER_BIN",
        &["prometheus-alertmanager", "alertmanager"],
        "prometheus-alertmanager",
    );
    let amport = free_port();
    let mut cmd = Command::new(&alertmanager);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{amport}"))
        .arg("--cluster.listen-address=");
    let mut am = Proc::spawn("alertmanager", cmd, &dir.join("alertmanager.log")).unwrap();
    let am_url = format!("http://127.0.0.1:{amport}");
    wait_http_ok(&mut am, &format!("{am_url}/-/ready"), WAIT)
        .await
        .unwrap();
    (am, am_url)
}

/// Runs the workspace's `vpsmon-gen-config` (fast profile) for the receiver at `receiver_url`,
/// plus `extra` flags; the alertmanager.yml it wrote.
fn gen_config(dir: &Path, receiver_url: &str, extra: &[&str]) -> PathBuf {
    let out = gen_config_output(dir, receiver_url, extra);
    assert!(
        out.status.success(),
        "gen-config failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("out/alertmanager/alertmanager.yml")
}

fn gen_config_output(dir: &Path, receiver_url: &str, extra: &[&str]) -> std::process::Output {
    let bin = workspace_bin("vpsmon-gen-config");
    assert!(
        bin.is_file(),
        "{} is missing: `cargo build --workspace --bins` first",
        bin.display()
    );
    std::fs::write(dir.join("agents.txt"), "web-1 10.0.0.1:9100\n").unwrap();
    Command::new(bin)
        .arg("--agents")
        .arg(dir.join("agents.txt"))
        .arg("--out-dir")
        .arg(dir.join("out"))
        .args(["--profile", "fast", "--receiver-url"])
        .arg(format!("{receiver_url}/alerts"))
        .arg("--receiver-token-file")
        .arg(token_file(dir))
        .args(extra)
        .output()
        .unwrap()
}

/// Posts alerts to Alertmanager's API as Prometheus would.
async fn post_alerts(http: &reqwest::Client, am_url: &str, alerts: &Value) {
    let resp = http
        .post(format!("{am_url}/api/v2/alerts"))
        .json(alerts)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
}

async fn get_text(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// The value of one exact series in the receiver's /metrics, if present.
async fn metric(http: &reqwest::Client, receiver_url: &str, series: &str) -> Option<f64> {
    get_text(http, &format!("{receiver_url}/metrics"))
        .await
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_notifications_reach_telegram_firing_then_resolved() {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (receiver, receiver_url) = start_receiver(&tg, -100424242, dir.path()).await;

    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:
  receiver: vpsmon
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: vpsmon
    webhook_configs:
      - url: {receiver_url}/alerts
        send_resolved: true
        http_config:
          authorization:
            credentials_file: {}
",
            token_file(dir.path()).display()
        ),
    )
    .unwrap();
    let (_am, am_url) = start_alertmanager(&config, dir.path()).await;

    let http = reqwest::Client::new();
    let started = chrono::Utc::now() - chrono::TimeDelta::seconds(90);
    let alert = |ends_at: Option<chrono::DateTime<chrono::Utc>>| {
        let mut a = json!({
            "labels": {"alertname": "AgentDown", "agent": "web-1", "instance": "10.0.0.1:9100", "severity": "critical"},
            "annotations": {"summary": "web-1 is down", "description": "no scrape for 1m <b>&amp;</b>"},
            "startsAt": started.to_rfc3339(),
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up%3D%3D0",
        });
        if let Some(t) = ends_at {
            a["endsAt"] = json!(t.to_rfc3339());
        }
        json!([a])
    };
    let resp = http
        .post(format!("{am_url}/api/v2/alerts"))
        .json(&alert(None))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);

    let firing = tg.wait_for_messages(1, WAIT).await;
    let text = &firing[0].visible_text;
    assert_eq!(firing[0].chat_id, -100424242);
    assert_eq!(firing[0].parse_mode.as_deref(), Some("HTML"));
    for expected in [
        "FIRING",
        "AgentDown",
        "Agent: web-1",
        "Severity: critical",
        "Summary: web-1 is down",
        // Annotation markup arrives as text, escaped, not as formatting.
        "Description: no scrape for 1m <b>&amp;</b>",
        "Prometheus",
        "Alertmanager",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text:?}");
    }

    // Resolve it: an endsAt in the past.
    let resp = http
        .post(format!("{am_url}/api/v2/alerts"))
        .json(&alert(Some(
            chrono::Utc::now() - chrono::TimeDelta::seconds(1),
        )))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let messages = tg.wait_for_messages(2, WAIT).await;
    let resolved = &messages[1].visible_text;
    for expected in ["RESOLVED", "AgentDown", "Agent: web-1", "lasted"] {
        assert!(
            resolved.contains(expected),
            "{expected:?} not in {resolved:?}"
        );
    }

    // Alertmanager got 200s: its notification succeeded, nothing is retried. (The counter moves
    // when the answer is sent, a moment after the fake recorded the message.)
    let line = "vpsmon_receiver_webhooks_received_total{code=\"200\"} 2";
    let metrics_url = format!("{receiver_url}/metrics");
    let seen = eventually(WAIT, line, || async {
        let text = http
            .get(&metrics_url)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines().any(|l| l == line).then_some(())
    })
    .await;
    assert!(
        seen.is_ok(),
        "{seen:?}\nreceiver log:\n{}",
        receiver.log_text()
    );
    // What a web page open on this host could send, even with the token: refused unread.
    let body = serde_json::to_string(&json!({
        "version": "4", "groupKey": "forged", "status": "firing", "receiver": "vpsmon",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "https://evil.example", "alerts": [{"status": "firing",
        "labels": {"alertname": "Forged"}, "annotations": {}, "startsAt": started.to_rfc3339(),
        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "https://evil.example", "fingerprint": "1"}],
    }))
    .unwrap();
    for (content_type, origin, expected) in [
        ("text/plain", None, 415),
        ("application/json", Some("https://evil.example"), 403),
    ] {
        let mut req = http
            .post(format!("{receiver_url}/alerts"))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body.clone());
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), expected, "{:?}", resp.text().await);
    }

    // Let Alertmanager flush once more: no repeat (repeat_interval is 1h) and no duplicate, and
    // nothing forged.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(tg.messages().len(), 2, "{:?}", tg.messages());
}

/// An alert for Alertmanager's API: firing (no endsAt) from 90 s ago, with `extra` annotations.
fn firing_alert(name: &str, labels: &[(&str, &str)], annotations: &[(&str, String)]) -> Value {
    let mut a = json!({
        "labels": {"alertname": name, "agent": "web-1", "severity": "critical"},
        "annotations": {"summary": format!("mark-{name}-end")},
        "startsAt": (chrono::Utc::now() - chrono::TimeDelta::seconds(90)).to_rfc3339(),
    });
    for (k, v) in labels {
        a["labels"][*k] = json!(v);
    }
    for (k, v) in annotations {
        a["annotations"][*k] = json!(v);
    }
    a
}

/// Telegram refuses the token (401), the chat (403 kicked, 400 chat not found) or answers a
/// proxy's HTML 404: the receiver answers 503, the real Alertmanager keeps retrying, the failure
/// is loud (an ERROR log line naming destination and Telegram's words, a gauge, /healthz), and
/// once the operator fixes it the alert arrives, exactly once. Before, each was a 422 that
/// Alertmanager never retried: the alert was gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_refusals_are_retried_by_alertmanager_until_fixed_and_arrive_once() {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let chat = -100424242;
    let (receiver, receiver_url) = start_receiver(&tg, chat, dir.path()).await;
    let config = gen_config(dir.path(), &receiver_url, &[]);
    let (_am, am_url) = start_alertmanager(&config, dir.path()).await;
    let http = reqwest::Client::new();
    let destination = format!("telegram:{chat}");
    let gauge =
        format!("vpsmon_receiver_destination_config_error{{destination=\"{destination}\"}}");

    let cases = [
        (
            "TokenRevoked",
            Fault::Error {
                code: 401,
                description: "Unauthorized".into(),
            },
            "Telegram 401: Unauthorized (check BOT_TOKEN)",
        ),
        (
            "BotKicked",
            Fault::Forbidden("Forbidden: bot was kicked from the supergroup chat".into()),
            "Telegram 403: Forbidden: bot was kicked from the supergroup chat (the bot was removed from the chat; add it again)",
        ),
        (
            "ChatNotFound",
            Fault::Error {
                code: 400,
                description: "Bad Request: chat not found".into(),
            },
            "Telegram 400: Bad Request: chat not found (check chat_id, and that the bot was added to the chat)",
        ),
        (
            "ProxyPage",
            Fault::HtmlPage(404),
            "Telegram 404 Not Found (not the Bot API's JSON): is TELEGRAM_API_URL right?",
        ),
    ];
    for (k, (name, fault, reason)) in cases.iter().enumerate() {
        let tried = tg.requests_for("sendMessage").len();
        tg.fail_until(Duration::from_secs(3600), fault.clone());
        post_alerts(&http, &am_url, &json!([firing_alert(name, &[], &[])])).await;
        // Alertmanager retries: the refused send arrives again and again.
        tg.wait_for_requests("sendMessage", tried + 3, WAIT).await;
        assert_eq!(tg.messages().len(), k, "nothing got through the fault");

        let health: Value = http
            .get(format!("{receiver_url}/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            health,
            json!({"status": "degraded", "failing": [{
                "destination": destination, "kind": "configuration", "reason": reason,
                "since": health["failing"][0]["since"],
            }]}),
            "{name}"
        );
        assert_eq!(
            metric(&http, &receiver_url, &gauge).await,
            Some(1.0),
            "{name}"
        );
        let log = receiver.log_text();
        assert!(
            log.lines().any(|l| l.contains("ERROR")
                && l.contains("fix its configuration")
                && l.contains(&destination)
                && l.contains(reason)),
            "{name}: no error line naming {destination} and {reason:?}:\n{log}"
        );

        // The operator fixes the token, the chat, the URL: Alertmanager's next retry delivers.
        tg.clear_faults();
        let messages = tg.wait_for_messages(k + 1, WAIT).await;
        assert!(
            messages[k]
                .visible_text
                .contains(&format!("mark-{name}-end")),
            "{}",
            messages[k].visible_text
        );
        let ok = eventually(WAIT, "healthz ok", || async {
            let h = get_text(&http, &format!("{receiver_url}/healthz")).await;
            (h == r#"{"status":"ok"}"#).then_some(())
        })
        .await;
        assert!(ok.is_ok(), "{ok:?}");
        assert_eq!(metric(&http, &receiver_url, &gauge).await, Some(0.0));
    }

    // Let Alertmanager flush a few more times: each alert arrived exactly once.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let texts: Vec<String> = tg.messages().into_iter().map(|m| m.visible_text).collect();
    assert_eq!(texts.len(), cases.len(), "{texts:?}");
    for (name, _, _) in &cases {
        let mark = format!("mark-{name}-end");
        assert_eq!(
            texts.iter().filter(|t| t.contains(&mark)).count(),
            1,
            "{mark} in {texts:?}"
        );
    }
    let refused = metric(
        &http,
        &receiver_url,
        "vpsmon_receiver_webhooks_received_total{code=\"503\"}",
    )
    .await
    .unwrap_or(0.0);
    assert!(
        refused >= 8.0,
        "Alertmanager was answered 503 {refused} times"
    );
    for code in ["400", "422"] {
        let series = format!("vpsmon_receiver_webhooks_received_total{{code=\"{code}\"}}");
        assert_eq!(
            metric(&http, &receiver_url, &series).await,
            None,
            "{series}"
        );
    }
    let log = receiver.log_text();
    let secret = tg.token().split(':').nth(1).unwrap();
    assert!(
        !log.contains(secret),
        "the bot token leaked into the log:\n{log}"
    );
}

/// Telegram is down (502s): after the delivery deadline the receiver prints the alert on its
/// stdout in the console format and logs an error, while Alertmanager keeps getting 503. Once
/// Telegram is back the alert reaches the chat, exactly once: the print was not a delivery.
/// Before, the alert existed only in WARN lines until Telegram came back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_telegram_down_the_alert_is_printed_to_the_console_and_still_retried() {
    let tg = FakeTelegram::start().await;
    tg.fail_until(Duration::from_secs(3600), Fault::ServerError(502));
    let dir = tempfile::tempdir().unwrap();
    // stdout alone in the Proc's log, stderr (the log lines) apart.
    let stderr = dir.path().join("receiver.stderr");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"exec "$@" 2>>"$STDERR_LOG""#)
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_vpsmon-receiver"))
        .args(["--delivery-deadline", "2s"])
        .env("STDERR_LOG", &stderr);
    let (receiver, receiver_url) = start_receiver_cmd(cmd, &tg, -100777, dir.path()).await;
    let config = gen_config(dir.path(), &receiver_url, &[]);
    let (_am, am_url) = start_alertmanager(&config, dir.path()).await;
    let http = reqwest::Client::new();

    post_alerts(
        &http,
        &am_url,
        &json!([firing_alert("TelegramDown", &[], &[])]),
    )
    .await;
    let printed = |stdout: &str| {
        stdout
            .lines()
            .filter(|l| {
                l.starts_with("FIRING critical TelegramDown agent=\"web-1\" summary=\"mark-TelegramDown-end\"")
            })
            .count()
    };
    let seen = eventually(WAIT, "the alert on stdout", || async {
        (printed(&receiver.log_text()) == 1).then_some(())
    })
    .await;
    assert!(seen.is_ok(), "{seen:?}: stdout:\n{}", receiver.log_text());
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(
        log.lines().any(|l| l.contains("ERROR")
            && l.contains("printed to the console instead")
            && l.contains("telegram:-100777")
            && l.contains("TelegramDown")),
        "{log}"
    );

    // Alertmanager is still answered 503 and retries; the retries print nothing more.
    let series = "vpsmon_receiver_webhooks_received_total{code=\"503\"}";
    let retried = eventually(WAIT, "three 503s", || async {
        (metric(&http, &receiver_url, series).await? >= 3.0).then_some(())
    })
    .await;
    assert!(retried.is_ok(), "{retried:?}");
    assert!(tg.messages().is_empty());
    assert_eq!(printed(&receiver.log_text()), 1, "{}", receiver.log_text());

    // Telegram is back: the retry delivers the alert there, once.
    tg.clear_faults();
    let messages = tg.wait_for_messages(1, WAIT).await;
    assert!(
        messages[0].visible_text.contains("mark-TelegramDown-end"),
        "{}",
        messages[0].visible_text
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(tg.messages().len(), 1, "{:?}", tg.messages());
    assert_eq!(printed(&receiver.log_text()), 1, "{}", receiver.log_text());
}

/// Alertmanager's reminder (repeat_interval) repeats the very same notification; it must reach
/// the chat, not be taken for a retry. gen-config's webhook URL carries the window (25 s for the
/// fast profile), and a repeat_interval inside it is refused. Before, the receiver dropped every
/// reminder within an hour as a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_reaches_the_chat_and_a_repeat_interval_inside_the_window_is_refused() {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (receiver, receiver_url) = start_receiver(&tg, 4242, dir.path()).await;

    let refused = gen_config_output(dir.path(), &receiver_url, &["--repeat-interval", "20s"]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim_end(),
        "vpsmon-gen-config: --repeat-interval 20s must be at least 26s: the receiver takes an identical notification within 25s (max(--group-interval 2s, 10s) + 15s per Alertmanager) for Alertmanager's retry, so a reminder sooner than that would be dropped as a duplicate; raise --repeat-interval or lower --group-interval"
    );

    let config = gen_config(dir.path(), &receiver_url, &["--repeat-interval", "30s"]);
    let yml = std::fs::read_to_string(&config).unwrap();
    assert!(
        yml.contains("/alerts?dedup_window=25s'") && yml.contains("repeat_interval: 30s"),
        "{yml}"
    );
    let (_am, am_url) = start_alertmanager(&config, dir.path()).await;
    let http = reqwest::Client::new();
    post_alerts(&http, &am_url, &json!([firing_alert("DiskFull", &[], &[])])).await;

    let first = tg.wait_for_messages(1, WAIT).await;
    let messages = tg.wait_for_messages(2, Duration::from_secs(90)).await;
    let gap = messages[1].at - first[0].at;
    assert!(
        gap >= Duration::from_secs(30),
        "the reminder came {gap:?} after the first message"
    );
    assert_eq!(
        messages[1].visible_text, first[0].visible_text,
        "the same alert, again"
    );
    assert!(messages[1].visible_text.contains("mark-DiskFull-end"));
    assert_eq!(
        metric(
            &http,
            &receiver_url,
            "vpsmon_receiver_alerts_deduplicated_total{destination=\"telegram:4242\"}"
        )
        .await,
        None,
        "nothing was taken for a duplicate:\n{}",
        receiver.log_text()
    );
}

/// One group of 70 alerts of 15 KB each is larger than the receiver's 1 MiB body limit: before,
/// Alertmanager got 413 and never retried. gen-config's `max_alerts: 63` makes Alertmanager send
/// 63 and count the rest in `truncatedAlerts`; the chat is told that 7 more were left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_larger_than_max_alerts_is_delivered_and_says_how_many_were_left_out() {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Shown alert by alert (63 is above the default digest threshold): this is about max_alerts.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpsmon-receiver"));
    cmd.args(["--telegram-digest-threshold", "100"]);
    let (receiver, receiver_url) = start_receiver_cmd(cmd, &tg, 4343, dir.path()).await;
    // A group_wait long enough for Alertmanager to take in all 70 before its first flush, even on
    // a busy machine (the fast profile's 1 s once let a first notification go out with 52). It
    // only holds for alerts that start now: a group whose alert started more than group_wait ago
    // is flushed at once, with whatever has been taken in so far.
    let config = gen_config(dir.path(), &receiver_url, &["--group-wait", "10s"]);
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("        max_alerts: 63\n")
    );
    let (_am, am_url) = start_alertmanager(&config, dir.path()).await;
    let http = reqwest::Client::new();

    // One group (alertname, agent); the bulk sits in an annotation the message does not show,
    // so the chat gets a few messages, not hundreds.
    let alerts: Vec<Value> = (0..70)
        .map(|i| {
            let mountpoint = format!("/data/{i:02}");
            let mut a = firing_alert(
                "HighDisk",
                &[("mountpoint", mountpoint.as_str())],
                &[("details", format!("{i:02}{}", "x".repeat(15_000)))],
            );
            a["startsAt"] = json!(chrono::Utc::now().to_rfc3339());
            a
        })
        .collect();
    let total: usize = alerts.iter().map(|a| a.to_string().len()).sum();
    assert!(total > 1024 * 1024, "70 alerts are {total} bytes");
    post_alerts(&http, &am_url, &Value::Array(alerts)).await;

    let delivered = eventually(WAIT, "a 200 to Alertmanager", || async {
        metric(
            &http,
            &receiver_url,
            "vpsmon_receiver_webhooks_received_total{code=\"200\"}",
        )
        .await
        .filter(|n| *n >= 1.0)
    })
    .await;
    assert!(delivered.is_ok(), "{delivered:?}\n{}", receiver.log_text());
    assert_eq!(
        metric(
            &http,
            &receiver_url,
            "vpsmon_receiver_webhooks_received_total{code=\"413\"}"
        )
        .await,
        None
    );
    let messages = tg.messages();
    assert!(
        messages[0].visible_text.contains("🔥 63 firing"),
        "{}",
        messages[0].visible_text
    );
    for m in &messages {
        assert!(
            m.visible_text
                .contains("7 more alerts not sent by Alertmanager (max_alerts)"),
            "{}",
            m.visible_text
        );
    }
    let shown: usize = messages
        .iter()
        .map(|m| m.visible_text.matches("mark-HighDisk-end").count())
        .sum();
    assert_eq!(shown, 63, "every alert Alertmanager sent is in the chat");
}

/// Issue 18: the monitoring host loses its network, 6 of 10 agents look down at once. gen-config's
/// alertmanager.yml holds back the six AgentDown alerts while MonitorCutOff fires: the chat gets
/// one notification, not seven. Before, there was no inhibit rule and each agent had its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_monitor_sends_one_notification_not_one_per_agent() {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (receiver, receiver_url) = start_receiver(&tg, 4444, dir.path()).await;
    let config = gen_config(dir.path(), &receiver_url, &[]);
    let (_am, am_url) = start_alertmanager(&config, dir.path()).await;
    let http = reqwest::Client::new();

    // What Prometheus sends with gen-config's rules: the cut-off (no `agent`, it is about the
    // whole fleet) and one AgentDown per unreachable agent; the other four agents are up.
    // startsAt is now, as Prometheus sets it (the moment the alert fired): Alertmanager waits
    // group_wait before a new group's first notification, and the inhibition is in place by then.
    // (An alert that started more than group_wait ago would be sent at once.)
    let started = chrono::Utc::now().to_rfc3339();
    let mut alerts = vec![json!({
        "labels": {"alertname": "MonitorCutOff", "severity": "critical"},
        "annotations": {"summary": "The monitoring host may have lost its network: 6 of 10 agents are down at once"},
        "startsAt": started,
    })];
    for i in 1..=6 {
        alerts.push(json!({
            "labels": {"alertname": "AgentDown", "agent": format!("web-{i}"),
                       "instance": format!("10.0.0.{i}:9100"), "job": "agents", "severity": "critical"},
            "annotations": {"summary": format!("Agent web-{i} is down")},
            "startsAt": started,
        }));
    }
    post_alerts(&http, &am_url, &Value::Array(alerts)).await;

    let first = tg.wait_for_messages(1, WAIT).await;
    assert!(
        first[0].visible_text.contains("MonitorCutOff")
            && first[0].visible_text.contains(
                "The monitoring host may have lost its network: 6 of 10 agents are down at once"
            ),
        "{}",
        first[0].visible_text
    );
    // Alertmanager holds the six back (suppressed, inhibited by the cut-off) rather than
    // dropping them: they are still there when it ends.
    let suppressed = eventually(WAIT, "six inhibited AgentDown alerts", || async {
        let list: Value = http
            .get(format!(
                "{am_url}/api/v2/alerts?inhibited=true&filter=alertname%3D%22AgentDown%22"
            ))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let list = list.as_array()?.clone();
        (list.len() == 6
            && list.iter().all(|a| {
                a["status"]["state"] == "suppressed"
                    && a["status"]["inhibitedBy"]
                        .as_array()
                        .is_some_and(|by| by.len() == 1)
            }))
        .then_some(())
    })
    .await;
    assert!(suppressed.is_ok(), "{suppressed:?}");
    // Several group_wait and group_interval periods (1 s, 2 s) later: still that one message.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let messages = tg.messages();
    assert_eq!(
        messages.len(),
        1,
        "{:?}\nreceiver log:\n{}",
        messages.iter().map(|m| &m.visible_text).collect::<Vec<_>>(),
        receiver.log_text()
    );
}
