//! Slack's config section: the default incoming webhook (`slack:` in receiver.yml,
//! `SLACK_WEBHOOK_URL`) as written and as loaded. [`SlackConfig::load`] reads and checks its
//! settings, flag > env > file, through `crate::config`'s layers, which calls it once.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use vpsmon_common::Secret;

use crate::cli::vars;
use crate::config::redact::redacted;
use crate::config::error::{ConfigError, invalid};
use crate::config::sources::Sources;

#[derive(Debug, Clone, Serialize)]
pub struct SlackConfig {
    /// The incoming webhook (`SLACK_WEBHOOK_URL`) used by Slack destinations that name none.
    #[serde(serialize_with = "redacted")]
    pub webhook_url: Secret,
}

impl SlackConfig {
    /// The default webhook (`--slack-webhook-url-file`, or the URL in `SLACK_WEBHOOK_URL`), and
    /// the digest threshold of every Slack destination (`--slack-digest-threshold`), each flag >
    /// env > `slack:` in receiver.yml.
    pub(crate) fn load(
        src: &Sources,
        cli: &Flags,
        file: Option<FileSlack>,
    ) -> Result<(Option<SlackConfig>, usize), ConfigError> {
        let file = file.unwrap_or_default();
        let threshold = src.digest_threshold(
            &vars::SLACK_DIGEST_THRESHOLD,
            cli.slack_digest_threshold.clone(),
            file.digest_threshold,
            "slack.digest_threshold",
        )?;
        let url = src.section_secret(
            "slack.webhook_url",
            file.webhook_url.is_some(),
            cli.slack_webhook_url_file.clone(),
            [&vars::SLACK_WEBHOOK_URL, &vars::SLACK_WEBHOOK_URL_FILE],
            file.webhook_url_file,
        )?;
        let slack = url
            .map(|(webhook_url, from)| {
                check_webhook_url(&webhook_url).map_err(|m| invalid(&from, m))?;
                Ok::<_, ConfigError>(SlackConfig { webhook_url })
            })
            .transpose()?;
        Ok((slack, threshold))
    }
}

// Slack's flags, flattened into `crate::cli::Cli` where they stand in `--help`; their env vars
// are rows of `crate::cli::vars`.
#[derive(Debug, Clone, Default, clap::Args)]
#[group(skip)]
pub struct Flags {
    /// File holding the Slack incoming webhook URL
    /// [env: RECEIVER_SLACK_WEBHOOK_URL_FILE or SLACK_WEBHOOK_URL_FILE, or the URL in RECEIVER_SLACK_WEBHOOK_URL or SLACK_WEBHOOK_URL]
    #[arg(long, value_name = "FILE")]
    pub slack_webhook_url_file: Option<PathBuf>,

    /// More alerts than this in one notification are sent to Slack as a digest: a summary and
    /// one compact line per alert, in as few posts as Slack's limits allow
    /// [env: RECEIVER_SLACK_DIGEST_THRESHOLD or SLACK_DIGEST_THRESHOLD] [default: 20]
    #[arg(long, value_name = "N")]
    pub slack_digest_threshold: Option<String>,
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

/// A Slack destination, loaded: an incoming webhook and the name logs and metrics give it
/// (`slack:<name>`). `--print-config` shows it as serde gives it, the URL `<redacted>`.
#[derive(Debug, Clone, Serialize)]
pub struct SlackDestination {
    /// A short name for logs, metrics and error bodies: the URL itself is a secret.
    pub name: String,
    #[serde(serialize_with = "redacted")]
    pub webhook_url: Secret,
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
