//! A real Alertmanager (Debian's `prometheus-alertmanager`) sends to the real receiver binary,
//! which delivers to the loopback fake Telegram. Alerts are injected through Alertmanager's API;
//! the test asserts what the chat got, which proves the receiver reads the real payload.

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use testkit::procs::{Proc, eventually, free_port, require_binary, wait_http_ok};
use testkit::telegram::FakeTelegram;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_notifications_reach_telegram_firing_then_resolved() {
    let alertmanager = require_binary(
        "ALERTMANAGER_BIN",
        &["prometheus-alertmanager", "alertmanager"],
        "prometheus-alertmanager",
    );
    let tg = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();

    // The receiver, configured by env alone, as a first-time user would; Alertmanager sends the
    // webhook token the receiver requires (read from the same file, as gen-config configures it).
    let token = dir.path().join("webhook.token");
    std::fs::write(&token, "am-webhook-token\n").unwrap();
    let rport = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpsmon-receiver"));
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{rport}"))
        .env("WEBHOOK_TOKEN_FILE", &token)
        .env("BOT_TOKEN", tg.token())
        .env("ALERT_CHAT_ID", "-100424242")
        .env("TELEGRAM_API_URL", tg.url())
        .env_remove("SLACK_WEBHOOK_URL")
        .env_remove("RECEIVER_CONFIG");
    let mut receiver =
        Proc::spawn("vpsmon-receiver", cmd, &dir.path().join("receiver.log")).unwrap();
    let receiver_url = format!("http://127.0.0.1:{rport}");
    wait_http_ok(&mut receiver, &format!("{receiver_url}/healthz"), WAIT)
        .await
        .unwrap();

    let amport = free_port();
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
            token.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&alertmanager);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{amport}"))
        .arg("--cluster.listen-address=");
    let mut am = Proc::spawn("alertmanager", cmd, &dir.path().join("alertmanager.log")).unwrap();
    let am_url = format!("http://127.0.0.1:{amport}");
    wait_http_ok(&mut am, &format!("{am_url}/-/ready"), WAIT)
        .await
        .unwrap();

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
            .bearer_auth("am-webhook-token")
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
