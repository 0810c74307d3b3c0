//! Rendering as a user sees it: exact message texts, hostile values, long texts and big groups.
//! Telegram messages are checked with testkit's copy of Telegram's own HTML parser (tdlib's
//! `parse_html`), so "valid" here means "Telegram would accept it".

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use testkit::telegram::html::{parse_html, utf16_len};
use vpsmon_receiver::payload::{Alert, Notification, Status};
use vpsmon_receiver::render::{self, RenderContext};

fn kv(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn alert(name: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Alert {
    let mut l = kv(labels);
    l.insert("alertname".into(), name.into());
    Alert {
        status: Status::Firing,
        fingerprint: vpsmon_receiver::payload::fingerprint(&l),
        labels: l,
        annotations: kv(annotations),
        starts_at: Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap(),
        ends_at: None,
        generator_url: String::new(),
    }
}

fn notification(alerts: Vec<Alert>) -> Notification {
    Notification {
        version: "4".into(),
        group_key: "{}:{alertname=\"x\"}".into(),
        truncated_alerts: 0,
        status: if alerts.iter().any(|a| a.status == Status::Firing) {
            Status::Firing
        } else {
            Status::Resolved
        },
        receiver: "vpsmon".into(),
        group_labels: BTreeMap::new(),
        common_labels: BTreeMap::new(),
        common_annotations: BTreeMap::new(),
        external_url: String::new(),
        alerts,
        dedup_window: None,
    }
}

fn utc() -> RenderContext {
    RenderContext::new(chrono_tz::UTC, None).unwrap()
}

/// Parses every Telegram message as Telegram would; returns the visible texts.
fn visible(parts: &[render::Part<String>]) -> Vec<String> {
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            assert!(
                utf16_len(&p.body) <= 4096,
                "message {i} is {} UTF-16 units as sent",
                utf16_len(&p.body)
            );
            let parsed = parse_html(&p.body)
                .unwrap_or_else(|e| panic!("message {i} is refused by Telegram: {e}\n{}", p.body));
            assert!(utf16_len(&parsed.text) <= 4096);
            parsed.text
        })
        .collect()
}

#[test]
fn firing_message_exact_text() {
    let mut a = alert(
        "AgentDown",
        &[
            ("agent", "web-1"),
            ("instance", "10.0.0.1:9100"),
            ("severity", "critical"),
        ],
        &[
            ("summary", "web-1 is down"),
            ("description", "No scrape for 1 minute."),
        ],
    );
    a.generator_url = "http://prometheus:9090/graph?g0.expr=up%3D%3D0&g0.tab=1".into();
    let mut n = notification(vec![a]);
    n.external_url = "http://alertmanager:9093".into();
    let parts = render::telegram(&n, &utc()).unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].alert_indices, vec![0]);
    assert_eq!(
        parts[0].body,
        "🔥 <b>FIRING</b> · <b>AgentDown</b>\n\
         <b>Agent:</b> web-1\n\
         <b>Severity:</b> critical\n\
         <b>Summary:</b> web-1 is down\n\
         <b>Description:</b> No scrape for 1 minute.\n\
         <b>Started:</b> 2026-11-21 10:00:00 UTC\n\
         <a href=\"http://prometheus:9090/graph?g0.expr=up%3D%3D0&amp;g0.tab=1\">Prometheus</a> · \
         <a href=\"http://alertmanager:9093\">Alertmanager</a>"
    );
    assert_eq!(
        visible(&parts)[0],
        "🔥 FIRING · AgentDown\nAgent: web-1\nSeverity: critical\nSummary: web-1 is down\n\
         Description: No scrape for 1 minute.\nStarted: 2026-11-21 10:00:00 UTC\n\
         Prometheus · Alertmanager"
    );

    let slack = render::slack(&n, &utc()).unwrap();
    assert_eq!(
        slack[0].body,
        serde_json::json!({
            "text": "🔥 1 firing: AgentDown",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text":
                "🔥 *FIRING* · *AgentDown*\n*Agent:* web-1\n*Severity:* critical\n\
                 *Summary:* web-1 is down\n*Description:* No scrape for 1 minute.\n\
                 *Started:* 2026-11-21 10:00:00 UTC\n\
                 <http://prometheus:9090/graph?g0.expr=up%3D%3D0&amp;g0.tab=1|Prometheus> · \
                 <http://alertmanager:9093|Alertmanager>"}}]
        })
    );

    assert_eq!(
        render::console(&n, &utc()).unwrap(),
        vec![format!(
            "FIRING critical AgentDown agent=\"web-1\" summary=\"web-1 is down\" \
             started=\"2026-11-21 10:00:00 UTC\" fingerprint={}",
            n.alerts[0].fingerprint
        )]
    );
}

#[test]
fn resolved_message_in_taipei_time_says_how_long_it_lasted() {
    let mut a = alert(
        "AgentHighCPU",
        &[("instance", "10.0.0.2:9100"), ("severity", "warning")],
        &[("summary", "CPU above 80% for 2 minutes")],
    );
    a.status = Status::Resolved;
    a.ends_at = Some(Utc.with_ymd_and_hms(2026, 11, 21, 11, 5, 3).unwrap());
    let n = notification(vec![a]);
    let ctx = RenderContext::new(chrono_tz::Asia::Taipei, None).unwrap();
    let parts = render::telegram(&n, &ctx).unwrap();
    assert_eq!(
        parts[0].body,
        "✅ <b>RESOLVED</b> · <b>AgentHighCPU</b>\n\
         <b>Agent:</b> 10.0.0.2:9100\n\
         <b>Severity:</b> warning\n\
         <b>Summary:</b> CPU above 80% for 2 minutes\n\
         <b>Started:</b> 2026-11-21 18:00:00 UTC+08:00\n\
         <b>Resolved:</b> 2026-11-21 19:05:03 UTC+08:00 (lasted 1h 5m)"
    );
    let line = &render::console(&n, &ctx).unwrap()[0];
    assert!(
        line.starts_with("RESOLVED warning AgentHighCPU agent=\"10.0.0.2:9100\""),
        "{line}"
    );
    assert!(
        line.contains("started=\"2026-11-21 18:00:00 UTC+08:00\" lasted=\"1h 5m\""),
        "{line}"
    );
}

#[test]
fn severity_marks() {
    let mark = |sev: &str, status: Status| {
        let mut a = alert("X", &[("severity", sev)], &[]);
        a.status = status;
        if status == Status::Resolved {
            a.ends_at = Some(a.starts_at + chrono::TimeDelta::seconds(42));
        }
        let body = render::telegram(&notification(vec![a]), &utc()).unwrap()[0]
            .body
            .clone();
        body.split(' ').next().unwrap().to_string()
    };
    assert_eq!(mark("critical", Status::Firing), "🔥");
    assert_eq!(mark("warning", Status::Firing), "⚠️");
    assert_eq!(mark("info", Status::Firing), "ℹ️");
    assert_eq!(mark("", Status::Firing), "ℹ️");
    assert_eq!(mark("critical", Status::Resolved), "✅");
}

const HOSTILE: &[&str] = &[
    "<script>alert(1)</script>",
    "&amp; &lt;b&gt; & &#x41; &bogus;",
    "<b>unbalanced",
    "</b></i>",
    "\"quoted\" 'single' / slash",
    "emoji 🔥👩‍👩‍👧 and 中文 告警",
    "<a href=\"javascript:alert(1)\">x</a>",
];

#[test]
fn hostile_values_reach_the_reader_literally_and_never_break_telegram() {
    let alerts: Vec<Alert> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut a = alert(
                v,
                &[("agent", v), ("severity", v), ("n", &i.to_string())],
                &[("summary", v), ("description", v)],
            );
            a.generator_url = format!("http://x/?q={v}");
            a
        })
        .collect();
    let n = notification(alerts);
    let parts = render::telegram(&n, &utc()).unwrap();
    let texts = visible(&parts).concat();
    for v in HOSTILE {
        // name, agent, severity, summary, description: each shows the value as typed.
        assert_eq!(texts.matches(v).count(), 5, "{v:?} in\n{texts}");
    }
    // The only tags are the template's own.
    for p in &parts {
        assert!(!p.body.contains("<script"));
        assert!(!p.body.contains("&#x2F;"), "tera's HTML escape leaked");
    }

    let slack = render::slack(&n, &utc()).unwrap();
    let sections: Vec<String> = slack
        .iter()
        .flat_map(|p| p.body["blocks"].as_array().unwrap().clone())
        .filter_map(|b| b["text"]["text"].as_str().map(str::to_string))
        .collect();
    let all = sections.concat();
    // Slack text has no raw '<' or '>' but the template's own links, and '&' only as entities.
    let without_links: String = all
        .split('<')
        .enumerate()
        .map(|(i, s)| {
            if i == 0 {
                s
            } else {
                assert!(
                    s.starts_with("http://x/?q="),
                    "raw '<' outside a link: <{s}"
                );
                s.split_once('>').unwrap().1
            }
        })
        .collect();
    assert!(!without_links.contains('>'));
    assert!(all.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(all.contains("&amp;amp; &amp;lt;b&amp;gt; &amp; &amp;#x41; &amp;bogus;"));

    // Console: one line per alert, values on one line.
    let lines = render::console(&n, &utc()).unwrap();
    assert_eq!(lines.len(), HOSTILE.len());
    assert!(lines.iter().all(|l| !l.contains('\n')));
}

#[test]
fn a_5000_character_annotation_is_split_inside_the_alert_and_nothing_is_lost() {
    // Numbered words, so every one can be found exactly once afterwards; '&' and '<' make the
    // escaped form longer than the text.
    let words: Vec<String> = (0..700).map(|i| format!("w{i:04}&<")).collect();
    let description = words.join(" ");
    assert!(description.chars().count() > 5000);
    let a = alert(
        "LongOne",
        &[("severity", "critical")],
        &[("summary", "<b>bold?</b>"), ("description", &description)],
    );
    let n = notification(vec![a]);
    let parts = render::telegram(&n, &utc()).unwrap();
    assert!(parts.len() >= 2, "{} parts", parts.len());
    for p in &parts {
        assert_eq!(p.alert_indices, vec![0]);
    }
    let texts = visible(&parts);
    let all = texts.join(" ");
    for w in &words {
        assert_eq!(all.matches(w.as_str()).count(), 1, "{w}");
    }
    assert!(
        texts[0].starts_with("🔥 1 firing · part 1/"),
        "{}",
        texts[0]
    );
    for t in &texts[1..] {
        assert!(t.contains("\n\nLongOne (continued)\nw"), "{t}");
    }

    // Slack: sections of at most 3000, all words present once.
    let slack = render::slack(&n, &utc()).unwrap();
    let mut all = String::new();
    for p in &slack {
        for b in p.body["blocks"].as_array().unwrap() {
            let t = b["text"]["text"].as_str().unwrap();
            assert!(t.chars().count() <= 3000);
            all.push_str(t);
            all.push(' ');
        }
    }
    for w in &words {
        let escaped = w.replace('&', "&amp;").replace('<', "&lt;");
        assert_eq!(all.matches(&escaped).count(), 1, "{escaped}");
    }
}

#[test]
fn five_hundred_alerts_arrive_complete_each_exactly_once() {
    let alerts: Vec<Alert> = (0..500)
        .map(|i| {
            alert(
                &format!("Alert{i:03}"),
                &[("agent", &format!("agent-{i:03}")), ("severity", "warning")],
                &[("summary", &format!("summary of alert #{i:03} <x> & y"))],
            )
        })
        .collect();
    let n = notification(alerts);

    let parts = render::telegram(&n, &utc()).unwrap();
    assert!(parts.len() > 1);
    let texts = visible(&parts);
    let mut seen = vec![0; 500];
    for (p, text) in parts.iter().zip(&texts) {
        for &i in &p.alert_indices {
            seen[i] += 1;
            // The part claims the alerts it carries, and carries them.
            assert!(text.contains(&format!("summary of alert #{i:03} <x> & y")));
        }
        assert_eq!(text.matches("Alert").count(), p.alert_indices.len());
    }
    assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
    let total = parts.len();
    assert!(
        texts[0].starts_with(&format!(
            "🔥 500 firing · part 1/{total}\n\n⚠️ FIRING · Alert000"
        )),
        "{}",
        texts[0]
    );

    let slack = render::slack(&n, &utc()).unwrap();
    let mut seen = vec![0; 500];
    for p in &slack {
        let blocks = p.body["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50);
        let text: String = blocks
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .collect();
        for &i in &p.alert_indices {
            seen[i] += 1;
            assert!(text.contains(&format!("*Alert{i:03}*")));
        }
        assert_eq!(text.matches("*Alert").count(), p.alert_indices.len());
    }
    assert!(seen.iter().all(|&c| c == 1));

    assert_eq!(render::console(&n, &utc()).unwrap().len(), 500);
}

#[test]
fn splits_are_counted_in_the_metrics() {
    let (metrics, registry) = vpsmon_receiver::metrics::Metrics::new();
    let dir = tempfile::tempdir().unwrap();
    let cli = vpsmon_receiver::cli::Cli {
        templates_dir: Some(dir.path().to_owned()),
        ..Default::default()
    };
    let config = vpsmon_receiver::config::Config::load(&cli, &|_| None).unwrap();
    let ctx = RenderContext::from_config(&config, &metrics).unwrap();
    let alerts = (0..200)
        .map(|i| alert(&format!("A{i}"), &[], &[("summary", &"x".repeat(100))]))
        .collect();
    let n = notification(alerts);
    let tg = render::telegram(&n, &ctx).unwrap().len();
    let sl = render::slack(&n, &ctx).unwrap().len();
    render::telegram(&notification(vec![alert("One", &[], &[])]), &ctx).unwrap();
    let text = vpsmon_receiver::metrics::encode(&registry);
    let line = |i: &str, v: usize| {
        format!("vpsmon_receiver_messages_split_total{{integration=\"{i}\"}} {v}")
    };
    assert!(tg > 1 && sl > 1);
    assert!(
        text.lines().any(|l| l == line("telegram", tg - 1)),
        "{text}"
    );
    assert!(text.lines().any(|l| l == line("slack", sl - 1)), "{text}");
}

#[test]
fn templates_can_be_overridden_and_stay_escaped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("telegram.html"),
        "<b>{{ name }}</b> on {{ labels.agent }}: {{ annotations.summary }}",
    )
    .unwrap();
    let ctx = RenderContext::new(chrono_tz::UTC, Some(dir.path())).unwrap();
    let n = notification(vec![alert(
        "Custom",
        &[("agent", "a<1>")],
        &[("summary", "x & y")],
    )]);
    assert_eq!(
        render::telegram(&n, &ctx).unwrap()[0].body,
        "<b>Custom</b> on a&lt;1&gt;: x &amp; y"
    );
    // The other templates keep their embedded defaults.
    assert!(render::console(&n, &ctx).unwrap()[0].starts_with("FIRING - Custom"));

    std::fs::write(dir.path().join("slack.md"), "{{ name ").unwrap();
    let err = RenderContext::new(chrono_tz::UTC, Some(dir.path())).unwrap_err();
    assert!(err.to_string().starts_with("template slack.md: "), "{err}");

    // A template that writes a tag Telegram refuses is caught before sending.
    std::fs::write(dir.path().join("slack.md"), "{{ name }}").unwrap();
    std::fs::write(dir.path().join("telegram.html"), "<br>{{ name }}").unwrap();
    let ctx = RenderContext::new(chrono_tz::UTC, Some(dir.path())).unwrap();
    let err = render::telegram(&n, &ctx).unwrap_err().to_string();
    assert!(
        err.contains("template telegram.html") && err.contains("<br>"),
        "{err}"
    );
}

#[test]
fn alerts_alertmanager_left_out_are_mentioned() {
    let mut n = notification(vec![alert("One", &[("severity", "critical")], &[])]);
    n.truncated_alerts = 3;
    let body = &render::telegram(&n, &utc()).unwrap()[0].body;
    assert!(
        body.starts_with(
            "<b>🔥 1 firing</b>\n<i>3 more alerts not sent by Alertmanager (max_alerts)</i>\n\n🔥 <b>FIRING</b> · <b>One</b>"
        ),
        "{body}"
    );
    // One left out is "1 more alert", in Telegram and Slack alike.
    n.truncated_alerts = 1;
    let body = &render::telegram(&n, &utc()).unwrap()[0].body;
    assert!(
        body.starts_with(
            "<b>🔥 1 firing</b>\n<i>1 more alert not sent by Alertmanager (max_alerts)</i>\n"
        ),
        "{body}"
    );
    let text = &render::slack(&n, &utc()).unwrap()[0].body["text"];
    assert_eq!(
        text,
        "🔥 1 firing: One; 1 more alert not sent by Alertmanager (max_alerts)"
    );
}

#[test]
fn slack_says_too_which_alerts_alertmanager_left_out_within_its_block_limit() {
    let alerts: Vec<Alert> = (0..60)
        .map(|i| alert(&format!("A{i}"), &[("severity", "warning")], &[]))
        .collect();
    let mut n = notification(alerts);
    n.truncated_alerts = 8;
    let parts = render::slack(&n, &utc()).unwrap();
    let first = &parts[0].body;
    assert_eq!(
        first["blocks"][0],
        serde_json::json!({"type": "context", "elements": [{"type": "mrkdwn", "text": "_8 more alerts not sent by Alertmanager (max_alerts)_"}]})
    );
    for p in &parts {
        assert!(p.body["blocks"].as_array().unwrap().len() <= render::slack::MAX_BLOCKS);
        assert!(
            p.body["text"]
                .as_str()
                .unwrap()
                .ends_with("; 8 more alerts not sent by Alertmanager (max_alerts)"),
            "{}",
            p.body["text"]
        );
    }
}
