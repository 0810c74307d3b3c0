//! What the page and `/api/status` show, built from a fleet snapshot and Alertmanager's alerts.
//! One model for both, so the JSON and the HTML never disagree. The shape follows seed 001's
//! Worker (`timestamp`, `vps[]` with `hostname`, `status`, `data`, `summary{total,healthy,errors}`)
//! with a few fields added: `alerts`, `banners`, display strings and threshold levels.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::settings::Thresholds;
use crate::chart::human_bytes;
use crate::fleet::{AgentSnapshot, FleetSnapshot};
use crate::promapi::alertmanager::Alert;
use crate::promapi::{ApiError, Service};
use vpsmon_receiver_delivery::render::human_duration;

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// When the numbers were evaluated (RFC 3339).
    pub timestamp: String,
    /// The same instant in unix seconds: Prometheus' `time=` for checking any number.
    pub unix_time: f64,
    pub vps: Vec<Vps>,
    pub summary: Summary,
    /// Firing alerts, oldest first; empty when Alertmanager is unreachable (see `banners`).
    pub alerts: Vec<AlertView>,
    pub banners: Vec<Banner>,
    pub thresholds: Thresholds,
    pub refresh_seconds: f64,
    /// False when Prometheus could not be asked: the fleet is unknown, not empty.
    pub fleet_known: bool,
    /// What the page says instead of cards when there are none; `None` when there are cards.
    pub empty_fleet: Option<String>,
    /// The summary's labels, singular or plural for its numbers.
    pub words: Words,
    /// What was asked (`?q=`, `?sort=`, `?view=`), the view resolved.
    pub query: PageQuery,
    /// How many agents `vps` holds: those matching `query.q` (`summary` counts all).
    pub shown: usize,
}

/// The fleet page's query: `?q=` (a case-insensitive substring of the agent's name or one of its
/// addresses), `?sort=worst|name`, `?view=cards|rows` (unset: rows above [`ROWS_ABOVE`] agents).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageQuery {
    pub q: String,
    pub sort: Sort,
    /// `None`: chosen by the fleet's size.
    pub view: Option<View>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Problems first ([`crate::fleet::Badness`]).
    #[default]
    Worst,
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    Cards,
    Rows,
}

/// More agents than this and the page shows a compact table row per agent, not a card.
pub const ROWS_ABOVE: usize = 24;
/// The longest `?q=` taken: a name or an address is shorter.
const Q_LIMIT: usize = 200;

impl PageQuery {
    /// From the URL's query pairs; `Err` says which parameter was wrong and what it takes.
    pub fn parse(pairs: &[(String, String)]) -> Result<PageQuery, String> {
        let mut out = PageQuery::default();
        for (k, v) in pairs {
            match k.as_str() {
                "q" if v.chars().count() > Q_LIMIT => {
                    return Err(format!("q is longer than {Q_LIMIT} characters"));
                }
                "q" => out.q = v.trim().to_string(),
                "sort" => {
                    out.sort = match v.as_str() {
                        "worst" | "" => Sort::Worst,
                        "name" => Sort::Name,
                        _ => return Err(format!("sort={v:?}: use sort=worst or sort=name")),
                    }
                }
                "view" => {
                    out.view = match v.as_str() {
                        "cards" => Some(View::Cards),
                        "rows" => Some(View::Rows),
                        "" | "auto" => None,
                        _ => {
                            return Err(format!(
                                "view={v:?}: use view=cards, view=rows or view=auto"
                            ));
                        }
                    }
                }
                _ => {
                    return Err(format!(
                        "unknown query parameter {k:?}: the page takes q, sort and view"
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// `agent`/`agents` and `firing alert`/`firing alerts`, as the numbers want them.
#[derive(Debug, Clone, Serialize)]
pub struct Words {
    pub agents: &'static str,
    pub firing_alerts: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub total: usize,
    pub healthy: usize,
    pub errors: usize,
    /// None when Alertmanager is unreachable.
    pub firing_alerts: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Vps {
    pub hostname: String,
    /// The agent's scrape addresses (Prometheus' `instance`).
    pub instances: Vec<String>,
    /// `healthy` (up) or `error` (down), as in the seed.
    pub status: &'static str,
    /// Time of the last scrape (RFC 3339), if known.
    pub timestamp: Option<String>,
    pub last_scrape_seconds: Option<f64>,
    pub error: Option<String>,
    pub data: Data,
    pub levels: Levels,
    pub display: Display,
    /// Link to the agent's charts.
    pub href: String,
    /// Alerts firing for it (by their `agent` label).
    pub firing_alerts: usize,
    /// What `?q=` and the filter box look in: the name and addresses, lowercased.
    pub search: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Data {
    pub cpu: Cpu,
    pub memory: Percent,
    pub disk: Percent,
    pub load: Load,
    pub network: Network,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    pub percent: Option<f64>,
    pub count: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Percent {
    pub percent: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Load {
    pub per_cpu: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Network {
    pub receive_bytes_per_second: Option<f64>,
    pub transmit_bytes_per_second: Option<f64>,
}

/// `ok`, `warn` (within 10 % of the threshold), `crit` (over it, where the alert rule fires) or
/// `none` (no value). The CSS colours them.
#[derive(Debug, Clone, Serialize)]
pub struct Levels {
    pub cpu: &'static str,
    pub memory: &'static str,
    pub disk: &'static str,
    pub load: &'static str,
}

/// The values as the card shows them, so the page and its script format alike.
#[derive(Debug, Clone, Serialize)]
pub struct Display {
    pub cpu: String,
    pub memory: String,
    pub disk: String,
    pub load: String,
    pub net_in: String,
    pub net_out: String,
    pub last_scrape: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub alertname: String,
    pub agent: String,
    pub severity: String,
    pub summary: String,
    pub starts_at: String,
    pub age_seconds: i64,
    pub age: String,
}

/// A service the page could not reach.
#[derive(Debug, Clone, Serialize)]
pub struct Banner {
    pub service: Service,
    pub url: String,
    pub message: String,
}

impl From<&ApiError> for Banner {
    fn from(e: &ApiError) -> Banner {
        Banner {
            service: e.service,
            url: e.url.clone(),
            message: e.to_string(),
        }
    }
}

const NO_VALUE: &str = "–";

pub fn level(v: Option<f64>, threshold: f64) -> &'static str {
    match v {
        None => "none",
        Some(v) if v > threshold => "crit",
        Some(v) if v > threshold * 0.9 => "warn",
        Some(_) => "ok",
    }
}

fn fmt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| NO_VALUE.to_string(), f)
}

pub fn percent(v: f64) -> String {
    format!("{v:.1} %")
}

/// Builds the model. `fleet`: the snapshot, or why Prometheus could not give it; `alerts` the
/// same for Alertmanager. `unscraped`: how many agents Prometheus is configured to scrape but
/// has no `up` for yet (asked only when the snapshot is empty).
pub fn status(
    now: DateTime<Utc>,
    fleet: Result<FleetSnapshot, ApiError>,
    unscraped: usize,
    alerts: Result<Vec<Alert>, ApiError>,
    thresholds: Thresholds,
    refresh_seconds: f64,
    mut query: PageQuery,
) -> Status {
    let mut banners = Vec::new();
    let (time, agents, fleet_known) = match fleet {
        Ok(f) => (f.time, f.agents, true),
        Err(e) => {
            banners.push(Banner::from(&e));
            (now, Vec::new(), false)
        }
    };
    let (alerts, firing) = match alerts {
        Ok(a) => {
            let n = a.len();
            (a.iter().map(|a| alert_view(a, now)).collect(), Some(n))
        }
        Err(e) => {
            banners.push(Banner::from(&e));
            (Vec::new(), None)
        }
    };
    let mut agents = agents;
    let mut firing_by: std::collections::HashMap<&str, usize> = Default::default();
    for a in &alerts {
        *firing_by.entry(a.agent.as_str()).or_default() += 1;
    }
    let firing_for = |agent: &str| firing_by.get(agent).copied().unwrap_or(0);
    if query.sort == Sort::Worst {
        crate::fleet::sort_worst_first(&mut agents, firing_for, &thresholds);
    }
    let total = agents.len();
    let healthy = agents.iter().filter(|a| a.up).count();
    let needle = query.q.to_lowercase();
    let vps: Vec<Vps> = agents
        .iter()
        .map(|a| vps(a, time, &thresholds, firing_for(&a.agent)))
        .filter(|v| v.search.contains(&needle))
        .collect();
    query.view = Some(query.view.unwrap_or(if total > ROWS_ABOVE {
        View::Rows
    } else {
        View::Cards
    }));
    let empty_fleet = match (total == 0, fleet_known, unscraped) {
        (false, _, _) if vps.is_empty() => Some(format!("No agent matches “{}”.", query.q)),
        (false, _, _) => None,
        (true, false, _) => Some("The fleet is unknown until Prometheus answers.".into()),
        (true, true, 0) => Some("No agents yet — add one to the agent list.".into()),
        (true, true, n) => Some(crate::fleet::waiting_for_first_scrape(n)),
    };
    let plural = |n: Option<usize>, one, many| if n == Some(1) { one } else { many };
    let words = Words {
        agents: plural(Some(total), "agent", "agents"),
        firing_alerts: plural(firing, "firing alert", "firing alerts"),
    };
    Status {
        empty_fleet,
        words,
        timestamp: time.to_rfc3339_opts(SecondsFormat::Millis, true),
        unix_time: time.timestamp_millis() as f64 / 1000.0,
        summary: Summary {
            total,
            healthy,
            errors: total - healthy,
            firing_alerts: firing,
        },
        shown: vps.len(),
        query,
        vps,
        alerts,
        banners,
        thresholds,
        refresh_seconds,
        fleet_known,
    }
}

fn vps(a: &AgentSnapshot, time: DateTime<Utc>, t: &Thresholds, firing_alerts: usize) -> Vps {
    let last = a
        .scrape_age_seconds
        .and_then(|s| chrono::TimeDelta::try_milliseconds((s * 1000.0) as i64))
        .map(|d| time - d);
    Vps {
        hostname: a.agent.clone(),
        instances: a.instances.clone(),
        status: if a.up { "healthy" } else { "error" },
        timestamp: last.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        last_scrape_seconds: a.scrape_age_seconds,
        error: (!a.up).then(|| "down: the last scrape failed".to_string()),
        data: Data {
            cpu: Cpu {
                percent: a.cpu_percent,
                count: a.cpu_count,
            },
            memory: Percent {
                percent: a.memory_percent,
            },
            disk: Percent {
                percent: a.disk_percent,
            },
            load: Load {
                per_cpu: a.load_per_cpu,
            },
            network: Network {
                receive_bytes_per_second: a.net_rx_bytes_per_second,
                transmit_bytes_per_second: a.net_tx_bytes_per_second,
            },
        },
        levels: Levels {
            cpu: level(a.cpu_percent, t.cpu),
            memory: level(a.memory_percent, t.memory),
            disk: level(a.disk_percent, t.disk),
            load: level(a.load_per_cpu, t.load),
        },
        display: Display {
            cpu: fmt(a.cpu_percent, percent),
            memory: fmt(a.memory_percent, percent),
            disk: fmt(a.disk_percent, percent),
            load: fmt(a.load_per_cpu, |v| format!("{v:.2}")),
            net_in: fmt(a.net_rx_bytes_per_second, |v| {
                format!("{}/s", human_bytes(v))
            }),
            net_out: fmt(a.net_tx_bytes_per_second, |v| {
                format!("{}/s", human_bytes(v))
            }),
            last_scrape: fmt(a.scrape_age_seconds, |s| {
                format!(
                    "{} ago",
                    human_duration(chrono::TimeDelta::seconds(s as i64))
                )
            }),
        },
        href: format!("/agents/{}", path_segment(&a.agent)),
        firing_alerts,
        search: std::iter::once(&a.agent)
            .chain(&a.instances)
            .map(|s| s.to_lowercase())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn alert_view(a: &Alert, now: DateTime<Utc>) -> AlertView {
    let age = now - a.starts_at;
    AlertView {
        alertname: a.alertname().to_string(),
        agent: a
            .label("agent")
            .or_else(|| a.label("instance"))
            .unwrap_or("")
            .to_string(),
        severity: a.label("severity").unwrap_or("").to_string(),
        summary: a
            .annotations
            .get("summary")
            .or_else(|| a.annotations.get("description"))
            .cloned()
            .unwrap_or_default(),
        starts_at: a.starts_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        age_seconds: age.num_seconds().max(0),
        age: human_duration(age),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters: an agent name as one path
/// segment.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &[(&str, &str)]) -> Result<PageQuery, String> {
        let pairs: Vec<(String, String)> = q
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PageQuery::parse(&pairs)
    }

    #[test]
    fn the_page_query_takes_q_sort_and_view_and_names_what_is_wrong() {
        let q = parse(&[("q", " Web "), ("sort", "name"), ("view", "rows")]).unwrap();
        assert_eq!(
            (q.q.as_str(), q.sort, q.view),
            ("Web", Sort::Name, Some(View::Rows))
        );
        let q = parse(&[]).unwrap();
        assert_eq!((q.sort, q.view), (Sort::Worst, None));
        assert_eq!(
            parse(&[("view", "grid")]).unwrap_err(),
            r#"view="grid": use view=cards, view=rows or view=auto"#
        );
        assert_eq!(
            parse(&[("sort", "cpu")]).unwrap_err(),
            r#"sort="cpu": use sort=worst or sort=name"#
        );
        assert_eq!(
            parse(&[("filter", "x")]).unwrap_err(),
            r#"unknown query parameter "filter": the page takes q, sort and view"#
        );
    }
}
