//! A fleet's history without the fleet: OpenMetrics for N simulated agents (`up` and the
//! `node_*` series the receiver's dashboard and bot query), written into a Prometheus data
//! directory with the real `promtool tsdb create-blocks-from openmetrics`, so the real
//! Prometheus started on it holds a thousand agents without a thousand exporters.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::procs::require_binary;

/// One simulated agent: how busy it has been over the whole history.
#[derive(Debug, Clone)]
pub struct SimAgent {
    pub name: String,
    /// Down agents answered until [`DOWN_FOR`] before the end, then `up` is 0 and their
    /// `node_*` series stop, as a real outage looks.
    pub up: bool,
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub disk_percent: f64,
}

/// How long before the end a down agent stopped answering: past Prometheus' 5-minute lookback,
/// so its `node_*` series are gone at the end.
pub const DOWN_FOR: i64 = 600;
/// Per agent: CPUs, memory and the root filesystem's size.
const CPUS: u32 = 2;
const MEM_TOTAL: f64 = 2.0 * 1024.0 * 1024.0 * 1024.0;
const DISK_SIZE: f64 = 40e9;
/// Network bytes per second, in and out.
const NET_RX: f64 = 1500.0;
const NET_TX: f64 = 3000.0;

/// The agent's scrape address, as gen-config would give it: distinct per index.
pub fn instance(i: usize) -> String {
    format!("10.{}.{}.{}:9100", i / 65536 % 256, i / 256 % 256, i % 256)
}

/// Writes the OpenMetrics text of `agents` from `end - span` to `end` (unix seconds), one
/// sample every `step` seconds.
pub fn write_openmetrics(
    out: &mut impl Write,
    agents: &[SimAgent],
    end: i64,
    span: i64,
    step: i64,
) -> Result<()> {
    let start = end - span;
    let times: Vec<i64> = (0..=span / step).map(|k| start + k * step).collect();
    // A down agent's node series end when it went down; `up` goes on, at 0.
    let live = |a: &SimAgent, t: i64| a.up || t < end - DOWN_FOR;
    let family = |out: &mut dyn Write,
                  name: &str,
                  kind: &str,
                  series: &dyn Fn(&mut dyn Write, usize, &SimAgent) -> Result<()>|
     -> Result<()> {
        writeln!(out, "# TYPE {name} {kind}")?;
        for (i, a) in agents.iter().enumerate() {
            series(out, i, a)?;
        }
        Ok(())
    };
    // One series' samples: `value(t)` at each time the agent answered.
    let samples = |out: &mut dyn Write,
                   a: &SimAgent,
                   series: &str,
                   all_times: bool,
                   value: &dyn Fn(i64) -> f64|
     -> Result<()> {
        for &t in &times {
            if all_times || live(a, t) {
                writeln!(out, "{series} {} {t}", value(t))?;
            }
        }
        Ok(())
    };
    let agent = |a: &SimAgent| serde_json::to_string(&a.name).expect("a string encodes");
    let out: &mut dyn Write = out;
    family(out, "up", "gauge", &|out, i, a| {
        let s = format!(
            "up{{agent={},instance=\"{}\",job=\"agents\"}}",
            agent(a),
            instance(i)
        );
        samples(out, a, &s, true, &|t| f64::from(u8::from(live(a, t))))
    })?;
    family(out, "node_cpu_seconds", "counter", &|out, _, a| {
        for cpu in 0..CPUS {
            let s = format!(
                "node_cpu_seconds_total{{agent={},cpu=\"{cpu}\",mode=\"idle\"}}",
                agent(a)
            );
            let idle = 1.0 - a.cpu_percent / 100.0;
            samples(out, a, &s, false, &|t| (t - start) as f64 * idle)?;
        }
        Ok(())
    })?;
    family(out, "node_memory_MemTotal_bytes", "gauge", &|out, _, a| {
        let s = format!("node_memory_MemTotal_bytes{{agent={}}}", agent(a));
        samples(out, a, &s, false, &|_| MEM_TOTAL)
    })?;
    family(
        out,
        "node_memory_MemAvailable_bytes",
        "gauge",
        &|out, _, a| {
            let s = format!("node_memory_MemAvailable_bytes{{agent={}}}", agent(a));
            samples(out, a, &s, false, &|_| {
                (MEM_TOTAL * (1.0 - a.memory_percent / 100.0)).round()
            })
        },
    )?;
    let fs = r#"device="/dev/vda1",fstype="ext4",mountpoint="/""#;
    family(out, "node_filesystem_size_bytes", "gauge", &|out, _, a| {
        let s = format!("node_filesystem_size_bytes{{agent={},{fs}}}", agent(a));
        samples(out, a, &s, false, &|_| DISK_SIZE)
    })?;
    family(out, "node_filesystem_avail_bytes", "gauge", &|out, _, a| {
        let s = format!("node_filesystem_avail_bytes{{agent={},{fs}}}", agent(a));
        samples(out, a, &s, false, &|_| {
            (DISK_SIZE * (1.0 - a.disk_percent / 100.0)).round()
        })
    })?;
    family(out, "node_filesystem_readonly", "gauge", &|out, _, a| {
        let s = format!("node_filesystem_readonly{{agent={},{fs}}}", agent(a));
        samples(out, a, &s, false, &|_| 0.0)
    })?;
    family(out, "node_load1", "gauge", &|out, _, a| {
        let s = format!("node_load1{{agent={}}}", agent(a));
        samples(out, a, &s, false, &|_| {
            f64::from(CPUS) * a.cpu_percent / 100.0
        })
    })?;
    for (dir, rate) in [("receive", NET_RX), ("transmit", NET_TX)] {
        let name = format!("node_network_{dir}_bytes");
        family(out, &name, "counter", &|out, _, a| {
            let s = format!("{name}_total{{agent={},device=\"eth0\"}}", agent(a));
            samples(out, a, &s, false, &|t| (t - start) as f64 * rate)
        })?;
    }
    writeln!(out, "# EOF")?;
    Ok(())
}

/// Writes the history of `agents` (the hour before `end`, every 30 s) into `tsdb_dir` as TSDB
/// blocks with the real promtool; the OpenMetrics file is left beside it for a look.
pub fn create_blocks(agents: &[SimAgent], end: i64, tsdb_dir: &Path) -> Result<()> {
    let parent = tsdb_dir.parent().context("the TSDB dir has a parent")?;
    let om = parent.join("fleet.om.txt");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&om)?);
    write_openmetrics(&mut w, agents, end, 3600, 30)?;
    w.flush()?;
    drop(w);
    let promtool = require_binary("PROMTOOL_BIN", &["promtool"], "prometheus");
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(tsdb_dir)
        .output()
        .context("run promtool")?;
    if !out.status.success() {
        bail!(
            "promtool tsdb create-blocks-from openmetrics failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
