//! netclass: `node_network_{up,info,mtu_bytes,speed_bytes,carrier,...}{device}` from the
//! attribute files of `<sysfs>/class/net/<iface>/`, node_exporter's default (sysfs) path.
//! When that is the real /sys (of this network namespace), most attributes come from one
//! rtnetlink link dump instead, speed and duplex of a device that is up from one ETHTOOL_GSET
//! ioctl (what sysfs' speed and duplex files call), and sysfs is read only for what neither
//! gives (addr_assign_type, dev_id, name_assign_type): ~22 files a device cost ~70 syscalls,
//! most of netclass' time, and each sysfs file costs ~10 us cold. The output is the same (a
//! test compares both ways on the live host).
//!
//! node_exporter lists each interface's directory and reads every regular file in it; the
//! attributes it exports are a fixed set, so this reads those files by name (fewer syscalls, no
//! directory walk). An attribute the kernel lacks for a device (`speed` of a virtual one: ENOENT,
//! EINVAL or EOPNOTSUPP) is left out, as node_exporter does.

use std::ffi::{CStr, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use prometheus_client::encoding::DescriptorEncoder;
use regex::Regex;

use super::encode::{counter, counter_family, gauge, gauge_family};
use super::netlink;
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

/// An interface as an rtnetlink dump describes it: the attributes the dump carries are
/// `known` (an absent one too, where sysfs would say the same: no `carrier` of a device that is
/// down); the rest are read from sysfs.
#[derive(Debug, Default)]
pub struct Link {
    pub iface: Iface,
    /// The name's bytes, for the sysfs path (`iface.name` is its lossy UTF-8 spelling).
    pub raw_name: OsString,
    pub numeric_known: [bool; NUMERIC.len()],
    pub text_known: [bool; TEXT.len()],
    /// IFF_UP: the device is running, so sysfs would show its speed and duplex.
    pub up: bool,
}

// Indices into NUMERIC and TEXT of what the dump carries.
const ADDR_ASSIGN_TYPE: usize = 0;
const CARRIER: usize = 1;
const CARRIER_CHANGES: usize = 2;
const CARRIER_UP: usize = 3;
const CARRIER_DOWN: usize = 4;
const DEV_ID: usize = 5;
const DORMANT: usize = 6;
const IFINDEX: usize = 8;
const IFLINK: usize = 9;
const LINK_MODE: usize = 10;
const MTU: usize = 11;
const NAME_ASSIGN_TYPE: usize = 12;
const GROUP: usize = 13;
const TX_QUEUE_LEN: usize = 15;
const TYPE: usize = 16;
const ADDRESS: usize = 0;
const BROADCAST: usize = 1;
const DUPLEX: usize = 2;
const IFALIAS: usize = 4;

/// The kernel's names of IF_OPER_* (net/core/net-sysfs.c), as sysfs' `operstate` prints them.
const OPERSTATES: [&str; 7] = [
    "unknown",
    "notpresent",
    "down",
    "lowerlayerdown",
    "testing",
    "dormant",
    "up",
];

/// sysfs prints these attributes with `%d`: a u32 over i32::MAX shows negative.
fn dec(v: u32) -> Option<i64> {
    Some(i64::from(v as i32))
}

/// sysfs' `%*phC` spelling of a hardware address: lower-case hex bytes joined by colons.
fn mac(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses one RTM_NEWLINK body (ifinfomsg, then attributes) into what sysfs would show for
/// the attributes the dump carries. Where sysfs answers EINVAL for a device that is not
/// running (carrier, dormant, speed, duplex: net-sysfs.c checks netif_running), the dump's
/// IFF_UP says so. sysfs' `flags` is `dev->flags`; the dump's ifi_flags are dev_get_flags():
/// IFF_RUNNING/LOWER_UP/DORMANT added from the link state and IFF_PROMISC/ALLMULTI as the user
/// asked (gflags), where `dev->flags` has them while their counters (IFLA_PROMISCUITY,
/// IFLA_ALLMULTI) are non-zero (a bridge port is promiscuous without being asked). So `flags`
/// is rebuilt from those; a kernel without IFLA_ALLMULTI (before 6.0) leaves it to sysfs.
pub fn parse_link(body: &[u8]) -> Option<Link> {
    const IFINFOMSG: usize = 16;
    const IFLA_ADDRESS: u16 = 1;
    const IFLA_BROADCAST: u16 = 2;
    const IFLA_IFNAME: u16 = 3;
    const IFLA_MTU: u16 = 4;
    const IFLA_LINK: u16 = 5;
    const IFLA_TXQLEN: u16 = 13;
    const IFLA_OPERSTATE: u16 = 16;
    const IFLA_LINKMODE: u16 = 17;
    const IFLA_IFALIAS: u16 = 20;
    const IFLA_GROUP: u16 = 27;
    const IFLA_CARRIER: u16 = 33;
    const IFLA_CARRIER_CHANGES: u16 = 35;
    const IFLA_CARRIER_UP_COUNT: u16 = 47;
    const IFLA_CARRIER_DOWN_COUNT: u16 = 48;
    const IFLA_PROMISCUITY: u16 = 30;
    const IFLA_ALLMULTI: u16 = 61;
    let head = body.get(..IFINFOMSG)?;
    let mut link = Link::default();
    let (numeric, nk) = (&mut link.iface.numeric, &mut link.numeric_known);
    let mut set = |k: usize, v: Option<i64>| {
        numeric[k] = v;
        nk[k] = true;
    };
    let index = netlink::u32_at(head, 4);
    let flags = netlink::u32_at(head, 8);
    let up = flags & libc::IFF_UP as u32 != 0;
    link.up = up;
    set(TYPE, Some(i64::from(netlink::u16_at(head, 2))));
    set(IFINDEX, dec(index));
    // IFLA_LINK is sent only when it differs from the index.
    set(IFLINK, dec(index));
    if up {
        set(DORMANT, Some(i64::from(flags & libc::IFF_DORMANT as u32 != 0)));
    } else {
        for k in [CARRIER, DORMANT, SPEED] {
            set(k, None);
        }
    }
    let (text, tk) = (&mut link.iface.text, &mut link.text_known);
    // Sent only when the device has them: sysfs then shows an empty line.
    for k in [ADDRESS, BROADCAST, IFALIAS] {
        tk[k] = true;
    }
    if !up {
        tk[DUPLEX] = true;
    }
    let mut name = None;
    let (mut promiscuity, mut allmulti) = (None, None);
    for (kind, value) in netlink::attributes(&body[IFINFOMSG..]) {
        let u32_value = || (value.len() >= 4).then(|| netlink::u32_at(value, 0));
        let string = || {
            let bytes = value.split(|&b| b == 0).next().unwrap_or_default();
            String::from_utf8_lossy(bytes).trim().to_owned()
        };
        match kind {
            IFLA_IFNAME => name = Some(value.split(|&b| b == 0).next().unwrap_or_default()),
            IFLA_ADDRESS => text[ADDRESS] = mac(value),
            IFLA_BROADCAST => text[BROADCAST] = mac(value),
            IFLA_IFALIAS => text[IFALIAS] = string(),
            IFLA_OPERSTATE => {
                if let Some(s) = value.first().and_then(|&o| OPERSTATES.get(usize::from(o))) {
                    text[OPERSTATE] = (*s).to_owned();
                    tk[OPERSTATE] = true;
                }
            }
            IFLA_CARRIER if up => {
                if let Some(&c) = value.first() {
                    set(CARRIER, Some(i64::from(c != 0)));
                }
            }
            IFLA_PROMISCUITY => promiscuity = u32_value(),
            IFLA_ALLMULTI => allmulti = u32_value(),
            IFLA_LINKMODE => {
                if let Some(&m) = value.first() {
                    set(LINK_MODE, Some(i64::from(m)));
                }
            }
            _ => {
                let k = match kind {
                    IFLA_MTU => MTU,
                    IFLA_LINK => IFLINK,
                    IFLA_TXQLEN => TX_QUEUE_LEN,
                    IFLA_GROUP => GROUP,
                    IFLA_CARRIER_CHANGES => CARRIER_CHANGES,
                    IFLA_CARRIER_UP_COUNT => CARRIER_UP,
                    IFLA_CARRIER_DOWN_COUNT => CARRIER_DOWN,
                    _ => continue,
                };
                if let Some(v) = u32_value() {
                    set(k, dec(v));
                }
            }
        }
    }
    if let (Some(promiscuity), Some(allmulti)) = (promiscuity, allmulti) {
        const PROMISC: u32 = libc::IFF_PROMISC as u32;
        const ALLMULTI: u32 = libc::IFF_ALLMULTI as u32;
        let derived = PROMISC
            | ALLMULTI
            | libc::IFF_RUNNING as u32
            | libc::IFF_LOWER_UP as u32
            | libc::IFF_DORMANT as u32;
        let mut device = flags & !derived;
        if promiscuity > 0 {
            device |= PROMISC;
        }
        if allmulti > 0 {
            device |= ALLMULTI;
        }
        set(FLAGS, Some(i64::from(device)));
    }
    let name = name?;
    link.raw_name = OsStr::from_bytes(name).to_owned();
    // A non-UTF-8 name costs nothing but its spelling (U+FFFD), as in netdev.
    link.iface.name = String::from_utf8_lossy(name).into_owned();
    Some(link)
}

/// Attribute files that could not be read for a reason other than being absent.
type AttrErrors = Vec<(PathBuf, io::Error)>;

/// The attributes the link dump lacks that change only with a change the kernel announces on
/// RTNLGRP_LINK: `addr_assign_type` (a new MAC address), `dev_id` and `name_assign_type`
/// (fixed when the device is made).
const KEPT_ATTRS: [usize; 3] = [ADDR_ASSIGN_TYPE, DEV_ID, NAME_ASSIGN_TYPE];

/// Those attributes' values by (ifindex, attribute), read while the links' dump was of
/// generation `generation` ([`super::links::generation`]), kept until it changes.
#[derive(Default)]
struct Kept {
    generation: u64,
    values: std::collections::HashMap<(u64, usize), Option<i64>>,
}

/// Reads the attributes of `link` it does not know yet from the interface's directory.
/// `None`: the device vanished since it was listed. `errors` gets the attributes that could
/// not be read for another reason (EIO...): they are left out, the rest of the device kept.
///
/// `held`: the files may be held open across scrapes, the device being known by its ifindex
/// (from the dump), so that a device renamed, or another one given its name, is read afresh.
fn read_iface(
    dir: &Path,
    link: Link,
    held: bool,
    buf: &mut Vec<u8>,
    errors: &mut AttrErrors,
    mut kept: Option<&mut Kept>,
) -> Option<Iface> {
    let id = link.iface.numeric[IFINDEX]
        .filter(|_| held)
        .and_then(|i| u64::try_from(i).ok());
    let mut attrs = AttrDir::new(dir, id);
    let Link {
        mut iface,
        numeric_known,
        text_known,
        ..
    } = link;
    // The value, or None if the file is absent or failed; failures are reported in `errors`
    // (and the bool is false: nothing to keep).
    let mut read = |file: &CStr, buf: &mut Vec<u8>| -> (Option<String>, bool) {
        match attrs.read(file, buf) {
            Ok(s) => (Some(s.to_owned()), true),
            Err(e) if attr_absent(&e) => (None, true),
            Err(e) => {
                errors.push((dir.join(file.to_string_lossy().as_ref()), e));
                (None, false)
            }
        }
    };
    for (i, ((slot, (file, ..)), known)) in iface
        .numeric
        .iter_mut()
        .zip(NUMERIC)
        .zip(numeric_known)
        .enumerate()
    {
        if known {
            continue;
        }
        let keep = id.filter(|_| KEPT_ATTRS.contains(&i));
        if let (Some(id), Some(kept)) = (keep, kept.as_deref())
            && let Some(v) = kept.values.get(&(id, i))
        {
            *slot = *v;
            continue;
        }
        let (value, clean) = read(file, buf);
        *slot = value.and_then(|s| parse_sysfs_int(&s));
        if let (Some(id), Some(kept), true) = (keep, kept.as_deref_mut(), clean) {
            kept.values.insert((id, i), *slot);
        }
    }
    for ((slot, file), known) in iface.text.iter_mut().zip(TEXT).zip(text_known) {
        if !known {
            *slot = read(file, buf).0.unwrap_or_default();
        }
    }
    // Gone since it was listed.
    (!attrs.gone()).then_some(iface)
}

pub(super) fn build(config: &Config) -> Result<Box<dyn Collector>, ConfigError> {
    let options = &config.options;
    Ok(Box::new(NetclassCollector {
        dir: config.paths.sysfs.join("class/net"),
        // The dump describes this network namespace's links, which only the real /sys shows
        // (a fixture tree, or a host's /sys mounted elsewhere, is read as files).
        netlink: config.paths.sysfs == Path::new("/sys"),
        ignored: compile_regex(IGNORED_DEVICES.name, options.value(&IGNORED_DEVICES))?,
        ignore_invalid_speed: options.switch(&IGNORE_INVALID_SPEED),
        kept: std::sync::Mutex::new(Kept::default()),
    }))
}

struct NetclassCollector {
    dir: PathBuf,
    netlink: bool,
    ignored: Regex,
    ignore_invalid_speed: bool,
    kept: std::sync::Mutex<Kept>,
}

/// Every interface not ignored, sorted by name, plus the attributes that failed.
type Read = (Vec<Iface>, AttrErrors);

/// A copy with nothing kept (tests build variants of one collector).
impl Clone for NetclassCollector {
    fn clone(&self) -> Self {
        NetclassCollector {
            dir: self.dir.clone(),
            netlink: self.netlink,
            ignored: self.ignored.clone(),
            ignore_invalid_speed: self.ignore_invalid_speed,
            kept: std::sync::Mutex::new(Kept::default()),
        }
    }
}

impl NetclassCollector {
    fn read(&self, shared: &Shared) -> Result<Read, CollectError> {
        let entries = self.entries()?;
        if self.netlink
            && let Some(read) = self.read_netlink(shared, &entries)
        {
            return Ok(read);
        }
        self.read_sysfs(entries)
    }

    /// The names of the device entries of class/net, sorted.
    fn entries(&self) -> Result<Vec<OsString>, CollectError> {
        let entries = super::held::list_dir(&self.dir)
            .map_err(|e| CollectError::listing(&self.dir, e))?;
        let mut names: Vec<OsString> = entries
            .into_iter()
            // `bonding_masters` is a file; devices are symlinks (or directories in fixtures).
            .filter(|e| match e.kind {
                libc::DT_REG => false,
                libc::DT_UNKNOWN => !self.dir.join(&e.name).is_file(),
                _ => true,
            })
            .map(|e| e.name)
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    /// node_exporter's way: every attribute from its file.
    fn read_sysfs(&self, entries: Vec<OsString>) -> Result<Read, CollectError> {
        let mut ifaces = Vec::new();
        let mut errors = Vec::new();
        let mut buf = Vec::with_capacity(256);
        for raw_name in entries {
            let name = raw_name.to_string_lossy().into_owned();
            if self.ignored.is_match(&name) {
                continue;
            }
            let link = Link {
                iface: Iface {
                    name,
                    ..Iface::default()
                },
                ..Link::default()
            };
            ifaces.extend(read_iface(
                &self.dir.join(&raw_name),
                link,
                false,
                &mut buf,
                &mut errors,
                None,
            ));
        }
        ifaces.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((ifaces, errors))
    }

    /// One RTM_GETLINK dump, and from sysfs only what it lacks (4 files a device, 6 if it is
    /// up, instead of 22). `None` (read sysfs instead) if the dump fails or lists other
    /// devices than class/net (a /sys of another network namespace).
    fn read_netlink(&self, shared: &Shared, entries: &[OsString]) -> Option<Read> {
        let mut links: Vec<Link> = shared
            .with_links(|bodies| bodies.iter().filter_map(|b| parse_link(b)).collect())
            .ok()?;
        links.sort_unstable_by(|a, b| a.raw_name.cmp(&b.raw_name));
        if !links.iter().map(|l| &l.raw_name).eq(entries) {
            return None;
        }
        let mut ifaces = Vec::new();
        let mut errors = Vec::new();
        let mut buf = Vec::with_capacity(256);
        let ethtool = Ethtool::open();
        // Read after the links: a dump made for this scrape has already counted.
        let generation = super::links::generation();
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.generation != generation {
            *kept = Kept {
                generation,
                ..Kept::default()
            };
        }
        for mut link in links {
            if self.ignored.is_match(&link.iface.name) {
                continue;
            }
            if link.up
                && let Some(ethtool) = &ethtool
            {
                ethtool.speed_duplex(&mut link);
            }
            let dir = self.dir.join(&link.raw_name);
            ifaces.extend(read_iface(
                &dir,
                link,
                true,
                &mut buf,
                &mut errors,
                Some(&mut kept),
            ));
        }
        ifaces.sort_by(|a, b| a.name.cmp(&b.name));
        Some((ifaces, errors))
    }
}

/// The socket for SIOCETHTOOL ioctls: an unbound UDP socket, made at the first scrape and
/// kept (creating one costs more than the ioctls on it). -1 until then.
static ETHTOOL_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// The kept SIOCETHTOOL socket.
struct Ethtool(std::os::fd::RawFd);

impl Ethtool {
    /// `None` if no socket can be had (then sysfs is read; the next scrape tries again).
    fn open() -> Option<Ethtool> {
        use std::sync::atomic::Ordering;
        let kept = ETHTOOL_FD.load(Ordering::Acquire);
        if kept >= 0 {
            return Some(Ethtool(kept));
        }
        // SAFETY: plain socket(2); the result is checked below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return None;
        }
        match ETHTOOL_FD.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Some(Ethtool(fd)),
            // Another scrape kept one first: use that, and close this one.
            Err(theirs) => {
                // SAFETY: fd is this call's own, used by nothing else.
                unsafe { libc::close(fd) };
                Some(Ethtool(theirs))
            }
        }
    }

    /// Fills `link`'s speed and duplex as sysfs' files show them for a running device
    /// (net-sysfs.c: both from the driver's get_link_ksettings, the speed printed with %d, the
    /// duplex as half, full or unknown), or marks them absent where sysfs answers EINVAL (no
    /// get_link_ksettings, or it failed). Refused (EPERM, EACCES: a security module) leaves
    /// them to sysfs.
    fn speed_duplex(&self, link: &mut Link) {
        const ETHTOOL_GSET: u32 = 1;
        let name = link.raw_name.as_bytes();
        // SAFETY: ifreq is plain data (a name and a union of integers and pointers).
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        if name.len() >= ifr.ifr_name.len() {
            return;
        }
        for (d, s) in ifr.ifr_name.iter_mut().zip(name) {
            *d = *s as libc::c_char;
        }
        // struct ethtool_cmd (44 bytes): cmd, supported, advertising, speed (u16) at 12,
        // duplex (u8) at 14, ..., speed_hi (u16) at 28.
        let mut cmd = [0u8; 44];
        cmd[..4].copy_from_slice(&ETHTOOL_GSET.to_ne_bytes());
        ifr.ifr_ifru.ifru_data = cmd.as_mut_ptr().cast();
        // SAFETY: ifr names the device and points at a buffer of struct ethtool_cmd's size.
        let rc = unsafe { libc::ioctl(self.0, libc::SIOCETHTOOL, &mut ifr) };
        let (speed, duplex) = if rc == 0 {
            let speed =
                u32::from(netlink::u16_at(&cmd, 12)) | u32::from(netlink::u16_at(&cmd, 28)) << 16;
            let duplex = match cmd[14] {
                0 => "half",
                1 => "full",
                _ => "unknown",
            };
            (dec(speed), duplex.to_owned())
        } else {
            let e = io::Error::last_os_error();
            if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
                return;
            }
            (None, String::new())
        };
        link.iface.numeric[SPEED] = speed;
        link.numeric_known[SPEED] = true;
        link.iface.text[DUPLEX] = duplex;
        link.text_known[DUPLEX] = true;
    }
}

impl Collector for NetclassCollector {
    fn update(&self, shared: &Shared, enc: &mut DescriptorEncoder<'_>) -> Result<(), CollectError> {
        let (ifaces, errors) = self.read(shared)?;
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

    /// The live host's interfaces read both ways: the dump (plus the files it lacks) and the
    /// files alone give the same devices with the same attributes, so the same samples; the
    /// carrier counters may only have grown between the two reads.
    #[test]
    fn netlink_and_sysfs_read_the_same_on_this_host() {
        let collector = NetclassCollector {
            dir: PathBuf::from("/sys/class/net"),
            netlink: true,
            ignored: Regex::new("^$").unwrap(),
            ignore_invalid_speed: false,
            kept: std::sync::Mutex::new(Kept::default()),
        };
        let entries = collector.entries().unwrap();
        let read_netlink = || {
            collector
                .read_netlink(&Shared::default(), &entries)
                .expect("the dump lists the devices of /sys/class/net")
        };
        // The second read goes through the files the first one left held open.
        let (first, _) = read_netlink();
        let (from_netlink, netlink_errors) = read_netlink();
        assert_eq!(first.len(), from_netlink.len());
        let (mut from_sysfs, sysfs_errors) = collector.read_sysfs(entries).unwrap();
        assert!(netlink_errors.is_empty() && sysfs_errors.is_empty());
        assert!(from_sysfs.iter().any(|i| i.name == "lo"), "{from_sysfs:?}");
        assert_eq!(from_netlink.len(), from_sysfs.len());
        for (n, s) in from_netlink.iter().zip(&mut from_sysfs) {
            for k in [CARRIER_CHANGES, CARRIER_UP, CARRIER_DOWN] {
                assert!(n.numeric[k] <= s.numeric[k], "{} {k}: {n:?} {s:?}", n.name);
                s.numeric[k] = n.numeric[k];
            }
        }
        assert_eq!(from_netlink, from_sysfs);
        // And so the same scrape (families, HELP, samples), but for the counters that moved.
        let scrape = |netlink| {
            let body = scrape_of(
                "netclass",
                Box::new(NetclassCollector {
                    netlink,
                    ..collector.clone()
                }),
            );
            body.lines()
                .filter(|l| !l.starts_with("node_network_carrier") || !l.contains("_total{"))
                .filter(|l| !l.starts_with("node_scrape_collector_duration_seconds{"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let (with_netlink, with_files) = (scrape(true), scrape(false));
        assert!(with_netlink.len() > 20, "{with_netlink:?}");
        assert_eq!(with_netlink, with_files);
    }

    #[test]
    fn a_link_message_gives_what_sysfs_shows() {
        // ifinfomsg of an Ethernet device (type 1), index 4, IFF_UP | IFF_DORMANT.
        let mut body = vec![0u8, 0];
        body.extend(1u16.to_ne_bytes());
        body.extend(4u32.to_ne_bytes());
        body.extend((libc::IFF_UP as u32 | libc::IFF_DORMANT as u32).to_ne_bytes());
        body.extend(0u32.to_ne_bytes());
        let mut attr = |kind: u16, value: &[u8]| {
            let len = 4 + value.len();
            body.extend((len as u16).to_ne_bytes());
            body.extend(kind.to_ne_bytes());
            body.extend(value);
            body.resize(body.len() + (4 - len % 4) % 4, 0);
        };
        attr(3, b"eth0\0");
        attr(1, &[2, 0xfc, 0, 0, 0, 0x1a]);
        attr(4, &1400u32.to_ne_bytes());
        attr(16, &[6]);
        attr(33, &[1]);
        attr(27, &u32::MAX.to_ne_bytes());
        attr(20, b" uplink \0");
        let link = parse_link(&body).unwrap();
        let i = &link.iface;
        assert_eq!(i.name, "eth0");
        assert_eq!(link.raw_name, "eth0");
        assert_eq!(i.text[ADDRESS], "02:fc:00:00:00:1a");
        assert_eq!((i.text[BROADCAST].as_str(), link.text_known[BROADCAST]), ("", true));
        assert_eq!(i.text[OPERSTATE], "up");
        assert_eq!(i.text[IFALIAS], "uplink");
        assert!(!link.text_known[DUPLEX]);
        assert_eq!(i.numeric[TYPE], Some(1));
        assert_eq!(i.numeric[IFINDEX], Some(4));
        assert_eq!(i.numeric[IFLINK], Some(4));
        assert_eq!(i.numeric[MTU], Some(1400));
        assert_eq!(i.numeric[CARRIER], Some(1));
        assert_eq!(i.numeric[DORMANT], Some(1));
        // sysfs prints the group with %d.
        assert_eq!(i.numeric[GROUP], Some(-1));
        // Not carried: read from sysfs.
        for k in [FLAGS, SPEED, CARRIER_CHANGES, 0, 5, 12] {
            assert!(!link.numeric_known[k], "{k}");
        }

        // Down: no carrier, dormant, speed or duplex, as sysfs answers EINVAL for them.
        body[8..12].copy_from_slice(&0u32.to_ne_bytes());
        let link = parse_link(&body).unwrap();
        for k in [CARRIER, DORMANT, SPEED] {
            assert_eq!((link.iface.numeric[k], link.numeric_known[k]), (None, true));
        }
        assert!(link.text_known[DUPLEX]);
        assert!(parse_link(&body[..15]).is_none());

        // With the promiscuity and allmulti counters (kernel 6.0+), `flags` as sysfs shows
        // dev->flags: IFF_DORMANT/RUNNING/LOWER_UP are the link state, not device flags, and
        // a bridge port is promiscuous (counter 1) though nobody asked (no IFF_PROMISC).
        let state = libc::IFF_DORMANT | libc::IFF_RUNNING | libc::IFF_LOWER_UP;
        let asked = (libc::IFF_UP | libc::IFF_BROADCAST | libc::IFF_MULTICAST | state) as u32;
        body[8..12].copy_from_slice(&asked.to_ne_bytes());
        body.extend(8u16.to_ne_bytes());
        body.extend(30u16.to_ne_bytes());
        body.extend(1u32.to_ne_bytes());
        let link = parse_link(&body).unwrap();
        assert!(!link.numeric_known[FLAGS], "no IFLA_ALLMULTI: sysfs is read");
        body.extend(8u16.to_ne_bytes());
        body.extend(61u16.to_ne_bytes());
        body.extend(0u32.to_ne_bytes());
        let link = parse_link(&body).unwrap();
        assert_eq!(link.iface.numeric[FLAGS], Some(0x1103));
        assert!(link.numeric_known[FLAGS]);
    }

    /// lo has no link settings: sysfs answers EINVAL for its speed and duplex, so the ioctl's
    /// answer leaves both out, known (no sysfs read).
    #[test]
    fn the_ethtool_ioctl_answers_as_sysfs_for_loopback() {
        let mut link = Link {
            raw_name: OsString::from("lo"),
            up: true,
            ..Link::default()
        };
        Ethtool::open().unwrap().speed_duplex(&mut link);
        assert!(link.numeric_known[SPEED] && link.text_known[DUPLEX]);
        assert_eq!((link.iface.numeric[SPEED], link.iface.text[DUPLEX].as_str()), (None, ""));
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
