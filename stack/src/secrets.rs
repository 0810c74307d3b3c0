//! The secrets the stack keeps under `<state>/secrets/` (0700, files 0600):
//!
//! - `webhook-token`: the bearer token Alertmanager sends and the receiver checks. Generated on
//!   the first `up` (32 bytes from the kernel's RNG, hex) and kept, so a restart of either side
//!   never meets a changed token. Never printed.
//! - `bot-token`, `slack-webhook-url`: BOT_TOKEN and SLACK_WEBHOOK_URL as given in the
//!   environment or `.env`, rewritten on every `up` and handed to the receiver as
//!   BOT_TOKEN_FILE / SLACK_WEBHOOK_URL_FILE, so no process holds them in its environment.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::env::Settings;
use crate::parts::Layout;

/// Bytes of randomness in the webhook token (64 hex characters).
const TOKEN_BYTES: usize = 32;
/// Bytes of randomness in an action key (64 hex characters; the exporter wants 32 or more).
const ACTION_KEY_BYTES: usize = 32;

/// The secrets given as values that the receiver gets as files instead.
const AS_FILES: [(&str, &str, &str); 2] = [
    ("BOT_TOKEN", "BOT_TOKEN_FILE", "bot-token"),
    (
        "SLACK_WEBHOOK_URL",
        "SLACK_WEBHOOK_URL_FILE",
        "slack-webhook-url",
    ),
];

/// Creates the webhook token unless a non-empty one exists (an operator may have rotated it by
/// hand); either way it ends up 0600.
pub fn ensure_webhook_token(layout: &Layout) -> Result<()> {
    let path = layout.webhook_token();
    secrets_dir(layout)?;
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    if existing.trim().is_empty() {
        write_secret(&path, random_hex(TOKEN_BYTES)?.as_bytes())?;
    } else {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 0600 {}", path.display()))?;
    }
    Ok(())
}

/// Writes BOT_TOKEN and SLACK_WEBHOOK_URL (when set) into files and returns the `*_FILE`
/// variables that name them, for the receiver. A file of a secret no longer set is removed.
pub fn receiver_secret_files(
    layout: &Layout,
    settings: &Settings,
) -> Result<Vec<(String, OsString)>> {
    secrets_dir(layout)?;
    let mut vars = Vec::new();
    for (value_var, file_var, name) in AS_FILES {
        let path = layout.secrets().join(name);
        match settings.get(value_var) {
            Some(value) => {
                if settings.get(file_var).is_some() {
                    // The receiver would refuse the same; said here before anything starts.
                    bail!("set either {value_var} or {file_var}, not both");
                }
                let value = value.to_str().with_context(|| {
                    format!("{value_var} is not valid UTF-8 (its value is not shown)")
                })?;
                write_secret(&path, value.trim().as_bytes())?;
                vars.push((file_var.to_owned(), path.into_os_string()));
            }
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("remove {}", path.display()));
                }
                _ => {}
            },
        }
    }
    Ok(vars)
}

/// Where `./vpsmon action-key <agent>` keeps the agent's action key (issue 19).
pub fn action_key_path(layout: &Layout, agent: &str) -> std::path::PathBuf {
    layout
        .secrets()
        .join("action-keys")
        .join(format!("{agent}.key"))
}

/// Creates the agent's action key: 32 bytes from the kernel's RNG as 64 hex characters, 0600.
/// An existing key is replaced only with `rotate` (the agent and the receiver re-read the file,
/// so replacing it revokes the old key at once on the side that has the new one).
pub fn create_action_key(layout: &Layout, agent: &str, rotate: bool) -> Result<std::path::PathBuf> {
    let valid = !agent.is_empty()
        && agent
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !agent.starts_with('.');
    if !valid {
        bail!("agent name {agent:?}: use letters, digits, '.', '_' and '-' (as in agents.yml)");
    }
    secrets_dir(layout)?;
    let path = action_key_path(layout, agent);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod 0700 {}", dir.display()))?;
    if path.exists() && !rotate {
        bail!(
            "{} exists: agent {agent} has a key already (--rotate replaces it)",
            path.display()
        );
    }
    write_secret(&path, random_hex(ACTION_KEY_BYTES)?.as_bytes())?;
    Ok(path)
}

/// What to do with a new key, printed by `action-key`; it names the file, never its content.
pub fn action_key_instructions(agent: &str, path: &Path) -> String {
    let p = path.display();
    format!(
        "Wrote a new action key for {agent}: {p} (0600).\n\
         \n\
         1. On {agent}, install the same file, readable by the exporter's user only:\n\
         \x20    scp {p} root@{agent}:/etc/vpsmon/action.key\n\
         \x20    ssh root@{agent} 'chmod 600 /etc/vpsmon/action.key'\n\
         \x20  and start the exporter with the actions it may run (docs/deploy.md has examples):\n\
         \x20    vpsmon-exporter --actions.config=/etc/vpsmon/actions.yml \\\n\
         \x20      --actions.key-file=/etc/vpsmon/action.key \\\n\
         \x20      --actions.audit-log=/var/log/vpsmon-actions.log\n\
         \n\
         2. In agents.yml, under {agent}:\n\
         \x20    action_key_file: {p}\n\
         \x20  then ./vpsmon up (or vpsmon-gen-config) writes receiver/action-agents.yml for the\n\
         \x20  receiver (--actions-file), and ACTION_USERS says who may run actions.\n\
         \n\
         Rotation: ./vpsmon action-key {agent} --rotate, then copy the file again. Both sides\n\
         re-read it; deleting it on the agent revokes the key.\n"
    )
}

fn secrets_dir(layout: &Layout) -> Result<()> {
    let dir = layout.secrets();
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod 0700 {}", dir.display()))
}

/// Written 0600 from the start (never briefly readable by others) via a temporary file and a
/// rename, so a reader sees the old or the new secret, never half of one.
fn write_secret(path: &Path, value: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("create {}", tmp.display()))?;
    file.write_all(value)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
}

/// `n` bytes from the kernel's RNG, as lower-case hex.
fn random_hex(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("read /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o777
    }

    #[test]
    fn an_action_key_is_64_hex_0600_and_replaced_only_when_rotating() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_owned());
        let path = create_action_key(&layout, "web1", false).unwrap();
        assert_eq!(path, dir.path().join("secrets/action-keys/web1.key"));
        let key = std::fs::read_to_string(&path).unwrap();
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let err = create_action_key(&layout, "web1", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} exists: agent web1 has a key already (--rotate replaces it)",
                path.display()
            )
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), key);
        create_action_key(&layout, "web1", true).unwrap();
        let rotated = std::fs::read_to_string(&path).unwrap();
        assert_ne!(rotated, key);
        assert_eq!(mode(&path), 0o600);
        let err = create_action_key(&layout, "../x", false).unwrap_err();
        assert!(err.to_string().starts_with("agent name \"../x\""), "{err}");
        let told = action_key_instructions("web1", &path);
        assert!(
            told.contains("--actions.key-file=/etc/vpsmon/action.key"),
            "{told}"
        );
        assert!(!told.contains(&rotated), "the key itself is never printed");
    }

    #[test]
    fn the_webhook_token_is_64_hex_0600_and_kept_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_owned());
        ensure_webhook_token(&layout).unwrap();
        let path = layout.webhook_token();
        let token = std::fs::read_to_string(&path).unwrap();
        assert_eq!(token.len(), 64, "{token:?}");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&layout.secrets()), 0o700);
        // A later `up` keeps it, and tightens a loosened file.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        ensure_webhook_token(&layout).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), token);
        assert_eq!(mode(&path), 0o600);
        // Another state dir gets another token.
        let other = tempfile::tempdir().unwrap();
        let other = Layout::new(other.path().to_owned());
        ensure_webhook_token(&other).unwrap();
        assert_ne!(
            std::fs::read_to_string(other.webhook_token()).unwrap(),
            token
        );
    }

    #[test]
    fn chat_secrets_become_0600_files_and_vanish_when_unset() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_owned());
        let settings = Settings::from_vars([("BOT_TOKEN", " 123:secret\n"), ("PATH", "/bin")]);
        let vars = receiver_secret_files(&layout, &settings).unwrap();
        let bot = layout.secrets().join("bot-token");
        assert_eq!(vars, [("BOT_TOKEN_FILE".to_owned(), bot.clone().into())]);
        assert_eq!(std::fs::read_to_string(&bot).unwrap(), "123:secret");
        assert_eq!(mode(&bot), 0o600);
        let vars = receiver_secret_files(&layout, &Settings::default()).unwrap();
        assert!(vars.is_empty());
        assert!(
            !bot.exists(),
            "a token no longer configured must not stay on disk"
        );
    }

    #[test]
    fn a_value_and_a_file_for_the_same_secret_are_refused_without_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().to_owned());
        let settings =
            Settings::from_vars([("BOT_TOKEN", "123:secret"), ("BOT_TOKEN_FILE", "/etc/bot")]);
        let err = receiver_secret_files(&layout, &settings)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "set either BOT_TOKEN or BOT_TOKEN_FILE, not both");
    }
}
