//! A real Prometheus (Debian's package) scrapes the exporter, bearer token included, and its
//! HTTP API answers `up == 1` and a `node_cpu_seconds_total` query.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use testkit::procs::{Proc, eventually, free_port, require_binary, wait_http_ok};

async fn query(client: &reqwest::Client, base: &str, promql: &str) -> Option<Vec<Value>> {
    let resp = client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .ok()?;
    let body: Value = resp.json().await.ok()?;
    (body["status"] == "success").then(|| body["data"]["result"].as_array().cloned())?
}

#[tokio::test]
async fn prometheus_scrapes_the_exporter() {
    let prometheus = require_binary("PROMETHEUS_BIN", &["prometheus"], "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "prometheus-scrape-token\n").unwrap();
    let exporter = support::start_ours(
        dir.path(),
        &[format!("--web.auth-token-file={}", token_file.display())],
    )
    .await;
    let target = exporter.base.trim_start_matches("http://");

    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: vpsmon\n    authorization:\n      type: Bearer\n      \
             credentials_file: {}\n    static_configs:\n      - targets: ['{target}']\n",
            token_file.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let mut cmd = Command::new(prometheus);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut prom = Proc::spawn("prometheus", cmd, &dir.path().join("prometheus.log")).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(
        &mut prom,
        &format!("{base}/-/ready"),
        Duration::from_secs(60),
    )
    .await
    .unwrap();

    let client = reqwest::Client::new();
    let up = eventually(
        Duration::from_secs(60),
        "up{job=\"vpsmon\"} == 1",
        || async {
            let result = query(&client, &base, "up{job=\"vpsmon\"}").await?;
            let value = result.first()?["value"][1].as_str()?.to_owned();
            (value == "1").then_some(value)
        },
    )
    .await;
    if let Err(e) = up {
        let targets = client
            .get(format!("{base}/api/v1/targets"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        panic!(
            "{e}\ntargets: {targets}\nexporter log:\n{}",
            exporter.proc.log_text()
        );
    }

    let series = eventually(
        Duration::from_secs(30),
        "node_cpu_seconds_total series",
        || async {
            let result = query(
                &client,
                &base,
                "node_cpu_seconds_total{job=\"vpsmon\",mode=\"idle\"}",
            )
            .await?;
            (!result.is_empty()).then_some(result)
        },
    )
    .await
    .unwrap();
    let cpus = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    assert_eq!(series.len(), cpus, "one idle series per CPU: {series:?}");
    for s in &series {
        let idle: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
        assert!(idle > 0.0, "{s}");
    }
}
