//! The background poller: every `--collector.tunnel.interval` it checks the gateway, asks the
//! Cloudflare API about each tunnel (all at once, each bounded by the request timeout), reads
//! cloudflared's `/ready`, feeds the failover machines, and then publishes one [`Snapshot`].
//!
//! Scrapes only read the last snapshot under a lock that is never held across an await, so a
//! scrape never waits on Cloudflare, on the gateway or on systemctl.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::api::{self, Reply};
use super::config::TunnelConfig;
use super::failover::{Action, Check, Decision, Failover, Outcome, Status, Systemctl};
use super::gateway::{self, Answer, Gateway};

/// One tunnel as the last check left it.
#[derive(Debug, Clone, PartialEq)]
pub struct TunnelSnapshot {
    pub tunnel_id: String,
    /// The configured name, else the one Cloudflare reports, else the id.
    pub name: String,
    /// The last status the API reported (kept while the API does not answer).
    pub status: Option<Status>,
    pub connections: Option<u64>,
    /// Unix time of the last check the API answered.
    pub last_check: Option<f64>,
    /// `Some` for tunnels with a failover unit when failover is enabled.
    pub failover_active: Option<bool>,
}

/// Everything the metrics show, replaced as a whole after each check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub tunnels: Vec<TunnelSnapshot>,
    /// Whether the API answered every tunnel of the last check; `None` before the first.
    pub api_up: Option<bool>,
    /// By `code` (HTTP status, `timeout`, `connect`, `invalid_response`).
    pub api_errors: BTreeMap<String, u64>,
    /// (gateway label, up) of the last check.
    pub gateway: Option<(String, bool)>,
    pub cloudflared_ready: Option<u64>,
    /// By (tunnel_id, action, result).
    pub failover_actions: BTreeMap<(String, &'static str, &'static str), u64>,
}

/// The snapshot shared between the poller and the scrapes.
#[derive(Debug, Default)]
pub struct SharedSnapshot(Mutex<Snapshot>);

impl SharedSnapshot {
    pub fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // Writers replace fields whole; a poisoned lock still holds a consistent snapshot.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the poller needs besides the tunnels.
#[derive(Debug, Clone)]
pub struct PollerOptions {
    pub api_url: String,
    pub timeout: Duration,
    pub gateway: Option<Gateway>,
    pub cloudflared_url: Option<String>,
    /// `Some` when `--failover.enabled`: the machines' thresholds and the systemctl to run.
    pub failover: Option<(super::failover::Thresholds, Systemctl)>,
}

struct Watched {
    config: TunnelConfig,
    failover: Option<Failover>,
    /// The last error code logged, so an outage logs once, not every check.
    last_error: Option<String>,
}

/// Checks the tunnels; [`Poller::check_once`] is one round (tests call it directly).
pub struct Poller {
    client: reqwest::Client,
    options: PollerOptions,
    tunnels: Vec<Watched>,
    shared: Arc<SharedSnapshot>,
}

#[derive(Deserialize)]
struct Ready {
    #[serde(rename = "readyConnections")]
    ready_connections: u64,
}

impl Poller {
    pub fn new(tunnels: Vec<TunnelConfig>, options: PollerOptions) -> Poller {
        let client = reqwest::Client::builder()
            .user_agent(concat!("vpsmon-exporter/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.timeout)
            .build()
            .unwrap_or_default();
        let snapshot = Snapshot {
            tunnels: tunnels
                .iter()
                .map(|t| TunnelSnapshot {
                    tunnel_id: t.tunnel_id.clone(),
                    name: t.name.clone().unwrap_or_else(|| t.tunnel_id.clone()),
                    status: None,
                    connections: None,
                    last_check: None,
                    failover_active: (options.failover.is_some() && t.failover_unit.is_some())
                        .then_some(false),
                })
                .collect(),
            ..Snapshot::default()
        };
        let tunnels = tunnels
            .into_iter()
            .map(|config| Watched {
                failover: match (&options.failover, &config.failover_unit) {
                    (Some((thresholds, _)), Some(_)) => Some(Failover::new(*thresholds)),
                    _ => None,
                },
                config,
                last_error: None,
            })
            .collect();
        Poller {
            client,
            options,
            tunnels,
            shared: Arc::new(SharedSnapshot(Mutex::new(snapshot))),
        }
    }

    /// The snapshot the scrapes read.
    pub fn shared(&self) -> Arc<SharedSnapshot> {
        Arc::clone(&self.shared)
    }

    /// One round: gateway, every tunnel, cloudflared, failover; then publish.
    pub async fn check_once(&mut self) {
        let timeout = self.options.timeout;
        let gateway_up = match &self.options.gateway {
            Some(gw) => {
                let answer = gateway::probe(gw, timeout).await;
                if answer == Answer::None {
                    tracing::warn!(gateway = %gw.label, "gateway did not answer (ICMP echo, then TCP connect to {})", gw.addr);
                } else {
                    tracing::debug!(gateway = %gw.label, ?answer, "gateway answered");
                }
                Some(answer != Answer::None)
            }
            None => None,
        };

        let mut calls = tokio::task::JoinSet::new();
        for (i, t) in self.tunnels.iter().enumerate() {
            let client = self.client.clone();
            let api_url = self.options.api_url.clone();
            let (account, tunnel, token) = (
                t.config.account_id.clone(),
                t.config.tunnel_id.clone(),
                t.config.token.current(),
            );
            calls.spawn(async move {
                let reply = api::fetch(&client, &api_url, &account, &tunnel, &token, timeout).await;
                (i, reply)
            });
        }
        let mut replies: Vec<Option<Reply>> = vec![None; self.tunnels.len()];
        while let Some(done) = calls.join_next().await {
            if let Ok((i, reply)) = done {
                replies[i] = Some(reply);
            }
        }

        let ready = match &self.options.cloudflared_url {
            Some(url) => Some(self.cloudflared_ready(url).await),
            None => None,
        };

        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let mut snap = self.shared.lock().clone();
        let mut all_answered = true;
        for (i, reply) in replies.into_iter().enumerate() {
            let reply = reply.unwrap_or_else(|| Reply::Failed {
                code: "internal".into(),
                detail: "the API call task failed".into(),
            });
            let status = self.record_reply(i, reply, now, &mut snap);
            all_answered &= status.is_some();
            let check = Check { status, gateway_up };
            self.failover(i, check, &mut snap).await;
        }
        snap.api_up = Some(all_answered);
        snap.gateway = self
            .options
            .gateway
            .as_ref()
            .zip(gateway_up)
            .map(|(gw, up)| (gw.label.clone(), up));
        snap.cloudflared_ready = ready;
        *self.shared.lock() = snap;
    }

    /// Applies one API reply to the snapshot; returns the status if the API answered.
    fn record_reply(
        &mut self,
        i: usize,
        reply: Reply,
        now: f64,
        snap: &mut Snapshot,
    ) -> Option<Status> {
        let watched = &mut self.tunnels[i];
        let id = &watched.config.tunnel_id;
        let ts = &mut snap.tunnels[i];
        match reply {
            Reply::Tunnel {
                status,
                name,
                connections,
            } => {
                if ts.status != Some(status) {
                    tracing::info!(tunnel_id = %id, status = status.as_str(), connections, "tunnel status");
                }
                if watched.last_error.take().is_some() {
                    tracing::info!(tunnel_id = %id, "Cloudflare API answers again");
                }
                if watched.config.name.is_none() && !name.is_empty() {
                    ts.name = name;
                }
                ts.status = Some(status);
                ts.connections = Some(connections);
                ts.last_check = Some(now);
                Some(status)
            }
            Reply::Failed { code, detail } => {
                if watched.last_error.as_deref() != Some(code.as_str()) {
                    tracing::warn!(tunnel_id = %id, code = %code, "Cloudflare API gave no status (counted as unknown, never as down): {detail}");
                } else {
                    tracing::debug!(tunnel_id = %id, code = %code, "Cloudflare API gave no status: {detail}");
                }
                *snap.api_errors.entry(code.clone()).or_default() += 1;
                watched.last_error = Some(code);
                None
            }
        }
    }

    /// Feeds the failover machine of tunnel `i` and carries out its decision.
    async fn failover(&mut self, i: usize, check: Check, snap: &mut Snapshot) {
        let Some((_, systemctl)) = &self.options.failover else {
            return;
        };
        let watched = &mut self.tunnels[i];
        let (Some(machine), Some(unit)) = (&mut watched.failover, &watched.config.failover_unit)
        else {
            return;
        };
        let id = watched.config.tunnel_id.clone();
        let Some(Decision { action, reason }) = machine.on_check(check) else {
            return;
        };
        let outcome = match action {
            Action::Start => {
                let outcome = systemctl.start(unit).await;
                machine.started(matches!(outcome, Outcome::Ok | Outcome::AlreadyActive));
                outcome
            }
            Action::Stop => {
                let outcome = systemctl.stop(unit).await;
                machine.stopped(outcome == Outcome::Ok);
                outcome
            }
            Action::LeaveRunning => Outcome::Ok,
        };
        match &outcome {
            Outcome::Failed(err) => {
                tracing::error!(tunnel_id = %id, unit = %unit, action = action.as_str(), reason = %reason, "failover action failed: {err}")
            }
            Outcome::AlreadyActive => {
                tracing::warn!(tunnel_id = %id, unit = %unit, action = action.as_str(), reason = %reason, "failover: unit already active, not started again")
            }
            Outcome::Ok => {
                tracing::warn!(tunnel_id = %id, unit = %unit, action = action.as_str(), reason = %reason, "failover action done")
            }
        }
        *snap
            .failover_actions
            .entry((id, action.as_str(), outcome.label()))
            .or_default() += 1;
        snap.tunnels[i].failover_active = Some(machine.is_active());
    }

    /// `readyConnections` of cloudflared's `/ready`; 0 when it cannot be read (nothing ready).
    async fn cloudflared_ready(&self, url: &str) -> u64 {
        let url = format!("{}/ready", url.trim_end_matches('/'));
        let call = async {
            // /ready answers 503 with the same body when no connection is ready.
            let body = self.client.get(&url).send().await?.bytes().await?;
            Ok::<_, reqwest::Error>(body)
        };
        let body = match tokio::time::timeout(self.options.timeout, call).await {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => {
                tracing::warn!(url = %url, "cloudflared /ready: {}", e.without_url());
                return 0;
            }
            Err(_) => {
                tracing::warn!(url = %url, "cloudflared /ready: no answer within {:?}", self.options.timeout);
                return 0;
            }
        };
        match serde_json::from_slice::<Ready>(&body) {
            Ok(r) => r.ready_connections,
            Err(e) => {
                tracing::warn!(url = %url, "cloudflared /ready: not its JSON ({e})");
                0
            }
        }
    }
}

/// The poller running on its own thread (with its own small runtime, so it works whatever
/// runtime — or none — the scrapes run on). Dropping it stops the thread at once.
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    pub fn spawn(mut poller: Poller, interval: Duration) -> std::io::Result<Background> {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(2)
            .build()?;
        let thread = std::thread::Builder::new()
            .name("tunnel-poller".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut ticks = tokio::time::interval(interval);
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            _ = ticks.tick() => {}
                        }
                        tokio::select! {
                            _ = &mut stopped => break,
                            _ = poller.check_once() => {}
                        }
                    }
                });
                runtime.shutdown_background();
            })?;
        Ok(Background {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
