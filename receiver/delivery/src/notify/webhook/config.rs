//! The generic webhook's destination section, in a route's list of destinations:
//!
//! ```yaml
//! default_route:
//!   - webhook:
//!       name: ntfy                          # logs and metrics say webhook:ntfy (default: the host)
//!       url_file: /etc/vpsmon/ntfy.url      # or url: https://ntfy.sh/my-alerts
//!       method: POST                        # or PUT
//!       headers: { Title: "vpsmon", Tags: warning }
//!       header_files: { Authorization: /etc/vpsmon/ntfy.auth }   # secret values, from files
//!       content_type: text/plain            # JSON types escape the placeholders for JSON
//!       body: "{{ text }}"                  # placeholders: text, title, status, count
//!       max_length: 4000                    # longer messages are split
//! ```
//!
//! A URL may carry the service's key (Discord, Bark, ServerChan put it in the path), so it is a
//! secret like header values from files: shown `<redacted>`, never logged. An inline secret
//! header (`Authorization` in `headers`) is refused, so that receiver.yml can be shared.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize, Serializer};
use vpsmon_common::{Secret, SecretError};

use crate::config::redact::redacted;

/// The default body: the alerts' text, as ntfy and Gotify take a plain message.
pub const DEFAULT_BODY: &str = "{{ text }}";
pub const DEFAULT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// ntfy's default message limit is 4096 bytes; Discord's `content` 2000 characters.
pub const DEFAULT_MAX_LENGTH: usize = 4000;

/// Headers whose values are credentials: only from `header_files`.
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "x-gotify-key",
    "x-api-key",
    "cookie",
];

/// As written in receiver.yml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWebhook {
    name: Option<String>,
    url: Option<String>,
    url_file: Option<PathBuf>,
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    header_files: BTreeMap<String, PathBuf>,
    content_type: Option<String>,
    body: Option<String>,
    max_length: Option<usize>,
}

/// One generic webhook destination, ready to send to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookConfig {
    /// A short name for logs, metrics and error bodies (the URL is a secret).
    pub name: String,
    #[serde(serialize_with = "redacted")]
    pub url: Secret,
    pub method: String,
    pub headers: BTreeMap<String, String>,
    /// Header values read from files, shown `<redacted>`.
    #[serde(serialize_with = "redacted_values")]
    pub secret_headers: BTreeMap<String, Secret>,
    pub content_type: String,
    /// The body template (tera); checked when the configuration is loaded.
    pub body: String,
    pub max_length: usize,
}

/// What is wrong with the section, and at which key. (Its own type, so that this folder needs
/// nothing of `crate::config`, which reads the section, but its `<redacted>` leaf.)
#[derive(Debug, thiserror::Error)]
pub enum SectionError {
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("{key}: {source}")]
    Secret {
        key: String,
        #[source]
        source: SecretError,
    },
}

fn invalid(key: &str, message: impl Into<String>) -> SectionError {
    SectionError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// The body template, escaping every placeholder for `content_type` (JSON string content for a
/// JSON type, as it is otherwise); `Err` says why it does not parse.
pub fn body_template(body: &str, content_type: &str) -> Result<tera::Tera, String> {
    let mut t = tera::Tera::default();
    t.autoescape_on(vec![""]);
    if content_type.to_ascii_lowercase().contains("json") {
        t.set_escape_fn(json_escape);
    } else {
        t.set_escape_fn(|s| s.to_string());
    }
    t.add_raw_template(BODY_TEMPLATE, body).map_err(|e| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        message
    })?;
    Ok(t)
}

/// The body template's name in error messages.
pub const BODY_TEMPLATE: &str = "body";

fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_string()
}

impl FileWebhook {
    /// Checks the section and reads its secret files. `at("method")` names a key of it as the
    /// configuration's errors do (receiver.yml key `routes.ops[0].webhook.method`), `at("")`
    /// the section itself.
    pub fn load(self, at: &dyn Fn(&str) -> String) -> Result<WebhookConfig, SectionError> {
        let key = &at("");
        let secret = |path: &PathBuf, key: String| {
            vpsmon_common::secret::read_file(path)
                .map_err(|source| SectionError::Secret { key, source })
        };
        let url = match (self.url, &self.url_file) {
            (Some(_), Some(_)) => return Err(invalid(key, "choose url or url_file, not both")),
            (Some(u), None) => Secret::new(u.trim()),
            (None, Some(p)) => secret(p, at("url_file"))?,
            (None, None) => {
                return Err(invalid(key, "a webhook destination needs url or url_file"));
            }
        };
        // Never echo the URL: it may hold the service's key.
        let parsed = reqwest::Url::parse(url.expose())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| invalid(&at("url"), "is not an http(s) URL"))?;
        let method = self
            .method
            .as_deref()
            .unwrap_or("POST")
            .trim()
            .to_ascii_uppercase();
        if !matches!(method.as_str(), "POST" | "PUT") {
            return Err(invalid(
                &at("method"),
                format!("{method:?}: use POST or PUT (a notification has a body)"),
            ));
        }
        for name in self.headers.keys() {
            check_header_name(name, &at("headers"))?;
            if SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(invalid(
                    &at(&format!("headers.{name}")),
                    "secrets are not read from the config file; put the value in a file named \
                     under header_files",
                ));
            }
        }
        let mut secret_headers = BTreeMap::new();
        for (name, path) in &self.header_files {
            check_header_name(name, &at("header_files"))?;
            let value = secret(path, at(&format!("header_files.{name}")))?;
            if reqwest::header::HeaderValue::from_str(value.expose()).is_err() {
                return Err(invalid(
                    &at(&format!("header_files.{name}")),
                    format!("{} holds characters a header cannot carry", path.display()),
                ));
            }
            secret_headers.insert(name.clone(), value);
        }
        let content_type = self
            .content_type
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string());
        let body = self.body.unwrap_or_else(|| DEFAULT_BODY.to_string());
        body_template(&body, &content_type).map_err(|e| invalid(&at("body"), e))?;
        let max_length = match self.max_length {
            Some(0) => return Err(invalid(&at("max_length"), "must be at least 1")),
            Some(n) => n,
            None => DEFAULT_MAX_LENGTH,
        };
        Ok(WebhookConfig {
            name: self
                .name
                .unwrap_or_else(|| parsed.host_str().unwrap_or_default().to_string()),
            url,
            method,
            headers: self.headers,
            secret_headers,
            content_type,
            body,
            max_length,
        })
    }
}

fn check_header_name(name: &str, key: &str) -> Result<(), SectionError> {
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map(|_| ())
        .map_err(|_| invalid(key, format!("{name:?} is not a header name")))
}

fn redacted_values<S: Serializer>(m: &BTreeMap<String, Secret>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(m.keys().map(|k| (k, "<redacted>")))
}
