//! `/ports <agent>`: the agent's listening sockets, from the exporter's opt-in ports collector
//! (`vpsmon_listening_port{proto,address,port}`).

use crate::fleet::series::agent_selector;
use crate::promapi::ApiError;

use super::{Context, agents, as_of, settled_second};

pub async fn ports(ctx: &Context, agent: &str) -> Result<String, ApiError> {
    let agent = match agents::resolve(ctx, agent).await? {
        Ok(a) => a,
        Err(reply) => return Ok(reply),
    };
    let t = settled_second();
    let q = format!("vpsmon_listening_port{{{}}}", agent_selector(&agent));
    let samples = ctx.prom.query(&q, Some(t)).await?;
    if samples.is_empty() {
        return Ok(format!(
            "Listening ports of {agent} are not available: enable --collector.ports on that \
             agent's vpsmon-exporter."
        ));
    }
    let mut ports: Vec<(u32, String, String)> = samples
        .iter()
        .map(|s| {
            let port = s.label("port").unwrap_or("");
            (
                port.parse().unwrap_or(u32::MAX),
                s.label("proto").unwrap_or("?").to_string(),
                match s.label("address").unwrap_or("?") {
                    a if a.contains(':') => format!("[{a}]:{port}"),
                    a => format!("{a}:{port}"),
                },
            )
        })
        .collect();
    ports.sort();
    ports.dedup();
    let mut s = format!("{} listening ports on {agent}:\n", ports.len());
    for (_, proto, addr) in &ports {
        s.push_str(&format!("\n{proto:<5} {addr}"));
    }
    s.push_str(&format!("\n\n{}", as_of(ctx, t)));
    Ok(s)
}
