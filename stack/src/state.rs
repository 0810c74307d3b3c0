//! What a running stack leaves in `<state>/run/`: a lock held by the supervisor for its whole
//! life (the kernel drops it if the supervisor dies, so it is never stale) and `stack.json`
//! naming every process it started, so `status` and `down` work from another terminal.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{Context, Result};

use crate::parts::Part;
use crate::process::ProcId;

/// The supervisor's exclusive lock on the state dir.
pub struct Lock {
    _file: File,
}

/// Takes the lock, or None when another supervisor holds it.
pub fn try_lock(path: &Path) -> Result<Option<Lock>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    // Rust opens files close-on-exec, so the parts never inherit (and keep) the lock.
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("open lock file {}", path.display()))?;
    // SAFETY: flock on a valid, owned fd.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(Some(Lock { _file: file }))
    } else {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(err).with_context(|| format!("lock {}", path.display()))
        }
    }
}

/// True while some supervisor holds the lock.
pub fn is_locked(path: &Path) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    Ok(try_lock(path)?.is_none())
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartRecord {
    pub part: Part,
    pub proc: ProcId,
    pub port: u16,
    pub url: String,
    pub ready_url: String,
    pub log: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StackFile {
    pub supervisor: ProcId,
    pub parts: Vec<PartRecord>,
}

impl StackFile {
    pub fn read(path: &Path) -> Result<Option<StackFile>> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("{} is not a vpsmon stack file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    /// Written via a temporary file and rename so a reader never sees half of it.
    pub fn write(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
    }

    /// Parts whose recorded process still runs.
    pub fn alive(&self) -> Vec<&PartRecord> {
        self.parts.iter().filter(|p| p.proc.is_alive()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/stack.lock");
        let first = try_lock(&path).unwrap().expect("first lock");
        assert!(try_lock(&path).unwrap().is_none());
        assert!(is_locked(&path).unwrap());
        drop(first);
        assert!(!is_locked(&path).unwrap());
    }
}
