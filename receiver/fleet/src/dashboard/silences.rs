//! The silence view (issue 15): `GET /silences` lists Alertmanager's silences and the firing
//! alerts, each with "Silence 1h / 4h / 24h" buttons; `POST /silences` creates the silence.
//! Debian's Alertmanager ships no web UI, so without this a silence needed Telegram or amtool.
//!
//! Behind the dashboard's auth like every page. A POST must also come from this server's own
//! page: a browser sends basic auth along with a form posted from any other site, which could
//! otherwise silence alerts (cross-site request forgery). Browsers say where a POST comes from
//! in `Origin`, which must be this server; the page sets `Referrer-Policy: same-origin` (the
//! other pages: `no-referrer`, under which a browser sends `Origin: null` even to its own
//! server), and where `Origin` is `null` anyway the browser's `Sec-Fetch-Site: same-origin`,
//! which no page can forge, is taken instead. Plain HTML forms, no script, and the CSP lets
//! forms post to this origin only.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{TimeDelta, Utc};
use serde::Serialize;

use super::{Dashboard, view};
use crate::promapi::alertmanager::{Alert, AlertFilter, Matcher, NewSilence, Silence};

/// The buttons of each firing alert.
pub const DURATIONS: [&str; 3] = ["1h", "4h", "24h"];

/// What `createdBy` says of a silence made here.
pub const CREATED_BY: &str = "vpsmon dashboard";

/// Every active alert, silenced or not: pressing twice extends, it is not an error.
const ANY_ACTIVE: AlertFilter = AlertFilter {
    active: true,
    silenced: true,
    inhibited: true,
};

#[derive(Serialize)]
struct Page {
    banners: Vec<view::Banner>,
    alerts: Vec<FiringAlert>,
    silences: Vec<SilenceView>,
    durations: [&'static str; 3],
}

#[derive(Serialize)]
struct FiringAlert {
    fingerprint: String,
    alertname: String,
    /// `agent="web1", severity="critical"`: what the silence will match.
    labels: String,
    summary: String,
}

#[derive(Serialize)]
struct SilenceView {
    id: String,
    state: String,
    matchers: String,
    ends_at: String,
    created_by: String,
    comment: String,
}

pub async fn page(State(d): State<Dashboard>) -> Response {
    let am = &d.inner.am;
    let (alerts, silences) = tokio::join!(am.alerts(AlertFilter::FIRING), am.silences());
    let mut banners = Vec::new();
    let alerts = match alerts {
        Ok(a) => a.iter().map(firing_alert).collect(),
        Err(e) => {
            banners.push(view::Banner::from(&e));
            Vec::new()
        }
    };
    let silences = match silences {
        Ok(mut s) => {
            s.retain(|s| s.status.state != "expired");
            s.sort_by_key(|s| s.ends_at);
            s.iter().map(|s| silence_view(&d, s)).collect()
        }
        Err(e) => {
            let b = view::Banner::from(&e);
            if !banners
                .iter()
                .any(|o: &view::Banner| o.message == b.message)
            {
                banners.push(b);
            }
            Vec::new()
        }
    };
    let mut resp = d.render(
        "silences.html",
        &Page {
            banners,
            alerts,
            silences,
            durations: DURATIONS,
        },
    );
    // So that the browser names this origin in the buttons' POST (see the module doc).
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("same-origin"),
    );
    resp
}

pub async fn create(State(d): State<Dashboard>, headers: HeaderMap, body: Bytes) -> Response {
    let origin = headers
        .get(header::ORIGIN)
        .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned());
    let same_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"same-origin");
    match origin {
        Some(o) if vpsmon_receiver_delivery::server::is_own_origin(&headers, &o) => {}
        Some(o) if o == "null" && same_site => {}
        other => {
            tracing::warn!(origin = ?other, "dashboard: silence refused: not posted from this server's own page");
            return answer(
                StatusCode::FORBIDDEN,
                "cross-site request refused: a silence is created only from this dashboard's own page (its Origin)",
            );
        }
    }
    let (fingerprint, duration) = match parse_form(&body) {
        Ok(f) => f,
        Err(why) => return answer(StatusCode::BAD_REQUEST, &why),
    };
    let am = &d.inner.am;
    let alerts = match am.alerts(ANY_ACTIVE).await {
        Ok(a) => a,
        Err(e) => return answer(StatusCode::BAD_GATEWAY, &e.to_string()),
    };
    let Some(alert) = alerts.iter().find(|a| a.fingerprint == fingerprint) else {
        return answer(
            StatusCode::NOT_FOUND,
            "That alert is not firing any more: nothing silenced.",
        );
    };
    let now = Utc::now();
    let length = humantime::parse_duration(duration)
        .ok()
        .and_then(|d| TimeDelta::from_std(d).ok())
        .unwrap_or(TimeDelta::hours(1));
    let silence = NewSilence {
        // Exactly the alert's labels, as the Telegram buttons do: this alert, nothing wider.
        matchers: alert
            .labels
            .iter()
            .map(|(k, v)| Matcher::equal(k, v))
            .collect(),
        starts_at: now,
        ends_at: now + length,
        created_by: CREATED_BY.into(),
        comment: format!("silenced for {duration} from the vpsmon dashboard"),
    };
    match am.create_silence(&silence).await {
        Ok(id) => {
            tracing::info!(silence = %id, alert = %alert.alertname(), %duration, "dashboard: silence created");
            Redirect::to("/silences").into_response()
        }
        Err(e) => answer(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

/// `fingerprint=<hex>&duration=<1h|4h|24h>`, the form's two fields and nothing else.
fn parse_form(body: &[u8]) -> Result<(String, &'static str), String> {
    let body = std::str::from_utf8(body).map_err(|_| "the form is not UTF-8".to_string())?;
    let (mut fingerprint, mut duration) = (None, None);
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("fingerprint", v))
                if !v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                fingerprint = Some(v.to_string());
            }
            Some(("duration", v)) => {
                duration = Some(DURATIONS.into_iter().find(|d| *d == v).ok_or_else(|| {
                    format!("duration {v:?}: choose one of {}", DURATIONS.join(", "))
                })?);
            }
            _ => return Err(format!("unexpected form field {pair:?}")),
        }
    }
    match (fingerprint, duration) {
        (Some(f), Some(d)) => Ok((f, d)),
        _ => Err("the form needs a fingerprint and a duration".into()),
    }
}

fn answer(code: StatusCode, text: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

fn firing_alert(a: &Alert) -> FiringAlert {
    FiringAlert {
        fingerprint: a.fingerprint.clone(),
        alertname: a.alertname().to_string(),
        labels: a
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(", "),
        summary: a
            .annotations
            .get("summary")
            .or_else(|| a.annotations.get("description"))
            .cloned()
            .unwrap_or_default(),
    }
}

fn silence_view(d: &Dashboard, s: &Silence) -> SilenceView {
    SilenceView {
        id: s.id.clone(),
        state: s.status.state.clone(),
        matchers: s
            .matchers
            .iter()
            .map(|m| {
                let op = match (m.is_equal, m.is_regex) {
                    (true, false) => "=",
                    (false, false) => "!=",
                    (true, true) => "=~",
                    (false, true) => "!~",
                };
                format!("{}{op}{:?}", m.name, m.value)
            })
            .collect::<Vec<_>>()
            .join(", "),
        ends_at: vpsmon_receiver_delivery::render::format_time(s.ends_at, d.inner.tz),
        created_by: s.created_by.clone(),
        comment: s.comment.clone(),
    }
}
