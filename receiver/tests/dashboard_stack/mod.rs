//! The dashboard tests' stack: testkit's real exporters + Prometheus + Alertmanager, plus what
//! is particular to the receiver (its config pointing at them, the dashboard's own queries).

#![allow(dead_code)] // each test binary uses a different part

use std::ops::Deref;

use serde_json::{Value, json};
pub use testkit::fleet_history::SimAgent;
use testkit::promstack;
pub use testkit::promstack::Target;
use vpsmon_receiver::cli::Cli;
use vpsmon_receiver::config::Config;
use vpsmon_receiver::fleet::queries;
use vpsmon_receiver::fleet::series::Metric;

pub struct Stack(promstack::Stack);

impl Deref for Stack {
    type Target = promstack::Stack;
    fn deref(&self) -> &promstack::Stack {
        &self.0
    }
}

impl Stack {
    pub async fn start(targets: &[Target<'_>]) -> Stack {
        Stack(promstack::Stack::start(targets).await.unwrap())
    }

    /// Prometheus holding the last hour of `agents` (a TSDB written by promtool) up to `end`.
    pub async fn start_with_history(agents: &[SimAgent], end: i64) -> Stack {
        Stack(
            promstack::Stack::start_with_history(agents, end)
                .await
                .unwrap(),
        )
    }

    /// The receiver's config for this stack, plus `extra` YAML.
    pub fn config(&self, extra: &str) -> Config {
        config_for(
            &self.dir,
            &self.prometheus_url,
            &self.alertmanager_url,
            extra,
        )
    }

    /// Waits until Prometheus has `agents` agents, `with_cpu` of them with a CPU rate (two
    /// scrapes).
    pub async fn wait_scraped(&self, agents: usize, with_cpu: usize) {
        let cpu = Metric::Cpu.queries(queries::FLEET)[0].1.clone();
        self.0
            .wait_series(&[(queries::UP, agents), (&cpu, with_cpu)])
            .await
            .unwrap();
        // The dashboard shows the fleet as of a moment ago (`fleet::settled`): let that moment
        // have them too.
        tokio::time::sleep(vpsmon_receiver::fleet::SETTLE.to_std().unwrap()).await;
    }

    /// Puts one alert into Alertmanager, started `minutes_ago`.
    pub async fn post_alert(&self, labels: Value, annotations: Value, minutes_ago: i64) {
        let starts = chrono::Utc::now() - chrono::TimeDelta::minutes(minutes_ago);
        self.0
            .post_alerts(&json!([{
                "labels": labels,
                "annotations": annotations,
                "startsAt": starts.to_rfc3339(),
                "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up",
            }]))
            .await
            .unwrap();
    }

    /// Prometheus' own answer to `q` at `time`: the reference the dashboard must match.
    pub async fn query(&self, q: &str, time: f64) -> Vec<(String, f64)> {
        self.0.query(q, Some(time)).await.unwrap()
    }
}

pub fn config_for(dir: &tempfile::TempDir, prom: &str, am: &str, extra: &str) -> Config {
    let path = dir.path().join("receiver.yml");
    std::fs::write(
        &path,
        format!("prometheus_url: {prom}\nalertmanager_url: {am}\n{extra}"),
    )
    .unwrap();
    let cli = Cli {
        config: Some(path),
        ..Cli::default()
    };
    Config::load(&cli, &|_| None).unwrap()
}
