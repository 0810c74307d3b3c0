//! The optional host pack (`rules: {host_pack: true}` or `--host-pack`): the usual host rules
//! Prometheus users expect beyond seed 002's (disk filling up, inodes, OOM kills, reboots, clock,
//! network errors, failed systemd units). Off by default: some read metrics only node_exporter
//! has today, and a fresh VM is "just rebooted". Thresholds and `for` are fixed, like the
//! tunnel rules; unit tests are in prometheus/tests/host/.

use super::{Group, Rule, Severity};
use crate::duration::PromDuration;

/// Same as HighDisk: RAM-backed filesystems and container layers are not disks you can fill.
const DISK: &str = r#"fstype!~"tmpfs|overlay""#;

fn network_errors(alert: &'static str, direction: &str) -> Rule {
    Rule {
        alert,
        // A share of the packets, so a busy interface with a few errors stays quiet.
        expr: format!(
            "rate(node_network_{direction}_errs_total[5m]) / rate(node_network_{direction}_packets_total[5m]) > 0.01"
        ),
        for_: PromDuration::secs(600),
        severity: Severity::Warning,
        summary: format!(
            "Network {direction} errors on {{{{ $labels.agent }}}} ({{{{ $labels.device }}}})"
        ),
        description: format!(
            "{{{{ $value | humanizePercentage }}}} of the packets {} {{{{ $labels.device }}}} on {{{{ $labels.agent }}}} have been errors (threshold 1%) for more than 10m.",
            if direction == "receive" {
                "received on"
            } else {
                "sent from"
            }
        ),
        threshold: None,
    }
}

pub fn group() -> Group {
    Group {
        name: "vpsmon-host",
        rules: vec![
            Rule {
                alert: "DiskFullIn24h",
                // node-mixin's NodeFilesystemSpaceFillingUp: the last 6 hours' trend reaches 0
                // within 24 hours, on a filesystem already less than 40% free (so a big disk
                // slowly filling is not news).
                expr: format!(
                    "predict_linear(node_filesystem_avail_bytes{{{DISK}}}[6h], 24 * 3600) < 0 and node_filesystem_avail_bytes{{{DISK}}} / node_filesystem_size_bytes{{{DISK}}} < 0.4 and node_filesystem_readonly == 0"
                ),
                for_: PromDuration::secs(3600),
                severity: Severity::Warning,
                summary: "Disk {{ $labels.mountpoint }} on {{ $labels.agent }} fills up within 24h".into(),
                description: "At the rate of the last 6 hours, filesystem {{ $labels.mountpoint }} ({{ $labels.device }}) on {{ $labels.agent }} will be full within 24 hours (less than 40% free; trend held for more than 1h).".into(),
                threshold: None,
            },
            Rule {
                alert: "InodesNearlyExhausted",
                expr: format!(
                    "node_filesystem_files_free{{{DISK}}} / node_filesystem_files{{{DISK}}} < 0.05 and node_filesystem_readonly == 0"
                ),
                for_: PromDuration::secs(900),
                severity: Severity::Warning,
                summary: "Inodes nearly exhausted on {{ $labels.mountpoint }} ({{ $labels.agent }})".into(),
                description: "Filesystem {{ $labels.mountpoint }} ({{ $labels.device }}) on {{ $labels.agent }} has only {{ $value | humanizePercentage }} of its inodes free (threshold 5%) for more than 15m: no new file can be created once they run out, whatever the free space.".into(),
                threshold: None,
            },
            Rule {
                alert: "OOMKill",
                // A counter reset (reboot) counts as no kill: increase() handles resets.
                expr: "increase(node_vmstat_oom_kill[5m]) > 0".into(),
                for_: PromDuration::secs(0),
                severity: Severity::Warning,
                summary: "OOM kill on {{ $labels.agent }}".into(),
                description: "The kernel's out-of-memory killer ended a process on {{ $labels.agent }} in the last 5 minutes (node_vmstat_oom_kill).".into(),
                threshold: None,
            },
            Rule {
                alert: "HostRebooted",
                // Uptime, not changes(node_boot_time_seconds): a reboot that outlasts the
                // window would show no change, and btime can move by a second with NTP.
                expr: "time() - node_boot_time_seconds < 600".into(),
                for_: PromDuration::secs(0),
                severity: Severity::Warning,
                summary: "{{ $labels.agent }} rebooted".into(),
                description: "{{ $labels.agent }} booted {{ $value | humanizeDuration }} ago. If nobody rebooted it, look for a crash, a power loss or the provider's maintenance.".into(),
                threshold: None,
            },
            Rule {
                alert: "ClockSkew",
                expr: "abs(node_timex_offset_seconds) > 0.05".into(),
                for_: PromDuration::secs(600),
                severity: Severity::Warning,
                summary: "Clock skew on {{ $labels.agent }}".into(),
                description: "The clock of {{ $labels.agent }} is off by {{ $value | humanizeDuration }} (threshold 50ms) for more than 10m: check its NTP client.".into(),
                threshold: None,
            },
            Rule {
                alert: "ClockNotSynchronised",
                expr: "node_timex_sync_status == 0".into(),
                for_: PromDuration::secs(600),
                severity: Severity::Warning,
                summary: "Clock not synchronised on {{ $labels.agent }}".into(),
                description: "The kernel reports the clock of {{ $labels.agent }} unsynchronised for more than 10m: no NTP client (chrony, systemd-timesyncd) keeps it in time.".into(),
                threshold: None,
            },
            network_errors("NetworkReceiveErrors", "receive"),
            network_errors("NetworkTransmitErrors", "transmit"),
            Rule {
                alert: "SystemdUnitFailed",
                // node_exporter's systemd collector (--collector.systemd).
                expr: r#"node_systemd_unit_state{state="failed"} == 1"#.into(),
                for_: PromDuration::secs(300),
                severity: Severity::Warning,
                summary: "Unit {{ $labels.name }} failed on {{ $labels.agent }}".into(),
                description: "systemd unit {{ $labels.name }} on {{ $labels.agent }} has been in the failed state for more than 5m (systemctl status {{ $labels.name }}).".into(),
                threshold: None,
            },
        ],
    }
}
