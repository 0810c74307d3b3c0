//! A loopback fake of a Slack incoming webhook (<https://api.slack.com/messaging/webhooks>).
//!
//! `POST /services/T…/B…/…` with a JSON body (or a form with `payload=<json>`) is answered as
//! Slack does: `200` with the plain body `ok`, or an error status with a one-word plain body:
//! 400 `invalid_payload` (not JSON), 400 `no_text` (no text, blocks or attachments),
//! 400 `invalid_blocks` (blocks Slack's limits reject), 404 `no_service` (an unknown webhook
//! path), and the scripted faults below (429 with `Retry-After`, 5xx, timeouts,
//! `channel_not_found`, `channel_is_archived`, …). Sources in testkit/README.md.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::Notify;

use crate::server::{FaultPlan, Server, Until, detach, parse_urlencoded, wait_until};

const WEBHOOK_PATH: &str = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";

/// A scripted failure of the webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum SlackFault {
    /// 429 `rate_limited` with `Retry-After: <secs>`.
    RateLimited { retry_after_secs: u32 },
    /// This 5xx; 500 carries Slack's `rollup_error`, others their reason phrase.
    ServerError(u16),
    /// Holds the request this long (longer than the client's timeout), then answers 504.
    /// Nothing is posted.
    Timeout(Duration),
    /// 404 `channel_not_found`.
    ChannelNotFound,
    /// 410 `channel_is_archived`.
    ChannelIsArchived,
    /// 404 `no_service`: the webhook was revoked or disabled.
    NoService,
    /// 403 `action_prohibited`.
    ActionProhibited,
    /// 400 `invalid_payload`.
    InvalidPayload,
    /// Any status and plain body.
    Custom { status: u16, body: String },
}

/// A message Slack accepted.
#[derive(Debug, Clone)]
pub struct SlackPost {
    /// The JSON payload as sent.
    pub body: Value,
    /// Its top-level `text`, if any.
    pub text: Option<String>,
    pub at: Instant,
}

impl SlackPost {
    /// What a Slack user sees of the top-level `text` (see [`visible_text`]).
    pub fn visible_text(&self) -> Option<String> {
        self.text.as_deref().map(visible_text)
    }
}

/// Renders Slack `mrkdwn` control sequences and escapes the way Slack displays them
/// (<https://api.slack.com/reference/surfaces/formatting>): `<url|label>` shows `label`,
/// `<url>` the url, `<@U1>` `@U1`, `<!here>` `@here`, `<#C1|name>` `#name`, and `&lt;` `&gt;`
/// `&amp;` their characters. An unescaped `<script>` therefore shows as `script`: a test that
/// asserts the visible text catches a sender that forgot to escape.
pub fn visible_text(mrkdwn: &str) -> String {
    let mut out = String::with_capacity(mrkdwn.len());
    let mut rest = mrkdwn;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &after[..end];
        let (target, label) = inner.split_once('|').unwrap_or((inner, ""));
        let shown = match target.chars().next() {
            Some('@') | Some('#') if !label.is_empty() => format!("{}{label}", &target[..1]),
            Some('@') | Some('#') => target.to_owned(),
            Some('!') => format!("@{}", &target[1..]),
            _ if !label.is_empty() => label.to_owned(),
            _ => target.to_owned(),
        };
        out.push_str(&shown);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Any request the fake received, whatever it answered.
#[derive(Debug, Clone)]
pub struct SlackRequest {
    pub method: String,
    pub path: String,
    pub content_type: String,
    pub body: String,
    pub status: u16,
    /// The plain-text answer (`ok` or the error code).
    pub answer: String,
    pub at: Instant,
}

#[derive(Default)]
struct SlackState {
    posts: Vec<SlackPost>,
    requests: Vec<SlackRequest>,
    faults: FaultPlan<(), SlackFault>,
    rate_limit: bool,
    last_post: Option<Instant>,
}

struct Inner {
    state: Mutex<SlackState>,
    notify: Arc<Notify>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, SlackState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake webhook. Dropping it stops the server.
pub struct FakeSlack {
    inner: Arc<Inner>,
    server: Server,
}

impl FakeSlack {
    /// Starts on 127.0.0.1 on a free port.
    pub async fn start() -> FakeSlack {
        let inner = Arc::new(Inner {
            state: Mutex::new(SlackState::default()),
            notify: Arc::new(Notify::new()),
        });
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(10 * 1024 * 1024))
            .layer(axum::middleware::from_fn(detach))
            .with_state(inner.clone());
        let server = Server::start("slack", app);
        FakeSlack { inner, server }
    }

    /// The webhook URL, in Slack's shape: `http://127.0.0.1:PORT/services/T…/B…/…`.
    pub fn webhook_url(&self) -> String {
        format!("http://{}{WEBHOOK_PATH}", self.server.addr())
    }

    /// `http://127.0.0.1:PORT`, for building a wrong webhook URL in a test.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Accepted messages, in order.
    pub fn posts(&self) -> Vec<SlackPost> {
        self.inner.lock().posts.clone()
    }

    /// Every request, in order, with the answer given.
    pub fn requests(&self) -> Vec<SlackRequest> {
        self.inner.lock().requests.clone()
    }

    /// Waits until at least `n` messages were accepted; panics after `timeout` listing every
    /// request and answer.
    pub async fn wait_for_posts(&self, n: usize, timeout: Duration) -> Vec<SlackPost> {
        wait_until(
            &self.inner.notify,
            timeout,
            || {
                let st = self.inner.lock();
                (st.posts.len() >= n).then(|| st.posts.clone())
            },
            || {
                let st = self.inner.lock();
                let mut s = format!(
                    "wanted {n} Slack posts; the fake got {} requests:",
                    st.requests.len()
                );
                for r in &st.requests {
                    s.push_str(&format!(
                        "\n  {} {} -> {} {}",
                        r.method, r.path, r.status, r.answer
                    ));
                }
                s
            },
        )
        .await
    }

    /// The next request gets `fault`; faults queue and are used one per request.
    pub fn push_fault(&self, fault: SlackFault) {
        self.inner.lock().faults.push((), fault);
    }

    /// Every request gets `fault` until `until` (an `Instant` or a `Duration` from now).
    pub fn fail_until(&self, until: impl Until, fault: SlackFault) {
        self.inner
            .lock()
            .faults
            .fail_until(until.instant(), (), fault);
    }

    /// Ends an outage and drops queued faults.
    pub fn clear_faults(&self) {
        self.inner.lock().faults.clear();
    }

    /// Enforces Slack's one message a second per webhook: a post less than 900 ms after the
    /// last accepted one gets 429 `rate_limited` with `Retry-After: 1`.
    pub fn enforce_rate_limit(&self, on: bool) {
        self.inner.lock().rate_limit = on;
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body_text = String::from_utf8_lossy(&body).into_owned();

    let fault = inner.lock().faults.next(|()| true);
    let (status, answer, retry_after, post) = match fault {
        Some(fault) => {
            if let SlackFault::Timeout(hold) = &fault {
                tokio::time::sleep(*hold).await;
            }
            let (status, answer, retry) = fault_answer(&fault);
            (status, answer, retry, None)
        }
        None => match accept(&method, uri.path(), &content_type, &body_text) {
            Ok(_) if too_soon(&inner, at) => (429, "rate_limited".to_owned(), Some(1), None),
            Ok(payload) => (200, "ok".to_owned(), None, Some(payload)),
            Err((status, code)) => (status, code.to_owned(), None, None),
        },
    };

    {
        let mut st = inner.lock();
        if let Some(body) = post {
            st.posts.push(SlackPost {
                text: body.get("text").and_then(Value::as_str).map(str::to_owned),
                body,
                at,
            });
        }
        st.requests.push(SlackRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            content_type,
            body: body_text,
            status,
            answer: answer.clone(),
            at,
        });
    }
    inner.notify.notify_waiters();

    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        // Slack answers webhooks with a bare word and this content type.
        [(header::CONTENT_TYPE, "text/html")],
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

/// Whether an accepted post breaks the enforced rate limit; records it if not.
fn too_soon(inner: &Inner, now: Instant) -> bool {
    let mut st = inner.lock();
    if !st.rate_limit {
        return false;
    }
    if st
        .last_post
        .is_some_and(|last| now.duration_since(last) < Duration::from_millis(900))
    {
        return true;
    }
    st.last_post = Some(now);
    false
}

fn fault_answer(fault: &SlackFault) -> (u16, String, Option<u32>) {
    match fault {
        SlackFault::RateLimited { retry_after_secs } => {
            (429, "rate_limited".into(), Some(*retry_after_secs))
        }
        SlackFault::ServerError(500) => (500, "rollup_error".into(), None),
        SlackFault::ServerError(code) => (
            *code,
            StatusCode::from_u16(*code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("server_error")
                .to_owned(),
            None,
        ),
        SlackFault::Timeout(_) => (504, "Gateway Timeout".into(), None),
        SlackFault::ChannelNotFound => (404, "channel_not_found".into(), None),
        SlackFault::ChannelIsArchived => (410, "channel_is_archived".into(), None),
        SlackFault::NoService => (404, "no_service".into(), None),
        SlackFault::ActionProhibited => (403, "action_prohibited".into(), None),
        SlackFault::InvalidPayload => (400, "invalid_payload".into(), None),
        SlackFault::Custom { status, body } => (*status, body.clone(), None),
    }
}

/// Validates a webhook request as Slack does; Ok is the accepted payload.
fn accept(
    method: &Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> Result<Value, (u16, &'static str)> {
    if path != WEBHOOK_PATH {
        return Err((404, "no_service"));
    }
    if method != Method::POST {
        return Err((405, "invalid_method"));
    }
    let mime = content_type.split(';').next().unwrap_or("").trim();
    // Slack also takes `payload=<json>` form posts, the older way to call a webhook.
    let json_text = if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        form_payload(body).ok_or((400, "invalid_payload"))?
    } else {
        body.to_owned()
    };
    let payload: Value = serde_json::from_str(&json_text).map_err(|_| (400, "invalid_payload"))?;
    let Some(obj) = payload.as_object() else {
        return Err((400, "invalid_payload"));
    };
    let text = obj.get("text").and_then(Value::as_str).unwrap_or("");
    let has_blocks = obj
        .get("blocks")
        .and_then(Value::as_array)
        .is_some_and(|b| !b.is_empty());
    let has_attachments = obj
        .get("attachments")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if text.trim().is_empty() && !has_blocks && !has_attachments {
        return Err((400, "no_text"));
    }
    if let Some(blocks) = obj.get("blocks") {
        check_blocks(blocks).map_err(|_| (400, "invalid_blocks"))?;
    }
    Ok(payload)
}

fn form_payload(body: &str) -> Option<String> {
    parse_urlencoded(body)
        .into_iter()
        .find_map(|(k, v)| (k == "payload").then_some(v))
}

/// Block Kit limits (<https://api.slack.com/reference/block-kit/blocks>): at most 50 blocks a
/// message, every block has a `type`, a section's text at most 3000 characters, a header's
/// at most 150, at most 10 fields of 2000 characters each.
fn check_blocks(blocks: &Value) -> Result<(), ()> {
    let blocks = blocks.as_array().ok_or(())?;
    if blocks.len() > 50 {
        return Err(());
    }
    let text_len = |v: Option<&Value>| {
        v.and_then(|t| t.get("text"))
            .and_then(Value::as_str)
            .map(|s| s.chars().count())
    };
    for b in blocks {
        let kind = b.get("type").and_then(Value::as_str).ok_or(())?;
        match kind {
            "section" => {
                if text_len(b.get("text")).is_some_and(|n| n > 3000 || n == 0) {
                    return Err(());
                }
                if let Some(fields) = b.get("fields") {
                    let fields = fields.as_array().ok_or(())?;
                    if fields.len() > 10
                        || fields
                            .iter()
                            .any(|f| text_len(Some(f)).is_none_or(|n| n > 2000))
                    {
                        return Err(());
                    }
                }
                if b.get("text").is_none() && b.get("fields").is_none() {
                    return Err(());
                }
            }
            "header" if text_len(b.get("text")).is_none_or(|n| n > 150 || n == 0) => {
                return Err(());
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn visible_text_renders_links_and_escapes() {
        assert_eq!(
            visible_text("FIRING &lt;web-1&gt; &amp; <https://prom/graph|graph> <!here>"),
            "FIRING <web-1> & graph @here"
        );
        assert_eq!(
            visible_text("<script>alert(1)</script>"),
            "scriptalert(1)/script"
        );
        assert_eq!(
            visible_text("<@U123> in <#C1|ops>, a < b"),
            "@U123 in #ops, a < b"
        );
    }

    #[test]
    fn payload_validation_matches_slack() {
        let post = |body: &str| accept(&Method::POST, WEBHOOK_PATH, "application/json", body);
        assert!(post(r#"{"text":"hi"}"#).is_ok());
        assert!(post(r#"{"blocks":[{"type":"divider"}]}"#).is_ok());
        assert_eq!(post("not json"), Err((400, "invalid_payload")));
        assert_eq!(post(r#"[1]"#), Err((400, "invalid_payload")));
        assert_eq!(post(r#"{"text":""}"#), Err((400, "no_text")));
        let long =
            json!({"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"x".repeat(3001)}}]});
        assert_eq!(post(&long.to_string()), Err((400, "invalid_blocks")));
        let many: Vec<Value> = (0..51).map(|_| json!({"type":"divider"})).collect();
        assert_eq!(
            post(&json!({ "text": "t", "blocks": many }).to_string()),
            Err((400, "invalid_blocks"))
        );
        assert_eq!(
            accept(&Method::POST, "/services/other", "application/json", "{}"),
            Err((404, "no_service"))
        );
        assert!(
            accept(
                &Method::POST,
                WEBHOOK_PATH,
                "application/x-www-form-urlencoded",
                "payload=%7B%22text%22%3A%22a+b%22%7D"
            )
            .is_ok()
        );
    }
}
