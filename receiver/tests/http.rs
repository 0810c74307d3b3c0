//! The webhook endpoint as Alertmanager (or a stranger) meets it: status codes and JSON bodies.
//!
//! Most tests drive `app(state)` without sockets. Where the answer depends on delivery, a
//! stand-in for the dispatcher (`Scripted`) returns a chosen outcome, so the mapping
//! outcome → status is checked exactly; `the_real_dispatcher_prints_to_the_console_file` and the
//! socket tests go through the real dispatcher and `run`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use vpsmon_receiver::config::{Config, Destination};
use vpsmon_receiver::metrics::Metrics;
use vpsmon_receiver::notify::{BoxFuture, Deliver, Outcome};
use vpsmon_receiver::payload::Notification;
use vpsmon_receiver::server::{AppState, BodyBudget, app};

mod support;

fn payload(alerts: usize) -> Value {
    let alerts: Vec<Value> = (0..alerts)
        .map(|i| {
            json!({
                "status": "firing",
                "labels": {"alertname": "AgentDown", "agent": format!("web-{i}"), "severity": "critical"},
                "annotations": {"summary": format!("web-{i} is down")},
                "startsAt": "2026-11-21T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                "fingerprint": format!("{i:016x}"),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"AgentDown\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "vpsmon",
        "groupLabels": {"alertname": "AgentDown"},
        "commonLabels": {"alertname": "AgentDown"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
        "notification_reason": "new",
    })
}

/// Loads a config from YAML text and env pairs, as the binary would.
fn config(dir: &tempfile::TempDir, yaml: &str, env: &[(&str, &str)]) -> Config {
    support::load_config(Some(dir.path()), yaml, env)
}

/// Stands in for the dispatcher: answers `outcome` and records what it was asked to deliver.
struct Scripted {
    outcome: Outcome,
    calls: Mutex<Vec<(String, Vec<String>, usize)>>,
}

impl Deliver for Scripted {
    fn deliver<'a>(
        &'a self,
        route: &'a str,
        destinations: &'a [Destination],
        n: &'a Notification,
    ) -> BoxFuture<'a, Outcome> {
        self.calls.lock().unwrap().push((
            route.to_string(),
            destinations.iter().map(Destination::label).collect(),
            n.alerts.len(),
        ));
        Box::pin(async { self.outcome.clone() })
    }
}

fn state(config: Config, outcome: Outcome) -> (AppState, Arc<Scripted>) {
    let config_body_limit = config.body_limit;
    let (metrics, registry) = Metrics::new();
    let scripted = Arc::new(Scripted {
        outcome,
        calls: Mutex::new(Vec::new()),
    });
    let state = AppState {
        config: Arc::new(config),
        deliver: scripted.clone(),
        metrics: Arc::new(metrics),
        registry: Arc::new(registry),
        bodies: Arc::new(BodyBudget::new(config_body_limit)),
        pages: Router::new(),
    };
    (state, scripted)
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn post(path: &str) -> axum::http::request::Builder {
    Request::post(path).header(header::CONTENT_TYPE, "application/json")
}

fn post_json(path: &str, body: &str) -> Request<Body> {
    post(path).body(Body::from(body.to_string())).unwrap()
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn a_good_webhook_is_delivered_and_answered_200() {
    let dir = tempfile::tempdir().unwrap();
    let (state, scripted) = state(config(&dir, "", &[]), Outcome::Delivered);
    let app = app(state);
    let (status, body) = send(&app, post_json("/alerts", &payload(3).to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json_of(&body), json!({"status": "delivered", "alerts": 3}));
    // No Telegram or Slack configured: the default route is the console.
    assert_eq!(
        *scripted.calls.lock().unwrap(),
        vec![("default".to_string(), vec!["console".to_string()], 3)]
    );
}

#[tokio::test]
async fn bad_payloads_get_400_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let (state, scripted) = state(config(&dir, "", &[]), Outcome::Delivered);
    let app = app(state);

    let (status, body) = send(&app, post_json("/alerts", "{\"version\": \"4\",")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let v = json_of(&body);
    assert_eq!(v["field"], Value::Null);
    assert_eq!(
        v["error"],
        "invalid webhook payload: EOF while parsing a value at line 1 column 16"
    );

    let mut p = payload(2);
    p["alerts"][1]
        .as_object_mut()
        .unwrap()
        .remove("startsAt")
        .unwrap();
    let (status, body) = send(&app, post_json("/alerts", &p.to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let v = json_of(&body);
    assert_eq!(v["field"], "alerts[1].startsAt");
    assert_eq!(
        v["error"],
        "invalid webhook payload: alerts[1].startsAt: missing field `startsAt` at line 1 column 558"
    );

    let mut p = payload(1);
    p.as_object_mut().unwrap().remove("receiver").unwrap();
    let (_, body) = send(&app, post_json("/alerts", &p.to_string())).await;
    assert_eq!(json_of(&body)["field"], "receiver");

    let mut p = payload(1);
    p["alerts"][0]["startsAt"] = json!("yesterday");
    let (_, body) = send(&app, post_json("/alerts", &p.to_string())).await;
    assert_eq!(json_of(&body)["field"], "alerts[0].startsAt");

    let mut p = payload(1);
    p["status"] = json!("burning");
    let (_, body) = send(&app, post_json("/alerts", &p.to_string())).await;
    let v = json_of(&body);
    assert_eq!(v["field"], "status");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("unknown variant `burning`"),
        "{v}"
    );

    let mut p = payload(1);
    p["version"] = json!("3");
    let (_, body) = send(&app, post_json("/alerts", &p.to_string())).await;
    assert_eq!(
        json_of(&body),
        json!({"field": "version", "error": "invalid webhook payload: version: unsupported webhook payload version \"3\", expected \"4\""})
    );

    assert!(
        scripted.calls.lock().unwrap().is_empty(),
        "nothing bad was delivered"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let dir = tempfile::tempdir().unwrap();
    let (state, scripted) = state(config(&dir, "body_limit: 2KiB\n", &[]), Outcome::Delivered);
    let app = app(state);
    let big = payload(20).to_string();
    assert!(big.len() > 2048);
    let (status, body) = send(&app, post_json("/alerts", &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        json_of(&body),
        json!({"error": "body larger than the limit of 2048 bytes", "limit_bytes": 2048})
    );
    // Just under the limit passes.
    let small = payload(1).to_string();
    assert!(small.len() < 2048);
    assert_eq!(
        send(&app, post_json("/alerts", &small)).await.0,
        StatusCode::OK
    );
    assert_eq!(scripted.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_route_is_404_naming_it_and_named_routes_reach_their_destinations() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "default_route: [console]\nroutes:\n  ops: [console]\n";
    let (state, scripted) = state(config(&dir, yaml, &[]), Outcome::Delivered);
    let app = app(state);
    let (status, body) = send(&app, post_json("/alerts/nope", &payload(1).to_string())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(&body),
        json!({"error": "unknown route \"nope\"", "route": "nope", "known_routes": ["default", "ops"]})
    );
    let (status, _) = send(&app, post_json("/alerts/ops", &payload(2).to_string())).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(&app, post_json("/alerts/default", &payload(1).to_string())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        *scripted.calls.lock().unwrap(),
        vec![
            ("ops".to_string(), vec!["console".to_string()], 2),
            ("default".to_string(), vec!["console".to_string()], 1)
        ]
    );
}

#[tokio::test]
async fn delivery_outcomes_become_alertmanagers_answer() {
    let dir = tempfile::tempdir().unwrap();
    let permanent = Outcome::Permanent {
        destination: "telegram:-100123".into(),
        reason: "Bad Request: chat not found".into(),
    };
    let (s, _) = state(config(&dir, "", &[]), permanent);
    let (status, body) = send(&app(s), post_json("/alerts", &payload(1).to_string())).await;
    // 4xx: Alertmanager records the failure and does not retry a hopeless request.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        json_of(&body),
        json!({
            "error": "delivery failed permanently; not worth retrying",
            "destination": "telegram:-100123",
            "reason": "Bad Request: chat not found",
        })
    );

    let transient = Outcome::Transient {
        destination: "slack:ops".into(),
        reason: "503 Service Unavailable until the 10s deadline".into(),
    };
    let (s, _) = state(config(&dir, "", &[]), transient);
    let (status, body) = send(&app(s), post_json("/alerts", &payload(1).to_string())).await;
    // 5xx: Alertmanager retries, so nothing is lost.
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json_of(&body)["destination"], "slack:ops");
    assert_eq!(
        json_of(&body)["reason"],
        "503 Service Unavailable until the 10s deadline"
    );
}

fn basic(user: &str, pass: &str) -> String {
    // Standard base64 of "user:pass", written out here so the test does not share the decoder.
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{pass}");
    let mut out = String::new();
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

fn with_auth(auth: Option<&str>) -> Request<Body> {
    let mut b = post("/alerts");
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    b.body(Body::from(payload(1).to_string())).unwrap()
}

#[tokio::test]
async fn bearer_auth_refuses_missing_and_wrong_tokens_and_follows_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("webhook.token");
    std::fs::write(&token, "first-token\n").unwrap();
    let cfg = config(&dir, "", &[("WEBHOOK_TOKEN_FILE", token.to_str().unwrap())]);
    let (state, scripted) = state(cfg, Outcome::Delivered);
    let app = app(state);

    let (status, body) = send(&app, with_auth(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        json_of(&body),
        json!({"error": "unauthorized", "reason": "missing Authorization header"})
    );
    let (status, body) = send(&app, with_auth(Some("Bearer wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(&body)["reason"], "invalid credentials");
    assert!(!body.contains("first-token"));
    let (status, _) = send(&app, with_auth(Some("Bearer first-token"))).await;
    assert_eq!(status, StatusCode::OK);

    // Rotation: the new token works at once, the old one no longer does.
    std::fs::write(&token, "second-token-longer\n").unwrap();
    assert_eq!(
        send(&app, with_auth(Some("Bearer first-token"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, with_auth(Some("Bearer second-token-longer")))
            .await
            .0,
        StatusCode::OK
    );
    // Refused requests never reached delivery.
    assert_eq!(scripted.calls.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn basic_auth_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("am.pass");
    std::fs::write(&pass, "s3cret:with:colons\n").unwrap();
    let yaml = format!(
        "webhook_auth:\n  basic:\n    username: alertmanager\n    password_file: {}\n",
        pass.display()
    );
    let (state, _) = state(config(&dir, &yaml, &[]), Outcome::Delivered);
    let app = app(state);
    assert_eq!(
        send(
            &app,
            with_auth(Some(&basic("alertmanager", "s3cret:with:colons")))
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, body) = send(&app, with_auth(Some(&basic("alertmanager", "nope")))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(&body)["reason"], "invalid credentials");
    let (status, body) = send(&app, with_auth(Some("Bearer s3cret:with:colons"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        json_of(&body)["reason"],
        "Authorization header is not Basic"
    );
    assert_eq!(
        send(&app, with_auth(None)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn healthz_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _) = state(config(&dir, "", &[]), Outcome::Delivered);
    let app = app(state);
    let (status, body) = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&body), json!({"status": "ok"}));

    send(&app, post_json("/alerts", &payload(1).to_string())).await;
    send(&app, post_json("/alerts", &payload(1).to_string())).await;
    send(&app, post_json("/alerts", "not json")).await;
    send(&app, post_json("/alerts/missing", "{}")).await;

    let resp = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    for line in [
        "# TYPE vpsmon_receiver_webhooks_received counter",
        "vpsmon_receiver_webhooks_received_total{code=\"200\"} 2",
        "vpsmon_receiver_webhooks_received_total{code=\"400\"} 1",
        "vpsmon_receiver_webhooks_received_total{code=\"404\"} 1",
        "# TYPE vpsmon_receiver_messages_split counter",
        "vpsmon_receiver_messages_split_total{integration=\"telegram\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn the_real_dispatcher_appends_to_the_console_file() {
    let dir = tempfile::tempdir().unwrap();
    let console = dir.path().join("alerts.log");
    let yaml = format!("console_file: {}\n", console.display());
    let state = vpsmon_receiver::state(config(&dir, &yaml, &[])).unwrap();
    let app = app(state);
    let (status, body) = send(&app, post_json("/alerts", &payload(3).to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines = std::fs::read_to_string(&console).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[1],
        "FIRING critical AgentDown agent=\"web-1\" summary=\"web-1 is down\" \
         started=\"2026-11-21 10:00:00 UTC\" fingerprint=0000000000000001"
    );
}

/// Over a real socket: `run`, a chunked body with no Content-Length over the limit, and a
/// graceful stop.
#[tokio::test]
async fn run_serves_and_refuses_an_oversized_chunked_body() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _) = state(config(&dir, "body_limit: 1024\n", &[]), Outcome::Delivered);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(vpsmon_receiver::server::run(listener, state, async {
        let _ = stopped.await;
    }));

    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = String::from(
        "POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for _ in 0..8 {
        let chunk = "x".repeat(200);
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with(
        "{\"error\":\"body larger than the limit of 1024 bytes\",\"limit_bytes\":1024}"
    ));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// A browser on the monitoring host can post `text/plain`, a form or no Content-Type at all to
/// any site, and adds the page's Origin; Alertmanager sends JSON and no Origin. Refused before
/// the body is read: nothing reaches Telegram.
#[tokio::test]
async fn cross_site_and_non_json_posts_are_refused_and_never_delivered() {
    let tg = testkit::telegram::FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let tg_url = tg.url();
    let env = [
        ("BOT_TOKEN", tg.token()),
        ("TELEGRAM_API_URL", tg_url.as_str()),
        ("ALERT_CHAT_ID", "-100777"),
    ];
    let app = app(vpsmon_receiver::state(config(&dir, "", &env)).unwrap());
    let body = payload(1).to_string();
    let request = |content_type: Option<&str>, origin: Option<&str>| {
        let mut b = Request::post("/alerts").header(header::HOST, "127.0.0.1:9097");
        if let Some(t) = content_type {
            b = b.header(header::CONTENT_TYPE, t);
        }
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        b.body(Body::from(body.clone())).unwrap()
    };

    let (status, answer) = send(&app, request(Some("text/plain"), None)).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    assert_eq!(
        json_of(&answer),
        json!({
            "error": "Content-Type \"text/plain\" refused: send application/json",
            "content_type": "text/plain",
        })
    );
    for content_type in [
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let (status, answer) = send(&app, request(content_type, None)).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    }
    let (status, answer) = send(&app, request(None, None)).await;
    assert_eq!(
        json_of(&answer),
        json!({"error": "no Content-Type: send application/json", "content_type": null}),
        "{status}"
    );

    // The request: text/plain from https://evil.example. The Origin is refused first.
    for origin in ["https://evil.example", "null", "http://127.0.0.1:9098"] {
        for content_type in ["text/plain", "application/json"] {
            let (status, answer) = send(&app, request(Some(content_type), Some(origin))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{origin} {answer}");
            assert_eq!(
                json_of(&answer),
                json!({
                    "error": format!(
                        "cross-site request refused: Origin {origin:?} is not this server \
                         (Alertmanager sends no Origin)"
                    ),
                    "origin": origin,
                })
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tg.messages().is_empty(),
        "a refused webhook reached Telegram: {:?}",
        tg.messages()
    );

    // Alertmanager's own request, and one from this server's own origin, are delivered.
    let (status, answer) = send(&app, request(Some("application/json"), None)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(tg.messages().len(), 1, "{:?}", tg.messages());
    // (The same notification again: accepted, and de-duplicated.)
    let (status, answer) = send(
        &app,
        request(
            Some("application/json; charset=utf-8"),
            Some("http://127.0.0.1:9097"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// Over a real socket: a body that does not arrive is answered 408 when the server's body
/// timeout (30 s; 1 s here) passes, not held forever.
#[tokio::test]
async fn a_body_that_never_arrives_gets_408() {
    let dir = tempfile::tempdir().unwrap();
    let (state, scripted) = state(config(&dir, "", &[]), Outcome::Delivered);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = vpsmon_common::serve::Limits {
        body_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let server = tokio::spawn(vpsmon_receiver::server::run_with(
        listener,
        state,
        limits,
        std::future::pending(),
    ));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"version\":",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with(
            "{\"error\":\"cannot read the request body: the request body did not arrive within 1s\"}"
        ),
        "{answer}"
    );
    assert!(scripted.calls.lock().unwrap().is_empty());
    server.abort();
}

/// Stands in for a dispatcher whose destination is slow: each delivery waits for a release.
struct Slow {
    started: tokio::sync::mpsc::UnboundedSender<()>,
    release: tokio::sync::Semaphore,
}

impl Deliver for Slow {
    fn deliver<'a>(
        &'a self,
        _route: &'a str,
        _destinations: &'a [Destination],
        _n: &'a Notification,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async {
            let _ = self.started.send(());
            self.release.acquire().await.unwrap().forget();
            Outcome::Delivered
        })
    }
}

/// Bodies held in memory are bounded: while one webhook holds the whole budget (a chunked body
/// reserves `body_limit`, here the whole 8 MiB), the next waits 5 s for its share and is answered
/// 503 with Retry-After (Alertmanager retries); once the first is answered, there is room again.
#[tokio::test]
async fn a_webhook_that_finds_the_body_budget_taken_gets_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, "body_limit: 8MiB\n", &[]);
    let (started, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
    let slow = Arc::new(Slow {
        started,
        release: tokio::sync::Semaphore::new(0),
    });
    let (metrics, registry) = Metrics::new();
    let app = app(AppState {
        bodies: Arc::new(BodyBudget::new(config.body_limit)),
        config: Arc::new(config),
        deliver: slow.clone(),
        metrics: Arc::new(metrics),
        registry: Arc::new(registry),
        pages: Router::new(),
    });
    let body = payload(1).to_string();
    let sized = || {
        post("/alerts")
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body.clone()))
            .unwrap()
    };

    // No Content-Length: it reserves the body limit, all of the budget, until answered.
    let first = {
        let (app, request) = (app.clone(), post_json("/alerts", &body));
        tokio::spawn(async move { send(&app, request).await })
    };
    started_rx.recv().await.unwrap();

    let resp = app.clone().oneshot(sized()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
    let answer = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        json_of(std::str::from_utf8(&answer).unwrap()),
        json!({"error": "too many webhook bodies being read at once; retry later"})
    );

    slow.release.add_permits(2);
    let (status, answer) = first.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = send(&app, sized()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}
