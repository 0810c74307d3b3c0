//! A loopback fake of the Cloudflare API v4 tunnel endpoints, and of cloudflared's local
//! `/ready` endpoint.
//!
//! `GET {api_base}/accounts/{account_id}/cfd_tunnel/{tunnel_id}` plays a per-tunnel script: one
//! [`CfReply`] per request, the last one repeating, so a test describes a sequence of polls
//! ("healthy, down ×3, 429, healthy") and asserts what the collector made of it. Answers use
//! Cloudflare's envelope `{"success":…,"errors":[…],"messages":[…],"result":…}`; the token is
//! checked as `Authorization: Bearer <token>`. Sources in testkit/README.md.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::server::{Server, detach, wait_until};

/// The token accepted by default.
pub const DEFAULT_TOKEN: &str = "cf-test-token-Sn3lZJTBX6kkg7OdcBUAxOO963GEIyGQ";

/// One scripted answer to a poll of a tunnel.
#[derive(Debug, Clone, PartialEq)]
pub enum CfReply {
    /// 200 with the tunnel in this status (`healthy`, `degraded`, `down`, `inactive`) and this
    /// many edge connections.
    Status { status: String, connections: usize },
    /// 429 with Cloudflare's rate-limit error (code 971), without a Retry-After header.
    TooManyRequests,
    /// 429 as above, with `Retry-After: <secs>`.
    TooManyRequestsRetryAfter(u32),
    /// This 5xx as Cloudflare's edge serves it: `text/plain` `error code: <status>`.
    ServerError(u16),
    /// Holds the request this long (longer than the client's timeout), then answers 504.
    Timeout(Duration),
    /// 401 with `{"code":10000,"message":"Authentication error"}`: a revoked token.
    BadToken,
    /// 403 with the same error: a token without the Tunnel Read permission.
    Forbidden,
    /// 404 with code 7003, as for a tunnel id that does not exist.
    NotFound,
}

impl CfReply {
    /// Shorthand for [`CfReply::Status`].
    pub fn status(status: &str, connections: usize) -> CfReply {
        CfReply::Status {
            status: status.to_owned(),
            connections,
        }
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct CfRequest {
    pub method: String,
    /// The path without the query, e.g. `/client/v4/accounts/a/cfd_tunnel/t`.
    pub path: String,
    /// Whether an `Authorization` header was sent at all.
    pub authorization_present: bool,
    /// Whether it was `Bearer <the fake's token>`.
    pub authorized: bool,
    /// The status answered; 0 while a Timeout reply holds the request.
    pub status: u16,
    pub at: Instant,
}

struct Tunnel {
    name: String,
    script: VecDeque<CfReply>,
    /// The connection count of the last Status served, which the connections endpoint reports.
    current: usize,
    polls: usize,
}

#[derive(Default)]
struct CfState {
    tunnels: HashMap<(String, String), Tunnel>,
    requests: Vec<CfRequest>,
}

struct Inner {
    token: String,
    state: Mutex<CfState>,
    notify: Arc<Notify>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, CfState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake API. Dropping it stops the server.
pub struct FakeCloudflare {
    inner: Arc<Inner>,
    server: Server,
}

impl FakeCloudflare {
    /// Starts on 127.0.0.1 on a free port, accepting [`DEFAULT_TOKEN`].
    pub async fn start() -> FakeCloudflare {
        Self::start_with_token(DEFAULT_TOKEN).await
    }

    /// Starts accepting only `Authorization: Bearer <token>`.
    pub async fn start_with_token(token: &str) -> FakeCloudflare {
        let inner = Arc::new(Inner {
            token: token.to_owned(),
            state: Mutex::new(CfState::default()),
            notify: Arc::new(Notify::new()),
        });
        let app = Router::new()
            .fallback(handle)
            .layer(axum::middleware::from_fn(detach))
            .with_state(inner.clone());
        let server = Server::start("cloudflare", app);
        FakeCloudflare { inner, server }
    }

    /// `http://127.0.0.1:PORT/client/v4`, the counterpart of `https://api.cloudflare.com/client/v4`.
    pub fn api_base(&self) -> String {
        format!("http://{}/client/v4", self.server.addr())
    }

    pub fn token(&self) -> &str {
        &self.inner.token
    }

    /// Sets what polls of this tunnel get: one reply per request, in order, the last repeating.
    /// Replaces an earlier script.
    pub fn script(&self, account_id: &str, tunnel_id: &str, replies: Vec<CfReply>) {
        assert!(!replies.is_empty(), "a script needs at least one reply");
        let mut st = self.inner.lock();
        let key = (account_id.to_owned(), tunnel_id.to_owned());
        let name = st
            .tunnels
            .get(&key)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| format!("tunnel-{}", tunnel_id.chars().take(8).collect::<String>()));
        st.tunnels.insert(
            key,
            Tunnel {
                name,
                script: replies.into(),
                current: 0,
                polls: 0,
            },
        );
    }

    /// The tunnel's `name` in results (default `tunnel-<first 8 chars of the id>`).
    pub fn set_name(&self, account_id: &str, tunnel_id: &str, name: &str) {
        let mut st = self.inner.lock();
        let t = st
            .tunnels
            .entry((account_id.to_owned(), tunnel_id.to_owned()))
            .or_insert_with(|| Tunnel {
                name: String::new(),
                script: VecDeque::from([CfReply::status("healthy", 4)]),
                current: 0,
                polls: 0,
            });
        t.name = name.to_owned();
    }

    /// How many times this tunnel was polled (requests to its GET endpoint, any answer).
    pub fn polls(&self, account_id: &str, tunnel_id: &str) -> usize {
        self.inner
            .lock()
            .tunnels
            .get(&(account_id.to_owned(), tunnel_id.to_owned()))
            .map_or(0, |t| t.polls)
    }

    /// Every request, in order.
    pub fn requests(&self) -> Vec<CfRequest> {
        self.inner.lock().requests.clone()
    }

    /// Waits until at least `n` requests were answered; panics after `timeout` with the log.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<CfRequest> {
        wait_until(
            &self.inner.notify,
            timeout,
            || {
                let st = self.inner.lock();
                let done = st.requests.iter().filter(|r| r.status != 0).count();
                (done >= n).then(|| st.requests.clone())
            },
            || {
                let st = self.inner.lock();
                let mut s = format!(
                    "wanted {n} Cloudflare API requests; the fake got {}:",
                    st.requests.len()
                );
                for r in &st.requests {
                    s.push_str(&format!("\n  {} {} -> {}", r.method, r.path, r.status));
                }
                s
            },
        )
        .await
    }
}

fn envelope_error(status: u16, code: u32, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(json!({
            "success": false,
            "errors": [{ "code": code, "message": message }],
            "messages": [],
            "result": null,
        })),
    )
        .into_response()
}

fn not_found(path: &str) -> Response {
    envelope_error(
        404,
        7003,
        &format!("Could not route to {path}, perhaps your object identifier is invalid?"),
    )
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let at = Instant::now();
    let path = uri.path().to_owned();
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let authorized = auth == Some(format!("Bearer {}", inner.token).as_str());
    let index = {
        let mut st = inner.lock();
        st.requests.push(CfRequest {
            method: method.to_string(),
            path: path.clone(),
            authorization_present: auth.is_some(),
            authorized,
            status: 0,
            at,
        });
        st.requests.len() - 1
    };
    inner.notify.notify_waiters();

    let resp = answer(&inner, &method, &path, auth.is_some(), authorized).await;
    inner.lock().requests[index].status = resp.status().as_u16();
    inner.notify.notify_waiters();
    resp
}

async fn answer(
    inner: &Inner,
    method: &Method,
    path: &str,
    auth_present: bool,
    authorized: bool,
) -> Response {
    // /client/v4/accounts/{account}/cfd_tunnel/{tunnel}[/connections]
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (account, tunnel, connections) = match parts.as_slice() {
        ["client", "v4", "accounts", a, "cfd_tunnel", t] => (*a, *t, false),
        [
            "client",
            "v4",
            "accounts",
            a,
            "cfd_tunnel",
            t,
            "connections",
        ] => (*a, *t, true),
        _ => return not_found(path),
    };
    if !auth_present {
        return envelope_error(
            400,
            9106,
            "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
        );
    }
    if !authorized {
        return envelope_error(401, 10000, "Authentication error");
    }
    if method != Method::GET {
        return envelope_error(405, 10405, "Method not allowed for this endpoint");
    }

    let key = (account.to_owned(), tunnel.to_owned());
    if connections {
        // Reports the connections of the last status served; does not advance the script.
        let st = inner.lock();
        let Some(t) = st.tunnels.get(&key) else {
            return not_found(path);
        };
        let n = t.current;
        let clients = if n == 0 {
            json!([])
        } else {
            json!([{
                "id": client_id(tunnel),
                "arch": "linux_amd64",
                "config_version": 0,
                "conns": conns(tunnel, n),
                "features": ["ha-origin", "serialized_headers"],
                "run_at": "2026-01-01T00:00:00Z",
                "version": "2026.1.0",
            }])
        };
        return ok(clients);
    }

    let (reply, name) = {
        let mut st = inner.lock();
        let Some(t) = st.tunnels.get_mut(&key) else {
            return not_found(path);
        };
        t.polls += 1;
        let reply = if t.script.len() > 1 {
            t.script.pop_front()
        } else {
            t.script.front().cloned()
        }
        .expect("scripts are never empty");
        if let CfReply::Status { connections, .. } = &reply {
            t.current = *connections;
        }
        (reply, t.name.clone())
    };

    match reply {
        CfReply::Status {
            status,
            connections,
        } => ok(tunnel_json(account, tunnel, &name, &status, connections)),
        CfReply::TooManyRequests => rate_limited(None),
        CfReply::TooManyRequestsRetryAfter(secs) => rate_limited(Some(secs)),
        CfReply::ServerError(code) => edge_error(code),
        CfReply::Timeout(hold) => {
            tokio::time::sleep(hold).await;
            edge_error(504)
        }
        CfReply::BadToken => envelope_error(401, 10000, "Authentication error"),
        CfReply::Forbidden => envelope_error(403, 10000, "Authentication error"),
        CfReply::NotFound => not_found(path),
    }
}

fn ok(result: Value) -> Response {
    axum::Json(json!({
        "success": true,
        "errors": [],
        "messages": [],
        "result": result,
    }))
    .into_response()
}

fn rate_limited(retry_after: Option<u32>) -> Response {
    let mut resp = envelope_error(
        429,
        971,
        "Please wait and consider throttling your request speed",
    );
    if let Some(secs) = retry_after
        && let Ok(v) = secs.to_string().parse()
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// What Cloudflare's edge answers itself when the API behind it fails: not the JSON envelope.
fn edge_error(code: u16) -> Response {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY),
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        format!("error code: {code}"),
    )
        .into_response()
}

fn client_id(tunnel: &str) -> String {
    format!("1bedc50d-42b3-473c-b108-{:0>12}", tunnel.len())
}

fn conns(tunnel: &str, n: usize) -> Value {
    const COLOS: &[&str] = &["fra06", "ams01", "fra08", "ams07"];
    Value::Array(
        (0..n)
            .map(|i| {
                json!({
                    "colo_name": COLOS[i % COLOS.len()],
                    "id": format!("1bedc50d-42b3-473c-b108-ff3d00c0{i:04}"),
                    "uuid": format!("1bedc50d-42b3-473c-b108-ff3d00c0{i:04}"),
                    "is_pending_reconnect": false,
                    "origin_ip": "198.51.100.7",
                    "opened_at": "2026-01-01T00:00:00Z",
                    "client_id": client_id(tunnel),
                    "client_version": "2026.1.0",
                })
            })
            .collect(),
    )
}

/// The Tunnel object of `GET /accounts/{account_id}/cfd_tunnel/{tunnel_id}`.
fn tunnel_json(account: &str, tunnel: &str, name: &str, status: &str, n: usize) -> Value {
    // An inactive tunnel never connected; a down one did and lost every connection.
    let (active_at, inactive_at) = match status {
        "inactive" => (Value::Null, Value::Null),
        "down" => (json!("2026-01-01T00:00:00Z"), json!("2026-01-01T01:00:00Z")),
        _ => (json!("2026-01-01T00:00:00Z"), Value::Null),
    };
    json!({
        "id": tunnel,
        "account_tag": account,
        "created_at": "2025-12-01T00:00:00Z",
        "deleted_at": null,
        "name": name,
        "connections": conns(tunnel, n),
        "conns_active_at": active_at,
        "conns_inactive_at": inactive_at,
        "tun_type": "cfd_tunnel",
        "metadata": {},
        "status": status,
        "remote_config": false,
        "config_src": "local",
    })
}

/// A fake of cloudflared's metrics server `/ready` endpoint: 200 with
/// `{"status":200,"readyConnections":N,"connectorId":…}` while N > 0, 503 with N = 0.
pub struct FakeCloudflared {
    ready: Arc<Mutex<u32>>,
    server: Server,
}

impl FakeCloudflared {
    /// Starts with `connections` ready connections.
    pub async fn start(connections: u32) -> FakeCloudflared {
        let ready = Arc::new(Mutex::new(connections));
        let app = Router::new()
            .route("/ready", axum::routing::get(ready_handler))
            .with_state(ready.clone());
        FakeCloudflared {
            ready,
            server: Server::start("cloudflared", app),
        }
    }

    /// `http://127.0.0.1:PORT` (the `/ready` path is appended by the client).
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn set_ready_connections(&self, n: u32) {
        *self.ready.lock().unwrap_or_else(|e| e.into_inner()) = n;
    }
}

async fn ready_handler(State(ready): State<Arc<Mutex<u32>>>) -> Response {
    let n = *ready.lock().unwrap_or_else(|e| e.into_inner());
    let status = if n > 0 { 200 } else { 503 };
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
        axum::Json(json!({
            "status": status,
            "readyConnections": n,
            "connectorId": "1bedc50d-42b3-473c-b108-ff3d00c0ffee",
        })),
    )
        .into_response()
}
