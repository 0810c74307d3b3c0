//! Everything the generated files depend on besides the agents: intervals, thresholds, addresses.
//! Values come from a flag or env var, else agents.yml's `rules:`, else the profile's default.

use crate::duration::PromDuration;
use crate::version::Version;

/// A set of defaults. `fast` is for end-to-end tests: every loop runs in about a second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    #[default]
    Default,
    Fast,
}

/// Alert thresholds (percent, or load per CPU) and how long each must hold (`for`).
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    pub agent_down_for: PromDuration,
    pub cpu_percent: f64,
    pub cpu_for: PromDuration,
    pub memory_percent: f64,
    pub memory_for: PromDuration,
    pub disk_percent: f64,
    pub disk_for: PromDuration,
    pub load_per_cpu: f64,
    pub load_for: PromDuration,
    pub collector_failed_for: PromDuration,
    /// MonitorCutOff: the share of agents down at once (percent) ...
    pub cutoff_percent: f64,
    /// ... and how many at least, so two small agents down of three is still two AgentDowns.
    pub cutoff_min_agents: u32,
    /// The `rate()` window for CPU usage.
    pub rate_window: PromDuration,
}

/// How often things happen in Prometheus and Alertmanager.
#[derive(Clone, Debug, PartialEq)]
pub struct Intervals {
    pub scrape_interval: PromDuration,
    pub evaluation_interval: PromDuration,
    pub file_sd_refresh: PromDuration,
    pub group_wait: PromDuration,
    pub group_interval: PromDuration,
    pub repeat_interval: PromDuration,
    /// How often the Watchdog heartbeat reaches the receiver (its route's `repeat_interval`).
    pub watchdog_interval: PromDuration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub intervals: Intervals,
    pub scrape_timeout: PromDuration,
    pub rules: Thresholds,
    /// One per shard (or one when not sharded).
    pub prometheus_addresses: Vec<String>,
    pub alertmanager_addresses: Vec<String>,
    pub receiver_url: String,
    pub receiver_metrics_address: String,
    pub receiver_token_file: Option<String>,
    pub prometheus_version: Version,
    pub shards: u32,
    pub remote_write: Vec<String>,
    /// The agent list's file name, quoted in the generated files' header.
    pub source_name: String,
    /// Add the host rule pack (`rules::host`).
    pub host_pack: bool,
    /// The user's rule files as `rule_files` names them (`rules.d/x.yml`); filled once they
    /// passed promtool.
    pub user_rule_files: Vec<String>,
}

/// The values a profile starts from.
pub struct ProfileDefaults {
    pub intervals: Intervals,
    pub rules: Thresholds,
}

const fn s(secs: u64) -> PromDuration {
    PromDuration::secs(secs)
}

impl Profile {
    pub fn defaults(self) -> ProfileDefaults {
        match self {
            // Seed 002's thresholds; intervals are Prometheus' and Alertmanager's usual ones.
            Profile::Default => ProfileDefaults {
                intervals: Intervals {
                    scrape_interval: s(15),
                    evaluation_interval: s(15),
                    file_sd_refresh: s(300),
                    group_wait: s(30),
                    group_interval: s(300),
                    repeat_interval: s(4 * 3600),
                    watchdog_interval: s(60),
                },
                rules: Thresholds {
                    agent_down_for: s(60),
                    cpu_percent: 80.0,
                    cpu_for: s(120),
                    memory_percent: 85.0,
                    memory_for: s(120),
                    disk_percent: 90.0,
                    disk_for: s(60),
                    load_per_cpu: 1.5,
                    load_for: s(300),
                    collector_failed_for: s(300),
                    cutoff_percent: 50.0,
                    cutoff_min_agents: 3,
                    rate_window: s(120),
                },
            },
            // End-to-end tests: a fault becomes a notification within seconds. repeat_interval
            // stays long so a test that expects one message never sees a repeat.
            Profile::Fast => ProfileDefaults {
                intervals: Intervals {
                    scrape_interval: s(1),
                    evaluation_interval: s(1),
                    file_sd_refresh: s(5),
                    group_wait: s(1),
                    group_interval: s(2),
                    repeat_interval: s(3600),
                    // Seconds, so a test of the receiver's watchdog timeout takes seconds too.
                    watchdog_interval: s(2),
                },
                rules: Thresholds {
                    agent_down_for: s(5),
                    cpu_percent: 80.0,
                    cpu_for: s(5),
                    memory_percent: 85.0,
                    memory_for: s(5),
                    disk_percent: 90.0,
                    disk_for: s(5),
                    load_per_cpu: 1.5,
                    load_for: s(5),
                    collector_failed_for: s(5),
                    cutoff_percent: 50.0,
                    cutoff_min_agents: 3,
                    rate_window: s(10),
                },
            },
        }
    }
}

/// A usage threshold in percent; 0 and 100 would make the alert meaningless.
pub fn check_percent(v: f64) -> Result<f64, String> {
    if v.is_finite() && v > 0.0 && v < 100.0 {
        Ok(v)
    } else {
        Err(format!(
            "invalid percentage {v}: expected a number between 0 and 100 (exclusive)"
        ))
    }
}

/// Load per CPU: any positive number.
pub fn check_load(v: f64) -> Result<f64, String> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!(
            "invalid load per CPU {v}: expected a positive number"
        ))
    }
}

/// MonitorCutOff's minimum number of agents down: one agent down is AgentDown's case.
pub fn check_min_agents(v: u32) -> Result<u32, String> {
    if v >= 2 {
        Ok(v)
    } else {
        Err(format!("invalid number of agents {v}: expected 2 or more"))
    }
}

impl Settings {
    /// Cross-field checks that a single flag's parser cannot make.
    pub fn validate(&self) -> Result<(), String> {
        let i = &self.intervals;
        for (name, d) in [
            ("--scrape-interval", i.scrape_interval),
            ("--scrape-timeout", self.scrape_timeout),
            ("--evaluation-interval", i.evaluation_interval),
            ("--file-sd-refresh", i.file_sd_refresh),
            ("--rate-window", self.rules.rate_window),
            ("--group-wait", i.group_wait),
            ("--group-interval", i.group_interval),
            ("--repeat-interval", i.repeat_interval),
        ] {
            if d.millis() == 0 {
                return Err(format!("{name} must be longer than 0s"));
            }
        }
        if self.scrape_timeout > i.scrape_interval {
            return Err(format!(
                "--scrape-timeout {} is longer than --scrape-interval {}: Prometheus rejects that",
                self.scrape_timeout, i.scrape_interval
            ));
        }
        if self.rules.rate_window.millis() < 2 * i.scrape_interval.millis() {
            return Err(format!(
                "--rate-window {} must cover at least two scrapes (--scrape-interval {}), or rate() has nothing to compute",
                self.rules.rate_window, i.scrape_interval
            ));
        }
        if self.shards == 0 {
            return Err("--shards must be at least 1".into());
        }
        let window = self.dedup_window();
        if window.millis() > vpsmon_common::webhook::DEDUP_WINDOW_MAX.as_millis() as u64 {
            return Err(format!(
                "--group-interval {} is too long: the receiver's de-duplication window (max(group_interval, 10s) + 15s per Alertmanager) would be {window}, over its limit of 24h",
                i.group_interval
            ));
        }
        let min_repeat = to_prom(vpsmon_common::webhook::min_repeat_interval(
            std::time::Duration::from_millis(window.millis()),
        ));
        if i.repeat_interval < min_repeat {
            return Err(format!(
                "--repeat-interval {} must be at least {min_repeat}: the receiver takes an identical notification within {window} \
                 (max(--group-interval {}, 10s) + 15s per Alertmanager) for Alertmanager's retry, so a reminder sooner than that \
                 would be dropped as a duplicate; raise --repeat-interval or lower --group-interval",
                i.repeat_interval, i.group_interval
            ));
        }
        Ok(())
    }

    /// How long the receiver treats an identical notification as a retry of one it delivered:
    /// written into the webhook URL, next to the `repeat_interval` it must stay below.
    pub fn dedup_window(&self) -> PromDuration {
        let members = u32::try_from(self.alertmanager_addresses.len()).unwrap_or(u32::MAX);
        to_prom(vpsmon_common::webhook::dedup_window(
            std::time::Duration::from_millis(self.intervals.group_interval.millis()),
            members,
        ))
    }
}

fn to_prom(d: std::time::Duration) -> PromDuration {
    PromDuration(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
