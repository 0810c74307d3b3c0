//! `GET /api/health`: the JSON summary the seeds' dashboards read (seed 001's FastAPI service),
//! with psutil's meanings of the numbers. `cpu.percent` compares this reading of /proc/stat with
//! one kept from earlier, so no request sleeps for a second the way `cpu_percent(interval=1)` does.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::{AppState, HttpError};
use crate::collector::cpu::parse_stat;
use crate::collector::filesystem::statvfs_bounded;
use crate::collector::loadavg::parse_loadavg;
use crate::collector::meminfo::{get, parse_meminfo};
use crate::collector::netdev::parse_netdev;

/// The body, field for field as seed 001 serves it (plus load_avg, used, free and packets).
#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub timestamp: String,
    pub hostname: String,
    pub platform: String,
    pub data: Data,
}

#[derive(Debug, Serialize)]
pub struct Data {
    pub cpu: Cpu,
    pub memory: Memory,
    pub disk: Disk,
    pub network: Network,
    pub processes: u64,
}

#[derive(Debug, Serialize)]
pub struct Cpu {
    /// Busy share of all CPUs since the previous reading, 0-100, one decimal (psutil).
    pub percent: f64,
    /// Logical CPUs.
    pub count: usize,
    /// 1, 5 and 15 minute load averages.
    pub load_avg: [f64; 3],
}

/// Bytes, with psutil.virtual_memory()'s meanings.
#[derive(Debug, Serialize)]
pub struct Memory {
    pub total: u64,
    pub available: u64,
    /// (total - available) / total, one decimal.
    pub percent: f64,
    /// total - free - buffers - cached - SReclaimable.
    pub used: u64,
    pub free: u64,
}

/// Bytes of the root filesystem, with psutil.disk_usage('/')'s meanings.
#[derive(Debug, Serialize)]
pub struct Disk {
    pub total: u64,
    /// total - free blocks (what root could still write is not "used").
    pub used: u64,
    /// Available to unprivileged users.
    pub free: u64,
    /// used / total, as seed 001 computes it, one decimal.
    pub percent: f64,
}

/// Sums over all interfaces, loopback included (psutil.net_io_counters()).
#[derive(Debug, Serialize)]
pub struct Network {
    pub bytes_sent: u64,
    pub bytes_recv: u64,
    pub packets_sent: u64,
    pub packets_recv: u64,
}

/// A /proc/stat reading kept between requests.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    total: u64,
    busy: u64,
    percent: f64,
}

/// Reads the host for /api/health; holds the earlier CPU reading.
#[derive(Debug)]
pub struct HealthProbe {
    procfs: PathBuf,
    rootfs: PathBuf,
    statfs_timeout: Duration,
    previous: Mutex<Sample>,
}

/// Readings closer together than this are compared but the older one is kept, so that a burst
/// of requests still sees the CPU over at least this window.
const MIN_WINDOW: Duration = Duration::from_secs(1);

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round1(part as f64 / whole as f64 * 100.0)
    }
}

fn read(path: &Path) -> Result<String, HttpError> {
    std::fs::read_to_string(path)
        .map_err(|e| HttpError::Internal(format!("cannot read {}: {e}", path.display())))
}

fn garbled(path: &Path, e: impl std::fmt::Display) -> HttpError {
    HttpError::Internal(format!("{}: {e}", path.display()))
}

impl HealthProbe {
    /// Takes the first CPU reading now, so the first request already has something to compare.
    pub fn new(procfs: PathBuf, rootfs: PathBuf, statfs_timeout: Duration) -> HealthProbe {
        let probe = HealthProbe {
            previous: Mutex::new(Sample {
                at: Instant::now(),
                total: 0,
                busy: 0,
                percent: 0.0,
            }),
            procfs,
            rootfs,
            statfs_timeout,
        };
        if let Ok((_, sample)) = probe.read_cpu() {
            *probe.previous.lock().unwrap_or_else(|e| e.into_inner()) = sample;
        }
        probe
    }

    /// The procfs this probe reads.
    pub fn procfs(&self) -> &Path {
        &self.procfs
    }

    fn read_cpu(&self) -> Result<(usize, Sample), HttpError> {
        let path = self.procfs.join("stat");
        let stat = parse_stat(&read(&path)?).map_err(|e| garbled(&path, e))?;
        let sample = Sample {
            at: Instant::now(),
            total: stat.total.total(),
            busy: stat.total.busy(),
            percent: 0.0,
        };
        Ok((stat.cpus.len(), sample))
    }

    fn cpu(&self) -> Result<Cpu, HttpError> {
        let (count, mut now) = self.read_cpu()?;
        let mut prev = self.previous.lock().unwrap_or_else(|e| e.into_inner());
        let total = now.total.saturating_sub(prev.total);
        now.percent = if total == 0 {
            prev.percent
        } else {
            percent(now.busy.saturating_sub(prev.busy), total)
        };
        if now.at.duration_since(prev.at) >= MIN_WINDOW {
            *prev = now;
        }
        drop(prev);
        let path = self.procfs.join("loadavg");
        let load = parse_loadavg(&read(&path)?).map_err(|e| garbled(&path, e))?;
        Ok(Cpu {
            percent: now.percent,
            count,
            load_avg: [load.one, load.five, load.fifteen],
        })
    }

    fn memory(&self) -> Result<Memory, HttpError> {
        let path = self.procfs.join("meminfo");
        let text = read(&path)?;
        let fields = parse_meminfo(&text).map_err(|e| garbled(&path, e))?;
        let field = |name: &str| {
            get(&fields, name).ok_or_else(|| garbled(&path, format!("no {name} line")))
        };
        let total = field("MemTotal")?;
        let free = field("MemFree")?;
        let available = field("MemAvailable")?;
        let buffers = get(&fields, "Buffers").unwrap_or(0);
        let cached =
            get(&fields, "Cached").unwrap_or(0) + get(&fields, "SReclaimable").unwrap_or(0);
        let used = match total.checked_sub(free + buffers + cached) {
            Some(used) => used,
            // psutil's fallback where the cache counters exceed what they could (containers).
            None => total.saturating_sub(free),
        };
        Ok(Memory {
            total,
            available,
            percent: percent(total.saturating_sub(available), total),
            used,
            free,
        })
    }

    fn disk(&self) -> Result<Disk, HttpError> {
        let fs = statvfs_bounded(&self.rootfs, self.statfs_timeout)
            .map_err(|e| HttpError::Internal(e.to_string()))?;
        let used = fs.size_bytes.saturating_sub(fs.free_bytes);
        Ok(Disk {
            total: fs.size_bytes,
            used,
            free: fs.avail_bytes,
            percent: percent(used, fs.size_bytes),
        })
    }

    fn network(&self) -> Result<Network, HttpError> {
        let path = self.procfs.join("net/dev");
        let text = read(&path)?;
        let devices = parse_netdev(&text).map_err(|e| garbled(&path, e))?;
        let mut n = Network {
            bytes_sent: 0,
            bytes_recv: 0,
            packets_sent: 0,
            packets_recv: 0,
        };
        for d in &devices {
            n.bytes_recv += d.receive[0];
            n.packets_recv += d.receive[1];
            n.bytes_sent += d.transmit[0];
            n.packets_sent += d.transmit[1];
        }
        Ok(n)
    }

    /// Processes: the numeric entries of procfs (psutil.pids()).
    fn processes(&self) -> Result<u64, HttpError> {
        let entries = std::fs::read_dir(&self.procfs).map_err(|e| {
            HttpError::Internal(format!("cannot list {}: {e}", self.procfs.display()))
        })?;
        Ok(entries
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .as_encoded_bytes()
                    .iter()
                    .all(u8::is_ascii_digit)
            })
            .count() as u64)
    }

    /// One full reading. Blocking (file I/O and a statvfs): call it on the blocking pool.
    pub fn read(&self) -> Result<Health, HttpError> {
        Ok(Health {
            status: "healthy",
            timestamp: super::now_rfc3339(),
            hostname: kernel_string(&self.procfs, "hostname"),
            platform: kernel_string(&self.procfs, "ostype"),
            data: Data {
                cpu: self.cpu()?,
                memory: self.memory()?,
                disk: self.disk()?,
                network: self.network()?,
                processes: self.processes()?,
            },
        })
    }
}

/// `<procfs>/sys/kernel/<name>`: `hostname` is uname's nodename (Python's platform.node()),
/// `ostype` its sysname ("Linux", platform.system()). Empty if unreadable.
pub fn kernel_string(procfs: &Path, name: &str) -> String {
    std::fs::read_to_string(procfs.join("sys/kernel").join(name))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

pub async fn handler(State(state): State<AppState>) -> Result<Json<Health>, HttpError> {
    let _permit = state.gate.permit()?;
    let probe = state.health.clone();
    let health = tokio::task::spawn_blocking(move || probe.read())
        .await
        .map_err(|_| HttpError::Internal("the health reading did not finish".into()))??;
    Ok(Json(health))
}
