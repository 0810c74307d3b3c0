//! The `watchdog:` section of receiver.yml and its flags: how long without a heartbeat means
//! the pipeline is broken, and the heartbeat URL (a secret). What happens then is
//! [`crate::watchdog`]'s.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use vpsmon_common::Secret;

use super::error::ConfigError;

/// No heartbeat for this long means the pipeline is broken: five of gen-config's 1m repeats.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The `watchdog:` section of receiver.yml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWatchdog {
    /// A duration, or `off`.
    pub timeout: Option<String>,
    pub heartbeat_url_file: Option<PathBuf>,
    /// Accepted only to refuse it: the URL is a secret.
    pub heartbeat_url: Option<serde::de::IgnoredAny>,
}

/// The effective watchdog settings.
#[derive(Debug, Clone, Serialize)]
pub struct WatchdogConfig {
    /// `None`: off.
    #[serde(serialize_with = "timeout")]
    pub timeout: Option<Duration>,
    /// Set explicitly (flag, env or file): watched from start-up, not from the first heartbeat.
    pub from_start: bool,
    #[serde(serialize_with = "url_redacted")]
    pub heartbeat_url: Option<Secret>,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        WatchdogConfig {
            timeout: Some(DEFAULT_TIMEOUT),
            from_start: false,
            heartbeat_url: None,
        }
    }
}

impl WatchdogConfig {
    /// From the timeout's value and where it came from, and the heartbeat URL's.
    pub fn new(
        timeout: Option<(String, String)>,
        heartbeat_url: Option<(Secret, String)>,
    ) -> Result<WatchdogConfig, ConfigError> {
        let mut c = WatchdogConfig::default();
        if let Some((v, from)) = timeout {
            c.from_start = true;
            c.timeout = match v.trim() {
                "off" | "0" => None,
                v => Some(
                    humantime::parse_duration(v)
                        .ok()
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| ConfigError::Invalid {
                            key: from,
                            message: format!("{v:?} is not a duration such as 5m or 30s, or off"),
                        })?,
                ),
            };
        }
        if let Some((url, from)) = heartbeat_url {
            // Never echo the value: it holds the check's secret.
            let ok = reqwest::Url::parse(url.expose())
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(ConfigError::Invalid {
                    key: from,
                    message: "is not an http(s) URL (a healthchecks.io ping URL looks like \
                              https://hc-ping.com/<uuid>)"
                        .into(),
                });
            }
            c.heartbeat_url = Some(url);
        }
        Ok(c)
    }
}

/// `https://hc-ping.com/<redacted>`: enough to know which service, nothing of the secret.
pub fn redact(url: &Secret) -> String {
    match reqwest::Url::parse(url.expose()) {
        Ok(u) => format!(
            "{}://{}/<redacted>",
            u.scheme(),
            u.host_str().unwrap_or_default()
        ),
        Err(_) => "<redacted>".into(),
    }
}

fn url_redacted<S: Serializer>(url: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_some(&redact(u)),
        None => s.serialize_none(),
    }
}

fn timeout<S: Serializer>(t: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
        None => s.serialize_str("off"),
    }
}
