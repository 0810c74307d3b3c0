//! The secret files and JWT checks as the running binary applies them (issue 13): a deleted
//! token file revokes the token, secret files that others may read are warned about or refused
//! under --strict-secrets, and JWTs are refused for a future `nbf`, an `exp` past the leeway and
//! a `crit` header.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::start_ours;

const JWT_SECRET: &str = "jwt-secret-abcdefghijklmnop";

fn write_secret(dir: &Path, name: &str, value: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// The flags that keep the scrape small: only the loadavg collector.
fn args(extra: &[String]) -> Vec<String> {
    let mut a = vec![
        "--collector.disable-defaults".to_string(),
        "--collector.loadavg".to_string(),
    ];
    a.extend_from_slice(extra);
    a
}

async fn get(base: &str, token: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwt(header: Header, claims: Value) -> String {
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn deleting_the_token_file_revokes_the_token_until_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let token = "revocable-token-1234";
    let path = write_secret(dir.path(), "token", token, 0o600);
    let mut ours = start_ours(
        dir.path(),
        &args(&[format!("--web.auth-token-file={}", path.display())]),
    )
    .await;
    assert_eq!(get(&ours.base, token).await.0, 200);

    std::fs::remove_file(&path).unwrap();
    for _ in 0..3 {
        let (status, body) = get(&ours.base, token).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(
            body,
            json!({"error": "unauthorized", "reason": "invalid credentials"}).to_string()
        );
    }
    let refusing = "every request that needs this secret is refused until the file is restored";
    let deleted = format!(
        "cannot read secret file {}: No such file or directory (os error 2): {refusing}",
        path.display()
    );
    let log = ours.proc.log_text();
    assert_eq!(
        log.matches(&deleted).count(),
        1,
        "one warning per outage:\n{log}"
    );

    write_secret(dir.path(), "token", token, 0o600);
    assert_eq!(get(&ours.base, token).await.0, 200);

    // Emptied rather than deleted: the same.
    std::fs::write(&path, "\n").unwrap();
    assert_eq!(get(&ours.base, token).await.0, 401);
    let emptied = format!("secret file {} is empty: {refusing}", path.display());
    assert!(
        ours.proc.log_text().contains(&emptied),
        "{}",
        ours.proc.log_text()
    );
    write_secret(dir.path(), "token", token, 0o600);
    assert_eq!(get(&ours.base, token).await.0, 200);
    ours.proc.kill();
}

#[tokio::test]
async fn jwt_nbf_exp_beyond_the_leeway_and_crit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write_secret(dir.path(), "jwt", JWT_SECRET, 0o600);
    let mut ours = start_ours(
        dir.path(),
        &args(&[
            format!("--web.jwt-secret-file={}", secret.display()),
            "--web.jwt-leeway=30s".to_string(),
        ]),
    )
    .await;
    let hs256 = || Header::new(Algorithm::HS256);
    let reason = |r: &str| json!({"error": "unauthorized", "reason": r}).to_string();
    let mut crit = hs256();
    crit.crit = Some(vec!["x".to_string()]);
    let cases = [
        (
            "valid",
            jwt(hs256(), json!({"exp": now() + 600})),
            200,
            None,
        ),
        (
            "nbf and exp within the leeway",
            jwt(hs256(), json!({"exp": now() - 10, "nbf": now() + 10})),
            200,
            None,
        ),
        (
            "nbf in the future",
            jwt(hs256(), json!({"exp": now() + 7200, "nbf": now() + 3600})),
            401,
            Some("invalid token: token not valid yet (`nbf` is in the future, beyond the leeway)"),
        ),
        (
            "expired beyond the leeway",
            jwt(hs256(), json!({"exp": now() - 120})),
            401,
            Some("invalid token: token expired (`exp` is past, beyond the leeway)"),
        ),
        (
            "an unknown crit header",
            jwt(crit, json!({"exp": now() + 600})),
            401,
            Some(
                "invalid token: the token has a `crit` header, and no critical extension is \
                 supported",
            ),
        ),
    ];
    for (what, token, status, why) in cases {
        let (got, body) = get(&ours.base, &token).await;
        assert_eq!(got, status, "{what}: {body}");
        if let Some(why) = why {
            assert_eq!(body, reason(why), "{what}");
        }
    }
    ours.proc.kill();

    // Without the flag the leeway is 60 s; with 0s an `exp` a few seconds past is refused.
    let mut strict = start_ours(
        dir.path(),
        &args(&[
            format!("--web.jwt-secret-file={}", secret.display()),
            "--web.jwt-leeway=0s".to_string(),
        ]),
    )
    .await;
    let (got, body) = get(&strict.base, &jwt(hs256(), json!({"exp": now() - 5}))).await;
    assert_eq!(got, 401, "{body}");
    strict.proc.kill();
}

fn run_bin(args: &[String], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpsmon-exporter"));
    for (k, _) in std::env::vars() {
        if k.starts_with("VPSMON_") {
            cmd.env_remove(k);
        }
    }
    let port = testkit::procs::free_port();
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(args)
        .envs(envs.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_secret_file_others_may_read_is_warned_about_and_refused_when_strict() {
    let dir = tempfile::tempdir().unwrap();
    let loose = write_secret(dir.path(), "loose-token", "loose-token-value", 0o644);
    let tight = write_secret(dir.path(), "tight-token", "tight-token-value", 0o600);
    let too_open = format!(
        "permissions 0644 for {p} are too open: a secret file must not be readable by group or \
         others (chmod 600 {p})",
        p = loose.display()
    );

    // Without --strict-secrets: a warning, and the exporter serves.
    let run_dir = dir.path().join("warn");
    std::fs::create_dir(&run_dir).unwrap();
    let mut ours = start_ours(
        &run_dir,
        &args(&[format!("--web.auth-token-file={}", loose.display())]),
    )
    .await;
    assert_eq!(get(&ours.base, "loose-token-value").await.0, 200);
    ours.proc.kill();
    let log = ours.proc.log_text();
    assert!(
        log.contains(&format!(
            "{too_open}; accepted (--strict-secrets refuses it)"
        )),
        "{log}"
    );

    // With the flag or its variable: exit 2, naming the file and its mode.
    let flag = format!("--web.auth-token-file={}", loose.display());
    for (extra, envs) in [
        (vec![flag.clone(), "--strict-secrets".into()], vec![]),
        (vec![flag.clone()], vec![("VPSMON_STRICT_SECRETS", "true")]),
    ] {
        let (code, stderr) = run_bin(&args(&extra), &envs);
        assert_eq!(code, Some(2), "{extra:?} {envs:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "vpsmon-exporter: --web.auth-token-file: {too_open}"
            )),
            "{stderr}"
        );
    }

    // 0600 is silent, strict or not.
    let run_dir = dir.path().join("tight");
    std::fs::create_dir(&run_dir).unwrap();
    let mut ours = start_ours(
        &run_dir,
        &args(&[
            format!("--web.auth-token-file={}", tight.display()),
            "--strict-secrets".into(),
        ]),
    )
    .await;
    assert_eq!(get(&ours.base, "tight-token-value").await.0, 200);
    ours.proc.kill();
    let log = ours.proc.log_text();
    assert!(!log.contains("too open"), "{log}");
    assert!(!log.contains("WARN"), "{log}");
}
