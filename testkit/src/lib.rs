//! Test support shared by vpsmon's crates.
//!
//! - [`procs`]: run real binaries (Prometheus, Alertmanager, node_exporter, our own) on loopback,
//!   wait until they answer, and kill them when the test ends.

pub mod procs;
