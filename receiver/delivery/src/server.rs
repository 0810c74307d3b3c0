//! The HTTP side: `POST /alerts[/{route}]` from Alertmanager, `GET /metrics`, `GET /healthz`.
//!
//! Every refusal is a JSON body that says what was wrong: 401 (webhook auth), 403 (a cross-site
//! `Origin`: a web page, not Alertmanager), 415 (not `Content-Type: application/json`), 404
//! (unknown route, naming it), 413 (body over the limit), 408 (body too slow), 400 (bad JSON or
//! a missing field, naming it), 422 (a destination refused the message for good: Alertmanager
//! will not retry), 503 (a destination is failing for now, or too many bodies are being read at
//! once: Alertmanager retries).
//!
//! The checks that need no body come first, so a refused request is never read.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use vpsmon_common::auth::{self, AuthError};
use vpsmon_common::serve::{BodyTimeout, Limits};

use crate::config::{Config, DEFAULT_ROUTE, WebhookAuth};
use crate::metrics::{CodeLabels, Metrics};
use crate::notify::{Deliver, Outcome};
use crate::payload::{Notification, PayloadError};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub deliver: Arc<dyn Deliver>,
    pub metrics: Arc<Metrics>,
    pub registry: Arc<Registry>,
    pub bodies: Arc<BodyBudget>,
    /// Pages served beside the webhook (the fleet view's dashboard), wired at start-up:
    /// delivery does not know them. `Router::new()` for none.
    pub pages: Router,
}

/// Bounds the webhook bodies held in memory at once, so that memory does not follow the number
/// of concurrent senders: each webhook reserves its size (its Content-Length, else the body
/// limit) until it is answered, and one that cannot get its share within [`BODY_WAIT`] is
/// answered 503 with Retry-After, which Alertmanager retries.
pub struct BodyBudget {
    kib: Arc<Semaphore>,
    total_kib: u32,
}

/// Bytes of webhook bodies in memory at once (at least one body of the limit always fits).
/// Alertmanager's bodies are a few KiB, so this only slows a flood of large ones.
pub const BODY_BUDGET: usize = 8 << 20;
/// How long a webhook waits for its share of [`BODY_BUDGET`] before a 503.
pub const BODY_WAIT: Duration = Duration::from_secs(5);

impl BodyBudget {
    pub fn new(body_limit: usize) -> BodyBudget {
        let total_kib =
            u32::try_from(BODY_BUDGET.max(body_limit).div_ceil(1024)).unwrap_or(u32::MAX);
        BodyBudget {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    async fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib);
        tokio::time::timeout(BODY_WAIT, Arc::clone(&self.kib).acquire_many_owned(kib))
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(ApiError::Busy)
    }
}

pub fn app(state: AppState) -> Router {
    let pages = state.pages.clone();
    Router::new()
        .route("/alerts", post(alerts_default))
        .route("/alerts/{route}", post(alerts_route))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(state)
        // The fleet dashboard (`/`, `/agents/{name}`, `/api/status`, `/assets/*`): issue 8.
        .merge(pages)
}

/// Serves until `shutdown` completes, then finishes the requests in flight (a webhook being
/// delivered is answered, so Alertmanager knows whether to retry). Idle and slow connections are
/// closed (`vpsmon_common::serve`).
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Limits {
        max_connections: state.config.max_connections,
        header_timeout: state.config.header_timeout,
        ..Limits::default()
    };
    run_with(listener, state, limits, shutdown).await
}

/// [`run`] with other connection limits (`--max-connections`, `--header-timeout` and the body
/// timeout).
pub async fn run_with(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    vpsmon_common::serve::serve(listener, app(state), limits, shutdown).await
}

/// Every way a webhook can be refused, each with its status and JSON body.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized(AuthError),
    CrossSite { origin: String },
    NotJson { content_type: Option<String> },
    UnknownRoute { route: String, known: Vec<String> },
    TooLarge { limit: usize },
    SlowBody(String),
    Busy,
    BadBody(String),
    BadPayload(PayloadError),
    Permanent { destination: String, reason: String },
    Transient { destination: String, reason: String },
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::CrossSite { .. } => StatusCode::FORBIDDEN,
            ApiError::NotJson { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UnknownRoute { .. } => StatusCode::NOT_FOUND,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadBody(_) | ApiError::BadPayload(_) => StatusCode::BAD_REQUEST,
            ApiError::Permanent { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Transient { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self {
            ApiError::Unauthorized(e) => return e.into_response(),
            ApiError::CrossSite { origin } => json!({
                "error": format!(
                    "cross-site request refused: Origin {origin:?} is not this server \
                     (Alertmanager sends no Origin)"
                ),
                "origin": origin,
            }),
            ApiError::NotJson { content_type } => json!({
                "error": match &content_type {
                    Some(t) => format!("Content-Type {t:?} refused: send application/json"),
                    None => "no Content-Type: send application/json".to_string(),
                },
                "content_type": content_type,
            }),
            ApiError::SlowBody(message) => json!({ "error": message }),
            ApiError::Busy => {
                let body = json!({
                    "error": "too many webhook bodies being read at once; retry later",
                });
                return (
                    status,
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::RETRY_AFTER, "1"),
                    ],
                    body.to_string(),
                )
                    .into_response();
            }
            ApiError::UnknownRoute { route, known } => json!({
                "error": format!("unknown route {route:?}"),
                "route": route,
                "known_routes": known,
            }),
            ApiError::TooLarge { limit } => json!({
                "error": format!("body larger than the limit of {limit} bytes"),
                "limit_bytes": limit,
            }),
            ApiError::BadBody(message) => json!({ "error": message }),
            ApiError::BadPayload(e) => json!({
                "error": format!("invalid webhook payload: {}", e.message),
                "field": e.field,
            }),
            ApiError::Permanent {
                destination,
                reason,
            } => json!({
                "error": "delivery failed permanently; not worth retrying",
                "destination": destination,
                "reason": reason,
            }),
            ApiError::Transient {
                destination,
                reason,
            } => json!({
                "error": "delivery failed for now; retry later",
                "destination": destination,
                "reason": reason,
            }),
        };
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

async fn alerts_default(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    webhook(state, None, query, headers, body).await
}

async fn alerts_route(
    State(state): State<AppState>,
    Path(route): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    webhook(state, Some(route), query, headers, body).await
}

async fn webhook(
    state: AppState,
    route: Option<String>,
    query: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = match handle(&state, route.as_deref(), query.as_deref(), &headers, body).await {
        Ok(r) => r,
        Err(e) => {
            match &e {
                ApiError::Unauthorized(reason) => {
                    tracing::warn!(%reason, "webhook refused: unauthorized");
                }
                ApiError::Permanent { .. } | ApiError::Transient { .. } => {}
                other => tracing::warn!(error = ?other, "webhook refused"),
            }
            e.into_response()
        }
    };
    state
        .metrics
        .webhooks
        .get_or_create(&CodeLabels {
            code: response.status().as_u16(),
        })
        .inc();
    response
}

async fn handle(
    state: &AppState,
    route: Option<&str>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let config = &state.config;
    match &config.webhook_auth {
        None => {}
        Some(WebhookAuth::Bearer(file)) => {
            auth::check_bearer(headers, &file.current()).map_err(ApiError::Unauthorized)?
        }
        Some(WebhookAuth::Basic { user, password }) => {
            auth::check_basic(headers, user, password).map_err(ApiError::Unauthorized)?
        }
    }
    check_same_origin(headers)?;
    check_json(headers)?;
    let destinations = config.route(route).ok_or_else(|| ApiError::UnknownRoute {
        route: route.unwrap_or_default().to_string(),
        known: std::iter::once(DEFAULT_ROUTE.to_string())
            .chain(config.routes.keys().cloned())
            .collect(),
    })?;
    // The URL is checked before the body is read, like everything else that needs no body.
    let dedup_window = crate::notify::dedup::window_from_query(query).map_err(ApiError::BadBody)?;
    let declared = declared_length(headers);
    if declared.is_some_and(|len| len > config.body_limit as u64) {
        return Err(ApiError::TooLarge {
            limit: config.body_limit,
        });
    }
    // Held until the webhook is answered: the body, the parsed notification and the messages
    // made from it are all alive until then.
    let _budget = state
        .bodies
        .reserve(declared.map_or(config.body_limit, |len| len as usize))
        .await?;
    let bytes = read_body(body, config.body_limit).await?;
    let mut notification = Notification::from_json(&bytes).map_err(ApiError::BadPayload)?;
    notification.dedup_window = dedup_window;
    let route_name = route.unwrap_or(DEFAULT_ROUTE);
    tracing::info!(
        route = route_name,
        receiver = %notification.receiver,
        status = %notification.status,
        alerts = notification.alerts.len(),
        group_key = %notification.group_key,
        "webhook received"
    );
    // On a task of its own: Alertmanager gives up on a webhook about when our delivery deadline
    // ends, and its hanging up must not cancel a send that is waiting for Telegram's answer (the
    // message would be delivered but not recorded, and sent again by the retry).
    let deliver = Arc::clone(&state.deliver);
    let (owned_route, owned_destinations) = (route_name.to_string(), destinations.to_vec());
    let notification = Arc::new(notification);
    let task = {
        let n = Arc::clone(&notification);
        tokio::spawn(async move { deliver.deliver(&owned_route, &owned_destinations, &n).await })
    };
    let outcome = task.await.unwrap_or_else(|e| Outcome::Transient {
        destination: route_name.to_string(),
        reason: format!("the delivery task failed: {e}"),
    });
    match outcome {
        Outcome::Delivered => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            json!({ "status": "delivered", "alerts": notification.alerts.len() }).to_string(),
        )
            .into_response()),
        Outcome::Permanent {
            destination,
            reason,
        } => Err(ApiError::Permanent {
            destination,
            reason,
        }),
        Outcome::Transient {
            destination,
            reason,
        } => Err(ApiError::Transient {
            destination,
            reason,
        }),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// A browser adds `Origin` to a cross-site POST (a form or `fetch` from any web page open on
/// this host); Alertmanager sends none. Only this server's own origin is let through.
fn check_same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    if is_own_origin(headers, &origin) {
        Ok(())
    } else {
        Err(ApiError::CrossSite { origin })
    }
}

/// Whether `origin` (an `Origin` header's value) is this server, as the request's `Host` names it.
pub fn is_own_origin(headers: &HeaderMap, origin: &str) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    host.is_some_and(|host| {
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host))
    })
}

/// Only `application/json` (Alertmanager's): a browser can post `text/plain`, form and
/// multipart bodies cross-site without asking, but never JSON.
fn check_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = content_type
        .as_deref()
        .map(|t| t.split(';').next().unwrap_or_default().trim());
    if essence.is_some_and(|e| e.eq_ignore_ascii_case("application/json")) {
        Ok(())
    } else {
        Err(ApiError::NotJson { content_type })
    }
}

/// Reads the body up to `limit` bytes; a larger body is 413, one slower than the server's body
/// timeout 408.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::TooLarge { limit }
        } else if BodyTimeout::is_in(&e) {
            ApiError::SlowBody(format!("cannot read the request body: {e}"))
        } else {
            ApiError::BadBody(format!("cannot read the request body: {e}"))
        }
    })
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::encode(&state.registry),
    )
        .into_response()
}

/// 200 while the process serves (a liveness check must not restart the receiver because
/// Telegram refuses a token); the body says `degraded` and names each failing destination.
async fn healthz(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.deliver.health().to_string(),
    )
        .into_response()
}
