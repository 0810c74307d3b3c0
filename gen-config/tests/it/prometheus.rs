//! With a real Prometheus: a new agent appears in /api/v1/targets without restart or reload,
//! and --reload-url reloads only when prometheus.yml or the rules changed.

use std::path::Path;
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
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agent_name_ip.txt");
    // Nobody listens on these ports: the targets are listed (down), which is all this test needs.
    let (p1, p2) = (free_port(), free_port());
    write(&agents, &format!("web1 127.0.0.1:{p1}\n"));
    let port = free_port();
    let alertmanager = format!("127.0.0.1:{}", free_port());
    let base = format!("http://127.0.0.1:{port}");
    let common = live_args(
        &agents,
        dir.path(),
        &format!("127.0.0.1:{port}"),
        &alertmanager,
    );
    let gen_args = |extra: &[&str]| -> Vec<String> {
        let mut v = common.clone();
        v.extend(extra.iter().map(|e| e.to_string()));
        v
    };
    generate(&common);

    let mut proc = start_prometheus(
        dir.path(),
        "prometheus/prometheus.yml",
        port,
        "prometheus",
        true,
    )
    .await;
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
    let out = generate(&gen_args(&["--reload-url", &base]));
    assert_eq!(
        out.stdout,
        "wrote prometheus/targets/agents.json\n2 agents, 1 file changed, 3 unchanged\n\
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
    let out = generate(&gen_args(&["--reload-url", &base, "--cpu-threshold", "95"]));
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
    let out = run(gen_config().args(gen_args(&["--reload-url", &dead, "--cpu-threshold", "90"])));
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

/// gen-config's arguments for a live test: fast profile, the Prometheus address(es) and an
/// Alertmanager address (nobody listens there; these tests are about scraping).
pub(crate) fn live_args(
    agents: &Path,
    out_dir: &Path,
    prometheus: &str,
    alertmanager: &str,
) -> Vec<String> {
    [
        "--agents",
        s(agents),
        "--out-dir",
        s(out_dir),
        "--profile",
        "fast",
        "--prometheus-address",
        prometheus,
        "--alertmanager-address",
        alertmanager,
    ]
    .map(String::from)
    .to_vec()
}

/// Starts the real Prometheus on `config` (relative to `dir`) and waits until it is ready.
pub(crate) async fn start_prometheus(
    dir: &Path,
    config: &str,
    port: u16,
    name: &str,
    lifecycle: bool,
) -> Proc {
    let prometheus = require_binary("PROMETHEUS_BIN", &["prometheus"], "prometheus");
    let mut cmd = Command::new(&prometheus);
    cmd.arg(format!("--config.file={}", s(&dir.join(config))))
        .arg(format!(
            "--storage.tsdb.path={}",
            s(&dir.join(format!("data-{name}")))
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    if lifecycle {
        cmd.arg("--web.enable-lifecycle");
    }
    let mut proc = Proc::spawn(name, cmd, &dir.join(format!("{name}.log"))).unwrap();
    wait_http_ok(
        &mut proc,
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    proc
}

/// Two real Prometheus servers on the shard configs scrape every agent exactly once between
/// them; without --web.enable-lifecycle a reload is refused and gen-config says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_agents_and_a_refused_reload_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.txt");
    let names: Vec<String> = (0..8).map(|i| format!("node{i}")).collect();
    let list: String = names
        .iter()
        .map(|n| format!("{n} 127.0.0.1:{}\n", free_port()))
        .collect();
    write(&agents, &list);
    let ports = [free_port(), free_port()];
    let addresses = format!("127.0.0.1:{},127.0.0.1:{}", ports[0], ports[1]);
    let alertmanager = format!("127.0.0.1:{}", free_port());
    let mut args = live_args(&agents, dir.path(), &addresses, &alertmanager);
    args.extend(["--shards".into(), "2".into()]);
    generate(&args);
    let shard0 = start_prometheus(
        dir.path(),
        "prometheus/prometheus-shard-0.yml",
        ports[0],
        "shard0",
        false,
    )
    .await;
    let shard1 = start_prometheus(
        dir.path(),
        "prometheus/prometheus-shard-1.yml",
        ports[1],
        "shard1",
        false,
    )
    .await;
    let client = reqwest::Client::new();
    let bases = ports.map(|p| format!("http://127.0.0.1:{p}"));

    // Wait until the two shards together list all 8 agents, then check none is listed twice.
    let seen = eventually(
        Duration::from_secs(60),
        "all agents across both shards",
        || async {
            let mut seen: Vec<(String, usize)> = Vec::new();
            for (i, base) in bases.iter().enumerate() {
                for t in targets(&client, base).await {
                    if let Some(a) = agent_of(&t) {
                        seen.push((a.to_owned(), i));
                    }
                }
            }
            (seen.len() >= names.len()).then_some(seen)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}; logs:\n{}\n{}", shard0.log_text(), shard1.log_text()));
    let mut agents_seen: Vec<&str> = seen.iter().map(|(a, _)| a.as_str()).collect();
    agents_seen.sort();
    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(agents_seen, want, "every agent exactly once: {seen:?}");
    assert!(
        seen.iter().any(|(_, i)| *i == 0) && seen.iter().any(|(_, i)| *i == 1),
        "both shards have agents: {seen:?}"
    );

    // The rules change, but these servers run without --web.enable-lifecycle.
    args.extend([
        "--cpu-threshold".into(),
        "90".into(),
        "--reload-url".into(),
        bases[0].clone(),
    ]);
    let out = run(gen_config().args(&args));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "vpsmon-gen-config: reloading Prometheus failed: POST {}/-/reload -> HTTP 403 Forbidden: Lifecycle API is not enabled.\n",
            bases[0]
        )
    );
}

/// The rules work on a real node_exporter's metrics (Debian's prometheus-node-exporter): with
/// thresholds set low enough to be certain, HighCPU and HighMemory fire for it, AgentDown fires
/// for an agent nobody serves, and each alert carries its `agent` label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_fire_on_real_node_exporter_metrics_with_the_agent_label() {
    let node_exporter = require_binary(
        "NODE_EXPORTER_BIN",
        &["prometheus-node-exporter", "node_exporter"],
        "prometheus-node-exporter",
    );
    let dir = tempfile::tempdir().unwrap();
    let ne_port = free_port();
    let mut cmd = Command::new(&node_exporter);
    cmd.arg(format!("--web.listen-address=127.0.0.1:{ne_port}"));
    let mut ne = Proc::spawn("node_exporter", cmd, &dir.path().join("node_exporter.log")).unwrap();
    wait_http_ok(
        &mut ne,
        &format!("http://127.0.0.1:{ne_port}/metrics"),
        Duration::from_secs(30),
    )
    .await
    .unwrap();

    let agents = dir.path().join("agents.txt");
    write(
        &agents,
        &format!("real 127.0.0.1:{ne_port}\ngone 127.0.0.1:{}\n", free_port()),
    );
    let port = free_port();
    let mut args = live_args(
        &agents,
        dir.path(),
        &format!("127.0.0.1:{port}"),
        &format!("127.0.0.1:{}", free_port()),
    );
    // Any machine is more than 0.001% busy and uses more than 1% of its memory.
    args.extend(["--cpu-threshold", "0.001", "--memory-threshold", "1"].map(String::from));
    generate(&args);
    let prometheus = start_prometheus(
        dir.path(),
        "prometheus/prometheus.yml",
        port,
        "prometheus",
        false,
    )
    .await;

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let want = [
        ("AgentDown", "gone"),
        ("HighCPU", "real"),
        ("HighMemory", "real"),
    ];
    let firing = eventually(
        Duration::from_secs(90),
        "AgentDown, HighCPU and HighMemory firing",
        || async {
            let v: Value = client
                .get(format!("{base}/api/v1/alerts"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let alerts = v["data"]["alerts"].as_array()?.clone();
            let firing: Vec<Value> = alerts
                .into_iter()
                .filter(|a| a["state"] == "firing")
                .collect();
            want.iter()
                .all(|(name, agent)| {
                    firing.iter().any(|a| {
                        a["labels"]["alertname"] == *name && a["labels"]["agent"] == *agent
                    })
                })
                .then_some(firing)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", prometheus.log_text()));
    // The pipeline's heartbeat fires from the first evaluation and is about no machine.
    assert!(
        firing
            .iter()
            .any(|a| a["labels"]["alertname"] == "Watchdog" && a["labels"]["severity"] == "none"),
        "no Watchdog firing: {firing:?}"
    );
    for a in firing
        .iter()
        .filter(|a| a["labels"]["alertname"] != "Watchdog")
    {
        let agent = a["labels"]["agent"]
            .as_str()
            .unwrap_or_else(|| panic!("alert without agent: {a}"));
        let summary = a["annotations"]["summary"].as_str().unwrap();
        assert!(
            summary.contains(agent),
            "summary should name the agent: {a}"
        );
    }
    let cpu = firing
        .iter()
        .find(|a| a["labels"]["alertname"] == "HighCPU")
        .unwrap();
    assert_eq!(cpu["labels"]["severity"], "warning");
    let description = cpu["annotations"]["description"].as_str().unwrap();
    assert!(description.starts_with("CPU on real is "), "{description}");
    assert!(
        description.ends_with("% busy (threshold 0.001%) for more than 5s."),
        "{description}"
    );
    let down = firing
        .iter()
        .find(|a| a["labels"]["alertname"] == "AgentDown")
        .unwrap();
    assert_eq!(down["labels"]["severity"], "critical");
    assert_eq!(down["annotations"]["summary"], "Agent gone is down");
}
