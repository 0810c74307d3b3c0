//! thermal_zone: `node_thermal_zone_temp{zone,type}` from `<sysfs>/class/thermal/thermal_zone*`
//! and `node_cooling_device_{cur,max}_state{name,type}` from `cooling_device*`, as
//! node_exporter (procfs' ClassThermalZoneStats / ClassCoolingDeviceStats): a zone or device
//! whose files cannot be read, or a disabled zone, is skipped; a value that is not a number
//! fails the collector. No thermal class: nothing, and no failure (its glob matches nothing).

use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{gauge, gauge_family};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, ParseError, Shared, read_attr_once,
};

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "thermal_zone",
    default_enabled: true,
    help: "Thermal zone temperatures and cooling device states from /sys/class/thermal",
    flags: &[],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(ThermalZoneCollector {
        class: config.paths.sysfs.join("class/thermal"),
    }))
}

struct ThermalZoneCollector {
    class: PathBuf,
}

/// The entries `<prefix><digit>...` of `dir`, with the part after the prefix, sorted as a
/// glob sorts them.
fn numbered(dir: &Path, prefix: &str) -> Vec<(PathBuf, String)> {
    super::read::numbered_entries(dir, prefix)
        .unwrap_or_default()
        .into_iter()
        .map(|name| (dir.join(&name), name[prefix.len()..].to_owned()))
        .collect()
}

/// An attribute, trimmed; `None` when it cannot be read (the entry is then skipped).
fn attr(dir: &Path, name: &str) -> Option<String> {
    read_attr_once(&dir.join(name)).ok().map(|s| s.trim().to_owned())
}

fn number(dir: &Path, name: &str, value: &str) -> Result<i64, CollectError> {
    value.parse().map_err(|_| {
        CollectError::parse(
            &dir.join(name),
            ParseError::new(1, format!("{value:?} is not an integer")),
        )
    })
}

/// (zone, type, temperature in °C) of the zones that can be read.
fn zones(class: &Path) -> Result<Vec<(String, String, f64)>, CollectError> {
    let mut out = Vec::new();
    for (dir, zone) in numbered(class, "thermal_zone") {
        if attr(&dir, "mode").as_deref() == Some("disabled") {
            continue;
        }
        let (Some(kind), Some(_policy), Some(temp)) =
            (attr(&dir, "type"), attr(&dir, "policy"), attr(&dir, "temp"))
        else {
            continue;
        };
        let temp = number(&dir, "temp", &temp)?;
        out.push((zone, kind, temp as f64 / 1000.0));
    }
    Ok(out)
}

/// (name, type, cur_state, max_state) of the cooling devices that can be read.
fn cooling_devices(class: &Path) -> Result<Vec<(String, String, i64, i64)>, CollectError> {
    let mut out = Vec::new();
    for (dir, name) in numbered(class, "cooling_device") {
        let (Some(kind), Some(max), Some(cur)) = (
            attr(&dir, "type"),
            attr(&dir, "max_state"),
            attr(&dir, "cur_state"),
        ) else {
            continue;
        };
        let max = number(&dir, "max_state", &max)?;
        // cur_state may be -1 (intel_powerclamp).
        let cur = number(&dir, "cur_state", &cur)?;
        out.push((name, kind, cur, max));
    }
    Ok(out)
}

impl Collector for ThermalZoneCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let mut zones = zones(&self.class)?;
        let mut devices = cooling_devices(&self.class)?;
        // node_exporter's order: by label values, labels by name (type before zone).
        zones.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        devices.sort();
        if !zones.is_empty() {
            let mut family =
                gauge_family(enc, "node_thermal_zone_temp", "Zone temperature in Celsius")?;
            for (zone, kind, temp) in &zones {
                gauge(&mut family, &[("type", kind), ("zone", zone)], *temp)?;
            }
        }
        for (name, help, cur) in [
            (
                "node_cooling_device_cur_state",
                "Current throttle state of the cooling device",
                true,
            ),
            (
                "node_cooling_device_max_state",
                "Maximum throttle state of the cooling device",
                false,
            ),
        ] {
            if devices.is_empty() {
                break;
            }
            let mut family = gauge_family(enc, name, help)?;
            for (device, kind, c, m) in &devices {
                let v = if cur { *c } else { *m };
                gauge(&mut family, &[("name", device), ("type", kind)], v)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn zones_and_cooling_devices_as_node_exporter_gives_them() {
        let dir = tree(&[
            ("sys/class/thermal/thermal_zone0/type", b"cpu-thermal\n"),
            ("sys/class/thermal/thermal_zone0/policy", b"step_wise\n"),
            ("sys/class/thermal/thermal_zone0/temp", b"12376\n"),
            // Disabled, and one without a temperature: skipped.
            ("sys/class/thermal/thermal_zone1/type", b"acpitz\n"),
            ("sys/class/thermal/thermal_zone1/policy", b"step_wise\n"),
            ("sys/class/thermal/thermal_zone1/temp", b"50000\n"),
            ("sys/class/thermal/thermal_zone1/mode", b"disabled\n"),
            ("sys/class/thermal/thermal_zone2/type", b"x86_pkg_temp\n"),
            ("sys/class/thermal/thermal_zone2/policy", b"step_wise\n"),
            ("sys/class/thermal/cooling_device0/type", b"Processor\n"),
            ("sys/class/thermal/cooling_device0/max_state", b"3\n"),
            ("sys/class/thermal/cooling_device0/cur_state", b"-1\n"),
            ("sys/class/thermal/cooling_devicex/type", b"Fan\n"),
        ]);
        let body = scrape_of("thermal_zone", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "node_thermal_zone_temp{type=\"cpu-thermal\",zone=\"0\"} 12.376",
                "node_cooling_device_cur_state{name=\"0\",type=\"Processor\"} -1",
                "node_cooling_device_max_state{name=\"0\",type=\"Processor\"} 3",
            ]
        );
        assert!(body.contains("# HELP node_thermal_zone_temp Zone temperature in Celsius\n# TYPE node_thermal_zone_temp gauge\n"));
        assert!(body.contains("# HELP node_cooling_device_max_state Maximum throttle state of the cooling device\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"thermal_zone\"} 1\n"));
    }

    #[test]
    fn a_temperature_that_is_no_number_fails_naming_the_file() {
        let dir = tree(&[
            ("sys/class/thermal/thermal_zone0/type", b"acpitz\n"),
            ("sys/class/thermal/thermal_zone0/policy", b"step_wise\n"),
            ("sys/class/thermal/thermal_zone0/temp", b"hot\n"),
        ]);
        let config = config_for(dir.path());
        let err = zones(&config.paths.sysfs.join("class/thermal"))
            .unwrap_err()
            .to_string();
        let path = config.paths.sysfs.join("class/thermal/thermal_zone0/temp");
        assert_eq!(
            err,
            format!("parsing {}: line 1: \"hot\" is not an integer", path.display())
        );
        let body = scrape_of("thermal_zone", build(&config).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"thermal_zone\"} 0\n"));
    }

    #[test]
    fn no_thermal_class_is_nothing_and_no_failure() {
        let dir = tree(&[]);
        let body = scrape_of("thermal_zone", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"thermal_zone\"} 1\n"));
    }
}
