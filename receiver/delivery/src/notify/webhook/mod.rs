//! The generic webhook: alerts to any HTTP endpoint that takes a message, the way VPS owners
//! wire ntfy, Gotify, Bark, ServerChan, WeChat pushers or Discord. URL, method, headers and a
//! body template come from the destination's section ([`config`]); the alerts are rendered as
//! plain text and put into the body ([`render`]). It gets the dispatcher's guarantees like every
//! integration: paced at one message a second per endpoint, retried after a 5xx, a timeout or a
//! 429's `Retry-After`, de-duplicated per alert.
//!
//! This folder owns the section, the rendering, the sender and the template (`webhook.txt`). It
//! may import the delivery core (`crate::notify`'s interface, `crate::render`'s helpers,
//! `crate::payload`, `crate::config::redact`) and nothing of the other integrations.

pub mod config;
pub mod render;
pub mod template;

use std::sync::Arc;

use super::registry::{self, NotifyContext};
use crate::config::{ConfigError, Destination, IntegrationDestination, RouteContext};
use crate::render::Template;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use super::ratelimit::{Bucket, Rate};
use super::retry::Pacing;
use super::{BoxFuture, Message, Notify, NotifyError, describe_http_error, short};
use crate::payload::Notification;
use crate::render::{RenderContext, RenderError};
pub use config::{FileWebhook, WebhookConfig};

/// ntfy lets a client burst then refills one message every 5 s, Discord takes 5 per 2 s: one a
/// second, with a 429's Retry-After honoured, suits them all.
const PACE: Rate = Rate::per_second(1);

/// One endpoint as a destination.
pub struct Webhook {
    client: reqwest::Client,
    config: WebhookConfig,
    body: tera::Tera,
    pacing: Pacing,
}

impl Webhook {
    /// `label` names the endpoint in the rate-limit bucket; `key` tells apart two endpoints a
    /// configuration gave the same name (a hash, never the URL).
    pub fn new(client: reqwest::Client, label: &str, key: u64, config: WebhookConfig) -> Webhook {
        // Checked when the configuration was loaded; a template that fails now renders nothing.
        let body = config::body_template(&config.body, &config.content_type).unwrap_or_default();
        Webhook {
            client,
            body,
            pacing: Pacing::new(Bucket::new(format!("{label}#{key:016x}"), PACE)),
            config,
        }
    }

    async fn send(&self, body: &str) -> Result<(), NotifyError> {
        let c = &self.config;
        let method = if c.method == "PUT" {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        let mut request = self
            .client
            .request(method, c.url.expose())
            .header(CONTENT_TYPE, &c.content_type);
        for (name, value) in &c.headers {
            request = request.header(name, value);
        }
        for (name, value) in &c.secret_headers {
            request = request.header(name, value.expose());
        }
        // describe_http_error strips the URL: it may hold the service's key.
        let transient = |e| NotifyError::Transient(describe_http_error("webhook", e));
        let resp = request
            .body(body.to_owned())
            .send()
            .await
            .map_err(transient)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let text = resp.text().await.map_err(transient)?;
        classify(status, retry_after, &text)
    }
}

impl Notify for Webhook {
    fn integration(&self) -> &'static str {
        "webhook"
    }

    fn pacing(&self) -> Option<&Pacing> {
        Some(&self.pacing)
    }

    fn render(&self, n: &Notification, ctx: &RenderContext) -> Result<Vec<Message>, RenderError> {
        Ok(render::render(n, ctx, &self.body, self.config.max_length)?
            .into_iter()
            .map(|p| Message {
                text: p.body,
                alert_indices: p.alert_indices,
                extra: None,
            })
            .collect())
    }

    fn notify<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(self.send(&message.text))
    }
}

/// Sorts the endpoint's answer: any 2xx is delivered; 429 waits its Retry-After (1 s without
/// one); a 5xx or 408 may work later; any other refusal (a wrong token, topic or template) is
/// the operator's to fix, which Alertmanager waits for.
pub(crate) fn classify(
    status: StatusCode,
    retry_after: Option<u64>,
    body: &str,
) -> Result<(), NotifyError> {
    if status.is_success() {
        return Ok(());
    }
    let body = short(body.trim());
    let reason = if body.is_empty() {
        format!("webhook HTTP {status}")
    } else {
        format!("webhook {}: {body}", status.as_u16())
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(NotifyError::RateLimited {
            retry_after: Duration::from_secs(retry_after.unwrap_or(1).min(86_400)),
            reason,
        });
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Err(NotifyError::Transient(reason));
    }
    let hint = match status.as_u16() {
        401 | 403 => "check the credential in header_files",
        404 | 410 => "check the URL",
        _ => "check the URL, method, headers and body template",
    };
    Err(NotifyError::refused(reason, hint, false))
}

/// The generic webhook, as the list of integrations (`notify/mod.rs`) knows it.
pub struct Integration;

impl registry::Integration for Integration {
    const NAME: &'static str = "webhook";
    const TEMPLATE: Template = Template {
        name: template::TEMPLATE,
        default: template::DEFAULT,
        escape: template::escape,
    };
    const SPLITS: bool = true;
    type Route = FileWebhook;

    fn route(file: FileWebhook, cx: &RouteContext) -> Result<Destination, ConfigError> {
        let loaded = file.load(&|sub| cx.at(sub)).map_err(|e| match e {
            config::SectionError::Invalid { key, message } => ConfigError::Invalid { key, message },
            config::SectionError::Secret { key, source } => ConfigError::Secret { key, source },
        })?;
        Ok(Destination::Integration(Arc::new(loaded)))
    }

    fn notify(d: &Destination, cx: &NotifyContext) -> Option<Result<Box<dyn Notify>, String>> {
        let w: &WebhookConfig = d.integration()?;
        Some(Ok(Box::new(Webhook::new(
            cx.client.clone(),
            cx.label,
            (cx.hash)(w.url.expose()),
            w.clone(),
        ))))
    }
}

impl IntegrationDestination for WebhookConfig {
    fn kind(&self) -> &'static str {
        <Integration as registry::Integration>::NAME
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn identity(&self) -> Option<&str> {
        Some(self.url.expose())
    }
    fn shown(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted() {
        assert_eq!(classify(StatusCode::OK, None, "{}"), Ok(()));
        assert_eq!(classify(StatusCode::NO_CONTENT, None, ""), Ok(()));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, Some(4), "slow down"),
            Err(NotifyError::RateLimited {
                retry_after: Duration::from_secs(4),
                reason: "webhook 429: slow down".into()
            })
        );
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, None, ""),
            Err(NotifyError::Transient(
                "webhook HTTP 502 Bad Gateway".into()
            ))
        );
        assert_eq!(
            classify(StatusCode::FORBIDDEN, None, r#"{"error":"forbidden"}"#),
            Err(NotifyError::Refused(
                r#"webhook 403: {"error":"forbidden"} (check the credential in header_files)"#
                    .into()
            ))
        );
    }
}
