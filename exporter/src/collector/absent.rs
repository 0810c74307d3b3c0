//! What procfs and sysfs do not have, remembered until the kernel announces a change.
//!
//! A default scrape looks for some thirty sources a small VPS does not have: `/sys/fs/bcache`,
//! `/proc/net/ip_vs_stats`, `/sys/class/hwmon`, a CPU's `thermal_throttle` ... Each failed
//! lookup walks the path, allocates a dentry and throws it away again (procfs and sysfs keep
//! no negative dentries), and on this VM that was a seventh of a cold scrape. node_exporter
//! looks again each scrape; so does this exporter, unless it knows nothing can have changed:
//!
//! - These files and directories appear when a module is loaded (its `add` uevent is sent once
//!   its init has created them), a device or class is registered (an `add` uevent), or a
//!   filesystem is mounted (`/sys/fs/btrfs/<uuid>`, selinuxfs). So a path found missing, or a
//!   directory found empty, is remembered until a uevent arrives on a `NETLINK_KOBJECT_UEVENT`
//!   socket or `/proc/self/mounts` signals a change, checked at the start of every scrape; any
//!   message, a lost one (ENOBUFS) or an error counts as a change and forgets everything.
//! - The kernel sends uevents only to network namespaces owned by the initial user namespace.
//!   Where the exporter's is not (a rootless container), or the socket or the mounts file
//!   cannot be opened, nothing is remembered and every scrape looks again, as node_exporter.
//! - However quiet the kernel, everything is forgotten after [`RECHECK`]: a source that came
//!   without either signal still shows up within minutes.
//! - Only paths on procfs or sysfs are remembered (the nearest existing ancestor is checked
//!   with statfs): a textfile directory, udev's database, utmp or a fixture tree on a disk is
//!   looked up every time.
//!
//! At most [`MAX_REMEMBERED`] paths are kept; past that, lookups are made as before. The same
//! signals keep a sysfs directory's listing (`held::list_dir`, [`generation`]): a class gains a
//! device, a CPU comes online or a filesystem is mounted with a uevent or a mount.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::netlink;

/// Everything remembered is forgotten this long after it was first remembered.
pub(crate) const RECHECK: Duration = Duration::from_secs(300);
/// The most paths remembered.
pub(crate) const MAX_REMEMBERED: usize = 512;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x6265_6572;

/// What a lookup of a remembered path found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Found {
    /// ENOENT, or ENOTDIR (a file where the path needs a directory): the errno.
    Missing(i32),
    /// A directory with nothing in it but its dots.
    Empty,
    /// Missing, on a filesystem other than procfs and sysfs: not remembered as missing, but
    /// as not to be checked with statfs again.
    Elsewhere,
}

/// The kernel's two announcements, and what is remembered since the last one.
struct Watch {
    uevents: OwnedFd,
    mounts: File,
    /// By path, as bytes.
    paths: HashMap<Vec<u8>, Found>,
    since: Instant,
}

enum State {
    /// Not yet tried: opened at the first scrape.
    Unopened,
    /// Cannot be watched here: nothing is remembered.
    Off,
    On(Watch),
}

static STATE: Mutex<State> = Mutex::new(State::Unopened);
/// Times everything was forgotten: what is learnt of procfs and sysfs between two of them
/// (a directory's listing, in `held`) holds while this stays the same.
static FORGOTTEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The number of the stretch, since the kernel last announced a change, in which what was
/// found of sysfs still holds; `None` where changes cannot be watched (then nothing holds
/// from one scrape to the next).
pub(crate) fn generation() -> Option<u64> {
    let state = STATE.lock().ok()?;
    matches!(*state, State::On(_)).then(|| FORGOTTEN.load(std::sync::atomic::Ordering::Acquire))
}

/// Starts a scrape: forgets everything if the kernel announced a change since the last start,
/// or [`RECHECK`] has passed.
pub(crate) fn begin() {
    let Ok(mut state) = STATE.lock() else { return };
    if matches!(*state, State::Unopened) {
        *state = match Watch::open() {
            Some(w) => State::On(w),
            None => State::Off,
        };
        return;
    }
    let State::On(watch) = &mut *state else {
        return;
    };
    let (uevent, mounted) = watch.changes();
    if uevent || mounted || watch.since.elapsed() >= RECHECK {
        watch.paths.clear();
        watch.since = Instant::now();
        FORGOTTEN.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// What is remembered of `path`, if anything.
pub(crate) fn known(path: &Path) -> Option<Found> {
    let state = STATE.lock().ok()?;
    match &*state {
        State::On(w) => w
            .paths
            .get(path.as_os_str().as_bytes())
            .copied()
            .filter(|f| *f != Found::Elsewhere),
        _ => None,
    }
}

/// Remembers what a lookup of `path` found, if it is on procfs or sysfs and there is room.
pub(crate) fn remember(path: &Path, found: Found) {
    let Ok(mut state) = STATE.lock() else { return };
    let State::On(w) = &mut *state else { return };
    let key = path.as_os_str().as_bytes();
    if w.paths.len() >= MAX_REMEMBERED || w.paths.contains_key(key) {
        return;
    }
    // statfs outside the lock would be nicer, but this runs once per path between changes.
    let found = if on_kernel_fs(path) {
        found
    } else {
        Found::Elsewhere
    };
    w.paths.insert(key.to_owned(), found);
}

/// Whether `path` is a directory (following symlinks), as `Path::is_dir`, answered from
/// memory when it is remembered missing.
pub(crate) fn is_dir(path: &Path) -> bool {
    metadata(path).is_ok_and(|m| m.is_dir())
}

/// Whether `path` is a regular file (following symlinks), as `Path::is_file`, answered from
/// memory when it is remembered missing.
pub(crate) fn is_file(path: &Path) -> bool {
    metadata(path).is_ok_and(|m| m.is_file())
}

fn metadata(path: &Path) -> io::Result<std::fs::Metadata> {
    if let Some(Found::Missing(errno)) = known(path) {
        return Err(io::Error::from_raw_os_error(errno));
    }
    note(path, std::fs::metadata(path))
}

/// The error a lookup of `path` would answer with, if it is remembered missing.
pub(crate) fn missing(path: &Path) -> Option<io::Error> {
    match known(path)? {
        Found::Missing(errno) => Some(io::Error::from_raw_os_error(errno)),
        Found::Empty | Found::Elsewhere => None,
    }
}

/// Remembers `path` as missing if `result` is ENOENT or ENOTDIR; hands `result` on.
pub(crate) fn note<T>(path: &Path, result: io::Result<T>) -> io::Result<T> {
    if let Err(e) = &result
        && let Some(errno @ (libc::ENOENT | libc::ENOTDIR)) = e.raw_os_error()
    {
        remember(path, Found::Missing(errno));
    }
    result
}

/// Whether `path`, or its nearest existing ancestor, is on procfs or sysfs.
fn on_kernel_fs(path: &Path) -> bool {
    let mut at = Some(path);
    while let Some(p) = at {
        let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
            return false;
        };
        // SAFETY: statfs is plain data; statfs(2) fills it for a NUL-terminated path.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: c is NUL-terminated and st writable.
        if unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0 {
            #[allow(clippy::unnecessary_cast)] // f_type's width differs between libcs.
            let kind = st.f_type as i64;
            return kind == PROC_SUPER_MAGIC || kind == SYSFS_MAGIC;
        }
        if !matches!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOENT | libc::ENOTDIR)
        ) {
            return false;
        }
        at = p.parent().filter(|p| !p.as_os_str().is_empty());
    }
    false
}

impl Watch {
    fn open() -> Option<Watch> {
        if !uevents_reach_us() {
            return None;
        }
        let mounts = File::open("/proc/self/mounts").ok()?;
        Some(Watch {
            uevents: uevent_socket().ok()?,
            mounts,
            paths: HashMap::new(),
            since: Instant::now(),
        })
    }

    /// Whether a uevent came, and whether the mount table changed, since the last call: one
    /// poll of both (a scrape usually finds neither); what came is drained, so a change is
    /// reported once.
    fn changes(&self) -> (bool, bool) {
        let mut fds = [
            libc::pollfd {
                fd: self.uevents.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.mounts.as_raw_fd(),
                events: libc::POLLPRI,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds; a timeout of 0 does not block.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 0) };
        if n == 0 {
            return (false, false);
        }
        let failed = n < 0;
        let bad = libc::POLLERR | libc::POLLNVAL;
        let uevent = (failed || fds[0].revents != 0) && netlink::announced(&self.uevents);
        let mounted = failed || fds[1].revents & (libc::POLLPRI | bad) != 0;
        (uevent || (fds[0].revents & bad != 0), mounted)
    }
}

/// Whether a procfs mounts file signals a change of the mount table since the last call:
/// procfs' mounts_poll answers POLLPRI once per change, and notes it as seen.
pub(crate) fn pollpri(mounts: &File) -> bool {
    let mut pfd = libc::pollfd {
        fd: mounts.as_raw_fd(),
        events: libc::POLLPRI,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a timeout of 0 does not block.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n < 0 || pfd.revents & (libc::POLLPRI | libc::POLLERR | libc::POLLNVAL) != 0
}

/// A socket that receives the kernel's uevents (group 1; 2 is udev's own rebroadcast), with a
/// small buffer: when it overflows between two scrapes, the next read says ENOBUFS, which
/// counts as a change.
fn uevent_socket() -> io::Result<OwnedFd> {
    let fd = netlink::subscribe(libc::NETLINK_KOBJECT_UEVENT, 1)?;
    let size: libc::c_int = 16 * 1024;
    // SAFETY: the option value is a c_int of the size given.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    Ok(fd)
}

/// Whether the kernel's uevents reach this process' network namespace: it is owned by this
/// process' user namespace, and that is the initial one (its uid_map maps every uid to
/// itself).
fn uevents_reach_us() -> bool {
    let Ok(map) = std::fs::read_to_string("/proc/self/uid_map") else {
        return false;
    };
    let fields: Vec<&str> = map.split_whitespace().collect();
    if fields != ["0", "0", "4294967295"] {
        return false;
    }
    let (Ok(net), Ok(user)) = (
        File::open("/proc/self/ns/net"),
        std::fs::metadata("/proc/self/ns/user"),
    ) else {
        return false;
    };
    // SAFETY: NS_GET_USERNS takes no argument and returns a new descriptor or -1.
    let owner = unsafe { libc::ioctl(net.as_raw_fd(), libc::NS_GET_USERNS) };
    if owner < 0 {
        return false;
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let owner = File::from(unsafe { OwnedFd::from_raw_fd(owner) });
    use std::os::unix::fs::MetadataExt;
    owner
        .metadata()
        .is_ok_and(|m| m.ino() == user.ino() && m.dev() == user.dev())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_procfs_or_sysfs_count_as_the_kernels() {
        assert!(on_kernel_fs(Path::new("/proc/net/no-such-file")));
        assert!(on_kernel_fs(Path::new("/sys/fs/no-such/dir/below")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!on_kernel_fs(&dir.path().join("sys/fs/bcache")));
        assert!(!on_kernel_fs(Path::new("relative/sys/path")));
    }
}
