//! Running real servers in tests: a free loopback port, a child process that is killed when the
//! handle drops (so a failing test leaves nothing behind), and a wait until it answers HTTP.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The loopback ports this process has handed out, by [`free_port`] or [`bind_loopback`].
static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port on 127.0.0.1 that was free a moment ago and that this process has not been given
/// before. The kernel may hand out the same ephemeral port twice once the first listener is
/// closed, so a test that asks for eight agents' ports could otherwise get a duplicate (CI saw
/// two agents on one address).
pub fn free_port() -> u16 {
    bind_loopback()
        .local_addr()
        .map(|a| a.port())
        .expect("local_addr of a loopback listener")
}

/// A listener on 127.0.0.1 whose port no earlier [`free_port`] returned: a port picked for a
/// server that has not bound it yet (or for a URL meant to have nothing behind it) stays that
/// server's.
pub fn bind_loopback() -> TcpListener {
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        if given.insert(port) {
            return listener;
        }
    }
}

/// Finds a binary: the env var `env` if set, else the first of `names` on PATH or in the usual
/// Debian locations. None means the test should say what to install.
pub fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var("PATH").unwrap_or_default();
    for name in names {
        for dir in path
            .split(':')
            .chain(["/usr/bin", "/usr/sbin", "/usr/local/bin"])
        {
            let candidate = Path::new(dir).join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Like [`find_binary`] but panics with an install hint: in CI the packages are installed, so a
/// missing binary is a broken set-up, never a reason to skip.
pub fn require_binary(env: &str, names: &[&str], package: &str) -> PathBuf {
    find_binary(env, names).unwrap_or_else(|| {
        panic!(
            "{} not found: install the Debian package `{package}` (or set {env})",
            names[0]
        )
    })
}

/// A child process killed (SIGKILL) and reaped on drop. Its output goes to a log file so a
/// failing test can show it.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Proc> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("open log {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .with_context(|| format!("start {name}: {cmd:?}"))?;
        Ok(Proc {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The log so far, for assertion messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Sends a signal (e.g. libc SIGTERM = 15) without waiting.
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(c.id().to_string())
                .status();
        }
    }

    /// Kills the process and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits up to `timeout` for the process to exit by itself; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The PID 1 of namespaces made by `unshare --pid --fork` (pid: unshare's): killed when dropped,
/// failure included. Killing unshare alone is not enough where the child changed credentials
/// (`chroot --userspec`), which clears the parent-death signal `--kill-child` set.
pub struct NamespaceInit(pub u32);

impl NamespaceInit {
    /// unshare's children (its one child, the namespace's PID 1), as this pid namespace
    /// numbers them.
    fn children(&self) -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.0))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// The namespace's PID 1, as this pid namespace numbers it.
    pub fn child(&self) -> u32 {
        *self
            .children()
            .first()
            .expect("unshare has forked the namespace's first process")
    }
}

impl Drop for NamespaceInit {
    fn drop(&mut self) {
        for pid in self.children() {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill(2) with a pid read from the kernel; no memory is involved.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

/// Polls `url` until it answers 2xx, the process dies, or `timeout` passes.
pub async fn wait_http_ok(proc: &mut Proc, url: &str, timeout: Duration) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(resp) = client.get(url).send().await
            && resp.status().is_success()
        {
            return Ok(());
        }
        if !proc.is_running() {
            bail!(
                "{} exited before {url} answered; log:\n{}",
                proc.name,
                proc.log_text()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not answer {url} within {timeout:?}; log:\n{}",
                proc.name,
                proc.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls an async condition until it yields Some, or fails after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Path of a binary of this workspace built by cargo (tests of other crates use it).
pub fn workspace_bin(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    target.join(profile).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ports_are_never_given_twice() {
        // Alternating, with every listener closed at once, as the tests use them.
        let ports: Vec<u16> = (0..500)
            .map(|i| {
                if i % 2 == 0 {
                    free_port()
                } else {
                    bind_loopback().local_addr().unwrap().port()
                }
            })
            .collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }
}
