//! A loopback fake of a generic HTTP notification endpoint, the kind VPS owners point alerts at:
//! an ntfy topic (`POST /<topic>`, the body is the message, headers such as `Title` and
//! `Authorization: Bearer tk_…`), Gotify (`POST /message?token=…`), Bark, ServerChan, a Discord
//! webhook (`POST /api/webhooks/<id>/<token>` with JSON `{"content": …}`).
//!
//! It answers as ntfy does (<https://docs.ntfy.sh/publish/>): `200` with a JSON event for a
//! message; `403 {"code":40301,"http":403,"error":"forbidden"}` when a required header is
//! missing or wrong ([`FakeWebhook::require_header`]); `404` for a path other than the topic's;
//! and the scripted faults below (429 with `Retry-After`, 5xx, any status). Every request is
//! recorded whole (method, path and query, headers, body), so a test asserts on exactly what
//! was sent.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;

use crate::server::{FaultPlan, Server, Until, detach, wait_until};

/// The topic's path.
pub const TOPIC_PATH: &str = "/vpsmon-alerts";

/// A scripted failure of the endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookFault {
    /// 429 with `Retry-After: <secs>` (ntfy's `{"code":42901,…}`).
    RateLimited { retry_after_secs: u32 },
    /// This 5xx, with ntfy's JSON error body.
    ServerError(u16),
    /// Any status and body.
    Custom { status: u16, body: String },
}

/// One request the fake received, whatever it answered.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub method: String,
    /// The path and query as sent (`/vpsmon-alerts?x=1`).
    pub path: String,
    /// Every header, lower-case names, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub status: u16,
    pub at: Instant,
}

impl WebhookRequest {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the endpoint took it as a message.
    pub fn accepted(&self) -> bool {
        self.status == 200
    }
}

#[derive(Default)]
struct WebhookState {
    requests: Vec<WebhookRequest>,
    faults: FaultPlan<(), WebhookFault>,
    required: Option<(String, String)>,
}

struct Inner {
    state: Mutex<WebhookState>,
    notify: Arc<Notify>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, WebhookState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake endpoint. Dropping it stops the server.
pub struct FakeWebhook {
    inner: Arc<Inner>,
    server: Server,
}

impl FakeWebhook {
    /// Starts on 127.0.0.1 on a free port.
    pub async fn start() -> FakeWebhook {
        let inner = Arc::new(Inner {
            state: Mutex::new(WebhookState::default()),
            notify: Arc::new(Notify::new()),
        });
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(10 * 1024 * 1024))
            .layer(axum::middleware::from_fn(detach))
            .with_state(inner.clone());
        let server = Server::start("webhook", app);
        FakeWebhook { inner, server }
    }

    /// The topic's URL: `http://127.0.0.1:PORT/vpsmon-alerts`.
    pub fn url(&self) -> String {
        format!("http://{}{TOPIC_PATH}", self.server.addr())
    }

    /// Requests without header `name: value` get 403 (an ntfy access token, a Gotify key).
    pub fn require_header(&self, name: &str, value: &str) {
        self.inner.lock().required = Some((name.to_owned(), value.to_owned()));
    }

    /// Every request, in order, with the status it got.
    pub fn requests(&self) -> Vec<WebhookRequest> {
        self.inner.lock().requests.clone()
    }

    /// The messages accepted, in order.
    pub fn messages(&self) -> Vec<WebhookRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.accepted())
            .collect()
    }

    /// Waits until at least `n` messages were accepted; panics after `timeout` listing every
    /// request and its answer.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<WebhookRequest> {
        wait_until(
            &self.inner.notify,
            timeout,
            || {
                let st = self.inner.lock();
                let ok: Vec<_> = st
                    .requests
                    .iter()
                    .filter(|r| r.accepted())
                    .cloned()
                    .collect();
                (ok.len() >= n).then_some(ok)
            },
            || {
                let st = self.inner.lock();
                let mut s = format!(
                    "wanted {n} webhook messages; the fake got {} requests:",
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

    /// The next request gets `fault`; faults queue and are used one per request.
    pub fn push_fault(&self, fault: WebhookFault) {
        self.inner.lock().faults.push((), fault);
    }

    /// Every request gets `fault` until `until` (an `Instant` or a `Duration` from now).
    pub fn fail_until(&self, until: impl Until, fault: WebhookFault) {
        self.inner
            .lock()
            .faults
            .fail_until(until.instant(), (), fault);
    }
}

impl FakeWebhook {
    /// Ends an outage and drops queued faults.
    pub fn clear_faults(&self) {
        self.inner.lock().faults.clear();
    }
}

/// ntfy's error body.
fn error_body(status: u16, error: &str) -> String {
    format!(r#"{{"code":{status}01,"http":{status},"error":"{error}"}}"#)
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let body = String::from_utf8_lossy(&body).into_owned();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let (fault, required) = {
        let mut st = inner.lock();
        (st.faults.next(|()| true), st.required.clone())
    };
    let authorized = required.as_ref().is_none_or(|(name, value)| {
        headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value)
    });
    let (status, answer, retry_after) = match fault {
        Some(WebhookFault::RateLimited { retry_after_secs }) => (
            429,
            error_body(429, "limit reached: too many requests"),
            Some(retry_after_secs),
        ),
        Some(WebhookFault::ServerError(code)) => (code, error_body(code, "server error"), None),
        Some(WebhookFault::Custom { status, body }) => (status, body, None),
        None if uri.path() != TOPIC_PATH => (404, error_body(404, "page not found"), None),
        None if !authorized => (403, error_body(403, "forbidden"), None),
        None if body.is_empty() => (400, error_body(400, "message empty"), None),
        None => (
            200,
            format!(
                r#"{{"event":"message","topic":"{}"}}"#,
                TOPIC_PATH.trim_start_matches('/')
            ),
            None,
        ),
    };
    inner.lock().requests.push(WebhookRequest {
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers,
        body,
        status,
        at,
    });
    inner.notify.notify_waiters();
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        answer,
    )
        .into_response();
    if let Some(secs) = retry_after
        && let Ok(v) = secs.to_string().parse()
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}
