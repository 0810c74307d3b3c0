//! Typed clients for the HTTP APIs the dashboard and the Telegram bot read: Prometheus
//! (`/api/v1/query`, `/api/v1/query_range`) and Alertmanager (`/api/v2/alerts`,
//! `/api/v2/silences`).
//!
//! Every failure is an [`ApiError`] whose message names the service, its URL and why, e.g.
//! `Prometheus at http://127.0.0.1:9090 is unreachable: connection refused` — the text a user
//! sees on the dashboard banner or in a bot reply. The URL in it is shown with any userinfo
//! (`http://user:password@host`) redacted; the requests themselves still send those credentials,
//! or the bearer token or basic-auth password of [`ClientAuth`].

pub mod alertmanager;
pub mod prometheus;

use std::fmt;
use std::time::Duration;

use vpsmon_common::SecretFile;
use vpsmon_common::secret::redact_url;

pub use alertmanager::AlertmanagerClient;
pub use prometheus::PrometheusClient;

pub use vpsmon_receiver_delivery::config::ClientAuth;
pub use vpsmon_receiver_delivery::config::dashboard::DEFAULT_TIMEOUT;

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
    /// The base URL the client was given, its userinfo redacted.
    pub url: String,
    pub kind: ErrorKind,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// No URL configured for the service.
    NotConfigured { hint: &'static str },
    /// The credential's file is missing or empty (it is re-read on every call until it is back).
    NoCredential { path: String },
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
            ErrorKind::NoCredential { path } => write!(
                f,
                "was not asked: its credential file {path} is missing, empty or unreadable"
            ),
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

/// The shared HTTP plumbing of both clients: base URL, credentials, timeout, error mapping.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub service: Service,
    /// What requests go to; reqwest sends its userinfo, if any, as basic auth.
    base: String,
    /// What messages show: `base` with its userinfo redacted.
    pub shown: String,
    pub auth: Option<ClientAuth>,
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
        let base = base.trim_end_matches('/').to_string();
        Endpoint {
            service,
            shown: redact_url(&base),
            base,
            auth: None,
            timeout,
            http,
        }
    }

    pub fn error(&self, kind: ErrorKind) -> ApiError {
        ApiError {
            service: self.service,
            url: self.shown.clone(),
            kind,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends the request with the credential; a transport failure becomes `Unreachable` or
    /// `Timeout`.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let req = match &self.auth {
            None => req,
            Some(ClientAuth::Bearer(token)) => req.bearer_auth(self.credential(token)?.expose()),
            Some(ClientAuth::Basic { user, password }) => {
                req.basic_auth(user, Some(self.credential(password)?.expose()))
            }
        };
        req.send().await.map_err(|e| self.transport(e))
    }

    fn credential(&self, file: &SecretFile) -> Result<vpsmon_common::Secret, ApiError> {
        let secret = file.current();
        if secret.is_empty() {
            return Err(self.error(ErrorKind::NoCredential {
                path: file.path().display().to_string(),
            }));
        }
        Ok(secret)
    }

    /// reqwest's message names the request URL: it is dropped, the error names `shown`.
    pub fn transport(&self, e: reqwest::Error) -> ApiError {
        let e = e.without_url();
        if e.is_timeout() {
            return self.error(ErrorKind::Timeout(self.timeout));
        }
        self.error(ErrorKind::Unreachable(root_cause(&e)))
    }

    /// Reads the body; a non-2xx status becomes `Status` with the service's message.
    pub async fn body(&self, path: &str, resp: reqwest::Response) -> Result<String, ApiError> {
        let code = resp.status();
        let text = resp.text().await.map_err(|e| self.transport(e))?;
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
