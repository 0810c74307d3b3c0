//! The Prometheus and Alertmanager clients (shared by the dashboard and the Telegram bot) against
//! the real servers, and the charts they feed.

mod dashboard_stack;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use dashboard_stack::{Stack, Target};
use serde_json::json;
use vpsmon_receiver::chart::{self, COLOURS, Chart, Line, Unit};
use vpsmon_receiver::fleet;
use vpsmon_receiver::promapi::alertmanager::{AlertFilter, Matcher, NewSilence};
use vpsmon_receiver::promapi::{AlertmanagerClient, ErrorKind, PrometheusClient, Service};

const T: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_queries_errors_and_the_fleet_snapshot() {
    let stack = Stack::start(&[Target::up("web1"), Target::down("web2")]).await;
    stack.wait_scraped(2, 1).await;
    let prom = PrometheusClient::new(&format!("{}/", stack.prometheus_url), T);
    assert_eq!(prom.base_url(), stack.prometheus_url);

    // Instant and scalar queries.
    let up = prom.query(r#"up{agent="web1"}"#, None).await.unwrap();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].label("agent"), Some("web1"));
    assert_eq!(up[0].value, 1.0);
    let scalar = prom.query("1 + 1", None).await.unwrap();
    assert_eq!(scalar[0].value, 2.0);
    assert!(scalar[0].labels.is_empty());

    // A range query: points oldest first, `step` apart.
    let end = Utc::now();
    let range = prom
        .query_range(
            r#"up{agent!=""}"#,
            end - TimeDelta::seconds(5),
            end,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(range.len(), 2, "{range:?}");
    for s in &range {
        assert!(
            s.points
                .windows(2)
                .all(|w| (w[1].0 - w[0].0 - 1.0).abs() < 1e-6),
            "{s:?}"
        );
    }

    // A bad query: Prometheus' own reason, named.
    let e = prom.query("up{", None).await.unwrap_err();
    assert_eq!(e.service, Service::Prometheus);
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "Prometheus at {} refused /api/v1/query (bad_data): invalid parameter \"query\": ",
            stack.prometheus_url
        )),
        "{msg}"
    );

    // The fleet snapshot: one entry per agent, the down one without numbers.
    let snap = fleet::snapshot(&prom, Utc::now()).await.unwrap();
    let names: Vec<&str> = snap.agents.iter().map(|a| a.agent.as_str()).collect();
    assert_eq!(names, ["web1", "web2"]);
    let (web1, web2) = (snap.agent("web1").unwrap(), snap.agent("web2").unwrap());
    assert!(web1.up && !web2.up);
    assert!(web1.memory_percent.is_some() && web1.cpu_percent.is_some());
    assert_eq!(
        (web2.memory_percent, web2.cpu_percent, web2.disk_percent),
        (None, None, None)
    );
    assert!(
        web2.scrape_age_seconds.is_some(),
        "a down target still has a last scrape"
    );
    assert_eq!(snap.up_count(), 1);
    // By name or by address, as the seed's bot accepts.
    assert_eq!(web1.instances.len(), 1);
    let addr = web1.instances[0].clone();
    assert_eq!(snap.find(&addr).map(|a| a.agent.as_str()), Some("web1"));
    assert_eq!(
        snap.find(&web2.instances[0]).map(|a| a.agent.as_str()),
        Some("web2")
    );
    assert_eq!(snap.find("web2").map(|a| a.agent.as_str()), Some("web2"));
    assert!(snap.find("127.0.0.2").is_none());
    assert_eq!(fleet::agent_names(&prom).await.unwrap(), ["web1", "web2"]);

    // Alertmanager is not Prometheus: the reply says what came back.
    let wrong = PrometheusClient::new(&stack.alertmanager_url, T);
    let e = wrong.query("up", None).await.unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Status { code: 404, .. }), "{e}");
    assert!(
        e.to_string().starts_with(&format!(
            "Prometheus at {} answered /api/v1/query with HTTP 404 Not Found",
            stack.alertmanager_url
        )),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alertmanager_alerts_and_silences() {
    let stack = Stack::start(&[]).await;
    let am = AlertmanagerClient::new(&stack.alertmanager_url, T);
    stack
        .post_alert(
            json!({"alertname": "HighDisk", "agent": "db1", "severity": "warning"}),
            json!({"summary": "disk"}),
            10,
        )
        .await;
    stack
        .post_alert(
            json!({"alertname": "AgentDown", "agent": "web9", "severity": "critical"}),
            json!({}),
            1,
        )
        .await;

    let firing = am.alerts(AlertFilter::FIRING).await.unwrap();
    let names: Vec<&str> = firing.iter().map(|a| a.alertname()).collect();
    assert_eq!(names, ["HighDisk", "AgentDown"], "oldest first");
    assert_eq!(firing[0].label("agent"), Some("db1"));
    assert_eq!(firing[0].annotations["summary"], "disk");
    assert_eq!(firing[0].status.state, "active");

    // The bot's silence button: a silence matching the alert's labels.
    let now = Utc::now();
    let id = am
        .create_silence(&NewSilence {
            matchers: vec![
                Matcher::equal("alertname", "HighDisk"),
                Matcher::equal("agent", "db1"),
            ],
            starts_at: now,
            ends_at: now + TimeDelta::hours(1),
            created_by: "telegram:42".into(),
            comment: "Silenced from the chat".into(),
        })
        .await
        .unwrap();
    let silences = am.silences().await.unwrap();
    let s = silences
        .iter()
        .find(|s| s.id == id)
        .expect("the new silence is listed");
    assert_eq!(s.status.state, "active");
    assert_eq!(s.created_by, "telegram:42");
    assert_eq!(
        s.matchers,
        [
            Matcher::equal("alertname", "HighDisk"),
            Matcher::equal("agent", "db1")
        ]
    );
    testkit::procs::eventually(
        Duration::from_secs(10),
        "the silenced alert to leave the firing list",
        || async {
            let a = am.alerts(AlertFilter::FIRING).await.ok()?;
            (a.len() == 1 && a[0].alertname() == "AgentDown").then_some(())
        },
    )
    .await
    .unwrap();

    am.expire_silence(&id).await.unwrap();
    let s = am
        .silences()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.id == id)
        .unwrap();
    assert_eq!(s.status.state, "expired");

    // Refusals: ours (no matcher) and Alertmanager's (ends before it starts), both named.
    let mut bad = NewSilence {
        matchers: vec![],
        starts_at: now,
        ends_at: now + TimeDelta::hours(1),
        created_by: "t".into(),
        comment: "c".into(),
    };
    let e = am.create_silence(&bad).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Alertmanager at {} answered /api/v2/silences with HTTP 400 Bad Request: a silence needs at least one matcher (not sent)",
            stack.alertmanager_url
        )
    );
    bad.matchers = vec![Matcher::equal("agent", "db1")];
    bad.ends_at = now - TimeDelta::hours(1);
    let e = am.create_silence(&bad).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "Alertmanager at {} answered /api/v2/silences with HTTP 400 Bad Request: ",
            stack.alertmanager_url
        )),
        "{msg}"
    );
    assert!(msg.contains("end time"), "{msg}");
}

#[tokio::test]
async fn unreachable_services_are_named_with_their_url_and_why() {
    let url = format!("http://127.0.0.1:{}", testkit::procs::free_port());
    let e = PrometheusClient::new(&url, T)
        .query("up", None)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("Prometheus at {url} is unreachable: connection refused")
    );
    let e = AlertmanagerClient::new(&url, T)
        .silences()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("Alertmanager at {url} is unreachable: connection refused")
    );
}

fn two_agents() -> Chart {
    let end = Utc::now();
    let start = end - TimeDelta::minutes(30);
    let t0 = start.timestamp() as f64;
    let line = |name: &str, base: f64| Line {
        name: name.into(),
        points: (0..=30)
            .map(|i| (t0 + 60.0 * i as f64, base + (i % 7) as f64 * 3.0))
            .collect(),
    };
    Chart {
        title: "CPU busy".into(),
        unit: Unit::Percent,
        threshold: Some(80.0),
        lines: vec![line("web1", 20.0), line("<script>db1</script>", 55.0)],
        start,
        end,
        tz: chrono_tz::Asia::Taipei,
        width: 800,
        height: 400,
    }
}

#[test]
fn a_png_chart_decodes_with_one_colour_per_line_and_the_threshold() {
    let png = chart::to_png(&two_agents()).unwrap();
    if let Ok(out) = std::env::var("CHART_PNG_OUT") {
        std::fs::write(out, &png).unwrap();
    }
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (800, 400));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let count = |c: [u8; 3]| pixels.iter().filter(|p| **p == c).count();
    // Each line's colour, and the threshold's red, cover a line's worth of pixels.
    for (i, colour) in COLOURS[..2].iter().enumerate() {
        let n = count([colour.0, colour.1, colour.2]);
        assert!(n > 300, "line {i} has {n} pixels of its colour");
    }
    assert!(count([200, 0, 0]) > 100, "the threshold line");
    assert_eq!(
        count([COLOURS[2].0, COLOURS[2].1, COLOURS[2].2]),
        0,
        "no third line"
    );
    // Text was drawn with the embedded font: dark pixels beyond the lines and axes.
    assert!(count([0, 0, 0]) > 500);
}

#[test]
fn an_svg_chart_escapes_names_and_shows_time_and_percent_axes() {
    let svg = chart::to_svg(&two_agents()).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(!svg.contains("<script>"), "{svg}");
    assert!(svg.contains("&lt;script&gt;db1&lt;/script&gt;"));
    // plotters writes each text on its own line.
    let text = |t: &str| format!(">\n{t}\n</text>");
    assert!(
        svg.contains(&text("100%")) && svg.contains(&text("0%")),
        "{svg}"
    );
    assert!(svg.contains(&text("time (Asia/Taipei)")), "{svg}");
    assert!(svg.contains(&text("threshold 80%")), "{svg}");
    assert!(svg.contains(&text("web1")), "{svg}");
    let empty = Chart {
        lines: vec![],
        ..two_agents()
    };
    assert!(
        chart::to_svg(&empty)
            .unwrap()
            .contains(&text("no data for this period"))
    );
}

#[test]
fn human_bytes_reads_like_df() {
    assert_eq!(chart::human_bytes(44.0), "44 B");
    assert_eq!(chart::human_bytes(1536.0), "1.5 KiB");
    assert_eq!(chart::human_bytes(3.0 * 1024.0 * 1024.0), "3.0 MiB");
    assert_eq!(
        chart::value_label(Unit::BytesPerSecond, 2048.0),
        "2.0 KiB/s"
    );
    assert_eq!(chart::value_label(Unit::PerCpu, 1.5), "1.50");
}
