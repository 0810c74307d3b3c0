//! Secrets (tokens, passwords, webhook URLs) in a type that never prints its value, and files
//! holding them that are re-read when they change so that rotation needs no restart.

use std::fmt;
use std::path::{Path, PathBuf};
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
}

/// Reads a secret from a file, trimming surrounding whitespace (editors add a newline).
pub fn read_file(path: &Path) -> Result<Secret, SecretError> {
    let raw = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
        path: path.to_owned(),
        source,
    })?;
    let value = raw.trim();
    if value.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(Secret::new(value))
}

/// A secret file that is re-read when its modification time or size changes. Checking costs one
/// `stat` per call; a file that became unreadable keeps the last good value and logs why.
#[derive(Clone)]
pub struct SecretFile {
    path: PathBuf,
    state: Arc<Mutex<Loaded>>,
}

struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    value: Secret,
}

impl fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl SecretFile {
    /// Loads the file now, so that a missing or empty file is an error at start-up.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SecretError> {
        let path = path.into();
        let stamp = stamp(&path);
        let value = read_file(&path)?;
        Ok(SecretFile {
            path,
            state: Arc::new(Mutex::new(Loaded { stamp, value })),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current value, re-read first if the file changed.
    pub fn current(&self) -> Secret {
        let now = stamp(&self.path);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.is_some() && now != state.stamp {
            match read_file(&self.path) {
                Ok(value) => {
                    tracing::info!(path = %self.path.display(), "secret file changed, reloaded");
                    state.value = value;
                    state.stamp = now;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "keeping the previous secret");
                }
            }
        }
        state.value.clone()
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
        // An emptied file keeps the last good value.
        std::fs::write(&path, "").unwrap();
        assert_eq!(file.current().expose(), "second-token");
    }
}
