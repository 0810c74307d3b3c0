//! A real monitoring stack on loopback for integration tests: real `vpsmon-exporter`s, each a
//! Prometheus target with its own `agent` label (any string, hostile ones included), Prometheus
//! scraping them every second, and a real Alertmanager. Used by the receiver's dashboard tests;
//! made for the Telegram bot's tests too.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::fleet_history::{self, SimAgent};
use crate::procs::{Proc, eventually, free_port, require_binary, wait_http_ok, workspace_bin};

/// A scrape target: its `agent` label and whether a real exporter answers it (a target nobody
/// answers is a down agent).
pub struct Target<'a> {
    pub agent: &'a str,
    pub up: bool,
}

impl<'a> Target<'a> {
    /// An agent whose exporter runs.
    pub fn up(agent: &'a str) -> Target<'a> {
        Target { agent, up: true }
    }

    /// An agent Prometheus scrapes but nothing answers.
    pub fn down(agent: &'a str) -> Target<'a> {
        Target { agent, up: false }
    }
}

/// The running stack; everything is killed when it drops.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub prometheus: Proc,
    pub prometheus_url: String,
    pub alertmanager: Proc,
    pub alertmanager_url: String,
    pub exporters: Vec<Proc>,
}

/// The workspace's `vpsmon-exporter`; panics with the build command when it is missing.
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
    /// Starts an exporter per `up` target, Prometheus (1 s scrapes) and Alertmanager (no
    /// receivers: alerts are read back over its API).
    pub async fn start(targets: &[Target<'_>]) -> Result<Stack> {
        Stack::start_with(targets, &[]).await
    }

    /// As [`Stack::start`], with extra flags for some agents' exporters:
    /// `&[("web1", &["--collector.ports"])]`.
    pub async fn start_with(
        targets: &[Target<'_>],
        exporter_args: &[(&str, &[&str])],
    ) -> Result<Stack> {
        Stack::start_in(tempfile::tempdir()?, targets, exporter_args).await
    }

    /// Prometheus (scraping nothing) holding the last hour of `agents` up to `end` (unix
    /// seconds), written with promtool before it starts ([`fleet_history`]), and Alertmanager.
    pub async fn start_with_history(agents: &[SimAgent], end: i64) -> Result<Stack> {
        let dir = tempfile::tempdir()?;
        fleet_history::create_blocks(agents, end, &dir.path().join("tsdb"))?;
        Stack::start_in(dir, &[], &[]).await
    }

    async fn start_in(
        dir: tempfile::TempDir,
        targets: &[Target<'_>],
        exporter_args: &[(&str, &[&str])],
    ) -> Result<Stack> {
        let mut exporters = Vec::new();
        let mut scrape = String::new();
        for (i, t) in targets.iter().enumerate() {
            let port = free_port();
            if t.up {
                let mut cmd = Command::new(exporter_bin());
                cmd.args(["--web.listen-address", &format!("127.0.0.1:{port}")]);
                for (_, args) in exporter_args.iter().filter(|(a, _)| *a == t.agent) {
                    cmd.args(*args);
                }
                let log = dir.path().join(format!("exporter-{i}.log"));
                let mut p = Proc::spawn(&format!("vpsmon-exporter {i}"), cmd, &log)?;
                let url = format!("http://127.0.0.1:{port}/metrics");
                wait_http_ok(&mut p, &url, Duration::from_secs(30)).await?;
                exporters.push(p);
            }
            // A JSON string is a YAML double-quoted scalar: any label value survives.
            scrape.push_str(&format!(
                "  - job_name: agent-{i}\n    static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n        labels: {{agent: {}}}\n",
                serde_json::to_string(t.agent)?
            ));
        }
        if scrape.is_empty() {
            scrape = "  []\n".into();
        }
        let prom_port = free_port();
        let prom_yml = dir.path().join("prometheus.yml");
        std::fs::write(
            &prom_yml,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n{scrape}"
            ),
        )?;
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
        let mut prometheus = Proc::spawn("prometheus", cmd, &dir.path().join("prometheus.log"))?;
        let ready = format!("{prometheus_url}/-/ready");
        wait_http_ok(&mut prometheus, &ready, Duration::from_secs(60)).await?;

        let am_port = free_port();
        let am_yml = dir.path().join("alertmanager.yml");
        std::fs::write(
            &am_yml,
            "route: {receiver: \"null\"}\nreceivers: [{name: \"null\"}]\n",
        )?;
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
            Proc::spawn("alertmanager", cmd, &dir.path().join("alertmanager.log"))?;
        let ready = format!("{alertmanager_url}/-/ready");
        wait_http_ok(&mut alertmanager, &ready, Duration::from_secs(60)).await?;
        Ok(Stack {
            dir,
            prometheus,
            prometheus_url,
            alertmanager,
            alertmanager_url,
            exporters,
        })
    }

    /// Asks Prometheus `q` at `time` (unix seconds; now if None): `(agent label, value)` per
    /// series, values parsed exactly from Prometheus' strings.
    pub async fn query(&self, q: &str, time: Option<f64>) -> Result<Vec<(String, f64)>> {
        let mut params = vec![("query", q.to_string())];
        if let Some(t) = time {
            params.push(("time", format!("{t:.3}")));
        }
        let v: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.prometheus_url))
            .query(&params)
            .send()
            .await?
            .json()
            .await?;
        if v["status"] != "success" {
            bail!("Prometheus refused {q}: {v}");
        }
        let result = v["data"]["result"].as_array().context("no result")?;
        result
            .iter()
            .map(|s| {
                let value = s["value"][1].as_str().context("no value")?;
                Ok((
                    s["metric"]["agent"].as_str().unwrap_or("").to_string(),
                    value.parse()?,
                ))
            })
            .collect()
    }

    /// Waits until each query gives its number of series (e.g. `up` for every agent, and a
    /// `rate()` that needs two scrapes).
    pub async fn wait_series(&self, want: &[(&str, usize)]) -> Result<()> {
        eventually(
            Duration::from_secs(60),
            "Prometheus to have the series",
            || async {
                for (q, n) in want {
                    if self.query(q, None).await.ok()?.len() != *n {
                        return None;
                    }
                }
                Some(())
            },
        )
        .await
    }

    /// Puts alerts into Alertmanager as Prometheus does (`POST /api/v2/alerts`, `postableAlerts`).
    pub async fn post_alerts(&self, alerts: &Value) -> Result<()> {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.alertmanager_url))
            .json(alerts)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("Alertmanager refused the alerts: {}", resp.text().await?);
        }
        Ok(())
    }
}
