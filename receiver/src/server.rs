//! The HTTP side: `POST /alerts[/{route}]` from Alertmanager, `GET /metrics`, `GET /healthz`.
//!
//! Every refusal is a JSON body that says what was wrong: 401 (webhook auth), 404 (unknown
//! route, naming it), 413 (body over the limit), 400 (bad JSON or a missing field, naming it),
//! 422 (a destination refused the message for good: Alertmanager will not retry), 503 (a
//! destination is failing for now: Alertmanager retries).

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::net::TcpListener;
use vpsmon_common::auth::{self, AuthError};

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
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/alerts", post(alerts_default))
        .route("/alerts/{route}", post(alerts_route))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        // The fleet dashboard (`/`, `/agents/{name}`, `/api/status`, `/assets/*`): issue 8.
        .merge(crate::dashboard::router(&state.config))
        .with_state(state)
}

/// Serves until `shutdown` completes, then finishes the requests in flight (a webhook being
/// delivered is answered, so Alertmanager knows whether to retry).
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Every way a webhook can be refused, each with its status and JSON body.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized(AuthError),
    UnknownRoute { route: String, known: Vec<String> },
    TooLarge { limit: usize },
    BadBody(String),
    BadPayload(PayloadError),
    Permanent { destination: String, reason: String },
    Transient { destination: String, reason: String },
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
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
    let destinations = config.route(route).ok_or_else(|| ApiError::UnknownRoute {
        route: route.unwrap_or_default().to_string(),
        known: std::iter::once(DEFAULT_ROUTE.to_string())
            .chain(config.routes.keys().cloned())
            .collect(),
    })?;
    let bytes = read_body(headers, body, config.body_limit).await?;
    let mut notification = Notification::from_json(&bytes).map_err(ApiError::BadPayload)?;
    notification.dedup_window =
        crate::notify::dedup::window_from_query(query).map_err(ApiError::BadBody)?;
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

/// Reads the body up to `limit` bytes; a declared or actual larger body is 413.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::TooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::TooLarge { limit }
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
