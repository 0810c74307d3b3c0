//! vpsmon-exporter: node_exporter-compatible host metrics read straight from /proc.
//!
//! `collector` reads and encodes the metrics; `http` serves them; `tunnel` is the Cloudflare
//! Tunnel poller and failover, a service whose snapshot the tunnel collector renders; `actions`
//! runs the signed, allowlisted commands of `--actions.config` (off by default).

pub mod actions;
pub mod cli;
pub mod collector;
pub mod http;
pub mod tunnel;
