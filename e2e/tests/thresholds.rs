//! Issue 16.4, one source for thresholds: the dashboard colours at the threshold of the rule
//! Prometheus loaded. gen-config run with `--cpu-threshold 70`, an agent at 75 % CPU (a
//! fixture /proc/stat), the real Prometheus loading the generated rules, the real receiver's
//! dashboard: the card is red. With the configured default (80 %) it would be amber.

use std::time::Duration;

use testkit::procs::eventually;
use vpsmon_e2e::procfs::CpuFixture;
use vpsmon_e2e::{AgentSpec, Fleet, Options};

/// The `<article>` of `agent`'s card on the dashboard page.
fn card<'a>(html: &'a str, agent: &str) -> Option<&'a str> {
    let at = html.find(&format!(r#"data-agent="{agent}">"#))?;
    let start = html[..at].rfind("<article")?;
    let end = at + html[at..].find("</article>")?;
    Some(&html[start..end])
}

/// The CPU metric's class and value on a card: `("crit", 75.0)`.
fn cpu(card: &str) -> Option<(String, f64)> {
    let at = card.find(r#"" data-metric="cpu" data-value=""#)?;
    let class = card[..at].rsplit("class=\"m ").next()?.to_string();
    let rest = &card[at + r#"" data-metric="cpu" data-value=""#.len()..];
    let value = rest[..rest.find('"')?].parse().ok()?;
    Some((class, value))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_card_at_75_percent_cpu_is_red_when_the_generated_rule_alerts_at_70() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = CpuFixture::start(dir.path(), 75).unwrap();
    let mut f = Fleet::start_with_args(
        Options {
            agents: vec![AgentSpec {
                name: "busy-1".into(),
                procfs: Some(fixture.procfs().to_owned()),
                ..AgentSpec::real("busy-1")
            }],
            shards: 1,
            remote_write: None,
            receiver: false,
        },
        "fast",
        &["--cpu-threshold", "70"],
    )
    .await
    .expect("start the fleet");
    // The receiver's dashboard asks this fleet's Prometheus and Alertmanager; its own
    // dashboard.thresholds stay at the defaults (CPU 80 %).
    let prometheus = format!("http://127.0.0.1:{}", f.prometheus[0].0);
    f.receiver_env = vec![
        ("PROMETHEUS_URL".into(), prometheus),
        (
            "ALERTMANAGER_URL".into(),
            format!("http://127.0.0.1:{}", f.alertmanager_port),
        ),
    ];
    f.start_receiver().await.expect("start the receiver");

    let url = format!("http://127.0.0.1:{}/", f.receiver_port);
    let (url, last) = (&url, &std::sync::Mutex::new(String::new()));
    // The dashboard's CPU is a rate over 2m, which Prometheus divides by the whole range: a
    // series younger than that reads busier than it is, and reaches 75 % after about 2 minutes.
    let (page, class, value) = eventually(
        Duration::from_secs(240),
        "the dashboard to show busy-1's CPU between 70 and 80 %",
        || async move {
            let page = reqwest::get(url).await.ok()?.text().await.ok()?;
            *last.lock().unwrap() = page.clone();
            let (class, value) = cpu(card(&page, "busy-1")?)?;
            // Between the two thresholds (a loaded machine makes the rate jitter around 75).
            ((70.5..79.5).contains(&value)).then_some((page, class, value))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}; the last page:\n{}", last.lock().unwrap()));
    assert_eq!(class, "crit", "CPU {value} % on\n{page}");
    assert!(
        page.contains("(CPU 70 %, memory 85 %, disk 90 %, load 1.5 per CPU)"),
        "{page}"
    );
}
