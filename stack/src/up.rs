//! `up`: the supervisor. It holds the state dir's lock, generates the configs, starts the four
//! parts (each in a process group of its own, so Ctrl-C reaches only the supervisor and stopping
//! a part stops all it started), waits until each answers, then watches them and the agent list
//! until a signal asks it to stop.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::env::Settings;
use crate::parts::{Layout, Part, Ports, Programs, Spec, base_url, gen_config_args, specs};
use crate::process::{self, ProcId, has_exited, signal_group};
use crate::state::{PartRecord, StackFile, try_lock};
use crate::{StackError, UpArgs, secrets, state};

pub fn run(state_dir: &Path, args: &UpArgs) -> Result<u8> {
    let layout = Layout::new(state_dir.to_owned());
    let Some(lock) = try_lock(&layout.lock())? else {
        let pid = StackFile::read(&layout.stack_json())
            .ok()
            .flatten()
            .map(|f| f.supervisor.pid.to_string())
            .unwrap_or_else(|| "unknown".into());
        return Err(StackError::AlreadyRunning {
            state_dir: state_dir.display().to_string(),
            pid,
        }
        .into());
    };
    // Handlers first: a Ctrl-C or `down` during config generation or startup is then a clean
    // stop, not the default action killing the supervisor half-way.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let signals = {
        let _guard = rt.enter();
        (
            signal(SignalKind::interrupt()).context("install the SIGINT handler")?,
            signal(SignalKind::terminate()).context("install the SIGTERM handler")?,
        )
    };
    if let Some(old) = StackFile::read(&layout.stack_json())? {
        let alive: Vec<String> = old
            .alive()
            .iter()
            .map(|r| format!("{} pid {}", r.part.name(), r.proc.pid))
            .collect();
        if !alive.is_empty() {
            return Err(StackError::Leftovers(alive.join(", ")).into());
        }
    }
    let ports = Ports {
        exporter: args.exporter_port,
        receiver: args.receiver_port,
        alertmanager: args.alertmanager_port,
        prometheus: args.prometheus_port,
    };
    check_ports(&ports)?;
    let programs = find_programs(args)?;
    let settings = Settings::gather(&args.env_file)?;

    state::tighten(&layout)?;
    secrets::ensure_webhook_token(&layout)?;
    let receiver_files = secrets::receiver_secret_files(&layout, &settings)?;
    for dir in [
        layout.logs(),
        layout.data(Part::Prometheus),
        layout.data(Part::Alertmanager),
    ] {
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    }
    ensure_agent_list(&layout, ports.exporter)?;
    println!("vpsmon: state dir {}", state_dir.display());
    println!(
        "vpsmon: agent list {} (edit it to add agents; Prometheus picks them up, no restart)",
        layout.agents().display()
    );
    println!(
        "vpsmon: webhook token {} (Alertmanager sends it; the receiver refuses alerts without it)",
        layout.webhook_token().display()
    );
    generate(
        &programs,
        &layout,
        &ports,
        args.profile.as_deref(),
        &settings,
    )?;

    let mut sup = Supervisor {
        layout,
        ports,
        programs,
        profile: args.profile.clone(),
        settings,
        receiver_files,
        running: Vec::new(),
        grace: Duration::from_secs(args.grace),
        me: ProcId::of(std::process::id()).context("read own /proc entry")?,
        _lock: lock,
    };
    let code = rt.block_on(sup.run(signals, Duration::from_secs(args.ready_timeout)));
    sup.stop_all();
    let _ = std::fs::remove_file(sup.layout.stack_json());
    println!("vpsmon: stopped");
    Ok(code)
}

/// Every port is tried before anything starts, so a conflict changes nothing.
fn check_ports(ports: &Ports) -> Result<()> {
    let mut problems = Vec::new();
    for (i, part) in Part::ALL.iter().enumerate() {
        let port = ports.of(*part);
        if let Some(other) = Part::ALL[..i].iter().find(|p| ports.of(**p) == port) {
            problems.push(format!(
                "port {port} is given to both {} and {}; set {} to another port",
                other.title(),
                part.title(),
                part.port_env()
            ));
            continue;
        }
        if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
            let mut msg = format!(
                "port {port} on 127.0.0.1, needed by {}, is not available ({e}). Stop what uses it (`ss -ltnp 'sport = :{port}'` shows it) or choose another port: {}=<port> ./vpsmon up",
                part.title(),
                part.port_env()
            );
            if matches!(part, Part::Prometheus | Part::Alertmanager) {
                let unit = match part {
                    Part::Prometheus => "prometheus",
                    _ => "prometheus-alertmanager",
                };
                msg.push_str(&format!(
                    ". If it is Debian's own service: sudo systemctl disable --now {unit}"
                ));
            }
            problems.push(msg);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StackError::PortsInUse(problems.join("\n")).into())
    }
}

fn find_programs(args: &UpArgs) -> Result<Programs> {
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("program has no directory")?
            .to_owned(),
    };
    let ours = |name: &str| -> Result<PathBuf> {
        let p = bin_dir.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(StackError::ProgramMissing(format!(
                "{name} not found in {}: build it with `cargo build --release -p {name}` (./vpsmon up does), or set VPSMON_BIN_DIR",
                bin_dir.display()
            ))
            .into())
        }
    };
    let debian = |given: &Option<PathBuf>, names: &[&str], package: &str, env: &str| {
        match given {
            Some(p) if p.is_file() => Ok(p.clone()),
            Some(p) => Err(StackError::ProgramMissing(format!(
                "{env}={} is not a file",
                p.display()
            ))),
            None => on_path(names).ok_or_else(|| {
                StackError::ProgramMissing(format!(
                    "{} not found on PATH: install the Debian package `{package}` (./vpsmon up does), or set {env}",
                    names[0]
                ))
            }),
        }
    };
    Ok(Programs {
        exporter: ours("vpsmon-exporter")?,
        gen_config: ours("vpsmon-gen-config")?,
        receiver: ours("vpsmon-receiver")?,
        prometheus: debian(
            &args.prometheus_bin,
            &["prometheus"],
            "prometheus",
            "PROMETHEUS_BIN",
        )?,
        alertmanager: debian(
            &args.alertmanager_bin,
            &["prometheus-alertmanager", "alertmanager"],
            "prometheus-alertmanager",
            "ALERTMANAGER_BIN",
        )?,
    })
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        path.split(':')
            .chain(["/usr/bin", "/usr/sbin", "/usr/local/bin"])
            .map(|dir| Path::new(dir).join(name))
            .find(|p| p.is_file())
    })
}

/// The first `up` writes this machine's agent; after that the file is the user's.
fn ensure_agent_list(layout: &Layout, exporter_port: u16) -> Result<()> {
    let path = layout.agents();
    if path.exists() {
        return Ok(());
    }
    let text = format!(
        "# vpsmon agent list: one agent a line, `name host:port` (seed 002's agent_name_ip.txt).\n\
         # Edit it while `./vpsmon up` runs: the configs are regenerated and Prometheus picks the\n\
         # agents up through file_sd, without a restart.\n\
         {} 127.0.0.1:{exporter_port}\n",
        agent_name()
    );
    std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))
}

/// This machine's name, reduced to what gen-config accepts as an agent name.
fn agent_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    sanitize_agent_name(raw.trim())
}

fn sanitize_agent_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.chars().next() {
        None => "localhost".into(),
        Some(c) if c.is_ascii_alphanumeric() => name,
        Some(_) => format!("host{name}"),
    }
}

/// Runs vpsmon-gen-config; its error (which names the bad line) is passed on as is.
fn generate(
    programs: &Programs,
    layout: &Layout,
    ports: &Ports,
    profile: Option<&str>,
    settings: &Settings,
) -> Result<()> {
    let out = Command::new(&programs.gen_config)
        .args(gen_config_args(layout, ports, profile))
        .env_clear()
        .envs(settings.for_gen_config())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {}", programs.gen_config.display()))?;
    if !out.status.success() {
        bail!(
            "vpsmon-gen-config failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // gen-config writes 0644 for a Prometheus running as another user (a container's); here
    // every part runs as this user.
    state::private_tree(&layout.config())
}

struct Running {
    spec: Spec,
    child: Child,
    id: ProcId,
    /// Waited for: its pid (and so its group id) may belong to someone else now.
    reaped: bool,
}

struct Supervisor {
    layout: Layout,
    ports: Ports,
    programs: Programs,
    profile: Option<String>,
    /// The user's environment and `.env`; each part sees only its allowlist of it.
    settings: Settings,
    /// BOT_TOKEN_FILE / SLACK_WEBHOOK_URL_FILE for the receiver.
    receiver_files: Vec<(String, OsString)>,
    running: Vec<Running>,
    grace: Duration,
    me: ProcId,
    _lock: crate::state::Lock,
}

/// Why the supervisor's wait ended.
enum Event {
    Signal(&'static str),
    Exited(String),
}

impl Supervisor {
    /// Starts everything and supervises until a signal (exit 0) or a failure (exit 1).
    async fn run(&mut self, signals: (Signal, Signal), ready_timeout: Duration) -> u8 {
        let (mut int, mut term) = signals;
        let specs = specs(&self.layout, &self.programs, &self.ports);
        for spec in specs {
            if let Err(e) = self.start(spec) {
                eprintln!("vpsmon: {e:#}");
                return 1;
            }
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        for i in 0..self.running.len() {
            let deadline = Instant::now() + ready_timeout;
            loop {
                let r = &self.running[i];
                if matches!(client.get(&r.spec.ready_url).send().await, Ok(resp) if resp.status().is_success())
                {
                    // Debian's Alertmanager serves a stub page, not its web UI: its URL is
                    // an API, and silences are on the receiver's dashboard.
                    let note = match self.running.iter().find(|o| o.spec.part == Part::Receiver) {
                        Some(rx) if r.spec.part == Part::Alertmanager => format!(
                            " (API only; see and add silences at {}/silences)",
                            rx.spec.url
                        ),
                        _ => String::new(),
                    };
                    println!(
                        "{:<13} ready  {:<34} pid {} (log {}){note}",
                        r.spec.part.name(),
                        r.spec.url,
                        r.id.pid,
                        self.layout.log(r.spec.part.name()).display()
                    );
                    break;
                }
                if let Some(why) = self.check_exited() {
                    eprintln!("vpsmon: {why}");
                    return 1;
                }
                if Instant::now() > deadline {
                    let r = &self.running[i];
                    eprintln!(
                        "vpsmon: {} did not answer {} within {ready_timeout:?}\n{}",
                        r.spec.part.title(),
                        r.spec.ready_url,
                        log_tail(&self.layout.log(r.spec.part.name()))
                    );
                    return 1;
                }
                tokio::select! {
                    _ = int.recv() => { println!("vpsmon: interrupted, stopping"); return 0; }
                    _ = term.recv() => { println!("vpsmon: SIGTERM, stopping"); return 0; }
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
        let telegram = (self.settings.get("BOT_TOKEN").is_some()
            || self.settings.get("BOT_TOKEN_FILE").is_some())
            && self.settings.get("ALERT_CHAT_ID").is_some();
        println!(
            "vpsmon: all {} parts ready. Alerts go to {}. Ctrl-C or `./vpsmon down` stops the stack.",
            self.running.len(),
            if telegram {
                "Telegram (BOT_TOKEN and ALERT_CHAT_ID are set)"
            } else {
                "this console (set BOT_TOKEN and ALERT_CHAT_ID for Telegram)"
            }
        );
        println!("vpsmon: {}", alert_timing(self.profile.as_deref()));

        let mut agents_seen = inputs(&self.layout);
        let event = loop {
            tokio::select! {
                _ = int.recv() => break Event::Signal("interrupted"),
                _ = term.recv() => break Event::Signal("SIGTERM"),
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            if let Some(why) = self.check_exited() {
                break Event::Exited(why);
            }
            let now = inputs(&self.layout);
            if now != agents_seen {
                agents_seen = now;
                self.agents_changed(&client).await;
            }
        };
        match event {
            Event::Signal(what) => {
                println!("vpsmon: {what}, stopping");
                0
            }
            Event::Exited(why) => {
                eprintln!("vpsmon: {why}; stopping the rest");
                1
            }
        }
    }

    fn start(&mut self, spec: Spec) -> Result<()> {
        let log_path = self.layout.log(spec.part.name());
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .env_clear()
            .envs(self.settings.for_part(spec.part));
        if spec.part == Part::Receiver {
            cmd.envs(self.receiver_files.iter().cloned());
        }
        cmd.envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.layout.root)
            .stdin(Stdio::null())
            .stderr(log.try_clone()?)
            // Its own group: the terminal's Ctrl-C reaches only the supervisor, which then
            // stops each group in order; killing a group also stops anything the part started.
            .process_group(0);
        // The receiver's console destination writes alerts to stdout: show them here too.
        let forward = spec.part == Part::Receiver;
        if forward {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(log);
        }
        // SAFETY: prctl is async-signal-safe. If the supervisor is killed outright, the parts
        // get SIGTERM instead of living on as orphans. The runtime is single-threaded, so the
        // "parent thread" that spawned them lives as long as the supervisor.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}: {}", spec.part.title(), spec.program.display()))?;
        if forward && let Some(out) = child.stdout.take() {
            let name = spec.part.name();
            let mut log = OpenOptions::new().append(true).open(&log_path)?;
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    println!("{name} | {line}");
                    let _ = writeln!(log, "{line}");
                }
            });
        }
        let id = ProcId::of(child.id()).unwrap_or(ProcId {
            pid: child.id(),
            start_time: 0,
        });
        self.running.push(Running {
            spec,
            child,
            id,
            reaped: false,
        });
        self.record()
    }

    /// Rewrites run/stack.json after every start, so even a half-started stack can be found.
    fn record(&self) -> Result<()> {
        StackFile {
            supervisor: self.me,
            parts: self
                .running
                .iter()
                .map(|r| PartRecord {
                    part: r.spec.part,
                    proc: r.id,
                    port: r.spec.port,
                    url: r.spec.url.clone(),
                    ready_url: r.spec.ready_url.clone(),
                    log: self.layout.log(r.spec.part.name()).display().to_string(),
                })
                .collect(),
        }
        .write(&self.layout.stack_json())
    }

    /// A part that exited on its own, described with the end of its log.
    fn check_exited(&mut self) -> Option<String> {
        for r in self.running.iter_mut().filter(|r| !r.reaped) {
            if has_exited(r.id.pid) {
                // Still a zombie, so the group id is ours: take anything it left behind.
                signal_group(r.id.pid, libc::SIGKILL);
                let status = r.child.wait().map(|s| s.to_string()).unwrap_or_default();
                r.reaped = true;
                return Some(format!(
                    "{} exited unexpectedly ({status})\n{}",
                    r.spec.part.title(),
                    log_tail(&self.layout.log(r.spec.part.name()))
                ));
            }
        }
        None
    }

    /// Regenerates the configs. New or removed agents reach Prometheus through file_sd. If
    /// prometheus.yml or the rules changed, Prometheus is told to reload them, and Alertmanager
    /// if alertmanager.yml changed: by SIGHUP, which needs no open HTTP endpoint.
    async fn agents_changed(&self, client: &reqwest::Client) {
        let reloadable = [Part::Alertmanager, Part::Prometheus];
        let before: Vec<_> = reloadable.iter().map(|&p| self.config_of(p)).collect();
        if let Err(e) = generate(
            &self.programs,
            &self.layout,
            &self.ports,
            self.profile.as_deref(),
            &self.settings,
        ) {
            eprintln!(
                "vpsmon: agent list changed but the configs were not regenerated (the running ones stay): {e:#}"
            );
            return;
        }
        let mut reloaded = Vec::new();
        for (part, before) in reloadable.into_iter().zip(before) {
            if self.config_of(part) == before {
                continue;
            }
            match self.reload(part, client).await {
                Ok(()) => reloaded.push(part.title()),
                Err(why) => eprintln!(
                    "vpsmon: {} did not reload its config: {why} (see {})",
                    part.title(),
                    self.layout.log(part.name()).display()
                ),
            }
        }
        println!(
            "vpsmon: agent list changed; configs regenerated{}",
            if reloaded.is_empty() {
                " (file_sd, no reload needed)".to_owned()
            } else {
                format!(", {} reloaded", reloaded.join(" and "))
            }
        );
    }

    /// The generated files a part reads at start and rereads only on a reload.
    fn config_of(&self, part: Part) -> Vec<Option<Vec<u8>>> {
        let files = match part {
            Part::Prometheus => {
                let mut files = vec![self.layout.prometheus_yml(), self.layout.prometheus_rules()];
                // gen-config's copies of the user's rule files.
                files.extend(dir_files(&self.layout.config().join("prometheus/rules.d")));
                files
            }
            Part::Alertmanager => vec![self.layout.alertmanager_yml()],
            Part::Exporter | Part::Receiver => vec![],
        };
        files.iter().map(|f| std::fs::read(f).ok()).collect()
    }

    /// SIGHUP to the part, then waits until its /metrics reports a successful reload that is
    /// newer than the last one (Prometheus and Alertmanager both export
    /// `<prefix>_last_reload_success_timestamp_seconds` and `<prefix>_last_reload_successful`).
    async fn reload(&self, part: Part, client: &reqwest::Client) -> Result<(), String> {
        let prefix = match part {
            Part::Prometheus => "prometheus_config",
            Part::Alertmanager => "alertmanager_config",
            Part::Exporter | Part::Receiver => return Err("it has no config to reload".into()),
        };
        let Some(r) = self
            .running
            .iter()
            .find(|r| r.spec.part == part && !r.reaped)
        else {
            return Err("it is not running".into());
        };
        let url = format!("{}/metrics", base_url(r.spec.port));
        let state = || async {
            let text = client.get(&url).send().await.ok()?.text().await.ok()?;
            Some(reload_state(&text, prefix))
        };
        let (was_ok, last) = state().await.flatten().unwrap_or((true, 0.0));
        // Our unreaped child: its pid cannot belong to anyone else.
        process::signal(r.id.pid, libc::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match state().await.flatten() {
                Some((true, at)) if at > last => return Ok(()),
                Some((false, _)) if was_ok => return Err("the new config was refused".into()),
                _ => {}
            }
            if Instant::now() > deadline {
                return Err("no successful reload within 10 s of SIGHUP".into());
            }
        }
    }

    /// SIGTERM to every part's group, up to `grace` to exit, then SIGKILL; each is reaped.
    /// A group is signalled only while its leader is unreaped, so a recycled pid is never hit.
    fn stop_all(&mut self) {
        for r in self.running.iter().rev().filter(|r| !r.reaped) {
            signal_group(r.id.pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + self.grace;
        for r in self.running.iter_mut().rev().filter(|r| !r.reaped) {
            let name = r.spec.part.name();
            while !has_exited(r.id.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let in_time = has_exited(r.id.pid);
            // Anything the part started in its group goes with it.
            signal_group(r.id.pid, libc::SIGKILL);
            let _ = r.child.wait();
            r.reaped = true;
            if in_time {
                println!("{name:<13} stopped");
            } else {
                println!("{name:<13} killed (did not stop within {:?})", self.grace);
            }
        }
        self.running.clear();
    }
}

/// How long an alert takes, so nobody expects one "the moment" a host goes down. The figures
/// are the e2e tests' (e2e/tests/alerts.rs, root README "Performance").
fn alert_timing(profile: Option<&str>) -> &'static str {
    match profile {
        Some("fast") => {
            "fast profile: a host that goes down is reported in about 10-15 s, its recovery a few seconds after it is back"
        }
        _ => {
            "a host that goes down is reported after about 2 minutes, its recovery up to 5 minutes after it is back \
             (15 s scrape, `for: 1m`, 30 s group_wait, 5 m group_interval); `./vpsmon up --profile fast` \
             (or VPSMON_PROFILE=fast) makes it seconds, at 15 times the scrape load"
        }
    }
}

/// (last reload successful, time of the last successful reload) from a /metrics page.
fn reload_state(metrics: &str, prefix: &str) -> Option<(bool, f64)> {
    let value = |name: &str| {
        metrics.lines().find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
    };
    let ok = value(&format!("{prefix}_last_reload_successful"))?;
    let at = value(&format!("{prefix}_last_reload_success_timestamp_seconds"))?;
    Some((ok == 1.0, at))
}

/// What gen-config reads: the agent list, and the user's rule files in `rules.d/` next to it
/// (gen-config's default --rules-dir). A change to any of them regenerates the configs.
fn inputs(layout: &Layout) -> Vec<(PathBuf, Option<SystemTime>)> {
    let mut files = vec![layout.agents()];
    files.extend(dir_files(&layout.root.join("rules.d")));
    files.into_iter().map(|f| (f.clone(), mtime(&f))).collect()
}

/// The files in `dir`, sorted; none if it does not exist.
fn dir_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The last lines of a part's log, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    format!("last lines of {}:\n{tail}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_state_reads_prometheus_metrics() {
        let page = "# HELP prometheus_config_last_reload_successful Whether the last configuration reload attempt was successful.\n\
                    # TYPE prometheus_config_last_reload_successful gauge\n\
                    prometheus_config_last_reload_successful 1\n\
                    prometheus_config_last_reload_success_timestamp_seconds 1.7650308617324698e+09\n";
        assert_eq!(
            reload_state(page, "prometheus_config"),
            Some((true, 1.7650308617324698e9))
        );
        assert_eq!(reload_state(page, "alertmanager_config"), None);
    }

    #[test]
    fn host_names_become_valid_agent_names() {
        assert_eq!(sanitize_agent_name("vps-1.example"), "vps-1.example");
        assert_eq!(sanitize_agent_name("my host"), "my_host");
        assert_eq!(sanitize_agent_name("_x"), "host_x");
        assert_eq!(sanitize_agent_name(""), "localhost");
    }

    #[test]
    fn a_busy_port_names_the_port_the_part_and_the_env_var() {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        // Three distinct free ports: held together while they are picked.
        let held: Vec<TcpListener> = (0..3)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let free: Vec<u16> = held
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        drop(held);
        let ports = Ports {
            exporter: free[0],
            receiver: free[1],
            alertmanager: port,
            prometheus: free[2],
        };
        let msg = check_ports(&ports).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!(
                "port {port} on 127.0.0.1, needed by Alertmanager, is not available"
            )),
            "{msg}"
        );
        assert!(
            msg.contains("VPSMON_ALERTMANAGER_PORT=<port> ./vpsmon up"),
            "{msg}"
        );
    }

    #[test]
    fn two_parts_on_one_port_are_refused() {
        let ports = Ports {
            exporter: 0,
            receiver: 0,
            alertmanager: 0,
            prometheus: 0,
        };
        let msg = check_ports(&ports).unwrap_err().to_string();
        assert!(
            msg.contains("port 0 is given to both the exporter (vpsmon-exporter) and the receiver (vpsmon-receiver)"),
            "{msg}"
        );
    }
}
