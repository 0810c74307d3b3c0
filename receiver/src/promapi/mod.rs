//! Typed clients for the HTTP APIs the dashboard and the Telegram bot read: Prometheus
//! (`/api/v1/query`, `/api/v1/query_range`) and Alertmanager (`/api/v2/alerts`,
//! `/api/v2/silences`).
//!
//! Every failure is an [`ApiError`] whose message names the service, its URL and why, e.g.
//! `Prometheus at http://127.0.0.1:9090 is unreachable: connection refused` — the text a user
//! sees on the dashboard banner or in a bot reply.

pub mod alertmanager;
pub mod prometheus;

use std::fmt;
use std::time::Duration;

pub use alertmanager::AlertmanagerClient;
pub use prometheus::PrometheusClient;

/// How long one API request may take by default; a dashboard that waits longer feels broken.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which service an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Service {
    Prometheus,
    Alertmanager,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Prometheus => "Prometheus",
            Service::Alertmanager => "Alertmanager",
        })
    }
}

/// A failed API call: `{service} at {url} {kind}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{service} at {url} {kind}")]
pub struct ApiError {
    pub service: Service,
    /// The base URL the client was given (never holds a secret: auth goes in headers).
    pub url: String,
    pub kind: ErrorKind,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// No URL configured for the service.
    NotConfigured { hint: &'static str },
    /// The connection failed (refused, DNS, TLS...).
    Unreachable(String),
    /// No answer within the timeout.
    Timeout(Duration),
    /// An HTTP status other than 2xx, with the service's own error text when it gave one.
    Status {
        path: String,
        code: u16,
        message: String,
    },
    /// The body was not the JSON the API documents.
    BadReply { path: String, message: String },
    /// Prometheus answered `"status":"error"` (a bad query, a timeout inside Prometheus).
    Query {
        path: String,
        error_type: String,
        message: String,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::NotConfigured { hint } => write!(f, "is not configured ({hint})"),
            ErrorKind::Unreachable(why) => write!(f, "is unreachable: {why}"),
            ErrorKind::Timeout(d) => write!(
                f,
                "did not answer within {}",
                humantime::format_duration(*d)
            ),
            ErrorKind::Status {
                path,
                code,
                message,
            } => {
                let reason = axum::http::StatusCode::from_u16(*code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                write!(f, "answered {path} with HTTP {code} {reason}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            ErrorKind::BadReply { path, message } => {
                write!(f, "sent an unreadable reply to {path}: {message}")
            }
            ErrorKind::Query {
                path,
                error_type,
                message,
            } => write!(f, "refused {path} ({error_type}): {message}"),
        }
    }
}

/// The shared HTTP plumbing of both clients: base URL, timeout, error mapping.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub service: Service,
    pub base: String,
    pub timeout: Duration,
    pub http: reqwest::Client,
}

impl Endpoint {
    pub fn new(service: Service, base: &str, timeout: Duration) -> Endpoint {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            // Building fails only when TLS cannot initialise: nothing sensible to do but stop.
            .expect("HTTP client");
        Endpoint {
            service,
            base: base.trim_end_matches('/').to_string(),
            timeout,
            http,
        }
    }

    pub fn error(&self, kind: ErrorKind) -> ApiError {
        ApiError {
            service: self.service,
            url: self.base.clone(),
            kind,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends the request; a transport failure becomes `Unreachable` or `Timeout`.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        req.send().await.map_err(|e| self.transport(&e))
    }

    pub fn transport(&self, e: &reqwest::Error) -> ApiError {
        if e.is_timeout() {
            return self.error(ErrorKind::Timeout(self.timeout));
        }
        self.error(ErrorKind::Unreachable(root_cause(e)))
    }

    /// Reads the body; a non-2xx status becomes `Status` with the service's message.
    pub async fn body(&self, path: &str, resp: reqwest::Response) -> Result<String, ApiError> {
        let code = resp.status();
        let text = resp.text().await.map_err(|e| self.transport(&e))?;
        if !code.is_success() {
            return Err(self.error(ErrorKind::Status {
                path: path.to_string(),
                code: code.as_u16(),
                message: error_message(&text),
            }));
        }
        Ok(text)
    }

    pub fn parse<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        text: &str,
    ) -> Result<T, ApiError> {
        serde_json::from_str(text).map_err(|e| {
            self.error(ErrorKind::BadReply {
                path: path.to_string(),
                message: e.to_string(),
            })
        })
    }
}

/// The innermost cause in words a user knows: "connection refused", not hyper's chain.
fn root_cause(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => "connection reset".into(),
                std::io::ErrorKind::TimedOut => "connection timed out".into(),
                _ => io.to_string(),
            };
        }
        last = Some(s.to_string());
        source = s.source();
    }
    last.unwrap_or_else(|| e.to_string())
}

/// The `error` field of a JSON error body (both APIs use one), else the start of the text.
pub(crate) fn error_message(text: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        if let Some(m) = v.get("error").and_then(|m| m.as_str()) {
            return m.to_string();
        }
        if let Some(m) = v.as_str() {
            return m.trim().to_string();
        }
    }
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}
