//! The fleet dashboard (issue 8): `GET /` (summary, one card per agent, firing alerts),
//! `GET /agents/{name}` (the last hour as server-side SVG charts), `GET /api/status` (the same
//! data as JSON, in seed 001's shape) and the embedded assets. The page's script refreshes the
//! data from `/api/status` in place every `dashboard.refresh` (30 s).
//!
//! Prometheus or Alertmanager being unreachable never makes a 500 or an empty page: the page
//! says which one, at what URL and why, in a banner.

pub use vpsmon_receiver_delivery::config::dashboard as settings;
pub mod silences;
pub mod view;

use std::sync::Arc;
use std::time::Duration;
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use vpsmon_common::auth::{self, AuthError};

use crate::chart::{self, Chart, Line, Unit};
use crate::fleet::{self, series::Metric};
use crate::promapi::alertmanager::AlertFilter;
use crate::promapi::{AlertmanagerClient, ApiError, PrometheusClient};
use crate::thresholds::{self, RuleThresholds};
use settings::DashboardConfig;
use vpsmon_receiver_delivery::config::{Config, WebhookAuth};

/// The header every dashboard response carries. No inline script or style; the SVG charts are
/// inline markup styled by attributes, which CSP does not restrict.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// How far back the agent page looks, and its chart size.
const CHART_WINDOW: Duration = Duration::from_secs(3600);
const CHART_SIZE: (u32, u32) = (720, 260);

/// What the dashboard handlers share.
#[derive(Clone)]
pub struct Dashboard {
    inner: Arc<Inner>,
}

struct Inner {
    prom: PrometheusClient,
    am: AlertmanagerClient,
    settings: DashboardConfig,
    /// The loaded alert rules' thresholds, else `settings.thresholds`.
    thresholds: RuleThresholds,
    tz: Tz,
    tera: tera::Tera,
}

impl Dashboard {
    pub fn new(config: &Config) -> Dashboard {
        let settings = config.dashboard.clone();
        let prom = PrometheusClient::for_config(config);
        let am = AlertmanagerClient::for_config(config);
        Dashboard {
            inner: Arc::new(Inner {
                thresholds: RuleThresholds::new(prom.clone(), settings.thresholds),
                prom,
                am,
                settings,
                tz: config.timezone,
                tera: templates(),
            }),
        }
    }

    /// The page model at `now`: the fleet as of [`fleet::settled`] (the time the page states) and
    /// the alerts firing now, asked concurrently.
    pub async fn status(&self, now: DateTime<Utc>, query: view::PageQuery) -> view::Status {
        let i = &self.inner;
        let (fleet, alerts, thresholds) = tokio::join!(
            fleet::snapshot(&i.prom, fleet::settled(now)),
            i.am.alerts(AlertFilter::FIRING),
            i.thresholds.get()
        );
        // No `up` yet: either no agent is configured, or none has been scraped yet (the first
        // scrape interval of a new stack). Only the targets tell them apart.
        let unscraped = match &fleet {
            Ok(f) if f.agents.is_empty() => match i.prom.target_agents().await {
                Ok(agents) => agents.len(),
                Err(e) => {
                    tracing::warn!(error = %e, "dashboard: cannot list Prometheus' targets");
                    0
                }
            },
            _ => 0,
        };
        for e in [fleet.as_ref().err(), alerts.as_ref().err()]
            .into_iter()
            .flatten()
        {
            tracing::warn!(error = %e, "dashboard: a data source failed");
        }
        view::status(
            now,
            fleet,
            unscraped,
            alerts,
            thresholds,
            i.settings.refresh.as_secs_f64(),
            query,
        )
    }

    fn render(&self, name: &str, ctx: &impl Serialize) -> Response {
        let ctx = match tera::Context::from_serialize(ctx) {
            Ok(c) => c,
            Err(e) => return page_error(&e),
        };
        match self.inner.tera.render(name, &ctx) {
            Ok(html) => Html(html).into_response(),
            Err(e) => page_error(&e),
        }
    }
}

/// A template that does not render is a bug in this crate; still answer with a page that says so.
fn page_error(e: &tera::Error) -> Response {
    let mut why = e.to_string();
    let mut s = std::error::Error::source(e);
    while let Some(c) = s {
        why = format!("{why}: {c}");
        s = c.source();
    }
    tracing::error!(error = %why, "dashboard template failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("vpsmon dashboard: cannot render the page: {why}\n"),
    )
        .into_response()
}

fn templates() -> tera::Tera {
    let mut t = tera::Tera::default();
    // Names end in .html, so tera autoescapes every `{{ }}`: label values cannot inject markup.
    t.add_raw_templates([
        ("base.html", include_str!("templates/base.html")),
        ("card.html", include_str!("templates/card.html")),
        ("row.html", include_str!("templates/row.html")),
        ("index.html", include_str!("templates/index.html")),
        ("agent.html", include_str!("templates/agent.html")),
        ("not_found.html", include_str!("templates/not_found.html")),
        ("silences.html", include_str!("templates/silences.html")),
    ])
    .expect("the embedded dashboard templates parse (checked by the tests)");
    t
}

/// The dashboard's routes, with their own state, auth and security headers.
pub fn router<S: Clone + Send + Sync + 'static>(config: &Config) -> Router<S> {
    let dash = Dashboard::new(config);
    let auth = config.dashboard.auth.clone();
    Router::new()
        .route("/", get(index))
        .route("/agents/{name}", get(agent))
        .route("/api/status", get(api_status))
        .route("/silences", get(silences::page).post(silences::create))
        .route("/assets/app.js", get(app_js))
        .route("/assets/style.css", get(style_css))
        .with_state(dash)
        // Phones behind a tunnel: the fleet page of a thousand agents is ~450 KB of HTML, a
        // tenth of it gzipped (level 1: most of the gain for little CPU). The pages hold no
        // secret an attacker could guess byte by byte from the size (no tokens: forms are
        // checked by origin), so compression gives nothing away.
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .quality(CompressionLevel::Fastest),
        )
        .layer(middleware::from_fn(move |req, next| {
            let auth = auth.clone();
            check_auth(auth, req, next)
        }))
        .layer(middleware::from_fn(security_headers))
}

async fn check_auth(auth: Option<WebhookAuth>, req: Request, next: Next) -> Response {
    let result: Result<(), AuthError> = match &auth {
        None => Ok(()),
        Some(WebhookAuth::Bearer(file)) => auth::check_bearer(req.headers(), &file.current()),
        Some(WebhookAuth::Basic { user, password }) => {
            auth::check_basic(req.headers(), user, password)
        }
    };
    match result {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::warn!(reason = %e, path = %req.uri().path(), "dashboard request refused");
            e.into_response()
        }
    }
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    // The silence page sets `same-origin` (its forms' POST must name their origin).
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// `?q=`, `?sort=`, `?view=` of `/` and `/api/status`; a bad one is a 400 that says which.
fn page_query(query: Result<Query<Pairs>, QueryRejection>) -> Result<view::PageQuery, String> {
    let Query(pairs) = query.map_err(|e| e.body_text())?;
    view::PageQuery::parse(&pairs)
}

type Pairs = Vec<(String, String)>;

fn bad_request(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("vpsmon dashboard: {why}\n"),
    )
        .into_response()
}

/// The fleet as the page and `/api/status` show it for `query`; a bad query is a 400 naming it.
async fn status_for(
    d: &Dashboard,
    query: Result<Query<Pairs>, QueryRejection>,
) -> Result<view::Status, Response> {
    let query = page_query(query).map_err(|why| bad_request(&why))?;
    Ok(d.status(Utc::now(), query).await)
}

async fn index(
    State(d): State<Dashboard>,
    query: Result<Query<Pairs>, QueryRejection>,
) -> Response {
    match status_for(&d, query).await {
        Ok(status) => d.render("index.html", &status),
        Err(bad) => bad,
    }
}

async fn api_status(
    State(d): State<Dashboard>,
    query: Result<Query<Pairs>, QueryRejection>,
) -> Response {
    let status = match status_for(&d, query).await {
        Ok(status) => status,
        Err(bad) => return bad,
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&status)
            .unwrap_or_else(|e| format!(r#"{{"error":"cannot encode the status: {e}"}}"#)),
    )
        .into_response()
}

async fn app_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        APP_JS,
    )
        .into_response()
}

async fn style_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE_CSS,
    )
        .into_response()
}

#[derive(Serialize)]
struct AgentPage {
    agent: String,
    banners: Vec<view::Banner>,
    charts: Vec<ChartView>,
    known: Vec<KnownAgent>,
    window: String,
    /// Seconds between reloads of the page (its charts are drawn on the server): `dashboard.refresh`.
    refresh: u64,
}

#[derive(Serialize)]
struct ChartView {
    name: &'static str,
    title: &'static str,
    /// Markup from plotters, which escapes all text in it.
    svg: String,
}

#[derive(Serialize)]
struct KnownAgent {
    name: String,
    href: String,
}

async fn agent(State(d): State<Dashboard>, Path(name): Path<String>) -> Response {
    let i = &d.inner;
    let mut page = AgentPage {
        agent: name.clone(),
        banners: Vec::new(),
        charts: Vec::new(),
        known: Vec::new(),
        window: humantime::format_duration(CHART_WINDOW).to_string(),
        refresh: i.settings.refresh.as_secs().max(1),
    };
    let known = match fleet::agent_names(&i.prom).await {
        Ok(k) => k,
        Err(e) => {
            page.banners.push(view::Banner::from(&e));
            return d.render("agent.html", &page);
        }
    };
    page.known = known
        .iter()
        .map(|n| KnownAgent {
            name: n.clone(),
            href: format!("/agents/{}", view::path_segment(n)),
        })
        .collect();
    if !known.contains(&name) {
        let mut resp = d.render("not_found.html", &page);
        *resp.status_mut() = StatusCode::NOT_FOUND;
        return resp;
    }
    let end = Utc::now();
    match charts(i, &name, end).await {
        Ok(c) => page.charts = c,
        Err(e) => page.banners.push(view::Banner::from(&e)),
    }
    d.render("agent.html", &page)
}

/// The agent's five charts over the last hour.
async fn charts(i: &Inner, agent: &str, end: DateTime<Utc>) -> Result<Vec<ChartView>, ApiError> {
    let sel = fleet::series::agent_selector(agent);
    let start = end - chrono::TimeDelta::from_std(CHART_WINDOW).unwrap_or_default();
    let step = Duration::from_secs(15);
    let mut out = Vec::new();
    let t = i.thresholds.get().await;
    for metric in Metric::ALL {
        let mut lines = Vec::new();
        for (suffix, q) in metric.queries(&sel) {
            for s in i.prom.query_range(&q, start, end, step).await? {
                let who = s.label("agent").unwrap_or(agent);
                lines.push(Line {
                    name: format!("{who}{suffix}"),
                    points: s.points,
                });
            }
        }
        let unit = match metric {
            Metric::Cpu | Metric::Memory | Metric::Disk => Unit::Percent,
            Metric::Load => Unit::PerCpu,
            Metric::Network => Unit::BytesPerSecond,
        };
        let threshold = thresholds::for_metric(&t, metric);
        let c = Chart {
            title: format!("{} — {agent}", metric.title()),
            unit,
            threshold,
            lines,
            start,
            end,
            tz: i.tz,
            width: CHART_SIZE.0,
            height: CHART_SIZE.1,
        };
        let svg = chart::to_svg(&c).unwrap_or_else(|e| {
            tracing::error!(error = %e, chart = metric.name(), "dashboard chart failed");
            String::new()
        });
        out.push(ChartView {
            name: metric.name(),
            title: metric.title(),
            svg,
        });
    }
    Ok(out)
}
