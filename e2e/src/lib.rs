//! The end-to-end harness: a fleet of real vpsmon-exporters, the configs vpsmon-gen-config writes
//! for them (fast profile unless a test asks for another), Debian's Prometheus (one per shard) and Alertmanager, and the real
//! vpsmon-receiver delivering to the loopback fake Telegram. Everything binds 127.0.0.1 on free
//! ports and lives in one temp dir; dropping the fleet kills every process.
//!
//! The three vpsmon binaries must be built first (`cargo build --workspace --bins`): cargo
//! builds only the tested package's own binaries, and this crate has none.

pub mod procfs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use testkit::procs::{Proc, free_port, require_binary, wait_http_ok, workspace_bin};
use testkit::telegram::FakeTelegram;

/// The chat the receiver sends alerts to.
pub const CHAT_ID: i64 = -1001234567890;

/// Startup may be slow on a loaded 2-core CI machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A vpsmon binary built by `cargo build --workspace --bins`.
pub fn vpsmon_bin(name: &str) -> PathBuf {
    let p = workspace_bin(name);
    assert!(
        p.is_file(),
        "{} missing: run `cargo build --workspace --bins` first (cargo test builds only the tested package's binaries)",
        p.display()
    );
    p
}

pub struct AgentSpec {
    pub name: String,
    /// A fixture procfs root instead of the real /proc (only the CPU, meminfo and loadavg
    /// collectors run then, so missing files raise no CollectorFailed alerts).
    pub procfs: Option<PathBuf>,
    /// The loopback address it listens on (the whole of 127/8 is local on Linux), so that a
    /// fleet's targets differ by address as real hosts do.
    pub host: std::net::Ipv4Addr,
}

impl AgentSpec {
    pub fn real(name: &str) -> AgentSpec {
        AgentSpec {
            name: name.to_owned(),
            procfs: None,
            host: std::net::Ipv4Addr::LOCALHOST,
        }
    }
}

pub struct Agent {
    pub name: String,
    pub host: std::net::Ipv4Addr,
    pub port: u16,
    procfs: Option<PathBuf>,
    proc: Option<Proc>,
}

/// The webhook token file, in the fleet's directory.
const WEBHOOK_TOKEN: &str = "webhook.token";

pub struct Options {
    pub agents: Vec<AgentSpec>,
    pub shards: usize,
    pub remote_write: Option<String>,
    /// Start the receiver (with FakeTelegram). The scale-out test needs no alerts.
    pub receiver: bool,
}

pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub agents: Vec<Agent>,
    pub prometheus: Vec<(u16, Proc)>,
    pub alertmanager_port: u16,
    pub receiver_port: u16,
    pub telegram: FakeTelegram,
    /// Extra environment for the receiver ([`Fleet::start_receiver`]).
    pub receiver_env: Vec<(String, String)>,
    alertmanager_bin: PathBuf,
    alertmanager: Option<Proc>,
    receiver: Option<Proc>,
}

impl Fleet {
    /// The fleet on gen-config's `fast` profile: a fault becomes a message in seconds.
    pub async fn start(opts: Options) -> Result<Fleet> {
        Fleet::start_with_profile(opts, "fast").await
    }

    /// The fleet on a gen-config profile (`default` is what a user gets without `--profile`).
    pub async fn start_with_profile(opts: Options, profile: &str) -> Result<Fleet> {
        Fleet::start_with_args(opts, profile, &[]).await
    }

    /// As [`Fleet::start_with_profile`], with extra vpsmon-gen-config flags
    /// (`&["--cpu-threshold", "70"]`).
    pub async fn start_with_args(opts: Options, profile: &str, gen_args: &[&str]) -> Result<Fleet> {
        let prometheus_bin = require_binary("PROMETHEUS_BIN", &["prometheus"], "prometheus");
        let alertmanager_bin = require_binary(
            "ALERTMANAGER_BIN",
            &["prometheus-alertmanager", "alertmanager"],
            "prometheus-alertmanager",
        );
        let dir = tempfile::tempdir()?;
        let telegram = FakeTelegram::start().await;
        let agents: Vec<Agent> = opts
            .agents
            .into_iter()
            .map(|a| Agent {
                name: a.name,
                host: a.host,
                port: free_port(),
                procfs: a.procfs,
                proc: None,
            })
            .collect();
        let prom_ports: Vec<u16> = (0..opts.shards).map(|_| free_port()).collect();
        let alertmanager_port = free_port();
        let receiver_port = free_port();

        let list: String = agents
            .iter()
            .map(|a| format!("{} {}:{}\n", a.name, a.host, a.port))
            .collect();
        std::fs::write(dir.path().join("agents.txt"), list)?;
        // The webhook's bearer token, shared by Alertmanager and the receiver as in production.
        std::fs::write(dir.path().join(WEBHOOK_TOKEN), "e2e-webhook-token\n")?;
        let mut gen_cfg = Command::new(vpsmon_bin("vpsmon-gen-config"));
        gen_cfg
            .arg("--agents")
            .arg(dir.path().join("agents.txt"))
            .arg("--out-dir")
            .arg(dir.path().join("config"))
            .args(["--profile", profile])
            .arg("--prometheus-address")
            .arg(
                prom_ports
                    .iter()
                    .map(|p| format!("127.0.0.1:{p}"))
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .arg("--alertmanager-address")
            .arg(format!("127.0.0.1:{alertmanager_port}"))
            .arg("--receiver-url")
            .arg(format!("http://127.0.0.1:{receiver_port}/alerts"))
            .arg("--receiver-metrics-address")
            .arg(format!("127.0.0.1:{receiver_port}"))
            .arg("--receiver-token-file")
            .arg(dir.path().join(WEBHOOK_TOKEN));
        gen_cfg.args(gen_args);
        if opts.shards > 1 {
            gen_cfg.arg("--shards").arg(opts.shards.to_string());
        }
        if let Some(url) = &opts.remote_write {
            gen_cfg.arg("--remote-write").arg(url);
        }
        let out = gen_cfg.output().context("run vpsmon-gen-config")?;
        if !out.status.success() {
            bail!(
                "vpsmon-gen-config failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let mut fleet = Fleet {
            dir,
            agents,
            prometheus: Vec::new(),
            alertmanager_port,
            receiver_port,
            telegram,
            receiver_env: Vec::new(),
            alertmanager_bin,
            alertmanager: None,
            receiver: None,
        };
        for i in 0..fleet.agents.len() {
            fleet.start_agent(i).await?;
        }
        if opts.receiver {
            fleet.start_receiver().await?;
        }
        let config = fleet.dir.path().join("config");
        fleet.start_alertmanager().await?;
        for (i, port) in prom_ports.iter().enumerate() {
            let file = if opts.shards > 1 {
                config.join(format!("prometheus/prometheus-shard-{i}.yml"))
            } else {
                config.join("prometheus/prometheus.yml")
            };
            let mut cmd = Command::new(&prometheus_bin);
            cmd.arg(format!("--config.file={}", file.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    fleet.dir.path().join(format!("prom-data-{i}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"));
            let mut p = Proc::spawn(
                &format!("prometheus-{i}"),
                cmd,
                &fleet.log(&format!("prometheus-{i}")),
            )?;
            wait_http_ok(
                &mut p,
                &format!("http://127.0.0.1:{port}/-/ready"),
                START_TIMEOUT,
            )
            .await?;
            fleet.prometheus.push((*port, p));
        }
        Ok(fleet)
    }

    /// Starts (or restarts) Alertmanager on its port, with its data kept across restarts.
    pub async fn start_alertmanager(&mut self) -> Result<()> {
        let config = self.dir.path().join("config");
        let mut am = Command::new(&self.alertmanager_bin);
        am.arg(format!(
            "--config.file={}",
            config.join("alertmanager/alertmanager.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            self.dir.path().join("am-data").display()
        ))
        .arg(format!(
            "--web.listen-address=127.0.0.1:{}",
            self.alertmanager_port
        ))
        .arg("--cluster.listen-address=");
        // Appends to the log, so a restart keeps what came before.
        let mut am = Proc::spawn("alertmanager", am, &self.log("alertmanager"))?;
        wait_http_ok(
            &mut am,
            &format!("http://127.0.0.1:{}/-/ready", self.alertmanager_port),
            START_TIMEOUT,
        )
        .await?;
        self.alertmanager = Some(am);
        Ok(())
    }

    /// Kills Alertmanager (SIGKILL: it crashed) and returns when.
    pub fn kill_alertmanager(&mut self) -> Instant {
        if let Some(mut p) = self.alertmanager.take() {
            p.kill();
        }
        Instant::now()
    }

    /// The receiver's and Alertmanager's process ids, for the fleet benchmark's figures.
    pub fn pids(&self) -> (Option<u32>, Option<u32>) {
        (
            self.receiver.as_ref().map(Proc::pid),
            self.alertmanager.as_ref().map(Proc::pid),
        )
    }

    /// Agent `i`'s exporter process id, while it runs.
    pub fn agent_pid(&self, i: usize) -> Option<u32> {
        self.agents[i].proc.as_ref().map(Proc::pid)
    }

    /// The receiver's log so far.
    pub fn receiver_log(&self) -> String {
        std::fs::read_to_string(self.log("receiver")).unwrap_or_default()
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    pub fn agent(&self, name: &str) -> usize {
        self.agents
            .iter()
            .position(|a| a.name == name)
            .unwrap_or_else(|| panic!("no agent {name}"))
    }

    /// Starts (or restarts) agent `i`'s exporter on its port and waits for /metrics.
    pub async fn start_agent(&mut self, i: usize) -> Result<()> {
        let a = &self.agents[i];
        let mut cmd = Command::new(vpsmon_bin("vpsmon-exporter"));
        cmd.arg("--web.listen-address")
            .arg(format!("{}:{}", a.host, a.port));
        if let Some(procfs) = &a.procfs {
            cmd.arg("--path.procfs")
                .arg(procfs)
                .arg("--collector.disable-defaults")
                .args([
                    "--collector.cpu",
                    "--collector.meminfo",
                    "--collector.loadavg",
                ]);
        }
        let mut p = Proc::spawn(
            &format!("exporter {}", a.name),
            cmd,
            &self.log(&format!("exporter-{}", a.name)),
        )?;
        wait_http_ok(
            &mut p,
            &format!("http://{}:{}/metrics", a.host, a.port),
            START_TIMEOUT,
        )
        .await?;
        self.agents[i].proc = Some(p);
        Ok(())
    }

    /// Kills agent `i`'s exporter (SIGKILL: a machine that vanished) and returns when.
    pub fn kill_agent(&mut self, i: usize) -> Instant {
        if let Some(mut p) = self.agents[i].proc.take() {
            p.kill();
        }
        Instant::now()
    }

    pub async fn start_receiver(&mut self) -> Result<()> {
        let mut cmd = Command::new(vpsmon_bin("vpsmon-receiver"));
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{}", self.receiver_port))
            .env("BOT_TOKEN", self.telegram.token())
            .env("ALERT_CHAT_ID", CHAT_ID.to_string())
            .env("TELEGRAM_API_URL", self.telegram.url())
            .env("WEBHOOK_TOKEN_FILE", self.dir.path().join(WEBHOOK_TOKEN))
            .env_remove("SLACK_WEBHOOK_URL")
            .env_remove("ALLOWED_USERS")
            .envs(self.receiver_env.iter().map(|(k, v)| (k, v)));
        let mut p = Proc::spawn("receiver", cmd, &self.log("receiver"))?;
        wait_http_ok(
            &mut p,
            &format!("http://127.0.0.1:{}/healthz", self.receiver_port),
            START_TIMEOUT,
        )
        .await?;
        self.receiver = Some(p);
        Ok(())
    }

    /// Stops the receiver the way systemd or docker would (SIGTERM, then wait).
    pub fn stop_receiver(&mut self) {
        if let Some(mut p) = self.receiver.take() {
            p.signal(libc::SIGTERM);
            if p.wait_exit(Duration::from_secs(15)).is_none() {
                p.kill();
            }
        }
    }

    /// Alert messages (FIRING or RESOLVED) about `alert` on `agent`, as a user sees them.
    pub fn alert_messages(&self, status: &str, alert: &str, agent: &str) -> Vec<(Instant, String)> {
        self.telegram
            .messages()
            .into_iter()
            .filter(|m| m.chat_id == CHAT_ID && is_alert(&m.visible_text, status, alert, agent))
            .map(|m| (m.at, m.visible_text))
            .collect()
    }

    /// Waits for the first such message after `since`; returns it and when it came.
    pub async fn wait_alert(
        &self,
        status: &str,
        alert: &str,
        agent: &str,
        since: Instant,
        timeout: Duration,
    ) -> Result<(Duration, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((at, text)) = self
                .alert_messages(status, alert, agent)
                .into_iter()
                .find(|(at, _)| *at >= since)
            {
                return Ok((at.duration_since(since), text));
            }
            if Instant::now() > deadline {
                bail!(
                    "no {status} {alert} message for agent {agent} within {timeout:?}.\nTelegram saw:\n{}\nreceiver log:\n{}\nalertmanager log (tail):\n{}",
                    self.telegram_summary(),
                    tail(&self.log("receiver"), 30),
                    tail(&self.log("alertmanager"), 15),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn telegram_summary(&self) -> String {
        self.telegram
            .requests()
            .iter()
            .filter(|r| r.method != "getUpdates")
            .map(|r| {
                format!(
                    "  {} -> {} {}: {}",
                    r.method,
                    r.status,
                    r.error.as_deref().unwrap_or("ok"),
                    r.params
                        .get("text")
                        .and_then(|t| t.as_str())
                        .unwrap_or("")
                        .lines()
                        .next()
                        .unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// GET a Prometheus-style JSON API and return `data`.
    pub async fn api(url: &str) -> Result<serde_json::Value> {
        let body: serde_json::Value = reqwest::get(url).await?.json().await?;
        if body["status"] != "success" {
            bail!("{url} answered {body}");
        }
        Ok(body["data"].clone())
    }
}

/// The receiver's Telegram text: "<mark> FIRING · AgentDown\nAgent: a1\n...".
pub fn is_alert(text: &str, status: &str, alert: &str, agent: &str) -> bool {
    let mut lines = text.lines();
    let head = lines.next().unwrap_or("");
    head.contains(&format!("{status} · {alert}"))
        && text.lines().any(|l| l.trim() == format!("Agent: {agent}"))
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
