//! The committed configs are current (the golden test), `--check` shows a diff when they are
//! not, and generation is deterministic and atomic.

use std::path::Path;

use crate::support::{gen_config, generate, read, repo_root, run, s, write};

const EXAMPLE: &str = "examples/agent_name_ip.txt";
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
        "--check",
    ]));
    assert_eq!(
        out.code, 0,
        "the committed configs are stale; regenerate with `vpsmon-gen-config --agents {EXAMPLE} --out-dir .`:\n{}{}",
        out.stdout, out.stderr
    );
    assert_eq!(out.stdout, "4 files are up to date\n");
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
    let agents = repo_root().join(EXAMPLE);
    let out = run(gen_config().args([
        "--agents",
        s(&agents),
        "--out-dir",
        s(dir.path()),
        "--check",
    ]));
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
    let agents = repo_root().join(EXAMPLE);
    let out = run(gen_config().args([
        "--agents",
        s(&agents),
        "--out-dir",
        s(dir.path()),
        "--check",
    ]));
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
    let list = |root: &Path| {
        let mut v: Vec<(String, Vec<u8>)> = Vec::new();
        for sub in ["prometheus", "prometheus/targets", "alertmanager"] {
            for e in std::fs::read_dir(root.join(sub)).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    v.push((
                        p.strip_prefix(root).unwrap().display().to_string(),
                        std::fs::read(&p).unwrap(),
                    ));
                }
            }
        }
        v.sort();
        v
    };
    let files = list(&a);
    assert_eq!(files.len(), 6);
    assert_eq!(files, list(&b));
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
