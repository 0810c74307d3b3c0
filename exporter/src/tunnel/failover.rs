//! Failover: start a local backup unit when a tunnel is really down, stop it when the tunnel is
//! back — without the seed's faults (restart on every check, never stop, a 429 taken for "down").
//!
//! [`Failover`] is a pure state machine fed one [`Check`] per poll; it returns what to do and
//! why. [`Systemctl`] carries the decision out. The rules:
//! - **start** after `start_after` (K) consecutive checks in which the API answered, the status
//!   was `down` and the gateway was up (or not configured);
//! - any other check breaks the streak: `healthy`, `degraded` and `inactive` are not down, and an
//!   *unknown* check (429, 5xx, timeout, bad token — the API did not tell us the status) resets
//!   it too. "K consecutive" means K checks that each saw the tunnel down; a check that saw
//!   nothing is not one of them. Resetting is the safer choice: a flaky API during an outage at
//!   worst delays the failover by K more checks, while letting unknowns bridge two downs would
//!   start a backup on evidence nobody saw in a row;
//! - a gateway that does not answer means this host may be the one offline: no failover;
//! - **stop** after `stop_after` (M) consecutive healthy checks, if `stop_on_recovery`; else the
//!   unit is left running and that decision is reported once;
//! - the unit is started at most once per outage: the machine remembers it is active, and
//!   [`Systemctl::start`] asks `systemctl is-active` first.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// A tunnel status as the Cloudflare API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Healthy,
    Degraded,
    Down,
    Inactive,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Healthy,
        Status::Degraded,
        Status::Down,
        Status::Inactive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Down => "down",
            Status::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// What one poll saw of one tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// `None`: the API did not answer with a status (429, 5xx, timeout, 401, garbage).
    pub status: Option<Status>,
    /// `None`: no gateway configured.
    pub gateway_up: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start the unit (after `is-active` says it is not running).
    Start,
    /// Stop the unit.
    Stop,
    /// The tunnel recovered but `--failover.stop-on-recovery` is off: the unit stays up.
    LeaveRunning,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::LeaveRunning => "leave_running",
        }
    }
}

/// An action and the reason, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    pub reason: String,
}

/// The thresholds (`--failover.start-after`, `--failover.stop-after`,
/// `--failover.stop-on-recovery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub start_after: u32,
    pub stop_after: u32,
    pub stop_on_recovery: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            start_after: 3,
            stop_after: 3,
            stop_on_recovery: false,
        }
    }
}

/// One tunnel's failover state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failover {
    thresholds: Thresholds,
    down_streak: u32,
    healthy_streak: u32,
    /// The backup unit is running because of us (or was found running when we meant to start it).
    active: bool,
    /// The "left running" decision was reported for this recovery.
    left_running: bool,
}

impl Failover {
    pub fn new(thresholds: Thresholds) -> Failover {
        Failover {
            thresholds,
            down_streak: 0,
            healthy_streak: 0,
            active: false,
            left_running: false,
        }
    }

    /// Whether the backup unit is (believed) running.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Feeds one poll's result; returns what to do now, if anything.
    pub fn on_check(&mut self, check: Check) -> Option<Decision> {
        let t = self.thresholds;
        let gateway_down = check.gateway_up == Some(false);
        match check.status {
            Some(Status::Down) if !gateway_down => {
                self.down_streak = self.down_streak.saturating_add(1);
                self.healthy_streak = 0;
                self.left_running = false;
                if !self.active && self.down_streak >= t.start_after {
                    return Some(Decision {
                        action: Action::Start,
                        reason: format!(
                            "{} consecutive checks: API answered, status down, gateway {}",
                            self.down_streak,
                            if check.gateway_up.is_some() {
                                "up"
                            } else {
                                "not checked"
                            }
                        ),
                    });
                }
            }
            Some(Status::Healthy) => {
                self.down_streak = 0;
                self.healthy_streak = self.healthy_streak.saturating_add(1);
                if self.active && self.healthy_streak >= t.stop_after {
                    let reason = format!("{} consecutive healthy checks", self.healthy_streak);
                    if t.stop_on_recovery {
                        return Some(Decision {
                            action: Action::Stop,
                            reason,
                        });
                    }
                    if !self.left_running {
                        self.left_running = true;
                        return Some(Decision {
                            action: Action::LeaveRunning,
                            reason: format!("{reason}; --failover.stop-on-recovery is not set"),
                        });
                    }
                }
            }
            // Degraded, inactive, unknown, or down seen while our own gateway is unreachable:
            // not evidence of an outage, and not of a recovery either.
            _ => {
                self.down_streak = 0;
                self.healthy_streak = 0;
            }
        }
        None
    }

    /// The outcome of a [`Action::Start`]: `true` if the unit is now running (started, or
    /// already active). After a failed start the next down check asks again.
    pub fn started(&mut self, running: bool) {
        self.active = running;
        self.left_running = false;
    }

    /// The outcome of an [`Action::Stop`]. After a failed stop the next healthy check asks again.
    pub fn stopped(&mut self, ok: bool) {
        if ok {
            self.active = false;
            self.down_streak = 0;
            self.healthy_streak = 0;
        }
    }
}

/// What a systemctl call ended as; the `result` label of `vpsmon_failover_actions_total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command succeeded.
    Ok,
    /// `is-active` said the unit already runs: nothing started.
    AlreadyActive,
    /// The command failed, timed out or could not run; the text says how.
    Failed(String),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::AlreadyActive => "already_active",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// Runs `systemctl` (the path is configurable, so tests use a script that records its calls).
#[derive(Debug, Clone)]
pub struct Systemctl {
    pub path: PathBuf,
    /// Longest one call may take (a start waits for the unit's start job).
    pub timeout: Duration,
}

impl Systemctl {
    pub const DEFAULT_PATH: &'static str = "/usr/bin/systemctl";
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

    async fn run(&self, args: &[&str]) -> Result<std::process::ExitStatus, String> {
        let mut cmd = tokio::process::Command::new(&self.path);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let what = format!("{} {}", self.path.display(), args.join(" "));
        let child = cmd.spawn().map_err(|e| format!("{what}: {e}"))?;
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Err(_) => Err(format!("{what}: no answer within {:?}", self.timeout)),
            Ok(Err(e)) => Err(format!("{what}: {e}")),
            Ok(Ok(out)) if out.status.success() || args[0] == "is-active" => Ok(out.status),
            Ok(Ok(out)) => Err(format!(
                "{what}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    }

    /// `is-active <unit>`, then `start <unit>` only if it is not active.
    pub async fn start(&self, unit: &str) -> Outcome {
        match self.run(&["is-active", unit]).await {
            Ok(status) if status.success() => return Outcome::AlreadyActive,
            Ok(_) => {}
            Err(e) => return Outcome::Failed(e),
        }
        match self.run(&["start", unit]).await {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Failed(e),
        }
    }

    /// `stop <unit>`.
    pub async fn stop(&self, unit: &str) -> Outcome {
        match self.run(&["stop", unit]).await {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: Option<bool> = Some(true);

    fn check(status: Option<Status>) -> Check {
        Check {
            status,
            gateway_up: UP,
        }
    }

    fn actions(f: &mut Failover, seq: &[Option<Status>]) -> Vec<Option<Action>> {
        seq.iter()
            .map(|s| {
                let d = f.on_check(check(*s));
                match d.as_ref().map(|d| d.action) {
                    Some(Action::Start) => f.started(true),
                    Some(Action::Stop) => f.stopped(true),
                    _ => {}
                }
                d.map(|d| d.action)
            })
            .collect()
    }

    use Status::*;
    const H: Option<Status> = Some(Healthy);
    const D: Option<Status> = Some(Down);
    const G: Option<Status> = Some(Degraded);
    const U: Option<Status> = None;

    fn stop_on() -> Thresholds {
        Thresholds {
            stop_on_recovery: true,
            ..Thresholds::default()
        }
    }

    #[test]
    fn starts_once_after_three_downs_and_stops_after_three_healthy() {
        let mut f = Failover::new(stop_on());
        assert_eq!(
            actions(&mut f, &[H, D, D, D, D, D, H, H, H, H]),
            [
                None,
                None,
                None,
                Some(Action::Start),
                None,
                None,
                None,
                None,
                Some(Action::Stop),
                None
            ]
        );
        assert!(!f.is_active());
    }

    #[test]
    fn unknown_checks_break_the_down_streak() {
        let mut f = Failover::new(stop_on());
        assert_eq!(actions(&mut f, &[D, D, U, D, D, U, D, U, D, D]), [None; 10]);
        assert_eq!(actions(&mut f, &[D]), [Some(Action::Start)]);
    }

    #[test]
    fn degraded_and_inactive_are_not_down() {
        let mut f = Failover::new(stop_on());
        let seq = [D, D, G, D, D, Some(Inactive), D, D, G, G, G, G, G, G];
        assert_eq!(actions(&mut f, &seq), [None; 14]);
        assert_eq!(actions(&mut f, &[G; 50]), [None; 50]);
    }

    #[test]
    fn gateway_down_means_no_failover() {
        let mut f = Failover::new(stop_on());
        for _ in 0..5 {
            assert_eq!(
                f.on_check(Check {
                    status: D,
                    gateway_up: Some(false)
                }),
                None
            );
        }
        // Without a gateway configured, the API alone decides.
        for _ in 0..2 {
            assert_eq!(
                f.on_check(Check {
                    status: D,
                    gateway_up: None
                }),
                None
            );
        }
        let d = f
            .on_check(Check {
                status: D,
                gateway_up: None,
            })
            .unwrap();
        assert_eq!(
            d,
            Decision {
                action: Action::Start,
                reason: "3 consecutive checks: API answered, status down, gateway not checked"
                    .into()
            }
        );
    }

    #[test]
    fn unknowns_and_degraded_break_the_healthy_streak_too() {
        let mut f = Failover::new(stop_on());
        assert_eq!(
            actions(&mut f, &[D, D, D]).last(),
            Some(&Some(Action::Start))
        );
        assert_eq!(actions(&mut f, &[H, H, U, H, H, G, H, H]), [None; 8]);
        assert_eq!(actions(&mut f, &[H]), [Some(Action::Stop)]);
    }

    #[test]
    fn without_stop_on_recovery_the_unit_is_left_running_once() {
        let mut f = Failover::new(Thresholds::default());
        let got = actions(&mut f, &[D, D, D, H, H, H, H, H, D, D, D, H, H, H]);
        assert_eq!(
            got,
            [
                None,
                None,
                Some(Action::Start),
                None,
                None,
                Some(Action::LeaveRunning),
                None,
                None,
                // Still active: a new outage starts nothing.
                None,
                None,
                None,
                None,
                None,
                Some(Action::LeaveRunning),
            ]
        );
        assert!(f.is_active());
    }

    #[test]
    fn a_failed_start_is_retried_on_the_next_down_check_and_a_failed_stop_on_the_next_healthy() {
        let mut f = Failover::new(stop_on());
        for _ in 0..2 {
            f.on_check(check(D));
        }
        assert_eq!(f.on_check(check(D)).map(|d| d.action), Some(Action::Start));
        f.started(false);
        assert_eq!(f.on_check(check(D)).map(|d| d.action), Some(Action::Start));
        f.started(true);
        assert_eq!(f.on_check(check(D)), None);
        for _ in 0..2 {
            f.on_check(check(H));
        }
        assert_eq!(f.on_check(check(H)).map(|d| d.action), Some(Action::Stop));
        f.stopped(false);
        assert_eq!(f.on_check(check(H)).map(|d| d.action), Some(Action::Stop));
        f.stopped(true);
        assert!(!f.is_active());
    }

    #[test]
    fn statuses_parse_as_cloudflare_writes_them() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("Healthy"), None);
    }
}
