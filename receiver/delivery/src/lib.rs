//! The receiver's delivery: Alertmanager's webhook in, messages out to every destination of a
//! route, with the guarantees that nothing is lost, forged or flooded.
//!
//! It owns the configuration ([`config`], [`cli`]: one loader names every flag, variable and
//! file key, the fleet view's settings included as plain data), the webhook payload
//! ([`payload`]), rendering ([`render`]), the integrations and their dispatcher ([`notify`]), the
//! HTTP server ([`server`]), the one metrics registry ([`metrics`]) and the pipeline's heartbeat
//! ([`watchdog`]). It may import `vpsmon-common` and the shared Telegram layer
//! (`vpsmon-receiver-telegram`), never the fleet view: what the fleet view adds to a message (a
//! chart, silence buttons) comes in through [`notify::telegram::MessageHook`], and its pages
//! through [`server::AppState::pages`], both wired by the `vpsmon-receiver` binary.

pub mod cli;
pub mod config;
pub mod metrics;
pub mod notify;
pub mod payload;
pub mod render;
pub mod server;
pub mod watchdog;
