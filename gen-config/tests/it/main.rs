//! vpsmon-gen-config's integration tests, one binary (ripgrep's layout): the real binary is run
//! on agent lists in temp dirs, and its output is checked by the real promtool, amtool and
//! Prometheus from Debian's packages.

mod check;
mod parse;
mod prometheus;
mod promtool;
mod rules;
mod support;
