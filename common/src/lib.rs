//! What vpsmon's binaries share, kept once: logging set-up, graceful shutdown, secrets that
//! never print themselves, and the constant-time credential checks in front of HTTP endpoints.

pub mod auth;
pub mod secret;
pub mod shutdown;
pub mod telemetry;

pub use secret::{Secret, SecretError, SecretFile};
