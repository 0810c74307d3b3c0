//! The receiver's fleet view: what the fleet looks like now, asked of Prometheus and
//! Alertmanager over their HTTP APIs.
//!
//! It owns the API clients ([`promapi`]), the whole fleet in a few queries ([`fleet`]), charts
//! ([`chart`]), the web dashboard ([`dashboard`]), the interactive Telegram bot ([`bot`]), the
//! loaded alert rules' thresholds both colour with ([`thresholds`]) and
//! [`alert_extras`], what it adds to delivery's alert messages (a chart photo, silence buttons)
//! through delivery's hook. It may import delivery (`vpsmon-receiver-delivery`: the
//! configuration, the payload, time and count formatting, the server's origin check), the
//! shared Telegram layer and `vpsmon-common`; delivery never imports it.

pub mod action_client;
pub mod alert_extras;
pub mod bot;
pub mod chart;
pub mod dashboard;
pub mod fleet;
pub mod promapi;
pub mod thresholds;
