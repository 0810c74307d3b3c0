//! The runner with the real parts: vpsmon-exporter, vpsmon-gen-config, vpsmon-receiver (built by
//! `cargo build --workspace --bins`) and Debian's Prometheus and Alertmanager.
//!
//! up → status shows all up → a second up refuses and changes nothing → an added agent reaches
//! Prometheus through file_sd and its AgentDown alert reaches the console → down → no process
//! left; Ctrl-C and a killed supervisor leave nothing either; a busy port is named.

use std::net::TcpListener;
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
    // The state dir is usable again.
    let mut again = stack.up().await;
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
    cmd.env("VPSMON_ENV_FILE", &env_file);
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
