//! Slack: one JSON POST per message to an incoming webhook. Slack answers `200 ok`, or an error
//! code in the body: `404 channel_not_found`, `410 channel_is_archived`/`no_service`,
//! `400 invalid_payload`, `403 action_prohibited`, `429` with `Retry-After`, `5xx`.
//!
//! The webhook URL is the secret: it is never logged, and reqwest errors are stripped of it.
//!
//! This folder owns the Slack integration whole: its config section (`config.rs`), its rendering
//! (`render.rs`: blocks in mrkdwn), its template (`template.rs`, `slack.md`) and the sender. It
//! may import the delivery core (`crate::notify`'s interface, `crate::render`, `crate::payload`,
//! `crate::config`), nothing of the other integrations.

pub mod config;
pub use config::SlackDestination;
pub mod render;
pub mod template;

use super::registry::{self, NotifyContext};
use std::sync::Arc;

use crate::config::{Config, ConfigError, Destination, IntegrationDestination, RouteContext};
use crate::render::Template;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use vpsmon_common::Secret;

use super::ratelimit::{Bucket, limits};
use super::retry::Pacing;
use super::{BoxFuture, Message, Notify, NotifyError, describe_http_error, short};
use crate::payload::Notification;
use crate::render::{RenderContext, RenderError};

pub struct Slack {
    client: reqwest::Client,
    webhook_url: Secret,
    pacing: Pacing,
    /// More alerts than this in one notification: a digest ([`render::digest`]).
    digest_threshold: usize,
}

impl Slack {
    /// `label` names the webhook in the rate-limit bucket; `key` tells apart two webhooks that a
    /// configuration gave the same name (it is a hash, never the URL).
    pub fn new(client: reqwest::Client, label: &str, key: u64, webhook_url: Secret) -> Slack {
        Slack {
            client,
            webhook_url,
            pacing: Pacing::new(Bucket::new(
                format!("{label}#{key:016x}"),
                limits::SLACK_WEBHOOK,
            )),
            digest_threshold: crate::render::digest::DEFAULT_THRESHOLD,
        }
    }

    /// Sends notifications of more than `threshold` alerts as a digest.
    pub fn with_digest(mut self, threshold: usize) -> Slack {
        self.digest_threshold = threshold;
        self
    }

    async fn send(&self, body: &str) -> Result<(), NotifyError> {
        let resp = self
            .client
            .post(self.webhook_url.expose())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| NotifyError::Transient(describe_http_error("Slack", e)))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let text = resp
            .text()
            .await
            .map_err(|e| NotifyError::Transient(describe_http_error("Slack", e)))?;
        classify(status, retry_after, &text)
    }
}

impl Notify for Slack {
    fn integration(&self) -> &'static str {
        "slack"
    }

    fn pacing(&self) -> Option<&Pacing> {
        Some(&self.pacing)
    }

    fn render(&self, n: &Notification, ctx: &RenderContext) -> Result<Vec<Message>, RenderError> {
        let parts = if n.alerts.len() > self.digest_threshold {
            render::digest(n, ctx)
        } else {
            render::slack(n, ctx)?
        };
        Ok(parts
            .into_iter()
            .map(|p| Message {
                // Serialised once, not on every retry.
                text: p.body.to_string(),
                alert_indices: p.alert_indices,
                extra: None,
            })
            .collect())
    }

    fn notify<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(self.send(&message.text))
    }

    /// Notifications waiting together for this chat are a storm past the same threshold.
    fn coalesce_threshold(&self) -> Option<usize> {
        Some(self.digest_threshold)
    }
}

/// Sorts Slack's answer into success, retry later, or give up.
pub(crate) fn classify(
    status: StatusCode,
    retry_after: Option<u64>,
    body: &str,
) -> Result<(), NotifyError> {
    let body = short(body.trim());
    if status.is_success() {
        return Ok(());
    }
    let reason = if body.is_empty() {
        format!("Slack HTTP {status}")
    } else {
        format!("Slack {}: {body}", status.as_u16())
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(NotifyError::RateLimited {
            // Slack always sends Retry-After with a 429; one second is its documented pace.
            retry_after: Duration::from_secs(retry_after.unwrap_or(1).min(86_400)),
            reason,
        });
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Err(NotifyError::Transient(reason));
    }
    let (hint, bug) = match body.as_str() {
        "invalid_payload" | "invalid_blocks" | "invalid_blocks_format" | "no_text" => {
            ("the rendered message was refused: a receiver bug", true)
        }
        "channel_not_found" => ("the webhook's channel was deleted", false),
        "channel_is_archived" => ("the webhook's channel is archived", false),
        "no_service" | "no_service_id" | "no_team" | "invalid_token" | "token_revoked" => {
            ("the webhook was revoked: create a new one", false)
        }
        "action_prohibited" | "posting_to_general_channel_denied" => {
            ("Slack refuses posts from this webhook", false)
        }
        _ => ("", false),
    };
    Err(NotifyError::refused(reason, hint, bug))
}

/// Slack, as the list of integrations (`notify/mod.rs`) knows it.
pub struct Integration;

impl registry::Integration for Integration {
    const NAME: &'static str = "slack";
    const TEMPLATE: Template = Template {
        name: template::TEMPLATE,
        default: template::DEFAULT,
        escape: template::escape,
    };
    const SPLITS: bool = true;
    type Route = config::FileSlackRoute;

    fn route(file: config::FileSlackRoute, cx: &RouteContext) -> Result<Destination, ConfigError> {
        if file.webhook_url.is_some() {
            return Err(cx.invalid(
                "secrets are not read from the config file; use webhook_url_file",
            ));
        }
        let (webhook_url, default_name) = match file.webhook_url_file {
            Some(p) => {
                let url = vpsmon_common::secret::read_file(&p).map_err(|source| {
                    ConfigError::Secret {
                        key: cx.entry(),
                        source,
                    }
                })?;
                config::check_webhook_url(&url).map_err(|m| cx.invalid(m))?;
                // The file name, not the URL: the URL is the secret.
                let n = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("{}", cx.index));
                (url, n)
            }
            None => match &cx.config.slack {
                Some(s) => (s.webhook_url.clone(), "default".to_string()),
                None => {
                    return Err(cx.invalid(
                        "a slack destination needs webhook_url_file here, or a default webhook \
                         (SLACK_WEBHOOK_URL, SLACK_WEBHOOK_URL_FILE or slack.webhook_url_file)",
                    ));
                }
            },
        };
        Ok(Destination::Integration(Arc::new(SlackDestination {
            name: file.name.unwrap_or(default_name),
            webhook_url,
        })))
    }

    fn notify(d: &Destination, cx: &NotifyContext) -> Option<Result<Box<dyn Notify>, String>> {
        let SlackDestination { webhook_url, .. } = d.integration()?;
        Some(Ok(Box::new(
            Slack::new(
                cx.client.clone(),
                cx.label,
                (cx.hash)(webhook_url.expose()),
                webhook_url.clone(),
            )
            .with_digest(cx.config.slack_digest_threshold),
        )))
    }

    /// The default webhook (`SLACK_WEBHOOK_URL`) is in the default route, as `slack:default`.
    fn default_destination(config: &Config) -> Option<Destination> {
        let s = config.slack.as_ref()?;
        Some(Destination::Integration(Arc::new(SlackDestination {
            name: "default".into(),
            webhook_url: s.webhook_url.clone(),
        })))
    }
}

impl IntegrationDestination for SlackDestination {
    fn kind(&self) -> &'static str {
        <Integration as registry::Integration>::NAME
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    /// Two webhooks given one name keep their own rate limits and de-duplication.
    fn identity(&self) -> Option<&str> {
        Some(self.webhook_url.expose())
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
    fn ok_is_success() {
        assert_eq!(classify(StatusCode::OK, None, "ok"), Ok(()));
    }

    #[test]
    fn a_429_waits_retry_after() {
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, Some(3), "rate_limited"),
            Err(NotifyError::RateLimited {
                retry_after: Duration::from_secs(3),
                reason: "Slack 429: rate_limited".into()
            })
        );
    }

    #[test]
    fn server_errors_are_transient() {
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, None, ""),
            Err(NotifyError::Transient(
                "Slack HTTP 503 Service Unavailable".into()
            ))
        );
    }

    #[test]
    fn refusals_are_named_and_bugs_told_apart() {
        assert_eq!(
            classify(StatusCode::NOT_FOUND, None, "channel_not_found"),
            Err(NotifyError::Refused(
                "Slack 404: channel_not_found (the webhook's channel was deleted)".into()
            ))
        );
        assert_eq!(
            classify(StatusCode::GONE, None, "no_service"),
            Err(NotifyError::Refused(
                "Slack 410: no_service (the webhook was revoked: create a new one)".into()
            ))
        );
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, None, "invalid_payload"),
            Err(NotifyError::Bug(
                "Slack 400: invalid_payload (the rendered message was refused: a receiver bug)"
                    .into()
            ))
        );
    }
}
