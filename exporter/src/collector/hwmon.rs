//! hwmon: the sensors of `<sysfs>/class/hwmon/*` (temperatures, fans, voltages, power...) as
//! `node_hwmon_*`, as node_exporter's collector/hwmon_linux.go names them, with its
//! `--collector.hwmon.{chip,sensor}-{include,exclude}` filters. No /sys/class/hwmon: no data: nothing, and
//! success 1 (see `CollectError::NoData`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;
use regex::Regex;

use super::encode::SortedFamilies;
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, Shared, compile_regex,
    read_attr_once,
};

fn valid_regex(s: &str) -> Result<(), String> {
    Regex::new(s).map(|_| ()).map_err(|e| e.to_string())
}

pub(super) const CHIP_INCLUDE: FlagSpec = FlagSpec::value(
    "--collector.hwmon.chip-include",
    "",
    "Regexp of hwmon chip to include (mutually exclusive to device-exclude).",
)
.checked(valid_regex);
pub(super) const CHIP_EXCLUDE: FlagSpec = FlagSpec::value(
    "--collector.hwmon.chip-exclude",
    "",
    "Regexp of hwmon chip to exclude (mutually exclusive to device-include).",
)
.checked(valid_regex);
pub(super) const SENSOR_INCLUDE: FlagSpec = FlagSpec::value(
    "--collector.hwmon.sensor-include",
    "",
    "Regexp of hwmon sensor to include (mutually exclusive to sensor-exclude).",
)
.checked(valid_regex);
pub(super) const SENSOR_EXCLUDE: FlagSpec = FlagSpec::value(
    "--collector.hwmon.sensor-exclude",
    "",
    "Regexp of hwmon sensor to exclude (mutually exclusive to sensor-include).",
)
.checked(valid_regex);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "hwmon",
    default_enabled: true,
    help: "Hardware sensors from /sys/class/hwmon",
    flags: &[CHIP_INCLUDE, CHIP_EXCLUDE, SENSOR_INCLUDE, SENSOR_EXCLUDE],
    build,
};

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let filter = |exclude: &FlagSpec, include: &FlagSpec| -> Result<Filter, ConfigError> {
        let compile = |flag: &FlagSpec| {
            let v = config.options.value(flag);
            (!v.is_empty())
                .then(|| compile_regex(flag.name, v))
                .transpose()
        };
        Ok(Filter {
            exclude: compile(exclude)?,
            include: compile(include)?,
        })
    };
    Ok(Box::new(HwmonCollector {
        class: config.paths.sysfs.join("class/hwmon"),
        chips: filter(&CHIP_EXCLUDE, &CHIP_INCLUDE)?,
        sensors: filter(&SENSOR_EXCLUDE, &SENSOR_INCLUDE)?,
    }))
}

/// node_exporter's deviceFilter: unanchored matches.
struct Filter {
    exclude: Option<Regex>,
    include: Option<Regex>,
}

impl Filter {
    fn ignored(&self, name: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(name))
            || self.include.as_ref().is_some_and(|r| !r.is_match(name))
    }
}

/// The sensor types node_exporter reads.
const SENSOR_TYPES: [&str; 14] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
    "freq",
];

/// Lower case, anything but `[a-z0-9:_]` made `_`, `_` trimmed off both ends.
pub fn clean_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    cleaned.trim_matches('_').to_owned()
}

/// Splits a sensor file name `<type><num>_<property>` (`temp1_crit_alarm` → `temp`, 1,
/// `crit_alarm`), as node_exporter's regex `^([^0-9]+)([0-9]*)?(_(.+))?$` does: a name without
/// digits is all type (`beep_enable`).
pub fn explode(name: &str) -> Option<(&str, u32, &str)> {
    let Some(d) = name.find(|c: char| c.is_ascii_digit()) else {
        return (!name.is_empty()).then_some((name, 0, ""));
    };
    if d == 0 {
        return None;
    }
    let end = name[d..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(name.len(), |e| d + e);
    let num = name[d..end].parse().ok()?;
    let rest = &name[end..];
    let property = match rest.strip_prefix('_') {
        _ if rest.is_empty() => "",
        Some(p) if !p.is_empty() => p,
        _ => return None,
    };
    Some((&name[..d], num, property))
}

/// A sensor's files: property (`""` for the bare `in0`) → contents.
type Sensors = BTreeMap<String, BTreeMap<String, String>>;

/// Adds the sensor files of `dir` to `data`.
fn collect_sensors(dir: &Path, data: &mut Sensors) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let Some((kind, num, property)) = explode(file) else {
            continue;
        };
        if !SENSOR_TYPES.contains(&kind) {
            continue;
        }
        if let Ok(value) = read_attr_once(&dir.join(file)) {
            let value = value.trim_matches('\n').to_owned();
            data.entry(format!("{kind}{num}"))
                .or_default()
                .insert(property.to_owned(), value);
        }
    }
    Ok(())
}

/// One chip's samples, as node_exporter's updateHwmon makes them.
pub(crate) fn chip_samples(
    chip: &str,
    chip_name: Option<&str>,
    data: &Sensors,
    sensors: &dyn Fn(&str) -> bool,
    out: &mut SortedFamilies,
) {
    let labels = |sensor: &str| vec![("chip", chip.to_owned()), ("sensor", sensor.to_owned())];
    if let Some(name) = chip_name {
        out.add(
            "node_hwmon_chip_names".into(),
            "Annotation metric for human-readable chip names".into(),
            vec![("chip", chip.to_owned()), ("chip_name", name.to_owned())],
            1.0,
        );
    }
    for (sensor, props) in data {
        if !sensors(&format!("{chip};{sensor}")) {
            continue;
        }
        let Some((kind, _, _)) = explode(sensor) else {
            continue;
        };
        if let Some(label) = props.get("label") {
            out.add(
                "node_hwmon_sensor_label".into(),
                "Label for given chip and sensor".into(),
                vec![
                    ("chip", chip.to_owned()),
                    ("label", label.clone()),
                    ("sensor", sensor.clone()),
                ],
                1.0,
            );
        }
        let bare = props.get("").map(String::as_str);
        match kind {
            "beep_enable" => {
                let v = if bare == Some("1") { 1.0 } else { 0.0 };
                out.add(
                    "node_hwmon_beep_enabled".into(),
                    "Hardware beep enabled".into(),
                    labels(sensor),
                    v,
                );
                continue;
            }
            "vrm" | "update_interval" => {
                let Some(v) = bare.and_then(|b| b.parse::<f64>().ok()) else {
                    continue;
                };
                let (name, help, v) = if kind == "vrm" {
                    ("node_hwmon_voltage_regulator_version", "Hardware voltage regulator", v)
                } else {
                    (
                        "node_hwmon_update_interval_seconds",
                        "Hardware monitor update interval",
                        v * 0.001,
                    )
                };
                out.add(name.into(), help.into(), labels(sensor), v);
                continue;
            }
            _ => {}
        }
        let prefix = format!("node_hwmon_{kind}");
        for (element, value) in props {
            let element = element.as_str();
            if element == "label" {
                continue;
            }
            let name = match element {
                "input" if bare.is_some() => format!("{prefix}_input"),
                "input" | "" => prefix.clone(),
                e => format!("{prefix}_{}", clean_name(e)),
            };
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            let (name, help, v) = match (kind, element) {
                (_, "fault" | "alarm") => (
                    name,
                    format!("Hardware sensor {element} status ({kind})"),
                    v,
                ),
                (_, "beep") => (
                    format!("{name}_enabled"),
                    "Hardware monitor sensor has beeping enabled".into(),
                    v,
                ),
                ("in" | "cpu", _) => (
                    format!("{name}_volts"),
                    format!("Hardware monitor for voltage ({element})"),
                    v * 0.001,
                ),
                ("temp", e) if e != "type" => (
                    format!("{name}_celsius"),
                    format!(
                        "Hardware monitor for temperature ({})",
                        if e.is_empty() { "input" } else { e }
                    ),
                    v * 0.001,
                ),
                ("curr", _) => (
                    format!("{name}_amps"),
                    format!("Hardware monitor for current ({element})"),
                    v * 0.001,
                ),
                ("energy", _) => {
                    out.add_kind(
                        format!("{name}_joule_total"),
                        format!("Hardware monitor for joules used so far ({element})"),
                        true,
                        labels(sensor),
                        v / 1000000.0,
                    );
                    continue;
                }
                ("power", "accuracy") => (
                    name,
                    "Hardware monitor power meter accuracy, as a ratio".into(),
                    v / 1000000.0,
                ),
                ("power", "average_interval" | "average_interval_min" | "average_interval_max") => (
                    format!("{name}_seconds"),
                    format!("Hardware monitor power usage update interval ({element})"),
                    v * 0.001,
                ),
                ("power", _) => (
                    format!("{name}_watt"),
                    format!("Hardware monitor for power usage in watts ({element})"),
                    v / 1000000.0,
                ),
                ("humidity", _) => (
                    name,
                    format!("Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({element})"),
                    v / 1000000.0,
                ),
                ("fan", "input" | "min" | "max" | "target") => (
                    format!("{name}_rpm"),
                    format!("Hardware monitor for fan revolutions per minute ({element})"),
                    v,
                ),
                ("freq", "input") => {
                    // node_exporter labels a frequency by its label, and skips one without.
                    if let Some(label) = props.get("label") {
                        out.add(
                            format!("{name}_freq_mhz"),
                            "Hardware monitor for GPU frequency in MHz".into(),
                            labels(&clean_name(label)),
                            v / 1000000.0,
                        );
                    }
                    continue;
                }
                _ => (
                    name,
                    format!("Hardware monitor {kind} element {element}"),
                    v,
                ),
            };
            out.add(name, help, labels(sensor), v);
        }
    }
}

struct HwmonCollector {
    class: PathBuf,
    chips: Filter,
    sensors: Filter,
}

/// The chip label node_exporter derives for a hwmon directory: `<bus>_<device>` of its
/// device link, else its `name` file, else the directory's own name.
fn base_name(dir: &Path) -> Option<String> {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let dev_name = device
            .file_name()
            .map(|n| clean_name(&n.to_string_lossy()));
        let dev_type = device
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean_name(&n.to_string_lossy()));
        match (dev_type, dev_name) {
            (Some(t), Some(n)) if !t.is_empty() && !n.is_empty() => return Some(format!("{t}_{n}")),
            (_, Some(n)) if !n.is_empty() => return Some(n),
            _ => {}
        }
    }
    if let Ok(name) = std::fs::read_to_string(dir.join("name")) {
        let name = clean_name(&name);
        if !name.is_empty() {
            return Some(name);
        }
    }
    let real = std::fs::canonicalize(dir).ok()?;
    let name = clean_name(&real.file_name()?.to_string_lossy());
    (!name.is_empty()).then_some(name)
}

impl Collector for HwmonCollector {
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
        // Pass 1: each chip's base name and `name` file, counted, since several hwmon
        // directories may share one device (asus-nb-wmi has two).
        let mut chips = Vec::new();
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut name_counts: HashMap<(String, String), usize> = HashMap::new();
        let mut dirs: Vec<PathBuf> = entries
            .into_iter()
            .map(|e| self.class.join(e.name))
            .collect();
        dirs.sort();
        for dir in dirs {
            if !std::fs::metadata(&dir).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            let Some(base) = base_name(&dir) else {
                continue;
            };
            let name_file = std::fs::read_to_string(dir.join("name"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_default();
            *counts.entry(base.clone()).or_default() += 1;
            *name_counts
                .entry((base.clone(), name_file.clone()))
                .or_default() += 1;
            chips.push((dir, base, name_file));
        }
        // Pass 2: a unique chip label, then the filter on that label.
        let mut out = SortedFamilies::default();
        let mut last_err = None;
        for (dir, base, name_file) in &chips {
            let mut chip = base.clone();
            if counts[base] > 1 {
                let mut suffix = clean_name(name_file);
                if suffix.is_empty() || name_counts[&(base.clone(), name_file.clone())] > 1 {
                    suffix = clean_name(&dir.file_name().unwrap_or_default().to_string_lossy());
                }
                chip = format!("{base}_{suffix}");
            }
            if self.chips.ignored(&chip) {
                continue;
            }
            let mut data = Sensors::new();
            if let Err(source) = collect_sensors(dir, &mut data) {
                last_err = Some(CollectError::Read {
                    path: dir.clone(),
                    source,
                });
                continue;
            }
            let device = dir.join("device");
            if device.exists()
                && let Err(source) = collect_sensors(&device, &mut data)
            {
                last_err = Some(CollectError::Read {
                    path: device,
                    source,
                });
                continue;
            }
            let chip_name = std::fs::read_to_string(dir.join("name"))
                .ok()
                .map(|n| clean_name(&n))
                .filter(|n| !n.is_empty());
            let sensors = |s: &str| !self.sensors.ignored(s);
            chip_samples(&chip, chip_name.as_deref(), &data, &sensors, &mut out);
        }
        out.encode(enc)?;
        last_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, logs_of, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn sensor_file_names_split_as_node_exporter_does() {
        assert_eq!(explode("temp1_crit_alarm"), Some(("temp", 1, "crit_alarm")));
        assert_eq!(explode("in0_input"), Some(("in", 0, "input")));
        assert_eq!(explode("pwm1_auto_point1_pwm"), Some(("pwm", 1, "auto_point1_pwm")));
        assert_eq!(explode("beep_enable"), Some(("beep_enable", 0, "")));
        assert_eq!(explode("in1"), Some(("in", 1, "")));
        assert_eq!(explode("fan1_"), None);
        assert_eq!(explode("1fan"), None);
        assert_eq!(explode("in0x"), None);
        assert_eq!(clean_name("Physical id 0\n"), "physical_id_0");
        assert_eq!(clean_name("asus-nb-wmi"), "asus_nb_wmi");
    }

    /// A chip as the kernel lays it out: `class/hwmon/hwmon0 -> ../../devices/...`.
    fn chip(dir: &Path, files: &[(&str, &str)]) {
        let real = dir.join("sys/devices/platform/nct6775.656/hwmon/hwmon0");
        std::fs::create_dir_all(&real).unwrap();
        for (f, v) in files {
            std::fs::write(real.join(f), v).unwrap();
        }
        std::os::unix::fs::symlink("../../../nct6775.656", real.join("device")).unwrap();
        std::fs::create_dir_all(dir.join("sys/class/hwmon")).unwrap();
        std::os::unix::fs::symlink(
            "../../devices/platform/nct6775.656/hwmon/hwmon0",
            dir.join("sys/class/hwmon/hwmon0"),
        )
        .unwrap();
    }

    #[test]
    fn a_chip_gives_node_exporters_lines() {
        let dir = tree(&[]);
        chip(
            dir.path(),
            &[
                ("name", "nct6779\n"),
                ("temp1_input", "55000\n"),
                ("temp1_label", "Core 0\n"),
                ("temp1_crit_alarm", "0\n"),
                ("in0_input", "792\n"),
                ("fan2_input", "1098\n"),
                ("fan2_alarm", "0\n"),
                ("fan2_pulses", "2\n"),
                ("power1_average", "345000000\n"),
                ("energy1_input", "1234000000\n"),
                ("intrusion0_beep", "0\n"),
                ("pwm1", "153\n"),
                ("uevent", "x\n"),
            ],
        );
        let body = scrape_of("hwmon", build(&config_for(dir.path())).unwrap());
        let chip = "chip=\"platform_nct6775_656\"";
        let want = [
            format!("node_hwmon_chip_names{{{chip},chip_name=\"nct6779\"}} 1.0"),
            format!("node_hwmon_energy_joule_total{{{chip},sensor=\"energy1\"}} 1234.0"),
            format!("node_hwmon_fan_alarm{{{chip},sensor=\"fan2\"}} 0.0"),
            format!("node_hwmon_fan_pulses{{{chip},sensor=\"fan2\"}} 2.0"),
            format!("node_hwmon_fan_rpm{{{chip},sensor=\"fan2\"}} 1098.0"),
            format!("node_hwmon_in_volts{{{chip},sensor=\"in0\"}} 0.792"),
            format!("node_hwmon_intrusion_beep_enabled{{{chip},sensor=\"intrusion0\"}} 0.0"),
            format!("node_hwmon_power_average_watt{{{chip},sensor=\"power1\"}} 345.0"),
            format!("node_hwmon_pwm{{{chip},sensor=\"pwm1\"}} 153.0"),
            format!("node_hwmon_sensor_label{{{chip},label=\"Core 0\",sensor=\"temp1\"}} 1.0"),
            format!("node_hwmon_temp_celsius{{{chip},sensor=\"temp1\"}} 55.0"),
            format!("node_hwmon_temp_crit_alarm_celsius{{{chip},sensor=\"temp1\"}} 0.0"),
        ];
        assert_eq!(samples(&body), want, "{body}");
        for help in [
            "# HELP node_hwmon_temp_celsius Hardware monitor for temperature (input)\n# TYPE node_hwmon_temp_celsius gauge\n",
            "# HELP node_hwmon_energy_joule Hardware monitor for joules used so far (input)\n# TYPE node_hwmon_energy_joule counter\n",
            "# HELP node_hwmon_fan_alarm Hardware sensor alarm status (fan)\n",
            "# HELP node_hwmon_pwm Hardware monitor pwm element \n",
        ] {
            assert!(body.contains(help), "{help} in {body}");
        }
    }

    #[test]
    fn chip_and_sensor_filters_apply_to_the_labels() {
        let dir = tree(&[]);
        chip(
            dir.path(),
            &[("temp1_input", "55000\n"), ("temp2_input", "56000\n")],
        );
        let mut config = config_for(dir.path());
        config
            .options
            .set(&SENSOR_EXCLUDE, vec!["platform_nct6775_656;temp2".into()]);
        let body = scrape_of("hwmon", build(&config).unwrap());
        assert_eq!(
            samples(&body),
            ["node_hwmon_temp_celsius{chip=\"platform_nct6775_656\",sensor=\"temp1\"} 55.0"]
        );
        config.options.set(&CHIP_INCLUDE, vec!["coretemp".into()]);
        let body = scrape_of("hwmon", build(&config).unwrap());
        assert!(samples(&body).is_empty(), "{body}");
        config.options.set(&CHIP_INCLUDE, vec!["[".into()]);
        let err = build(&config).err().unwrap().to_string();
        assert!(
            err.starts_with("--collector.hwmon.chip-include: invalid regular expression \"[\""),
            "{err}"
        );
    }

    #[test]
    fn no_hwmon_class_is_nothing_and_no_failure_nor_warning() {
        let dir = tree(&[]);
        let mut body = String::new();
        let logs = logs_of(|| body = scrape_of("hwmon", build(&config_for(dir.path())).unwrap()));
        assert_eq!(logs, "");
        assert!(body.contains("node_scrape_collector_success{collector=\"hwmon\"} 1\n"));
        assert!(samples(&body).is_empty());
    }
}
