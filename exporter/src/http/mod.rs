//! The HTTP side: `/metrics`, `/api/health`, `/ping`, `/`, built as axum's `app(state) -> Router`
//! and served by mini-redis' `run(listener, state, shutdown)`.

pub mod auth;
pub mod health;
pub mod listen;
pub mod metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use vpsmon_common::serve::Limits;

use crate::actions::Actions;
use crate::cli::Settings;
use crate::collector::{Paths, Scraper};
pub use auth::Auth;
pub use health::HealthProbe;
pub use metrics::{Collect, Gate};

/// Longest a request may take; well above a scrape bounded by the statfs timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The endpoints take no body; anything larger than this is refused unread.
const BODY_LIMIT: usize = 4096;

/// Every way a request can fail, each a clear status and a JSON body.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("limit of {max} concurrent requests reached, try again later")]
    TooManyRequests { max: usize },
    #[error("no such endpoint: {0} (try /metrics, /api/health or /ping)")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            HttpError::TooManyRequests { .. } => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            HttpError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            HttpError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let body = Json(serde_json::json!({ "error": code, "reason": self.to_string() }));
        match self {
            HttpError::TooManyRequests { .. } => {
                (status, [(header::RETRY_AFTER, "1")], body).into_response()
            }
            _ => (status, body).into_response(),
        }
    }
}

/// What the handlers share; cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    collector: Arc<dyn Collect>,
    gate: Arc<Gate>,
    health: Arc<HealthProbe>,
    auth: Auth,
    /// `None` unless `--actions.config` is given: then /api/actions does not exist.
    actions: Option<Arc<Actions>>,
}

/// The HTTP knobs besides the collector and the credentials.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--web.max-requests` (0 = no limit).
    pub max_requests: usize,
    /// Where /api/health reads procfs and which filesystem it reports.
    pub paths: Paths,
    /// Bound of /api/health's statvfs of the root filesystem.
    pub statfs_timeout: Duration,
}

impl AppState {
    pub fn new(collector: Arc<dyn Collect>, auth: Auth, options: Options) -> AppState {
        AppState {
            collector,
            gate: Arc::new(Gate::new(options.max_requests)),
            health: Arc::new(HealthProbe::new(
                options.paths.procfs,
                options.paths.rootfs,
                options.statfs_timeout,
            )),
            auth,
            actions: None,
        }
    }

    /// Serves `POST /api/actions/{name}` and adds its counter to /metrics.
    pub fn with_actions(mut self, actions: Option<Arc<Actions>>) -> AppState {
        if let Some(a) = &actions {
            self.collector = Arc::new(WithActions {
                inner: Arc::clone(&self.collector),
                actions: Arc::clone(a),
            });
        }
        self.actions = actions;
        self
    }

    /// /metrics and /api/health requests being served now.
    pub fn in_flight(&self) -> usize {
        self.gate.in_flight()
    }
}

/// The router. Auth guards /metrics and /api/health only: /ping is the tunnel's liveness check.
pub fn app(state: AppState) -> Router {
    // /metrics gzips its own body (http/metrics.rs), once per scrape however many ask: it is
    // left out of the compression layer, which would only wrap its body to pass it through.
    let mut protected = Router::new()
        .route("/metrics", get(metrics::handler))
        .route("/api/health", get(health::handler).layer(compression()));
    if state.auth.is_enabled() {
        protected = protected.route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            auth::require,
        ));
    }
    // Actions sit outside the request timeout (an action has its own, up to 10 min) and outside
    // the metrics credentials (their signature is their own). The same body limit is applied
    // by the handler's extractor, so that a body over it is refused and audited like the rest.
    let actions = state
        .actions
        .clone()
        .map(|a| crate::actions::router(a).layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT)));
    let main = Router::new()
        .merge(protected)
        .route("/ping", get(ping))
        .route("/", get(landing).layer(compression()))
        .fallback(not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ));
    match actions {
        Some(actions) => actions.merge(main),
        None => main,
    }
}

/// gzip at level 1 for a client that asks, on the routes that do not compress their own body.
fn compression() -> CompressionLayer {
    CompressionLayer::new()
        .gzip(true)
        .quality(CompressionLevel::Fastest)
}

/// The collector with `vpsmon_action_runs_total` added before the body's `# EOF`.
struct WithActions {
    inner: Arc<dyn Collect>,
    actions: Arc<Actions>,
}

impl WithActions {
    fn append(&self, body: Vec<u8>) -> Vec<u8> {
        let mut text = String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let eof = text.ends_with("# EOF\n");
        if eof {
            text.truncate(text.len() - "# EOF\n".len());
        }
        self.actions.encode_metrics(&mut text);
        if eof {
            text.push_str("# EOF\n");
        }
        text.into_bytes()
    }
}

impl Collect for WithActions {
    fn collect(&self) -> Vec<u8> {
        self.append(self.inner.collect())
    }

    fn collect_async(self: Arc<Self>) -> metrics::Collecting {
        Box::pin(async move {
            let body = Arc::clone(&self.inner).collect_async().await;
            self.append(body)
        })
    }
}

/// Serves `app(state)` on `listener` until `shutdown` completes, then lets requests in progress
/// finish. Idle and slow connections are closed within `limits` (`vpsmon_common::serve`).
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let fast = Arc::new(metrics::MetricsRoute {
        state: state.clone(),
    });
    vpsmon_common::serve::serve_with(listener, app(state), Some(fast), limits, shutdown).await
}

/// The current time as RFC 3339 in UTC with milliseconds (`2026-01-02T03:04:05.678Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn ping(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "timestamp": now_rfc3339(),
        "server": health::kernel_string(state.health.procfs(), "hostname"),
    }))
}

const LANDING: &str = concat!(
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>vpsmon-exporter</title></head>\n",
    "<body><h1>vpsmon-exporter ",
    env!("CARGO_PKG_VERSION"),
    "</h1>\n<ul>\n",
    "<li><a href=\"metrics\">/metrics</a>: host metrics (OpenMetrics, node_exporter names)</li>\n",
    "<li><a href=\"api/health\">/api/health</a>: JSON summary of CPU, memory, disk, network</li>\n",
    "<li><a href=\"ping\">/ping</a>: liveness check</li>\n",
    "</ul></body></html>\n",
);

async fn landing() -> Html<&'static str> {
    Html(LANDING)
}

async fn not_found(request: Request) -> HttpError {
    HttpError::NotFound(request.uri().path().to_owned())
}

/// Why the exporter could not start. `Config` is the user's to fix (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Bind(listen::ListenError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Builds the state from the command line: loads the secret files and compiles the collectors.
pub fn state_from_settings(settings: &Settings) -> Result<AppState, StartError> {
    settings.check_paths().map_err(StartError::Config)?;
    let config =
        |e: &dyn std::fmt::Display| StartError::Config(settings.name_source(e.to_string()));
    let auth = settings.auth().map_err(|e| config(&e))?;
    let scraper = Scraper::new(settings.collectors.clone()).map_err(|e| config(&e))?;
    let statfs_timeout = crate::collector::filesystem::mount_timeout(&settings.collectors.options)
        .map_err(|e| config(&e))?;
    let actions = Actions::from_flags(
        settings.flags.actions_config.as_deref(),
        settings.flags.actions_key_file.as_deref(),
        settings.flags.actions_audit_log.as_deref(),
    )
    .map_err(|e| config(&e))?
    .map(Arc::new);
    Ok(AppState::new(
        Arc::new(scraper),
        auth,
        Options {
            max_requests: settings.flags.max_requests,
            paths: settings.collectors.paths.clone(),
            statfs_timeout,
        },
    )
    .with_actions(actions))
}

/// The binary's server: a single-threaded runtime (a scrape is a few /proc reads, done on its
/// connection's fast-lane thread, or else on the runtime thread; statvfs runs on the filesystem
/// collector's own thread and /api/health on the small blocking pool), bound to
/// `--web.listen-address`, stopped by SIGINT/SIGTERM.
pub fn serve_blocking(settings: Settings) -> Result<(), StartError> {
    // glibc gives every thread that allocates its own arena (~130 KiB resident each); the
    // blocking pool and the fast lanes (one scrape at a time) do not need that. One arena
    // keeps RSS flat.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only tunes the allocator; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let state = state_from_settings(&settings)?;
    // Parsing the command line (clap's model of ~200 flags) and building the collectors leave
    // about 1 MiB of freed, touched heap behind live allocations, so brk cannot shrink; glibc
    // would keep it resident for the process' life. malloc_trim hands those pages back (it
    // MADV_DONTNEEDs free chunks anywhere in the heap). Once, at start-up: nothing per scrape.
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .thread_keep_alive(Duration::from_secs(60))
        .build()?;
    runtime.block_on(async move {
        let listener = match settings.flags.listen_address.bind() {
            Ok(l) => tokio::net::TcpListener::from_std(l)?,
            // A name that does not resolve is the flag's to fix, like any bad value (exit 2).
            Err(e @ listen::ListenError::Resolve { .. }) => {
                return Err(StartError::Config(e.to_string()));
            }
            Err(e) => return Err(StartError::Bind(e)),
        };
        tracing::info!(
            address = %listener.local_addr()?,
            collectors = ?settings.collectors.enabled,
            auth = %state.auth.describe(),
            actions = %state.actions.as_ref().map_or("none".into(), |a| a.describe()),
            max_requests = settings.flags.max_requests,
            max_connections = settings.flags.max_connections,
            "vpsmon-exporter listening"
        );
        let limits = Limits {
            max_connections: settings.flags.max_connections,
            header_timeout: settings.flags.header_timeout,
            keep_alive: settings.flags.keep_alive_timeout,
            ..Limits::default()
        };
        run(listener, state, limits, vpsmon_common::shutdown::signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}
