//! The real promtool and amtool accept what gen-config writes, and the rule unit tests under
//! prometheus/tests/ pass, both on the committed rules and on freshly generated ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{amtool, generate, promtool, read, repo_root, run, s, tool_ok, write};

/// Every file an agents.yml can name, created so `promtool check config` finds them.
fn secrets(out_dir: &Path) {
    for f in [
        "edge1.token",
        "db1.token",
        "internal-ca.pem",
        "cf-access-client-id",
        "cf-access-client-secret",
    ] {
        write(&out_dir.join("prometheus/secrets").join(f), "x\n");
    }
}

/// How many rules gen-config writes without the host pack, from its own registry.
fn builtin_rule_count() -> usize {
    let t = vpsmon_gen_config::settings::Profile::Default
        .defaults()
        .rules;
    vpsmon_gen_config::rules::groups(&t)
        .iter()
        .map(|g| g.rules.len())
        .sum()
}

/// Runs promtool check config on each Prometheus config, check rules, and amtool check-config.
fn check_all(out_dir: &Path) -> Vec<PathBuf> {
    let mut configs: Vec<PathBuf> = std::fs::read_dir(out_dir.join("prometheus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml") && !p.ends_with("alert.rules.yml"))
        .collect();
    configs.sort();
    assert!(!configs.is_empty());
    for c in &configs {
        let out = tool_ok(&promtool(), &["check", "config", s(c)]);
        assert!(out.contains("SUCCESS: 1 rule files found"), "{out}");
        assert!(
            out.contains(&format!("SUCCESS: {} rules found", builtin_rule_count())),
            "{out}"
        );
    }
    tool_ok(
        &promtool(),
        &[
            "check",
            "rules",
            s(&out_dir.join("prometheus/alert.rules.yml")),
        ],
    );
    let am = tool_ok(
        &amtool(),
        &[
            "check-config",
            s(&out_dir.join("alertmanager/alertmanager.yml")),
        ],
    );
    assert!(am.contains("SUCCESS"), "{am}");
    configs
}

#[test]
fn promtool_and_amtool_accept_the_example_list() {
    let dir = tempfile::tempdir().unwrap();
    let agents = repo_root().join("examples/agent_name_ip.txt");
    generate(&["--agents", s(&agents), "--out-dir", s(dir.path())]);
    check_all(dir.path());
}

#[test]
fn promtool_accepts_ipv6_dns_and_many_agents() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agent_name_ip.txt");
    let mut list = String::from(
        "# seed format\nServer 192.168.0.10:9100\nAgent1 [2001:db8::1]:9100\nAgent2 db1.example.internal:9100 # trailing comment\n\n",
    );
    for i in 0..200 {
        list.push_str(&format!("node{i} 10.1.{}.{}:9100\n", i / 250, i % 250 + 1));
    }
    write(&agents, &list);
    generate(&[
        "--agents",
        s(&agents),
        "--out-dir",
        s(&dir.path().join("out")),
    ]);
    check_all(&dir.path().join("out"));
    let targets = read(&dir.path().join("out/prometheus/targets/agents.json"));
    assert!(targets.contains("\"[2001:db8::1]:9100\""), "{targets}");
    assert!(targets.contains("\"db1.example.internal:9100\""));
    assert_eq!(targets.matches("\"agent\":").count(), 203);
}

/// agents.yml with every option except cf_access (Prometheus 2.42 has no http_headers), a
/// webhook token, two Alertmanagers, remote_write and the fast profile.
#[test]
fn promtool_and_amtool_accept_every_option() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let agents = dir.path().join("agents.yml");
    let example = read(&repo_root().join("examples/agents.yml"));
    let without_cf = example
        .lines()
        .filter(|l| !l.contains("cf_access") && !l.contains("client_"))
        .collect::<Vec<_>>()
        .join("\n");
    write(&agents, &without_cf);
    let token = dir.path().join("webhook.token");
    write(&token, "secret\n");
    for profile in ["default", "fast"] {
        generate(&[
            "--agents",
            s(&agents),
            "--out-dir",
            s(&out_dir),
            "--profile",
            profile,
            "--receiver-token-file",
            s(&token),
            "--alertmanager-address",
            "10.0.0.5:9093,10.0.0.6:9093",
            "--receiver-url",
            "https://alerts.example.com/alerts",
            "--remote-write",
            "http://127.0.0.1:8428/api/v1/write",
        ]);
        secrets(&out_dir);
        check_all(&out_dir);
    }
    let prom = read(&out_dir.join("prometheus/prometheus.yml"));
    for want in [
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n",
        "  alertmanagers:\n    - static_configs:\n        - targets:\n            - '10.0.0.5:9093'\n            - '10.0.0.6:9093'\n",
        "    authorization:\n      type: Bearer\n      credentials_file: 'secrets/db1.token'\n    tls_config:\n      ca_file: 'secrets/internal-ca.pem'\n      server_name: 'db1.example.internal'\n      insecure_skip_verify: false\n",
        "        refresh_interval: 5s\n",
        "remote_write:\n  - url: 'http://127.0.0.1:8428/api/v1/write'\n",
    ] {
        assert!(prom.contains(want), "missing:\n{want}\nin:\n{prom}");
    }
    let am = read(&out_dir.join("alertmanager/alertmanager.yml"));
    // Two Alertmanagers: the window is max(2s, 10s) + 2 × 15s.
    assert!(am.contains(
        "      - url: 'https://alerts.example.com/alerts?dedup_window=40s'\n        send_resolved: true\n"
    ), "{am}");
    assert!(am.contains(&format!(
        "        max_alerts: 63\n        http_config:\n          authorization:\n            credentials_file: '{}'\n",
        token.display()
    )), "{am}");
    assert!(
        am.contains("  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\n"),
        "{am}"
    );
    // The Watchdog heartbeat: its own route and receiver, every 2s in the fast profile.
    assert!(
        am.contains("    - matchers:\n        - 'alertname=\"Watchdog\"'\n      receiver: vpsmon-watchdog\n      group_wait: 0s\n      group_interval: 1s\n      repeat_interval: 2s\n"),
        "{am}"
    );
    assert!(
        am.contains("  - name: vpsmon-watchdog\n    webhook_configs:\n      - url: 'https://alerts.example.com/alerts/watchdog'\n        send_resolved: false\n"),
        "{am}"
    );
    // The fast profile shortens every `for`, except what agents.yml's `rules:` sets (cpu_for: 2m);
    // MonitorCutOff shares AgentDown's.
    let rules = read(&out_dir.join("prometheus/alert.rules.yml"));
    assert_eq!(rules.matches("        for: 5s\n").count(), 6, "{rules}");
    assert!(
        rules.contains("[10s]))) > 0.8'\n        for: 2m\n"),
        "{rules}"
    );
    assert!(
        rules.contains("rate(node_cpu_seconds_total{mode=\"idle\"}[10s])"),
        "{rules}"
    );
}

#[test]
fn sharded_configs_split_agents_by_hashmod() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.txt");
    write(&agents, "a 10.0.0.1:9100\nb 10.0.0.2:9100\nc [::1]:9100\n");
    let out = generate(&[
        "--agents",
        s(&agents),
        "--out-dir",
        s(dir.path()),
        "--shards",
        "3",
        "--prometheus-address",
        "127.0.0.1:9190",
        "--remote-write",
        "http://127.0.0.1:8428/api/v1/write,http://mimir.example.com/api/v1/push",
    ]);
    assert!(
        out.stdout
            .contains("wrote prometheus/prometheus-shard-2.yml\n"),
        "{}",
        out.stdout
    );
    let configs = check_all(dir.path());
    let names: Vec<String> = configs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "prometheus-shard-0.yml",
            "prometheus-shard-1.yml",
            "prometheus-shard-2.yml"
        ]
    );
    for (i, c) in configs.iter().enumerate() {
        let text = read(c);
        assert!(
            text.contains(&format!("  external_labels:\n    shard: '{i}'\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "      - source_labels: [__address__]\n        modulus: 3\n        target_label: __tmp_hash\n        action: hashmod\n      - source_labels: [__tmp_hash]\n        regex: '{i}'\n        action: keep\n"
            )),
            "{text}"
        );
        // Each shard scrapes itself at port 9190+i; only shard 0 scrapes Alertmanager and the receiver.
        assert!(text.contains(&format!("  - job_name: prometheus\n    static_configs:\n      - targets:\n          - '127.0.0.1:{}'\n", 9190 + i)), "{text}");
        assert_eq!(text.contains("job_name: alertmanager"), i == 0, "{text}");
        assert_eq!(text.contains("job_name: vpsmon-receiver"), i == 0, "{text}");
        assert!(text.contains("remote_write:\n  - url: 'http://127.0.0.1:8428/api/v1/write'\n  - url: 'http://mimir.example.com/api/v1/push'\n"));
    }
    assert!(!dir.path().join("prometheus/prometheus.yml").exists());
    // Going back to one server removes the shard files, so no stale config scrapes twice.
    let out = generate(&["--agents", s(&agents), "--out-dir", s(dir.path())]);
    assert!(
        out.stdout
            .contains("removed prometheus/prometheus-shard-0.yml (no longer generated)\n"),
        "{}",
        out.stdout
    );
    assert!(dir.path().join("prometheus/prometheus.yml").exists());
    assert!(
        !dir.path()
            .join("prometheus/prometheus-shard-1.yml")
            .exists()
    );
}

fn promtool_version() -> String {
    let out = run(Command::new(promtool()).arg("--version"));
    let text = format!("{}{}", out.stdout, out.stderr);
    // "promtool, version 2.42.0+ds (branch: ...)"
    text.split_whitespace().nth(2).unwrap_or("0.0.0").to_owned()
}

/// With --prometheus-version 2.55 the Cloudflare Access headers are written as http_headers
/// files; whether the installed promtool accepts them depends on its version.
#[test]
fn cloudflare_access_headers_for_newer_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let agents = repo_root().join("examples/agents.yml");
    generate(&[
        "--agents",
        s(&agents),
        "--out-dir",
        s(dir.path()),
        "--prometheus-version",
        "2.55.0",
    ]);
    secrets(dir.path());
    let prom = read(&dir.path().join("prometheus/prometheus.yml"));
    assert!(prom.contains(
        "    http_headers:\n      CF-Access-Client-Id:\n        files:\n          - 'secrets/cf-access-client-id'\n      CF-Access-Client-Secret:\n        files:\n          - 'secrets/cf-access-client-secret'\n"
    ), "{prom}");
    // No secret value ends up in the config: only file names.
    let installed: vpsmon_gen_config::version::Version = promtool_version().parse().unwrap();
    let out = run(Command::new(promtool()).args([
        "check",
        "config",
        s(&dir.path().join("prometheus/prometheus.yml")),
    ]));
    if installed >= vpsmon_gen_config::version::HTTP_HEADERS_SINCE {
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    } else {
        // This is why gen-config refuses cf_access for older versions instead of writing it.
        assert_ne!(out.code, 0);
        assert!(
            format!("{}{}", out.stdout, out.stderr).contains("http_headers"),
            "{}{}",
            out.stdout,
            out.stderr
        );
    }
}

/// `promtool test rules prometheus/tests/*.yml` on the committed alert.rules.yml.
#[test]
fn rule_unit_tests_pass_on_the_committed_rules() {
    let root = repo_root();
    let tests = rule_test_files(&root.join("prometheus/tests"));
    let mut cmd = Command::new(promtool());
    cmd.current_dir(&root).args(["test", "rules"]).args(&tests);
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.matches("  SUCCESS").count(),
        tests.len(),
        "{}",
        out.stdout
    );
}

/// The same unit tests on rules generated now with the defaults, and every rule has a test.
#[test]
fn rule_unit_tests_pass_on_freshly_generated_rules_and_cover_every_rule() {
    let dir = tempfile::tempdir().unwrap();
    let agents = repo_root().join("examples/agent_name_ip.txt");
    generate(&["--agents", s(&agents), "--out-dir", s(dir.path())]);
    let mut all_tests = String::new();
    for t in rule_test_files(&repo_root().join("prometheus/tests")) {
        let text = read(&t);
        all_tests.push_str(&text);
        write(
            &dir.path()
                .join("prometheus/tests")
                .join(t.file_name().unwrap()),
            &text,
        );
    }
    let tests = rule_test_files(&dir.path().join("prometheus/tests"));
    let mut cmd = Command::new(promtool());
    cmd.args(["test", "rules"]).args(&tests);
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let rules = read(&dir.path().join("prometheus/alert.rules.yml"));
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert: ") {
            assert!(
                all_tests.contains(&format!("alertname: {name}\n")),
                "no promtool test for {name}"
            );
            assert!(
                all_tests.contains(&format!(
                    "alertname: {name}\n        exp_alerts:\n          - exp_labels:"
                )),
                "no test where {name} fires"
            );
        }
    }
}

pub(crate) fn rule_test_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 6,
        "expected a test file per rule in {}",
        dir.display()
    );
    v
}
