//! Prometheus' query API: `GET /api/v1/query` (instant vector) and `GET /api/v1/query_range`
//! (matrix). Values arrive as strings ("NaN", "+Inf" included) and are parsed to `f64`. Also
//! `GET /api/v1/targets`, for the agents Prometheus is told to scrape, and `GET /api/v1/rules`,
//! for the thresholds of the loaded alert rules.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{ApiError, ClientAuth, Endpoint, ErrorKind, Service};

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// The evaluation time (unix seconds).
    pub timestamp: f64,
    pub value: f64,
}

/// One series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// (unix seconds, value), oldest first.
    pub points: Vec<(f64, f64)>,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

impl Series {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// A Prometheus server, by its base URL (`http://127.0.0.1:9090`).
#[derive(Debug, Clone)]
pub struct PrometheusClient {
    ep: Endpoint,
}

impl PrometheusClient {
    pub fn new(base_url: &str, timeout: Duration) -> PrometheusClient {
        PrometheusClient {
            ep: Endpoint::new(Service::Prometheus, base_url, timeout),
        }
    }

    /// The configured Prometheus (`PROMETHEUS_URL`, else the local default) with the
    /// configured per-call timeout, as the dashboard, the bot and the alert charts ask it.
    pub fn for_config(config: &vpsmon_receiver_delivery::config::Config) -> PrometheusClient {
        PrometheusClient::new(
            config
                .prometheus_url
                .as_deref()
                .unwrap_or(vpsmon_receiver_delivery::config::dashboard::DEFAULT_PROMETHEUS_URL),
            config.dashboard.timeout,
        )
        .with_auth(config.prometheus_auth.clone())
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

    /// An instant query evaluated at `time` (now if None). A scalar result is returned as one
    /// sample without labels.
    pub async fn query(
        &self,
        query: &str,
        time: Option<DateTime<Utc>>,
    ) -> Result<Vec<Sample>, ApiError> {
        let path = "/api/v1/query";
        let mut params = vec![("query", query.to_string())];
        if let Some(t) = time {
            params.push(("time", unix(t)));
        }
        let data: Data = self.get(path, &params).await?;
        match data {
            Data::Vector(v) => v
                .into_iter()
                .map(|s| {
                    let (timestamp, value) = self.point(path, s.value)?;
                    Ok(Sample {
                        labels: s.metric,
                        timestamp,
                        value,
                    })
                })
                .collect(),
            Data::Scalar(p) => {
                let (timestamp, value) = self.point(path, p)?;
                Ok(vec![Sample {
                    labels: BTreeMap::new(),
                    timestamp,
                    value,
                }])
            }
            Data::Matrix(_) | Data::String(_) => Err(self.ep.error(ErrorKind::BadReply {
                path: path.into(),
                message: "an instant query must give a vector or a scalar".into(),
            })),
        }
    }

    /// A range query from `start` to `end` every `step`.
    pub async fn query_range(
        &self,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<Vec<Series>, ApiError> {
        let path = "/api/v1/query_range";
        let params = [
            ("query", query.to_string()),
            ("start", unix(start)),
            ("end", unix(end)),
            ("step", format!("{}", step.as_secs_f64().max(0.001))),
        ];
        match self.get::<Data>(path, &params).await? {
            Data::Matrix(m) => m
                .into_iter()
                .map(|s| {
                    let points = s
                        .values
                        .into_iter()
                        .map(|p| self.point(path, p))
                        .collect::<Result<_, _>>()?;
                    Ok(Series {
                        labels: s.metric,
                        points,
                    })
                })
                .collect(),
            _ => Err(self.ep.error(ErrorKind::BadReply {
                path: path.into(),
                message: "a range query must give a matrix".into(),
            })),
        }
    }

    /// The `agent` labels of the active scrape targets: the agents Prometheus is configured to
    /// scrape, whether or not it has scraped them yet (a new target has no `up` series until
    /// its first scrape).
    pub async fn target_agents(&self) -> Result<BTreeSet<String>, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Targets {
            active_targets: Vec<Target>,
        }
        #[derive(Deserialize)]
        struct Target {
            #[serde(default)]
            labels: BTreeMap<String, String>,
        }
        let t: Targets = self
            .get("/api/v1/targets", &[("state", "active".to_string())])
            .await?;
        Ok(t.active_targets
            .into_iter()
            .filter_map(|t| t.labels.get("agent").filter(|a| !a.is_empty()).cloned())
            .collect())
    }

    /// The alerting rules Prometheus has loaded (`/api/v1/rules?type=alert`).
    pub async fn alert_rules(&self) -> Result<RulesData, ApiError> {
        self.get("/api/v1/rules", &[("type", "alert".to_string())])
            .await
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, ApiError> {
        let req = self.ep.http.get(self.ep.url(path)).query(params);
        let resp = self.ep.send(req).await?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.ep.transport(e))?;
        // Prometheus answers a bad query with 400/422 and a JSON body saying why: show that.
        let reply: Reply<T> = match self.ep.parse(path, &text) {
            Ok(r) => r,
            Err(e) if status.is_success() => return Err(e),
            Err(_) => {
                return Err(self.ep.error(ErrorKind::Status {
                    path: path.into(),
                    code: status.as_u16(),
                    message: super::error_message(&text),
                }));
            }
        };
        match reply {
            Reply {
                status: ReplyStatus::Success,
                data: Some(d),
                ..
            } => Ok(d),
            Reply {
                status: ReplyStatus::Success,
                data: None,
                ..
            } => Err(self.ep.error(ErrorKind::BadReply {
                path: path.into(),
                message: "status success without data".into(),
            })),
            Reply {
                status: ReplyStatus::Error,
                error_type,
                error,
                ..
            } => Err(self.ep.error(ErrorKind::Query {
                path: path.into(),
                error_type: error_type.unwrap_or_default(),
                message: error.unwrap_or_default(),
            })),
        }
    }

    fn point(&self, path: &str, (t, v): (f64, String)) -> Result<(f64, f64), ApiError> {
        let value = parse_value(&v).ok_or_else(|| {
            self.ep.error(ErrorKind::BadReply {
                path: path.into(),
                message: format!("{v:?} is not a sample value"),
            })
        })?;
        Ok((t, value))
    }
}

/// Unix seconds with milliseconds, the form Prometheus' `time`, `start` and `end` accept.
fn unix(t: DateTime<Utc>) -> String {
    format!("{:.3}", t.timestamp_millis() as f64 / 1000.0)
}

fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => v.parse().ok(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReplyStatus {
    Success,
    Error,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply<T> {
    status: ReplyStatus,
    data: Option<T>,
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorSample>),
    Matrix(Vec<MatrixSeries>),
    Scalar((f64, String)),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct VectorSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// The data of Prometheus' `/api/v1/rules` reply, as far as thresholds need it.
#[derive(Debug, Default, Deserialize)]
pub struct RulesData {
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
pub struct RuleGroup {
    #[serde(default)]
    pub rules: Vec<LoadedRule>,
}

#[derive(Debug, Deserialize)]
pub struct LoadedRule {
    pub name: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}
