//! The `dashboard:` section of `receiver.yml`: refresh interval, query timeout, the thresholds
//! that colour the cards (gen-config's alert rule defaults), and optional auth.
//!
//! ```yaml
//! dashboard:
//!   refresh: 30s
//!   timeout: 5s
//!   thresholds: { cpu: 80, memory: 85, disk: 90, load: 1.5 }
//!   auth: { bearer_token_file: /etc/vpsmon/dashboard.token }   # or basic: {username, password_file}
//!   url: https://mon.example.com   # where people reach it: alert digests link to it
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use vpsmon_common::SecretFile;

use crate::config::auth::{FileWebhookAuth, WebhookAuth};
use crate::config::error::ConfigError;

/// How long one API request may take by default; a dashboard that waits longer feels broken.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(30);
pub const DEFAULT_PROMETHEUS_URL: &str = "http://127.0.0.1:9090";
pub const DEFAULT_ALERTMANAGER_URL: &str = "http://127.0.0.1:9093";

/// The alert rules' thresholds (gen-config's defaults): above one, the value turns red.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// HighCPU, percent busy.
    pub cpu: f64,
    /// HighMemory, percent used.
    pub memory: f64,
    /// HighDisk, percent used.
    pub disk: f64,
    /// HighLoad, 1-minute load per CPU.
    pub load: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            cpu: 80.0,
            memory: 85.0,
            disk: 90.0,
            load: 1.5,
        }
    }
}

/// The effective dashboard settings.
#[derive(Debug, Clone, Serialize)]
pub struct DashboardConfig {
    #[serde(serialize_with = "human")]
    pub refresh: Duration,
    /// How long one Prometheus or Alertmanager request may take.
    #[serde(serialize_with = "human")]
    pub timeout: Duration,
    pub thresholds: Thresholds,
    pub auth: Option<WebhookAuth>,
    /// Where people reach the dashboard (`https://mon.example.com`); alert digests link to its
    /// alert view. `None`: no link.
    pub url: Option<String>,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            refresh: DEFAULT_REFRESH,
            timeout: DEFAULT_TIMEOUT,
            thresholds: Thresholds::default(),
            auth: None,
            url: None,
        }
    }
}

/// The section as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDashboard {
    refresh: Option<String>,
    timeout: Option<String>,
    thresholds: Option<Thresholds>,
    auth: Option<FileWebhookAuth>,
    url: Option<String>,
}

impl DashboardConfig {
    /// Builds the settings; `key` names a file key in errors (`receiver.yml key `dashboard.x``).
    pub fn from_file(
        file: Option<FileDashboard>,
        key: &dyn Fn(&str) -> String,
    ) -> Result<DashboardConfig, ConfigError> {
        let Some(f) = file else {
            return Ok(DashboardConfig::default());
        };
        let invalid = |k: &str, message: String| ConfigError::Invalid {
            key: key(k),
            message,
        };
        let duration = |k: &str, v: Option<String>, default: Duration| match v {
            None => Ok(default),
            Some(v) => humantime::parse_duration(v.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| invalid(k, format!("{v:?} is not a duration such as 30s or 1m"))),
        };
        let refresh = duration("dashboard.refresh", f.refresh, DEFAULT_REFRESH)?;
        let timeout = duration("dashboard.timeout", f.timeout, DEFAULT_TIMEOUT)?;
        let thresholds = f.thresholds.unwrap_or_default();
        for (name, v) in [
            ("cpu", thresholds.cpu),
            ("memory", thresholds.memory),
            ("disk", thresholds.disk),
            ("load", thresholds.load),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(
                    &format!("dashboard.thresholds.{name}"),
                    format!("{v} is not a positive number"),
                ));
            }
        }
        let auth = match f.auth {
            None => None,
            Some(FileWebhookAuth {
                bearer_token_file: Some(_),
                basic: Some(_),
            }) => {
                return Err(invalid(
                    "dashboard.auth",
                    "choose bearer_token_file or basic, not both".into(),
                ));
            }
            Some(FileWebhookAuth {
                bearer_token_file: Some(p),
                ..
            }) => Some(WebhookAuth::Bearer(SecretFile::open(p).map_err(
                |source| ConfigError::Secret {
                    key: key("dashboard.auth.bearer_token_file"),
                    source,
                },
            )?)),
            Some(FileWebhookAuth { basic: Some(b), .. }) => Some(WebhookAuth::Basic {
                user: b.username,
                password: vpsmon_common::secret::read_file(&b.password_file).map_err(|source| {
                    ConfigError::Secret {
                        key: key("dashboard.auth.basic.password_file"),
                        source,
                    }
                })?,
            }),
            Some(FileWebhookAuth { .. }) => {
                return Err(invalid(
                    "dashboard.auth",
                    "give bearer_token_file or basic {username, password_file}".into(),
                ));
            }
        };
        let url = match f.url {
            None => None,
            Some(u) => match reqwest::Url::parse(u.trim()) {
                Ok(p) if matches!(p.scheme(), "http" | "https") && p.password().is_none() => {
                    Some(u.trim().trim_end_matches('/').to_string())
                }
                // Never echo it: a URL may carry a password.
                _ => {
                    return Err(invalid(
                        "dashboard.url",
                        "is not an http:// or https:// URL without credentials (e.g. https://mon.example.com)".into(),
                    ));
                }
            },
        };
        Ok(DashboardConfig {
            refresh,
            timeout,
            thresholds,
            auth,
            url,
        })
    }
}

fn human<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}
