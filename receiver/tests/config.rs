//! Configuration: precedence (flags > env > file > defaults), clear errors that name the file,
//! line, key, flag or variable, and secrets that never show in --help, --print-config, errors
//! or logs. The last tests run the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use vpsmon_receiver::cli::Cli;
use vpsmon_receiver::config::{ChatId, Config, ConfigError, Destination, WebhookAuth};
use vpsmon_receiver::notify::slack::SlackDestination;
use vpsmon_receiver::notify::telegram::TelegramDestination;

const BIN: &str = env!("CARGO_BIN_EXE_vpsmon-receiver");
const TOKEN: &str = "123456:AAH-very-secret-bot-token";
const SLACK: &str = "https://hooks.slack.com/services/T000/B000/very-secret-slack";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn load(cli: &Cli, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load(cli, &|k| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
}

fn with_file(path: &Path) -> Cli {
    Cli {
        config: Some(path.to_owned()),
        ..Cli::default()
    }
}

#[test]
fn precedence_is_flags_then_env_then_file_then_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "receiver.yml",
        "listen: 127.0.0.1:1111\ntimezone: Europe/Berlin\ndelivery_deadline: 30s\nprometheus_url: http://file:9090\n",
    );
    let env = [
        ("RECEIVER_LISTEN", "127.0.0.1:2222"),
        ("RECEIVER_TIMEZONE", "Asia/Taipei"),
        ("PROMETHEUS_URL", "http://env:9090/"),
    ];
    let mut cli = with_file(&file);
    cli.listen = Some("127.0.0.1:3333".into());

    let c = load(&cli, &env).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:3333", "flag wins");
    assert_eq!(c.timezone, chrono_tz::Asia::Taipei, "env beats file");
    assert_eq!(c.prometheus_url.as_deref(), Some("http://env:9090"));
    assert_eq!(
        c.delivery_deadline,
        Duration::from_secs(30),
        "file beats default"
    );

    cli.listen = None;
    assert_eq!(
        load(&cli, &env).unwrap().listen.to_string(),
        "127.0.0.1:2222"
    );
    let c = load(&cli, &[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:1111");
    assert_eq!(c.timezone, chrono_tz::Europe::Berlin);

    let c = load(&Cli::default(), &[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:9097");
    assert_eq!(c.timezone, chrono_tz::UTC);
    assert_eq!(c.body_limit, 1024 * 1024);
    assert_eq!(c.delivery_deadline, Duration::from_secs(10));
    // No Telegram, no Slack: alerts still go somewhere a person sees them.
    assert_eq!(c.default_route, vec![Destination::Console]);

    assert!(c.warnings.is_empty());
    let c = load(&Cli::default(), &[("ALERT_CHAT_ID", "-100123")]).unwrap();
    assert_eq!(
        c.warnings,
        [
            "an alert chat (ALERT_CHAT_ID or telegram.chat_id) is set but no bot token \
          (BOT_TOKEN, BOT_TOKEN_FILE or telegram.bot_token_file): Telegram is off"
        ]
    );
    assert_eq!(c.default_route, vec![Destination::Console]);

    // TZ is honoured when it is a zone name, below RECEIVER_TIMEZONE.
    let c = load(&Cli::default(), &[("TZ", "Asia/Taipei")]).unwrap();
    assert_eq!(c.timezone, chrono_tz::Asia::Taipei);
    let c = load(&Cli::default(), &[("TZ", ":/etc/localtime")]).unwrap();
    assert_eq!(c.timezone, chrono_tz::UTC);
}

#[test]
fn the_seeds_env_alone_configures_telegram() {
    let c = load(
        &Cli::default(),
        &[
            ("BOT_TOKEN", TOKEN),
            ("ALERT_CHAT_ID", "-1001234567890"),
            ("ALLOWED_USERS", "123456789,987654321"),
            ("PROMETHEUS_URL", "http://localhost:9090"),
        ],
    )
    .unwrap();
    let tg = c.telegram.as_ref().unwrap();
    assert_eq!(tg.token.expose(), TOKEN);
    assert_eq!(tg.api_url, "https://api.telegram.org");
    assert_eq!(
        c.default_route,
        vec![Destination::Integration(Arc::new(TelegramDestination {
            chat_id: ChatId::Id(-1001234567890),
            message_thread_id: None
        }))]
    );
    assert_eq!(c.allowed_users, vec![123456789, 987654321]);

    // TELEGRAM_API_URL points it elsewhere (tests: a loopback fake); SLACK_WEBHOOK_URL adds Slack.
    let c = load(
        &Cli::default(),
        &[
            ("BOT_TOKEN", TOKEN),
            ("ALERT_CHAT_ID", "@alerts_channel"),
            ("TELEGRAM_API_URL", "http://127.0.0.1:8081/"),
            ("SLACK_WEBHOOK_URL", SLACK),
        ],
    )
    .unwrap();
    assert_eq!(
        c.telegram.as_ref().unwrap().api_url,
        "http://127.0.0.1:8081"
    );
    let labels: Vec<String> = c.default_route.iter().map(Destination::label).collect();
    assert_eq!(labels, ["telegram:@alerts_channel", "slack:default"]);
}

#[test]
fn secrets_from_files_and_routes_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "bot.token", &format!("{TOKEN}\n"));
    let ops_hook = write(
        dir.path(),
        "ops-slack.url",
        "https://hooks.slack.com/services/OPS\n",
    );
    let am_token = write(dir.path(), "am.token", "webhook-token\n");
    let file = write(
        dir.path(),
        "receiver.yml",
        &format!(
            "telegram:\n  bot_token_file: {}\n  chat_id: -100999\n\
             webhook_auth:\n  bearer_token_file: {}\n\
             default_route:\n  - telegram: {{}}\n  - console\n\
             routes:\n  ops:\n    - telegram: {{ chat_id: -100555, message_thread_id: 7 }}\n    - slack: {{ webhook_url_file: {} }}\n",
            token.display(),
            am_token.display(),
            ops_hook.display()
        ),
    );
    let c = load(&with_file(&file), &[]).unwrap();
    assert_eq!(c.telegram.as_ref().unwrap().token.expose(), TOKEN);
    let labels = |d: &[Destination]| d.iter().map(Destination::label).collect::<Vec<_>>();
    assert_eq!(labels(&c.default_route), ["telegram:-100999", "console"]);
    assert_eq!(
        labels(c.route(Some("ops")).unwrap()),
        ["telegram:-100555/7", "slack:ops-slack"]
    );
    match c.routes["ops"][1].integration::<SlackDestination>() {
        Some(SlackDestination { webhook_url, .. }) => {
            assert_eq!(webhook_url.expose(), "https://hooks.slack.com/services/OPS")
        }
        None => panic!("{:?}", c.routes["ops"][1]),
    }
    assert!(matches!(c.webhook_auth, Some(WebhookAuth::Bearer(_))));
    // ALERT_CHAT_ID (env) overrides the file's chat for destinations that name none.
    let c = load(&with_file(&file), &[("ALERT_CHAT_ID", "-100111")]).unwrap();
    assert_eq!(labels(&c.default_route), ["telegram:-100111", "console"]);
}

fn error(yaml: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "receiver.yml", yaml);
    let err = load(&with_file(&file), env).unwrap_err().to_string();
    // Errors name the file by its path; make them comparable.
    err.replace(&file.display().to_string(), "receiver.yml")
}

#[test]
fn errors_name_the_file_line_key_flag_or_variable() {
    let e = error(
        "listen: 127.0.0.1:9097\nroutes:\n  ops:\n    - consol\n",
        &[],
    );
    assert!(
        e.starts_with("config file receiver.yml: error: line 4 column 7: unknown variant `consol`"),
        "{e}"
    );
    let e = error("listen: 127.0.0.1:9097\ntelegram:\n  chat_idd: 5\n", &[]);
    assert!(
        e.starts_with("config file receiver.yml: error: line 3 column 3: unknown field `chat_idd`"),
        "{e}"
    );
    assert_eq!(
        error("listen: nowhere\n", &[]),
        "--listen (from receiver.yml key `listen`): \"nowhere\" is not an address such as 127.0.0.1:9097 \
         (invalid socket address syntax)"
    );
    assert_eq!(
        error("", &[("RECEIVER_TIMEZONE", "Mars/Olympus")]),
        "--timezone (from RECEIVER_TIMEZONE): \"Mars/Olympus\" is not an IANA time zone name such as UTC or Asia/Taipei"
    );
    assert_eq!(
        error("", &[("ALERT_CHAT_ID", "my chat"), ("BOT_TOKEN", TOKEN)]),
        "--alert-chat-id (from ALERT_CHAT_ID): \"my chat\" is not a Telegram chat id (a number such as -1001234567890, or @channelname)"
    );
    assert_eq!(
        error("routes:\n  ops:\n    - telegram: { chat_id: 5 }\n", &[]),
        "receiver.yml key `routes.ops[0]`: a telegram destination needs a bot token \
         (BOT_TOKEN, BOT_TOKEN_FILE or telegram.bot_token_file)"
    );
    assert_eq!(
        error("routes:\n  default: [console]\n", &[]),
        "receiver.yml key `routes.default`: the route `default` is `default_route`; give this route another name"
    );
    // A secret written into the file is refused, and not repeated.
    let e = error("telegram:\n  bot_token: 123:leaked\n", &[]);
    assert_eq!(
        e,
        "receiver.yml key `telegram.bot_token`: secrets are not read from the config file; \
         use telegram.bot_token_file, BOT_TOKEN_FILE or BOT_TOKEN"
    );
    let e = error("", &[("BOT_TOKEN", "not-a-token-leaked")]);
    assert_eq!(
        e,
        "BOT_TOKEN: does not look like a Telegram bot token (<bot id>:<secret> from @BotFather)"
    );
    let e = error("", &[("BOT_TOKEN_FILE", "/nonexistent/bot.token")]);
    assert!(
        e.starts_with(
            "--bot-token-file (from BOT_TOKEN_FILE): cannot read secret file /nonexistent/bot.token"
        ),
        "{e}"
    );
    let e = error("", &[("BOT_TOKEN", TOKEN), ("BOT_TOKEN_FILE", "/x")]);
    assert_eq!(
        e,
        "BOT_TOKEN: set either BOT_TOKEN or BOT_TOKEN_FILE, not both"
    );
    let e = error("body_limit: 5XB\n", &[]);
    assert!(
        e.contains("line 1 column 13: \"5XB\": unknown unit \"XB\""),
        "{e}"
    );
}

// ---- the binary ----

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const SECRET_ENV: &[(&str, &str)] = &[
    ("BOT_TOKEN", TOKEN),
    ("ALERT_CHAT_ID", "-100123"),
    ("SLACK_WEBHOOK_URL", SLACK),
];

#[test]
fn print_config_redacts_secrets_and_help_never_shows_them() {
    let out = run(&["--print-config"], SECRET_ENV);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(!shown.contains("very-secret"), "{shown}");
    assert!(shown.contains("telegram:\n  token: <redacted>\n  api_url: https://api.telegram.org\n  chat_id: -100123\n"), "{shown}");
    assert!(
        shown.contains("slack:\n  webhook_url: <redacted>\n"),
        "{shown}"
    );

    let out = run(&["--help"], SECRET_ENV);
    assert!(out.status.success());
    let help = text(&out);
    assert!(!help.contains("very-secret"), "{help}");
    for name in [
        "--listen",
        "--config",
        "--print-config",
        "BOT_TOKEN",
        "ALERT_CHAT_ID",
        "TELEGRAM_API_URL",
        "SLACK_WEBHOOK_URL",
        "WEBHOOK_TOKEN_FILE",
        "ALLOWED_USERS",
        "PROMETHEUS_URL",
        "ALERTMANAGER_URL",
    ] {
        assert!(help.contains(name), "--help does not mention {name}");
    }
}

#[test]
fn a_bad_config_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "receiver.yml", "lisen: 127.0.0.1:9097\n");
    let out = run(&["--config", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "vpsmon-receiver: config file {}: error: line 1 column 1: unknown field `lisen`",
            file.display()
        )),
        "{err}"
    );
    let out = run(&["--listen"], &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap's own usage errors exit 2 too"
    );
    let out = run(&[], &[("BOT_TOKEN", "bad-token-value")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!text(&out).contains("bad-token-value"));
}

#[test]
fn prometheus_and_alertmanager_credentials_are_checked_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let pass = write(dir.path(), "prom.password", "p4ss\n");
    let pass = pass.to_str().unwrap();
    // From the file, in the form of webhook_auth.
    let c = load(
        &with_file(&write(
            dir.path(),
            "receiver.yml",
            &format!(
                "prometheus_auth:\n  basic: {{username: admin, password_file: {pass}}}\n\
                 alertmanager_auth:\n  bearer_token_file: {pass}\n"
            ),
        )),
        &[],
    )
    .unwrap();
    let shown = serde_json::to_value(&c).unwrap();
    assert_eq!(
        shown["prometheus_auth"],
        serde_json::json!({"basic": {"user": "admin", "password": format!("<redacted> (from {pass})")}})
    );
    assert_eq!(
        shown["alertmanager_auth"],
        serde_json::json!({"bearer": format!("<redacted> (from {pass})")})
    );
    assert_eq!(
        error("", &[("PROMETHEUS_BASIC_AUTH_USER", "admin")]),
        "--prometheus-basic-auth-user (from PROMETHEUS_BASIC_AUTH_USER): basic auth for Prometheus needs a password file too \
         (PROMETHEUS_BASIC_AUTH_PASSWORD_FILE)"
    );
    assert_eq!(
        error("", &[("ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE", pass)]),
        "--alertmanager-basic-auth-password-file (from ALERTMANAGER_BASIC_AUTH_PASSWORD_FILE): basic auth for Alertmanager needs a user \
         too (ALERTMANAGER_BASIC_AUTH_USER)"
    );
    assert_eq!(
        error(
            "",
            &[
                ("PROMETHEUS_BEARER_TOKEN_FILE", pass),
                ("PROMETHEUS_BASIC_AUTH_USER", "admin")
            ]
        ),
        "--prometheus-basic-auth-user (from PROMETHEUS_BASIC_AUTH_USER): choose a bearer token or basic auth for Prometheus, \
         not both"
    );
    assert_eq!(
        error(
            "",
            &[
                ("PROMETHEUS_URL", "http://admin:url-pass@prom:9090"),
                ("PROMETHEUS_BEARER_TOKEN_FILE", pass)
            ]
        ),
        "--prometheus-url (from PROMETHEUS_URL): the Prometheus URL carries credentials (user:password@) and a \
         Prometheus credential file is set too: keep the file, drop them from the URL"
    );
    let e = error(
        "",
        &[("ALERTMANAGER_BEARER_TOKEN_FILE", "/nonexistent/am.token")],
    );
    assert!(
        e.starts_with(
            "--alertmanager-bearer-token-file (from ALERTMANAGER_BEARER_TOKEN_FILE): cannot read secret file /nonexistent/am.token"
        ),
        "{e}"
    );
}

#[test]
fn a_secret_file_others_may_read_is_warned_about_and_refused_when_strict() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "webhook.token", "webhook-token-value\n");
    let mode = |m| std::fs::set_permissions(&token, std::fs::Permissions::from_mode(m)).unwrap();
    let file_env = [("WEBHOOK_TOKEN_FILE", token.to_str().unwrap())];
    let too_open = format!(
        "permissions 0644 for {p} are too open: a secret file must not be readable by group or \
         others (chmod 600 {p})",
        p = token.display()
    );

    mode(0o644);
    let out = run(&["--print-config"], &file_env);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("warning: {too_open}; accepted (--strict-secrets refuses it)\n{CONSOLE_ONLY}")
    );

    let strict_env = [file_env[0], ("RECEIVER_STRICT_SECRETS", "true")];
    for (args, env) in [
        (&["--print-config", "--strict-secrets"][..], &file_env[..]),
        (&["--print-config"][..], &strict_env[..]),
    ] {
        let out = run(args, env);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} {env:?}: {}",
            text(&out)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "vpsmon-receiver: --webhook-token-file (from WEBHOOK_TOKEN_FILE): {too_open}\n"
            )
        );
    }
    let out = run(&["--print-config"], &[("RECEIVER_STRICT_SECRETS", "maybe")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "vpsmon-receiver: --strict-secrets (from RECEIVER_STRICT_SECRETS): \"maybe\": use true or false\n"
    );

    mode(0o600);
    let out = run(&["--print-config", "--strict-secrets"], &file_env);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stderr), CONSOLE_ONLY);
}

const CONSOLE_ONLY: &str = "warning: no Telegram or Slack is configured: alerts are only printed to the console (stdout)\n";

/// `--print-config` warns on stderr about what a real start would warn about (issue 15), and
/// stdout stays the YAML alone.
#[test]
fn print_config_shows_the_warnings_of_a_start() {
    let out = run(&["--print-config"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("telegram: null\n"), "{shown}");
    assert!(!shown.contains("warning"), "{shown}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "warning: the webhook has no auth and no opt-out: the receiver refuses to start (set \
             --webhook-token-file, basic auth, or --webhook-no-auth)\n{CONSOLE_ONLY}"
        )
    );

    let out = run(
        &[
            "--print-config",
            "--webhook-no-auth",
            "--listen",
            "127.0.0.1:9111",
        ],
        &[("ALERT_CHAT_ID", "-100123")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "warning: an alert chat (ALERT_CHAT_ID or telegram.chat_id) is set but no bot token \
             (BOT_TOKEN, BOT_TOKEN_FILE or telegram.bot_token_file): Telegram is off\n\
             warning: the webhook has no auth (--webhook-no-auth): anyone who can reach \
             127.0.0.1:9111 can post alerts\n{CONSOLE_ONLY}"
        )
    );

    let out = run(&["--print-config", "--webhook-no-auth"], SECRET_ENV);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.ends_with(
            "warning: Telegram bot: ALLOWED_USERS is empty, so nobody can use the bot (a \
             stranger gets \"Not authorized.\" once an hour in a private chat, nothing in a group)\n"
        ),
        "{err}"
    );
    assert!(!err.contains("console"), "Telegram and Slack are on: {err}");
}

/// Telegram group ids are negative, and written as a separate word after the flag.
#[test]
fn a_negative_alert_chat_id_is_a_value_not_a_flag() {
    let out = run(
        &["--print-config", "--alert-chat-id", "-100123"],
        &[("BOT_TOKEN", TOKEN)],
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("  chat_id: -100123\n"), "{shown}");
}

/// The whole binary with no credentials: a webhook becomes one console line per alert on stdout,
/// and the logs never carry a secret even when Slack and Telegram are configured.
#[test]
fn the_binary_prints_alerts_and_keeps_secrets_out_of_its_logs() {
    let port = testkit::procs::free_port();
    let listen = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let token_file = write(dir.path(), "webhook.token", "webhook-very-secret\n");
    let yaml = write(dir.path(), "receiver.yml", "default_route: [console]\n");
    let mut child = Command::new(BIN)
        .args(["--config", yaml.to_str().unwrap(), "--listen", &listen])
        .env_clear()
        .env("RUST_LOG", "debug")
        .env("BOT_TOKEN", TOKEN)
        .env("SLACK_WEBHOOK_URL", SLACK)
        .env("WEBHOOK_TOKEN_FILE", &token_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("http://{listen}");
    let body = serde_json::json!({
        "version": "4", "groupKey": "g", "status": "firing", "receiver": "r",
        "externalURL": "", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "truncatedAlerts": 0,
        "alerts": [{"status": "firing", "labels": {"alertname": "AgentDown", "agent": "web-1"},
                    "annotations": {"summary": "line1\nline2"}, "startsAt": "2026-11-21T10:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "00000000000000aa"}]
    });
    let statuses = rt.block_on(async {
        let client = reqwest::Client::new();
        testkit::procs::eventually(Duration::from_secs(30), "receiver answers", || async {
            client
                .get(format!("{url}/healthz"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        })
        .await
        .unwrap();
        let mut statuses = Vec::new();
        for auth in ["Bearer wrong-guess", "Bearer webhook-very-secret"] {
            let r = client
                .post(format!("{url}/alerts"))
                .header("Authorization", auth)
                .json(&body)
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        statuses
    });
    assert_eq!(statuses, [401, 200]);
    // SIGTERM: a graceful stop.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = wait_output(&mut child);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stdout,
        "FIRING - AgentDown agent=\"web-1\" summary=\"line1\\nline2\" \
         started=\"2026-11-21 10:00:00 UTC\" fingerprint=00000000000000aa\n"
    );
    assert!(stderr.contains("vpsmon-receiver listening"), "{stderr}");
    // The token file was written with the default umask (0644): accepted, with a warning.
    assert!(
        stderr.contains(&format!(
            "warning: permissions 0644 for {} are too open",
            token_file.display()
        )),
        "{stderr}"
    );
    for secret in ["very-secret", "AAH-", "hooks.slack.com"] {
        assert!(!stderr.contains(secret), "log leaks {secret:?}:\n{stderr}");
    }
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

fn wait_output(child: &mut std::process::Child) -> Output {
    for _ in 0..300 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status: child.wait().unwrap(),
        stdout,
        stderr,
    }
}

#[test]
fn webhook_destinations_are_checked_and_their_secrets_read_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let auth = write(dir.path(), "ntfy.auth", "Bearer tk_configSecret99\n");
    let file = write(
        dir.path(),
        "receiver.yml",
        &format!(
            "default_route:\n  - webhook: {{ name: ntfy, url: 'https://ntfy.example/alerts', headers: {{ Tags: warning }}, header_files: {{ Authorization: {} }} }}\n",
            auth.display()
        ),
    );
    let c = load(&with_file(&file), &[]).unwrap();
    let labels: Vec<String> = c.default_route.iter().map(Destination::label).collect();
    assert_eq!(labels, ["webhook:ntfy"]);
    let yaml = c.to_yaml();
    assert!(yaml.contains("Authorization: <redacted>"), "{yaml}");
    assert!(!yaml.contains("tk_configSecret99"), "{yaml}");
    assert!(!yaml.contains("ntfy.example/alerts"), "{yaml}");

    let at = "receiver.yml key `default_route[0].webhook";
    assert_eq!(
        error(
            "default_route:\n  - webhook: { url: 'https://x.example/a', headers: { Authorization: 'Bearer tk' } }\n",
            &[]
        ),
        format!(
            "{at}.headers.Authorization`: secrets are not read from the config file; put the \
             value in a file named under header_files"
        )
    );
    assert_eq!(
        error(
            "default_route:\n  - webhook: { url: 'https://x.example/a', url_file: /nope }\n",
            &[]
        ),
        format!("{at}`: choose url or url_file, not both")
    );
    assert_eq!(
        error(
            "default_route:\n  - webhook: { url: 'https://x.example/a', method: get }\n",
            &[]
        ),
        format!("{at}.method`: \"GET\": use POST or PUT (a notification has a body)")
    );
    assert_eq!(
        error(
            "default_route:\n  - webhook: { url: 'ftp://x.example/a' }\n",
            &[]
        ),
        format!("{at}.url`: is not an http(s) URL")
    );
    let e = error(
        "default_route:\n  - webhook: { url: 'https://x.example/a', body: '{{ text ' }\n",
        &[],
    );
    assert!(e.starts_with(&format!("{at}.body`: ")), "{e}");
}

/// Issue 18: the Telegram digest threshold (flag > env > file > 20) and the dashboard URL the
/// digest links to; bad values are named by where they came from.
#[test]
fn the_digest_threshold_and_dashboard_url_are_layered_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "receiver.yml",
        "telegram: { digest_threshold: 30 }\ndashboard: { url: \"https://mon.example.com/\" }\n",
    );
    let threshold = |cli: &Cli, env: &[(&str, &str)]| {
        let env: Vec<(&str, &str)> = [("BOT_TOKEN", TOKEN)]
            .into_iter()
            .chain(env.iter().copied())
            .collect();
        load(cli, &env).unwrap().telegram.unwrap().digest_threshold
    };
    assert_eq!(threshold(&Cli::default(), &[]), 20, "the default");
    let mut cli = with_file(&file);
    assert_eq!(threshold(&cli, &[]), 30, "the file");
    assert_eq!(
        threshold(&cli, &[("TELEGRAM_DIGEST_THRESHOLD", "40")]),
        40,
        "env beats file"
    );
    cli.telegram.telegram_digest_threshold = Some("50".into());
    assert_eq!(
        threshold(&cli, &[("TELEGRAM_DIGEST_THRESHOLD", "40")]),
        50,
        "flag wins"
    );
    assert_eq!(
        load(&with_file(&file), &[])
            .unwrap()
            .dashboard
            .url
            .as_deref(),
        Some("https://mon.example.com")
    );

    assert_eq!(
        error(
            "telegram: { digest_threshold: 0 }\n",
            &[("BOT_TOKEN", TOKEN)]
        ),
        "--telegram-digest-threshold (from receiver.yml key `telegram.digest_threshold`): \"0\" is not a number of alerts (a whole number, at least 1)"
    );
    assert_eq!(
        error(
            "",
            &[("BOT_TOKEN", TOKEN), ("TELEGRAM_DIGEST_THRESHOLD", "many")]
        ),
        "--telegram-digest-threshold (from TELEGRAM_DIGEST_THRESHOLD): \"many\" is not a number of alerts (a whole number, at least 1)"
    );
    assert_eq!(
        load(&Cli::default(), &[]).unwrap().console_digest_threshold,
        20
    );
    assert_eq!(
        load(
            &Cli::default(),
            &[("RECEIVER_CONSOLE_DIGEST_THRESHOLD", "5")]
        )
        .unwrap()
        .console_digest_threshold,
        5
    );
    assert_eq!(
        load(&Cli::default(), &[]).unwrap().slack_digest_threshold,
        20
    );
    assert_eq!(
        error("slack: { digest_threshold: 0 }\n", &[]),
        "--slack-digest-threshold (from receiver.yml key `slack.digest_threshold`): \"0\" is not a number of alerts (a whole number, at least 1)"
    );
    assert_eq!(
        load(&Cli::default(), &[("SLACK_DIGEST_THRESHOLD", "7")])
            .unwrap()
            .slack_digest_threshold,
        7
    );
    assert_eq!(
        error("console_digest_threshold: 0\n", &[]),
        "--console-digest-threshold (from receiver.yml key `console_digest_threshold`): \"0\" is not a number of alerts (a whole number, at least 1)"
    );
    assert_eq!(
        error(
            "dashboard: { url: \"https://admin:hunter2@mon.example.com\" }\n",
            &[]
        ),
        "receiver.yml key `dashboard.url`: is not an http:// or https:// URL without credentials (e.g. https://mon.example.com)"
    );
}

/// Issue 16: every variable is `RECEIVER_` and its flag; the names used before (the seed's
/// among them) are read when the prefixed one is unset, and errors name the one that was read.
#[test]
fn every_variable_has_the_receiver_prefix_and_the_old_names_still_work() {
    let c = load(
        &Cli::default(),
        &[
            ("RECEIVER_BOT_TOKEN", TOKEN),
            ("RECEIVER_ALERT_CHAT_ID", "-100777"),
            ("ALERT_CHAT_ID", "-100111"),
            ("RECEIVER_ALLOWED_USERS", "42"),
            ("RECEIVER_TELEGRAM_API_URL", "http://127.0.0.1:8081/"),
            ("RECEIVER_PROMETHEUS_URL", "http://prom:9090"),
        ],
    )
    .unwrap();
    assert_eq!(c.telegram.as_ref().unwrap().token.expose(), TOKEN);
    assert_eq!(
        c.telegram.as_ref().unwrap().api_url,
        "http://127.0.0.1:8081"
    );
    let labels: Vec<String> = c.default_route.iter().map(Destination::label).collect();
    assert_eq!(labels, ["telegram:-100777"], "the prefixed name wins");
    assert_eq!(c.allowed_users, vec![42]);
    assert_eq!(c.prometheus_url.as_deref(), Some("http://prom:9090"));

    assert_eq!(
        error("", &[("RECEIVER_ALLOWED_USERS", "alice")]),
        "--allowed-users (from RECEIVER_ALLOWED_USERS): \"alice\" is not a Telegram user id (a number)"
    );
    assert_eq!(
        error("", &[("ALLOWED_USERS", "bob")]),
        "--allowed-users (from ALLOWED_USERS): \"bob\" is not a Telegram user id (a number)"
    );
    assert_eq!(
        error(
            "",
            &[("RECEIVER_BOT_TOKEN", TOKEN), ("BOT_TOKEN_FILE", "/x")]
        ),
        "RECEIVER_BOT_TOKEN: set either RECEIVER_BOT_TOKEN or BOT_TOKEN_FILE, not both"
    );
    // A flag still wins over both.
    let mut cli = Cli::default();
    cli.telegram.alert_chat_id = Some("-100555".into());
    let c = load(
        &cli,
        &[("BOT_TOKEN", TOKEN), ("RECEIVER_ALERT_CHAT_ID", "-100777")],
    )
    .unwrap();
    let labels: Vec<String> = c.default_route.iter().map(Destination::label).collect();
    assert_eq!(labels, ["telegram:-100555"]);

    let out = run(&["--help"], &[]);
    let help = text(&out);
    for line in [
        "every flag reads RECEIVER_<FLAG> (--alert-chat-id: RECEIVER_ALERT_CHAT_ID)",
        "  RECEIVER_BOT_TOKEN or BOT_TOKEN\n",
        "ALERT_CHAT_ID (RECEIVER_ALERT_CHAT_ID)",
    ] {
        assert!(help.contains(line), "--help lacks {line:?}:\n{help}");
    }
}

/// `--print-config` ends with the settings a flag or an env var gave, in the form every binary's
/// `--print-config` lists them (`--flag=value  (source)`), a secret value `<redacted>`.
#[test]
fn print_config_names_the_flag_or_variable_of_each_setting_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "receiver.yml",
        "listen: 127.0.0.1:9000\ndelivery_deadline: 30s\n",
    );
    let file = file.to_str().unwrap();
    let out = run(
        &[
            "--print-config",
            "--config",
            file,
            "--timezone",
            "Asia/Taipei",
            "--webhook-no-auth",
        ],
        &[
            ("RECEIVER_LISTEN", "127.0.0.1:9111"),
            ("ALERT_CHAT_ID", "-100123"),
            ("BOT_TOKEN", TOKEN),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.ends_with(&format!(
            "# where the settings came from (the rest: receiver.yml or the default):\n\
             #   --config={file}  (command line)\n\
             #   --listen=127.0.0.1:9111  (env RECEIVER_LISTEN)\n\
             #   --timezone=Asia/Taipei  (command line)\n\
             #   --delivery-deadline=30s  ({file} key `delivery_deadline`)\n\
             #   RECEIVER_BOT_TOKEN=<redacted>  (env BOT_TOKEN)\n\
             #   --alert-chat-id=-100123  (env ALERT_CHAT_ID)\n\
             #   --webhook-no-auth=true  (command line)\n"
        )),
        "{shown}"
    );
    assert!(shown.contains("listen: 127.0.0.1:9111\n"), "{shown}");
    assert!(!shown.contains("very-secret"), "{shown}");
}
