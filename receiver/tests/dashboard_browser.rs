//! The dashboard in a real browser (Debian's `chromium`, headless) against a real stack:
//! the page loads, the script refreshes it from `/api/status`, the card's numbers match
//! Prometheus, and a screenshot is taken.
//!
//! Set `DASHBOARD_SCREENSHOT_OUT=<file.png>` to keep a copy of the screenshot.

mod dashboard_stack;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use dashboard_stack::{Stack, Target};
use testkit::procs::require_binary;
use vpsmon_receiver::fleet::queries;
use vpsmon_receiver::fleet::series::Metric;

/// Runs headless chromium with the issue's flags plus `extra`; returns stdout.
fn chromium(profile: &Path, extra: &[&str], url: &str) -> String {
    let bin = require_binary(
        "CHROMIUM_BIN",
        &["chromium", "chromium-browser"],
        "chromium",
    );
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The value of attribute `name` on the first tag after `from`.
fn attr<'a>(html: &'a str, name: &str) -> &'a str {
    let key = format!(r#"{name}=""#);
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in\n{html}"))
        + key.len();
    &html[at..at + html[at..].find('"').unwrap()]
}

/// The web1 card's `data-value` and shown text for `metric`.
fn shown<'a>(card: &'a str, metric: &str) -> (f64, &'a str) {
    let key = format!(r#"data-metric="{metric}""#);
    let at = card
        .find(&key)
        .unwrap_or_else(|| panic!("no {metric} in\n{card}"));
    let rest = &card[at..];
    let value = attr(rest, "data-value").parse().unwrap_or(f64::NAN);
    let dd = rest.find("<dd>").unwrap() + 4;
    (value, &rest[dd..dd + rest[dd..].find("</dd>").unwrap()])
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_loads_refreshes_in_place_and_matches_prometheus() {
    let stack = Stack::start(&[Target::up("web1"), Target::down("web2")]).await;
    stack.wait_scraped(2, 1).await;
    let config = stack.config("dashboard: {refresh: 1s}\n");
    let state = vpsmon_receiver::state(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(vpsmon_receiver::server::run(listener, state, async {
        let _ = stopped.await;
    }));

    let profile = stack.dir.path().join("chromium-profile");
    let dom = {
        let (p, u) = (profile.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            chromium(&p, &["--virtual-time-budget=5000", "--dump-dom"], &u)
        })
        .await
        .unwrap()
    };

    // Loaded, and the script replaced the server-rendered data at least once.
    assert!(dom.contains("<h1>vpsmon fleet</h1>"), "{dom}");
    let body = &dom[dom.find("<body").unwrap()..];
    let refreshes: u32 = attr(body, "data-refreshes").parse().unwrap();
    assert!(
        refreshes >= 1,
        "the script never refreshed the page:\n{dom}"
    );
    let rendered = attr(body, "data-rendered-timestamp");
    let t: f64 = attr(body, "data-timestamp").parse().unwrap();
    assert_ne!(
        rendered,
        attr(body, "data-timestamp"),
        "the data was not replaced:\n{dom}"
    );
    assert!(!dom.contains(r#"class="banner""#), "{dom}");

    // The card's numbers are Prometheus' for the refresh's timestamp.
    let start = dom.find(r#"data-agent="web1""#).expect("a card for web1");
    let card = &dom[start..start + dom[start..].find("</article>").unwrap()];
    assert!(card.contains(r#"<span class="state">up</span>"#), "{card}");
    let fleet = queries::FLEET;
    for (metric, q, text) in [
        ("cpu", Metric::Cpu.queries(fleet)[0].1.clone(), "%"),
        ("memory", Metric::Memory.queries(fleet)[0].1.clone(), "%"),
        ("disk", Metric::Disk.queries(fleet)[0].1.clone(), "%"),
        ("load", Metric::Load.queries(fleet)[0].1.clone(), ""),
    ] {
        let expected = stack.query(&q, t).await;
        let (value, shown_text) = shown(card, metric);
        assert_eq!(value, expected[0].1, "{metric}: {q} at {t}\n{card}");
        let want = if text == "%" {
            format!("{:.1} %", expected[0].1)
        } else {
            format!("{:.2}", expected[0].1)
        };
        assert_eq!(shown_text, want, "{metric}\n{card}");
    }
    assert!(
        dom.contains(r#"<span class="num" id="sum-total">2</span>"#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<span class="num" id="sum-up">1</span>"#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<span class="num" id="sum-down">1</span>"#),
        "{dom}"
    );
    // The down agent, as the script redrew it.
    assert!(
        dom.contains(r#"<article class="card down" data-agent="web2">"#),
        "{dom}"
    );
    let start = dom.find(r#"data-agent="web2""#).unwrap();
    let down = &dom[start..start + dom[start..].find("</article>").unwrap()];
    assert!(
        down.contains(r#"<span class="state">down</span>"#),
        "{down}"
    );
    assert!(down.contains("down: the last scrape failed"), "{down}");

    // A screenshot of the page as a user sees it.
    let shot = stack.dir.path().join("dashboard.png");
    let shot_arg = format!("--screenshot={}", shot.display());
    {
        let (p, u, a) = (profile.clone(), url.clone(), shot_arg.clone());
        tokio::task::spawn_blocking(move || {
            chromium(
                &p,
                &["--virtual-time-budget=3000", "--window-size=1280,900", &a],
                &u,
            )
        })
        .await
        .unwrap();
    }
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (1280, 900));
    if let Ok(out) = std::env::var("DASHBOARD_SCREENSHOT_OUT") {
        std::fs::copy(&shot, &out).unwrap();
    }

    // The agent page, charts included.
    let agent_dom = {
        let (p, u) = (profile.clone(), format!("{url}agents/web1"));
        tokio::task::spawn_blocking(move || chromium(&p, &["--dump-dom"], &u))
            .await
            .unwrap()
    };
    assert_eq!(
        agent_dom.matches("<figure class=\"chart\"").count(),
        5,
        "{agent_dom}"
    );
    if let Ok(out) = std::env::var("DASHBOARD_SCREENSHOT_OUT") {
        let out = out.replace(".png", "-agent.png");
        let p = profile.clone();
        let u = format!("{url}agents/web1");
        tokio::task::spawn_blocking(move || {
            chromium(
                &p,
                &["--window-size=1280,1400", &format!("--screenshot={out}")],
                &u,
            )
        })
        .await
        .unwrap();
    }

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Cross-site request forgery in a real browser: a page on another origin (another port) posts
/// the silence form to the receiver on load, as a forged page would. Chromium sends its own
/// `Origin`; the receiver answers 403 and Alertmanager gets no silence.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_on_another_origin_cannot_silence_an_alert() {
    use vpsmon_receiver::promapi::AlertmanagerClient;
    use vpsmon_receiver::promapi::alertmanager::AlertFilter;
    let stack = Stack::start(&[]).await;
    stack
        .post_alert(
            serde_json::json!({"alertname": "HighCPU", "agent": "web1", "severity": "warning"}),
            serde_json::json!({"summary": "busy"}),
            1,
        )
        .await;
    let am = AlertmanagerClient::new(&stack.alertmanager_url, Duration::from_secs(5));
    let fingerprint = am.alerts(AlertFilter::FIRING).await.unwrap()[0]
        .fingerprint
        .clone();

    let state = vpsmon_receiver::state(stack.config("")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(vpsmon_receiver::server::run(listener, state, async {
        let _ = stopped.await;
    }));
    // The forged page: the dashboard's own form, submitted by the page's script.
    let forged = format!(
        r#"<!doctype html><form method="post" action="{receiver}/silences"><input type="hidden" name="fingerprint" value="{fingerprint}"><button name="duration" value="24h">Silence 24h</button></form><script>document.forms[0].requestSubmit(document.querySelector("button"))</script>"#
    );
    let attacker = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let attacker_url = format!("http://{}/", attacker.local_addr().unwrap());
    let page = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let forged = forged.clone();
            async move { axum::response::Html(forged) }
        }),
    );
    tokio::spawn(async move { axum::serve(attacker, page).await });

    let profile = stack.dir.path().join("chromium-profile");
    let dom = tokio::task::spawn_blocking(move || {
        chromium(
            &profile,
            &["--virtual-time-budget=5000", "--dump-dom"],
            &attacker_url,
        )
    })
    .await
    .unwrap();
    assert!(
        dom.contains("cross-site request refused"),
        "the browser did not land on the refusal:\n{dom}"
    );
    assert_eq!(
        am.silences().await.unwrap(),
        vec![],
        "no silence was created"
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// The agents of the 1,000-agent test: every 20th down, every 100th (others) with a nearly full
/// disk, the rest below every threshold.
fn thousand_agents() -> Vec<dashboard_stack::SimAgent> {
    (0..1000)
        .map(|i| dashboard_stack::SimAgent {
            name: format!("agent-{i:04}"),
            up: i % 20 != 7,
            cpu_percent: 5.0 + (i % 30) as f64,
            memory_percent: 30.0 + (i % 40) as f64,
            disk_percent: if i % 100 == 3 {
                95.0
            } else {
                40.0 + (i % 40) as f64
            },
        })
        .collect()
}

/// The `data-agent` of every table row of the rows view, in page order.
fn row_agents(dom: &str) -> Vec<&str> {
    dom.split(r#"<tr class="agent "#)
        .skip(1)
        .map(|r| attr(r, "data-agent"))
        .collect()
}

/// Prometheus' count of answered instant queries (its own `/metrics`).
async fn instant_queries(prometheus: &str) -> f64 {
    let text = reqwest::get(format!("{prometheus}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| {
            l.starts_with("prometheus_http_requests_total{")
                && l.contains(r#"code="200""#)
                && l.contains(r#"handler="/api/v1/query""#)
        })
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

/// The fleet page with 1,000 agents in a real Prometheus (their last hour written as TSDB blocks
/// by promtool), in headless chromium: the compact rows, problems first, the filter, the cards
/// on request; nine PromQL queries whatever the fleet's size. Prints the page's latency and size.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_agents_are_rows_worst_first_and_the_filter_narrows_them() {
    let agents = thousand_agents();
    let end = chrono::Utc::now().timestamp();
    let stack = Stack::start_with_history(&agents, end).await;
    // Two agents with a firing alert (Alertmanager's, as the rules would make).
    let alerting = ["agent-0500", "agent-0501"];
    for a in alerting {
        stack
            .post_alert(
                serde_json::json!({"alertname": "HighLoad", "agent": a, "severity": "warning"}),
                serde_json::json!({"summary": format!("{a} is loaded")}),
                3,
            )
            .await;
    }
    let config = stack.config("dashboard: {refresh: 1s}\n");
    let state = vpsmon_receiver::state(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(vpsmon_receiver::server::run(listener, state, async {
        let _ = stopped.await;
    }));
    let profile = stack.dir.path().join("chromium-profile");
    let load = |path: &str| {
        let (p, u) = (profile.clone(), format!("{base}{path}"));
        tokio::task::spawn_blocking(move || {
            chromium(&p, &["--virtual-time-budget=2500", "--dump-dom"], &u)
        })
    };

    // What the page should show first: the down agents, then the alerting ones, then those over
    // the disk threshold (by name among equals).
    let down: Vec<&str> = agents
        .iter()
        .filter(|a| !a.up)
        .map(|a| a.name.as_str())
        .collect();
    let full: Vec<&str> = agents
        .iter()
        .filter(|a| a.up && a.disk_percent > 90.0)
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!((down.len(), full.len()), (50, 10));
    let mut worst = down.clone();
    // Both alerting agents have one alert; agent-0501's disk is the fuller (61 % against 60 %).
    worst.extend(["agent-0501", "agent-0500"]);
    worst.extend(&full);

    // `/`: a table row per agent (more than 24), the problems first, refreshed in place by the
    // script without losing the order or the view.
    let dom = load("/").await.unwrap();
    let body = &dom[dom.find("<body").unwrap()..];
    assert!(
        attr(body, "data-refreshes").parse::<u32>().unwrap() >= 1,
        "{body:.2000}"
    );
    assert!(
        dom.contains(r#"<table class="rows" data-view="rows">"#),
        "{dom:.3000}"
    );
    assert!(!dom.contains(r#"<article class="card"#));
    assert!(dom.contains(r#"<span class="num" id="sum-total">1000</span>"#));
    assert!(dom.contains(r#"<span class="num" id="sum-down">50</span>"#));
    assert!(dom.contains(r#"<span class="num" id="sum-alerts">2</span>"#));
    let rows = row_agents(&dom);
    assert_eq!(rows.len(), 1000);
    assert_eq!(rows[..worst.len()], worst[..]);
    let first = &dom[dom.find(r#"<tr class="agent "#).unwrap()..];
    let first = &first[..first.find("</tr>").unwrap()];
    assert!(first.starts_with(r#"<tr class="agent down""#), "{first}");
    assert!(first.contains(r#"<td class="state">down</td>"#), "{first}");
    let alerting_row = &dom[dom.find(r#"data-agent="agent-0500""#).unwrap()..];
    assert!(
        alerting_row[..alerting_row.find("</tr>").unwrap()].contains(">1 firing</td>"),
        "{alerting_row:.600}"
    );
    assert!(
        dom.contains(
            r#"<span class="shown" id="shown" data-shown="1000">1000 agents, worst first</span>"#
        ),
        "{dom:.3000}"
    );

    if let Ok(out) = std::env::var("DASHBOARD_SCREENSHOT_OUT") {
        let (p, u) = (profile.clone(), format!("{base}/"));
        let arg = format!("--screenshot={}", out.replace(".png", "-1000.png"));
        tokio::task::spawn_blocking(move || {
            chromium(
                &p,
                &["--virtual-time-budget=2500", "--window-size=1280,900", &arg],
                &u,
            )
        })
        .await
        .unwrap();
    }

    // `/?q=agent-012&sort=name`: the ten agents whose name holds it, by name, still after the
    // script's refresh.
    let dom = load("/?q=agent-012&sort=name").await.unwrap();
    let body = &dom[dom.find("<body").unwrap()..];
    assert!(attr(body, "data-refreshes").parse::<u32>().unwrap() >= 1);
    let want: Vec<String> = (120..130).map(|i| format!("agent-{i:04}")).collect();
    assert_eq!(row_agents(&dom), want);
    assert!(
        dom.contains(r#"data-shown="10">10 of 1000 agents match “agent-012”</span>"#),
        "{dom:.3000}"
    );
    assert!(
        dom.contains(r#"value="agent-012""#),
        "the box keeps the filter"
    );
    // An address works too.
    let dom = load("/?q=10.0.3.231:9100").await.unwrap();
    assert_eq!(row_agents(&dom), ["agent-0999"]);

    // `?view=cards&sort=name`: cards on request, by name.
    let dom = load("/?view=cards&sort=name&q=agent-00").await.unwrap();
    assert!(!dom.contains(r#"<table class="rows""#));
    let cards: Vec<&str> = dom
        .split(r#"<article class="card "#)
        .skip(1)
        .map(|c| attr(c, "data-agent"))
        .collect();
    let want: Vec<String> = (0..100).map(|i| format!("agent-{i:04}")).collect();
    assert_eq!(cards, want);

    // One page load asks Prometheus nine instant queries, not one per agent.
    let http = reqwest::Client::new();
    let before = instant_queries(&stack.prometheus_url).await;
    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    page.bytes().await.unwrap();
    assert_eq!(instant_queries(&stack.prometheus_url).await - before, 9.0);

    // The figures for the README (no timed assertion): latency and size as served.
    for path in ["/", "/?view=cards", "/?q=agent-012", "/api/status"] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            size = http
                .get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .len();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "1000 agents: GET {path}: {size} bytes, median {:.0} ms (min {:.0}, max {:.0})",
            times[2], times[0], times[4]
        );
    }

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
