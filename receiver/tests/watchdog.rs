//! The pipeline's heartbeat, at the receiver: the real binary gets Watchdog notifications as
//! Alertmanager sends them (`POST /alerts/watchdog`, and mixed into another route's), shows none
//! of them, pings the external heartbeat URL, and when they stop for --watchdog-timeout tells
//! every destination of every route once that the pipeline is broken, then that it is back.
//! The URL's secret never shows in the log, the errors or --print-config.
//! (The whole stack with Alertmanager really dying: e2e/tests/watchdog.rs.)

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::procs::{Proc, free_port, wait_http_ok};
use testkit::telegram::{FakeTelegram, Fault};
use vpsmon_receiver::cli::Cli;
use vpsmon_receiver::config::Config;

const TOKEN: &str = "watchdog-test-token";
const SECRET: &str = "0f9e8d7c-6b5a-4321-9876-feedfacecafe";
const ALERTS: i64 = -100111;
const OPS: i64 = -100222;
const WAIT: Duration = Duration::from_secs(45);

fn receiver_yml(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("receiver.yml");
    std::fs::write(
        &path,
        format!(
            "default_route:\n  - telegram: {{chat_id: {ALERTS}}}\nroutes:\n  ops:\n    - telegram: {{chat_id: {OPS}}}\n    - telegram: {{chat_id: {ALERTS}}}\n"
        ),
    )
    .unwrap();
    path
}

/// A notification as Alertmanager's webhook sends it.
fn notification(alerts: &[(&str, &str)]) -> Value {
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|(name, agent)| {
            json!({
                "status": "firing",
                "labels": {"alertname": name, "agent": agent, "severity": "none"},
                "annotations": {"summary": format!("{name} on {agent}")},
                "startsAt": "2026-12-06T10:00:00Z",
                "fingerprint": format!("{name}{agent}"),
            })
        })
        .collect();
    json!({
        "version": "4", "groupKey": "g", "status": "firing", "receiver": "vpsmon-watchdog",
        "alerts": alerts,
    })
}

async fn post(url: &str, body: &Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn texts(tg: &FakeTelegram, chat: i64) -> Vec<String> {
    tg.messages()
        .into_iter()
        .filter(|m| m.chat_id == chat)
        .map(|m| m.visible_text)
        .collect()
}

/// Waits until `chat` has a message containing `text`; how many it has.
async fn wait_text(tg: &FakeTelegram, chat: i64, text: &str, log: &Path) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let n = texts(tg, chat).iter().filter(|t| t.contains(text)).count();
        if n > 0 {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "no {text:?} in chat {chat}: {:?}\n{}",
            texts(tg, chat),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The receiver binary with the two routes of [`receiver_yml`], a 4 s watchdog timeout (set
/// explicitly: watched from the start) and `url_file` as its heartbeat URL; its base URL.
async fn start_receiver(tg: &FakeTelegram, dir: &Path, url_file: &Path) -> (Proc, String) {
    let token_file = dir.join("webhook.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpsmon-receiver"));
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--config")
        .arg(receiver_yml(dir))
        // Counted from the receiver's start: long enough that a slow start on a loaded machine
        // is not taken for silence before the test's first heartbeat.
        .args(["--watchdog-timeout", "4s"])
        .env("RECEIVER_HEARTBEAT_URL_FILE", url_file)
        .env("WEBHOOK_TOKEN_FILE", &token_file)
        .env("BOT_TOKEN", tg.token())
        .env("TELEGRAM_API_URL", tg.url())
        .env_remove("ALERT_CHAT_ID")
        .env_remove("HEARTBEAT_URL")
        .env_remove("RECEIVER_CONFIG");
    let log = dir.join("receiver.log");
    let mut receiver = Proc::spawn("vpsmon-receiver", cmd, &log).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&mut receiver, &format!("{base}/healthz"), WAIT)
        .await
        .unwrap();
    (receiver, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_never_shown_and_silence_is_told_once_to_every_destination() {
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pings = testkit::heartbeat::PingCounter::start(&format!("ping/{SECRET}"));
    let ping_url = pings.url.clone();
    let url_file = dir.path().join("heartbeat.url");
    std::fs::write(&url_file, format!("{ping_url}\n")).unwrap();
    let (_receiver, base) = start_receiver(&tg, dir.path(), &url_file).await;
    let log = dir.path().join("receiver.log");

    // A heartbeat on its own route: 200, and nothing in any chat.
    let (code, body) = post(
        &format!("{base}/alerts/watchdog"),
        &notification(&[("Watchdog", "")]),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    // Mixed into another route's notification: only the real alert is shown, in both chats.
    let (code, body) = post(
        &format!("{base}/alerts/ops"),
        &notification(&[("Watchdog", ""), ("AgentDown", "web-1")]),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(wait_text(&tg, OPS, "AgentDown on web-1", &log).await, 1);
    assert_eq!(wait_text(&tg, ALERTS, "AgentDown on web-1", &log).await, 1);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let last: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("vpsmon_receiver_watchdog_last_heartbeat_timestamp_seconds ")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no heartbeat metric in {metrics}"));
    let now = chrono::Utc::now().timestamp() as f64;
    assert!((now - 30.0..=now + 1.0).contains(&last), "{last} vs {now}");
    testkit::procs::eventually(WAIT, "the heartbeat URL to be pinged", || async {
        (pings.count() >= 1).then_some(())
    })
    .await
    .unwrap();

    // No more heartbeats: each chat is told once (ALERTS is on both routes, and hears it once).
    let broken = "The monitoring pipeline is broken: no heartbeat from Alertmanager since ";
    wait_text(&tg, ALERTS, broken, &log).await;
    wait_text(&tg, OPS, broken, &log).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    for chat in [ALERTS, OPS] {
        let all = texts(&tg, chat);
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(
            all[1].contains("FIRING · MonitoringPipelineBroken"),
            "{all:?}"
        );
        assert!(all.iter().all(|t| !t.contains("Watchdog on")), "{all:?}");
    }

    // The heartbeat is back: each chat hears it once.
    let (code, _) = post(
        &format!("{base}/alerts/watchdog"),
        &notification(&[("Watchdog", "")]),
    )
    .await;
    assert_eq!(code, 200);
    let back = "the heartbeat from Alertmanager is back";
    wait_text(&tg, ALERTS, back, &log).await;
    wait_text(&tg, OPS, back, &log).await;
    for chat in [ALERTS, OPS] {
        let all = texts(&tg, chat);
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(
            all[2].contains("RESOLVED · MonitoringPipelineBroken"),
            "{all:?}"
        );
    }

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        text.contains("heartbeat_url=Some(\"http://127.0.0.1/<redacted>\")"),
        "{text}"
    );
}

/// No heartbeat ever came, and one chat refuses for a while: the other is told at once, the
/// refusing one once it works, and neither twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_destination_is_told_when_it_works_again_and_the_others_only_once() {
    let tg = FakeTelegram::start().await;
    // Well past the watchdog's 4 s, so that its first message to OPS is refused even after a
    // slow start.
    tg.fail_chat_until(
        OPS,
        Duration::from_secs(12),
        Fault::Error {
            code: 400,
            description: "Bad Request: chat not found".into(),
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("heartbeat.url");
    std::fs::write(&url_file, "https://hc-ping.invalid/x\n").unwrap();
    let (_receiver, _base) = start_receiver(&tg, dir.path(), &url_file).await;
    let log = dir.path().join("receiver.log");
    let broken = "no heartbeat from Alertmanager since ";
    wait_text(&tg, ALERTS, broken, &log).await;
    let all = texts(&tg, ALERTS);
    assert!(
        all[0].contains("(the receiver's start: none has come yet)"),
        "{all:?}"
    );
    wait_text(&tg, OPS, broken, &log).await;
    // OPS was asked while it refused, and told once it worked again.
    let refused = tg
        .requests_for("sendMessage")
        .iter()
        .filter(|r| {
            let chat = &r.params["chat_id"];
            let chat = chat.as_i64().or_else(|| chat.as_str()?.parse().ok());
            chat == Some(OPS) && r.status == 400
        })
        .count();
    assert!(
        refused >= 1,
        "OPS never refused: the retry was not exercised"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(texts(&tg, ALERTS).len(), 1, "{:?}", texts(&tg, ALERTS));
    assert_eq!(texts(&tg, OPS).len(), 1, "{:?}", texts(&tg, OPS));
}

fn load(cli: &Cli, env: &[(&str, &str)]) -> Result<Config, String> {
    Config::load(cli, &|k| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .map_err(|e| e.to_string())
}

#[test]
fn the_watchdog_settings_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Default: 5m, watched from the first heartbeat, no URL.
    let c = load(&Cli::default(), &[]).unwrap();
    assert_eq!(c.watchdog.timeout, Some(Duration::from_secs(300)));
    assert!(!c.watchdog.from_start);
    // Set: watched from the start; `off` turns it off.
    let c = load(&Cli::default(), &[("RECEIVER_WATCHDOG_TIMEOUT", "20s")]).unwrap();
    assert_eq!(c.watchdog.timeout, Some(Duration::from_secs(20)));
    assert!(c.watchdog.from_start);
    let cli = Cli {
        watchdog_timeout: Some("off".into()),
        ..Cli::default()
    };
    assert_eq!(load(&cli, &[]).unwrap().watchdog.timeout, None);
    let cli = Cli {
        watchdog_timeout: Some("soon".into()),
        ..Cli::default()
    };
    assert_eq!(
        load(&cli, &[]).unwrap_err(),
        "--watchdog-timeout: \"soon\" is not a duration such as 5m or 30s, or off"
    );

    // The URL is a secret: never inline in the file, never echoed when wrong.
    let yml = dir.path().join("receiver.yml");
    std::fs::write(
        &yml,
        format!("watchdog:\n  heartbeat_url: https://hc-ping.com/{SECRET}\n"),
    )
    .unwrap();
    let with_file = Cli {
        config: Some(yml.clone()),
        ..Cli::default()
    };
    let err = load(&with_file, &[]).unwrap_err();
    assert!(
        err.ends_with("key `watchdog.heartbeat_url`: secrets are not read from the config file; use watchdog.heartbeat_url_file, RECEIVER_HEARTBEAT_URL_FILE or HEARTBEAT_URL"),
        "{err}"
    );
    assert!(!err.contains(SECRET));
    let err = load(&Cli::default(), &[("HEARTBEAT_URL", SECRET)]).unwrap_err();
    assert_eq!(
        err,
        "HEARTBEAT_URL: is not an http(s) URL (a healthchecks.io ping URL looks like https://hc-ping.com/<uuid>)"
    );
    let url_file = dir.path().join("hc.url");
    std::fs::write(&url_file, format!("https://hc-ping.com/{SECRET}\n")).unwrap();
    std::fs::write(
        &yml,
        format!(
            "watchdog:\n  timeout: 3m\n  heartbeat_url_file: {}\n",
            url_file.display()
        ),
    )
    .unwrap();
    let c = load(&with_file, &[]).unwrap();
    assert_eq!(c.watchdog.timeout, Some(Duration::from_secs(180)));
    let printed = c.to_yaml();
    assert!(
        printed.contains("watchdog:\n  timeout: 3m\n  from_start: true\n  heartbeat_url: https://hc-ping.com/<redacted>\n"),
        "{printed}"
    );
    assert!(!printed.contains(SECRET));

    // `watchdog` is the heartbeat's route.
    std::fs::write(&yml, "routes:\n  watchdog:\n    - console\n").unwrap();
    let err = load(&with_file, &[]).unwrap_err();
    assert!(
        err.ends_with("key `routes.watchdog`: the route `watchdog` is the Watchdog heartbeat's (/alerts/watchdog); give this route another name"),
        "{err}"
    );
}
