//! The thresholds that colour the dashboard's cards and the bot's charts: those of the alert
//! rules Prometheus actually loaded (issue 16), so a card turns red where the alert fires.
//!
//! vpsmon-gen-config writes each resource rule's threshold as its `vpsmon_threshold`
//! annotation (HighCPU `"70"` after `--cpu-threshold 70`). They are read from
//! `GET /api/v1/rules?type=alert`, kept for [`CACHE_FOR`], and each one that no loaded rule
//! carries (no rules, hand-written rules, Prometheus unreachable) is the configured
//! `dashboard.thresholds` value.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use vpsmon_receiver_delivery::config::dashboard::Thresholds;

use crate::fleet::series::Metric;
use crate::promapi::PrometheusClient;
pub use crate::promapi::prometheus::{LoadedRule, RuleGroup, RulesData};

/// The annotation gen-config writes (`vpsmon_gen_config::rules::THRESHOLD_ANNOTATION`).
pub const ANNOTATION: &str = "vpsmon_threshold";

/// How long one answer is used: a page refresh every few seconds asks Prometheus' rules at most
/// this often, and a reloaded rule shows within it.
pub const CACHE_FOR: Duration = Duration::from_secs(30);

/// The thresholds the loaded rules carry, each missing or unreadable one from `fallback`.
/// A rule is recognised by its name (gen-config's resource rules) and its annotation, so a
/// user's own HighCPU without the annotation changes nothing.
pub fn from_rules(data: &RulesData, fallback: Thresholds) -> Thresholds {
    let mut t = fallback;
    for rule in data.groups.iter().flat_map(|g| &g.rules) {
        let slot = match rule.name.as_str() {
            "HighCPU" => &mut t.cpu,
            "HighMemory" => &mut t.memory,
            "HighDisk" => &mut t.disk,
            "HighLoad" => &mut t.load,
            _ => continue,
        };
        let Some(raw) = rule.annotations.get(ANNOTATION) else {
            continue;
        };
        match raw.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => *slot = v,
            _ => tracing::warn!(
                rule = %rule.name,
                value = %raw,
                "the rule's {ANNOTATION} annotation is not a positive number: using the configured threshold"
            ),
        }
    }
    t
}

/// The threshold a chart of `metric` draws; the network has none.
pub fn for_metric(t: &Thresholds, metric: Metric) -> Option<f64> {
    match metric {
        Metric::Cpu => Some(t.cpu),
        Metric::Memory => Some(t.memory),
        Metric::Disk => Some(t.disk),
        Metric::Load => Some(t.load),
        Metric::Network => None,
    }
}

/// The loaded rules' thresholds, asked of Prometheus at most every [`CACHE_FOR`].
#[derive(Debug)]
pub struct RuleThresholds {
    prom: PrometheusClient,
    fallback: Thresholds,
    cache: Mutex<Option<(Instant, Thresholds)>>,
}

impl RuleThresholds {
    /// `fallback` is the configured `dashboard.thresholds`.
    pub fn new(prom: PrometheusClient, fallback: Thresholds) -> RuleThresholds {
        RuleThresholds {
            prom,
            fallback,
            cache: Mutex::new(None),
        }
    }

    pub async fn get(&self) -> Thresholds {
        if let Some((at, t)) = *self.lock()
            && at.elapsed() < CACHE_FOR
        {
            return t;
        }
        let t = match self.prom.alert_rules().await {
            Ok(data) => from_rules(&data, self.fallback),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the alert rules' thresholds: using the configured ones");
                self.fallback
            }
        };
        *self.lock() = Some((Instant::now(), t));
        t
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Thresholds)>> {
        // The cache holds plain values: a panic elsewhere cannot leave it half-written.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prometheus 2.42's `/api/v1/rules?type=alert` data for gen-config's resource group run
    /// with `--cpu-threshold 70 --load-threshold 2` (trimmed to the fields read, plus a few).
    const LOADED: &str = r#"{"groups":[
      {"name":"vpsmon-availability","file":"/etc/prometheus/alert.rules.yml","rules":[
        {"state":"inactive","name":"AgentDown","query":"up{agent!=\"\"} == 0","duration":60,
         "labels":{"severity":"critical"},"annotations":{"summary":"Agent {{ $labels.agent }} is down"},
         "alerts":[],"health":"ok","type":"alerting"}]},
      {"name":"vpsmon-resources","file":"/etc/prometheus/alert.rules.yml","rules":[
        {"state":"inactive","name":"HighCPU","query":"x > 0.7","duration":120,"labels":{"severity":"warning"},
         "annotations":{"summary":"High CPU","vpsmon_threshold":"70"},"alerts":[],"health":"ok","type":"alerting"},
        {"state":"inactive","name":"HighMemory","query":"x > 0.85","duration":120,"labels":{},
         "annotations":{"summary":"High memory","vpsmon_threshold":"85"},"alerts":[],"health":"ok","type":"alerting"},
        {"state":"inactive","name":"HighLoad","query":"x > 2","duration":300,"labels":{},
         "annotations":{"vpsmon_threshold":"2"},"alerts":[],"health":"ok","type":"alerting"}]}]}"#;

    const CONFIGURED: Thresholds = Thresholds {
        cpu: 81.0,
        memory: 82.0,
        disk: 83.0,
        load: 4.0,
    };

    #[test]
    fn the_loaded_rules_thresholds_win_and_a_missing_rule_keeps_the_configured_one() {
        let data: RulesData = serde_json::from_str(LOADED).unwrap();
        assert_eq!(
            from_rules(&data, CONFIGURED),
            Thresholds {
                cpu: 70.0,
                memory: 85.0,
                // No HighDisk rule is loaded.
                disk: 83.0,
                load: 2.0,
            }
        );
    }

    #[test]
    fn no_rules_or_rules_without_a_usable_annotation_keep_the_configured_thresholds() {
        let empty: RulesData = serde_json::from_str(r#"{"groups":[]}"#).unwrap();
        assert_eq!(from_rules(&empty, CONFIGURED), CONFIGURED);
        // A user's own HighCPU without the annotation, and broken or non-positive values.
        let odd: RulesData = serde_json::from_str(
            r#"{"groups":[{"name":"mine","rules":[
              {"name":"HighCPU","annotations":{"summary":"mine"}},
              {"name":"HighMemory","annotations":{"vpsmon_threshold":"lots"}},
              {"name":"HighDisk","annotations":{"vpsmon_threshold":"-5"}},
              {"name":"HighLoad","annotations":{"vpsmon_threshold":"NaN"}},
              {"name":"Other","annotations":{"vpsmon_threshold":"1"}}]}]}"#,
        )
        .unwrap();
        assert_eq!(from_rules(&odd, CONFIGURED), CONFIGURED);
    }

    #[tokio::test]
    async fn an_unreachable_prometheus_gives_the_configured_thresholds() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let prom =
            PrometheusClient::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
        let t = RuleThresholds::new(prom, CONFIGURED);
        assert_eq!(t.get().await, CONFIGURED);
    }
}
