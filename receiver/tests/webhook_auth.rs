//! Webhook auth is the default (issue 13, item 11): the binary refuses to start without it,
//! naming the options, unless the operator opts out explicitly.

use std::process::Command;
use std::time::Duration;

use testkit::procs::{Proc, free_port, wait_http_ok};

const BIN: &str = env!("CARGO_BIN_EXE_vpsmon-receiver");

fn receiver() -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "RECEIVER_CONFIG",
        "RECEIVER_WEBHOOK_NO_AUTH",
        "WEBHOOK_TOKEN_FILE",
        "WEBHOOK_BASIC_USER",
        "WEBHOOK_BASIC_PASSWORD_FILE",
        "BOT_TOKEN",
        "SLACK_WEBHOOK_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()));
    cmd
}

#[test]
fn without_webhook_auth_the_receiver_refuses_to_start_and_names_the_options() {
    let out = receiver().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for option in [
        "--webhook-token-file",
        "WEBHOOK_TOKEN_FILE",
        "--webhook-basic-user",
        "--webhook-basic-password-file",
        "--webhook-no-auth",
        "RECEIVER_WEBHOOK_NO_AUTH=1",
    ] {
        assert!(stderr.contains(option), "{option} not in {stderr}");
    }
    assert!(
        stderr.contains("vpsmon-receiver: the webhook has no auth: anyone who reaches 127.0.0.1:"),
        "{stderr}"
    );
}

#[test]
fn the_opt_out_together_with_a_token_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("webhook.token");
    std::fs::write(&token, "t0ken\n").unwrap();
    // A private file, as it should be: else a warning about its mode comes first (umask 022).
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = receiver()
        .arg("--webhook-no-auth")
        .env("WEBHOOK_TOKEN_FILE", &token)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "vpsmon-receiver: --webhook-no-auth: webhook auth is configured too; choose one \
         (remove the opt-out or the auth)\n"
    );
    let out = receiver()
        .env("RECEIVER_WEBHOOK_NO_AUTH", "maybe")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "vpsmon-receiver: --webhook-no-auth (from RECEIVER_WEBHOOK_NO_AUTH): \"maybe\": use true or false\n"
    );
}

#[tokio::test]
async fn the_explicit_opt_out_starts_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = receiver();
    let listen = cmd
        .get_args()
        .nth(1)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    cmd.env("RECEIVER_WEBHOOK_NO_AUTH", "1");
    let mut proc = Proc::spawn("vpsmon-receiver", cmd, &dir.path().join("log")).unwrap();
    wait_http_ok(
        &mut proc,
        &format!("http://{listen}/healthz"),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let log = proc.log_text();
    assert!(
        log.lines().any(|l| l.contains(" WARN ")
            && l.contains("the webhook has no auth (--webhook-no-auth): anyone who can reach")),
        "{log}"
    );
}
