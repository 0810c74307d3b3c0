//! The deployment files, checked by the tools that will read them: docker-compose.yml by Debian's
//! `docker-compose config` (no Docker engine needed), the configs it mounts by the real promtool
//! and amtool, the systemd units by `systemd-analyze verify`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use testkit::procs::{require_binary, workspace_bin};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `docker-compose config`'s normalised output as JSON values.
fn compose_config() -> Value {
    let dc = require_binary("DOCKER_COMPOSE_BIN", &["docker-compose"], "docker-compose");
    let mut base = Command::new(&dc);
    base.current_dir(root())
        .args(["-f", "docker-compose.yml"])
        // Variables from the test's environment must not change what is checked.
        .env_remove("BOT_TOKEN")
        .env_remove("ALERT_CHAT_ID");
    let (code, out, err) = run(Command::new(&dc).current_dir(root()).args([
        "-f",
        "docker-compose.yml",
        "config",
        "-q",
    ]));
    assert_eq!(code, 0, "docker-compose config -q failed:\n{out}{err}");
    assert!(err.trim().is_empty(), "docker-compose warned:\n{err}");
    let (code, out, err) = run(base.arg("config"));
    assert_eq!(code, 0, "{err}");
    serde_saphyr::from_str(&out).unwrap_or_else(|e| panic!("parse config output: {e}\n{out}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_file_is_valid_and_runs_the_four_parts_on_loopback() {
    let cfg = compose_config();
    let services = cfg["services"].as_object().expect("services");
    let mut names: Vec<&str> = services.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "alertmanager",
            "exporter",
            "prometheus",
            "receiver",
            "receiver-secrets",
            "webhook-token"
        ]
    );

    // Host networking everywhere, so the committed configs' 127.0.0.1 addresses hold; every
    // listener binds loopback.
    let listen = [
        ("exporter", "--web.listen-address=127.0.0.1:9100"),
        ("prometheus", "--web.listen-address=127.0.0.1:9090"),
        ("alertmanager", "--web.listen-address=127.0.0.1:9093"),
    ];
    for (name, svc) in services {
        // The token and secret makers need no network at all.
        let network = if name == "webhook-token" || name == "receiver-secrets" {
            "none"
        } else {
            "host"
        };
        assert_eq!(svc["network_mode"], network, "{name}");
        let cmd = strings(&svc["command"]);
        if let Some((_, flag)) = listen.iter().find(|(n, _)| n == name) {
            assert!(cmd.contains(&flag.to_string()), "{name}: {cmd:?}");
        }
        if name == "receiver" {
            assert_eq!(
                cmd,
                [
                    "sh",
                    "/usr/local/lib/vpsmon/compose-secrets.sh",
                    "exec",
                    "/run/vpsmon-secrets",
                    "vpsmon-receiver",
                    "--listen",
                    "127.0.0.1:9097"
                ]
            );
        }
    }
    // No local user may stop Prometheus over HTTP (POST /-/quit); it is reloaded by SIGHUP.
    let prom = strings(&services["prometheus"]["command"]);
    assert!(
        !prom.iter().any(|a| a.starts_with("--web.enable-lifecycle")),
        "{prom:?}"
    );
    let am = strings(&services["alertmanager"]["command"]);
    assert!(
        am.contains(&"--cluster.listen-address=".to_owned()),
        "{am:?}"
    );

    // The exporter: host pid and network namespaces, host / read-only at /host.
    let exp = &services["exporter"];
    assert_eq!(exp["pid"], "host");
    assert!(
        strings(&exp["volumes"]).contains(&"/:/host:ro,rslave".to_owned()),
        "{:?}",
        exp["volumes"]
    );
    let cmd = strings(&exp["command"]);
    assert!(cmd.contains(&"--path.rootfs=/host".to_owned()), "{cmd:?}");
    for ours in ["exporter", "receiver", "webhook-token", "receiver-secrets"] {
        let svc = &services[ours];
        assert_eq!(svc["read_only"], true, "{ours}");
        assert_eq!(strings(&svc["cap_drop"]), ["ALL"], "{ours}");
        let added = strings(&svc["cap_add"]);
        let want: &[&str] = match ours {
            "webhook-token" => &["CHOWN"],
            "receiver-secrets" => &["CHOWN", "DAC_READ_SEARCH"],
            _ => &[],
        };
        assert_eq!(added, want, "{ours}");
        assert_eq!(
            strings(&svc["security_opt"]),
            ["no-new-privileges:true"],
            "{ours}"
        );
    }

    // The repository's own configs are what Prometheus and Alertmanager mount.
    let root = root();
    let mounts = |svc: &str| strings(&services[svc]["volumes"]);
    assert!(
        mounts("prometheus").contains(&format!(
            "{}:/etc/prometheus:ro",
            root.join("prometheus").display()
        )),
        "{:?}",
        mounts("prometheus")
    );
    assert!(
        mounts("alertmanager").contains(&format!(
            "{}:/etc/alertmanager:ro",
            root.join("alertmanager").display()
        )),
        "{:?}",
        mounts("alertmanager")
    );
}

/// The `credentials_file` of the committed alertmanager.yml's webhook.
fn committed_credentials_file() -> String {
    let am = std::fs::read_to_string(root().join("alertmanager/alertmanager.yml")).unwrap();
    let am: Value = serde_saphyr::from_str(&am).unwrap();
    am["receivers"][0]["webhook_configs"][0]["http_config"]["authorization"]["credentials_file"]
        .as_str()
        .expect("alertmanager.yml sends a bearer token file with the webhook")
        .to_owned()
}

#[test]
fn compose_makes_a_webhook_token_that_alertmanager_sends_and_the_receiver_checks() {
    let cfg = compose_config();
    let services = cfg["services"].as_object().unwrap();
    let token = committed_credentials_file();
    let receiver = &services["receiver"];
    assert_eq!(
        receiver["environment"]["WEBHOOK_TOKEN_FILE"],
        token.as_str()
    );

    // One volume, written by the init service, read-only for the two that use it.
    let volume = |svc: &str| {
        let dir = Path::new(&token).parent().unwrap().display().to_string();
        strings(&services[svc]["volumes"])
            .into_iter()
            .find(|v| v.contains(&format!(":{dir}:")))
            .unwrap_or_else(|| panic!("{svc} does not mount {dir}"))
    };
    assert_eq!(volume("webhook-token"), "webhook-token:/run/vpsmon:rw");
    for svc in ["receiver", "alertmanager"] {
        assert_eq!(volume(svc), "webhook-token:/run/vpsmon:ro", "{svc}");
        assert_eq!(
            services[svc]["depends_on"]["webhook-token"]["condition"],
            "service_completed_successfully",
            "{svc} may start before the token exists"
        );
    }
    // The file is 0600 for its owner: the init service gives it to the user both run as.
    let init = strings(&services["webhook-token"]["command"]);
    assert_eq!(
        init,
        [
            "sh",
            "/usr/local/lib/vpsmon/webhook-token.sh",
            token.as_str(),
            "65534:65534"
        ]
    );
    for svc in ["receiver", "alertmanager"] {
        assert_eq!(services[svc]["user"], "65534:65534", "{svc}");
    }
    assert!(
        strings(&services["webhook-token"]["volumes"]).contains(&format!(
            "{}:/usr/local/lib/vpsmon/webhook-token.sh:ro",
            root().join("scripts/webhook-token.sh").display()
        )),
        "{:?}",
        services["webhook-token"]["volumes"]
    );
}

#[test]
fn the_webhook_token_script_makes_a_private_random_token_once_and_never_prints_it() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("volume/webhook-token");
    let script = root().join("scripts/webhook-token.sh");
    let me = format!(
        "{}:{}",
        std::fs::metadata(dir.path()).unwrap().uid(),
        std::fs::metadata(dir.path()).unwrap().gid()
    );
    // POSIX sh, as in the slim image (dash on Debian).
    let (code, out, err) = run(Command::new("sh").arg(&script).arg(&file).arg(&me));
    assert_eq!(code, 0, "{out}{err}");
    let token = std::fs::read_to_string(&file).unwrap();
    assert_eq!(token.len(), 64, "{token:?}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token:?}");
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    assert!(!out.contains(&token) && !err.contains(&token));
    assert_eq!(
        err.trim(),
        format!("webhook-token: created {}", file.display())
    );
    // A rerun (every `docker compose up`) keeps it, and tightens a loosened file.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out, err) = run(Command::new("sh").arg(&script).arg(&file));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), token);
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    assert!(!out.contains(&token) && !err.contains(&token));
    // Another install gets another token.
    let other = dir.path().join("other");
    let (code, _, _) = run(Command::new("sh").arg(&script).arg(&other));
    assert_eq!(code, 0);
    assert_ne!(std::fs::read_to_string(&other).unwrap(), token);
}

/// Issue 17: the receiver's secrets reach it as files. Compose reads .env itself as a file
/// (the `dotenv` secret, mounted into the one-shot receiver-secrets service only), and no
/// service's environment, which `docker inspect` shows, names a secret.
#[test]
fn compose_gives_the_receiver_its_secrets_as_files_never_as_environment() {
    let cfg = compose_config();
    let services = cfg["services"].as_object().unwrap();
    for (name, svc) in services {
        for secret in ["BOT_TOKEN", "SLACK_WEBHOOK_URL"] {
            assert!(
                svc["environment"].get(secret).is_none(),
                "{name} gets {secret} as environment"
            );
        }
        let has_dotenv = svc["secrets"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s["source"] == "dotenv"));
        assert_eq!(has_dotenv, name == "receiver-secrets", "{name} mounts .env");
    }
    assert_eq!(
        cfg["secrets"]["dotenv"]["file"],
        root().join(".env").display().to_string()
    );
    let split = strings(&services["receiver-secrets"]["command"]);
    assert_eq!(
        split,
        [
            "sh",
            "/usr/local/lib/vpsmon/compose-secrets.sh",
            "split",
            "/run/secrets/dotenv",
            "/run/vpsmon-secrets",
            "65534:65534",
            "BOT_TOKEN",
            "SLACK_WEBHOOK_URL"
        ]
    );
    assert!(
        strings(&services["receiver-secrets"]["volumes"])
            .contains(&"receiver-secrets:/run/vpsmon-secrets:rw".to_owned())
    );
    let receiver = &services["receiver"];
    assert!(
        strings(&receiver["volumes"])
            .contains(&"receiver-secrets:/run/vpsmon-secrets:ro".to_owned())
    );
    assert_eq!(
        receiver["depends_on"]["receiver-secrets"]["condition"],
        "service_completed_successfully"
    );
    // Every long-running service has a health check; the one-shots have none.
    for (name, svc) in services {
        let test = strings(&svc["healthcheck"]["test"]);
        if name == "webhook-token" || name == "receiver-secrets" {
            assert!(test.is_empty(), "{name}: {test:?}");
        } else {
            assert_eq!(test.first().map(String::as_str), Some("CMD"), "{name}");
        }
    }
}

/// scripts/compose-secrets.sh as the two services run it (POSIX sh, as in the slim image).
#[test]
fn compose_secrets_writes_private_files_for_the_set_values_only_and_never_prints_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = root().join("scripts/compose-secrets.sh");
    let env = dir.path().join("env");
    let out_dir = dir.path().join("secrets");
    let me = {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(dir.path()).unwrap();
        format!("{}:{}", m.uid(), m.gid())
    };
    let token = "123456:AAsecret-token-value";
    // The last line wins and its quotes go, as compose reads .env; an empty value is unset.
    std::fs::write(
        &env,
        format!("BOT_TOKEN=old\nBOT_TOKEN=\"{token}\"\nSLACK_WEBHOOK_URL=\nALERT_CHAT_ID=42\n"),
    )
    .unwrap();
    let split = |names: &[&str]| {
        run(Command::new("sh")
            .arg(&script)
            .arg("split")
            .arg(&env)
            .arg(&out_dir)
            .arg(&me)
            .args(names))
    };
    let (code, out, err) = split(&["BOT_TOKEN", "SLACK_WEBHOOK_URL"]);
    assert_eq!(code, 0, "{out}{err}");
    let file = out_dir.join("BOT_TOKEN");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{token}\n")
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!out_dir.join("SLACK_WEBHOOK_URL").exists());
    assert!(
        !out.contains("secret-token") && !err.contains("secret-token"),
        "{out}{err}"
    );
    assert!(
        err.contains("compose-secrets: SLACK_WEBHOOK_URL is not set in"),
        "{err}"
    );
    // The receiver's entry names only the files that exist.
    let (code, out, err) = run(Command::new("sh")
        .arg(&script)
        .arg("exec")
        .arg(&out_dir)
        .arg("env")
        .env_clear());
    assert_eq!(code, 0, "{err}");
    let vars: Vec<&str> = out.lines().filter(|l| l.contains("_FILE=")).collect();
    assert_eq!(vars, [format!("BOT_TOKEN_FILE={}", file.display())]);
    // Clearing the line in .env removes the file: Telegram is off after the next start.
    std::fs::write(&env, "BOT_TOKEN=\n").unwrap();
    let (code, out, err) = split(&["BOT_TOKEN"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!file.exists());
    // A missing .env is named, with the fix.
    std::fs::remove_file(&env).unwrap();
    let (code, _, err) = split(&["BOT_TOKEN"]);
    assert_eq!(code, 1);
    assert!(err.contains("copy .env.example to .env"), "{err}");
    // What Podman mounts for a missing .env (seen in issue 17's test): an empty directory.
    std::fs::create_dir(&env).unwrap();
    let (code, _, err) = split(&["BOT_TOKEN"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("is a directory: .env was missing when the stack started (rmdir .env && cp .env.example .env)"),
        "{err}"
    );
}

#[test]
fn the_configs_compose_mounts_pass_promtool_and_amtool() {
    let promtool = require_binary("PROMTOOL_BIN", &["promtool"], "prometheus");
    let amtool = require_binary("AMTOOL_BIN", &["amtool"], "prometheus-alertmanager");
    let root = root();
    let (code, out, err) = run(Command::new(promtool)
        .arg("check")
        .arg("config")
        .arg(root.join("prometheus/prometheus.yml")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("SUCCESS"), "{out}");
    let (code, out, err) = run(Command::new(amtool)
        .arg("check-config")
        .arg(root.join("alertmanager/alertmanager.yml")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn env_example_names_every_variable_compose_reads_and_the_image_has_every_program() {
    let root = root();
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    let example = std::fs::read_to_string(root.join(".env.example")).unwrap();
    let mut rest = compose.as_str();
    let mut seen = 0;
    while let Some(i) = rest.find("${") {
        let var = rest[i + 2..]
            .split([':', '}', '-'])
            .next()
            .unwrap()
            .to_owned();
        assert!(
            example.lines().any(|l| l.starts_with(&format!("{var}="))),
            ".env.example lacks {var}"
        );
        seen += 1;
        rest = &rest[i + 2..];
    }
    assert!(seen >= 2, "compose reads ALERT_CHAT_ID and ALLOWED_USERS");

    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let cfg = compose_config();
    for (name, svc) in cfg["services"].as_object().unwrap() {
        if svc["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("vpsmon"))
        {
            // The receiver starts through scripts/compose-secrets.sh; the one-shot services
            // run only the image's sh.
            let Some(program) = strings(&svc["command"])
                .into_iter()
                .find(|a| a.starts_with("vpsmon-"))
            else {
                continue;
            };
            // Built and installed by the Dockerfile's cargo command, or by the program's own
            // build script (the exporter's: scripts/build-exporter.sh) whose output it installs.
            let script = format!("scripts/build-{}.sh", program.trim_start_matches("vpsmon-"));
            let by_script = dockerfile.contains(&script)
                && std::fs::read_to_string(root.join(&script))
                    .is_ok_and(|s| s.contains(&format!("-p {program}")));
            assert!(
                (dockerfile.contains(&format!("-p {program}"))
                    && dockerfile.contains(&format!("target/release/{program}")))
                    || by_script,
                "service {name} runs {program}, which the Dockerfile does not build and install"
            );
        }
    }
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    for must in ["target/", ".state/", ".env"] {
        assert!(
            ignore.lines().any(|l| l == must),
            ".dockerignore lacks {must}"
        );
    }
}

const HARDENING: &[&str] = &[
    "DynamicUser=yes",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "PrivateTmp=yes",
    "CapabilityBoundingSet=",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter=@system-service",
    // Well above the servers' connection caps (issue 13: 1024 idle sockets locked users out).
    "LimitNOFILE=8192",
];

#[test]
fn systemd_units_parse_cleanly_and_are_hardened() {
    let analyze = require_binary("SYSTEMD_ANALYZE_BIN", &["systemd-analyze"], "systemd");
    let dir = tempfile::tempdir().unwrap();
    for (unit, bin, own) in [
        (
            "vpsmon-exporter.service",
            "vpsmon-exporter",
            &[
                "ProtectHome=read-only",
                "Environment=VPSMON_STRICT_SECRETS=1",
            ][..],
        ),
        (
            "vpsmon-receiver.service",
            "vpsmon-receiver",
            &[
                "ProtectHome=yes",
                "Environment=RECEIVER_STRICT_SECRETS=1",
                // The token file scripts/webhook-token.sh makes, for the dynamic user.
                "LoadCredential=webhook-token:/etc/prometheus/vpsmon-webhook-token",
            ][..],
        ),
    ] {
        let text = std::fs::read_to_string(root().join("deploy/systemd").join(unit)).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for want in HARDENING.iter().chain(own) {
            assert!(lines.contains(want), "{unit} lacks `{want}`");
        }
        let exec = lines
            .iter()
            .find(|l| l.starts_with("ExecStart="))
            .unwrap_or_else(|| panic!("{unit} has no ExecStart"));
        let args: Vec<&str> = exec["ExecStart=".len()..].split_whitespace().collect();
        assert_eq!(args[0], format!("/usr/local/bin/{bin}"), "{exec}");
        // Issue 15: every setting comes from the env file (the listen address too), so a user
        // changes it there, never in the unit. The one exception is the receiver's webhook token:
        // its path is in the credentials directory (%d), which an env file cannot name (its
        // values are not expanded), and as a flag no line in receiver.env can turn auth off.
        let (env_file, flags): (&str, &[&str]) = if bin == "vpsmon-receiver" {
            (
                "receiver.env",
                &["--webhook-token-file", "%d/webhook-token"],
            )
        } else {
            ("exporter.env", &[])
        };
        assert_eq!(&args[1..], flags, "{unit} hard-codes flags: {exec}");
        assert!(
            lines.contains(&format!("EnvironmentFile=-/etc/vpsmon/{env_file}").as_str()),
            "{unit} does not read /etc/vpsmon/{env_file}"
        );
        if !flags.is_empty() {
            let comments: String = lines
                .iter()
                .filter_map(|l| l.strip_prefix('#'))
                .map(|l| format!("{} ", l.trim()))
                .collect();
            assert!(
                comments
                    .contains("The one flag on ExecStart, because receiver.env cannot carry it"),
                "{unit}: the unit's comment does not say why ExecStart has a flag"
            );
        }
        // verify insists that ExecStart exists: point it at the binary built here.
        let built = workspace_bin(bin);
        assert!(
            built.is_file(),
            "{} missing: run `cargo build --workspace --bins` first",
            built.display()
        );
        let local = text.replace(&format!("/usr/local/bin/{bin}"), built.to_str().unwrap());
        let path = dir.path().join(unit);
        std::fs::write(&path, local).unwrap();
        let (code, out, err) = run(Command::new(&analyze)
            .args(["verify", "--man=no"])
            .arg(&path));
        // verify exits 0 on unknown keys and bad values but prints them: both must be empty.
        assert_eq!(code, 0, "{unit}:\n{out}{err}");
        assert!(
            err.trim().is_empty() && out.trim().is_empty(),
            "{unit} has warnings:\n{out}{err}"
        );
        // The exposure score is a figure to watch, not a threshold (lower is better, 0-10).
        let (_, out, _) = run(Command::new(&analyze)
            .args(["security", "--offline=true", "--no-pager"])
            .arg(&path));
        if let Some(line) = out.lines().find(|l| l.contains("Overall exposure level")) {
            println!("{line}");
        }
    }
}

/// The variables an env file assigns (`KEY=VALUE`) and the ones it shows commented out.
fn env_file_names(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut set = Vec::new();
    let mut all = Vec::new();
    for line in text.lines() {
        let commented = line.starts_with('#');
        let Some((key, value)) = line.trim_start_matches('#').split_once('=') else {
            continue;
        };
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        all.push(key.to_owned());
        if !commented {
            set.push((key.to_owned(), value.to_owned()));
        }
    }
    (set, all)
}

/// Whether `help` names the variable `var` (not as the prefix of a longer name).
fn names_var(help: &str, var: &str) -> bool {
    help.match_indices(var).any(|(i, _)| {
        !help[i + var.len()..]
            .starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Issue 15: the env files the units read carry every setting. The shipped examples set the
/// loopback address (also the programs' defaults, for a unit without the file), name only
/// variables the programs read, and the exporter listens where its env file says, with no flag.
#[tokio::test]
async fn the_units_env_files_carry_every_setting_and_default_to_loopback() {
    for (file, bin, listen, loopback) in [
        (
            "exporter.env",
            "vpsmon-exporter",
            "VPSMON_WEB_LISTEN_ADDRESS",
            "127.0.0.1:9100",
        ),
        (
            "receiver.env",
            "vpsmon-receiver",
            "RECEIVER_LISTEN",
            "127.0.0.1:9097",
        ),
    ] {
        let text = std::fs::read_to_string(root().join("deploy/systemd").join(file)).unwrap();
        let (set, all) = env_file_names(&text);
        assert_eq!(set, [(listen.to_owned(), loopback.to_owned())], "{file}");
        let built = workspace_bin(bin);
        assert!(
            built.is_file(),
            "{} missing: run `cargo build --workspace --bins` first",
            built.display()
        );
        let (code, help, err) = run(Command::new(&built).arg("--help").env_clear());
        assert_eq!(code, 0, "{bin} --help: {err}");
        assert!(
            help.contains(&format!("[default: {loopback}]")),
            "{bin}'s default listen address is not {loopback}:\n{help}"
        );
        for var in &all {
            assert!(
                names_var(&help, var),
                "{file} names {var}, which {bin} does not read"
            );
        }
    }

    // What a user does to move the exporter (to a WireGuard address, say): edit one line of the
    // env file. systemd then starts the binary with exactly the file's variables and no flag.
    let text = std::fs::read_to_string(root().join("deploy/systemd/exporter.env")).unwrap();
    let port = testkit::procs::free_port();
    let edited = text.replace(
        "VPSMON_WEB_LISTEN_ADDRESS=127.0.0.1:9100",
        &format!("VPSMON_WEB_LISTEN_ADDRESS=127.0.0.1:{port}"),
    );
    let (set, _) = env_file_names(&edited);
    let mut cmd = Command::new(workspace_bin("vpsmon-exporter"));
    cmd.env_clear().envs(set);
    let dir = tempfile::tempdir().unwrap();
    let mut proc =
        testkit::procs::Proc::spawn("vpsmon-exporter", cmd, &dir.path().join("log")).unwrap();
    testkit::procs::wait_http_ok(
        &mut proc,
        &format!("http://127.0.0.1:{port}/ping"),
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
}

#[test]
fn systemd_verify_does_report_a_misspelt_directive() {
    // Guards the check above: if verify stopped printing problems, it would pass anything.
    let analyze = require_binary("SYSTEMD_ANALYZE_BIN", &["systemd-analyze"], "systemd");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.service");
    std::fs::write(
        &path,
        "[Service]\nExecStart=/bin/true\nProtectSystem=strcit\nNoNewPrivilegs=yes\n",
    )
    .unwrap();
    let (_, out, err) = run(Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(&path));
    let all = format!("{out}{err}");
    assert!(all.contains("Unknown key 'NoNewPrivilegs'"), "{all}");
    assert!(all.contains("strcit"), "{all}");
}
