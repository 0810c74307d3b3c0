//! vpsmon-receiver: Alertmanager's webhook in, Telegram / Slack / console messages out, and
//! the fleet view beside it. This crate only wires its two parts together, kept apart by the
//! compiler as crates of their own:
//!
//! - delivery (`vpsmon-receiver-delivery`, `receiver/delivery/`): [`config`], [`payload`],
//!   [`render`], [`notify`] (one folder per integration), [`server`], [`metrics`], [`watchdog`];
//! - the fleet view (`vpsmon-receiver-fleet`, `receiver/fleet/`): [`promapi`], [`fleet`],
//!   [`chart`], [`dashboard`], [`bot`], and the additions to alert messages
//!   ([`vpsmon_receiver_fleet::alert_extras`]);
//! - the Telegram Bot API layer both use (`vpsmon-receiver-telegram`, `receiver/telegram/`).
//!
//! Delivery does not depend on the fleet view; [`state`] hands it the fleet view's additions to
//! Telegram messages (a [`notify::telegram::MessageHook`]) and its pages
//! ([`server::AppState::pages`]).

pub use vpsmon_receiver_delivery::{cli, config, metrics, notify, payload, server, watchdog};
pub use vpsmon_receiver_fleet::{bot, chart, dashboard, fleet, promapi};

/// Rendering: the shared part, and each integration's renderer from its folder.
pub mod render {
    pub use vpsmon_receiver_delivery::notify::console::render as console;
    pub use vpsmon_receiver_delivery::notify::console::render::console;
    pub use vpsmon_receiver_delivery::notify::slack::render as slack;
    pub use vpsmon_receiver_delivery::notify::slack::render::slack;
    pub use vpsmon_receiver_delivery::notify::telegram::html;
    pub use vpsmon_receiver_delivery::notify::telegram::render as telegram;
    pub use vpsmon_receiver_delivery::notify::telegram::render::telegram;
    pub use vpsmon_receiver_delivery::render::*;
}

use std::future::Future;
use std::sync::Arc;

use config::Config;
use metrics::Metrics;
use render::RenderContext;
use server::AppState;

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the webhook has no auth: anyone who reaches {addr} could post alerts. Configure a \
         bearer token (--webhook-token-file / WEBHOOK_TOKEN_FILE / webhook_auth.bearer_token_file \
         in receiver.yml, the same file as Alertmanager's http_config.authorization.credentials_file) \
         or basic auth (--webhook-basic-user and --webhook-basic-password-file / WEBHOOK_BASIC_USER \
         and WEBHOOK_BASIC_PASSWORD_FILE), or opt out explicitly with --webhook-no-auth \
         (RECEIVER_WEBHOOK_NO_AUTH=1)"
    )]
    NoWebhookAuth { addr: std::net::SocketAddr },
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Builds everything a loaded configuration describes: metrics, templates and the dispatcher.
pub fn state(config: Config) -> Result<AppState, StartError> {
    build(config).map(|(state, _)| state)
}

/// [`state`], and the watchdog that [`serve`] runs beside the server.
fn build(config: Config) -> Result<(AppState, Arc<watchdog::Watchdog>), StartError> {
    let config = Arc::new(config);
    let (metrics, mut registry) = Metrics::new();
    let render = Arc::new(RenderContext::from_config(&config, &metrics)?);
    let hook = vpsmon_receiver_fleet::alert_extras::AlertExtras::from_config(&config);
    let dispatcher = notify::dispatcher(config.clone(), render, metrics.notify.clone(), hook);
    let watchdog = Arc::new(watchdog::Watchdog::new(
        &config,
        dispatcher.clone(),
        &mut registry,
    ));
    let deliver = Arc::new(watchdog::Heartbeats {
        watchdog: watchdog.clone(),
        inner: dispatcher,
    });
    let state = AppState {
        bodies: Arc::new(server::BodyBudget::new(config.body_limit)),
        pages: dashboard::router(&config),
        config,
        deliver,
        metrics: Arc::new(metrics),
        registry: Arc::new(registry),
    };
    Ok((state, watchdog))
}

/// Binds the configured address and serves until `shutdown` completes. Refuses to start with
/// no webhook auth unless the operator opted out (`--webhook-no-auth`).
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let addr = config.listen;
    if config.webhook_auth.is_none() && !config.webhook_no_auth {
        return Err(StartError::NoWebhookAuth { addr });
    }
    for warning in config.start_warnings() {
        tracing::warn!("{warning}");
    }
    let (state, watchdog) = build(config)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    let c = &state.config;
    tracing::info!(
        listen = %listener.local_addr().map_or(addr, |a| a),
        default_route = ?c.default_route.iter().map(|d| d.label()).collect::<Vec<_>>(),
        routes = ?c.routes.keys().collect::<Vec<_>>(),
        timezone = %c.timezone,
        webhook_auth = c.webhook_auth.is_some(),
        watchdog_timeout = ?c.watchdog.timeout,
        heartbeat_url = ?c.watchdog.heartbeat_url.as_ref().map(watchdog::redact),
        "vpsmon-receiver listening"
    );
    // One stop signal for both the webhook server and the bot.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let bot = bot::TelegramBot::from_config(&state.config)
        .map(|b| tokio::spawn(bot::run(b, wait(stopped.clone()))));
    tokio::spawn(watchdog.run(wait(stopped.clone())));
    let server = server::run(listener, state, wait(stopped));
    tokio::pin!(server, shutdown);
    let result = tokio::select! {
        r = &mut server => r,
        _ = &mut shutdown => {
            let _ = stop.send(true);
            server.await
        }
    };
    let _ = stop.send(true);
    if let Some(bot) = bot {
        let _ = bot.await;
    }
    result.map_err(StartError::Serve)
}
