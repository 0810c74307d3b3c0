//! The HTTP side as a client sees it: the auth matrix, gzip, Content-Type, /ping, /api/health,
//! 404, 503 beyond --web.max-requests, single-flight scrapes, and the binary's flag errors,
//! exit codes and logs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::ServiceExt;
use vpsmon_exporter::collector::{OPENMETRICS_CONTENT_TYPE, Paths, TEXT_CONTENT_TYPE};
use vpsmon_exporter::http::{AppState, Auth, Collect, Options, app};

const BODY: &str = "# TYPE node_load1 gauge\nnode_load1 0.5\n# EOF\n";
/// [`BODY`] as a client without an OpenMetrics `Accept` gets it (the text format 0.0.4).
const TEXT_BODY: &str = "# TYPE node_load1 gauge\nnode_load1 0.5\n";
const TOKEN: &str = "static-token-0123456789";
const JWT_SECRET: &str = "jwt-secret-abcdefghijklmnop";

/// Returns a fixed body; counts its calls.
struct Fixed(AtomicUsize);

impl Collect for Fixed {
    fn collect(&self) -> Vec<u8> {
        self.0.fetch_add(1, Ordering::SeqCst);
        // Longer than the 32 bytes below which tower-http does not bother to compress.
        BODY.as_bytes().to_vec()
    }
}

/// A collector a test holds until it says so: it reports each start and waits for a release.
struct Held {
    calls: AtomicUsize,
    started: tokio::sync::mpsc::UnboundedSender<usize>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Collect for Held {
    fn collect(&self) -> Vec<u8> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.started.send(n);
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(60));
        format!("# collection {n}\n# EOF\n").into_bytes()
    }
}

fn options(max_requests: usize) -> Options {
    Options {
        max_requests,
        paths: Paths::default(),
        statfs_timeout: Duration::from_secs(5),
    }
}

fn plain_app(auth: Auth) -> Router {
    app(AppState::new(
        Arc::new(Fixed(AtomicUsize::new(0))),
        auth,
        options(40),
    ))
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn get_with(path: &str, name: header::HeaderName, value: &str) -> Request<Body> {
    Request::get(path)
        .header(name, value)
        .body(Body::empty())
        .unwrap()
}

/// `GET /metrics` asking for OpenMetrics, the format the fake collectors write.
fn om_metrics() -> Request<Body> {
    get_with("/metrics", header::ACCEPT, "application/openmetrics-text")
}

fn bearer(path: &str, token: &str) -> Request<Body> {
    get_with(path, header::AUTHORIZATION, &format!("Bearer {token}"))
}

struct Answer {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn write_secret(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwt(alg: Algorithm, secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// base64url without padding, to hand-craft the tokens jsonwebtoken refuses to make.
fn b64url(data: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn crafted(header: Value, claims: Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    )
}

fn unauthorized(answer: &Answer, reason: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text());
    assert_eq!(
        answer.json(),
        json!({"error": "unauthorized", "reason": reason})
    );
    assert_eq!(
        answer.header(header::WWW_AUTHENTICATE),
        "Bearer realm=\"vpsmon\""
    );
}

#[tokio::test]
async fn static_token_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = write_secret(dir.path(), "token", TOKEN);
    let auth = Auth::from_files(Some(&token_file), None, None, None).unwrap();
    let app = plain_app(auth);

    for path in ["/metrics", "/api/health"] {
        unauthorized(&send(&app, get(path)).await, "missing Authorization header");
        unauthorized(
            &send(&app, bearer(path, "wrong-token")).await,
            "invalid credentials",
        );
        unauthorized(
            &send(
                &app,
                get_with(path, header::AUTHORIZATION, &format!("Basic {TOKEN}")),
            )
            .await,
            "Authorization header is not Bearer",
        );
        let ok = send(&app, bearer(path, TOKEN)).await;
        assert_eq!(ok.status, StatusCode::OK, "{path}: {}", ok.text());
    }
    // A refusal never repeats what was sent.
    let refused = send(&app, bearer("/metrics", "leaky-guess")).await;
    assert!(!refused.text().contains("leaky-guess"));
    // /ping and / stay open.
    assert_eq!(send(&app, get("/ping")).await.status, StatusCode::OK);
    assert_eq!(send(&app, get("/")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_rotated_token_file_takes_effect_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = write_secret(dir.path(), "token", "first-token");
    let app = plain_app(Auth::from_files(Some(&token_file), None, None, None).unwrap());
    assert_eq!(
        send(&app, bearer("/metrics", "first-token")).await.status,
        StatusCode::OK
    );

    write_secret(dir.path(), "token", "second-token-longer");
    unauthorized(
        &send(&app, bearer("/metrics", "first-token")).await,
        "invalid credentials",
    );
    assert_eq!(
        send(&app, bearer("/metrics", "second-token-longer"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn jwt_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = write_secret(dir.path(), "jwt", JWT_SECRET);
    let auth = Auth::from_files(
        None,
        Some(&secret_file),
        Some("vps-monitoring"),
        Some("cf-workers"),
    )
    .unwrap();
    let app = plain_app(auth);
    let exp = now() + 3600;
    // What the seeds' Workers send.
    let good = json!({"iss": "cf-workers", "aud": "vps-monitoring", "exp": exp});

    let ok = send(
        &app,
        bearer("/metrics", &jwt(Algorithm::HS256, JWT_SECRET, good.clone())),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.text(), TEXT_BODY);
    let ok = send(
        &app,
        bearer(
            "/api/health",
            &jwt(Algorithm::HS256, JWT_SECRET, good.clone()),
        ),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            jwt(
                Algorithm::HS256,
                JWT_SECRET,
                json!({"iss": "cf-workers", "aud": "vps-monitoring", "exp": now() - 3600}),
            ),
            "invalid token: token expired (`exp` is past, beyond the leeway)",
        ),
        (
            "no exp",
            jwt(
                Algorithm::HS256,
                JWT_SECRET,
                json!({"iss": "cf-workers", "aud": "vps-monitoring"}),
            ),
            "invalid token: required claim `exp` is missing",
        ),
        (
            "wrong secret",
            jwt(Algorithm::HS256, "some-other-secret", good.clone()),
            "invalid token: signature does not match",
        ),
        (
            "HS512 with the right secret",
            jwt(Algorithm::HS512, JWT_SECRET, good.clone()),
            "invalid token: algorithm not accepted (only HS256 is)",
        ),
        (
            "HS384 with the right secret",
            jwt(Algorithm::HS384, JWT_SECRET, good.clone()),
            "invalid token: algorithm not accepted (only HS256 is)",
        ),
        (
            "RS256 (key confusion attempt)",
            crafted(
                json!({"alg": "RS256", "typ": "JWT"}),
                good.clone(),
                "c2lnbmF0dXJl",
            ),
            "invalid token: algorithm not accepted (only HS256 is)",
        ),
        (
            "alg none, no signature",
            crafted(json!({"alg": "none", "typ": "JWT"}), good.clone(), ""),
            "invalid token: malformed token (expected a JWT signed with HS256)",
        ),
        (
            "wrong audience",
            jwt(
                Algorithm::HS256,
                JWT_SECRET,
                json!({"iss": "cf-workers", "aud": "someone-else", "exp": exp}),
            ),
            "invalid token: audience not accepted (an `aud` claim needs a matching --web.jwt-audience)",
        ),
        (
            "no audience",
            jwt(
                Algorithm::HS256,
                JWT_SECRET,
                json!({"iss": "cf-workers", "exp": exp}),
            ),
            "invalid token: required claim `aud` is missing",
        ),
        (
            "wrong issuer",
            jwt(
                Algorithm::HS256,
                JWT_SECRET,
                json!({"iss": "mallory", "aud": "vps-monitoring", "exp": exp}),
            ),
            "invalid token: issuer not accepted",
        ),
        (
            "not a JWT",
            "garbage".to_string(),
            "invalid token: malformed token (expected a JWT signed with HS256)",
        ),
    ];
    for (what, token, reason) in cases {
        for path in ["/metrics", "/api/health"] {
            let answer = send(&app, bearer(path, &token)).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{what} on {path}: {}",
                answer.text()
            );
            assert_eq!(
                answer.json(),
                json!({"error": "unauthorized", "reason": reason}),
                "{what} on {path}"
            );
        }
    }
    unauthorized(
        &send(&app, get("/metrics")).await,
        "missing Authorization header",
    );
}

#[tokio::test]
async fn without_audience_flag_plain_exp_tokens_pass_and_aud_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = write_secret(dir.path(), "jwt", JWT_SECRET);
    let app = plain_app(Auth::from_files(None, Some(&secret_file), None, None).unwrap());
    let plain = jwt(Algorithm::HS256, JWT_SECRET, json!({"exp": now() + 60}));
    assert_eq!(
        send(&app, bearer("/metrics", &plain)).await.status,
        StatusCode::OK
    );
    let with_aud = jwt(
        Algorithm::HS256,
        JWT_SECRET,
        json!({"exp": now() + 60, "aud": "vps-monitoring"}),
    );
    unauthorized(
        &send(&app, bearer("/metrics", &with_aud)).await,
        "invalid token: audience not accepted (an `aud` claim needs a matching --web.jwt-audience)",
    );
}

#[tokio::test]
async fn with_token_and_jwt_either_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = write_secret(dir.path(), "token", TOKEN);
    let secret_file = write_secret(dir.path(), "jwt", JWT_SECRET);
    let app =
        plain_app(Auth::from_files(Some(&token_file), Some(&secret_file), None, None).unwrap());
    let token = jwt(Algorithm::HS256, JWT_SECRET, json!({"exp": now() + 60}));
    assert_eq!(
        send(&app, bearer("/metrics", TOKEN)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, bearer("/metrics", &token)).await.status,
        StatusCode::OK
    );
    unauthorized(
        &send(&app, bearer("/metrics", "wrong")).await,
        "invalid credentials",
    );
    let expired = jwt(Algorithm::HS256, JWT_SECRET, json!({"exp": now() - 3600}));
    unauthorized(
        &send(&app, bearer("/metrics", &expired)).await,
        "invalid token: token expired (`exp` is past, beyond the leeway)",
    );
}

#[test]
fn a_missing_or_empty_secret_file_names_the_flag_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent");
    let err = Auth::from_files(Some(&missing), None, None, None).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "--web.auth-token-file: cannot read secret file {}: ",
            missing.display()
        )),
        "{err}"
    );
    let empty = write_secret(dir.path(), "empty", "");
    let err = Auth::from_files(None, Some(&empty), None, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "--web.jwt-secret-file: secret file {} is empty",
            empty.display()
        )
    );
}

#[tokio::test]
async fn metrics_content_type_and_gzip() {
    let app = plain_app(Auth::default());
    let om = "application/openmetrics-text; version=1.0.0";
    let plain = send(&app, get_with("/metrics", header::ACCEPT, om)).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.header(header::CONTENT_TYPE), OPENMETRICS_CONTENT_TYPE);
    assert_eq!(plain.header(header::CONTENT_ENCODING), "");
    assert_eq!(plain.text(), BODY);

    let gz = send(
        &app,
        Request::get("/metrics")
            .header(header::ACCEPT, om)
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.header(header::CONTENT_TYPE), OPENMETRICS_CONTENT_TYPE);
    assert_eq!(gz.header(header::CONTENT_ENCODING), "gzip");
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain.text());

    // No Accept (curl) and gzip: the text format 0.0.4, as node_exporter answers.
    let text = send(&app, get_with("/metrics", header::ACCEPT_ENCODING, "gzip")).await;
    assert_eq!(text.status, StatusCode::OK);
    assert_eq!(text.header(header::CONTENT_TYPE), TEXT_CONTENT_TYPE);
    assert_eq!(text.header(header::CONTENT_ENCODING), "gzip");
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&text.body[..])
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, TEXT_BODY);
}

/// Each `Accept` a client sends gets the format node_exporter would answer in: OpenMetrics only
/// when it is asked for above the text format.
#[tokio::test]
async fn metrics_format_follows_accept() {
    let app = plain_app(Auth::default());
    let om = (OPENMETRICS_CONTENT_TYPE, BODY);
    let text = (TEXT_CONTENT_TYPE, TEXT_BODY);
    for (accept, (content_type, body)) in [
        (None, text),
        (Some("*/*"), text),
        (Some("text/plain"), text),
        (Some("text/plain; version=0.0.4"), text),
        (
            Some("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"),
            text,
        ),
        (Some("application/openmetrics-text;q=0"), text),
        (Some("application/openmetrics-text"), om),
        (Some("application/openmetrics-text; version=1.0.0"), om),
        // Prometheus 2.x's scrape Accept, q-values and all.
        (
            Some(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            ),
            om,
        ),
        (
            Some(
                "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            ),
            om,
        ),
    ] {
        let request = match accept {
            Some(a) => get_with("/metrics", header::ACCEPT, a),
            None => get("/metrics"),
        };
        let answer = send(&app, request).await;
        assert_eq!(answer.status, StatusCode::OK, "{accept:?}");
        assert_eq!(
            answer.header(header::CONTENT_TYPE),
            content_type,
            "{accept:?}"
        );
        assert_eq!(answer.text(), body, "{accept:?}");
        assert_eq!(answer.header(header::VARY), "accept, accept-encoding");
    }
}

#[tokio::test]
async fn ping_landing_and_404() {
    let app = plain_app(Auth::default());
    let ping = send(&app, get("/ping")).await;
    assert_eq!(ping.status, StatusCode::OK);
    let body = ping.json();
    assert_eq!(body["status"], "ok");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(body["server"], hostname.trim());
    let ts = body["timestamp"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("{ts}: {e}"));

    let landing = send(&app, get("/")).await;
    assert_eq!(landing.status, StatusCode::OK);
    assert!(
        landing
            .header(header::CONTENT_TYPE)
            .starts_with("text/html")
    );
    for link in ["href=\"metrics\"", "href=\"api/health\"", "href=\"ping\""] {
        assert!(
            landing.text().contains(link),
            "{link} missing: {}",
            landing.text()
        );
    }

    let missing = send(&app, get("/nope")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json(),
        json!({"error": "not_found", "reason": "no such endpoint: /nope (try /metrics, /api/health or /ping)"})
    );
}

fn held(
    max_requests: usize,
) -> (
    AppState,
    Arc<Held>,
    tokio::sync::mpsc::UnboundedReceiver<usize>,
    mpsc::Sender<()>,
) {
    let (started_tx, started_rx) = tokio::sync::mpsc::unbounded_channel();
    let (release_tx, release_rx) = mpsc::channel();
    let collector = Arc::new(Held {
        calls: AtomicUsize::new(0),
        started: started_tx,
        release: Mutex::new(release_rx),
    });
    let state = AppState::new(collector.clone(), Auth::default(), options(max_requests));
    (state, collector, started_rx, release_tx)
}

#[tokio::test]
async fn beyond_max_requests_the_answer_is_503() {
    let (state, collector, mut started, release) = held(1);
    let app = app(state.clone());
    let first = tokio::spawn({
        let app = app.clone();
        async move { send(&app, om_metrics()).await }
    });
    // The first scrape is counted before its collection starts.
    assert_eq!(started.recv().await, Some(1));

    for path in ["/metrics", "/api/health"] {
        let refused = send(&app, get(path)).await;
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(refused.header(header::RETRY_AFTER), "1");
        assert_eq!(
            refused.json(),
            json!({"error": "overloaded", "reason": "limit of 1 concurrent requests reached, try again later"})
        );
    }
    // The liveness check is not limited.
    assert_eq!(send(&app, get("/ping")).await.status, StatusCode::OK);

    release.send(()).unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.text(), "# collection 1\n# EOF\n");
    assert_eq!(state.in_flight(), 0);

    release.send(()).unwrap();
    let next = send(&app, om_metrics()).await;
    assert_eq!(next.text(), "# collection 2\n# EOF\n");
    assert_eq!(collector.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn scrapes_arriving_together_share_one_collection() {
    let (state, collector, mut started, release) = held(10);
    let app = app(state.clone());
    let spawn = || {
        let app = app.clone();
        tokio::spawn(async move { send(&app, om_metrics()).await })
    };
    let first = spawn();
    assert_eq!(started.recv().await, Some(1));
    let joined: Vec<_> = (0..3).map(|_| spawn()).collect();
    // Wait (bounded) until all four are in flight, i.e. the three joined the running collection.
    for _ in 0..1000 {
        if state.in_flight() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(state.in_flight(), 4);
    release.send(()).unwrap();
    for task in std::iter::once(first).chain(joined) {
        let answer = task.await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.text(), "# collection 1\n# EOF\n");
    }
    assert_eq!(collector.calls.load(Ordering::SeqCst), 1);

    // A scrape after that one finished gets a fresh collection.
    release.send(()).unwrap();
    assert_eq!(
        send(&app, om_metrics()).await.text(),
        "# collection 2\n# EOF\n"
    );
}

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

const STAT: &str = "cpu  100 0 50 800 10 0 0 0 0 0
cpu0 50 0 25 400 5 0 0 0 0 0
cpu1 50 0 25 400 5 0 0 0 0 0
intr 1000
ctxt 2000
btime 1700000000
processes 300
procs_running 1
procs_blocked 0
";

#[tokio::test]
async fn api_health_has_seed_001s_shape_with_psutil_numbers() {
    let procfs = tempfile::tempdir().unwrap();
    let rootfs = tempfile::tempdir().unwrap();
    let p = procfs.path();
    write(p, "stat", STAT);
    write(p, "loadavg", "0.52 0.41 0.30 1/123 4567\n");
    write(
        p,
        "meminfo",
        "MemTotal:        1000 kB\nMemFree:          200 kB\nMemAvailable:     600 kB\n\
         Buffers:           50 kB\nCached:           100 kB\nSReclaimable:      50 kB\n\
         HugePages_Total:       0\n",
    );
    write(
        p,
        "net/dev",
        "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0:   50000     400    1    2    0     0          0         3    20000     300    0    0    0     0       0          0
",
    );
    write(p, "sys/kernel/hostname", "fixture-host\n");
    write(p, "sys/kernel/ostype", "Linux\n");
    for pid in ["1", "42", "1234"] {
        std::fs::create_dir_all(p.join(pid)).unwrap();
    }
    std::fs::create_dir_all(p.join("self")).unwrap();

    let state = AppState::new(
        Arc::new(Fixed(AtomicUsize::new(0))),
        Auth::default(),
        Options {
            max_requests: 40,
            paths: Paths {
                procfs: p.to_owned(),
                sysfs: PathBuf::from("/sys"),
                rootfs: rootfs.path().to_owned(),
                ..Paths::default()
            },
            statfs_timeout: Duration::from_secs(5),
        },
    );
    let app = app(state);
    let first = send(&app, get("/api/health")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(first.header(header::CONTENT_TYPE), "application/json");
    let mut body = first.json();
    let ts = body["timestamp"].take();
    chrono::DateTime::parse_from_rfc3339(ts.as_str().unwrap()).unwrap();
    let disk = body["data"]["disk"].take();
    assert_eq!(
        body,
        json!({
            "status": "healthy",
            "timestamp": null,
            "hostname": "fixture-host",
            "platform": "Linux",
            "data": {
                // Nothing moved since the reading taken at start-up.
                "cpu": {"percent": 0.0, "count": 2, "load_avg": [0.52, 0.41, 0.30]},
                "memory": {
                    "total": 1024000,
                    "available": 614400,
                    "percent": 40.0,
                    "used": 614400,
                    "free": 204800
                },
                "disk": null,
                "network": {
                    "bytes_sent": 21000,
                    "bytes_recv": 51000,
                    "packets_sent": 310,
                    "packets_recv": 410
                },
                "processes": 3
            }
        })
    );

    // `stat -f` (coreutils) reads the same statvfs independently.
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%S %b %f %a"])
        .arg(rootfs.path())
        .output()
        .unwrap();
    let f: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let (frsize, blocks, bfree, bavail) = (f[0], f[1], f[2], f[3]);
    let (total, used, free) = (
        disk["total"].as_u64().unwrap(),
        disk["used"].as_u64().unwrap(),
        disk["free"].as_u64().unwrap(),
    );
    assert_eq!(total, blocks * frsize, "{disk}");
    // Other processes write to the same filesystem meanwhile: allow 1% of it.
    let slack = total / 100;
    assert!(used.abs_diff((blocks - bfree) * frsize) <= slack, "{disk}");
    assert!(free.abs_diff(bavail * frsize) <= slack, "{disk}");
    let percent = (used as f64 / total as f64 * 1000.0).round() / 10.0;
    assert_eq!(disk["percent"].as_f64().unwrap(), percent, "{disk}");

    // 30 busy and 70 idle ticks later: 30% busy, without any request sleeping.
    write(
        p,
        "stat",
        &STAT.replacen("cpu  100 0 50 800", "cpu  130 0 50 870", 1),
    );
    let second = send(&app, get("/api/health")).await.json();
    assert_eq!(second["data"]["cpu"]["percent"], json!(30.0));

    // A garbled file is a 500 that names it.
    write(p, "meminfo", "MemTotal: lots\n");
    let broken = send(&app, get("/api/health")).await;
    assert_eq!(broken.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        broken.json(),
        json!({
            "error": "internal",
            "reason": format!("{}: line 1: MemTotal: \"lots\" is not a number", p.join("meminfo").display())
        })
    );
}

// ---- The binary: flags, exit codes, logs -------------------------------------------------

fn exporter_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vpsmon-exporter"))
}

/// Runs the binary to completion with `args` (and a clean VPSMON_* environment plus `envs`).
fn run_bin(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = std::process::Command::new(exporter_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("VPSMON_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).envs(envs.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_exit_2_with_a_message_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent-token");
    let empty = write_secret(dir.path(), "empty", "");
    let absent_arg = format!("--web.auth-token-file={}", absent.display());
    let empty_arg = format!("--web.jwt-secret-file={}", empty.display());
    let absent_utmp = dir.path().join("utmp");
    let utmp_arg = format!("--collector.logins.utmp-path={}", absent_utmp.display());
    // (arguments, environment, expected stderr)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, String);
    let cases: Vec<Case> = vec![
        (
            vec!["--web.listen-address", "nowhere"],
            vec![],
            "invalid value 'nowhere' for '--web.listen-address <LISTEN_ADDRESS>'".into(),
        ),
        (
            vec![],
            vec![("VPSMON_WEB_MAX_REQUESTS", "lots")],
            "invalid value 'lots' for '--web.max-requests <MAX_REQUESTS>'".into(),
        ),
        (
            vec!["--collector.filesystem.mount-timeout=soon"],
            vec![],
            "error: invalid value 'soon' for '--collector.filesystem.mount-timeout <DURATION>': expected number at 0 (expected a duration like 5s or 500ms)\n".into(),
        ),
        (
            vec!["--collector.nope"],
            vec![],
            "unexpected argument '--collector.nope' found".into(),
        ),
        (
            vec!["--web.jwt-audience", "x"],
            vec![],
            "the following required arguments were not provided:\n  --web.jwt-secret-file <FILE>".into(),
        ),
        (
            vec![absent_arg.as_str()],
            vec![],
            format!(
                "vpsmon-exporter: --web.auth-token-file: cannot read secret file {}: No such file or directory (os error 2)\n",
                absent.display()
            ),
        ),
        (
            vec![empty_arg.as_str()],
            vec![],
            format!(
                "vpsmon-exporter: --web.jwt-secret-file: secret file {} is empty\n",
                empty.display()
            ),
        ),
        (
            vec!["--web.listen-address=::1:9100"],
            vec![],
            "error: invalid value '::1:9100' for '--web.listen-address <LISTEN_ADDRESS>': an IPv6 address needs brackets: [::1]:9100 (expected HOST:PORT, e.g. 127.0.0.1:9100, :9100, localhost:9100 or [::1]:9100)\n".into(),
        ),
        // Issue 15: path flags that point nowhere are refused, not run with every collector failing.
        (
            vec!["--path.procfs=/nonexistent"],
            vec![],
            "vpsmon-exporter: --path.procfs: /nonexistent does not exist\n".into(),
        ),
        (
            vec!["--path.sysfs", "/nonexistent/sys"],
            vec![],
            "vpsmon-exporter: --path.sysfs: /nonexistent/sys does not exist\n".into(),
        ),
        (
            vec![],
            vec![("VPSMON_PATH_ROOTFS", empty.to_str().unwrap())],
            format!(
                "vpsmon-exporter: --path.rootfs (from VPSMON_PATH_ROOTFS): {} is not a directory\n",
                empty.display()
            ),
        ),
        (
            vec![utmp_arg.as_str()],
            vec![],
            format!(
                "vpsmon-exporter: --collector.logins.utmp-path: {} does not exist\n",
                absent_utmp.display()
            ),
        ),
        (
            vec!["--collector.filesystem.mount-points-exclude=(unclosed"],
            vec![],
            "vpsmon-exporter: --collector.filesystem.mount-points-exclude: invalid regular expression \"(unclosed\"".into(),
        ),
    ];
    for (args, envs, expected) in cases {
        let (code, stdout, stderr) = run_bin(&args, &envs);
        assert_eq!(code, Some(2), "{args:?} {envs:?}: {stderr}");
        assert!(
            stderr.contains(&expected),
            "{args:?} {envs:?}: expected {expected:?} in:\n{stderr}"
        );
        assert_eq!(stdout, "", "{args:?}");
    }
}

/// Issue 16: a bad value read from an env var is refused naming the flag and the variable.
#[test]
fn errors_name_the_env_var_a_bad_value_came_from() {
    for (envs, expected) in [
        (
            vec![("VPSMON_WEB_MAX_REQUESTS", "lots")],
            "error: invalid value 'lots' for '--web.max-requests <MAX_REQUESTS>' (from VPSMON_WEB_MAX_REQUESTS): invalid digit found in string\n",
        ),
        (
            vec![("VPSMON_COLLECTOR_FILESYSTEM_MOUNT_TIMEOUT", "soon")],
            "error: invalid value 'soon' for '--collector.filesystem.mount-timeout <DURATION>' (from VPSMON_COLLECTOR_FILESYSTEM_MOUNT_TIMEOUT): expected number at 0 (expected a duration like 5s or 500ms)\n",
        ),
        (
            vec![(
                "VPSMON_COLLECTOR_FILESYSTEM_MOUNT_POINTS_EXCLUDE",
                "(unclosed",
            )],
            "vpsmon-exporter: --collector.filesystem.mount-points-exclude (from VPSMON_COLLECTOR_FILESYSTEM_MOUNT_POINTS_EXCLUDE): invalid regular expression \"(unclosed\"",
        ),
        (
            vec![("VPSMON_WEB_AUTH_TOKEN_FILE", "/nonexistent/token")],
            "vpsmon-exporter: --web.auth-token-file (from VPSMON_WEB_AUTH_TOKEN_FILE): cannot read secret file /nonexistent/token: No such file or directory (os error 2)\n",
        ),
    ] {
        let (code, stdout, stderr) = run_bin(&["--web.listen-address=127.0.0.1:0"], &envs);
        assert_eq!(code, Some(2), "{envs:?}: {stderr}");
        assert!(
            stderr.starts_with(expected),
            "{envs:?}: expected {expected:?} at the start of:\n{stderr}"
        );
        assert_eq!(stdout, "");
    }
}

/// Issue 16: `--print-config` prints every setting with its source and exits; a secret file's
/// path is redacted (it is kept out of --help too).
#[test]
fn print_config_shows_each_value_and_its_source_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let token = write_secret(dir.path(), "token", "canary-in-config-51");
    let (code, stdout, stderr) = run_bin(
        &[
            "--print-config",
            "--collector.ports",
            "--web.max-requests=7",
        ],
        &[
            ("VPSMON_WEB_AUTH_TOKEN_FILE", token.to_str().unwrap()),
            ("VPSMON_COLLECTOR_PORTS_MAX", "50"),
        ],
    );
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    for line in [
        "--web.listen-address=127.0.0.1:9100  (default)\n",
        "--web.auth-token-file=<redacted>  (env VPSMON_WEB_AUTH_TOKEN_FILE)\n",
        "--web.max-requests=7  (command line)\n",
        "--collector.filesystem.mount-timeout=5s  (default)\n",
        "--collector.ports=true  (command line)\n",
        "--collector.ports.max=50  (env VPSMON_COLLECTOR_PORTS_MAX)\n",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    // The defaults plus ports (the registry's list grows with the collectors).
    let run = stdout
        .lines()
        .find_map(|l| l.strip_prefix("# collectors that run: "))
        .unwrap_or_else(|| panic!("no collector list in:\n{stdout}"));
    let run: Vec<_> = run.split(", ").collect();
    let mut want = vpsmon_exporter::collector::Config::default().enabled;
    want.insert("ports".into());
    assert_eq!(run, want.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!stdout.contains("canary-in-config-51"));
    assert!(!stdout.contains(token.to_str().unwrap()), "{stdout}");
}

/// Issue 15: node_exporter's listen forms. `:PORT` and `[::]:PORT` take IPv4 and IPv6 (when the
/// kernel has IPv6) as Go's listener does; `localhost:PORT` is IPv4 loopback.
#[tokio::test]
async fn the_listen_address_takes_node_exporters_forms() {
    let dir = tempfile::tempdir().unwrap();
    // A kernel without IPv6 (ipv6.disable=1) has no [::]; a container may have [::] but no ::1.
    let kernel_v6 = std::net::TcpListener::bind("[::]:0").is_ok();
    let loopback_v6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    let mut forms = vec![
        (":", if kernel_v6 { "[::]:" } else { "0.0.0.0:" }),
        ("localhost:", "127.0.0.1:"),
    ];
    if kernel_v6 {
        forms.push(("[::]:", "[::]:"));
    }
    for (form, bound) in forms {
        let port = testkit::procs::free_port();
        let mut cmd = std::process::Command::new(exporter_bin());
        cmd.arg(format!("--web.listen-address={form}{port}"))
            .arg("--log.format=json")
            .env_remove("RUST_LOG");
        let log = dir.path().join(format!("log-{port}"));
        let mut proc = testkit::procs::Proc::spawn("vpsmon-exporter", cmd, &log).unwrap();
        let v4 = format!("http://127.0.0.1:{port}/ping");
        testkit::procs::wait_http_ok(&mut proc, &v4, Duration::from_secs(30))
            .await
            .unwrap();
        let text = proc.log_text();
        assert!(
            text.contains(&format!("\"address\":\"{bound}{port}\"")),
            "{form}{port}: {text}"
        );
        let v6 = reqwest::get(format!("http://[::1]:{port}/ping")).await;
        let all_interfaces = form != "localhost:";
        if loopback_v6 && all_interfaces {
            assert_eq!(v6.unwrap().status(), 200, "{form}{port} over IPv6");
        } else {
            assert!(v6.is_err(), "{form}{port} answered on [::1]");
        }
    }
}

#[test]
fn help_lists_the_flags_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = write_secret(dir.path(), "token", "canary-in-help-77");
    let token_path = token_file.to_str().unwrap();
    let (code, stdout, _) = run_bin(&["--help"], &[("VPSMON_WEB_AUTH_TOKEN_FILE", token_path)]);
    assert_eq!(code, Some(0));
    for flag in [
        "--web.listen-address",
        "--web.auth-token-file",
        "--web.jwt-secret-file",
        "--web.max-requests",
        "--path.procfs",
        "--collector.cpu",
        "--no-collector.cpu",
        "--collector.filesystem.mount-points-exclude",
        "--collector.diskstats.device-exclude",
        "[env: VPSMON_WEB_LISTEN_ADDRESS=]",
        "[env: VPSMON_COLLECTOR_CPU=]",
    ] {
        assert!(
            stdout.contains(flag),
            "{flag} missing from --help:\n{stdout}"
        );
    }
    assert!(!stdout.contains("canary-in-help-77"));
    assert!(
        !stdout.contains(token_path),
        "the secret file's path is shown:\n{stdout}"
    );
}

#[tokio::test]
async fn the_binary_serves_guards_and_stops_without_logging_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let canary = "canary-secret-5f3a9c";
    let token_file = write_secret(dir.path(), "token", canary);
    let port = testkit::procs::free_port();
    let mut cmd = std::process::Command::new(exporter_bin());
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.auth-token-file={}", token_file.display()))
        .args(["--log.level=trace", "--log.format=json"])
        .env_remove("RUST_LOG");
    let mut proc =
        testkit::procs::Proc::spawn("vpsmon-exporter", cmd, &dir.path().join("log")).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    testkit::procs::wait_http_ok(&mut proc, &format!("{base}/ping"), Duration::from_secs(30))
        .await
        .unwrap();

    let client = reqwest::Client::new();
    let refused = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = client
        .get(format!("{base}/metrics"))
        .bearer_auth("not-the-canary")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let om = "application/openmetrics-text";
    let ok = client
        .get(format!("{base}/metrics"))
        .bearer_auth(canary)
        .header(header::ACCEPT, om)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()[header::CONTENT_TYPE], OPENMETRICS_CONTENT_TYPE);
    let text = ok.text().await.unwrap();
    assert!(text.contains("\nnode_cpu_seconds_total{"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");

    let gz = client
        .get(format!("{base}/metrics"))
        .bearer_auth(canary)
        .header(header::ACCEPT, om)
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
    let raw = gz.bytes().await.unwrap();
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_string(&mut decoded)
        .unwrap();
    assert!(decoded.contains("\nnode_cpu_seconds_total{"), "{decoded}");
    assert!(decoded.ends_with("# EOF\n"));
    assert!(
        raw.len() * 3 < decoded.len(),
        "gzip saved little: {} of {}",
        raw.len(),
        decoded.len()
    );

    let health = client
        .get(format!("{base}/api/health"))
        .bearer_auth(canary)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "healthy");
    assert!(
        health["data"]["memory"]["total"].as_u64().unwrap() > 0,
        "{health}"
    );

    // SIGTERM: a graceful stop with exit code 0.
    proc.signal(15);
    assert_eq!(
        proc.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        proc.log_text()
    );
    let log = proc.log_text();
    assert!(log.contains("vpsmon-exporter listening"), "{log}");
    assert!(
        log.contains(&format!("bearer token from {}", token_file.display())),
        "{log}"
    );
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains(canary), "the secret is in the log:\n{log}");
}

/// Issue 13, item 10: under systemd's default 1,024 open files, 1,100 clients that connect and
/// send nothing neither lock out a scrape (the oldest idle connections make room) nor stay open
/// past the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_neither_lock_out_a_scrape_nor_stay_open() {
    use testkit::idle::{IdleConnections, SYSTEMD_NOFILE, with_nofile_limit};
    let dir = tempfile::tempdir().unwrap();
    let port = testkit::procs::free_port();
    let mut cmd = with_nofile_limit(SYSTEMD_NOFILE, &exporter_bin());
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--web.header-timeout=8s", "--collector.disable-defaults"])
        .arg("--collector.loadavg");
    let mut proc =
        testkit::procs::Proc::spawn("vpsmon-exporter", cmd, &dir.path().join("log")).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    testkit::procs::wait_http_ok(&mut proc, &format!("{base}/ping"), Duration::from_secs(30))
        .await
        .unwrap();

    let mut idle = IdleConnections::open(([127, 0, 0, 1], port).into(), 1100).await;
    // Well under the header timeout: locked out, the answer would come only once the idle
    // connections time out; the slack is for a loaded CI machine.
    let scrape = tokio::time::timeout(Duration::from_secs(4), async {
        let resp = reqwest::get(format!("{base}/metrics")).await?;
        Ok::<_, reqwest::Error>((resp.status(), resp.text().await?))
    })
    .await;
    let (status, text) = scrape
        .unwrap_or_else(|_| panic!("no answer within 4 s; log:\n{}", proc.log_text()))
        .unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("\nnode_load1 "), "{text}");

    let open = idle.wait_closed(Duration::from_secs(16)).await;
    assert_eq!(
        open, 0,
        "idle connections left open past the 8 s header timeout"
    );
    let log = proc.log_text();
    assert!(!log.contains("Too many open files"), "{log}");
}

/// The binary with loadavg alone and `args`, on a free loopback port, answering /ping.
async fn loadavg_exporter(dir: &Path, args: &[&str]) -> (testkit::procs::Proc, u16) {
    let port = testkit::procs::free_port();
    let mut cmd = std::process::Command::new(exporter_bin());
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--collector.disable-defaults", "--collector.loadavg"])
        .args(args);
    let mut proc = testkit::procs::Proc::spawn("vpsmon-exporter", cmd, &dir.join("log")).unwrap();
    let ping = format!("http://127.0.0.1:{port}/ping");
    testkit::procs::wait_http_ok(&mut proc, &ping, Duration::from_secs(30))
        .await
        .unwrap();
    (proc, port)
}

/// One answer read off a raw connection: status, headers (names lowercased), body.
fn read_answer(
    reader: &mut std::io::BufReader<std::net::TcpStream>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::BufRead;
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {status:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let mut body = Vec::new();
    if let Some(len) = header("content-length") {
        body.resize(len.parse().unwrap(), 0);
        reader.read_exact(&mut body).unwrap();
    } else {
        assert_eq!(
            header("transfer-encoding").map(String::as_str),
            Some("chunked"),
            "{headers:?}"
        );
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim_end(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    (code, headers, body)
}

/// Scrapes are answered on a thread of their own per connection (the fast lane), and whatever
/// else comes on such a connection is served by the router as on any other: the same answers,
/// pipelined requests included, across more connections than there are lanes.
#[tokio::test]
async fn a_scrape_connection_answers_like_the_router_whatever_comes_on_it() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let token_file = write_secret(dir.path(), "token", "lane-token");
    let token_flag = format!("--web.auth-token-file={}", token_file.display());
    let (proc, port) = loadavg_exporter(dir.path(), &[&token_flag]).await;

    let pid = proc.pid();
    let checks = tokio::task::spawn_blocking(move || {
        let connect = || {
            let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            (s.try_clone().unwrap(), std::io::BufReader::new(s))
        };
        let scrape = "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer lane-token\r\n\r\n";
        // More connections than lanes, all open at once, each kept alive over several requests.
        let mut conns: Vec<_> = (0..12).map(|_| connect()).collect();
        // Which connection is on a lane shows in the framing only: a lane sends the length,
        // hyper this body in chunks.
        let mut on_lane = Vec::new();
        for (w, r) in &mut conns {
            for round in 0..2 {
                w.write_all(scrape.as_bytes()).unwrap();
                let (code, headers, body) = read_answer(r);
                if round == 0 {
                    on_lane.push(headers.iter().any(|(n, _)| n == "content-length"));
                }
                assert_eq!(code, 200);
                let body = String::from_utf8(body).unwrap();
                assert!(body.contains("\nnode_load1 "), "{body}");
                assert!(headers.iter().any(|(n, _)| n == "date"), "{headers:?}");
                assert!(
                    headers.iter().any(|(n, v)| n == "content-type" && v.starts_with("text/plain")),
                    "{headers:?}"
                );
            }
        }
        // Eight of them have a lane (a thread of its own); the other four are served by hyper.
        let lanes = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .filter(|t| {
                let comm = t.as_ref().unwrap().path().join("comm");
                std::fs::read_to_string(comm).is_ok_and(|c| c.trim() == "fast-lane")
            })
            .count();
        assert_eq!(lanes, 8);
        assert_eq!(on_lane.iter().filter(|l| **l).count(), 8, "{on_lane:?}");
        // The same request gets the same answer on a lane and from hyper: status, the headers a
        // client reads, and the body (a refusal's JSON; the metrics' families).
        let lanes: Vec<usize> = (0..on_lane.len()).filter(|&i| on_lane[i]).collect();
        let lane = lanes[0];
        let other = on_lane.iter().position(|l| !*l).unwrap();
        let om = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3";
        for request in [
            "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
            "GET /metrics HTTP/1.1\r\nAuthorization: Bearer wrong\r\n\r\n".to_owned(),
            scrape.to_owned(),
            format!("GET /metrics HTTP/1.1\r\nAuthorization: Bearer lane-token\r\nAccept: {om}\r\nAccept-Encoding: gzip\r\n\r\n"),
        ] {
            let mut answers = Vec::new();
            for i in [lane, other] {
                let (w, r) = &mut conns[i];
                w.write_all(request.as_bytes()).unwrap();
                let (code, headers, body) = read_answer(r);
                let header = |name: &str| {
                    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
                };
                let kept = ["content-type", "content-encoding", "vary", "www-authenticate"]
                    .map(header);
                let body = if header("content-encoding").is_some() {
                    let mut text = String::new();
                    flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut text).unwrap();
                    text
                } else {
                    String::from_utf8(body).unwrap()
                };
                let families: Vec<String> = if code == 200 {
                    body.lines().filter(|l| l.starts_with("# TYPE")).map(str::to_owned).collect()
                } else {
                    vec![body]
                };
                answers.push((code, kept, families));
            }
            assert_eq!(answers[0], answers[1], "{request:?}");
        }
        // A header that arrives in two parts is still one request.
        let (w, r) = &mut conns[lane];
        w.write_all(b"GET /metrics HTTP/1.1\r\nAuthorization: Bea").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        w.write_all(b"rer lane-token\r\n\r\n").unwrap();
        assert_eq!(read_answer(r).0, 200);
        let (w, r) = &mut conns[lanes[0]];
        // No credentials: refused as the router refuses, and the connection stays usable.
        w.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let (code, _, body) = read_answer(r);
        assert_eq!(code, 401, "{}", String::from_utf8_lossy(&body));
        // gzip as asked.
        w.write_all(
            b"GET /metrics HTTP/1.1\r\nAuthorization: Bearer lane-token\r\nAccept-Encoding: gzip\r\n\r\n",
        )
        .unwrap();
        let (code, headers, body) = read_answer(r);
        assert_eq!(code, 200);
        assert!(headers.contains(&("content-encoding".into(), "gzip".into())), "{headers:?}");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut text).unwrap();
        assert!(text.contains("\nnode_load1 "), "{text}");
        // A scrape and a request for another path in one write: both answered, in order, the
        // second by the router; the connection then goes on with scrapes.
        w.write_all(format!("{scrape}GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let (code, _, body) = read_answer(r);
        assert_eq!(code, 200);
        assert!(String::from_utf8(body).unwrap().contains("node_load1"));
        let (code, _, body) = read_answer(r);
        assert_eq!(code, 200);
        let ping: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(ping["status"], "ok");
        w.write_all(scrape.as_bytes()).unwrap();
        assert_eq!(read_answer(r).0, 200);
        // A scrape with a body is not a plain scrape: the router answers it.
        let (w, r) = &mut conns[lanes[1]];
        w.write_all(
            b"GET /metrics HTTP/1.1\r\nAuthorization: Bearer lane-token\r\nContent-Length: 5000\r\n\r\n",
        )
        .unwrap();
        w.write_all(&[b'x'; 5000]).unwrap();
        assert_eq!(read_answer(r).0, 413);
        // `Connection: close` is honoured: the answer, then the end of the stream.
        let (w, r) = &mut conns[lanes[2]];
        w.write_all(
            b"GET /metrics HTTP/1.1\r\nAuthorization: Bearer lane-token\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        let (code, headers, _) = read_answer(r);
        assert_eq!(code, 200);
        assert!(headers.contains(&("connection".into(), "close".into())), "{headers:?}");
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "{rest:?}");
    })
    .await;
    if let Err(e) = checks {
        panic!("{e}; log:\n{}", proc.log_text());
    }
}

/// A scraper's connection outlives the header timeout between scrapes (Prometheus keeps one
/// connection at a 15 s interval), a connection that sends nothing does not; past
/// `--web.max-connections` an idle lane is closed to make room, and a stop closes idle lanes at
/// once rather than after their keep-alive.
#[tokio::test]
async fn lanes_keep_a_scraper_connection_and_give_way() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let limits = [
        "--web.header-timeout=1s",
        "--web.keep-alive-timeout=60s",
        "--web.max-connections=3",
    ];
    let (mut proc, port) = loadavg_exporter(dir.path(), &limits).await;
    let checks = tokio::task::spawn_blocking(move || {
        let scrape = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        let connect = || {
            let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            (s.try_clone().unwrap(), std::io::BufReader::new(s))
        };
        let closed = |r: &mut std::io::BufReader<std::net::TcpStream>| {
            let mut rest = Vec::new();
            matches!(r.read_to_end(&mut rest), Ok(0))
        };
        // Silent from the start: closed after the 1 s header timeout.
        let (_w, mut silent) = connect();
        let start = std::time::Instant::now();
        assert!(closed(&mut silent));
        let took = start.elapsed();
        assert!(took < Duration::from_secs(5), "closed after {took:?}");
        // Answered, then idle for longer than the header timeout: still open, still answered.
        let (mut w, mut r) = connect();
        w.write_all(scrape).unwrap();
        assert_eq!(read_answer(&mut r).0, 200);
        std::thread::sleep(Duration::from_millis(2500));
        w.write_all(scrape).unwrap();
        assert_eq!(read_answer(&mut r).0, 200);
        // Two more idle scrapers make three connections, the limit: a fourth closes the oldest.
        let (mut w2, mut r2) = connect();
        w2.write_all(scrape).unwrap();
        assert_eq!(read_answer(&mut r2).0, 200);
        let (mut w3, mut r3) = connect();
        w3.write_all(scrape).unwrap();
        assert_eq!(read_answer(&mut r3).0, 200);
        let (mut w4, mut r4) = connect();
        w4.write_all(scrape).unwrap();
        assert_eq!(read_answer(&mut r4).0, 200);
        assert!(closed(&mut r), "the oldest idle lane was not closed");
        (w2, r2, w3, r3, w4, r4)
    })
    .await;
    let kept = match checks {
        Ok(kept) => kept,
        Err(e) => panic!("{e}; log:\n{}", proc.log_text()),
    };
    // Three idle lanes with a minute of keep-alive left: a stop ends them at once.
    let start = std::time::Instant::now();
    proc.signal(15);
    assert_eq!(
        proc.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        proc.log_text()
    );
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "stopped after {took:?}");
    drop(kept);
}
