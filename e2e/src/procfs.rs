//! A fixture procfs root whose CPU counters advance in real time at a chosen busy share, so an
//! exporter pointed at it (`--path.procfs`) makes Prometheus compute exactly that CPU usage.
//! meminfo is copied from this machine; loadavg is calm, so only the CPU rule can fire.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// USER_HZ: /proc/stat counts CPU time in 1/100 s on every Linux architecture.
const TICKS_PER_SECOND: f64 = 100.0;

pub struct CpuFixture {
    root: PathBuf,
    busy_percent: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    writer: Option<JoinHandle<()>>,
}

impl CpuFixture {
    /// Creates `<dir>/proc` and starts advancing its `stat` counters, `busy_percent` busy.
    pub fn start(dir: &Path, busy_percent: u32) -> Result<CpuFixture> {
        let root = dir.join("proc");
        std::fs::create_dir_all(&root)?;
        std::fs::copy("/proc/meminfo", root.join("meminfo")).context("copy /proc/meminfo")?;
        std::fs::write(root.join("loadavg"), "0.10 0.08 0.05 1/123 4567\n")?;
        let real = std::fs::read_to_string("/proc/stat").context("read /proc/stat")?;
        let cpus = real
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count()
            .max(1);
        // Everything after the cpu lines (intr, ctxt, btime, processes, ...) stays as it was.
        let rest: String = real
            .lines()
            .filter(|l| !l.starts_with("cpu"))
            .map(|l| format!("{l}\n"))
            .collect();
        let busy = Arc::new(AtomicU32::new(busy_percent));
        let stop = Arc::new(AtomicBool::new(false));
        let stat_path = root.join("stat");
        write_stat(&stat_path, cpus, 1000.0, 100_000.0, &rest)?;
        let writer = {
            let (busy, stop) = (busy.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut user, mut idle) = (1000.0, 100_000.0);
                let mut last = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let now = Instant::now();
                    let ticks = now.duration_since(last).as_secs_f64() * TICKS_PER_SECOND;
                    last = now;
                    let share = f64::from(busy.load(Ordering::Relaxed)) / 100.0;
                    user += ticks * share;
                    idle += ticks * (1.0 - share);
                    let _ = write_stat(&stat_path, cpus, user, idle, &rest);
                }
            })
        };
        Ok(CpuFixture {
            root,
            busy_percent: busy,
            stop,
            writer: Some(writer),
        })
    }

    /// The directory to pass as `--path.procfs`.
    pub fn procfs(&self) -> &Path {
        &self.root
    }

    /// From now on the counters advance at this busy share.
    pub fn set_busy(&self, percent: u32) {
        self.busy_percent.store(percent, Ordering::Relaxed);
    }
}

impl Drop for CpuFixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// Writes /proc/stat's cpu lines (user, nice, system, idle, iowait, irq, softirq, steal, guest,
/// guest_nice) via a rename, so the exporter never reads half a file.
fn write_stat(path: &Path, cpus: usize, user: f64, idle: f64, rest: &str) -> Result<()> {
    let (u, i) = (user as u64, idle as u64);
    let mut text = format!(
        "cpu  {} 0 0 {} 0 0 0 0 0 0\n",
        u * cpus as u64,
        i * cpus as u64
    );
    for n in 0..cpus {
        text.push_str(&format!("cpu{n} {u} 0 0 {i} 0 0 0 0 0 0\n"));
    }
    text.push_str(rest);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_advance_at_the_chosen_share() {
        let dir = tempfile::tempdir().unwrap();
        let fx = CpuFixture::start(dir.path(), 95).unwrap();
        let read = || {
            let stat = std::fs::read_to_string(fx.procfs().join("stat")).unwrap();
            let cpu0: Vec<f64> = stat
                .lines()
                .find(|l| l.starts_with("cpu0 "))
                .unwrap()
                .split_whitespace()
                .skip(1)
                .map(|v| v.parse().unwrap())
                .collect();
            (cpu0[0], cpu0[3])
        };
        let (u0, i0) = read();
        std::thread::sleep(Duration::from_millis(1500));
        let (u1, i1) = read();
        let busy = (u1 - u0) / ((u1 - u0) + (i1 - i0));
        assert!((busy - 0.95).abs() < 0.02, "busy share {busy}");
        assert!(u1 - u0 > 100.0, "user ticks advanced only {}", u1 - u0);
    }
}
