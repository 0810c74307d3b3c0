//! A real Prometheus (Debian's package) scrapes the exporter, bearer token included, and its
//! HTTP API answers `up == 1` and a `node_cpu_seconds_total` query; and Prometheus (and
//! promtool) take the families of textfile-collector files of every type.

mod support;

use std::path::Path;
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

/// Debian's Prometheus scraping `target` every second with the bearer token in `token_file`;
/// returns it (kept running while held) and its base URL once ready.
async fn start_prometheus(dir: &Path, target: &str, token_file: &Path) -> (Proc, String) {
    let prometheus = require_binary("PROMETHEUS_BIN", &["prometheus"], "prometheus");
    let config = dir.join("prometheus.yml");
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
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut prom = Proc::spawn("prometheus", cmd, &dir.join("prometheus.log")).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(
        &mut prom,
        &format!("{base}/-/ready"),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    (prom, base)
}

#[tokio::test]
async fn prometheus_scrapes_the_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "prometheus-scrape-token\n").unwrap();
    let exporter = support::start_ours(
        dir.path(),
        &[format!("--web.auth-token-file={}", token_file.display())],
    )
    .await;
    let target = exporter.base.trim_start_matches("http://");

    let (_prom, base) = start_prometheus(dir.path(), target, &token_file).await;
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

/// Files of every type, escaped label values and a file clashing with a collector: the real
/// Prometheus ingests the OpenMetrics answer (a parse error would make `up` 0 and lose it all),
/// promtool takes the text-format one, and each family reads back with its values.
#[tokio::test]
async fn prometheus_ingests_textfile_families_of_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "prometheus-scrape-token\n").unwrap();
    let textfiles = dir.path().join("textfile");
    std::fs::create_dir(&textfiles).unwrap();
    std::fs::write(
        textfiles.join("jobs.prom"),
        "# HELP backup_runs Backups \"run\" so far.\n# TYPE backup_runs counter\nbackup_runs{task=\"db\"} 7\n\
         # TYPE backup_duration_seconds summary\nbackup_duration_seconds{task=\"db\",quantile=\"0.5\"} 1.5\n\
         backup_duration_seconds_sum{task=\"db\"} 30\nbackup_duration_seconds_count{task=\"db\"} 12\n\
         # TYPE backup_size_bytes histogram\nbackup_size_bytes_bucket{le=\"1e+06\"} 2\n\
         backup_size_bytes_bucket{le=\"+Inf\"} 5\nbackup_size_bytes_sum 9.5e+06\nbackup_size_bytes_count 5\n\
         backup_path{path=\"C:\\\\dump \\\"x\\\"\\nnext\"} 1\n",
    )
    .unwrap();
    std::fs::write(
        textfiles.join("clash.prom"),
        "# TYPE node_cpu_seconds_total gauge\nnode_cpu_seconds_total 1\n",
    )
    .unwrap();
    let exporter = support::start_ours(
        dir.path(),
        &[
            format!("--web.auth-token-file={}", token_file.display()),
            format!("--collector.textfile.directory={}", textfiles.display()),
        ],
    )
    .await;

    // The text format 0.0.4, as promtool parses it.
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", exporter.base))
        .bearer_auth("prometheus-scrape-token")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("# HELP backup_runs_total Backups \"run\" so far.\n# TYPE backup_runs_total counter\nbackup_runs_total{task=\"db\"} 7\n"), "{text}");
    assert!(text.contains("# TYPE backup_path untyped\n"), "{text}");
    let (code, out) = support::promtool_check(&text);
    assert!(
        matches!(code, Some(0 | 3)) && !out.contains("parsing error"),
        "promtool check metrics rejects the 0.0.4 answer ({code:?}):\n{out}"
    );

    let target = exporter.base.trim_start_matches("http://");
    let (_prom, base) = start_prometheus(dir.path(), target, &token_file).await;
    let client = reqwest::Client::new();
    for (promql, want) in [
        ("up{job=\"vpsmon\"}", "1"),
        ("backup_runs_total{task=\"db\"}", "7"),
        (
            "backup_duration_seconds{task=\"db\",quantile=\"0.5\"}",
            "1.5",
        ),
        ("backup_duration_seconds_count{task=\"db\"}", "12"),
        ("backup_size_bytes_bucket{le=\"1e+06\"}", "2"),
        ("backup_size_bytes_sum", "9500000"),
        ("backup_path{path=\"C:\\\\dump \\\"x\\\"\\nnext\"}", "1"),
        ("node_textfile_scrape_error", "1"),
        // The clashing file is dropped whole: the collector's counter alone has this name.
        ("count(node_cpu_seconds_total{cpu=\"\"})", ""),
    ] {
        let got = eventually(Duration::from_secs(60), promql, || async {
            let result = query(&client, &base, promql).await?;
            let value = match result.first() {
                Some(s) => s["value"][1].as_str()?.to_owned(),
                None => String::new(),
            };
            (value == want).then_some(value)
        })
        .await;
        if let Err(e) = got {
            panic!("{e}\nexporter log:\n{}", exporter.proc.log_text());
        }
    }
}
