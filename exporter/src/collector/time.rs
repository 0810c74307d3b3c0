//! time: `node_time_seconds`, `node_time_zone_offset_seconds{time_zone}` and the clocksources
//! of `<sysfs>/devices/system/clocksource/clocksource*`
//! (`node_time_clocksource_{available,current}_info{device,clocksource}`).

use std::ffi::CStr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family, single_gauge};
use super::{CollectError, Collector, CollectorSpec, Config, ConfigError, Shared, read_with};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "time",
    default_enabled: true,
    help: "The current system time and time zone",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(TimeCollector {
        clocksources: config.paths.sysfs.join("devices/system/clocksource"),
    }))
}

struct TimeCollector {
    clocksources: PathBuf,
}

/// One `clocksourceN` directory: its available and current clocksources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockSource {
    pub available: Vec<String>,
    pub current: String,
}

/// The `clocksource[0-9]*` directories in name order, as procfs globs them; node_exporter
/// labels each by its index in that order (`device="0"`).
fn read_clocksources(dir: &std::path::Path) -> Result<Vec<ClockSource>, CollectError> {
    // Glob semantics: no directory matches nothing.
    let names = super::read::numbered_entries(dir, "clocksource").unwrap_or_default();
    names
        .iter()
        .map(|name| {
            let d = dir.join(name);
            let available = read_with(&d.join("available_clocksource"), |s| {
                Ok(s.split_ascii_whitespace().map(str::to_owned).collect())
            })?;
            let current = read_with(&d.join("current_clocksource"), |s| Ok(s.trim().to_owned()))?;
            Ok(ClockSource { available, current })
        })
        .collect()
}

impl Collector for TimeCollector {
    fn update(
        &self,
        _shared: &Shared,
        enc: &mut DescriptorEncoder<'_>,
    ) -> Result<(), CollectError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        single_gauge(
            enc,
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
            now.as_secs_f64(),
        )?;
        if let Some((zone, offset)) = local_zone(now.as_secs() as libc::time_t) {
            let mut family = gauge_family(
                enc,
                "node_time_zone_offset_seconds",
                "System time zone offset in seconds.",
            )?;
            gauge(&mut family, &[("time_zone", zone.as_str())], offset)?;
        }
        let sources = read_clocksources(&self.clocksources)?;
        if sources.is_empty() {
            return Ok(());
        }
        let devices: Vec<String> = (0..sources.len()).map(|i| i.to_string()).collect();
        let mut family = gauge_family(
            enc,
            "node_time_clocksource_available_info",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
        )?;
        for (s, device) in sources.iter().zip(&devices) {
            for cs in &s.available {
                let labels = [("clocksource", cs.as_str()), ("device", device.as_str())];
                gauge(&mut family, &labels, 1u64)?;
            }
        }
        let mut family = gauge_family(
            enc,
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
        )?;
        for (s, device) in sources.iter().zip(&devices) {
            let labels = [("clocksource", s.current.as_str()), ("device", device.as_str())];
            gauge(&mut family, &labels, 1u64)?;
        }
        Ok(())
    }
}

/// The local time zone's abbreviation and UTC offset at `t`, as localtime(3) sees them.
fn local_zone(t: libc::time_t) -> Option<(String, i64)> {
    // SAFETY: localtime_r writes only into `tm`; tm_zone then points at static tz data
    // (or is null), which we copy before returning.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        let zone = if tm.tm_zone.is_null() {
            String::new()
        } else {
            CStr::from_ptr(tm.tm_zone).to_string_lossy().into_owned()
        };
        Some((zone, tm.tm_gmtoff as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn reports_the_clock_and_zone() {
        let dir = tree(&[]);
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let body = scrape_of("time", build(&config_for(dir.path())).unwrap());
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let lines = samples(&body);
        let now: f64 = lines[0]
            .strip_prefix("node_time_seconds ")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            before <= now && now <= after,
            "{now} not in [{before}, {after}]"
        );
        assert!(
            lines[1].starts_with("node_time_zone_offset_seconds{time_zone=\""),
            "{body}"
        );
        assert_eq!(lines.len(), 2, "no clocksource directory, no clocksource lines");
    }

    #[test]
    fn clocksources_as_node_exporter() {
        let dir = tree(&[
            (
                "sys/devices/system/clocksource/clocksource0/available_clocksource",
                b"tsc hpet acpi_pm \n",
            ),
            (
                "sys/devices/system/clocksource/clocksource0/current_clocksource",
                b"tsc\n",
            ),
            ("sys/devices/system/clocksource/uevent", b""),
        ]);
        let body = scrape_of("time", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body)[2..],
            [
                "node_time_clocksource_available_info{clocksource=\"tsc\",device=\"0\"} 1",
                "node_time_clocksource_available_info{clocksource=\"hpet\",device=\"0\"} 1",
                "node_time_clocksource_available_info{clocksource=\"acpi_pm\",device=\"0\"} 1",
                "node_time_clocksource_current_info{clocksource=\"tsc\",device=\"0\"} 1",
            ]
        );
        assert!(body.contains("# HELP node_time_clocksource_current_info Current clocksource read from '/sys/devices/system/clocksource'.\n# TYPE node_time_clocksource_current_info gauge\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"time\"} 1\n"));
        // A clocksource directory without its files: the clock is still served, success 0.
        std::fs::remove_file(
            dir.path()
                .join("sys/devices/system/clocksource/clocksource0/current_clocksource"),
        )
        .unwrap();
        let body = scrape_of("time", build(&config_for(dir.path())).unwrap());
        assert_eq!(samples(&body).len(), 2, "{body}");
        assert!(body.contains("node_scrape_collector_success{collector=\"time\"} 0\n"));
    }
}
