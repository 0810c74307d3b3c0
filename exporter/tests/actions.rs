//! Actions (issue 19) against the real binary: every forged, replayed, stale, unknown or
//! ill-formed request runs nothing (the `mark` action would create a marker file) and is in the
//! audit log as refused with its reason; parameters reach the command as single literal
//! arguments; a hanging command is killed at its timeout with its children; output is capped
//! and made valid UTF-8; and with no --actions.config there is no endpoint at all.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::{Running, start_ours};
use vpsmon_common::action_sig::{NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const METRICS_TOKEN: &str = "metrics-token-0123456789abcdef0123456789";

struct Agent {
    ours: Running,
    dir: tempfile::TempDir,
}

fn write_secret(path: &Path, value: &str) {
    std::fs::write(path, format!("{value}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// An exporter with the test actions, the action key, a metrics token and an audit log.
async fn agent() -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = d.join("marker");
    let config = format!(
        r#"actions:
  mark:
    argv: [/usr/bin/touch, "{marker}"]
    user: root
  unit:
    description: touch the marker, given a unit name
    timeout: 90s
    all_agents: true
    argv: [/bin/sh, -c, 'touch "$0"', "{marker}", "{{unit}}"]
    params:
      unit: {{ regex: '[a-z0-9-]+\.service' }}
    user: root
  echo:
    argv: [/usr/bin/printf, '[%s]\n', "{{text}}"]
    params:
      text: {{ regex: '[ -~]{{1,200}}' }}
    user: root
  hang:
    argv: [/bin/sh, -c, 'sleep 100 & echo $!; sleep 100 & echo $!; echo $$; wait']
    user: root
    timeout: 1s
  big:
    argv: [/bin/sh, -c, 'yes | head -c 100000']
    user: root
    max_output: 1000
  binary:
    argv: [/usr/bin/printf, 'a\377b\n']
    user: root
  whoami:
    argv: [/usr/bin/id, -u]
    user: nobody
"#,
        marker = marker.display()
    );
    std::fs::write(d.join("actions.yml"), config).unwrap();
    write_secret(&d.join("action.key"), KEY);
    write_secret(&d.join("metrics.token"), METRICS_TOKEN);
    let args = vec![
        "--collector.disable-defaults".to_string(),
        "--collector.loadavg".to_string(),
        format!("--actions.config={}", d.join("actions.yml").display()),
        format!("--actions.key-file={}", d.join("action.key").display()),
        format!("--actions.audit-log={}", d.join("audit.log").display()),
        format!(
            "--web.auth-token-file={}",
            d.join("metrics.token").display()
        ),
    ];
    let ours = start_ours(d, &args).await;
    Agent { ours, dir }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn fresh_nonce() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "n{nanos}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The headers a signed request carries.
struct Signed {
    timestamp: String,
    nonce: String,
    signature: String,
}

fn signed(key: &str, path: &str, body: &str, timestamp: i64) -> Signed {
    signed_as(key, "POST", path, body, timestamp)
}

fn signed_as(key: &str, method: &str, path: &str, body: &str, timestamp: i64) -> Signed {
    let (timestamp, nonce) = (timestamp.to_string(), fresh_nonce());
    let signature = sign(
        key.as_bytes(),
        method,
        path,
        &timestamp,
        &nonce,
        body.as_bytes(),
    );
    Signed {
        timestamp,
        nonce,
        signature,
    }
}

fn body(params: Value) -> String {
    json!({"params": params, "requested_by": "telegram:42 @alice"}).to_string()
}

impl Agent {
    fn marker(&self) -> PathBuf {
        self.dir.path().join("marker")
    }

    async fn post(
        &self,
        action: &str,
        body: &str,
        sig: Option<&Signed>,
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}/api/actions/{action}", self.ours.base))
            .body(body.to_owned());
        if let Some(s) = sig {
            req = req
                .header(TIMESTAMP_HEADER, &s.timestamp)
                .header(NONCE_HEADER, &s.nonce)
                .header(SIGNATURE_HEADER, &s.signature);
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// `GET /api/actions` with these headers: the status and the JSON answer.
    async fn list(&self, sig: Option<&Signed>, bearer: Option<&str>) -> (u16, Value) {
        let mut req = reqwest::Client::new().get(format!("{}/api/actions", self.ours.base));
        if let Some(s) = sig {
            req = req
                .header(TIMESTAMP_HEADER, &s.timestamp)
                .header(NONCE_HEADER, &s.nonce)
                .header(SIGNATURE_HEADER, &s.signature);
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// A correctly signed request.
    async fn run(&self, action: &str, params: Value) -> (u16, Value) {
        let b = body(params);
        let s = signed(KEY, &format!("/api/actions/{action}"), &b, now());
        self.post(action, &b, Some(&s), None).await
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Nothing ran, the answer is the refusal, and the audit log's last line says so.
    fn assert_refused(&self, answer: (u16, Value), status: u16, reason: &str) {
        assert_eq!(
            answer,
            (status, json!({"error": "refused", "reason": reason}))
        );
        assert!(!self.marker().exists(), "the action ran");
        let audit = self.audit();
        let last = audit.last().expect("no audit line");
        assert_eq!(last["result"], "refused", "{last}");
        assert_eq!(last["reason"], reason, "{last}");
        assert_eq!(last["exit_code"], Value::Null, "{last}");
    }
}

#[tokio::test]
async fn a_signed_request_runs_and_is_audited_and_counted() {
    let a = agent().await;
    let (status, answer) = a.run("mark", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["exit_code"], 0);
    assert_eq!(answer["output"], "");
    assert_eq!(answer["killed"], false);
    assert!(a.marker().exists());
    let audit = a.audit();
    let line = &audit[0];
    assert_eq!(line["action"], "mark");
    assert_eq!(line["requested_by"], "telegram:42 @alice");
    assert_eq!(line["result"], "ok");
    assert_eq!(line["exit_code"], 0);
    assert_eq!(line["output_bytes"], 0);
    assert!(
        line["duration_ms"].is_u64() && line["time"].is_string(),
        "{line}"
    );

    // Privileges are dropped: `nobody` runs as 65534.
    let (_, answer) = a.run("whoami", json!({})).await;
    assert_eq!(answer["output"], "65534\n");

    std::fs::remove_file(a.marker()).unwrap();
    a.assert_refused(
        a.post("mark", &body(json!({})), None, None).await,
        401,
        "missing x-vpsmon-signature header",
    );
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", a.ours.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "vpsmon_action_runs_total{action=\"mark\",result=\"ok\"} 1\n",
        "vpsmon_action_runs_total{action=\"whoami\",result=\"ok\"} 1\n",
        "vpsmon_action_runs_total{action=\"mark\",result=\"refused\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
}

#[tokio::test]
async fn no_signature_and_a_wrong_key_run_nothing() {
    let mut a = agent().await;
    let b = body(json!({}));
    a.assert_refused(
        a.post("mark", &b, None, None).await,
        401,
        "missing x-vpsmon-signature header",
    );
    let wrong = signed(&KEY.replace('0', "1"), "/api/actions/mark", &b, now());
    a.assert_refused(
        a.post("mark", &b, Some(&wrong), None).await,
        401,
        "bad signature",
    );
    // Signed for another action, sent to this one.
    let moved = signed(KEY, "/api/actions/echo", &b, now());
    a.assert_refused(
        a.post("mark", &b, Some(&moved), None).await,
        401,
        "bad signature",
    );
    a.ours.proc.kill();
}

#[tokio::test]
async fn the_metrics_token_cannot_run_anything() {
    let a = agent().await;
    let b = body(json!({}));
    // As a bearer token: it is valid for /metrics, and means nothing here.
    a.assert_refused(
        a.post("mark", &b, None, Some(METRICS_TOKEN)).await,
        401,
        "missing x-vpsmon-signature header",
    );
    // As the HMAC key.
    let s = signed(METRICS_TOKEN, "/api/actions/mark", &b, now());
    a.assert_refused(
        a.post("mark", &b, Some(&s), Some(METRICS_TOKEN)).await,
        401,
        "bad signature",
    );
}

#[tokio::test]
async fn a_replayed_nonce_runs_nothing() {
    let a = agent().await;
    let b = body(json!({}));
    let s = signed(KEY, "/api/actions/mark", &b, now());
    assert_eq!(a.post("mark", &b, Some(&s), None).await.0, 200);
    assert!(a.marker().exists());
    std::fs::remove_file(a.marker()).unwrap();
    a.assert_refused(
        a.post("mark", &b, Some(&s), None).await,
        401,
        "replayed nonce",
    );
}

#[tokio::test]
async fn a_timestamp_31_s_old_runs_nothing() {
    let a = agent().await;
    let b = body(json!({}));
    let s = signed(KEY, "/api/actions/mark", &b, now() - 31);
    let answer = a.post("mark", &b, Some(&s), None).await;
    // The agent's clock may have ticked once since.
    let reason = answer.1["reason"].as_str().unwrap_or("").to_owned();
    assert!(
        ["31", "32"]
            .iter()
            .any(|n| reason == format!("timestamp {n}s from the agent's clock (at most 30s)")),
        "{reason}"
    );
    a.assert_refused(answer, 401, &reason);
    let future = signed(KEY, "/api/actions/mark", &b, now() + 60);
    let answer = a.post("mark", &b, Some(&future), None).await;
    assert_eq!(answer.0, 401);
    assert!(!a.marker().exists());
}

#[tokio::test]
async fn an_unknown_action_and_a_parameter_failing_its_regex_run_nothing() {
    let a = agent().await;
    let answer = a.run("nope", json!({})).await;
    a.assert_refused(answer, 404, "unknown action \"nope\"");
    let answer = a
        .run("unit", json!({"unit": "nginx.service; touch /tmp/x"}))
        .await;
    a.assert_refused(
        answer,
        400,
        "parameter \"unit\" does not match ^(?:[a-z0-9-]+\\.service)$",
    );
    a.assert_refused(
        a.run("unit", json!({})).await,
        400,
        "missing parameter \"unit\"",
    );
    a.assert_refused(
        a.run("unit", json!({"unit": "a.service", "extra": "x"}))
            .await,
        400,
        "unknown parameter \"extra\"",
    );
    // The audit keeps who asked and what, also when refused after the signature.
    let last = a.audit().pop().unwrap();
    assert_eq!(last["requested_by"], "telegram:42 @alice");
    assert_eq!(last["params"], json!({"unit": "a.service", "extra": "x"}));
    // And the good value runs.
    assert_eq!(a.run("unit", json!({"unit": "nginx.service"})).await.0, 200);
    assert!(a.marker().exists());
}

#[tokio::test]
async fn shell_metacharacters_are_one_literal_argument() {
    let a = agent().await;
    let pwned = a.dir.path().join("pwned");
    let text = format!(
        "$(touch {p}) `touch {p}`; touch {p} | touch {p} && touch {p} > * ' \" \\ {{a,b}} ~",
        p = pwned.display()
    );
    let (status, answer) = a.run("echo", json!({ "text": text })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["output"], format!("[{text}]\n"));
    assert_eq!(answer["exit_code"], 0);
    assert!(!pwned.exists(), "the parameter was interpreted");
}

/// The state of process `pid` (`R`, `S`, `Z`...), `None` when it is gone.
fn proc_state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

#[tokio::test]
async fn a_hanging_command_is_killed_at_its_timeout_with_its_children() {
    let a = agent().await;
    let (status, answer) = a.run("hang", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["killed"], true);
    assert_eq!(answer["exit_code"], Value::Null);
    assert_eq!(answer["signal"], 9);
    let pids: Vec<String> = answer["output"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(pids.len(), 3, "{answer}");
    for pid in &pids {
        // Killed: gone, or a zombie waiting for its reaper.
        let mut state = proc_state(pid);
        for _ in 0..100 {
            if matches!(state, None | Some('Z')) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            state = proc_state(pid);
        }
        assert!(
            matches!(state, None | Some('Z')),
            "pid {pid} still {state:?}"
        );
    }
    let last = a.audit().pop().unwrap();
    assert_eq!(last["result"], "timeout");
}

#[tokio::test]
async fn output_over_the_cap_is_cut_and_invalid_utf8_comes_back_lossy() {
    let a = agent().await;
    let (_, answer) = a.run("big", json!({})).await;
    assert_eq!(
        answer["output"],
        format!(
            "{}\n[output cut at 1000 bytes of 100000]\n",
            "y\n".repeat(500)
        )
    );
    assert_eq!(answer["truncated"], true);
    assert_eq!(answer["output_bytes"], 100000);
    assert_eq!(a.audit().pop().unwrap()["output_bytes"], 100000);
    let (_, answer) = a.run("binary", json!({})).await;
    assert_eq!(answer["output"], "a\u{FFFD}b\n");
    assert_eq!(answer["truncated"], false);
}

#[tokio::test]
async fn without_actions_config_there_is_no_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ours = start_ours(dir.path(), &["--collector.disable-defaults".to_string()]).await;
    let b = body(json!({}));
    let s = signed(KEY, "/api/actions/mark", &b, now());
    let resp = reqwest::Client::new()
        .post(format!("{}/api/actions/mark", ours.base))
        .header(TIMESTAMP_HEADER, &s.timestamp)
        .header(NONCE_HEADER, &s.nonce)
        .header(SIGNATURE_HEADER, &s.signature)
        .body(b)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let metrics = reqwest::get(format!("{}/metrics", ours.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("vpsmon_action"), "{metrics}");
}

#[test]
fn a_bad_config_or_a_missing_key_stops_the_start_naming_what() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("actions.yml");
    std::fs::write(
        &config,
        "actions:\n  df:\n    argv: [/usr/bin/df]\n    user: no-such-user-xyz\n",
    )
    .unwrap();
    write_secret(&d.join("action.key"), KEY);
    write_secret(&d.join("short.key"), "short");
    let start = |extra: &[String]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vpsmon-exporter"))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg(format!("--actions.config={}", config.display()))
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let key = format!("--actions.key-file={}", d.join("action.key").display());
    let audit = format!("--actions.audit-log={}", d.join("audit.log").display());
    assert_eq!(
        start(&[key.clone(), audit.clone()]),
        (
            Some(2),
            format!(
                "vpsmon-exporter: --actions.config: {}: action \"df\", field user: no user \
                 \"no-such-user-xyz\" on this system\n",
                config.display()
            )
        )
    );
    std::fs::write(
        &config,
        "actions:\n  df:\n    argv: [/usr/bin/df]\n    user: root\n",
    )
    .unwrap();
    assert_eq!(
        start(std::slice::from_ref(&audit)),
        (
            Some(2),
            "vpsmon-exporter: --actions.key-file is required with --actions.config\n".into()
        )
    );
    assert_eq!(
        start(&[key]),
        (
            Some(2),
            "vpsmon-exporter: --actions.audit-log is required with --actions.config\n".into()
        )
    );
    let short = format!("--actions.key-file={}", d.join("short.key").display());
    let (code, err) = start(&[short, audit]);
    assert_eq!(code, Some(2));
    assert!(err.contains("shorter than 32 bytes"), "{err}");
    assert!(!err.contains("short\n"), "the key leaked: {err}");
}

#[tokio::test]
async fn deleting_the_key_file_revokes_the_key_until_it_is_back() {
    let a = agent().await;
    let key = a.dir.path().join("action.key");
    std::fs::remove_file(&key).unwrap();
    a.assert_refused(
        a.run("mark", json!({})).await,
        503,
        "no usable action key on this agent",
    );
    write_secret(&key, KEY);
    assert_eq!(a.run("mark", json!({})).await.0, 200);
    assert!(a.marker().exists());
}

#[tokio::test]
async fn a_body_over_the_limit_runs_nothing_and_is_audited() {
    let a = agent().await;
    let b = body(json!({"text": "x".repeat(5000)}));
    let s = signed(KEY, "/api/actions/mark", &b, now());
    let (status, answer) = a.post("mark", &b, Some(&s), None).await;
    assert_eq!(status, 413, "{answer}");
    let reason = answer["reason"].as_str().unwrap().to_owned();
    assert!(reason.starts_with("body: "), "{reason}");
    a.assert_refused((status, answer), 413, &reason);
}

/// An exporter that is not root cannot switch users, so it refuses such an action at start
/// rather than failing each run. Run as `nobody` through util-linux's setpriv (needs root).
#[test]
fn a_non_root_exporter_refuses_an_action_user_it_cannot_become() {
    // SAFETY: a plain getter.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root and /usr/bin/setpriv");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("actions.yml");
    std::fs::write(
        &config,
        "actions:\n  df:\n    argv: [/usr/bin/df]\n    user: root\n",
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_vpsmon-exporter"))
        .arg("--web.listen-address=127.0.0.1:0")
        .arg(format!("--actions.config={}", config.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "vpsmon-exporter: --actions.config: {}: action \"df\", field user: the exporter runs \
             as uid 65534, not root, so it can run actions only as itself, not as \"root\" (uid 0)\n",
            config.display()
        )
    );
}

#[tokio::test]
async fn a_request_from_before_a_restart_cannot_be_replayed_after_it() {
    let first = agent().await;
    let b = body(json!({}));
    let s = signed(KEY, "/api/actions/mark", &b, now());
    assert_eq!(first.post("mark", &b, Some(&s), None).await.0, 200);
    // Another exporter with the same key and no memory of that nonce, started a second later.
    while now() <= s.timestamp.parse::<i64>().unwrap() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = agent().await;
    second.assert_refused(
        second.post("mark", &b, Some(&s), None).await,
        401,
        "timestamp before this agent started (a request from before a restart)",
    );
}

#[tokio::test]
async fn a_signed_list_shows_the_actions_and_anything_else_is_refused_and_audited() {
    let a = agent().await;
    let s = signed_as(KEY, "GET", "/api/actions", "", now());
    let (status, answer) = a.list(Some(&s), None).await;
    assert_eq!(status, 200, "{answer}");
    let list = answer["actions"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["big", "binary", "echo", "hang", "mark", "unit", "whoami"]
    );
    assert_eq!(
        list[5],
        json!({
            "name": "unit",
            "description": "touch the marker, given a unit name",
            "params": [{"name": "unit", "type": "string", "regex": "^(?:[a-z0-9-]+\\.service)$"}],
            "timeout_seconds": 90.0,
            "all_agents": true,
        })
    );
    assert_eq!(
        list[4],
        json!({"name": "mark", "description": "", "params": [], "timeout_seconds": 30.0, "all_agents": false})
    );
    let last = a.audit().pop().unwrap();
    assert_eq!(
        (&last["request"], &last["result"], &last["action"]),
        (&json!("list"), &json!("listed"), &json!(""))
    );

    let refused = |answer: (u16, Value), status: u16, reason: &str| {
        assert_eq!(
            answer,
            (status, json!({"error": "refused", "reason": reason}))
        );
        let last = a.audit().pop().unwrap();
        assert_eq!(
            (&last["request"], &last["result"], &last["reason"]),
            (&json!("list"), &json!("refused"), &json!(reason)),
        );
    };
    refused(
        a.list(None, None).await,
        401,
        "missing x-vpsmon-signature header",
    );
    // The metrics token, as a bearer token and as the key.
    refused(
        a.list(None, Some(METRICS_TOKEN)).await,
        401,
        "missing x-vpsmon-signature header",
    );
    let s = signed_as(METRICS_TOKEN, "GET", "/api/actions", "", now());
    refused(a.list(Some(&s), None).await, 401, "bad signature");
    // Signed as a POST: the method is covered.
    let s = signed_as(KEY, "POST", "/api/actions", "", now());
    refused(a.list(Some(&s), None).await, 401, "bad signature");
    // Replayed.
    let s = signed_as(KEY, "GET", "/api/actions", "", now());
    assert_eq!(a.list(Some(&s), None).await.0, 200);
    refused(a.list(Some(&s), None).await, 401, "replayed nonce");
    assert!(!a.marker().exists());
    // Refused lists count as refusals of no action; answered ones are no runs.
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", a.ours.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vpsmon_action_runs_total{action=\"\",result=\"refused\"} 5\n"),
        "{metrics}"
    );
    assert!(!metrics.contains("listed"), "{metrics}");
}
