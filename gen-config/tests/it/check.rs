//! The committed configs are current (the golden test), `--check` shows a diff when they are
//! not, and generation is deterministic and atomic.

use std::path::Path;

use crate::support::{Output, gen_config, generate, read, repo_root, run, s, snapshot, write};

const EXAMPLE: &str = "examples/agent_name_ip.txt";
/// Where docker-compose.yml's receiver and Alertmanager find the webhook token.
const COMPOSE_TOKEN: &str = "/run/vpsmon/webhook-token";
const GENERATED: [&str; 4] = [
    "prometheus/prometheus.yml",
    "prometheus/alert.rules.yml",
    "prometheus/targets/agents.json",
    "alertmanager/alertmanager.yml",
];

/// The committed prometheus/ and alertmanager/ are exactly what the example list generates.
#[test]
fn committed_configs_match_the_example_list() {
    let out = run(gen_config().current_dir(repo_root()).args([
        "--agents",
        EXAMPLE,
        "--out-dir",
        ".",
        "--receiver-token-file",
        COMPOSE_TOKEN,
        "--check",
    ]));
    assert_eq!(
        out.code, 0,
        "the committed configs are stale; regenerate with `vpsmon-gen-config --agents {EXAMPLE} --out-dir . --receiver-token-file {COMPOSE_TOKEN}`:\n{}{}",
        out.stdout, out.stderr
    );
    assert_eq!(out.stdout, "4 files are up to date\n");
}

/// `--check` of the example list against `out_dir`.
fn check_example(out_dir: &Path) -> Output {
    let agents = repo_root().join(EXAMPLE);
    run(gen_config().args([
        "--agents",
        s(&agents),
        "--out-dir",
        s(out_dir),
        "--receiver-token-file",
        COMPOSE_TOKEN,
        "--check",
    ]))
}

fn copy_committed(to: &Path) {
    for rel in GENERATED {
        write(&to.join(rel), &read(&repo_root().join(rel)));
    }
}

#[test]
fn check_prints_a_unified_diff_and_exits_1_when_a_file_changed() {
    let dir = tempfile::tempdir().unwrap();
    copy_committed(dir.path());
    let rules = dir.path().join("prometheus/alert.rules.yml");
    let edited = read(&rules).replacen("for: 5m", "for: 10m", 1);
    write(&rules, &edited);
    let out = check_example(dir.path());
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .starts_with("--- a/prometheus/alert.rules.yml\n+++ b/prometheus/alert.rules.yml\n@@ "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("\n-        for: 10m\n+        for: 5m\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with(&format!(
        "the files under {} are not what vpsmon-gen-config would write: run it without --check\n",
        dir.path().display()
    )));
    // --check never writes.
    assert_eq!(read(&rules), edited);
}

#[test]
fn check_reports_missing_and_stale_files() {
    let dir = tempfile::tempdir().unwrap();
    copy_committed(dir.path());
    std::fs::remove_file(dir.path().join("alertmanager/alertmanager.yml")).unwrap();
    write(
        &dir.path()
            .join("prometheus/targets/agents-https-0000beef.json"),
        "[]\n",
    );
    let out = check_example(dir.path());
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains(
            "--- a/alertmanager/alertmanager.yml (missing)\n+++ b/alertmanager/alertmanager.yml\n"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("prometheus/targets/agents-https-0000beef.json: no longer generated and would be removed\n"),
        "{}",
        out.stdout
    );
    // Writing removes the stale target file and brings back the missing one.
    let agents = repo_root().join(EXAMPLE);
    let out = generate(&["--agents", s(&agents), "--out-dir", s(dir.path())]);
    assert!(
        out.stdout.contains("wrote alertmanager/alertmanager.yml\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "removed prometheus/targets/agents-https-0000beef.json (no longer generated)\n"
        )
    );
    assert!(
        !dir.path()
            .join("prometheus/targets/agents-https-0000beef.json")
            .exists()
    );
}

#[test]
fn same_input_gives_byte_identical_files_and_rewrites_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.yml");
    std::fs::copy(repo_root().join("examples/agents.yml"), &agents).unwrap();
    let args = |out: &Path| {
        vec![
            "--agents".to_owned(),
            s(&agents).to_owned(),
            "--out-dir".to_owned(),
            s(out).to_owned(),
            "--prometheus-version".to_owned(),
            "2.55.0".to_owned(),
        ]
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let a_args = args(&a);
    let first = generate(&a_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(first.stdout.ends_with("5 agents, 6 files changed, 0 unchanged\nalertmanager.yml changed: reload Alertmanager (POST /-/reload or SIGHUP)\n"), "{}", first.stdout);
    generate(&args(&b).iter().map(String::as_str).collect::<Vec<_>>());
    let files = snapshot(&a);
    assert_eq!(files.len(), 6);
    assert_eq!(files, snapshot(&b));
    // No temp file is left behind, and Prometheus (often another user) can read every file.
    for (rel, _) in &files {
        assert!(!rel.contains(".tmp"), "{rel}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(a.join(rel)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "{rel}");
        }
    }
    let again = generate(&a_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(again.stdout, "5 agents, 0 files changed, 6 unchanged\n");
}

/// The file_sd output carries `agent` and the agent's labels, with normalised addresses.
#[test]
fn targets_carry_the_agent_label_and_user_labels() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.yml");
    write(
        &agents,
        "- name: web1\n  address: Web1.Example.com:9100\n  labels:\n    env: prod\n- name: v6\n  address: '[2001:DB8::A]:9100'\n",
    );
    generate(&["--agents", s(&agents), "--out-dir", s(dir.path())]);
    assert_eq!(
        read(&dir.path().join("prometheus/targets/agents.json")),
        r#"[
  {
    "targets": [
      "web1.example.com:9100"
    ],
    "labels": {
      "agent": "web1",
      "env": "prod"
    }
  },
  {
    "targets": [
      "[2001:db8::a]:9100"
    ],
    "labels": {
      "agent": "v6"
    }
  }
]
"#
    );
}

/// Agents with an `action_key_file` are listed for the receiver with their action URL and the
/// key file's absolute path (never the key); without any, the file is not written, and one
/// written before is removed as stale.
#[test]
fn action_keys_go_to_the_receivers_actions_file() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.yml");
    write(
        &agents,
        "- name: web1\n  address: 10.0.0.1:9100\n  labels:\n    env: prod\n  action_key_file: keys/web1.key\n\
         - name: web2\n  address: 10.0.0.2:9100\n  scheme: https\n  action_key_file: /etc/vpsmon/web2.key\n\
         - name: web3\n  address: 10.0.0.3:9100\n  action_key_file: keys/web3.key\n  action_url: http://127.0.0.1:19100/\n\
         - name: db1\n  address: 10.0.0.9:9100\n",
    );
    let out = dir.path().join("out");
    generate(&["--agents", s(&agents), "--out-dir", s(&out)]);
    let d = dir.path().display();
    assert_eq!(
        read(&out.join("receiver/action-agents.yml")),
        format!(
            "# Generated by vpsmon-gen-config from agents.yml. Do not edit: change the agent list or\n\
             # the flags and run vpsmon-gen-config again (see gen-config/README.md).\n\
             # For vpsmon-receiver --actions-file (RECEIVER_ACTIONS_FILE).\n\
             agents:\n\
             \x20 - name: 'web1'\n    url: 'http://10.0.0.1:9100'\n    key_file: '{d}/keys/web1.key'\n    labels:\n      'env': 'prod'\n\
             \x20 - name: 'web2'\n    url: 'https://10.0.0.2:9100'\n    key_file: '/etc/vpsmon/web2.key'\n\
             \x20 - name: 'web3'\n    url: 'http://127.0.0.1:19100'\n    key_file: '{d}/keys/web3.key'\n"
        )
    );
    write(&agents, "- name: db1\n  address: 10.0.0.9:9100\n");
    generate(&["--agents", s(&agents), "--out-dir", s(&out)]);
    assert!(!out.join("receiver/action-agents.yml").exists());
}

/// A flag beats its env var, which beats agents.yml's `rules:`, which beats the profile.
#[test]
fn flags_beat_env_vars_beat_the_yaml_beats_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.yml");
    write(
        &agents,
        "agents:\n  - name: a\n    address: 10.0.0.1:9100\nrules:\n  cpu_threshold: 70\n  memory_threshold: 60\n  disk_for: 3m\n",
    );
    let out = run(gen_config()
        .env("VPSMON_PROFILE", "fast")
        .env("VPSMON_CPU_THRESHOLD", "75")
        .env("VPSMON_DISK_THRESHOLD", "95")
        .env(
            "VPSMON_REMOTE_WRITE",
            "http://a.example.com/w,http://b.example.com/w",
        )
        .args(["--agents", s(&agents), "--out-dir", s(dir.path())])
        .args(["--memory-threshold", "65", "--disk-threshold", "91"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rules = read(&dir.path().join("prometheus/alert.rules.yml"));
    for want in [
        "[10s]))) > 0.75'\n        for: 5s\n", // env over yaml; fast profile
        "node_memory_MemTotal_bytes) > 0.65'\n        for: 5s\n", // flag over yaml
        "node_filesystem_readonly == 0'\n        for: 3m\n", // yaml over profile
        "(threshold 91%) for more than 3m.'",  // flag over env
        "(node_cpu_seconds_total{mode=\"idle\"}) > 1.5'\n        for: 5s\n", // profile
    ] {
        assert!(rules.contains(want), "missing {want:?} in:\n{rules}");
    }
    let prom = read(&dir.path().join("prometheus/prometheus.yml"));
    assert!(
        prom.contains(
            "remote_write:\n  - url: 'http://a.example.com/w'\n  - url: 'http://b.example.com/w'\n"
        ),
        "{prom}"
    );
}

/// MonitorCutOff's share and minimum follow the same order: flag, env var, agents.yml, profile.
#[test]
fn cutoff_thresholds_come_from_flags_env_vars_and_the_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.yml");
    write(
        &agents,
        "agents:\n  - name: a\n    address: 10.0.0.1:9100\nrules:\n  cutoff_threshold: 60\n  cutoff_min_agents: 4\n",
    );
    let expr = |extra: &[&str], env: Option<&str>| {
        let mut cmd = gen_config();
        if let Some(v) = env {
            cmd.env("VPSMON_CUTOFF_MIN_AGENTS", v);
        }
        let out = run(cmd
            .args(["--agents", s(&agents), "--out-dir", s(dir.path())])
            .args(extra));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let rules = read(&dir.path().join("prometheus/alert.rules.yml"));
        rules
            .lines()
            .skip_while(|l| !l.contains("- alert: MonitorCutOff"))
            .nth(1)
            .unwrap_or_else(|| panic!("no MonitorCutOff in:\n{rules}"))
            .to_owned()
    };
    assert_eq!(
        expr(&[], None),
        r#"        expr: 'count(up{agent!=""} == 0) >= 4 and count(up{agent!=""} == 0) / count(up{agent!=""}) >= 0.6'"#
    );
    assert_eq!(
        expr(&["--cutoff-threshold", "75"], Some("10")),
        r#"        expr: 'count(up{agent!=""} == 0) >= 10 and count(up{agent!=""} == 0) / count(up{agent!=""}) >= 0.75'"#
    );
    let out = run(gen_config()
        .args(["--agents", s(&agents), "--out-dir", s(dir.path())])
        .args(["--cutoff-min-agents", "1"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "invalid value '1' for '--cutoff-min-agents <N>': invalid number of agents 1: expected 2 or more"
        ),
        "{}",
        out.stderr
    );
}

/// Only files gen-config certainly wrote are removed as stale; a hand-written prometheus.yml or
/// another target file in the same directory stays.
#[test]
fn hand_written_files_are_never_removed() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.txt");
    // CRLF line ends and a byte-order mark, as some Windows editors write them.
    write(
        &agents,
        "\u{feff}web1 10.0.0.1:9100\r\n# comment\r\nweb2 10.0.0.2:9100\r\n",
    );
    let mine = "global:\n  scrape_interval: 30s\n";
    write(&dir.path().join("prometheus/prometheus.yml"), mine);
    write(&dir.path().join("prometheus/targets/blackbox.json"), "[]\n");
    let out = generate(&[
        "--agents",
        s(&agents),
        "--out-dir",
        s(dir.path()),
        "--shards",
        "2",
    ]);
    assert!(!out.stdout.contains("removed"), "{}", out.stdout);
    assert_eq!(read(&dir.path().join("prometheus/prometheus.yml")), mine);
    assert!(dir.path().join("prometheus/targets/blackbox.json").exists());
    let targets = read(&dir.path().join("prometheus/targets/agents.json"));
    assert!(
        targets.contains("\"agent\": \"web1\"") && targets.contains("\"agent\": \"web2\""),
        "{targets}"
    );
    // Back to one server: the generated shard files go, prometheus.yml is (over)written as asked.
    let out = generate(&["--agents", s(&agents), "--out-dir", s(dir.path())]);
    assert!(
        out.stdout.contains("wrote prometheus/prometheus.yml\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("removed prometheus/prometheus-shard-0.yml (no longer generated)\nremoved prometheus/prometheus-shard-1.yml (no longer generated)\n"), "{}", out.stdout);
    assert!(dir.path().join("prometheus/targets/blackbox.json").exists());
}

/// Issue 16: `--print-config` shows each resolved value and the layer it came from (flag, env
/// var, agents.yml `rules:`, the profile) and writes nothing.
#[test]
fn print_config_names_the_layer_of_each_value() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.yml");
    write(
        &agents,
        "agents:\n  - name: a\n    address: 10.0.0.1:9100\nrules:\n  cpu_threshold: 70\n  memory_threshold: 60\n",
    );
    let out = run(gen_config()
        .env("VPSMON_PROFILE", "fast")
        .env("VPSMON_DISK_THRESHOLD", "95")
        .args(["--agents", s(&agents), "--out-dir", s(dir.path())])
        .args(["--memory-threshold", "65", "--print-config"]));
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    for line in [
        "--profile=fast  (env VPSMON_PROFILE)\n",
        "--cpu-threshold=70  (agents.yml: rules.cpu_threshold)\n",
        "--memory-threshold=65  (command line)\n",
        "--disk-threshold=95  (env VPSMON_DISK_THRESHOLD)\n",
        "--scrape-interval=1s  (default of profile fast)\n",
        "--scrape-timeout=1s  (default)\n",
        "--receiver-metrics-address=127.0.0.1:9097  (default of --receiver-url)\n",
    ] {
        assert!(
            out.stdout.contains(line),
            "{line:?} missing from:\n{}",
            out.stdout
        );
    }
    assert!(
        !dir.path().join("prometheus").exists(),
        "--print-config wrote files"
    );
}

/// Issue 16: an error names the setting and the env var its value came from.
#[test]
fn errors_name_the_env_var_a_bad_value_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.yml");
    write(
        &agents,
        "agents:\n  - name: a\n    address: 10.0.0.1:9100\n",
    );
    for (var, value, expected) in [
        (
            "VPSMON_ALERTMANAGER_ADDRESS",
            "nohost",
            "vpsmon-gen-config: --alertmanager-address (from VPSMON_ALERTMANAGER_ADDRESS): address \"nohost\" has no port: expected HOST:PORT\n",
        ),
        (
            "VPSMON_CPU_THRESHOLD",
            "200",
            "error: invalid value '200' for '--cpu-threshold <PERCENT>' (from VPSMON_CPU_THRESHOLD): invalid percentage 200: expected a number between 0 and 100 (exclusive)\n",
        ),
    ] {
        let out = run(gen_config().env(var, value).args([
            "--agents",
            s(&agents),
            "--out-dir",
            s(dir.path()),
        ]));
        assert_eq!(out.code, 2, "{var}: {}", out.stderr);
        assert!(
            out.stderr.starts_with(expected),
            "{var}: expected {expected:?} at the start of:\n{}",
            out.stderr
        );
    }
    // On the command line, the flag alone is named, as before.
    let out = run(gen_config()
        .args(["--agents", s(&agents), "--out-dir", s(dir.path())])
        .args(["--alertmanager-address", "nohost"]));
    assert_eq!(
        out.stderr,
        "vpsmon-gen-config: --alertmanager-address: address \"nohost\" has no port: expected HOST:PORT\n"
    );
}
