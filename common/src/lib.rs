//! What vpsmon's binaries share, kept once: the config idiom (flag > env > file > default, each
//! value naming its source), logging set-up, graceful shutdown, secrets that
//! never print themselves, the constant-time credential checks in front of HTTP endpoints, the
//! HTTP server loop with its connection limits, and the webhook contract between gen-config's
//! alertmanager.yml and the receiver, and the
//! signature on action requests that the bot makes and the exporter checks.

pub mod action_sig;
pub mod auth;
pub mod config;
pub mod secret;
pub mod serve;
pub mod shutdown;
pub mod telemetry;
pub mod webhook;

pub use secret::{Secret, SecretError, SecretFile};
