//! Alertmanager's API v2: `GET /api/v2/alerts`, `GET|POST /api/v2/silences`,
//! `DELETE /api/v2/silence/{id}`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApiError, ClientAuth, Endpoint, ErrorKind, Service};

/// An alert as Alertmanager holds it (`gettableAlert`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub fingerprint: String,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    pub status: AlertStatus,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// `active`, `suppressed` or `unprocessed`.
    pub state: String,
    #[serde(default)]
    pub silenced_by: Vec<String>,
    #[serde(default)]
    pub inhibited_by: Vec<String>,
}

impl Alert {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
    pub fn alertname(&self) -> &str {
        self.label("alertname").unwrap_or("")
    }
}

/// A silence matcher: `name=value`, `name=~regex`, `name!=value`, `name!~regex`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl Matcher {
    /// `name="value"`, the common case (the bot's silence buttons match an alert's labels).
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.into(),
            value: value.into(),
            is_regex: false,
            is_equal: true,
        }
    }
}

/// A silence to create (`postableSilence`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

/// A silence as Alertmanager holds it (`gettableSilence`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    pub status: SilenceStatus,
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SilenceStatus {
    /// `active`, `pending` or `expired`.
    pub state: String,
}

/// Which alerts `GET /api/v2/alerts` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertFilter {
    pub active: bool,
    pub silenced: bool,
    pub inhibited: bool,
}

impl AlertFilter {
    /// Firing and neither silenced nor inhibited: what a person should look at now.
    pub const FIRING: AlertFilter = AlertFilter {
        active: true,
        silenced: false,
        inhibited: false,
    };
}

/// An Alertmanager, by its base URL (`http://127.0.0.1:9093`).
#[derive(Debug, Clone)]
pub struct AlertmanagerClient {
    ep: Endpoint,
}

impl AlertmanagerClient {
    pub fn new(base_url: &str, timeout: Duration) -> AlertmanagerClient {
        AlertmanagerClient {
            ep: Endpoint::new(Service::Alertmanager, base_url, timeout),
        }
    }

    /// The configured Alertmanager (`ALERTMANAGER_URL`, else the local default) with the
    /// configured per-call timeout.
    pub fn for_config(config: &vpsmon_receiver_delivery::config::Config) -> AlertmanagerClient {
        AlertmanagerClient::new(
            config
                .alertmanager_url
                .as_deref()
                .unwrap_or(vpsmon_receiver_delivery::config::dashboard::DEFAULT_ALERTMANAGER_URL),
            config.dashboard.timeout,
        )
        .with_auth(config.alertmanager_auth.clone())
    }

    /// Sends this credential with every request.
    pub fn with_auth(mut self, auth: Option<ClientAuth>) -> Self {
        self.ep.auth = auth;
        self
    }

    /// The base URL as it may be shown: userinfo redacted.
    pub fn base_url(&self) -> &str {
        &self.ep.shown
    }

    /// Alerts, oldest first, without the Watchdog.
    pub async fn alerts(&self, filter: AlertFilter) -> Result<Vec<Alert>, ApiError> {
        let path = "/api/v2/alerts";
        let req = self.ep.http.get(self.ep.url(path)).query(&[
            ("active", filter.active),
            ("silenced", filter.silenced),
            ("inhibited", filter.inhibited),
        ]);
        let text = self.ep.body(path, self.ep.send(req).await?).await?;
        let mut alerts: Vec<Alert> = self.ep.parse(path, &text)?;
        // The pipeline's heartbeat always fires; it is not an alert for people (vpsmon_receiver_delivery::watchdog).
        alerts.retain(|a| a.alertname() != vpsmon_common::webhook::WATCHDOG_ALERTNAME);
        alerts.sort_by(|a, b| {
            (a.starts_at, a.alertname(), &a.fingerprint).cmp(&(
                b.starts_at,
                b.alertname(),
                &b.fingerprint,
            ))
        });
        Ok(alerts)
    }

    /// Every silence Alertmanager still remembers (active, pending and recently expired).
    pub async fn silences(&self) -> Result<Vec<Silence>, ApiError> {
        let path = "/api/v2/silences";
        let req = self.ep.http.get(self.ep.url(path));
        let text = self.ep.body(path, self.ep.send(req).await?).await?;
        self.ep.parse(path, &text)
    }

    /// Creates a silence; returns its id.
    pub async fn create_silence(&self, silence: &NewSilence) -> Result<String, ApiError> {
        let path = "/api/v2/silences";
        if silence.matchers.is_empty() {
            // Alertmanager refuses it too, less clearly; a silence of everything is never meant.
            return Err(self.ep.error(ErrorKind::Status {
                path: path.into(),
                code: 400,
                message: "a silence needs at least one matcher (not sent)".into(),
            }));
        }
        let req = self.ep.http.post(self.ep.url(path)).json(silence);
        let text = self.ep.body(path, self.ep.send(req).await?).await?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            #[serde(rename = "silenceID")]
            silence_id: String,
        }
        Ok(self.ep.parse::<Created>(path, &text)?.silence_id)
    }

    /// Expires a silence now.
    pub async fn expire_silence(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("/api/v2/silence/{id}");
        let req = self.ep.http.delete(self.ep.url(&path));
        self.ep.body(&path, self.ep.send(req).await?).await?;
        Ok(())
    }
}
