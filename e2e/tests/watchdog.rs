//! Who watches the monitor: the Watchdog rule (gen-config, fast profile: every 2 s) travels
//! Prometheus → Alertmanager → vpsmon-receiver as a heartbeat that nobody sees. When
//! Alertmanager dies, the receiver tells the chat itself, within its --watchdog-timeout; when
//! Alertmanager is back, it says so. Each heartbeat also pings an external URL, whose secret
//! never shows in the receiver's log.

use std::time::{Duration, Instant};

use vpsmon_e2e::{AgentSpec, CHAT_ID, Fleet, Options};

const TIMEOUT: Duration = Duration::from_secs(20);
/// The secret part of the heartbeat URL, as in a healthchecks.io check's UUID.
const CHECK_UUID: &str = "5b1c7e0a-9f3d-4e2b-8a61-c0ffee5ec7e7";

async fn get(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// The receiver's last heartbeat time from /metrics.
async fn last_heartbeat(f: &Fleet) -> f64 {
    get(&format!("http://127.0.0.1:{}/metrics", f.receiver_port))
        .await
        .lines()
        .find_map(|l| {
            l.strip_prefix("vpsmon_receiver_watchdog_last_heartbeat_timestamp_seconds ")?
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// Waits until a chat message containing `text` arrives after `since`; returns how long it took
/// and the message.
async fn wait_message(f: &Fleet, text: &str, since: Instant, wait: Duration) -> (Duration, String) {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(m) = f
            .telegram
            .messages()
            .into_iter()
            .find(|m| m.chat_id == CHAT_ID && m.at >= since && m.visible_text.contains(text))
        {
            return (m.at.duration_since(since), m.visible_text);
        }
        assert!(
            Instant::now() < deadline,
            "no message with {text:?} within {wait:?}; chat: {:?}\nreceiver log:\n{}",
            f.telegram
                .messages()
                .iter()
                .map(|m| &m.visible_text)
                .collect::<Vec<_>>(),
            f.receiver_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn alertmanager_down_is_reported_by_the_receiver_itself_and_its_return_too() {
    let pings = testkit::heartbeat::PingCounter::start(CHECK_UUID);
    let ping_url = pings.url.clone();
    let mut f = Fleet::start(Options {
        agents: vec![AgentSpec::real("web-1")],
        shards: 1,
        remote_write: None,
        receiver: false,
    })
    .await
    .expect("start the fleet");
    let (prom, am) = (
        format!("http://127.0.0.1:{}", f.prometheus[0].0),
        format!("http://127.0.0.1:{}", f.alertmanager_port),
    );
    // Prometheus drops the alerts of its first evaluations, before it knows Alertmanager, and
    // resends a firing alert once a minute: the Watchdog may take that long to reach
    // Alertmanager. The receiver, told its timeout, watches from its start, so it starts once
    // the Watchdog is there (as after any restart of the receiver alone).
    let start = Instant::now();
    while !get(&format!("{am}/api/v2/alerts"))
        .await
        .contains("\"alertname\":\"Watchdog\"")
    {
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "no Watchdog in Alertmanager"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "FIGURE watchdog: Watchdog in Alertmanager {:.1} s after Prometheus started",
        start.elapsed().as_secs_f64()
    );
    f.receiver_env = vec![
        ("RECEIVER_WATCHDOG_TIMEOUT".into(), "20s".into()),
        ("HEARTBEAT_URL".into(), ping_url.clone()),
        ("PROMETHEUS_URL".into(), prom),
        ("ALERTMANAGER_URL".into(), am.clone()),
    ];
    f.start_receiver().await.unwrap();

    // Heartbeats arrive (every 2 s in the fast profile) and ping the external URL.
    let start = Instant::now();
    while last_heartbeat(&f).await == 0.0 || pings.count() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no heartbeats: pings {}, receiver log:\n{}",
            pings.count(),
            f.receiver_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "FIGURE watchdog: first heartbeat {:.1} s after the receiver started",
        start.elapsed().as_secs_f64()
    );
    // Alertmanager holds the Watchdog as firing, yet nobody is shown it: not the chat, not the
    // dashboard's firing list.
    let in_am = get(&format!("{am}/api/v2/alerts")).await;
    assert!(in_am.contains("\"alertname\":\"Watchdog\""), "{in_am}");
    let status = get(&format!("http://127.0.0.1:{}/api/status", f.receiver_port)).await;
    assert!(status.contains("\"alerts\":["), "{status}");
    assert!(!status.contains("Watchdog"), "{status}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let shown: Vec<String> = f
        .telegram
        .messages()
        .into_iter()
        .map(|m| m.visible_text)
        .filter(|t| t.contains("· Watchdog") || t.contains("MonitoringPipelineBroken"))
        .collect();
    assert!(shown.is_empty(), "the heartbeat was shown: {shown:?}");

    // Alertmanager dies: the receiver itself says so, within its timeout of the last heartbeat.
    let fault = f.kill_alertmanager();
    let (took, text) = wait_message(
        &f,
        "no heartbeat from Alertmanager since",
        fault,
        TIMEOUT + Duration::from_secs(30),
    )
    .await;
    println!(
        "FIGURE watchdog: \"pipeline broken\" message {:.1} s after Alertmanager died (timeout 20 s)",
        took.as_secs_f64()
    );
    assert!(
        took <= TIMEOUT + Duration::from_secs(5),
        "took {took:?}: {text}"
    );
    assert!(text.contains("FIRING · MonitoringPipelineBroken"), "{text}");
    assert!(
        text.contains("The monitoring pipeline is broken: no heartbeat from Alertmanager since "),
        "{text}"
    );
    // Once per outage.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let broken = f
        .telegram
        .messages()
        .into_iter()
        .filter(|m| m.visible_text.contains("pipeline is broken"))
        .count();
    assert_eq!(broken, 1);

    // Alertmanager is back; Prometheus sends it the Watchdog again (within its 1m resend delay).
    let back = Instant::now();
    f.start_alertmanager().await.unwrap();
    let (took, text) = wait_message(
        &f,
        "the heartbeat from Alertmanager is back",
        back,
        Duration::from_secs(120),
    )
    .await;
    println!(
        "FIGURE watchdog: \"heartbeat back\" message {:.1} s after Alertmanager restarted",
        took.as_secs_f64()
    );
    assert!(
        text.contains("RESOLVED · MonitoringPipelineBroken"),
        "{text}"
    );

    // The external URL's secret never shows in the log.
    let log = f.receiver_log();
    assert!(!log.contains(CHECK_UUID), "{log}");
    assert!(
        log.contains("heartbeat_url=Some(\"http://127.0.0.1/<redacted>\")"),
        "{log}"
    );
}
