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
