//! powersupplyclass: `node_power_supply_*{power_supply}` and `node_power_supply_info` from
//! `<sysfs>/class/power_supply/*`, as node_exporter (procfs' PowerSupplyClass): one gauge per
//! numeric attribute present (µA/µV/µW/µWh scaled to A/V/W/Wh, tenths of °C to °C), the text
//! attributes as labels of `_info`. No power_supply class: no data: nothing, and success 1 (see
//! `CollectError::NoData`).

use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;
use regex::Regex;

use super::encode::SortedFamilies;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, ParseError, Shared,
    compile_regex, read_attr_once,
};

pub(super) const IGNORED: FlagSpec = FlagSpec::value(
    "--collector.powersupply.ignored-supplies",
    "^$",
    "Regexp of power supplies to ignore for powersupplyclass collector.",
)
.checked(|s| Regex::new(s).map(|_| ()).map_err(|e| e.to_string()));

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "powersupplyclass",
    default_enabled: true,
    help: "Power supplies (batteries, AC) from /sys/class/power_supply",
    flags: &[IGNORED],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    Ok(Box::new(PowerSupplyCollector {
        class: config.paths.sysfs.join("class/power_supply"),
        ignored: compile_regex(IGNORED.name, config.options.value(&IGNORED))?,
    }))
}

/// Numeric attributes: file, metric name (after `node_power_supply_`), divisor.
const NUMBERS: &[(&str, &str, f64)] = &[
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    ("constant_charge_current_max", "constant_charge_current_max", 1e6),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    ("constant_charge_voltage_max", "constant_charge_voltage_max", 1e6),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// Text attributes, labels of `node_power_supply_info` (in label-name order).
const TEXTS: &[&str] = &[
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "scope",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
];

/// Numeric attributes procfs parses but node_exporter does not export (`*_avg`): still
/// checked, since a bad one fails node_exporter's collector too.
const UNEXPORTED: &[&str] = &[
    "charge_avg",
    "current_avg",
    "energy_avg",
    "power_avg",
    "time_to_empty_avg",
    "time_to_full_avg",
    "voltage_avg",
];

struct PowerSupplyCollector {
    class: PathBuf,
    ignored: Regex,
}

/// Whether reading an attribute failed the way procfs shrugs off (absent, not supported by
/// the driver, device gone, invalid).
fn skippable(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), NotFound | Unsupported | InvalidInput)
        || e.raw_os_error() == Some(libc::ENODEV)
        || e.raw_os_error() == Some(libc::EOPNOTSUPP)
}

/// One supply's samples into `out`.
fn supply(dir: &Path, name: &str, out: &mut SortedFamilies) -> Result<(), CollectError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CollectError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut info: Vec<(&'static str, String)> = vec![("power_supply", name.to_owned())];
    for entry in entries.filter_map(Result::ok) {
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let number = NUMBERS.iter().find(|(f, _, _)| *f == file);
        let text = TEXTS.iter().find(|t| **t == file);
        if number.is_none() && text.is_none() && !UNEXPORTED.contains(&file) {
            continue;
        }
        let path = entry.path();
        let value = match read_attr_once(&path) {
            Ok(v) => v.trim().to_owned(),
            Err(e) if skippable(&e) => continue,
            Err(source) => return Err(CollectError::Read { path, source }),
        };
        if let Some(label) = text {
            if !value.is_empty() {
                info.push((label, value));
            }
            continue;
        }
        let v: i64 = value.parse().map_err(|_| {
            CollectError::parse(
                &path,
                ParseError::new(1, format!("{value:?} is not an integer")),
            )
        })?;
        if let Some((_, metric, divisor)) = number {
            out.add(
                format!("node_power_supply_{metric}"),
                format!("{metric} value of /sys/class/power_supply/<power_supply>."),
                vec![("power_supply", name.to_owned())],
                v as f64 / divisor,
            );
        }
    }
    info.sort();
    out.add(
        "node_power_supply_info".into(),
        "info of /sys/class/power_supply/<power_supply>.".into(),
        info,
        1.0,
    );
    Ok(())
}

impl Collector for PowerSupplyCollector {
    /// procfs and sysfs only: nothing found holds until a uevent or a mount.
    fn kernel_only(&self) -> bool {
        true
    }

    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let entries = match super::held::list_dir(&self.class) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CollectError::NoData(format!(
                    "{} does not exist",
                    self.class.display()
                )));
            }
            Err(source) => {
                return Err(CollectError::Read {
                    path: self.class.clone(),
                    source,
                });
            }
        };
        let mut names: Vec<String> = entries
            .into_iter()
            .filter_map(|e| e.name.into_string().ok())
            .filter(|n| !self.ignored.is_match(n))
            .collect();
        names.sort();
        let mut out = SortedFamilies::default();
        for name in &names {
            supply(&self.class.join(name), name, &mut out)?;
        }
        out.encode(enc)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    const BAT0: &[(&str, &[u8])] = &[
        ("sys/class/power_supply/BAT0/capacity", b"81\n"),
        ("sys/class/power_supply/BAT0/capacity_level", b"Normal\n"),
        ("sys/class/power_supply/BAT0/energy_now", b"36580000\n"),
        ("sys/class/power_supply/BAT0/power_now", b"5002000\n"),
        ("sys/class/power_supply/BAT0/voltage_now", b"11660000\n"),
        ("sys/class/power_supply/BAT0/temp", b"283\n"),
        ("sys/class/power_supply/BAT0/status", b"Discharging\n"),
        ("sys/class/power_supply/BAT0/type", b"Battery\n"),
        ("sys/class/power_supply/BAT0/manufacturer", b"\n"),
        ("sys/class/power_supply/BAT0/uevent", b"POWER_SUPPLY_NAME=BAT0\n"),
        ("sys/class/power_supply/AC/online", b"0\n"),
        ("sys/class/power_supply/AC/type", b"Mains\n"),
    ];

    #[test]
    fn a_battery_and_mains_as_node_exporter_gives_them() {
        let dir = tree(BAT0);
        let body = scrape_of("powersupplyclass", build(&config_for(dir.path())).unwrap());
        assert_eq!(
            samples(&body),
            [
                "node_power_supply_capacity{power_supply=\"BAT0\"} 81.0",
                "node_power_supply_energy_watthour{power_supply=\"BAT0\"} 36.58",
                "node_power_supply_info{power_supply=\"AC\",type=\"Mains\"} 1.0",
                "node_power_supply_info{capacity_level=\"Normal\",power_supply=\"BAT0\",status=\"Discharging\",type=\"Battery\"} 1.0",
                "node_power_supply_online{power_supply=\"AC\"} 0.0",
                "node_power_supply_power_watt{power_supply=\"BAT0\"} 5.002",
                "node_power_supply_temp_celsius{power_supply=\"BAT0\"} 28.3",
                "node_power_supply_voltage_volt{power_supply=\"BAT0\"} 11.66",
            ]
        );
        assert!(body.contains("# HELP node_power_supply_capacity capacity value of /sys/class/power_supply/<power_supply>.\n# TYPE node_power_supply_capacity gauge\n"));
        assert!(body.contains("# HELP node_power_supply_info info of /sys/class/power_supply/<power_supply>.\n"));

        let mut config = config_for(dir.path());
        config.options.set(&IGNORED, vec!["^BAT".into()]);
        let body = scrape_of("powersupplyclass", build(&config).unwrap());
        assert_eq!(
            samples(&body),
            [
                "node_power_supply_info{power_supply=\"AC\",type=\"Mains\"} 1.0",
                "node_power_supply_online{power_supply=\"AC\"} 0.0",
            ]
        );
    }

    #[test]
    fn a_value_that_is_no_number_fails_naming_the_file_and_none_is_no_data() {
        let dir = tree(&[("sys/class/power_supply/BAT0/capacity", b"full\n")]);
        let config = config_for(dir.path());
        let mut out = SortedFamilies::default();
        let path = config.paths.sysfs.join("class/power_supply/BAT0");
        let err = supply(&path, "BAT0", &mut out).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "parsing {}/capacity: line 1: \"full\" is not an integer",
                path.display()
            )
        );
        let body = scrape_of("powersupplyclass", build(&config).unwrap());
        assert!(body.contains("node_scrape_collector_success{collector=\"powersupplyclass\"} 0\n"));

        let dir = tree(&[]);
        let body = scrape_of("powersupplyclass", build(&config_for(dir.path())).unwrap());
        assert!(samples(&body).is_empty());
        assert!(body.contains("node_scrape_collector_success{collector=\"powersupplyclass\"} 1\n"));
    }
}
