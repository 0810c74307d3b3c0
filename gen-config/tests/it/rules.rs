//! Your own rule files (rules.d/ or --rules-dir), checked by the real promtool and loaded by the
//! real Prometheus; and the optional host rule pack with its promtool unit tests.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use testkit::procs::{eventually, free_port};

use crate::prometheus::{live_args, start_prometheus};
use crate::promtool::rule_test_files;
use crate::support::{
    gen_config, generate, promtool, read, repo_root, run, s, snapshot, tool_ok, write,
};

/// A rule file as a user writes it, with its own promtool unit test beside it.
const MY_RULES: &str = "groups:
  - name: my-services
    rules:
      - alert: NginxDown
        expr: node_systemd_unit_state{name=\"nginx.service\", state=\"active\"} == 0
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: 'nginx is down on {{ $labels.agent }}'
";

const MY_TEST: &str = "rule_files:
  - my.yml
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'node_systemd_unit_state{agent=\"web1\", name=\"nginx.service\", state=\"active\"}'
        values: '1 0x8'
    alert_rule_test:
      - eval_time: 2m
        alertname: NginxDown
        exp_alerts:
          - exp_labels:
              severity: critical
              agent: web1
              name: nginx.service
              state: active
            exp_annotations:
              summary: 'nginx is down on web1'
";

/// The promtool argument every test passes, so none depends on PATH.
fn promtool_arg() -> String {
    format!("--promtool={}", promtool().display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_rule_file_is_checked_copied_and_loaded_by_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.txt");
    write(&agents, &format!("web1 127.0.0.1:{}\n", free_port()));
    let mine = dir.path().join("rules.d/my.yml");
    write(&mine, MY_RULES);
    // The user's own unit test of their rule passes (promtool, as they would run it).
    write(&dir.path().join("rules.d/my_test.yml.test"), MY_TEST);
    let test = tool_ok(
        &promtool(),
        &[
            "test",
            "rules",
            s(&dir.path().join("rules.d/my_test.yml.test")),
        ],
    );
    assert!(test.contains("SUCCESS"), "{test}");

    let port = free_port();
    let out_dir = dir.path().join("out");
    let mut args = live_args(
        &agents,
        &out_dir,
        &format!("127.0.0.1:{port}"),
        &format!("127.0.0.1:{}", free_port()),
    );
    args.push(promtool_arg());
    let out = generate(&args);
    assert!(
        out.stdout.contains("wrote prometheus/rules.d/my.yml\n"),
        "{}",
        out.stdout
    );
    // Anything else there is said, not silently ignored.
    assert!(
        out.stdout.starts_with(&format!(
            "skipped {}: not a rule file (only *.yml and *.yaml are read)\n",
            dir.path().join("rules.d/my_test.yml.test").display()
        )),
        "{}",
        out.stdout
    );
    let prom = read(&out_dir.join("prometheus/prometheus.yml"));
    assert!(
        prom.contains("rule_files:\n  - alert.rules.yml\n  - 'rules.d/my.yml'\nalerting:"),
        "{prom}"
    );
    // The copy keeps the user's lines where they were (a line number in it is one in theirs).
    let copy = read(&out_dir.join("prometheus/rules.d/my.yml"));
    assert_eq!(
        copy,
        format!(
            "{MY_RULES}# Copied by vpsmon-gen-config from {}; edit that file, not this copy.\n",
            mine.display()
        )
    );
    let check = tool_ok(
        &promtool(),
        &[
            "check",
            "config",
            s(&out_dir.join("prometheus/prometheus.yml")),
        ],
    );
    assert!(check.contains("SUCCESS: 2 rule files found"), "{check}");

    let _prom = start_prometheus(
        &out_dir,
        "prometheus/prometheus.yml",
        port,
        "prometheus",
        false,
    )
    .await;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/v1/rules");
    let group = eventually(
        Duration::from_secs(30),
        "my-services in /api/v1/rules",
        || async {
            let v: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
            v["data"]["groups"]
                .as_array()?
                .iter()
                .find(|g| g["name"] == "my-services")
                .cloned()
        },
    )
    .await
    .unwrap();
    assert!(
        group["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("prometheus/rules.d/my.yml")),
        "{group}"
    );
    assert_eq!(group["rules"][0]["name"], "NginxDown", "{group}");

    // The original goes away: so do the copy and its rule_files line.
    std::fs::remove_file(&mine).unwrap();
    let out = generate(&args);
    assert!(
        out.stdout
            .contains("removed prometheus/rules.d/my.yml (no longer generated)\n"),
        "{}",
        out.stdout
    );
    assert!(!read(&out_dir.join("prometheus/prometheus.yml")).contains("rules.d"));
}

/// A broken file is refused with its own path and line, exit 2, and nothing is written.
#[test]
fn a_broken_user_rule_file_is_refused_with_file_and_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.txt");
    write(&agents, "web1 10.0.0.1:9100\n");
    write(&dir.path().join("rules.d/good.yml"), MY_RULES);
    let bad = dir.path().join("rules.d/bad.yml");
    write(
        &bad,
        "groups:\n  - name: mine\n    rules:\n      - alert: Broken\n        expr: up ==\n      - alert: Typo\n        expr: up == 0\n        labelz: {}\n",
    );
    let other = dir.path().join("rules.d/other.yaml");
    write(
        &other,
        "groups:\n  - name: other\n    rules:\n      - alert: X\n        expr: up == 0\n        labels:\n          bad-label: x\n",
    );
    let out_dir = dir.path().join("out");
    let out = run(gen_config().args([
        "--agents",
        s(&agents),
        "--out-dir",
        s(&out_dir),
        &promtool_arg(),
    ]));
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "");
    // Every bad file is named with its line, not just the first; the good one is not mentioned.
    assert_eq!(
        out.stderr,
        format!(
            "vpsmon-gen-config: {b}:8: field labelz not found in type rulefmt.RuleNode\n{o}:4: group \"other\", rule 1, \"X\": invalid label name: bad-label\n",
            b = bad.display(),
            o = other.display()
        )
    );
    assert!(!out_dir.exists(), "something was written");

    // A parse error: promtool's line:column, on the user's path.
    write(
        &bad,
        "groups:\n  - name: mine\n    rules:\n      - alert: Broken\n        expr: up ==\n",
    );
    std::fs::remove_file(&other).unwrap();
    let out = run(gen_config().args([
        "--agents",
        s(&agents),
        "--out-dir",
        s(&out_dir),
        &promtool_arg(),
    ]));
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.starts_with(&format!(
            "vpsmon-gen-config: {}:5:15: group \"mine\", rule 1, \"Broken\": could not parse expression: ",
            bad.display()
        )),
        "{}",
        out.stderr
    );
    assert!(!out_dir.exists());
}

#[test]
fn a_missing_rules_dir_or_promtool_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.txt");
    write(&agents, "web1 10.0.0.1:9100\n");
    let out_dir = dir.path().join("out");
    let missing = dir.path().join("nope");
    let out = run(gen_config()
        .args(["--agents", s(&agents), "--out-dir", s(&out_dir)])
        .env("VPSMON_RULES_DIR", s(&missing)));
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "vpsmon-gen-config: --rules-dir {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
    // Rules to check and no promtool: refused, not copied unchecked.
    let mine = dir.path().join("rules.d/my.yml");
    write(&mine, MY_RULES);
    let out = run(gen_config().args([
        "--agents",
        s(&agents),
        "--out-dir",
        s(&out_dir),
        "--promtool",
        "/nonexistent/promtool",
    ]));
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.starts_with(&format!(
            "vpsmon-gen-config: {}: cannot check it: running /nonexistent/promtool failed (",
            mine.display()
        )),
        "{}",
        out.stderr
    );
    assert!(!out_dir.exists());
    // Without a rules.d, no promtool is needed and rule_files names only the built-in rules.
    std::fs::remove_file(&mine).unwrap();
    generate(&[
        "--agents",
        s(&agents),
        "--out-dir",
        s(&out_dir),
        "--promtool",
        "/nonexistent/promtool",
    ]);
    assert!(
        read(&out_dir.join("prometheus/prometheus.yml"))
            .contains("rule_files:\n  - alert.rules.yml\nalerting:")
    );
}

/// Off by default; `rules: {host_pack: true}` adds the vpsmon-host group, which passes
/// prometheus/tests/host/*.yml; every one of its rules has a test where it fires.
#[test]
fn the_host_pack_is_off_by_default_and_its_unit_tests_pass_when_on() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    generate(&[
        "--agents",
        s(&repo_root().join("examples/agent_name_ip.txt")),
        "--out-dir",
        s(&plain),
    ]);
    let built_in = read(&plain.join("prometheus/alert.rules.yml"));
    assert!(!built_in.contains("vpsmon-host"));

    let agents = dir.path().join("agents.yml");
    write(
        &agents,
        "agents:\n  - name: web1\n    address: 10.0.0.1:9100\nrules:\n  host_pack: true\n",
    );
    let out_dir = dir.path().join("out");
    generate(&["--agents", s(&agents), "--out-dir", s(&out_dir)]);
    let rules = read(&out_dir.join("prometheus/alert.rules.yml"));
    assert!(rules.contains("  - name: vpsmon-host\n"), "{rules}");
    let check = tool_ok(
        &promtool(),
        &[
            "check",
            "rules",
            s(&out_dir.join("prometheus/alert.rules.yml")),
        ],
    );
    let want = built_in.matches("- alert: ").count() + 9;
    assert!(
        check.contains(&format!("SUCCESS: {want} rules found")),
        "{check}"
    );

    let tests_dir = out_dir.join("prometheus/tests/host");
    let mut all_tests = String::new();
    for t in host_tests() {
        let text = read(&t);
        all_tests.push_str(&text);
        write(&tests_dir.join(t.file_name().unwrap()), &text);
    }
    let mut cmd = Command::new(promtool());
    cmd.args(["test", "rules"])
        .args(rule_test_files_in(&tests_dir));
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let host_group = rules.split("  - name: vpsmon-host\n").nth(1).unwrap();
    let mut n = 0;
    for line in host_group.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert: ") {
            n += 1;
            assert!(
                all_tests.contains(&format!(
                    "alertname: {name}\n        exp_alerts:\n          - exp_labels:"
                )),
                "no test where {name} fires"
            );
            assert!(
                all_tests.contains(&format!("alertname: {name}\n        exp_alerts: []")),
                "no test where {name} stays quiet"
            );
        }
    }
    assert_eq!(n, 9);

    // The flag beats the file: --host-pack=false turns it off again.
    generate(&[
        "--agents",
        s(&agents),
        "--out-dir",
        s(&out_dir),
        "--host-pack=false",
    ]);
    assert!(!read(&out_dir.join("prometheus/alert.rules.yml")).contains("vpsmon-host"));
}

fn host_tests() -> Vec<std::path::PathBuf> {
    rule_test_files_in(&repo_root().join("prometheus/tests/host"))
}

fn rule_test_files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let v = rule_test_files(dir);
    assert_eq!(v.len(), 9, "{v:?}");
    v
}

/// Same input, same copies: --check is clean after a write, and a snapshot does not change.
#[test]
fn user_rule_copies_are_checked_by_check_mode() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.txt");
    write(&agents, "web1 10.0.0.1:9100\n");
    write(&dir.path().join("rules.d/my.yml"), MY_RULES);
    let out_dir = dir.path().join("out");
    let args = ["--agents", s(&agents), "--out-dir", s(&out_dir)];
    let p = promtool_arg();
    let with_promtool = [&args[..], &[p.as_str()]].concat();
    generate(&with_promtool);
    let before = snapshot(&out_dir);
    let check = run(gen_config().args(&with_promtool).arg("--check"));
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert_eq!(check.stdout, "5 files are up to date\n");
    write(
        &dir.path().join("rules.d/my.yml"),
        &MY_RULES.replace("for: 1m", "for: 2m"),
    );
    let check = run(gen_config().args(&with_promtool).arg("--check"));
    assert_eq!(check.code, 1, "{}{}", check.stdout, check.stderr);
    assert!(
        check
            .stdout
            .contains("--- a/prometheus/rules.d/my.yml\n+++ b/prometheus/rules.d/my.yml\n"),
        "{}",
        check.stdout
    );
    assert_eq!(snapshot(&out_dir), before);
}
