//! `/agents` and `/cpu` `/mem` `/disk` `/load [agent]`: the fleet now, from one
//! [`fleet::snapshot`] (nine queries whatever the fleet's size), evaluated at a whole second
//! that the reply states.

use crate::fleet::{self, AgentSnapshot, FleetSnapshot, series::Metric};
use crate::promapi::ApiError;

use super::{Context, as_of, settled_second};

/// `/agents`: every agent with up/down, time since its last scrape, CPU, memory and disk.
pub async fn agents(ctx: &Context) -> Result<String, ApiError> {
    let snap = fleet::snapshot(&ctx.prom, settled_second()).await?;
    if snap.agents.is_empty() {
        return Ok(no_agents(ctx).await);
    }
    let up = snap.up_count();
    let mut s = format!(
        "{}: {up} up, {} down\n",
        vpsmon_receiver_delivery::render::count(snap.agents.len(), "agent", "agents"),
        snap.agents.len() - up
    );
    for a in &snap.agents {
        s.push_str(&format!(
            "\n{} {} {} · last scrape {} · CPU {} · mem {} · disk {}",
            if a.up { "🟢" } else { "🔴" },
            a.agent,
            if a.up { "up" } else { "down" },
            a.scrape_age_seconds.map_or("never".into(), age),
            percent(a.cpu_percent),
            percent(a.memory_percent),
            percent(a.disk_percent),
        ));
    }
    s.push_str(&format!("\n\n{}", as_of(ctx, snap.time)));
    Ok(s)
}

/// `/cpu [agent]` etc.: one agent (by name or address) or every agent.
pub async fn usage(ctx: &Context, metric: Metric, agent: Option<&str>) -> Result<String, ApiError> {
    let snap = fleet::snapshot(&ctx.prom, settled_second()).await?;
    let chosen: Vec<&AgentSnapshot> = match agent {
        Some(name) => match snap.find(name) {
            Some(a) => vec![a],
            None => return Ok(unknown_agent(name, &snap)),
        },
        None if snap.agents.is_empty() => return Ok(no_agents(ctx).await),
        None => snap.agents.iter().collect(),
    };
    let mut s = String::new();
    for a in chosen {
        s.push_str(&format!(
            "{}: {}{}\n",
            a.agent,
            value(metric, a),
            if a.up { "" } else { " (down)" }
        ));
    }
    s.push_str(&format!("\n{}", as_of(ctx, snap.time)));
    Ok(s)
}

fn value(metric: Metric, a: &AgentSnapshot) -> String {
    match metric {
        Metric::Cpu => match a.cpu_count {
            Some(n) => format!("CPU {} of {n} CPUs", percent(a.cpu_percent)),
            None => format!("CPU {}", percent(a.cpu_percent)),
        },
        Metric::Memory => format!("memory {}", percent(a.memory_percent)),
        Metric::Disk => format!("disk {} (fullest filesystem)", percent(a.disk_percent)),
        Metric::Load => match a.load_per_cpu {
            Some(l) => format!("load {l:.2} per CPU"),
            None => "load no value".into(),
        },
        Metric::Network => format!(
            "network in {} out {}",
            a.net_rx_bytes_per_second
                .map_or("no value".into(), |v| format!(
                    "{}/s",
                    crate::chart::human_bytes(v)
                )),
            a.net_tx_bytes_per_second
                .map_or("no value".into(), |v| format!(
                    "{}/s",
                    crate::chart::human_bytes(v)
                )),
        ),
    }
}

/// `12.5%`, or "no value" when Prometheus has none (down, or too new for a rate).
pub fn percent(v: Option<f64>) -> String {
    v.map_or("no value".into(), |v| format!("{v:.1}%"))
}

fn age(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.1}s ago")
    } else {
        format!(
            "{} ago",
            humantime::format_duration(std::time::Duration::from_secs(seconds as u64))
        )
    }
}

/// No `up` series: no agent configured, or none scraped yet (Prometheus' targets tell).
pub async fn no_agents(ctx: &Context) -> String {
    match ctx.prom.target_agents().await.map(|a| a.len()) {
        Ok(n) if n > 0 => crate::fleet::waiting_for_first_scrape(n),
        _ => "No agents yet: Prometheus scrapes no target with an agent label.".into(),
    }
}

/// The reply to an agent nobody knows: the known ones, so the next try is right.
pub fn unknown_agent(name: &str, snap: &FleetSnapshot) -> String {
    if snap.agents.is_empty() {
        return format!("Unknown agent {name:?}: Prometheus knows no agents yet.");
    }
    let known: Vec<&str> = snap.agents.iter().map(|a| a.agent.as_str()).collect();
    format!(
        "Unknown agent {name:?}. Known agents: {}.",
        known.join(", ")
    )
}

/// An agent by name or address → its name, or the "unknown agent" reply.
pub async fn resolve(ctx: &Context, name: &str) -> Result<Result<String, String>, ApiError> {
    let snap = fleet::snapshot(&ctx.prom, settled_second()).await?;
    Ok(match snap.find(name) {
        Some(a) => Ok(a.agent.clone()),
        None => Err(unknown_agent(name, &snap)),
    })
}
