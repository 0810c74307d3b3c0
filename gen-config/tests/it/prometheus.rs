//! With a real Prometheus: a new agent appears in /api/v1/targets without restart or reload,
//! and --reload-url reloads only when prometheus.yml or the rules changed.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use testkit::procs::{Proc, eventually, free_port, require_binary, wait_http_ok};

use crate::support::{gen_config, generate, read, run, s, write};

async fn targets(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let v: Value = match client.get(format!("{base}/api/v1/targets")).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    v["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn agent_of(t: &Value) -> Option<&str> {
    t["labels"]["agent"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_agent_appears_without_restart_and_reload_happens_only_for_config_changes() {
    let prometheus = require_binary("PROMETHEUS_BIN", &["prometheus"], "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agent_name_ip.txt");
    // Nobody listens on these ports: the targets are listed (down), which is all this test needs.
    let (p1, p2) = (free_port(), free_port());
    write(&agents, &format!("web1 127.0.0.1:{p1}\n"));
    let port = free_port();
    let alertmanager = format!("127.0.0.1:{}", free_port());
    let base = format!("http://127.0.0.1:{port}");
    let gen_args = |extra: &[String]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--agents",
            s(&agents),
            "--out-dir",
            s(dir.path()),
            "--profile",
            "fast",
            "--prometheus-address",
            &format!("127.0.0.1:{port}"),
            "--alertmanager-address",
            &alertmanager,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend_from_slice(extra);
        v
    };
    let args = gen_args(&[]);
    generate(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let mut cmd = Command::new(&prometheus);
    cmd.arg(format!(
        "--config.file={}",
        s(&dir.path().join("prometheus/prometheus.yml"))
    ))
    .arg(format!(
        "--storage.tsdb.path={}",
        s(&dir.path().join("data"))
    ))
    .arg(format!("--web.listen-address=127.0.0.1:{port}"))
    .arg("--web.enable-lifecycle");
    let mut proc = Proc::spawn("prometheus", cmd, &dir.path().join("prometheus.log")).unwrap();
    wait_http_ok(
        &mut proc,
        &format!("{base}/-/ready"),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let pid = proc.pid();
    let client = reqwest::Client::new();

    eventually(
        Duration::from_secs(60),
        "web1 in /api/v1/targets",
        || async {
            let t = targets(&client, &base).await;
            t.iter().any(|t| agent_of(t) == Some("web1")).then_some(())
        },
    )
    .await
    .unwrap();

    // Add an agent and regenerate: only the targets file changes, so no reload is asked for.
    let config_before = read(&dir.path().join("prometheus/prometheus.yml"));
    write(&agents, &format!("web1 127.0.0.1:{p1}\nweb2 [::1]:{p2}\n"));
    let args = gen_args(&["--reload-url".into(), base.clone()]);
    let out = generate(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        out.stdout,
        "wrote prometheus/targets/agents.json\n2 agents, 1 files changed, 3 unchanged\n\
         prometheus.yml and the rules are unchanged: no reload needed (Prometheus rereads target files itself)\n"
    );
    assert_eq!(
        read(&dir.path().join("prometheus/prometheus.yml")),
        config_before
    );
    let web2 = eventually(
        Duration::from_secs(60),
        "web2 in /api/v1/targets",
        || async {
            let t = targets(&client, &base).await;
            t.into_iter().find(|t| agent_of(t) == Some("web2"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", proc.log_text()));
    assert_eq!(web2["labels"]["job"], "agents");
    assert_eq!(web2["labels"]["instance"], format!("[::1]:{p2}"));
    assert_eq!(web2["scrapeUrl"], format!("http://[::1]:{p2}/metrics"));
    assert_eq!(proc.pid(), pid);
    assert!(proc.is_running(), "Prometheus must not have restarted");

    // A threshold change rewrites the rules: gen-config reloads Prometheus, which then has them.
    let args = gen_args(&[
        "--reload-url".into(),
        base.clone(),
        "--cpu-threshold".into(),
        "95".into(),
    ]);
    let out = generate(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.stdout.ends_with(&format!(
            "reloaded Prometheus: POST {base}/-/reload -> HTTP 200 OK\n"
        )),
        "{}",
        out.stdout
    );
    let rules: Value = client
        .get(format!("{base}/api/v1/rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = rules.to_string();
    assert!(text.contains("[10s]))) > 0.95"), "{text}");

    // A reload that cannot reach Prometheus is reported, with exit code 1 (the files are written).
    let dead = format!("http://127.0.0.1:{}", free_port());
    let args = gen_args(&[
        "--reload-url".into(),
        dead.clone(),
        "--cpu-threshold".into(),
        "90".into(),
    ]);
    let out = run(gen_config().args(&args));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("wrote prometheus/alert.rules.yml\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.starts_with(&format!("vpsmon-gen-config: reloading Prometheus failed: POST {dead}/-/reload: error sending request")),
        "{}",
        out.stderr
    );
}
