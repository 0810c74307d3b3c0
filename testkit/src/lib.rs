//! Test support shared by vpsmon's crates.
//!
//! - [`procs`]: run real binaries (Prometheus, Alertmanager, node_exporter, our own) on loopback,
//!   wait until they answer, and kill them when the test ends.
//! - [`debian`]: a minimal Debian root (debootstrap minbase), cached as a tarball.
//! - [`heartbeat`]: a healthchecks.io-style heartbeat URL that counts its pings.
//! - [`idle`]: idle client connections, and a server under systemd's open-files limit.
//! - [`promstack`]: real exporters + Prometheus + Alertmanager on loopback, one call.
//! - [`fleet_history`]: a thousand agents' last hour as TSDB blocks (promtool), for Prometheus.
//! - [`telegram`], [`slack`], [`webhook`] (ntfy-style), [`cloudflare`]: loopback fakes of the remote services a test cannot reach, speaking
//!   their real wire formats, errors included, with scripted faults (429, 5xx, timeouts).
//!   testkit/README.md lists every behaviour and where it comes from.

pub mod cloudflare;
pub mod debian;
pub mod fleet_history;
pub mod heartbeat;
pub mod idle;
pub mod procs;
pub mod promstack;
mod server;
pub mod slack;
pub mod telegram;
pub mod webhook;

pub use server::Until;
