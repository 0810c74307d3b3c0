//! The fleet at one instant: a fixed handful of PromQL queries for the whole fleet (not several
//! per agent), joined by the `agent` label that gen-config puts on every target.
//!
//! Used by the dashboard (`/`, `/api/status`) and by the bot's `/agents`. All queries are
//! evaluated at the same `time`, so a reader can check any number against Prometheus.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::promapi::prometheus::Sample;
use crate::promapi::{ApiError, PrometheusClient};
use vpsmon_receiver_delivery::config::dashboard::Thresholds;

/// The queries that are not charts (the charted ones are [`series::Metric::queries`] with the
/// [`FLEET`] selector). Each yields one series per agent.
pub mod queries {
    /// The selector for every agent.
    pub const FLEET: &str = r#"agent!="""#;
    /// Per target, so the addresses (`instance`) come along; an agent is up when all its
    /// targets are.
    pub const UP: &str = r#"up{agent!=""}"#;
    pub const SCRAPE_AGE: &str = r#"max by (agent) (time() - timestamp(up{agent!=""}))"#;
    pub const CPU_COUNT: &str =
        r#"count by (agent) (node_cpu_seconds_total{agent!="",mode="idle"})"#;
}

/// One agent's numbers. `None`: Prometheus has no value (agent down, metric missing, too new
/// for a rate).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentSnapshot {
    pub agent: String,
    /// Its targets' addresses (`instance` labels), for finding an agent by address.
    pub instances: Vec<String>,
    pub up: bool,
    /// Seconds since the last scrape (successful or not).
    pub scrape_age_seconds: Option<f64>,
    pub cpu_percent: Option<f64>,
    pub cpu_count: Option<f64>,
    pub memory_percent: Option<f64>,
    pub disk_percent: Option<f64>,
    pub load_per_cpu: Option<f64>,
    pub net_rx_bytes_per_second: Option<f64>,
    pub net_tx_bytes_per_second: Option<f64>,
}

/// The whole fleet at `time`, agents sorted by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetSnapshot {
    pub time: DateTime<Utc>,
    pub agents: Vec<AgentSnapshot>,
}

impl FleetSnapshot {
    pub fn agent(&self, name: &str) -> Option<&AgentSnapshot> {
        self.agents.iter().find(|a| a.agent == name)
    }
    /// An agent by name, else by address (`host:port`, or the host alone), as the seed's bot
    /// accepts either.
    pub fn find(&self, name_or_address: &str) -> Option<&AgentSnapshot> {
        self.agent(name_or_address).or_else(|| {
            self.agents.iter().find(|a| {
                a.instances.iter().any(|i| {
                    i == name_or_address
                        || i.rsplit_once(':')
                            .is_some_and(|(host, _)| host == name_or_address)
                })
            })
        })
    }
    pub fn up_count(&self) -> usize {
        self.agents.iter().filter(|a| a.up).count()
    }
}

/// How bad an agent looks, for "worst first" (the dashboard's default order, the bot's
/// `/agents`): down; then more firing alerts; then the highest of its CPU, memory and disk as a
/// share of that threshold (1.0 is at the threshold, where the alert fires).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Badness {
    pub down: bool,
    pub firing: usize,
    pub usage: f64,
}

impl Badness {
    /// Is this agent a problem: down, alerting, or over a threshold.
    pub fn unhealthy(&self) -> bool {
        self.down || self.firing > 0 || self.usage > 1.0
    }

    /// Worse agents first.
    pub fn worse_first(&self, other: &Badness) -> std::cmp::Ordering {
        other
            .down
            .cmp(&self.down)
            .then(other.firing.cmp(&self.firing))
            .then(other.usage.total_cmp(&self.usage))
    }
}

impl AgentSnapshot {
    /// Its [`Badness`] with `firing` alerts against the thresholds `t`.
    pub fn badness(&self, firing: usize, t: &Thresholds) -> Badness {
        let usage = [
            (self.cpu_percent, t.cpu),
            (self.memory_percent, t.memory),
            (self.disk_percent, t.disk),
        ]
        .into_iter()
        .filter_map(|(v, limit)| Some(v? / limit).filter(|r| r.is_finite()))
        .fold(0.0, f64::max);
        Badness {
            down: !self.up,
            firing,
            usage,
        }
    }
}

/// Sorts `agents` worst first ([`Badness`]), by name among equals; `firing` counts an agent's
/// firing alerts.
pub fn sort_worst_first(
    agents: &mut [AgentSnapshot],
    firing: impl Fn(&str) -> usize,
    t: &Thresholds,
) {
    // A stable sort: equals keep the snapshot's order, which is by name.
    agents.sort_by(|a, b| {
        a.badness(firing(&a.agent), t)
            .worse_first(&b.badness(firing(&b.agent), t))
    });
}

/// What the dashboard and the bot say when Prometheus has `n` agent targets but no `up` for
/// them yet: the first scrape interval of a new stack or a new agent list.
pub fn waiting_for_first_scrape(n: usize) -> String {
    format!(
        "Waiting for the first scrape of {}: Prometheus has not scraped {} yet.",
        vpsmon_receiver_delivery::render::count(n, "agent", "agents"),
        if n == 1 { "it" } else { "them" }
    )
}

/// How far behind now a snapshot is taken: [`settled`].
pub const SETTLE: TimeDelta = TimeDelta::seconds(1);

/// The instant to take a snapshot at: [`SETTLE`] before `now`. Prometheus stamps a scrape's
/// samples with the time the scrape began but shows them only once it has ended, so a query at
/// "now" can miss a scrape still in flight that a later query for the same instant sees: the
/// numbers would change when someone checks them. A second back, every scrape that began by then
/// has ended unless it took over a second.
pub fn settled(now: DateTime<Utc>) -> DateTime<Utc> {
    now - SETTLE
}

/// Runs the queries concurrently at `time`. Agents are the ones `up` knows; an agent Prometheus
/// has never scraped is not in the fleet yet.
pub async fn snapshot(
    prom: &PrometheusClient,
    time: DateTime<Utc>,
) -> Result<FleetSnapshot, ApiError> {
    use queries::*;
    use series::Metric;
    let t = Some(time);
    let q = |m: Metric, i: usize| m.queries(FLEET)[i].1.clone();
    let (cpu_q, mem_q, disk_q, load_q, rx_q, tx_q) = (
        q(Metric::Cpu, 0),
        q(Metric::Memory, 0),
        q(Metric::Disk, 0),
        q(Metric::Load, 0),
        q(Metric::Network, 0),
        q(Metric::Network, 1),
    );
    let (up, age, cpu, count, mem, disk, load, rx, tx) = tokio::join!(
        prom.query(UP, t),
        prom.query(SCRAPE_AGE, t),
        prom.query(&cpu_q, t),
        prom.query(CPU_COUNT, t),
        prom.query(&mem_q, t),
        prom.query(&disk_q, t),
        prom.query(&load_q, t),
        prom.query(&rx_q, t),
        prom.query(&tx_q, t),
    );
    let up = up?;
    let (age, cpu, count, mem, disk, load, rx, tx) = (
        by_agent(age?),
        by_agent(cpu?),
        by_agent(count?),
        by_agent(mem?),
        by_agent(disk?),
        by_agent(load?),
        by_agent(rx?),
        by_agent(tx?),
    );
    // agent → (every target up, its instances)
    let mut targets: BTreeMap<String, (bool, Vec<String>)> = BTreeMap::new();
    for s in &up {
        let Some(agent) = s.label("agent") else {
            continue;
        };
        let e = targets
            .entry(agent.to_string())
            .or_insert((true, Vec::new()));
        e.0 &= s.value >= 1.0;
        if let Some(i) = s.label("instance") {
            e.1.push(i.to_string());
        }
    }
    let agents: Vec<AgentSnapshot> = targets
        .into_iter()
        .map(|(agent, (up, mut instances))| AgentSnapshot {
            up,
            instances: {
                instances.sort();
                instances
            },
            scrape_age_seconds: age.get(&agent).copied(),
            cpu_percent: cpu.get(&agent).copied(),
            cpu_count: count.get(&agent).copied(),
            memory_percent: mem.get(&agent).copied(),
            disk_percent: disk.get(&agent).copied(),
            load_per_cpu: load.get(&agent).copied(),
            net_rx_bytes_per_second: rx.get(&agent).copied(),
            net_tx_bytes_per_second: tx.get(&agent).copied(),
            agent,
        })
        .collect();
    Ok(FleetSnapshot { time, agents })
}

/// `agent` label → value, dropping NaN (a division by zero is "no value", not a number).
fn by_agent(samples: Vec<Sample>) -> BTreeMap<String, f64> {
    samples
        .into_iter()
        .filter(|s| s.value.is_finite())
        .filter_map(|s| Some((s.label("agent")?.to_string(), s.value)))
        .collect()
}

/// The agent names Prometheus knows (for "unknown agent" answers), sorted.
pub async fn agent_names(prom: &PrometheusClient) -> Result<Vec<String>, ApiError> {
    let up = prom.query(queries::UP, None).await?;
    let names: std::collections::BTreeSet<String> = up
        .iter()
        .filter_map(|s| s.label("agent").map(str::to_string))
        .collect();
    Ok(names.into_iter().collect())
}

/// The per-agent expressions the agent page (and the bot's `/chart`) draw over time, each with
/// `{agent}` standing for the agent's label matcher.
pub mod series {
    /// What a chart shows and how its values read.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Metric {
        Cpu,
        Memory,
        Disk,
        Load,
        Network,
    }

    impl Metric {
        pub const ALL: [Metric; 5] = [
            Metric::Cpu,
            Metric::Memory,
            Metric::Disk,
            Metric::Load,
            Metric::Network,
        ];

        pub fn name(self) -> &'static str {
            match self {
                Metric::Cpu => "cpu",
                Metric::Memory => "memory",
                Metric::Disk => "disk",
                Metric::Load => "load",
                Metric::Network => "network",
            }
        }

        pub fn title(self) -> &'static str {
            match self {
                Metric::Cpu => "CPU busy",
                Metric::Memory => "Memory used",
                Metric::Disk => "Fullest filesystem",
                Metric::Load => "Load (1 min) per CPU",
                Metric::Network => "Network",
            }
        }

        /// `(legend suffix, query)` pairs; `sel` is a label selector body such as
        /// `agent="web1"` (already escaped) or `agent!=""` for the whole fleet. Every query
        /// keeps the `agent` label, so one line per agent.
        pub fn queries(self, sel: &str) -> Vec<(&'static str, String)> {
            match self {
                Metric::Cpu => vec![(
                    "",
                    format!(
                        r#"100 * (1 - avg by (agent) (rate(node_cpu_seconds_total{{{sel},mode="idle"}}[2m])))"#
                    ),
                )],
                Metric::Memory => vec![(
                    "",
                    format!(
                        r#"max by (agent) (100 * (1 - node_memory_MemAvailable_bytes{{{sel}}} / node_memory_MemTotal_bytes{{{sel}}}))"#
                    ),
                )],
                Metric::Disk => vec![(
                    "",
                    format!(
                        r#"max by (agent) (100 * (1 - node_filesystem_avail_bytes{{{sel},fstype!~"tmpfs|overlay"}} / node_filesystem_size_bytes{{{sel},fstype!~"tmpfs|overlay"}}) and node_filesystem_readonly{{{sel}}} == 0)"#
                    ),
                )],
                Metric::Load => vec![(
                    "",
                    format!(
                        r#"max by (agent) (node_load1{{{sel}}}) / count by (agent) (node_cpu_seconds_total{{{sel},mode="idle"}})"#
                    ),
                )],
                Metric::Network => vec![
                    (
                        " in",
                        format!(
                            r#"sum by (agent) (rate(node_network_receive_bytes_total{{{sel},device!="lo"}}[2m]))"#
                        ),
                    ),
                    (
                        " out",
                        format!(
                            r#"sum by (agent) (rate(node_network_transmit_bytes_total{{{sel},device!="lo"}}[2m]))"#
                        ),
                    ),
                ],
            }
        }
    }

    impl std::str::FromStr for Metric {
        type Err = String;
        fn from_str(s: &str) -> Result<Metric, String> {
            match s.trim().to_ascii_lowercase().as_str() {
                "cpu" => Ok(Metric::Cpu),
                "mem" | "memory" => Ok(Metric::Memory),
                "disk" => Ok(Metric::Disk),
                "load" => Ok(Metric::Load),
                "net" | "network" => Ok(Metric::Network),
                _ => Err(format!(
                    "{s:?} is not a chart (use cpu, mem, disk, load or net)"
                )),
            }
        }
    }

    /// `agent="<name>"` with the name escaped as a PromQL string.
    pub fn agent_selector(agent: &str) -> String {
        let escaped: String = agent
            .chars()
            .flat_map(|c| match c {
                '\\' => vec!['\\', '\\'],
                '"' => vec!['\\', '"'],
                '\n' => vec!['\\', 'n'],
                c => vec![c],
            })
            .collect();
        format!(r#"agent="{escaped}""#)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str, up: bool, cpu: Option<f64>, disk: Option<f64>) -> AgentSnapshot {
        AgentSnapshot {
            agent: name.into(),
            instances: Vec::new(),
            up,
            scrape_age_seconds: None,
            cpu_percent: cpu,
            cpu_count: None,
            memory_percent: Some(10.0),
            disk_percent: disk,
            load_per_cpu: None,
            net_rx_bytes_per_second: None,
            net_tx_bytes_per_second: None,
        }
    }

    #[test]
    fn worst_first_is_down_then_alerting_then_nearest_a_threshold() {
        let t = Thresholds::default(); // CPU 80, memory 85, disk 90
        let mut agents = vec![
            agent("a-idle", true, Some(5.0), Some(20.0)),
            agent("b-down", false, None, None),
            agent("c-disk", true, Some(5.0), Some(89.0)), // 0.99 of the disk threshold
            agent("d-cpu", true, Some(70.0), Some(20.0)), // 0.875 of the CPU threshold
            agent("e-alerting", true, Some(1.0), Some(1.0)),
            agent("f-down", false, None, None),
            agent("g-idle", true, Some(5.0), Some(20.0)),
        ];
        sort_worst_first(&mut agents, |a| usize::from(a == "e-alerting"), &t);
        let order: Vec<&str> = agents.iter().map(|a| a.agent.as_str()).collect();
        assert_eq!(
            order,
            [
                "b-down",
                "f-down",
                "e-alerting",
                "c-disk",
                "d-cpu",
                "a-idle",
                "g-idle"
            ]
        );
    }
}
