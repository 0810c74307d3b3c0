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
