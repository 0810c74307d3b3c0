//! The pipeline's heartbeat (issue 15): an alert that always fires, so that its absence says
//! Prometheus, its rules, Alertmanager or the route to the receiver stopped working. The
//! receiver takes it as a heartbeat and never shows it (receiver/delivery/src/watchdog.rs).

use super::{Group, Rule, Severity};
use crate::duration::PromDuration;
use vpsmon_common::webhook::WATCHDOG_ALERTNAME;

pub fn group() -> Group {
    Group {
        name: "vpsmon-watchdog",
        rules: vec![Rule {
            alert: WATCHDOG_ALERTNAME,
            expr: "vector(1)".into(),
            for_: PromDuration::secs(0),
            severity: Severity::None,
            summary: "The monitoring pipeline's heartbeat: always firing, on purpose".into(),
            description: "This alert always fires, so that it reaches vpsmon-receiver on a short repeat through Prometheus and Alertmanager. The receiver takes it as a heartbeat and never shows it; when it stops arriving, the receiver reports the monitoring pipeline broken straight to every destination.".into(),
            threshold: None,
        }],
    }
}
