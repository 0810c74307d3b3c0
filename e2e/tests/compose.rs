//! Issue 17: docker-compose.yml started for real. Podman (Debian's package) serves the Docker
//! API on a private socket and Debian's docker-compose 1.29 drives it, as a Docker user's
//! `docker compose` would drive dockerd. No registry is reachable, so every image is built here:
//! the `debian:bookworm-slim` base from the cached debootstrap tarball (`podman import`), the
//! vpsmon image from the Dockerfile with the binaries `cargo build --workspace --bins` built on
//! this host, debug info stripped (`--build-arg BINARIES=prebuilt`; a release build would add
//! ~15 minutes to CI and prove nothing more about the compose file), and Prometheus and Alertmanager from Debian's packages
//! (e2e/compose/*.Dockerfile), swapped in by e2e/compose/docker-compose.test.yml, which changes
//! nothing but their `image:` (checked below).
//!
//! Newer than Debian's Prometheus 2.42: the compose file names 2.55 because scrape configs for
//! agents behind Cloudflare Access carry `http_headers` (2.55+). gen-config writes those only for
//! `cf_access` agents and only with `--prometheus-version 2.55` or newer; the test's configs are
//! gen-config's output for examples/agent_name_ip.txt (no such agent, default version), so they
//! load on 2.42. Nothing else in the compose file or the configs needs more than 2.42 / 0.25.
//!
//! The test: every service healthy; the exporter container reads the host through /host
//! (node_boot_time_seconds and every filesystem size equal the host's); Prometheus scrapes it
//! (`up == 1`); the exporter container stopped → AgentDown in `docker-compose logs receiver`,
//! started → RESOLVED; a second `up` reruns both one-shot services cleanly; a bot token put in
//! .env reaches the receiver as a file and appears in no container's configuration;
//! `docker-compose down -v` leaves no container, network or volume.
//!
//! Needs root (Podman rootful, as CI runs), podman, runc, docker-compose, debootstrap (once, for
//! the tarball) and the workspace's binaries (`cargo build --workspace --bins`, which
//! scripts/test.sh runs first). It uses the
//! compose file's fixed ports 127.0.0.1:9090/9093/9097/9100 and fails naming one that is busy.
//! Everything it starts is removed on exit, failure included: the Podman service process, the
//! containers, the volumes. The images stay as a cache for the next run.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use testkit::procs::{Proc, require_binary};

const PROJECT: &str = "vpsmon-compose-e2e";
const PORTS: [(u16, &str); 4] = [
    (9090, "prometheus"),
    (9093, "alertmanager"),
    (9097, "receiver"),
    (9100, "exporter"),
];
/// The compose services that keep running, each with a healthcheck.
const LONG_RUNNING: [&str; 4] = ["exporter", "receiver", "alertmanager", "prometheus"];
const ONE_SHOTS: [&str; 2] = ["webhook-token", "receiver-secrets"];
const TEST_IMAGES: [(&str, &str); 2] = [
    ("prometheus", "localhost/vpsmon-test/prometheus:debian"),
    ("alertmanager", "localhost/vpsmon-test/alertmanager:debian"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The cargo target directory: this test binary is `<target>/<profile>/deps/compose-<hash>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).expect("target dir").to_owned()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd`, panicking with its output unless it succeeds; returns stdout.
fn check(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(out.status.success(), "{cmd:?} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Podman's Docker-compatible API on a private socket, configured as these machines need
/// (issue 17): runc, because crun fails on hybrid cgroups; explicit ulimits, because Podman's
/// defaults are refused. Dropping it stops the service process.
struct Engine {
    dir: TempDir,
    podman: PathBuf,
    service: Proc,
}

impl Engine {
    fn start() -> Engine {
        let podman = require_binary("PODMAN_BIN", &["podman"], "podman");
        require_binary("RUNC_BIN", &["runc"], "runc");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\nruntime = \"runc\"\n",
        )
        .unwrap();
        let mut cmd = Command::new(&podman);
        cmd.env("CONTAINERS_CONF", dir.path().join("containers.conf"))
            .args(["system", "service", "--time=0"])
            .arg(format!(
                "unix://{}",
                dir.path().join("podman.sock").display()
            ));
        let service = Proc::spawn(
            "podman system service",
            cmd,
            &dir.path().join("service.log"),
        )
        .unwrap();
        let engine = Engine {
            dir,
            podman,
            service,
        };
        // Ready when the API answers its ping.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut s) = UnixStream::connect(engine.socket()) {
                let mut reply = String::new();
                if s.write_all(b"GET /_ping HTTP/1.0\r\n\r\n").is_ok()
                    && s.read_to_string(&mut reply).is_ok()
                    && reply.ends_with("OK")
                {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the Podman API did not answer on {} within 60 s:\n{}",
                engine.socket().display(),
                engine.service.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        engine
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("podman.sock")
    }

    fn podman(&self) -> Command {
        let mut cmd = Command::new(&self.podman);
        cmd.env("CONTAINERS_CONF", self.dir.path().join("containers.conf"));
        cmd
    }

    fn image_exists(&self, name: &str) -> bool {
        output(self.podman().args(["image", "exists", name]))
            .status
            .success()
    }

    /// `podman build`; returns how long it took.
    fn build(&self, tag: &str, dockerfile: &Path, context: &Path, args: &[&str]) -> Duration {
        let started = Instant::now();
        let out = output(
            self.podman()
                .args(["build", "--tag", tag, "--file"])
                .arg(dockerfile)
                .args(args)
                .arg(context),
        );
        let log = text(&out);
        assert!(
            out.status.success(),
            "podman build {tag} failed:\n{}",
            log.lines().rev().take(40).collect::<Vec<_>>().join("\n")
        );
        started.elapsed()
    }

    /// What the project left behind: containers, volumes and networks carrying its label.
    fn leftovers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={PROJECT}");
        let mut left = Vec::new();
        for what in [
            &["ps", "--all", "--format", "{{.Names}}", "--filter"][..],
            &["volume", "ls", "--format", "{{.Name}}", "--filter"][..],
            &["network", "ls", "--format", "{{.Name}}", "--filter"][..],
        ] {
            let out = output(self.podman().args(what).arg(&label));
            left.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| format!("{} {l}", what[0])),
            );
        }
        left
    }

    /// Removes whatever a run (this one, or one that was killed) left behind.
    fn remove_leftovers(&self) {
        let label = format!("label=com.docker.compose.project={PROJECT}");
        let names = |args: &[&str]| -> Vec<String> {
            let out = output(self.podman().args(args).arg(&label));
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect()
        };
        let containers = names(&["ps", "--all", "--format", "{{.ID}}", "--filter"]);
        if !containers.is_empty() {
            let _ = output(self.podman().args(["rm", "--force"]).args(&containers));
        }
        let volumes = names(&["volume", "ls", "--format", "{{.Name}}", "--filter"]);
        if !volumes.is_empty() {
            let _ = output(
                self.podman()
                    .args(["volume", "rm", "--force"])
                    .args(&volumes),
            );
        }
        let networks = names(&["network", "ls", "--format", "{{.Name}}", "--filter"]);
        if !networks.is_empty() {
            let _ = output(
                self.podman()
                    .args(["network", "rm", "--force"])
                    .args(&networks),
            );
        }
    }
}

/// The compose project: a directory with the repository's docker-compose.yml, the two scripts
/// it mounts, `.env` copied from `.env.example` (as a user does), the test override and the
/// fast-profile configs. Dropping it runs `down -v` and removes anything still left.
struct Project<'a> {
    engine: &'a Engine,
    dir: TempDir,
    compose: PathBuf,
}

impl Project<'_> {
    /// docker-compose on the test's files: the users' file and the image override.
    fn cmd(&self) -> Command {
        self.cmd_on(&["docker-compose.yml", "docker-compose.test.yml"])
    }

    fn cmd_on(&self, files: &[&str]) -> Command {
        let mut cmd = Command::new(&self.compose);
        cmd.current_dir(self.dir.path())
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.engine.socket().display()),
            )
            // Only .env may set the stack's variables, as for a user with a clean shell.
            .env_remove("BOT_TOKEN")
            .env_remove("ALERT_CHAT_ID")
            .env_remove("ALLOWED_USERS")
            .env_remove("SLACK_WEBHOOK_URL")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .args(["--ansi", "never", "-p", PROJECT]);
        for file in files {
            cmd.args(["-f", file]);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        check(self.cmd().args(args))
    }

    /// The container id of a service.
    fn id(&self, service: &str) -> String {
        let id = self.run(&["ps", "-q", service]).trim().to_owned();
        assert!(!id.is_empty(), "no container for {service}");
        id
    }

    fn logs(&self, service: &str) -> String {
        self.run(&["logs", "--no-color", service])
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        let out = output(
            self.cmd()
                .args(["down", "-v", "--remove-orphans", "-t", "5"]),
        );
        if !out.status.success() {
            eprintln!("docker-compose down failed:\n{}", text(&out));
        }
        self.engine.remove_leftovers();
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

/// The binaries the image takes: the workspace's, as `cargo build --workspace --bins` left them.
fn host_binaries() -> Vec<PathBuf> {
    ["vpsmon-exporter", "vpsmon-gen-config", "vpsmon-receiver"]
        .iter()
        .map(|name| vpsmon_e2e::vpsmon_bin(name))
        .collect()
}

/// `docker-compose config` of the given files, parsed.
fn config(project: &Project, files: &[&str]) -> Value {
    let out = check(project.cmd_on(files).arg("config"));
    serde_saphyr::from_str(&out).unwrap_or_else(|e| panic!("parse config output: {e}\n{out}"))
}

/// The value of an unlabelled sample (`name value`) in a scrape.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// `node_filesystem_size_bytes` by mount point.
fn filesystem_sizes(body: &str) -> Vec<(String, f64)> {
    body.lines()
        .filter(|l| l.starts_with("node_filesystem_size_bytes{"))
        .filter_map(|l| {
            let mount = l.split("mountpoint=\"").nth(1)?.split('"').next()?;
            let value = l.rsplit(' ').next()?.parse().ok()?;
            Some((mount.to_owned(), value))
        })
        .collect()
}

/// The host's size of the filesystem at `path` (statvfs: blocks × fragment size, as df).
fn host_size(path: &str) -> Option<f64> {
    let c = std::ffi::CString::new(path).ok()?;
    // SAFETY: a zeroed statvfs is a valid out-parameter; c is NUL-terminated.
    let mut buf: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut buf) };
    (rc == 0).then_some(buf.f_blocks as f64 * buf.f_frsize as f64)
}

fn host_boot_time() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .expect("btime in /proc/stat")
        .trim()
        .parse()
        .unwrap()
}

/// Polls `f` every half second until it yields Some or `timeout` passes.
fn poll<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The receiver's console line about AgentDown for the `local` agent in `state`.
fn agent_down_line(logs: &str, state: &str) -> Option<String> {
    logs.lines()
        .find(|l| l.contains(state) && l.contains("AgentDown") && l.contains("agent=\"local\""))
        .map(str::to_owned)
}

async fn get(url: &str) -> Option<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let resp = client.get(url).send().await.ok()?;
    resp.status().is_success().then_some(())?;
    resp.text().await.ok()
}

#[tokio::test]
async fn the_compose_stack_runs_on_podman_and_a_stopped_exporter_container_alerts_then_resolves() {
    let started = Instant::now();
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root (rootful Podman, as CI runs it): \
         sudo -E cargo test -p vpsmon-e2e --test compose"
    );
    let compose = require_binary("DOCKER_COMPOSE_BIN", &["docker-compose"], "docker-compose");
    for (port, part) in PORTS {
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            panic!(
                "port {port} on 127.0.0.1, which the compose file gives {part}, is not available \
                 ({e}); stop what uses it (./vpsmon up?) and run the test again"
            );
        }
    }
    let bins = host_binaries();

    let engine = Engine::start();
    // A run that was killed may have left its containers: start clean.
    engine.remove_leftovers();

    // 1. The images. The base: the cached minbase tarball, imported under the name the
    //    Dockerfile's runtime stage uses.
    let t = Instant::now();
    let (tarball, debootstrapped) = testkit::debian::minbase_tarball(&target_dir());
    let base = format!("docker.io/library/debian:{}-slim", testkit::debian::SUITE);
    let imported = !engine.image_exists(&base);
    if imported {
        check(engine.podman().arg("import").arg(&tarball).arg(&base));
    }
    println!(
        "base image {base}: {} in {:.1} s",
        match (debootstrapped, imported) {
            (true, _) => "debootstrap, then imported (cold)",
            (false, true) => "imported from the cached tarball",
            (false, false) => "already present (warm)",
        },
        t.elapsed().as_secs_f64()
    );
    // The vpsmon image from the host's binaries, debug info stripped (a debug build carries
    // ~500 MB of it); the Dockerfile's default (the Rust build stage) is what users get.
    let context = tempfile::tempdir().unwrap();
    for bin in &bins {
        let to = context
            .path()
            .join("prebuilt")
            .join(bin.file_name().unwrap());
        copy(bin, &to);
        check(Command::new("strip").arg("--strip-debug").arg(&to));
    }
    let took = engine.build(
        "localhost/vpsmon:local",
        &root().join("Dockerfile"),
        context.path(),
        &["--build-arg", "BINARIES=prebuilt"],
    );
    println!("image vpsmon:local built in {:.1} s", took.as_secs_f64());
    for (name, image) in TEST_IMAGES {
        let dir = root().join("e2e/compose");
        let took = engine.build(image, &dir.join(format!("{name}.Dockerfile")), &dir, &[]);
        println!("image {image} built in {:.1} s", took.as_secs_f64());
    }

    // 2. The project directory, as a user's checkout would have it.
    let project = Project {
        engine: &engine,
        dir: tempfile::tempdir().unwrap(),
        compose,
    };
    let dir = project.dir.path().to_owned();
    let repo = root();
    for file in [
        "docker-compose.yml",
        "scripts/webhook-token.sh",
        "scripts/compose-secrets.sh",
    ] {
        copy(&repo.join(file), &dir.join(file));
    }
    copy(&repo.join(".env.example"), &dir.join(".env"));
    copy(
        &repo.join("e2e/compose/docker-compose.test.yml"),
        &dir.join("docker-compose.test.yml"),
    );
    // The committed configs' command (docs/deploy.md), on the fast profile: 1 s scrape and
    // evaluation, 5 s `for`.
    check(
        Command::new(&bins[1])
            .arg("--agents")
            .arg(repo.join("examples/agent_name_ip.txt"))
            .arg("--out-dir")
            .arg(&dir)
            .args(["--profile", "fast"])
            .args(["--receiver-token-file", "/run/vpsmon/webhook-token"]),
    );

    // The override swaps the two images and nothing else. (Merging files reorders a service's
    // volume list, which means nothing: compared as sets.)
    let users = config(&project, &["docker-compose.yml"]);
    let mut with_override = config(&project, &["docker-compose.yml", "docker-compose.test.yml"]);
    for (service, image) in TEST_IMAGES {
        assert_ne!(users["services"][service]["image"], image);
        assert_eq!(with_override["services"][service]["image"], image);
        with_override["services"][service]["image"] = users["services"][service]["image"].clone();
    }
    let volumes_as_sets = |mut cfg: Value| {
        for svc in cfg["services"].as_object_mut().unwrap().values_mut() {
            if let Some(v) = svc.get_mut("volumes").and_then(Value::as_array_mut) {
                v.sort_by_key(|x| x.to_string());
            }
        }
        cfg
    };
    let (users, with_override) = (volumes_as_sets(users), volumes_as_sets(with_override));
    for (service, svc) in users["services"].as_object().unwrap() {
        assert_eq!(
            &with_override["services"][service], svc,
            "the test override changes {service} beyond its image"
        );
    }
    assert_eq!(
        with_override, users,
        "the test override changes more than the two images"
    );

    // 3. Up, and every service healthy.
    let t = Instant::now();
    project.run(&["up", "-d"]);
    println!(
        "docker-compose up -d took {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Docker runs the healthchecks itself; Podman schedules them with systemd timers, and these
    // machines have no systemd, so the test runs them as the timer would
    // (`podman healthcheck run`). `docker-compose ps` then shows Podman's recorded state.
    let ids: Vec<(&str, String)> = LONG_RUNNING.iter().map(|s| (*s, project.id(s))).collect();
    poll(Duration::from_secs(120), "every service healthy", || {
        let mut all = true;
        for (_, id) in &ids {
            let out = output(engine.podman().args(["healthcheck", "run", id]));
            all &= out.status.success();
        }
        all.then_some(())
    });
    let ps = project.run(&["ps"]);
    println!("{ps}");
    for service in LONG_RUNNING {
        let line = ps
            .lines()
            .find(|l| l.contains(&format!("_{service}_1")))
            .unwrap_or_else(|| panic!("no {service} in docker-compose ps:\n{ps}"));
        assert!(line.contains("(healthy)"), "{service}: {line}");
    }
    for service in ONE_SHOTS {
        let line = ps
            .lines()
            .find(|l| l.contains(&format!("_{service}_1")))
            .unwrap_or_else(|| panic!("no {service} in docker-compose ps:\n{ps}"));
        assert!(line.contains("Exit 0"), "{service}: {line}");
    }
    println!(
        "stack healthy {:.1} s after the test started",
        started.elapsed().as_secs_f64()
    );

    // 4. The exporter container reads the host's /proc and filesystems through /host.
    let body = get("http://127.0.0.1:9100/metrics")
        .await
        .expect("the exporter container answers on 127.0.0.1:9100");
    assert_eq!(
        sample(&body, "node_boot_time_seconds"),
        Some(host_boot_time()),
        "node_boot_time_seconds is not the host's btime"
    );
    let sizes = filesystem_sizes(&body);
    assert!(
        sizes.iter().any(|(m, _)| m == "/"),
        "no node_filesystem_size_bytes for / in:\n{sizes:?}"
    );
    for (mount, size) in &sizes {
        assert_eq!(
            Some(*size),
            host_size(mount),
            "node_filesystem_size_bytes for {mount} is not the host's"
        );
    }
    println!(
        "exporter container: boot time and {} filesystem sizes equal the host's ({})",
        sizes.len(),
        sizes
            .iter()
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );

    // 5. Prometheus scrapes it.
    let query =
        "http://127.0.0.1:9090/api/v1/query?query=up%7Bjob%3D%22agents%22%2Cagent%3D%22local%22%7D";
    let up = |want: &'static str| async move {
        let body = get(query).await?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["data"]["result"][0]["value"][1] == want).then_some(())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while up("1").await.is_none() {
        assert!(
            Instant::now() < deadline,
            "Prometheus never had up{{agent=\"local\"}} == 1:\n{}",
            project.logs("prometheus")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // 6. Stop the exporter container: AgentDown reaches the receiver's console.
    let stopped = Instant::now();
    project.run(&["stop", "exporter"]);
    let line = poll(
        Duration::from_secs(120),
        "AgentDown in the receiver's log",
        || agent_down_line(&project.logs("receiver"), "FIRING"),
    );
    let down_after = stopped.elapsed();
    println!("receiver log: {line}");
    println!(
        "FIGURE compose exporter stopped: AgentDown in the receiver's log {:.1} s after the stop",
        down_after.as_secs_f64()
    );

    // 7. Start it: RESOLVED follows.
    let restarted = Instant::now();
    project.run(&["start", "exporter"]);
    let line = poll(
        Duration::from_secs(120),
        "RESOLVED in the receiver's log",
        || agent_down_line(&project.logs("receiver"), "RESOLVED"),
    );
    println!("receiver log: {line}");
    println!(
        "FIGURE compose exporter started: RESOLVED in the receiver's log {:.1} s after the start",
        restarted.elapsed().as_secs_f64()
    );

    // 8. Secrets: a bot token in .env reaches the receiver as a file, never as environment.
    let canary = "123456:compose-e2e-canary-token";
    let env = std::fs::read_to_string(dir.join(".env")).unwrap();
    std::fs::write(
        dir.join(".env"),
        env.replace("BOT_TOKEN=\n", &format!("BOT_TOKEN={canary}\n")),
    )
    .unwrap();
    // A second `up`, as after editing .env: both one-shots run again over their volumes and
    // succeed (the token is kept); the receiver, whose configuration did not change, keeps
    // running, and its next start reads the new file.
    project.run(&["up", "-d"]);
    let ps = project.run(&["ps"]);
    for service in ONE_SHOTS {
        let line = ps
            .lines()
            .find(|l| l.contains(&format!("_{service}_1")))
            .unwrap_or_else(|| panic!("no {service} in docker-compose ps:\n{ps}"));
        assert!(line.contains("Exit 0"), "second up: {service}: {line}");
    }
    let token_log = project.logs("webhook-token");
    assert!(
        token_log
            .contains("webhook-token: keeping the existing token in /run/vpsmon/webhook-token"),
        "{token_log}"
    );
    let secrets_log = project.logs("receiver-secrets");
    assert!(
        secrets_log.contains(
            "compose-secrets: BOT_TOKEN from /run/secrets/dotenv written to /run/vpsmon-secrets/BOT_TOKEN (mode 0600, owner 65534:65534)"
        ),
        "{secrets_log}"
    );
    assert!(!secrets_log.contains(canary) && !token_log.contains(canary));
    let config = project.run(&[
        "exec",
        "-T",
        "receiver",
        "sh",
        "/usr/local/lib/vpsmon/compose-secrets.sh",
        "exec",
        "/run/vpsmon-secrets",
        "vpsmon-receiver",
        "--print-config",
    ]);
    assert!(
        config.contains("telegram:\n  token: <redacted>\n"),
        "the receiver does not take the bot token from its file:\n{config}"
    );
    assert!(!config.contains(canary), "--print-config shows the token");
    let ps_all = project.run(&["ps", "-q"]);
    let all_ids: Vec<&str> = ps_all.split_whitespace().collect();
    let inspect = check(engine.podman().arg("inspect").args(&all_ids));
    assert!(
        !inspect.contains(canary) && !inspect.contains("BOT_TOKEN="),
        "a container's configuration shows the bot token"
    );

    // 9. Down leaves nothing.
    project.run(&["down", "-v"]);
    let left = engine.leftovers();
    assert!(left.is_empty(), "docker-compose down -v left: {left:?}");
    drop(project);
    println!(
        "FIGURE compose test: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}
