//! tunnel: Cloudflare Tunnel health from the Cloudflare API, the local gateway and cloudflared,
//! plus an opt-in failover that starts a backup unit when a tunnel is really down.
//!
//! Polling happens in the background ([`poller`]); a scrape only renders the last snapshot.
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
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family, gauge, gauge_family, single_gauge};
use super::{CollectorSpec, CollectError, Collector, Config, ConfigError, Entry, Scraper, Shared};
use failover::{Status, Systemctl, Thresholds};
use poller::{Background, Poller, PollerOptions, SharedSnapshot, Snapshot};

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
pub fn poller_from_options(opts: &TunnelOptions) -> Result<Poller, ConfigError> {
    let invalid = |flag: &'static str, message: String| ConfigError::Invalid { flag, message };
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

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "tunnel",
    default_enabled: false,
    help: "Cloudflare Tunnel health and failover (on when --collector.tunnel.config is set)",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let poller = poller_from_options(&config.tunnel)?;
    let shared = poller.shared();
    let background =
        Background::spawn(poller, config.tunnel.interval).map_err(|e| ConfigError::Invalid {
            flag: TunnelOptions::CONFIG_FLAG,
            message: format!("cannot start the poller thread: {e}"),
        })?;
    Ok(Box::new(TunnelCollector {
        shared,
        _background: Some(background),
    }))
}

/// A scraper that renders `poller`'s snapshot and runs nothing in the background: tests drive
/// the poller with [`Poller::check_once`] and look at what a scrape would show.
pub fn scraper_of(poller: &Poller) -> Scraper {
    let entry = Entry {
        name: "tunnel",
        collector: Box::new(TunnelCollector {
            shared: poller.shared(),
            _background: None,
        }),
        last_warn: std::sync::Mutex::new(None),
    };
    Scraper::from_entries(Config::default(), vec![entry])
}

struct TunnelCollector {
    shared: Arc<SharedSnapshot>,
    /// Stops the poller when the scraper is dropped.
    _background: Option<Background>,
}

impl Collector for TunnelCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        // A copy, so the lock is not held while encoding.
        let snap = self.shared.lock().clone();
        render(&snap, enc)?;
        Ok(())
    }
}

fn render(snap: &Snapshot, enc: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    let mut family = gauge_family(
        enc,
        "vpsmon_cloudflare_tunnel_status",
        "1 for the tunnel's current status as the Cloudflare API last reported it (healthy, degraded, down, inactive).",
    )?;
    for t in &snap.tunnels {
        if let Some(current) = t.status {
            for s in Status::ALL {
                let labels = [
                    ("tunnel_id", t.tunnel_id.as_str()),
                    ("name", t.name.as_str()),
                    ("status", s.as_str()),
                ];
                gauge(&mut family, &labels, u64::from(s == current))?;
            }
        }
    }
    let mut family = gauge_family(
        enc,
        "vpsmon_cloudflare_tunnel_connections",
        "Connections of the tunnel to Cloudflare's edge, as the API last reported them.",
    )?;
    for t in &snap.tunnels {
        if let Some(n) = t.connections {
            gauge(
                &mut family,
                &[("tunnel_id", &*t.tunnel_id), ("name", &*t.name)],
                n,
            )?;
        }
    }
    let mut family = gauge_family(
        enc,
        "vpsmon_cloudflare_tunnel_last_check_timestamp_seconds",
        "Unix time of the last check of the tunnel that the Cloudflare API answered.",
    )?;
    for t in &snap.tunnels {
        if let Some(ts) = t.last_check {
            gauge(
                &mut family,
                &[("tunnel_id", &*t.tunnel_id), ("name", &*t.name)],
                ts,
            )?;
        }
    }
    if let Some(up) = snap.api_up {
        single_gauge(
            enc,
            "vpsmon_cloudflare_api_up",
            "1 if the Cloudflare API answered for every tunnel in the last check.",
            u64::from(up),
        )?;
    }
    let mut family = counter_family(
        enc,
        "vpsmon_cloudflare_api_errors",
        "Cloudflare API calls that gave no tunnel status, by code: the HTTP status, timeout, connect or invalid_response.",
    )?;
    for (code, n) in &snap.api_errors {
        counter(&mut family, &[("code", code.as_str())], *n)?;
    }
    if let Some((label, up)) = &snap.gateway {
        let mut family = gauge_family(
            enc,
            "vpsmon_gateway_up",
            "1 if the gateway answered the last check (ICMP echo, else TCP connect).",
        )?;
        gauge(&mut family, &[("gateway", label.as_str())], u64::from(*up))?;
    }
    if let Some(n) = snap.cloudflared_ready {
        single_gauge(
            enc,
            "vpsmon_cloudflared_ready_connections",
            "readyConnections of the local cloudflared's /ready (0 when it cannot be read).",
            n,
        )?;
    }
    let mut family = gauge_family(
        enc,
        "vpsmon_failover_active",
        "1 while the tunnel's failover unit runs because of a failover.",
    )?;
    for t in &snap.tunnels {
        if let Some(active) = t.failover_active {
            gauge(
                &mut family,
                &[("tunnel_id", t.tunnel_id.as_str())],
                u64::from(active),
            )?;
        }
    }
    let mut family = counter_family(
        enc,
        "vpsmon_failover_actions",
        "Failover decisions carried out, by tunnel, action (start, stop, leave_running) and result (ok, already_active, failed).",
    )?;
    for ((id, action, result), n) in &snap.failover_actions {
        counter(
            &mut family,
            &[
                ("tunnel_id", id.as_str()),
                ("action", action),
                ("result", result),
            ],
            *n,
        )?;
    }
    Ok(())
}
