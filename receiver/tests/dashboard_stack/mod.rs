//! A real monitoring stack for the dashboard tests: Prometheus scraping real `vpsmon-exporter`s
//! (each target with its own `agent` label, possibly hostile), a real Alertmanager, and the
//! receiver's config pointing at them.

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::procs::{Proc, free_port, require_binary, wait_http_ok, workspace_bin};
use vpsmon_receiver::cli::Cli;
use vpsmon_receiver::config::Config;
use vpsmon_receiver::fleet::queries;
use vpsmon_receiver::fleet::series::Metric;

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub prometheus: Option<Proc>,
    pub prometheus_url: String,
    pub alertmanager: Option<Proc>,
    pub alertmanager_url: String,
    pub exporters: Vec<Proc>,
}

/// A scrape target: the agent label and whether a real exporter answers it.
pub struct Target<'a> {
    pub agent: &'a str,
    pub up: bool,
}

pub fn exporter_bin() -> PathBuf {
    let bin = workspace_bin("vpsmon-exporter");
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`, \
         which CI runs before the tests)",
        bin.display()
    );
    bin
}

impl Stack {
    /// Starts an exporter per `up` target, Prometheus (1 s scrapes) and Alertmanager.
    pub async fn start(targets: &[Target<'_>]) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let mut exporters = Vec::new();
        let mut scrape = String::new();
        for (i, t) in targets.iter().enumerate() {
            let port = free_port();
            if t.up {
                let mut cmd = Command::new(exporter_bin());
                cmd.args(["--web.listen-address", &format!("127.0.0.1:{port}")]);
                let mut p = Proc::spawn(
                    &format!("vpsmon-exporter {i}"),
                    cmd,
                    &dir.path().join(format!("exporter-{i}.log")),
                )
                .unwrap();
                wait_http_ok(
                    &mut p,
                    &format!("http://127.0.0.1:{port}/metrics"),
                    Duration::from_secs(30),
                )
                .await
                .unwrap();
                exporters.push(p);
            }
            // JSON strings are YAML double-quoted scalars: any label value survives.
            scrape.push_str(&format!(
                "  - job_name: agent-{i}\n    static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n        labels: {{agent: {}}}\n",
                serde_json::to_string(t.agent).unwrap()
            ));
        }
        let prom_port = free_port();
        let prom_yml = dir.path().join("prometheus.yml");
        std::fs::write(
            &prom_yml,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n{}",
                if scrape.is_empty() {
                    "  []\n".to_string()
                } else {
                    scrape
                }
            ),
        )
        .unwrap();
        let prometheus_url = format!("http://127.0.0.1:{prom_port}");
        let mut cmd = Command::new(require_binary(
            "PROMETHEUS_BIN",
            &["prometheus"],
            "prometheus",
        ));
        cmd.arg(format!("--config.file={}", prom_yml.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
        let mut prometheus =
            Proc::spawn("prometheus", cmd, &dir.path().join("prometheus.log")).unwrap();
        wait_http_ok(
            &mut prometheus,
            &format!("{prometheus_url}/-/ready"),
            Duration::from_secs(60),
        )
        .await
        .unwrap();

        let am_port = free_port();
        let am_yml = dir.path().join("alertmanager.yml");
        std::fs::write(
            &am_yml,
            "route: {receiver: \"null\"}\nreceivers: [{name: \"null\"}]\n",
        )
        .unwrap();
        let alertmanager_url = format!("http://127.0.0.1:{am_port}");
        let mut cmd = Command::new(require_binary(
            "ALERTMANAGER_BIN",
            &["prometheus-alertmanager", "alertmanager"],
            "prometheus-alertmanager",
        ));
        cmd.arg(format!("--config.file={}", am_yml.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=");
        let mut alertmanager =
            Proc::spawn("alertmanager", cmd, &dir.path().join("alertmanager.log")).unwrap();
        wait_http_ok(
            &mut alertmanager,
            &format!("{alertmanager_url}/-/ready"),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        Stack {
            dir,
            prometheus: Some(prometheus),
            prometheus_url,
            alertmanager: Some(alertmanager),
            alertmanager_url,
            exporters,
        }
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

    /// Waits until Prometheus has `n` agents with a CPU rate (two scrapes of each up target).
    pub async fn wait_scraped(&self, agents: usize, with_cpu: usize) {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/query", self.prometheus_url);
        let cpu_q = Metric::Cpu.queries(queries::FLEET)[0].1.clone();
        let count = |q: String| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let v: Value = client
                    .get(&url)
                    .query(&[("query", q)])
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                Some(v["data"]["result"].as_array()?.len())
            }
        };
        testkit::procs::eventually(
            Duration::from_secs(60),
            "Prometheus to scrape every agent",
            || async {
                let up = count(r#"up{agent!=""}"#.to_string()).await?;
                let cpu = count(cpu_q.clone()).await?;
                (up == agents && cpu == with_cpu).then_some(())
            },
        )
        .await
        .unwrap();
    }

    /// Puts an alert into Alertmanager as Prometheus would (POST /api/v2/alerts).
    pub async fn post_alert(&self, labels: Value, annotations: Value, minutes_ago: i64) {
        let starts = chrono::Utc::now() - chrono::TimeDelta::minutes(minutes_ago);
        let body = json!([{
            "labels": labels,
            "annotations": annotations,
            "startsAt": starts.to_rfc3339(),
            "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up",
        }]);
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.alertmanager_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }

    /// Asks Prometheus directly, at `time`: the reference the dashboard must match.
    pub async fn query(&self, q: &str, time: f64) -> Vec<(String, f64)> {
        let v: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.prometheus_url))
            .query(&[("query", q), ("time", &format!("{time:.3}"))])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["status"], "success", "{v}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["metric"]["agent"].as_str().unwrap_or("").to_string(),
                    s["value"][1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
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
