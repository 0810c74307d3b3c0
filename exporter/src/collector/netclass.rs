//! netclass: `node_network_{up,info,mtu_bytes,speed_bytes,carrier,...}{device}` from the
//! attribute files of `<sysfs>/class/net/<iface>/`, node_exporter's default (sysfs) path.
//!
//! node_exporter lists each interface's directory and reads every regular file in it; the
//! attributes it exports are a fixed set, so this reads those files by name (fewer syscalls, no
//! directory walk). An attribute the kernel lacks for a device (`speed` of a virtual one: ENOENT,
//! EINVAL or EOPNOTSUPP) is left out, as node_exporter does.

use std::ffi::CStr;
use std::io;
use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;
use regex::Regex;

use super::encode::{counter, counter_family, gauge, gauge_family};
use super::read::{AttrDir, attr_absent, parse_sysfs_int};
use super::{
    CollectError, Collector, CollectorSpec, Config, ConfigError, FlagSpec, Shared, compile_regex,
};

pub const IGNORED_DEVICES: FlagSpec = FlagSpec::value(
    "--collector.netclass.ignored-devices",
    "^$",
    "Regexp of net devices to ignore for netclass collector.",
);

pub const IGNORE_INVALID_SPEED: FlagSpec = FlagSpec::switch(
    "--collector.netclass.ignore-invalid-speed",
    false,
    "Ignore devices where the speed is invalid. This will be the default behavior in 2.x.",
);

pub(super) const SPEC: CollectorSpec = CollectorSpec {
    name: "netclass",
    default_enabled: true,
    help: "Network interface properties from /sys/class/net",
    flags: &[IGNORED_DEVICES, IGNORE_INVALID_SPEED],
    build,
};

/// The numeric attributes: (file, family name without `_total`, HELP, is a counter), in
/// node_exporter's order. The HELP names the field as node_exporter's `getFieldDesc` does.
const NUMERIC: [(&CStr, &str, &str, bool); 17] = [
    (
        c"addr_assign_type",
        "node_network_address_assign_type",
        "Network device property: address_assign_type",
        false,
    ),
    (
        c"carrier",
        "node_network_carrier",
        "Network device property: carrier",
        false,
    ),
    (
        c"carrier_changes",
        "node_network_carrier_changes",
        "Network device property: carrier_changes_total",
        true,
    ),
    (
        c"carrier_up_count",
        "node_network_carrier_up_changes",
        "Network device property: carrier_up_changes_total",
        true,
    ),
    (
        c"carrier_down_count",
        "node_network_carrier_down_changes",
        "Network device property: carrier_down_changes_total",
        true,
    ),
    (
        c"dev_id",
        "node_network_device_id",
        "Network device property: device_id",
        false,
    ),
    (
        c"dormant",
        "node_network_dormant",
        "Network device property: dormant",
        false,
    ),
    (
        c"flags",
        "node_network_flags",
        "Network device property: flags",
        false,
    ),
    (
        c"ifindex",
        "node_network_iface_id",
        "Network device property: iface_id",
        false,
    ),
    (
        c"iflink",
        "node_network_iface_link",
        "Network device property: iface_link",
        false,
    ),
    (
        c"link_mode",
        "node_network_iface_link_mode",
        "Network device property: iface_link_mode",
        false,
    ),
    (
        c"mtu",
        "node_network_mtu_bytes",
        "Network device property: mtu_bytes",
        false,
    ),
    (
        c"name_assign_type",
        "node_network_name_assign_type",
        "Network device property: name_assign_type",
        false,
    ),
    (
        c"netdev_group",
        "node_network_net_dev_group",
        "Network device property: net_dev_group",
        false,
    ),
    (
        c"speed",
        "node_network_speed_bytes",
        "Network device property: speed_bytes",
        false,
    ),
    (
        c"tx_queue_len",
        "node_network_transmit_queue_length",
        "Network device property: transmit_queue_length",
        false,
    ),
    (
        c"type",
        "node_network_protocol_type",
        "Network device property: protocol_type",
        false,
    ),
];
const FLAGS: usize = 7;
const SPEED: usize = 14;

/// The text attributes, for `node_network_info` (and `up` from operstate).
const TEXT: [&CStr; 5] = [c"address", c"broadcast", c"duplex", c"operstate", c"ifalias"];
const OPERSTATE: usize = 3;

/// One interface's attributes; `None`/empty where the file is absent or not a number.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub numeric: [Option<i64>; NUMERIC.len()],
    pub text: [String; TEXT.len()],
}

/// Attribute files that could not be read for a reason other than being absent.
type AttrErrors = Vec<(PathBuf, io::Error)>;

/// Reads one interface's directory. `None`: the device vanished since it was listed.
/// `errors` gets the attributes that could not be read for another reason (EIO...): they are
/// left out, the rest of the device kept.
fn read_iface(
    dir: &Path,
    name: String,
    buf: &mut Vec<u8>,
    errors: &mut AttrErrors,
) -> Option<Iface> {
    let attrs = match AttrDir::open(dir) {
        Ok(d) => d,
        // Gone since it was listed.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            errors.push((dir.to_owned(), e));
            return None;
        }
    };
    let mut iface = Iface {
        name,
        ..Iface::default()
    };
    let mut read = |file: &CStr, buf: &mut Vec<u8>| -> Option<String> {
        match attrs.read(file, buf) {
            Ok(s) => Some(s.to_owned()),
            Err(e) if attr_absent(&e) => None,
            Err(e) => {
                errors.push((dir.join(file.to_string_lossy().as_ref()), e));
                None
            }
        }
    };
    for (slot, (file, ..)) in iface.numeric.iter_mut().zip(NUMERIC) {
        *slot = read(file, buf).and_then(|s| parse_sysfs_int(&s));
    }
    for (slot, file) in iface.text.iter_mut().zip(TEXT) {
        *slot = read(file, buf).unwrap_or_default();
    }
    Some(iface)
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let options = &config.options;
    Ok(Box::new(NetclassCollector {
        dir: config.paths.sysfs.join("class/net"),
        ignored: compile_regex(IGNORED_DEVICES.name, options.value(&IGNORED_DEVICES))?,
        ignore_invalid_speed: options.switch(&IGNORE_INVALID_SPEED),
    }))
}

struct NetclassCollector {
    dir: PathBuf,
    ignored: Regex,
    ignore_invalid_speed: bool,
}

impl NetclassCollector {
    /// Every interface not ignored, sorted by name, plus the attributes that failed.
    fn read(&self) -> Result<(Vec<Iface>, AttrErrors), CollectError> {
        let entries =
            std::fs::read_dir(&self.dir).map_err(|e| CollectError::listing(&self.dir, e))?;
        let mut ifaces = Vec::new();
        let mut errors = Vec::new();
        let mut buf = Vec::with_capacity(256);
        for entry in entries.flatten() {
            // `bonding_masters` is a file; devices are symlinks (or directories in fixtures).
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            // A non-UTF-8 name costs nothing but its spelling (U+FFFD), as in netdev.
            let name = entry.file_name().to_string_lossy().into_owned();
            if self.ignored.is_match(&name) {
                continue;
            }
            if let Some(iface) = read_iface(&entry.path(), name, &mut buf, &mut errors) {
                ifaces.push(iface);
            }
        }
        ifaces.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((ifaces, errors))
    }
}

impl Collector for NetclassCollector {
    fn update(&self, _shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let (ifaces, errors) = self.read()?;
        encode(&ifaces, self.ignore_invalid_speed, enc)?;
        // The devices' other attributes are out; the failure is still reported.
        match errors.into_iter().next() {
            Some((path, source)) => Err(CollectError::Read { path, source }),
            None => Ok(()),
        }
    }
}

fn encode(
    ifaces: &[Iface],
    ignore_invalid_speed: bool,
    enc: &mut DescriptorEncoder<'_>,
) -> Result<(), CollectError> {
    if ifaces.is_empty() {
        return Ok(());
    }
    let mut family = gauge_family(
        enc,
        "node_network_up",
        "Value is 1 if operstate is 'up', 0 otherwise.",
    )?;
    for i in ifaces {
        let up = u64::from(i.text[OPERSTATE] == "up");
        gauge(&mut family, &[("device", i.name.as_str())], up)?;
    }
    let mut family = gauge_family(
        enc,
        "node_network_info",
        "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
    )?;
    for i in ifaces {
        // net.FlagUp is bit 0 of `flags`.
        let adminstate = match i.numeric[FLAGS] {
            None => "unknown",
            Some(f) if f & 1 == 1 => "up",
            Some(_) => "down",
        };
        let [address, broadcast, duplex, operstate, ifalias] = &i.text;
        // In node_exporter's output order (sorted label names).
        let labels = [
            ("address", address.as_str()),
            ("adminstate", adminstate),
            ("broadcast", broadcast.as_str()),
            ("device", i.name.as_str()),
            ("duplex", duplex.as_str()),
            ("ifalias", ifalias.as_str()),
            ("operstate", operstate.as_str()),
        ];
        gauge(&mut family, &labels, 1u64)?;
    }
    for (k, (_, name, help, is_counter)) in NUMERIC.iter().enumerate() {
        let value = |i: &Iface| match i.numeric[k] {
            // Some devices say -1 when the speed is unknown.
            Some(s) if k == SPEED => {
                (s >= 0 || !ignore_invalid_speed).then(|| s.saturating_mul(1_000_000) / 8)
            }
            v => v,
        };
        if !ifaces.iter().any(|i| value(i).is_some()) {
            continue;
        }
        if *is_counter {
            let mut family = counter_family(enc, name, help)?;
            for i in ifaces {
                if let Some(v) = value(i).and_then(|v| u64::try_from(v).ok()) {
                    counter(&mut family, &[("device", i.name.as_str())], v)?;
                }
            }
        } else {
            let mut family = gauge_family(enc, name, help)?;
            for i in ifaces {
                if let Some(v) = value(i) {
                    gauge(&mut family, &[("device", i.name.as_str())], v)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{config_for, samples, scrape_of, tree};
    use super::*;

    #[test]
    fn sysfs_integers_parse_as_gos_base_0() {
        for (s, want) in [
            ("1500", Some(1500)),
            ("0x1303", Some(4867)),
            ("0X10", Some(16)),
            ("-1", Some(-1)),
            ("0", Some(0)),
            ("010", Some(8)),
            ("0b11", Some(3)),
            ("", None),
            ("0x", None),
            ("--1", None),
            ("up", None),
            ("99999999999999999999", None),
        ] {
            assert_eq!(parse_sysfs_int(s), want, "{s:?}");
        }
    }

    /// eth0 of node_exporter's fixture tree, plus a virtual device without speed/duplex.
    fn fixture() -> tempfile::TempDir {
        let eth0: &[(&str, &[u8])] = &[
            ("addr_assign_type", b"3\n"),
            ("address", b"01:01:01:01:01:01\n"),
            ("broadcast", b"ff:ff:ff:ff:ff:ff\n"),
            ("carrier", b"1\n"),
            ("carrier_changes", b"2\n"),
            ("carrier_down_count", b"1\n"),
            ("carrier_up_count", b"1\n"),
            ("dev_id", b"0x20\n"),
            ("dormant", b"1\n"),
            ("duplex", b"full\n"),
            ("flags", b"0x1303\n"),
            ("ifalias", b"\n"),
            ("ifindex", b"2\n"),
            ("iflink", b"2\n"),
            ("link_mode", b"1\n"),
            ("mtu", b"1500\n"),
            ("name_assign_type", b"2\n"),
            ("netdev_group", b"0\n"),
            ("operstate", b"up\n"),
            ("speed", b"1000\n"),
            ("tx_queue_len", b"1000\n"),
            ("type", b"1\n"),
        ];
        let mut files: Vec<(String, &[u8])> = eth0
            .iter()
            .map(|(f, v)| (format!("sys/class/net/eth0/{f}"), *v))
            .collect();
        files.push(("sys/class/net/bonding_masters".into(), b"bond0\n"));
        files.push(("sys/class/net/dmz/operstate".into(), b"up\n"));
        for (f, v) in [
            ("operstate", &b"unknown\n"[..]),
            ("flags", b"0x8\n"),
            ("mtu", b"65536\n"),
            ("speed", b"-1\n"),
        ] {
            files.push((format!("sys/class/net/lo/{f}"), v));
        }
        let files: Vec<(&str, &[u8])> = files.iter().map(|(p, v)| (p.as_str(), *v)).collect();
        tree(&files)
    }

    fn scrape(dir: &Path, options: &[(&FlagSpec, &str)]) -> String {
        let mut config = config_for(dir);
        for (flag, value) in options {
            config.options.set(flag, vec![value.to_string()]);
        }
        scrape_of("netclass", build(&config).unwrap())
    }

    #[test]
    fn exports_node_exporters_fixture_lines() {
        let dir = fixture();
        let body = scrape(
            dir.path(),
            &[
                (&IGNORED_DEVICES, "(dmz|int)"),
                (&IGNORE_INVALID_SPEED, "true"),
            ],
        );
        let samples = samples(&body);
        // Lines of e2e-output.txt (eth0), with our spelling of 1.25e+08.
        for line in [
            "node_network_up{device=\"eth0\"} 1",
            "node_network_info{address=\"01:01:01:01:01:01\",adminstate=\"up\",broadcast=\"ff:ff:ff:ff:ff:ff\",device=\"eth0\",duplex=\"full\",ifalias=\"\",operstate=\"up\"} 1",
            "node_network_address_assign_type{device=\"eth0\"} 3",
            "node_network_carrier{device=\"eth0\"} 1",
            "node_network_carrier_changes_total{device=\"eth0\"} 2",
            "node_network_carrier_down_changes_total{device=\"eth0\"} 1",
            "node_network_carrier_up_changes_total{device=\"eth0\"} 1",
            "node_network_device_id{device=\"eth0\"} 32",
            "node_network_dormant{device=\"eth0\"} 1",
            "node_network_flags{device=\"eth0\"} 4867",
            "node_network_iface_id{device=\"eth0\"} 2",
            "node_network_iface_link{device=\"eth0\"} 2",
            "node_network_iface_link_mode{device=\"eth0\"} 1",
            "node_network_mtu_bytes{device=\"eth0\"} 1500",
            "node_network_name_assign_type{device=\"eth0\"} 2",
            "node_network_net_dev_group{device=\"eth0\"} 0",
            "node_network_protocol_type{device=\"eth0\"} 1",
            "node_network_speed_bytes{device=\"eth0\"} 125000000",
            "node_network_transmit_queue_length{device=\"eth0\"} 1000",
            // lo: only what it has; its speed of -1 is ignored, adminstate from flags.
            "node_network_up{device=\"lo\"} 0",
            "node_network_info{address=\"\",adminstate=\"down\",broadcast=\"\",device=\"lo\",duplex=\"\",ifalias=\"\",operstate=\"unknown\"} 1",
            "node_network_flags{device=\"lo\"} 8",
            "node_network_mtu_bytes{device=\"lo\"} 65536",
        ] {
            assert!(samples.contains(&line), "{line} missing from\n{body}");
        }
        assert_eq!(samples.len(), 23, "{body}");
        assert!(!body.contains("dmz"), "{body}");
        assert!(body.contains(
            "# HELP node_network_carrier_changes Network device property: carrier_changes_total\n# TYPE node_network_carrier_changes counter\n"
        ));
        assert!(body.contains("node_scrape_collector_success{collector=\"netclass\"} 1\n"));
    }

    #[test]
    fn an_invalid_speed_is_exported_unless_ignored() {
        let dir = fixture();
        let body = scrape(dir.path(), &[(&IGNORED_DEVICES, "eth0|dmz")]);
        assert_eq!(
            samples(&body)
                .into_iter()
                .filter(|l| l.contains("speed"))
                .collect::<Vec<_>>(),
            ["node_network_speed_bytes{device=\"lo\"} -125000"]
        );
    }

    #[test]
    fn no_class_net_is_no_data_and_a_bad_attribute_costs_only_itself() {
        let dir = tree(&[("sys/other", b"")]);
        let body = scrape(dir.path(), &[]);
        assert_eq!(samples(&body), Vec::<&str>::new());
        assert!(body.contains("node_scrape_collector_success{collector=\"netclass\"} 1\n"));

        // A directory where an attribute file should be: EISDIR, not an absent attribute.
        let dir = tree(&[
            ("sys/class/net/eth0/mtu/x", b""),
            ("sys/class/net/eth0/operstate", b"up\n"),
            ("sys/class/net/eth0/carrier", b"garbage\n"),
        ]);
        let body = scrape(dir.path(), &[]);
        assert_eq!(
            samples(&body),
            [
                "node_network_up{device=\"eth0\"} 1",
                "node_network_info{address=\"\",adminstate=\"unknown\",broadcast=\"\",device=\"eth0\",duplex=\"\",ifalias=\"\",operstate=\"up\"} 1",
            ]
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"netclass\"} 0\n"));
    }
}
