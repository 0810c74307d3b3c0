//! vpsmon-exporter: node_exporter-compatible host metrics read straight from /proc.
//!
//! `collector` reads and encodes the metrics; the HTTP side lives in its own modules.

pub mod cli;
pub mod collector;
pub mod http;
