//! The receiver's secrets (issue 13, items 5 and 8). Prometheus and Alertmanager behind
//! authentication, through the real binary: credentials in PROMETHEUS_URL are sent but never
//! shown (--print-config, /api/status, the dashboard page, the logs), and the password and token
//! files are sent and re-read when they change. The upstreams are loopback servers that check
//! `Authorization` as a protected Prometheus (`--web.config.file`) or a proxy in front of
//! Alertmanager would. And a deleted token file locks the webhook and the dashboard.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use testkit::procs::{Proc, free_port, wait_http_ok};
use tower::ServiceExt;

const BIN: &str = env!("CARGO_BIN_EXE_vpsmon-receiver");

/// The `Authorization` value a loopback upstream accepts; it can be changed (rotation).
#[derive(Clone)]
struct Upstream {
    expected: Arc<Mutex<String>>,
}

async fn check(State(up): State<Upstream>, req: Request, next: Next) -> Response {
    let sent = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sent == up.expected.lock().unwrap().as_str() {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            json!({"status": "error", "error": "unauthorized"}).to_string(),
        )
            .into_response()
    }
}

/// Serves an empty Prometheus (every query an empty vector) and an Alertmanager with no alerts,
/// both behind `expected`; returns the base URL's host:port.
async fn upstream(expected: &str) -> (String, Upstream) {
    let up = Upstream {
        expected: Arc::new(Mutex::new(expected.to_string())),
    };
    let app = Router::new()
        .route(
            "/api/v1/query",
            get(|| async {
                axum::Json(
                    json!({"status": "success", "data": {"resultType": "vector", "result": []}}),
                )
            }),
        )
        .route("/api/v2/alerts", get(|| async { axum::Json(json!([])) }))
        .layer(middleware::from_fn_with_state(up.clone(), check));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, up)
}

fn basic(user: &str, password: &str) -> String {
    let req = reqwest::Client::new()
        .get("http://x/")
        .basic_auth(user, Some(password))
        .build()
        .unwrap();
    req.headers()[header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .to_string()
}

fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn command(env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

struct Running {
    proc: Proc,
    base: String,
}

async fn start(dir: &Path, env: &[(&str, String)]) -> Running {
    let port = free_port();
    let mut env = env.to_vec();
    env.push(("RECEIVER_LISTEN", format!("127.0.0.1:{port}")));
    // These tests are about the dashboard's upstreams; webhook auth has its own tests.
    env.push(("RECEIVER_WEBHOOK_NO_AUTH", "1".into()));
    let mut proc =
        Proc::spawn("vpsmon-receiver", command(&env), &dir.join("receiver.log")).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(
        &mut proc,
        &format!("{base}/healthz"),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    Running { proc, base }
}

async fn fetch(url: &str) -> String {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_in_the_url_are_sent_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (prom, _up) = upstream(&basic("admin", "url-pass-canary")).await;
    let closed = format!("127.0.0.1:{}", free_port());
    let env = [
        (
            "PROMETHEUS_URL",
            format!("http://admin:url-pass-canary@{prom}"),
        ),
        // Unreachable, so that its URL is shown in a banner.
        (
            "ALERTMANAGER_URL",
            format!("http://am:am-pass-canary@{closed}"),
        ),
    ];
    let canaries = ["url-pass-canary", "am-pass-canary"];

    let out = command(&env).arg("--print-config").output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains(&format!("prometheus_url: http://<redacted>@{prom}\n")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("alertmanager_url: http://<redacted>@{closed}\n")),
        "{printed}"
    );

    let mut receiver = start(dir.path(), &env).await;
    let status: Value =
        serde_json::from_str(&fetch(&format!("{}/api/status", receiver.base)).await).unwrap();
    // Prometheus got the URL's credentials: the fleet is known (empty), no Prometheus banner.
    assert_eq!(status["fleet_known"], true, "{status}");
    let shown = format!("http://<redacted>@{closed}");
    assert_eq!(
        status["banners"],
        json!([{
            "service": "Alertmanager",
            "url": shown,
            "message": format!("Alertmanager at {shown} is unreachable: connection refused"),
        }])
    );
    let page = fetch(&format!("{}/", receiver.base)).await;
    assert!(
        page.contains(&format!(
            "Alertmanager at http:&#x2F;&#x2F;&lt;redacted&gt;@{closed} is unreachable"
        )),
        "{page}"
    );
    receiver.proc.kill();
    let log = receiver.proc.log_text();
    assert!(
        log.contains("the Prometheus URL carries credentials (user:password@)"),
        "{log}"
    );
    for (what, text) in [
        ("--print-config", printed.to_string()),
        ("/api/status", status.to_string()),
        ("the dashboard", page),
        ("the log", log),
    ] {
        for canary in canaries {
            assert!(!text.contains(canary), "{what} shows {canary}:\n{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn password_and_token_files_are_sent_and_reread_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let (prom, prom_up) = upstream(&basic("admin", "file-pass-one")).await;
    let (am, am_up) = upstream("Bearer am-token-one").await;
    let password = secret_file(dir.path(), "prom.password", "file-pass-one");
    let token = secret_file(dir.path(), "am.token", "am-token-one");
    let env = [
        ("PROMETHEUS_URL", format!("http://{prom}")),
        ("ALERTMANAGER_URL", format!("http://{am}")),
        ("PROMETHEUS_BASIC_AUTH_USER", "admin".to_string()),
        (
            "PROMETHEUS_BASIC_AUTH_PASSWORD_FILE",
            password.display().to_string(),
        ),
        (
            "ALERTMANAGER_BEARER_TOKEN_FILE",
            token.display().to_string(),
        ),
    ];
    let out = command(&env).arg("--print-config").output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains(&format!(
            "prometheus_auth:\n  basic:\n    user: admin\n    password: <redacted> (from {})\n",
            password.display()
        )),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "alertmanager_auth:\n  bearer: <redacted> (from {})\n",
            token.display()
        )),
        "{printed}"
    );

    let mut receiver = start(dir.path(), &env).await;
    let status_url = format!("{}/api/status", receiver.base);
    let status: Value = serde_json::from_str(&fetch(&status_url).await).unwrap();
    assert_eq!(status["banners"], json!([]), "{status}");
    assert_eq!(status["fleet_known"], true, "{status}");

    // Rotation: both upstreams now want new credentials, and the files say so.
    *prom_up.expected.lock().unwrap() = basic("admin", "file-pass-two-longer");
    *am_up.expected.lock().unwrap() = "Bearer am-token-two-longer".into();
    let status: Value = serde_json::from_str(&fetch(&status_url).await).unwrap();
    assert_eq!(status["banners"].as_array().unwrap().len(), 2, "{status}");
    secret_file(dir.path(), "prom.password", "file-pass-two-longer");
    secret_file(dir.path(), "am.token", "am-token-two-longer");
    let status: Value = serde_json::from_str(&fetch(&status_url).await).unwrap();
    assert_eq!(status["banners"], json!([]), "{status}");

    // A deleted token file: Alertmanager is not asked, and the banner names the file.
    std::fs::remove_file(&token).unwrap();
    let status: Value = serde_json::from_str(&fetch(&status_url).await).unwrap();
    assert_eq!(
        status["banners"][0]["message"],
        format!(
            "Alertmanager at http://{am} was not asked: its credential file {} is missing, \
             empty or unreadable",
            token.display()
        ),
        "{status}"
    );
    receiver.proc.kill();
    let log = receiver.proc.log_text();
    for secret in ["file-pass", "am-token"] {
        assert!(!log.contains(secret), "the log shows {secret}:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_token_file_locks_the_webhook_and_the_dashboard_until_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let webhook = secret_file(dir.path(), "webhook.token", "webhook-token");
    let dash = secret_file(dir.path(), "dashboard.token", "dashboard-token");
    let config = support::load_config(
        Some(dir.path()),
        &format!(
            "default_route: [console]\ndashboard:\n  auth: {{bearer_token_file: {}}}\n",
            dash.display()
        ),
        &[("WEBHOOK_TOKEN_FILE", webhook.display().to_string())],
    );
    let app = vpsmon_receiver::server::app(vpsmon_receiver::state(config).unwrap());
    let body = json!({
        "version": "4", "groupKey": "g", "status": "resolved", "receiver": "r",
        "externalURL": "", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "truncatedAlerts": 0,
        "alerts": [{"status": "resolved", "labels": {"alertname": "AgentDown", "agent": "web-1"},
                    "annotations": {}, "startsAt": "2026-11-21T10:00:00Z",
                    "endsAt": "2026-11-21T10:05:00Z", "generatorURL": "", "fingerprint": "00000000000000aa"}]
    })
    .to_string();
    let send = |path: &str, token: &str| {
        let req = axum::http::Request::builder()
            .uri(path)
            .method(if path == "/alerts" { "POST" } else { "GET" })
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(if path == "/alerts" {
                body.clone()
            } else {
                String::new()
            }))
            .unwrap();
        let app = app.clone();
        async move { app.oneshot(req).await.unwrap().status().as_u16() }
    };
    let cases = [
        ("/alerts", "webhook-token", &webhook),
        ("/assets/style.css", "dashboard-token", &dash),
    ];
    for (path, token, file) in cases {
        assert_eq!(send(path, token).await, 200, "{path}");
        std::fs::remove_file(file).unwrap();
        assert_eq!(send(path, token).await, 401, "{path} after rm");
        assert_eq!(send(path, token).await, 401, "{path} after rm, again");
        secret_file(
            dir.path(),
            file.file_name().unwrap().to_str().unwrap(),
            token,
        );
        assert_eq!(send(path, token).await, 200, "{path} restored");
    }
}
