//! What a running stack leaves in `<state>/run/`: a lock held by the supervisor for its whole
//! life (the kernel drops it if the supervisor dies, so it is never stale) and `stack.json`
//! naming every process it started, so `status` and `down` work from another terminal.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::parts::{Layout, Part};
use crate::process::ProcId;

/// Creates the state dir 0700 and takes group and other permissions away from everything the
/// stack keeps in it (directories 0700, files 0600): logs hold alert texts and the receiver's
/// errors, config/ names token files, secrets/ holds tokens. New files are already private
/// (`run` sets umask 077); this tightens a state dir made by an older version.
pub fn tighten(layout: &Layout) -> Result<()> {
    let root = &layout.root;
    std::fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
    let meta = std::fs::metadata(root)?;
    // A sticky directory is shared by design (VPSMON_STATE_DIR=/tmp): leave it as it is.
    if meta.permissions().mode() & 0o1000 == 0 {
        private(root, &meta)?;
    }
    for name in [
        "agents.txt",
        "agents.yml",
        "config",
        "data",
        "logs",
        "run",
        "secrets",
    ] {
        private_tree(&root.join(name))?;
    }
    Ok(())
}

/// Takes group and other permissions away from `path` and everything under it.
pub fn private_tree(path: &Path) -> Result<()> {
    // Not followed: a symlink's target is not the stack's to change.
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("stat {}", path.display())),
    };
    if meta.is_symlink() {
        return Ok(());
    }
    private(path, &meta)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).with_context(|| format!("list {}", path.display()))? {
            private_tree(&entry?.path())?;
        }
    }
    Ok(())
}

/// Clears the group and other bits, keeping the owner's.
fn private(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7700))
            .with_context(|| format!("chmod {:o} {}", mode & 0o7700, path.display()))?;
    }
    Ok(())
}

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
    use std::os::unix::fs::MetadataExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn tighten_makes_an_old_state_dir_private_and_leaves_symlink_targets_alone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("state");
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "x").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::create_dir_all(root.join("logs")).unwrap();
        std::fs::create_dir_all(root.join("data/prometheus/wal")).unwrap();
        for (p, m) in [("", 0o755), ("logs", 0o755), ("data/prometheus/wal", 0o775)] {
            std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(m)).unwrap();
        }
        std::fs::write(root.join("logs/receiver.log"), "alert").unwrap();
        std::fs::set_permissions(
            root.join("logs/receiver.log"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::write(root.join("agents.txt"), "a 127.0.0.1:1\n").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("logs/link")).unwrap();

        tighten(&Layout::new(root.clone())).unwrap();
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("logs")), 0o700);
        assert_eq!(mode(&root.join("data/prometheus/wal")), 0o700);
        assert_eq!(mode(&root.join("logs/receiver.log")), 0o600);
        assert_eq!(mode(&root.join("agents.txt")) & 0o077, 0);
        assert_eq!(mode(&outside), 0o644, "a symlink's target was changed");
    }

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
