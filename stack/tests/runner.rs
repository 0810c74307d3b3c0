//! The runner with the real parts: vpsmon-exporter, vpsmon-gen-config, vpsmon-receiver (built by
//! `cargo build --workspace --bins`) and Debian's Prometheus and Alertmanager.
//!
//! up → status shows all up → a second up refuses and changes nothing → an added agent reaches
//! Prometheus through file_sd and its AgentDown alert reaches the console → down → no process
//! left; Ctrl-C and a killed supervisor leave nothing either; a busy port is named. The secure
//! defaults: the webhook refuses alerts without the generated token (and Alertmanager's still
//! arrive), the state dir is private, each part sees only its own environment, Prometheus cannot
//! be stopped over HTTP and still reloads changed rules.

use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use testkit::procs::{Proc, eventually, free_port, require_binary, workspace_bin};
use vpsmon_stack::process::ProcId;
use vpsmon_stack::state::StackFile;

const READY: &str = "vpsmon: all 4 parts ready.";

struct Stack {
    dir: tempfile::TempDir,
    ports: [(&'static str, &'static str, u16); 4],
}

impl Stack {
    fn new() -> Stack {
        // Fail early with the install hint rather than inside the runner.
        require_binary("PROMETHEUS_BIN", &["prometheus"], "prometheus");
        require_binary(
            "ALERTMANAGER_BIN",
            &["prometheus-alertmanager", "alertmanager"],
            "prometheus-alertmanager",
        );
        for bin in ["vpsmon-exporter", "vpsmon-gen-config", "vpsmon-receiver"] {
            assert!(
                workspace_bin(bin).is_file(),
                "{} missing: run `cargo build --workspace --bins` first",
                workspace_bin(bin).display()
            );
        }
        // Distinct from every port handed out in this process, including other stacks' (two
        // stacks run at once).
        let p: Vec<u16> = (0..4).map(|_| free_port()).collect();
        Stack {
            dir: tempfile::tempdir().unwrap(),
            ports: [
                ("exporter", "VPSMON_EXPORTER_PORT", p[0]),
                ("receiver", "VPSMON_RECEIVER_PORT", p[1]),
                ("alertmanager", "VPSMON_ALERTMANAGER_PORT", p[2]),
                ("prometheus", "VPSMON_PROMETHEUS_PORT", p[3]),
            ],
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn port(&self, part: &str) -> u16 {
        self.ports.iter().find(|p| p.0 == part).unwrap().2
    }

    fn cmd(&self, sub: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpsmon-stack"));
        cmd.arg(sub)
            .env("VPSMON_STATE_DIR", self.state())
            .env(
                "VPSMON_BIN_DIR",
                workspace_bin("vpsmon-exporter").parent().unwrap(),
            )
            .env("VPSMON_ENV_FILE", self.dir.path().join("no.env"))
            .env("VPSMON_PROFILE", "fast")
            .env("VPSMON_STOP_GRACE", "10")
            .env_remove("BOT_TOKEN")
            .env_remove("ALERT_CHAT_ID")
            .env_remove("SLACK_WEBHOOK_URL");
        for (_, env, port) in &self.ports {
            cmd.env(env, port.to_string());
        }
        cmd
    }

    fn run(&self, sub: &str) -> Output {
        self.cmd(sub).output().unwrap()
    }

    /// Starts `up` and waits for its "all ready" line.
    async fn up(&self) -> Proc {
        // A log per run: the next run must not find this run's "ready" line.
        let n = std::fs::read_dir(self.dir.path()).unwrap().count();
        let log = self.dir.path().join(format!("up-{n}.log"));
        let mut up = Proc::spawn("vpsmon up", self.cmd("up"), &log).unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !up.log_text().contains(READY) {
            assert!(
                up.is_running(),
                "vpsmon up exited before ready:\n{}",
                up.log_text()
            );
            assert!(
                Instant::now() < deadline,
                "not ready in 120 s:\n{}",
                up.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        up
    }

    fn record(&self) -> StackFile {
        StackFile::read(&self.state().join("run/stack.json"))
            .unwrap()
            .expect("run/stack.json while the stack runs")
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every path under `root` (itself included) with its permission bits.
fn modes_under(root: &Path) -> Vec<(PathBuf, bool, u32)> {
    let meta = std::fs::symlink_metadata(root).unwrap();
    let mut out = vec![(root.to_owned(), meta.is_dir(), meta.mode() & 0o7777)];
    if meta.is_dir() {
        for entry in std::fs::read_dir(root).unwrap() {
            out.extend(modes_under(&entry.unwrap().path()));
        }
    }
    out
}

/// `KEY=VALUE` entries of a process's environment.
fn environ(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect()
}

/// A webhook payload (version 4) as Alertmanager sends it.
const ALERT_BODY: &str = r#"{"version":"4","groupKey":"{}:{alertname=\"Forged\"}","status":"firing","receiver":"vpsmon-receiver","groupLabels":{"alertname":"Forged"},"commonLabels":{"alertname":"Forged"},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093","truncatedAlerts":0,"alerts":[{"status":"firing","labels":{"alertname":"Forged","agent":"web1","severity":"critical"},"annotations":{"summary":"forged"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:9090","fingerprint":"0123456789abcdef"}]}"#;

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

async fn wait_gone(ids: &[ProcId]) {
    eventually(
        Duration::from_secs(20),
        "every part's process to be gone",
        || async { ids.iter().all(|id| !id.is_alive()).then_some(()) },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn up_status_second_up_added_agent_down_leaves_nothing() {
    let stack = Stack::new();
    // A state dir left by an older version, readable by everyone: the next `up` tightens it.
    std::fs::create_dir_all(stack.state().join("logs")).unwrap();
    std::fs::write(stack.state().join("logs/receiver.log"), "old alert text\n").unwrap();
    for (p, m) in [("", 0o755), ("logs", 0o755), ("logs/receiver.log", 0o644)] {
        std::fs::set_permissions(stack.state().join(p), std::fs::Permissions::from_mode(m))
            .unwrap();
    }
    let mut up = stack.up().await;
    let log = up.log_text();
    for (part, _, port) in &stack.ports {
        let line = log
            .lines()
            .find(|l| l.starts_with(&format!("{part:<13} ready")))
            .unwrap_or_else(|| panic!("no ready line for {part}:\n{log}"));
        assert!(line.contains(&format!("http://127.0.0.1:{port}")), "{line}");
    }
    assert!(
        log.contains("Alerts go to this console (set BOT_TOKEN and ALERT_CHAT_ID for Telegram)"),
        "{log}"
    );

    // Private state: every directory 0700, every file 0600 (the parts inherit umask 077).
    for (path, is_dir, mode) in modes_under(&stack.state()) {
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", path.display());
    }

    // The webhook refuses an alert without the generated token, or with a wrong one.
    let token_file = stack.state().join("secrets/webhook-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(
        token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{} is not 32 random bytes in hex",
        token_file.display()
    );
    let alerts_url = format!("http://127.0.0.1:{}/alerts", stack.port("receiver"));
    let http = reqwest::Client::new();
    for bearer in [None, Some("0".repeat(64))] {
        let mut req = http
            .post(&alerts_url)
            .header("Content-Type", "application/json")
            .body(ALERT_BODY);
        if let Some(b) = &bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "token {bearer:?}");
    }

    // status: every part up, exit 0.
    let out = stack.run("status");
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{so}{se}");
    assert!(so.contains("running (supervisor pid"), "{so}");
    for (part, _, port) in &stack.ports {
        let line = so
            .lines()
            .find(|l| l.starts_with(part))
            .unwrap_or_else(|| panic!("{part} missing from status:\n{so}"));
        assert!(line.contains(" up "), "{line}");
        assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    }

    // A second up says so and changes nothing.
    let before = stack.record();
    let prom_yml = stack.state().join("config/prometheus/prometheus.yml");
    let yml_time = mtime(&prom_yml);
    let out = stack.run("up");
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{so}{se}");
    assert!(
        se.contains(&format!(
            "vpsmon is already running from {} (supervisor pid {}); nothing was changed",
            stack.state().display(),
            before.supervisor.pid
        )),
        "{se}"
    );
    assert_eq!(stack.record(), before);
    assert_eq!(mtime(&prom_yml), yml_time, "prometheus.yml was rewritten");
    assert!(before.parts.iter().all(|p| p.proc.is_alive()));
    assert!(up.is_running());

    // An agent added to the list reaches Prometheus through file_sd (same Prometheus process),
    // and, since nothing listens on its port, its AgentDown alert reaches the console.
    let ghost_port = free_port();
    let agents = stack.state().join("agents.txt");
    let mut list = std::fs::read_to_string(&agents).unwrap();
    list.push_str(&format!("ghost 127.0.0.1:{ghost_port}\n"));
    std::fs::write(&agents, list).unwrap();
    let targets_url = format!(
        "http://127.0.0.1:{}/api/v1/targets",
        stack.port("prometheus")
    );
    eventually(
        Duration::from_secs(30),
        "Prometheus to list agent ghost",
        || async {
            let body = reqwest::get(&targets_url).await.ok()?.text().await.ok()?;
            body.contains(r#""agent":"ghost""#).then_some(())
        },
    )
    .await
    .unwrap();
    assert!(
        up.log_text().contains(
            "vpsmon: agent list changed; configs regenerated (file_sd, no reload needed)"
        ),
        "{}",
        up.log_text()
    );
    let line = eventually(
        Duration::from_secs(60),
        "AgentDown for ghost on the console",
        || {
            let log = up.log_text();
            async move {
                log.lines()
                    .find(|l| {
                        l.starts_with("receiver | ")
                            && l.contains("AgentDown")
                            && l.contains("ghost")
                    })
                    .map(str::to_owned)
            }
        },
    )
    .await
    .unwrap();
    println!("console line: {line}");
    assert_eq!(stack.record().parts, before.parts, "no part was restarted");
    // That alert came through Alertmanager with the token; the forged ones never reached the
    // console. The token itself is in no output and no log.
    assert!(!up.log_text().contains("Forged"), "{}", up.log_text());
    let status = text(&stack.run("status"));
    let mut shown = format!("{}{}{}", up.log_text(), status.0, status.1);
    for (path, is_dir, _) in modes_under(&stack.state().join("logs")) {
        if !is_dir {
            shown.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    assert!(!shown.contains(&token), "the webhook token was printed");

    // down: the supervisor exits 0 and no recorded process is left.
    let out = stack.run("down");
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{so}{se}");
    assert!(
        so.contains("vpsmon stopped; no process of it is left"),
        "{so}"
    );
    assert_eq!(
        up.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        up.log_text()
    );
    let ids: Vec<ProcId> = before.parts.iter().map(|p| p.proc).collect();
    wait_gone(&ids).await;
    for (part, _, port) in &stack.ports {
        TcpListener::bind(("127.0.0.1", *port))
            .unwrap_or_else(|e| panic!("{part}'s port {port} still taken after down: {e}"));
    }
    let log = up.log_text();
    for (part, _, _) in &stack.ports {
        assert!(
            log.contains(&format!("{part:<13} stopped")),
            "{part} not stopped cleanly:\n{log}"
        );
    }
    let out = stack.run("status");
    let (so, _) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{so}");
    assert!(so.contains(": not running"), "{so}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_every_part() {
    let stack = Stack::new();
    let mut up = stack.up().await;
    let ids: Vec<ProcId> = stack.record().parts.iter().map(|p| p.proc).collect();
    assert_eq!(ids.len(), 4);
    up.signal(libc::SIGINT);
    assert_eq!(
        up.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        up.log_text()
    );
    wait_gone(&ids).await;
    assert!(up.log_text().contains("vpsmon: interrupted, stopping"));
    assert!(!stack.state().join("run/stack.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_supervisor_leaves_no_orphans_and_down_cleans_up() {
    let stack = Stack::new();
    let mut up = stack.up().await;
    let ids: Vec<ProcId> = stack.record().parts.iter().map(|p| p.proc).collect();
    let token_file = stack.state().join("secrets/webhook-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    up.signal(libc::SIGKILL);
    up.wait_exit(Duration::from_secs(10));
    // PR_SET_PDEATHSIG: the parts get SIGTERM when the supervisor dies.
    wait_gone(&ids).await;
    let out = stack.run("down");
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{so}{se}");
    assert!(
        so.contains("vpsmon stopped; no process of it is left"),
        "{so}"
    );
    // The state dir is usable again, with the same webhook token.
    let mut again = stack.up().await;
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), token);
    again.signal(libc::SIGTERM);
    assert_eq!(again.wait_exit(Duration::from_secs(30)), Some(0));
}

#[test]
fn a_busy_port_is_named_with_its_part_and_nothing_starts() {
    let stack = Stack::new();
    let busy = TcpListener::bind(("127.0.0.1", stack.port("prometheus"))).unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = stack.run("up");
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{so}{se}");
    assert!(
        se.contains(&format!(
            "port {port} on 127.0.0.1, needed by Prometheus, is not available"
        )),
        "{se}"
    );
    assert!(
        se.contains("VPSMON_PROMETHEUS_PORT=<port> ./vpsmon up"),
        "{se}"
    );
    assert!(!stack.state().join("run/stack.json").exists());
    assert!(
        !stack.state().join("logs").exists(),
        "something was started"
    );
    // The other ports were not touched.
    for part in ["exporter", "receiver", "alertmanager"] {
        TcpListener::bind(("127.0.0.1", stack.port(part))).unwrap();
    }
}

#[test]
fn the_vpsmon_script_parses_and_explains_itself() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vpsmon");
    let out = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&script).arg("--help").output().unwrap();
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{se}");
    for line in ["./vpsmon up", "./vpsmon status", "./vpsmon down"] {
        assert!(so.contains(line), "--help lacks {line}:\n{so}");
    }
    // status/down before anything was built: a clear message, not a bash error.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(&script)
        .arg("status")
        .env("CARGO_TARGET_DIR", empty.path())
        .output()
        .unwrap();
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        se.contains("vpsmon-stack not built yet: nothing can be running. Start with ./vpsmon up"),
        "{se}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_bot_token_and_chat_id_in_dot_env_alerts_go_to_telegram() {
    let tg = testkit::telegram::FakeTelegram::start().await;
    let stack = Stack::new();
    // Seed 002's .env format, spaces around '=' included.
    let env_file = stack.dir.path().join("seed.env");
    std::fs::write(
        &env_file,
        format!(
            "# Telegram Bot Configuration\nBOT_TOKEN = {}\nALERT_CHAT_ID = -100777\nTELEGRAM_API_URL={}\n",
            tg.token(),
            tg.url()
        ),
    )
    .unwrap();
    let mut cmd = stack.cmd("up");
    cmd.env("VPSMON_ENV_FILE", &env_file)
        // Any other secret of the user's shell must not reach a part either.
        .env("AWS_SECRET_ACCESS_KEY", "decoy-secret-of-the-shell");
    let log = stack.dir.path().join("up-telegram.log");
    let mut up = Proc::spawn("vpsmon up", cmd, &log).unwrap();
    eventually(Duration::from_secs(120), "the stack to be ready", || {
        let text = up.log_text();
        async move { text.contains(READY).then_some(()) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log_text()));
    assert!(
        up.log_text()
            .contains("Alerts go to Telegram (BOT_TOKEN and ALERT_CHAT_ID are set)"),
        "{}",
        up.log_text()
    );
    assert!(
        !up.log_text().contains(tg.token()),
        "the bot token leaked into the output"
    );
    // No part holds the token in its environment: the receiver is given a 0600 file instead.
    let bot_file = stack.state().join("secrets/bot-token");
    for part in stack.record().parts {
        let env = environ(part.proc.pid);
        let name = format!("{:?}", part.part);
        for e in &env {
            assert!(
                !e.contains(tg.token()) && !e.starts_with("BOT_TOKEN="),
                "{name} has the bot token in its environment"
            );
            assert!(
                !e.contains("decoy-secret-of-the-shell"),
                "{name} inherited the shell's secrets"
            );
        }
        let chat = env.iter().any(|e| e == "ALERT_CHAT_ID=-100777");
        let file = env
            .iter()
            .any(|e| *e == format!("BOT_TOKEN_FILE={}", bot_file.display()));
        let receiver = part.part == vpsmon_stack::parts::Part::Receiver;
        assert_eq!(
            chat, receiver,
            "{name}: ALERT_CHAT_ID only for the receiver"
        );
        assert_eq!(
            file, receiver,
            "{name}: BOT_TOKEN_FILE only for the receiver"
        );
    }
    assert_eq!(std::fs::read_to_string(&bot_file).unwrap(), tg.token());
    assert_eq!(std::fs::metadata(&bot_file).unwrap().mode() & 0o777, 0o600);
    let agents = stack.state().join("agents.txt");
    let mut list = std::fs::read_to_string(&agents).unwrap();
    list.push_str(&format!("ghost 127.0.0.1:{}\n", free_port()));
    std::fs::write(&agents, list).unwrap();
    let text = eventually(
        Duration::from_secs(90),
        "AgentDown for ghost in Telegram",
        || {
            let msgs = tg.messages();
            async move {
                msgs.into_iter()
                    .find(|m| {
                        m.chat_id == -100777
                            && m.visible_text.contains("FIRING · AgentDown")
                            && m.visible_text.contains("Agent: ghost")
                    })
                    .map(|m| m.visible_text)
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nup log:\n{}", up.log_text()));
    println!("telegram message:\n{text}");
    assert!(
        !up.log_text().contains("receiver | FIRING"),
        "with Telegram configured, alerts must not go to the console"
    );
    up.signal(libc::SIGINT);
    assert_eq!(up.wait_exit(Duration::from_secs(30)), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_cannot_be_stopped_over_http_and_a_changed_rule_is_reloaded() {
    let stack = Stack::new();
    std::fs::create_dir_all(stack.state()).unwrap();
    let agents = stack.state().join("agents.yml");
    let list = |cpu: u32| {
        format!(
            "agents:\n  - name: local\n    address: 127.0.0.1:{}\nrules:\n  cpu_threshold: {cpu}\n",
            stack.port("exporter")
        )
    };
    std::fs::write(&agents, list(80)).unwrap();
    // The user's own rule file, in rules.d/ next to the agent list (gen-config's default).
    let mine = stack.state().join("rules.d/mine.yml");
    let my_rule = |threshold: u32| {
        format!(
            "groups:\n  - name: mine\n    rules:\n      - alert: TooManyProcesses\n        expr: node_procs_running > {threshold}\n"
        )
    };
    std::fs::create_dir_all(mine.parent().unwrap()).unwrap();
    std::fs::write(&mine, my_rule(500)).unwrap();
    let mut up = stack.up().await;
    assert!(
        up.log_text()
            .contains("vpsmon: fast profile: a host that goes down is reported in about"),
        "{}",
        up.log_text()
    );
    let base = format!("http://127.0.0.1:{}", stack.port("prometheus"));
    let prometheus = stack
        .record()
        .parts
        .into_iter()
        .find(|p| p.part == vpsmon_stack::parts::Part::Prometheus)
        .unwrap();

    // Without --web.enable-lifecycle, neither quit nor reload is open to local users.
    let http = reqwest::Client::new();
    for path in ["/-/quit", "/-/reload"] {
        let resp = http.post(format!("{base}{path}")).send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 403, "POST {path}: {body}");
        assert!(body.contains("Lifecycle API is not enabled"), "{body}");
    }
    // Give a quit that had been accepted time to take effect.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(prometheus.proc.is_alive(), "Prometheus stopped");
    let ready = reqwest::get(format!("{base}/-/ready")).await.unwrap();
    assert!(ready.status().is_success());

    // A rule change (not a new agent, so file_sd cannot carry it) reaches the same Prometheus.
    let rules_url = format!("{base}/api/v1/rules");
    let high_cpu_query = || async {
        let body: serde_json::Value = reqwest::get(&rules_url).await.ok()?.json().await.ok()?;
        body["data"]["groups"]
            .as_array()?
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .find(|r| r["name"] == "HighCPU")
            .and_then(|r| r["query"].as_str().map(str::to_owned))
    };
    let query = high_cpu_query().await.expect("HighCPU is loaded");
    assert!(query.ends_with("> 0.8"), "{query}");
    std::fs::write(&agents, list(42)).unwrap();
    eventually(
        Duration::from_secs(30),
        "Prometheus to evaluate HighCPU with the new threshold",
        || async { high_cpu_query().await.filter(|q| q.ends_with("> 0.42")) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log_text()));
    // Printed once Prometheus' /metrics confirms the reload, which may be a moment later.
    let reloaded = "vpsmon: agent list changed; configs regenerated, Prometheus reloaded";
    eventually(Duration::from_secs(15), "the reload line", || {
        let log = up.log_text();
        async move { log.contains(reloaded).then_some(()) }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log_text()));
    assert!(prometheus.proc.is_alive(), "Prometheus was restarted");

    // The user's rule is loaded, and an edit to it alone is reloaded too.
    let my_query = || async {
        let body: serde_json::Value = reqwest::get(&rules_url).await.ok()?.json().await.ok()?;
        body["data"]["groups"]
            .as_array()?
            .iter()
            .find(|g| g["name"] == "mine")?["rules"][0]["query"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(
        my_query().await.as_deref(),
        Some("node_procs_running > 500")
    );
    std::fs::write(&mine, my_rule(600)).unwrap();
    eventually(Duration::from_secs(30), "the edited user rule", || async {
        my_query().await.filter(|q| q == "node_procs_running > 600")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", up.log_text()));
    up.signal(libc::SIGINT);
    assert_eq!(up.wait_exit(Duration::from_secs(30)), Some(0));
}

#[test]
fn a_pasted_token_in_dot_env_is_named_by_file_and_line_not_shown() {
    let stack = Stack::new();
    let env_file = stack.dir.path().join("pasted.env");
    std::fs::write(&env_file, "ALERT_CHAT_ID=-100\n123456:ABC-secret\n").unwrap();
    let mut cmd = stack.cmd("up");
    cmd.env("VPSMON_ENV_FILE", &env_file);
    let out = cmd.output().unwrap();
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{so}{se}");
    assert!(
        se.contains(&format!("{}:2: expected KEY=VALUE", env_file.display())),
        "{se}"
    );
    assert!(
        !so.contains("ABC-secret") && !se.contains("ABC-secret"),
        "{so}{se}"
    );
    assert!(!stack.state().join("run/stack.json").exists());
}

/// Issue 16: `--print-config` lists the subcommand's settings with their sources and starts
/// nothing; a bad value from an env var is refused naming the variable.
#[test]
fn print_config_shows_sources_and_env_errors_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let stack = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpsmon-stack"));
        for (key, _) in std::env::vars() {
            if key.starts_with("VPSMON_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("VPSMON_STATE_DIR", &state)
            .env("VPSMON_EXPORTER_PORT", "9200")
            .env("VPSMON_STOP_GRACE", "4")
            .arg("up");
        cmd
    };
    let out = stack()
        .args(["--print-config", "--ready-timeout", "5"])
        .env("PROMETHEUS_BIN", "/opt/prom/prometheus")
        .env("VPSMON_ALERTMANAGER_BIN", "/opt/am/alertmanager")
        .env("ALERTMANAGER_BIN", "/not/this/one")
        .output()
        .unwrap();
    let (so, se) = text(&out);
    assert_eq!((out.status.code(), se.as_str()), (Some(0), ""), "{so}");
    for line in [
        "--exporter-port=9200  (env VPSMON_EXPORTER_PORT)\n".to_string(),
        "--prometheus-port=9090  (default)\n".to_string(),
        "--ready-timeout=5  (command line)\n".to_string(),
        "--grace=4  (env VPSMON_STOP_GRACE)\n".to_string(),
        format!("--state-dir={}  (env VPSMON_STATE_DIR)\n", state.display()),
        // testkit's names are read when the VPSMON_ ones are unset.
        "--prometheus-bin=/opt/prom/prometheus  (env PROMETHEUS_BIN)\n".to_string(),
        "--alertmanager-bin=/opt/am/alertmanager  (env VPSMON_ALERTMANAGER_BIN)\n".to_string(),
    ] {
        assert!(so.contains(&line), "{line:?} missing from:\n{so}");
    }
    assert!(!state.exists(), "--print-config created the state dir");

    let out = stack()
        .env("VPSMON_READY_TIMEOUT", "soon")
        .output()
        .unwrap();
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(
        se.starts_with("error: invalid value 'soon' for '--ready-timeout <READY_TIMEOUT>' (from VPSMON_READY_TIMEOUT): invalid digit found in string\n"),
        "{se}"
    );
    assert!(!state.exists());
}
