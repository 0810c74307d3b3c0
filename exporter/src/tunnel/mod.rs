//! The Cloudflare Tunnel service: it polls the Cloudflare API, the local gateway and
//! cloudflared in the background, and runs the opt-in failover that starts a backup unit when a
//! tunnel is really down. It owns the API client, the poller and the failover (`systemctl`);
//! `collector::tunnel` only renders its [`poller::Snapshot`] at scrape time and declares its
//! flags. This module imports nothing of `collector` or `http`.
//!
//! The files: `config` (the tunnel list), `api` (the Cloudflare call), `gateway` (ICMP/TCP
//! probe), `failover` (the pure state machine and systemctl), `poller` (the loop).
//!
//! API budget: Cloudflare allows 1,200 requests per 5 minutes per token. One tunnel costs
//! 300 s / interval requests per 5 minutes: 10 at the default 30 s (the seed's 3 s cost 100).
//! At start-up the tunnels sharing a token are counted and a set-up that would exceed half the
//! budget (leaving the rest to dashboards and other tools) is refused, naming the flag.

pub mod api;
pub mod config;
pub mod failover;
pub mod gateway;
pub mod poller;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use failover::{Systemctl, Thresholds};
use poller::{Poller, PollerOptions};

/// Options the tunnel service cannot start with; the message names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct SetupError {
    pub flag: &'static str,
    pub message: String,
}

/// Cloudflare's limit: requests per token per 5 minutes.
pub const API_BUDGET_PER_5MIN: u64 = 1200;

/// Options of the failover (`--failover.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverOptions {
    /// `--failover.enabled`: off by default; then `failover_unit` is ignored.
    pub enabled: bool,
    pub thresholds: Thresholds,
    /// `--failover.systemctl`: the command run to check, start and stop units.
    pub systemctl: PathBuf,
    /// `--failover.command-timeout`.
    pub command_timeout: Duration,
}

impl Default for FailoverOptions {
    fn default() -> Self {
        FailoverOptions {
            enabled: false,
            thresholds: Thresholds::default(),
            systemctl: PathBuf::from(Systemctl::DEFAULT_PATH),
            command_timeout: Systemctl::DEFAULT_TIMEOUT,
        }
    }
}

/// Options of the tunnel collector (`--collector.tunnel.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelOptions {
    /// `--collector.tunnel.config`: the YAML tunnel list. Required by the collector.
    pub config: Option<PathBuf>,
    /// `--collector.tunnel.interval`.
    pub interval: Duration,
    /// `--collector.tunnel.timeout`: bound of each API call, gateway probe and /ready read.
    pub timeout: Duration,
    /// `--collector.tunnel.api-url`.
    pub api_url: String,
    /// `--collector.tunnel.gateway`.
    pub gateway: Option<String>,
    /// `--collector.tunnel.cloudflared-url`: cloudflared's metrics server (`/ready` is appended).
    pub cloudflared_url: Option<String>,
    pub failover: FailoverOptions,
}

impl TunnelOptions {
    pub const CONFIG_FLAG: &'static str = "--collector.tunnel.config";
    pub const INTERVAL_FLAG: &'static str = "--collector.tunnel.interval";
    pub const GATEWAY_FLAG: &'static str = "--collector.tunnel.gateway";
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
}

impl Default for TunnelOptions {
    fn default() -> Self {
        TunnelOptions {
            config: None,
            interval: Self::DEFAULT_INTERVAL,
            timeout: Self::DEFAULT_TIMEOUT,
            api_url: api::DEFAULT_API_URL.to_owned(),
            gateway: None,
            cloudflared_url: None,
            failover: FailoverOptions::default(),
        }
    }
}

/// Reads the tunnel file and checks the options; the poller is not started.
pub fn poller_from_options(opts: &TunnelOptions) -> Result<Poller, SetupError> {
    let invalid = |flag: &'static str, message: String| SetupError { flag, message };
    let path = opts.config.as_ref().ok_or_else(|| {
        invalid(
            TunnelOptions::CONFIG_FLAG,
            "the tunnel collector needs the tunnel list file".into(),
        )
    })?;
    let tunnels =
        config::load(path).map_err(|e| invalid(TunnelOptions::CONFIG_FLAG, e.to_string()))?;
    // Tunnels sharing a token share its budget.
    let mut per_token: BTreeMap<String, u64> = BTreeMap::new();
    for t in &tunnels {
        *per_token
            .entry(t.token.current().expose().to_owned())
            .or_default() += 1;
    }
    let per_tunnel = (300.0 / opts.interval.as_secs_f64()).ceil() as u64;
    if let Some(n) = per_token.values().copied().max()
        && n * per_tunnel > API_BUDGET_PER_5MIN / 2
    {
        return Err(invalid(
            TunnelOptions::INTERVAL_FLAG,
            format!(
                "{:?} with {n} tunnel(s) on one token makes {} API requests per 5 minutes; Cloudflare allows {API_BUDGET_PER_5MIN} per token and vpsmon uses at most half of it",
                opts.interval,
                n * per_tunnel
            ),
        ));
    }
    let gateway = opts
        .gateway
        .as_deref()
        .map(gateway::Gateway::parse)
        .transpose()
        .map_err(|e| invalid(TunnelOptions::GATEWAY_FLAG, e))?;
    let failover = opts.failover.enabled.then(|| {
        (
            opts.failover.thresholds,
            Systemctl {
                path: opts.failover.systemctl.clone(),
                timeout: opts.failover.command_timeout,
            },
        )
    });
    Ok(Poller::new(
        tunnels,
        PollerOptions {
            api_url: opts.api_url.clone(),
            timeout: opts.timeout,
            gateway,
            cloudflared_url: opts.cloudflared_url.clone(),
            failover,
        },
    ))
}
