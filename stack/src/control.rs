//! `status` and `down`: act on a stack started by `up` in another terminal (or by a supervisor
//! that crashed) through the lock and `run/stack.json`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::EXIT_NOT_RUNNING;
use crate::parts::{Layout, Part};
use crate::process::{ProcId, signal, stop_groups};
use crate::state::{StackFile, is_locked};

/// Prints one line per part; exit code 0 when all four are up, 3 otherwise.
pub fn status(state_dir: &Path) -> Result<u8> {
    let layout = Layout::new(state_dir.to_owned());
    let running = is_locked(&layout.lock())?;
    let file = StackFile::read(&layout.stack_json())?;
    match (&file, running) {
        (Some(f), true) => println!(
            "vpsmon stack in {}: running (supervisor pid {})",
            state_dir.display(),
            f.supervisor.pid
        ),
        (Some(_), false) => println!(
            "vpsmon stack in {}: supervisor gone (parts may be left over; `./vpsmon down` cleans up)",
            state_dir.display()
        ),
        (None, _) => println!("vpsmon stack in {}: not running", state_dir.display()),
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let mut all_up = true;
    for part in Part::ALL {
        let record = file
            .as_ref()
            .and_then(|f| f.parts.iter().find(|p| p.part == part));
        let line = match record {
            Some(r) if r.proc.is_alive() => {
                let answers = rt.block_on(async {
                    matches!(client.get(&r.ready_url).send().await, Ok(resp) if resp.status().is_success())
                });
                if answers {
                    format!("{:<13} up    {:<34} pid {}", part.name(), r.url, r.proc.pid)
                } else {
                    all_up = false;
                    format!(
                        "{:<13} down  {:<34} pid {} runs but {} does not answer (log: {})",
                        part.name(),
                        r.url,
                        r.proc.pid,
                        r.ready_url,
                        r.log
                    )
                }
            }
            Some(r) => {
                all_up = false;
                format!(
                    "{:<13} down  {:<34} (exited; log: {})",
                    part.name(),
                    r.url,
                    r.log
                )
            }
            None => {
                all_up = false;
                format!("{:<13} down", part.name())
            }
        };
        println!("{line}");
    }
    Ok(if all_up { 0 } else { EXIT_NOT_RUNNING })
}

/// Stops the stack: SIGTERM to the supervisor, which stops its parts the same way Ctrl-C does;
/// if it does not finish in time (or is already gone), the parts' process groups get SIGTERM and
/// then SIGKILL directly. Ends with no recorded process alive.
pub fn down(state_dir: &Path, grace: Duration) -> Result<u8> {
    let layout = Layout::new(state_dir.to_owned());
    let Some(file) = StackFile::read(&layout.stack_json())? else {
        if is_locked(&layout.lock())? {
            // Started but has not written its record yet; nothing safe to signal by pid.
            anyhow::bail!(
                "the stack in {} is starting; try `./vpsmon down` again in a moment",
                state_dir.display()
            );
        }
        println!("vpsmon is not running (state dir {})", state_dir.display());
        return Ok(0);
    };
    if file.supervisor.is_alive() {
        println!("stopping vpsmon (supervisor pid {})", file.supervisor.pid);
        signal(file.supervisor.pid, libc::SIGTERM);
        // The supervisor itself allows each part `grace`; give it that plus a margin.
        let deadline = Instant::now() + grace + Duration::from_secs(5);
        while Instant::now() < deadline && file.supervisor.is_alive() {
            std::thread::sleep(Duration::from_millis(50));
        }
        if file.supervisor.is_alive() {
            println!("supervisor did not stop in time; killing it");
            signal(file.supervisor.pid, libc::SIGKILL);
        }
    }
    let left: Vec<ProcId> = file.alive().iter().map(|r| r.proc).collect();
    if !left.is_empty() {
        let names: Vec<&str> = file.alive().iter().map(|r| r.part.name()).collect();
        println!("stopping left-over parts: {}", names.join(", "));
        for id in stop_groups(&left, grace) {
            println!("pid {} did not stop within {grace:?}; killed", id.pid);
        }
    }
    let still: Vec<String> = file
        .parts
        .iter()
        .filter(|r| r.proc.is_alive())
        .map(|r| format!("{} pid {}", r.part.name(), r.proc.pid))
        .collect();
    if !still.is_empty() {
        anyhow::bail!("could not stop: {}", still.join(", "));
    }
    let _ = std::fs::remove_file(layout.stack_json());
    println!("vpsmon stopped; no process of it is left");
    Ok(0)
}
