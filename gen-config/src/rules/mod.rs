//! The alert rules, one file per rule group. Adding a group (issue 7's logins and tunnel rules)
//! means one new file with a `group(&Thresholds) -> Group` function and one line in [`groups`].
//!
//! Every expression uses node_exporter's metric names and keeps the target labels (so `agent`
//! is on every alert): aggregations use `without (cpu, mode)`, never `by (...)`. The exceptions
//! are about the whole fleet or pipeline, not one agent: MonitorCutOff and the Watchdog.

mod availability;
pub mod cutoff;
pub mod host;
mod logins;
mod resources;
mod tunnel;
pub mod user;
mod watchdog;

use crate::duration::PromDuration;
use crate::settings::Thresholds;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Critical,
    Warning,
    Info,
    /// Not a problem at all (the Watchdog): nobody is to be told.
    None,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::None => "none",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub alert: &'static str,
    pub expr: String,
    pub for_: PromDuration,
    pub severity: Severity,
    /// Alertmanager templates; they name the agent, the humanized value and the threshold.
    pub summary: String,
    pub description: String,
    /// The number the expression compares with, in the rule's own unit (percent, load per
    /// CPU), written as the `vpsmon_threshold` annotation. The receiver's dashboard and bot
    /// read it back from Prometheus' `/api/v1/rules`, so they colour at the threshold the
    /// loaded rule alerts at.
    pub threshold: Option<f64>,
}

/// The annotation that carries [`Rule::threshold`]; the receiver reads it by this name.
pub const THRESHOLD_ANNOTATION: &str = "vpsmon_threshold";

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub name: &'static str,
    pub rules: Vec<Rule>,
}

/// All rule groups, in the order they are written.
pub fn groups(t: &Thresholds) -> Vec<Group> {
    vec![
        availability::group(t),
        cutoff::group(t),
        resources::group(t),
        logins::group(),
        tunnel::group(),
        watchdog::group(),
    ]
}

/// A percent threshold as the ratio PromQL compares with: 80 -> "0.8", 33.3 -> "0.333".
pub(crate) fn ratio(percent: f64) -> String {
    trim_number(format!("{:.10}", percent / 100.0))
}

/// A number without float noise or trailing zeros: 1.5 -> "1.5", 2.0 -> "2".
pub(crate) fn number(v: f64) -> String {
    trim_number(format!("{v:.10}"))
}

fn trim_number(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_print_without_float_noise() {
        assert_eq!(ratio(80.0), "0.8");
        assert_eq!(ratio(33.3), "0.333");
        assert_eq!(ratio(85.5), "0.855");
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(80.0), "80");
    }
}
