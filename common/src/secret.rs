//! Secrets (tokens, passwords, webhook URLs) in a type that never prints its value, files
//! holding them that are re-read when they change so that rotation needs no restart (and are
//! refused or warned about when others may read them), and [`redact_url`] for URLs that carry
//! credentials.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// A secret value. `Debug` and `Display` print `<redacted>`, so a secret can sit in a config
/// struct that is logged or printed with `--print-config` without leaking.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::from(value.into()))
    }
    /// The value itself. Call it only where the secret is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A URL as it may be shown: any userinfo (`http://user:password@host`) becomes `<redacted>`.
/// Everything that displays a configured URL goes through this; requests use the URL itself.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}<redacted>{}", &url[..scheme_end], &rest[at..]),
        None => url.to_string(),
    }
}

/// Why a secret could not be had. Names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret file {path} is empty")]
    Empty { path: PathBuf },
    #[error(
        "permissions {mode:04o} for {path} are too open: a secret file must not be readable by \
         group or others (chmod 600 {path})",
        path = path.display()
    )]
    TooOpen { path: PathBuf, mode: u32 },
}

/// Whether a group- or world-accessible secret file is refused (true) or accepted with a warning.
static STRICT: AtomicBool = AtomicBool::new(false);

/// Sets how loose secret-file permissions are treated, for every secret this process reads. Each
/// binary calls it once from its `--strict-secrets` flag, before reading any secret: one switch
/// here rather than a parameter threaded through every module that holds a secret file.
pub fn set_strict(strict: bool) {
    STRICT.store(strict, Ordering::Relaxed);
}

/// The permission bits when group or others have any access, as ssh refuses for private keys.
fn too_open(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

/// A warning about a secret file. Before logging is set up (the receiver reads its secrets
/// while loading the config that says how to log) it goes straight to stderr, as ssh's does.
fn warn(message: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("{message}");
    } else {
        eprintln!("warning: {message}");
    }
}

/// Reads a secret from a file, trimming surrounding whitespace (editors add a newline). A file
/// that group or others may read is refused under [`set_strict`], else accepted with a warning.
pub fn read_file(path: &Path) -> Result<Secret, SecretError> {
    read_checked(path, STRICT.load(Ordering::Relaxed))
}

fn read_checked(path: &Path, strict: bool) -> Result<Secret, SecretError> {
    let read_err = |source| SecretError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    // The mode of the file that was opened, not of whatever the path names a moment later.
    let meta = file.metadata().map_err(read_err)?;
    if let Some(mode) = too_open(&meta) {
        let err = SecretError::TooOpen {
            path: path.to_owned(),
            mode,
        };
        if strict {
            return Err(err);
        }
        warn(&format!("{err}; accepted (--strict-secrets refuses it)"));
    }
    let mut raw = String::new();
    file.read_to_string(&mut raw).map_err(read_err)?;
    let value = raw.trim();
    if value.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(Secret::new(value))
}

/// A secret file that is re-read when it changes, so that rotation needs no restart. Checking
/// costs one `stat` per call.
///
/// Deleting or emptying the file revokes the secret: [`SecretFile::current`] then returns an
/// empty secret, which every credential check refuses, and a warning names the file. While it
/// is unusable the file is tried again on every call, so a file that was missing for a moment
/// (an editor replacing it by rename) is picked up by the next request.
#[derive(Clone)]
pub struct SecretFile {
    path: PathBuf,
    state: Arc<Mutex<Loaded>>,
}

struct Loaded {
    stamp: Option<Stamp>,
    /// `None` while the file is missing, empty or unreadable.
    value: Option<Secret>,
}

/// What tells a changed file: modification time, size, and inode (a rename puts a new file
/// in place even when time and size match).
type Stamp = (SystemTime, u64, u64);

impl fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

impl SecretFile {
    /// Loads the file now, so that a missing or empty file is an error at start-up.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SecretError> {
        let path = path.into();
        let stamp = stamp(&path);
        let value = read_file(&path)?;
        Ok(SecretFile {
            path,
            state: Arc::new(Mutex::new(Loaded {
                stamp,
                value: Some(value),
            })),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current value, re-read first if the file changed. Empty when the file is missing,
    /// empty or unreadable: the secret is revoked, not remembered.
    pub fn current(&self) -> Secret {
        let now = stamp(&self.path);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.is_some() && now == state.stamp && state.value.is_some() {
            return state.value.clone().unwrap_or_else(|| Secret::new(""));
        }
        state.stamp = now;
        match read_file(&self.path) {
            Ok(value) => {
                tracing::info!(path = %self.path.display(), "secret file changed, reloaded");
                state.value = Some(value);
            }
            Err(err) => {
                // Once per outage, not once per refused request.
                if state.value.take().is_some() {
                    warn(&format!(
                        "{err}: every request that needs this secret is refused until the file \
                         is restored"
                    ));
                }
            }
        }
        state.value.clone().unwrap_or_else(|| Secret::new(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
    }

    #[test]
    fn urls_are_shown_without_their_userinfo() {
        for (url, shown) in [
            ("http://admin:pa55@prom:9090", "http://<redacted>@prom:9090"),
            (
                "https://token@am.example/x?y=a@b",
                "https://<redacted>@am.example/x?y=a@b",
            ),
            ("http://u:p@ss@h/", "http://<redacted>@h/"),
            (
                "http://127.0.0.1:9090/path@x",
                "http://127.0.0.1:9090/path@x",
            ),
            ("http://prom:9090", "http://prom:9090"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn errors_name_the_file_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let err = read_file(&path).unwrap_err().to_string();
        assert!(err.starts_with(&format!("cannot read secret file {}", path.display())));
        std::fs::write(&path, "  \n").unwrap();
        let err = read_file(&path).unwrap_err().to_string();
        assert_eq!(err, format!("secret file {} is empty", path.display()));
    }

    #[test]
    fn a_rotated_file_is_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let file = SecretFile::open(&path).unwrap();
        assert_eq!(file.current().expose(), "first");
        // A different length changes the stamp even where mtime has coarse resolution.
        std::fs::write(&path, "second-token\n").unwrap();
        assert_eq!(file.current().expose(), "second-token");
    }

    #[test]
    fn an_emptied_or_deleted_file_revokes_the_secret_until_it_is_restored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let file = SecretFile::open(&path).unwrap();
        std::fs::write(&path, "").unwrap();
        assert_eq!(file.current().expose(), "");
        std::fs::write(&path, "back\n").unwrap();
        assert_eq!(file.current().expose(), "back");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.current().expose(), "");
        assert_eq!(file.current().expose(), "");
        // An editor's save: a new file renamed into place, same size as before.
        let tmp = dir.path().join(".token.swp");
        std::fs::write(&tmp, "anew\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(file.current().expose(), "anew");
    }

    #[test]
    fn group_or_world_access_is_refused_when_strict_and_tolerated_otherwise() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "value\n").unwrap();
        for (mode, open) in [
            (0o644, true),
            (0o640, true),
            (0o604, true),
            (0o600, false),
            (0o400, false),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            match read_checked(&path, true) {
                Ok(_) => assert!(!open, "{mode:o} accepted"),
                Err(e) => {
                    assert!(open, "{mode:o} refused: {e}");
                    assert_eq!(
                        e.to_string(),
                        format!(
                            "permissions {mode:04o} for {p} are too open: a secret file must not \
                             be readable by group or others (chmod 600 {p})",
                            p = path.display()
                        )
                    );
                }
            }
            assert_eq!(read_checked(&path, false).unwrap().expose(), "value");
        }
    }
}
