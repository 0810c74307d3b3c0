//! Slack's config section: the default incoming webhook (`slack:` in receiver.yml,
//! `SLACK_WEBHOOK_URL`) as written and as loaded. `crate::config` reads it with the other layers
//! (flag > env > file) and checks it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use vpsmon_common::Secret;

use crate::config::redact::redacted;

#[derive(Debug, Clone, Serialize)]
pub struct SlackConfig {
    /// The incoming webhook (`SLACK_WEBHOOK_URL`) used by Slack destinations that name none.
    #[serde(serialize_with = "redacted")]
    pub webhook_url: Secret,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSlack {
    pub webhook_url_file: Option<PathBuf>,
    pub webhook_url: Option<serde::de::IgnoredAny>,
    /// Read into `Config::slack_digest_threshold`: it applies to every Slack destination.
    pub digest_threshold: Option<usize>,
}

/// A Slack webhook URL must be http(s); the message says what one looks like, never the URL.
pub fn check_webhook_url(url: &Secret) -> Result<(), &'static str> {
    let u = url.expose();
    if u.starts_with("https://") || u.starts_with("http://") {
        Ok(())
    } else {
        Err(
            "is not an http(s) URL (a Slack incoming webhook looks like https://hooks.slack.com/services/...)",
        )
    }
}

/// A Slack destination in a route: its own webhook (a file), or the default one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSlackRoute {
    #[serde(default)]
    pub name: Option<String>,
    pub webhook_url_file: Option<PathBuf>,
    /// Accepted only to refuse it with a helpful message.
    pub webhook_url: Option<serde::de::IgnoredAny>,
}
