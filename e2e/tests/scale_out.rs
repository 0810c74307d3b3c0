//! Beyond one machine: `vpsmon-gen-config --shards 2` splits four agents across two Prometheus
//! servers (hashmod on the address), both remote-write to Debian's VictoriaMetrics, and the
//! central store sees every agent exactly once.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::procs::{Proc, eventually, free_port, require_binary, wait_http_ok};
use vpsmon_e2e::{AgentSpec, Fleet, Options};

const AGENTS: [&str; 4] = ["vps-a", "vps-b", "vps-c", "vps-d"];

#[tokio::test(flavor = "multi_thread")]
async fn two_shards_scrape_disjoint_halves_and_victoria_metrics_sees_each_agent_once() {
    let vm_bin = require_binary(
        "VICTORIA_METRICS_BIN",
        &["victoria-metrics", "victoria-metrics-prod"],
        "victoria-metrics",
    );
    let vm_dir = tempfile::tempdir().unwrap();
    let vm_port = free_port();
    let mut cmd = Command::new(vm_bin);
    cmd.arg(format!("-httpListenAddr=127.0.0.1:{vm_port}"))
        .arg(format!(
            "-storageDataPath={}",
            vm_dir.path().join("data").display()
        ))
        // Answer queries with the newest samples (the default hides the last 30 s).
        .arg("-search.latencyOffset=0s");
    let mut vm = Proc::spawn("victoria-metrics", cmd, &vm_dir.path().join("vm.log")).unwrap();
    let vm_url = format!("http://127.0.0.1:{vm_port}");
    wait_http_ok(
        &mut vm,
        &format!("{vm_url}/health"),
        Duration::from_secs(60),
    )
    .await
    .unwrap();

    let started = Instant::now();
    let f = Fleet::start(Options {
        agents: AGENTS.iter().map(|a| AgentSpec::real(a)).collect(),
        shards: 2,
        remote_write: Some(format!("{vm_url}/api/v1/write")),
        receiver: false,
    })
    .await
    .unwrap();

    // Each shard scrapes only its share: the two sets of agent targets are disjoint and
    // together hold all four agents.
    let mut shares: Vec<BTreeSet<String>> = Vec::new();
    for (port, _) in &f.prometheus {
        let url = format!("http://127.0.0.1:{port}/api/v1/targets?state=active");
        let share = eventually(Duration::from_secs(60), "the shard's targets", || async {
            let data = Fleet::api(&url).await.ok()?;
            let agents: BTreeSet<String> = data["activeTargets"]
                .as_array()?
                .iter()
                .filter_map(|t| t["labels"]["agent"].as_str().map(str::to_owned))
                .collect();
            // file_sd has been read once the job shows up at all (the targets of a shard may be
            // none), so wait for the prometheus self-scrape target as well.
            (data["activeTargets"]
                .as_array()?
                .iter()
                .any(|t| t["labels"]["job"] == "prometheus"))
            .then_some(agents)
        })
        .await
        .unwrap();
        shares.push(share);
    }
    println!(
        "FIGURE scale-out: shard 0 scrapes {:?}, shard 1 scrapes {:?}",
        shares[0], shares[1]
    );
    assert!(
        shares[0].is_disjoint(&shares[1]),
        "an agent is scraped by both shards: {shares:?}"
    );
    let all: BTreeSet<String> = shares.iter().flatten().cloned().collect();
    let want: BTreeSet<String> = AGENTS.iter().map(|a| a.to_string()).collect();
    assert_eq!(all, want);

    // The central store: `up` for all four agents, one series each (the shards' external
    // label `shard` would make a twice-scraped agent two series).
    let q = format!(
        "{vm_url}/api/v1/query?query={}",
        "count%20by%20(agent)%20(up%7Bagent!%3D%22%22%7D%20%3D%3D%201)"
    );
    let counts = eventually(
        Duration::from_secs(90),
        "VictoriaMetrics to hold up==1 for all four agents",
        || async {
            let data = Fleet::api(&q).await.ok()?;
            let rows: Vec<(String, String)> = data["result"]
                .as_array()?
                .iter()
                .map(|r| {
                    (
                        r["metric"]["agent"].as_str().unwrap_or("").to_owned(),
                        r["value"][1].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            (rows.len() == AGENTS.len()).then_some(rows)
        },
    )
    .await
    .unwrap();
    println!(
        "FIGURE scale-out: VictoriaMetrics had up for all 4 agents {:.1} s after the fleet started",
        started.elapsed().as_secs_f64()
    );
    let mut counts = counts;
    counts.sort();
    let want: Vec<(String, String)> = AGENTS
        .iter()
        .map(|a| (a.to_string(), "1".to_owned()))
        .collect();
    assert_eq!(counts, want, "count of up series by agent");

    // And each series came through the shard that scrapes that agent.
    let q = format!("{vm_url}/api/v1/query?query=up%7Bagent!%3D%22%22%7D");
    let data = Fleet::api(&q).await.unwrap();
    for r in data["result"].as_array().unwrap() {
        let agent = r["metric"]["agent"].as_str().unwrap();
        let shard: usize = r["metric"]["shard"]
            .as_str()
            .unwrap_or_else(|| panic!("no shard label on {r}"))
            .parse()
            .unwrap();
        assert!(
            shares[shard].contains(agent),
            "{agent} arrived via shard {shard}, which does not scrape it"
        );
    }
}
