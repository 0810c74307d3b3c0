//! tunnel: renders the snapshot of the Cloudflare Tunnel service ([`crate::tunnel`]): tunnel
//! status, the gateway, cloudflared and the failover's actions. The polling and the failover run
//! in that service, on its own thread; a scrape only copies the last snapshot.
//!
//! The service's flags (`--collector.tunnel.*`, `--failover.*`) are declared here, with the
//! collector that starts it, and turned into its typed [`TunnelOptions`].

use std::path::PathBuf;
use std::sync::Arc;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, counter_family, gauge, gauge_family, single_gauge};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, Entry, FlagSpec, Options,
    Scraper, Shared,
};
use crate::tunnel::failover::{Status, Systemctl, Thresholds};
use crate::tunnel::poller::{Background, Poller, SharedSnapshot, Snapshot};
use crate::tunnel::{FailoverOptions, TunnelOptions, api, poller_from_options};

/// Setting it enables the tunnel collector (unless `--no-collector.tunnel`).
pub const CONFIG: FlagSpec = FlagSpec::optional(
    TunnelOptions::CONFIG_FLAG,
    "YAML list of Cloudflare Tunnels to watch; setting it enables the tunnel collector",
)
.value_name("FILE");

pub const INTERVAL: FlagSpec = FlagSpec::value(
    TunnelOptions::INTERVAL_FLAG,
    "30s",
    "How often the Cloudflare API is polled per tunnel (1,200 requests / 5 min / token)",
)
.value_name("DURATION")
.checked(super::positive_duration);

pub const TIMEOUT: FlagSpec = FlagSpec::value(
    "--collector.tunnel.timeout",
    "10s",
    "Bound of each Cloudflare API call, gateway probe and cloudflared /ready read",
)
.value_name("DURATION")
.checked(super::positive_duration);

pub const API_URL: FlagSpec = FlagSpec::value(
    "--collector.tunnel.api-url",
    api::DEFAULT_API_URL,
    "Cloudflare API base URL",
)
.value_name("URL");

pub const GATEWAY: FlagSpec = FlagSpec::optional(
    TunnelOptions::GATEWAY_FLAG,
    "Gateway to probe (IP or IP:PORT; ICMP echo, else TCP connect to PORT, default 80). While it does not answer, a tunnel reported down never triggers a failover",
)
.value_name("IP[:PORT]");

pub const CLOUDFLARED_URL: FlagSpec = FlagSpec::optional(
    "--collector.tunnel.cloudflared-url",
    "Local cloudflared metrics server (e.g. http://127.0.0.1:20241); its /ready is read",
)
.value_name("URL");

pub const FAILOVER_ENABLED: FlagSpec = FlagSpec::switch(
    "--failover.enabled",
    false,
    "Start a tunnel's failover_unit when the tunnel is down (off by default)",
)
.requires(TunnelOptions::CONFIG_FLAG);

pub const FAILOVER_START_AFTER: FlagSpec = FlagSpec::value(
    "--failover.start-after",
    "3",
    "Consecutive checks (API answered, status down, gateway up) before the unit is started",
)
.value_name("K")
.checked(super::positive_integer);

pub const FAILOVER_STOP_AFTER: FlagSpec = FlagSpec::value(
    "--failover.stop-after",
    "3",
    "Consecutive healthy checks before the unit is stopped (with --failover.stop-on-recovery)",
)
.value_name("M")
.checked(super::positive_integer);

pub const FAILOVER_STOP_ON_RECOVERY: FlagSpec = FlagSpec::switch(
    "--failover.stop-on-recovery",
    false,
    "Stop the failover unit once the tunnel is healthy again",
);

pub const FAILOVER_SYSTEMCTL: FlagSpec = FlagSpec::value(
    "--failover.systemctl",
    Systemctl::DEFAULT_PATH,
    "The systemctl the failover runs (is-active, start, stop)",
)
.value_name("PATH");

pub const FAILOVER_COMMAND_TIMEOUT: FlagSpec = FlagSpec::value(
    "--failover.command-timeout",
    "90s",
    "Longest one systemctl call may take",
)
.value_name("DURATION")
.checked(super::positive_duration);

/// The tunnel service's options from the flags' values; an error names the flag.
pub fn tunnel_options(options: &Options) -> Result<TunnelOptions, ConfigError> {
    let count = |flag: &FlagSpec| {
        options.parsed(flag, |s| match s.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err("not a whole number of at least 1".into()),
        })
    };
    Ok(TunnelOptions {
        config: options.optional(&CONFIG).map(PathBuf::from),
        interval: options.parsed(&INTERVAL, super::duration)?,
        timeout: options.parsed(&TIMEOUT, super::duration)?,
        api_url: options.value(&API_URL).to_owned(),
        gateway: options.optional(&GATEWAY).map(str::to_owned),
        cloudflared_url: options.optional(&CLOUDFLARED_URL).map(str::to_owned),
        failover: FailoverOptions {
            enabled: options.switch(&FAILOVER_ENABLED),
            thresholds: Thresholds {
                start_after: count(&FAILOVER_START_AFTER)?,
                stop_after: count(&FAILOVER_STOP_AFTER)?,
                stop_on_recovery: options.switch(&FAILOVER_STOP_ON_RECOVERY),
            },
            systemctl: PathBuf::from(options.value(&FAILOVER_SYSTEMCTL)),
            command_timeout: options.parsed(&FAILOVER_COMMAND_TIMEOUT, super::duration)?,
        },
    })
}

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "tunnel",
    default_enabled: false,
    help: "Cloudflare Tunnel health and failover (on when --collector.tunnel.config is set)",
    flags: &[
        CONFIG,
        INTERVAL,
        TIMEOUT,
        API_URL,
        GATEWAY,
        CLOUDFLARED_URL,
        FAILOVER_ENABLED,
        FAILOVER_START_AFTER,
        FAILOVER_STOP_AFTER,
        FAILOVER_STOP_ON_RECOVERY,
        FAILOVER_SYSTEMCTL,
        FAILOVER_COMMAND_TIMEOUT,
    ],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let options = tunnel_options(&config.options)?;
    let poller = poller_from_options(&options).map_err(|e| ConfigError::Invalid {
        flag: e.flag,
        message: e.message,
    })?;
    let shared = poller.shared();
    let background =
        Background::spawn(poller, options.interval).map_err(|e| ConfigError::Invalid {
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
    let entry = Entry::new(
        "tunnel",
        Box::new(TunnelCollector {
            shared: poller.shared(),
            _background: None,
        }),
    );
    Scraper::from_entries(Config::default(), vec![entry], false)
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
