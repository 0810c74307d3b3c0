//! The dashboard against a real Prometheus scraping real `vpsmon-exporter`s and a real
//! Alertmanager: what a user sees on `/`, `/agents/{name}` and `/api/status`.

mod dashboard_stack;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dashboard_stack::{Stack, Target, config_for};
use serde_json::{Value, json};
use tower::ServiceExt;
use vpsmon_receiver::config::Config;
use vpsmon_receiver::fleet::queries;
use vpsmon_receiver::fleet::series::Metric;
use vpsmon_receiver::server::app;

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn get(config: Config, path: &str, auth: Option<&str>) -> Page {
    let state = vpsmon_receiver::state(config).unwrap();
    let mut req = Request::get(path);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let resp = app(state)
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 10 << 20)
        .await
        .unwrap();
    Page {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn closed_port_url() -> String {
    format!("http://127.0.0.1:{}", testkit::procs::free_port())
}

const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "\"><img src=x onerror=alert(2)>";

#[tokio::test(flavor = "multi_thread")]
async fn hostile_label_values_stay_escaped_and_a_down_agent_shows_as_down() {
    let stack = Stack::start(&[Target::up(SCRIPT), Target::down(IMG)]).await;
    stack.wait_scraped(2, 1).await;
    let posted = std::time::Instant::now();
    stack
        .post_alert(
            json!({"alertname": "HighCPU", "agent": IMG, "severity": "warning"}),
            json!({"summary": "<b onmouseover=alert(3)>busy</b>"}),
            5,
        )
        .await;

    let page = get(stack.config(""), "/", None).await;
    // The alert's age is 5 minutes plus what posting it and rendering the page took.
    let took = posted.elapsed().as_secs();
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.body;
    for raw in [SCRIPT, "<img src=x", "<b onmouseover"] {
        assert!(
            !html.contains(raw),
            "unescaped {raw:?} in the page:\n{html}"
        );
    }
    // tera escapes & < > " ' and /.
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&lt;b onmouseover=alert(3)&gt;busy&lt;&#x2F;b&gt;"),
        "{html}"
    );
    // The only script is the external one.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(html.contains(r#"<script src="/assets/app.js" defer></script>"#));

    // The summary and the down card.
    assert!(
        html.contains(r#"<span class="num" id="sum-total">2</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="num" id="sum-up">1</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="num" id="sum-down">1</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="num" id="sum-alerts">1</span>"#),
        "{html}"
    );
    let down = card(html, "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;");
    assert!(down.starts_with(r#"<article class="card down""#), "{down}");
    assert!(
        down.contains(r#"<span class="state">down</span>"#),
        "{down}"
    );
    assert!(down.contains("down: the last scrape failed"), "{down}");
    assert!(
        down.contains(r#"data-metric="cpu" data-value=""><dt>CPU</dt><dd>–</dd>"#),
        "{down}"
    );
    let up = card(html, "&lt;script&gt;alert(1)&lt;&#x2F;script&gt;");
    assert!(up.starts_with(r#"<article class="card up""#), "{up}");
    assert!(up.contains(r#"<span class="state">up</span>"#), "{up}");
    // The alert row, with its age.
    assert!(
        html.contains(
            "<td>HighCPU</td><td>&quot;&gt;&lt;img src=x onerror=alert(2)&gt;</td><td>warning</td>"
        ),
        "{html}"
    );
    assert!(
        (300..=300 + took + 1).any(|age| html.contains(&format!(
            ">{}m {}s</td>",
            age / 60,
            age % 60
        ))),
        "no age of 5m 0s to 5m {}s in {html}",
        took + 1
    );

    // The JSON keeps the values as they are (it is data, not markup) and says down.
    let api = get(stack.config(""), "/api/status", None).await;
    let v: Value = serde_json::from_str(&api.body).unwrap();
    let down = v["vps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["hostname"] == IMG)
        .unwrap();
    assert_eq!(down["status"], "error");
    assert_eq!(down["data"]["cpu"]["percent"], Value::Null);
    assert_eq!(api.headers[header::CONTENT_TYPE], "application/json");

    // The agent page of the hostile agent: charts drawn, names escaped in SVG and HTML.
    let path = format!(
        "/agents/{}",
        vpsmon_receiver::dashboard::view::path_segment(SCRIPT)
    );
    let page = get(stack.config(""), &path, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains(SCRIPT), "{}", page.body);
    // Redrawn every dashboard.refresh (30 s by default), like the fleet page.
    assert!(
        page.body
            .contains(r#"<meta http-equiv="refresh" content="30">"#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("The last 1h, redrawn every 30 s"),
        "{}",
        page.body
    );
    for chart in ["cpu", "memory", "disk", "load", "network"] {
        assert!(
            page.body.contains(&format!(
                r#"<figure class="chart" data-chart="{chart}"><svg"#
            )),
            "{chart}: {}",
            page.body
        );
    }
    assert!(
        page.body
            .contains("CPU busy — &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        page.body
    );

    // An unknown agent: 404, listing the known ones, escaped.
    let page = get(stack.config(""), "/agents/nope%3Cb%3E", None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.body.contains("No agent named “nope&lt;b&gt;”."),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"<li><a href="&#x2F;agents&#x2F;%3Cscript%3Ealert%281%29%3C%2Fscript%3E">&lt;script&gt;alert(1)&lt;&#x2F;script&gt;</a></li>"#), "{}", page.body);
}

/// The card of `agent` (escaped as in the page).
fn card<'a>(html: &'a str, agent: &str) -> &'a str {
    let marker = format!(r#"data-agent="{agent}">"#);
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no card for {agent} in\n{html}"));
    let start = html[..at].rfind("<article").unwrap();
    let end = at + html[at..].find("</article>").unwrap();
    &html[start..end]
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_fleet_reads_sensibly() {
    let stack = Stack::start(&[]).await;
    let page = get(stack.config(""), "/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(r#"<p class="empty">No agents yet — add one to the agent list.</p>"#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"<span class="num" id="sum-total">0</span>"#)
    );
    assert!(page.body.contains("None firing."));
    assert!(!page.body.contains(r#"class="banner""#), "{}", page.body);
    let api = get(stack.config(""), "/api/status", None).await;
    let v: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(v["vps"], json!([]));
    assert_eq!(
        v["summary"],
        json!({"total": 0, "healthy": 0, "errors": 0, "firing_alerts": 0})
    );
    assert_eq!(v["banners"], json!([]));
}

/// Over a phone's link the pages go gzipped when the browser asks (every browser does), and
/// read the same once inflated; a client that does not ask gets them plain.
#[tokio::test(flavor = "multi_thread")]
async fn pages_are_gzipped_for_a_browser_that_asks() {
    use std::io::Read;
    let stack = Stack::start(&[Target::up("web1"), Target::up("web2")]).await;
    stack.wait_scraped(2, 2).await;
    for path in ["/", "/api/status", "/assets/app.js", "/agents/web1"] {
        let state = vpsmon_receiver::state(stack.config("")).unwrap();
        let resp = app(state)
            .oneshot(
                Request::get(path)
                    .header(header::ACCEPT_ENCODING, "gzip, deflate, br")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(
            resp.headers()
                .get(header::CONTENT_ENCODING)
                .map(|v| v.as_bytes()),
            Some(&b"gzip"[..]),
            "{path}"
        );
        assert!(
            resp.headers().contains_key(header::CONTENT_SECURITY_POLICY),
            "{path}"
        );
        let gzipped = axum::body::to_bytes(resp.into_body(), 10 << 20)
            .await
            .unwrap();
        let mut inflated = String::new();
        flate2::read::GzDecoder::new(&gzipped[..])
            .read_to_string(&mut inflated)
            .unwrap();
        let plain = get(stack.config(""), path, None).await;
        assert_eq!(plain.headers.get(header::CONTENT_ENCODING), None, "{path}");
        if path.starts_with("/assets/") {
            assert_eq!(inflated, plain.body, "{path}");
        } else {
            // Generated per request (ages, times): the same agent, as a user reads it.
            assert!(inflated.contains("web1"), "{path}: {inflated}");
            assert!(plain.body.contains("web1"), "{path}: {}", plain.body);
        }
        assert!(
            gzipped.len() < plain.body.len(),
            "{path}: {} >= {}",
            gzipped.len(),
            plain.body.len()
        );
    }
}

/// A new stack: the agent list has an agent, Prometheus has not scraped it yet (no `up` series).
/// The page says it waits for the first scrape, not that the list is empty.
#[tokio::test(flavor = "multi_thread")]
async fn before_the_first_scrape_the_page_says_it_is_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let prom_port = testkit::procs::free_port();
    let yml = dir.path().join("prometheus.yml");
    // An hour's interval: the first scrape of the target comes at an offset within the hour.
    std::fs::write(
        &yml,
        format!(
            "global: {{scrape_interval: 1h}}\nscrape_configs:\n  - job_name: agents\n    static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n        labels: {{agent: web1}}\n",
            testkit::procs::free_port()
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(testkit::procs::require_binary(
        "PROMETHEUS_BIN",
        &["prometheus"],
        "prometheus",
    ));
    cmd.arg(format!("--config.file={}", yml.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    let mut prom =
        testkit::procs::Proc::spawn("prometheus", cmd, &dir.path().join("prometheus.log")).unwrap();
    let prom_url = format!("http://127.0.0.1:{prom_port}");
    testkit::procs::wait_http_ok(
        &mut prom,
        &format!("{prom_url}/-/ready"),
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    // Prometheus lists a static target a few seconds after it is ready.
    let targets = format!("{prom_url}/api/v1/targets?state=active");
    let listed =
        testkit::procs::eventually(std::time::Duration::from_secs(30), "the target", || async {
            let body = reqwest::get(&targets).await.ok()?.text().await.ok()?;
            body.contains(r#""agent":"web1""#).then_some(())
        })
        .await;
    assert!(listed.is_ok(), "{listed:?}");
    let config = config_for(&dir, &prom_url, &closed_port_url(), "");
    let page = get(config, "/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(
            r#"<p class="empty">Waiting for the first scrape of 1 agent: Prometheus has not scraped it yet.</p>"#
        ),
        "{}",
        page.body
    );
    assert!(!page.body.contains("No agents yet"), "{}", page.body);
    assert!(
        page.body.contains(r#"id="sum-total-lbl">agents</span>"#),
        "0 agents: {}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_status_numbers_match_prometheus() {
    let stack = Stack::start(&[Target::up("web1")]).await;
    stack.wait_scraped(1, 1).await;
    stack
        .post_alert(
            json!({"alertname": "HighMemory", "agent": "web1", "severity": "warning"}),
            json!({"summary": "memory"}),
            2,
        )
        .await;
    let api = get(stack.config(""), "/api/status", None).await;
    assert_eq!(api.status, StatusCode::OK);
    let v: Value = serde_json::from_str(&api.body).unwrap();
    let t = v["unix_time"].as_f64().unwrap();
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'), "{v}");
    assert_eq!(
        v["summary"],
        json!({"total": 1, "healthy": 1, "errors": 0, "firing_alerts": 1})
    );
    assert_eq!(v["alerts"][0]["alertname"], "HighMemory");
    assert_eq!(v["alerts"][0]["agent"], "web1");
    let web1 = &v["vps"][0];
    assert_eq!(web1["hostname"], "web1");
    assert_eq!(web1["status"], "healthy");

    let fleet = queries::FLEET;
    let checks: Vec<(&str, String)> = vec![
        ("/data/cpu/percent", Metric::Cpu.queries(fleet)[0].1.clone()),
        ("/data/cpu/count", queries::CPU_COUNT.to_string()),
        (
            "/data/memory/percent",
            Metric::Memory.queries(fleet)[0].1.clone(),
        ),
        (
            "/data/disk/percent",
            Metric::Disk.queries(fleet)[0].1.clone(),
        ),
        (
            "/data/load/per_cpu",
            Metric::Load.queries(fleet)[0].1.clone(),
        ),
        (
            "/data/network/receive_bytes_per_second",
            Metric::Network.queries(fleet)[0].1.clone(),
        ),
        (
            "/data/network/transmit_bytes_per_second",
            Metric::Network.queries(fleet)[1].1.clone(),
        ),
        ("/last_scrape_seconds", queries::SCRAPE_AGE.to_string()),
    ];
    for (pointer, q) in checks {
        let expected = stack.query(&q, t).await;
        assert_eq!(expected.len(), 1, "{q}: {expected:?}");
        assert_eq!(expected[0].0, "web1");
        let got = web1.pointer(pointer).and_then(Value::as_f64);
        // serde_json's default float parser may be 1 ulp off; the numbers are Prometheus'.
        let close =
            got.is_some_and(|g| (g - expected[0].1).abs() <= 1e-12 * expected[0].1.abs().max(1.0));
        assert!(
            close,
            "{pointer} ({q}) at {t}: dashboard {got:?}, Prometheus {}",
            expected[0].1
        );
    }
    // A sanity check that these are the real machine's numbers, not zeros.
    let mem = web1["data"]["memory"]["percent"].as_f64().unwrap();
    assert!(mem > 0.0 && mem < 100.0, "{mem}");
    let cpus = web1["data"]["cpu"]["count"].as_f64().unwrap();
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let online = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    assert_eq!(cpus, online as f64);

    // Each value is coloured against its own threshold: disk just under (amber), memory over
    // (red), CPU and load far under (green).
    let disk = web1["data"]["disk"]["percent"].as_f64().unwrap();
    let extra = format!(
        "dashboard: {{thresholds: {{cpu: 1000, memory: 0.001, disk: {}, load: 1000}}}}\n",
        disk * 1.05
    );
    let api = get(stack.config(&extra), "/api/status", None).await;
    let v: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(
        v["vps"][0]["levels"],
        json!({"cpu": "ok", "memory": "crit", "disk": "warn", "load": "ok"})
    );
    let page = get(stack.config(&extra), "/", None).await;
    // One agent, one alert: the summary says so in the singular.
    for want in [
        r#"<span class="num" id="sum-total">1</span><span class="lbl" id="sum-total-lbl">agent</span>"#,
        r#"id="sum-alerts">1</span><span class="lbl" id="sum-alerts-lbl">firing alert</span>"#,
    ] {
        assert!(page.body.contains(want), "{want} not in\n{}", page.body);
    }
    assert_eq!(
        v["words"],
        json!({"agents": "agent", "firing_alerts": "firing alert"})
    );
    for (metric, level) in [
        ("cpu", "ok"),
        ("memory", "crit"),
        ("disk", "warn"),
        ("load", "ok"),
    ] {
        let want = format!(r#"<div class="m {level}" data-metric="{metric}""#);
        assert!(page.body.contains(&want), "{want} not in\n{}", page.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_and_alertmanager_down_show_banners_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (prom, am) = (closed_port_url(), closed_port_url());
    let config = || config_for(&dir, &prom, &am, "dashboard: {timeout: 2s}\n");
    let page = get(config(), "/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    // tera escapes '/' too.
    let (p, a) = (prom.replace('/', "&#x2F;"), am.replace('/', "&#x2F;"));
    let want_prom = format!(
        r#"<p class="banner" data-service="Prometheus">Prometheus at {p} is unreachable: connection refused</p>"#
    );
    let want_am = format!(
        r#"<p class="banner" data-service="Alertmanager">Alertmanager at {a} is unreachable: connection refused</p>"#
    );
    assert!(page.body.contains(&want_prom), "{}", page.body);
    assert!(page.body.contains(&want_am), "{}", page.body);
    assert!(
        page.body
            .contains("The fleet is unknown until Prometheus answers.")
    );
    assert!(page.body.contains("Unknown: Alertmanager did not answer."));
    assert!(
        page.body
            .contains(r#"<span class="num" id="sum-alerts">?</span>"#)
    );

    let api = get(config(), "/api/status", None).await;
    assert_eq!(api.status, StatusCode::OK);
    let v: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(
        v["banners"],
        json!([
            {"service": "Prometheus", "url": prom, "message": format!("Prometheus at {prom} is unreachable: connection refused")},
            {"service": "Alertmanager", "url": am, "message": format!("Alertmanager at {am} is unreachable: connection refused")},
        ])
    );
    assert_eq!(v["summary"]["firing_alerts"], Value::Null);
    assert_eq!(v["fleet_known"], false);

    let page = get(config(), "/agents/web1", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&want_prom), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prometheus_that_never_answers_times_out_with_a_banner() {
    // Accepts connections and never replies.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&dir, &url, &closed_port_url(), "dashboard: {timeout: 1s}\n");
    let page = get(config, "/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let escaped = url.replace('/', "&#x2F;");
    assert!(
        page.body.contains(&format!(
            r#"data-service="Prometheus">Prometheus at {escaped} did not answer within 1s</p>"#
        )),
        "{}",
        page.body
    );
    hold.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn security_headers_assets_and_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let (prom, am) = (closed_port_url(), closed_port_url());
    let extra = format!(
        "dashboard:\n  auth: {{basic: {{username: admin, password_file: {}}}}}\n",
        pw.display()
    );
    let config = || config_for(&dir, &prom, &am, &extra);

    let refused = get(config(), "/", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.headers.contains_key(header::WWW_AUTHENTICATE));
    let refused = get(config(), "/api/status", Some("Basic YWRtaW46d3Jvbmc=")).await; // admin:wrong
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(!refused.body.contains("s3cret"));

    let ok = "Basic YWRtaW46czNjcmV0"; // admin:s3cret
    let page = get(config(), "/", Some(ok)).await;
    assert_eq!(page.status, StatusCode::OK);
    let h = &page.headers;
    assert_eq!(
        h[header::CONTENT_SECURITY_POLICY],
        vpsmon_receiver::dashboard::CSP
    );
    assert!(vpsmon_receiver::dashboard::CSP.contains("script-src 'self';"));
    assert!(vpsmon_receiver::dashboard::CSP.contains("frame-ancestors 'none'"));
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");

    let js = get(config(), "/assets/app.js", Some(ok)).await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(
        js.headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert!(js.body.contains("fetch('/api/status'"));
    let css = get(config(), "/assets/style.css", Some(ok)).await;
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");

    // The webhook and /metrics keep their own (here: no) auth.
    let metrics = get(config(), "/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_refresh_interval_and_thresholds_come_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(
        &dir,
        &closed_port_url(),
        &closed_port_url(),
        "dashboard: {refresh: 1s, thresholds: {cpu: 70, memory: 60, disk: 50, load: 2}}\n",
    );
    let page = get(config, "/", None).await;
    assert!(
        page.body.contains(r#"data-refresh-seconds="1""#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("(CPU 70 %, memory 60 %, disk 50 %, load 2 per CPU)"),
        "{}",
        page.body
    );

    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "dashboard: {refresh: soon}\n").unwrap();
    let cli = vpsmon_receiver::cli::Cli {
        config: Some(bad.clone()),
        ..Default::default()
    };
    let err = Config::load(&cli, &|_| None).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{} key `dashboard.refresh`: \"soon\" is not a duration such as 30s or 1m",
            bad.display()
        )
    );
}

/// A POST to the dashboard with these headers and a form body.
async fn post_form(config: Config, path: &str, headers: &[(&str, &str)], body: &str) -> Page {
    let state = vpsmon_receiver::state(config).unwrap();
    let mut req = Request::post(path)
        .header(header::HOST, "127.0.0.1:9097")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app(state)
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    Page {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// `/silences` against a real Alertmanager: it lists the silences and the firing alerts; a
/// "Silence 4h" press posted from the page's own origin creates a silence of exactly the
/// alert's labels, said to come from the dashboard; a cross-site POST (or one without Origin)
/// gets 403 and creates nothing; with dashboard auth, no credentials get 401.
#[tokio::test(flavor = "multi_thread")]
async fn the_silence_view_lists_silences_and_silences_exactly_the_alert() {
    use vpsmon_receiver::promapi::AlertmanagerClient;
    use vpsmon_receiver::promapi::alertmanager::{Matcher, NewSilence};
    let stack = Stack::start(&[]).await;
    stack
        .post_alert(
            json!({"alertname": "HighCPU", "agent": "web1", "severity": "warning"}),
            json!({"summary": "busy"}),
            2,
        )
        .await;
    let am = AlertmanagerClient::new(&stack.alertmanager_url, std::time::Duration::from_secs(5));
    let now = chrono::Utc::now();
    am.create_silence(&NewSilence {
        matchers: vec![Matcher::equal("alertname", "Backup")],
        starts_at: now,
        ends_at: now + chrono::TimeDelta::hours(2),
        created_by: "amtool by ops".into(),
        comment: "maintenance".into(),
    })
    .await
    .unwrap();

    let page = get(stack.config(""), "/silences", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.body;
    assert!(
        html.contains(r#"<td class="labels">alertname=&quot;Backup&quot;</td><td>active</td>"#),
        "{html}"
    );
    assert!(
        html.contains("<td>amtool by ops</td><td>maintenance</td>"),
        "{html}"
    );
    let at = html.find("data-fingerprint=\"").expect(html) + "data-fingerprint=\"".len();
    let fingerprint = &html[at..at + html[at..].find('"').unwrap()];
    for d in ["1h", "4h", "24h"] {
        let button =
            format!(r#"<button type="submit" name="duration" value="{d}">Silence {d}</button>"#);
        assert!(html.contains(&button), "{button} not in {html}");
    }
    assert!(html.contains(r#"<form class="silence" method="post" action="/silences">"#));
    assert!(!html.contains("<script>"), "no inline script: {html}");

    let form = format!("fingerprint={fingerprint}&duration=4h");
    let count = || async { am.silences().await.unwrap().len() };
    assert_eq!(page.headers[header::REFERRER_POLICY], "same-origin");
    assert_eq!(
        page.headers[header::CONTENT_SECURITY_POLICY],
        vpsmon_receiver::dashboard::CSP
    );
    let cross_site: [&[(&str, &str)]; 5] = [
        &[("origin", "http://evil.example")],
        &[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "same-origin"),
        ],
        &[("origin", "null")],
        &[("origin", "null"), ("sec-fetch-site", "cross-site")],
        &[],
    ];
    for headers in cross_site {
        let refused = post_form(stack.config(""), "/silences", headers, &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(
            refused.body.starts_with("cross-site request refused"),
            "{}",
            refused.body
        );
    }
    assert_eq!(count().await, 1, "a refused POST created nothing");

    let own = [("origin", "http://127.0.0.1:9097")];
    let bad = post_form(
        stack.config(""),
        "/silences",
        &own,
        "fingerprint=zz&duration=4h",
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let done = post_form(stack.config(""), "/silences", &own, &form).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.headers[header::LOCATION], "/silences");
    let silences = am.silences().await.unwrap();
    assert_eq!(silences.len(), 2);
    let s = silences
        .iter()
        .find(|s| s.created_by == "vpsmon dashboard")
        .expect("the dashboard's silence");
    let mut matchers = s.matchers.clone();
    matchers.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        matchers,
        vec![
            Matcher::equal("agent", "web1"),
            Matcher::equal("alertname", "HighCPU"),
            Matcher::equal("severity", "warning"),
        ]
    );
    assert_eq!(s.comment, "silenced for 4h from the vpsmon dashboard");
    let length = s.ends_at - s.starts_at;
    assert!(
        (length - chrono::TimeDelta::hours(4)).num_seconds().abs() <= 5,
        "{length:?}"
    );
    let page = get(stack.config(""), "/silences", None).await;
    assert!(
        page.body.contains(
            r#"<td class="labels">agent=&quot;web1&quot;, alertname=&quot;HighCPU&quot;, severity=&quot;warning&quot;</td><td>active</td>"#
        ),
        "{}",
        page.body
    );
    // The silenced alert is no longer offered.
    assert!(page.body.contains("None firing."), "{}", page.body);

    // Behind the dashboard's auth: the right Origin alone is not enough.
    let pw = stack.dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let extra = format!(
        "dashboard:\n  auth: {{basic: {{username: admin, password_file: {}}}}}\n",
        pw.display()
    );
    let refused = post_form(stack.config(&extra), "/silences", &own, &form).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let refused = get(stack.config(&extra), "/silences", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(count().await, 2);

    // A browser that says `Origin: null` is believed only by its own `Sec-Fetch-Site`; an
    // alert silenced already can be silenced longer.
    let browser = [("origin", "null"), ("sec-fetch-site", "same-origin")];
    let form = format!("fingerprint={fingerprint}&duration=24h");
    let done = post_form(stack.config(""), "/silences", &browser, &form).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(count().await, 3);
}

/// The fleet page's `?q=`, `?sort=` and `?view=`: a wrong one is a 400 that says which and what
/// it takes, on the page and on `/api/status`, before Prometheus is asked.
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_page_query_is_a_400_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (prom, am) = (closed_port_url(), closed_port_url());
    let config = || config_for(&dir, &prom, &am, "dashboard: {timeout: 2s}\n");
    for (path, why) in [
        (
            "/?view=grid",
            r#"view="grid": use view=cards, view=rows or view=auto"#,
        ),
        (
            "/api/status?sort=cpu",
            r#"sort="cpu": use sort=worst or sort=name"#,
        ),
        (
            "/?filter=web",
            r#"unknown query parameter "filter": the page takes q, sort and view"#,
        ),
    ] {
        let page = get(config(), path, None).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(page.body, format!("vpsmon dashboard: {why}\n"), "{path}");
    }
    let long = format!("/?q={}", "a".repeat(201));
    let page = get(config(), &long, None).await;
    assert_eq!(
        page.body,
        "vpsmon dashboard: q is longer than 200 characters\n"
    );
    // Good ones are answered (here with the banner: nothing listens at Prometheus' URL).
    let page = get(config(), "/?q=web&sort=name&view=rows", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"value="web""#), "{}", page.body);
    assert!(
        page.body
            .contains(r#"<table class="rows" data-view="rows">"#)
    );
}
