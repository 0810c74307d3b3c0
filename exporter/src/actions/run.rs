//! Running one action: its argv with no shell, in a process group of its own, as its user
//! (supplementary groups, gid, then uid dropped in the child before exec), with a clean
//! environment, stdin from /dev/null, stdout and stderr into one capped capture. At the timeout
//! the whole group is killed; when the command exits, whatever it left running in its group is
//! killed too (an action is one finished command). The group is killed before the leader is
//! reaped, so its id cannot have been reused.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::config::RunAs;

/// What a finished (or killed) run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The exit code; `None` when a signal ended it (then `signal`).
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration: Duration,
    /// Lossy UTF-8, at most the cap plus the note saying it was cut.
    pub output: String,
    /// Bytes the command wrote, all of them, also those past the cap.
    pub output_bytes: u64,
    pub truncated: bool,
    /// Killed at its timeout.
    pub timed_out: bool,
}

/// Runs argv as `user`, blocking the calling thread until done; `Err` when it could not start.
pub fn run(
    argv: &[String],
    user: &RunAs,
    timeout: Duration,
    cap: usize,
) -> std::io::Result<Outcome> {
    let started = Instant::now();
    let (reader, writer) = std::io::pipe()?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", &user.home)
        .env("USER", &user.name)
        .env("LOGNAME", &user.name)
        .env("LANG", "C.UTF-8")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0);
    let (uid, gid, groups) = (user.uid, user.gid, user.groups.clone());
    // SAFETY: only async-signal-safe calls (getuid, setgroups, setgid, setuid) between fork and
    // exec; `groups` was allocated before the fork.
    unsafe {
        cmd.pre_exec(move || drop_privileges(uid, gid, &groups));
    }
    let mut child = cmd.spawn()?;
    // Our copies of the pipe's write end go with the Command, so EOF comes when the group is gone.
    drop(cmd);
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(capture(reader, cap));
    });
    let deadline = started + timeout;
    let mut timed_out = false;
    loop {
        if exited(pid) {
            break;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: the leader is not reaped yet, so `pid` is still this group's id.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let status = child.wait()?;
    let duration = started.elapsed();
    // A process that left the group (setsid) may hold the pipe: its output is not waited for.
    let (mut bytes, output_bytes) = rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
    let truncated = output_bytes > bytes.len() as u64;
    let mut output = String::from_utf8_lossy(&bytes).into_owned();
    bytes.clear();
    if truncated {
        output.push_str(&format!(
            "\n[output cut at {cap} bytes of {output_bytes}]\n"
        ));
    }
    Ok(Outcome {
        exit_code: status.code(),
        signal: status.signal(),
        duration,
        output,
        output_bytes,
        truncated,
        timed_out,
    })
}

/// Whether the process has exited, without reaping it.
fn exited(pid: libc::pid_t) -> bool {
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: info is a valid siginfo_t; WNOWAIT leaves the child to be reaped by wait().
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // An error (no such child) ends the wait too. SAFETY: waitid filled info (si_pid is 0 when
    // the child has not exited yet).
    rc != 0 || unsafe { info.si_pid() } != 0
}

/// Reads everything, keeping the first `cap` bytes: the rest is counted and dropped, so the
/// command never blocks on a full pipe.
fn capture(mut reader: std::io::PipeReader, cap: usize) -> (Vec<u8>, u64) {
    let mut kept = Vec::new();
    let mut total = 0u64;
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (kept, total)
}

/// In the child: supplementary groups, then gid, then uid (the order that leaves nothing of
/// root behind). Already that user (the exporter itself runs as it): nothing to drop.
fn drop_privileges(uid: u32, gid: u32, groups: &[u32]) -> std::io::Result<()> {
    // SAFETY: plain syscalls on this process.
    unsafe {
        if libc::geteuid() == uid && libc::getegid() == gid && uid != 0 {
            return Ok(());
        }
        if libc::setgroups(groups.len(), groups.as_ptr()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(uid) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
