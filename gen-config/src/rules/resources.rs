//! CPU, memory, disk and load: seed 002's resource alerts.

use super::{Group, Rule, Severity, number, ratio};
use crate::settings::Thresholds;

/// Filesystems that say nothing about the disk filling up: RAM-backed or container layers.
const IGNORED_FSTYPES: &str = "tmpfs|overlay";

pub fn group(t: &Thresholds) -> Group {
    let pct = number;
    Group {
        name: "vpsmon-resources",
        rules: vec![
            Rule {
                alert: "HighCPU",
                // Busy = 1 - idle share, averaged over the agent's CPUs.
                expr: format!(
                    r#"(1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{{mode="idle"}}[{}]))) > {}"#,
                    t.rate_window,
                    ratio(t.cpu_percent)
                ),
                for_: t.cpu_for,
                severity: Severity::Warning,
                summary: "High CPU on {{ $labels.agent }}".into(),
                description: format!(
                    "CPU on {{{{ $labels.agent }}}} is {{{{ $value | humanizePercentage }}}} busy (threshold {}%) for more than {}.",
                    pct(t.cpu_percent),
                    t.cpu_for
                ),
                threshold: Some(t.cpu_percent),
            },
            Rule {
                alert: "HighMemory",
                expr: format!(
                    "(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) > {}",
                    ratio(t.memory_percent)
                ),
                for_: t.memory_for,
                severity: Severity::Warning,
                summary: "High memory use on {{ $labels.agent }}".into(),
                description: format!(
                    "Memory on {{{{ $labels.agent }}}} is {{{{ $value | humanizePercentage }}}} used (threshold {}%) for more than {}.",
                    pct(t.memory_percent),
                    t.memory_for
                ),
                threshold: Some(t.memory_percent),
            },
            Rule {
                alert: "HighDisk",
                expr: format!(
                    r#"(1 - node_filesystem_avail_bytes{{fstype!~"{f}"}} / node_filesystem_size_bytes{{fstype!~"{f}"}}) > {} and node_filesystem_readonly == 0"#,
                    ratio(t.disk_percent),
                    f = IGNORED_FSTYPES
                ),
                for_: t.disk_for,
                severity: Severity::Warning,
                summary: "Disk {{ $labels.mountpoint }} almost full on {{ $labels.agent }}".into(),
                description: format!(
                    "Filesystem {{{{ $labels.mountpoint }}}} ({{{{ $labels.device }}}}) on {{{{ $labels.agent }}}} is {{{{ $value | humanizePercentage }}}} full (threshold {}%) for more than {}.",
                    pct(t.disk_percent),
                    t.disk_for
                ),
                threshold: Some(t.disk_percent),
            },
            Rule {
                alert: "HighLoad",
                // Per CPU, so one threshold fits a 1-vCPU VPS and a 16-core host alike.
                expr: format!(
                    r#"node_load1 / count without (cpu, mode) (node_cpu_seconds_total{{mode="idle"}}) > {}"#,
                    number(t.load_per_cpu)
                ),
                for_: t.load_for,
                severity: Severity::Warning,
                summary: "High load on {{ $labels.agent }}".into(),
                description: format!(
                    "The 1-minute load average per CPU on {{{{ $labels.agent }}}} is {{{{ $value | printf \"%.2f\" }}}} (threshold {}) for more than {}.",
                    number(t.load_per_cpu),
                    t.load_for
                ),
                threshold: Some(t.load_per_cpu),
            },
        ],
    }
}
