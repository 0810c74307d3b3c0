//! cpufreq: `node_cpu_frequency_{,avg_,min_,max_}hertz`, `node_cpu_scaling_frequency_*` and
//! `node_cpu_scaling_governor` per online CPU from `<sysfs>/devices/system/cpu/cpu*/cpufreq`.
//!
//! Cost: only the nine files these families need are read (procfs also reads the driver,
//! related CPUs, set speed and the stats tables, which node_exporter then drops). A CPU without
//! `cpufreq` (every small VM) costs one failed stat.

use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::cpu::parse_cpu_list;
use super::encode::{gauge, gauge_family};
use super::read::{numbered_entries, read_optional_u64};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "cpufreq",
    default_enabled: true,
    help: "CPU frequency and governor from /sys/devices/system/cpu/cpu*/cpufreq",
    flags: &[],
    build,
};

/// The kHz files, in node_exporter's family order: (file, metric, help).
const FREQS: [(&str, &str, &str); 7] = [
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current CPU thread frequency in hertz.",
    ),
    (
        "cpuinfo_avg_freq",
        "node_cpu_frequency_avg_hertz",
        "Average CPU thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Minimum CPU thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Maximum CPU thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
];

/// One CPU's cpufreq directory; a file it lacks (or only root may read) is `None`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CpuFreq {
    /// The CPU number, as the directory names it.
    pub cpu: String,
    /// kHz, in [`FREQS`] order.
    pub khz: [Option<u64>; 7],
    pub governor: String,
    pub available_governors: String,
}

fn read_text(path: &Path) -> Result<String, CollectError> {
    super::read_with(path, |d| Ok(d.trim().to_owned()))
}

fn read_cpufreq(dir: &Path, cpu: String) -> Result<CpuFreq, CollectError> {
    let mut out = CpuFreq {
        cpu,
        ..CpuFreq::default()
    };
    for ((file, _, _), slot) in FREQS.iter().zip(&mut out.khz) {
        *slot = read_optional_u64(&dir.join(file))?;
    }
    // As procfs: a cpufreq directory without these is an error.
    out.available_governors = read_text(&dir.join("scaling_available_governors"))?;
    out.governor = read_text(&dir.join("scaling_governor"))?;
    Ok(out)
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(CpufreqCollector {
        cpus: config.paths.sysfs.join("devices/system/cpu"),
    }))
}

struct CpufreqCollector {
    cpus: PathBuf,
}

impl CpufreqCollector {
    fn read(&self) -> Result<Vec<CpuFreq>, CollectError> {
        let offline_path = self.cpus.join("offline");
        let offline = read_text(&offline_path)?;
        let offline = parse_cpu_list(&offline)
            .map_err(|e| CollectError::parse(&offline_path, ParseError::new(1, e)))?;
        let names = numbered_entries(&self.cpus, "cpu").map_err(|source| CollectError::Read {
            path: self.cpus.clone(),
            source,
        })?;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let num = &name["cpu".len()..];
            if num.parse().is_ok_and(|n: u32| offline.contains(&n)) {
                continue;
            }
            let dir = self.cpus.join(&name).join("cpufreq");
            if !super::absent::is_dir(&dir) {
                continue;
            }
            out.push(read_cpufreq(&dir, num.to_owned())?);
        }
        Ok(out)
    }
}

impl Collector for CpufreqCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let cpus = self.read()?;
        for (i, (_, name, help)) in FREQS.iter().enumerate() {
            if cpus.iter().all(|c| c.khz[i].is_none()) {
                continue;
            }
            let mut family = gauge_family(enc, name, help)?;
            for c in &cpus {
                if let Some(khz) = c.khz[i] {
                    // sysfs says kHz; node_exporter's float arithmetic.
                    gauge(&mut family, &[("cpu", c.cpu.as_str())], khz as f64 * 1000.0)?;
                }
            }
        }
        if cpus.iter().any(|c| !c.governor.is_empty()) {
            let mut family = gauge_family(
                enc,
                "node_cpu_scaling_governor",
                "Current enabled CPU frequency governor.",
            )?;
            for c in cpus.iter().filter(|c| !c.governor.is_empty()) {
                for g in c.available_governors.split(' ') {
                    let labels = [("cpu", c.cpu.as_str()), ("governor", g)];
                    gauge(&mut family, &labels, u64::from(g == c.governor))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    /// node_exporter's fixture: cpu0/cpu1 and cpu2/cpu3 pairs, plus an offline cpu4 and a
    /// cpu5 without cpufreq.
    fn fixture() -> tempfile::TempDir {
        let t = "sys/devices/system/cpu/";
        let mut files: Vec<(String, Vec<u8>)> = vec![
            (format!("{t}offline"), b"4\n".to_vec()),
            (format!("{t}cpu5/topology/core_id"), b"5\n".to_vec()),
        ];
        for (cpu, cur, max, min) in [
            ("cpu0", "1699981", "3700000", "800000"),
            ("cpu1", "1699981", "3700000", "800000"),
            ("cpu2", "8000", "4200000", "1000"),
            ("cpu3", "8000", "4200000", "1000"),
            ("cpu4", "8000", "4200000", "1000"),
        ] {
            for (f, v) in [
                ("cpuinfo_transition_latency", "0"),
                ("scaling_available_governors", "performance powersave"),
                ("scaling_cur_freq", cur),
                ("scaling_driver", "intel_pstate"),
                ("scaling_governor", "powersave"),
                ("scaling_max_freq", max),
                ("scaling_min_freq", min),
                ("scaling_setspeed", "<unsupported>"),
            ] {
                files.push((format!("{t}{cpu}/cpufreq/{f}"), format!("{v}\n").into_bytes()));
            }
        }
        let files: Vec<(&str, &[u8])> =
            files.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
        tree(&files)
    }

    #[test]
    fn node_exporters_fixture_gives_its_lines() {
        let dir = fixture();
        let body = scrape_of("cpufreq", build(&config_for(dir.path())).unwrap());
        // node_exporter prints 1.699981e+09, 8e+06...: the same numbers.
        assert_eq!(
            samples(&body),
            [
                "node_cpu_scaling_frequency_hertz{cpu=\"0\"} 1699981000.0",
                "node_cpu_scaling_frequency_hertz{cpu=\"1\"} 1699981000.0",
                "node_cpu_scaling_frequency_hertz{cpu=\"2\"} 8000000.0",
                "node_cpu_scaling_frequency_hertz{cpu=\"3\"} 8000000.0",
                "node_cpu_scaling_frequency_min_hertz{cpu=\"0\"} 800000000.0",
                "node_cpu_scaling_frequency_min_hertz{cpu=\"1\"} 800000000.0",
                "node_cpu_scaling_frequency_min_hertz{cpu=\"2\"} 1000000.0",
                "node_cpu_scaling_frequency_min_hertz{cpu=\"3\"} 1000000.0",
                "node_cpu_scaling_frequency_max_hertz{cpu=\"0\"} 3700000000.0",
                "node_cpu_scaling_frequency_max_hertz{cpu=\"1\"} 3700000000.0",
                "node_cpu_scaling_frequency_max_hertz{cpu=\"2\"} 4200000000.0",
                "node_cpu_scaling_frequency_max_hertz{cpu=\"3\"} 4200000000.0",
                "node_cpu_scaling_governor{cpu=\"0\",governor=\"performance\"} 0",
                "node_cpu_scaling_governor{cpu=\"0\",governor=\"powersave\"} 1",
                "node_cpu_scaling_governor{cpu=\"1\",governor=\"performance\"} 0",
                "node_cpu_scaling_governor{cpu=\"1\",governor=\"powersave\"} 1",
                "node_cpu_scaling_governor{cpu=\"2\",governor=\"performance\"} 0",
                "node_cpu_scaling_governor{cpu=\"2\",governor=\"powersave\"} 1",
                "node_cpu_scaling_governor{cpu=\"3\",governor=\"performance\"} 0",
                "node_cpu_scaling_governor{cpu=\"3\",governor=\"powersave\"} 1",
            ]
        );
        assert!(body.contains("# HELP node_cpu_scaling_governor Current enabled CPU frequency governor.\n# TYPE node_cpu_scaling_governor gauge\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"cpufreq\"} 1\n"));
    }

    #[test]
    fn a_vm_without_cpufreq_gives_nothing_and_succeeds() {
        let dir = tree(&[
            ("sys/devices/system/cpu/offline", b"\n"),
            ("sys/devices/system/cpu/cpu0/topology/core_id", b"0\n"),
        ]);
        let body = scrape_of("cpufreq", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"cpufreq\"} 1\n"));
    }

    #[test]
    fn a_garbled_frequency_or_no_governor_fails() {
        let dir = fixture();
        let f = dir
            .path()
            .join("sys/devices/system/cpu/cpu2/cpufreq/scaling_cur_freq");
        std::fs::write(&f, "fast\n").unwrap();
        let body = scrape_of("cpufreq", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty(), "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"cpufreq\"} 0\n"));
        std::fs::write(&f, "8000\n").unwrap();
        std::fs::remove_file(f.with_file_name("scaling_governor")).unwrap();
        let body = scrape_of("cpufreq", build(&config_for(dir.path())).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"cpufreq\"} 0\n"));
    }
}
