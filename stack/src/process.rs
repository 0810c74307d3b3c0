//! Process-level helpers: identify a process by pid *and* start time (so a recycled pid is never
//! mistaken for one of ours), signal a whole process group, and wait for it to go.

use std::time::{Duration, Instant};

/// A process we started, as recorded in the state dir.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcId {
    pub pid: u32,
    /// Field 22 of /proc/<pid>/stat (clock ticks since boot).
    pub start_time: u64,
}

impl ProcId {
    /// The identity of a running process, or None if it does not exist.
    pub fn of(pid: u32) -> Option<ProcId> {
        start_time(pid).map(|start_time| ProcId { pid, start_time })
    }

    /// True while this very process (not a later one with the same pid) is alive and not a
    /// zombie.
    pub fn is_alive(&self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(stat) => {
                parse_stat(&stat).is_some_and(|(state, st)| st == self.start_time && state != 'Z')
            }
            Err(_) => false,
        }
    }
}

/// Start time of `pid` from /proc, None if it is gone.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(_, st)| st)
}

/// (state, starttime) from a /proc/<pid>/stat line. The command name may hold spaces and
/// parentheses, so fields are counted after the last ')'.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) comes field 4; starttime is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

/// Sends `sig` to the process group led by `pid` (every part runs in a group of its own).
pub fn signal_group(pid: u32, sig: libc::c_int) {
    // SAFETY: killpg has no memory-safety preconditions; a stale pgid only yields ESRCH.
    unsafe {
        libc::killpg(pid as libc::pid_t, sig);
    }
}

/// Sends `sig` to one process.
pub fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: as above.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// True once our child `pid` has exited. It is left unreaped (a zombie), so its pid and process
/// group id cannot be reused until the caller waits for it. A pid that is no child of ours
/// (already reaped) counts as exited.
pub fn has_exited(pid: u32) -> bool {
    // SAFETY: siginfo_t is plain data; waitid with WNOWAIT only inspects.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        rc != 0 || info.si_pid() != 0
    }
}

/// True while some process of the group led by `pgid` still exists.
pub fn group_alive(pgid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::killpg(pgid as libc::pid_t, 0) == 0 }
}

/// Stops processes we do not parent (after a crashed supervisor): SIGTERM to each group, a
/// grace period, then SIGKILL to whatever is left. Returns the ids that needed SIGKILL.
pub fn stop_groups(ids: &[ProcId], grace: Duration) -> Vec<ProcId> {
    let alive: Vec<ProcId> = ids.iter().copied().filter(ProcId::is_alive).collect();
    for id in &alive {
        signal_group(id.pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && alive.iter().any(ProcId::is_alive) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut killed = Vec::new();
    for id in &alive {
        if id.is_alive() || group_alive(id.pid) {
            signal_group(id.pid, libc::SIGKILL);
            killed.push(*id);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && killed.iter().any(ProcId::is_alive) {
        std::thread::sleep(Duration::from_millis(50));
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_and_parens_in_the_name() {
        let line = "4242 (we ird) (name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(line), Some(('S', 987654)));
    }

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = ProcId::of(std::process::id()).expect("own /proc entry");
        assert!(me.is_alive());
        let other = ProcId {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!other.is_alive(), "a recycled pid must not count as ours");
    }
}
